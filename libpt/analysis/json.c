/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A device as the JSON object of the report (README, "JSON"), written in C: a host with
 * thousands of functions writes thousands of them, and building each as a Lua table first
 * would cost more than the scan.
 */
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libpt-private.h"

struct out {
	char *buf;
	size_t len, cap;
	bool oom;
	bool first;
	bool compact; /* "k":v,"k":v (an explanation inside a device's object) */
};

static void grow(struct out *o, size_t n)
{
	size_t cap = o->cap ? o->cap * 2 : 1024;
	char *b;

	while (cap < o->len + n + 1)
		cap *= 2;
	b = o->oom ? NULL : realloc(o->buf, cap);
	if (!b) {
		o->oom = true;
		return;
	}
	o->buf = b;
	o->cap = cap;
}

static inline void add(struct out *o, const char *s, size_t n)
{
	if (o->len + n + 1 > o->cap)
		grow(o, n);
	if (o->oom)
		return;
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

/* Room for n more bytes (and the NUL); NULL once out of memory. */
static inline char *reserve(struct out *o, size_t n)
{
	if (o->len + n + 1 > o->cap)
		grow(o, n);
	return o->oom ? NULL : o->buf + o->len;
}

static inline void advance(struct out *o, char *end)
{
	o->len = (size_t)(end - o->buf);
	*end = '\0';
}

/*
 * The one JSON escaper, the library's writer's and the Lua encoder's (lua/json.c): len bytes as
 * a quoted string into out (room for 6 * len + 2 bytes): controls, '"', '\\' and DEL escaped,
 * every other byte as it is. Returns the length written.
 */
PT_EXPORT size_t pt_json_quote(char *out, const char *s, size_t len)
{
	static const unsigned char special[256] = { [0 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1, [0x7f] = 1 };
	static const char xdigits[] = "0123456789abcdef";
	char *p = out;
	size_t run = 0;

	*p++ = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!special[c])
			continue;
		memcpy(p, s + run, i - run); /* plain bytes go out in runs */
		p += i - run;
		run = i + 1;
		*p++ = '\\';
		switch (c) {
		case '"': *p++ = '"'; break;
		case '\\': *p++ = '\\'; break;
		case '\n': *p++ = 'n'; break;
		case '\t': *p++ = 't'; break;
		case '\r': *p++ = 'r'; break;
		case '\b': *p++ = 'b'; break;
		case '\f': *p++ = 'f'; break;
		default:
			memcpy(p, "u00", 3);
			p[3] = xdigits[c >> 4];
			p[4] = xdigits[c & 0xf];
			p += 5;
		}
	}
	memcpy(p, s + run, len - run);
	p += len - run;
	*p++ = '"';
	return (size_t)(p - out);
}

static void string(struct out *o, const char *s)
{
	size_t n = strlen(s);
	char *p = reserve(o, 6 * n + 2);

	if (p)
		advance(o, p + pt_json_quote(p, s, n));
}

/* Keys are this file's own literals: nothing to escape. */
static void key(struct out *o, const char *k)
{
	size_t n = strlen(k);
	char *p = reserve(o, n + 6);

	if (!p)
		return;
	if (!o->first) {
		*p++ = ',';
		if (!o->compact)
			*p++ = ' ';
	}
	o->first = false;
	*p++ = '"';
	memcpy(p, k, n);
	p += n;
	memcpy(p, "\": ", 3);
	advance(o, p + (o->compact ? 2 : 3));
}

static void digits(struct out *o, unsigned long long v)
{
	char buf[24], *p = buf + sizeof(buf);
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	add(o, p, (size_t)(buf + sizeof(buf) - p));
}

static void str(struct out *o, const char *k, const char *v)
{
	key(o, k);
	if (v)
		string(o, v);
	else
		add(o, "null", 4);
}

