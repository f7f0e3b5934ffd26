// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Proxmox VM configuration, /etc/pve/qemu-server/<vm>.conf, as qemu-server reads it: "key: value"
 * lines, '#' comments (those before the first key are the description), [snapshot] sections
 * after the main one. And the property strings of its values: "host=01:00,pcie=1", where an
 * item without a key takes the property's default key ("01:00,pcie=1").
 */
#include <ctype.h>
#include <limits.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <strings.h>

#include "libpt-private.h"

struct pt_vmconf {
	int refcount;
	struct pt_strv keys;	  /* the main section's, in file order */
	struct pt_strv values;	  /* values[i] goes with keys[i] */
	struct pt_strv snapshots; /* the snapshot sections' names */
	struct pt_strv pending_keys, pending_values; /* [PENDING]: what qemu-server applies at start */
	struct pt_strv hostpci;	  /* the ids its hostpciN lines name, read with it */
	char *description;
	size_t *slots;		  /* a hash of the keys: index + 1, 0 empty (linear time on 10^5 keys) */
	size_t n_slots;
};

struct pt_props {
	int refcount;
	struct pt_strv keys, values;
};

static size_t hash(const char *s)
{
	size_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* The slot of key: where it is, or the empty one where it would go. */
static size_t *slot_of(const struct pt_vmconf *c, const char *key)
{
	size_t i = hash(key) & (c->n_slots - 1);
	while (c->slots[i] && strcmp(c->keys.v[c->slots[i] - 1], key))
		i = (i + 1) & (c->n_slots - 1);
	return &c->slots[i];
}

static bool grow_slots(struct pt_vmconf *c)
{
	size_t n = c->n_slots ? 2 * c->n_slots : 64;
	size_t *slots = calloc(n, sizeof(*slots));

	if (!slots)
		return false;
	free(c->slots);
	c->slots = slots;
	c->n_slots = n;
	for (size_t k = 0; k < c->keys.n; k++)
		*slot_of(c, c->keys.v[k]) = k + 1;
	return true;
}

static void set_value(struct pt_vmconf *c, const char *key, const char *value)
{
	if ((c->keys.n + 1) * 2 > c->n_slots && !grow_slots(c)) {
		c->values.oom = true;
		return;
	}
	size_t *slot = slot_of(c, key);
	if (*slot) {
		/* a key given twice keeps its first place and its last value */
		char *copy = strdup(value);
		if (!copy) {
			c->values.oom = true;
			return;
		}
		free(c->values.v[*slot - 1]);
		c->values.v[*slot - 1] = copy;
		return;
	}
	pt_strv_add(&c->keys, key);
	pt_strv_add(&c->values, value);
	if (!c->keys.oom && !c->values.oom)
		*slot = c->keys.n;
}

/* A property string's key: letters, digits, '-' and '_'. */
static bool key_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_';
}

/* qemu-server's key: [a-z][a-z_]*[0-9]*, then ':' */
static size_t key_length(const char *line)
{
	size_t n = 0;

	if (line[0] < 'a' || line[0] > 'z')
		return 0;
	while ((line[n] >= 'a' && line[n] <= 'z') || line[n] == '_')
		n++;
	while (line[n] >= '0' && line[n] <= '9')
		n++;
	return line[n] == ':' ? n : 0;
}

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\f' || *s == '\v')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\f' || end[-1] == '\v'))
		*--end = '\0';
	return s;
}

/*
 * As qemu-server's parse_vm_config reads a config: line by line to the end of the file (a NUL
 * byte ends nothing); a line it cannot read (no key, an empty value, a NUL byte) is warned
 * about, naming the file and line, and skipped, and the VM's other lines stand.
 */
/* "hostpci3" for "hostpci": the prefix and a number. */
bool pt_key_numbered(const char *key, const char *prefix)
{
	size_t n = strlen(prefix);
	return strncmp(key, prefix, n) == 0 && key[n] && strspn(key + n, "0123456789") == strlen(key + n);
}

/* The ids the hostpciN lines name, in the one grammar (an id that is none kept as written, for
 * the error a user of it gives); a line that is no property string is warned about. */
