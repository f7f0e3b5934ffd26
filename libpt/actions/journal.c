/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The journal under /run/libpt: a file a device that libpt took, saying what to give back
 * (the original driver and driver_override), to whom the device went (the VM), by which
 * process and when, and whether the bind finished. It is what lets post-stop, in another
 * process, restore what pre-start took, and what lets a later run undo a crashed one. It is
 * also the claim: one VM's file refuses the device to another. Every change is made under
 * /run/libpt/lock (flock), written to a temporary file, fsynced and renamed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "libpt-private.h"

#define JOURNAL_DIR "run/libpt"

/* /run/libpt, 0700, a real directory (not a link someone planted). */
static int journal_dir(pt_ctx *ctx, bool create)
{
	struct stat st;
	const char *base;
	int fd, run;

	/* run resolved inside the root: a link planted there cannot take the journal elsewhere */
	if (create && mkdirat(ctx->rootfd, "run", 0755) < 0 && errno != EEXIST)
		return pt_fail(ctx, -errno, "%s/run: %m", ctx->root);
	run = pt_open_parent_in_root(ctx->rootfd, JOURNAL_DIR, &base);
	if (run < 0)
		return errno == ENOENT && !create ? -ENOENT : pt_fail(ctx, -errno, "%s/run: %m", ctx->root);
	if (create && mkdirat(run, base, 0700) < 0 && errno != EEXIST) {
		int err = -errno;
		close(run);
		return pt_fail(ctx, err, "%s/" JOURNAL_DIR ": %s", ctx->root, strerror(-err));
	}
	fd = openat(run, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int err = errno;
	close(run);
	errno = err;
	if (fd < 0)
		return errno == ENOENT && !create ? -ENOENT :
		       pt_fail(ctx, -errno, "%s/" JOURNAL_DIR ": %m", ctx->root);
	if (fstat(fd, &st) < 0) {
		int err = -errno;
		close(fd);
		return pt_fail(ctx, err, "%s/" JOURNAL_DIR ": %s", ctx->root, strerror(-err));
	}
	if (st.st_mode & 077) {
		close(fd);
		return pt_fail(ctx, -EPERM, "%s/" JOURNAL_DIR ": mode %03o: others could change what "
			       "libpt restores; it must be 0700", ctx->root, (unsigned)st.st_mode & 0777);
	}
	if (st.st_uid != geteuid()) {
		close(fd);
		return pt_fail(ctx, -EPERM, "%s/" JOURNAL_DIR ": owned by uid %u, not by this process's %u: whoever "
			       "owns it could plant what libpt restores; remove it", ctx->root, (unsigned)st.st_uid,
			       (unsigned)geteuid());
	}
	return fd;
}

/* A journal or hold file as only this user can have written it: a regular file (no link
 * followed) owned by the effective uid and writable by nobody else; -EPERM naming the file and
 * its owner otherwise. */
static int read_owned(pt_ctx *ctx, int dir, const char *name, char *buf, size_t size)
{
	struct stat st;
	int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return errno == ELOOP ? pt_fail(ctx, -EPERM, "%s/" JOURNAL_DIR "/%s: a symbolic link, not a journal",
						ctx->root, name) : -errno;
	if (fstat(fd, &st) < 0) {
		int err = -errno;
		close(fd);
		return pt_fail(ctx, err, "%s/" JOURNAL_DIR "/%s: %s", ctx->root, name, strerror(-err));
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022)) {
		int r = pt_fail(ctx, -EPERM, "%s/" JOURNAL_DIR "/%s: %s uid %u, mode %03o: only a file of this "
				"process's uid (%u) that nobody else can write is read; remove it", ctx->root, name,
				S_ISREG(st.st_mode) ? "a file of" : "not a regular file, of", (unsigned)st.st_uid,
				(unsigned)st.st_mode & 0777, (unsigned)geteuid());
		close(fd);
		return r;
	}
	int r = pt_read_fd_text(fd, buf, size);
	close(fd);
	return r;
}

