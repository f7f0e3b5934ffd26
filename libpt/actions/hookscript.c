/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Proxmox hookscripts: where a storage keeps its snippets (/etc/pve/storage.cfg, read as
 * pve-storage's section config reads it), and a snippet written there and set as a VM's
 * hookscript with `qm set` under a timeout. Proxmox writes a VM's config under its own cluster
 * lock, so libpt never edits one: qm does, or the admin types the command libpt prints.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libpt-private.h"

#define QM "/usr/sbin/qm"
#define QM_TIMEOUT_MS 60000 /* qm takes the VM's config lock, which a running backup may hold */

/* Storage types whose files lie under a mount point of their own when the config names no path. */
static const char *const MOUNTED[] = { "nfs", "cifs", "cephfs", "glusterfs", NULL };

struct storage {
	char type[64];
	char path[4096];
	char content[1024];
	char nodes[1024];
	bool found, disabled, has_content;
};

/* A storage id as pve-storage takes one (a letter, then letters, digits, '-', '_', '.'; not
 * ending in '-', '_', '.'), or with snippet a file name (a letter or digit first). */
static bool word_ok(const char *w, bool snippet)
{
	size_t n = strlen(w);
	if (n == 0 || n > 200 || !(snippet ? isalnum((unsigned char)w[0]) : isalpha((unsigned char)w[0])))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)w[i]) && !strchr("-_.", w[i]))
			return false;
	return snippet || isalnum((unsigned char)w[n - 1]);
}

/* In a comma-separated list (content, nodes), whether item is one of its entries. */
static bool listed(const char *list, const char *item)
{
	size_t n = strlen(item);
	for (const char *p = list; *p;) {
		size_t len = strcspn(p, ", ");
		if (len == n && strncmp(p, item, n) == 0)
			return true;
		p += len;
		p += strspn(p, ", ");
	}
	return false;
}

/*
 * The section of storage id in storage.cfg's text: a section begins with "TYPE: ID" at the
 * start of a line; its properties are the indented "KEY VALUE" lines under it, up to a blank
 * line or the next section; '#' lines are comments.
 */
static void find_storage(const char *text, const char *id, struct storage *s)
{
	bool inside = false;

	for (const char *line = text, *end; *line; line = *end ? end + 1 : end) {
		end = line + strcspn(line, "\n");
		int len = (int)(end - line);
		char key[64], value[4096];

		if (len == 0 || strspn(line, " \t") == (size_t)len) {
			inside = false;
			continue;
		}
		if (line[0] == '#')
			continue;
		if (line[0] != ' ' && line[0] != '\t') {
			char type[64], name[256];
			inside = sscanf(line, "%63[^: \t\n]: %255[^ \t\n]", type, name) == 2 && strcmp(name, id) == 0;
			if (inside) {
				*s = (struct storage){ .found = true };
				snprintf(s->type, sizeof(s->type), "%s", type);
			}
			continue;
		}
		if (!inside)
			continue;
		value[0] = '\0';
		if (sscanf(line, " %63s %4095[^\n]", key, value) < 1)
			continue;
		size_t v = strlen(value);
		while (v && (value[v - 1] == ' ' || value[v - 1] == '\t' || value[v - 1] == '\r'))
			value[--v] = '\0';
		if (strcmp(key, "path") == 0)
			snprintf(s->path, sizeof(s->path), "%s", value);
		else if (strcmp(key, "content") == 0) {
			snprintf(s->content, sizeof(s->content), "%s", value);
			s->has_content = true;
		} else if (strcmp(key, "nodes") == 0)
			snprintf(s->nodes, sizeof(s->nodes), "%s", value);
		else if (strcmp(key, "disable") == 0)
			s->disabled = strcmp(value, "0") != 0;
	}
}