static void collect_hostpci(pt_ctx *ctx, const char *file, pt_vmconf *c)
{
	for (size_t i = 0; i < c->keys.n; i++) {
		const char *key = c->keys.v[i], *host;
		pt_props *props;
		if (!pt_key_numbered(key, "hostpci"))
			continue;
		if (pt_props_parse(ctx, c->values.v[i], "host", &props) < 0) {
			pt_warn(ctx, "%s: %s: %s", file, key, pt_ctx_last_error(ctx));
			continue;
		}
		host = pt_props_get(props, "host");
		for (const char *p = host ? host : ""; *p;) {
			size_t len = strcspn(p, ";");
			if (len > 0) {
				char *id = strndup(p, len), full[32];
				if (id)
					pt_strv_add(&c->hostpci, pt_pci_id_normalize(id, full, sizeof(full)) >= 0 ? full : id);
				else
					c->hostpci.oom = true;
				free(id);
			}
			p += len + (p[len] == ';');
		}
		pt_props_unref(props);
	}
}

static int parse(pt_ctx *ctx, const char *text, size_t size, const char *file, pt_vmconf **ret)
{
	struct pt_vmconf *c;
	struct pt_strv description = { 0 };
	enum { MAIN, PENDING, OTHER } section = MAIN;
	bool in_main = true;
	unsigned lineno = 0;
	int r = 0;

	if (!(c = calloc(1, sizeof(*c))))
		return pt_fail(ctx, -ENOMEM, "out of memory");
	c->refcount = 1;
	for (const char *p = text, *end = text + size; p < end && r == 0;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char *line = malloc(len + 1), q[160];

		lineno++;
		if (!line) {
			r = pt_fail(ctx, -ENOMEM, "out of memory");
			break;
		}
		memcpy(line, p, len);
		line[len] = '\0';
		p += len + (nl ? 1 : 0);
		if (strlen(line) != len) {
			/* qemu-server reads on past a NUL (Perl's strings hold it): the line is read with
			 * the byte as an inert '?', so what it names is still seen (the guard) */
			for (size_t i = 0; i < len; i++)
				if (!line[i])
					line[i] = '?';
			pt_warn(ctx, "%s:%u: a NUL byte in the line (read as '?')", file ? file : "config", lineno);
		}
		char *t = trim(line);
		if (!*t) {
			free(line);
			continue;
		}
		if (line[0] == '[') {
			/* qemu-server's sections: [PENDING], [special:cloudinit], [snapshot-name]; another
			 * bracketed line is warned about and leaves the section as it was */
			char *close = strchr(line, ']');
			size_t n = close ? (size_t)(close - line - 1) : 0;
			bool name = n > 1 && isalpha((unsigned char)line[1]) && strspn(line + 1,
				    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
			if (close && !*trim(close + 1) && n == 7 && strncasecmp(line + 1, "pending", 7) == 0) {
				section = PENDING;
				in_main = false;
			} else if (close && !*trim(close + 1) && n == 17 && strncasecmp(line + 1, "special:cloudinit", 17) == 0) {
				section = OTHER;
				in_main = false;
			} else if (close && !*trim(close + 1) && name) {
				*close = '\0';
				pt_strv_add(&c->snapshots, line + 1);
				section = OTHER;
				in_main = false;
			} else {
				pt_warn(ctx, "%s:%u: cannot parse %s: skipped", file ? file : "config", lineno,
					pt_quote(q, sizeof(q), line));
			}
		} else if (line[0] == '#') {
			if (in_main && c->keys.n == 0)
				pt_strv_add(&description, line + 1);
		} else {
			size_t k = key_length(line);
			char *value = k ? trim(line + k + 1) : NULL;
			if (!k || !*value) {
				pt_warn(ctx, "%s:%u: cannot parse %s: skipped, as qemu-server skips it", file ? file : "config",
					lineno, pt_quote(q, sizeof(q), line));
			} else if (section == MAIN) {
				line[k] = '\0';
				set_value(c, line, value);
			} else if (section == PENDING) {
				line[k] = '\0';
				pt_strv_add(&c->pending_keys, line);
				pt_strv_add(&c->pending_values, value);
			}
		}
		free(line);
	}
	c->description = pt_strv_join(&description, "\n");
	if (!r)
		collect_hostpci(ctx, file, c);
	if (!r && (!c->description || c->hostpci.oom || description.oom || c->keys.oom || c->values.oom || c->snapshots.oom ||
		   c->pending_keys.oom || c->pending_values.oom))
		r = pt_fail(ctx, -ENOMEM, "out of memory");
	pt_strv_free(&description);
	if (r < 0) {
		pt_vmconf_unref(c);
		return r;
	}
	*ret = c;
	return 0;
}

PT_EXPORT int pt_vmconf_parse(pt_ctx *ctx, const char *text, const char *file, pt_vmconf **ret)
{
	if (!ctx || !text || !ret)
		return ctx ? pt_fail(ctx, -EINVAL, "pt_vmconf_parse: no text") : -EINVAL;
	return parse(ctx, text, strlen(text), file, ret);
}

/* The largest VM config read: qemu-server's are a few KiB; pmxcfs holds files up to 1 MiB. */
#define VMCONF_MAX (1u << 20)

PT_EXPORT int pt_vmconf_read(pt_ctx *ctx, unsigned vm, pt_vmconf **ret)
{
	char path[64], shown[PATH_MAX + 64];
	char *text;
	int r;

	if (!ctx || !ret)
		return ctx ? pt_fail(ctx, -EINVAL, "pt_vmconf_read: no result") : -EINVAL;
	if ((r = pt_check_vmid(ctx, vm)) < 0)
		return r;
	snprintf(path, sizeof(path), "/etc/pve/qemu-server/%u.conf", vm);
	snprintf(shown, sizeof(shown), "%s%s", ctx->root, path);
	size_t len;
	if ((r = pt_read_in_root(ctx, path, VMCONF_MAX, &text, &len)) < 0)
		return r == -ENOENT || r == -ENOTDIR ? pt_fail(ctx, -ENOENT, "%s: no such VM config", shown) : r;
	r = parse(ctx, text, len, shown, ret);
	free(text);
	return r;
}

static void destroy_vmconf(pt_vmconf *c)
{
	pt_strv_free(&c->keys);
	pt_strv_free(&c->values);
	pt_strv_free(&c->snapshots);
	pt_strv_free(&c->pending_keys);
	pt_strv_free(&c->pending_values);
	pt_strv_free(&c->hostpci);
	free(c->description);
	free(c->slots);
	free(c);
}

PT_DEFINE_REFCOUNT(pt_vmconf, destroy_vmconf)

PT_EXPORT size_t pt_vmconf_get_key_count(const pt_vmconf *c)
{
	return c ? c->keys.n : 0;
}

PT_EXPORT const char *pt_vmconf_get_key(const pt_vmconf *c, size_t i)
{
	return c && i < c->keys.n ? c->keys.v[i] : NULL;
}

PT_EXPORT const char *pt_vmconf_get(const pt_vmconf *c, const char *key)
{
	if (!c || !key || !c->n_slots)
		return NULL;
	size_t *slot = slot_of(c, key);
	return *slot ? c->values.v[*slot - 1] : NULL;
}

size_t pt_vmconf_pending_count(const pt_vmconf *c)
{
	return c ? c->pending_keys.n : 0;
}

const char *pt_vmconf_pending_key(const pt_vmconf *c, size_t i)
{
	return c && i < c->pending_keys.n ? c->pending_keys.v[i] : NULL;
}

const char *pt_vmconf_pending_value(const pt_vmconf *c, size_t i)
{
	return c && i < c->pending_values.n ? c->pending_values.v[i] : NULL;
}

PT_EXPORT const char *pt_vmconf_get_description(const pt_vmconf *c)
{
	return c ? c->description : NULL;
}

PT_EXPORT size_t pt_vmconf_get_snapshot_count(const pt_vmconf *c)
{
	return c ? c->snapshots.n : 0;
}

PT_EXPORT const char *pt_vmconf_get_snapshot(const pt_vmconf *c, size_t i)
{
	return c && i < c->snapshots.n ? c->snapshots.v[i] : NULL;
}

PT_EXPORT int pt_vmconf_next_free(const pt_vmconf *c, const char *prefix, unsigned max, unsigned from)
{
	char key[64];

	if (!prefix || strlen(prefix) > 32)
		return -EINVAL;
	for (unsigned i = from; i <= max; i++) {
		snprintf(key, sizeof(key), "%s%u", prefix, i);
		if (!pt_vmconf_get(c, key))
			return (int)i;
	}
	return -ENOSPC;
}

PT_EXPORT int pt_vmconf_is_q35(const char *machine)
{
	return machine && strstr(machine, "q35") != NULL;
}

PT_EXPORT int pt_props_parse(pt_ctx *ctx, const char *value, const char *default_key, pt_props **ret)
{
	struct pt_props *props;
	const char *p;

	if (!ctx || !value || !ret)
		return ctx ? pt_fail(ctx, -EINVAL, "pt_props_parse: no value") : -EINVAL;
	props = calloc(1, sizeof(*props));
	if (!props)
		return pt_fail(ctx, -ENOMEM, "out of memory");
	props->refcount = 1;
	for (p = value; *p;) {
		size_t len = strcspn(p, ",");
		char *item = strndup(p, len), *k;
		p += len + (p[len] == ',');
		if (!item) {
			props->keys.oom = true;
			break;
		}
		if (!*item) {
			free(item);
			continue;
		}
		for (k = item; key_char(*k); k++)
			;
		if (k > item && *k == '=') {
			*k = '\0';
			pt_strv_add(&props->keys, item);
			pt_strv_add(&props->values, k + 1);
		} else if (default_key) {
			pt_strv_add(&props->keys, default_key);
			pt_strv_add(&props->values, item);
		} else {
			char q[160];
			pt_fail(ctx, -EINVAL, "%s: no key and no default key", pt_quote(q, sizeof(q), item));
			free(item);
			pt_props_unref(props);
			return -EINVAL;
		}
		free(item);
	}
	if (props->keys.oom || props->values.oom) {
		pt_props_unref(props);
		return pt_fail(ctx, -ENOMEM, "out of memory");
	}
	*ret = props;
	return 0;
}

static void destroy_props(pt_props *p)
{
	pt_strv_free(&p->keys);
	pt_strv_free(&p->values);
	free(p);
}

PT_DEFINE_REFCOUNT(pt_props, destroy_props)

PT_EXPORT size_t pt_props_get_count(const pt_props *p)
{
	return p ? p->keys.n : 0;
}

PT_EXPORT const char *pt_props_get_key(const pt_props *p, size_t i)
{
	return p && i < p->keys.n ? p->keys.v[i] : NULL;
}

PT_EXPORT const char *pt_props_get_value(const pt_props *p, size_t i)
{
	return p && i < p->values.n ? p->values.v[i] : NULL;
}

PT_EXPORT const char *pt_props_get(const pt_props *p, const char *key)
{
	const char *found = NULL;

	if (!p || !key)
		return NULL;
	for (size_t i = 0; i < p->keys.n; i++)
		if (strcmp(p->keys.v[i], key) == 0)
			found = p->values.v[i];
	return found;
}


PT_EXPORT size_t pt_vmconf_get_hostpci_count(const pt_vmconf *c)
{
	return c ? c->hostpci.n : 0;
}

PT_EXPORT const char *pt_vmconf_get_hostpci(const pt_vmconf *c, size_t i)
{
	return c && i < c->hostpci.n ? c->hostpci.v[i] : NULL;
}

PT_EXPORT int pt_config_value_check(pt_ctx *ctx, const char *what, const char *value)
{
	char q[256];

	if (!ctx)
		return -EINVAL;
	if (!value)
		return pt_fail(ctx, -EINVAL, "%s: no value", what ? what : "value");
	for (const unsigned char *p = (const unsigned char *)value; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p >= 0x80 || *p == ',' || *p == '=' || *p == ';')
			return pt_fail(ctx, -EINVAL,
				       "%s %s: newlines, commas, '=', ';' and non-ASCII characters are not allowed",
				       what ? what : "value", pt_quote(q, sizeof(q), value));
	return 0;
}

size_t pt_enum_find_hostpci(const pt_enum *e, const char *id, pt_device **out, size_t max)
{
	uint64_t key;
	size_t n = 0;
	bool slot;

	/* the one grammar: "01:00" names domain 0 and every function of the slot */
	if (!e || !id || pt_pci_id_parse(id, &key, &slot) < 0)
		return 0;
	for (size_t i = 0; i < e->n_devices; i++) {
		pt_device *d = &e->devices[i];
		if (slot ? PT_SLOT(d->key) != PT_SLOT(key) : d->key != key)
			continue;
		if (out && n < max)
			out[n] = d;
		n++;
	}
	return n;
}

/* The VM ids of /etc/pve/qemu-server/<id>.conf, sorted. */
static int compare_unsigned(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
	return x < y ? -1 : x > y;
}

int pt_vmconf_list(pt_ctx *ctx, unsigned **ret, size_t *n)
{
	const char *base;
	unsigned *vms = NULL;
	size_t cap = 0;
	int dfd = pt_open_parent_in_root(ctx->rootfd, "etc/pve/qemu-server/x", &base);
	DIR *dir;

	*n = 0;
	*ret = NULL;
	if (dfd < 0)
		return 0; /* no Proxmox here: no VMs */
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(dfd);
	if (fd < 0 || !(dir = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	for (struct dirent *de; (de = readdir(dir));) {
		unsigned long long vm;
		char *dot = strrchr(de->d_name, '.');
		if (!dot || strcmp(dot, ".conf") || dot == de->d_name)
			continue;
		*dot = '\0';
		bool digits = strspn(de->d_name, "0123456789") == strlen(de->d_name);
		if (!digits || pt_parse_uint(de->d_name, PT_VMID_MAX, &vm) < 0 || !pt_vmid_is_valid((long long)vm))
			continue;
		if (*n == cap && !(vms = reallocarray(vms, cap = cap ? 2 * cap : 16, sizeof(*vms)))) {
			closedir(dir);
			return -ENOMEM;
		}
		vms[(*n)++] = (unsigned)vm;
	}
	closedir(dir);
	if (*n)
		qsort(vms, *n, sizeof(*vms), compare_unsigned);
	*ret = vms;
	return 0;
}


/* A VM's memory in MiB: `memory: 8192` or `memory: current=8192`; qemu-server's 512 when unset. */
unsigned long pt_vmconf_memory(pt_ctx *ctx, const pt_vmconf *c)
{
	const char *m = pt_vmconf_get(c, "memory");
	pt_props *props;
	unsigned long long v = 512;

	if (m && pt_props_parse(ctx, m, "current", &props) == 0) {
		const char *cur = pt_props_get(props, "current");
		if (!cur || pt_parse_uint(cur, 1ULL << 32, &v) < 0)
			v = 512;
		pt_props_unref(props);
	}
	return (unsigned long)v;
}


/* Proxmox's live reservation of a PCI device (/run/qemu-server/pci-id-reservations: "<pciid>
 * <vmid> pid:<pid>" for a started VM, "time:<expiry>" for one starting): the VM, besides
 * `except`, and how (how, size); 0 for none. */
unsigned pt_pve_reserved_by(pt_ctx *ctx, const char *address, unsigned except, char *how, size_t size)
{
	char line[256];
	int fd = openat(ctx->rootfd, "run/qemu-server/pci-id-reservations", O_RDONLY | O_CLOEXEC);
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
	unsigned found = 0;
	uint64_t b;

	if (!f) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	if (pt_address_parse(address, &b) < 0) {
		fclose(f);
		return 0;
	}
	while (!found && fgets(line, sizeof(line), f)) {
		char id[32], kind[64];
		unsigned vm;
		uint64_t a;
		if (sscanf(line, "%31s %u %63s", id, &vm, kind) != 3 || vm == except || pt_address_parse(id, &a) < 0 || a != b)
			continue;
		unsigned long long v;
		bool live = (strncmp(kind, "pid:", 4) == 0 && pt_parse_uint(kind + 4, 0x7fffffff, &v) == 0 &&
			     pt_pid_alive((pid_t)v)) ||
			    (strncmp(kind, "time:", 5) == 0 && pt_parse_uint(kind + 5, ~0ULL >> 1, &v) == 0 &&
			     (long long)v > (long long)time(NULL));
		if (live) {
			found = vm;
			snprintf(how, size, "%s", kind);
		}
	}
	fclose(f);
	return found;
}
