/*
 * The C contract, the library's conventions and small helpers: what the scan reads up front
 * (PT_LOAD_*), value structs of the caller's size, outputs written only on success, and the
 * pure helpers (ids, names, cleaning text, quoting, diffs). Rows of tests/test-contract-common.h
 * on the inventory host that tests/test_ccontract.py builds.
 */
#include "test-contract-common.h"

/* ---- what the scan reads up front (PT_LOAD_*) ---- */

/* Every answer a getter gives about a device, on one line. */
static char *answers(const pt_device *d)
{
	char *text = NULL, *json = pt_device_to_json(d);
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	uint16_t cap = 0, ctrl = 0;
	pt_link k = PT_INIT(pt_link);
	int acs = pt_device_get_acs(d, &cap, &ctrl), link = pt_device_get_link(d, &k);
	const char *cpus = pt_device_get_local_cpus(d), *reason = pt_device_get_critical_reason(d);

	if (!f) {
		free(json);
		return NULL;
	}
	fprintf(f, "%s|%s|%s|%s|%s|pcie %d|acs %d %x %x|link %d %u/%u %u/%u|cpus %s|critical %u %s|rebar %llx|", json,
		pt_device_get_vendor_name(d) ? pt_device_get_vendor_name(d) : "-",
		pt_device_get_device_name(d) ? pt_device_get_device_name(d) : "-",
		pt_device_get_subsystem_name(d) ? pt_device_get_subsystem_name(d) : "-",
		pt_device_get_class_name(d) ? pt_device_get_class_name(d) : "-", pt_device_get_pcie_type(d), acs, cap, ctrl,
		link, k.width, k.max_width, k.speed, k.max_speed, cpus ? cpus : "-", pt_device_get_critical(d),
		reason ? reason : "-", (unsigned long long)pt_device_get_bar_resizable(d, 0));
	for (size_t i = 0; i < pt_device_get_flag_count(d); i++)
		fprintf(f, "[%s]", pt_device_get_flag(d, i));
	fprintf(f, "|mdev %zu %zu vgpu %zu %ld", pt_device_get_mdev_type_count(d), pt_device_get_mdev_count(d),
		pt_device_get_vgpu_type_count(d), pt_device_get_vgpu_current(d));
	fclose(f);
	free(json);
	return text;
}

/* How many devices of b answer otherwise than a's (by address), and how many USB devices. */
static size_t differences(const pt_enum *a, const pt_enum *b)
{
	size_t n = pt_enum_get_device_count(a) != pt_enum_get_device_count(b);
	for (size_t i = 0; i < pt_enum_get_device_count(a); i++) {
		pt_device *x = pt_enum_get_device(a, i), *y = NULL;
		if (pt_enum_find_device(b, pt_device_get_address(x), &y) < 0) {
			n++;
			continue;
		}
		char *p = answers(x), *q = answers(y);
		n += !p || !q || strcmp(p, q) != 0;
		free(p);
		free(q);
	}
	n += pt_enum_get_usb_count(a) != pt_enum_get_usb_count(b);
	for (size_t i = 0; i < pt_enum_get_usb_count(a) && i < pt_enum_get_usb_count(b); i++)
		n += strcmp(pt_usb_get_port(pt_enum_get_usb(a, i)), pt_usb_get_port(pt_enum_get_usb(b, i))) != 0;
	return n;
}

/* The instances left of the IGD's first mdev type, as the snapshot says. */
static long available(pt_enum *e)
{
	pt_mdev_type t = PT_INIT(pt_mdev_type);
	return pt_device_get_mdev_type(device(e, "00:02.0"), 0, &t) < 0 ? -99 : t.available_instances;
}

