// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Lint of Proxmox VM configs against this host: what would keep a VM from starting, or from
 * showing a picture. Each finding names the VM, the key, a code and a sentence.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libpt-private.h"

#define IGD_ADDRESS "0000:00:02.0"

static void destroy_lint(pt_lint *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].message);
	}
	free(l->v);
	pt_ctx_unref(l->ctx);
	free(l);
}

PT_DEFINE_REFCOUNT(pt_lint, destroy_lint)

PT_EXPORT size_t pt_lint_get_finding_count(const pt_lint *l)
{
	return l ? l->n : 0;
}

PT_EXPORT unsigned pt_lint_get_vm(const pt_lint *l, size_t i)
{
	return l && i < l->n ? l->v[i].vm : 0;
}

PT_EXPORT const char *pt_lint_get_key(const pt_lint *l, size_t i)
{
	return l && i < l->n ? l->v[i].key : NULL;
}

PT_EXPORT const char *pt_lint_get_code(const pt_lint *l, size_t i)
{
	return l && i < l->n ? l->v[i].code : NULL;
}

PT_EXPORT const char *pt_lint_get_message(const pt_lint *l, size_t i)
{
	return l && i < l->n ? l->v[i].message : NULL;
}

/* The mapping names of /etc/pve/mapping/pci.cfg (its sections). */
static void read_mappings(pt_ctx *ctx, struct pt_strv *names)
{
	pt_pve_config *cfg;

	if (pt_pve_config_read(ctx, "/etc/pve/mapping/pci.cfg", &cfg) < 0)
		return;
	for (size_t i = 0; i < pt_pve_config_get_section_count(cfg); i++)
		pt_strv_add(names, pt_pve_config_get_id(cfg, i));
	pt_pve_config_unref(cfg);
}

/* A hostpci line's romfile=: there, a ROM, for the device it is given to (Proxmox passes it with
 * the line's first function), with an EFI image where the VM boots OVMF. */
static void lint_romfile(struct pt_lint *l, unsigned vm, const char *key, const pt_device *dev, const char *name,
			 const pt_vmconf *c)
{
	pt_rom *rom;
	void *data;
	size_t len;
	bool efi = false;
	int r;

	if (!pt_romfile_name_valid(name)) {
		pt_lint_note(l, vm, key, "romfile-name", "romfile %s: not a file name in /usr/share/kvm", name);
		return;
	}
	if (pt_ctx_read_romfile(l->ctx, name, &data, &len) < 0) {
		pt_lint_note(l, vm, key, "romfile-missing", "romfile %s: %s: the VM cannot start", name, pt_ctx_last_error(l->ctx));
		return;
	}
	r = pt_rom_parse(data, len, &rom);
	free(data);
	if (r < 0) {
		pt_lint_note(l, vm, key, "romfile-not-a-rom", "romfile %s: %s", name, strerror(-r));
		return;
	}
	const char *problem = pt_rom_get_problem(rom);
	if (pt_rom_get_image_count(rom) == 0) {
		pt_lint_note(l, vm, key, "romfile-not-a-rom", "romfile %s: %s", name, problem);
		pt_rom_unref(rom);
		return;
	}
	if (problem)
		pt_lint_note(l, vm, key, "romfile-damaged", "romfile %s: %s", name, problem);
	if (pt_rom_get_start(rom) > 0)
		pt_lint_note(l, vm, key, "romfile-header",
		     "romfile %s: %zu bytes before its first image (a flashing tool's header): QEMU needs the image alone (rom.lua --file %s --save NAME)",
		     name, pt_rom_get_start(rom), name);
	for (size_t i = 0; i < pt_rom_get_image_count(rom); i++) {
		pt_rom_image img = PT_INIT(pt_rom_image);
		pt_rom_get_image(rom, i, &img);
		efi = efi || img.code_type == PT_ROM_CODE_EFI;
		if (dev && !pt_rom_image_matches(&img, dev->vendor, dev->device))
			pt_lint_note(l, vm, key, "romfile-wrong-device", "romfile %s: image %zu is for %04x:%04x, not for %s (%04x:%04x)",
			     name, i + 1, img.vendor_id, img.device_id, dev->address, dev->vendor, dev->device);
	}
	const char *bios = pt_vmconf_get(c, "bios");
	if (!efi && bios && strcmp(bios, "ovmf") == 0)
		pt_lint_note(l, vm, key, "romfile-no-efi",
		     "romfile %s has no EFI image: with bios: ovmf the screen stays dark until the guest's driver loads", name);
	pt_rom_unref(rom);
}

