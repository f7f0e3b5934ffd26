/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Option ROMs out of the host and into Proxmox's place for them: a device's own read through
 * sysfs `rom` (enabling it for the read), and a ROM file written to /usr/share/kvm, where
 * Proxmox looks for romfile=NAME. The images themselves are parsed by inventory/rom.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libpt-private.h"

/*
 * The device's option ROM through sysfs: `rom` enabled (1), read, disabled again (0). Needs
 * root; not while a VM holds the device (pt_device_check_free).
 */
PT_EXPORT int pt_device_read_rom(pt_device *dev, void **data, size_t *len)
{
	char path[96];
	pt_ctx *ctx;
	int r;

	if (!dev || !data || !len)
		return -EINVAL;
	ctx = dev->e->ctx;
	if (!dev->bars[6])
		return pt_fail(ctx, -ENOENT, "%s: has no expansion ROM (its ROM BAR has no size in "
			       "%s/sys/bus/pci/devices/%s/resource)", dev->address, ctx->root, dev->address);
	if ((r = pt_device_check_free(dev, "reading its ROM", true)) < 0)
		return r;
	snprintf(path, sizeof(path), "sys/bus/pci/devices/%s/rom", dev->address);
	r = pt_write_attr(ctx->rootfd, path, "1");
	if (r < 0)
		return pt_fail(ctx, r, "%s: write '1' to %s/%s: %s", dev->address, ctx->root, path,
			       strerror(-r));
	size_t cap = dev->bars[6] < PT_ROM_MAX ? (size_t)dev->bars[6] : PT_ROM_MAX, got = 0;
	unsigned char *buf = malloc(cap ? cap : 1);
	int fd = openat(ctx->rootfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	r = buf ? 0 : -ENOMEM;
	if (fd < 0 && !r)
		r = -errno;
	while (!r && got < cap) {
		ssize_t n = read(fd, buf + got, cap - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = -errno;
		else if (n == 0)
			break;
		else
			got += (size_t)n;
	}
	if (fd >= 0)
		close(fd);
	int off = pt_write_attr(ctx->rootfd, path, "0");
	if (r == 0 && got == 0)
		r = -EIO; /* the kernel found no valid image in the ROM */
	if (r < 0) {
		free(buf);
		return pt_fail(ctx, r, "%s: reading %s/%s: %s%s", dev->address, ctx->root, path, strerror(-r),
			       r == -EIO ? " (the ROM holds no image the kernel accepts, or it is "
					   "shadowed: a boot GPU's ROM may be read only before its driver loads)" : "");
	}
	if (off < 0)
		pt_warn(ctx, "%s: write '0' to %s/%s: %s (the ROM stays enabled)", dev->address, ctx->root,
			path, strerror(-off));
	*data = buf;
	*len = got;
	return 0;
}

PT_EXPORT int pt_ctx_write_romfile(pt_ctx *ctx, const char *name, const void *data, size_t len,
				   char **backup_ret)
{
	char path[256];
	int r;

	if (!ctx || (!data && len))
		return -EINVAL;
	if ((r = pt_romfile_check(ctx, name)) < 0)
		return r;
	snprintf(path, sizeof(path), PT_ROMFILE_DIR "/%s", name);
	/* pve-qemu-kvm makes the directory; elsewhere (and in a fixture tree) it is made here */
	static const char *const dirs[] = { "usr", "usr/share", PT_ROMFILE_DIR + 1 };
	for (size_t i = 0; i < sizeof(dirs) / sizeof(*dirs); i++)
		if (mkdirat(ctx->rootfd, dirs[i], 0755) < 0 && errno != EEXIST)
			return pt_fail(ctx, -errno, "%s/%s: %m", ctx->root, dirs[i]);
	return pt_ctx_write_data(ctx, path, data, len, PT_WRITE_BACKUP, backup_ret);
}
