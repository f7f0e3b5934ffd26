/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * USB devices: read once per snapshot, on first use, from /sys/bus/usb/devices under the
 * root. The descriptor strings (manufacturer, product, serial) are the kernel's copies, so no
 * device is opened (which would need usbfs and can disturb a device a VM uses). Names come
 * from udev's hwdb; the tty or disk node and the PCI controller from the sysfs path. And a
 * udev monitor of USB devices coming and going, for the follower.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libudev.h>

#include "libpt-private.h"

static void usb_free(pt_enum *e);

#define USB_DIR "sys/bus/usb/devices"

struct pt_usb {
	pt_enum *e;
	char port[32];	/* "1-2.3" */
	unsigned bus, devnum, speed, devclass;
	uint16_t vendor, product;
	char *manufacturer, *product_string, *serial;
	char *vendor_name, *product_name; /* hwdb */
	char *node;			  /* /dev/ttyUSB0, /dev/sdb */
	char *interfaces;		  /* "ff:cp210x 03:usbhid" */
	char peer[32];			  /* the other half of its physical port: "2-2"; "" for none */
	pt_device *controller;
};

/* A port path as the kernel names it: "BUS-PORT(.PORT)*", at most 7 tiers (USB allows 5 hubs). */
PT_EXPORT int pt_usb_port_is_valid(const char *s)
{
	size_t tiers = 0;

	if (!s || !(*s >= '1' && *s <= '9'))
		return 0;
	while (*s >= '0' && *s <= '9')
		s++;
	if (*s++ != '-')
		return 0;
	for (;; s++) {
		if (!(*s >= '0' && *s <= '9') || ++tiers > 7)
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
		if (!*s)
			return 1;
		if (*s != '.')
			return 0;
	}
}

/*
 * The USB 2 and USB 3 halves of one physical port are ports of two root hubs (or hubs), linked
 * by the kernel: DEVICE/port -> the port it is plugged into, PORT/peer -> its other half, named
 * "usbB-portN" on a root hub or "B-P-portN" on a hub. The peer as a port path: "B-N", "B-P.N".
 */
static void read_peer(int dev, char out[32])
{
	char link[PATH_MAX];
	unsigned long long n;

	out[0] = '\0';
	if (pt_read_link(dev, "port/peer", link, sizeof(link)) < 0)
		return;
	char *name = (char *)pt_basename(link), *cut = strstr(name, "-port");
	if (!cut || pt_parse_uint(cut + 5, 255, &n) < 0)
		return;
	*cut = '\0';
	char peer[40];
	if (strncmp(name, "usb", 3) == 0)
		snprintf(peer, sizeof(peer), "%.8s-%llu", name + 3, n);
	else
		snprintf(peer, sizeof(peer), "%.24s.%llu", name, n);
	if (pt_usb_port_is_valid(peer) && strlen(peer) < 32)
		memcpy(out, peer, strlen(peer) + 1);
}

