/*
 * The C contract, inventory: the context, the host's facts, the snapshot and what it says of
 * each device, group and USB device. The scan's load flags, the value structs' sizes and the
 * small pure helpers are test-contract-conventions.c's. Rows of tests/test-contract-common.h;
 * the roots are built by tests/test_ccontract.py.
 */
#include "test-contract-common.h"

/* The header's version as text ("1.0.0"): what the library says at run time. */
#define STR(x) #x
#define XSTR(x) STR(x)
#define VERSION XSTR(PT_VERSION_MAJOR) "." XSTR(PT_VERSION_MINOR) "." XSTR(PT_VERSION_MICRO)

/* ---- context and host ---- */

static int ctx_refs_and_priority(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_ctx *other = NULL;
	fprintf(out, "version %s (header %d.%d.%d) at-least-0.3 %d, 1.0 %d, 1.1 %d, 2.0 %d\n", pt_version(), PT_VERSION_MAJOR,
		PT_VERSION_MINOR, PT_VERSION_MICRO, PT_VERSION_AT_LEAST(0, 3), PT_VERSION_AT_LEAST(1, 0),
		PT_VERSION_AT_LEAST(1, 1), PT_VERSION_AT_LEAST(2, 0));
	fprintf(out, "ref same %d, enum's context same %d\n", pt_ctx_ref(ctx) == ctx, pt_enum_get_context(e) == ctx);
	pt_ctx_unref(ctx);
	fprintf(out, "priority %d", pt_ctx_get_log_priority(ctx));
	pt_ctx_set_log_priority(ctx, LOG_DEBUG);
	fprintf(out, " then %d\n", pt_ctx_get_log_priority(ctx));
	pt_ctx_set_log_priority(ctx, LOG_WARNING);
	fprintf(out, "last error \"%s\"\n", pt_ctx_last_error(ctx));
	/* NULL options: the running system's root */
	if (pt_ctx_new(&other, NULL) < 0)
		return 1;
	fprintf(out, "default root %s\n", pt_ctx_get_root(other));
	pt_ctx_unref(other);
	fprintf(out, "%d %d\n", pt_ctx_new(NULL, NULL), pt_ctx_ref(NULL) == NULL);
	return 0;
}

static int host_facts(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	fprintf(out, "vendor %s, loader %s\n", pt_host_cpu_vendor(ctx), pt_host_boot_loader(ctx));
	fprintf(out, "intel: %s; amd: %s; unknown: %s\n", pt_iommu_params("intel"), pt_iommu_params("amd"),
		pt_iommu_params(NULL));
	char *advice = pt_host_iommu_advice(ctx);
	if (!advice)
		return 1;
	fprintf(out, "%s\n", advice);
	free(advice);
	fprintf(out, "NULL context: %p %p\n", (void *)pt_host_cpu_vendor(NULL), (void *)pt_host_boot_loader(NULL));
	return 0;
}

/* ---- the snapshot ---- */

static int enum_walk(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_group *g = NULL;
	fprintf(out, "%zu devices, %zu groups, iommu %d, partial %d\n", pt_enum_get_device_count(e),
		pt_enum_get_group_count(e), pt_enum_has_iommu(e), pt_enum_is_partial(e));
	for (size_t i = 0; i < pt_enum_get_device_count(e); i++) {
		pt_device *d = pt_enum_get_device(e, i);
		fprintf(out, "%s %04x:%02x:%02x.%x group %d\n", pt_device_get_address(d), pt_device_get_domain(d),
			pt_device_get_bus(d), pt_device_get_slot(d), pt_device_get_function(d),
			pt_device_get_group(d) ? (int)pt_group_get_number(pt_device_get_group(d)) : -1);
	}
	fprintf(out, "beyond: %p %p\n", (void *)pt_enum_get_device(e, 99), (void *)pt_enum_get_group(e, 99));
	for (size_t i = 0; i < pt_enum_get_group_count(e); i++)
		fprintf(out, "group %u: %zu members\n", pt_group_get_number(pt_enum_get_group(e, i)),
			pt_group_get_device_count(pt_enum_get_group(e, i)));
	for (size_t i = 0; i < pt_enum_get_warning_count(e); i++)
		fprintf(out, "warning: %s\n", pt_enum_get_warning(e, i));
	int r = pt_enum_find_group(e, 4, &g);
	fprintf(out, "find group 4: %d %u\n", r, pt_group_get_number(g));
	said(ctx, pt_enum_find_group(e, 77, &g), out);
	fprintf(out, "ref same %d, device's snapshot %d\n", pt_enum_ref(e) == e,
		pt_device_get_enum(device(e, "01:00.0")) == e);
	pt_enum_unref(e);
	return 0;
}

