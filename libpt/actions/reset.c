/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A device's reset through sysfs `reset`: the kernel tries the methods reset_method lists, in
 * order. Only for a device no host driver and no VM is using, decided under libpt's lock from
 * what the kernel says at that moment.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libpt-private.h"

#define LOCK_TIMEOUT_MS 10000

/* Refused unless the device is free now: no process holding its VFIO group, and (unless
 * host_driver_ok: reading its ROM) no driver but vfio-pci or its variant, which stands in for
 * vfio-pci (pt_device_on_vfio): no host driver holds it, and a VM opens it through its group. */
int pt_device_check_free(pt_device *dev, const char *what, bool host_driver_ok)
{
	pt_ctx *ctx = dev->e->ctx;
	char path[96], link[256], driver[128] = "";
	long group = -1;

	snprintf(path, sizeof(path), "sys/bus/pci/devices/%s/driver", dev->address);
	if (pt_read_link(ctx->rootfd, path, link, sizeof(link)) == 0)
		snprintf(driver, sizeof(driver), "%s", pt_basename(link));
	bool vfio = pt_device_on_vfio(dev, driver);
	if (!host_driver_ok && driver[0] && !vfio)
		return pt_fail(ctx, -EBUSY, "%s: bound to %s: %s would pull the device from under its driver "
			       "(bind it to vfio-pci first: bind.lua)", dev->address, driver, what);
	snprintf(path, sizeof(path), "sys/bus/pci/devices/%s/iommu_group", dev->address);
	if (pt_read_link(ctx->rootfd, path, link, sizeof(link)) == 0)
		group = strtol(pt_basename(link), NULL, 10);
	char node[32];
	snprintf(node, sizeof(node), "/dev/vfio/%ld", group);
	long pid = vfio && group >= 0 ? pt_path_holder(ctx, node) : 0;
	if (pid)
		return pt_fail(ctx, -EBUSY, "%s: process %ld holds /dev/vfio/%ld (a VM is using the device): "
			       "%s refused", dev->address, pid, group, what);
	return 0;
}

/* Every decision of a reset; the write only when !dry (a dry run reads, takes no lock, and says
 * the write in *step_ret). */
static int reset(pt_device *dev, bool dry, char **method_ret, char **step_ret)
{
	char path[96], methods[256] = "";
	pt_ctx *ctx;
	int lock = -1, r;

	if (!dev)
		return -EINVAL;
	ctx = dev->e->ctx;
	if (!dry && (lock = pt_journal_lock(ctx, LOCK_TIMEOUT_MS)) < 0)
		return lock;
	r = pt_device_check_free(dev, "a reset", false);
	snprintf(path, sizeof(path), "sys/bus/pci/devices/%s/reset_method", dev->address);
	int m = r < 0 ? 0 : pt_read_attr(ctx->rootfd, path, methods, sizeof(methods));
	snprintf(path, sizeof(path), "sys/bus/pci/devices/%s/reset", dev->address);
	if (r == 0 && ((m == 0 && !methods[0]) || faccessat(ctx->rootfd, path, F_OK, 0) < 0))
		r = pt_fail(ctx, -EOPNOTSUPP, "%s: the kernel offers no reset for it (no reset methods in "
			    "%s/sys/bus/pci/devices/%s/reset_method)", dev->address, ctx->root, dev->address);
	if (r == 0 && dry && step_ret &&
	    asprintf(step_ret, "write '1' to %s/%s (methods in order: %s)", ctx->root, path, methods) < 0)
		r = pt_fail(ctx, -ENOMEM, "out of memory");
	if (r == 0 && !dry && (r = pt_write_attr(ctx->rootfd, path, "1")) < 0)
		r = pt_fail(ctx, r, "%s: write '1' to %s/%s: %s", dev->address, ctx->root, path, strerror(-r));
	if (!dry)
		pt_journal_unlock(lock);
	if (r == 0 && method_ret) {
		/* the kernel tries them in order; the first that the device supports does it */
		methods[strcspn(methods, " ")] = '\0';
		*method_ret = strdup(methods[0] ? methods : "(the kernel's choice)");
	}
	return r;
}

PT_EXPORT int pt_device_reset(pt_device *dev, char **method_ret)
{
	return reset(dev, false, method_ret, NULL);
}

PT_EXPORT int pt_device_reset_dry_run(pt_device *dev, char **step_ret)
{
	if (!step_ret)
		return -EINVAL;
	*step_ret = NULL;
	return reset(dev, true, NULL, step_ret);
}
