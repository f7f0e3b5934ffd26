/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Lint's findings and what its checks share: a finding noted (its text cleaned: values come
 * from configs), a config key's numbering, whether a VM runs. lint.c (the VM configs' checks)
 * and locality.c (placement) both note through here.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "libpt-private.h"

void pt_lint_note(struct pt_lint *l, unsigned vm, const char *key, const char *code, const char *format, ...)
{
	va_list args;
	char *msg;

	if (l->oom)
		return;
	va_start(args, format);
	int r = vasprintf(&msg, format, args);
	va_end(args);
	if (r >= 0) {
		/* values from a config: no control byte or invalid UTF-8 reaches a terminal or the JSON */
		char *clean = pt_clean_string(msg);
		free(msg);
		msg = clean;
		r = clean ? 0 : -1;
	}
	if (r >= 0 && l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		struct pt_lint_finding *more = reallocarray(l->v, cap, sizeof(*l->v));
		if (more) {
			l->v = more;
			l->cap = cap;
		}
	}
	if (r < 0 || l->n == l->cap) {
		if (r >= 0)
			free(msg);
		l->oom = true;
		return;
	}
	l->v[l->n++] = (struct pt_lint_finding){ .vm = vm, .key = pt_clean_string(key), .code = code, .message = msg };
	if (!l->v[l->n - 1].key)
		l->oom = true;
}

/* The VM's QEMU, from qemu-server's pid file; 0 when it does not run. */
long pt_vm_pid(pt_ctx *ctx, unsigned vm)
{
	char path[64], *text = NULL;
	size_t len;
	unsigned long long pid = 0;

	snprintf(path, sizeof(path), "/var/run/qemu-server/%u.pid", vm);
	if (pt_read_in_root(ctx, path, 64, &text, &len) == 0 && text) {
		text[strcspn(text, "\n")] = '\0';
		if (pt_parse_uint(text, 4194304, &pid) < 0)
			pid = 0;
	}
	free(text);
	return (long)pid;
}