static int enum_scan_devices(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	const char *names[] = { "0000:03:10.4", "0000:01:00" };
	pt_enum *part = NULL;
	int r = pt_enum_scan_devices(ctx, names, 2, 0, &part);

	if (r < 0)
		return said(ctx, r, out);
	fprintf(out, "partial %d:", pt_enum_is_partial(part));
	for (size_t i = 0; i < pt_enum_get_device_count(part); i++)
		fprintf(out, " %s", pt_device_get_address(pt_enum_get_device(part, i)));
	pt_device *vf = device(part, "03:10.4");
	fprintf(out, "\nthe VF's PF %s, set of 01:00.0 %zu, verdict %s\n", pt_device_get_address(pt_device_get_physfn(vf)),
		pt_device_get_set_size(device(part, "01:00.0")),
		pt_verdict_to_string(pt_device_get_verdict(device(part, "01:00.0"))));
	pt_enum_unref(part);
	part = NULL;
	said(ctx, pt_enum_scan_devices(ctx, (const char *[]){ "0000:09:00.0" }, 1, 0, &part), out);
	said(ctx, pt_enum_scan_devices(ctx, (const char *[]){ "junk" }, 1, 0, &part), out);
	/* read up front: the same answers */
	if ((r = pt_enum_scan_devices(ctx, names, 2, PT_LOAD_ALL, &part)) < 0)
		return said(ctx, r, out);
	fprintf(out, "loaded: partial %d, %zu devices, set of 01:00.0 %zu\n", pt_enum_is_partial(part),
		pt_enum_get_device_count(part), pt_device_get_set_size(device(part, "01:00.0")));
	pt_enum_unref(part);
	part = NULL;
	said(ctx, pt_enum_scan_devices(ctx, names, 2, 0x80, &part), out);
	return part != NULL;
}

static int enum_from_listing(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	static const char listing[] =
		"IOMMU Group 1:\n"
		"\t00:01.0 PCI bridge [0604]: Intel Corporation 6th-10th Gen Core Processor PCIe Controller (x16) [8086:1901] (rev 07)\n"
		"\t01:00.0 VGA compatible controller [0300]: NVIDIA Corporation GP104 [GeForce GTX 1070] [10de:1b81] (rev a1)\n"
		"\t01:00.1 Audio device [0403]: NVIDIA Corporation GP104 High Definition Audio Controller [10de:10f0] (rev a1)\n"
		"IOMMU Group 2:\n"
		"\t02:00.0 Ethernet controller [0200]: Intel Corporation I211 Gigabit Network Connection [8086:1539] (rev 03)\n";
	pt_enum *l = NULL;
	int r = pt_enum_new_from_listing(ctx, listing, sizeof(listing) - 1, "board.txt", &l);

	if (r < 0)
		return said(ctx, r, out);
	for (size_t i = 0; i < pt_enum_get_device_count(l); i++) {
		pt_device *d = pt_enum_get_device(l, i);
		fprintf(out, "%s %s %s parent %p boot_vga %d numa %d reset %s pcie %d\n", pt_device_get_address(d),
			pt_device_get_kind(d), pt_verdict_to_string(pt_device_get_verdict(d)),
			(void *)pt_device_get_parent(d), pt_device_get_boot_vga(d), pt_device_get_numa_node(d),
			pt_device_get_reset_method(d) ? pt_device_get_reset_method(d) : "(null)", pt_device_get_pcie_type(d));
	}
	pt_enum_unref(l);
	l = NULL;
	said(ctx, pt_enum_new_from_listing(ctx, "IOMMU Group 1:\nhello\n", 21, "board.txt", &l), out);
	return l != NULL;
}

/* ---- devices ---- */

static int device_identity(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_device *gpu = device(e, "01:00.0"), *audio = device(e, "01:00.1"), *port = device(e, "00:1c.0");
	fprintf(out, "%04x:%04x sub %04x:%04x rev %02x class %06x header %d bridge %d multifunction %d\n",
		pt_device_get_vendor_id(gpu), pt_device_get_device_id(gpu), pt_device_get_subsystem_vendor_id(gpu),
		pt_device_get_subsystem_device_id(gpu), pt_device_get_revision(gpu), pt_device_get_class(gpu),
		pt_device_get_header_type(gpu), pt_device_is_bridge(gpu), pt_device_is_multifunction(gpu));
	fprintf(out, "names: %s / %s / %s / %s\n", pt_device_get_vendor_name(gpu), pt_device_get_device_name(gpu),
		pt_device_get_subsystem_name(gpu), pt_device_get_class_name(gpu));
	/* subsystem ids that are the device's own: no subsystem name (libpci would repeat the device's) */
	fprintf(out, "audio %04x:%04x sub %04x:%04x: subsystem name %s\n", pt_device_get_vendor_id(audio),
		pt_device_get_device_id(audio), pt_device_get_subsystem_vendor_id(audio),
		pt_device_get_subsystem_device_id(audio), pt_device_get_subsystem_name(audio) ? "given" : "none");
	fprintf(out, "kinds: %s %s %s %s\n", pt_device_get_kind(gpu), pt_device_get_kind(audio), pt_device_get_kind(port),
		pt_device_get_kind(device(e, "03:00.0")));
	fprintf(out, "port: header %d bridge %d multifunction %d pcie %d (%s)\n", pt_device_get_header_type(port),
		pt_device_is_bridge(port), pt_device_is_multifunction(port), pt_device_get_pcie_type(port),
		pt_pcie_type_to_string(pt_device_get_pcie_type(port)));
	fprintf(out, "pcie types: %s, %s, %s, %s\n", pt_pcie_type_to_string(0), pt_pcie_type_to_string(-1),
		pt_pcie_type_to_string(-2), pt_pcie_type_to_string(42));
	fprintf(out, "driver %s override %s; audio's override %s\n", pt_device_get_driver(gpu),
		pt_device_get_driver_override(gpu) ? pt_device_get_driver_override(gpu) : "(null)",
		pt_device_get_driver_override(audio));
	fprintf(out, "numa %d, audio's %d; boot_vga %d, audio's %d\n", pt_device_get_numa_node(gpu),
		pt_device_get_numa_node(audio), pt_device_get_boot_vga(gpu), pt_device_get_boot_vga(audio));
	fprintf(out, "rom BAR %llu, BAR0 %llu, BAR7 %llu; resizable BAR0 %llx BAR1 %llx BAR6 %llx\n",
		(unsigned long long)pt_device_get_bar_size(gpu, 6), (unsigned long long)pt_device_get_bar_size(gpu, 0),
		(unsigned long long)pt_device_get_bar_size(gpu, 7), (unsigned long long)pt_device_get_bar_resizable(gpu, 0),
		(unsigned long long)pt_device_get_bar_resizable(gpu, 1), (unsigned long long)pt_device_get_bar_resizable(gpu, 6));
	return 0;
}

