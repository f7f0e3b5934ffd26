/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * IOMMUFD (Linux 6.6+): the kernel's /dev/iommu, and a device's VFIO cdev (vfio-dev/vfioN while
 * it is bound to vfio-pci, /dev/vfio/devices/vfioN), which QEMU 9.0+ opens through an iommufd
 * object instead of the device's /dev/vfio/GROUP. Which a VM can use is the host's and QEMU's to
 * say: QEMU is asked itself (`-object help` lists iommufd) rather than by its version.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libpt-private.h"

#define QEMU "/usr/bin/qemu-system-x86_64"

PT_EXPORT int pt_host_has_iommufd(const pt_ctx *ctx)
{
	if (!ctx)
		return 0;
	/* the kernel's iommufd device, and VFIO's cdevs (CONFIG_VFIO_DEVICE_CDEV: the class exists) */
	return faccessat(ctx->rootfd, "dev/iommu", F_OK, 0) == 0 &&
	       faccessat(ctx->rootfd, "sys/class/vfio-dev", F_OK, 0) == 0;
}

PT_EXPORT const char *pt_device_get_vfio_cdev(const pt_device *cdev)
{
	pt_device *dev = PT_MUTABLE(pt_device, cdev);
	char path[96];

	if (!dev)
		return NULL;
	if (!dev->cdev_loaded) {
		dev->cdev_loaded = true;
		snprintf(path, sizeof(path), "sys/bus/pci/devices/%s/vfio-dev", dev->address);
		int fd = openat(dev->e->ctx->rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *dir = fd < 0 ? NULL : fdopendir(fd);
		for (struct dirent *de; dir && (de = readdir(dir));) {
			unsigned long long n;
			if (strncmp(de->d_name, "vfio", 4) == 0 && pt_parse_uint(de->d_name + 4, 1u << 20, &n) == 0 &&
			    asprintf(&dev->cdev, "/dev/vfio/devices/vfio%llu", n) < 0)
				dev->cdev = NULL;
			if (dev->cdev)
				break;
		}
		if (dir)
			closedir(dir);
		else if (fd >= 0)
			close(fd);
	}
	return dev->cdev;
}

PT_EXPORT int pt_qemu_has_iommufd(pt_ctx *ctx, const char *qemu)
{
	char *argv[] = { NULL, "-object", "help", NULL }, *out = NULL;
	int r;

	if (!ctx)
		return -EINVAL;
	if (!qemu && ctx->root[0])
		return pt_fail(ctx, -ENOENT, "no QEMU to ask under %s (name one)", ctx->root);
	qemu = qemu ? qemu : QEMU;
	if (qemu[0] != '/')
		return pt_fail(ctx, -EINVAL, "%s: QEMU by its absolute path (no PATH search)", qemu);
	/* run as root: only a program root owns and no one else may change */
	struct stat st;
	if (stat(qemu, &st) < 0)
		return pt_fail(ctx, -errno, "%s: %s", qemu, strerror(errno));
	if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022))
		return pt_fail(ctx, -EPERM, "%s: not run: a QEMU to ask must be a regular file root owns that no one "
			       "else may write", qemu);
	argv[0] = (char *)qemu;
	r = pt_run_timeout(qemu, argv, PT_PROGRAM_TIMEOUT_MS, &out, 65536);
	if (r != 0) {
		free(out);
		return pt_fail(ctx, r < 0 ? r : -EIO, "%s -object help: %s", qemu,
			       r < 0 ? strerror(-r) : "it failed");
	}
	/* one object type a line, indented: "  iommufd" */
	bool found = false;
	for (char *line = out; line && *line && !found;) {
		size_t n = strcspn(line, "\n");
		char *word = line + strspn(line, " \t");
		found = (size_t)(word - line) < n && strncmp(word, "iommufd", 7) == 0 &&
			(word + 7 == line + n || word[7] == ' ' || word[7] == '\r');
		line += n + (line[n] == '\n');
	}
	free(out);
	return found;
}
