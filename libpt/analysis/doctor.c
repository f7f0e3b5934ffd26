/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The doctor's result: is this host ready for passthrough, and is this device? Each check says
 * pass, warn, fail or info, the evidence (the file read and the value found) and the fix (the
 * exact line to add and the command that applies it). The checks are doctor-host.c's and
 * doctor-device.c's.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libkmod.h>

#include "doctor.h"

static char *vformat(const char *format, va_list args)
{
	char *s;
	return format && vasprintf(&s, format, args) >= 0 ? s : NULL;
}

void pt_doctor_add(pt_doctor *d, const char *id, pt_status status, const char *title,
		const char *fix, const char *evidence, ...)
{
	va_list args;
	struct check *c = realloc(d->checks, (d->n_checks + 1) * sizeof(*c));

	if (!c) {
		d->oom = true;
		return;
	}
	d->checks = c;
	c = &d->checks[d->n_checks++];
	va_start(args, evidence);
	c->evidence = vformat(evidence, args);
	va_end(args);
	c->id = strdup(id);
	c->title = strdup(title);
	c->fix = fix ? strdup(fix) : NULL;
	c->status = status;
	d->oom |= !c->id || !c->title || !c->evidence || (fix && !c->fix);
}

void pt_doctor_destroy(pt_doctor *d)
{
	for (size_t i = 0; i < d->n_checks; i++) {
		free(d->checks[i].id);
		free(d->checks[i].title);
		free(d->checks[i].evidence);
		free(d->checks[i].fix);
	}
	free(d->checks);
	pt_modprobe_free(&d->modprobe);
	pt_enum_unref(d->e);
	free(d);
}

PT_EXPORT pt_doctor *pt_doctor_ref(pt_doctor *d)
{
	if (d)
		d->refcount++;
	return d;
}

PT_EXPORT pt_doctor *pt_doctor_unref(pt_doctor *d)
{
	if (d && --d->refcount == 0)
		pt_doctor_destroy(d);
	return NULL;
}

PT_EXPORT size_t pt_doctor_get_check_count(const pt_doctor *d) { return d->n_checks; }

#define CHECK_GETTER(type, name, field, none)                                      \
	PT_EXPORT type pt_doctor_get_##name(const pt_doctor *d, size_t i)          \
	{                                                                          \
		return i < d->n_checks ? d->checks[i].field : none;                \
	}
CHECK_GETTER(const char *, id, id, NULL)
CHECK_GETTER(const char *, title, title, NULL)
CHECK_GETTER(const char *, evidence, evidence, NULL)
CHECK_GETTER(const char *, fix, fix, NULL)
CHECK_GETTER(pt_status, status, status, PT_INFO)

PT_EXPORT size_t pt_doctor_get_failures(const pt_doctor *d)
{
	size_t n = 0;
	for (size_t i = 0; i < d->n_checks; i++)
		n += d->checks[i].status == PT_FAIL;
	return n;
}

PT_EXPORT const char *pt_status_to_string(pt_status s)
{
	static const char *const names[] = { [PT_PASS] = "pass", [PT_WARN] = "warn",
					     [PT_FAIL] = "fail", [PT_INFO] = "info" };
	return (unsigned)s < sizeof(names) / sizeof(*names) ? names[s] : NULL;
}

