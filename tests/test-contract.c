/*
 * The C contract, in the style of kmod's testsuite: each test is a function with the fixture
 * root it runs on and the output it must write, run by tests/test-contract-common.h's runner.
 * tests/test_contract.py builds the roots (under argv[1], one directory a fixture) and runs this
 * under valgrind; a QEMU QMP socket, when given as argv[2], is the real QEMU the QMP test talks
 * to (its path written "QMP" in the output).
 */
#include <sys/stat.h>

#include "test-contract-common.h"

/* An assignment of the ids (NULL-terminated) for VM vm; NULL when one is refused (said). */
static pt_assignment *assignment(pt_ctx *ctx, pt_enum *e, unsigned vm, unsigned flags, const char *const *ids, FILE *out)
{
	pt_assignment *a = NULL;
	int r = pt_assignment_new(e, vm, flags, &a);

	for (size_t i = 0; r == 0 && ids[i]; i++)
		r = pt_assignment_add(a, ids[i]);
	if (r < 0) {
		said(ctx, r, out);
		return pt_assignment_unref(a);
	}
	return a;
}

/* Proxmox's lines for a device and its passthrough set (forced: PT_ASSIGN_FORCE). */
static int emit_proxmox_device(pt_device *dev, unsigned assign_flags, const pt_emit_opts *o, pt_emission **em)
{
	pt_assignment *a = NULL;
	int r = pt_assignment_new(pt_device_get_enum(dev), 0, assign_flags, &a);

	if (r == 0 && (r = pt_assignment_add_device(a, dev, NULL)) == 0)
		r = pt_emit_proxmox(a, o, em);
	pt_assignment_unref(a);
	return r;
}

/* ---- VM configuration ---- */

static int vmconf_read_keys(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_vmconf *c;
	int r = pt_vmconf_read(ctx, 100, &c);

	if (r < 0)
		return said(ctx, r, out);
	for (size_t i = 0; i < pt_vmconf_get_key_count(c); i++)
		fprintf(out, "%s=%s\n", pt_vmconf_get_key(c, i), pt_vmconf_get(c, pt_vmconf_get_key(c, i)));
	fprintf(out, "description=%s snapshots=%zu:%s next=%d\n", pt_vmconf_get_description(c),
		pt_vmconf_get_snapshot_count(c), pt_vmconf_get_snapshot(c, 0), pt_vmconf_next_free(c, "hostpci", 15, 0));
	for (size_t i = 0; i < pt_vmconf_get_hostpci_count(c); i++)
		fprintf(out, "id %s\n", pt_vmconf_get_hostpci(c, i));
	fprintf(out, "beyond %p, ref same %d, ", (void *)pt_vmconf_get_hostpci(c, 9), pt_vmconf_ref(c) == c);
	pt_vmconf_unref(c);
	fprintf(out, "kept %zu keys\n", pt_vmconf_get_key_count(c));
	pt_vmconf_unref(c);
	fprintf(out, "%d\n", pt_vmconf_read(ctx, 555, &c));
	return 0;
}

static int vmconf_parse_refuses(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_vmconf *c = NULL;
	pt_props *p;

	/* a line qemu-server cannot read is skipped (warned about), as qemu-server skips it; a NUL
	 * byte ends nothing */
	int r = pt_vmconf_parse(ctx, "boot: c\n  indented: no\nempty:\nhostpci0: 01:00\n", "x.conf", &c);
	fprintf(out, "%d: %zu keys, hostpci0 %s\n", r, pt_vmconf_get_key_count(c), pt_vmconf_get(c, "hostpci0"));
	pt_vmconf_unref(c);
	/* the ids of each hostpci line's host=, ';'-joined ones one by one, in the one grammar; one
	 * that is none as it is written; a mapping names none here */
	c = NULL;
	r = pt_vmconf_parse(ctx, "hostpci0: host=01:00.0;0000:02:00.1,pcie=1\nhostpci1: mapping=gpu\nhostpci2: 1:2:3\n"
				 "hostpcix: 05:00\n",
			    "y.conf", &c);
	fprintf(out, "%d: %zu ids:", r, pt_vmconf_get_hostpci_count(c));
	for (size_t i = 0; i < pt_vmconf_get_hostpci_count(c); i++)
		fprintf(out, " %s", pt_vmconf_get_hostpci(c, i));
	fprintf(out, "; of NULL %zu %p\n", pt_vmconf_get_hostpci_count(NULL), (void *)pt_vmconf_get_hostpci(NULL, 0));
	pt_vmconf_unref(c);
	if (pt_props_parse(ctx, "01:00,pcie=1,x-vga=1,pcie=0", "host", &p) < 0)
		return 1;
	for (size_t i = 0; i < pt_props_get_count(p); i++)
		fprintf(out, "%s=%s ", pt_props_get_key(p, i), pt_props_get_value(p, i));
	fprintf(out, "pcie=%s\n", pt_props_get(p, "pcie"));
	fprintf(out, "ref same %d, ", pt_props_ref(p) == p);
	pt_props_unref(p);
	fprintf(out, "kept %zu, unref %p\n", pt_props_get_count(p), (void *)pt_props_unref(NULL));
	pt_props_unref(p);
	said(ctx, pt_props_parse(ctx, "01:00", NULL, &p), out);
	said(ctx, pt_config_value_check(ctx, "storage", "a\nb"), out);
	return 0;
}