static int load_flags(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	static const unsigned flags[] = { PT_LOAD_NAMES, PT_LOAD_CONFIG, PT_LOAD_GUARD, PT_LOAD_USB, PT_LOAD_MDEV,
					  PT_LOAD_PLACEMENT, PT_LOAD_DRIVERS, PT_LOAD_ALL };
	pt_enum *lazy = NULL, *mdev = NULL, *all = NULL;
	int r;

	/* each part read up front answers as when read on first use */
	for (size_t i = 0; i < sizeof(flags) / sizeof(*flags); i++) {
		pt_enum *x = NULL;
		if ((r = pt_enum_scan(ctx, flags[i], &x)) < 0)
			return said(ctx, r, out);
		fprintf(out, "%#x: %zu devices, %zu USB, %zu differ\n", flags[i], pt_enum_get_device_count(x),
			pt_enum_get_usb_count(x), differences(e, x));
		pt_enum_unref(x);
	}
	/* read up front, a part is not read again: an mdev type's instances taken after the scan */
	if (pt_enum_scan(ctx, 0, &lazy) < 0 || pt_enum_scan(ctx, PT_LOAD_MDEV, &mdev) < 0 ||
	    pt_enum_scan(ctx, PT_LOAD_ALL, &all) < 0)
		return 1;
	char path[8192];
	snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/0000:00:02.0/mdev_supported_types/i915-GVTg_V5_4/available_instances",
		 test_root);
	FILE *f = fopen(path, "w");
	if (!f)
		return 1;
	fputs("1\n", f);
	fclose(f);
	fprintf(out, "after the scan: lazy %ld, PT_LOAD_MDEV %ld, PT_LOAD_ALL %ld\n", available(lazy), available(mdev),
		available(all));
	if (!(f = fopen(path, "w")))
		return 1;
	fputs("2\n", f);
	fclose(f);
	pt_enum_unref(lazy);
	pt_enum_unref(mdev);
	pt_enum_unref(all);
	all = NULL;
	said(ctx, pt_enum_scan(ctx, PT_LOAD_ALL + 1, &all), out);
	fprintf(out, "no result: %d\n", pt_enum_scan(ctx, PT_LOAD_ALL, NULL));
	return all != NULL;
}

/* ---- value structs: the caller's size ---- */

struct bigger_spec {
	pt_usb_spec s;
	uint64_t more; /* a member a later libpt may have */
};

struct bigger_resolved {
	pt_usb_resolved m;
	uint64_t more;
};

struct bigger_node_device {
	pt_node_device d;
	uint64_t more;
};

static int value_struct_sizes(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_usb_resolved m = PT_INIT(pt_usb_resolved);
	pt_usb_spec s = PT_INIT(pt_usb_spec);
	pt_node *n = NULL;
	int r;

	s.id = "046d:c52b";
	r = pt_usb_resolve(ctx, e, &s, &m);
	fprintf(out, "right: %d %04x:%04x\n", r, m.vendor, m.product);
	/* a size below 1.0's, in or out: -EINVAL, nothing written */
	s.size = 0;
	said(ctx, pt_usb_resolve(ctx, e, &s, &m), out);
	s.size = sizeof(pt_usb_spec) - 1;
	said(ctx, pt_usb_resolve(ctx, e, &s, &m), out);
	s.size = sizeof(pt_usb_spec);
	m = (pt_usb_resolved){ .size = 0, .vendor = 0x1234 };
	r = pt_usb_resolve(ctx, e, &s, &m);
	fprintf(out, "output of size 0: %d, vendor %04x\n", r, m.vendor);
	m = (pt_usb_resolved){ .size = sizeof(pt_usb_resolved) - 1, .vendor = 0x1234 };
	r = pt_usb_resolve(ctx, e, &s, &m);
	fprintf(out, "output of size - 1: %d, vendor %04x\n", r, m.vendor);
	/* a garbage size (an uninitialised struct) is no newer header's: refused, not read past */
	m = PT_INIT(pt_usb_resolved);
	s.size = (size_t)1 << 40;
	said(ctx, pt_usb_resolve(ctx, e, &s, &m), out);
	s.size = sizeof(pt_usb_spec);
	/* a later header's larger structs: members it sets unknown here are not ignored; an output's
	 * are zeroed, its size kept */
	struct bigger_spec big;
	memset(&big, 0, sizeof(big));
	big.s.size = sizeof(big);
	big.s.id = "046d:c52b";
	struct bigger_resolved out_big;
	memset(&out_big, 0xee, sizeof(out_big));
	out_big.m.size = sizeof(out_big);
	r = pt_usb_resolve(ctx, e, &big.s, &out_big.m);
	fprintf(out, "larger, unset: %d %04x:%04x, size kept %d, more zeroed %d\n", r, out_big.m.vendor, out_big.m.product,
		out_big.m.size == sizeof(out_big), out_big.more == 0);
	/* a smaller value struct of another type's size is no value struct */
	pt_link small = { .size = sizeof(size_t), .width = 99 };
	r = pt_device_get_link(device(e, "01:00.0"), &small);
	fprintf(out, "link of a size_t's size: %d, width %u\n", r, small.width);
	if (pt_node_new(ctx, "pve1", &n) < 0)
		return 1;
	pt_node_device d = { .size = sizeof(d), .address = "0000:0a:00.0", .vendor_id = "10de", .device_id = "2484",
			     .subsystem_vendor_id = "10de", .subsystem_device_id = "14ae" };
	fprintf(out, "node device: %d\n", pt_node_add_device(n, &d));
	d.size = 0;
	said(ctx, pt_node_add_device(n, &d), out);
	d.size = sizeof(d) - 1;
	said(ctx, pt_node_add_device(n, &d), out);
	struct bigger_node_device bd;
	memset(&bd, 0, sizeof(bd));
	bd.d = d;
	bd.d.size = sizeof(bd);
	bd.d.address = "0000:0a:00.1";
	fprintf(out, "larger, unset: %d\n", pt_node_add_device(n, &bd.d));
	pt_node_device got = { .size = 0 };
	fprintf(out, "get, size 0: %d; %zu devices\n", pt_node_get_device(n, 0, &got), pt_node_get_device_count(n));
	pt_node_unref(n);
	return 0;
}