PT_EXPORT int pt_pve_snippets_dir(pt_ctx *ctx, const char *storage, char **dir_ret)
{
	struct storage s = { .found = false };
	char node[256];
	char *text = NULL;
	size_t len;
	int r;

	if (!ctx || !storage || !dir_ret)
		return -EINVAL;
	*dir_ret = NULL;
	if (!word_ok(storage, false))
		return pt_fail(ctx, -EINVAL, "storage '%s': not a storage id", storage);
	r = pt_read_in_root(ctx, "/etc/pve/storage.cfg", 1 << 20, &text, &len);
	if (r < 0)
		return pt_fail(ctx, r, "%s/etc/pve/storage.cfg: %s (is this a Proxmox VE node?)", ctx->root,
			       strerror(-r));
	find_storage(text, storage, &s);
	free(text);
	if (!s.found)
		return pt_fail(ctx, -ENOENT, "storage '%s': not in %s/etc/pve/storage.cfg", storage, ctx->root);
	if (s.disabled)
		return pt_fail(ctx, -EINVAL, "storage '%s' is disabled (pvesm set %s --disable 0)", storage, storage);
	if (s.nodes[0] && pt_node_self_name(ctx, node) == 0 && !listed(s.nodes, node))
		return pt_fail(ctx, -EINVAL, "storage '%s' is not on this node (%s; its nodes: %s)", storage, node,
			       s.nodes);
	if (!s.path[0]) {
		for (int i = 0; MOUNTED[i]; i++)
			if (strcmp(s.type, MOUNTED[i]) == 0)
				snprintf(s.path, sizeof(s.path), "/mnt/pve/%s", storage);
		if (!s.path[0])
			return pt_fail(ctx, -EINVAL,
				       "storage '%s' (%s) keeps no files: snippets need a directory storage "
				       "(dir, nfs, cifs, cephfs, btrfs), such as 'local'", storage, s.type);
	}
	if (s.path[0] != '/' || strstr(s.path, "/../") || strchr(s.path, '\n'))
		return pt_fail(ctx, -EINVAL, "storage '%s': path '%s' is not a plain absolute path", storage, s.path);
	if (!listed(s.content, "snippets"))
		return pt_fail(ctx, -EINVAL, "storage '%s' does not hold snippets; enable them with: pvesm set %s "
			       "--content %s%ssnippets", storage, storage, s.content, s.content[0] ? "," : "");
	size_t n = strlen(s.path);
	while (n > 1 && s.path[n - 1] == '/')
		s.path[--n] = '\0';
	if (asprintf(dir_ret, "%s/snippets", n > 1 ? s.path : "") < 0) {
		*dir_ret = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Adds a line to the steps (the writes and commands done, or that a dry run would do). */
static int step(char **steps, const char *format, ...) PT_PRINTF(2, 3);
static int step(char **steps, const char *format, ...)
{
	va_list ap;
	char *line, *more;

	va_start(ap, format);
	int n = vasprintf(&line, format, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	if (asprintf(&more, "%s%s\n", *steps ? *steps : "", line) < 0) {
		free(line);
		return -ENOMEM;
	}
	free(line);
	free(*steps);
	*steps = more;
	return 0;
}

/* Removes the snippet, a regular file, under the root; 0 when it is gone or was never there. */
static int remove_snippet(pt_ctx *ctx, const char *path)
{
	const char *name;
	struct stat st;
	int dir = pt_open_parent_in_root(ctx->rootfd, path + 1, &name), r = 0;

	if (dir < 0)
		return errno == ENOENT ? 0 : pt_fail(ctx, -errno, "%s%s: its directory: %m", ctx->root, path);
	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		r = errno == ENOENT ? 0 : -errno;
	else if (!S_ISREG(st.st_mode))
		r = pt_fail(ctx, -EINVAL, "%s%s: not a regular file: not removed", ctx->root, path);
	else if (unlinkat(dir, name, 0) < 0)
		r = -errno;
	close(dir);
	return r < 0 && r != -EINVAL ? pt_fail(ctx, r, "%s%s: %s", ctx->root, path, strerror(-r)) : r;
}

/* qm with its arguments, under the timeout; its output in the message when it fails. */
static int run_qm(pt_ctx *ctx, const char *qm, char *const argv[])
{
	char *out = NULL;
	int r = pt_run_timeout(qm, argv, QM_TIMEOUT_MS, &out, 4096);

	if (r == -ETIMEDOUT)
		r = pt_fail(ctx, r, "%s %s %s %s: no answer in %d s (is the VM's config locked?)", qm, argv[1],
			    argv[2], argv[3], QM_TIMEOUT_MS / 1000);
	else if (r < 0)
		r = pt_fail(ctx, r, "%s: %s", qm, strerror(-r));
	else if (r > 0) {
		char *said = pt_clean_string(out ? out : "");
		r = pt_fail(ctx, -EIO, "%s %s %s %s %s: exit status %d%s%s", qm, argv[1], argv[2], argv[3],
			    argv[4] ? argv[4] : "", r, said && said[0] ? ": " : "", said ? said : "");
		free(said);
	}
	free(out);
	return r;
}

PT_EXPORT int pt_pve_set_hookscript(pt_ctx *ctx, unsigned vm, const char *storage, const char *name,
				    const char *text, const char *qm, unsigned flags, char **steps_ret)
{
	bool remove = flags & PT_HOOKSCRIPT_REMOVE, dry = flags & PT_HOOKSCRIPT_DRY_RUN;
	char *dir = NULL, *path = NULL, *volume = NULL, *steps = NULL, vmid[16];
	pt_vmconf *conf = NULL;
	const char *current;
	int r;

	if (!ctx || !name || (!remove && !text) || !steps_ret)
		return -EINVAL;
	*steps_ret = NULL;
	if ((r = pt_check_vmid(ctx, vm)) < 0)
		return r;
	if (!word_ok(name, true))
		return pt_fail(ctx, -EINVAL, "snippet name '%s': letters, digits, '.', '-' and '_' only", name);
	if (!qm)
		qm = ctx->root[0] ? NULL : QM; /* under a root no system qm: it would act on this host */
	if ((r = pt_pve_snippets_dir(ctx, storage, &dir)) < 0)
		return r;
	if ((r = pt_vmconf_read(ctx, vm, &conf)) < 0)
		goto out;
	snprintf(vmid, sizeof(vmid), "%u", vm);
	if (asprintf(&path, "%s/%s", dir, name) < 0 || asprintf(&volume, "%s:snippets/%s", storage, name) < 0) {
		r = -ENOMEM;
		goto out;
	}
	current = pt_vmconf_get(conf, "hookscript");
	if (!remove && current && strcmp(current, volume) != 0 && !(flags & PT_HOOKSCRIPT_REPLACE)) {
		r = pt_fail(ctx, -EEXIST, "VM %u already has the hookscript %s (Proxmox runs one a VM); replace it "
			    "knowingly (--replace), or add its work to a recipe", vm, current);
		goto out;
	}
	bool set = remove ? current && strcmp(current, volume) == 0 : !current || strcmp(current, volume) != 0;
	char *const set_argv[] = { (char *)qm, "set", vmid, "--hookscript", volume, NULL };
	char *const delete_argv[] = { (char *)qm, "set", vmid, "--delete", "hookscript", NULL };
	char *const *argv = remove ? delete_argv : set_argv;
	bool have_qm = qm && access(qm, X_OK) == 0;

	if (!remove && (r = step(&steps, "write %s%s (mode 0755)", ctx->root, path)) < 0)
		goto out;
	if (!remove && !dry && (r = pt_ctx_write_file(ctx, path, text, PT_WRITE_EXECUTABLE | PT_WRITE_MKDIR, NULL)) < 0)
		goto out;
	if (set) {
		if ((r = step(&steps, "%s%s %s %s %s %s", have_qm || dry ? "" : "to do by hand: ", have_qm ? qm : "qm",
			      argv[1], argv[2], argv[3], argv[4])) < 0)
			goto out;
		if (!dry && have_qm && (r = run_qm(ctx, qm, argv)) < 0)
			goto out;
	} else if (remove && current && (r = step(&steps, "VM %u's hookscript is %s, not %s: left as it is", vm,
						  current, volume)) < 0)
		goto out;
	if (remove) {
		if ((r = step(&steps, "remove %s%s", ctx->root, path)) < 0)
			goto out;
		if (!dry && (r = remove_snippet(ctx, path)) < 0)
			goto out;
	}
	r = set && !have_qm && !dry ? PT_HOOKSCRIPT_BY_HAND : 0;
out:
	if (r >= 0)
		*steps_ret = steps;
	else
		free(steps);
	pt_vmconf_free(conf);
	free(dir);
	free(path);
	free(volume);
	return r;
}
