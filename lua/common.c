/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the parts of the Lua binding share: boxes and classes, plain tables' fields, failures,
 * the context of ptlua's root, and the refusal of actions while a recipe loads.
 */
#include <stdbool.h>
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

void pt_lua_set_zpool(lua_State *L, const char *zpool)
{
	lua_pushstring(L, zpool);
	lua_setfield(L, LUA_REGISTRYINDEX, ZPOOL_KEY);
}

void pt_lua_set_systemctl(lua_State *L, const char *systemctl)
{
	lua_pushstring(L, systemctl);
	lua_setfield(L, LUA_REGISTRYINDEX, SYSTEMCTL_KEY);
}

/* The programs the contexts run (ptlua --zpool, --systemctl), pushed: pop 2 after pt_ctx_new. */
static void programs(lua_State *L, pt_opts *opts)
{
	lua_getfield(L, LUA_REGISTRYINDEX, ZPOOL_KEY);
	opts->zpool = lua_tostring(L, -1);
	lua_getfield(L, LUA_REGISTRYINDEX, SYSTEMCTL_KEY);
	opts->systemctl = lua_tostring(L, -1);
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
		luaL_error(L, "%s: refused at a script's top level, in --check and --describe (actions run "
			   "in a recipe's run() or a hookscript phase; run your own script with ptlua --trusted)",
			   what);
}

pt_ctx *pt_lua_root_context(lua_State *L)
{
	pt_opts opts = { .size = sizeof(opts) };
	pt_ctx *ctx;

	lua_getfield(L, LUA_REGISTRYINDEX, ROOT_KEY);
	opts.root = lua_tostring(L, -1);
	programs(L, &opts);
	int r = pt_ctx_new(&ctx, &opts);
	lua_pop(L, 3);
	if (r < 0) {
		pt_lua_fail(L, r, lua_pushfstring(L, "%s: %s", opts.root ? opts.root : "/", strerror(-r)));
		return NULL;
	}
	return ctx;
}

int pt_lua_push_opt_int(lua_State *L, long v)
{
	if (v < 0)
		lua_pushnil(L);
	else
		lua_pushinteger(L, v);
	return 1;
}

/* Methods another part implements, added to a class (pt.c assembles them). */
void pt_lua_add_methods(lua_State *L, const char *mt, const luaL_Reg *methods)
{
	luaL_getmetatable(L, mt);
	lua_getfield(L, -1, "__index");
	lua_getupvalue(L, -1, 1); /* index_with_getters' methods table */
	luaL_setfuncs(L, methods, 0);
	lua_pop(L, 3);
}

int pt_lua_context(lua_State *L)
{
	pt_opts opts = { .size = sizeof(opts) };
	pt_ctx *ctx;
	int r;

	if (!lua_isnoneornil(L, 1)) {
		luaL_checktype(L, 1, LUA_TTABLE);
		lua_pushnil(L);
		while (lua_next(L, 1)) {
			const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
			if (strcmp(key, "root") != 0)
				return luaL_argerror(L, 1, lua_pushfstring(L, "unknown option '%s'",
									  luaL_tolstring(L, -2, NULL)));
			lua_pop(L, 1);
		}
		lua_getfield(L, 1, "root");
		opts.root = luaL_optstring(L, -1, NULL);
	}
	if (!opts.root) {
		lua_getfield(L, LUA_REGISTRYINDEX, ROOT_KEY);
		opts.root = lua_tostring(L, -1);
	}
	programs(L, &opts);
	r = pt_ctx_new(&ctx, &opts);
	if (r < 0)
		return pt_lua_fail(L, r, lua_pushfstring(L, "%s: %s", opts.root ? opts.root : "/",
						  strerror(-r)));
	pt_lua_push_box(L, ctx, CTX_MT);
	return 1;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* names (n of them, each and the array malloc'ed) sorted, pushed as a list, and freed. */
int pt_lua_push_names(lua_State *L, char **names, size_t n)
{
	if (n)
		qsort(names, n, sizeof(*names), compare_names);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lua_pushstring(L, names[i]);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
		free(names[i]);
	}
	free(names);
	return 1;
}
