/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Bounded reads of sysfs attributes and links, relative to an open directory. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libpt-private.h"

int pt_read_bytes(int dirfd, const char *name, void *buf, size_t size, size_t *len)
{
	/* Attributes are files; a link where one is expected is not followed. */
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	size_t got = 0;

	if (fd < 0)
		return -errno;
	while (got < size) {
		ssize_t n = read(fd, (char *)buf + got, size - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int err = -errno;
			close(fd);
			return err;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	*len = got;
	return 0;
}

/* A text attribute without its trailing newline; -EFBIG when it does not fit. */
int pt_read_attr(int dirfd, const char *name, char *buf, size_t size)
{
	size_t len;
	int r = pt_read_bytes(dirfd, name, buf, size, &len);

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
unsigned long long pt_hex_prefix(const char **p, int *digits)
{
	unsigned long long v = 0;
	const char *s = *p;
	int n = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	for (;; s++, n++) {
		unsigned c = (unsigned char)*s, d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			d = (c | 0x20) - 'a' + 10;
		else
			break;
		if (n >= 16) /* more than 64 bits */
			return *digits = -1, 0;
		v = v << 4 | d;
	}
	*p = s;
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

/* A sysfs write as the kernel expects it: one write(2) of the whole value, no link followed. */
int pt_write_attr(int dirfd, const char *path, const char *value)
{
	size_t len = strlen(value);
	int fd = openat(dirfd, path, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, value, len);
	int err = n < 0 ? -errno : (size_t)n != len ? -EIO : 0;
	if (close(fd) < 0 && err == 0)
		err = -errno;
	return err;
}
