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

/* A storage id as pve-storage takes one (the one word rule, pt_word_valid: a letter first, then
 * letters, digits, '-', '_', '.'), not ending in punctuation; or, with snippet, a file name (a
 * letter or digit first). */
static bool word_ok(const char *w, bool snippet)
{
	size_t n = w ? strlen(w) : 0;
	return n && n <= 200 && pt_word_valid(w, snippet, "-_.") && (snippet || isalnum((unsigned char)w[n - 1]));
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

PT_EXPORT int pt_pve_snippets_dir(pt_ctx *ctx, const char *storage, char **dir_ret)
{
	pt_pve_config *cfg = NULL;
	char node[256], path[4096] = "";
	size_t i;
	int r;

	if (!ctx || !storage || !dir_ret)
		return -EINVAL;
	*dir_ret = NULL;
	if (!word_ok(storage, false))
		return pt_fail(ctx, -EINVAL, "storage '%s': not a storage id", storage);
	r = pt_pve_config_read(ctx, "/etc/pve/storage.cfg", &cfg);
	if (r == -ENOENT)
		return pt_fail(ctx, r, "%s/etc/pve/storage.cfg: %s (is this a Proxmox VE node?)", ctx->root, strerror(-r));
	if (r < 0)
		return r;
	if (pt_pve_config_find(cfg, storage, &i) < 0 || !pt_pve_config_get_type(cfg, i)) {
		pt_pve_config_unref(cfg);
		return pt_fail(ctx, -ENOENT, "storage '%s': not in %s/etc/pve/storage.cfg", storage, ctx->root);
	}
	const char *type = pt_pve_config_get_type(cfg, i), *disable = pt_pve_config_value(cfg, i, "disable");
	const char *nodes = pt_pve_config_value(cfg, i, "nodes"), *content = pt_pve_config_value(cfg, i, "content");
	snprintf(path, sizeof(path), "%s", pt_pve_config_value(cfg, i, "path") ? pt_pve_config_value(cfg, i, "path") : "");
	if (disable && strcmp(disable, "0") != 0)
		r = pt_fail(ctx, -EINVAL, "storage '%s' is disabled (pvesm set %s --disable 0)", storage, storage);
	else if (nodes && pt_node_self_name(ctx, node) == 0 && !listed(nodes, node))
		r = pt_fail(ctx, -EINVAL, "storage '%s' is not on this node (%s; its nodes: %s)", storage, node, nodes);
	if (r == 0 && !path[0]) {
		for (int m = 0; MOUNTED[m]; m++)
			if (strcmp(type, MOUNTED[m]) == 0)
				snprintf(path, sizeof(path), "/mnt/pve/%s", storage);
		if (!path[0])
			r = pt_fail(ctx, -EINVAL,
				    "storage '%s' (%s) keeps no files: snippets need a directory storage "
				    "(dir, nfs, cifs, cephfs, btrfs), such as 'local'", storage, type);
	}
	if (r == 0 && (path[0] != '/' || strstr(path, "/../")))
		r = pt_fail(ctx, -EINVAL, "storage '%s': path '%s' is not a plain absolute path", storage, path);
	if (r == 0 && !listed(content ? content : "", "snippets"))
		r = pt_fail(ctx, -EINVAL, "storage '%s' does not hold snippets; enable them with: pvesm set %s "
			    "--content %s%ssnippets", storage, storage, content ? content : "",
			    content && content[0] ? "," : "");
	pt_pve_config_unref(cfg);
	if (r < 0)
		return r;
	size_t n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		path[--n] = '\0';
	if (asprintf(dir_ret, "%s/snippets", n > 1 ? path : "") < 0) {
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
	/* a snippet this call creates goes again when qm fails: nothing is left half done */
	bool created = !remove && faccessat(ctx->rootfd, path + 1, F_OK, AT_SYMLINK_NOFOLLOW) < 0;
	bool dir_created = created && faccessat(ctx->rootfd, dir + 1, F_OK, 0) < 0;

	if (!remove && (r = step(&steps, "write %s%s (mode 0755)", ctx->root, path)) < 0)
		goto out;
	if (!remove && !dry && (r = pt_ctx_write_file(ctx, path, text, PT_WRITE_EXECUTABLE | PT_WRITE_MKDIR, NULL)) < 0)
		goto out;
	if (set) {
		if ((r = step(&steps, "%s%s %s %s %s %s", have_qm || dry ? "" : "to do by hand: ", have_qm ? qm : "qm",
			      argv[1], argv[2], argv[3], argv[4])) < 0)
			goto out;
		if (!dry && have_qm && (r = run_qm(ctx, qm, argv)) < 0) {
			if (created)
				remove_snippet(ctx, path);
			if (dir_created)
				unlinkat(ctx->rootfd, dir + 1, AT_REMOVEDIR);
			goto out;
		}
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
	pt_vmconf_unref(conf);
	free(dir);
	free(path);
	free(volume);
	return r;
}
