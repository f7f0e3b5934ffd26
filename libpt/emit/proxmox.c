// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Proxmox VE lines for a VM: hostpciN for a device's passthrough set (one a slot), the VM
 * settings passthrough still lacks, Intel's legacy-igd, a mediated device's mdev=, usbN; and
 * each as one `qm set` command. The grammar is qemu-server's (PVE/QemuServer.pm, PCI.pm): the next free N is
 * read from the VM's config, a value may carry no other key into the line.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "libpt-private.h"

#define HOSTPCI_MAX 15
#define USB_MAX 13
#define IGD_ADDRESS "0000:00:02.0"

struct emit {
	pt_ctx *ctx;
	pt_emit_opts o;
	pt_vmconf *owned; /* the VM's config, read here */
	const pt_vmconf *config;
	int next_hostpci;
	struct pt_strv lines, notes, qm;
};

/* The caller's options, as far as its struct reaches; the rest zero. */
int pt_emit_opts_copy(pt_ctx *ctx, pt_emit_opts *dst, const pt_emit_opts *src)
{
	int r;

	*dst = PT_INIT(pt_emit_opts);
	if (src && (r = PT_STRUCT_IN(dst, src)) < 0)
		return pt_struct_fail(ctx, r, "an emitter's options", "pt_emit_opts");
	if (dst->flags & ~(PT_EMIT_NO_ROMBAR | PT_EMIT_HIDE_KVM | PT_EMIT_LEGACY_IGD | PT_EMIT_USB3 | PT_EMIT_IOMMUFD))
		return pt_fail(ctx, -EINVAL, "an emitter's options: flags %#x: not PT_EMIT_*", dst->flags);
	return 0;
}

static int check_romfile(pt_ctx *ctx, const char *name)
{
	char q[256];
	int r = pt_config_value_check(ctx, "romfile", name);

	if (r < 0)
		return r;
	if (!pt_romfile_name_valid(name))
		return pt_fail(ctx, -EINVAL, "romfile %s: a file name in /usr/share/kvm (letters, digits, '-', '_', '.', '+')",
			       pt_quote(q, sizeof(q), name));
	return 0;
}

/* A Proxmox storage id: a letter, then letters, digits, '-', '_', '.'. */
static int check_storage(pt_ctx *ctx, const char *id)
{
	char q[256];
	int r = pt_config_value_check(ctx, "storage", id);

	if (r < 0)
		return r;
	if (!pt_word_valid(id, false, "-_."))
		return pt_fail(ctx, -EINVAL, "storage %s: a Proxmox storage id (local-lvm)", pt_quote(q, sizeof(q), id));
	return 0;
}

static int emit_begin(struct emit *em, pt_ctx *ctx, const pt_emit_opts *opts)
{
	int r;

	memset(em, 0, sizeof(*em));
	em->ctx = ctx;
	if ((r = pt_emit_opts_copy(ctx, &em->o, opts)) < 0)
		return r;
	pt_strv_add(&em->qm, "qm");
	pt_strv_add(&em->qm, "set");
	pt_strv_addf(&em->qm, "%u", em->o.vm);
	if ((r = pt_check_vmid(ctx, em->o.vm)) < 0)
		return r;
	em->config = em->o.config;
	if (!em->config) {
		r = pt_vmconf_read(ctx, em->o.vm, &em->owned);
		if (r < 0 && r != -ENOENT)
			return r;
		if (r == -ENOENT)
			pt_strv_addf(&em->notes, "VM %u has no config on this node (/etc/pve/qemu-server/%u.conf): these "
				     "lines are for a VM still to be created", em->o.vm, em->o.vm);
		em->config = em->owned; /* no config yet: every slot is free */
	}
	return 0;
}

static void emit_end(struct emit *em)
{
	pt_strv_free(&em->lines);
	pt_strv_free(&em->notes);
	pt_strv_free(&em->qm);
	pt_vmconf_unref(em->owned);
}

static const char *value_of(const struct emit *em, const char *key, const char *dflt)
{
	const char *v = pt_vmconf_get(em->config, key);
	return v ? v : dflt;
}

/* A line and the same as `--key value` of the qm set command. */
static void put(struct emit *em, const char *key, const char *value)
{
	pt_strv_addf(&em->lines, "%s: %s", key, value);
	pt_strv_addf(&em->qm, "--%s", key);
	pt_strv_add(&em->qm, value);
}