/* ---- emitters ---- */

static int emit_proxmox_existing_vm(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_emit_opts o = { .size = sizeof(o), .vm = 100, .primary = "0000:01:00.0" };
	pt_emission *em;
	int r = emit_proxmox_device(device(e, "01:00.0"), 0, &o, &em);

	if (r < 0)
		return said(ctx, r, out);
	print_emission(em, out);
	pt_emission_unref(em);
	return 0;
}

static int emit_proxmox_new_vm(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_emit_opts o = { .size = sizeof(o), .vm = 101, .flags = PT_EMIT_HIDE_KVM };
	pt_emission *em;
	int r = emit_proxmox_device(device(e, "01:00.0"), 0, &o, &em);

	if (r < 0)
		return said(ctx, r, out);
	print_emission(em, out);
	pt_emission_unref(em);
	/* a shared group: every slot of the set; a bad romfile refused, naming it */
	o.flags = PT_EMIT_NO_ROMBAR;
	if ((r = emit_proxmox_device(device(e, "04:01.0"), 0, &o, &em)) < 0)
		return said(ctx, r, out);
	print_emission(em, out);
	pt_emission_unref(em);
	o.romfile = "x,romfile=/etc/shadow";
	em = NULL;
	said(ctx, emit_proxmox_device(device(e, "01:00.0"), 0, &o, &em), out);
	o.romfile = NULL;
	o.vm = 99;
	said(ctx, emit_proxmox_device(device(e, "01:00.0"), 0, &o, &em), out);
	return em != NULL;
}

static int emit_proxmox_legacy_igd(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	/* the IGD is the boot VGA device here: the guard's, so forced (said on the log, in the output) */
	pt_emit_opts o = { .size = sizeof(o), .vm = 101, .flags = PT_EMIT_LEGACY_IGD };
	pt_emission *em;
	int r = emit_proxmox_device(device(e, "00:02.0"), PT_ASSIGN_FORCE, &o, &em);

	if (r < 0)
		return said(ctx, r, out);
	print_emission(em, out);
	pt_emission_unref(em);
	said(ctx, emit_proxmox_device(device(e, "01:00.0"), PT_ASSIGN_FORCE, &o, &em), out);
	return 0;
}

static int emit_proxmox_usb(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_emit_opts o = { .size = sizeof(o), .vm = 100, .flags = PT_EMIT_USB3 };
	pt_usb_spec by_id = { .size = sizeof(pt_usb_spec), .id = "10C4:EA60" };
	pt_usb_spec by_port = { .size = sizeof(pt_usb_spec), .port = "1-2.3" };
	pt_usb_spec bad = { .size = sizeof(pt_usb_spec), .port = "1-2..3" };
	pt_usb_spec halves = { .size = sizeof(pt_usb_spec), .port = "1-2", .peer_port = "2-2" };
	pt_usb_spec bad_peer = { .size = sizeof(pt_usb_spec), .port = "1-2", .peer_port = "2-2,x=1" };
	pt_emission *em;

	if (pt_emit_proxmox_usb(ctx, &by_id, &o, &em) < 0)
		return 1;
	print_emission(em, out);
	pt_emission_unref(em);
	o.flags = 0;
	if (pt_emit_proxmox_usb(ctx, &by_port, &o, &em) < 0)
		return 1;
	print_emission(em, out);
	pt_emission_unref(em);
	said(ctx, pt_emit_proxmox_usb(ctx, &bad, &o, &em), out);
	if (pt_emit_proxmox_usb(ctx, &halves, &o, &em) < 0)
		return 1;
	print_emission(em, out);
	pt_emission_unref(em);
	said(ctx, pt_emit_proxmox_usb(ctx, &bad_peer, &o, &em), out);
	return 0;
}

