/*
 * The C contract, emission: every emitter from an assignment and for mediated devices, cluster
 * mappings of an assignment's set, host plans (from an assignment, for VFs at boot) and what a
 * plan holds. Rows of tests/test-contract-common.h on the inventory host of
 * tests/test_ccontract.py with a VM config and a GRUB file.
 */
#include "test-contract-common.h"

#define UUID "4b20d080-1b54-4048-85b3-a6a62d165c01"

static pt_assignment *assignment(pt_enum *e, unsigned vm, unsigned flags, const char *id)
{
	pt_assignment *a = NULL;
	if (pt_assignment_new(e, vm, flags, &a) < 0 || (id && pt_assignment_add(a, id) < 0)) {
		pt_assignment_unref(a);
		return NULL;
	}
	return a;
}

static void print_assignment(const pt_assignment *a, FILE *out)
{
	fprintf(out, "vm %u flags %u:", pt_assignment_get_vm(a), pt_assignment_get_flags(a));
	for (size_t i = 0; i < pt_assignment_get_device_count(a); i++)
		fprintf(out, " %s<-%s", pt_device_get_address(pt_assignment_get_device(a, i)), pt_assignment_get_source(a, i));
	fprintf(out, ", %zu refusals, check %d\n", pt_assignment_get_refusal_count(a), pt_assignment_check(a));
}

static int emit_assignment_everywhere(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_emit_opts o = { .size = sizeof(o), .vm = 100 };
	pt_usb_spec usb = { .size = sizeof(usb), .bus = 1, .devnum = 3 };
	pt_emission *em = NULL;
	pt_assignment *a = assignment(e, 100, 0, "01:00.1");
	int r;

	if (!a)
		return 1;
	if ((r = pt_emit_proxmox(a, &o, &em)) < 0)
		return said(ctx, r, out);
	print_emission(em, out);
	pt_emission_unref(em);
	if ((r = pt_emit_libvirt(ctx, a, &usb, "win11", NULL, &em)) < 0)
		return said(ctx, r, out);
	size_t n = pt_emission_get_line_count(em);
	fprintf(out, "libvirt: %zu lines, first %s, last %s\n", n, pt_emission_get_line(em, 0), pt_emission_get_line(em, n - 1));
	for (size_t i = 0; i < n; i++)
		if (strstr(pt_emission_get_line(em, i), "<address domain=") || strstr(pt_emission_get_line(em, i), "<address bus="))
			fprintf(out, "%s\n", pt_emission_get_line(em, i));
	/* no notes, no command; past the end NULL; a reference kept past the emitter's */
	fprintf(out, "notes %zu, command %p, beyond %p %p, ref same %d, ", pt_emission_get_note_count(em),
		(void *)pt_emission_get_command(em), (void *)pt_emission_get_line(em, n), (void *)pt_emission_get_note(em, 0),
		pt_emission_ref(em) == em);
	pt_emission_unref(em);
	fprintf(out, "kept %s, ", pt_emission_get_line(em, 0));
	fprintf(out, "unref %p %p\n", (void *)pt_emission_unref(em), (void *)pt_emission_unref(NULL));
	if ((r = pt_emit_qemu(ctx, a, NULL, NULL, &em)) < 0)
		return said(ctx, r, out);
	print_emission(em, out);
	pt_emission_unref(em);
	/* USB only */
	if ((r = pt_emit_qemu(ctx, NULL, &(pt_usb_spec){ .size = sizeof(pt_usb_spec), .id = "10c4:ea60" }, NULL, &em)) < 0)
		return said(ctx, r, out);
	fprintf(out, "$ %s\n", pt_emission_get_command(em));
	pt_emission_unref(em);
	/* a spec without its size is refused, naming the struct */
	em = NULL;
	said(ctx, pt_emit_qemu(ctx, NULL, &(pt_usb_spec){ .id = "10c4:ea60" }, NULL, &em), out);
	said(ctx, pt_emit_libvirt(ctx, NULL, &(pt_usb_spec){ .id = "10c4:ea60" }, NULL, NULL, &em), out);
	said(ctx, pt_emit_proxmox(a, &(pt_emit_opts){ .vm = 100 }, &em), out);
	if (em)
		return 1;
	pt_assignment_unref(a);
	/* a refused assignment refuses everywhere */
	if (!(a = assignment(e, 100, 0, "00:02.0")))
		return 1;
	em = NULL;
	said(ctx, pt_emit_proxmox(a, &o, &em), out);
	said(ctx, pt_emit_libvirt(ctx, a, NULL, NULL, NULL, &em), out);
	said(ctx, pt_emit_qemu(ctx, a, NULL, NULL, &em), out);
	pt_assignment_unref(a);
	/* a VM with no config yet gets the lines with a note */
	o.vm = 4242;
	if (!(a = assignment(e, 4242, 0, "03:10.4")) || pt_emit_proxmox(a, &o, &em) < 0)
		return 1;
	print_emission(em, out);
	pt_emission_unref(em);
	pt_assignment_unref(a);
	return 0;
}

