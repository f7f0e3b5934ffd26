/*
 * The C contract, analysis: assignments (what a VM is to get, with every refusal), lint, the
 * guard, why a device shares its group, the doctor, option ROMs, PCIe links and placement. Rows
 * of tests/test-contract-common.h on the homelab host (tests/homelab.spec) and a host of PCIe
 * links that tests/test_ccontract.py builds. Cluster nodes are test-contract-cluster.c's.
 */
#include "test-contract-common.h"

static void print_assignment(const pt_assignment *a, FILE *out)
{
	fprintf(out, "vm %u flags %u:", pt_assignment_get_vm(a), pt_assignment_get_flags(a));
	for (size_t i = 0; i < pt_assignment_get_device_count(a); i++)
		fprintf(out, " %s<-%s", pt_device_get_address(pt_assignment_get_device(a, i)), pt_assignment_get_source(a, i));
	fputc('\n', out);
	for (size_t i = 0; i < pt_assignment_get_refusal_count(a); i++)
		fprintf(out, "refusal: %s\n", pt_assignment_get_refusal(a, i));
}

/* ---- assignments ---- */

static int assignment_ids_and_refusals(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_assignment *a = NULL;
	int r = pt_assignment_new(e, 100, 0, &a);

	if (r < 0)
		return said(ctx, r, out);
	fprintf(out, "its snapshot %d\n", pt_assignment_get_enum(a) == e);
	fprintf(out, "add 01:00: %d\n", pt_assignment_add(a, "01:00"));
	said(ctx, pt_assignment_add(a, "01:00.9"), out);
	said(ctx, pt_assignment_add(a, "0a:00.0"), out);
	fprintf(out, "add the NVMe: %d\n", pt_assignment_add(a, "0000:04:00.0"));
	fprintf(out, "add a bridge: %d\n", pt_assignment_add_device(a, device(e, "00:1c.0"), "the chipset port"));
	fprintf(out, "add the HBA: %d\n", pt_assignment_add_device(a, device(e, "03:00.0"), NULL));
	print_assignment(a, out);
	said(ctx, pt_assignment_check(a), out);
	/* a reference kept: the assignment lives on, its snapshot with it */
	fprintf(out, "ref same %d, ", pt_assignment_ref(a) == a);
	pt_assignment_unref(a);
	fprintf(out, "kept %zu devices, %zu refusals\n", pt_assignment_get_device_count(a), pt_assignment_get_refusal_count(a));
	pt_assignment_unref(a);
	/* forced: the guard's refusals are warnings, said on every check */
	if (pt_assignment_new(e, 0, PT_ASSIGN_FORCE, &a) < 0 || pt_assignment_add(a, "04:00.0") < 0)
		return 1;
	print_assignment(a, out);
	fprintf(out, "check %d\n", pt_assignment_check(a));
	fprintf(out, "check %d\n", pt_assignment_check(a));
	pt_assignment_unref(a);
	a = NULL;
	fprintf(out, "NULL snapshot %d, no result %d\n", pt_assignment_new(NULL, 100, 0, &a), pt_assignment_new(e, 100, 0, NULL));
	pt_assignment_unref(NULL);
	return a != NULL;
}

static int assignment_from_config(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_vmconf *c = NULL;
	pt_assignment *a = NULL;
	const char *text = "hostpci0: 02:00,pcie=1\nhostpci1: mapping=hba\nhostpci2: 0000:00:02.0,mdev=i915-GVTg_V5_4\n"
			   "hostpci3: mapping=nowhere\nhostpci4: 0a:00.0\n";

	if (pt_vmconf_parse(ctx, text, "200.conf", &c) < 0 || pt_assignment_new(e, 200, 0, &a) < 0)
		return 1;
	fprintf(out, "add %d\n", pt_assignment_add_vmconf(a, c));
	/* the ids its hostpci lines name with host=, read with it (a mapping= line names none) */
	for (size_t i = 0; i < pt_vmconf_get_hostpci_count(c); i++)
		fprintf(out, "hostpci id %s\n", pt_vmconf_get_hostpci(c, i));
	print_assignment(a, out);
	said(ctx, pt_assignment_check(a), out);
	pt_assignment_unref(a);
	pt_vmconf_unref(c);
	/* the VM's own config, only its devices scanned */
	int r = pt_assignment_new_vm(ctx, 101, 0, &a);
	if (r < 0)
		return said(ctx, r, out);
	print_assignment(a, out);
	fprintf(out, "partial snapshot %d, check %d\n", pt_enum_is_partial(pt_assignment_get_enum(a)), pt_assignment_check(a));
	pt_assignment_unref(a);
	a = NULL;
	said(ctx, pt_assignment_new_vm(ctx, 555, 0, &a), out);
	return a != NULL;
}