static int device_sriov(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_device *pf = device(e, "03:00.0");
	fprintf(out, "totalvfs %u, virtfns %zu:", pt_device_get_sriov_totalvfs(pf), pt_device_get_virtfn_count(pf));
	for (size_t i = 0; i < pt_device_get_virtfn_count(pf); i++)
		fprintf(out, " %s (physfn %s)", pt_device_get_address(pt_device_get_virtfn(pf, i)),
			pt_device_get_address(pt_device_get_physfn(pt_device_get_virtfn(pf, i))));
	fprintf(out, "\nbeyond %p; the PF's physfn %p; the GPU's totalvfs %u\n", (void *)pt_device_get_virtfn(pf, 9),
		(void *)pt_device_get_physfn(pf), pt_device_get_sriov_totalvfs(device(e, "01:00.0")));
	for (size_t i = 0; i < pt_device_get_flag_count(pf); i++)
		fprintf(out, "PF flag %s\n", pt_device_get_flag(pf, i));
	pt_device *vf = device(e, "03:10.0");
	for (size_t i = 0; i < pt_device_get_flag_count(vf); i++)
		fprintf(out, "VF flag %s\n", pt_device_get_flag(vf, i));
	fprintf(out, "flag beyond %p\n", (void *)pt_device_get_flag(vf, 99));
	return 0;
}

static int device_flags_and_guard(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	const char *list[] = { "00:02.0", "01:00.1", "05:00.0", "00:14.0" };
	for (size_t k = 0; k < 4; k++) {
		pt_device *d = device(e, list[k]);
		fprintf(out, "%s critical %#x (%s) reset bug %s:", pt_device_get_address(d), pt_device_get_critical(d),
			pt_device_get_critical_reason(d) ? pt_device_get_critical_reason(d) : "none",
			pt_device_get_reset_bug(d) ? pt_device_get_reset_bug(d) : "none");
		for (size_t i = 0; i < pt_device_get_flag_count(d); i++)
			fprintf(out, " [%s]", pt_device_get_flag(d, i));
		fputc('\n', out);
	}
	uint16_t cap = 0, ctrl = 0;
	fprintf(out, "acs of 00:1c.0: %d", pt_device_get_acs(device(e, "00:1c.0"), &cap, &ctrl));
	fprintf(out, " cap %#x ctrl %#x; of 01:00.0: %d\n", cap, ctrl, pt_device_get_acs(device(e, "01:00.0"), &cap, &ctrl));
	return 0;
}

static int device_vgpu(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_device *igd = device(e, "00:02.0"), *vf = device(e, "06:00.4"), *nic = device(e, "03:00.0");
	pt_mdev_type t = PT_INIT(pt_mdev_type);
	pt_mdev m = PT_INIT(pt_mdev);
	pt_vgpu_type v = PT_INIT(pt_vgpu_type);

	for (size_t i = 0; i < pt_device_get_mdev_type_count(igd); i++) {
		if (pt_device_get_mdev_type(igd, i, &t) < 0)
			return 1;
		fprintf(out, "type %s name %s api %s available %ld description %s\n", t.type, t.name, t.device_api,
			t.available_instances, t.description);
	}
	for (size_t i = 0; i < pt_device_get_mdev_count(igd); i++) {
		if (pt_device_get_mdev(igd, i, &m) < 0)
			return 1;
		fprintf(out, "mdev %s %s\n", m.uuid, m.type);
	}
	fprintf(out, "has vgpu: igd %d, vf %d, pf %d\n", pt_device_has_vgpu(igd), pt_device_has_vgpu(vf),
		pt_device_has_vgpu(device(e, "06:00.0")));
	for (size_t i = 0; i < pt_device_get_vgpu_type_count(vf); i++) {
		if (pt_device_get_vgpu_type(vf, i, &v) < 0)
			return 1;
		fprintf(out, "vgpu type %u %s\n", v.id, v.name);
	}
	fprintf(out, "current %ld\n", pt_device_get_vgpu_current(vf));
	fprintf(out, "not a vGPU VF: %zu types, current %ld\n", pt_device_get_vgpu_type_count(nic),
		pt_device_get_vgpu_current(nic));
	fprintf(out, "not a parent: %zu types, %zu mdevs\n", pt_device_get_mdev_type_count(nic), pt_device_get_mdev_count(nic));
	/* past the end, and an output struct without its size: nothing written */
	t.type = "kept";
	fprintf(out, "beyond: %d %d %d, %s\n", pt_device_get_mdev_type(igd, 2, &t), pt_device_get_mdev(igd, 1, &m),
		pt_device_get_vgpu_type(vf, 2, &v), t.type);
	pt_mdev_type unsized = { .size = 0, .type = "kept" };
	pt_mdev small = { .size = sizeof(pt_mdev) - 1 };
	pt_vgpu_type none = { .size = 0, .id = 7 };
	fprintf(out, "no size: %d %d %d, %s %u\n", pt_device_get_mdev_type(igd, 0, &unsized), pt_device_get_mdev(igd, 0, &small),
		pt_device_get_vgpu_type(vf, 0, &none), unsized.type, none.id);
	return 0;
}

