/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The assignment for Lua (pt.assign, pt.assign_vm, pt.Assignment): what a VM is to get, the one
 * object every emitter, the bind and the host plan take.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pt-lua-private.h"

static unsigned assign_flags(lua_State *L, int idx)
{
	unsigned flags = 0;

	if (lua_isnoneornil(L, idx))
		return 0;
	luaL_checktype(L, idx, LUA_TTABLE);
	if (pt_lua_bool_field(L, idx, "force", false))
		flags |= PT_ASSIGN_FORCE;
	if (pt_lua_bool_field(L, idx, "console", false))
		flags |= PT_ASSIGN_CONSOLE;
	return flags;
}

/* pt.assign(inv, items [, {vm =, force =, console =}]): what a VM is to get; items are devices
 * of inv or PCI ids ("01:00.0", "0000:01:00" a slot), each with its passthrough set. nil, the
 * message and errno for an id that is malformed or not there. pt.assign(devices [, opts]): of
 * the devices' own snapshot. */
static int l_assign(lua_State *L)
{
	if (lua_istable(L, 1)) {
		lua_settop(L, 2);
		lua_rawgeti(L, 1, 1);
		pt_device *first = pt_lua_check_open(L, -1, DEVICE_MT);
		lua_pop(L, 1);
		pt_lua_push_box(L, pt_enum_ref(pt_device_get_enum(first)), SNAPSHOT_MT);
		lua_insert(L, 1);
	}
	lua_settop(L, 3);
	pt_enum *e = pt_lua_check_open(L, 1, SNAPSHOT_MT);
	lua_Integer vm = 0;
	pt_assignment *a;
	int r;

	luaL_checktype(L, 2, LUA_TTABLE);
	if (!lua_isnil(L, 3)) {
		luaL_checktype(L, 3, LUA_TTABLE);
		lua_getfield(L, 3, "vm");
		vm = luaL_optinteger(L, -1, 0);
		lua_pop(L, 1);
		luaL_argcheck(L, vm == 0 || pt_vmid_is_valid((long long)vm), 3, "vm: a VM id");
	}
	if ((r = pt_assignment_new(e, (unsigned)vm, assign_flags(L, 3), &a)) < 0)
		return pt_lua_fail(L, r, pt_ctx_last_error(pt_enum_get_context(e)));
	pt_lua_push_box(L, a, ASSIGN_MT);
	for (lua_Integer i = 1; r == 0 && i <= (lua_Integer)lua_rawlen(L, 2); i++) {
		int t = lua_rawgeti(L, 2, i);
		if (t == LUA_TSTRING)
			r = pt_assignment_add(a, lua_tostring(L, -1));
		else
			r = pt_assignment_add_device(a, pt_lua_check_open(L, -1, DEVICE_MT), NULL);
		lua_pop(L, 1);
	}
	if (r < 0)
		return pt_lua_fail(L, r, pt_ctx_last_error(pt_enum_get_context(e))); /* the box frees it */
	return 1;
}

/* pt.assign_vm(vm [, {force =, console =}]): the VM's hostpci lines (their mappings too), only
 * what they name read; nil, the message and errno when the VM has no config here. */
static int l_assign_vm(lua_State *L)
{
	lua_settop(L, 2);
	lua_Integer vm = luaL_checkinteger(L, 1);
	pt_assignment *a;
	pt_ctx *ctx;
	int r;

	luaL_argcheck(L, pt_vmid_is_valid((long long)vm), 1, "a VM id");
	unsigned flags = assign_flags(L, 2);
	ctx = pt_lua_check_root(L);
	if ((r = pt_assignment_new_vm(ctx, (unsigned)vm, flags, &a)) < 0) {
		pt_lua_fail(L, r, pt_ctx_last_error(ctx));
		pt_ctx_unref(ctx);
		return 3;
	}
	pt_ctx_unref(ctx);
	pt_lua_push_box(L, a, ASSIGN_MT);
	return 1;
}

CLOSER(assign_close, ASSIGN_MT, pt_assignment_unref)

/* a:devices(): the set, in address order */
static int assign_devices(lua_State *L)
{
	pt_assignment *a = pt_lua_check_open(L, 1, ASSIGN_MT);
	size_t n = pt_assignment_get_device_count(a);

	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		pt_lua_push_device(L, pt_assignment_get_device(a, i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

static const char *address_at(const void *a, size_t i)
{
	return pt_device_get_address(pt_assignment_get_device(a, i));
}

static const char *source_at(const void *a, size_t i)
{
	return pt_assignment_get_source(a, i);
}

static const char *refusal_at(const void *a, size_t i)
{
	return pt_assignment_get_refusal(a, i);
}

/* a:addresses(): the set's addresses; a:sources(): where each came from; a:refusals(): every
 * refusal with its reason */
static int assign_addresses(lua_State *L)
{
	pt_assignment *a = pt_lua_check_open(L, 1, ASSIGN_MT);
	return pt_lua_push_strings(L, pt_assignment_get_device_count(a), address_at, a);
}

static int assign_sources(lua_State *L)
{
	pt_assignment *a = pt_lua_check_open(L, 1, ASSIGN_MT);
	return pt_lua_push_strings(L, pt_assignment_get_device_count(a), source_at, a);
}

static int assign_refusals(lua_State *L)
{
	pt_assignment *a = pt_lua_check_open(L, 1, ASSIGN_MT);
	return pt_lua_push_strings(L, pt_assignment_get_refusal_count(a), refusal_at, a);
}

/* a:check(): true, or nil, the first refusal and errno (forced members said as warnings) */
static int assign_check(lua_State *L)
{
	pt_assignment *a = pt_lua_check_open(L, 1, ASSIGN_MT);
	int r = pt_assignment_check(a);

	if (r < 0)
		return pt_lua_fail(L, r, pt_ctx_last_error(pt_lua_assignment_ctx(a)));
	lua_pushboolean(L, 1);
	return 1;
}

/* a.snapshot: the snapshot its devices belong to (pt.assign_vm's reads only the VM's devices) */
static int assign_snapshot(lua_State *L)
{
	pt_assignment *a = pt_lua_check_open(L, 1, ASSIGN_MT);
	pt_lua_push_box(L, pt_enum_ref(pt_assignment_get_enum(a)), SNAPSHOT_MT);
	return 1;
}

static int assign_vm(lua_State *L)
{
	pt_assignment *a = pt_lua_check_open(L, 1, ASSIGN_MT);
	unsigned vm = pt_assignment_get_vm(a);

	if (vm)
		lua_pushinteger(L, vm);
	else
		lua_pushnil(L);
	return 1;
}

const luaL_Reg pt_lua_assignment_funcs[] = {
	{ "assign", l_assign },
	{ "assign_vm", l_assign_vm },
	{ NULL, NULL },
};

void pt_lua_open_assignment(lua_State *L)
{
	static const luaL_Reg assign_methods[] = {
		{ "devices", assign_devices }, { "addresses", assign_addresses }, { "sources", assign_sources },
		{ "refusals", assign_refusals }, { "check", assign_check }, { NULL, NULL },
	};
	static const luaL_Reg assign_getters[] = { { "vm", assign_vm }, { "snapshot", assign_snapshot }, { NULL, NULL } };
	pt_lua_new_class(L, ASSIGN_MT, assign_methods, assign_getters, assign_close, NULL);
}