static int emit_mdev(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_emit_opts o = { .size = sizeof(o), .vm = 100 };
	pt_emission *em = NULL;
	int r;

	if ((r = pt_emit_proxmox_mdev(device(e, "00:02.0"), "i915-GVTg_V5_4", &o, &em)) < 0)
		return said(ctx, r, out);
	print_emission(em, out);
	pt_emission_unref(em);
	em = NULL;
	said(ctx, pt_emit_proxmox_mdev(device(e, "00:02.0"), "i915-GVTg_V5_8", &o, &em), out);
	said(ctx, pt_emit_proxmox_mdev(device(e, "00:02.0"), "x,romfile=/etc/shadow", &o, &em), out);
	said(ctx, pt_emit_proxmox_mdev(device(e, "00:14.0"), "t", &o, &em), out);
	if ((r = pt_emit_libvirt_mdev(ctx, UUID, &em)) < 0)
		return said(ctx, r, out);
	print_emission(em, out);
	pt_emission_unref(em);
	if ((r = pt_emit_qemu_mdev(ctx, UUID, &em)) < 0)
		return said(ctx, r, out);
	print_emission(em, out);
	pt_emission_unref(em);
	em = NULL;
	said(ctx, pt_emit_libvirt_mdev(ctx, "not-a-uuid'/>", &em), out);
	said(ctx, pt_emit_qemu_mdev(ctx, "4B20D080-1B54-4048-85B3-A6A62D165C01", &em), out);
	return em != NULL;
}

static int emit_mapping_of_assignment(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_node *nodes[2] = { NULL, NULL };
	pt_node_device gpu = { .size = sizeof(gpu), .address = "0000:0a:00.0", .vendor_id = "10de", .device_id = "2484",
			       .subsystem_vendor_id = "10de", .subsystem_device_id = "14ae", .iommu_group = "7" };
	pt_node_device audio = { .size = sizeof(audio), .address = "0000:0a:00.1", .vendor_id = "10de", .device_id = "10f0",
				 .subsystem_vendor_id = "10de", .subsystem_device_id = "10f0", .iommu_group = "7" };
	pt_emission *em = NULL;
	pt_assignment *a = assignment(e, 100, 0, "01:00");
	int r;

	if (!a || pt_node_new(ctx, "pve1", &nodes[0]) < 0 || pt_node_add_enum(nodes[0], e) < 0 ||
	    pt_node_new(ctx, "pve2", &nodes[1]) < 0 || pt_node_add_device(nodes[1], &gpu) < 0 ||
	    pt_node_add_device(nodes[1], &audio) < 0)
		return 1;
	if ((r = pt_emit_mapping(a, "rtx", nodes, 2, 0, &em)) < 0)
		return said(ctx, r, out);
	print_emission(em, out);
	pt_emission_unref(em);
	pt_assignment_unref(a);
	/* the IGD whole: refused (the guard); its mdevs are an assignment of mdev parents' */
	if (!(a = assignment(e, 100, 0, "00:02.0")))
		return 1;
	em = NULL;
	said(ctx, pt_emit_mapping(a, "igpu", nodes, 2, 0, &em), out);
	said(ctx, pt_emit_mapping(a, "igpu", nodes, 2, PT_MAPPING_MDEV, &em), out);
	pt_assignment_unref(a);
	pt_node_unref(nodes[0]);
	pt_node_unref(nodes[1]);
	return em != NULL;
}

/* The IGD's mdevs on this node only, not on pve2: an assignment of mdev parents (each stays with
 * the host: no set, no guard). */