/* vfio-pci variant drivers (a module's vfio_pci: alias, indexed by depmod, found by libkmod) and
 * IOMMUFD on a tree as Linux 6.6+ lays it out; QEMU asked (ROOT-qemu9 lists the iommufd object). */
static int drivers_and_iommufd(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	static const char *const addresses[] = { "01:00.0", "02:00.0", "03:00.0" };
	char qemu9[8300];
	pt_assignment *a = NULL;
	pt_emission *em = NULL;

	for (size_t i = 0; i < 3; i++) {
		pt_device *d = device(e, addresses[i]);
		fprintf(out, "%s on %s: variant %s, cdev %s, power %s, d3cold %d\n", pt_device_get_address(d),
			pt_device_get_driver(d), pt_device_get_variant_driver(d) ? pt_device_get_variant_driver(d) : "-",
			pt_device_get_vfio_cdev(d) ? pt_device_get_vfio_cdev(d) : "-",
			pt_device_get_power_state(d) ? pt_device_get_power_state(d) : "-", pt_device_get_d3cold_allowed(d));
	}
	snprintf(qemu9, sizeof(qemu9), "%s-qemu9", test_root);
	fprintf(out, "host iommufd %d; QEMU 9 %d\n", pt_host_has_iommufd(ctx), pt_qemu_has_iommufd(ctx, qemu9));
	said(ctx, pt_qemu_has_iommufd(ctx, "/bin/false"), out);
	said(ctx, pt_qemu_has_iommufd(ctx, NULL), out);
	said(ctx, pt_qemu_has_iommufd(ctx, "qemu-system-x86_64"), out);
	pt_emit_opts o = { .size = sizeof(o), .flags = PT_EMIT_IOMMUFD };
	if (pt_assignment_new(e, 0, 0, &a) < 0 || pt_assignment_add(a, "03:00.0") < 0 || pt_emit_qemu(ctx, a, NULL, &o, &em) < 0)
		return said(ctx, -1, out);
	fprintf(out, "$ %s\n", pt_emission_get_command(em));
	pt_emission_unref(em);
	pt_assignment_unref(a);
	return 0;
}

/* The report's whole document: of one device of the host with its link; of a listing, every
 * device, with what a listing cannot show; none chosen; a bad argument. */
static int report_document(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	static const char listing[] = "IOMMU Group 7:\n"
				      "\t02:00.0 Ethernet controller [0200]: Intel Corporation I211 Gigabit Network Connection [8086:1539] (rev 03)\n";
	pt_device *audio = device(e, "01:00.1");
	pt_enum *l = NULL;
	char *j = pt_enum_to_json(e, &audio, 1, PT_JSON_LINKS | PT_JSON_EXPLAIN);

	fprintf(out, "%s\n", j ? j : "(null)");
	free(j);
	if (pt_enum_new_from_listing(ctx, listing, sizeof(listing) - 1, "board.txt", &l) < 0)
		return 1;
	j = pt_enum_to_json(l, NULL, 0, 0);
	fprintf(out, "%s\n", j ? j : "(null)");
	free(j);
	j = pt_enum_to_json(l, &audio, 0, 0);
	fprintf(out, "%s\n", j ? j : "(null)");
	free(j);
	fprintf(out, "bad: %p %p\n", (void *)pt_enum_to_json(l, NULL, 1, 0), (void *)pt_enum_to_json(l, NULL, 0, 0x80));
	pt_enum_unref(l);
	return 0;
}

static int device_and_group_json(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	char *j = pt_device_to_json(device(e, "01:00.1"));
	pt_group *g = pt_device_get_group(device(e, "01:00.0"));
	if (!j)
		return 1;
	fprintf(out, "%s\n", j);
	free(j);
	if (!(j = pt_group_to_json(g)))
		return 1;
	fprintf(out, "%s\n", j);
	free(j);
	fprintf(out, "group ref same %d;", pt_group_ref(g) == g);
	pt_group_unref(g);
	for (size_t i = 0; i < pt_group_get_device_count(g); i++)
		fprintf(out, " member %s", pt_device_get_address(pt_group_get_device(g, i)));
	for (size_t i = 0; i < pt_group_get_set_size(g); i++)
		fprintf(out, " set %s", pt_device_get_address(pt_group_get_set_member(g, i)));
	fprintf(out, "; beyond %p %p, unref NULL %p\n", (void *)pt_group_get_device(g, 9), (void *)pt_group_get_set_member(g, 9),
		(void *)pt_group_unref(NULL));
	return 0;
}

/* The devices a hostpci id names, as qemu-server reads it: a function, or every function of a
 * slot (the id in the one grammar: pt_pci_id_normalize). */
static size_t hostpci_devices(pt_enum *e, const char *id, pt_device **found, size_t max)
{
	char full[32];
	size_t n = 0;
	int kind = pt_pci_id_normalize(id, full, sizeof(full));

	for (size_t i = 0; kind >= 0 && i < pt_enum_get_device_count(e); i++) {
		pt_device *d = pt_enum_get_device(e, i);
		const char *a = pt_device_get_address(d);
		if (kind == 0 ? strcmp(a, full) == 0 : strncmp(a, full, strlen(full)) == 0 && a[strlen(full)] == '.') {
			if (n < max)
				found[n] = d;
			n++;
		}
	}
	return n;
}

