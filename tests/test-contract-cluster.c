/*
 * The C contract, cluster nodes: a node's reports (published under /etc/pve/nodes, and
 * report.lua --json), refusals naming the file and the value, this node's report published and
 * read back, and Proxmox's section configs. Rows of tests/test-contract-common.h on the homelab
 * host (tests/homelab.spec) as node pve1 of a cluster, built by tests/test_ccontract.py.
 */
#include <time.h>

#include "test-contract-common.h"

/* ---- cluster nodes ---- */

static int node_reports(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_node *n = NULL;
	pt_node_device d = PT_INIT(pt_node_device);
	char path[8192];
	long long when = 0;

	if (pt_node_new(ctx, "pve2", &n) < 0)
		return 1;
	fprintf(out, "%s, context %d, %zu devices\n", pt_node_get_name(n), pt_node_get_context(n) == ctx,
		pt_node_get_device_count(n));
	int r = pt_node_read_published(n, "/etc/pve/nodes/pve2/libpt.json", &when);
	if (r < 0)
		return said(ctx, r, out);
	fprintf(out, "published a minute ago %d, %zu devices\n", when > 946684800LL && when <= (long long)time(NULL) - 60,
		pt_node_get_device_count(n));
	for (size_t i = 0; pt_node_get_device(n, i, &d) == 0; i++)
		fprintf(out, "%s %s:%s sub %s:%s group %s physfn %s\n", d.address, d.vendor_id, d.device_id,
			d.subsystem_vendor_id, d.subsystem_device_id, d.iommu_group ? d.iommu_group : "-",
			d.physfn ? d.physfn : "-");
	fprintf(out, "device 9: %d\n", pt_node_get_device(n, 9, &d));
	/* a reference kept past the creator's */
	fprintf(out, "ref same %d, ", pt_node_ref(n) == n);
	pt_node_unref(n);
	fprintf(out, "kept %s with %zu devices\n", pt_node_get_name(n), pt_node_get_device_count(n));
	pt_node_unref(n);
	/* refusals name the file and the value */
	const char *bad[] = { "/etc/pve/nodes/pve3/libpt.json", "/etc/pve/nodes/pve4/libpt.json",
			      "/etc/pve/nodes/pve5/libpt.json", "/etc/pve/nodes/pve6/libpt.json" };
	const char *names[] = { "pve3", "pve9", "pve5", "pve6" };
	for (size_t i = 0; i < 4; i++) {
		if (pt_node_new(ctx, names[i], &n) < 0)
			return 1;
		said(ctx, pt_node_read_published(n, bad[i], &when), out);
		/* (a refused report's rows before the bad one stay added: not asserted, see the report) */
		if (i > 0)
			fprintf(out, "  %zu devices kept\n", pt_node_get_device_count(n));
		pt_node_unref(n);
	}
	if (pt_node_new(ctx, "pve7", &n) < 0)
		return 1;
	fprintf(out, "none published: %d\n", pt_node_read_published(n, "/etc/pve/nodes/pve7/libpt.json", &when));
	snprintf(path, sizeof(path), "%s/pve2-report.json", pt_ctx_get_root(ctx));
	int got = pt_node_read_report(n, path);
	fprintf(out, "report: %d, %zu devices\n", got, pt_node_get_device_count(n));
	pt_node_unref(n);
	pt_node_unref(NULL);
	return 0;
}

/* ---- Proxmox's section configs, and this node's report published ---- */

static int pve_config_sections(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	const char *files[] = { "/etc/pve/storage.cfg", "/etc/pve/mapping/pci.cfg" };
	pt_pve_config *c = NULL;
	size_t at = 0;
	int r;

	for (size_t f = 0; f < 2; f++) {
		if ((r = pt_pve_config_read(ctx, files[f], &c)) < 0)
			return said(ctx, r, out);
		fprintf(out, "%s: %zu sections\n", files[f], pt_pve_config_get_section_count(c));
		for (size_t i = 0; i < pt_pve_config_get_section_count(c); i++) {
			const char *type = pt_pve_config_get_type(c, i);
			fprintf(out, "[%s] %s:", type ? type : "(none)", pt_pve_config_get_id(c, i));
			for (size_t j = 0; j < pt_pve_config_get_property_count(c, i); j++)
				fprintf(out, " %s=%s", pt_pve_config_get_key(c, i, j), pt_pve_config_get_value(c, i, j));
			fputc('\n', out);
		}
		fprintf(out, "past the end: %p %p %zu %p\n", (void *)pt_pve_config_get_id(c, 99),
			(void *)pt_pve_config_get_key(c, 0, 99), pt_pve_config_get_property_count(c, 99),
			(void *)pt_pve_config_get_value(c, 99, 0));
		r = pt_pve_config_find(c, f ? "hba" : "local", &at);
		fprintf(out, "find: %d at %zu; ", r, at);
		fprintf(out, "nowhere: %d\n", pt_pve_config_find(c, "nowhere", &at));
		fprintf(out, "ref same %d, ", pt_pve_config_ref(c) == c);
		pt_pve_config_unref(c);
		fprintf(out, "kept %s\n", pt_pve_config_get_id(c, 0));
		pt_pve_config_unref(c);
		c = NULL;
	}
	r = pt_pve_config_read(ctx, "/etc/pve/mapping/usb.cfg", &c);
	said(ctx, r, out);
	r = pt_pve_config_read(ctx, "/etc/shadow", &c);
	said(ctx, r, out);
	pt_pve_config_unref(NULL);
	return c != NULL;
}

