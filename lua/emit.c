/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The emitters for Lua: Proxmox, libvirt and QEMU configuration of an assignment (or of devices
 * and addresses, made into one here), USB devices and mdevs; companions and USB resolution. A
 * refusal returns nil, the library's message and its errno; misuse raises.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pt-lua-private.h"

static void check_opts(lua_State *L, int idx, pt_emit_opts *o)
{
	static const char *const known[] = { "vm", "primary", "rombar", "romfile", "hide_kvm", "legacy_igd",
					     "usb3", "machine", "storage", "config", "force", "place", "iommufd", NULL };
	memset(o, 0, sizeof(*o));
	o->size = sizeof(*o);
	if (lua_isnoneornil(L, idx))
		return;
	luaL_checktype(L, idx, LUA_TTABLE);
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
		size_t i = 0;
		while (known[i] && strcmp(known[i], k))
			i++;
		if (!known[i])
			luaL_argerror(L, idx, lua_pushfstring(L, "unknown option '%s'", luaL_tolstring(L, -2, NULL)));
		lua_pop(L, 1);
	}
	lua_getfield(L, idx, "vm");
	lua_Integer vm = luaL_optinteger(L, -1, 0);
	lua_pop(L, 1);
	luaL_argcheck(L, vm == 0 || pt_vmid_is_valid((long long)vm), idx, "vm: a VM id");
	o->vm = (unsigned)vm;
	o->primary = pt_lua_opt_field(L, idx, "primary");
	o->romfile = pt_lua_opt_field(L, idx, "romfile");
	o->machine = pt_lua_opt_field(L, idx, "machine");
	o->storage = pt_lua_opt_field(L, idx, "storage");
	if (!pt_lua_bool_field(L, idx, "rombar", true))
		o->flags |= PT_EMIT_NO_ROMBAR;
	if (pt_lua_bool_field(L, idx, "hide_kvm", false))
		o->flags |= PT_EMIT_HIDE_KVM;
	if (pt_lua_bool_field(L, idx, "legacy_igd", false))
		o->flags |= PT_EMIT_LEGACY_IGD;
	if (pt_lua_bool_field(L, idx, "iommufd", false))
		o->flags |= PT_EMIT_IOMMUFD;
	if (pt_lua_bool_field(L, idx, "usb3", false))
		o->flags |= PT_EMIT_USB3;
	if (pt_lua_bool_field(L, idx, "force", false))
		o->flags |= PT_LUA_OPT_FORCE;
	if (lua_getfield(L, idx, "place") != LUA_TNIL)
		o->place = pt_lua_check_open(L, -1, PLACE_MT); /* the table keeps it */
	if (lua_getfield(L, idx, "config") == LUA_TTABLE) {
		lua_getfield(L, -1, "handle");
		o->config = pt_lua_check_open(L, -1, VMCONF_MT);
	}
}

/* {lines =, notes =, qm =} of a Proxmox emission */
static int push_proxmox(lua_State *L, pt_emission *em)
{
	lua_createtable(L, 0, 3);
	pt_lua_push_emission(L, em, false);
	lua_setfield(L, -2, "lines");
	pt_lua_push_emission(L, em, true);
	lua_setfield(L, -2, "notes");
	pt_lua_set_string(L, "qm", pt_emission_get_command(em));
	pt_emission_unref(em);
	return 1;
}

/* The emission's lines joined (libvirt's XML) or as words (QEMU's), then its notes: 2 values. */
static int push_with_notes(lua_State *L, pt_emission *em, bool joined)
{
	if (joined) {
		luaL_Buffer b;
		luaL_buffinit(L, &b);
		for (size_t i = 0; i < pt_emission_get_line_count(em); i++) {
			if (i)
				luaL_addchar(&b, '\n');
			luaL_addstring(&b, pt_emission_get_line(em, i));
		}
		luaL_pushresult(&b);
	} else {
		pt_lua_push_emission(L, em, false);
	}
	pt_lua_push_emission(L, em, true);
	pt_emission_unref(em);
	return 2;
}

