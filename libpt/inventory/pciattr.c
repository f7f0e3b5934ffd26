/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The PCI devices' attributes, read in the scan (pci.c lists the devices and links them): each
 * device's sysfs directory read once (uevent, the config header, the driver and its override,
 * the IOMMU group, boot_vga, reset_method, numa_node, the BARs, SR-IOV), on several threads on
 * a large host, the warnings about each device kept with it until every device is read.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libpt-private.h"

#define DEVICES_DIR "sys/bus/pci/devices"
#define PCI_REVISION_ID 0x08
#define PCI_HEADER_TYPE 0x0e

/* A warning of the scan about one device: kept with it, as the scan may run on several
 * threads (take_scan_warnings adds them all in order). */
static void device_warning(pt_device *dev, const char *format, ...) PT_PRINTF(2, 3);
static void device_warning(pt_device *dev, const char *format, ...)
{
	char *msg, **w;
	va_list args;

	va_start(args, format);
	int n = vasprintf(&msg, format, args);
	va_end(args);
	if (n < 0)
		return;
	w = realloc(dev->scan_warnings, (dev->n_scan_warnings + 1) * sizeof(*w));
	if (!w) {
		free(msg);
		return;
	}
	dev->scan_warnings = w;
	dev->scan_warnings[dev->n_scan_warnings++] = msg;
}

static void take_scan_warnings(pt_enum *e)
{
	for (size_t i = 0; i < e->n_devices; i++) {
		pt_device *dev = &e->devices[i];
		for (unsigned j = 0; j < dev->n_scan_warnings; j++)
			pt_enum_take_warning(e, dev->scan_warnings[j]);
		free(dev->scan_warnings);
		dev->scan_warnings = NULL;
		dev->n_scan_warnings = 0;
	}
}

/* Warns naming the file as the user knows it, e.g. "/sys/bus/pci/devices/0000:01:00.0/class". */
static void warn_attr(pt_enum *e, pt_device *dev, const char *attr, const char *what)
{
	device_warning(dev, "%s: %s/" DEVICES_DIR "/%s/%s: %s", dev->address, e->ctx->root,
		       dev->address, attr, what);
}

static bool read_hex_attr(pt_enum *e, pt_device *dev, struct pt_dir *d, const char *attr,
			  unsigned long long max, unsigned long long *ret)
{
	char buf[32], msg[80];
	int r = pt_dir_read_attr(d, attr, buf, sizeof(buf));

	if (r == 0 && pt_parse_hex(buf, max, ret) == 0)
		return true;
	if (r == 0)
		snprintf(msg, sizeof(msg), "invalid value \"%.20s\"", buf);
	warn_attr(e, dev, attr, r == 0 ? msg : strerror(-r));
	return false;
}

static char *read_string_attr(pt_enum *e, pt_device *dev, struct pt_dir *d, const char *attr)
{
	char buf[256];
	int r = pt_dir_read_attr(d, attr, buf, sizeof(buf));

	if (r == -ENOENT)
		return NULL;
	if (r < 0) {
		warn_attr(e, dev, attr, strerror(-r));
		return NULL;
	}
	return pt_clean_string(buf);
}

/* Each BAR's size from `resource`: lines of "start end flags", BARs 0-5 then the ROM. */
static void read_bars(pt_enum *e, pt_device *dev, struct pt_dir *d)
{
	char buf[2048];
	int r = pt_dir_read_attr(d, "resource", buf, sizeof(buf));
	char *line = buf;

	if (r == -ENOENT)
		return;
	if (r < 0) {
		warn_attr(e, dev, "resource", strerror(-r));
		return;
	}
	for (unsigned i = 0; i < 7 && line && *line; i++) {
		const char *p = line;
		int n1, n2 = 0;
		unsigned long long start = pt_hex_prefix(&p, &n1), end = 0;
		if (n1 > 0 && *p == ' ') {
			p++;
			end = pt_hex_prefix(&p, &n2);
		}
		if (n1 <= 0 || *p != ' ' || n2 <= 0) {
			warn_attr(e, dev, "resource", "unexpected format");
			return;
		}
		if (end > start)
			dev->bars[i] = end - start + 1;
		line = strchr(p, '\n');
		if (line)
			line++;
	}
}