static int find_hostpci(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_device *found[4];
	pt_assignment *a = NULL;
	const char *ids[] = { "01:00", "0000:01:00.1", "01:00.0", "09:00", "x" };
	for (size_t k = 0; k < 5; k++) {
		size_t n = hostpci_devices(e, ids[k], found, 4);
		fprintf(out, "%s: %zu", ids[k], n);
		for (size_t i = 0; i < n && i < 4; i++)
			fprintf(out, " %s", pt_device_get_address(found[i]));
		fputc('\n', out);
	}
	/* an assignment takes a slot id whole, each device with its passthrough set */
	if (pt_assignment_new(e, 0, 0, &a) < 0)
		return 1;
	fprintf(out, "assignment of 01:00: %d,", pt_assignment_add(a, "01:00"));
	for (size_t i = 0; i < pt_assignment_get_device_count(a); i++)
		fprintf(out, " %s<-%s", pt_device_get_address(pt_assignment_get_device(a, i)), pt_assignment_get_source(a, i));
	fputc('\n', out);
	said(ctx, pt_assignment_add(a, "09:00"), out);
	said(ctx, pt_assignment_add(a, "x"), out);
	pt_assignment_unref(a);
	return 0;
}

/* A GPU's companions: the other functions of its slot that go with it. */
static int device_companions(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	const char *list[] = { "01:00.0", "01:00.1", "03:00.0", "00:02.0" };
	for (size_t k = 0; k < 4; k++) {
		pt_device *d = device(e, list[k]);
		size_t n = pt_device_get_companion_count(d);
		fprintf(out, "%s: %zu", list[k], n);
		for (size_t i = 0; i < n; i++)
			fprintf(out, " %s", pt_device_get_address(pt_device_get_companion(d, i)));
		fprintf(out, "; beyond %p\n", (void *)pt_device_get_companion(d, n));
	}
	fprintf(out, "NULL: %zu %p\n", pt_device_get_companion_count(NULL), (void *)pt_device_get_companion(NULL, 0));
	return 0;
}

/* ---- USB devices ---- */

static int usb_devices(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	for (size_t i = 0; i < pt_enum_get_usb_count(e); i++) {
		pt_usb *u = pt_enum_get_usb(e, i);
		fprintf(out, "%s peer %s bus %u dev %u %u Mbit/s class %02x %04x:%04x \"%s\" \"%s\" serial %s names %s / %s node %s "
			     "interfaces \"%s\" under %s\n",
			pt_usb_get_port(u), pt_usb_get_peer_port(u) ? pt_usb_get_peer_port(u) : "-", pt_usb_get_bus(u),
			pt_usb_get_devnum(u), pt_usb_get_speed(u), pt_usb_get_class(u), pt_usb_get_vendor_id(u),
			pt_usb_get_product_id(u), pt_usb_get_manufacturer(u) ? pt_usb_get_manufacturer(u) : "-",
			pt_usb_get_product(u) ? pt_usb_get_product(u) : "-", pt_usb_get_serial(u) ? pt_usb_get_serial(u) : "-",
			pt_usb_get_vendor_name(u) ? pt_usb_get_vendor_name(u) : "-",
			pt_usb_get_product_name(u) ? pt_usb_get_product_name(u) : "-", pt_usb_get_node(u) ? pt_usb_get_node(u) : "-",
			pt_usb_get_interfaces(u), pt_device_get_address(pt_usb_get_controller(u)));
	}
	fprintf(out, "beyond %p\n", (void *)pt_enum_get_usb(e, 9));
	const char *ports[] = { "1-2.3", "10-1", "1-0", "1-2..3", "1", "1-2.", "x-1", "" };
	for (size_t i = 0; i < 8; i++)
		fprintf(out, "port \"%s\" %d\n", ports[i], pt_usb_port_is_valid(ports[i]));
	/* a USB device's ref holds its snapshot: read up front (PT_LOAD_USB), kept past the snapshot's
	 * last other reference */
	pt_enum *own = NULL;
	int r = pt_enum_scan(ctx, PT_LOAD_USB, &own);
	if (r < 0)
		return said(ctx, r, out);
	pt_usb *kept = pt_enum_get_usb(own, 1);
	fprintf(out, "ref same %d, ", pt_usb_ref(kept) == kept);
	pt_enum_unref(own);
	fprintf(out, "kept %s %04x:%04x under %s, ", pt_usb_get_port(kept), pt_usb_get_vendor_id(kept),
		pt_usb_get_product_id(kept), pt_device_get_address(pt_usb_get_controller(kept)));
	fprintf(out, "unref %p %p\n", (void *)pt_usb_unref(kept), (void *)pt_usb_unref(NULL));
	return 0;
}