/* The next free hostpciN (usbN), or -ENOSPC naming the range. */
static int next_key(struct emit *em, const char *prefix, unsigned max, int *from, char key[32])
{
	int i = pt_vmconf_next_free(em->config, prefix, max, from ? (unsigned)*from : 0);

	if (i < 0)
		return pt_fail(em->ctx, -ENOSPC, "no free %s0..%s%u left in the VM's config", prefix, prefix, max);
	if (from)
		*from = i + 1;
	snprintf(key, 32, "%s%d", prefix, i);
	return 0;
}

/* Where the VM runs (opts.place): affinity on the node's CPUs chosen, numa0 with the node's
 * memory bound (qemu-server wants hostnodes for huge pages), the huge page size; the VM's size
 * where the placement's differs from its config's. */
static void put_placement(struct emit *em)
{
	const pt_placement *p = em->o.place;
	unsigned vcpus = pt_placement_get_vcpus(p);
	unsigned long memory = pt_placement_get_memory(p), page = pt_placement_get_hugepage_size(p);
	unsigned long long cores = 1, sockets = 1;
	char value[160];

	if (pt_vmconf_get(em->config, "cores"))
		pt_parse_uint(pt_vmconf_get(em->config, "cores"), 1024, &cores);
	if (pt_vmconf_get(em->config, "sockets"))
		pt_parse_uint(pt_vmconf_get(em->config, "sockets"), 64, &sockets);
	if (cores * sockets != vcpus) {
		snprintf(value, sizeof(value), "%u", vcpus);
		put(em, "cores", value);
		if (sockets != 1)
			put(em, "sockets", "1");
	}
	if (pt_vmconf_memory(em->ctx, em->config) != memory) {
		snprintf(value, sizeof(value), "%lu", memory);
		put(em, "memory", value);
	}
	if (strcmp(value_of(em, "affinity", ""), pt_placement_get_cpus(p)))
		put(em, "affinity", pt_placement_get_cpus(p));
	if (strcmp(value_of(em, "numa", "0"), "1"))
		put(em, "numa", "1");
	if (vcpus > 1)
		snprintf(value, sizeof(value), "cpus=0-%u,hostnodes=%d,memory=%lu,policy=bind", vcpus - 1,
			 pt_placement_get_node(p), memory);
	else
		snprintf(value, sizeof(value), "cpus=0,hostnodes=%d,memory=%lu,policy=bind", pt_placement_get_node(p), memory);
	if (strcmp(value_of(em, "numa0", ""), value))
		put(em, "numa0", value);
	for (size_t k = 0; k < pt_vmconf_get_key_count(em->config); k++) {
		const char *key = pt_vmconf_get_key(em->config, k);
		if (pt_key_numbered(key, "numa") && strcmp(key, "numa0"))
			pt_strv_addf(&em->notes, "%s: remove it (qm set %u --delete %s): numa0 holds the VM's CPUs and memory on "
				     "NUMA node %d", key, em->o.vm, key, pt_placement_get_node(p));
	}
	if (page && strcmp(value_of(em, "hugepages", ""), page == 2048 ? "2" : "1024"))
		put(em, "hugepages", page == 2048 ? "2" : "1024");
	for (size_t i = 0; i < pt_placement_get_note_count(p); i++)
		pt_strv_add(&em->notes, pt_placement_get_note(p, i));
}

static int finish(struct emit *em, pt_emission **ret)
{
	int r = pt_emission_new(em->ctx, &em->lines, &em->notes, &em->qm, ret);
	emit_end(em);
	return r;
}

static int fail_end(struct emit *em, int r)
{
	emit_end(em);
	return r;
}

/* "01:00.0" for domain 0, the whole address otherwise; the slot without ".F". */
static void short_id(const char *address, bool whole_slot, char *buf, size_t size)
{
	const char *id = strncmp(address, "0000:", 5) == 0 ? address + 5 : address;
	size_t len = strlen(id) - (whole_slot ? 2 : 0);
	snprintf(buf, size, "%.*s", (int)len, id);
}

static bool is_gpu(const pt_device *dev)
{
	return strcmp(pt_device_get_kind(dev), "gpu") == 0;
}

/* Proxmox's legacy-igd=1 (Intel's integrated GPU as the VM's only, primary display): the device
 * at 00:02.0 alone (no multifunction), machine i440fx, vga none, the ROM BAR on. */