static int node_publish_round_trip(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_node *n = NULL, *back = NULL;
	pt_node_device a = PT_INIT(pt_node_device), b = PT_INIT(pt_node_device);
	long long now = (long long)time(NULL) - 10, when = 0;
	size_t size = 0;
	int r;

	if (pt_node_new(ctx, "pve1", &n) < 0)
		return 1;
	r = pt_node_publish(n, now, &size);
	said(ctx, r, out);
	if (pt_node_add_enum(n, e) < 0)
		return 1;
	if ((r = pt_node_publish(n, now, &size)) < 0)
		return said(ctx, r, out);
	if (pt_node_new(ctx, "pve1", &back) < 0)
		return 1;
	if ((r = pt_node_read_published(back, "/etc/pve/nodes/pve1/libpt.json", &when)) < 0)
		return said(ctx, r, out);
	bool same = pt_node_get_device_count(back) == pt_node_get_device_count(n);
	for (size_t i = 0; same && i < pt_node_get_device_count(n); i++) {
		pt_node_get_device(n, i, &a);
		pt_node_get_device(back, i, &b);
		same = strcmp(a.address, b.address) == 0 && strcmp(a.subsystem_device_id, b.subsystem_device_id) == 0 &&
		       (a.iommu_group ? b.iommu_group && strcmp(a.iommu_group, b.iommu_group) == 0 : !b.iommu_group);
	}
	fprintf(out, "published (its size given: %d), read back: %zu devices, the same %d, at the time given %d\n", size > 0,
		pt_node_get_device_count(back), same, when == now);
	pt_node_unref(n);
	pt_node_unref(back);
	return 0;
}

static const struct test tests[] = {
	{ "node-reports", "homelab", node_reports,
	  "pve2, context 1, 0 devices\npublished a minute ago 1, 3 devices\n"
	  "0000:0a:00.0 10de:2484 sub 10de:146b group 7 physfn -\n"
	  "0000:0a:00.1 10de:228b sub 10de:146b group 7 physfn -\n"
	  "0000:0b:10.0 8086:1520 sub 8086:1520 group - physfn 0000:0b:00.0\ndevice 9: -2\n"
	  "ref same 1, kept pve2 with 3 devices\n"
	  "-22 ROOT/etc/pve/nodes/pve3/libpt.json: device 2 is not a row of the columns' kinds\n"
	  "-22 ROOT/etc/pve/nodes/pve4/libpt.json: the report of node \"pve2\" lies under node pve9\n"
	  "  0 devices kept\n"
	  "-22 ROOT/etc/pve/nodes/pve5/libpt.json: time is not a time of this century up to now\n"
	  "  0 devices kept\n"
	  "-22 ROOT/etc/pve/nodes/pve6/libpt.json: not JSON: \"duplicate object key near '\\\"libpt\\\"'\" (line 1, column 20)\n"
	  "  0 devices kept\nnone published: -2\nreport: 0, 1 devices\n" },
	{ "pve-config-sections", "homelab", pve_config_sections,
	  "/etc/pve/storage.cfg: 2 sections\n[dir] local: path=/var/lib/vz content=iso,vztmpl,backup,snippets\n"
	  "[zfspool] local-zfs: pool=rpool/data sparse= content=images,rootdir\n"
	  "past the end: (nil) (nil) 0 (nil)\nfind: 0 at 0; nowhere: -2\nref same 1, kept local\n"
	  "/etc/pve/mapping/pci.cfg: 1 sections\n"
	  "[(none)] hba: map=id=1000:0097,node=pve1,path=0000:03:00.0 map=id=1000:0097,node=pve2,path=0000:09:00.0\n"
	  "past the end: (nil) (nil) 0 (nil)\nfind: 0 at 0; nowhere: -2\nref same 1, kept hba\n"
	  "-2 ROOT/etc/pve/mapping/usb.cfg: No such file or directory\n"
	  "-22 /etc/shadow: not a Proxmox config file under /etc/pve\n" },
	{ "node-publish-round-trip", "homelab", node_publish_round_trip,
	  "-22 node pve1: no snapshot to publish\n"
	  "published (its size given: 1), read back: 23 devices, the same 1, at the time given 1\n" },
};

int main(int argc, char **argv)
{
	return run_tests(tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
