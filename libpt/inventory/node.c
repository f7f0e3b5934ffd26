// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The PCI devices of a cluster's nodes, for mappings that hold on every node: this node's from
 * its snapshot, another node's from its report (report.lua --json, read with jansson, or the
 * rows of its published report). Another node's report is input from elsewhere: every field is
 * checked where it enters, and an error names the node, the device and the value.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "libpt-private.h"

static bool is_hex(const char *s, size_t len)
{
	return s && strlen(s) == len && strspn(s, "0123456789abcdefABCDEF") == len;
}


static bool hex_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* "DDDD:BB:SS.F" with 4 or 5 domain digits and a function 0-7, as the kernel names devices. */
static bool address_valid(const char *a)
{
	size_t d = a ? strspn(a, "0123456789abcdefABCDEF") : 0;

	return (d == 4 || d == 5) && a[d] == ':' && hex_digits(a + d + 1, 2) && a[d + 3] == ':' &&
	       hex_digits(a + d + 4, 2) && a[d + 6] == '.' && a[d + 7] >= '0' && a[d + 7] <= '7' && !a[d + 8];
}

/* A host name as Proxmox names nodes: letters, digits, '-' and '.', not starting with either. */
int pt_node_name_check(pt_ctx *ctx, const char *name)
{
	char q[128];
	int r = pt_config_value_check(ctx, "node name", name);

	if (r < 0)
		return r;
	if (!pt_word_valid(name, true, "-."))
		return pt_fail(ctx, -EINVAL, "node name %s is not a host name", pt_quote(q, sizeof(q), name));
	return 0;
}

PT_EXPORT int pt_node_new(pt_ctx *ctx, const char *name, pt_node **ret)
{
	struct pt_node *n;
	int r;

	if (!ctx || !ret)
		return ctx ? pt_fail(ctx, -EINVAL, "pt_node_new: no result") : -EINVAL;
	if ((r = pt_node_name_check(ctx, name)) < 0)
		return r;
	n = calloc(1, sizeof(*n));
	if (!n || !(n->name = strdup(name))) {
		free(n);
		return pt_fail(ctx, -ENOMEM, "out of memory");
	}
	n->refcount = 1;
	n->ctx = pt_ctx_ref(ctx);
	*ret = n;
	return 0;
}

static void destroy_node(pt_node *n)
{
	free(n->devices);
	free(n->name);
	pt_enum_unref(n->e);
	pt_ctx_unref(n->ctx);
	free(n);
}

PT_DEFINE_REFCOUNT(pt_node, destroy_node)

PT_EXPORT const char *pt_node_get_name(const pt_node *n)
{
	return n ? n->name : NULL;
}

PT_EXPORT pt_ctx *pt_node_get_context(const pt_node *n)
{
	return n ? n->ctx : NULL;
}

PT_EXPORT size_t pt_node_get_device_count(const pt_node *n)
{
	return n ? n->n_devices : 0;
}

static int bad(pt_node *n, const pt_node_device *d, const char *what, const char *value)
{
	char q[160];

	return pt_fail(n->ctx, -EINVAL, "node %s: device %s: %s %s is not valid", n->name,
		       d->address ? d->address : "nil", what, pt_quote(q, sizeof(q), value ? value : "nil"));
}

static int hex16(const char *s, uint16_t *ret)
{
	unsigned long long v;
	int r = pt_parse_hex(s, 0xffff, &v);
	*ret = (uint16_t)v;
	return r;
}