/* A larger struct that sets a member this library does not know is -E2BIG: the caller asks for
 * what the library cannot do, and is told so apart from a bad size. */
static int value_struct_too_big(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_usb_resolved m = PT_INIT(pt_usb_resolved);
	pt_node *n = NULL;
	struct bigger_spec big;

	memset(&big, 0, sizeof(big));
	big.s.size = sizeof(big);
	big.s.id = "046d:c52b";
	big.more = 1;
	fprintf(out, "resolve: %d\n", pt_usb_resolve(ctx, e, &big.s, &m));
	if (pt_node_new(ctx, "pve1", &n) < 0)
		return 1;
	struct bigger_node_device bd;
	memset(&bd, 0, sizeof(bd));
	bd.d = (pt_node_device){ .size = sizeof(bd), .address = "0000:0a:00.0", .vendor_id = "10de", .device_id = "2484",
				 .subsystem_vendor_id = "10de", .subsystem_device_id = "14ae" };
	bd.more = 1;
	fprintf(out, "node device: %d, %zu devices\n", pt_node_add_device(n, &bd.d), pt_node_get_device_count(n));
	pt_node_unref(n);
	return 0;
}

/* A call that fails writes nothing to its output (libpt.h's rules). */
static int outputs_only_on_success(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_usb_resolved m = PT_INIT(pt_usb_resolved);
	pt_usb_spec s = PT_INIT(pt_usb_spec);

	m.vendor = 0x1234;
	snprintf(m.port, sizeof(m.port), "kept");
	s.serial = "no-such-serial";
	int r = pt_usb_resolve(ctx, e, &s, &m);
	fprintf(out, "resolve: %d, vendor %04x, port %s\n", r, m.vendor, m.port);
	/* libusb is not asked under a root that is not the running system's */
	pt_usb_host h = PT_INIT(pt_usb_host);
	h.bus = 7;
	snprintf(m.port, sizeof(m.port), "1-2");
	r = pt_usb_check_host(ctx, &m, &h);
	fprintf(out, "check host: %d, bus %u\n", r, h.bus);
	r = pt_usb_reset(ctx, &m, 0, 100, &h);
	fprintf(out, "reset: %d, bus %u\n", r, h.bus);
	return 0;
}

/* ---- pure helpers ---- */

