/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Lua module `pt`: the C API as userdata with named metatables. Misuse raises an
 * argument error; system failures return nil, message, errno. This file holds what the parts
 * share and assembles the module from them: inventory.c (contexts, inventories, devices,
 * groups), actions.c (transactions, host files), host.c (reading the host), usb.c (USB, QMP,
 * the udev monitor), emit.c (VM configuration and the emitters).
 */
#include <stdlib.h>
#include <string.h>

#include "pt-lua-private.h"


void *pt_lua_check_open(lua_State *L, int idx, const char *mt)
{
	box *b = luaL_checkudata(L, idx, mt);
	if (!b->p)
		luaL_error(L, "attempt to use a closed %s", mt);
	return b->p;
}

void pt_lua_push_box(lua_State *L, void *p, const char *mt)
{
	/* one user value: what an object's errors are read from (a transaction's context) */
	box *b = lua_newuserdatauv(L, sizeof(*b), 1);
	b->p = p;
	luaL_setmetatable(L, mt);
}

int pt_lua_fail(lua_State *L, int err, const char *msg)
{
	lua_pushnil(L);
	lua_pushstring(L, msg && *msg ? msg : strerror(-err));
	lua_pushinteger(L, -err);
	return 3;
}

void pt_lua_push_device(lua_State *L, pt_device *dev)
{
	if (dev)
		pt_lua_push_box(L, pt_device_ref(dev), DEVICE_MT);
	else
		lua_pushnil(L);
}

void pt_lua_push_group(lua_State *L, pt_group *g)
{
	if (g)
		pt_lua_push_box(L, pt_group_ref(g), GROUP_MT);
	else
		lua_pushnil(L);
}

void pt_lua_push_opt_string(lua_State *L, const char *s)
{
	if (s)
		lua_pushstring(L, s);
	else
		lua_pushnil(L);
}

/* __index: methods first, then the getters table of the metatable (field -> function). */
static int index_with_getters(lua_State *L)
{
	lua_pushvalue(L, 2);
	if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL)
		return 1;
	lua_pushvalue(L, 2);
	if (lua_rawget(L, lua_upvalueindex(2)) == LUA_TNIL)
		return luaL_error(L, "no field '%s' in %s", luaL_tolstring(L, 2, NULL),
				  lua_tostring(L, lua_upvalueindex(3)));
	lua_pushvalue(L, 1);
	lua_call(L, 1, 1);
	return 1;
}

int pt_lua_written(lua_State *L, pt_ctx *ctx, int r, char *backup)
{
	if (r < 0) {
		lua_pushstring(L, pt_ctx_last_error(ctx));
		pt_ctx_unref(ctx);
		return pt_lua_fail(L, r, lua_tostring(L, -1));
	}
	pt_ctx_unref(ctx);
	lua_pushboolean(L, 1);
	pt_lua_push_opt_string(L, backup);
	free(backup);
	return 2;
}

void pt_lua_new_class(lua_State *L, const char *mt, const luaL_Reg *methods,
		      const luaL_Reg *getters, lua_CFunction close, lua_CFunction tostring)
{
	luaL_newmetatable(L, mt);
	lua_pushboolean(L, 0); /* getmetatable() gives false: recipes cannot reach the methods */
	lua_setfield(L, -2, "__metatable");
	lua_pushcfunction(L, close);
	lua_setfield(L, -2, "__gc");
	lua_pushcfunction(L, close);
	lua_setfield(L, -2, "__close");
	if (tostring) {
		lua_pushcfunction(L, tostring);
		lua_setfield(L, -2, "__tostring");
	}
	lua_newtable(L);
	luaL_setfuncs(L, methods, 0);
	lua_pushcfunction(L, close);
	lua_setfield(L, -2, "close");
	lua_newtable(L);
	if (getters)
		luaL_setfuncs(L, getters, 0);
	lua_pushstring(L, mt);
	lua_pushcclosure(L, index_with_getters, 3);
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);
}

void pt_lua_set_string(lua_State *L, const char *key, const char *value)
{
	if (value) {
		lua_pushstring(L, value);
		lua_setfield(L, -2, key);
	}
}

void pt_lua_set_integer(lua_State *L, const char *key, lua_Integer value)
{
	lua_pushinteger(L, value);
	lua_setfield(L, -2, key);
}

/* Ids as lspci and the JSON report write them: fixed-width lower-case hex. */
void pt_lua_set_hex(lua_State *L, const char *key, unsigned long value, int width)
{
	static const char digits[] = "0123456789abcdef";
	char buf[8];

	for (int i = width - 1; i >= 0; i--, value >>= 4)
		buf[i] = digits[value & 0xf];
	lua_pushlstring(L, buf, (size_t)width);
	lua_setfield(L, -2, key);
}

void pt_lua_set_boolean(lua_State *L, const char *key, int value)
{
	lua_pushboolean(L, value);
	lua_setfield(L, -2, key);
}

/* The addresses of an object's members (a device's VFs or set, a group's members or set). */
void pt_lua_set_addresses(lua_State *L, const char *key, size_t n, member_at get, const void *d)
{
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lua_pushstring(L, pt_device_get_address(get(d, i)));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lua_setfield(L, -2, key);
}

void pt_lua_set_root(lua_State *L, const char *root)
{
	lua_pushstring(L, root);
	lua_setfield(L, LUA_REGISTRYINDEX, ROOT_KEY);
}

