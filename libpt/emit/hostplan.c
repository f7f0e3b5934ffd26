// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Host persistence: a plan of file changes shown as diffs and applied atomically with backups
 * (the object, its getters and pt_host_plan_apply), and what its plans share: a change of a host
 * file, the kernel command line for GRUB or systemd-boot (pt_host_boot_loader). And the small
 * plans: huge pages reserved at boot, VFs that exist at every boot. The plan that makes a
 * passthrough set go to vfio-pci at every boot is hostplan-vfio.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostplan.h"

#define GRUB "/etc/default/grub"
#define SYSTEMD_BOOT "/etc/kernel/cmdline"

/* Adds the change when the file differs (content taken), and the command that makes it count. */
int pt_hostplan_change(struct pt_host_plan *p, const char *path, char *content, const char *command, bool mkdir)
{
	char *old;
	int r;

	if (!content) {
		p->oom = true;
		return -ENOMEM;
	}
	if ((r = read_host(p->ctx, path, &old)) < 0) {
		free(content);
		return r;
	}
	if (old && strcmp(old, content) == 0) {
		free(old);
		free(content);
		return 0;
	}
	struct change *v = realloc(p->changes, (p->n_changes + 1) * sizeof(*v));
	if (!v) {
		free(old);
		free(content);
		p->oom = true;
		return -ENOMEM;
	}
	p->changes = v;
	v[p->n_changes++] = (struct change){ .path = strdup(path), .old = old, .new = content, .mkdir = mkdir };
	if (!v[p->n_changes - 1].path)
		p->oom = true;
	if (command && !pt_strv_has(&p->commands, command))
		pt_strv_add(&p->commands, command);
	return 0;
}

static void plan_free_changes(struct pt_host_plan *p)
{
	for (size_t i = 0; i < p->n_changes; i++) {
		free(p->changes[i].path);
		free(p->changes[i].old);
		free(p->changes[i].new);
		free(p->changes[i].backup);
	}
	free(p->changes);
}

static void destroy_host_plan(pt_host_plan *p)
{
	plan_free_changes(p);
	pt_strv_free(&p->commands);
	pt_ctx_unref(p->ctx);
	free(p);
}

PT_DEFINE_REFCOUNT(pt_host_plan, destroy_host_plan)

int pt_hostplan_new(pt_ctx *ctx, struct pt_host_plan **ret)
{
	struct pt_host_plan *p = calloc(1, sizeof(*p));

	if (!p)
		return pt_fail(ctx, -ENOMEM, "out of memory");
	p->refcount = 1;
	p->ctx = pt_ctx_ref(ctx);
	*ret = p;
	return 0;
}

int pt_hostplan_done(struct pt_host_plan *p, int r, pt_host_plan **ret)
{
	if (r == 0 && (p->oom || p->commands.oom))
		r = pt_fail(p->ctx, -ENOMEM, "out of memory");
	if (r < 0) {
		pt_host_plan_unref(p);
		return r;
	}
	*ret = p;
	return 0;
}

/* params (space-separated) on the kernel command line of the host's boot loader. */
int pt_hostplan_params(struct pt_host_plan *p, const char *params)
{
	char *text;
	int r;

	if (strcmp(pt_host_boot_loader(p->ctx), "systemd-boot") == 0) {
		if ((r = read_host(p->ctx, SYSTEMD_BOOT, &text)) < 0)
			return r;
		if (text) {
			char *line = pt_cmdline_add_params(text, strcspn(text, "\n"), params), *out = NULL;
			if (line && asprintf(&out, "%s\n", line) < 0)
				out = NULL;
			free(line);
			free(text);
			return pt_hostplan_change(p, SYSTEMD_BOOT, out, "proxmox-boot-tool refresh", false);
		}
	}
	if ((r = read_host(p->ctx, GRUB, &text)) < 0)
		return r;
	char *out = pt_grub_with_params(text, params);
	free(text);
	return pt_hostplan_change(p, GRUB, out, "update-grub", false);
}

/* The value of a GRUB_CMDLINE_LINUX(_DEFAULT)= line (key: with its '='), in quotes or bare; NULL
 * for another line (a comment, another variable). */
static char *grub_value(const char *line, const char *key)
{
	const char *p = line + strspn(line, " \t");

	if (strncmp(p, key, strlen(key)))
		return NULL;
	p += strlen(key);
	if (*p == '"' || *p == '\'') {
		const char *end = strchr(p + 1, *p);
		return strndup(p + 1, end ? (size_t)(end - p - 1) : strlen(p + 1));
	}
	return strndup(p, strcspn(p, " \t#"));
}

/* The words the host's boot loader gives the kernel (where a reservation takes effect):
 * systemd-boot's /etc/kernel/cmdline; GRUB's GRUB_CMDLINE_LINUX and GRUB_CMDLINE_LINUX_DEFAULT,
 * each as its last assignment sets it (the one pt_grub_with_params edits), never the file's
 * comments. *path: the file; NULL only when out of memory. */