static void hex(struct out *o, const char *k, unsigned long v, int width)
{
	static const char xdigits[] = "0123456789abcdef";
	char buf[10];

	key(o, k);
	buf[0] = buf[width + 1] = '"';
	for (int i = width; i >= 1; i--, v >>= 4)
		buf[i] = xdigits[v & 0xf];
	add(o, buf, (size_t)width + 2);
}

static void integer(struct out *o, const char *k, long long v, bool present)
{
	key(o, k);
	if (!present)
		add(o, "null", 4);
	else if (v < 0) {
		add(o, "-", 1);
		digits(o, (unsigned long long)-v);
	} else
		digits(o, (unsigned long long)v);
}

static void boolean(struct out *o, const char *k, int v)
{
	key(o, k);
	if (v < 0)
		add(o, "null", 4);
	else if (v)
		add(o, "true", 4);
	else
		add(o, "false", 5);
}

static void addresses(struct out *o, const char *k, pt_device *const *list, size_t n)
{
	key(o, k);
	add(o, "[", 1);
	for (size_t i = 0; i < n; i++) {
		if (i)
			add(o, ", ", 2);
		string(o, list[i]->address);
	}
	add(o, "]", 1);
}

/* What a reader of a report should not miss about a device, worked out once. */
static void load_flags(const pt_device *cdev)
{
	pt_device *dev = PT_MUTABLE(pt_device, cdev);
	struct pt_strv flags = { 0 };

	dev->flags_loaded = true;
	if (dev->boot_vga == 1)
		pt_strv_add(&flags, "boot-vga");
	if (pt_device_get_critical_reason(dev))
		pt_strv_addf(&flags, "host-critical: %s", dev->critical_reason);
	if (dev->reset_method && !dev->reset_method[0] && !pt_device_is_bridge(dev))
		pt_strv_add(&flags, "no-reset");
	if (dev->override)
		pt_strv_addf(&flags, "override=%s", dev->override);
	if (dev->physfn)
		pt_strv_addf(&flags, "vf-of=%s", dev->physfn->address);
	if (dev->n_virtfns)
		pt_strv_addf(&flags, "%zu-vfs", dev->n_virtfns);
	dev->flags = flags.v; /* as many as fitted in memory */
	dev->n_flags = flags.n;
}

PT_EXPORT size_t pt_device_get_flag_count(const pt_device *dev)
{
	if (!dev)
		return 0;
	if (!dev->flags_loaded)
		load_flags(dev);
	return dev->n_flags;
}

PT_EXPORT const char *pt_device_get_flag(const pt_device *dev, size_t i)
{
	return i < pt_device_get_flag_count(dev) ? dev->flags[i] : NULL;
}

/* An object in a list: "{" (", {" after the first), its members, then "}". */
static void item_begin(struct out *o, size_t i)
{
	add(o, i ? ", {" : "{", i ? 3 : 1);
	o->first = true;
}

static void item_end(struct out *o)
{
	add(o, "}", 1);
	o->first = false;
}

/* A GPU's resizable BARs: "bar_resizable": {"0": [256, 512, ...]} (MiB), only where the kernel
 * offers resizing. */
static void rebar_json(struct out *o, const pt_device *dev)
{
	bool any = false;

	for (unsigned i = 0; i < 6; i++) {
		uint64_t sizes = pt_device_get_bar_resizable(dev, i);
		if (!sizes)
			continue;
		if (!any) {
			key(o, "bar_resizable");
			add(o, "{", 1);
			o->first = true;
		}
		any = true;
		char k[2] = { (char)('0' + i), '\0' };
		key(o, k);
		add(o, "[", 1);
		bool first = true;
		for (unsigned n = 0; n < 64; n++) {
			if (!(sizes >> n & 1))
				continue;
			if (!first)
				add(o, ", ", 2);
			first = false;
			digits(o, 1ULL << n);
		}
		add(o, "]", 1);
	}
	if (any) {
		add(o, "}", 1);
		o->first = false;
	}
}

