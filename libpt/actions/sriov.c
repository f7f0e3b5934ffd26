/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Virtual functions created with their driver decided before any driver sees them. A VF's own
 * driver (ixgbevf, iavf, mlx5_core) would otherwise probe it the moment it appears, and a
 * driver_override written after that races it: so autoprobe is off while the VFs are made
 * (sriov_drivers_autoprobe 0), each VF gets driver_override and drivers_probe, and autoprobe is
 * put back as it was. This is what libpt-sriov@.service runs at boot, before the VMs start.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "libpt-private.h"

#define DEVICES_DIR "sys/bus/pci/devices"

PT_EXPORT int pt_device_create_vfs(pt_device *pf, unsigned n, const char *vf_driver, unsigned wait_ms,
				   unsigned *took_ms)
{
	char path[128], autoprobe[8] = "1", before[16] = "0", link[256], vf[64];
	unsigned long long had = 0;
	pt_ctx *ctx;
	int r;

	if (!pf)
		return -EINVAL;
	ctx = pf->e->ctx;
	if (!vf_driver) {
		if ((r = pt_device_set_sriov_numvfs(pf, n)) < 0)
			return r;
		return pt_device_wait_sriov_vfs(pf, n, wait_ms, took_ms);
	}
	if ((r = pt_check_driver_name(ctx, pf->address, "VF driver", vf_driver)) < 0)
		return r;
	snprintf(path, sizeof(path), DEVICES_DIR "/%s/sriov_numvfs", pf->address);
	if (pt_read_attr(ctx->rootfd, path, before, sizeof(before)) < 0 || pt_parse_uint(before, 0xffff, &had) < 0)
		had = 0;
	snprintf(path, sizeof(path), DEVICES_DIR "/%s/sriov_drivers_autoprobe", pf->address);
	if ((r = pt_read_attr(ctx->rootfd, path, autoprobe, sizeof(autoprobe))) < 0)
		return pt_fail(ctx, r, "%s: %s/%s: %s", pf->address, ctx->root, path, strerror(-r));
	if ((r = pt_write_attr(ctx->rootfd, path, "0")) < 0)
		return pt_fail(ctx, r, "%s: write '0' to %s/%s: %s", pf->address, ctx->root, path, strerror(-r));
	if ((r = pt_device_set_sriov_numvfs(pf, n)) == 0) {
		r = pt_device_wait_sriov_vfs(pf, n, wait_ms, took_ms);
		for (unsigned i = 0; r == 0 && i < n; i++) {
			snprintf(path, sizeof(path), DEVICES_DIR "/%s/virtfn%u", pf->address, i);
			if ((r = pt_read_link(ctx->rootfd, path, link, sizeof(link))) < 0) {
				r = pt_fail(ctx, r, "%s: %s/%s: %s", pf->address, ctx->root, path, strerror(-r));
				break;
			}
			snprintf(vf, sizeof(vf), "%s", pt_basename(link));
			snprintf(path, sizeof(path), DEVICES_DIR "/%s/driver_override", vf);
			if ((r = pt_write_attr(ctx->rootfd, path, vf_driver)) < 0)
				r = pt_fail(ctx, r, "%s: write '%s' to %s/%s: %s", vf, vf_driver, ctx->root, path, strerror(-r));
			else if ((r = pt_write_attr(ctx->rootfd, "sys/bus/pci/drivers_probe", vf)) < 0)
				r = pt_fail(ctx, r, "%s: write '%s' to %s/sys/bus/pci/drivers_probe: %s", vf, vf, ctx->root,
					    strerror(-r));
		}
		/* half done is undone: the PF gets back the count it had (VFs half given their driver go) */
		if (r < 0) {
			char why[sizeof(ctx->last_error)];
			snprintf(why, sizeof(why), "%s", ctx->last_error);
			int back = pt_device_set_sriov_numvfs(pf, (unsigned)had);
			snprintf(ctx->last_error, sizeof(ctx->last_error), "%.900s; %s %llu", why,
				 back < 0 ? "the VF count could not be put back to" : "the VF count put back to", had);
		}
	}
	/* autoprobe as it was, whatever happened: the PF's later VFs are the system's again */
	snprintf(path, sizeof(path), DEVICES_DIR "/%s/sriov_drivers_autoprobe", pf->address);
	int back = pt_write_attr(ctx->rootfd, path, autoprobe);
	if (r == 0 && back < 0)
		r = pt_fail(ctx, back, "%s: write '%s' to %s/%s: %s", pf->address, autoprobe, ctx->root, path,
			    strerror(-back));
	return r;
}