PT_EXPORT int pt_node_add_device(pt_node *n, const pt_node_device *dev)
{
	pt_node_device copy = { 0 };
	int sr = dev ? PT_STRUCT_IN(&copy, dev) : -EINVAL;
	const pt_node_device *d = &copy;
	struct pt_node_dev nd = { 0 };
	const char *const ids[] = { d ? d->vendor_id : NULL, d ? d->device_id : NULL,
				    d ? d->subsystem_vendor_id : NULL, d ? d->subsystem_device_id : NULL };
	static const char *const names[] = { "vendor_id", "device_id", "subsystem_vendor_id", "subsystem_device_id" };
	uint16_t *const fields[] = { &nd.vendor, &nd.device, &nd.subvendor, &nd.subdevice };
	unsigned long long group;

	if (!n)
		return -EINVAL;
	if (sr < 0)
		return pt_struct_fail(n->ctx, sr, "pt_node_add_device", "pt_node_device");
	if (!address_valid(d->address))
		return bad(n, d, "address", d->address);
	for (size_t i = 0; i < 4; i++)
		if (!is_hex(ids[i], 4) || hex16(ids[i], fields[i]) < 0)
			return bad(n, d, names[i], ids[i]);
	nd.group = -1;
	if (d->iommu_group) {
		if (!*d->iommu_group || strspn(d->iommu_group, "0123456789") != strlen(d->iommu_group) ||
		    pt_parse_uint(d->iommu_group, 0x7fffffff, &group) < 0)
			return bad(n, d, "iommu_group", d->iommu_group);
		nd.group = (long)group;
	}
	if (d->physfn && !address_valid(d->physfn))
		return bad(n, d, "physfn", d->physfn);
	snprintf(nd.address, sizeof(nd.address), "%s", d->address);
	nd.is_vf = d->physfn != NULL;
	for (size_t i = 0; i < 4; i++)
		snprintf(nd.ids[i], sizeof(nd.ids[i]), "%04x", *fields[i]);
	snprintf(nd.group_text, sizeof(nd.group_text), "%ld", nd.group);
	snprintf(nd.physfn, sizeof(nd.physfn), "%s", d->physfn ? d->physfn : "");
	if (n->n_devices == n->cap) {
		size_t cap = n->cap ? 2 * n->cap : 64;
		struct pt_node_dev *v = realloc(n->devices, cap * sizeof(*v));
		if (!v)
			return pt_fail(n->ctx, -ENOMEM, "out of memory");
		n->devices = v;
		n->cap = cap;
	}
	n->devices[n->n_devices++] = nd;
	return 0;
}

PT_EXPORT int pt_node_add_enum(pt_node *n, pt_enum *e)
{
	if (!n || !e)
		return n ? pt_fail(n->ctx, -EINVAL, "pt_node_add_enum: no snapshot") : -EINVAL;
	if (!n->e)
		n->e = pt_enum_ref(e);
	for (size_t i = 0; i < e->n_devices; i++) {
		const pt_device *dev = &e->devices[i];
		char ids[4][8], group[24];
		pt_node_device d = {
			.size = sizeof(d),
			.address = dev->address,
			.vendor_id = ids[0], .device_id = ids[1],
			.subsystem_vendor_id = ids[2], .subsystem_device_id = ids[3],
			.iommu_group = dev->group_number >= 0 ? group : NULL,
			.physfn = dev->physfn ? dev->physfn->address : NULL,
		};
		snprintf(ids[0], 8, "%04x", dev->vendor);
		snprintf(ids[1], 8, "%04x", dev->device);
		snprintf(ids[2], 8, "%04x", dev->subvendor);
		snprintf(ids[3], 8, "%04x", dev->subdevice);
		snprintf(group, sizeof(group), "%ld", dev->group_number);
		int r = pt_node_add_device(n, &d);
		if (r < 0)
			return r;
	}
	return 0;
}

/* A report's string field, or its number as text (then not valid where a string is wanted). */
static const char *field(json_t *obj, const char *key, char *buf, size_t size)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return NULL;
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v))
		snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else
		snprintf(buf, size, "%s", json_is_true(v) ? "true" : json_is_false(v) ? "false" : "(not a value)");
	return buf;
}

/* The largest report read: report.lua --json of 16384 functions is ~25 MiB. */
#define REPORT_MAX (64u << 20)

