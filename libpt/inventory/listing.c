/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A posted IOMMU group listing read as a host, so a board can be judged before it is bought:
 * the formats people post, each line a device of a group,
 *
 *   IOMMU Group 1 01:00.0 VGA compatible controller [0300]: NVIDIA ... [10de:1b81] (rev a1)
 *   IOMMU group 1                                  (the group on its own line, devices under it,
 *       01:00.0 VGA compatible controller [0300]: ...    as `lspci -nns` prints them; a "(N)"
 *       Kernel driver in use: nouveau                     before the address, -k's driver lines)
 *   Group 1:  [10de:1b81] [R] 01:00.0  VGA compatible controller  GP104 ...   (ls-iommu)
 *
 * made into a snapshot of devices and groups that the host's analysis takes as it is: verdicts,
 * passthrough sets, names, kinds. What a listing does not say stays unknown: the topology
 * behind bridges (no device has a parent), ACS and the rest of config space, boot VGA, NUMA,
 * BARs, drivers where it names none, reset methods (ls-iommu's [R] says "flr", its absence
 * none). The snapshot's context has a root with nothing in it: nothing of this machine's is
 * ever read for a listing's devices.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pci/pci.h>

#include "libpt-private.h"

struct line_device {
	uint64_t key;
	uint16_t vendor, device;
	int32_t class;
	uint8_t revision;
	long group;
	char *driver, *reset_method;
	unsigned line;
};

struct listing {
	pt_ctx *ctx; /* the caller's, for messages */
	const char *source;
	struct line_device *devices;
	size_t n, cap;
	pt_ctx *lctx; /* the snapshot's, rooted nowhere */
	bool classes_read;
	char **class_names; /* libpci's subclass names and their codes */
	unsigned *class_codes;
	size_t n_classes;
};

static bool hex_n(const char *p, size_t n, unsigned long *v)
{
	char buf[9];
	if (n > 8)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)p[i]))
			return false;
	memcpy(buf, p, n);
	buf[n] = '\0';
	*v = strtoul(buf, NULL, 16);
	return true;
}

/* "IOMMU Group N", "group N:", "Group N:" (any case) at the line's start: N, and where the rest
 * of the line begins. */
static bool group_prefix(const char *line, long *group, const char **rest)
{
	const char *p = line + strspn(line, " \t");
	if (strncasecmp(p, "iommu", 5) == 0 && (p[5] == ' ' || p[5] == '\t'))
		p += 5 + strspn(p + 5, " \t");
	if (strncasecmp(p, "group", 5) != 0 || (p[5] != ' ' && p[5] != '\t'))
		return false;
	p += 5 + strspn(p + 5, " \t");
	if (!isdigit((unsigned char)*p))
		return false;
	char *end;
	long n = strtol(p, &end, 10);
	if (n < 0 || n > 0x7fffffff || (*end && *end != ':' && *end != ' ' && *end != '\t'))
		return false;
	p = end + strspn(end, " \t");
	if (*p == ':')
		p++;
	*group = n;
	*rest = p + strspn(p, " \t");
	return true;
}

/* An address at p ("01:00.0", "0000:01:00.0"), up to white space: its key and its end. */
static bool address_at(const char *p, uint64_t *key, const char **end)
{
	size_t n = strcspn(p, " \t");
	char buf[PT_ADDR_MAX];
	if (n >= sizeof(buf))
		return false;
	memcpy(buf, p, n);
	buf[n] = '\0';
	if (pt_address_parse(buf, key) < 0)
		return false;
	*end = p + n;
	return true;
}