/* Only on an mdev parent and an NVIDIA vGPU VF: "mdev_types" and "mdevs", "vgpu_types" and
 * "current_vgpu_type". */
static void mdev_json(struct out *o, const pt_device *dev)
{
	size_t n_types = pt_device_get_mdev_type_count(dev), n_mdevs = pt_device_get_mdev_count(dev);
	size_t n_vgpu = pt_device_get_vgpu_type_count(dev);
	long current = pt_device_get_vgpu_current(dev);
	const pt_mdev_type *types = dev->mdev_types; /* loaded by the counts */
	const pt_mdev *mdevs = dev->mdevs;
	const pt_vgpu_type *vgpu = dev->vgpu_types;

	if (n_types || n_mdevs) {
		key(o, "mdev_types");
		add(o, "[", 1);
		for (size_t i = 0; i < n_types; i++) {
			item_begin(o, i);
			str(o, "type", types[i].type);
			str(o, "name", types[i].name);
			str(o, "description", types[i].description);
			str(o, "device_api", types[i].device_api);
			integer(o, "available_instances", types[i].available_instances,
				types[i].available_instances >= 0);
			item_end(o);
		}
		add(o, "]", 1);
		key(o, "mdevs");
		add(o, "[", 1);
		for (size_t i = 0; i < n_mdevs; i++) {
			item_begin(o, i);
			str(o, "uuid", mdevs[i].uuid);
			str(o, "type", mdevs[i].type);
			item_end(o);
		}
		add(o, "]", 1);
	}
	if (pt_device_has_vgpu(dev)) {
		key(o, "vgpu_types");
		add(o, "[", 1);
		for (size_t i = 0; i < n_vgpu; i++) {
			item_begin(o, i);
			integer(o, "id", vgpu[i].id, true);
			str(o, "name", vgpu[i].name);
			item_end(o);
		}
		add(o, "]", 1);
		integer(o, "current_vgpu_type", current, current >= 0);
	}
}

/* The explanation as the report's "explanation" object, compact. */
static void explain_json(struct out *o, const pt_explain *x)
{
	size_t n;

	key(o, "explanation");
	o->compact = true;
	o->first = true;
	add(o, "{", 1);
	str(o, "isolation", pt_isolation_to_string(pt_explain_get_isolation(x)));
	str(o, "culprit", pt_explain_get_culprit(x) ? pt_device_get_address(pt_explain_get_culprit(x)) : NULL);
	str(o, "reason", pt_explain_get_reason(x));
	key(o, "steps");
	add(o, "[", 1);
	for (size_t i = 0; i < (n = pt_explain_get_step_count(x)); i++) {
		add(o, i ? ",{" : "{", i ? 2 : 1);
		o->first = true;
		str(o, "device", pt_device_get_address(pt_explain_get_step_device(x, i)));
		str(o, "text", pt_explain_get_step_text(x, i));
		add(o, "}", 1);
	}
	add(o, "]", 1);
	o->first = false;
	key(o, "fixes");
	add(o, "[", 1);
	for (size_t i = 0; i < pt_explain_get_fix_count(x); i++) {
		if (i)
			add(o, ",", 1);
		string(o, pt_explain_get_fix(x, i));
	}
	add(o, "]", 1);
	key(o, "slots");
	add(o, "[", 1);
	for (size_t i = 0; i < pt_explain_get_slot_count(x); i++) {
		if (i)
			add(o, ",", 1);
		string(o, pt_device_get_address(pt_explain_get_slot(x, i)));
	}
	add(o, "]}", 2);
	o->compact = false;
}

static char *device_json(const pt_device *dev, const pt_explain *x);

PT_EXPORT char *pt_device_to_json(const pt_device *dev)
{
	return dev ? device_json(dev, NULL) : NULL;
}

PT_EXPORT char *pt_device_to_json_explained(const pt_device *dev, const pt_explain *x)
{
	return dev ? device_json(dev, x) : NULL;
}

