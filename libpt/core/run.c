/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The few programs libpt runs (zpool for a pool's disks, systemctl for the display manager):
 * by absolute path, never a PATH search, with an empty environment and stdin and stderr on
 * /dev/null, so nothing of the caller's environment reaches them.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>
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

/* Its exit status (128 + the signal that ended it), or -errno. */
int pt_program_wait(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