static int emit_libvirt_and_qemu(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	const char *set[] = { "0000:01:00.1", "0000:01:00.0", NULL };
	pt_usb_spec usb = { .size = sizeof(usb), .id = "046d:c52b" };
	pt_emit_opts o = { .size = sizeof(o), .primary = "0000:01:00.0" };
	pt_emission *em;
	pt_assignment *a = assignment(ctx, e, 0, 0, set, out);

	if (!a || pt_emit_libvirt(ctx, a, &usb, NULL, NULL, &em) < 0)
		return 1;
	print_emission(em, out);
	pt_emission_unref(em);
	if (pt_emit_qemu(ctx, a, &usb, &o, &em) < 0)
		return 1;
	print_emission(em, out);
	pt_emission_unref(em);
	said(ctx, pt_emit_libvirt(ctx, a, NULL, "<bad>", NULL, &em), out);
	pt_assignment_unref(a);
	/* an address that is none is refused where the set is made */
	a = assignment(ctx, e, 0, 0, (const char *[]){ "0000:01:ff.f", NULL }, out);
	return a != NULL;
}

static int emit_mapping_two_nodes(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_node *nodes[2] = { NULL, NULL };
	const char *set[] = { "0000:01:00.0", "0000:01:00.1", NULL };
	pt_node_device bad = { .size = sizeof(bad), .address = "0000:05:00.0", .vendor_id = "10de", .device_id = "1b81",
			       .subsystem_vendor_id = "1458", .subsystem_device_id = "37\n2" };
	pt_emission *em;
	char path[4096];
	int r;

	if (pt_node_new(ctx, "pve1", &nodes[0]) < 0 || pt_node_add_enum(nodes[0], e) < 0 ||
	    pt_node_new(ctx, "pve2", &nodes[1]) < 0)
		return 1;
	snprintf(path, sizeof(path), "%s/pve2.json", pt_ctx_get_root(ctx));
	if ((r = pt_node_read_report(nodes[1], path)) < 0)
		return said(ctx, r, out);
	pt_assignment *a = assignment(ctx, e, 0, 0, set, out);
	if (!a)
		return 1;
	if ((r = pt_emit_mapping(a, "gpu", nodes, 2, 0, &em)) < 0)
		return said(ctx, r, out);
	print_emission(em, out);
	pt_emission_unref(em);
	said(ctx, pt_node_add_device(nodes[1], &bad), out);
	said(ctx, pt_emit_mapping(a, "gpu;x", nodes, 2, 0, &em), out);
	pt_assignment_unref(a);
	pt_node_unref(nodes[0]);
	pt_node_unref(nodes[1]);
	said(ctx, pt_node_new(ctx, "-pve", &nodes[0]), out);
	pt_usb_spec usb = { .size = sizeof(usb), .id = "1cf1:0030" };
	if (pt_emit_usb_mapping(ctx, "zigbee", &usb, (const char *[]){ "pve1", "pve2" }, 2, &em) < 0)
		return 1;
	print_emission(em, out);
	pt_emission_unref(em);
	return 0;
}

