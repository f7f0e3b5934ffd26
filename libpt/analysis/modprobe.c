/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * modprobe.d as modprobe reads it, with the file and line of every rule, so that a check can
 * say "blacklisted in /etc/modprobe.d/blacklist.conf:3". (libkmod applies these rules but
 * does not tell where they came from.) A file in /etc overrides one of the same name in
 * /run, /usr/lib and /lib; files are read in name order; module names match with '-' as '_'.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libpt-private.h"

static const char *const DIRS[] = { "etc/modprobe.d", "run/modprobe.d", "usr/lib/modprobe.d",
				    "lib/modprobe.d" };

static int compare_names(const void *a, const void *b)
{
	return strcmp(pt_basename(*(char *const *)a), pt_basename(*(char *const *)b));
}

void pt_module_name(char *name)
{
	for (; *name; name++)
		if (*name == '-')
			*name = '_';
}

static int add_rule(struct pt_modprobe *m, const char *file, unsigned line, const char *kind,
		    const char *module, const char *value)
{
	struct pt_modprobe_rule *r = realloc(m->rules, (m->n_rules + 1) * sizeof(*r));
	if (!r)
		return -ENOMEM;
	m->rules = r;
	r = &m->rules[m->n_rules];
	r->file = strdup(file);
	r->line = line;
	snprintf(r->kind, sizeof(r->kind), "%s", kind);
	snprintf(r->module, sizeof(r->module), "%s", module);
	pt_module_name(r->module);
	r->value = strdup(value);
	if (!r->value || !r->file) {
		free(r->value);
		free(r->file);
		return -ENOMEM;
	}
	m->n_rules++;
	return 0;
}

/* One file, a regular one (a FIFO would block): lines of any length, "\\" at the end of a
 * line continuing it, as modprobe reads them. */
static int parse_file(struct pt_modprobe *m, pt_ctx *ctx, const char *path)
{
	char shown[PATH_MAX], *line = NULL, *part = NULL;
	size_t cap = 0, part_cap = 0;
	unsigned number = 0;
	struct stat st;
	int fd = openat(ctx->rootfd, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	FILE *f = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? fdopen(fd, "r") : NULL;
	int r = 0;

	if (!f) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	snprintf(shown, sizeof(shown), "%s/%s", ctx->root, path);
	for (ssize_t n; r == 0 && (n = getline(&line, &cap, f)) >= 0;) {
		number++;
		unsigned first = number;
		/* join continued lines */
		while (n >= 2 && line[n - 1] == '\n' && line[n - 2] == '\\') {
			ssize_t more = getline(&part, &part_cap, f);
			if (more < 0)
				break;
			number++;
			char *joined = realloc(line, (size_t)(n - 2 + more + 1));
			if (!joined) {
				r = -ENOMEM;
				break;
			}
			line = joined;
			cap = (size_t)(n - 2 + more + 1);
			memcpy(line + n - 2, part, (size_t)more + 1);
			n = n - 2 + more;
		}
		if (r < 0)
			break;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char kind[16], module[64];
		int consumed = 0;
		if (sscanf(line, "%15s %63s %n", kind, module, &consumed) < 2)
			continue;
		char *value = line + consumed;
		value[strcspn(value, "\n")] = '\0';
		if (strcmp(kind, "blacklist") == 0 || strcmp(kind, "install") == 0 ||
		    strcmp(kind, "options") == 0 || strcmp(kind, "softdep") == 0 ||
		    strcmp(kind, "remove") == 0)
			r = add_rule(m, shown, first, kind, module, value);
	}
	free(line);
	free(part);
	fclose(f);
	return r;
}

int pt_modprobe_load(pt_ctx *ctx, struct pt_modprobe *m)
{
	char **files = NULL;
	size_t n = 0;
	int r = 0;

	memset(m, 0, sizeof(*m));
	for (size_t d = 0; r == 0 && d < sizeof(DIRS) / sizeof(*DIRS); d++) {
		int fd = openat(ctx->rootfd, DIRS[d], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
		struct dirent *de;
		if (!dir) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		while (r == 0 && (de = readdir(dir))) {
			size_t len = strlen(de->d_name);
			bool shadowed = false;
			if (len < 6 || strcmp(de->d_name + len - 5, ".conf") != 0)
				continue;
			for (size_t i = 0; i < n && !shadowed; i++)
				shadowed = strcmp(pt_basename(files[i]), de->d_name) == 0;
			if (shadowed)
				continue;
			char **f = realloc(files, (n + 1) * sizeof(*f));
			if (!f || asprintf(&f[n], "%s/%s", DIRS[d], de->d_name) < 0) {
				files = f ? f : files;
				r = -ENOMEM;
				break;
			}
			files = f;
			n++;
		}
		closedir(dir);
	}
	if (files)
		if (n) /* qsort's base may not be NULL */
			qsort(files, n, sizeof(*files), compare_names);
	for (size_t i = 0; i < n; i++) {
		if (r == 0)
			r = parse_file(m, ctx, files[i]);
		free(files[i]);
	}
	free(files);
	if (r < 0)
		pt_modprobe_free(m);
	return r;
}

void pt_modprobe_free(struct pt_modprobe *m)
{
	for (size_t i = 0; i < m->n_rules; i++) {
		free(m->rules[i].value);
		free(m->rules[i].file);
	}
	free(m->rules);
	memset(m, 0, sizeof(*m));
}

const struct pt_modprobe_rule *pt_modprobe_find(const struct pt_modprobe *m, const char *kind,
						const char *module, size_t *from)
{
	char name[64];

	snprintf(name, sizeof(name), "%s", module);
	pt_module_name(name);
	for (size_t i = *from; i < m->n_rules; i++)
		if (strcmp(m->rules[i].kind, kind) == 0 && strcmp(m->rules[i].module, name) == 0) {
			*from = i + 1;
			return &m->rules[i];
		}
	*from = m->n_rules;
	return NULL;
}