static void parse_device_link(pt_device *dev, const char *link)
{
	const char *end = strrchr(link, '/');
	const char *start = end;
	char parent[64];

	if (!end)
		return;
	while (start > link && start[-1] != '/')
		start--;
	if ((size_t)(end - start) >= sizeof(parent))
		return;
	memcpy(parent, start, (size_t)(end - start));
	parent[end - start] = '\0';
	dev->has_parent = pt_address_parse(parent, &dev->parent_key) == 0;
}

/* "VVVV:DDDD" as uevent writes it. */
static bool parse_id_pair(const char *s, uint16_t *a, uint16_t *b)
{
	int n1, n2;
	unsigned long long v1 = pt_hex_prefix(&s, &n1), v2;

	if (n1 != 4 || *s++ != ':')
		return false;
	v2 = pt_hex_prefix(&s, &n2);
	if (n2 != 4 || *s)
		return false;
	*a = (uint16_t)v1;
	*b = (uint16_t)v2;
	return true;
}

/*
 * The kernel's ids, class and subsystem ids, from `uevent` in one read: they are what the kernel
 * took (an SR-IOV VF's config space reads ffff; quirks correct the ids and classes of broken
 * devices), as pciutils takes them from sysfs, and the bound driver (DRIVER=, absent without
 * one). Returns whether uevent was there and complete.
 */
static bool read_uevent(pt_enum *e, pt_device *dev, struct pt_dir *d)
{
	char buf[1024];
	int r = pt_dir_read_attr(d, "uevent", buf, sizeof(buf));
	unsigned seen = 0;

	if (r < 0) {
		if (r != -ENOENT)
			warn_attr(e, dev, "uevent", strerror(-r));
		return false;
	}
	for (char *line = buf, *next; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		const char *v;
		unsigned long long n;
		bool ok = true;
		if ((v = pt_strip_prefix(line, "PCI_CLASS="))) {
			if ((ok = pt_parse_hex(v, 0xffffff, &n) == 0)) {
				dev->class = (int32_t)n;
				seen |= 1;
			}
		} else if ((v = pt_strip_prefix(line, "PCI_ID="))) {
			if ((ok = parse_id_pair(v, &dev->vendor, &dev->device)))
				seen |= 2;
		} else if ((v = pt_strip_prefix(line, "PCI_SUBSYS_ID="))) {
			if ((ok = parse_id_pair(v, &dev->subvendor, &dev->subdevice)))
				seen |= 4;
		} else if ((v = pt_strip_prefix(line, "DRIVER=")) && !dev->driver) {
			if ((ok = *v && pt_driver_name_valid(v)))
				dev->driver = strdup(v);
		}
		if (!ok) {
			char msg[96];
			snprintf(msg, sizeof(msg), "invalid line \"%.40s\"", line);
			warn_attr(e, dev, "uevent", msg);
		}
	}
	return seen == 7;
}

/*
 * The revision and header type from the config header (one read; the ids there are not the
 * kernel's for a VF). Returns whether the header was read.
 */
static bool read_config(pt_enum *e, pt_device *dev, struct pt_dir *d)
{
	unsigned char cfg[64];
	size_t len;
	int r = pt_dir_read_bytes(d, "config", cfg, sizeof(cfg), &len);

	if (r < 0 || len < sizeof(cfg)) {
		if (r != -ENOENT)
			warn_attr(e, dev, "config", r < 0 ? strerror(-r) : "shorter than the header");
		return false;
	}
	dev->revision = cfg[PCI_REVISION_ID];
	dev->header_type = cfg[PCI_HEADER_TYPE] & 0x7f;
	dev->multifunction = cfg[PCI_HEADER_TYPE] & 0x80;
	return true;
}

static void read_iommu_group(pt_enum *e, pt_device *dev, struct pt_dir *d)
{
	char link[PATH_MAX];
	unsigned long long n;
	int r = pt_read_link(d->fd, "iommu_group", link, sizeof(link));

	if (r == -ENOENT)
		return;
	if (r < 0 || pt_parse_uint(pt_basename(link), 0x7fffffff, &n) < 0) {
		warn_attr(e, dev, "iommu_group", r < 0 ? strerror(-r) : "does not name a group");
		return;
	}
	dev->group_number = (long)n;
}

