/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A device's power state as the kernel says it (power_state: D0, D1, D2, D3hot, D3cold; Linux
 * 5.16+) and whether its port may put it in D3cold (d3cold_allowed). A GPU left in D3cold between
 * VMs may not wake for the next one: the host plan can keep the VM's devices out of D3cold one by
 * one (a udev rule) instead of vfio-pci's global disable_idle_d3.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "libpt-private.h"

static void load_power(pt_device *dev)
{
	char path[96], buf[32];

	dev->power_loaded = true;
	dev->d3cold = -1;
	snprintf(path, sizeof(path), "sys/bus/pci/devices/%s/power_state", dev->address);
	if (pt_read_attr(dev->e->ctx->rootfd, path, buf, sizeof(buf)) == 0 && buf[0] == 'D' &&
	    strspn(buf + 1, "0123hotcld") == strlen(buf + 1))
		snprintf(dev->power_state, sizeof(dev->power_state), "%.7s", buf);
	snprintf(path, sizeof(path), "sys/bus/pci/devices/%s/d3cold_allowed", dev->address);
	if (pt_read_attr(dev->e->ctx->rootfd, path, buf, sizeof(buf)) == 0 && (buf[0] == '0' || buf[0] == '1') && !buf[1])
		dev->d3cold = buf[0] == '1';
}

PT_EXPORT const char *pt_device_get_power_state(const pt_device *cdev)
{
	pt_device *dev = PT_MUTABLE(pt_device, cdev);

	if (!dev)
		return NULL;
	if (!dev->power_loaded)
		load_power(dev);
	return dev->power_state[0] ? dev->power_state : NULL;
}

PT_EXPORT int pt_device_get_d3cold_allowed(const pt_device *cdev)
{
	pt_device *dev = PT_MUTABLE(pt_device, cdev);

	if (!dev)
		return -1;
	if (!dev->power_loaded)
		load_power(dev);
	return dev->d3cold;
}