/* ---- lint of the VMs' configs; a config and its property strings kept by a reference ---- */

static int lint_and_configs(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_lint *l = NULL;
	pt_vmconf *c = NULL;
	pt_props *p = NULL;
	char path[8192];
	int r;

	/* a VM with mistakes beside VM 101 (its config taken away again after the run) */
	snprintf(path, sizeof(path), "%s/etc/pve/qemu-server/300.conf", test_root);
	FILE *f = fopen(path, "w");
	if (!f)
		return 1;
	fputs("hostpci0: 01:00.0,pcie=1\nhostpci1: 0a:00.0\nhostpci2: mapping=nowhere\n", f);
	fclose(f);
	r = pt_lint_run(e, 0, &l);
	unlink(path);
	if (r < 0)
		return said(ctx, r, out);
	size_t n = pt_lint_get_finding_count(l);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%u %s %s: %s\n", pt_lint_get_vm(l, i), pt_lint_get_key(l, i), pt_lint_get_code(l, i),
			pt_lint_get_message(l, i));
	fprintf(out, "beyond: %u %p %p %p; ref same %d, ", pt_lint_get_vm(l, n), (void *)pt_lint_get_key(l, n),
		(void *)pt_lint_get_code(l, n), (void *)pt_lint_get_message(l, n), pt_lint_ref(l) == l);
	pt_lint_unref(l);
	fprintf(out, "kept %zu findings\n", pt_lint_get_finding_count(l));
	fprintf(out, "unref %p, NULL: %zu %p %p\n", (void *)pt_lint_unref(l), pt_lint_get_finding_count(NULL),
		(void *)pt_lint_get_key(NULL, 0), (void *)pt_lint_unref(NULL));
	l = NULL;
	said(ctx, pt_lint_run(e, 555, &l), out);
	fprintf(out, "VM 555: %zu findings\n", pt_lint_get_finding_count(l));
	pt_lint_unref(l);
	/* VM 101's config: the ids of its hostpci lines; a reference kept past the reader's */
	if ((r = pt_vmconf_read(ctx, 101, &c)) < 0)
		return said(ctx, r, out);
	fprintf(out, "VM 101: %zu ids, %s; ref same %d, ", pt_vmconf_get_hostpci_count(c), pt_vmconf_get_hostpci(c, 0),
		pt_vmconf_ref(c) == c);
	pt_vmconf_unref(c);
	fprintf(out, "kept machine %s\n", pt_vmconf_get(c, "machine"));
	if ((r = pt_props_parse(ctx, pt_vmconf_get(c, "hostpci0"), "host", &p)) < 0)
		return said(ctx, r, out);
	pt_vmconf_unref(c);
	fprintf(out, "hostpci0: host %s, x-vga %s; ref same %d, ", pt_props_get(p, "host"), pt_props_get(p, "x-vga"),
		pt_props_ref(p) == p);
	pt_props_unref(p);
	fprintf(out, "kept %zu properties\n", pt_props_get_count(p));
	fprintf(out, "unref %p %p %p\n", (void *)pt_props_unref(p), (void *)pt_props_unref(NULL), (void *)pt_vmconf_unref(NULL));
	return 0;
}

/* ---- the guard ---- */

static int guard_check_take(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	const char *list[] = { "00:02.0", "04:00.0", "06:00.0", "00:14.0", "03:00.0" };
	for (size_t i = 0; i < 5; i++) {
		pt_device *d = device(e, list[i]);
		fprintf(out, "%s critical %#x: ", list[i], pt_device_get_critical(d));
		int r = pt_device_check_take(d, 0);
		said(ctx, r, out);
	}
	fprintf(out, "forced: %d\n", pt_device_check_take(device(e, "04:00.0"), PT_TAKE_FORCE));
	/* the console handed over: the IGD may go, the NVMe still not */
	fprintf(out, "console: %d\n", pt_device_check_take(device(e, "00:02.0"), PT_TAKE_CONSOLE));
	said(ctx, pt_device_check_take(device(e, "04:00.0"), PT_TAKE_CONSOLE), out);
	return 0;
}

/* ---- explain ---- */