/* Of a pool's alternatives (a mapping's map lines for this node), the VM's (pt_mapping_choose):
 * into buf, NULL for none. */
static const char *mapping_alternative(pt_ctx *ctx, unsigned vm, const char *mapping, char *buf, size_t size)
{
	struct pt_strv paths = { 0 };
	int i = pt_mapping_paths(ctx, mapping, &paths) < 0 ? -ENOENT : pt_mapping_choose(ctx, vm, &paths, NULL, NULL, 0);

	if (i >= 0)
		snprintf(buf, size, "%s", paths.v[i]);
	pt_strv_free(&paths);
	return i >= 0 ? buf : NULL;
}

/* legacy-igd=1, by the rules pt_emit_proxmox follows: the IGD at 00:02.0 alone, machine
 * i440fx, vga none, the ROM BAR on. */
static void lint_legacy_igd(struct pt_lint *l, unsigned vm, const char *key, const pt_props *props, const pt_vmconf *c)
{
	const char *host = pt_props_get(props, "host"), *machine = pt_vmconf_get(c, "machine");
	const char *vga = pt_vmconf_get(c, "vga"), *rombar = pt_props_get(props, "rombar");
	char full[64];

	host = host ? host : "";
	snprintf(full, sizeof(full), "%s%s", strchr(host, ':') && strchr(strchr(host, ':') + 1, ':') ? "" : "0000:", host);
	if (strchr(host, ';') || strcmp(full, IGD_ADDRESS))
		pt_lint_note(l, vm, key, "igd-not-alone", "legacy-igd=1 passes the integrated GPU alone: host=%s (not %s)", IGD_ADDRESS,
		     host);
	if (pt_vmconf_is_q35(machine ? machine : "pc"))
		pt_lint_note(l, vm, key, "igd-machine", "legacy-igd=1 needs machine i440fx (machine: %s)", machine);
	if (!vga || strcmp(vga, "none"))
		pt_lint_note(l, vm, key, "igd-vga", "legacy-igd=1 needs vga: none (vga: %s)", vga ? vga : "default");
	if (rombar && strcmp(rombar, "0") == 0)
		pt_lint_note(l, vm, key, "igd-rombar", "legacy-igd=1 needs the ROM BAR (rombar=0 here)");
}



/* A usbN line: an id two present devices share, and what QEMU's usb-host will find (libusb, on
 * the running system only). The line is resolved as pt_usb_resolve does, a port as written (no
 * snapshot: QEMU looks at that port, whatever is on its other half). */