static char *cmdline_now(pt_ctx *ctx, const char **path)
{
	struct pt_strv lines = { 0 };
	char *text = NULL, *linux_ = NULL, *deflt = NULL, *out = NULL;

	*path = SYSTEMD_BOOT;
	if (strcmp(pt_host_boot_loader(ctx), "systemd-boot") == 0 && read_host(ctx, SYSTEMD_BOOT, &text) == 0 && text)
		return text;
	*path = GRUB;
	if (read_host(ctx, GRUB, &text) < 0 || !text)
		return strdup("");
	pt_text_lines(text, &lines);
	free(text);
	for (size_t i = 0; i < lines.n; i++) {
		char *v;
		if ((v = grub_value(lines.v[i], "GRUB_CMDLINE_LINUX="))) {
			free(linux_);
			linux_ = v;
		} else if ((v = grub_value(lines.v[i], "GRUB_CMDLINE_LINUX_DEFAULT="))) {
			free(deflt);
			deflt = v;
		}
	}
	pt_strv_free(&lines);
	if (asprintf(&out, "%s %s", linux_ ? linux_ : "", deflt ? deflt : "") < 0)
		out = NULL;
	free(linux_);
	free(deflt);
	return out;
}

/* A word of line that is word (its len bytes), or that starts with it (prefix): found (its
 * copy into found, size bytes, when found). */
static bool cmdline_word(const char *line, const char *word, size_t len, bool prefix, char *found, size_t size)
{
	for (const char *w = line + strspn(line, " \t\n"); *w; w += strspn(w, " \t\n")) {
		size_t m = strcspn(w, " \t\n");
		if ((prefix ? m >= len : m == len) && strncmp(w, word, len) == 0) {
			if (found)
				snprintf(found, size, "%.*s", (int)m, w);
			return true;
		}
		w += m;
	}
	return false;
}

/* Whether line has every word of params. */
static bool cmdline_has_all(const char *line, const char *params)
{
	for (const char *p = params + strspn(params, " "); *p; p += strspn(p, " ")) {
		size_t n = strcspn(p, " ");
		if (!cmdline_word(line, p, n, false, NULL, 0))
			return false;
		p += n;
	}
	return true;
}

PT_EXPORT int pt_host_plan_new_hugepages(pt_ctx *ctx, const pt_placement *place, pt_host_plan **ret)
{
	struct pt_host_plan *p = NULL;
	unsigned long kib, needed, total = 0;
	long free_now;
	char path[128], buf[32], params[96], found[64], *now;
	const char *file;
	unsigned long long v;
	int node, r;

	if (!ctx)
		return -EINVAL;
	if (!place || !ret)
		return pt_fail(ctx, -EINVAL, "pt_host_plan_new_hugepages: no placement");
	kib = pt_placement_get_hugepage_size(place);
	node = pt_placement_get_node(place);
	if (!kib)
		return pt_fail(ctx, -EINVAL, "the placement puts the VM on no huge pages (hugepages 2 or 1024)");
	needed = pt_placement_get_hugepages_needed(place);
	free_now = pt_placement_get_hugepages_free(place);
	snprintf(path, sizeof(path), "sys/devices/system/node/node%d/hugepages/hugepages-%lukB/nr_hugepages", node, kib);
	if (pt_read_attr(ctx->rootfd, path, buf, sizeof(buf)) == 0 && pt_parse_uint(buf, 1ULL << 40, &v) == 0)
		total = (unsigned long)v;
	else if (free_now > 0)
		total = (unsigned long)free_now;
	/* the node's pages as they are, and what the VM lacks on top */
	if (free_now < 0 || (unsigned long)free_now < needed)
		total += needed - (free_now < 0 ? 0 : (unsigned long)free_now);
	snprintf(params, sizeof(params), "hugepagesz=%s hugepages=%d:%lu", kib == 2048 ? "2M" : "1G", node, total);
	if (!(now = cmdline_now(ctx, &file)))
		return pt_fail(ctx, -ENOMEM, "out of memory");
	/* the words the kernel gets: this very reservation there already (an earlier plan's) is done */
	bool done = cmdline_has_all(now, params);
	if (!done && cmdline_word(now, "hugepages=", strlen("hugepages="), true, found, sizeof(found))) {
		free(now);
		return pt_fail(ctx, -EEXIST, "the kernel command line reserves huge pages already (%s in %s%s): one "
			       "reservation a host, which libpt does not rewrite; add node %d's %lu pages of %lu KiB to it "
			       "(hugepages=%d:%lu)", found, strcmp(ctx->root, "/") ? ctx->root : "", file, node, total,
			       kib, node, total);
	}
	free(now);
	if ((r = pt_hostplan_new(ctx, &p)) < 0)
		return r;
	if (done)
		return pt_hostplan_done(p, 0, ret); /* an empty plan: nothing to write, nothing to run */
	r = pt_hostplan_params(p, params);
	if (r == 0 && kib == 2048)
		/* 2 MiB pages can come now as well, while memory is not yet fragmented */
		pt_strv_addf(&p->commands, "echo %lu > /sys/devices/system/node/node%d/hugepages/hugepages-2048kB/nr_hugepages",
			     total, node);
	return pt_hostplan_done(p, r, ret);
}