static int emit_legacy_igd(struct emit *em, pt_device *dev, pt_emission **ret)
{
	struct pt_strv props = { 0 };
	char key[32], *value;
	int r;

	if (strcmp(dev->address, IGD_ADDRESS) || dev->vendor != 0x8086 || !is_gpu(dev))
		return fail_end(em, pt_fail(em->ctx, -EINVAL, "%s: legacy-igd is for Intel's integrated GPU at %s",
					    dev->address, IGD_ADDRESS));
	if (em->o.flags & PT_EMIT_NO_ROMBAR)
		return fail_end(em, pt_fail(em->ctx, -EINVAL, "legacy-igd needs the ROM BAR: not with --no-rombar"));
	if (em->o.romfile && (r = check_romfile(em->ctx, em->o.romfile)) < 0)
		return fail_end(em, r);
	if ((r = next_key(em, "hostpci", HOSTPCI_MAX, NULL, key)) < 0)
		return fail_end(em, r);
	pt_strv_add(&props, IGD_ADDRESS);
	pt_strv_add(&props, "legacy-igd=1");
	if (em->o.romfile)
		pt_strv_addf(&props, "romfile=%s", em->o.romfile);
	value = pt_strv_join(&props, ",");
	pt_strv_free(&props);
	if (!value)
		return fail_end(em, pt_fail(em->ctx, -ENOMEM, "out of memory"));
	put(em, key, value);
	free(value);
	if (pt_vmconf_is_q35(value_of(em, "machine", "pc")))
		put(em, "machine", "pc");
	if (strcmp(value_of(em, "vga", ""), "none"))
		put(em, "vga", "none");
	return finish(em, ret);
}

/* The host= value of one slot of the set: the slot form when every function of the slot goes,
 * ';'-joined functions otherwise. */
static char *slot_hosts(pt_device *const *set, size_t from, size_t to, size_t functions)
{
	struct pt_strv ids = { 0 };
	char id[PT_ADDR_MAX], *out;

	if (to - from == functions) {
		short_id(set[from]->address, true, id, sizeof(id));
		return strdup(id);
	}
	for (size_t i = from; i < to; i++) {
		short_id(set[i]->address, false, id, sizeof(id));
		pt_strv_add(&ids, id);
	}
	out = ids.oom ? NULL : pt_strv_join(&ids, ";");
	pt_strv_free(&ids);
	return out;
}

static size_t slot_functions(const pt_enum *e, const pt_device *dev)
{
	size_t n = 0;

	for (size_t i = 0; i < pt_enum_get_device_count(e); i++)
		n += pt_same_slot(pt_enum_get_device(e, i), dev);
	return n;
}

