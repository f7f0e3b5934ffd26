// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * QEMU command-line arguments that stand on their own: the pcie-root-port (or USB controller)
 * each device attaches to comes with it, so they work appended to `-machine q35`. The result's
 * lines are the words; its command, the words as one shell line.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "libpt-private.h"

/* A port a slot of the set (devices sorted by address), in the order the slots come; function 0
 * first, with multifunction=on when the slot brings several. The guest sees the slot's functions
 * as they are on the host, except that a slot whose function 0 stays behind gets its lowest
 * function at function 0: a guest looks for a slot's other functions only when function 0 is
 * there. */
static int vfio_args(pt_ctx *ctx, struct pt_strv *words, pt_device *const *set, size_t n, const pt_emit_opts *o)
{
	char q[128];
	uint64_t primary = UINT64_MAX;

	if (o->romfile)
		for (const unsigned char *c = (const unsigned char *)o->romfile; *c; c++)
			if (*c == ',' || *c < 0x20 || *c == 0x7f)
				return pt_fail(ctx, -EINVAL, "romfile %s: no commas or control characters",
					       pt_quote(q, sizeof(q), o->romfile));
	if (o->primary && pt_address_parse(o->primary, &primary) < 0)
		return pt_fail(ctx, -EINVAL, "primary %s: not a PCI address", pt_quote(q, sizeof(q), o->primary));
	size_t port = 0;
	for (size_t i = 0, j; i < n; i = j, port++) {
		for (j = i + 1; j < n && pt_same_slot(set[j], set[i]); j++)
			;
		pt_strv_add(words, "-device");
		pt_strv_addf(words, "pcie-root-port,id=pt-port%zu,chassis=%zu,slot=%zu", port, 101 + port, port + 1);
		for (size_t k = i; k < j; k++) {
			unsigned fn = pt_device_get_function(set[k]);
			struct pt_strv props = { 0 };
			char *value;

			if (k == i)
				fn = 0; /* the lowest function of the slot: function 0 itself, or in its place */
			pt_strv_add(&props, "vfio-pci");
			pt_strv_addf(&props, "host=%s", set[k]->address);
			pt_strv_addf(&props, "bus=pt-port%zu", port);
			pt_strv_addf(&props, "addr=0x0.%x", fn);
			if (k == i && j - i > 1)
				pt_strv_add(&props, "multifunction=on");
			if (set[k]->key == primary)
				pt_strv_add(&props, "x-vga=on");
			if (o->flags & PT_EMIT_NO_ROMBAR)
				pt_strv_add(&props, "rombar=0");
			if (o->romfile)
				pt_strv_addf(&props, "romfile=%s", o->romfile);
			if (o->flags & PT_EMIT_IOMMUFD)
				pt_strv_add(&props, "iommufd=pt-iommufd0");
			value = props.oom ? NULL : pt_strv_join(&props, ",");
			pt_strv_free(&props);
			pt_strv_add(words, "-device");
			if (value)
				pt_strv_add(words, value);
			else
				words->oom = true;
			free(value);
		}
	}
	return 0;
}

/* usb-host on a qemu-xhci controller that comes with it, by port or by id. */
static int usb_args(pt_ctx *ctx, struct pt_strv *words, const pt_usb_spec *usb)
{
	char q[128];

	pt_strv_add(words, "-device");
	pt_strv_add(words, "qemu-xhci,id=pt-xhci");
	pt_strv_add(words, "-device");
	if (usb->port) {
		const char *dash = strchr(usb->port, '-');
		if (!pt_usb_port_is_valid(usb->port) || !dash)
			return pt_fail(ctx, -EINVAL, "USB port %s: expected BUS-PORT(.PORT)*", pt_quote(q, sizeof(q), usb->port));
		pt_strv_addf(words, "usb-host,bus=pt-xhci.0,hostbus=%.*s,hostport=%s", (int)(dash - usb->port), usb->port,
			     dash + 1);
		return 0;
	}
	const char *hex = "0123456789abcdefABCDEF";
	if (!usb->id || strlen(usb->id) != 9 || strspn(usb->id, hex) != 4 || usb->id[4] != ':' ||
	    strspn(usb->id + 5, hex) != 4)
		return pt_fail(ctx, -EINVAL, "USB id %s: expected VVVV:PPPP", pt_quote(q, sizeof(q), usb->id ? usb->id : "nil"));
	char id[10];
	for (int i = 0; i < 10; i++)
		id[i] = usb->id[i] >= 'A' && usb->id[i] <= 'F' ? usb->id[i] + ('a' - 'A') : usb->id[i];
	pt_strv_addf(words, "usb-host,bus=pt-xhci.0,vendorid=0x%.4s,productid=0x%.4s", id, id + 5);
	return 0;
}

/* The VM's size and its memory on the node (a backend bound there, huge pages from hugetlbfs
 * where asked, one guest NUMA node with every vCPU); the vCPU threads' CPUs are taskset's. */
