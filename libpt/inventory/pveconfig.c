/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Proxmox's section config files, read once, one way: /etc/pve/storage.cfg ("TYPE: ID" heads a
 * section), /etc/pve/mapping/pci.cfg and usb.cfg (the ID alone heads a section). As pve's
 * SectionConfig reads them: a section's properties are the indented "KEY VALUE" lines under its
 * head, up to a blank line or the next head; a key may come again (a mapping's `map` lines);
 * '#' lines are comments and end nothing. Lines that are none of these are skipped, as pve
 * skips them. The storage's snippets (actions/hookscript.c), the assignment's mappings
 * (analysis/assign.c), lint's mapping names and the cluster's lint all read through here.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "libpt-private.h"

struct section {
	char *type; /* NULL: a head with the id alone */
	char *id;
	char **keys, **values;
	size_t n;
};

struct pt_pve_config {
	int refcount;
	struct section *sections;
	size_t n;
};

static void destroy_pve_config(pt_pve_config *c)
{
	for (size_t i = 0; i < c->n; i++) {
		struct section *s = &c->sections[i];
		for (size_t j = 0; j < s->n; j++) {
			free(s->keys[j]);
			free(s->values[j]);
		}
		free(s->keys);
		free(s->values);
		free(s->type);
		free(s->id);
	}
	free(c->sections);
	free(c);
}

PT_DEFINE_REFCOUNT(pt_pve_config, destroy_pve_config)

/* A section id or type as pve takes them: a letter, then letters, digits, '-', '_', '.'. */
static bool word(const char *s, size_t n)
{
	if (n == 0 || !isalpha((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("-_.", s[i]))
			return false;
	return true;
}

static int add_section(pt_pve_config *c, const char *type, size_t type_len, const char *id, size_t id_len)
{
	struct section *more = realloc(c->sections, (c->n + 1) * sizeof(*more));
	if (!more)
		return -ENOMEM;
	c->sections = more;
	struct section *s = &c->sections[c->n];
	memset(s, 0, sizeof(*s));
	if ((type && !(s->type = strndup(type, type_len))) || !(s->id = strndup(id, id_len))) {
		free(s->type);
		return -ENOMEM;
	}
	c->n++;
	return 0;
}

static int add_property(struct section *s, const char *key, size_t key_len, const char *value, size_t value_len)
{
	char **keys = realloc(s->keys, (s->n + 1) * sizeof(*keys));
	if (keys)
		s->keys = keys;
	char **values = keys ? realloc(s->values, (s->n + 1) * sizeof(*values)) : NULL;
	if (values)
		s->values = values;
	if (!keys || !values || !(s->keys[s->n] = strndup(key, key_len)))
		return -ENOMEM;
	if (!(s->values[s->n] = strndup(value, value_len))) {
		free(s->keys[s->n]);
		return -ENOMEM;
	}
	s->n++;
	return 0;
}

int pt_pve_config_parse(const char *text, pt_pve_config **ret)
{
	pt_pve_config *c = calloc(1, sizeof(*c));
	bool inside = false;
	int r = 0;

	if (!c)
		return -ENOMEM;
	c->refcount = 1;
	for (const char *line = text; r == 0 && *line;) {
		size_t len = strcspn(line, "\n");
		const char *next = line + len + (line[len] == '\n');
		while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
			len--;
		size_t indent = strspn(line, " \t");
		if (len == 0 || indent >= len) {
			inside = false; /* a blank line ends the section */
		} else if (line[indent] == '#') {
			/* a comment ends nothing */
		} else if (indent == 0) {
			const char *colon = memchr(line, ':', len);
			if (colon) {
				/* "TYPE: ID" */
				const char *id = colon + 1 + strspn(colon + 1, " \t");
				size_t id_len = (size_t)(line + len - id);
				inside = word(line, (size_t)(colon - line)) && word(id, id_len);
				if (inside)
					r = add_section(c, line, (size_t)(colon - line), id, id_len);
			} else {
				inside = word(line, len);
				if (inside)
					r = add_section(c, NULL, 0, line, len);
			}
		} else if (inside) {
			const char *key = line + indent;
			size_t key_len = strcspn(key, " \t");
			if (key_len > (size_t)(line + len - key))
				key_len = (size_t)(line + len - key);
			const char *value = key + key_len;
			value += strspn(value, " \t");
			if (value > line + len)
				value = line + len;
			r = add_property(&c->sections[c->n - 1], key, key_len, value, (size_t)(line + len - value));
		}
		line = next;
	}
	if (r < 0) {
		pt_pve_config_unref(c);
		return r;
	}
	*ret = c;
	return 0;
}

PT_EXPORT int pt_pve_config_read(pt_ctx *ctx, const char *path, pt_pve_config **ret)
{
	char *text = NULL;
	int r;

	if (!ctx || !path || !ret)
		return -EINVAL;
	if (strncmp(path, "/etc/pve/", 9) != 0 || strstr(path, "/../"))
		return pt_fail(ctx, -EINVAL, "%s: not a Proxmox config file under /etc/pve", path);
	r = pt_read_in_root(ctx, path, 4u << 20, &text, NULL);
	if (r < 0)
		return r == -ENOENT ? r : pt_fail(ctx, r, "%s%s: %s", ctx->root, path, strerror(-r));
	r = pt_pve_config_parse(text, ret);
	free(text);
	return r < 0 ? pt_fail(ctx, r, "%s%s: %s", ctx->root, path, strerror(-r)) : 0;
}

PT_EXPORT size_t pt_pve_config_get_section_count(const pt_pve_config *c)
{
	return c ? c->n : 0;
}

PT_EXPORT const char *pt_pve_config_get_type(const pt_pve_config *c, size_t i)
{
	return c && i < c->n ? c->sections[i].type : NULL;
}

PT_EXPORT const char *pt_pve_config_get_id(const pt_pve_config *c, size_t i)
{
	return c && i < c->n ? c->sections[i].id : NULL;
}

PT_EXPORT size_t pt_pve_config_get_property_count(const pt_pve_config *c, size_t i)
{
	return c && i < c->n ? c->sections[i].n : 0;
}

PT_EXPORT const char *pt_pve_config_get_key(const pt_pve_config *c, size_t i, size_t j)
{
	return c && i < c->n && j < c->sections[i].n ? c->sections[i].keys[j] : NULL;
}

PT_EXPORT const char *pt_pve_config_get_value(const pt_pve_config *c, size_t i, size_t j)
{
	return c && i < c->n && j < c->sections[i].n ? c->sections[i].values[j] : NULL;
}

PT_EXPORT int pt_pve_config_find(const pt_pve_config *c, const char *id, size_t *i)
{
	for (size_t k = 0; c && id && k < c->n; k++)
		if (strcmp(c->sections[k].id, id) == 0) {
			if (i)
				*i = k;
			return 0;
		}
	return -ENOENT;
}

/* The value of a section's key (the first one, for a key that comes again); NULL for none. */
const char *pt_pve_config_value(const pt_pve_config *c, size_t i, const char *key)
{
	for (size_t j = 0; c && i < c->n && j < c->sections[i].n; j++)
		if (strcmp(c->sections[i].keys[j], key) == 0)
			return c->sections[i].values[j];
	return NULL;
}
