/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What QEMU's usb-host will see. usb-host is built on libusb-1.0, so libpt asks libusb the same
 * questions: is there a device at this bus and port path (or with these ids, the first, as QEMU
 * takes it), and does its usbfs node open. The inventory itself reads sysfs and never opens a
 * device; libusb is loaded on first use (core/dl.c), so a scan or a ptlua start never maps it.
 * libusb sees the running system's /sys and /dev only: a root elsewhere is refused (-EXDEV).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libusb-1.0/libusb.h>

#include "libpt-private.h"

/* The calls libpt makes, typed by libusb's own declarations. */
static struct {
	__typeof__(libusb_init) *init;
	__typeof__(libusb_exit) *exit;
	__typeof__(libusb_get_device_list) *get_device_list;
	__typeof__(libusb_free_device_list) *free_device_list;
	__typeof__(libusb_get_bus_number) *get_bus_number;
	__typeof__(libusb_get_device_address) *get_device_address;
	__typeof__(libusb_get_port_numbers) *get_port_numbers;
	__typeof__(libusb_get_device_descriptor) *get_device_descriptor;
	__typeof__(libusb_open) *open;
	__typeof__(libusb_close) *close;
	__typeof__(libusb_reset_device) *reset_device;
	__typeof__(libusb_strerror) *strerror;
} lib;
static const char *const names[] = {
	"libusb_init",	       "libusb_exit",	   "libusb_get_device_list", "libusb_free_device_list",
	"libusb_get_bus_number", "libusb_get_device_address", "libusb_get_port_numbers",
	"libusb_get_device_descriptor", "libusb_open", "libusb_close", "libusb_reset_device",
	"libusb_strerror",
};
_Static_assert(sizeof(names) / sizeof(*names) == sizeof(lib) / sizeof(void *), "one name a call");
static struct pt_dl libusb = PT_DL("libusb-1.0.so.0", names, lib);

/* libusb's answer for this root: -EXDEV where the root is not the running system's. */
static int start(pt_ctx *ctx, struct pt_usbhost *h)
{
	struct stat ours, its;

	memset(h, 0, sizeof(*h));
	bool ours_ok = fstatat(ctx->rootfd, "sys/bus/usb/devices", &ours, 0) == 0;
	bool its_ok = stat("/sys/bus/usb/devices", &its) == 0;
	if (!ours_ok && !its_ok && fstat(ctx->rootfd, &ours) == 0 && stat("/", &its) == 0 && ours.st_dev == its.st_dev &&
	    ours.st_ino == its.st_ino)
		return pt_fail(ctx, -ENODEV, "this host has no USB (no /sys/bus/usb/devices)");
	if (!ours_ok || !its_ok || ours.st_dev != its.st_dev || ours.st_ino != its.st_ino)
		return pt_fail(ctx, -EXDEV, "libusb sees the running system's /sys/bus/usb and /dev/bus/usb, not %s/sys "
			       "and %s/dev: QEMU's view of a USB device is only checked on the host itself",
			       ctx->root, ctx->root);
	if (pt_dl_load(&libusb) < 0)
		return pt_fail(ctx, -ENOPKG, "libusb-1.0 cannot be loaded (%s): install libusb-1.0-0", libusb.error);
	int r = lib.init(&h->usb);
	if (r < 0)
		return pt_fail(ctx, -EIO, "libusb_init: %s", lib.strerror(r));
	return 0;
}

void pt_usbhost_end(struct pt_usbhost *h)
{
	if (h->handle)
		lib.close(h->handle);
	if (h->list)
		lib.free_device_list(h->list, 1);
	if (h->usb)
		lib.exit(h->usb);
	memset(h, 0, sizeof(*h));
}

static void describe(libusb_device *d, pt_usb_host *ret)
{
	struct libusb_device_descriptor desc = { 0 };
	uint8_t ports[8];
	int n = lib.get_port_numbers(d, ports, (int)sizeof(ports));
	size_t at;

	memset(ret, 0, sizeof(*ret));
	ret->bus = lib.get_bus_number(d);
	ret->devnum = lib.get_device_address(d);
	at = (size_t)snprintf(ret->port, sizeof(ret->port), "%u", ret->bus);
	for (int i = 0; i < n && at < sizeof(ret->port); i++)
		at += (size_t)snprintf(ret->port + at, sizeof(ret->port) - at, "%c%u", i ? '.' : '-', ports[i]);
	if (lib.get_device_descriptor(d, &desc) == 0)
		ret->vendor = desc.idVendor, ret->product = desc.idProduct;
	snprintf(ret->node, sizeof(ret->node), "/dev/bus/usb/%03u/%03u", ret->bus, ret->devnum);
}

static int by_port(const void *a, const void *b)
{
	return strverscmp(*(char *const *)a, *(char *const *)b);
}