static void scan_device(pt_enum *e, pt_device *dev, int devicesfd, struct pt_fd_pool *pool)
{
	const char *name = dev->address;
	char link[PATH_MAX];
	unsigned long long v;
	struct pt_dir dir, *d = &dir;

	dev->e = e;
	dev->class = -1;
	dev->header_type = -1;
	dev->boot_vga = -1;
	dev->numa_node = -1;
	dev->group_number = -1;
	dev->vendor = dev->device = 0xffff;

	if (pt_read_link(devicesfd, name, link, sizeof(link)) == 0)
		parse_device_link(dev, link);
	if (pt_dir_open(d, devicesfd, name) < 0) {
		device_warning(dev, "%s: %s/" DEVICES_DIR "/%s: %m", dev->address, e->ctx->root, name);
		return;
	}
	/* Without uevent (a hand-made tree), the attribute files the kernel derives it from. */
	bool has_uevent = read_uevent(e, dev, d);
	if (!has_uevent) {
		if (read_hex_attr(e, dev, d, "vendor", 0xffff, &v))
			dev->vendor = (uint16_t)v;
		if (read_hex_attr(e, dev, d, "device", 0xffff, &v))
			dev->device = (uint16_t)v;
		if (read_hex_attr(e, dev, d, "subsystem_vendor", 0xffff, &v))
			dev->subvendor = (uint16_t)v;
		if (read_hex_attr(e, dev, d, "subsystem_device", 0xffff, &v))
			dev->subdevice = (uint16_t)v;
		if (read_hex_attr(e, dev, d, "class", 0xffffff, &v))
			dev->class = (int32_t)v;
	}
	if (!read_config(e, dev, d) && read_hex_attr(e, dev, d, "revision", 0xff, &v))
		dev->revision = (uint8_t)v;
	/* uevent names the bound driver (DRIVER=); the link, only where there is no uevent */
	if (!has_uevent && !dev->driver && pt_read_link(d->fd, "driver", link, sizeof(link)) == 0)
		dev->driver = pt_clean_string(pt_basename(link));
	dev->override = read_string_attr(e, dev, d, "driver_override");
	if (dev->override && strcmp(dev->override, "(null)") == 0) {
		free(dev->override);
		dev->override = NULL;
	}
	read_iommu_group(e, dev, d);
	if ((dev->class >> 8) == 0x0300) {
		char *s = read_string_attr(e, dev, d, "boot_vga");
		if (s)
			dev->boot_vga = strcmp(s, "1") == 0;
		free(s);
	}
	dev->reset_method = read_string_attr(e, dev, d, "reset_method");
	/* Without reset_method (< 5.15, or hidden when empty), `reset` tells whether any exists. */
	if (!dev->reset_method && faccessat(d->fd, "reset", F_OK, 0) < 0)
		dev->reset_method = strdup("");
	char *numa = read_string_attr(e, dev, d, "numa_node");
	if (numa && strcmp(numa, "-1") != 0 && pt_parse_uint(numa, 0xffff, &v) == 0)
		dev->numa_node = (int)v;
	free(numa);
	read_bars(e, dev, d);
	if (pt_read_link(d->fd, "physfn", link, sizeof(link)) == 0)
		dev->has_physfn = pt_address_parse(pt_basename(link), &dev->physfn_key) == 0;
	/* a VF has no VFs of its own (the kernel gives it no sriov_ files) */
	char *total = dev->has_physfn ? NULL : read_string_attr(e, dev, d, "sriov_totalvfs");
	if (total && pt_parse_uint(total, 0xffff, &v) == 0)
		dev->totalvfs = (unsigned)v;
	free(total);
	pt_dir_release(d, pool);
}

struct scan_devices {
	pt_enum *e;
	int devicesfd;
};

static void scan_one(void *arg, size_t i, struct pt_fd_pool *pool)
{
	struct scan_devices *s = arg;
	scan_device(s->e, &s->e->devices[i], s->devicesfd, pool);
}

/* Every device read (on several threads on a large host: pt_parallel_for), then their
 * warnings added in address order. */
void pt_pci_read_devices(pt_enum *e, int devicesfd)
{
	struct scan_devices s = { e, devicesfd };

	pt_parallel_for(e->n_devices, scan_one, &s);
	take_scan_warnings(e);
}