/* Under the lock: the temporary files of writes whose process was killed before its rename
 * (".NAME.libpt-new.PID", pt_write_atomic) removed. */
static void remove_stale_temporaries(pt_ctx *ctx)
{
	int dir = journal_dir(ctx, false);
	struct dirent *de;
	DIR *d;

	if (dir < 0 || !(d = fdopendir(dir))) {
		if (dir >= 0)
			close(dir);
		return;
	}
	while ((de = readdir(d))) {
		const char *tag = de->d_name[0] == '.' ? strstr(de->d_name, ".libpt-new.") : NULL;
		unsigned long long pid;
		if (!tag || pt_parse_uint(tag + 11, 0x7fffffff, &pid) < 0 || pt_pid_alive((pid_t)pid))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			pt_debug(ctx, "%s/" JOURNAL_DIR "/%s: left by process %llu, which is gone: removed", ctx->root,
				 de->d_name, pid);
	}
	closedir(d);
}

/* The process that holds the lock, as it wrote itself into the file (0 when unknown). */
static long lock_holder(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	unsigned long long pid;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return pt_parse_uint(buf, 0x7fffffff, &pid) == 0 ? (long)pid : 0;
}

/*
 * Takes /run/libpt/lock, waiting at most timeout_ms; says whom it waits for, and fails with
 * -EBUSY naming the holder when it waited too long. The holder writes its pid into the file.
 */
int pt_journal_lock(pt_ctx *ctx, unsigned timeout_ms)
{
	int dir = journal_dir(ctx, true), fd;
	struct timespec start, now;
	unsigned delay_us = 1000;
	bool said = false;

	if (dir < 0)
		return dir;
	fd = openat(dir, "lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	close(dir);
	if (fd < 0)
		return pt_fail(ctx, -errno, "%s/" JOURNAL_DIR "/lock: %m", ctx->root);
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int err = errno;
		if (err == EINTR)
			continue;
		if (err != EWOULDBLOCK) {
			close(fd);
			return pt_fail(ctx, -err, "%s/" JOURNAL_DIR "/lock: %s", ctx->root, strerror(err));
		}
		long holder = lock_holder(fd);
		clock_gettime(CLOCK_MONOTONIC, &now);
		long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (elapsed >= (long)timeout_ms) {
			close(fd);
			return pt_fail(ctx, -EBUSY, "%s/" JOURNAL_DIR "/lock: held by process %ld for over "
				       "%u ms; try again when it is done", ctx->root, holder, timeout_ms);
		}
		if (!said && holder) {
			pt_warn(ctx, "waiting for process %ld, which holds %s/" JOURNAL_DIR "/lock", holder,
				ctx->root);
			said = true;
		} else if (!said) {
			pt_warn(ctx, "waiting for another process, which holds %s/" JOURNAL_DIR "/lock (its pid "
				"not written yet)", ctx->root);
			said = true;
		}
		usleep(delay_us);
		delay_us = delay_us < 64000 ? delay_us * 2 : 100000;
	}
	char pid[32];
	int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)len, 0) != len)
		pt_debug(ctx, "%s/" JOURNAL_DIR "/lock: cannot note the holder: %m", ctx->root);
	remove_stale_temporaries(ctx);
	return fd;
}

/* A driver name as a journal keeps it: what the kernel names drivers with, under 64 bytes. */

void pt_journal_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* drops the flock */
}

