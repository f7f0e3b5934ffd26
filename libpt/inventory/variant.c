/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vfio-pci variant drivers: vendor drivers that stand in for vfio-pci for their devices
 * (mlx5_vfio_pci, hisi_acc_vfio_pci, the NVIDIA and Intel GPU variants), with migration or device
 * quirks vfio-pci lacks. The kernel's convention: the variant's modinfo has a `vfio_pci:` alias
 * made of the device's ids as its `pci:` modalias has them, which modules.alias indexes; libkmod
 * looks it up there (the running kernel's, or the tree's lib/modules under a root).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libpt-private.h"

PT_EXPORT const char *pt_device_get_variant_driver(const pt_device *cdev)
{
	pt_device *dev = PT_MUTABLE(pt_device, cdev);
	char path[96], modalias[160], alias[168], module[128];

	if (!dev)
		return NULL;
	if (!dev->variant_loaded) {
		dev->variant_loaded = true;
		snprintf(path, sizeof(path), "sys/bus/pci/devices/%s/modalias", dev->address);
		if (pt_read_attr(dev->e->ctx->rootfd, path, modalias, sizeof(modalias)) == 0 &&
		    strncmp(modalias, "pci:", 4) == 0) {
			snprintf(alias, sizeof(alias), "vfio_pci:%s", modalias + 4);
			char driver[64];
			if (pt_kmod_alias_module(dev->e->ctx, alias, module, sizeof(module)) == 0) {
				/* a loaded module's driver by the name it registered, else the module's
				 * name; a module named as no driver could be (modules.alias is the tree's)
				 * is none */
				int r = pt_module_pci_driver(dev->e->ctx, module, driver, sizeof(driver));
				const char *name = r == 0 ? driver : r == -ENOENT ? module : NULL;
				if (name && !(dev->variant = strdup(name))) {
					dev->variant_loaded = false; /* asked again next time */
					pt_warn(dev->e->ctx, "%s: its vfio-pci variant driver %s: %s", dev->address,
						name, strerror(ENOMEM));
				}
			}
		}
	}
	return dev->variant;
}
