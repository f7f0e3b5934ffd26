/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Bounded reads of sysfs attributes and links, relative to an open directory. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/openat2.h>

#include "libpt-private.h"

/*
 * The directory of a path below rootfd, opened as if rootfd were "/": every link on the way,
 * absolute or "..", resolves inside it (openat2 RESOLVE_IN_ROOT, no /proc magic links), so a
 * hostile tree cannot send a write outside the root. *base gets the last component. Before
 * Linux 5.6 (ENOSYS), a plain openat.
 */
int pt_open_parent_in_root(int rootfd, const char *path, const char **base)
{
	const char *slash = strrchr(path, '/');
	char dir[4096];

	*base = slash ? slash + 1 : path;
	if (!slash)
		return fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
	if ((size_t)(slash - path) >= sizeof(dir))
		return -1;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	int fd = (int)syscall(SYS_openat2, rootfd, dir, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)
		fd = openat(rootfd, dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return fd;
}

/* A file below rootfd, its directory resolved inside the root, the file itself never a link. */
int pt_open_in_root(int rootfd, const char *path, int flags, mode_t mode)
{
	const char *base;
	int dir = pt_open_parent_in_root(rootfd, path, &base);

	if (dir < 0)
		return -1;
	int fd = openat(dir, base, flags | O_NOFOLLOW | O_CLOEXEC, mode);
	int err = errno;
	close(dir);
	errno = err;
	return fd;
}

/* Closes the descriptors, each run of consecutive numbers with one close_range: every number in
 * a run is one of ours (another thread's descriptor can only sit between runs). */
static void close_runs(const int *fds, unsigned n)
{
	for (unsigned i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && fds[j] == fds[j - 1] + 1; j++)
			;
		if (j - i == 1 || close_range((unsigned)fds[i], (unsigned)fds[j - 1], 0) < 0)
			for (unsigned k = i; k < j; k++)
				close(fds[k]);
	}
}

/* Full, the files are closed now (the directory itself, first where it is kept, stays open). */
static void keep_open(struct pt_dir *d, int fd)
{
	if (d->n_open == sizeof(d->open) / sizeof(*d->open)) {
		unsigned dir = d->open[0] == d->fd;
		close_runs(d->open + dir, d->n_open - dir);
		d->n_open = dir;
	}
	d->open[d->n_open++] = fd;
}

/* Reads NAME under dirfd; the file is closed, or kept in d to be closed with it. */
static int read_bytes(struct pt_dir *d, int dirfd, const char *name, void *buf, size_t size,
		      size_t *len)
{
	/* Attributes are files; a link where one is expected is not followed, and a FIFO or device
	 * planted in a hostile tree reads as empty or fails at once (O_NONBLOCK: nothing blocks,
	 * and no fstat costs every attribute a system call). */
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	size_t got = 0;
	int err = 0;

	if (fd < 0)
		return -errno;
	while (got < size) {
		ssize_t n = read(fd, (char *)buf + got, size - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		/* sysfs and procfs give an attribute in one read: a short one is its end (a read
		 * more would only return 0; it costs each attribute a system call) */
		if ((size_t)n < size - got + (size_t)n)
			break;
	}
	if (d)
		keep_open(d, fd);
	else
		close(fd);
	*len = got;
	return err;
}

int pt_read_bytes(int dirfd, const char *name, void *buf, size_t size, size_t *len)
{
	return read_bytes(NULL, dirfd, name, buf, size, len);
}

int pt_dir_read_bytes(struct pt_dir *d, const char *name, void *buf, size_t size, size_t *len)
{
	return read_bytes(d, d->fd, name, buf, size, len);
}

int pt_dir_open(struct pt_dir *d, int at, const char *name)
{
	d->n_open = 0;
	d->fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->fd < 0)
		return -errno;
	d->open[d->n_open++] = d->fd; /* closed last, with the files: it comes first */
	return 0;
}

void pt_dir_at(struct pt_dir *d, int fd)
{
	d->n_open = 0;
	d->fd = fd;
}