/* pt.emit_proxmox(dev, opts): {lines, notes, qm} */
static int l_emit_proxmox(lua_State *L)
{
	int r;
	lua_settop(L, 2);
	pt_assignment *a = pt_lua_test_assignment(L, 1);
	pt_emit_opts o;
	pt_emission *em;

	check_opts(L, 2, &o);
	if (!a) {
		pt_device *dev = pt_lua_check_open(L, 1, DEVICE_MT);
		pt_enum *e = pt_device_get_enum(dev);
		if ((r = pt_assignment_new(e, 0, o.flags & PT_LUA_OPT_FORCE ? PT_ASSIGN_FORCE : 0, &a)) < 0)
			return pt_lua_fail_ctx(L, r, pt_enum_get_context(e), false);
		pt_lua_push_box(L, a, ASSIGN_MT);
		if ((r = pt_assignment_add_device(a, dev, NULL)) < 0)
			return pt_lua_fail_ctx(L, r, pt_enum_get_context(e), false);
	}
	o.flags &= ~PT_LUA_OPT_FORCE;
	if ((r = pt_emit_proxmox(a, &o, &em)) < 0)
		return pt_lua_fail_ctx(L, r, pt_lua_assignment_ctx(a), false);
	return push_proxmox(L, em);
}

/* pt.emit_proxmox_mdev(dev, type, opts): {lines, notes, qm} */
static int l_emit_proxmox_mdev(lua_State *L)
{
	int r;
	lua_settop(L, 3);
	pt_device *dev = pt_lua_check_open(L, 1, DEVICE_MT);
	const char *type = luaL_optstring(L, 2, NULL);
	pt_emit_opts o;
	pt_emission *em;

	check_opts(L, 3, &o);
	if ((r = pt_emit_proxmox_mdev(dev, type, &o, &em)) < 0)
		return pt_lua_fail_ctx(L, r, pt_enum_get_context(pt_device_get_enum(dev)), false);
	return push_proxmox(L, em);
}

/* pt.emit_proxmox_usb(usb, opts): {lines, notes, qm} */
static int l_emit_proxmox_usb(lua_State *L)
{
	int r;
	lua_settop(L, 2);
	pt_usb_spec spec, *usb = pt_lua_check_usb(L, 1, &spec);
	pt_emit_opts o;
	pt_emission *em;
	pt_ctx *ctx;

	check_opts(L, 2, &o);
	ctx = pt_lua_check_root(L);
	if ((r = pt_emit_proxmox_usb(ctx, usb, &o, &em)) < 0)
		return pt_lua_fail_ctx(L, r, ctx, true);
	pt_ctx_unref(ctx);
	return push_proxmox(L, em);
}

/* pt.emit_libvirt(addresses or assignment, usb, domain [, {place =}]): the XML, its notes */
static int l_emit_libvirt(lua_State *L)
{
	int r;
	lua_settop(L, 4);
	pt_emit_opts o;
	size_t n = 0;
	pt_assignment *a = pt_lua_test_assignment(L, 1);
	const char **addresses = a ? NULL : pt_lua_check_strings(L, 1, &n);
	pt_usb_spec spec, *usb = pt_lua_check_usb(L, 2, &spec);
	const char *domain = luaL_optstring(L, 3, NULL);
	pt_emission *em;

	check_opts(L, 4, &o);
	pt_ctx *ctx = pt_lua_check_root(L);
	if (!a && n)
		a = pt_lua_ids_assignment(L, ctx, true, NULL, addresses, n, o.flags & PT_LUA_OPT_FORCE ? PT_ASSIGN_FORCE : 0);
	if (!a && n)
		return 3; /* nil, message, errno */
	o.flags &= ~PT_LUA_OPT_FORCE;
	if ((r = pt_emit_libvirt(ctx, a, usb, domain, &o, &em)) < 0)
		return pt_lua_fail_ctx(L, r, ctx, true);
	pt_ctx_unref(ctx);
	return push_with_notes(L, em, true);
}

/* pt.emit_qemu(addresses or assignment, usb, opts): the words, their notes */
static int l_emit_qemu(lua_State *L)
{
	int r;
	lua_settop(L, 3);
	size_t n = 0;
	pt_assignment *a = pt_lua_test_assignment(L, 1);
	const char **addresses = a ? NULL : pt_lua_check_strings(L, 1, &n);
	pt_usb_spec spec, *usb = pt_lua_check_usb(L, 2, &spec);
	pt_emit_opts o;
	pt_emission *em;
	pt_ctx *ctx;

	check_opts(L, 3, &o);
	ctx = pt_lua_check_root(L);
	if (!a && n)
		a = pt_lua_ids_assignment(L, ctx, true, NULL, addresses, n, o.flags & PT_LUA_OPT_FORCE ? PT_ASSIGN_FORCE : 0);
	if (!a && n)
		return 3;
	o.flags &= ~PT_LUA_OPT_FORCE;
	if ((r = pt_emit_qemu(ctx, a, usb, &o, &em)) < 0)
		return pt_lua_fail_ctx(L, r, ctx, true);
	pt_ctx_unref(ctx);
	return push_with_notes(L, em, false);
}