static int read_report(pt_node *n, const char *file)
{
	json_error_t error;
	json_t *report, *devices;
	struct stat st;
	FILE *f;
	int fd, r = 0;

	if (!n || !file)
		return n ? pt_fail(n->ctx, -EINVAL, "pt_node_read_report: no file") : -EINVAL;
	/* the admin's file: a regular one (a FIFO would block), of a sane size */
	fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return pt_fail(n->ctx, -errno, "%s: %s", file, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > REPORT_MAX) {
		close(fd);
		return pt_fail(n->ctx, -EINVAL, "%s: not a report (a regular file under 64 MiB)", file);
	}
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return pt_fail(n->ctx, -ENOMEM, "out of memory");
	}
	report = json_loadf(f, JSON_REJECT_DUPLICATES, &error);
	fclose(f);
	if (!report) {
		char q[256]; /* jansson's text quotes the input near the error: bytes from elsewhere */
		return pt_fail(n->ctx, -EINVAL, "%s: json: %s (line %d, column %d)", file, pt_quote(q, sizeof(q), error.text),
			       error.line, error.column);
	}
	devices = json_object_get(report, "devices");
	if (!json_is_object(report) || !json_is_array(devices)) {
		json_decref(report);
		return pt_fail(n->ctx, -EINVAL, "%s: not a report (ptlua scripts/report.lua --json)", file);
	}
	for (size_t i = 0; i < json_array_size(devices) && r == 0; i++) {
		json_t *d = json_array_get(devices, i);
		char b[6][64];
		pt_node_device nd = {
			.size = sizeof(nd),
			.address = field(d, "address", b[0], 64),
			.vendor_id = field(d, "vendor_id", b[1], 64),
			.device_id = field(d, "device_id", b[2], 64),
			.subsystem_vendor_id = field(d, "subsystem_vendor_id", b[3], 64),
			.subsystem_device_id = field(d, "subsystem_device_id", b[4], 64),
			.physfn = field(d, "physfn", b[5], 64),
		};
		char group[64];
		json_t *g = json_object_get(d, "iommu_group");
		nd.iommu_group = !g || json_is_null(g) ? NULL
				 : json_is_integer(g)	? (snprintf(group, sizeof(group), "%" JSON_INTEGER_FORMAT,
								     json_integer_value(g)), group)
							: "(not an integer)";
		if (!json_is_object(d))
			r = pt_fail(n->ctx, -EINVAL, "%s: device %zu is not an object", file, i + 1);
		else
			r = pt_node_add_device(n, &nd);
	}
	json_decref(report);
	return r;
}

PT_EXPORT int pt_node_get_device(const pt_node *n, size_t i, pt_node_device *out)
{
	if (!n || i >= n->n_devices)
		return -ENOENT;
	const struct pt_node_dev *d = &n->devices[i];
	pt_node_device nd = {
		.size = sizeof(nd),
		.address = d->address,
		.vendor_id = d->ids[0], .device_id = d->ids[1],
		.subsystem_vendor_id = d->ids[2], .subsystem_device_id = d->ids[3],
		.iommu_group = d->group >= 0 ? d->group_text : NULL,
		.physfn = d->physfn[0] ? d->physfn : NULL,
	};
	return PT_STRUCT_OUT(out, &nd);
}

/* The published report's columns, in their order (report.lua --publish). */
static const char *const COLUMNS[] = { "address", "vendor_id", "device_id", "subsystem_vendor_id",
				       "subsystem_device_id", "iommu_group", "physfn", "class" };
#define PUBLISHED_MAX (1u << 20) /* pmxcfs holds files under 1 MiB */
#define YEAR_2000 946684800LL

/* One row's string column, or NULL for null; -EINVAL text for anything else. */
static const char *column(json_t *row, size_t c, bool nullable, bool *bad)
{
	json_t *v = json_array_get(row, c);
	if (nullable && json_is_null(v))
		return NULL;
	if (!json_is_string(v)) {
		*bad = true;
		return NULL;
	}
	return json_string_value(v);
}

