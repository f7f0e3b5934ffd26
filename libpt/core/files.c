/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Host configuration files written the safe way: under the root, never through a link, to a
 * temporary file that is fsynced and renamed over the old one, which is kept as a backup.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/openat2.h>

#include "libpt-private.h"

/* Copies the file (name in dir) to NAME.libpt-<time>, same mode and owner; backup gets its name. */
static int copy_to_backup(int dir, const char *name, const struct stat *st, char *backup, size_t size)
{
	char buf[65536];
	int in = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK), out, r = 0;

	if (in < 0)
		return -errno;
	/* NAME.libpt-<time>, and -<time>.N when one was made in the same second */
	long long now = (long long)time(NULL);
	snprintf(backup, size, "%s.libpt-%lld", name, now);
	for (int n = 1; (out = openat(dir, backup, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
				       st->st_mode & 07777)) < 0 && errno == EEXIST && n < 1000; n++)
		snprintf(backup, size, "%s.libpt-%lld.%d", name, now, n);
	if (out < 0) {
		r = -errno;
		close(in);
		return r;
	}
	if (fchown(out, st->st_uid, st->st_gid) < 0 || fchmod(out, st->st_mode & 07777) < 0)
		r = -errno;
	for (ssize_t n; r == 0 && (n = read(in, buf, sizeof(buf))) != 0;)
		if (n < 0 || write(out, buf, (size_t)n) != n)
			r = -errno;
	if (r == 0 && fsync(out) < 0)
		r = -errno;
	close(in);
	close(out);
	if (r < 0)
		unlinkat(dir, backup, 0);
	return r;
}

/*
 * The one atomic write: content into NAME in dir through a temporary file that is fsynced and
 * renamed over it, then the directory fsynced. The file gets mode, and like's owner and mode
 * when like is given (the file it replaces). 0 or -errno; nothing is left behind on failure.
 */
int pt_write_atomic(int dir, const char *name, const char *content, size_t len, mode_t mode,
		    const struct stat *like)
{
	char tmp[PATH_MAX];
	int fd, r = 0;

	snprintf(tmp, sizeof(tmp), ".%s.libpt-new.%ld", name, (long)getpid());
	fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, like ? like->st_mode & 07777 : mode);
	if (fd < 0)
		return -errno;
	if (like && (fchown(fd, like->st_uid, like->st_gid) < 0 || fchmod(fd, like->st_mode & 07777) < 0))
		r = -errno;
	if (r == 0 && (write(fd, content, len) != (ssize_t)len || fsync(fd) < 0))
		r = errno ? -errno : -EIO;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && renameat(dir, tmp, dir, name) < 0)
		r = -errno;
	if (r == 0)
		fsync(dir);
	else
		unlinkat(dir, tmp, 0);
	return r;
}

/*
 * Writes a host file under the root: its directory resolved inside the root, the file itself
 * never a link, written to a temporary file that is fsynced and renamed over the old one; the
 * old one's mode and owner are kept (new files are 0644 root). With PT_WRITE_BACKUP the old
 * file is copied first, and *backup_ret gets the copy's path as the user knows it.
 */
PT_EXPORT int pt_ctx_write_file(pt_ctx *ctx, const char *path, const char *content, unsigned flags,
				char **backup_ret)
{
	if (!content)
		return -EINVAL;
	return pt_ctx_write_data(ctx, path, content, strlen(content), flags, backup_ret);
}

/* pt_ctx_write_file for data of any bytes (a ROM image). */
PT_EXPORT int pt_ctx_write_data(pt_ctx *ctx, const char *path, const void *content, size_t len,
				unsigned flags, char **backup_ret)
{
	char backup[PATH_MAX] = "";
	const char *rel = path, *name;
	struct stat st;
	bool exists;
	int dir, r = 0;

	if (!ctx || !path || (!content && len))
		return -EINVAL;
	while (*rel == '/')
		rel++;
	if (path[0] != '/' || !*rel || strstr(path, "/../") || strstr(path, "/./") ||
	    (strlen(path) >= 3 && strcmp(path + strlen(path) - 3, "/..") == 0))
		return pt_fail(ctx, -EINVAL, "%s: not a plain absolute path", path);
	dir = pt_open_parent_in_root(ctx->rootfd, rel, &name);
	if (dir < 0 && errno == ENOENT && (flags & PT_WRITE_MKDIR)) {
		/* the file's own directory only (/etc/libpt), never the ones above it */
		char parent[PATH_MAX];
		snprintf(parent, sizeof(parent), "%.*s", (int)(strrchr(rel, '/') ? strrchr(rel, '/') - rel : 0), rel);
		if (parent[0] && mkdirat(ctx->rootfd, parent, 0755) == 0)
			dir = pt_open_parent_in_root(ctx->rootfd, rel, &name);
		else
			errno = ENOENT;
	}
	if (dir < 0)
		return pt_fail(ctx, -errno, "%s%s: its directory: %m", ctx->root, path);
	exists = fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (exists && !S_ISREG(st.st_mode)) {
		close(dir);
		return pt_fail(ctx, -EINVAL, "%s%s: not a regular file (a link or device): not written",
			       ctx->root, path);
	}
	if (exists && (flags & PT_WRITE_BACKUP) && (r = copy_to_backup(dir, name, &st, backup, sizeof(backup))) < 0) {
		close(dir);
		return pt_fail(ctx, r, "%s%s: backing it up: %s", ctx->root, path, strerror(-r));
	}
	if (exists && (flags & PT_WRITE_EXECUTABLE))
		st.st_mode |= 0111;
	r = pt_write_atomic(dir, name, content, len, flags & PT_WRITE_EXECUTABLE ? 0755 : 0644, exists ? &st : NULL);
	close(dir);
	if (r < 0)
		return pt_fail(ctx, r, "%s%s: %s", ctx->root, path, strerror(-r));
	if (backup_ret) {
		*backup_ret = NULL;
		if (backup[0]) {
			const char *slash = strrchr(path, '/');
			if (asprintf(backup_ret, "%s%.*s/%s", ctx->root, (int)(slash - path), path, backup) < 0)
				*backup_ret = NULL;
		}
	}
	return 0;
}