/* lspci -nns: "ADDR CLASS NAME [cccc]: NAME [vvvv:dddd] (rev rr)", optionally "(N) " first. */
static bool lspci_line(const char *p, struct line_device *d)
{
	unsigned long v, dv, cls, rev = 0;
	const char *end, *open = NULL, *q;

	if (*p == '(') {
		p = strchr(p, ')');
		if (!p)
			return false;
		p++;
		p += strspn(p, " \t");
	}
	if (!address_at(p, &d->key, &end) || (*end != ' ' && *end != '\t'))
		return false;
	/* the class code: the first "[cccc]:" */
	for (q = end; (q = strchr(q, '[')); q++)
		if (hex_n(q + 1, 4, &cls) && q[5] == ']' && q[6] == ':')
			break;
	if (!q)
		return false;
	/* the ids: the last "[vvvv:dddd]" */
	for (const char *r = q + 7; (r = strchr(r, '[')); r++)
		if (hex_n(r + 1, 4, &v) && r[5] == ':' && hex_n(r + 6, 4, &dv) && r[10] == ']')
			open = r;
	if (!open)
		return false;
	hex_n(open + 1, 4, &v);
	hex_n(open + 6, 4, &dv);
	const char *tail = open + 11;
	tail += strspn(tail, " \t");
	if (strncmp(tail, "(rev ", 5) == 0) {
		if (!hex_n(tail + 5, 2, &rev) || tail[7] != ')')
			return false;
		tail += 8;
	}
	if (tail[strspn(tail, " \t\r")] != '\0')
		return false;
	d->vendor = (uint16_t)v;
	d->device = (uint16_t)dv;
	d->class = (int32_t)(cls << 8);
	d->revision = (uint8_t)rev;
	return true;
}

/* Every subclass libpci names (udev's hwdb, pci.ids), read once a listing: ls-iommu prints
 * classes by name. */
static void read_class_names(struct pci_access *pacc, void *arg)
{
	struct listing *l = arg;
	char buf[256], code[16];

	for (unsigned base = 0; base <= 0xff; base++) {
		if (!pci_lookup_name(pacc, buf, sizeof(buf), PCI_LOOKUP_CLASS | PCI_LOOKUP_NO_NUMBERS, base << 8))
			continue;
		for (unsigned sub = 0; sub <= 0xff; sub++) {
			char *name = pci_lookup_name(pacc, buf, sizeof(buf), PCI_LOOKUP_CLASS | PCI_LOOKUP_NO_NUMBERS,
						     (base << 8) | sub);
			/* an unknown subclass of a known class comes back as "Class name [bbss]" */
			snprintf(code, sizeof(code), " [%04x]", (base << 8) | sub);
			if (!name || strstr(name, code))
				continue;
			char **names = realloc(l->class_names, (l->n_classes + 1) * sizeof(*names));
			unsigned *codes = realloc(l->class_codes, (l->n_classes + 1) * sizeof(*codes));
			if (names)
				l->class_names = names;
			if (codes)
				l->class_codes = codes;
			if (!names || !codes || !(names[l->n_classes] = strdup(name)))
				return;
			codes[l->n_classes++] = (base << 8) | sub;
		}
	}
}

/* The class code (16 bits) of a subclass name as ls-iommu prints it; -1 when unknown. */
static long class_by_name(struct listing *l, const char *name, size_t len)
{
	if (!l->classes_read) {
		l->classes_read = true;
		pt_libpci_call(l->lctx, read_class_names, l);
	}
	for (size_t i = 0; i < l->n_classes; i++)
		if (strlen(l->class_names[i]) == len && strncasecmp(l->class_names[i], name, len) == 0)
			return l->class_codes[i];
	return -1;
}

/* ls-iommu: "[vvvv:dddd] [R] ADDR  CLASS NAME  DEVICE NAME" (two spaces or more between). */
static bool lsiommu_line(struct listing *l, const char *p, struct line_device *d)
{
	unsigned long v, dv;
	const char *end;

	if (p[0] != '[' || !hex_n(p + 1, 4, &v) || p[5] != ':' || !hex_n(p + 6, 4, &dv) || p[10] != ']')
		return false;
	p += 11;
	p += strspn(p, " \t");
	bool resettable = strncmp(p, "[R]", 3) == 0;
	if (resettable)
		p += 3 + strspn(p + 3, " \t");
	if (!address_at(p, &d->key, &end))
		return false;
	p = end + strspn(end, " \t");
	const char *gap = strstr(p, "  ");
	size_t len = gap ? (size_t)(gap - p) : strlen(p);
	while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	long code = len ? class_by_name(l, p, len) : -1;
	if (code < 0)
		return false;
	d->vendor = (uint16_t)v;
	d->device = (uint16_t)dv;
	d->class = (int32_t)(code << 8);
	d->reset_method = strdup(resettable ? "flr" : "");
	return d->reset_method != NULL;
}