static int ids_and_names(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	char buf[32];
	unsigned vm = 0;
	const char *pci[] = { "01:00.0", "0000:01:00", "10000:0a:1f.7", "01:00.8", "1:00.0", "01:00" };
	for (size_t i = 0; i < 6; i++) {
		int r = pt_pci_id_normalize(pci[i], buf, sizeof(buf));
		fprintf(out, "pci %s: %d %s\n", pci[i], r, r >= 0 ? buf : "");
	}
	fprintf(out, "small buffer: %d\n", pt_pci_id_normalize("01:00.0", buf, 8));
	const char *vms[] = { "100", "999999999", "99", "0100", "1000000000", "12a", "" };
	for (size_t i = 0; i < 7; i++) {
		int r = pt_vmid_parse(vms[i], &vm);
		fprintf(out, "vmid \"%s\": %d %u\n", vms[i], r, r == 0 ? vm : 0);
	}
	fprintf(out, "vmid valid: %d %d %d %d\n", pt_vmid_is_valid(100), pt_vmid_is_valid(PT_VMID_MAX),
		pt_vmid_is_valid(99), pt_vmid_is_valid(1000000000LL));
	const char *uuids[] = { "4b20d080-1b54-4048-85b3-a6a62d165c01", "4B20D080-1B54-4048-85B3-A6A62D165C01",
				"4b20d080-1b54-4048-85b3-a6a62d165c0", "4b20d0801b54-4048-85b3-a6a62d165c01-", NULL };
	for (size_t i = 0; i < 5; i++)
		fprintf(out, "uuid %s: %d\n", uuids[i] ? uuids[i] : "NULL", pt_uuid_is_valid(uuids[i]));
	const char *roms[] = { "vbios.rom", "GP104+mod_1.2-x.bin", ".hidden", "../etc/shadow", "a b", "" };
	for (size_t i = 0; i < 6; i++)
		fprintf(out, "romfile \"%s\": %d\n", roms[i], pt_romfile_name_valid(roms[i]));
	fprintf(out, "q35: %d %d %d %d\n", pt_vmconf_is_q35("q35"), pt_vmconf_is_q35("pc-q35-8.1+pve0"),
		pt_vmconf_is_q35("pc-i440fx-8.1"), pt_vmconf_is_q35(NULL));
	fprintf(out, "status: %s %s %s %s; verdict %s; isolation %s\n", pt_status_to_string(PT_PASS),
		pt_status_to_string(PT_WARN), pt_status_to_string(PT_FAIL), pt_status_to_string(PT_INFO),
		pt_verdict_to_string(PT_VERDICT_SHARED), pt_isolation_to_string(PT_ISOLATION_ACS_DISABLED));
	return 0;
}

static int text_cleaning_and_quoting(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	static const char raw[] = "caf\xc3\xa9 \x1b[31mred\x7f \xc2\x85 \xff\xfe tab\there";
	char *clean = pt_clean_text(raw, sizeof(raw) - 1), json[6 * 16 + 2];
	if (!clean)
		return 1;
	fprintf(out, "clean: %s\n", clean);
	free(clean);
	clean = pt_clean_text("a\0b", 3);
	fprintf(out, "with NUL: %s\n", clean);
	free(clean);
	size_t n = pt_json_quote(json, "a\"b\\c\n\x01\x7f\xc3\xa9", 10);
	fprintf(out, "json (%zu): %.*s\n", n, (int)n, json);
	const char *words[] = { "qm", "set", "100", "--description", "it's a VM", "$(reboot)", "", "a;b" };
	char *line = pt_shell_quote(words, 8);
	fprintf(out, "shell: %s\n", line);
	free(line);
	char *d = pt_diff("/etc/x.conf", "a\nb\nc\n", "a\nB\nc\nd\n");
	fprintf(out, "%s\n", d);
	free(d);
	d = pt_diff("/etc/new.conf", NULL, "only\n");
	fprintf(out, "%s\n", d);
	free(d);
	return 0;
}