/*
 * A host file under the root, whole (/etc/default/grub, a VM config): every link on its path
 * resolved inside the root (openat2 RESOLVE_IN_ROOT), a regular file only, never blocking, at
 * most max bytes. *data (to free) ends with a NUL. -ENOENT when absent, the message naming it.
 */
int pt_read_in_root(pt_ctx *ctx, const char *path, size_t max, char **data, size_t *len)
{
	struct open_how how = { .flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	const char *rel = path;
	struct stat st;
	size_t n = 0, cap = 4096;
	char *buf;
	int fd, r = 0;

	while (*rel == '/')
		rel++;
	fd = (int)syscall(SYS_openat2, ctx->rootfd, rel, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)
		fd = openat(ctx->rootfd, rel, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return pt_fail(ctx, -errno, "%s/%s: %m", ctx->root, rel);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return pt_fail(ctx, -EINVAL, "%s/%s: not a regular file", ctx->root, rel);
	}
	buf = malloc(cap);
	for (ssize_t got; buf && r == 0;) {
		if (n + 1 == cap) {
			char *more = cap > max ? NULL : realloc(buf, cap * 2);
			if (!more) {
				r = cap > max ? -EFBIG : -ENOMEM;
				break;
			}
			buf = more;
			cap *= 2;
		}
		got = read(fd, buf + n, cap - 1 - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			r = -errno;
		else if (got == 0)
			break;
		else
			n += (size_t)got;
		if (n > max)
			r = -EFBIG;
	}
	close(fd);
	if (!buf)
		r = -ENOMEM;
	if (r < 0) {
		free(buf);
		return pt_fail(ctx, r, "%s/%s: %s", ctx->root, rel, strerror(-r));
	}
	buf[n] = '\0';
	*data = buf;
	if (len)
		*len = n;
	return 0;
}

/* Removes a file under the root (what an undone write created); absent is done. */
int pt_remove_in_root(pt_ctx *ctx, const char *path)
{
	const char *rel = path, *name;
	int dir;

	while (*rel == '/')
		rel++;
	dir = pt_open_parent_in_root(ctx->rootfd, rel, &name);
	if (dir < 0)
		return errno == ENOENT ? 0 : pt_fail(ctx, -errno, "%s/%s: its directory: %m", ctx->root, rel);
	int r = unlinkat(dir, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	close(dir);
	return r < 0 ? pt_fail(ctx, r, "%s/%s: %s", ctx->root, rel, strerror(-r)) : 0;
}

/* A process (of the root's /proc) with a descriptor open on path (a device node), 0 for none. */
long pt_path_holder(pt_ctx *ctx, const char *want)
{
	char path[64], link[PATH_MAX];
	struct dirent *p;
	DIR *proc;
	long holder = 0;

	int fd = openat(ctx->rootfd, "proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(proc = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while (!holder && (p = readdir(proc))) {
		char *end;
		long pid = strtol(p->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		snprintf(path, sizeof(path), "%ld/fd", pid);
		int dfd = openat(dirfd(proc), path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *fds = dfd < 0 ? NULL : fdopendir(dfd);
		if (!fds) {
			if (dfd >= 0)
				close(dfd);
			continue;
		}
		for (struct dirent *f; !holder && (f = readdir(fds));)
			if (pt_read_link(dirfd(fds), f->d_name, link, sizeof(link)) == 0 && strcmp(link, want) == 0)
				holder = pid;
		closedir(fds);
	}
	closedir(proc);
	return holder;
}