static void lint_usb(struct pt_lint *l, pt_enum *e, unsigned vm, const char *key, const char *host)
{
	pt_usb_spec spec = PT_INIT(pt_usb_spec);
	pt_usb_resolved m = PT_INIT(pt_usb_resolved);
	pt_usb_host h = PT_INIT(pt_usb_host);

	if (!host || !strcmp(host, "spice"))
		return;
	if (strchr(host, ':'))
		spec.id = host;
	else
		spec.port = host;
	int r = pt_usb_resolve(l->ctx, spec.id ? e : NULL, &spec, &m);
	if (r == -ENOTUNIQ) {
		pt_lint_note(l, vm, key, "usb-ambiguous", "%s", pt_ctx_last_error(l->ctx));
		return;
	}
	if (r < 0)
		return; /* not a device the line names (the config's parser says so) */
	r = pt_usb_check_host(l->ctx, &m, &h);
	if (r == -EXDEV)
		return; /* a tree, not this host: libusb cannot look at it */
	if (r == -ENOPKG)
		pt_lint_note(l, vm, key, "usb-unchecked", "host=%s: %s", host, pt_ctx_last_error(l->ctx));
	else if (r < 0)
		pt_lint_note(l, vm, key, r == -ENODEV ? "usb-not-found" : "usb-no-access", "host=%s: %s", host,
		     pt_ctx_last_error(l->ctx));
	else if (h.holder && h.holder != pt_vm_pid(l->ctx, vm))
		pt_lint_note(l, vm, key, "usb-held", "host=%s: %s (device %u on bus %u) is open in process %ld, not this VM's QEMU: "
		     "another VM or program has it", host, h.node, h.devnum, h.bus, h.holder);
}

/* The guard on a VM's hostpci lines (and what their mappings name here): the assignment's
 * refusals of host-critical devices, each an error finding on its line. Proxmox binds them to
 * vfio-pci itself when the VM starts. */
static void lint_guard(struct pt_lint *l, pt_enum *e, unsigned vm, const pt_vmconf *c)
{
	pt_assignment *a = NULL;

	if (pt_assignment_new(e, vm, 0, &a) < 0 || pt_assignment_add_vmconf(a, c) < 0) {
		pt_assignment_unref(a);
		l->oom = true;
		return;
	}
	for (size_t i = 0; i < pt_assignment_get_refusal_count(a); i++) {
		const char *source, *why;
		bool guard;
		int r = pt_assignment_refusal(a, i, &source, &why, &guard);
		char key[32];
		/* the key ("hostpci0", "pending hostpci0"), then how it came ("(mapping lan)") */
		const char *tail = "; force to take it anyway", *via = strstr(source, " (mapping ");
		via = via ? via : source + strlen(source);
		snprintf(key, sizeof(key), "%.*s", (int)(via - source), source);
		if (!guard) {
			/* a pool every alternative of which another VM holds: its start fails (a line
			 * that names nothing here is the no-such-device finding) */
			if (r == -EBUSY)
				pt_lint_note(l, vm, key, "mapping-none-free", "%s%s%s", *via ? via + 1 : "", *via ? " " : "", why);
			continue;
		}
		size_t len = strlen(why);
		if (len > strlen(tail) && strcmp(why + len - strlen(tail), tail) == 0)
			len -= strlen(tail);
		pt_lint_note(l, vm, key, "host-critical", "%s%s%.*s: Proxmox binds it to vfio-pci when the VM starts, and the host loses it",
		     *via ? via + 1 : "", *via ? " " : "", (int)len, why);
	}
	pt_assignment_unref(a);
}

/* Which VMs' hostpci lines name each device (by index of the snapshot), and with which key. */
struct use {
	unsigned *vms;
	size_t n;
};