int pt_journal_write(pt_ctx *ctx, const struct pt_journal *j)
{
	char text[512];
	int dir, len, r = 0;

	if (!pt_driver_name_valid(j->driver) || !pt_driver_name_valid(j->override))
		return pt_fail(ctx, -EINVAL, "%s: driver \"%.80s\" or override \"%.80s\" is not a driver "
			       "name: not journalled", j->address, j->driver, j->override);
	dir = journal_dir(ctx, true);
	if (dir < 0)
		return dir;
	len = snprintf(text, sizeof(text),
		       "device=%s\nvendor=%04x\ndevice_id=%04x\nvm=%u\npid=%ld\nstart=%llu\ntime=%lld\n"
		       "driver=%s\noverride=%s\nstate=%s\n",
		       j->address, j->vendor, j->device, j->vm, (long)j->pid, j->start, j->time, j->driver,
		       j->override, j->bound ? "bound" : "binding");
	r = pt_write_atomic(dir, j->address, text, (size_t)len, 0600, NULL);
	close(dir);
	if (r < 0)
		return pt_fail(ctx, r, "%s: journal %s/" JOURNAL_DIR "/%s: %s", j->address, ctx->root,
			       j->address, strerror(-r));
	return 0;
}

static int parse(pt_ctx *ctx, const char *address, char *text, struct pt_journal *j)
{
	unsigned long long v;
	int seen = 0;

	memset(j, 0, sizeof(*j));
	for (char *save, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq++ = '\0';
		if (strcmp(line, "vm") == 0 && (seen & 8)) {
			seen |= 1024; /* a second vm= line: something wrote into the file */
			continue;
		}
		if (strcmp(line, "device") == 0 && strcmp(eq, address) == 0)
			seen |= 1, snprintf(j->address, sizeof(j->address), "%s", eq);
		else if (strcmp(line, "vendor") == 0 && pt_parse_hex(eq, 0xffff, &v) == 0)
			seen |= 2, j->vendor = (uint16_t)v;
		else if (strcmp(line, "device_id") == 0 && pt_parse_hex(eq, 0xffff, &v) == 0)
			seen |= 4, j->device = (uint16_t)v;
		else if (strcmp(line, "vm") == 0 && pt_parse_uint(eq, PT_VMID_MAX, &v) == 0)
			seen |= 8, j->vm = (unsigned)v;
		else if (strcmp(line, "pid") == 0 && pt_parse_uint(eq, 0x7fffffff, &v) == 0)
			seen |= 16, j->pid = (pid_t)v;
		else if (strcmp(line, "start") == 0 && pt_parse_uint(eq, ~0ULL >> 1, &v) == 0)
			j->start = v; /* journals written before it have none: the pid alone then */
		else if (strcmp(line, "time") == 0 && pt_parse_uint(eq, ~0ULL >> 1, &v) == 0)
			seen |= 32, j->time = (long long)v;
		else if (strcmp(line, "driver") == 0 && pt_driver_name_valid(eq) && !(seen & 64))
			seen |= 64, strcpy(j->driver, eq);
		else if (strcmp(line, "override") == 0 && pt_driver_name_valid(eq) && !(seen & 128))
			seen |= 128, strcpy(j->override, eq);
		else if (strcmp(line, "state") == 0 && (strcmp(eq, "bound") == 0 || strcmp(eq, "binding") == 0))
			seen |= 256, j->bound = strcmp(eq, "bound") == 0;
	}
	if (seen != 511 || !pt_vmid_is_valid(j->vm))
		return pt_fail(ctx, -EBADMSG, "%s: journal %s/" JOURNAL_DIR "/%s is damaged; restore the "
			       "device by hand and delete the file", address, ctx->root, address);
	return 0;
}

int pt_journal_read(pt_ctx *ctx, const char *address, struct pt_journal *j)
{
	char text[1024];
	int dir = journal_dir(ctx, false), r;

	if (dir < 0)
		return dir == -ENOENT ? -ENOENT : dir;
	r = read_owned(ctx, dir, address, text, sizeof(text));
	close(dir);
	if (r == -ENOENT || r == -EPERM)
		return r;
	if (r < 0)
		return pt_fail(ctx, r, "%s: journal %s/" JOURNAL_DIR "/%s: %s", address, ctx->root, address,
			       strerror(-r));
	return parse(ctx, address, text, j);
}