static void print_explain(const pt_explain *x, FILE *out)
{
	pt_device *culprit = pt_explain_get_culprit(x);
	fprintf(out, "%s at %s: %s\n", pt_isolation_to_string(pt_explain_get_isolation(x)),
		culprit ? pt_device_get_address(culprit) : "-", pt_explain_get_reason(x));
	for (size_t i = 0; i < pt_explain_get_step_count(x); i++)
		fprintf(out, "step %s: %s\n", pt_device_get_address(pt_explain_get_step_device(x, i)),
			pt_explain_get_step_text(x, i));
	for (size_t i = 0; i < pt_explain_get_fix_count(x); i++)
		fprintf(out, "fix: %s\n", pt_explain_get_fix(x, i));
	for (size_t i = 0; i < pt_explain_get_slot_count(x); i++)
		fprintf(out, "slot: %s\n", pt_device_get_address(pt_explain_get_slot(x, i)));
	fprintf(out, "beyond: %p %p %p %p\n", (void *)pt_explain_get_step_device(x, 99), (void *)pt_explain_get_step_text(x, 99),
		(void *)pt_explain_get_fix(x, 99), (void *)pt_explain_get_slot(x, 99));
}

static int explain_shared_group(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_explain *x = NULL;
	int r = pt_device_explain(device(e, "06:00.0"), &x);

	if (r < 0)
		return said(ctx, r, out);
	print_explain(x, out);
	fprintf(out, "ref same %d\n", pt_explain_ref(x) == x);
	pt_explain_unref(x);
	char *j = pt_device_to_json_explained(device(e, "06:00.0"), x);
	const char *at = j ? strstr(j, "\"explanation\"") : NULL;
	fprintf(out, "json: ...%s\n", at ? at : "(no explanation)");
	free(j);
	pt_explain_unref(x);
	if ((r = pt_device_explain(device(e, "03:00.0"), &x)) < 0)
		return said(ctx, r, out);
	print_explain(x, out);
	pt_explain_unref(x);
	fprintf(out, "unref NULL %p\n", (void *)pt_explain_unref(NULL));
	return 0;
}

/* ---- the doctor ---- */

static int doctor_checks(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_doctor *d = NULL;
	int r = pt_doctor_run(e, device(e, "05:00.0"), &d);

	if (r < 0)
		return said(ctx, r, out);
	for (size_t i = 0; i < pt_doctor_get_check_count(d); i++) {
		const char *fix = pt_doctor_get_fix(d, i);
		fprintf(out, "[%s] %s: %s\n  evidence: %s\n  fix: %s\n", pt_status_to_string(pt_doctor_get_status(d, i)),
			pt_doctor_get_id(d, i), pt_doctor_get_title(d, i), pt_doctor_get_evidence(d, i), fix ? fix : "-");
	}
	fprintf(out, "failures %zu, ref same %d, beyond %p %p\n", pt_doctor_get_failures(d), pt_doctor_ref(d) == d,
		(void *)pt_doctor_get_id(d, 999), (void *)pt_doctor_get_title(d, 999));
	pt_doctor_unref(d);
	pt_doctor_unref(d);
	return 0;
}

/* ---- option ROMs ---- */

/* An image: 55 AA, a PCIR at 0x40 (revision 3, a device list at 0x60), blocks of 512 bytes. */
static void rom_image(unsigned char *img, uint16_t vendor, uint16_t device, uint8_t code_type, bool last,
		      unsigned blocks, const uint16_t *more)
{
	memset(img, 0, blocks * 512);
	img[0] = 0x55, img[1] = 0xaa, img[2] = (unsigned char)blocks;
	img[0x18] = 0x40;
	memcpy(img + 0x40, "PCIR", 4);
	img[0x44] = vendor & 0xff, img[0x45] = vendor >> 8;
	img[0x46] = device & 0xff, img[0x47] = device >> 8;
	img[0x48] = more ? 0x20 : 0; /* the device list, from the PCIR */
	img[0x4a] = 0x1c;
	img[0x4c] = 3;
	img[0x4f] = 0x03; /* class 030000 */
	img[0x50] = (unsigned char)blocks;
	img[0x54] = code_type;
	img[0x55] = last ? 0x80 : 0;
	for (size_t i = 0; more && more[i]; i++)
		img[0x60 + 2 * i] = more[i] & 0xff, img[0x61 + 2 * i] = more[i] >> 8;
	if (code_type == PT_ROM_CODE_EFI) {
		img[4] = 0xf1, img[5] = 0x0e; /* the EFI signature 0x0EF1 */
		img[0x0a] = 0x64, img[0x0b] = 0x86;
	} else {
		unsigned char sum = 0;
		for (size_t i = 0; i < blocks * 512; i++)
			sum = (unsigned char)(sum + img[i]);
		img[blocks * 512 - 1] = (unsigned char)(0x100 - sum);
	}
}

