// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Proxmox VM configuration, /etc/pve/qemu-server/<vm>.conf, as qemu-server reads it: "key: value"
 * lines, '#' comments (those before the first key are the description), [snapshot] sections
 * after the main one. And the property strings of its values: "host=01:00,pcie=1", where an
 * item without a key takes the property's default key ("01:00,pcie=1").
 */
#include <ctype.h>
#include <limits.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "libpt-private.h"

struct pt_vmconf {
	struct pt_strv keys;	  /* the main section's, in file order */
	struct pt_strv values;	  /* values[i] goes with keys[i] */
	struct pt_strv snapshots; /* the snapshot sections' names */
	char *description;
};

struct pt_props {
	struct pt_strv keys, values;
};

static bool key_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_';
}

static const char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static void set_value(struct pt_vmconf *c, const char *key, const char *value)
{
	for (size_t i = 0; i < c->keys.n; i++)
		if (strcmp(c->keys.v[i], key) == 0) {
			char *copy = strdup(value);
			if (!copy) {
				c->values.oom = true;
				return;
			}
			free(c->values.v[i]);
			c->values.v[i] = copy;
			return;
		}
	pt_strv_add(&c->keys, key);
	pt_strv_add(&c->values, value);
}

PT_EXPORT int pt_vmconf_parse(pt_ctx *ctx, const char *text, const char *file, pt_vmconf **ret)
{
	struct pt_vmconf *c;
	struct pt_strv description = { 0 };
	bool in_main = true;
	unsigned lineno = 0;
	int r = 0;

	if (!ctx || !text || !ret)
		return ctx ? pt_fail(ctx, -EINVAL, "pt_vmconf_parse: no text") : -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return pt_fail(ctx, -ENOMEM, "out of memory");
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char *line = strndup(p, len);
		size_t n;

		lineno++;
		p += len + (nl ? 1 : 0);
		if (!line) {
			r = -ENOMEM;
			break;
		}
		n = strlen(line); /* a NUL inside a line ends it: qemu-server reads text */
		if (line[0] == '[' && n > 1) {
			char *close = strchr(line, ']');
			if (close && close > line + 1 && !*trim(close + 1)) {
				*close = '\0';
				pt_strv_add(&c->snapshots, line + 1);
				in_main = false;
				free(line);
				continue;
			}
		}
		if (line[0] == '#') {
			if (in_main && c->keys.n == 0)
				pt_strv_add(&description, line + 1);
		} else if (*trim(line)) {
			char *k = line, *colon;
			while (key_char(*k))
				k++;
			colon = k;
			if (colon == line || *colon != ':') {
				char q[160];
				r = pt_fail(ctx, -EINVAL, "%s:%u: cannot parse %s", file ? file : "config", lineno,
					    pt_quote(q, sizeof(q), line));
				free(line);
				break;
			}
			*colon = '\0';
			if (in_main)
				set_value(c, line, trim(colon + 1));
		}
		free(line);
	}
	c->description = pt_strv_join(&description, "\n");
	if (!r && (!c->description || description.oom || c->keys.oom || c->values.oom || c->snapshots.oom))
		r = pt_fail(ctx, -ENOMEM, "out of memory");
	pt_strv_free(&description);
	if (r < 0) {
		pt_vmconf_free(c);
		return r;
	}
	*ret = c;
	return 0;
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
	if ((r = pt_read_in_root(ctx, path, VMCONF_MAX, &text, NULL)) < 0)
		return r == -ENOENT || r == -ENOTDIR ? pt_fail(ctx, -ENOENT, "%s: no such VM config", shown) : r;
	r = pt_vmconf_parse(ctx, text, shown, ret);
	free(text);
	return r;
}

PT_EXPORT void pt_vmconf_free(pt_vmconf *c)
{
	if (!c)
		return;
	pt_strv_free(&c->keys);
	pt_strv_free(&c->values);
	pt_strv_free(&c->snapshots);
	free(c->description);
	free(c);
}

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
	if (!c || !key)
		return NULL;
	for (size_t i = 0; i < c->keys.n; i++)
		if (strcmp(c->keys.v[i], key) == 0)
			return c->values.v[i];
	return NULL;
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
			pt_props_free(props);
			return -EINVAL;
		}
		free(item);
	}
	if (props->keys.oom || props->values.oom) {
		pt_props_free(props);
		return pt_fail(ctx, -ENOMEM, "out of memory");
	}
	*ret = props;
	return 0;
}

PT_EXPORT void pt_props_free(pt_props *p)
{
	if (!p)
		return;
	pt_strv_free(&p->keys);
	pt_strv_free(&p->values);
	free(p);
}

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

/* Whether a hostpci host id names its domain ("0000:01:00") or not ("01:00", domain 0). */
static bool has_domain(const char *id)
{
	const char *colon = strchr(id, ':');
	return colon && strchr(colon + 1, ':');
}

PT_EXPORT int pt_vmconf_get_hostpci_ids(pt_ctx *ctx, const pt_vmconf *c, char ***ret, size_t *n)
{
	struct pt_strv ids = { 0 };

	if (!ctx || !ret || !n)
		return ctx ? pt_fail(ctx, -EINVAL, "pt_vmconf_get_hostpci_ids: no result") : -EINVAL;
	for (size_t i = 0; c && i < c->keys.n; i++) {
		const char *key = c->keys.v[i], *host;
		pt_props *props;
		if (strncmp(key, "hostpci", 7) || !key[7] || strspn(key + 7, "0123456789") != strlen(key + 7))
			continue;
		if (pt_props_parse(ctx, c->values.v[i], "host", &props) < 0) {
			pt_strv_free(&ids);
			return -EINVAL;
		}
		host = pt_props_get(props, "host");
		for (const char *p = host ? host : ""; *p;) {
			size_t len = strcspn(p, ";");
			if (len > 0) {
				char *id = strndup(p, len), *full = NULL;
				if (id && asprintf(&full, "%s%s", has_domain(id) ? "" : "0000:", id) >= 0)
					pt_strv_add(&ids, full);
				else
					ids.oom = true;
				free(id);
				free(full);
			}
			p += len + (p[len] == ';');
		}
		pt_props_free(props);
	}
	if (ids.oom) {
		pt_strv_free(&ids);
		return pt_fail(ctx, -ENOMEM, "out of memory");
	}
	*ret = ids.v;
	*n = ids.n;
	return 0;
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

PT_EXPORT size_t pt_enum_find_hostpci(const pt_enum *e, const char *id, pt_device **out, size_t max)
{
	char probe[80];
	uint64_t key;
	size_t n = 0;
	bool slot;

	if (!e || !id || strlen(id) > 64)
		return 0;
	/* "01:00" names domain 0; a slot (no ".F") names its every function, found by function 0's key */
	slot = !strchr(id, '.');
	snprintf(probe, sizeof(probe), "%s%s%s", has_domain(id) ? "" : "0000:", id, slot ? ".0" : "");
	if (pt_address_parse(probe, &key) < 0)
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