int pt_journal_remove(pt_ctx *ctx, const char *address)
{
	int dir = journal_dir(ctx, false), r = 0;

	if (dir < 0)
		return dir == -ENOENT ? 0 : dir;
	if (unlinkat(dir, address, 0) < 0 && errno != ENOENT)
		r = pt_fail(ctx, -errno, "%s: journal %s/" JOURNAL_DIR "/%s: %m", address, ctx->root, address);
	else
		fsync(dir);
	close(dir);
	return r;
}

/* A journal file of another kind (hold.c's), NAME under /run/libpt: written atomically, read
 * bounded, listed by prefix (sorted). */
int pt_journal_put(pt_ctx *ctx, const char *name, const char *text)
{
	int dir = journal_dir(ctx, true);

	if (dir < 0)
		return dir;
	int r = pt_write_atomic(dir, name, text, strlen(text), 0600, NULL);
	close(dir);
	return r < 0 ? pt_fail(ctx, r, "journal %s/" JOURNAL_DIR "/%s: %s", ctx->root, name, strerror(-r)) : 0;
}

int pt_journal_get(pt_ctx *ctx, const char *name, char *buf, size_t size)
{
	int dir = journal_dir(ctx, false);

	if (dir < 0)
		return dir;
	int r = read_owned(ctx, dir, name, buf, size);
	close(dir);
	return r;
}

int pt_journal_names(pt_ctx *ctx, const char *prefix, struct pt_strv *ret)
{
	int dir = journal_dir(ctx, false);
	struct dirent *de;
	DIR *d;

	memset(ret, 0, sizeof(*ret));
	if (dir < 0)
		return dir == -ENOENT ? 0 : dir;
	if (!(d = fdopendir(dir))) {
		close(dir);
		return -ENOMEM;
	}
	while ((de = readdir(d)))
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			pt_strv_add(ret, de->d_name);
	closedir(d);
	if (ret->oom) {
		pt_strv_free(ret);
		return -ENOMEM;
	}
	if (ret->n)
		qsort(ret->v, ret->n, sizeof(*ret->v), pt_strv_compare);
	return 0;
}

/* The addresses that have a journal, sorted. */
int pt_journal_list(pt_ctx *ctx, char (**ret)[PT_ADDR_MAX], size_t *n)
{
	int dir = journal_dir(ctx, false);
	char (*list)[PT_ADDR_MAX] = NULL;
	struct dirent *de;
	DIR *d;

	*ret = NULL;
	*n = 0;
	if (dir < 0)
		return dir == -ENOENT ? 0 : dir;
	d = fdopendir(dir);
	if (!d) {
		close(dir);
		return -ENOMEM;
	}
	while ((de = readdir(d))) {
		uint64_t key;
		if (pt_address_parse(de->d_name, &key) < 0 || strlen(de->d_name) >= PT_ADDR_MAX)
			continue;
		char (*l)[PT_ADDR_MAX] = realloc(list, (*n + 1) * sizeof(*l));
		if (!l) {
			free(list);
			closedir(d);
			return -ENOMEM;
		}
		list = l;
		snprintf(list[(*n)++], PT_ADDR_MAX, "%s", de->d_name);
	}
	closedir(d);
	if (*n)
		qsort(list, *n, sizeof(*list), (int (*)(const void *, const void *))strcmp);
	*ret = list;
	return 0;
}

unsigned long long pt_proc_start(pid_t pid)
{
	char path[32], buf[1024];
	unsigned long long start = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* the name (field 2) may hold spaces and parentheses: count from the last ')' */
	char *p = strrchr(buf, ')');
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (p && sscanf(p + 1, "%llu", &start) != 1)
		start = 0;
	return start;
}

bool pt_process_alive(pid_t pid, unsigned long long start)
{
	if (!pt_pid_alive(pid))
		return false;
	unsigned long long now = start ? pt_proc_start(pid) : 0;
	return start == 0 || now == 0 || now == start; /* a start time not readable (hidepid): alive */
}