PT_EXPORT int pt_host_plan_new_sriov(const pt_device *pf, unsigned vfs, unsigned wait_ms, const char *vf_driver,
				     pt_host_plan **ret)
{
	struct pt_host_plan *p = NULL;
	char path[96], command[128], *content = NULL;
	int r;

	if (!pf || !ret)
		return -EINVAL;
	if (vf_driver && (r = pt_check_driver_name(pf->e->ctx, pf->address, "VF driver", vf_driver)) < 0)
		return r;
	/* what the boot's pt_device_set_sriov_numvfs would refuse is refused now */
	if (!pf->totalvfs)
		return pt_fail(pf->e->ctx, -EINVAL, "%s: cannot create virtual functions (no sriov_totalvfs)", pf->address);
	if (vfs > pf->totalvfs)
		return pt_fail(pf->e->ctx, -EINVAL, "%s: %u virtual functions asked, at most %u", pf->address, vfs,
			       pf->totalvfs);
	if ((r = pt_hostplan_new(pf->e->ctx, &p)) < 0)
		return r;
	snprintf(path, sizeof(path), "/etc/libpt/sriov-%s.conf", pf->address);
	snprintf(command, sizeof(command), "systemctl enable libpt-sriov@%s.service", pf->address);
	/* VF_DRIVER_ARGS: the unit's $VF_DRIVER_ARGS, none or two words */
	if (asprintf(&content, "# Written by libpt: %u virtual functions on %s at boot (libpt-sriov@%s.service)\nVFS=%u\n"
		     "WAIT_MS=%u\nVF_DRIVER_ARGS=%s%s\n", vfs, pf->address, pf->address, vfs, wait_ms,
		     vf_driver ? "--vf-driver " : "", vf_driver ? vf_driver : "") < 0)
		content = NULL;
	r = pt_hostplan_change(p, path, content, command, true);
	return pt_hostplan_done(p, r, ret);
}

PT_EXPORT pt_ctx *pt_host_plan_get_context(const pt_host_plan *p)
{
	return p ? p->ctx : NULL;
}

PT_EXPORT size_t pt_host_plan_get_change_count(const pt_host_plan *p)
{
	return p ? p->n_changes : 0;
}

PT_EXPORT const char *pt_host_plan_get_path(const pt_host_plan *p, size_t i)
{
	return p && i < p->n_changes ? p->changes[i].path : NULL;
}

PT_EXPORT const char *pt_host_plan_get_old(const pt_host_plan *p, size_t i)
{
	return p && i < p->n_changes ? p->changes[i].old : NULL;
}

PT_EXPORT const char *pt_host_plan_get_new(const pt_host_plan *p, size_t i)
{
	return p && i < p->n_changes ? p->changes[i].new : NULL;
}

PT_EXPORT size_t pt_host_plan_get_command_count(const pt_host_plan *p)
{
	return p ? p->commands.n : 0;
}

PT_EXPORT const char *pt_host_plan_get_command(const pt_host_plan *p, size_t i)
{
	return p && i < p->commands.n ? p->commands.v[i] : NULL;
}

PT_EXPORT char *pt_host_plan_get_diff(const pt_host_plan *p, size_t i)
{
	if (!p || i >= p->n_changes)
		return NULL;
	return pt_diff(p->changes[i].path, p->changes[i].old, p->changes[i].new);
}

/* Writes every change, or none: a failure puts back the files already written. */
PT_EXPORT int pt_host_plan_apply(pt_host_plan *p)
{
	int r = 0;

	if (!p)
		return -EINVAL;
	for (size_t i = 0; i < p->n_changes; i++) {
		struct change *c = &p->changes[i];
		char *backup = NULL;
		r = pt_ctx_write_file(p->ctx, c->path, c->new, PT_WRITE_BACKUP | (c->mkdir ? PT_WRITE_MKDIR : 0), &backup);
		if (r < 0) {
			char msg[sizeof(p->ctx->last_error)];
			snprintf(msg, sizeof(msg), "%s", pt_ctx_last_error(p->ctx));
			for (size_t j = i; j-- > 0;) {
				struct change *done = &p->changes[j];
				if (done->old)
					pt_ctx_write_file(p->ctx, done->path, done->old, 0, NULL);
				else
					pt_remove_in_root(p->ctx, done->path);
				free(done->backup);
				done->backup = NULL;
			}
			return pt_fail(p->ctx, r, "%s%s", msg, i > 0 ? " (the files written before it are put back)" : "");
		}
		free(c->backup);
		c->backup = backup;
	}
	return 0;
}

PT_EXPORT const char *pt_host_plan_get_backup(const pt_host_plan *p, size_t i)
{
	return p && i < p->n_changes ? p->changes[i].backup : NULL;
}