static const struct test tests[] = {
	{ "load-flags", "inv", load_flags,
	  "0x1: 15 devices, 2 USB, 0 differ\n0x2: 15 devices, 2 USB, 0 differ\n0x4: 15 devices, 2 USB, 0 differ\n"
	  "0x8: 15 devices, 2 USB, 0 differ\n0x10: 15 devices, 2 USB, 0 differ\n0x20: 15 devices, 2 USB, 0 differ\n"
	  "0x40: 15 devices, 2 USB, 0 differ\n0x7f: 15 devices, 2 USB, 0 differ\n"
	  "after the scan: lazy 1, PT_LOAD_MDEV 2, PT_LOAD_ALL 2\n"
	  "-22 pt_enum_scan: flags 0x80: not PT_LOAD_*\nno result: -22\n" },
	{ "value-struct-sizes", "inv", value_struct_sizes,
	  "right: 0 046d:c52b\n-22 pt_usb_resolve: no pt_usb_spec, or its size is not one (set .size = sizeof(pt_usb_spec))\n"
	  "-22 pt_usb_resolve: no pt_usb_spec, or its size is not one (set .size = sizeof(pt_usb_spec))\n"
	  "output of size 0: -22, vendor 1234\noutput of size - 1: -22, vendor 1234\n"
	  "-22 pt_usb_resolve: no pt_usb_spec, or its size is not one (set .size = sizeof(pt_usb_spec))\n"
	  "larger, unset: 0 046d:c52b, size kept 1, more zeroed 1\nlink of a size_t's size: -22, width 99\nnode device: 0\n"
	  "-22 pt_node_add_device: no pt_node_device, or its size is not one (set .size = sizeof(pt_node_device))\n-22 pt_node_add_device: no pt_node_device, or its size is not one (set .size = sizeof(pt_node_device))\nlarger, unset: 0\n"
	  "get, size 0: -22; 2 devices\n" },
	{ "value-struct-too-big", "inv", value_struct_too_big, "resolve: -7\nnode device: -7, 0 devices\n" },
	{ "outputs-only-on-success", "inv", outputs_only_on_success,
	  "resolve: -2, vendor 1234, port kept\ncheck host: -18, bus 7\nreset: -18, bus 7\n" },
	{ "ids-and-names", "inv", ids_and_names,
	  "pci 01:00.0: 0 0000:01:00.0\npci 0000:01:00: 1 0000:01:00\npci 10000:0a:1f.7: 0 10000:0a:1f.7\n"
	  "pci 01:00.8: -22 \npci 1:00.0: -22 \npci 01:00: 1 0000:01:00\nsmall buffer: -28\nvmid \"100\": 0 100\n"
	  "vmid \"999999999\": 0 999999999\nvmid \"99\": -22 0\nvmid \"0100\": -22 0\nvmid \"1000000000\": -22 0\n"
	  "vmid \"12a\": -22 0\nvmid \"\": -22 0\nvmid valid: 1 1 0 0\nuuid 4b20d080-1b54-4048-85b3-a6a62d165c01: 1\n"
	  "uuid 4B20D080-1B54-4048-85B3-A6A62D165C01: 0\nuuid 4b20d080-1b54-4048-85b3-a6a62d165c0: 0\n"
	  "uuid 4b20d0801b54-4048-85b3-a6a62d165c01-: 0\nuuid NULL: 0\nromfile \"vbios.rom\": 1\n"
	  "romfile \"GP104+mod_1.2-x.bin\": 1\nromfile \".hidden\": 0\nromfile \"../etc/shadow\": 0\nromfile \"a b\": 0\n"
	  "romfile \"\": 0\nq35: 1 1 0 0\nstatus: pass warn fail info; verdict shared; isolation acs-disabled\n" },
	{ "text-cleaning-and-quoting", "inv", text_cleaning_and_quoting,
	  "clean: café \\x1b[31mred\\x7f \\xc2\\x85 \\xff\\xfe tab\\x09here\nwith NUL: a\\x00b\n"
	  "json (25): \"a\\\"b\\\\c\\n\\u0001\\u007fé\"\n"
	  "shell: qm set 100 --description 'it'\\''s a VM' '$(reboot)' '' 'a;b'\n--- /etc/x.conf\n+++ /etc/x.conf\n"
	  "@@ -1,3 +1,4 @@\n a\n-b\n+B\n c\n+d\n--- /dev/null\n+++ /etc/new.conf\n@@ -0,0 +1,1 @@\n+only\n" },
};

int main(int argc, char **argv)
{
	return run_tests(tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
