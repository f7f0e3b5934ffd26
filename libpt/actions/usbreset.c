/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A wedged USB device (a Zigbee stick that stopped answering, a dongle after a firmware flash)
 * reset the way a replug would: libusb_reset_device, usbfs underneath. Refused while a process
 * has the device open (a VM's usb-host) unless forced. A device that re-enumerates is found
 * again by its port, in the kernel's sysfs, and reported with its new device number.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libpt-private.h"

#define BACK_TIMEOUT_MS 5000
#define POLL_MS 20

/* The device number at a port now (sysfs devnum), 0 while there is none; with same_as, only for
 * a device of the same ids (on a port's other half may sit another device). */
static unsigned devnum_at(pt_ctx *ctx, const char *port, const pt_usb_host *same_as)
{
	char path[96], buf[16];
	unsigned long long n = 0, v = 0, p = 0;

	if (!port[0])
		return 0;
	if (same_as) {
		snprintf(path, sizeof(path), "sys/bus/usb/devices/%s/idVendor", port);
		if (pt_read_attr(ctx->rootfd, path, buf, sizeof(buf)) < 0 || pt_parse_hex(buf, 0xffff, &v) < 0)
			return 0;
		snprintf(path, sizeof(path), "sys/bus/usb/devices/%s/idProduct", port);
		if (pt_read_attr(ctx->rootfd, path, buf, sizeof(buf)) < 0 || pt_parse_hex(buf, 0xffff, &p) < 0 ||
		    v != same_as->vendor || p != same_as->product)
			return 0;
	}
	snprintf(path, sizeof(path), "sys/bus/usb/devices/%s/devnum", port);
	if (pt_read_attr(ctx->rootfd, path, buf, sizeof(buf)) < 0 || pt_parse_uint(buf, 127, &n) < 0)
		return 0;
	return (unsigned)n;
}

/* Waits, bounded, for the device to be enumerated again at its port or the port's peer. */
static int find_again(pt_ctx *ctx, pt_usb_host *dev, unsigned timeout_ms)
{
	char peer[32];
	struct timespec pause = { 0, POLL_MS * 1000000L };
	unsigned waited = 0, old = dev->devnum, now = 0;
	const char *at = dev->port;

	pt_usb_read_peer(ctx, dev->port, peer);
	for (;; waited += POLL_MS) {
		if ((now = devnum_at(ctx, dev->port, NULL)) && now != old)
			break;
		if (peer[0] && (now = devnum_at(ctx, peer, dev))) {
			at = peer;
			break;
		}
		if (waited >= timeout_ms) {
			now = devnum_at(ctx, dev->port, NULL); /* back with its old number, or gone */
			break;
		}
		nanosleep(&pause, NULL);
	}
	if (!now)
		return pt_fail(ctx, -ETIMEDOUT, "the USB device at %s went away at its reset and is not back after %u ms "
			       "(at %s%s%s): replug it", dev->port, timeout_ms, dev->port, peer[0] ? " or " : "", peer);
	if (at != dev->port)
		snprintf(dev->port, sizeof(dev->port), "%s", at);
	dev->bus = (unsigned)strtoul(dev->port, NULL, 10);
	dev->devnum = now;
	snprintf(dev->node, sizeof(dev->node), "/dev/bus/usb/%03u/%03u", dev->bus, dev->devnum);
	return 0;
}

static int usb_reset(pt_ctx *ctx, const pt_usb_resolved *m, unsigned flags, unsigned timeout_ms, pt_usb_host *ret)
{
	struct pt_usbhost h;
	pt_usb_host dev;
	int r;

	if (!ctx || !m || (flags & ~PT_USB_RESET_FORCE))
		return ctx ? pt_fail(ctx, -EINVAL, "pt_usb_reset: no device named, or unknown flags") : -EINVAL;
	if ((r = pt_usbhost_open(ctx, m, &h, &dev)) < 0)
		return r;
	if (dev.holder && !(flags & PT_USB_RESET_FORCE)) {
		r = pt_fail(ctx, -EBUSY, "the USB device at %s (%04x:%04x) is open in process %ld (a VM's usb-host?): "
			    "its reset refused (--force resets it under the VM)", dev.port, dev.vendor, dev.product,
			    dev.holder);
		pt_usbhost_end(&h);
		return r;
	}
	dev.was_devnum = dev.devnum;
	r = pt_usbhost_reset(ctx, &h, &dev);
	pt_usbhost_end(&h);
	if (r == 1)
		r = find_again(ctx, &dev, timeout_ms ? timeout_ms : BACK_TIMEOUT_MS);
	if (r == 0 && ret)
		*ret = dev;
	return r;
}

PT_EXPORT int pt_usb_reset(pt_ctx *ctx, const pt_usb_resolved *m, unsigned flags, unsigned timeout_ms, pt_usb_host *ret)
{
	pt_usb_resolved mm;
	pt_usb_host h = PT_INIT(pt_usb_host);
	int r;

	if (!ctx)
		return -EINVAL;
	if ((r = PT_STRUCT_IN(&mm, m)) < 0)
		return pt_struct_fail(ctx, r, "pt_usb_reset", "pt_usb_resolved");
	if (ret && (r = PT_STRUCT_CHECK(ret)) < 0)
		return pt_struct_fail(ctx, r, "pt_usb_reset", "pt_usb_host");
	if ((r = usb_reset(ctx, &mm, flags, timeout_ms, &h)) < 0)
		return r;
	if (ret)
		PT_STRUCT_OUT(ret, &h);
	return r;
}
