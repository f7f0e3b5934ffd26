/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The library context: where the host is, how to log, the last error. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "libpt-private.h"

static void log_stderr(void *data, int priority, const char *file, int line, const char *fn,
		       const char *format, va_list args)
{
	(void)data; (void)priority; (void)file; (void)line;
	fprintf(stderr, "libpt: %s: ", fn);
	vfprintf(stderr, format, args);
	fputc('\n', stderr);
}

static int parse_priority(const char *s)
{
	static const char *const names[] = { "emerg", "alert", "crit", "err",
					     "warning", "notice", "info", "debug" };
	char *end;
	long v = strtol(s, &end, 10);

	if (end != s && *end == '\0' && v >= 0 && v <= LOG_DEBUG)
		return (int)v;
	for (int i = 0; i <= LOG_DEBUG; i++)
		if (strncasecmp(s, names[i], strlen(names[i])) == 0)
			return i;
	return LOG_ERR;
}

PT_EXPORT int pt_ctx_new(pt_ctx **ret, const pt_opts *opts)
{
	const char *root = "/";
	pt_ctx *ctx;

	if (!ret)
		return -EINVAL;
	if (opts) {
		if (opts->size < offsetof(pt_opts, root) + sizeof(opts->root))
			return -EINVAL;
		if (opts->root && opts->root[0])
			root = opts->root;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	ctx->refcount = 1;
	ctx->log_fn = log_stderr;
	ctx->log_priority = LOG_WARNING;
	if (opts && opts->size >= offsetof(pt_opts, log_data) + sizeof(opts->log_data) &&
	    opts->log_fn) {
		ctx->log_fn = opts->log_fn;
		ctx->log_data = opts->log_data;
	}
	if ((opts && opts->size >= offsetof(pt_opts, zpool) + sizeof(opts->zpool) && opts->zpool &&
	     !(ctx->zpool = strdup(opts->zpool))) ||
	    (opts && opts->size >= offsetof(pt_opts, systemctl) + sizeof(opts->systemctl) && opts->systemctl &&
	     !(ctx->systemctl = strdup(opts->systemctl)))) {
		free(ctx->zpool);
		free(ctx);
		return -ENOMEM;
	}
	const char *env = secure_getenv("PT_LOG");
	if (env)
		ctx->log_priority = parse_priority(env);

	/* Messages name files as the user knows them: "/sys/..." on the host, "ROOT/sys/..." on a tree. */
	size_t len = strlen(root);
	while (len > 1 && root[len - 1] == '/')
		len--;
	ctx->root = strndup(root, strcmp(root, "/") == 0 ? 0 : len);
	ctx->rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!ctx->root || ctx->rootfd < 0) {
		int err = ctx->root ? -errno : -ENOMEM;
		free(ctx->root);
		free(ctx);
		return err;
	}
	*ret = ctx;
	return 0;
}

PT_EXPORT pt_ctx *pt_ctx_ref(pt_ctx *ctx)
{
	if (ctx)
		ctx->refcount++;
	return ctx;
}

PT_EXPORT pt_ctx *pt_ctx_unref(pt_ctx *ctx)
{
	if (!ctx || --ctx->refcount > 0)
		return NULL;
	if (ctx->release_names) /* names.c's cache */
		ctx->release_names(ctx);
	if (ctx->release_libpci) /* inventory/libpci.c, opened on first use */
		ctx->release_libpci(ctx);
	if (ctx->release_kmod) /* kmod.c, made on first use */
		ctx->release_kmod(ctx);
	close(ctx->rootfd);
	free(ctx->cmdline);
	free(ctx->zpool);
	free(ctx->systemctl);
	free(ctx->root);
	free(ctx);
	return NULL;
}

PT_EXPORT const char *pt_ctx_get_root(const pt_ctx *ctx)
{
	return ctx->root[0] ? ctx->root : "/";
}

PT_EXPORT const char *pt_ctx_last_error(const pt_ctx *ctx)
{
	return ctx->last_error;
}

PT_EXPORT void pt_ctx_set_log_priority(pt_ctx *ctx, int priority)
{
	ctx->log_priority = priority;
}

PT_EXPORT int pt_ctx_get_log_priority(const pt_ctx *ctx)
{
	return ctx->log_priority;
}

void pt_log(pt_ctx *ctx, int priority, const char *file, int line, const char *fn,
	    const char *format, ...)
{
	va_list args;

	if (priority > ctx->log_priority)
		return;
	va_start(args, format);
	ctx->log_fn(ctx->log_data, priority, file, line, fn, format, args);
	va_end(args);
}

PT_EXPORT int pt_vmid_is_valid(long long vm)
{
	return vm >= PT_VMID_MIN && vm <= PT_VMID_MAX;
}

PT_EXPORT int pt_vmid_parse(const char *s, unsigned *vm)
{
	unsigned long long n = 0;

	/* qemu-server's pve-vmid: [1-9][0-9]*, in range; "00100" is not 100 */
	if (!s || !vm || s[0] < '1' || s[0] > '9' || strspn(s, "0123456789") != strlen(s) || strlen(s) > 9)
		return -EINVAL;
	for (const char *p = s; *p; p++)
		n = n * 10 + (unsigned)(*p - '0');
	if (!pt_vmid_is_valid((long long)n))
		return -EINVAL;
	*vm = (unsigned)n;
	return 0;
}

int pt_check_vmid(pt_ctx *ctx, long long vm)
{
	if (!pt_vmid_is_valid(vm))
		return pt_fail(ctx, -EINVAL, "VM id '%lld': must be %d to %d", vm, PT_VMID_MIN, PT_VMID_MAX);
	return 0;
}

int pt_fail(pt_ctx *ctx, int err, const char *format, ...)
{
	va_list args;

	va_start(args, format);
	vsnprintf(ctx->last_error, sizeof(ctx->last_error), format, args);
	va_end(args);
	/* Refused by the system to a user who is not root: say what would let it through. */
	if ((err == -EACCES || err == -EPERM) && geteuid() != 0) {
		size_t len = strlen(ctx->last_error);
		snprintf(ctx->last_error + len, sizeof(ctx->last_error) - len, " (this needs root)");
	}
	pt_log(ctx, LOG_DEBUG, __FILE__, __LINE__, __func__, "%s", ctx->last_error);
	return err;
}

#define PT_STR(x) #x
#define PT_XSTR(x) PT_STR(x)

PT_EXPORT const char *pt_version(void)
{
	return PT_XSTR(PT_VERSION_MAJOR) "." PT_XSTR(PT_VERSION_MINOR) "." PT_XSTR(PT_VERSION_MICRO);
}
