/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The doctor's object and what its checks share (doctor.c); the host's checks and the run are
 * doctor-host.c, a device's checks doctor-device.c. */
#ifndef LIBPT_DOCTOR_H
#define LIBPT_DOCTOR_H

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "libpt-private.h"

struct check {
	char *id, *title, *evidence, *fix;
	pt_status status;
};

struct pt_doctor {
	int refcount;
	pt_enum *e;
	struct check *checks;
	size_t n_checks;
	/* what the checks share */
	const char *cmdline; /* the context's (core/host.c) */
	char kernel[128];
	struct pt_modprobe modprobe;
	bool oom;
};

/* Adds a check; evidence and fix are formats with one shared argument list each. */
void pt_doctor_add(pt_doctor *d, const char *id, pt_status status, const char *title, const char *fix,
		   const char *evidence, ...) PT_PRINTF(6, 7);
void pt_doctor_destroy(pt_doctor *d);
/* doctor-device.c: the device's own checks */
void pt_doctor_check_device(pt_doctor *d, const pt_device *dev);

static inline int read_text(pt_doctor *d, const char *path, char *buf, size_t size)
{
	return pt_read_attr(d->e->ctx->rootfd, path, buf, size);
}

static inline bool exists(pt_doctor *d, const char *path)
{
	return faccessat(d->e->ctx->rootfd, path, F_OK, 0) == 0;
}

static inline const char *root(pt_doctor *d)
{
	return d->e->ctx->root;
}

/* A word of the kernel command line ("intel_iommu=on"), or the value after a prefix. */
static inline const char *cmdline_value(pt_doctor *d, const char *prefix)
{
	size_t len = strlen(prefix);
	for (const char *p = d->cmdline; (p = strstr(p, prefix)); p += len)
		if (p == d->cmdline || p[-1] == ' ')
			return p + len;
	return NULL;
}


#endif