PT_EXPORT int pt_emit_proxmox(const pt_assignment *a, const pt_emit_opts *opts, pt_emission **ret)
{
	struct emit em;
	pt_ctx *ctx;
	pt_enum *e;
	const char *machine;
	pt_device **set;
	size_t n;
	bool q35, gpu = false;
	int r;

	if (!a || !ret)
		return -EINVAL;
	e = pt_assignment_get_enum(a);
	ctx = e->ctx;
	if ((r = pt_assignment_check(a)) < 0)
		return r;
	if ((r = emit_begin(&em, ctx, opts)) < 0)
		return fail_end(&em, r);
	n = pt_assignment_get_device_count(a);
	if (n == 0)
		return fail_end(&em, pt_fail(ctx, -EINVAL, "nothing to pass through"));
	if (em.o.flags & PT_EMIT_LEGACY_IGD) {
		pt_device *igd = pt_assignment_get_device(a, 0);
		if (n != 1 && !strcmp(igd->address, IGD_ADDRESS))
			return fail_end(&em, pt_fail(ctx, -EINVAL, "legacy-igd passes Intel's integrated GPU at %s alone, not with %s",
						     IGD_ADDRESS, pt_assignment_get_device(a, 1)->address));
		return emit_legacy_igd(&em, igd, ret);
	}
	if (em.o.romfile && (r = check_romfile(ctx, em.o.romfile)) < 0)
		return fail_end(&em, r);
	if (!(set = calloc(n, sizeof(*set))))
		return fail_end(&em, pt_fail(ctx, -ENOMEM, "out of memory"));
	for (size_t i = 0; i < n; i++) {
		set[i] = pt_assignment_get_device(a, i);
		gpu = gpu || is_gpu(set[i]);
	}
	machine = value_of(&em, "machine", "pc");
	q35 = pt_vmconf_is_q35(machine);
	if (!q35)
		machine = em.o.machine ? em.o.machine : "q35";
	if (!q35 && (r = pt_config_value_check(ctx, "machine", machine)) < 0)
		goto fail;
	q35 = pt_vmconf_is_q35(machine);
	/* one hostpciN a slot of the set, in address order */
	for (size_t i = 0, j; i < n; i = j) {
		struct pt_strv props = { 0 };
		char key[32], *hosts, *value;

		for (j = i + 1; j < n && pt_same_slot(set[j], set[i]); j++)
			;
		if ((r = next_key(&em, "hostpci", HOSTPCI_MAX, &em.next_hostpci, key)) < 0)
			goto fail;
		hosts = slot_hosts(set, i, j, slot_functions(e, set[i]));
		if (hosts)
			pt_strv_add(&props, hosts);
		free(hosts);
		if (q35)
			pt_strv_add(&props, "pcie=1");
		if (em.o.primary) {
			uint64_t k;
			if (pt_address_parse(em.o.primary, &k) == 0 && PT_SLOT(k) == PT_SLOT(set[i]->key))
				pt_strv_add(&props, "x-vga=1");
		}
		if (em.o.flags & PT_EMIT_NO_ROMBAR)
			pt_strv_add(&props, "rombar=0");
		if (em.o.romfile)
			pt_strv_addf(&props, "romfile=%s", em.o.romfile);
		/* vfio-pci variant drivers: a slot bound to them already is kept so (qemu-server 9's
		 * driver=keep: neither reset nor rebound to vfio-pci); one that is not is said */
		bool keep = true;
		for (size_t k = i; k < j; k++) {
			const char *variant = pt_device_get_variant_driver(set[k]);
			keep = keep && variant && set[k]->driver && strcmp(set[k]->driver, variant) == 0;
			if (variant && (!set[k]->driver || strcmp(set[k]->driver, variant)))
				pt_strv_addf(&em.notes, "%s: %s stands in for vfio-pci for it (migration, its quirks): bound to "
					     "it, the line takes driver=keep (qemu-server 9)", set[k]->address, variant);
		}
		if (keep)
			pt_strv_add(&props, "driver=keep");
		/* the binding is the scan's, and nothing makes it last: qemu-server binds nothing with
		 * driver=keep, and no boot binds a variant (the host plan sends devices to vfio-pci);
		 * a GPU's hookscript binds it at each pre-start, another device is bound by hand */
		for (size_t k = i; keep && k < j; k++) {
			char how[160];
			if (is_gpu(set[k]))
				snprintf(how, sizeof(how), "its hookscript: ptlua hookscript --vm %u --recipe gpu-audio --gpu %s "
					 "--driver variant", em.o.vm, set[k]->address);
			else
				snprintf(how, sizeof(how), "bind.lua --device %s --vm %u --driver variant", set[k]->address, em.o.vm);
			pt_strv_addf(&em.notes, "%s: on its variant %s now, which nothing makes last: driver=keep binds nothing "
				     "and no boot binds a variant (on its host driver after a reboot, the VM does not start); "
				     "bind it to the variant before each start (%s)", set[k]->address, set[k]->driver, how);
		}
		value = props.oom ? NULL : pt_strv_join(&props, ",");
		pt_strv_free(&props);
		if (!value) {
			r = pt_fail(ctx, -ENOMEM, "out of memory");
			goto fail;
		}
		put(&em, key, value);
		free(value);
	}
	free(set);
	/* the settings the VM still lacks */
	if (!pt_vmconf_is_q35(value_of(&em, "machine", "pc")))
		put(&em, "machine", machine);
	if (gpu && strcmp(value_of(&em, "bios", "seabios"), "ovmf")) {
		put(&em, "bios", "ovmf");
		if (!pt_vmconf_get(em.config, "efidisk0")) {
			/* a new disk is allocated by qm set ("STORAGE:SIZE"), not written as a line */
			const char *storage = em.o.storage ? em.o.storage : "local-lvm";
			if ((r = check_storage(ctx, storage)) < 0)
				return fail_end(&em, r);
			pt_strv_addf(&em.notes, "efidisk0: allocate it with qm set %u --efidisk0 %s:1,efitype=4m,pre-enrolled-keys=1",
				     em.o.vm, storage);
			pt_strv_add(&em.qm, "--efidisk0");
			pt_strv_addf(&em.qm, "%s:1,efitype=4m,pre-enrolled-keys=1", storage);
		}
	}
	if (gpu) {
		const char *cpu = em.o.flags & PT_EMIT_HIDE_KVM ? "host,hidden=1" : "host";
		if (strcmp(value_of(&em, "cpu", ""), cpu))
			put(&em, "cpu", cpu);
	}
	if (em.o.primary && strcmp(value_of(&em, "vga", ""), "none"))
		put(&em, "vga", "none");
	if (em.o.place)
		put_placement(&em);
	return finish(&em, ret);
fail:
	free(set);
	return fail_end(&em, r);
}