static int lint_vm(struct pt_lint *l, pt_enum *e, unsigned vm, const struct pt_strv *mappings, struct use *used)
{
	pt_vmconf *c;
	const char **in_vm = calloc(e->n_devices ? e->n_devices : 1, sizeof(*in_vm)); /* the key that names it */
	int r;

	if (!in_vm)
		return -ENOMEM;
	if ((r = pt_vmconf_read(l->ctx, vm, &c)) < 0) {
		free(in_vm);
		return r;
	}
	const char *machine = pt_vmconf_get(c, "machine"), *bios = pt_vmconf_get(c, "bios");
	lint_guard(l, e, vm, c);
	for (size_t k = 0; k < pt_vmconf_get_key_count(c); k++) {
		const char *key = pt_vmconf_get_key(c, k);
		pt_props *props;
		if (!pt_key_numbered(key, "hostpci") && !pt_key_numbered(key, "usb"))
			continue;
		if ((r = pt_props_parse(l->ctx, pt_vmconf_get(c, key), "host", &props)) < 0)
			break;
		const char *host = pt_props_get(props, "host");
		if (pt_key_numbered(key, "usb")) {
			lint_usb(l, e, vm, key, host);
			pt_props_unref(props);
			continue;
		}
		const char *pcie = pt_props_get(props, "pcie"), *xvga = pt_props_get(props, "x-vga");
		const char *mapping = pt_props_get(props, "mapping"), *romfile = pt_props_get(props, "romfile");
		const char *igd = pt_props_get(props, "legacy-igd");
		if (pcie && strcmp(pcie, "1") == 0 && !pt_vmconf_is_q35(machine))
			pt_lint_note(l, vm, key, "pcie-needs-q35", "pcie=1 needs machine q35 (machine: %s)",
			     machine ? machine : "i440fx, the default");
		if (xvga && strcmp(xvga, "1") == 0 && strcmp(bios ? bios : "seabios", "ovmf"))
			pt_lint_note(l, vm, key, "x-vga-seabios",
			     "x-vga=1 with SeaBIOS: a primary GPU wants bios: ovmf (UEFI), as most current cards have no legacy VGA BIOS");
		if (mapping && !pt_strv_has(mappings, mapping))
			pt_lint_note(l, vm, key, "unknown-mapping", "mapping %s is not in /etc/pve/mapping/pci.cfg", mapping);
		const pt_device *first = NULL; /* the device the romfile goes with: the line's first */
		/* a mapping's alternatives: the one the VM holds (running: Proxmox's reservation), or
		 * the one its start would take (the first no other VM holds), as the VM's device */
		char held[72] = "";
		if (mapping && !host)
			host = mapping_alternative(l->ctx, vm, mapping, held, sizeof(held));
		for (const char *p = host ? host : ""; *p;) {
			size_t len = strcspn(p, ";");
			if (len) {
				char id[72];
				size_t n_found;
				snprintf(id, sizeof(id), "%.*s", (int)(len < 64 ? len : 64), p);
				n_found = len < 64 ? pt_enum_find_hostpci(e, id, NULL, 0) : 0;
				pt_device **found = n_found ? calloc(n_found, sizeof(*found)) : NULL;
				bool matched = n_found > 0 && found;
				if (found)
					pt_enum_find_hostpci(e, id, found, n_found);
				for (size_t f = 0; found && f < n_found; f++) {
					pt_device *d = found[f];
					size_t i = (size_t)(d - e->devices);
					first = first ? first : d;
					in_vm[i] = key;
					struct use *u = &used[i];
					/* a pool's alternative is the VM's for now: two VMs may share a pool */
					if (!held[0] && !(u->n && u->vms[u->n - 1] == vm)) {
						unsigned *more = reallocarray(u->vms, u->n + 1, sizeof(*more));
						if (!more) {
							l->oom = true;
							continue;
						}
						u->vms = more;
						u->vms[u->n++] = vm;
					}
				}
				free(found);
				if (!matched)
					pt_lint_note(l, vm, key, "no-such-device", "host %s: no such PCI device on this host", id);
			}
			p += len + (p[len] == ';');
		}
		if (romfile)
			lint_romfile(l, vm, key, first, romfile, c);
		if (igd && strcmp(igd, "1") == 0)
			lint_legacy_igd(l, vm, key, props, c);
		pt_props_unref(props);
	}
	pt_lint_locality(l, l->ctx, e, vm, c, in_vm);
	pt_lint_hugepages(l, l->ctx, vm, c);
	/* a device's whole passthrough set goes, or the VM cannot start */
	for (size_t i = 0; r == 0 && i < e->n_devices; i++) {
		pt_device *d = &e->devices[i];
		if (!in_vm[i])
			continue;
		for (size_t j = 0; j < d->n_set; j++) {
			const pt_device *m = d->set[j];
			/* VFIO takes a group whose every member is on a VFIO driver (vfio-pci or its
			 * variant), pci-stub or no driver: only a member a host driver holds keeps the VM
			 * from starting */
			if (in_vm[m - e->devices] || !m->driver || pt_device_on_vfio(m, m->driver) || !strcmp(m->driver, "pci-stub"))
				continue;
			pt_lint_note(l, vm, in_vm[i], "group-incomplete",
			     "%s shares IOMMU group %ld with %s, which the VM does not get and %s holds: the VM cannot start",
			     d->address, d->group_number, m->address, m->driver);
		}
	}
	free(in_vm);
	pt_vmconf_unref(c);
	return r;
}