static int host_plan(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_host_plan *p;
	const char *set[] = { "0000:03:00.0", NULL };
	pt_assignment *a = assignment(ctx, e, 0, 0, set, out);
	size_t root = strlen(pt_ctx_get_root(ctx));
	int r;

	if (!a)
		return 1;
	if ((r = pt_host_plan_new(a, PT_PLAN_BLACKLIST, "intel", &p)) < 0)
		return said(ctx, r, out);
	for (size_t i = 0; i < pt_host_plan_get_change_count(p); i++) {
		char *diff = pt_host_plan_get_diff(p, i);
		fprintf(out, "%s\n", diff);
		free(diff);
	}
	for (size_t i = 0; i < pt_host_plan_get_command_count(p); i++)
		fprintf(out, "$ %s\n", pt_host_plan_get_command(p, i));
	if ((r = pt_host_plan_apply(p)) < 0)
		return said(ctx, r, out);
	/* each changed file's old text kept beside it (its path under the root, by the time); none
	 * for a file that did not exist */
	for (size_t i = 0; i < pt_host_plan_get_change_count(p); i++) {
		const char *b = pt_host_plan_get_backup(p, i), *path = pt_host_plan_get_path(p, i);
		const char *tail = b && strncmp(b, pt_ctx_get_root(ctx), root) == 0 ? b + root : b;
		size_t n = strlen(path);
		bool named = tail && strncmp(tail, path, n) == 0 && strncmp(tail + n, ".libpt-", 7) == 0 &&
			     strspn(tail + n + 7, "0123456789") == strlen(tail + n + 7) && tail[n + 7];
		struct stat st;
		fprintf(out, "backup of %s: %s\n", path,
			!b ? "none" : named && stat(b, &st) == 0 && (size_t)st.st_size == strlen(pt_host_plan_get_old(p, i)) ?
			"PATH.libpt-TIME, the old file" : b);
	}
	fprintf(out, "beyond %p, ref same %d, ", (void *)pt_host_plan_get_backup(p, 99), pt_host_plan_ref(p) == p);
	pt_host_plan_unref(p);
	fprintf(out, "kept %zu changes\n", pt_host_plan_get_change_count(p));
	pt_host_plan_unref(p);
	/* applied: nothing left to do */
	if (pt_host_plan_new(a, PT_PLAN_BLACKLIST, "intel", &p) < 0)
		return 1;
	fprintf(out, "after: %zu changes\n", pt_host_plan_get_change_count(p));
	pt_host_plan_unref(p);
	pt_assignment_unref(a);
	char *g = pt_grub_with_params("# GRUB_CMDLINE_LINUX_DEFAULT=\"x\"\nGRUB_CMDLINE_LINUX_DEFAULT='quiet'  \n", "quiet iommu=pt");
	fprintf(out, "%s", g);
	free(g);
	return 0;
}

/* ---- analysis ---- */

static int lint_findings(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_lint *l;
	int r = pt_lint_run(e, 0, &l);

	if (r < 0)
		return said(ctx, r, out);
	for (size_t i = 0; i < pt_lint_get_finding_count(l); i++)
		fprintf(out, "%u %s %s: %s\n", pt_lint_get_vm(l, i), pt_lint_get_key(l, i), pt_lint_get_code(l, i),
			pt_lint_get_message(l, i));
	size_t n = pt_lint_get_finding_count(l);
	fprintf(out, "beyond: %u %p %p %p, ref same %d, ", pt_lint_get_vm(l, n), (void *)pt_lint_get_key(l, n),
		(void *)pt_lint_get_code(l, n), (void *)pt_lint_get_message(l, n), pt_lint_ref(l) == l);
	pt_lint_unref(l);
	fprintf(out, "kept %zu\n", pt_lint_get_finding_count(l));
	pt_lint_unref(l);
	if (pt_lint_run(e, 102, &l) < 0)
		return 1;
	fprintf(out, "vm 102: %zu\n", pt_lint_get_finding_count(l));
	pt_lint_unref(l);
	return 0;
}

static int companions_and_usb(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_device *gpu = device(e, "01:00.0");
	pt_usb_resolved res = PT_INIT(pt_usb_resolved);

	for (size_t i = 0; i < pt_device_get_companion_count(gpu); i++)
		fprintf(out, "companion %s\n", pt_device_get_address(pt_device_get_companion(gpu, i)));
	fprintf(out, "of the NIC: %zu\n", pt_device_get_companion_count(device(e, "03:00.0")));
	said(ctx, pt_usb_resolve(ctx, e, &(pt_usb_spec){ .size = sizeof(pt_usb_spec), .id = "10c4:ea60" }, &res), out);
	if (pt_usb_resolve(ctx, e, &(pt_usb_spec){ .size = sizeof(pt_usb_spec), .port = "2-2" }, &res) < 0)
		return 1;
	fprintf(out, "port 2-2: at %s bus %u port %s (peer of %s)\n", res.port, res.bus, res.hostport, res.peer_of);
	if (pt_usb_resolve(ctx, e, &(pt_usb_spec){ .size = sizeof(pt_usb_spec), .serial = "0002" }, &res) < 0)
		return 1;
	fprintf(out, "serial 0002: %s\n", res.port);
	if (pt_usb_resolve(ctx, e, &(pt_usb_spec){ .size = sizeof(pt_usb_spec), .id = "046D:C52B" }, &res) < 0)
		return 1;
	fprintf(out, "id: %04x:%04x %s\n", res.vendor, res.product, res.port[0] ? res.port : "(no port)");
	return 0;
}

