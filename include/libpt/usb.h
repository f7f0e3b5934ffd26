/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libpt's USB: the snapshot's USB devices, their events, QMP, a device as a user names it, libusb's view, attach and detach.
 * A part of <libpt.h>, which includes it: include that. */
#ifndef LIBPT_USB_H
#define LIBPT_USB_H
#ifndef LIBPT_H_INSIDE
#error "include <libpt.h>, not <libpt/usb.h>"
#endif

/*
 * USB devices of the snapshot (PT_LOAD_USB): port path ("1-2.3"), ids, the kernel's
 * copies of the descriptor strings, names from udev's hwdb, speed (Mbit/s), interfaces
 * ("ff:cp210x 03:usbhid": class and driver of each), the /dev node of a serial adapter or
 * disk, and the PCI controller it hangs under. pt_usb_ref/pt_usb_unref hold the whole snapshot.
 */
typedef struct pt_usb pt_usb;
size_t pt_enum_get_usb_count(const pt_enum *e);
pt_usb *pt_enum_get_usb(const pt_enum *e, size_t i);
pt_usb *pt_usb_ref(pt_usb *u);
pt_usb *pt_usb_unref(pt_usb *u);
const char *pt_usb_get_port(const pt_usb *u);
/* The other half of the device's physical port (its USB 3 or USB 2 port, where the kernel links
 * them: port/peer), as a port path ("2-2"); NULL for none. A device that comes back at another
 * speed is there. */
const char *pt_usb_get_peer_port(const pt_usb *u);
/* "BUS-PORT(.PORT)*", as the kernel names a USB device's port. */
int pt_usb_port_is_valid(const char *s);
/* Its bus and device number (/dev/bus/usb/BUS/DEVNUM), and its speed in Mbit/s. */
unsigned pt_usb_get_bus(const pt_usb *u);
unsigned pt_usb_get_devnum(const pt_usb *u);
unsigned pt_usb_get_speed(const pt_usb *u);
/* bDeviceClass: 0x09 for a hub (QEMU cannot pass a hub: the devices behind it go one by one). */
unsigned pt_usb_get_class(const pt_usb *u);
/* Its ids; its descriptor strings, hwdb names, /dev node and interfaces, NULL where it has
 * none; the PCI controller it hangs under, NULL when the snapshot has none. */
uint16_t pt_usb_get_vendor_id(const pt_usb *u);
uint16_t pt_usb_get_product_id(const pt_usb *u);
const char *pt_usb_get_manufacturer(const pt_usb *u);
const char *pt_usb_get_product(const pt_usb *u);
const char *pt_usb_get_serial(const pt_usb *u);
const char *pt_usb_get_vendor_name(const pt_usb *u);
const char *pt_usb_get_product_name(const pt_usb *u);
const char *pt_usb_get_node(const pt_usb *u);
const char *pt_usb_get_interfaces(const pt_usb *u);
pt_device *pt_usb_get_controller(const pt_usb *u);

/* USB devices coming and going (udev's usb_device events, after udev has handled them). */
typedef struct pt_monitor pt_monitor;
typedef struct pt_usb_event {
	size_t size;	 /* sizeof(pt_usb_event) */
	char action[16]; /* add, remove, bind, unbind, change */
	char port[32];
	unsigned bus;
	uint16_t vendor, product;
	char serial[128];
} pt_usb_event;
/* -ENOMEM, or -EPROTO naming the udev call that failed (libudev cannot be set up, the netlink
 * socket cannot be opened: no udev here, or not permitted, or the filter not set). */
int pt_monitor_new(pt_ctx *ctx, pt_monitor **ret);
pt_monitor *pt_monitor_ref(pt_monitor *m);
pt_monitor *pt_monitor_unref(pt_monitor *m);
/* The socket to poll(2): readable when an event waits. */
int pt_monitor_get_fd(const pt_monitor *m);
/* 1 and *ret filled, 0 when nothing came within timeout_ms, -errno on failure. */
int pt_monitor_receive(pt_monitor *m, unsigned timeout_ms, pt_usb_event *ret);

/*
 * QMP, to a running VM's QEMU: by socket path, or by Proxmox VM id (path NULL:
 * /var/run/qemu-server/<vm>.qmp under the root). Every step has a timeout (5000 ms unless
 * set); QEMU's error text comes through in pt_ctx_last_error().
 */
typedef struct pt_qmp pt_qmp;
typedef struct pt_usb_match {
	size_t size;		  /* sizeof(pt_usb_match) */
	uint16_t vendor, product; /* by id, when port is NULL */
	unsigned bus;		  /* by physical port: bus and port path ("2.3") */
	const char *port;
} pt_usb_match;
int pt_qmp_connect(pt_ctx *ctx, const char *path, unsigned vm, pt_qmp **ret);
/* The same, with connect, the greeting and capability negotiation each within timeout_ms (a
 * monitor that never accepts, never greets or sends half a line fails with -ETIMEDOUT); the
 * timeout then applies to every command. A path longer than sun_path is -ENAMETOOLONG. */
int pt_qmp_connect_timeout(pt_ctx *ctx, const char *path, unsigned vm, unsigned timeout_ms, pt_qmp **ret);
pt_qmp *pt_qmp_ref(pt_qmp *q);
pt_qmp *pt_qmp_unref(pt_qmp *q);
/* How long each later step (an answer, device_del's DEVICE_DELETED) may take, in ms. */
void pt_qmp_set_timeout(pt_qmp *q, unsigned ms);
/* device_add usb-host with that id; -EEXIST when the VM has a device of that id already. */
int pt_qmp_usb_attach(pt_qmp *q, const char *id, const pt_usb_match *m);
/* device_del, waiting for DEVICE_DELETED. */
int pt_qmp_detach(pt_qmp *q, const char *id);
/* The usb-host devices attached, asked of QEMU (qom-list and qom-get): their QEMU ids and what they
 * match. pt_qmp_query_usb asks, and returns how many there are or -errno; the getters give the
 * last answer's. */