static int parse(struct listing *l, const char *text, size_t size)
{
	long group = -1;
	unsigned n = 0;

	for (const char *line = text, *next; line < text + size; line = next) {
		const char *nl = memchr(line, '\n', (size_t)(text + size - line));
		size_t len = nl ? (size_t)(nl - line) : (size_t)(text + size - line);
		next = line + len + 1;
		n++;
		char *s = strndup(line, len), *rest;
		if (!s)
			return -ENOMEM;
		if (memchr(line, '\0', len)) {
			free(s);
			return pt_fail(l->ctx, -EINVAL, "%s:%u: a NUL byte: not a listing", l->source, n);
		}
		len = strlen(s);
		while (len && (s[len - 1] == '\r' || s[len - 1] == ' ' || s[len - 1] == '\t'))
			s[--len] = '\0';
		const char *p = s + strspn(s, " \t");
		if (!*p || *p == '#' || strncmp(p, "USB:", 4) == 0 || strncmp(p, "Subsystem:", 10) == 0 ||
		    strncmp(p, "Kernel modules:", 15) == 0) {
			free(s);
			continue;
		}
		if (group_prefix(p, &group, (const char **)&rest))
			p = rest;
		if (!*p) {
			free(s);
			continue;
		}
		if (strncmp(p, "Kernel driver in use:", 21) == 0) {
			const char *drv = p + 21 + strspn(p + 21, " \t");
			int r = 0;
			if (l->n == 0 || !*drv || strpbrk(drv, " \t/"))
				r = pt_fail(l->ctx, -EINVAL, "%s:%u: a driver line %s", l->source, n,
					    l->n ? "without one driver name" : "before any device");
			else if (!(l->devices[l->n - 1].driver = strdup(drv)))
				r = -ENOMEM;
			free(s);
			if (r < 0)
				return r;
			continue;
		}
		if (group < 0) {
			char *clean = pt_clean_string(p);
			int r = pt_fail(l->ctx, -EINVAL, "%s:%u: a device line outside an IOMMU group: %s", l->source, n,
					clean ? clean : "");
			free(clean);
			free(s);
			return r;
		}
		if (l->n == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 64;
			struct line_device *more = realloc(l->devices, cap * sizeof(*more));
			if (!more) {
				free(s);
				return -ENOMEM;
			}
			l->devices = more;
			l->cap = cap;
		}
		struct line_device *d = &l->devices[l->n];
		memset(d, 0, sizeof(*d));
		d->group = group;
		d->line = n;
		bool ok = lspci_line(p, d) || lsiommu_line(l, p, d);
		if (!ok) {
			char *clean = pt_clean_string(p);
			int r = pt_fail(l->ctx, -EINVAL, "%s:%u: neither an `lspci -nns` nor an ls-iommu device line: %s",
					l->source, n, clean ? clean : "");
			free(clean);
			free(s);
			return r;
		}
		l->n++;
		free(s);
	}
	if (l->n == 0)
		return pt_fail(l->ctx, -EINVAL, "%s: no device lines (IOMMU Group N, then `lspci -nns` or ls-iommu lines)",
			       l->source);
	return 0;
}

static int compare_lines(const void *a, const void *b)
{
	const struct line_device *x = a, *y = b;
	return x->key < y->key ? -1 : x->key > y->key;
}

static int compare_group_numbers(const void *a, const void *b)
{
	const pt_group *x = a, *y = b;
	return x->number < y->number ? -1 : x->number > y->number;
}