static int explain_and_doctor(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_explain *x;
	pt_doctor *d;

	if (pt_device_explain(device(e, "04:00.0"), &x) < 0)
		return 1;
	fprintf(out, "%s at %s\n", pt_isolation_to_string(pt_explain_get_isolation(x)),
		pt_device_get_address(pt_explain_get_culprit(x)));
	pt_explain_unref(x);
	if (pt_doctor_run(e, device(e, "01:00.0"), &d) < 0)
		return 1;
	/* the device's checks are there, each with a status */
	bool group = false;
	for (size_t i = 0; i < pt_doctor_get_check_count(d); i++)
		group = group || strcmp(pt_doctor_get_id(d, i), "group") == 0;
	fprintf(out, "doctor: group check %s\n", group ? "present" : "absent");
	pt_doctor_unref(d);
	return 0;
}

static int txn_dry_run(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_txn *t;
	pt_assignment *a = assignment(ctx, e, 100, 0, (const char *[]){ "03:00.0", NULL }, out);
	int r;

	if (!a)
		return 1;
	if ((r = pt_txn_new_bind(a, PT_TXN_DRY_RUN, &t)) < 0)
		return said(ctx, r, out);
	for (size_t i = 0; i < pt_txn_get_device_count(t); i++)
		fprintf(out, "device %s\n", pt_txn_get_device(t, i));
	/* a dry commit refuses what the commit would: here vfio-pci is not loaded */
	fprintf(out, "commit %d\n", pt_txn_commit(t));
	char drv[4096];
	snprintf(drv, sizeof(drv), "%s/sys/bus/pci/drivers/vfio-pci", pt_ctx_get_root(ctx));
	if (mkdir(drv, 0755) < 0)
		return 1;
	fprintf(out, "commit %d, steps %s\n", pt_txn_commit(t), pt_txn_get_step_count(t) > 3 ? "planned" : "missing");
	rmdir(drv);
	pt_txn_unref(t);
	/* entry points check their arguments */
	fprintf(out, "%d %d %d\n", pt_txn_new_bind(NULL, 0, &t), pt_emit_proxmox(NULL, NULL, NULL),
		pt_txn_new_bind(a, 0, NULL));
	pt_assignment_unref(a);
	return 0;
}

static int qmp_real_qemu(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_qmp *q;
	pt_qmp_usb u = PT_INIT(pt_qmp_usb);
	int r;

	if (test_nargs < 1) {
		fprintf(out, "no QEMU\n");
		return 1;
	}
	test_hide = test_args[0], test_hide_as = "QMP"; /* the socket's path changes from run to run */
	if ((r = pt_qmp_connect_timeout(ctx, test_args[0], 0, 5000, &q)) < 0)
		return said(ctx, r, out);
	if ((r = pt_qmp_query_usb(q)) < 0)
		return said(ctx, r, out);
	fprintf(out, "attached: %d\n", r);
	/* usb-host waits for its device to appear: a port the host lacks is accepted, listed, detached */
	if ((r = pt_qmp_usb_attach(q, "pt-usb-test", &(pt_usb_match){ .size = sizeof(pt_usb_match), .bus = 9, .port = "9" })) < 0)
		return said(ctx, r, out);
	if ((r = pt_qmp_query_usb(q)) < 0)
		return said(ctx, r, out);
	for (size_t i = 0; i < pt_qmp_get_usb_count(q) && pt_qmp_get_usb(q, i, &u) == 0; i++)
		fprintf(out, "%s vendor %04x product %04x bus %u port %s\n", u.id, u.vendor, u.product, u.bus, u.port);
	if ((r = pt_qmp_detach(q, "pt-usb-test")) < 0)
		return said(ctx, r, out);
	said(ctx, pt_qmp_usb_attach(q, "bad id", &(pt_usb_match){ .size = sizeof(pt_usb_match), .vendor = 1, .product = 2 }), out);
	/* a match without its size: refused before QEMU is asked */
	said(ctx, pt_qmp_usb_attach(q, "pt-usb-test", &(pt_usb_match){ .vendor = 1, .product = 2 }), out);
	pt_qmp_unref(q);
	return 0;
}