/* Actions that change the host are refused while a recipe's top level runs (loading it,
 * ptlua --check and --describe run nothing that changes the host). */
void pt_lua_check_action(lua_State *L, const char *what)
{
	lua_getfield(L, LUA_REGISTRYINDEX, LOADING_KEY);
	bool loading = lua_toboolean(L, -1);
	lua_pop(L, 1);
	if (loading)
		luaL_error(L, "%s: refused while the recipe loads (actions run in run and the hookscript "
			   "phases)", what);
}

pt_ctx *pt_lua_root_context(lua_State *L)
{
	pt_opts opts = { .size = sizeof(opts) };
	pt_ctx *ctx;

	lua_getfield(L, LUA_REGISTRYINDEX, ROOT_KEY);
	opts.root = lua_tostring(L, -1);
	int r = pt_ctx_new(&ctx, &opts);
	lua_pop(L, 1);
	if (r < 0) {
		pt_lua_fail(L, r, lua_pushfstring(L, "%s: %s", opts.root ? opts.root : "/", strerror(-r)));
		return NULL;
	}
	return ctx;
}

/* pt._loading(bool): for pt.recipe, which the sandbox does not give recipes. */
static int pt_lua_loading(lua_State *L)
{
	lua_pushboolean(L, lua_toboolean(L, 1));
	lua_setfield(L, LUA_REGISTRYINDEX, LOADING_KEY);
	return 0;
}

/* pt.vmid_valid(n): the one check of a VM id (pt_vmid_is_valid). */
static int pt_lua_vmid_valid(lua_State *L)
{
	lua_Integer n;
	int isint;
	n = lua_tointegerx(L, 1, &isint);
	lua_pushboolean(L, isint && pt_vmid_is_valid((long long)n));
	return 1;
}

/* pt.slot(address): "0000:01:00" of "0000:01:00.1", the slot every function of a device shares. */
static int pt_lua_slot(lua_State *L)
{
	size_t len;
	const char *a = luaL_checklstring(L, 1, &len);
	if (len < 9 || a[len - 2] != '.' || a[len - 1] < '0' || a[len - 1] > '7')
		return luaL_argerror(L, 1, lua_pushfstring(L, "%s is not a PCI address", a));
	lua_pushlstring(L, a, len - 2);
	return 1;
}

/* pt.host(): { cpu_vendor =, boot_loader =, iommu_params = { ... } } of the host under the root,
 * and pt.iommu_params(vendor): the kernel parameters for a CPU of that vendor, as words. */
static void push_words(lua_State *L, const char *s)
{
	lua_newtable(L);
	int n = 0;
	for (const char *p = s; *p;) {
		size_t len = strcspn(p, " ");
		lua_pushlstring(L, p, len);
		lua_rawseti(L, -2, ++n);
		p += len;
		p += strspn(p, " ");
	}
}

static int pt_lua_iommu_params(lua_State *L)
{
	push_words(L, pt_iommu_params(luaL_optstring(L, 1, NULL)));
	return 1;
}

static int pt_lua_host(lua_State *L)
{
	lua_settop(L, 0);
	lua_newtable(L);
	if (pt_lua_context(L) != 1)
		return 3;
	pt_ctx *ctx = pt_lua_check_open(L, -1, CTX_MT);
	lua_createtable(L, 0, 3);
	pt_lua_set_string(L, "cpu_vendor", pt_host_cpu_vendor(ctx));
	pt_lua_set_string(L, "boot_loader", pt_host_boot_loader(ctx));
	push_words(L, pt_iommu_params(pt_host_cpu_vendor(ctx)));
	lua_setfield(L, -2, "iommu_params");
	return 1;
}

static int pt_lua_root(lua_State *L)
{
	lua_getfield(L, LUA_REGISTRYINDEX, ROOT_KEY);
	if (lua_isnil(L, -1))
		lua_pushliteral(L, "/");
	return 1;
}

/* Exported from pt.so for require "pt" in the system's Lua. */
__attribute__((visibility("default"))) int luaopen_pt(lua_State *L)
{
	static const luaL_Reg funcs[] = { { "root", pt_lua_root }, { "_loading", pt_lua_loading },
					  { "vmid_valid", pt_lua_vmid_valid }, { "slot", pt_lua_slot },
					  { "host", pt_lua_host }, { "iommu_params", pt_lua_iommu_params },
					  { NULL, NULL } };

	pt_lua_open_inventory(L);
	pt_lua_open_actions(L);
	pt_lua_open_usb(L);
	pt_lua_open_emit(L);
	luaL_newlib(L, funcs);
	luaL_setfuncs(L, pt_lua_inventory_funcs, 0);
	luaL_setfuncs(L, pt_lua_actions_funcs, 0);
	luaL_setfuncs(L, pt_lua_host_funcs, 0);
	luaL_setfuncs(L, pt_lua_usb_funcs, 0);
	luaL_setfuncs(L, pt_lua_rom_funcs, 0);
	luaL_setfuncs(L, pt_lua_mdev_funcs, 0);
	luaL_setfuncs(L, pt_lua_emit_funcs, 0);
	/* pt.usb is the Lua module pt.usb, loaded when first used */
	lua_createtable(L, 0, 1);
	luaL_loadstring(L, "local t, k = ... if k == 'usb' then local m = require('pt.usb') rawset(t, k, m) return m end");
	lua_setfield(L, -2, "__index");
	lua_setmetatable(L, -2);
	return 1;
}