/* "1-1 (1d6b:0002), 1-2 (10c4:ea60)": what libusb sees on a bus, in port order, for messages. */
static char *seen_on_bus(libusb_device **list, ssize_t n, unsigned bus)
{
	struct pt_strv seen = { 0 };
	pt_usb_host one;
	char item[64];

	for (ssize_t i = 0; i < n; i++) {
		describe(list[i], &one);
		if (one.bus == bus && strchr(one.port, '-')) {
			snprintf(item, sizeof(item), "%s (%04x:%04x)", one.port, one.vendor, one.product);
			pt_strv_add(&seen, item);
		}
	}
	if (seen.n)
		qsort(seen.v, seen.n, sizeof(*seen.v), by_port);
	char *s = seen.n ? pt_strv_join(&seen, ", ") : strdup("no device");
	pt_strv_free(&seen);
	return s;
}

/*
 * Finds the device QEMU's usb-host would take for m and opens its node as QEMU would: 0 with
 * *ret filled and the handle open in h, or -ENODEV (libusb sees no such device: the message
 * says what it sees), -EACCES (the node does not open), -EXDEV, -ENOPKG.
 */
int pt_usbhost_open(pt_ctx *ctx, const pt_usb_resolved *m, struct pt_usbhost *h, pt_usb_host *ret)
{
	char what[48];
	int r;

	if ((r = start(ctx, h)) < 0)
		return r;
	ssize_t n = lib.get_device_list(h->usb, &h->list);
	if (n < 0) {
		r = pt_fail(ctx, -EIO, "libusb_get_device_list: %s", lib.strerror((int)n));
		pt_usbhost_end(h);
		return r;
	}
	if (m->port[0])
		snprintf(what, sizeof(what), "at port %s", m->port);
	else
		snprintf(what, sizeof(what), "with id %04x:%04x", m->vendor, m->product);
	libusb_device *found = NULL;
	for (ssize_t i = 0; i < n && !found; i++) {
		describe(h->list[i], ret);
		if (m->port[0] ? strcmp(ret->port, m->port) == 0 : ret->vendor == m->vendor && ret->product == m->product)
			found = h->list[i];
	}
	if (!found) {
		char *seen = m->port[0] ? seen_on_bus(h->list, n, m->bus) : NULL;
		if (m->port[0])
			r = pt_fail(ctx, -ENODEV, "QEMU would not find the USB device %s: libusb sees %s on bus %u", what,
				    seen ? seen : "?", m->bus);
		else
			r = pt_fail(ctx, -ENODEV, "QEMU would not find the USB device %s: libusb sees none", what);
		free(seen);
		pt_usbhost_end(h);
		return r;
	}
	describe(found, ret);
	ret->holder = pt_path_holder(ctx, ret->node);
	if ((r = lib.open(found, &h->handle)) < 0) {
		int err = r == LIBUSB_ERROR_ACCESS ? -EACCES : r == LIBUSB_ERROR_NO_DEVICE ? -ENODEV : -EIO;
		h->handle = NULL;
		r = pt_fail(ctx, err, "QEMU could not open the USB device %s (%04x:%04x, device %u on bus %u): %s: %s%s", what,
			    ret->vendor, ret->product, ret->devnum, ret->bus, ret->node, lib.strerror(r),
			    err == -EACCES ? " (QEMU runs as root under Proxmox; check the node's mode and owner)" : "");
		pt_usbhost_end(h);
		return r;
	}
	return 0;
}

/* usbfs's reset (USBDEVFS_RESET), as a replug: 0 when the device kept its address, 1 when it
 * went and is enumerated again (a new device number), -errno naming the failure. */
int pt_usbhost_reset(pt_ctx *ctx, struct pt_usbhost *h, const pt_usb_host *dev)
{
	int r = lib.reset_device(h->handle);

	if (r == 0)
		return 0;
	if (r == LIBUSB_ERROR_NOT_FOUND || r == LIBUSB_ERROR_NO_DEVICE)
		return 1;
	return pt_fail(ctx, -EIO, "reset of the USB device at %s (%s): %s", dev->port, dev->node, lib.strerror(r));
}

static int usb_check_host(pt_ctx *ctx, const pt_usb_resolved *m, pt_usb_host *ret)
{
	struct pt_usbhost h;
	pt_usb_host ignored;

	if (!ctx || !m)
		return ctx ? pt_fail(ctx, -EINVAL, "pt_usb_check_host: no device named") : -EINVAL;
	int r = pt_usbhost_open(ctx, m, &h, ret ? ret : &ignored);
	if (r == 0)
		pt_usbhost_end(&h);
	return r;
}

PT_EXPORT int pt_usb_check_host(pt_ctx *ctx, const pt_usb_resolved *m, pt_usb_host *ret)
{
	pt_usb_resolved mm;
	pt_usb_host h = PT_INIT(pt_usb_host);
	int r;

	if (!ctx)
		return -EINVAL;
	if ((r = PT_STRUCT_IN(&mm, m)) < 0)
		return pt_struct_fail(ctx, r, "pt_usb_check_host", "pt_usb_resolved");
	if (ret && (r = PT_STRUCT_CHECK(ret)) < 0)
		return pt_struct_fail(ctx, r, "pt_usb_check_host", "pt_usb_host");
	if ((r = usb_check_host(ctx, &mm, &h)) < 0)
		return r;
	if (ret)
		PT_STRUCT_OUT(ret, &h);
	return r;
}
