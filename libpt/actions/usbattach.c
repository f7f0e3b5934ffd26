/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A USB device to a running VM and back, the whole job: the spec resolved against the snapshot
 * (by id, refused when two present devices share it; by port, either half of a physical port;
 * by serial), checked as QEMU's usb-host will find it (libusb; where libpt cannot look, under
 * another root, that check is skipped), libpt's device id for the match (the same match, the
 * same id: a follower and a detach find it again), then device_add or device_del over QMP.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "libpt-private.h"

PT_EXPORT int pt_usb_device_id(const pt_usb_resolved *resolved, char *id, size_t size)
{
	pt_usb_resolved mm, *m = &mm;
	char buf[128];

	int r;

	if (!resolved || !id)
		return -EINVAL;
	if ((r = PT_STRUCT_IN(&mm, resolved)) < 0)
		return r;
	if (m->port[0]) {
		snprintf(buf, sizeof(buf), "pt-usb-%s", m->port);
		for (char *c = buf + 7; *c; c++)
			if (*c == '-' || *c == '.')
				*c = '_';
	} else
		snprintf(buf, sizeof(buf), "pt-usb-%04x_%04x", m->vendor, m->product);
	if (strlen(buf) >= size)
		return -ENOSPC;
	memcpy(id, buf, strlen(buf) + 1);
	return 0;
}

/* pt_usb_device_id, its failure said on ctx (it has none to say it on). */
static int device_id(pt_ctx *ctx, const pt_usb_resolved *m, char *id, size_t size)
{
	char full[PT_USB_ID_MAX], what[64];
	int r = pt_usb_device_id(m, full, sizeof(full));

	if (m->port[0])
		snprintf(what, sizeof(what), "the USB device at port %s", m->port);
	else
		snprintf(what, sizeof(what), "USB device %04x:%04x", m->vendor, m->product);
	if (r < 0)
		return pt_fail(ctx, r, "%s: its QEMU id: %s", what, strerror(-r));
	if (strlen(full) >= size)
		return pt_fail(ctx, -ENOSPC, "%s: its QEMU id %s needs %zu bytes, the buffer has %zu (PT_USB_ID_MAX "
			       "fits every one)", what, full, strlen(full) + 1, size);
	memcpy(id, full, strlen(full) + 1);
	return 0;
}

/* What QMP matches on for a resolved spec. */
static pt_usb_match match_of(const pt_usb_resolved *m)
{
	pt_usb_match mm = { .size = sizeof(mm), .vendor = m->vendor, .product = m->product };
	if (m->port[0]) {
		mm.bus = m->bus;
		mm.port = m->hostport;
	}
	return mm;
}

/* The VM's QMP socket (path, else vm's), within timeout_ms (0: libpt's default). */
static int connect_vm(pt_ctx *ctx, const char *socket, unsigned vm, unsigned timeout_ms, pt_qmp **q)
{
	return timeout_ms ? pt_qmp_connect_timeout(ctx, socket, vm, timeout_ms, q) : pt_qmp_connect(ctx, socket, vm, q);
}

PT_EXPORT int pt_usb_attach(pt_enum *e, const pt_usb_spec *spec, const char *socket, unsigned vm,
			    unsigned timeout_ms, char *id, size_t size)
{
	pt_ctx *ctx = e ? pt_enum_get_context(e) : NULL;
	pt_usb_resolved m = PT_INIT(pt_usb_resolved);
	pt_usb_host h = PT_INIT(pt_usb_host);
	pt_qmp *q;
	int r;

	if (!e || !spec || !id || (!socket && !vm))
		return ctx ? pt_fail(ctx, -EINVAL, "a USB attach needs the device and the VM (or its socket)") : -EINVAL;
	if ((r = pt_usb_resolve(ctx, e, spec, &m)) < 0)
		return r;
	/* what QEMU would not find or open is said now, before QMP, not left to a VM that silently
	 * lacks it */
	if ((r = pt_usb_check_host(ctx, &m, &h)) < 0 && r != -EXDEV)
		return r;
	if ((r = device_id(ctx, &m, id, size)) < 0)
		return r;
	if ((r = connect_vm(ctx, socket, vm, timeout_ms, &q)) < 0)
		return r;
	pt_usb_match mm = match_of(&m);
	r = pt_qmp_usb_attach(q, id, &mm);
	pt_qmp_unref(q);
	return r;
}

PT_EXPORT int pt_usb_detach(pt_ctx *ctx, const pt_usb_spec *spec, const char *socket, unsigned vm,
			    unsigned timeout_ms, char *id, size_t size)
{
	pt_usb_resolved m = PT_INIT(pt_usb_resolved);
	pt_qmp *q;
	int r;

	pt_usb_spec s;

	if (!ctx || !spec || !id || (!socket && !vm))
		return ctx ? pt_fail(ctx, -EINVAL, "a USB detach needs the device and the VM (or its socket)") : -EINVAL;
	if ((r = PT_STRUCT_IN(&s, spec)) < 0)
		return pt_struct_fail(ctx, r, "pt_usb_detach", "pt_usb_spec");
	if (s.serial)
		return pt_fail(ctx, -EINVAL, "a detach names the device by id or port, as it was attached");
	if ((r = pt_usb_resolve(ctx, NULL, &s, &m)) < 0 || (r = device_id(ctx, &m, id, size)) < 0)
		return r;
	if ((r = connect_vm(ctx, socket, vm, timeout_ms, &q)) < 0)
		return r;
	r = pt_qmp_detach(q, id);
	pt_qmp_unref(q);
	return r;
}
