/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host-critical guard: the devices the host cannot give away without losing its
 * console, its disks, its management network or its only keyboard, each with the reason.
 * Found once per snapshot, on first use, from /proc and /sys under the root.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "libpt-private.h"

#define MAX_DEPTH 8 /* of dm/md slaves, bridges over bonds over VLANs */

static void mark(pt_device *dev, unsigned kind, const char *format, ...) PT_PRINTF(3, 4);
static void mark(pt_device *dev, unsigned kind, const char *format, ...)
{
	char reason[256], *joined;
	va_list args;

	va_start(args, format);
	vsnprintf(reason, sizeof(reason), format, args);
	va_end(args);
	if (dev->critical_reason && strstr(dev->critical_reason, reason))
		return;
	if (asprintf(&joined, "%s%s%s", dev->critical_reason ? dev->critical_reason : "",
		     dev->critical_reason ? "; " : "", reason) < 0)
		return;
	free(dev->critical_reason);
	dev->critical_reason = joined;
	dev->critical |= kind;
}

static int open_dir(pt_enum *e, const char *path)
{
	return openat(e->ctx->rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void guard_vga(pt_enum *e)
{
	for (size_t i = 0; i < e->n_devices; i++)
		if (e->devices[i].boot_vga == 1)
			mark(&e->devices[i], PT_CRITICAL_BOOT_VGA, "boot VGA device (boot_vga = 1)");
}

/* The framebuffer console: the PCI devices of the fbN that fbcon draws on. */
static void guard_console(pt_enum *e, const struct pt_host_facts *h)
{
	for (size_t i = 0; i < h->n_framebuffers; i++) {
		/* the class link leads through the device it belongs to */
		pt_device *dev = pt_pci_ancestor(e, h->framebuffers[i].path);
		if (dev)
			mark(dev, PT_CRITICAL_CONSOLE, "draws the framebuffer console (%s)", h->framebuffers[i].name);
	}
}

/* A block device (sda2, dm-0, md0) down to the controllers of the disks under it. */
static void guard_block(pt_enum *e, const char *name, const char *mountpoint, const char *shown,
			int depth)
{
	char path[PATH_MAX], link[PATH_MAX];
	pt_device *dev;
	struct dirent *de;
	DIR *dir;
	int fd;

	if (depth > MAX_DEPTH || strchr(name, '/') || name[0] == '.')
		return;
	snprintf(path, sizeof(path), "sys/class/block/%s", name);
	if (pt_read_link(e->ctx->rootfd, path, link, sizeof(link)) < 0) {
		pt_dbg(e->ctx, "%s: %s/%s: unreadable", mountpoint, e->ctx->root, path);
		return;
	}
	dev = pt_pci_ancestor(e, link);
	if (dev) {
		mark(dev, PT_CRITICAL_STORAGE, "controller of %s (%s)", mountpoint, shown);
		return;
	}
	/* dm, md: the devices under it are its slaves. */
	snprintf(path, sizeof(path), "sys/class/block/%s/slaves", name);
	if ((fd = open_dir(e, path)) < 0)
		return;
	if (!(dir = fdopendir(fd))) {
		close(fd);
		return;
	}
	while ((de = readdir(dir)))
		if (de->d_name[0] != '.')
			guard_block(e, de->d_name, mountpoint, shown, depth + 1);
	closedir(dir);
}

/* The controllers of the disks the host's own mounts are on (inventory/hostfacts.c reads them);
 * where a ZFS pool's disks are unknown (zpool hung or failed), every storage controller. */
static void guard_storage(pt_enum *e, const struct pt_host_facts *h)
{
	for (size_t i = 0; i < h->n_mounts; i++)
		guard_block(e, h->mounts[i].disk, h->mounts[i].mountpoint, h->mounts[i].source, 0);
	for (size_t i = 0; i < h->n_unknown_pools; i++)
		for (size_t d = 0; d < e->n_devices; d++)
			if (strcmp(pt_device_get_kind(&e->devices[d]), "storage") == 0)
				mark(&e->devices[d], PT_CRITICAL_STORAGE, "may be a controller of %s (%s)",
				     h->unknown_pools[i].mountpoint, h->unknown_pools[i].source);
}

/* The physical NICs under an interface: itself, or what a bridge, bond or VLAN sits on. */
static void guard_netdev(pt_enum *e, const char *iface, const char *chain, int depth)
{
	char path[PATH_MAX], link[PATH_MAX], next[1024];
	struct dirent *de;
	pt_device *dev;
	DIR *dir;
	int fd;

	if (depth > MAX_DEPTH || strchr(iface, '/') || iface[0] == '.')
		return;
	snprintf(path, sizeof(path), "sys/class/net/%s", iface);
	if (pt_read_link(e->ctx->rootfd, path, link, sizeof(link)) == 0 && (dev = pt_pci_ancestor(e, link))) {
		mark(dev, PT_CRITICAL_NETWORK, "NIC of the default route (%s)", chain);
		if (dev->physfn)
			mark(dev->physfn, PT_CRITICAL_NETWORK, "physical function of %s, NIC of the default route (%s)",
			     dev->address, chain);
		return;
	}
	if ((fd = open_dir(e, path)) < 0 || !(dir = fdopendir(fd))) {
		return;
	}
	while ((de = readdir(dir)))
		if (strncmp(de->d_name, "lower_", 6) == 0) {
			snprintf(next, sizeof(next), "%s -> %s", chain, de->d_name + 6);
			guard_netdev(e, de->d_name + 6, next, depth + 1);
		}
	closedir(dir);
}

/* The NICs of the default routes' interfaces. */
static void guard_network(pt_enum *e, const struct pt_host_facts *h)
{
	for (size_t i = 0; i < h->n_routes; i++)
		guard_netdev(e, h->routes[i].name, h->routes[i].name, 0);
}

/* The USB controller of the keyboards, when they all hang under one. */
static void guard_keyboard(pt_enum *e, const struct pt_host_facts *h)
{
	pt_device *only = NULL;
	const char *name = "";
	bool elsewhere = false;

	for (size_t i = 0; i < h->n_keyboards; i++) {
		pt_device *dev = pt_pci_ancestor(e, h->keyboards[i].path);
		if (!dev || (only && dev != only)) {
			elsewhere = true; /* a PS/2 keyboard, or one on another controller */
		} else if (!only) {
			only = dev;
			name = h->keyboards[i].name;
		}
	}
	if (only && !elsewhere)
		mark(only, PT_CRITICAL_KEYBOARD, "the only keyboard (%s) hangs under it", name[0] ? name : "unnamed");
}

void pt_guard_load(pt_enum *e)
{
	if (e->guard_loaded)
		return;
	e->guard_loaded = true;
	const struct pt_host_facts *h = pt_host_facts(e);
	guard_vga(e);
	guard_console(e, h);
	guard_storage(e, h);
	guard_network(e, h);
	guard_keyboard(e, h);
}

PT_EXPORT unsigned pt_device_get_critical(const pt_device *dev)
{
	pt_guard_load(dev->e);
	return dev->critical;
}

PT_EXPORT const char *pt_device_get_critical_reason(const pt_device *dev)
{
	pt_guard_load(dev->e);
	return dev->critical_reason;
}

int pt_guard_decide(const pt_device *asked, const pt_device *m, unsigned flags, char **msg)
{
	int r;

	*msg = NULL;
	pt_guard_load(m->e);
	if (!m->critical)
		return 0;
	if ((flags & PT_TAKE_CONSOLE) && !(m->critical & ~(unsigned)(PT_CRITICAL_CONSOLE | PT_CRITICAL_BOOT_VGA)))
		r = asprintf(msg, "%s: taken although %s is the host's %s: the console is handed over", asked->address,
			     m->address, m->critical_reason);
	else if (flags & PT_TAKE_FORCE)
		r = asprintf(msg, "%s: taken although %s is host-critical: %s (forced)", asked->address, m->address,
			     m->critical_reason);
	else if (m == asked)
		return asprintf(msg, "%s: refused: %s; force to take it anyway", asked->address, m->critical_reason) < 0
			       ? -ENOMEM : -EBUSY;
	else
		return asprintf(msg, "%s: refused: it goes with %s (IOMMU group %u), %s; force to take it anyway",
				asked->address, m->address, asked->group ? asked->group->number : 0,
				m->critical_reason) < 0 ? -ENOMEM : -EBUSY;
	return r < 0 ? -ENOMEM : 1;
}

PT_EXPORT int pt_device_check_take(const pt_device *dev, unsigned flags)
{
	pt_device *self[1] = { PT_MUTABLE(pt_device, dev) };
	pt_device **set = dev->n_set ? dev->set : self;
	size_t n = dev->n_set ? dev->n_set : 1;

	for (size_t i = 0; i < n; i++) {
		char *msg;
		int r = pt_guard_decide(dev, set[i], flags, &msg);
		if (r == 1)
			pt_warn(dev->e->ctx, "%s", msg);
		else if (r < 0)
			r = pt_fail(dev->e->ctx, r, "%s", msg ? msg : "out of memory");
		free(msg);
		if (r < 0)
			return r;
	}
	return 0;
}