/* Sorted by insertion: the descriptors come nearly in order (they are given lowest first). */
static void close_sorted(int *fds, unsigned n)
{
	for (unsigned i = 1; i < n; i++) {
		int v = fds[i];
		unsigned j = i;
		for (; j > 0 && fds[j - 1] > v; j--)
			fds[j] = fds[j - 1];
		fds[j] = v;
	}
	close_runs(fds, n);
}

/* The directory's descriptors given to the pool; the pool closes what it holds when full, out
 * of its lock (the threads of the scan give theirs as each device is done). */
void pt_dir_release(struct pt_dir *d, struct pt_fd_pool *pool)
{
	int full[sizeof(pool->fds) / sizeof(*pool->fds)];
	unsigned n_full = 0;

	pthread_mutex_lock(&pool->lock);
	if (pool->n + d->n_open > sizeof(pool->fds) / sizeof(*pool->fds)) {
		n_full = pool->n;
		memcpy(full, pool->fds, n_full * sizeof(*full));
		pool->n = 0;
	}
	memcpy(pool->fds + pool->n, d->open, d->n_open * sizeof(*d->open));
	pool->n += d->n_open;
	pthread_mutex_unlock(&pool->lock);
	if (n_full)
		close_sorted(full, n_full);
	d->fd = -1;
	d->n_open = 0;
}

void pt_fd_pool_close(struct pt_fd_pool *pool)
{
	close_sorted(pool->fds, pool->n);
	pool->n = 0;
}

/* A text file of the host under the root for line reading (proc, mountinfo, modprobe.d): a
 * regular file only (a FIFO planted in a tree would block); NULL with errno otherwise. */
FILE *pt_fopen_regular(int rootfd, const char *path)
{
	struct stat st;
	int fd = openat(rootfd, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	FILE *f;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !(f = fdopen(fd, "r"))) {
		close(fd);
		errno = EINVAL;
		return NULL;
	}
	return f;
}

/* The text of an attribute read into buf: without its trailing newline, one string. */
static int attr_text(int r, char *buf, size_t size, size_t len)
{
	if (r < 0)
		return r;
	if (len == size)
		return -EFBIG;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		len--;
	buf[len] = '\0';
	if (memchr(buf, '\0', len))
		return -EINVAL;
	return 0;
}