PT_EXPORT int pt_emit_proxmox_mdev(const pt_device *dev, const char *type, const pt_emit_opts *opts, pt_emission **ret)
{
	const pt_mdev_type *types, *offered = NULL;
	struct emit em;
	char key[32], *value = NULL;
	size_t n;
	pt_ctx *ctx;
	int r;

	if (!dev || !ret)
		return -EINVAL;
	ctx = dev->e->ctx;
	if ((r = emit_begin(&em, ctx, opts)) < 0)
		return fail_end(&em, r);
	n = pt_device_get_mdev_type_count(dev);
	types = dev->mdev_types;
	if (n == 0)
		return fail_end(&em, pt_fail(ctx, -ENOENT, "%s offers no mediated device types (no mdev_supported_types)",
					     dev->address));
	for (size_t i = 0; i < n && type; i++)
		if (strcmp(types[i].type, type) == 0)
			offered = &types[i];
	if (!offered) {
		struct pt_strv names = { 0 };
		char q[256], *list;
		for (size_t i = 0; i < n; i++)
			pt_strv_add(&names, types[i].type);
		list = pt_strv_join(&names, ", ");
		pt_strv_free(&names);
		r = pt_fail(ctx, -ENOENT, "mdev type %s: %s offers %s", pt_quote(q, sizeof(q), type ? type : "nil"),
			    dev->address, list ? list : "");
		free(list);
		return fail_end(&em, r);
	}
	if (offered->available_instances == 0)
		return fail_end(&em, pt_fail(ctx, -EBUSY, "mdev type %s on %s: no instance available (available_instances 0)",
					     type, dev->address));
	if ((r = pt_config_value_check(ctx, "mdev", offered->type)) < 0 ||
	    (r = next_key(&em, "hostpci", HOSTPCI_MAX, NULL, key)) < 0)
		return fail_end(&em, r);
	if (asprintf(&value, "%s,mdev=%s%s", dev->address, offered->type,
		     pt_vmconf_is_q35(value_of(&em, "machine", "pc")) ? ",pcie=1" : "") < 0)
		return fail_end(&em, pt_fail(ctx, -ENOMEM, "out of memory"));
	put(&em, key, value);
	free(value);
	return finish(&em, ret);
}

PT_EXPORT int pt_emit_proxmox_usb(pt_ctx *ctx, const pt_usb_spec *usb, const pt_emit_opts *opts, pt_emission **ret)
{
	struct emit em;
	char key[32], host[64];
	char *value = NULL;
	int r;

	pt_usb_spec usb_copy;

	if (!ctx || !ret)
		return -EINVAL;
	if ((r = pt_usb_spec_in(ctx, &usb, &usb_copy)) < 0)
		return r;
	if ((r = emit_begin(&em, ctx, opts)) < 0 || (r = pt_usb_spec_host(ctx, usb, host)) < 0)
		return fail_end(&em, r);
	const char *peer = pt_usb_spec_peer(usb);
	int from = 0;
	for (const char *at = host; at; at = at == host ? peer : NULL) {
		if ((r = next_key(&em, "usb", USB_MAX, &from, key)) < 0)
			return fail_end(&em, r);
		if (asprintf(&value, "host=%s%s", at, em.o.flags & PT_EMIT_USB3 ? ",usb3=1" : "") < 0)
			return fail_end(&em, pt_fail(ctx, -ENOMEM, "out of memory"));
		put(&em, key, value);
		free(value);
	}
	if (peer)
		pt_strv_addf(&em.notes, "%s and the line after it are the two halves of one physical port (USB 2 and "
			     "USB 3): a device back at another speed is on the other; QEMU passes whichever is there",
			     host);
	return finish(&em, ret);
}