static void placement_args(struct pt_strv *words, struct pt_strv *notes, const pt_placement *p)
{
	unsigned vcpus = pt_placement_get_vcpus(p);
	unsigned long memory = pt_placement_get_memory(p), page = pt_placement_get_hugepage_size(p);

	pt_strv_add(words, "-smp");
	pt_strv_addf(words, "%u", vcpus);
	pt_strv_add(words, "-m");
	pt_strv_addf(words, "%luM", memory);
	pt_strv_add(words, "-object");
	if (page)
		pt_strv_addf(words, "memory-backend-file,id=pt-mem0,size=%luM,mem-path=%s,prealloc=on,host-nodes=%d,policy=bind",
			     memory, page == 2048 ? "/dev/hugepages" : "/dev/hugepages-1G", pt_placement_get_node(p));
	else
		pt_strv_addf(words, "memory-backend-ram,id=pt-mem0,size=%luM,host-nodes=%d,policy=bind", memory,
			     pt_placement_get_node(p));
	pt_strv_add(words, "-numa");
	if (vcpus > 1)
		pt_strv_addf(words, "node,nodeid=0,cpus=0-%u,memdev=pt-mem0", vcpus - 1);
	else
		pt_strv_add(words, "node,nodeid=0,cpus=0,memdev=pt-mem0");
	pt_strv_addf(notes, "run QEMU under taskset -c %s: its vCPU threads on NUMA node %d's CPUs",
		     pt_placement_get_cpus(p), pt_placement_get_node(p));
	if (page == 1048576)
		pt_strv_add(notes, "mount hugetlbfs with pagesize=1G on /dev/hugepages-1G for the 1 GiB pages");
	for (size_t i = 0; i < pt_placement_get_note_count(p); i++)
		pt_strv_add(notes, pt_placement_get_note(p, i));
}

PT_EXPORT int pt_emit_qemu(pt_ctx *ctx, const pt_assignment *a, const pt_usb_spec *usb,
				      const pt_emit_opts *opts, pt_emission **ret)
{
	struct pt_strv words = { 0 }, command = { 0 };
	size_t n = pt_assignment_get_device_count(a);
	pt_device **set = calloc(n ? n : 1, sizeof(*set));
	pt_emit_opts o;
	int r;

	if (!ctx || !ret || !set) {
		free(set);
		return ctx ? pt_fail(ctx, -ENOMEM, "out of memory") : -EINVAL;
	}
	pt_usb_spec usb_copy;
	if ((r = pt_emit_opts_copy(ctx, &o, opts)) < 0 || (r = pt_usb_spec_in(ctx, &usb, &usb_copy)) < 0 || (a && (r = pt_assignment_check_in(ctx, a)) < 0)) {
		free(set);
		return r;
	}
	for (size_t i = 0; i < n; i++)
		set[i] = pt_assignment_get_device(a, i);
	struct pt_strv notes = { 0 };
	if (o.place)
		placement_args(&words, &notes, o.place);
	if ((o.flags & PT_EMIT_IOMMUFD) && n) {
		if (!pt_host_has_iommufd(ctx)) {
			free(set);
			pt_strv_free(&words);
			pt_strv_free(&notes);
			return pt_fail(ctx, -ENODEV, "iommufd: %s/dev/iommu or sys/class/vfio-dev missing: the kernel has no "
				       "IOMMUFD or no VFIO cdevs (Linux 6.6+, CONFIG_IOMMUFD, CONFIG_VFIO_DEVICE_CDEV)",
				       strcmp(ctx->root, "/") ? ctx->root : "");
		}
		pt_strv_add(&words, "-object");
		pt_strv_add(&words, "iommufd,id=pt-iommufd0");
	}
	r = vfio_args(ctx, &words, set, n, &o);
	free(set);
	if (r < 0 || (usb && (r = usb_args(ctx, &words, usb)) < 0)) {
		pt_strv_free(&words);
		pt_strv_free(&notes);
		return r;
	}
	for (size_t i = 0; i < words.n; i++)
		pt_strv_add(&command, words.v[i]);
	return pt_emission_new(ctx, &words, &notes, &command, ret);
}

PT_EXPORT int pt_emit_qemu_mdev(pt_ctx *ctx, const char *uuid, pt_emission **ret)
{
	struct pt_strv words = { 0 }, command = { 0 };
	char q[128];

	if (!ctx || !ret)
		return -EINVAL;
	if (!uuid || !pt_uuid_is_valid(uuid))
		return pt_fail(ctx, -EINVAL, "%s: not an mdev UUID", pt_quote(q, sizeof(q), uuid ? uuid : "nil"));
	pt_strv_add(&words, "-device");
	pt_strv_addf(&words, "vfio-pci,sysfsdev=/sys/bus/mdev/devices/%s", uuid);
	for (size_t i = 0; i < words.n; i++)
		pt_strv_add(&command, words.v[i]);
	return pt_emission_new(ctx, &words, NULL, &command, ret);
}