static int emit_mapping_of_mdev_parents(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_node *nodes[2] = { NULL, NULL };
	pt_node_device gpu = { .size = sizeof(gpu), .address = "0000:0a:00.0", .vendor_id = "10de", .device_id = "2484",
			       .subsystem_vendor_id = "10de", .subsystem_device_id = "14ae", .iommu_group = "7" };
	pt_emission *em = NULL;
	pt_assignment *a = NULL;
	int r;

	if (pt_node_new(ctx, "pve1", &nodes[0]) < 0 || pt_node_add_enum(nodes[0], e) < 0 ||
	    pt_node_new(ctx, "pve2", &nodes[1]) < 0 || pt_node_add_device(nodes[1], &gpu) < 0)
		return 1;
	if ((r = pt_assignment_new(e, 100, PT_ASSIGN_MDEV, &a)) < 0 || (r = pt_assignment_add(a, "00:02.0")) < 0) {
		said(ctx, r, out);
	} else {
		print_assignment(a, out);
		if ((r = pt_emit_mapping(a, "igpu", nodes, 2, PT_MAPPING_MDEV, &em)) < 0) {
			said(ctx, r, out);
		} else {
			print_emission(em, out);
			pt_emission_unref(em);
		}
		em = NULL;
		said(ctx, pt_emit_mapping(a, "igpu", nodes, 2, 0, &em), out);
		/* the parent itself goes nowhere: every other taker refuses the assignment */
		said(ctx, pt_emit_proxmox(a, NULL, &em), out);
		pt_assignment_unref(a);
		a = NULL;
		/* and a device that provides no mdevs is no mdev parent */
		if (pt_assignment_new(e, 100, PT_ASSIGN_MDEV, &a) == 0)
			said(ctx, pt_assignment_add(a, "05:00.0"), out);
	}
	pt_assignment_unref(a);
	pt_node_unref(nodes[0]);
	pt_node_unref(nodes[1]);
	return em != NULL;
}

static void print_plan(const pt_host_plan *p, FILE *out)
{
	for (size_t i = 0; i < pt_host_plan_get_change_count(p); i++) {
		const char *old = pt_host_plan_get_old(p, i);
		fprintf(out, "== %s (%s)\n%s", pt_host_plan_get_path(p, i), old ? "changed" : "new", pt_host_plan_get_new(p, i));
	}
	for (size_t i = 0; i < pt_host_plan_get_command_count(p); i++)
		fprintf(out, "$ %s\n", pt_host_plan_get_command(p, i));
}

static int host_plan_of_assignment(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_host_plan *p = NULL;
	pt_assignment *a = assignment(e, 0, 0, "05:00.0");
	int r;

	if (!a)
		return 1;
	if ((r = pt_host_plan_new(a, PT_PLAN_BLACKLIST, NULL, &p)) < 0)
		return said(ctx, r, out);
	fprintf(out, "context %d, %zu changes\n", pt_host_plan_get_context(p) == ctx, pt_host_plan_get_change_count(p));
	print_plan(p, out);
	/* the old GRUB file as it is, the new one with the parameters */
	for (size_t i = 0; i < pt_host_plan_get_change_count(p); i++)
		if (pt_host_plan_get_old(p, i))
			fprintf(out, "old %s: %s", pt_host_plan_get_path(p, i), pt_host_plan_get_old(p, i));
	fprintf(out, "beyond: %p %p %p %p\n", (void *)pt_host_plan_get_path(p, 99), (void *)pt_host_plan_get_old(p, 99),
		(void *)pt_host_plan_get_new(p, 99), (void *)pt_host_plan_get_command(p, 99));
	/* not applied: no backups; a reference kept past the maker's */
	fprintf(out, "backups before apply: %p %p, ref same %d, ", (void *)pt_host_plan_get_backup(p, 0),
		(void *)pt_host_plan_get_backup(p, 99), pt_host_plan_ref(p) == p);
	pt_host_plan_unref(p);
	fprintf(out, "kept %zu changes, ", pt_host_plan_get_change_count(p));
	fprintf(out, "unref %p\n", (void *)pt_host_plan_unref(p));
	pt_assignment_unref(a);
	p = NULL;
	if (!(a = assignment(e, 0, 0, "00:02.0")))
		return 1;
	said(ctx, pt_host_plan_new(a, 0, "intel", &p), out);
	pt_assignment_unref(a);
	pt_host_plan_unref(NULL);
	return p != NULL;
}

