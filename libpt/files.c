/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Host configuration files written the safe way: under the root, never through a link, to a
 * temporary file that is fsynced and renamed over the old one, which is kept as a backup.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "libpt-private.h"

static int copy_to_backup(pt_ctx *ctx, const char *path, char *backup, size_t size)
{
	char buf[65536];
	struct stat st;
	int in = openat(ctx->rootfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), out, r = 0;

	backup[0] = '\0';
	if (in < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(in);
		return -EINVAL;
	}
	/* PATH.libpt-<time>, and -<time>.N when one was made in the same second */
	long long now = (long long)time(NULL);
	snprintf(backup, size, "%s.libpt-%lld", path, now);
	for (int n = 1; (out = openat(ctx->rootfd, backup, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
				       st.st_mode & 07777)) < 0 && errno == EEXIST && n < 1000; n++)
		snprintf(backup, size, "%s.libpt-%lld.%d", path, now, n);
	if (out < 0) {
		r = -errno;
		close(in);
		return r;
	}
	for (ssize_t n; r == 0 && (n = read(in, buf, sizeof(buf))) != 0;)
		if (n < 0 || write(out, buf, (size_t)n) != n)
			r = -errno;
	if (r == 0 && fsync(out) < 0)
		r = -errno;
	close(in);
	close(out);
	return r;
}

PT_EXPORT int pt_ctx_write_file(pt_ctx *ctx, const char *path, const char *content, unsigned flags,
				char **backup_ret)
{
	char tmp[PATH_MAX], backup[PATH_MAX];
	const char *rel = path;
	size_t len = strlen(content);
	int fd, r = 0;

	while (*rel == '/')
		rel++;
	if (!*rel || strstr(path, "/../") || strncmp(rel, "../", 3) == 0)
		return pt_fail(ctx, -EINVAL, "%s: not a plain absolute path", path);
	if (flags & PT_WRITE_BACKUP) {
		r = copy_to_backup(ctx, rel, backup, sizeof(backup));
		if (r < 0)
			return pt_fail(ctx, r, "%s%s: backing it up: %s", ctx->root, path, strerror(-r));
	}
	snprintf(tmp, sizeof(tmp), "%s.libpt-new.%ld", rel, (long)getpid());
	fd = openat(ctx->rootfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return pt_fail(ctx, -errno, "%s/%s: %m", ctx->root, tmp);
	if (write(fd, content, len) != (ssize_t)len || fsync(fd) < 0)
		r = errno ? -errno : -EIO;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && renameat(ctx->rootfd, tmp, ctx->rootfd, rel) < 0)
		r = -errno;
	if (r < 0) {
		unlinkat(ctx->rootfd, tmp, 0);
		return pt_fail(ctx, r, "%s%s: %s", ctx->root, path, strerror(-r));
	}
	if (backup_ret)
		*backup_ret = (flags & PT_WRITE_BACKUP) && backup[0] ? strdup(backup) : NULL;
	return 0;
}