static const struct test tests[] = {
	{ "vmconf-read-keys", "emit", vmconf_read_keys,
	  "boot=order=scsi0\nhostpci0=03:00.0,pcie=1\nmachine=q35\nbios=ovmf\n"
	  "efidisk0=local-lvm:vm-100-disk-0,efitype=4m,size=4M\n"
	  "description= my VM snapshots=1:snap1 next=1\nid 0000:03:00.0\nbeyond (nil), ref same 1, kept 5 keys\n-2\n" },
	{ "vmconf-parse-refuses", "emit", vmconf_parse_refuses,
	  "log: x.conf:2: cannot parse \"  indented: no\": skipped, as qemu-server skips it\n"
	  "log: x.conf:3: cannot parse \"empty:\": skipped, as qemu-server skips it\n"
	  "0: 2 keys, hostpci0 01:00\n"
	  "0: 3 ids: 0000:01:00.0 0000:02:00.1 1:2:3; of NULL 0 (nil)\nhost=01:00 pcie=1 x-vga=1 pcie=0 pcie=0\nref same 1, kept 4, unref (nil)\n-22 \"01:00\": no key and no default key\n"
	  "-22 storage \"a\\\nb\": newlines, commas, '=', ';' and non-ASCII characters are not allowed\n" },
	{ "emit-proxmox-existing-vm", "emit", emit_proxmox_existing_vm,
	  "hostpci1: 01:00,pcie=1,x-vga=1\ncpu: host\nvga: none\n"
	  "$ qm set 100 --hostpci1 01:00,pcie=1,x-vga=1 --cpu host --vga none\n" },
	{ "emit-proxmox-new-vm", "emit", emit_proxmox_new_vm,
	  "hostpci0: 01:00,pcie=1\nmachine: q35\nbios: ovmf\ncpu: host,hidden=1\n"
	  "# VM 101 has no config on this node (/etc/pve/qemu-server/101.conf): these lines are for a VM still to be created\n"
	  "# efidisk0: allocate it with qm set 101 --efidisk0 local-lvm:1,efitype=4m,pre-enrolled-keys=1\n"
	  "$ qm set 101 --hostpci0 01:00,pcie=1 --machine q35 --bios ovmf --efidisk0 local-lvm:1,efitype=4m,pre-enrolled-keys=1 "
	  "--cpu host,hidden=1\n"
	  "hostpci0: 04:00,pcie=1,rombar=0\nhostpci1: 04:01,pcie=1,rombar=0\nmachine: q35\n"
	  "# VM 101 has no config on this node (/etc/pve/qemu-server/101.conf): these lines are for a VM still to be created\n"
	  "$ qm set 101 --hostpci0 04:00,pcie=1,rombar=0 --hostpci1 04:01,pcie=1,rombar=0 --machine q35\n"
	  "-22 romfile \"x,romfile=/etc/shadow\": newlines, commas, '=', ';' and non-ASCII characters are not allowed\n"
	  "-22 VM id '99': must be 100 to 999999999\n" },
	{ "emit-proxmox-legacy-igd", "emit", emit_proxmox_legacy_igd,
	  "log: 0000:00:02.0: taken although 0000:00:02.0 is host-critical: boot VGA device (boot_vga = 1) (forced)\n"
	  "hostpci0: 0000:00:02.0,legacy-igd=1\nvga: none\n"
	  "# VM 101 has no config on this node (/etc/pve/qemu-server/101.conf): these lines are for a VM still to be created\n"
	  "$ qm set 101 --hostpci0 0000:00:02.0,legacy-igd=1 --vga none\n"
	  "-22 0000:01:00.0: legacy-igd is for Intel's integrated GPU at 0000:00:02.0\n" },
	{ "emit-proxmox-usb", "emit", emit_proxmox_usb,
	  "usb0: host=10c4:ea60,usb3=1\n$ qm set 100 --usb0 host=10c4:ea60,usb3=1\n"
	  "usb0: host=1-2.3\n$ qm set 100 --usb0 host=1-2.3\n"
	  "-22 USB port \"1-2..3\": expected BUS-PORT(.PORT)*, e.g. 1-2.3\n"
	  "usb0: host=1-2\nusb1: host=2-2\n# 1-2 and the line after it are the two halves of one physical port (USB 2 and USB 3): "
	  "a device back at another speed is on the other; QEMU passes whichever is there\n"
	  "$ qm set 100 --usb0 host=1-2 --usb1 host=2-2\n"
	  "-22 USB peer port \"2-2,x=1\": expected BUS-PORT(.PORT)*, e.g. 2-2\n" },
	{ "emit-libvirt-and-qemu", "emit", emit_libvirt_and_qemu,
	  "<hostdev mode='subsystem' type='pci' managed='yes'>\n  <source>\n"
	  "    <address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>\n  </source>\n</hostdev>\n"
	  "<hostdev mode='subsystem' type='pci' managed='yes'>\n  <source>\n"
	  "    <address domain='0x0000' bus='0x01' slot='0x00' function='0x1'/>\n  </source>\n</hostdev>\n"
	  "<hostdev mode='subsystem' type='usb' managed='yes'>\n  <source>\n    <vendor id='0x046d'/>\n"
	  "    <product id='0xc52b'/>\n  </source>\n</hostdev>\n"
	  "-device\npcie-root-port,id=pt-port0,chassis=101,slot=1\n"
	  "-device\nvfio-pci,host=0000:01:00.0,bus=pt-port0,addr=0x0.0,multifunction=on,x-vga=on\n"
	  "-device\nvfio-pci,host=0000:01:00.1,bus=pt-port0,addr=0x0.1\n"
	  "-device\nqemu-xhci,id=pt-xhci\n-device\nusb-host,bus=pt-xhci.0,vendorid=0x046d,productid=0xc52b\n"
	  "$ -device pcie-root-port,id=pt-port0,chassis=101,slot=1 -device "
	  "vfio-pci,host=0000:01:00.0,bus=pt-port0,addr=0x0.0,multifunction=on,x-vga=on -device "
	  "vfio-pci,host=0000:01:00.1,bus=pt-port0,addr=0x0.1 -device qemu-xhci,id=pt-xhci -device "
	  "usb-host,bus=pt-xhci.0,vendorid=0x046d,productid=0xc52b\n"
	  "-22 domain name \"<bad>\": letters, digits, '-', '_', '.'\n"
	  "-22 \"0000:01:ff.f\" is not a PCI address (DDDD:BB:SS.F) or slot (DDDD:BB:SS)\n" },
	{ "emit-mapping-two-nodes", "emit", emit_mapping_two_nodes,
	  "gpu\n\tmap id=10de:1b81,iommugroup=2,node=pve1,path=0000:01:00,subsystem-id=1458:3772\n"
	  "\tmap id=10de:1b81,iommugroup=4,node=pve1,path=0000:02:00,subsystem-id=10de:1b81\n"
	  "\tmap id=10de:1b81,iommugroup=7,node=pve2,path=0000:0a:00,subsystem-id=1458:3772\n"
	  "# in the VM: hostpciN: mapping=gpu,pcie=1\n"
	  "-22 node pve2: device 0000:05:00.0: subsystem_device_id \"37\\\n2\" is not valid\n"
	  "-22 mapping name \"gpu;x\": newlines, commas, '=', ';' and non-ASCII characters are not allowed\n"
	  "-22 node name \"-pve\" is not a host name\n"
	  "zigbee\n\tmap id=1cf1:0030,node=pve1\n\tmap id=1cf1:0030,node=pve2\n# in the VM: usbN: mapping=zigbee\n" },
	{ "host-plan", "emit", host_plan,
	  "--- /dev/null\n+++ /etc/udev/rules.d/61-libpt-vfio.rules\n@@ -0,0 +1,2 @@\n"
	  "+# Written by libpt: driver_override by address, as ids= would take other devices.\n"
	  "+ACTION==\"add\", SUBSYSTEM==\"pci\", KERNEL==\"0000:03:00.0\", ATTR{driver_override}=\"vfio-pci\"\n"
	  "--- /dev/null\n+++ /etc/modprobe.d/libpt-vfio.conf\n@@ -0,0 +1,5 @@\n"
	  "+# Written by libpt: 0000:03:00.0 go to vfio-pci at boot.\n+# Their host drivers: 0000:03:00.0=igb\n"
	  "+softdep igb pre: vfio-pci\n"
	  "+# ids= would also take 0000:03:00.1 (8086:1533): the devices are claimed by address in /etc/udev/rules.d/61-libpt-vfio.rules\n"
	  "+# not blacklisted: igb also drives 0000:03:00.1, which stays on the host (the softdep is enough)\n"
	  "--- /dev/null\n+++ /etc/initramfs-tools/modules\n@@ -0,0 +1,5 @@\n"
	  "+# List of modules that you want to include in your initramfs.\n+vfio\n+vfio_virqfd\n+vfio_iommu_type1\n+vfio_pci\n"
	  "--- /etc/default/grub\n+++ /etc/default/grub\n@@ -1,2 +1,2 @@\n GRUB_DEFAULT=0\n"
	  "-GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n+GRUB_CMDLINE_LINUX_DEFAULT=\"quiet intel_iommu=on iommu=pt\"\n"
	  "$ update-initramfs -u -k all\n$ update-grub\n"
	  "backup of /etc/udev/rules.d/61-libpt-vfio.rules: none\nbackup of /etc/modprobe.d/libpt-vfio.conf: none\n"
	  "backup of /etc/initramfs-tools/modules: none\nbackup of /etc/default/grub: PATH.libpt-TIME, the old file\n"
	  "beyond (nil), ref same 1, kept 4 changes\n"
	  "after: 0 changes\n"
	  "# GRUB_CMDLINE_LINUX_DEFAULT=\"x\"\nGRUB_CMDLINE_LINUX_DEFAULT='quiet iommu=pt'  \n" },
	{ "lint-findings", "emit", lint_findings,
	  "102 hostpci0 pcie-needs-q35: pcie=1 needs machine q35 (machine: i440fx, the default)\n"
	  "102 hostpci0 x-vga-seabios: x-vga=1 with SeaBIOS: a primary GPU wants bios: ovmf (UEFI), as most current cards have no legacy VGA BIOS\n"
	  "102 hostpci1 no-such-device: host 09:00.0: no such PCI device on this host\n"
	  "102 hostpci2 unknown-mapping: mapping nowhere is not in /etc/pve/mapping/pci.cfg\n"
	  "102 usb0 usb-ambiguous: 10c4:ea60 matches 2 devices, at ports 1-2, 1-3: name it by its port instead (host=BUS-PORT, --port)\n"
	  "103 hostpci device-in-two-vms: 0000:01:00.0 is also given to VM 102 (VMs 102, 103)\n"
	  "103 hostpci0 group-incomplete: 0000:01:00.0 shares IOMMU group 2 with 0000:01:00.1, which the VM does not get and snd_hda_intel holds: the VM cannot start\n"
	  "beyond: 0 (nil) (nil) (nil), ref same 1, kept 7\nvm 102: 5\n" },
	{ "companions-and-usb", "emit", companions_and_usb,
	  "companion 0000:01:00.1\nof the NIC: 0\n"
	  "-76 10c4:ea60 matches 2 devices, at ports 1-2, 1-3: name it by its port instead (host=BUS-PORT, --port)\n"
	  "port 2-2: at 1-2 bus 1 port 2 (peer of 2-2)\nserial 0002: 1-3\nid: 046d:c52b (no port)\n" },
	{ "explain-and-doctor", "emit", explain_and_doctor, "no-acs at 0000:00:1b.0\ndoctor: group check present\n" },
	{ "txn-dry-run", "emit", txn_dry_run, "device 0000:03:00.0\ncommit -2\ncommit 0, steps planned\n-22 -22 -22\n" },
	{ "qmp-real-qemu", "emit", qmp_real_qemu,
	  "attached: 0\npt-usb-test vendor 0000 product 0000 bus 9 port 9\n"
	  "-5 QMP: device_add: Parameter 'id' expects an identifier\n"
	  "-22 pt_qmp_usb_attach: no pt_usb_match, or its size is not one (set .size = sizeof(pt_usb_match))\n" },
};

int main(int argc, char **argv)
{
	return run_tests(tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