static const struct test tests[] = {
	{ "ctx-refs-and-priority", "inv", ctx_refs_and_priority,
	  "version " VERSION " (header " VERSION ") at-least-0.3 1, 1.0 1, 1.1 0, 2.0 0\nref same 1, enum's context same 1\npriority 4 then 7\n"
	  "last error \"\"\ndefault root /\n-22 1\n" },
	{ "host-facts", "inv", host_facts,
	  "vendor intel, loader grub\n"
	  "intel: intel_iommu=on iommu=pt; amd: iommu=pt; unknown: intel_iommu=on iommu=pt\n"
	  "The IOMMU is off: ROOT/sys/kernel/iommu_groups has no groups, so no device can be passed through.\n"
	  "To turn it on:\n  1. Enable VT-d in the firmware setup.\n"
	  "  2. add \"intel_iommu=on iommu=pt\" to GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub, then run: update-grub && reboot\n"
	  "  3. Check with: ptlua report --require-iommu\nNULL context: (nil) (nil)\n" },
	{ "host-facts-amd-systemd-boot", "amd", host_facts,
	  "vendor amd, loader systemd-boot\n"
	  "intel: intel_iommu=on iommu=pt; amd: iommu=pt; unknown: intel_iommu=on iommu=pt\n"
	  "The IOMMU is off: ROOT/sys/kernel/iommu_groups has no groups, so no device can be passed through.\n"
	  "To turn it on:\n  1. Enable AMD-Vi / IOMMU in the firmware setup.\n"
	  "  2. add \"iommu=pt\" to the line in /etc/kernel/cmdline, then run: proxmox-boot-tool refresh && reboot (the AMD IOMMU is on once the firmware enables it; \"amd_iommu=on\" is not a kernel option)\n"
	  "  3. Check with: ptlua report --require-iommu\nNULL context: (nil) (nil)\n" },
	{ "enum-walk", "inv", enum_walk,
	  "15 devices, 13 groups, iommu 1, partial 0\n0000:00:00.0 0000:00:00.0 group 0\n"
	  "0000:00:01.0 0000:00:01.0 group 2\n0000:00:02.0 0000:00:02.0 group 1\n"
	  "0000:00:14.0 0000:00:14.0 group 12\n0000:00:1b.0 0000:00:1b.0 group 9\n"
	  "0000:00:1c.0 0000:00:1c.0 group 3\n0000:00:1d.0 0000:00:1d.0 group 7\n"
	  "0000:01:00.0 0000:01:00.0 group 2\n0000:01:00.1 0000:01:00.1 group 2\n"
	  "0000:03:00.0 0000:03:00.0 group 4\n0000:03:10.0 0000:03:10.0 group 5\n"
	  "0000:03:10.4 0000:03:10.4 group 6\n0000:05:00.0 0000:05:00.0 group 8\n"
	  "0000:06:00.0 0000:06:00.0 group 10\n0000:06:00.4 0000:06:00.4 group 11\nbeyond: (nil) (nil)\n"
	  "group 0: 1 members\ngroup 1: 1 members\ngroup 2: 3 members\ngroup 3: 1 members\ngroup 4: 1 members\n"
	  "group 5: 1 members\ngroup 6: 1 members\ngroup 7: 1 members\ngroup 8: 1 members\ngroup 9: 1 members\n"
	  "group 10: 1 members\ngroup 11: 1 members\ngroup 12: 1 members\n"
	  "warning: ROOT/sys/bus/pci/devices/not-a-device: not a PCI address, skipped\nfind group 4: 0 4\n"
	  "-2 IOMMU group 77: no such group\nref same 1, device's snapshot 1\n" },
	{ "enum-scan-devices", "inv", enum_scan_devices,
	  "partial 1: 0000:00:01.0 0000:00:1c.0 0000:01:00.0 0000:01:00.1 0000:03:00.0 0000:03:10.0 0000:03:10.4\n"
	  "the VF's PF 0000:03:00.0, set of 01:00.0 2, verdict with-companions\n"
	  "-2 0000:09:00.0: no such device in ROOT/sys/bus/pci/devices\n-22 \"junk\" is not a PCI address (DDDD:BB:SS.F) or slot (DDDD:BB:SS)\n"
	  "loaded: partial 1, 7 devices, set of 01:00.0 2\n-22 pt_enum_scan_devices: flags 0x80: not PT_LOAD_*\n" },
	{ "enum-from-listing", "inv", enum_from_listing,
	  "0000:00:01.0 bridge bridge parent (nil) boot_vga -1 numa -1 reset (null) pcie -2\n"
	  "0000:01:00.0 gpu with-companions parent (nil) boot_vga -1 numa -1 reset (null) pcie -2\n"
	  "0000:01:00.1 audio with-companions parent (nil) boot_vga -1 numa -1 reset (null) pcie -2\n"
	  "0000:02:00.0 network isolated parent (nil) boot_vga -1 numa -1 reset (null) pcie -2\n"
	  "-22 board.txt:2: neither an `lspci -nns` nor an ls-iommu device line: hello\n" },
	{ "device-identity", "inv", device_identity,
	  "10de:2484 sub 10de:14ae rev a1 class 030000 header 0 bridge 0 multifunction 1\n"
	  "names: NVIDIA Corporation / GA104 [GeForce RTX 3070] / GA104 [GeForce RTX 3070 16GB] / VGA compatible controller\n"
	  "audio 10de:10f0 sub 10de:10f0: subsystem name none\n"
	  "kinds: gpu audio bridge network\nport: header 1 bridge 1 multifunction 0 pcie 4 (root port)\n"
	  "pcie types: endpoint, conventional PCI, unknown (config space unreadable), PCI Express (unknown type)\n"
	  "driver nouveau override (null); audio's override vfio-pci\n"
	  "numa 0, audio's -1; boot_vga 0, audio's -1\n"
	  "rom BAR 2048, BAR0 0, BAR7 0; resizable BAR0 3f00 BAR1 0 BAR6 0\n" },
	{ "device-sriov", "inv", device_sriov,
	  "totalvfs 4, virtfns 2: 0000:03:10.0 (physfn 0000:03:00.0) 0000:03:10.4 (physfn 0000:03:00.0)\n"
	  "beyond (nil); the PF's physfn (nil); the GPU's totalvfs 0\nPF flag 2-vfs\nVF flag vf-of=0000:03:00.0\n"
	  "flag beyond (nil)\n" },
	{ "device-flags-and-guard", "inv", device_flags_and_guard,
	  "0000:00:02.0 critical 0x3 (boot VGA device (boot_vga = 1); draws the framebuffer console (fb0)) reset bug none: [boot-vga] [host-critical: boot VGA device (boot_vga = 1); draws the framebuffer console (fb0)]\n"
	  "0000:01:00.1 critical 0 (none) reset bug none: [override=vfio-pci]\n"
	  "0000:05:00.0 critical 0 (none) reset bug Polaris 10:\n0000:00:14.0 critical 0 (none) reset bug none:\n"
	  "acs of 00:1c.0: 0 cap 0x1f ctrl 0x1d; of 01:00.0: -2\n" },
	{ "device-vgpu", "inv", device_vgpu,
	  "type i915-GVTg_V5_4 name GVTg_V5_4 api vfio-pci available 2 description low_gm_size: 128MB, high_gm_size: 512MB\n"
	  "type i915-GVTg_V5_8 name GVTg_V5_8 api vfio-pci available 0 description low_gm_size: 128MB, high_gm_size: 512MB\n"
	  "mdev 4b20d080-1b54-4048-85b3-a6a62d165c01 i915-GVTg_V5_4\nhas vgpu: igd 0, vf 1, pf 0\n"
	  "vgpu type 557 NVIDIA L4-1Q\nvgpu type 558 NVIDIA L4-2Q\ncurrent 557\n"
	  "not a vGPU VF: 0 types, current -1\nnot a parent: 0 types, 0 mdevs\nbeyond: -2 -2 -2, kept\n"
	  "no size: -22 -22 -22, kept 7\n" },
	{ "device-and-group-json", "inv", device_and_group_json,
	  "{\"address\": \"0000:01:00.1\", \"vendor_id\": \"10de\", \"device_id\": \"10f0\", \"subsystem_vendor_id\": \"10de\", \"subsystem_device_id\": \"10f0\", \"class\": \"040300\", \"revision\": \"a1\", \"vendor_name\": \"NVIDIA Corporation\", \"device_name\": \"GP104 High Definition Audio Controller\", \"class_name\": \"Audio device\", \"kind\": \"audio\", \"driver\": \"snd_hda_intel\", \"driver_override\": \"vfio-pci\", \"iommu_group\": 2, \"verdict\": \"with-companions\", \"bridge\": false, \"header_type\": 0, \"multifunction\": true, \"parent\": \"0000:00:01.0\", \"boot_vga\": null, \"reset_method\": \"flr bus\", \"numa_node\": null, \"physfn\": null, \"virtfns\": [], \"sriov_totalvfs\": 0, \"bar_sizes\": [0, 0, 0, 0, 0, 0], \"rom_size\": 0, \"critical\": null, \"flags\": [\"override=vfio-pci\"]}\n"
	  "{\"number\": 2, \"type\": \"DMA\", \"devices\": [\"0000:00:01.0\", \"0000:01:00.0\", \"0000:01:00.1\"], \"passthrough_set\": [\"0000:01:00.0\", \"0000:01:00.1\"]}\n"
	  "group ref same 1; member 0000:00:01.0 member 0000:01:00.0 member 0000:01:00.1 set 0000:01:00.0 set 0000:01:00.1; beyond (nil) (nil), unref NULL (nil)\n" },
	{ "drivers-and-iommufd", "drivers", drivers_and_iommufd,
	  "0000:01:00.0 on mlx5_vfio_pci: variant mlx5_vfio_pci, cdev -, power -, d3cold -1\n"
	  "0000:02:00.0 on mlx5_core: variant mlx5_vfio_pci, cdev -, power -, d3cold -1\n"
	  "0000:03:00.0 on vfio-pci: variant -, cdev /dev/vfio/devices/vfio0, power D3cold, d3cold 1\n"
	  "host iommufd 1; QEMU 9 1\n"
	  "-5 /bin/false -object help: it failed\n"
	  "-2 no QEMU to ask under ROOT (name one)\n"
	  "-22 qemu-system-x86_64: QEMU by its absolute path (no PATH search)\n"
	  "$ -object iommufd,id=pt-iommufd0 -device pcie-root-port,id=pt-port0,chassis=101,slot=1 -device vfio-pci,host=0000:03:00.0,bus=pt-port0,addr=0x0.0,iommufd=pt-iommufd0\n" },
	{ "report-document", "inv", report_document,
	  "{\n"
	  "  \"root\": \"ROOT\",\n"
	  "  \"iommu\": true,\n"
	  "  \"devices\": [\n"
	  "    {\"address\": \"0000:01:00.1\", \"vendor_id\": \"10de\", \"device_id\": \"10f0\", \"subsystem_vendor_id\": \"10de\", \"subsystem_device_id\": \"10f0\", \"class\": \"040300\", \"revision\": \"a1\", \"vendor_name\": \"NVIDIA Corporation\", \"device_name\": \"GP104 High Definition Audio Controller\", \"class_name\": \"Audio device\", \"kind\": \"audio\", \"driver\": \"snd_hda_intel\", \"driver_override\": \"vfio-pci\", \"iommu_group\": 2, \"verdict\": \"with-companions\", \"bridge\": false, \"header_type\": 0, \"multifunction\": true, \"parent\": \"0000:00:01.0\", \"boot_vga\": null, \"reset_method\": \"flr bus\", \"numa_node\": null, \"physfn\": null, \"virtfns\": [], \"sriov_totalvfs\": 0, \"bar_sizes\": [0, 0, 0, 0, 0, 0], \"rom_size\": 0, \"critical\": null, \"flags\": [\"override=vfio-pci\"], \"explanation\": {\"isolation\":\"multifunction-without-acs\",\"culprit\":\"0000:01:00.1\",\"reason\":\"0000:01:00.1 is a function of a multifunction device without ACS: its functions share a group\",\"steps\":[{\"device\":\"0000:01:00.1\",\"text\":\"0000:01:00.1 endpoint (multifunction): no ACS capability\"},{\"device\":\"0000:00:01.0\",\"text\":\"0000:00:01.0 root port: no ACS capability\"}],\"fixes\":[\"Pass every function of slot 0000:01:00 together (a GPU with its audio function is the usual case).\",\"Or boot with pcie_acs_override=downstream,multifunction (a patch that Proxmox VE's kernel carries and Debian's does not). It only makes the kernel pretend these ports isolate: the devices of the group can still reach each other's memory by DMA, so a VM given one of them can read and corrupt what the others hold, the host's devices included. Use it only for VMs you trust as much as the host.\"],\"slots\":[]}}\n"
	  "  ],\n"
	  "  \"groups\": [\n"
	  "    {\"number\": 2, \"type\": \"DMA\", \"devices\": [\"0000:00:01.0\", \"0000:01:00.0\", \"0000:01:00.1\"], \"passthrough_set\": [\"0000:01:00.0\", \"0000:01:00.1\"]}\n"
	  "  ],\n"
	  "  \"warnings\": [\n"
	  "    \"ROOT/sys/bus/pci/devices/not-a-device: not a PCI address, skipped\"\n"
	  "  ],\n"
	  "  \"links\": {}\n"
	  "}\n"
	  "{\n"
	  "  \"listing\": \"board.txt\",\n"
	  "  \"cannot_show\": \"a listing shows groups and their devices, not the topology behind bridges, ACS, boot VGA, reset methods or USB devices; groups can change with the BIOS, its version and the kernel (ACS override)\",\n"
	  "  \"iommu\": true,\n"
	  "  \"devices\": [\n"
	  "    {\"address\": \"0000:02:00.0\", \"vendor_id\": \"8086\", \"device_id\": \"1539\", \"subsystem_vendor_id\": \"0000\", \"subsystem_device_id\": \"0000\", \"class\": \"020000\", \"revision\": \"03\", \"vendor_name\": \"Intel Corporation\", \"device_name\": \"I211 Gigabit Network Connection\", \"class_name\": \"Ethernet controller\", \"kind\": \"network\", \"driver\": null, \"driver_override\": null, \"iommu_group\": 7, \"verdict\": \"isolated\", \"bridge\": false, \"header_type\": 0, \"multifunction\": false, \"parent\": null, \"boot_vga\": null, \"reset_method\": null, \"numa_node\": null, \"physfn\": null, \"virtfns\": [], \"sriov_totalvfs\": 0, \"bar_sizes\": [0, 0, 0, 0, 0, 0], \"rom_size\": 0, \"critical\": null, \"flags\": []}\n"
	  "  ],\n"
	  "  \"groups\": [\n"
	  "    {\"number\": 7, \"type\": null, \"devices\": [\"0000:02:00.0\"], \"passthrough_set\": [\"0000:02:00.0\"]}\n"
	  "  ],\n"
	  "  \"warnings\": []\n"
	  "}\n"
	  "{\n"
	  "  \"listing\": \"board.txt\",\n"
	  "  \"cannot_show\": \"a listing shows groups and their devices, not the topology behind bridges, ACS, boot VGA, reset methods or USB devices; groups can change with the BIOS, its version and the kernel (ACS override)\",\n"
	  "  \"iommu\": true,\n"
	  "  \"devices\": [],\n"
	  "  \"groups\": [],\n"
	  "  \"warnings\": []\n"
	  "}\n"
	  "bad: (nil) (nil)\n" },
	{ "find-hostpci", "inv", find_hostpci,
	  "01:00: 2 0000:01:00.0 0000:01:00.1\n0000:01:00.1: 1 0000:01:00.1\n01:00.0: 1 0000:01:00.0\n09:00: 0\n"
	  "x: 0\nassignment of 01:00: 0, 0000:01:00.0<-01:00 0000:01:00.1<-01:00\n"
	  "-2 host 09:00: no such PCI device on this host\n"
	  "-22 \"x\" is not a PCI address (DDDD:BB:SS.F) or slot (DDDD:BB:SS)\n" },
	{ "device-companions", "inv", device_companions,
	  "01:00.0: 1 0000:01:00.1; beyond (nil)\n01:00.1: 0; beyond (nil)\n03:00.0: 0; beyond (nil)\n"
	  "00:02.0: 0; beyond (nil)\nNULL: 0 (nil)\n" },
	{ "usb-devices", "inv", usb_devices,
	  "1-2 peer 2-2 bus 1 dev 3 12 Mbit/s class 00 10c4:ea60 \"Silicon Labs\" \"CP2102N\" serial 0001 names Silicon Labs / CP210x UART Bridge node /dev/ttyUSB0 interfaces \"ff:cp210x\" under 0000:00:14.0\n"
	  "1-4 peer - bus 1 dev 2 480 Mbit/s class 00 046d:c52b \"-\" \"-\" serial - names Logitech, Inc. / Unifying Receiver node - interfaces \"03:usbhid\" under 0000:00:14.0\n"
	  "beyond (nil)\nport \"1-2.3\" 1\nport \"10-1\" 1\nport \"1-0\" 1\nport \"1-2..3\" 0\nport \"1\" 0\nport \"1-2.\" 0\n"
	  "port \"x-1\" 0\nport \"\" 0\nref same 1, kept 1-4 046d:c52b under 0000:00:14.0, unref (nil) (nil)\n" },
};

int main(int argc, char **argv)
{
	return run_tests(tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