static void print_rom(const pt_rom *rom, FILE *out)
{
	const char *problem = pt_rom_get_problem(rom);
	fprintf(out, "[%zu, %zu) %zu images, problem: %s\n", pt_rom_get_start(rom), pt_rom_get_end(rom),
		pt_rom_get_image_count(rom), problem ? problem : "none");
	for (size_t i = 0; i < pt_rom_get_image_count(rom); i++) {
		pt_rom_image m = PT_INIT(pt_rom_image);
		if (pt_rom_get_image(rom, i, &m) < 0) {
			fprintf(out, "  image %zu: unreadable\n", i);
			continue;
		}
		fprintf(out, "  at %zu: %zu bytes %04x:%04x class %06x %s last %d checksum %d efi %#x list %u\n", m.offset,
			m.length, m.vendor_id, m.device_id, m.class_code, pt_rom_code_type_name(m.code_type), m.last,
			m.checksum_ok, m.efi_machine, m.n_device_list);
	}
}

static int rom_parse_images(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	static unsigned char data[64 + 3 * 1024];
	const uint16_t more[] = { 0x1b80, 0x1b84, 0 };
	pt_rom *rom = NULL;
	pt_rom_image first = PT_INIT(pt_rom_image);

	/* a flashing tool's 64-byte header, a legacy image (two more device ids), an EFI image */
	memset(data, 0xee, 64);
	rom_image(data + 64, 0x10de, 0x1b81, PT_ROM_CODE_X86, false, 2, more);
	rom_image(data + 64 + 1024, 0x10de, 0x1b81, PT_ROM_CODE_EFI, true, 2, NULL);
	int r = pt_rom_parse(data, 64 + 2048, &rom);
	if (r < 0)
		return said(ctx, r, out);
	print_rom(rom, out);
	if (pt_rom_get_image(rom, 0, &first) < 0)
		return 1;
	fprintf(out, "matches 1b81 %d, 1b84 %d, 1b82 %d, other vendor %d\n", pt_rom_image_matches(&first, 0x10de, 0x1b81),
		pt_rom_image_matches(&first, 0x10de, 0x1b84), pt_rom_image_matches(&first, 0x10de, 0x1b82),
		pt_rom_image_matches(&first, 0x1002, 0x1b81));
	/* past the end, an image struct without its size; a reference kept past the parser's */
	pt_rom_image unsized = { .size = 0, .offset = 77 };
	r = pt_rom_get_image(rom, 0, &unsized);
	fprintf(out, "beyond %d, no size %d (offset %zu), ref same %d, ", pt_rom_get_image(rom, 2, &first), r,
		unsized.offset, pt_rom_ref(rom) == rom);
	pt_rom_unref(rom);
	fprintf(out, "kept %zu images, ", pt_rom_get_image_count(rom));
	fprintf(out, "unref %p\n", (void *)pt_rom_unref(rom));
	/* a damaged checksum, a truncated dump, an image not marked last */
	data[64 + 300] ^= 1;
	if (pt_rom_parse(data + 64, 1500, &rom) < 0)
		return 1;
	print_rom(rom, out);
	pt_rom_unref(rom);
	if (pt_rom_parse(data + 64, 1024, &rom) < 0)
		return 1;
	print_rom(rom, out);
	pt_rom_unref(rom);
	/* data that is no ROM: parsed all the same, with no image, and why */
	rom = NULL;
	r = pt_rom_parse("MZ not a ROM", 12, &rom);
	fprintf(out, "not a ROM: %d, ", r);
	if (rom)
		print_rom(rom, out);
	pt_rom_unref(rom);
	rom = NULL;
	memset(data, 0, 64);
	data[0] = 0x55, data[1] = 0xaa, data[0x18] = 0x30;
	r = pt_rom_parse(data, 64, &rom);
	fprintf(out, "55 AA alone: %d, ", r);
	if (rom)
		print_rom(rom, out);
	pt_rom_unref(rom);
	rom = NULL;
	fprintf(out, "no data: %d, ", pt_rom_parse(NULL, 0, &rom));
	if (rom)
		print_rom(rom, out);
	pt_rom_unref(rom);
	fprintf(out, "NULL: %d %d; getters of NULL: %zu %zu %p %zu %d, unref %p\n", pt_rom_parse(NULL, 1, &rom),
		pt_rom_parse("x", 1, NULL), pt_rom_get_start(NULL), pt_rom_get_end(NULL), (void *)pt_rom_get_problem(NULL),
		pt_rom_get_image_count(NULL), pt_rom_get_image(NULL, 0, &first), (void *)pt_rom_unref(NULL));
	fprintf(out, "code types: %s, %s, %s, %s, %s; NULL image %d\n", pt_rom_code_type_name(0), pt_rom_code_type_name(1),
		pt_rom_code_type_name(2), pt_rom_code_type_name(3), pt_rom_code_type_name(9), pt_rom_image_matches(NULL, 1, 1));
	return 0;
}

/* ---- the PCIe link against what both its ends can do ---- */