static char *device_json(const pt_device *dev, const pt_explain *x)
{
	struct out o = { .first = true };

	add(&o, "{", 1);
	str(&o, "address", dev->address);
	hex(&o, "vendor_id", dev->vendor, 4);
	hex(&o, "device_id", dev->device, 4);
	hex(&o, "subsystem_vendor_id", dev->subvendor, 4);
	hex(&o, "subsystem_device_id", dev->subdevice, 4);
	if (dev->class >= 0)
		hex(&o, "class", (unsigned long)dev->class, 6);
	else
		str(&o, "class", NULL);
	hex(&o, "revision", dev->revision, 2);
	str(&o, "vendor_name", pt_device_get_vendor_name(dev));
	str(&o, "device_name", pt_device_get_device_name(dev));
	str(&o, "class_name", pt_device_get_class_name(dev));
	str(&o, "kind", pt_device_get_kind(dev));
	str(&o, "driver", dev->driver);
	str(&o, "driver_override", dev->override);
	integer(&o, "iommu_group", dev->group ? dev->group->number : 0, dev->group != NULL);
	str(&o, "verdict", pt_verdict_to_string(dev->verdict));
	/* The passthrough set is the group's ("groups"): listed with each member, a report would
	 * grow with the square of a group's size. */
	boolean(&o, "bridge", pt_device_is_bridge(dev));
	integer(&o, "header_type", dev->header_type, dev->header_type >= 0);
	boolean(&o, "multifunction", pt_device_is_multifunction(dev));
	str(&o, "parent", dev->parent ? dev->parent->address : NULL);
	boolean(&o, "boot_vga", dev->boot_vga);
	str(&o, "reset_method", dev->reset_method);
	integer(&o, "numa_node", dev->numa_node, dev->numa_node >= 0);
	str(&o, "physfn", dev->physfn ? dev->physfn->address : NULL);
	addresses(&o, "virtfns", dev->virtfns, dev->n_virtfns);
	integer(&o, "sriov_totalvfs", dev->totalvfs, true);
	key(&o, "bar_sizes");
	add(&o, "[", 1);
	for (unsigned i = 0; i < 6; i++) {
		if (i)
			add(&o, ", ", 2);
		digits(&o, dev->bars[i]);
	}
	add(&o, "]", 1);
	integer(&o, "rom_size", (long long)dev->bars[6], true);
	str(&o, "critical", pt_device_get_critical_reason(dev));
	key(&o, "flags");
	add(&o, "[", 1);
	for (size_t i = 0; i < pt_device_get_flag_count(dev); i++) {
		if (i)
			add(&o, ", ", 2);
		string(&o, dev->flags[i]);
	}
	add(&o, "]", 1);
	if (strcmp(pt_device_get_kind(dev), "gpu") == 0)
		rebar_json(&o, dev);
	mdev_json(&o, dev);
	if (x)
		explain_json(&o, x);
	add(&o, "}", 1);
	if (o.oom) {
		free(o.buf);
		return NULL;
	}
	return o.buf;
}

PT_EXPORT char *pt_group_to_json(const pt_group *g)
{
	struct out o = { .first = true };

	add(&o, "{", 1);
	integer(&o, "number", g->number, true);
	str(&o, "type", g->type);
	addresses(&o, "devices", g->members, g->n_members);
	addresses(&o, "passthrough_set", g->set, g->n_set);
	add(&o, "}", 1);
	if (o.oom) {
		free(o.buf);
		return NULL;
	}
	return o.buf;
}

/* ---- the report's whole document ---- */

static void adds(struct out *o, const char *s)
{
	add(o, s, strlen(s));
}