static int compare_findings(const void *a, const void *b)
{
	const struct pt_lint_finding *x = a, *y = b;
	int c;

	if (x->vm != y->vm)
		return x->vm < y->vm ? -1 : 1;
	if ((c = strcmp(x->key, y->key)))
		return c;
	return strcmp(x->message, y->message);
}

PT_EXPORT int pt_lint_run(pt_enum *e, unsigned only_vm, pt_lint **ret)
{
	struct pt_lint *l;
	struct pt_strv mappings = { 0 };
	struct use *used;
	unsigned *vms;
	size_t n_vms;
	int r;

	if (!e || !ret)
		return -EINVAL;
	if (only_vm && (r = pt_check_vmid(e->ctx, only_vm)) < 0)
		return r;
	l = calloc(1, sizeof(*l));
	used = calloc(e->n_devices ? e->n_devices : 1, sizeof(*used));
	if (!l || !used) {
		free(l);
		free(used);
		return pt_fail(e->ctx, -ENOMEM, "out of memory");
	}
	l->refcount = 1;
	l->ctx = pt_ctx_ref(e->ctx);
	if ((r = pt_vmconf_list(e->ctx, &vms, &n_vms)) < 0) {
		free(used);
		pt_lint_unref(l);
		return pt_fail(e->ctx, r, "out of memory");
	}
	bool found = !only_vm;
	for (size_t i = 0; i < n_vms; i++)
		found = found || vms[i] == only_vm;
	if (!found) {
		free(used);
		free(vms);
		pt_lint_unref(l);
		return pt_fail(e->ctx, -ENOENT, "VM %u has no config on this node (/etc/pve/qemu-server/%u.conf)", only_vm,
			       only_vm);
	}
	read_mappings(e->ctx, &mappings);
	for (size_t i = 0; i < n_vms && r == 0; i++)
		r = lint_vm(l, e, vms[i], &mappings, used);
	/* a device in two VMs */
	for (size_t i = 0; r == 0 && i < e->n_devices; i++) {
		struct use *u = &used[i];
		if (u->n > 1) {
			struct pt_strv list = { 0 };
			for (size_t j = 0; j < u->n; j++)
				pt_strv_addf(&list, "%u", u->vms[j]);
			char *s = pt_strv_join(&list, ", ");
			pt_lint_note(l, u->vms[1], "hostpci", "device-in-two-vms", "%s is also given to VM %u (VMs %s)", e->devices[i].address,
			     u->vms[0], s ? s : "");
			free(s);
			pt_strv_free(&list);
		}
	}
	for (size_t i = 0; i < e->n_devices; i++)
		free(used[i].vms);
	free(used);
	free(vms);
	pt_strv_free(&mappings);
	if (r == 0 && l->oom)
		r = pt_fail(e->ctx, -ENOMEM, "out of memory");
	if (r < 0) {
		pt_lint_unref(l);
		return r;
	}
	if (only_vm) {
		size_t k = 0;
		for (size_t i = 0; i < l->n; i++) {
			if (l->v[i].vm == only_vm) {
				l->v[k++] = l->v[i];
			} else {
				free(l->v[i].key);
				free(l->v[i].message);
			}
		}
		l->n = k;
	}
	if (l->n)
		qsort(l->v, l->n, sizeof(*l->v), compare_findings);
	*ret = l;
	return 0;
}