/* Flags a release does not know are refused, not ignored (1u << 4 was 0.x's PT_EMIT_FORCE) */
static int unknown_flags_refused(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_assignment *a = NULL;
	pt_emission *em = NULL;
	pt_host_plan *p = NULL;

	if (pt_assignment_new(e, 100, 0, &a) < 0 || pt_assignment_add(a, "05:00.0") < 0)
		return 1;
	said(ctx, pt_emit_proxmox(a, &(pt_emit_opts){ .size = sizeof(pt_emit_opts), .vm = 100, .flags = 1u << 4 }, &em), out);
	said(ctx, pt_host_plan_new(a, 2u, "intel", &p), out);
	pt_assignment_unref(a);
	return em || p;
}

static int host_plan_sriov(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_host_plan *p = NULL;
	int r = pt_host_plan_new_sriov(device(e, "03:00.0"), 4, 30000, "vfio-pci", &p);

	if (r < 0)
		return said(ctx, r, out);
	print_plan(p, out);
	pt_host_plan_unref(p);
	p = NULL;
	/* (more VFs than sriov_totalvfs, or VFs of a device without SR-IOV, are planned: not asserted, see
	 * the report) */
	said(ctx, pt_host_plan_new_sriov(device(e, "03:00.0"), 2, 30000, "../x", &p), out);
	return p != NULL;
}

/* Placement on a two-socket host (tests/twonode.spec): the GPU's node, whole cores of it that
 * no other VM pins, huge pages against what is free; each emitter writing it; the refusals. */
static int placement(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_assignment *a = assignment(e, 100, 0, "01:00"), *split = assignment(e, 100, 0, "01:00");
	pt_placement *p = NULL, *q = NULL;
	pt_emission *em = NULL;

	if (!a || !split || pt_assignment_add(split, "02:00.0") < 0 || pt_placement_new(a, 0, 0, 2048, &p) < 0)
		return 1;
	fprintf(out, "node %d cpus %s of %s, %u vCPUs, %lu MiB, pages %lu KiB: %lu needed, %ld free; ref same %d\n",
		pt_placement_get_node(p), pt_placement_get_cpus(p), pt_placement_get_node_cpus(p), pt_placement_get_vcpus(p),
		pt_placement_get_memory(p), pt_placement_get_hugepage_size(p), pt_placement_get_hugepages_needed(p),
		pt_placement_get_hugepages_free(p), pt_placement_ref(p) == p);
	pt_placement_unref(p);
	for (size_t i = 0; i < pt_placement_get_note_count(p); i++)
		fprintf(out, "note: %s\n", pt_placement_get_note(p, i));
	fprintf(out, "beyond %p\n", (void *)pt_placement_get_note(p, 9));
	pt_emit_opts o = { .size = sizeof(o), .vm = 100, .place = p };
	if (pt_emit_proxmox(a, &o, &em) == 0)
		for (size_t i = 0; i < pt_emission_get_line_count(em); i++)
			fprintf(out, "%s\n", pt_emission_get_line(em, i));
	em = pt_emission_unref(em);
	if (pt_emit_qemu(ctx, a, NULL, &o, &em) == 0)
		fprintf(out, "$ %s\n# %s\n", pt_emission_get_command(em), pt_emission_get_note(em, 0));
	em = pt_emission_unref(em);
	if (pt_emit_libvirt(ctx, a, NULL, "vm100", &o, &em) == 0)
		for (size_t i = 0; i < pt_emission_get_line_count(em); i++)
			if (strstr(pt_emission_get_line(em, i), "cpuset") || strstr(pt_emission_get_line(em, i), "nodeset"))
				fprintf(out, "%s\n", pt_emission_get_line(em, i));
	pt_emission_unref(em);
	/* 3 vCPUs and 1 GiB pages: a whole core, then a thread; the pages only a boot reserves */
	if (pt_placement_new(a, 3, 4096, 1048576, &q) == 0) {
		fprintf(out, "3 vCPUs: %s, %lu needed, %ld free\n", pt_placement_get_cpus(q), pt_placement_get_hugepages_needed(q),
			pt_placement_get_hugepages_free(q));
		for (size_t i = 0; i < pt_placement_get_note_count(q); i++)
			fprintf(out, "note: %s\n", pt_placement_get_note(q, i));
	}
	pt_placement_unref(q);
	q = NULL;
	/* its pages at every boot: per node on the kernel command line */
	pt_host_plan *plan = NULL;
	if (pt_host_plan_new_hugepages(ctx, p, &plan) == 0) {
		for (size_t i = 0; i < pt_host_plan_get_change_count(plan); i++)
			fprintf(out, "%s:\n%s", pt_host_plan_get_path(plan, i), pt_host_plan_get_new(plan, i));
		for (size_t i = 0; i < pt_host_plan_get_command_count(plan); i++)
			fprintf(out, "$ %s\n", pt_host_plan_get_command(plan, i));
	}
	pt_host_plan_unref(plan);
	said(ctx, pt_host_plan_new_hugepages(ctx, NULL, &plan), out);
	said(ctx, pt_placement_new(split, 0, 0, 0, &q), out);
	said(ctx, pt_placement_new(a, 0, 0, 4096, &q), out);
	fprintf(out, "unref NULL %p\n", (void *)pt_placement_unref(NULL));
	pt_placement_unref(p);
	pt_assignment_unref(a);
	pt_assignment_unref(split);
	return q != NULL;
}