/* The same from an open file (read from its start). */
int pt_read_fd_text(int fd, char *buf, size_t size)
{
	size_t len = 0;
	int r = 0;

	while (len < size) {
		ssize_t n = pread(fd, buf + len, size - len, (off_t)len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	return attr_text(r, buf, size, len);
}

/* A text attribute without its trailing newline; -EFBIG when it does not fit. */
int pt_read_attr(int dirfd, const char *name, char *buf, size_t size)
{
	size_t len = 0;
	int r = read_bytes(NULL, dirfd, name, buf, size, &len);

	return attr_text(r, buf, size, len);
}

int pt_dir_read_attr(struct pt_dir *d, const char *name, char *buf, size_t size)
{
	size_t len = 0;
	int r = read_bytes(d, d->fd, name, buf, size, &len);

	return attr_text(r, buf, size, len);
}

int pt_read_link(int dirfd, const char *name, char *buf, size_t size)
{
	ssize_t n = readlinkat(dirfd, name, buf, size);

	if (n < 0)
		return -errno;
	if ((size_t)n >= size)
		return -ENAMETOOLONG;
	buf[n] = '\0';
	return 0;
}

/*
 * A string from elsewhere (sysfs, a device's descriptors) as libpt keeps it: valid UTF-8 without
 * control characters, the bytes that are not written "\xNN", so that no terminal escape, line
 * break or invalid JSON reaches what libpt prints. A new string, NULL without memory.
 */
char *pt_clean_string(const char *s)
{
	return pt_clean_text(s, strlen(s));
}

PT_EXPORT char *pt_clean_text(const char *s, size_t len)
{
	char *out = s ? malloc(len * 4 + 1) : NULL, *o = out;
	const unsigned char *end = (const unsigned char *)s + len;

	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; p < end;) {
		int n = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3 : (*p & 0xf8) == 0xf0 ? 4 : 0;
		bool ok = n > 0 && p + n <= end && !(n == 1 && (*p < 0x20 || *p == 0x7f));
		for (int i = 1; ok && i < n; i++)
			ok = (p[i] & 0xc0) == 0x80;
		if (ok && n > 1) { /* no overlong forms, surrogates or values past U+10FFFF */
			unsigned long cp = n == 2 ? (p[0] & 0x1fUL) << 6 | (p[1] & 0x3f) :
					   n == 3 ? (p[0] & 0x0fUL) << 12 | (p[1] & 0x3fUL) << 6 | (p[2] & 0x3f) :
						    (p[0] & 0x07UL) << 18 | (p[1] & 0x3fUL) << 12 | (p[2] & 0x3fUL) << 6 | (p[3] & 0x3f);
			/* nor the C1 controls (U+0080..U+009F: a terminal may take U+009B as CSI) */
			ok = cp >= (n == 2 ? 0xa0UL : n == 3 ? 0x800UL : 0x10000UL) && cp <= 0x10ffff &&
			     !(cp >= 0xd800 && cp < 0xe000);
		}
		if (!ok) {
			o += sprintf(o, "\\x%02x", *p);
			p++;
			continue;
		}
		memcpy(o, p, (size_t)n);
		o += n;
		p += n;
	}
	*o = '\0';
	return out;
}

/* The rest of s after prefix, or NULL when s does not start with it. */
const char *pt_strip_prefix(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);
	return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

const char *pt_basename(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

static int parse_number(const char *s, int base, unsigned long long max, unsigned long long *ret)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno || *end || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Hex digits at *p, advancing past them: sysfs is full of them, strtoull is slow. */
/* Each byte's value as a hex digit, 0xff for none (`resource` alone has 378 digits a device). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"
static const unsigned char hex_value[256] = {
	[0 ... 255] = 0xff,
	['0'] = 0, ['1'] = 1, ['2'] = 2, ['3'] = 3, ['4'] = 4, ['5'] = 5, ['6'] = 6, ['7'] = 7,
	['8'] = 8, ['9'] = 9, ['a'] = 10, ['b'] = 11, ['c'] = 12, ['d'] = 13, ['e'] = 14, ['f'] = 15,
	['A'] = 10, ['B'] = 11, ['C'] = 12, ['D'] = 13, ['E'] = 14, ['F'] = 15,
};
#pragma GCC diagnostic pop

unsigned long long pt_hex_prefix(const char **p, int *digits)
{
	unsigned long long v = 0;
	const unsigned char *s = (const unsigned char *)*p;
	int n = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	for (unsigned d; (d = hex_value[*s]) != 0xff; s++, n++) {
		if (n >= 16) /* more than 64 bits */
			return *digits = -1, 0;
		v = v << 4 | d;
	}
	*p = (const char *)s;
	*digits = n;
	return v;
}

/* "0x10de" or "10de", the whole string. */
int pt_parse_hex(const char *s, unsigned long long max, unsigned long long *ret)
{
	int n;
	unsigned long long v = pt_hex_prefix(&s, &n);

	if (n <= 0 || *s || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

int pt_parse_uint(const char *s, unsigned long long max, unsigned long long *ret)
{
	return parse_number(s, 10, max, ret);
}

/* A sysfs write as the kernel expects it: one write(2) of the whole value, no link followed at
 * the end, the path resolved inside the root (dirfd is the root). */
int pt_write_attr(int dirfd, const char *path, const char *value)
{
	size_t len = strlen(value);
	int fd = pt_open_in_root(dirfd, path, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_NOCTTY, 0);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, value, len);
	int err = n < 0 ? -errno : (size_t)n != len ? -EIO : 0;
	if (close(fd) < 0 && err == 0)
		err = -errno;
	return err;
}

/* 0, or -EINVAL naming WHO and the value when NAME (a driver asked for) is not a driver's name. */
int pt_check_driver_name(pt_ctx *ctx, const char *who, const char *what, const char *name)
{
	if (name && name[0] && pt_driver_name_valid(name))
		return 0;
	return pt_fail(ctx, -EINVAL, "%s: %s \"%.64s\" is not a driver name", who, what, name ? name : "");
}

/* A driver's name as the kernel gives it: what a journal records and uevent's DRIVER= says. */
bool pt_driver_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n >= 64 /* struct pt_journal's driver[64] */)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || *s == '-' || *s == '.'))
			return false;
	return true;
}