static int read_published(pt_node *n, const char *path, long long *time_ret)
{
	json_error_t error;
	json_t *r, *v;
	char *text = NULL, q[160];
	size_t len;
	int ret = 0;

	if (!n || !path || !time_ret)
		return n ? pt_fail(n->ctx, -EINVAL, "pt_node_read_published: no file") : -EINVAL;
	if ((ret = pt_read_in_root(n->ctx, path, PUBLISHED_MAX, &text, &len)) < 0)
		return ret == -ENOENT ? -ENOENT : pt_fail(n->ctx, ret, "%s%s: %s", n->ctx->root, path, strerror(-ret));
	/* strict: duplicate keys refused (a later "devices": [] cannot empty a node), no NUL in a string */
	r = json_loadb(text, len, JSON_REJECT_DUPLICATES, &error);
	free(text);
	if (!r)
		return pt_fail(n->ctx, -EINVAL, "%s%s: not JSON: %s (line %d, column %d)", n->ctx->root, path,
			       pt_quote(q, sizeof(q), error.text), error.line, error.column);
	const char *where = path;
	json_int_t t = json_integer_value(json_object_get(r, "time"));
	v = json_object_get(r, "node");
	if (!json_is_object(r) || json_integer_value(json_object_get(r, "libpt")) != 1 ||
	    !json_is_integer(json_object_get(r, "libpt")))
		ret = pt_fail(n->ctx, -EINVAL, "%s%s: not a libpt node report of format 1", n->ctx->root, where);
	else if (!json_is_string(v) || strcmp(json_string_value(v), n->name))
		ret = pt_fail(n->ctx, -EINVAL, "%s%s: the report of node %s lies under node %s", n->ctx->root, where,
			      pt_quote(q, sizeof(q), json_is_string(v) ? json_string_value(v) : "(not a name)"), n->name);
	else if (!json_is_integer(json_object_get(r, "time")) || t < YEAR_2000 || t > (json_int_t)time(NULL) + 86400)
		ret = pt_fail(n->ctx, -EINVAL, "%s%s: time is not a time of this century up to now", n->ctx->root, where);
	if (ret == 0) {
		json_t *cols = json_object_get(r, "columns");
		bool same = json_is_array(cols) && json_array_size(cols) == sizeof(COLUMNS) / sizeof(*COLUMNS);
		for (size_t c = 0; same && c < json_array_size(cols); c++)
			same = json_is_string(json_array_get(cols, c)) &&
			       strcmp(json_string_value(json_array_get(cols, c)), COLUMNS[c]) == 0;
		if (!same)
			ret = pt_fail(n->ctx, -EINVAL, "%s%s: the columns are not address, vendor_id, device_id, "
				      "subsystem_vendor_id, subsystem_device_id, iommu_group, physfn, class", n->ctx->root, where);
	}
	json_t *rows = json_object_get(r, "devices");
	if (ret == 0 && !json_is_array(rows))
		ret = pt_fail(n->ctx, -EINVAL, "%s%s: no devices", n->ctx->root, where);
	for (size_t i = 0; ret == 0 && i < json_array_size(rows); i++) {
		json_t *row = json_array_get(rows, i);
		bool bad = !json_is_array(row) || json_array_size(row) != sizeof(COLUMNS) / sizeof(*COLUMNS);
		char group[32];
		pt_node_device d = PT_INIT(pt_node_device);
		if (!bad) {
			d.address = column(row, 0, false, &bad);
			d.vendor_id = column(row, 1, false, &bad);
			d.device_id = column(row, 2, false, &bad);
			d.subsystem_vendor_id = column(row, 3, false, &bad);
			d.subsystem_device_id = column(row, 4, false, &bad);
			json_t *g = json_array_get(row, 5);
			if (json_is_integer(g) && json_integer_value(g) >= 0 && json_integer_value(g) <= 0x7fffffff)
				snprintf(group, sizeof(group), "%" JSON_INTEGER_FORMAT, json_integer_value(g)), d.iommu_group = group;
			else if (!json_is_null(g))
				bad = true;
			d.physfn = column(row, 6, true, &bad);
			const char *class = column(row, 7, true, &bad);
			if (class && (strlen(class) != 6 || strspn(class, "0123456789abcdefABCDEF") != 6))
				bad = true;
		}
		if (bad)
			ret = pt_fail(n->ctx, -EINVAL, "%s%s: device %zu is not a row of the columns' kinds", n->ctx->root, where,
				      i + 1);
		else
			ret = pt_node_add_device(n, &d);
	}
	json_decref(r);
	if (ret == 0)
		*time_ret = (long long)t;
	return ret;
}