/* pt.emit_mdev(format, uuid): libvirt's hostdev (a string) or QEMU's words, of an existing mdev */
static int l_emit_mdev(lua_State *L)
{
	int r;
	lua_settop(L, 2);
	static const char *const formats[] = { "libvirt", "qemu", NULL };
	int f = luaL_checkoption(L, 1, NULL, formats);
	const char *uuid = luaL_optstring(L, 2, NULL);
	pt_emission *em;
	pt_ctx *ctx = pt_lua_check_root(L);

	if ((r = (f == 0 ? pt_emit_libvirt_mdev(ctx, uuid, &em) : pt_emit_qemu_mdev(ctx, uuid, &em))) < 0)
		return pt_lua_fail_ctx(L, r, ctx, true);
	pt_ctx_unref(ctx);
	push_with_notes(L, em, f == 0);
	lua_pop(L, 1); /* an mdev's emission has no notes */
	return 1;
}

/* pt.shell_quote(words): one shell line */
static int l_shell_quote(lua_State *L)
{
	lua_settop(L, 1);
	size_t n;
	const char **words;
	char *line;

	luaL_checktype(L, 1, LUA_TTABLE);
	n = lua_rawlen(L, 1);
	words = lua_newuserdatauv(L, (n ? n : 1) * sizeof(*words), 0);
	for (size_t i = 0; i < n; i++) {
		lua_rawgeti(L, 1, (lua_Integer)i + 1);
		words[i] = luaL_tolstring(L, -1, NULL); /* kept on the stack */
	}
	line = pt_shell_quote(words, n);
	if (!line)
		return luaL_error(L, "out of memory");
	lua_pushstring(L, line);
	free(line);
	return 1;
}

/* pt.usb_resolve(match, devices): what QEMU matches on, {id =} or {port, bus, hostport,
 * peer_of}; devices is inv:usb() of the inventory they are resolved against, or {} for none */
static int l_usb_resolve(lua_State *L)
{
	int r;
	lua_settop(L, 2);
	pt_usb_spec spec, *usb = pt_lua_check_usb(L, 1, &spec);
	pt_enum *e = NULL;
	pt_usb_resolved res = PT_INIT(pt_usb_resolved);

	luaL_checktype(L, 1, LUA_TTABLE);
	if (lua_type(L, 2) == LUA_TTABLE && lua_getmetatable(L, 2)) {
		lua_getfield(L, -1, "inventory");
		e = pt_lua_check_open(L, -1, SNAPSHOT_MT);
	}
	pt_ctx *ctx = pt_lua_check_root(L);
	if ((r = pt_usb_resolve(ctx, e, usb, &res)) < 0)
		return pt_lua_fail_ctx(L, r, ctx, true);
	pt_ctx_unref(ctx);
	lua_createtable(L, 0, 4);
	if (res.port[0]) {
		pt_lua_set_string(L, "port", res.port);
		pt_lua_set_integer(L, "bus", res.bus);
		pt_lua_set_string(L, "hostport", res.hostport);
		if (res.peer_of[0])
			pt_lua_set_string(L, "peer_of", res.peer_of);
	} else {
		char id[16];
		snprintf(id, sizeof(id), "%04x:%04x", res.vendor, res.product);
		pt_lua_set_string(L, "id", id);
	}
	return 1;
}

/* dev:companions(): the functions of a GPU's slot that go with it */
int pt_lua_dev_companions(lua_State *L)
{
	pt_device *dev = pt_lua_check_open(L, 1, DEVICE_MT);
	size_t n = pt_device_get_companion_count(dev);

	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		pt_lua_push_device(L, pt_device_get_companion(dev, i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

const luaL_Reg pt_lua_emit_funcs[] = {
	{ "emit_proxmox", l_emit_proxmox },
	{ "emit_proxmox_mdev", l_emit_proxmox_mdev },
	{ "emit_proxmox_usb", l_emit_proxmox_usb },
	{ "emit_libvirt", l_emit_libvirt },
	{ "emit_qemu", l_emit_qemu },
	{ "emit_mdev", l_emit_mdev },
	{ "shell_quote", l_shell_quote },
	{ "usb_resolve", l_usb_resolve },
	{ NULL, NULL },
};