static const struct test tests[] = {
	{ "placement", "place", placement,
	  "node 1 cpus 10-11,26-27 of 8-15,24-31, 4 vCPUs, 8192 MiB, pages 2048 KiB: 4096 needed, 4096 free; ref same 1\n"
	  "note: 3 CPUs of NUMA node 1 are other VMs' (their affinity): left out\n"
	  "beyond (nil)\n"
	  "hostpci0: 01:00,pcie=1\n"
	  "bios: ovmf\n"
	  "cpu: host\n"
	  "affinity: 10-11,26-27\n"
	  "numa: 1\n"
	  "numa0: cpus=0-3,hostnodes=1,memory=8192,policy=bind\n"
	  "hugepages: 2\n"
	  "$ -smp 4 -m 8192M -object memory-backend-file,id=pt-mem0,size=8192M,mem-path=/dev/hugepages,prealloc=on,host-nodes=1,policy=bind -numa node,nodeid=0,cpus=0-3,memdev=pt-mem0 -device pcie-root-port,id=pt-port0,chassis=101,slot=1 -device vfio-pci,host=0000:01:00.0,bus=pt-port0,addr=0x0.0,multifunction=on -device vfio-pci,host=0000:01:00.1,bus=pt-port0,addr=0x0.1\n"
	  "# run QEMU under taskset -c 10-11,26-27: its vCPU threads on NUMA node 1's CPUs\n"
	  "  <vcpu placement='static' cpuset='10-11,26-27'>4</vcpu>\n"
	  "    <vcpupin vcpu='0' cpuset='10'/>\n"
	  "    <vcpupin vcpu='1' cpuset='11'/>\n"
	  "    <vcpupin vcpu='2' cpuset='26'/>\n"
	  "    <vcpupin vcpu='3' cpuset='27'/>\n"
	  "    <memory mode='strict' nodeset='1'/>\n"
	  "3 vCPUs: 10-11,26, 4 needed, 0 free\n"
	  "note: 3 CPUs of NUMA node 1 are other VMs' (their affinity): left out\n"
	  "note: NUMA node 1 has 0 free huge pages of 1048576 KiB, the VM's 4096 MiB need 4: it would not start; raise /sys/devices/system/node/node1/hugepages/hugepages-1048576kB/nr_hugepages by 4 first, or reserve them at boot (the host plan: pt_host_plan_new_hugepages, emit.lua --format host --place)\n"
	  "note: 1 GiB pages are reserved reliably only at boot (hugepagesz=1G hugepages=N): memory fragments once the host runs\n"
	  "/etc/default/grub:\n"
	  "GRUB_CMDLINE_LINUX_DEFAULT=\"hugepagesz=2M hugepages=1:4096\"\n"
	  "$ update-grub\n"
	  "$ echo 4096 > /sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages\n"
	  "-22 pt_host_plan_new_hugepages: no placement\n"
	  "-18 0000:01:00.0 is on NUMA node 1, 0000:02:00.0 on node 0: a VM runs near one of them only\n"
	  "-22 huge pages of 4096 KiB: 2048 (2 MiB) or 1048576 (1 GiB), as Proxmox's hugepages: 2|1024\n"
	  "unref NULL (nil)\n" },
	{ "emit-assignment-everywhere", "emit", emit_assignment_everywhere,
	  "hostpci1: 01:00,pcie=1\ncpu: host\n$ qm set 100 --hostpci1 01:00,pcie=1 --cpu host\n"
	  "libvirt: 30 lines, first <domain type='kvm'>, last </domain>\n"
	  "        <address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>\n"
	  "        <address domain='0x0000' bus='0x01' slot='0x00' function='0x1'/>\n"
	  "        <address bus='1' device='3'/>\n"
	  "notes 0, command (nil), beyond (nil) (nil), ref same 1, kept <domain type='kvm'>, unref (nil) (nil)\n"
	  "-device\npcie-root-port,id=pt-port0,chassis=101,slot=1\n-device\n"
	  "vfio-pci,host=0000:01:00.0,bus=pt-port0,addr=0x0.0,multifunction=on\n-device\n"
	  "vfio-pci,host=0000:01:00.1,bus=pt-port0,addr=0x0.1\n"
	  "$ -device pcie-root-port,id=pt-port0,chassis=101,slot=1 -device vfio-pci,host=0000:01:00.0,bus=pt-port0,addr=0x0.0,multifunction=on -device vfio-pci,host=0000:01:00.1,bus=pt-port0,addr=0x0.1\n"
	  "$ -device qemu-xhci,id=pt-xhci -device usb-host,bus=pt-xhci.0,vendorid=0x10c4,productid=0xea60\n"
	  "-22 a USB device: no pt_usb_spec, or its size is not one (set .size = sizeof(pt_usb_spec))\n"
	  "-22 a USB device: no pt_usb_spec, or its size is not one (set .size = sizeof(pt_usb_spec))\n"
	  "-22 an emitter's options: no pt_emit_opts, or its size is not one (set .size = sizeof(pt_emit_opts))\n"
	  "-16 00:02.0: 0000:00:02.0: refused: boot VGA device (boot_vga = 1); draws the framebuffer console (fb0); force to take it anyway\n"
	  "-16 00:02.0: 0000:00:02.0: refused: boot VGA device (boot_vga = 1); draws the framebuffer console (fb0); force to take it anyway\n"
	  "-16 00:02.0: 0000:00:02.0: refused: boot VGA device (boot_vga = 1); draws the framebuffer console (fb0); force to take it anyway\n"
	  "hostpci0: 03:10.4,pcie=1\nmachine: q35\n"
	  "# VM 4242 has no config on this node (/etc/pve/qemu-server/4242.conf): these lines are for a VM still to be created\n"
	  "$ qm set 4242 --hostpci0 03:10.4,pcie=1 --machine q35\n" },
	{ "emit-mdev", "emit", emit_mdev,
	  "hostpci1: 0000:00:02.0,mdev=i915-GVTg_V5_4,pcie=1\n"
	  "$ qm set 100 --hostpci1 0000:00:02.0,mdev=i915-GVTg_V5_4,pcie=1\n"
	  "-16 mdev type i915-GVTg_V5_8 on 0000:00:02.0: no instance available (available_instances 0)\n"
	  "-2 mdev type \"x,romfile=/etc/shadow\": 0000:00:02.0 offers i915-GVTg_V5_4, i915-GVTg_V5_8\n"
	  "-2 0000:00:14.0 offers no mediated device types (no mdev_supported_types)\n"
	  "<hostdev mode='subsystem' type='mdev' model='vfio-pci'>\n  <source>\n"
	  "    <address uuid='4b20d080-1b54-4048-85b3-a6a62d165c01'/>\n  </source>\n</hostdev>\n-device\n"
	  "vfio-pci,sysfsdev=/sys/bus/mdev/devices/4b20d080-1b54-4048-85b3-a6a62d165c01\n"
	  "$ -device vfio-pci,sysfsdev=/sys/bus/mdev/devices/4b20d080-1b54-4048-85b3-a6a62d165c01\n"
	  "-22 \"not-a-uuid'/>\": not an mdev UUID\n-22 \"4B20D080-1B54-4048-85B3-A6A62D165C01\": not an mdev UUID\n" },
	{ "emit-mapping-of-assignment", "emit", emit_mapping_of_assignment,
	  "rtx\n\tmap id=10de:2484,iommugroup=2,node=pve1,path=0000:01:00,subsystem-id=10de:14ae\n"
	  "\tmap id=10de:2484,iommugroup=7,node=pve2,path=0000:0a:00,subsystem-id=10de:14ae\n"
	  "# in the VM: hostpciN: mapping=rtx,pcie=1\n"
	  "-16 00:02.0: 0000:00:02.0: refused: boot VGA device (boot_vga = 1); draws the framebuffer console (fb0); force to take it anyway\n"
	  "-22 pt_emit_mapping: PT_MAPPING_MDEV goes with an assignment of mdev parents (PT_ASSIGN_MDEV)\n" },
	{ "emit-mapping-of-mdev-parents", "emit", emit_mapping_of_mdev_parents,
	  "vm 100 flags 4: 0000:00:02.0<-00:02.0, 0 refusals, check -22\n"
	  "igpu\n\tmap id=8086:3e92,iommugroup=1,node=pve1,path=0000:00:02,subsystem-id=8086:3e92\n\tmdev 1\n"
	  "# in the VM: hostpciN: mapping=igpu,mdev=TYPE,pcie=1\n# no matching device on: pve2\n"
	  "-22 pt_emit_mapping: PT_MAPPING_MDEV goes with an assignment of mdev parents (PT_ASSIGN_MDEV)\n"
	  "-22 an assignment of mdev parents (PT_ASSIGN_MDEV) gives a VM their mediated devices, never the parents: "
	  "only a mapping takes it (pt_emit_mapping, PT_MAPPING_MDEV)\n"
	  "-22 0000:05:00.0: not an mdev parent (no mdev types, no vGPU types)\n" },
	{ "host-plan-of-assignment", "emit", host_plan_of_assignment,
	  "context 1, 4 changes\n== /etc/modprobe.d/libpt-vfio.conf (new)\n"
	  "# Written by libpt: 0000:05:00.0 go to vfio-pci at boot.\n# Their host drivers: 0000:05:00.0=amdgpu\n"
	  "softdep amdgpu pre: vfio-pci\noptions vfio-pci ids=1002:67df\nblacklist amdgpu\n"
	  "== /etc/udev/rules.d/62-libpt-vendor-reset.rules (new)\n"
	  "# Written by libpt: vendor-reset's reset for GPUs with the AMD reset bug.\n"
	  "ACTION==\"add\", SUBSYSTEM==\"pci\", ATTR{vendor}==\"0x1002\", ATTR{device}==\"0x67df\", ATTR{reset_method}=\"device_specific\"  # Polaris 10\n"
	  "== /etc/initramfs-tools/modules (new)\n# List of modules that you want to include in your initramfs.\n"
	  "vfio\nvfio_virqfd\nvfio_iommu_type1\nvfio_pci\nvendor-reset\n== /etc/default/grub (changed)\n"
	  "GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet intel_iommu=on iommu=pt\"\n"
	  "$ update-initramfs -u -k all\n$ udevadm control --reload\n$ update-grub\n"
	  "old /etc/default/grub: GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n"
	  "beyond: (nil) (nil) (nil) (nil)\nbackups before apply: (nil) (nil), ref same 1, kept 4 changes, unref (nil)\n"
	  "-16 00:02.0: 0000:00:02.0: refused: boot VGA device (boot_vga = 1); draws the framebuffer console (fb0); force to take it anyway\n" },
	{ "unknown-flags-refused", "emit", unknown_flags_refused,
	  "-22 an emitter's options: flags 0x10: not PT_EMIT_*\n-22 pt_host_plan_new: flags 0x2: not PT_PLAN_*\n" },
	{ "host-plan-sriov", "emit", host_plan_sriov,
	  "== /etc/libpt/sriov-0000:03:00.0.conf (new)\n"
	  "# Written by libpt: 4 virtual functions on 0000:03:00.0 at boot (libpt-sriov@0000:03:00.0.service)\n"
	  "VFS=4\nWAIT_MS=30000\nVF_DRIVER_ARGS=--vf-driver vfio-pci\n"
	  "$ systemctl enable libpt-sriov@0000:03:00.0.service\n"
	  "-22 0000:03:00.0: VF driver \"../x\" is not a driver name\n" },
};

int main(int argc, char **argv)
{
	return run_tests(tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