/* A report read whole or not at all: a refused one leaves the node's devices as they were. */
PT_EXPORT int pt_node_read_report(pt_node *n, const char *file)
{
	size_t before = n ? n->n_devices : 0;
	int r = read_report(n, file);
	if (r < 0 && n)
		n->n_devices = before;
	return r;
}

PT_EXPORT int pt_node_read_published(pt_node *n, const char *path, long long *time_ret)
{
	size_t before = n ? n->n_devices : 0;
	int r = read_published(n, path, time_ret);
	if (r < 0 && n)
		n->n_devices = before;
	return r;
}

/* "%04x", "%06x" as a JSON string. */
static json_t *hex(unsigned long v, int digits)
{
	char buf[16];
	snprintf(buf, sizeof(buf), "%0*lx", digits, v);
	return json_string(buf);
}

PT_EXPORT int pt_node_publish(pt_node *n, long long time, size_t *size_ret)
{
	char path[PATH_MAX];
	json_t *rows, *r;
	int ret = 0;

	if (!n || !n->e)
		return n ? pt_fail(n->ctx, -EINVAL, "node %s: no snapshot to publish", n->name) : -EINVAL;
	if (n->e->partial || n->e->listing)
		return pt_fail(n->ctx, -EINVAL, "node %s: %s is not this node's whole report", n->name,
			       n->e->listing ? "a listing" : "a scan of some devices");
	r = json_object();
	rows = json_array();
	json_t *columns = json_array();
	if (!r || !rows || !columns) {
		json_decref(r);
		json_decref(rows);
		json_decref(columns);
		return -ENOMEM;
	}
	for (size_t c = 0; c < sizeof(COLUMNS) / sizeof(*COLUMNS); c++)
		json_array_append_new(columns, json_string(COLUMNS[c]));
	json_object_set_new(r, "libpt", json_integer(1));
	json_object_set_new(r, "node", json_string(n->name));
	json_object_set_new(r, "time", json_integer(time));
	json_object_set_new(r, "columns", columns);
	for (size_t i = 0; i < n->e->n_devices; i++) {
		const pt_device *d = &n->e->devices[i];
		json_t *row = json_array();
		if (!row) {
			ret = -ENOMEM;
			break;
		}
		json_array_append_new(row, json_string(d->address));
		json_array_append_new(row, hex(d->vendor, 4));
		json_array_append_new(row, hex(d->device, 4));
		json_array_append_new(row, hex(d->subvendor, 4));
		json_array_append_new(row, hex(d->subdevice, 4));
		json_array_append_new(row, d->group_number >= 0 ? json_integer(d->group_number) : json_null());
		json_array_append_new(row, d->physfn ? json_string(d->physfn->address) : json_null());
		json_array_append_new(row, d->class >= 0 ? hex((unsigned long)d->class, 6) : json_null());
		json_array_append_new(rows, row);
	}
	json_object_set_new(r, "devices", rows);
	char *text = ret == 0 ? json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(r);
	if (!text)
		return -ENOMEM;
	size_t len = strlen(text);
	snprintf(path, sizeof(path), "/etc/pve/nodes/%s/libpt.json", n->name);
	if (len + 1 >= PUBLISHED_MAX)
		ret = pt_fail(n->ctx, -EFBIG, "the report of node %s is %zu bytes: pmxcfs takes files under %u", n->name,
			      len + 1, PUBLISHED_MAX);
	else {
		char *line = realloc(text, len + 2);
		if (!line)
			ret = -ENOMEM;
		else {
			text = line;
			memcpy(text + len, "\n", 2);
			ret = pt_ctx_write_file(n->ctx, path, text, 0, NULL);
		}
	}
	free(text);
	if (ret == 0 && size_ret)
		*size_ret = len + 1;
	return ret;
}
