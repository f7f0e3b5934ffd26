/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pt.Context, pt.Snapshot (the C API's pt_enum), pt.Group and their iterators; pt.Device is device.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pt-lua-private.h"

CLOSER(ctx_close, CTX_MT, pt_ctx_unref)
CLOSER(enum_close, SNAPSHOT_MT, pt_enum_unref)
CLOSER(group_close, GROUP_MT, pt_group_unref)

/* ---- iterators: iter, state, nil, closer; the state keeps the inventory alive ---- */

typedef struct {
	pt_enum *e;
	int kind; /* 0 devices, 1 groups */
	size_t next;
} iter_state;

static int iter_close(lua_State *L)
{
	iter_state *s = luaL_checkudata(L, 1, ITER_MT);
	s->e = pt_enum_unref(s->e);
	return 0;
}

static int iter_next(lua_State *L)
{
	iter_state *s = luaL_checkudata(L, 1, ITER_MT);
	size_t i = s->next++;

	if (!s->e)
		return 0;
	if (s->kind == 1)
		pt_lua_push_group(L, pt_enum_get_group(s->e, i));
	else
		pt_lua_push_device(L, pt_enum_get_device(s->e, i));
	if (lua_isnil(L, -1))
		s->e = pt_enum_unref(s->e);
	return 1;
}

static int push_iter(lua_State *L, pt_enum *e, int kind)
{
	lua_pushcfunction(L, iter_next);
	iter_state *s = lua_newuserdatauv(L, sizeof(*s), 0);
	*s = (iter_state){ .e = pt_enum_ref(e), .kind = kind };
	luaL_setmetatable(L, ITER_MT);
	lua_pushnil(L);
	lua_pushvalue(L, -2);
	return 4;
}

static pt_device *group_device_at(const void *g, size_t i) { return pt_group_get_device(g, i); }
static pt_device *group_set_member_at(const void *g, size_t i) { return pt_group_get_set_member(g, i); }

/* ---- pt.Context ---- */

/* ctx:scan([{devices = {ADDRESS or SLOT, ...}}]): the whole host, or only those devices and
 * what they need (pt_enum_scan_devices). */
static int ctx_scan(lua_State *L)
{
	pt_ctx *ctx = pt_lua_check_open(L, 1, CTX_MT);
	const char **names = NULL;
	size_t n = 0;
	pt_enum *e;
	int r;

	if (!lua_isnoneornil(L, 2)) {
		luaL_checktype(L, 2, LUA_TTABLE);
		lua_getfield(L, 2, "devices");
		luaL_checktype(L, -1, LUA_TTABLE);
		n = lua_rawlen(L, -1);
		luaL_argcheck(L, n > 0 && n <= 65536, 2, "devices: 1 to 65536 addresses or slots");
		names = lua_newuserdatauv(L, n * sizeof(*names), 0); /* as many as a VM's lines name */
		lua_insert(L, -2);
		for (size_t i = 0; i < n; i++) {
			lua_rawgeti(L, -1, (lua_Integer)i + 1);
			luaL_checktype(L, -1, LUA_TSTRING); /* a string of the table: it stays alive */
			names[i] = lua_tostring(L, -1);
			lua_pop(L, 1);
		}
	}
	r = n ? pt_enum_scan_devices(ctx, names, n, 0, &e) : pt_enum_scan(ctx, 0, &e);
	if (r < 0)
		return pt_lua_fail(L, r, pt_ctx_last_error(ctx));
	pt_lua_push_box(L, e, SNAPSHOT_MT);
	return 1;
}

static int ctx_root(lua_State *L)
{
	lua_pushstring(L, pt_ctx_get_root(pt_lua_check_open(L, 1, CTX_MT)));
	return 1;
}

static int ctx_tostring(lua_State *L)
{
	box *b = luaL_checkudata(L, 1, CTX_MT);
	lua_pushfstring(L, "pt.Context(%s)", b->p ? pt_ctx_get_root(b->p) : "closed");
	return 1;
}

/* pt.scan([{root = DIR, devices = {...}}]): a context and its inventory in one call. */
static int pt_lua_scan(lua_State *L)
{
	lua_settop(L, 1);
	if (!lua_isnil(L, 1))
		luaL_checktype(L, 1, LUA_TTABLE);
	lua_newtable(L); /* 2: the scan's options */
	lua_newtable(L); /* 3: the context's */
	if (lua_istable(L, 1)) {
		lua_pushnil(L);
		while (lua_next(L, 1)) {
			bool devices = lua_type(L, -2) == LUA_TSTRING && strcmp(lua_tostring(L, -2), "devices") == 0;
			lua_pushvalue(L, -2);
			lua_insert(L, -2);
			lua_settable(L, devices ? 2 : 3);
		}
	}
	lua_replace(L, 1); /* 1: the context's options, 2: the scan's */
	int n = pt_lua_context(L);
	if (n != 1)
		return n;
	lua_replace(L, 1); /* 1: the context */
	lua_settop(L, 2);
	lua_getfield(L, 2, "devices");
	if (lua_isnil(L, -1)) {
		lua_pushnil(L);
		lua_replace(L, 2);
	}
	lua_settop(L, 2);
	return ctx_scan(L);
}

/* ---- pt.Snapshot ---- */

/* inv:partial(): true for a snapshot of some devices (pt.scan{devices = ...}). */
static int enum_partial(lua_State *L)
{
	lua_pushboolean(L, pt_enum_is_partial(pt_lua_check_open(L, 1, SNAPSHOT_MT)));
	return 1;
}

static int enum_devices(lua_State *L)
{
	return push_iter(L, pt_lua_check_open(L, 1, SNAPSHOT_MT), 0);
}

static int enum_groups(lua_State *L)
{
	return push_iter(L, pt_lua_check_open(L, 1, SNAPSHOT_MT), 1);
}

static int enum_device(lua_State *L)
{
	pt_enum *e = pt_lua_check_open(L, 1, SNAPSHOT_MT);
	const char *address = luaL_checkstring(L, 2);
	pt_device *dev;
	int r = pt_enum_find_device(e, address, &dev);

	if (r == -EINVAL)
		return luaL_argerror(L, 2, lua_pushfstring(L, "'%s' is not a PCI address", address));
	if (r < 0)
		return pt_lua_fail(L, r, lua_pushfstring(L, "%s: no such PCI device", address));
	pt_lua_push_device(L, dev);
	return 1;
}

static int enum_group(lua_State *L)
{
	pt_enum *e = pt_lua_check_open(L, 1, SNAPSHOT_MT);
	lua_Integer n = luaL_checkinteger(L, 2);

	pt_group *g;
	if (n < 0 || n > 0x7fffffff || pt_enum_find_group(e, (unsigned)n, &g) < 0)
		return pt_lua_fail(L, -ENOENT, lua_pushfstring(L, "IOMMU group %d: no such group", (int)n));
	pt_lua_push_group(L, g);
	return 1;
}

static int enum_has_iommu(lua_State *L)
{
	lua_pushboolean(L, pt_enum_has_iommu(pt_lua_check_open(L, 1, SNAPSHOT_MT)));
	return 1;
}

static int enum_warnings(lua_State *L)
{
	pt_enum *e = pt_lua_check_open(L, 1, SNAPSHOT_MT);
	lua_createtable(L, (int)pt_enum_get_warning_count(e), 0);
	for (size_t i = 0; i < pt_enum_get_warning_count(e); i++) {
		lua_pushstring(L, pt_enum_get_warning(e, i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

/* inv:json{devices = {...}, explain = bool, links = bool}: the report's whole JSON document
 * (pt_enum_to_json); devices nil: every device. */
static int enum_json(lua_State *L)
{
	pt_enum *e = pt_lua_check_open(L, 1, SNAPSHOT_MT);
	pt_device **devices = NULL;
	size_t n = 0;
	unsigned flags = 0;

	lua_settop(L, 2);
	if (!lua_isnil(L, 2)) {
		luaL_checktype(L, 2, LUA_TTABLE);
		lua_getfield(L, 2, "explain");
		flags |= lua_toboolean(L, -1) ? PT_JSON_EXPLAIN : 0;
		lua_getfield(L, 2, "links");
		flags |= lua_toboolean(L, -1) ? PT_JSON_LINKS : 0;
		lua_pop(L, 2);
		if (lua_getfield(L, 2, "devices") == LUA_TTABLE) {
			n = lua_rawlen(L, -1);
			devices = lua_newuserdatauv(L, (n ? n : 1) * sizeof(*devices), 0);
			for (size_t i = 0; i < n; i++) {
				lua_rawgeti(L, 3, (lua_Integer)i + 1);
				devices[i] = pt_lua_check_open(L, -1, DEVICE_MT);
				luaL_argcheck(L, pt_device_get_enum(devices[i]) == e, 2, "a device of another snapshot");
				lua_pop(L, 1); /* the list keeps it */
			}
		}
	}
	char *text = pt_enum_to_json(e, devices, n, flags);
	if (!text)
		return luaL_error(L, "not enough memory");
	lua_pushstring(L, text);
	free(text);
	return 1;
}

static int enum_count(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)pt_enum_get_device_count(pt_lua_check_open(L, 1, SNAPSHOT_MT)));
	return 1;
}

static int enum_group_count(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)pt_enum_get_group_count(pt_lua_check_open(L, 1, SNAPSHOT_MT)));
	return 1;
}

/* inv:doctor([device]): {checks = {{id, status, title, evidence, fix}...}, failures = n}. */
static int enum_doctor(lua_State *L)
{
	pt_enum *e = pt_lua_check_open(L, 1, SNAPSHOT_MT);
	pt_device *dev = lua_isnoneornil(L, 2) ? NULL : pt_lua_check_open(L, 2, DEVICE_MT);
	pt_doctor *d;
	int r = pt_doctor_run(e, dev, &d);

	if (r == -EINVAL)
		return luaL_argerror(L, 2, "a device of another inventory");
	if (r < 0)
		return pt_lua_fail(L, r, pt_ctx_last_error(pt_enum_get_context(e)));
	lua_createtable(L, 0, 2);
	lua_createtable(L, (int)pt_doctor_get_check_count(d), 0);
	for (size_t i = 0; i < pt_doctor_get_check_count(d); i++) {
		lua_createtable(L, 0, 5);
		pt_lua_set_string(L, "id", pt_doctor_get_id(d, i));
		pt_lua_set_string(L, "status", pt_status_to_string(pt_doctor_get_status(d, i)));
		pt_lua_set_string(L, "title", pt_doctor_get_title(d, i));
		pt_lua_set_string(L, "evidence", pt_doctor_get_evidence(d, i));
		pt_lua_set_string(L, "fix", pt_doctor_get_fix(d, i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lua_setfield(L, -2, "checks");
	pt_lua_set_integer(L, "failures", (lua_Integer)pt_doctor_get_failures(d));
	pt_doctor_unref(d);
	return 1;
}

static int enum_tostring(lua_State *L)
{
	box *b = luaL_checkudata(L, 1, SNAPSHOT_MT);
	if (b->p)
		lua_pushfstring(L, "pt.Snapshot(%d devices)", (int)pt_enum_get_device_count(b->p));
	else
		lua_pushliteral(L, "pt.Snapshot(closed)");
	return 1;
}

/* ---- pt.Group ---- */

#define GRP(L) ((pt_group *)pt_lua_check_open(L, 1, GROUP_MT))

static int group_number(lua_State *L) { lua_pushinteger(L, pt_group_get_number(GRP(L))); return 1; }
static int group_type(lua_State *L) { pt_lua_push_opt_string(L, pt_group_get_type(GRP(L))); return 1; }

static int group_devices(lua_State *L)
{
	pt_group *g = GRP(L);
	lua_createtable(L, (int)pt_group_get_device_count(g), 0);
	for (size_t i = 0; i < pt_group_get_device_count(g); i++) {
		pt_lua_push_device(L, pt_group_get_device(g, i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

static int group_passthrough_set(lua_State *L)
{
	pt_group *g = GRP(L);
	lua_createtable(L, (int)pt_group_get_set_size(g), 0);
	for (size_t i = 0; i < pt_group_get_set_size(g); i++) {
		pt_lua_push_device(L, pt_group_get_set_member(g, i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

/* g:fields(): {number, type, devices = {addresses}, passthrough_set = {addresses}} in one call. */
static int group_fields(lua_State *L)
{
	pt_group *g = GRP(L);
	lua_createtable(L, 0, 4);
	pt_lua_set_integer(L, "number", pt_group_get_number(g));
	pt_lua_set_string(L, "type", pt_group_get_type(g));
	pt_lua_set_addresses(L, "devices", pt_group_get_device_count(g), group_device_at, g);
	pt_lua_set_addresses(L, "passthrough_set", pt_group_get_set_size(g), group_set_member_at, g);
	return 1;
}

/* g:json(): the report's JSON object of the group, as a string. */
static int group_json(lua_State *L)
{
	char *text = pt_group_to_json(GRP(L));
	if (!text)
		return luaL_error(L, "not enough memory");
	lua_pushstring(L, text);
	free(text);
	return 1;
}

static int group_tostring(lua_State *L)
{
	box *b = luaL_checkudata(L, 1, GROUP_MT);
	if (b->p)
		lua_pushfstring(L, "pt.Group(%d)", (int)pt_group_get_number(b->p));
	else
		lua_pushliteral(L, "pt.Group(closed)");
	return 1;
}

/* pt.listing(text [, source]): a posted IOMMU group listing read as a host
 * (pt_enum_new_from_listing); nil, message, errno when it is not one. */
static int pt_lua_listing(lua_State *L)
{
	size_t len;
	const char *text = luaL_checklstring(L, 1, &len);
	const char *source = luaL_optstring(L, 2, "listing");
	pt_ctx *ctx = pt_lua_root_context(L);
	pt_enum *e;

	if (!ctx)
		return lua_error(L);
	int r = pt_enum_new_from_listing(ctx, text, len, source, &e);
	if (r < 0) {
		int n = pt_lua_fail(L, r, pt_ctx_last_error(ctx));
		pt_ctx_unref(ctx);
		return n;
	}
	pt_ctx_unref(ctx);
	pt_lua_push_box(L, e, SNAPSHOT_MT);
	return 1;
}

const luaL_Reg pt_lua_inventory_funcs[] = {
	{ "context", pt_lua_context },
	{ "scan", pt_lua_scan },
	{ "listing", pt_lua_listing },
	{ NULL, NULL },
};

void pt_lua_open_inventory(lua_State *L)
{
	static const luaL_Reg ctx_methods[] = { { "scan", ctx_scan }, { NULL, NULL } };
	static const luaL_Reg ctx_getters[] = { { "root", ctx_root }, { NULL, NULL } };
	static const luaL_Reg enum_methods[] = {
		{ "devices", enum_devices }, { "groups", enum_groups },
		{ "device", enum_device },   { "group", enum_group },
		{ "has_iommu", enum_has_iommu }, { "warnings", enum_warnings },
		{ "count", enum_count },     { "group_count", enum_group_count },
		{ "partial", enum_partial }, { "json", enum_json },
		{ "doctor", enum_doctor },
		{ NULL, NULL },
	};
	static const luaL_Reg group_getters[] = {
		{ "number", group_number },
		{ "type", group_type },
		{ "devices", group_devices },
		{ "passthrough_set", group_passthrough_set },
		{ NULL, NULL },
	};

	pt_lua_new_class(L, CTX_MT, ctx_methods, ctx_getters, ctx_close, ctx_tostring);
	pt_lua_new_class(L, SNAPSHOT_MT, enum_methods, NULL, enum_close, enum_tostring);
	static const luaL_Reg group_methods[] = { { "fields", group_fields }, { "json", group_json }, { NULL, NULL } };
	pt_lua_new_class(L, GROUP_MT, group_methods, group_getters, group_close, group_tostring);
	luaL_newmetatable(L, ITER_MT);
	lua_pushcfunction(L, iter_close);
	lua_setfield(L, -2, "__gc");
	lua_pushcfunction(L, iter_close);
	lua_setfield(L, -2, "__close");
	lua_pop(L, 1);
}
