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

/* ---- what the bindings of the emitters, the assignment, VM configs, nodes and the host plan share ---- */

/* A failure as liolib says it: nil, the context's last error and the errno (-r); an owned
 * context is dropped first. */
int pt_lua_fail_ctx(lua_State *L, int r, pt_ctx *ctx, bool owned)
{
	pt_lua_fail(L, r, pt_ctx_last_error(ctx));
	if (owned)
		pt_ctx_unref(ctx);
	return 3;
}

pt_ctx *pt_lua_check_root(lua_State *L)
{
	pt_ctx *ctx = pt_lua_root_context(L);
	if (!ctx)
		lua_error(L); /* its message is on the stack, under the errno */
	return ctx;
}

/* A string field of the table at idx, left on the stack so it lives through the call. */
const char *pt_lua_opt_field(lua_State *L, int idx, const char *key)
{
	int t = lua_getfield(L, idx, key);
	if (t == LUA_TNIL)
		return NULL;
	if (t != LUA_TSTRING)
		luaL_error(L, "option '%s': a string expected, got %s", key, lua_typename(L, t));
	return lua_tostring(L, -1);
}

bool pt_lua_bool_field(lua_State *L, int idx, const char *key, bool if_nil)
{
	int t = lua_getfield(L, idx, key);
	bool v = t == LUA_TNIL ? if_nil : lua_toboolean(L, -1);
	lua_pop(L, 1);
	return v;
}

/* An emission's lines (notes false) or notes as a list. */
void pt_lua_push_emission(lua_State *L, const pt_emission *em, bool notes)
{
	size_t n = notes ? pt_emission_get_note_count(em) : pt_emission_get_line_count(em);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lua_pushstring(L, notes ? pt_emission_get_note(em, i) : pt_emission_get_line(em, i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
}

/* {id = "10c4:ea60"} | {port = "1-2.3"} | {serial = S} | {bus = B, device = D}, or nil */
pt_usb_spec *pt_lua_check_usb(lua_State *L, int idx, pt_usb_spec *spec)
{
	if (lua_isnoneornil(L, idx))
		return NULL;
	luaL_checktype(L, idx, LUA_TTABLE);
	*spec = PT_INIT(pt_usb_spec);
	spec->id = pt_lua_opt_field(L, idx, "id");
	spec->port = pt_lua_opt_field(L, idx, "port");
	spec->serial = pt_lua_opt_field(L, idx, "serial");
	spec->peer_port = pt_lua_opt_field(L, idx, "peer_port");
	lua_getfield(L, idx, "bus");
	spec->bus = (unsigned)lua_tointeger(L, -1);
	lua_getfield(L, idx, "device");
	spec->devnum = (unsigned)lua_tointeger(L, -1);
	return spec;
}

/* A list of strings at idx (addresses, node names), as a C array on the Lua stack (a userdata). */
const char **pt_lua_check_strings(lua_State *L, int idx, size_t *n)
{
	const char **v;

	*n = 0;
	if (lua_isnoneornil(L, idx))
		return NULL;
	luaL_checktype(L, idx, LUA_TTABLE);
	*n = lua_rawlen(L, idx);
	v = lua_newuserdatauv(L, (*n ? *n : 1) * sizeof(*v), 0);
	for (size_t i = 0; i < *n; i++) {
		lua_rawgeti(L, idx, (lua_Integer)i + 1);
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_error(L, "%s is not a PCI address", luaL_tolstring(L, -1, NULL));
		v[i] = lua_tostring(L, -1); /* the table keeps it */
		lua_pop(L, 1);
	}
	return v;
}

/* ---- the assignment ---- */

pt_assignment *pt_lua_test_assignment(lua_State *L, int idx)
{
	return luaL_testudata(L, idx, ASSIGN_MT) ? pt_lua_check_open(L, idx, ASSIGN_MT) : NULL;
}

pt_ctx *pt_lua_assignment_ctx(const pt_assignment *a)
{
	return pt_enum_get_context(pt_assignment_get_enum(a));
}

/* The assignment of a list of ids (a Lua convenience: C emitters take assignments), on e or a
 * snapshot of only them under ctx's root (owned: raised with), boxed on the stack. */
pt_assignment *pt_lua_ids_assignment(lua_State *L, pt_ctx *ctx, bool owned, pt_enum *e, const char **ids, size_t n,
				     unsigned flags)
{
	pt_assignment *a = NULL;
	int r = 0;

	if (e)
		pt_enum_ref(e);
	else if (n)
		r = pt_enum_scan_devices(ctx, ids, n, 0, &e);
	else
		r = pt_enum_scan(ctx, 0, &e); /* an empty set, whose emitter has its say */
	if (r == 0)
		r = pt_assignment_new(e, 0, flags, &a);
	pt_enum_unref(e);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = pt_assignment_add(a, ids[i]);
	if (r < 0) {
		pt_assignment_unref(a);
		pt_lua_fail_ctx(L, r, ctx, owned);
		return NULL; /* nil, message, errno on the stack */
	}
	pt_lua_push_box(L, a, ASSIGN_MT);
	return a;
}

/* A list of n strings, the i-th get(obj, i). */
int pt_lua_push_strings(lua_State *L, size_t n, const char *(*get)(const void *obj, size_t i), const void *obj)
{
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lua_pushstring(L, get(obj, i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}
