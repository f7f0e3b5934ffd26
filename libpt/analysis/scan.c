// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The public scan: the inventory's read of the host (inventory/pci.c), then, as its flags ask,
 * what getters would otherwise read on first use (libpt.h's third rule): names, config space,
 * the guard's facts and each device's flags, USB, mdevs, and what placement reads.
 */
#include <errno.h>

#include "libpt-private.h"

static void load(pt_enum *e, unsigned flags)
{
	if (flags & PT_LOAD_GUARD)
		pt_guard_load(e);
	if (flags & PT_LOAD_USB)
		pt_usb_load(e);
	if (flags & PT_LOAD_MDEV)
		pt_mdev_load(e);
	for (size_t i = 0; i < e->n_devices; i++) {
		const pt_device *d = &e->devices[i];
		if (flags & PT_LOAD_NAMES) {
			pt_device_get_vendor_name(d);
			pt_device_get_device_name(d);
			pt_device_get_subsystem_name(d);
			pt_device_get_class_name(d);
		}
		if (flags & PT_LOAD_CONFIG)
			pt_config_load(d);
		if (flags & PT_LOAD_GUARD)
			pt_device_get_flag_count(d);
		if (flags & PT_LOAD_DRIVERS) {
			pt_device_get_variant_driver(d);
			pt_device_get_vfio_cdev(d);
		}
		if (flags & PT_LOAD_PLACEMENT) {
			pt_link link = PT_INIT(pt_link);
			pt_device_get_link(d, &link);
			pt_device_get_local_cpus(d);
			pt_device_get_bar_resizable(d, 0);
			pt_device_get_power_state(d);
		}
	}
}

static int scan(pt_ctx *ctx, const char *const *names, size_t n, unsigned flags, pt_enum **ret)
{
	pt_enum *e;
	int r;

	if (!ctx || !ret)
		return -EINVAL;
	if (flags & ~PT_LOAD_ALL)
		return pt_fail(ctx, -EINVAL, "%s: flags %#x: not PT_LOAD_*", names ? "pt_enum_scan_devices" : "pt_enum_scan",
			       flags);
	if ((r = pt_scan(ctx, names, n, &e)) < 0)
		return r;
	load(e, flags);
	*ret = e;
	return 0;
}

PT_EXPORT int pt_enum_scan(pt_ctx *ctx, unsigned flags, pt_enum **ret)
{
	return scan(ctx, NULL, 0, flags, ret);
}

PT_EXPORT int pt_enum_scan_devices(pt_ctx *ctx, const char *const *names, size_t n, unsigned flags, pt_enum **ret)
{
	if (!names || !n)
		return ctx ? pt_fail(ctx, -EINVAL, "pt_enum_scan_devices: no devices named") : -EINVAL;
	return scan(ctx, names, n, flags, ret);
}
