// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * QEMU command-line arguments that stand on their own: the pcie-root-port (or USB controller)
 * each device attaches to comes with it, so they work appended to `-machine q35`. The result's
 * lines are the words; its command, the words as one shell line.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "libpt-private.h"

static int compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The slot of an address: all but its ".F". */
static size_t slot_len(const char *a)
{
	return strlen(a) - 2;
}

static int vfio_args(pt_ctx *ctx, struct pt_strv *words, const char *const *addresses, size_t n,
		     const pt_emit_opts *o)
{
	struct pt_strv slots = { 0 };
	char q[128];
	int r = 0;

	if (o->romfile)
		for (const unsigned char *c = (const unsigned char *)o->romfile; *c; c++)
			if (*c == ',' || *c < 0x20 || *c == 0x7f)
				return pt_fail(ctx, -EINVAL, "romfile %s: no commas or control characters",
					       pt_quote(q, sizeof(q), o->romfile));
	for (size_t i = 0; i < n; i++) {
		if ((r = pt_check_pci_address(ctx, addresses[i])) < 0)
			goto out;
		char *slot = strndup(addresses[i], slot_len(addresses[i]));
		if (slot && !pt_strv_has(&slots, slot))
			pt_strv_add(&slots, slot);
		else if (!slot)
			slots.oom = true;
		free(slot);
	}
	/* a port a slot, in the order the slots come; function 0 first, with multifunction=on when
	 * the slot brings several */
	for (size_t s = 0; s < slots.n && !slots.oom; s++) {
		struct pt_strv functions = { 0 };
		size_t len = strlen(slots.v[s]);

		pt_strv_add(words, "-device");
		pt_strv_addf(words, "pcie-root-port,id=pt-port%zu,chassis=%zu,slot=%zu", s, 101 + s, s + 1);
		for (size_t i = 0; i < n; i++)
			if (slot_len(addresses[i]) == len && strncmp(addresses[i], slots.v[s], len) == 0)
				pt_strv_add(&functions, addresses[i]);
		if (functions.n > 1)
			qsort(functions.v, functions.n, sizeof(*functions.v), compare_strings);
		for (size_t i = 0; i < functions.n; i++) {
			const char *a = functions.v[i];
			char fn = a[strlen(a) - 1];
			struct pt_strv props = { 0 };
			char *value;

			pt_strv_add(&props, "vfio-pci");
			pt_strv_addf(&props, "host=%s", a);
			pt_strv_addf(&props, "bus=pt-port%zu", s);
			pt_strv_addf(&props, "addr=0x0.%c", fn >= 'A' && fn <= 'F' ? fn + ('a' - 'A') : fn);
			if (fn == '0' && functions.n > 1)
				pt_strv_add(&props, "multifunction=on");
			if (o->primary && strcmp(o->primary, a) == 0)
				pt_strv_add(&props, "x-vga=on");
			if (o->flags & PT_EMIT_NO_ROMBAR)
				pt_strv_add(&props, "rombar=0");
			if (o->romfile)
				pt_strv_addf(&props, "romfile=%s", o->romfile);
			value = props.oom ? NULL : pt_strv_join(&props, ",");
			pt_strv_free(&props);
			pt_strv_add(words, "-device");
			if (value)
				pt_strv_add(words, value);
			else
				words->oom = true;
			free(value);
		}
		pt_strv_free(&functions);
	}
	if (slots.oom)
		words->oom = true;
out:
	pt_strv_free(&slots);
	return r;
}

/* usb-host on a qemu-xhci controller that comes with it, by port or by id. */
static int usb_args(pt_ctx *ctx, struct pt_strv *words, const pt_usb_spec *usb)
{
	char q[128];

	pt_strv_add(words, "-device");
	pt_strv_add(words, "qemu-xhci,id=pt-xhci");
	pt_strv_add(words, "-device");
	if (usb->port) {
		const char *dash = strchr(usb->port, '-');
		if (!pt_usb_port_is_valid(usb->port) || !dash)
			return pt_fail(ctx, -EINVAL, "USB port %s: expected BUS-PORT(.PORT)*", pt_quote(q, sizeof(q), usb->port));
		pt_strv_addf(words, "usb-host,bus=pt-xhci.0,hostbus=%.*s,hostport=%s", (int)(dash - usb->port), usb->port,
			     dash + 1);
		return 0;
	}
	const char *hex = "0123456789abcdefABCDEF";
	if (!usb->id || strlen(usb->id) != 9 || strspn(usb->id, hex) != 4 || usb->id[4] != ':' ||
	    strspn(usb->id + 5, hex) != 4)
		return pt_fail(ctx, -EINVAL, "USB id %s: expected VVVV:PPPP", pt_quote(q, sizeof(q), usb->id ? usb->id : "nil"));
	char id[10];
	for (int i = 0; i < 10; i++)
		id[i] = usb->id[i] >= 'A' && usb->id[i] <= 'F' ? usb->id[i] + ('a' - 'A') : usb->id[i];
	pt_strv_addf(words, "usb-host,bus=pt-xhci.0,vendorid=0x%.4s,productid=0x%.4s", id, id + 5);
	return 0;
}

PT_EXPORT int pt_emit_qemu(pt_ctx *ctx, const char *const *addresses, size_t n, const pt_usb_spec *usb,
			   const pt_emit_opts *opts, pt_emission **ret)
{
	struct pt_strv words = { 0 }, command = { 0 };
	pt_emit_opts o;
	int r;

	if (!ctx || !ret || (n && !addresses))
		return ctx ? pt_fail(ctx, -EINVAL, "pt_emit_qemu: no devices") : -EINVAL;
	pt_emit_opts_copy(&o, opts);
	if ((r = vfio_args(ctx, &words, addresses, n, &o)) < 0 || (usb && (r = usb_args(ctx, &words, usb)) < 0)) {
		pt_strv_free(&words);
		return r;
	}
	for (size_t i = 0; i < words.n; i++)
		pt_strv_add(&command, words.v[i]);
	return pt_emission_new(ctx, &words, NULL, &command, ret);
}

PT_EXPORT int pt_emit_qemu_mdev(pt_ctx *ctx, const char *uuid, pt_emission **ret)
{
	struct pt_strv words = { 0 }, command = { 0 };
	char q[128];

	if (!ctx || !ret)
		return -EINVAL;
	if (!uuid || !pt_uuid_is_valid(uuid))
		return pt_fail(ctx, -EINVAL, "%s: not an mdev UUID", pt_quote(q, sizeof(q), uuid ? uuid : "nil"));
	pt_strv_add(&words, "-device");
	pt_strv_addf(&words, "vfio-pci,sysfsdev=/sys/bus/mdev/devices/%s", uuid);
	for (size_t i = 0; i < words.n; i++)
		pt_strv_add(&command, words.v[i]);
	return pt_emission_new(ctx, &words, NULL, &command, ret);
}