static int pcie_links(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	static const char *const devices[] = { "0000:01:00.0", "0000:02:00.0", "0000:03:00.0", "0000:00:02.0" };
	for (size_t i = 0; i < sizeof(devices) / sizeof(*devices); i++) {
		pt_device *dev;
		pt_link k = PT_INIT(pt_link);
		char *why = NULL;
		if (pt_enum_find_device(e, devices[i], &dev) < 0)
			return 1;
		int r = pt_device_get_link(dev, &k);
		fprintf(out, "%s: %d x%u/%u %u/%u MT/s; check %d", devices[i], r, k.width, k.max_width, k.speed, k.max_speed,
			pt_device_check_link(dev, &why));
		fprintf(out, "%s%s\n", why ? ": " : "", why ? why : "");
		free(why);
		const char *cpus = pt_device_get_local_cpus(dev);
		if (cpus)
			fprintf(out, "  node %d, local CPUs %s\n", pt_device_get_numa_node(dev), cpus);
	}
	fprintf(out, "local CPUs of NULL: %p\n", (void *)pt_device_get_local_cpus(NULL));
	fprintf(out, "NULL: %d %d\n", pt_device_get_link(NULL, NULL), pt_device_check_link(NULL, NULL));
	return 0;
}

/* What the scan reads up front (PT_LOAD_PLACEMENT) is not read again: a link that trains again
 * after the scan, a CPU list that changes. */
static void put_attr(const char *rel, const char *value)
{
	char path[8192];
	snprintf(path, sizeof(path), "%s/%s", test_root, rel);
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(value, f);
		fclose(f);
	}
}

static void print_placement(const char *what, pt_enum *x, FILE *out)
{
	pt_link k = PT_INIT(pt_link);
	int r = pt_device_get_link(device(x, "01:00.0"), &k);
	const char *cpus = pt_device_get_local_cpus(device(x, "03:00.0"));
	fprintf(out, "%s: %d x%u, CPUs %s\n", what, r, k.width, cpus ? cpus : "none");
}

static int placement_read_up_front(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_enum *lazy = NULL, *loaded = NULL;
	char *width = slurp("sys/bus/pci/devices/0000:01:00.0/current_link_width");
	char *cpus = slurp("sys/bus/pci/devices/0000:03:00.0/local_cpulist");

	if (!width || !cpus || pt_enum_scan(ctx, 0, &lazy) < 0 || pt_enum_scan(ctx, PT_LOAD_PLACEMENT, &loaded) < 0)
		return 1;
	put_attr("sys/bus/pci/devices/0000:01:00.0/current_link_width", "16\n");
	put_attr("sys/bus/pci/devices/0000:03:00.0/local_cpulist", "4-7\n");
	print_placement("read on first use", lazy, out);
	print_placement("PT_LOAD_PLACEMENT", loaded, out);
	put_attr("sys/bus/pci/devices/0000:01:00.0/current_link_width", width);
	put_attr("sys/bus/pci/devices/0000:03:00.0/local_cpulist", cpus);
	free(width);
	free(cpus);
	pt_enum_unref(lazy);
	pt_enum_unref(loaded);
	return 0;
}

