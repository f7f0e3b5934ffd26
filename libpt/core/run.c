/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The few programs libpt runs (zpool for a pool's disks, systemctl for the display manager):
 * by absolute path, never a PATH search, with an empty environment and stdin and stderr on
 * /dev/null, so nothing of the caller's environment reaches them; each within a timeout, after
 * which it is killed and the caller takes the safe decision.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libpt-private.h"

/* Starts exe; its stdout to a pipe whose read end is *out (NULL: /dev/null). The pid or -errno. */
int pt_run_program(const char *exe, char *const argv[], int *out)
{
	static char *const envp[] = { NULL };
	int fds[2] = { -1, -1 };

	if (!exe || exe[0] != '/')
		return -EINVAL;
	if (out && pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(out ? fds[1] : null, 1);
		dup2(null, 2);
		execve(exe, argv, envp);
		_exit(127);
	}
	int err = errno;
	if (out) {
		close(fds[1]);
		if (pid < 0)
			close(fds[0]);
		else
			*out = fds[0];
	}
	return pid < 0 ? -err : pid;
}

static long ms_since(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

int pt_run_timeout(const char *exe, char *const argv[], unsigned timeout_ms, char **out, size_t max)
{
	struct timespec start;
	char *buf = NULL;
	size_t len = 0;
	int fd = -1, status, r = 0;
	pid_t pid, done;

	clock_gettime(CLOCK_MONOTONIC, &start);
	if ((pid = pt_run_program(exe, argv, out ? &fd : NULL)) < 0)
		return pid;
	if (out && !(buf = malloc(max + 1)))
		r = -ENOMEM;
	/* its output as it comes, then its end, each before the deadline */
	while (r == 0 && fd >= 0) {
		long left = (long)timeout_ms - ms_since(&start);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (left <= 0) {
			r = -ETIMEDOUT;
			break;
		}
		int n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			continue;
		ssize_t got = read(fd, buf + len, len < max ? max - len : 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		if (len < max)
			len += (size_t)got; /* past max it is drained and dropped */
	}
	if (fd >= 0)
		close(fd);
	while (r == 0 && (done = waitpid(pid, &status, WNOHANG)) == 0) {
		if (ms_since(&start) >= (long)timeout_ms)
			r = -ETIMEDOUT;
		else
			usleep(2000);
	}
	if (r < 0) {
		/* killed; a program stuck in the kernel (a suspended pool) may not die at once: it is
		 * waited for half a second, then left to init, never waited for without end */
		kill(pid, SIGKILL);
		for (int i = 0; i < 50 && waitpid(pid, &status, WNOHANG) == 0; i++)
			usleep(10000);
		free(buf);
		return r;
	}
	if (out) {
		buf[len] = '\0';
		*out = buf;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool pt_pid_alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}
