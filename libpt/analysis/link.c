/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The PCIe link a device trained at, against what it and the port above it can do: a GPU at x4
 * in a riser, or at Gen1 behind a bad slot, runs a VM below bare-metal speed. The kernel's words
 * are taken as it gives them (current_link_speed "8.0 GT/s PCIe", current_link_width "16", and
 * max_link_*), read when asked, not in the scan. A link's speed drops in a low-power state and
 * comes back under load (a GPU at idle trains down to 2.5 GT/s), so a lower speed is said as
 * what it may be; fewer lanes than both ends have is a real defect.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libpt-private.h"

/* "8.0 GT/s PCIe" -> 8000 (MT/s); 0 for "Unknown" or anything else. */
static unsigned parse_speed(const char *s)
{
	char *end;
	double gts = strtod(s, &end);
	if (end == s || strncmp(end, " GT/s", 5) != 0 || gts <= 0 || gts > 1000)
		return 0;
	return (unsigned)(gts * 1000 + 0.5);
}

static unsigned parse_width(const char *s)
{
	char *end;
	unsigned long w = strtoul(s[0] == 'x' ? s + 1 : s, &end, 10);
	return end != s && w > 0 && w <= 32 ? (unsigned)w : 0;
}

/* The device's link attributes, read once: a link is asked of each hop's both ends. */
static void load_link(const pt_device *cdev)
{
	pt_device *dev = PT_MUTABLE(pt_device, cdev);
	static const char *const attrs[] = { "current_link_speed", "current_link_width", "max_link_speed",
					     "max_link_width" };
	unsigned *const fields[] = { &dev->link.speed, &dev->link.width, &dev->link.max_speed, &dev->link.max_width };
	char path[96], buf[64];

	dev->link_loaded = true;
	dev->link_r = -ENOENT;
	dev->link.size = sizeof(dev->link);
	for (int i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "sys/bus/pci/devices/%s/%s", dev->address, attrs[i]);
		if (pt_read_attr(dev->e->ctx->rootfd, path, buf, sizeof(buf)) < 0)
			continue;
		dev->link_r = 0;
		*fields[i] = i % 2 ? parse_width(buf) : parse_speed(buf);
	}
}

PT_EXPORT int pt_device_get_link(const pt_device *dev, pt_link *ret)
{
	int r;

	if (!dev || !ret)
		return -EINVAL;
	if ((r = PT_STRUCT_CHECK(ret)) < 0)
		return r;
	if (!dev->link_loaded)
		load_link(dev);
	if (dev->link_r < 0)
		return dev->link_r;
	if ((r = PT_STRUCT_OUT(ret, &dev->link)) < 0)
		return r;
	return 0;
}

/* "x16 at 16.0 GT/s" (the PCIe generation in brackets). */
static void describe(char *buf, size_t size, unsigned width, unsigned speed)
{
	static const struct { unsigned mts; const char *gen; } gens[] = {
		{ 2500, "Gen1" }, { 5000, "Gen2" }, { 8000, "Gen3" }, { 16000, "Gen4" }, { 32000, "Gen5" }, { 64000, "Gen6" },
	};
	const char *gen = NULL;
	for (size_t i = 0; i < sizeof(gens) / sizeof(*gens); i++)
		if (gens[i].mts == speed)
			gen = gens[i].gen;
	snprintf(buf, size, "x%u at %u.%u GT/s%s%s%s", width, speed / 1000, speed % 1000 / 100, gen ? " (" : "",
		 gen ? gen : "", gen ? ")" : "");
}

/* One link: the device's end and the other end (the port above it, or the device below a port;
 * NULL: none known). 0, or 1/2 with why. */
static int check_one(const pt_device *dev, const pt_device *port, char *why, size_t size)
{
	pt_link d = PT_INIT(pt_link), p = PT_INIT(pt_link);
	char now[64], can[64];

	if (pt_device_get_link(dev, &d) < 0 || !d.width || !d.speed || !d.max_width || !d.max_speed)
		return -ENOENT;
	unsigned width = d.max_width, speed = d.max_speed;
	if (port && pt_device_get_link(port, &p) == 0 && p.max_width && p.max_speed) {
		width = width < p.max_width ? width : p.max_width;
		speed = speed < p.max_speed ? speed : p.max_speed;
	}
	describe(now, sizeof(now), d.width, d.speed);
	describe(can, sizeof(can), width, speed);
	if (d.width < width) {
		snprintf(why, size, "%s: trained at %s, both ends can do %s: fewer lanes than the slot and the "
			 "device have (a riser, a slot wired for fewer lanes, a bad seat)", dev->address, now, can);
		return 1;
	}
	if (d.speed < speed) {
		snprintf(why, size, "%s: at %s, both ends can do %s: a low-power state trains the link down and "
			 "load brings it back; if it stays so under load, the slot or the riser is the cause",
			 dev->address, now, can);
		return 2;
	}
	return 0;
}

/* Whether the device's link attributes are the link below it: a root or downstream port (and a
 * PCI-to-PCIe bridge) says the link to its secondary bus, where an endpoint, an upstream port or
 * a PCIe-to-PCI bridge says the link above it. As the kernel shows it: a root port's
 * current_link_width is its device's. Without the port type (config space unreadable), a bridge
 * on a root bus is a root port, and facing alternates down a switch. */
static bool faces_down(const pt_device *d)
{
	int type = pt_device_get_pcie_type(d);

	if (type >= 0)
		return type == 4 || type == 6 || type == 8; /* PCI_EXP_TYPE_ROOT_PORT, _DOWNSTREAM, _PCIE_BRIDGE */
	if (!pt_device_is_bridge(d))
		return false;
	return !d->parent || !faces_down(d->parent);
}

/* The device on a downward-facing port's link: the first function below it. */
static const pt_device *below(const pt_device *port)
{
	for (size_t i = 0; i < port->e->n_devices; i++)
		if (port->e->devices[i].parent == port)
			return &port->e->devices[i];
	return NULL;
}

PT_EXPORT int pt_device_check_link(const pt_device *dev, char **why)
{
	char text[512];
	int worst = -ENOENT;

	if (!dev || !why)
		return -EINVAL;
	*why = NULL;
	/* each link from the device up to the root, once: an upward-facing end (the device, an
	 * upstream port) against the port above it; a downward-facing port's own link is the one
	 * below it, checked from there, unless the port is what was asked (then against its device)
	 * the slowest hop bounds the device */
	for (const pt_device *d = dev; d; d = d->parent) {
		char one[512];
		bool down = faces_down(d);
		if (down && d != dev)
			continue;
		const pt_device *other = down ? below(d) : d->parent;
		if (down && !other)
			continue; /* an empty slot: no link to judge */
		int r = check_one(d, other, one, sizeof(one));
		if (r < 0)
			continue;
		if (worst < 0)
			worst = 0;
		if (r > 0 && (worst == 0 || r < worst)) {
			worst = r;
			snprintf(text, sizeof(text), "%s", one);
		}
	}
	if (worst > 0 && !(*why = strdup(text)))
		return -ENOMEM;
	return worst;
}
