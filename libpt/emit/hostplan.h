/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The host plan's object and what its plans share (hostplan.c, which holds the object, the kernel
 * command line, huge pages and VFs at boot, and the apply); the plan that sends a passthrough set
 * to vfio-pci at every boot is hostplan-vfio.c. */
#ifndef LIBPT_HOSTPLAN_H
#define LIBPT_HOSTPLAN_H

#include <errno.h>

#include "libpt-private.h"

#define HOST_FILE_MAX (4u << 20)

struct change {
	char *path;
	char *old; /* NULL: the file does not exist */
	char *new;
	bool mkdir;
	char *backup; /* once applied: where the old file was kept */
};

struct pt_host_plan {
	int refcount;
	pt_ctx *ctx;
	struct change *changes;
	size_t n_changes;
	struct pt_strv commands;
	bool oom;
};

/* The host file as it is: 0 with *text (NULL when absent), or -errno. */
static inline int read_host(pt_ctx *ctx, const char *path, char **text)
{
	int r = pt_read_in_root(ctx, path, HOST_FILE_MAX, text, NULL);

	if (r == -ENOENT || r == -ENOTDIR) {
		*text = NULL;
		return 0;
	}
	return r;
}

static inline char *joined(struct pt_strv *v, const char *sep)
{
	char *s = v->oom ? NULL : pt_strv_join(v, sep);
	pt_strv_free(v);
	return s;
}

/* Adds the change when the file differs (content taken), and the command that makes it count. */
int pt_hostplan_change(struct pt_host_plan *p, const char *path, char *content, const char *command, bool mkdir);
/* A new plan (pt_fail on failure), and its end: ret set on success, the plan unreferenced on failure. */
int pt_hostplan_new(pt_ctx *ctx, struct pt_host_plan **ret);
int pt_hostplan_done(struct pt_host_plan *p, int r, pt_host_plan **ret);
/* params (space-separated) on the kernel command line of the host's boot loader. */
int pt_hostplan_params(struct pt_host_plan *p, const char *params);

#endif