static const struct test tests[] = {
	{ "placement-read-up-front", "links", placement_read_up_front,
	  "read on first use: 0 x16, CPUs 4-7\nPT_LOAD_PLACEMENT: 0 x4, CPUs 0-3,8-11\n" },
	{ "pcie-links", "links", pcie_links,
	  "0000:01:00.0: 0 x4/16 8000/16000 MT/s; check 1: 0000:01:00.0: trained at x4 at 8.0 GT/s (Gen3), both ends "
	  "can do x16 at 8.0 GT/s (Gen3): fewer lanes than the slot and the device have (a riser, a slot wired for fewer "
	  "lanes, a bad seat)\n"
	  "0000:02:00.0: 0 x16/16 2500/16000 MT/s; check 2: 0000:02:00.0: at x16 at 2.5 GT/s (Gen1), both ends can do "
	  "x16 at 16.0 GT/s (Gen4): a low-power state trains the link down and load brings it back; if it stays so under "
	  "load, the slot or the riser is the cause\n"
	  "0000:03:00.0: 0 x4/4 16000/16000 MT/s; check 0\n  node 0, local CPUs 0-3,8-11\n"
	  "0000:00:02.0: -2 x0/0 0/0 MT/s; check -2\n"
	  "local CPUs of NULL: (nil)\nNULL: -22 -22\n" },
	{ "assignment-ids-and-refusals", "homelab", assignment_ids_and_refusals,
	  "its snapshot 1\nadd 01:00: 0\n-22 \"01:00.9\" is not a PCI address (DDDD:BB:SS.F) or slot (DDDD:BB:SS)\n"
	  "-2 host 0a:00.0: no such PCI device on this host\nadd the NVMe: 0\nadd a bridge: 0\nadd the HBA: 0\n"
	  "vm 100 flags 0: 0000:01:00.0<-01:00 0000:01:00.1<-01:00 0000:03:00.0<-0000:03:00.0 0000:04:00.0<-0000:04:00.0\n"
	  "refusal: 0000:04:00.0: refused: controller of / (/dev/nvme0n1p2); controller of /boot/efi (/dev/nvme0n1p1); force to take it anyway\n"
	  "refusal: the chipset port: 0000:00:1c.0: a bridge stays with the host; pass the devices below it\n"
	  "-16 0000:04:00.0: refused: controller of / (/dev/nvme0n1p2); controller of /boot/efi (/dev/nvme0n1p1); force to take it anyway\n"
	  "ref same 1, kept 4 devices, 2 refusals\n"
	  "vm 0 flags 1: 0000:04:00.0<-04:00.0\n"
	  "log: 0000:04:00.0: taken although 0000:04:00.0 is host-critical: controller of / (/dev/nvme0n1p2); controller of /boot/efi (/dev/nvme0n1p1) (forced)\n"
	  "check 0\n"
	  "log: 0000:04:00.0: taken although 0000:04:00.0 is host-critical: controller of / (/dev/nvme0n1p2); controller of /boot/efi (/dev/nvme0n1p1) (forced)\n"
	  "check 0\nNULL snapshot -22, no result -22\n" },
	{ "assignment-from-config", "homelab", assignment_from_config,
	  "add 0\nhostpci id 0000:02:00\nhostpci id 0000:00:02.0\nhostpci id 0000:0a:00.0\n"
	  "vm 200 flags 0: 0000:02:00.0<-hostpci0 0000:02:00.1<-hostpci0 0000:03:00.0<-hostpci1 (mapping hba)\n"
	  "refusal: hostpci3 (mapping nowhere): not in /etc/pve/mapping/pci.cfg\n"
	  "refusal: hostpci4: host 0a:00.0: no such PCI device on this host\n"
	  "-2 hostpci3 (mapping nowhere): not in /etc/pve/mapping/pci.cfg\n"
	  "vm 101 flags 0: 0000:01:00.0<-hostpci0 0000:01:00.1<-hostpci0\npartial snapshot 1, check 0\n"
	  "-2 VM 555 has no config on this node (/etc/pve/qemu-server/555.conf)\n" },
	{ "lint-and-configs", "homelab", lint_and_configs,
	  "300 hostpci device-in-two-vms: 0000:01:00.0 is also given to VM 101 (VMs 101, 300)\n"
	  "300 hostpci0 group-incomplete: 0000:01:00.0 shares IOMMU group 2 with 0000:01:00.1, which the VM does not get and snd_hda_intel holds: the VM cannot start\n"
	  "300 hostpci0 pcie-needs-q35: pcie=1 needs machine q35 (machine: i440fx, the default)\n"
	  "300 hostpci1 no-such-device: host 0a:00.0: no such PCI device on this host\n"
	  "300 hostpci2 unknown-mapping: mapping nowhere is not in /etc/pve/mapping/pci.cfg\n"
	  "beyond: 0 (nil) (nil) (nil); ref same 1, kept 5 findings\nunref (nil), NULL: 0 (nil) (nil)\n"
	  "-2 VM 555 has no config on this node (/etc/pve/qemu-server/555.conf)\nVM 555: 0 findings\n"
	  "VM 101: 1 ids, 0000:01:00; ref same 1, kept machine q35\n"
	  "hostpci0: host 01:00, x-vga 1; ref same 1, kept 3 properties\nunref (nil) (nil) (nil)\n" },
	{ "guard-check-take", "homelab", guard_check_take,
	  "00:02.0 critical 0x3: -16 0000:00:02.0: refused: boot VGA device (boot_vga = 1); draws the framebuffer console (fb0); force to take it anyway\n"
	  "04:00.0 critical 0x4: -16 0000:04:00.0: refused: controller of / (/dev/nvme0n1p2); controller of /boot/efi (/dev/nvme0n1p1); force to take it anyway\n"
	  "06:00.0 critical 0: -16 0000:06:00.0: refused: it goes with 0000:05:00.0 (IOMMU group 8), NIC of the default route (vmbr0 -> enp5s0); force to take it anyway\n"
	  "00:14.0 critical 0x10: -16 0000:00:14.0: refused: the only keyboard (Logitech USB Keyboard) hangs under it; force to take it anyway\n"
	  "03:00.0 critical 0: 0\n"
	  "log: 0000:04:00.0: taken although 0000:04:00.0 is host-critical: controller of / (/dev/nvme0n1p2); controller of /boot/efi (/dev/nvme0n1p1) (forced)\n"
	  "forced: 0\n"
	  "log: 0000:00:02.0: taken although 0000:00:02.0 is the host's boot VGA device (boot_vga = 1); draws the framebuffer console (fb0): the console is handed over\n"
	  "console: 0\n"
	  "-16 0000:04:00.0: refused: controller of / (/dev/nvme0n1p2); controller of /boot/efi (/dev/nvme0n1p1); force to take it anyway\n" },
	{ "explain-shared-group", "homelab", explain_shared_group,
	  "no-acs at 0000:00:1c.4: 0000:00:1c.4, the root port above 0000:06:00.0, has no ACS capability: it lets the devices below it talk to each other and to its sibling functions' devices, so they share a group\n"
	  "step 0000:06:00.0: 0000:06:00.0 endpoint: a single function\n"
	  "step 0000:00:1c.4: 0000:00:1c.4 root port (multifunction): no ACS capability\n"
	  "fix: Move the card to a slot whose root port has an IOMMU group of its own: this host shows none.\n"
	  "fix: Or boot with pcie_acs_override=downstream,multifunction (a patch that Proxmox VE's kernel carries and Debian's does not). It only makes the kernel pretend these ports isolate: the devices of the group can still reach each other's memory by DMA, so a VM given one of them can read and corrupt what the others hold, the host's devices included. Use it only for VMs you trust as much as the host.\n"
	  "beyond: (nil) (nil) (nil) (nil)\nref same 1\n"
	  "json: ...\"explanation\": {\"isolation\":\"no-acs\",\"culprit\":\"0000:00:1c.4\",\"reason\":\"0000:00:1c.4, the root port above 0000:06:00.0, has no ACS capability: it lets the devices below it talk to each other and to its sibling functions' devices, so they share a group\",\"steps\":[{\"device\":\"0000:06:00.0\",\"text\":\"0000:06:00.0 endpoint: a single function\"},{\"device\":\"0000:00:1c.4\",\"text\":\"0000:00:1c.4 root port (multifunction): no ACS capability\"}],\"fixes\":[\"Move the card to a slot whose root port has an IOMMU group of its own: this host shows none.\",\"Or boot with pcie_acs_override=downstream,multifunction (a patch that Proxmox VE's kernel carries and Debian's does not). It only makes the kernel pretend these ports isolate: the devices of the group can still reach each other's memory by DMA, so a VM given one of them can read and corrupt what the others hold, the host's devices included. Use it only for VMs you trust as much as the host.\"],\"slots\":[]}}\n"
	  "no-acs at 0000:00:1b.0: 0000:00:1b.0, the root port above 0000:03:00.0, has no ACS capability: it lets the devices below it talk to each other, so they share a group\n"
	  "step 0000:03:00.0: 0000:03:00.0 endpoint: a single function\n"
	  "step 0000:00:1b.0: 0000:00:1b.0 root port: no ACS capability\n"
	  "fix: Move the card to a slot whose root port has an IOMMU group of its own: this host shows none.\n"
	  "fix: Or boot with pcie_acs_override=downstream,multifunction (a patch that Proxmox VE's kernel carries and Debian's does not). It only makes the kernel pretend these ports isolate: the devices of the group can still reach each other's memory by DMA, so a VM given one of them can read and corrupt what the others hold, the host's devices included. Use it only for VMs you trust as much as the host.\n"
	  "beyond: (nil) (nil) (nil) (nil)\nunref NULL (nil)\n" },
	{ "doctor-checks", "homelab", doctor_checks,
	  "[fail] cpu-virtualization: CPU virtualization extensions\n"
	  "  evidence: ROOT/proc/cpuinfo flags: neither vmx nor svm\n"
	  "  fix: enable Intel VT-x or AMD SVM in the firmware setup\n"
	  "[info] iommu-firmware: IOMMU described by the firmware\n"
	  "  evidence: ROOT/sys/firmware/acpi/tables: absent (not an ACPI machine, or not readable)\n  fix: -\n"
	  "[pass] iommu-kernel: IOMMU on in the kernel\n  evidence: ROOT/sys/kernel/iommu_groups: 11 groups\n"
	  "  fix: -\n[pass] kernel-cmdline: IOMMU on the kernel command line\n"
	  "  evidence: ROOT/proc/cmdline: IOMMU on by default\n  fix: -\n"
	  "[warn] default-domain: Default DMA domain of host devices\n"
	  "  evidence: ROOT/sys/kernel/iommu_groups/*/type: all 11 translated (host devices pay for IOMMU translation)\n"
	  "  fix: add \"iommu=pt\" to GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub, then run: update-grub && reboot\n"
	  "[info] interrupt-remapping: Interrupt remapping\n  evidence: ROOT/proc/interrupts: unreadable\n"
	  "  fix: -\n[pass] acs-override: ACS override\n  evidence: ROOT/proc/cmdline: no pcie_acs_override\n"
	  "  fix: -\n[fail] vfio-modules: VFIO modules\n"
	  "  evidence: ROOT/lib/modules/unknown: vfio: missing; vfio_pci: missing; vfio_iommu_type1: missing\n"
	  "  fix: install the kernel's modules package (apt install linux-image-$(uname -r)), then run: modprobe vfio-pci\n"
	  "[pass] vfio-blocked: Nothing blocks the VFIO modules\n"
	  "  evidence: no blacklist or install rule for vfio in ROOT/{etc,run,usr/lib,lib}/modprobe.d\n  fix: -\n"
	  "[pass] vfio-ids: vfio-pci ids= takes only the devices meant\n"
	  "  evidence: no vfio-pci ids= in modprobe.d or on the kernel command line\n  fix: -\n"
	  "[pass] reset: Device reset\n  evidence: ROOT/sys/bus/pci/devices/0000:05:00.0/reset_method: flr bus\n"
	  "  fix: -\n[info] bus-reset: What a bus reset would also hit\n"
	  "  evidence: 0000:05:00.0 resets itself first (flr); a secondary bus reset of 0000:00:1c.0 would also reset nothing else\n"
	  "  fix: -\n[pass] large-bar: BARs above 256 MiB\n"
	  "  evidence: ROOT/sys/bus/pci/devices/0000:05:00.0/resource: none over 256 MiB\n  fix: -\n"
	  "[info] pcie-link: PCIe link\n"
	  "  evidence: 0000:05:00.0: the kernel gives no link attributes (not PCIe, or an integrated device)\n  fix: -\n"
	  "[warn] group: IOMMU group\n"
	  "  evidence: 0000:05:00.0: shared; 0000:00:1c.0, the root port above 0000:05:00.0, has no ACS capability: it lets the devices below it talk to each other and to its sibling functions' devices, so they share a group\n"
	  "  fix: Move the card to a slot whose root port has an IOMMU group of its own: this host shows none. Or boot with pcie_acs_override=downstream,multifunction (a patch that Proxmox VE's kernel carries and Debian's does not). It only makes the kernel pretend these ports isolate: the devices of the group can still reach each other's memory by DMA, so a VM given one of them can read and corrupt what the others hold, the host's devices included. Use it only for VMs you trust as much as the host.\n"
	  "[fail] guard: The host can spare it\n"
	  "  evidence: 0000:05:00.0: refused: NIC of the default route (vmbr0 -> enp5s0); force to take it anyway\n"
	  "  fix: choose another device, or pass --force if the host truly does without it\n"
	  "failures 3, ref same 1, beyond (nil) (nil)\n" },
	{ "rom-parse-images", "homelab", rom_parse_images,
	  "[64, 2112) 2 images, problem: none\n"
	  "  at 64: 1024 bytes 10de:1b81 class 030000 x86 (legacy BIOS) last 0 checksum 1 efi 0 list 2\n"
	  "  at 1088: 1024 bytes 10de:1b81 class 030000 EFI last 1 checksum -1 efi 0x8664 list 0\n"
	  "matches 1b81 1, 1b84 1, 1b82 0, other vendor 0\n"
	  "beyond -2, no size -22 (offset 77), ref same 1, kept 2 images, unref (nil)\n"
	  "[0, 1500) 2 images, problem: the last image runs past the end of the data (a truncated dump?)\n"
	  "  at 0: 1024 bytes 10de:1b81 class 030000 x86 (legacy BIOS) last 0 checksum 0 efi 0 list 2\n"
	  "  at 1024: 1024 bytes 10de:1b81 class 030000 EFI last 1 checksum -1 efi 0x8664 list 0\n"
	  "[0, 1024) 1 images, problem: an image not marked last, and no image after it\n"
	  "  at 0: 1024 bytes 10de:1b81 class 030000 x86 (legacy BIOS) last 0 checksum 0 efi 0 list 2\n"
	  "not a ROM: 0, [0, 0) 0 images, problem: no option ROM image: no 55 AA signature followed by a PCIR structure\n"
	  "55 AA alone: 0, [0, 0) 0 images, problem: 55 AA, but its PCIR pointer leads to no PCIR structure\n"
	  "no data: 0, [0, 0) 0 images, problem: no option ROM image: no 55 AA signature followed by a PCIR structure\n"
	  "NULL: -22 -22; getters of NULL: 0 0 (nil) 0 -2, unref (nil)\ncode types: x86 (legacy BIOS), Open Firmware, HP PA-RISC, EFI, unknown; NULL image 0\n" },
};

int main(int argc, char **argv)
{
	return run_tests(tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