/* A device's PCIe link as the report's "links" member line; nothing without link attributes. */
static void link_json(struct out *o, const pt_device *dev, bool *first)
{
	pt_link k = PT_INIT(pt_link);
	char *why = NULL;

	if (pt_device_get_link(dev, &k) < 0)
		return;
	int r = pt_device_check_link(dev, &why);
	adds(o, *first ? "\n    " : ",\n    ");
	*first = false;
	string(o, dev->address);
	adds(o, ": {");
	o->first = true;
	integer(o, "width", k.width, true);
	integer(o, "max_width", k.max_width, true);
	integer(o, "speed", k.speed, true);
	integer(o, "max_speed", k.max_speed, true);
	str(o, "state", r == 1 ? "narrow" : r == 2 ? "slow" : r == 0 ? "ok" : "unknown");
	str(o, "why", why);
	adds(o, "}");
	free(why);
}

/* A list member line of the document: text (to free; NULL is out of memory) after ",\n    ". */
static void member(struct out *o, char *text, bool first)
{
	if (!text) {
		o->oom = true;
		return;
	}
	adds(o, first ? "\n    " : ",\n    ");
	add(o, text, strlen(text));
	free(text);
}

PT_EXPORT char *pt_enum_to_json(const pt_enum *e, pt_device *const *devices, size_t n, unsigned flags)
{
	struct out o = { .first = true };
	bool *in_report;

	if (!e || (n && !devices) || (flags & ~(PT_JSON_EXPLAIN | PT_JSON_LINKS)))
		return NULL;
	n = devices ? n : e->n_devices;
	for (size_t i = 0; devices && i < n; i++)
		if (!devices[i] || devices[i]->e != e)
			return NULL; /* a device of another snapshot */
	if (!(in_report = calloc(e->n_groups ? e->n_groups : 1, sizeof(*in_report))))
		return NULL;
	adds(&o, "{\n  ");
	if (e->listing) {
		str(&o, "listing", e->listing);
		adds(&o, ",\n  ");
		o.first = true;
		str(&o, "cannot_show", PT_LISTING_CANNOT_SHOW);
	} else {
		str(&o, "root", pt_ctx_get_root(e->ctx));
	}
	adds(&o, ",\n  \"iommu\": ");
	adds(&o, pt_enum_has_iommu(e) ? "true" : "false");
	adds(&o, ",\n  \"devices\": [");
	for (size_t i = 0; i < n; i++) {
		const pt_device *d = devices ? devices[i] : &e->devices[i];
		pt_explain *x = NULL;
		if (d->group)
			in_report[d->group - e->groups] = true;
		int r = (flags & PT_JSON_EXPLAIN) && d->group && !pt_device_is_bridge(d) ? pt_device_explain(d, &x) : 0;
		if (r == -ENOMEM)
			o.oom = true;
		else if (r < 0) /* the device without its explanation, the reason on the log */
			pt_warn(e->ctx, "%s: no explanation: %s", d->address, pt_ctx_last_error(e->ctx));
		member(&o, x ? pt_device_to_json_explained(d, x) : pt_device_to_json(d), i == 0);
		pt_explain_unref(x);
	}
	adds(&o, n ? "\n  ],\n  \"groups\": [" : "],\n  \"groups\": [");
	bool first = true;
	for (size_t g = 0; g < e->n_groups; g++)
		if (in_report[g]) {
			member(&o, pt_group_to_json(&e->groups[g]), first);
			first = false;
		}
	adds(&o, first ? "],\n  \"warnings\": [" : "\n  ],\n  \"warnings\": [");
	for (size_t i = 0; i < e->n_warnings; i++) {
		adds(&o, i ? ",\n    " : "\n    ");
		string(&o, e->warnings[i]);
	}
	adds(&o, e->n_warnings ? "\n  ]" : "]");
	if (flags & PT_JSON_LINKS) {
		adds(&o, ",\n  \"links\": {");
		first = true;
		for (size_t i = 0; i < n; i++)
			link_json(&o, devices ? devices[i] : &e->devices[i], &first);
		adds(&o, first ? "}" : "\n  }");
	}
	adds(&o, "\n}");
	free(in_report);
	if (o.oom) {
		free(o.buf);
		return NULL;
	}
	return o.buf;
}
