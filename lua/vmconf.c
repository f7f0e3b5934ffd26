/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Proxmox VM configuration for Lua (pt.vmconf_parse, pt.vmconf_read, pt.VMConfig), property
 * strings, the config value check and lint of the VMs' configs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pt-lua-private.h"

/* ---- VM configuration ---- */

CLOSER(vmconf_close, VMCONF_MT, pt_vmconf_unref)

/* {keys = {...}, values = {k = v}} */
static void push_section(lua_State *L, const pt_vmconf *c)
{
	lua_createtable(L, 0, 2);
	lua_createtable(L, (int)pt_vmconf_get_key_count(c), 0);
	lua_createtable(L, 0, (int)pt_vmconf_get_key_count(c));
	for (size_t i = 0; i < pt_vmconf_get_key_count(c); i++) {
		const char *k = pt_vmconf_get_key(c, i);
		lua_pushstring(L, k);
		lua_rawseti(L, -3, (lua_Integer)i + 1);
		lua_pushstring(L, pt_vmconf_get(c, k));
		lua_setfield(L, -2, k);
	}
	lua_setfield(L, -3, "values");
	lua_setfield(L, -2, "keys");
}

/* The config as { main = section, snapshots = {name = true}, description = text, handle = C }. */
static void push_vmconf(lua_State *L, pt_vmconf *c)
{
	lua_createtable(L, 0, 4);
	push_section(L, c);
	lua_setfield(L, -2, "main");
	lua_createtable(L, 0, (int)pt_vmconf_get_snapshot_count(c));
	for (size_t i = 0; i < pt_vmconf_get_snapshot_count(c); i++) {
		lua_pushboolean(L, 1);
		lua_setfield(L, -2, pt_vmconf_get_snapshot(c, i));
	}
	lua_setfield(L, -2, "snapshots");
	pt_lua_set_string(L, "description", pt_vmconf_get_description(c));
	pt_lua_push_box(L, c, VMCONF_MT);
	lua_setfield(L, -2, "handle");
}

/* pt.vmconf_parse(text, file): the config; nil, the message naming FILE:LINE, errno */
static int l_vmconf_parse(lua_State *L)
{
	int r;
	lua_settop(L, 2);
	const char *text = luaL_checkstring(L, 1), *file = luaL_optstring(L, 2, NULL);
	pt_ctx *ctx = pt_lua_check_root(L);
	pt_vmconf *c;

	if ((r = pt_vmconf_parse(ctx, text, file, &c)) < 0)
		return pt_lua_fail_ctx(L, r, ctx, true);
	pt_ctx_unref(ctx);
	push_vmconf(L, c);
	return 1;
}

/* pt.vmconf_read(vm): the VM's config and its path, or nil and the path when it has none */
static int l_vmconf_read(lua_State *L)
{
	lua_settop(L, 1);
	lua_Integer vm = luaL_checkinteger(L, 1);
	luaL_argcheck(L, pt_vmid_is_valid((long long)vm), 1, "a VM id");
	pt_ctx *ctx = pt_lua_check_root(L);
	pt_vmconf *c;
	int r = pt_vmconf_read(ctx, (unsigned)vm, &c);
	const char *root = pt_ctx_get_root(ctx);

	lua_pushfstring(L, "%s/etc/pve/qemu-server/%d.conf", strcmp(root, "/") ? root : "", (int)vm);
	if (r == -ENOENT) {
		pt_ctx_unref(ctx);
		lua_pushnil(L);
		lua_insert(L, -2);
		return 2;
	}
	if (r < 0)
		return pt_lua_fail_ctx(L, r, ctx, true);
	pt_ctx_unref(ctx);
	push_vmconf(L, c);
	lua_insert(L, -2);
	return 2;
}

/* pt.props_parse(value, default_key): { {key, value}... }, { key = value } */
static int l_props_parse(lua_State *L)
{
	int r;
	lua_settop(L, 2);
	const char *value = luaL_checkstring(L, 1), *dflt = luaL_optstring(L, 2, NULL);
	pt_ctx *ctx = pt_lua_check_root(L);
	pt_props *p;

	if ((r = pt_props_parse(ctx, value, dflt, &p)) < 0)
		return pt_lua_fail_ctx(L, r, ctx, true);
	pt_ctx_unref(ctx);
	size_t n = pt_props_get_count(p);
	lua_createtable(L, (int)n, 0);
	lua_createtable(L, 0, (int)n);
	for (size_t i = 0; i < n; i++) {
		lua_createtable(L, 2, 0);
		lua_pushstring(L, pt_props_get_key(p, i));
		lua_rawseti(L, -2, 1);
		lua_pushstring(L, pt_props_get_value(p, i));
		lua_rawseti(L, -2, 2);
		lua_rawseti(L, -3, (lua_Integer)i + 1);
		lua_pushstring(L, pt_props_get_value(p, i));
		lua_setfield(L, -2, pt_props_get_key(p, i));
	}
	pt_props_unref(p);
	return 2;
}

/* pt.config_value(what, value): the value, or nil, the message naming it, errno */
static int l_config_value(lua_State *L)
{
	int r;
	lua_settop(L, 2);
	const char *what = luaL_checkstring(L, 1), *value = luaL_tolstring(L, 2, NULL);
	pt_ctx *ctx = pt_lua_check_root(L);

	if ((r = pt_config_value_check(ctx, what, value)) < 0)
		return pt_lua_fail_ctx(L, r, ctx, true);
	pt_ctx_unref(ctx);
	lua_pushstring(L, value);
	return 1;
}

/* pt.lint(inv, vm): { {vm =, key =, code =, message =}... } of the VM configs (vm: only its) */
static int l_lint(lua_State *L)
{
	int r;
	lua_settop(L, 2);
	pt_enum *e = pt_lua_check_open(L, 1, SNAPSHOT_MT);
	lua_Integer vm = luaL_optinteger(L, 2, 0);
	pt_lint *l;

	luaL_argcheck(L, vm == 0 || pt_vmid_is_valid((long long)vm), 2, "a VM id");
	if ((r = pt_lint_run(e, (unsigned)vm, &l)) < 0)
		return pt_lua_fail_ctx(L, r, pt_enum_get_context(e), false);
	size_t n = pt_lint_get_finding_count(l);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lua_createtable(L, 0, 4);
		pt_lua_set_integer(L, "vm", pt_lint_get_vm(l, i));
		pt_lua_set_string(L, "key", pt_lint_get_key(l, i));
		pt_lua_set_string(L, "code", pt_lint_get_code(l, i));
		pt_lua_set_string(L, "message", pt_lint_get_message(l, i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	pt_lint_unref(l);
	return 1;
}

const luaL_Reg pt_lua_vmconf_funcs[] = {
	{ "vmconf_parse", l_vmconf_parse },
	{ "vmconf_read", l_vmconf_read },
	{ "props_parse", l_props_parse },
	{ "config_value", l_config_value },
	{ "lint", l_lint },
	{ NULL, NULL },
};

void pt_lua_open_vmconf(lua_State *L)
{
	static const luaL_Reg none[] = { { NULL, NULL } };
	pt_lua_new_class(L, VMCONF_MT, none, none, vmconf_close, NULL);
}
