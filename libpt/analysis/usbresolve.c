// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Which USB device a user means: by vendor:product (refused when two present devices have it:
 * the port form can say which), by physical port (either half: a device back at another speed
 * is on the port's peer) or by serial number. The answer is what QEMU's usb-host matches on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libpt-private.h"

static int by_port(pt_ctx *ctx, const pt_enum *e, const char *port, pt_usb_resolved *ret)
{
	const char *at = port, *dash;
	char q[128];

	if (!pt_usb_port_is_valid(port))
		return pt_fail(ctx, -EINVAL, "USB port %s: expected BUS-PORT(.PORT)*, e.g. 1-2.3", pt_quote(q, sizeof(q), port));
	memset(ret, 0, sizeof(*ret));
	/* a physical port is one port: the device may be on its other half now */
	for (size_t i = 0; e && i < pt_enum_get_usb_count(e); i++) {
		const pt_usb *u = pt_enum_get_usb(e, i);
		const char *peer = pt_usb_get_peer_port(u);
		if (peer && strcmp(peer, port) == 0 && strcmp(pt_usb_get_port(u), port)) {
			at = pt_usb_get_port(u);
			snprintf(ret->peer_of, sizeof(ret->peer_of), "%s", port);
			break;
		}
	}
	snprintf(ret->port, sizeof(ret->port), "%s", at);
	dash = strchr(ret->port, '-');
	ret->bus = (unsigned)strtoul(ret->port, NULL, 10);
	snprintf(ret->hostport, sizeof(ret->hostport), "%s", dash + 1);
	return 0;
}

static int usb_resolve(pt_ctx *ctx, const pt_enum *e, const pt_usb_spec *spec, pt_usb_resolved *ret)
{
	*ret = PT_INIT(pt_usb_resolved);
	struct pt_strv ports = { 0 };
	char host[64], q[256];
	unsigned long long vendor, product;
	int r;

	if (!ctx || !spec || !ret)
		return ctx ? pt_fail(ctx, -EINVAL, "pt_usb_resolve: no device named") : -EINVAL;
	if (spec->port)
		return by_port(ctx, e, spec->port, ret);
	if (spec->serial) {
		for (size_t i = 0; e && i < pt_enum_get_usb_count(e); i++) {
			const pt_usb *u = pt_enum_get_usb(e, i);
			if (pt_usb_get_serial(u) && strcmp(pt_usb_get_serial(u), spec->serial) == 0)
				return by_port(ctx, e, pt_usb_get_port(u), ret);
		}
		return pt_fail(ctx, -ENOENT, "no USB device with serial %s", pt_quote(q, sizeof(q), spec->serial));
	}
	if ((r = pt_usb_spec_host(ctx, spec, host)) < 0)
		return r;
	host[4] = '\0';
	pt_parse_hex(host, 0xffff, &vendor);
	pt_parse_hex(host + 5, 0xffff, &product);
	for (size_t i = 0; e && i < pt_enum_get_usb_count(e); i++) {
		const pt_usb *u = pt_enum_get_usb(e, i);
		if (pt_usb_get_vendor_id(u) == vendor && pt_usb_get_product_id(u) == product)
			pt_strv_add(&ports, pt_usb_get_port(u));
	}
	if (ports.n > 1) {
		char *list = pt_strv_join(&ports, ", ");
		r = pt_fail(ctx, -ENOTUNIQ, "%04llx:%04llx matches %zu devices, at ports %s: name it by its port instead (host=BUS-PORT, --port)",
			    vendor, product, ports.n, list ? list : "");
		free(list);
		pt_strv_free(&ports);
		return r;
	}
	pt_strv_free(&ports);
	memset(ret, 0, sizeof(*ret));
	ret->vendor = (uint16_t)vendor;
	ret->product = (uint16_t)product;
	return 0;
}

PT_EXPORT int pt_usb_resolve(pt_ctx *ctx, const pt_enum *e, const pt_usb_spec *spec, pt_usb_resolved *ret)
{
	pt_usb_spec s;
	pt_usb_resolved m = PT_INIT(pt_usb_resolved);
	int r;

	if (!ctx)
		return -EINVAL;
	if ((r = PT_STRUCT_IN(&s, spec)) < 0)
		return pt_struct_fail(ctx, r, "pt_usb_resolve", "pt_usb_spec");
	if ((r = PT_STRUCT_CHECK(ret)) < 0)
		return pt_struct_fail(ctx, r, "pt_usb_resolve", "pt_usb_resolved");
	if ((r = usb_resolve(ctx, e, &s, &m)) < 0)
		return r;
	return PT_STRUCT_OUT(ret, &m);
}

int pt_usb_spec_in(pt_ctx *ctx, const pt_usb_spec **usb, pt_usb_spec *copy)
{
	if (!*usb)
		return 0;
	int r = PT_STRUCT_IN(copy, *usb);

	if (r < 0)
		return pt_struct_fail(ctx, r, "a USB device", "pt_usb_spec");
	*usb = copy;
	return 0;
}