/* The snapshot's context: a root that is an empty directory, removed once opened. */
static int nowhere(struct listing *l)
{
	char dir[] = "/tmp/libpt-listing-XXXXXX";
	pt_opts opts = { .size = sizeof(opts), .root = dir };

	if (!mkdtemp(dir))
		return pt_fail(l->ctx, -errno, "a directory for the listing's snapshot: %m");
	int r = pt_ctx_new(&l->lctx, &opts);
	rmdir(dir);
	if (r < 0)
		return pt_fail(l->ctx, r, "a context for the listing's snapshot: %s", strerror(-r));
	l->lctx->log_fn = l->ctx->log_fn;
	l->lctx->log_data = l->ctx->log_data;
	l->lctx->log_priority = l->ctx->log_priority;
	return 0;
}

static int build(struct listing *l, pt_enum *e)
{
	qsort(l->devices, l->n, sizeof(*l->devices), compare_lines);
	if (!(e->devices = calloc(l->n, sizeof(*e->devices))))
		return -ENOMEM;
	for (size_t i = 0; i < l->n; i++) {
		struct line_device *d = &l->devices[i];
		pt_device *dev = &e->devices[e->n_devices];
		if (i && d->key == l->devices[i - 1].key) {
			pt_address_format(d->key, dev->address);
			return pt_fail(l->ctx, -EINVAL, "%s:%u: %s is listed twice (first on line %u)", l->source, d->line,
				       dev->address, l->devices[i - 1].line);
		}
		e->n_devices++;
		dev->e = e;
		dev->key = d->key;
		pt_address_format(d->key, dev->address);
		dev->vendor = d->vendor;
		dev->device = d->device;
		dev->class = d->class;
		dev->revision = d->revision;
		unsigned base_sub = (unsigned)d->class >> 8;
		dev->header_type = base_sub == 0x0607 ? 2 : (base_sub == 0x0604 || base_sub == 0x0609 ? 1 : 0);
		dev->boot_vga = -1;
		dev->numa_node = -1;
		dev->group_number = d->group;
		dev->driver = d->driver;
		dev->reset_method = d->reset_method;
		d->driver = d->reset_method = NULL; /* the device's now */
	}
	/* the groups, each number once */
	if (!(e->groups = calloc(l->n, sizeof(*e->groups))))
		return -ENOMEM;
	for (size_t i = 0; i < e->n_devices; i++) {
		bool seen = false;
		for (size_t g = 0; g < e->n_groups && !seen; g++)
			seen = e->groups[g].number == (unsigned)e->devices[i].group_number;
		if (!seen) {
			e->groups[e->n_groups].e = e;
			e->groups[e->n_groups++].number = (unsigned)e->devices[i].group_number;
		}
	}
	qsort(e->groups, e->n_groups, sizeof(*e->groups), compare_group_numbers);
	return 0;
}

PT_EXPORT int pt_enum_new_from_listing(pt_ctx *ctx, const char *text, size_t len, const char *source, pt_enum **ret)
{
	struct listing l = { .ctx = ctx, .source = source ? source : "listing" };
	pt_enum *e = NULL;
	int r;

	if (!ctx || !text || !ret)
		return -EINVAL;
	*ret = NULL;
	if ((r = nowhere(&l)) < 0)
		return r;
	if ((r = parse(&l, text, len)) == 0) {
		e = calloc(1, sizeof(*e));
		if (!e)
			r = -ENOMEM;
	}
	if (e) {
		e->refcount = 1;
		e->ctx = pt_ctx_ref(l.lctx);
		r = (e->listing = strdup(l.source)) ? build(&l, e) : -ENOMEM;
		if (r == 0)
			r = pt_iommu_add_members(e);
		if (r == 0)
			r = pt_iommu_analyse(e);
	}
	for (size_t i = 0; i < l.n; i++) {
		free(l.devices[i].driver);
		free(l.devices[i].reset_method);
	}
	free(l.devices);
	for (size_t i = 0; i < l.n_classes; i++)
		free(l.class_names[i]);
	free(l.class_names);
	free(l.class_codes);
	pt_ctx_unref(l.lctx);
	if (r < 0) {
		pt_enum_unref(e);
		return r == -ENOMEM ? pt_fail(ctx, r, "%s: %s", l.source, strerror(ENOMEM)) : r;
	}
	*ret = e;
	return 0;
}