typedef struct pt_qmp_usb {
	size_t size;		  /* sizeof(pt_qmp_usb) */
	char id[128];
	uint16_t vendor, product; /* 0 when matched by port */
	unsigned bus;
	char port[64];		  /* "" when matched by id */
} pt_qmp_usb;
int pt_qmp_query_usb(pt_qmp *q);
size_t pt_qmp_get_usb_count(const pt_qmp *q);
int pt_qmp_get_usb(const pt_qmp *q, size_t i, pt_qmp_usb *ret);

/*
 * A USB device as a user names it: by vendor:product, by physical port ("BUS-PORT(.PORT)*"), by
 * serial number, or (libvirt) by bus and device number.
 */
typedef struct pt_usb_spec {
	size_t size; /* sizeof(pt_usb_spec) */
	const char *id;
	const char *port;
	const char *serial;
	unsigned bus, devnum;
	/* by port: the other half of that physical port where known (pt_usb_get_peer_port), so that
	 * emission covers the device at either speed */
	const char *peer_port;
} pt_usb_spec;
/* What QEMU's usb-host will match on: vendor and product (port ""), or bus and port path. */
typedef struct pt_usb_resolved {
	size_t size;	   /* sizeof(pt_usb_resolved) */
	uint16_t vendor, product;
	char port[32];	   /* "1-2.3" */
	unsigned bus;	   /* 1 */
	char hostport[32]; /* "2.3" */
	char peer_of[32];  /* the port asked for when the device is on its other half now */
} pt_usb_resolved;
/* Resolves the spec against the snapshot's USB devices (e may be NULL: none known): an id that
 * several present devices share is -ENOTUNIQ naming their ports; a serial no device has, -ENOENT. */
int pt_usb_resolve(pt_ctx *ctx, const pt_enum *e, const pt_usb_spec *spec, pt_usb_resolved *ret);

/*
 * What QEMU's usb-host will see, asked of libusb-1.0 as QEMU asks it (libusb is loaded on first
 * use; the scan never opens a device): the device at the resolved bus and port path, or the first
 * with the resolved ids, and whether its usbfs node opens. 0 and *ret when QEMU would find and
 * open it (holder: a process that has the node open now, such as another VM's QEMU, 0 for none);
 * -ENODEV when libusb sees no such device (the message lists what it sees on the bus: QEMU's
 * "failed to find host usb device" before the VM meets it), -EACCES when the node does not open,
 * -EXDEV for a root that is not the running system (libusb sees only /sys and /dev), -ENOPKG
 * when libusb-1.0.so.0 cannot be loaded.
 */
typedef struct pt_usb_host {
	size_t size;		  /* sizeof(pt_usb_host) */
	unsigned bus, devnum;
	char port[32];		  /* "1-2.3" */
	uint16_t vendor, product;
	char node[40];		  /* /dev/bus/usb/001/003 */
	long holder;		  /* a process that has the node open, 0 for none */
	unsigned was_devnum;	  /* pt_usb_reset: the device number before; devnum is the new one */
} pt_usb_host;
int pt_usb_check_host(pt_ctx *ctx, const pt_usb_resolved *m, pt_usb_host *ret);
/*
 * A USB device to a running VM and back, over its QMP socket (socket, else VM vm's; timeout_ms
 * as pt_qmp_connect_timeout, 0 for libpt's default). pt_usb_device_id: libpt's QEMU device id
 * for a match, "pt-usb-1_2_3" by port, "pt-usb-10c4_ea60" by id (the same match, the same id);
 * -ENOSPC when size is too small (PT_USB_ID_MAX fits every one). pt_usb_attach: spec resolved
 * against the snapshot (pt_usb_resolve), checked as QEMU's usb-host will find it
 * (pt_usb_check_host; skipped where it cannot look), both before QMP, then device_add with that
 * id, written to id first: -EEXIST when the VM has it attached already. pt_usb_detach: by id or
 * port, as it was attached: device_del and the guest's letting go (DEVICE_DELETED).
 */
#define PT_USB_ID_MAX 48
int pt_usb_device_id(const pt_usb_resolved *m, char *id, size_t size);
int pt_usb_attach(pt_enum *e, const pt_usb_spec *spec, const char *socket, unsigned vm, unsigned timeout_ms,
		  char *id, size_t size);
int pt_usb_detach(pt_ctx *ctx, const pt_usb_spec *spec, const char *socket, unsigned vm, unsigned timeout_ms,
		  char *id, size_t size);
/* Resets a wedged device the way a replug would (libusb_reset_device: usbfs's USBDEVFS_RESET),
 * refused with -EBUSY naming the process while one has its node open (a VM's usb-host) unless
 * PT_USB_RESET_FORCE. A device that re-enumerates is found again at its port (or the port's
 * other half) within timeout_ms (0: 5000) and *ret says where it is now; -ETIMEDOUT when it does
 * not come back. */
#define PT_USB_RESET_FORCE 1u
int pt_usb_reset(pt_ctx *ctx, const pt_usb_resolved *m, unsigned flags, unsigned timeout_ms, pt_usb_host *ret);

#endif