/* The other half of the physical port a device is at now ("" for none), read from sysfs. */
void pt_usb_read_peer(pt_ctx *ctx, const char *port, char peer[32])
{
	char path[96];
	int d;

	peer[0] = '\0';
	snprintf(path, sizeof(path), USB_DIR "/%s", port);
	if (!pt_usb_port_is_valid(port) || (d = openat(ctx->rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return;
	read_peer(d, peer);
	close(d);
}

static char *attr(int dir, const char *name)
{
	char buf[256];
	return pt_read_attr(dir, name, buf, sizeof(buf)) == 0 ? pt_clean_string(buf) : NULL;
}

static unsigned attr_uint(int dir, const char *name, int base)
{
	char buf[32];
	unsigned long long v = 0;
	if (pt_read_attr(dir, name, buf, sizeof(buf)) == 0)
		(base == 16 ? pt_parse_hex(buf, 0xffff, &v) : pt_parse_uint(buf, 0xffffffff, &v));
	return (unsigned)v;
}

/* The first ttyUSB/ttyACM or block device below an interface (a bounded walk). */
static void find_node(int dir, int depth, char **node)
{
	DIR *d;
	struct dirent *de;
	int fd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (*node || depth > 6 || fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while (!*node && (de = readdir(d))) {
		if (de->d_name[0] == '.' || de->d_type == DT_LNK)
			continue;
		if (strncmp(de->d_name, "ttyUSB", 6) == 0 || strncmp(de->d_name, "ttyACM", 6) == 0) {
			if (asprintf(node, "/dev/%s", de->d_name) < 0)
				*node = NULL;
		} else if (strcmp(de->d_name, "block") == 0) {
			int b = openat(dirfd(d), "block", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			DIR *bd = b >= 0 ? fdopendir(b) : NULL;
			struct dirent *disk;
			while (bd && !*node && (disk = readdir(bd)))
				if (disk->d_name[0] != '.' && asprintf(node, "/dev/%s", disk->d_name) < 0)
					*node = NULL;
			if (bd)
				closedir(bd);
			else if (b >= 0)
				close(b);
		} else if (de->d_type == DT_DIR) {
			int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (sub >= 0) {
				find_node(sub, depth + 1, node);
				close(sub);
			}
		}
	}
	closedir(d);
}

static void hwdb_names(struct udev_hwdb *hwdb, pt_usb *u)
{
	char modalias[64];
	struct udev_list_entry *entry;

	if (!hwdb)
		return;
	snprintf(modalias, sizeof(modalias), "usb:v%04Xp%04X", u->vendor, u->product);
	udev_list_entry_foreach(entry, udev_hwdb_get_properties_list_entry(hwdb, modalias, 0)) {
		const char *name = udev_list_entry_get_name(entry), *value = udev_list_entry_get_value(entry);
		if (strcmp(name, "ID_VENDOR_FROM_DATABASE") == 0 && !u->vendor_name)
			u->vendor_name = strdup(value);
		else if (strcmp(name, "ID_MODEL_FROM_DATABASE") == 0 && !u->product_name)
			u->product_name = strdup(value);
	}
}

static int compare_ports(const void *a, const void *b)
{
	const pt_usb *x = a, *y = b;
	return x->bus != y->bus ? (x->bus < y->bus ? -1 : 1) : strcmp(x->port, y->port);
}

/* Interfaces: "1-2.3:1.0" entries; class and driver of each, and the node behind them. */
static void add_interface(pt_enum *e, int top, const char *name)
{
	char dev[32], link[PATH_MAX], one[96];
	snprintf(dev, sizeof(dev), "%.*s", (int)strcspn(name, ":"), name);
	for (size_t i = 0; i < e->n_usb; i++) {
		pt_usb *u = &e->usb[i];
		if (strcmp(u->port, dev) != 0)
			continue;
		int d = openat(top, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (d < 0)
			return;
		unsigned cls = attr_uint(d, "bInterfaceClass", 16);
		char *driver = pt_clean_string(pt_read_link(d, "driver", link, sizeof(link)) == 0 ? pt_basename(link) : "-");
		snprintf(one, sizeof(one), "%s%02x:%s", u->interfaces ? " " : "", cls, driver ? driver : "-");
		free(driver);
		char *joined;
		if (asprintf(&joined, "%s%s", u->interfaces ? u->interfaces : "", one) >= 0) {
			free(u->interfaces);
			u->interfaces = joined;
		}
		find_node(d, 0, &u->node);
		close(d);
		return;
	}
}

void pt_usb_load(const pt_enum *ce)
{
	pt_enum *e = PT_MUTABLE(pt_enum, ce);

	int top;
	DIR *dir;
	struct dirent *de;
	struct udev *udev;
	struct udev_hwdb *hwdb = NULL;

	if (e->usb_loaded)
		return;
	e->usb_loaded = true;
	pt_enum_on_release(e, usb_free);
	top = openat(e->ctx->rootfd, USB_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (top < 0 || !(dir = fdopendir(dup(top)))) {
		if (top >= 0)
			close(top);
		return;
	}
	udev = udev_new();
	if (udev)
		hwdb = udev_hwdb_new(udev);
	while ((de = readdir(dir))) {
		char link[PATH_MAX];
		/* devices are "B-P[.P]"; root hubs "usbN" and interfaces "...:C.I" are not */
		if (!strchr(de->d_name, '-') || strchr(de->d_name, ':') || strlen(de->d_name) >= 32)
			continue;
		int d = openat(top, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (d < 0)
			continue;
		pt_usb *more = realloc(e->usb, (e->n_usb + 1) * sizeof(*more));
		if (!more) {
			close(d);
			break;
		}
		e->usb = more;
		pt_usb *u = &e->usb[e->n_usb++];
		memset(u, 0, sizeof(*u));
		u->e = e;
		snprintf(u->port, sizeof(u->port), "%s", de->d_name);
		u->vendor = (uint16_t)attr_uint(d, "idVendor", 16);
		u->product = (uint16_t)attr_uint(d, "idProduct", 16);
		u->bus = attr_uint(d, "busnum", 10);
		u->devnum = attr_uint(d, "devnum", 10);
		u->speed = attr_uint(d, "speed", 10);
		u->devclass = attr_uint(d, "bDeviceClass", 16);
		u->manufacturer = attr(d, "manufacturer");
		u->product_string = attr(d, "product");
		u->serial = attr(d, "serial");
		read_peer(d, u->peer);
		hwdb_names(hwdb, u);
		close(d);
		if (pt_read_link(top, de->d_name, link, sizeof(link)) == 0)
			u->controller = pt_pci_ancestor(e, link);
	}
	rewinddir(dir);
	while ((de = readdir(dir)))
		if (strchr(de->d_name, ':') && strchr(de->d_name, '-'))
			add_interface(e, top, de->d_name);
	closedir(dir);
	close(top);
	udev_hwdb_unref(hwdb);
	udev_unref(udev);
	if (e->n_usb) /* qsort's base may not be NULL */
		qsort(e->usb, e->n_usb, sizeof(*e->usb), compare_ports);
}

static void usb_free(pt_enum *e)
{
	for (size_t i = 0; i < e->n_usb; i++) {
		pt_usb *u = &e->usb[i];
		free(u->manufacturer);
		free(u->product_string);
		free(u->serial);
		free(u->vendor_name);
		free(u->product_name);
		free(u->node);
		free(u->interfaces);
	}
	free(e->usb);
}

PT_EXPORT size_t pt_enum_get_usb_count(const pt_enum *e)
{
	pt_usb_load(e);
	return e->n_usb;
}

PT_EXPORT pt_usb *pt_enum_get_usb(const pt_enum *e, size_t i)
{
	pt_usb_load(e);
	return i < e->n_usb ? &e->usb[i] : NULL;
}

PT_EXPORT const char *pt_usb_get_peer_port(const pt_usb *u)
{
	return u->peer[0] ? u->peer : NULL;
}

PT_EXPORT pt_usb *pt_usb_ref(pt_usb *u)
{
	if (u)
		pt_enum_ref(u->e);
	return u;
}

PT_EXPORT pt_usb *pt_usb_unref(pt_usb *u)
{
	if (u)
		pt_enum_unref(u->e);
	return NULL;
}

PT_EXPORT const char *pt_usb_get_port(const pt_usb *u) { return u->port; }
PT_EXPORT unsigned pt_usb_get_bus(const pt_usb *u) { return u->bus; }
PT_EXPORT unsigned pt_usb_get_devnum(const pt_usb *u) { return u->devnum; }
PT_EXPORT unsigned pt_usb_get_speed(const pt_usb *u) { return u->speed; }
PT_EXPORT unsigned pt_usb_get_class(const pt_usb *u) { return u->devclass; }
PT_EXPORT uint16_t pt_usb_get_vendor_id(const pt_usb *u) { return u->vendor; }
PT_EXPORT uint16_t pt_usb_get_product_id(const pt_usb *u) { return u->product; }
PT_EXPORT const char *pt_usb_get_manufacturer(const pt_usb *u) { return u->manufacturer; }
PT_EXPORT const char *pt_usb_get_product(const pt_usb *u) { return u->product_string; }
PT_EXPORT const char *pt_usb_get_serial(const pt_usb *u) { return u->serial; }
PT_EXPORT const char *pt_usb_get_vendor_name(const pt_usb *u) { return u->vendor_name; }
PT_EXPORT const char *pt_usb_get_product_name(const pt_usb *u) { return u->product_name; }
PT_EXPORT const char *pt_usb_get_node(const pt_usb *u) { return u->node; }
PT_EXPORT const char *pt_usb_get_interfaces(const pt_usb *u) { return u->interfaces; }
PT_EXPORT pt_device *pt_usb_get_controller(const pt_usb *u) { return u->controller; }

/* ---- the monitor: USB devices coming and going, from udev ---- */

struct pt_monitor {
	int refcount;
	pt_ctx *ctx;
	struct udev *udev;
	struct udev_monitor *mon;
};

PT_EXPORT int pt_monitor_new(pt_ctx *ctx, pt_monitor **ret)
{
	pt_monitor *m;
	const char *failed = NULL;
	int err = 0, r;

	if (!ctx || !ret)
		return ctx ? pt_fail(ctx, -EINVAL, "pt_monitor_new: no result") : -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return pt_fail(ctx, -ENOMEM, "udev monitor: out of memory");
	m->refcount = 1;
	m->ctx = pt_ctx_ref(ctx);
	errno = 0;
	if (!(m->udev = udev_new()))
		failed = "udev_new", err = errno;
	else if (!(m->mon = udev_monitor_new_from_netlink(m->udev, "udev")))
		failed = "the netlink socket (udev_monitor_new_from_netlink)", err = errno;
	else if ((r = udev_monitor_filter_add_match_subsystem_devtype(m->mon, "usb", "usb_device")) < 0)
		failed = "the usb_device filter", err = -r;
	else if ((r = udev_monitor_enable_receiving(m->mon)) < 0)
		failed = "udev_monitor_enable_receiving", err = -r;
	if (failed) {
		pt_monitor_unref(m);
		if (err == ENOMEM)
			return pt_fail(ctx, -ENOMEM, "udev monitor: %s: out of memory", failed);
		return pt_fail(ctx, err == EPERM || err == EACCES ? -err : -EPROTO, "udev monitor: %s: %s (is udev running?)",
			       failed, err ? strerror(err) : "failed");
	}
	*ret = m;
	return 0;
}

PT_EXPORT pt_monitor *pt_monitor_ref(pt_monitor *m)
{
	if (m)
		m->refcount++;
	return m;
}

PT_EXPORT pt_monitor *pt_monitor_unref(pt_monitor *m)
{
	if (!m || --m->refcount > 0)
		return NULL;
	udev_monitor_unref(m->mon);
	udev_unref(m->udev);
	pt_ctx_unref(m->ctx);
	free(m);
	return NULL;
}

PT_EXPORT int pt_monitor_get_fd(const pt_monitor *m)
{
	return udev_monitor_get_fd(m->mon);
}

/* The next event within timeout_ms: 1 and *ret filled, 0 on timeout. */
static int monitor_receive(pt_monitor *m, unsigned timeout_ms, pt_usb_event *ret)
{
	struct pollfd p = { .fd = udev_monitor_get_fd(m->mon), .events = POLLIN };
	int r = poll(&p, 1, (int)timeout_ms);
	struct udev_device *d;

	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	if (r == 0 || !(d = udev_monitor_receive_device(m->mon)))
		return 0;
	*ret = PT_INIT(pt_usb_event);
	snprintf(ret->action, sizeof(ret->action), "%s", udev_device_get_action(d) ?: "");
	snprintf(ret->port, sizeof(ret->port), "%s", udev_device_get_sysname(d) ?: "");
	const char *v = udev_device_get_sysattr_value(d, "idVendor");
	const char *p2 = udev_device_get_sysattr_value(d, "idProduct");
	const char *product = udev_device_get_property_value(d, "PRODUCT"); /* "10c4/ea60/100" */
	unsigned vv = 0, pp = 0;
	if (v && p2)
		sscanf(v, "%x", &vv), sscanf(p2, "%x", &pp);
	else if (product)
		sscanf(product, "%x/%x", &vv, &pp);
	ret->vendor = (uint16_t)vv;
	ret->product = (uint16_t)pp;
	const char *busnum = udev_device_get_sysattr_value(d, "busnum");
	if (!busnum)
		busnum = udev_device_get_property_value(d, "BUSNUM");
	ret->bus = busnum ? (unsigned)atoi(busnum) : 0;
	const char *serial = udev_device_get_sysattr_value(d, "serial");
	if (!serial)
		serial = udev_device_get_property_value(d, "ID_SERIAL_SHORT");
	snprintf(ret->serial, sizeof(ret->serial), "%s", serial ? serial : "");
	udev_device_unref(d);
	return 1;
}

PT_EXPORT int pt_monitor_receive(pt_monitor *m, unsigned timeout_ms, pt_usb_event *ret)
{
	pt_usb_event ev = PT_INIT(pt_usb_event);
	int r;

	if (!m || PT_STRUCT_CHECK(ret) < 0)
		return -EINVAL;
	if ((r = monitor_receive(m, timeout_ms, &ev)) <= 0)
		return r;
	PT_STRUCT_OUT(ret, &ev);
	return r;
}

/* A USB device for QEMU's usb-host: by vid:pid, or by port where ids are ambiguous or the device
 * re-enumerates; the value checked, the id in lower case. */
int pt_usb_spec_host(pt_ctx *ctx, const pt_usb_spec *usb, char host[64])
{
	char q[256];

	if (usb && usb->port) {
		if (!pt_usb_port_is_valid(usb->port))
			return pt_fail(ctx, -EINVAL, "USB port %s: expected BUS-PORT(.PORT)*, e.g. 1-2.3",
				       pt_quote(q, sizeof(q), usb->port));
		if (usb->peer_port && (!pt_usb_port_is_valid(usb->peer_port) || strlen(usb->peer_port) >= 32))
			return pt_fail(ctx, -EINVAL, "USB peer port %s: expected BUS-PORT(.PORT)*, e.g. 2-2",
				       pt_quote(q, sizeof(q), usb->peer_port));
		snprintf(host, 64, "%s", usb->port);
		return 0;
	}
	if (!usb || !usb->id || strlen(usb->id) != 9 || usb->id[4] != ':' || strspn(usb->id, "0123456789abcdefABCDEF") != 4 ||
	    strspn(usb->id + 5, "0123456789abcdefABCDEF") != 4)
		return pt_fail(ctx, -EINVAL, "USB id %s: expected VVVV:PPPP, e.g. 10c4:ea60",
			       pt_quote(q, sizeof(q), usb && usb->id ? usb->id : "nil"));
	for (int i = 0; i < 10; i++)
		host[i] = usb->id[i] >= 'A' && usb->id[i] <= 'F' ? usb->id[i] + ('a' - 'A') : usb->id[i];
	return 0;
}

const char *pt_usb_spec_peer(const pt_usb_spec *usb)
{
	if (!usb || !usb->port || !usb->peer_port || strcmp(usb->peer_port, usb->port) == 0)
		return NULL;
	return usb->peer_port;
}
