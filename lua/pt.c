/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Lua module `pt`: the C API as userdata with named metatables.
 * Misuse raises an argument error; system failures return nil, message, errno.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <syslog.h>
#include <unistd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "libpt.h"
#include "pt-lua.h"

#define CTX_MT "pt.Context"
#define ENUM_MT "pt.Inventory"
#define DEVICE_MT "pt.Device"
#define GROUP_MT "pt.Group"
#define ITER_MT "pt.Iterator"
#define TXN_MT "pt.Transaction"
#define QMP_MT "pt.QMP"
#define MONITOR_MT "pt.Monitor"
#define ROOT_KEY "pt.root"

typedef struct { void *p; } box;

/* ---- boxes: every userdata holds one reference; closing drops it, later use raises ---- */

static void *check_open(lua_State *L, int idx, const char *mt)
{
	box *b = luaL_checkudata(L, idx, mt);
	if (!b->p)
		luaL_error(L, "attempt to use a closed %s", mt);
	return b->p;
}

static void push_box(lua_State *L, void *p, const char *mt)
{
	/* one user value: what an object's errors are read from (a transaction's context) */
	box *b = lua_newuserdatauv(L, sizeof(*b), 1);
	b->p = p;
	luaL_setmetatable(L, mt);
}

static int fail(lua_State *L, int err, const char *msg)
{
	lua_pushnil(L);
	lua_pushstring(L, msg && *msg ? msg : strerror(-err));
	lua_pushinteger(L, -err);
	return 3;
}

static void push_device(lua_State *L, pt_device *dev)
{
	if (dev)
		push_box(L, pt_device_ref(dev), DEVICE_MT);
	else
		lua_pushnil(L);
}

static void push_group(lua_State *L, pt_group *g)
{
	if (g)
		push_box(L, pt_group_ref(g), GROUP_MT);
	else
		lua_pushnil(L);
}

static void push_opt_string(lua_State *L, const char *s)
{
	if (s)
		lua_pushstring(L, s);
	else
		lua_pushnil(L);
}

#define CLOSER(name, mt, unref)                         \
	static int name(lua_State *L)                   \
	{                                               \
		box *b = luaL_checkudata(L, 1, mt);     \
		if (b->p)                               \
			unref(b->p);                    \
		b->p = NULL;                            \
		return 0;                               \
	}
CLOSER(ctx_close, CTX_MT, pt_ctx_unref)
CLOSER(enum_close, ENUM_MT, pt_enum_unref)
CLOSER(device_close, DEVICE_MT, pt_device_unref)
CLOSER(group_close, GROUP_MT, pt_group_unref)
CLOSER(txn_close, TXN_MT, pt_txn_unref)
CLOSER(qmp_close, QMP_MT, pt_qmp_unref)
CLOSER(monitor_close, MONITOR_MT, pt_monitor_unref)

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

static void new_class(lua_State *L, const char *mt, const luaL_Reg *methods,
		      const luaL_Reg *getters, lua_CFunction close, lua_CFunction tostring)
{
	luaL_newmetatable(L, mt);
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
		push_group(L, pt_enum_get_group(s->e, i));
	else
		push_device(L, pt_enum_get_device(s->e, i));
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

static void set_string(lua_State *L, const char *key, const char *value);
static void set_integer(lua_State *L, const char *key, lua_Integer value);

/* ---- pt.Context ---- */

static int pt_lua_context(lua_State *L)
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
	r = pt_ctx_new(&ctx, &opts);
	if (r < 0)
		return fail(L, r, lua_pushfstring(L, "%s: %s", opts.root ? opts.root : "/",
						  strerror(-r)));
	push_box(L, ctx, CTX_MT);
	return 1;
}

static int ctx_scan(lua_State *L)
{
	pt_ctx *ctx = check_open(L, 1, CTX_MT);
	pt_enum *e;
	int r = pt_enum_scan(ctx, &e);

	if (r < 0)
		return fail(L, r, pt_ctx_last_error(ctx));
	push_box(L, e, ENUM_MT);
	return 1;
}

static int ctx_root(lua_State *L)
{
	lua_pushstring(L, pt_ctx_get_root(check_open(L, 1, CTX_MT)));
	return 1;
}

static int ctx_tostring(lua_State *L)
{
	box *b = luaL_checkudata(L, 1, CTX_MT);
	lua_pushfstring(L, "pt.Context(%s)", b->p ? pt_ctx_get_root(b->p) : "closed");
	return 1;
}

/* pt.scan([opts]): a context and its inventory in one call. */
static int pt_lua_scan(lua_State *L)
{
	int n = pt_lua_context(L);
	if (n != 1)
		return n;
	lua_replace(L, 1);
	lua_settop(L, 1);
	return ctx_scan(L);
}

/* ---- pt.Inventory ---- */

static int enum_devices(lua_State *L)
{
	return push_iter(L, check_open(L, 1, ENUM_MT), 0);
}

static int enum_groups(lua_State *L)
{
	return push_iter(L, check_open(L, 1, ENUM_MT), 1);
}

static int enum_device(lua_State *L)
{
	pt_enum *e = check_open(L, 1, ENUM_MT);
	const char *address = luaL_checkstring(L, 2);
	pt_device *dev;
	int r = pt_enum_find_device(e, address, &dev);

	if (r == -EINVAL)
		return luaL_argerror(L, 2, lua_pushfstring(L, "'%s' is not a PCI address", address));
	if (r < 0)
		return fail(L, r, lua_pushfstring(L, "%s: no such PCI device", address));
	push_device(L, dev);
	return 1;
}

static int enum_group(lua_State *L)
{
	pt_enum *e = check_open(L, 1, ENUM_MT);
	lua_Integer n = luaL_checkinteger(L, 2);

	pt_group *g;
	if (n < 0 || n > 0x7fffffff || pt_enum_find_group(e, (unsigned)n, &g) < 0)
		return fail(L, -ENOENT, lua_pushfstring(L, "IOMMU group %d: no such group", (int)n));
	push_group(L, g);
	return 1;
}

static int enum_has_iommu(lua_State *L)
{
	lua_pushboolean(L, pt_enum_has_iommu(check_open(L, 1, ENUM_MT)));
	return 1;
}

static int enum_warnings(lua_State *L)
{
	pt_enum *e = check_open(L, 1, ENUM_MT);
	lua_createtable(L, (int)pt_enum_get_warning_count(e), 0);
	for (size_t i = 0; i < pt_enum_get_warning_count(e); i++) {
		lua_pushstring(L, pt_enum_get_warning(e, i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

static int enum_count(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)pt_enum_get_device_count(check_open(L, 1, ENUM_MT)));
	return 1;
}

static int enum_group_count(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)pt_enum_get_group_count(check_open(L, 1, ENUM_MT)));
	return 1;
}

/* inv:doctor([device]): {checks = {{id, status, title, evidence, fix}...}, failures = n}. */
static int enum_doctor(lua_State *L)
{
	pt_enum *e = check_open(L, 1, ENUM_MT);
	pt_device *dev = lua_isnoneornil(L, 2) ? NULL : check_open(L, 2, DEVICE_MT);
	pt_doctor *d;
	int r = pt_doctor_run(e, dev, &d);

	if (r == -EINVAL)
		return luaL_argerror(L, 2, "a device of another inventory");
	if (r < 0)
		return fail(L, r, pt_ctx_last_error(pt_enum_get_context(e)));
	lua_createtable(L, 0, 2);
	lua_createtable(L, (int)pt_doctor_get_check_count(d), 0);
	for (size_t i = 0; i < pt_doctor_get_check_count(d); i++) {
		lua_createtable(L, 0, 5);
		set_string(L, "id", pt_doctor_get_id(d, i));
		set_string(L, "status", pt_status_to_string(pt_doctor_get_status(d, i)));
		set_string(L, "title", pt_doctor_get_title(d, i));
		set_string(L, "evidence", pt_doctor_get_evidence(d, i));
		set_string(L, "fix", pt_doctor_get_fix(d, i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lua_setfield(L, -2, "checks");
	set_integer(L, "failures", (lua_Integer)pt_doctor_get_failures(d));
	pt_doctor_unref(d);
	return 1;
}

static int enum_tostring(lua_State *L)
{
	box *b = luaL_checkudata(L, 1, ENUM_MT);
	if (b->p)
		lua_pushfstring(L, "pt.Inventory(%d devices)", (int)pt_enum_get_device_count(b->p));
	else
		lua_pushliteral(L, "pt.Inventory(closed)");
	return 1;
}

/* ---- pt.Device ---- */

#define DEV(L) ((pt_device *)check_open(L, 1, DEVICE_MT))
#define INT_GETTER(name, expr)                  \
	static int name(lua_State *L)           \
	{                                       \
		pt_device *d = DEV(L);          \
		lua_pushinteger(L, (expr));     \
		return 1;                       \
	}
#define STR_GETTER(name, expr)                  \
	static int name(lua_State *L)           \
	{                                       \
		pt_device *d = DEV(L);          \
		push_opt_string(L, (expr));     \
		return 1;                       \
	}

INT_GETTER(dev_vendor_id, pt_device_get_vendor_id(d))
INT_GETTER(dev_device_id, pt_device_get_device_id(d))
INT_GETTER(dev_subvendor_id, pt_device_get_subsystem_vendor_id(d))
INT_GETTER(dev_subdevice_id, pt_device_get_subsystem_device_id(d))
INT_GETTER(dev_revision, pt_device_get_revision(d))
INT_GETTER(dev_domain, pt_device_get_domain(d))
INT_GETTER(dev_bus, pt_device_get_bus(d))
INT_GETTER(dev_slot, pt_device_get_slot(d))
INT_GETTER(dev_function, pt_device_get_function(d))
INT_GETTER(dev_sriov_totalvfs, pt_device_get_sriov_totalvfs(d))
STR_GETTER(dev_address, pt_device_get_address(d))
STR_GETTER(dev_vendor_name, pt_device_get_vendor_name(d))
STR_GETTER(dev_device_name, pt_device_get_device_name(d))
STR_GETTER(dev_subsystem_name, pt_device_get_subsystem_name(d))
STR_GETTER(dev_class_name, pt_device_get_class_name(d))
STR_GETTER(dev_driver, pt_device_get_driver(d))
STR_GETTER(dev_driver_override, pt_device_get_driver_override(d))
STR_GETTER(dev_reset_method, pt_device_get_reset_method(d))
STR_GETTER(dev_verdict, pt_verdict_to_string(pt_device_get_verdict(d)))
STR_GETTER(dev_critical, pt_device_get_critical_reason(d))

static int push_opt_int(lua_State *L, long v)
{
	if (v < 0)
		lua_pushnil(L);
	else
		lua_pushinteger(L, v);
	return 1;
}

static int dev_class(lua_State *L) { return push_opt_int(L, pt_device_get_class(DEV(L))); }
static int dev_numa_node(lua_State *L) { return push_opt_int(L, pt_device_get_numa_node(DEV(L))); }
static int dev_header_type(lua_State *L) { return push_opt_int(L, pt_device_get_header_type(DEV(L))); }

static int dev_boot_vga(lua_State *L)
{
	int v = pt_device_get_boot_vga(DEV(L));
	if (v < 0)
		lua_pushnil(L);
	else
		lua_pushboolean(L, v);
	return 1;
}

static int dev_bridge(lua_State *L) { lua_pushboolean(L, pt_device_is_bridge(DEV(L))); return 1; }
static int dev_multifunction(lua_State *L) { lua_pushboolean(L, pt_device_is_multifunction(DEV(L))); return 1; }
static int dev_group(lua_State *L) { push_group(L, pt_device_get_group(DEV(L))); return 1; }
static int dev_parent(lua_State *L) { push_device(L, pt_device_get_parent(DEV(L))); return 1; }
static int dev_physfn(lua_State *L) { push_device(L, pt_device_get_physfn(DEV(L))); return 1; }

static int dev_iommu_group(lua_State *L)
{
	pt_group *g = pt_device_get_group(DEV(L));
	return push_opt_int(L, g ? (long)pt_group_get_number(g) : -1);
}

static int dev_virtfns(lua_State *L)
{
	pt_device *d = DEV(L);
	lua_createtable(L, (int)pt_device_get_virtfn_count(d), 0);
	for (size_t i = 0; i < pt_device_get_virtfn_count(d); i++) {
		push_device(L, pt_device_get_virtfn(d, i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

static int dev_passthrough_set(lua_State *L)
{
	pt_device *d = DEV(L);
	lua_createtable(L, (int)pt_device_get_set_size(d), 0);
	for (size_t i = 0; i < pt_device_get_set_size(d); i++) {
		push_device(L, pt_device_get_set_member(d, i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

/* bars[1..6] are BAR0-5, bars.rom the expansion ROM; sizes in bytes, 0 when unused. */
static int dev_bars(lua_State *L)
{
	pt_device *d = DEV(L);
	lua_createtable(L, 6, 1);
	for (unsigned i = 0; i < 6; i++) {
		lua_pushinteger(L, (lua_Integer)pt_device_get_bar_size(d, i));
		lua_rawseti(L, -2, i + 1);
	}
	lua_pushinteger(L, (lua_Integer)pt_device_get_bar_size(d, 6));
	lua_setfield(L, -2, "rom");
	return 1;
}

static void set_string(lua_State *L, const char *key, const char *value)
{
	if (value) {
		lua_pushstring(L, value);
		lua_setfield(L, -2, key);
	}
}

static void set_integer(lua_State *L, const char *key, lua_Integer value)
{
	lua_pushinteger(L, value);
	lua_setfield(L, -2, key);
}

/* Ids as lspci and the JSON report write them: fixed-width lower-case hex. */
static void set_hex(lua_State *L, const char *key, unsigned long value, int width)
{
	static const char digits[] = "0123456789abcdef";
	char buf[8];

	for (int i = width - 1; i >= 0; i--, value >>= 4)
		buf[i] = digits[value & 0xf];
	lua_pushlstring(L, buf, (size_t)width);
	lua_setfield(L, -2, key);
}

static void set_boolean(lua_State *L, const char *key, int value)
{
	lua_pushboolean(L, value);
	lua_setfield(L, -2, key);
}

/* The addresses of an object's members (a device's VFs or set, a group's members or set). */
typedef pt_device *(*member_at)(const void *obj, size_t i);

static pt_device *virtfn_at(const void *d, size_t i) { return pt_device_get_virtfn(d, i); }
static pt_device *set_member_at(const void *d, size_t i) { return pt_device_get_set_member(d, i); }
static pt_device *group_device_at(const void *g, size_t i) { return pt_group_get_device(g, i); }
static pt_device *group_set_member_at(const void *g, size_t i) { return pt_group_get_set_member(g, i); }

static void set_addresses(lua_State *L, const char *key, size_t n, member_at get, const void *d)
{
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lua_pushstring(L, pt_device_get_address(get(d, i)));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lua_setfield(L, -2, key);
}

/*
 * dev:fields(): every attribute at once as a plain table, shaped as the JSON report has it:
 * ids as hex strings ("10de", class "030000"), devices as addresses, absent ones nil. One
 * call instead of thirty for reports over thousands of functions.
 */
static int dev_fields(lua_State *L)
{
	pt_device *d = DEV(L);
	pt_group *g = pt_device_get_group(d);

	lua_createtable(L, 0, 32);
	set_string(L, "address", pt_device_get_address(d));
	set_integer(L, "domain", pt_device_get_domain(d));
	set_integer(L, "bus", pt_device_get_bus(d));
	set_integer(L, "slot", pt_device_get_slot(d));
	set_integer(L, "func", pt_device_get_function(d));
	set_hex(L, "vendor_id", pt_device_get_vendor_id(d), 4);
	set_hex(L, "device_id", pt_device_get_device_id(d), 4);
	set_hex(L, "subsystem_vendor_id", pt_device_get_subsystem_vendor_id(d), 4);
	set_hex(L, "subsystem_device_id", pt_device_get_subsystem_device_id(d), 4);
	if (pt_device_get_class(d) >= 0)
		set_hex(L, "class", (unsigned long)pt_device_get_class(d), 6);
	set_hex(L, "revision", pt_device_get_revision(d), 2);
	set_string(L, "vendor_name", pt_device_get_vendor_name(d));
	set_string(L, "device_name", pt_device_get_device_name(d));
	set_string(L, "class_name", pt_device_get_class_name(d));
	set_string(L, "driver", pt_device_get_driver(d));
	set_string(L, "driver_override", pt_device_get_driver_override(d));
	if (g)
		set_integer(L, "iommu_group", pt_group_get_number(g));
	if (pt_device_get_boot_vga(d) >= 0)
		set_boolean(L, "boot_vga", pt_device_get_boot_vga(d));
	set_string(L, "reset_method", pt_device_get_reset_method(d));
	if (pt_device_get_numa_node(d) >= 0)
		set_integer(L, "numa_node", pt_device_get_numa_node(d));
	if (pt_device_get_header_type(d) >= 0)
		set_integer(L, "header_type", pt_device_get_header_type(d));
	set_boolean(L, "bridge", pt_device_is_bridge(d));
	set_boolean(L, "multifunction", pt_device_is_multifunction(d));
	if (pt_device_get_parent(d))
		set_string(L, "parent", pt_device_get_address(pt_device_get_parent(d)));
	if (pt_device_get_physfn(d))
		set_string(L, "physfn", pt_device_get_address(pt_device_get_physfn(d)));
	set_addresses(L, "virtfns", pt_device_get_virtfn_count(d), virtfn_at, d);
	set_integer(L, "sriov_totalvfs", pt_device_get_sriov_totalvfs(d));
	set_string(L, "verdict", pt_verdict_to_string(pt_device_get_verdict(d)));
	set_string(L, "critical", pt_device_get_critical_reason(d));
	set_addresses(L, "passthrough_set", pt_device_get_set_size(d), set_member_at, d);
	lua_createtable(L, 6, 0);
	for (unsigned i = 0; i < 6; i++) {
		lua_pushinteger(L, (lua_Integer)pt_device_get_bar_size(d, i));
		lua_rawseti(L, -2, i + 1);
	}
	lua_setfield(L, -2, "bar_sizes");
	set_integer(L, "rom_size", (lua_Integer)pt_device_get_bar_size(d, 6));
	return 1;
}

/* dev:explain(): why the device shares its group, as a plain table. */
static int dev_explain(lua_State *L)
{
	pt_device *d = DEV(L);
	pt_explain *x;
	int r = pt_device_explain(d, &x);

	if (r < 0)
		return fail(L, r, lua_pushfstring(L, "%s: cannot explain its group: %s",
						  pt_device_get_address(d), strerror(-r)));
	lua_createtable(L, 0, 7);
	set_string(L, "device", pt_device_get_address(d));
	set_string(L, "isolation", pt_isolation_to_string(pt_explain_get_isolation(x)));
	if (pt_explain_get_culprit(x))
		set_string(L, "culprit", pt_device_get_address(pt_explain_get_culprit(x)));
	set_string(L, "reason", pt_explain_get_reason(x));
	lua_createtable(L, (int)pt_explain_get_step_count(x), 0);
	for (size_t i = 0; i < pt_explain_get_step_count(x); i++) {
		lua_createtable(L, 0, 2);
		set_string(L, "device", pt_device_get_address(pt_explain_get_step_device(x, i)));
		set_string(L, "text", pt_explain_get_step_text(x, i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lua_setfield(L, -2, "steps");
	lua_createtable(L, (int)pt_explain_get_fix_count(x), 0);
	for (size_t i = 0; i < pt_explain_get_fix_count(x); i++) {
		lua_pushstring(L, pt_explain_get_fix(x, i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lua_setfield(L, -2, "fixes");
	lua_createtable(L, (int)pt_explain_get_slot_count(x), 0);
	for (size_t i = 0; i < pt_explain_get_slot_count(x); i++) {
		lua_pushstring(L, pt_device_get_address(pt_explain_get_slot(x, i)));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lua_setfield(L, -2, "slots");
	pt_explain_unref(x);
	return 1;
}

/* dev:acs(): {cap =, ctrl =} or nil, message, errno (ENOENT absent, EACCES unreadable). */
static int dev_acs(lua_State *L)
{
	pt_device *d = DEV(L);
	uint16_t cap, ctrl;
	int r = pt_device_get_acs(d, &cap, &ctrl);

	if (r < 0)
		return fail(L, r, lua_pushfstring(L, "%s: %s", pt_device_get_address(d),
						  r == -EACCES ? "config space unreadable (not root?)"
							       : "no ACS capability"));
	lua_createtable(L, 0, 2);
	set_integer(L, "cap", cap);
	set_integer(L, "ctrl", ctrl);
	return 1;
}

/* dev:check_take([{force = bool}]): true, or nil, "refused: ...", EBUSY. */
static int dev_check_take(lua_State *L)
{
	pt_device *d = DEV(L);
	unsigned flags = 0;

	if (!lua_isnoneornil(L, 2)) {
		luaL_checktype(L, 2, LUA_TTABLE);
		lua_pushnil(L);
		while (lua_next(L, 2)) {
			if (lua_type(L, -2) != LUA_TSTRING || strcmp(lua_tostring(L, -2), "force") != 0)
				return luaL_argerror(L, 2, lua_pushfstring(L, "unknown option '%s'",
									  luaL_tolstring(L, -2, NULL)));
			lua_pop(L, 1);
		}
		lua_getfield(L, 2, "force");
		if (lua_toboolean(L, -1))
			flags |= PT_TAKE_FORCE;
	}
	int r = pt_device_check_take(d, flags);
	if (r < 0)
		return fail(L, r, pt_ctx_last_error(pt_enum_get_context(pt_device_get_enum(d))));
	lua_pushboolean(L, 1);
	return 1;
}

/* dev:set_sriov_numvfs(n): true, or nil, message, errno. */
static int dev_set_numvfs(lua_State *L)
{
	pt_device *d = DEV(L);
	lua_Integer n = luaL_checkinteger(L, 2);
	luaL_argcheck(L, n >= 0 && n <= 0xffff, 2, "out of range");
	int r = pt_device_set_sriov_numvfs(d, (unsigned)n);
	if (r < 0)
		return fail(L, r, pt_ctx_last_error(pt_enum_get_context(pt_device_get_enum(d))));
	lua_pushboolean(L, 1);
	return 1;
}

static int dev_pcie_type(lua_State *L)
{
	lua_pushstring(L, pt_pcie_type_to_string(pt_device_get_pcie_type(DEV(L))));
	return 1;
}

static int dev_tostring(lua_State *L)
{
	box *b = luaL_checkudata(L, 1, DEVICE_MT);
	lua_pushfstring(L, "pt.Device(%s)", b->p ? pt_device_get_address(b->p) : "closed");
	return 1;
}

static int dev_eq(lua_State *L)
{
	box *a = luaL_testudata(L, 1, DEVICE_MT), *b = luaL_testudata(L, 2, DEVICE_MT);
	lua_pushboolean(L, a && b && a->p == b->p);
	return 1;
}

/* ---- pt.Group ---- */

#define GRP(L) ((pt_group *)check_open(L, 1, GROUP_MT))

static int group_number(lua_State *L) { lua_pushinteger(L, pt_group_get_number(GRP(L))); return 1; }
static int group_type(lua_State *L) { push_opt_string(L, pt_group_get_type(GRP(L))); return 1; }

static int group_devices(lua_State *L)
{
	pt_group *g = GRP(L);
	lua_createtable(L, (int)pt_group_get_device_count(g), 0);
	for (size_t i = 0; i < pt_group_get_device_count(g); i++) {
		push_device(L, pt_group_get_device(g, i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

static int group_passthrough_set(lua_State *L)
{
	pt_group *g = GRP(L);
	lua_createtable(L, (int)pt_group_get_set_size(g), 0);
	for (size_t i = 0; i < pt_group_get_set_size(g); i++) {
		push_device(L, pt_group_get_set_member(g, i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

/* g:fields(): {number, type, devices = {addresses}, passthrough_set = {addresses}} in one call. */
static int group_fields(lua_State *L)
{
	pt_group *g = GRP(L);
	lua_createtable(L, 0, 4);
	set_integer(L, "number", pt_group_get_number(g));
	set_string(L, "type", pt_group_get_type(g));
	set_addresses(L, "devices", pt_group_get_device_count(g), group_device_at, g);
	set_addresses(L, "passthrough_set", pt_group_get_set_size(g), group_set_member_at, g);
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

/* ---- transactions ---- */

struct txn_opts {
	lua_Integer vm;
	unsigned flags;
	lua_Integer timeout_ms;
};

/* {vm = 100, dry_run = bool, force = bool, timeout_ms = n}; unknown keys are misuse. */
static void txn_options(lua_State *L, int idx, struct txn_opts *o, bool allow_force)
{
	static const char *const keys[] = { "vm", "dry_run", "force", "timeout_ms", "root", NULL };
	luaL_checktype(L, idx, LUA_TTABLE);
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		int known = 0;
		for (int i = 0; keys[i] && lua_type(L, -2) == LUA_TSTRING; i++)
			known |= strcmp(lua_tostring(L, -2), keys[i]) == 0 &&
				 (allow_force || strcmp(keys[i], "force") != 0);
		if (!known)
			luaL_argerror(L, idx, lua_pushfstring(L, "unknown option '%s'", luaL_tolstring(L, -2, NULL)));
		lua_pop(L, 1);
	}
	lua_getfield(L, idx, "vm");
	o->vm = luaL_checkinteger(L, -1);
	lua_getfield(L, idx, "dry_run");
	o->flags = lua_toboolean(L, -1) ? PT_TXN_DRY_RUN : 0;
	lua_getfield(L, idx, "force");
	o->flags |= lua_toboolean(L, -1) ? PT_TXN_FORCE : 0;
	lua_getfield(L, idx, "timeout_ms");
	o->timeout_ms = luaL_optinteger(L, -1, 0);
	lua_pop(L, 4);
	if (o->vm < 0 || o->vm > 0xffffffffLL)
		luaL_argerror(L, idx, "vm out of range");
}

/* pt.bind(device, {vm = 100, dry_run = true, force = false}): a transaction to commit. */
static int pt_lua_bind(lua_State *L)
{
	pt_device *d = check_open(L, 1, DEVICE_MT);
	struct txn_opts o;
	pt_txn *t;

	txn_options(L, 2, &o, true);
	int r = pt_txn_new_bind(d, (unsigned)o.vm, o.flags, &t);
	if (r < 0)
		return fail(L, r, pt_ctx_last_error(pt_enum_get_context(pt_device_get_enum(d))));
	if (o.timeout_ms > 0)
		pt_txn_set_timeout(t, (unsigned)o.timeout_ms);
	push_box(L, t, TXN_MT);
	lua_pushvalue(L, 1); /* errors are read from the device's context */
	lua_setiuservalue(L, -2, 1);
	return 1;
}

static int txn_plan_at(lua_State *L, int idx)
{
	pt_txn *t = check_open(L, idx, TXN_MT);
	size_t n = pt_txn_get_step_count(t);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lua_pushstring(L, pt_txn_get_step(t, i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

static int txn_plan(lua_State *L)
{
	return txn_plan_at(L, 1);
}

static int txn_devices(lua_State *L)
{
	pt_txn *t = check_open(L, 1, TXN_MT);
	lua_createtable(L, (int)pt_txn_get_device_count(t), 0);
	for (size_t i = 0; i < pt_txn_get_device_count(t); i++) {
		lua_pushstring(L, pt_txn_get_device(t, i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

static int txn_commit(lua_State *L)
{
	pt_txn *t = check_open(L, 1, TXN_MT);
	int r = pt_txn_commit(t);
	if (r < 0) {
		lua_getiuservalue(L, 1, 1);
		pt_ctx *ctx = luaL_testudata(L, -1, DEVICE_MT) ?
			      pt_enum_get_context(pt_device_get_enum(check_open(L, -1, DEVICE_MT))) :
			      check_open(L, -1, CTX_MT);
		return fail(L, r, pt_ctx_last_error(ctx));
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* pt.restore{vm = 100 [, dry_run = true] [, root = DIR]}: gives back what the journal says the
 * VM holds. Returns the devices given back, or with dry_run the plan, writing nothing. */
static int pt_lua_restore(lua_State *L)
{
	struct txn_opts o;
	pt_txn *t;

	txn_options(L, 1, &o, false);
	lua_getfield(L, 1, "root");
	lua_newtable(L);
	lua_insert(L, -2);
	lua_setfield(L, -2, "root");
	lua_replace(L, 1);
	lua_settop(L, 1);
	if (pt_lua_context(L) != 1)
		return 3;
	pt_ctx *ctx = check_open(L, -1, CTX_MT);
	int r = pt_txn_new_restore(ctx, (unsigned)o.vm, o.flags, &t);
	if (r < 0)
		return fail(L, r, pt_ctx_last_error(ctx));
	if (o.timeout_ms > 0)
		pt_txn_set_timeout(t, (unsigned)o.timeout_ms);
	push_box(L, t, TXN_MT);
	lua_pushvalue(L, -2);
	lua_setiuservalue(L, -2, 1);
	if (o.flags & PT_TXN_DRY_RUN)
		return txn_plan_at(L, lua_gettop(L));
	lua_pushcfunction(L, txn_commit);
	lua_pushvalue(L, -2);
	lua_call(L, 1, 3);
	if (lua_isnil(L, -3))
		return 3;
	lua_pop(L, 3);
	lua_replace(L, 1);
	lua_settop(L, 1);
	return txn_devices(L);
}

/* pt.write_file(path, content [, {backup = true, root = DIR}]): atomic, under the root.
 * Returns true and the backup's path, or nil, message, errno. */
static int pt_lua_write_file(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	const char *content = luaL_checkstring(L, 2);
	pt_opts opts = { .size = sizeof(opts) };
	unsigned flags = 0;
	char *backup = NULL;
	pt_ctx *ctx;

	if (!lua_isnoneornil(L, 3)) {
		luaL_checktype(L, 3, LUA_TTABLE);
		lua_getfield(L, 3, "backup");
		flags = lua_toboolean(L, -1) ? PT_WRITE_BACKUP : 0;
		lua_getfield(L, 3, "root");
		opts.root = luaL_optstring(L, -1, NULL);
	}
	if (!opts.root) {
		lua_getfield(L, LUA_REGISTRYINDEX, ROOT_KEY);
		opts.root = lua_tostring(L, -1);
	}
	int r = pt_ctx_new(&ctx, &opts);
	if (r < 0)
		return fail(L, r, lua_pushfstring(L, "%s: %s", opts.root ? opts.root : "/", strerror(-r)));
	r = pt_ctx_write_file(ctx, path, content, flags, &backup);
	if (r < 0) {
		lua_pushstring(L, pt_ctx_last_error(ctx));
		pt_ctx_unref(ctx);
		return fail(L, r, lua_tostring(L, -1));
	}
	pt_ctx_unref(ctx);
	lua_pushboolean(L, 1);
	push_opt_string(L, backup);
	free(backup);
	return 2;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* pt.listdir(path): the names in a directory under the root, sorted, without . and .. */
static int pt_lua_listdir(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	lua_getfield(L, LUA_REGISTRYINDEX, ROOT_KEY);
	const char *root = lua_isstring(L, -1) ? lua_tostring(L, -1) : "/";
	const char *full = lua_pushfstring(L, "%s/%s", strcmp(root, "/") == 0 ? "" : root,
					   path[0] == '/' ? path + 1 : path);
	DIR *dir = opendir(full);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;

	if (!dir)
		return fail(L, -errno, lua_pushfstring(L, "%s: %s", full, strerror(errno)));
	while ((de = readdir(dir))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char **more = realloc(names, (n + 1) * sizeof(*names));
		if (!more || !(more[n] = strdup(de->d_name))) {
			names = more ? more : names;
			break;
		}
		names = more;
		n++;
	}
	closedir(dir);
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

/* pt.readlink(path): a link's target, the path read under the root. */
static int pt_lua_readlink(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	char target[PATH_MAX];
	lua_getfield(L, LUA_REGISTRYINDEX, ROOT_KEY);
	const char *root = lua_isstring(L, -1) ? lua_tostring(L, -1) : "/";
	const char *full = lua_pushfstring(L, "%s/%s", strcmp(root, "/") == 0 ? "" : root,
					   path[0] == '/' ? path + 1 : path);
	ssize_t n = readlink(full, target, sizeof(target) - 1);
	if (n < 0)
		return fail(L, -errno, lua_pushfstring(L, "%s: %s", full, strerror(errno)));
	lua_pushlstring(L, target, (size_t)n);
	return 1;
}

/* pt.read_file(path): a whole file as the caller names it (a report given on the command
 * line); nil, message, errno when it cannot be read. */
static int pt_lua_read_file(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	FILE *f = fopen(path, "re");
	luaL_Buffer b;
	size_t n;

	if (!f)
		return fail(L, -errno, lua_pushfstring(L, "%s: %s", path, strerror(errno)));
	luaL_buffinit(L, &b);
	do {
		char *p = luaL_prepbuffer(&b);
		n = fread(p, 1, LUAL_BUFFERSIZE, f);
		luaL_addsize(&b, n);
	} while (n == LUAL_BUFFERSIZE);
	int err = ferror(f) ? errno : 0;
	fclose(f);
	if (err)
		return fail(L, -err, lua_pushfstring(L, "%s: %s", path, strerror(err)));
	luaL_pushresult(&b);
	return 1;
}

/* pt.syslog(message): to the system log as "libpt", at notice priority. */
static int pt_lua_syslog(lua_State *L)
{
	const char *msg = luaL_checkstring(L, 1);
	openlog("libpt", LOG_PID, LOG_DAEMON);
	syslog(LOG_NOTICE, "%s", msg);
	closelog();
	return 0;
}

/* ---- USB ---- */

static void set_hex(lua_State *L, const char *key, unsigned long value, int width);

/* inv:usb(): the USB devices, as plain tables. */
static int enum_usb(lua_State *L)
{
	pt_enum *e = check_open(L, 1, ENUM_MT);
	size_t n = pt_enum_get_usb_count(e);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		pt_usb *u = pt_enum_get_usb(e, i);
		lua_createtable(L, 0, 14);
		set_string(L, "port", pt_usb_get_port(u));
		set_integer(L, "bus", pt_usb_get_bus(u));
		set_integer(L, "devnum", pt_usb_get_devnum(u));
		set_integer(L, "speed", pt_usb_get_speed(u));
		set_hex(L, "vendor_id", pt_usb_get_vendor_id(u), 4);
		set_hex(L, "product_id", pt_usb_get_product_id(u), 4);
		set_string(L, "manufacturer", pt_usb_get_manufacturer(u));
		set_string(L, "product", pt_usb_get_product(u));
		set_string(L, "serial", pt_usb_get_serial(u));
		set_string(L, "vendor_name", pt_usb_get_vendor_name(u));
		set_string(L, "product_name", pt_usb_get_product_name(u));
		set_string(L, "node", pt_usb_get_node(u));
		set_string(L, "interfaces", pt_usb_get_interfaces(u));
		if (pt_usb_get_controller(u))
			set_string(L, "controller", pt_device_get_address(pt_usb_get_controller(u)));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

/* pt.qmp{vm = 100 | socket = PATH [, timeout_ms = N]}: a QMP connection, or nil, msg, errno. */
static int pt_lua_qmp(lua_State *L)
{
	pt_opts opts = { .size = sizeof(opts) };
	pt_ctx *ctx;
	pt_qmp *q;

	luaL_checktype(L, 1, LUA_TTABLE);
	lua_getfield(L, 1, "socket");
	const char *socket = luaL_optstring(L, -1, NULL);
	lua_getfield(L, 1, "vm");
	lua_Integer vm = luaL_optinteger(L, -1, 0);
	lua_getfield(L, 1, "timeout_ms");
	lua_Integer timeout = luaL_optinteger(L, -1, 0);
	if (!socket && !vm)
		return luaL_argerror(L, 1, "needs vm or socket");
	lua_getfield(L, LUA_REGISTRYINDEX, ROOT_KEY);
	opts.root = lua_tostring(L, -1);
	int r = pt_ctx_new(&ctx, &opts);
	if (r < 0)
		return fail(L, r, NULL);
	r = pt_qmp_connect(ctx, socket, (unsigned)vm, &q);
	if (r < 0) {
		lua_pushstring(L, pt_ctx_last_error(ctx));
		pt_ctx_unref(ctx);
		return fail(L, r, lua_tostring(L, -1));
	}
	if (timeout > 0)
		pt_qmp_set_timeout(q, (unsigned)timeout);
	push_box(L, q, QMP_MT);
	push_box(L, ctx, CTX_MT); /* errors are read from it */
	lua_setiuservalue(L, -2, 1);
	return 1;
}

static pt_ctx *qmp_ctx(lua_State *L)
{
	lua_getiuservalue(L, 1, 1);
	pt_ctx *ctx = check_open(L, -1, CTX_MT);
	lua_pop(L, 1);
	return ctx;
}

/* q:attach{id = "usb0", usb_id = "10c4:ea60"} or {id =, bus = 1, port = "2.3"} */
static int qmp_attach(lua_State *L)
{
	pt_qmp *q = check_open(L, 1, QMP_MT);
	pt_usb_match m = { 0 };
	unsigned v, p;

	luaL_checktype(L, 2, LUA_TTABLE);
	lua_getfield(L, 2, "id");
	const char *id = luaL_checkstring(L, -1);
	lua_getfield(L, 2, "usb_id");
	const char *usb_id = luaL_optstring(L, -1, NULL);
	lua_getfield(L, 2, "port");
	m.port = luaL_optstring(L, -1, NULL);
	lua_getfield(L, 2, "bus");
	m.bus = (unsigned)luaL_optinteger(L, -1, 0);
	if (usb_id) {
		if (sscanf(usb_id, "%4x:%4x", &v, &p) != 2)
			return luaL_argerror(L, 2, "usb_id must be VVVV:PPPP");
		m.vendor = (uint16_t)v;
		m.product = (uint16_t)p;
	} else if (!m.port || !m.bus)
		return luaL_argerror(L, 2, "needs usb_id, or bus and port");
	int r = pt_qmp_usb_attach(q, id, &m);
	if (r < 0)
		return fail(L, r, pt_ctx_last_error(qmp_ctx(L)));
	lua_pushboolean(L, 1);
	return 1;
}

static int qmp_detach(lua_State *L)
{
	pt_qmp *q = check_open(L, 1, QMP_MT);
	int r = pt_qmp_detach(q, luaL_checkstring(L, 2));
	if (r < 0)
		return fail(L, r, pt_ctx_last_error(qmp_ctx(L)));
	lua_pushboolean(L, 1);
	return 1;
}

/* q:list(): {{id =, vendor_id =, product_id =, bus =, port =}...} */
static int qmp_list(lua_State *L)
{
	pt_qmp *q = check_open(L, 1, QMP_MT);
	char **list;
	size_t n;
	int r = pt_qmp_usb_list(q, &list, &n);
	if (r < 0)
		return fail(L, r, pt_ctx_last_error(qmp_ctx(L)));
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		char id[128], port[64];
		unsigned v = 0, p = 0;
		int bus = 0;
		if (sscanf(list[i], "%127s vendorid=%x productid=%x hostbus=%d hostport=%63s", id, &v, &p, &bus, port) == 5) {
			lua_createtable(L, 0, 5);
			set_string(L, "id", id);
			set_hex(L, "vendor_id", v, 4);
			set_hex(L, "product_id", p, 4);
			set_integer(L, "bus", bus);
			set_string(L, "port", strcmp(port, "-") ? port : NULL);
			lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
		}
		free(list[i]);
	}
	free(list);
	return 1;
}

/* pt.monitor(): USB devices coming and going; m:next(timeout_ms) gives an event table, or nil
 * when nothing came. */
static int pt_lua_monitor(lua_State *L)
{
	pt_opts opts = { .size = sizeof(opts) };
	pt_ctx *ctx;
	pt_monitor *m;
	int r = pt_ctx_new(&ctx, &opts);
	if (r < 0)
		return fail(L, r, NULL);
	r = pt_monitor_new(ctx, &m);
	if (r < 0) {
		lua_pushstring(L, pt_ctx_last_error(ctx));
		pt_ctx_unref(ctx);
		return fail(L, r, lua_tostring(L, -1));
	}
	pt_ctx_unref(ctx);
	push_box(L, m, MONITOR_MT);
	return 1;
}

static int monitor_next(lua_State *L)
{
	pt_monitor *m = check_open(L, 1, MONITOR_MT);
	lua_Integer timeout = luaL_optinteger(L, 2, 1000);
	pt_usb_event ev;
	int r = pt_monitor_receive(m, (unsigned)(timeout < 0 ? 0 : timeout), &ev);
	if (r < 0)
		return fail(L, r, NULL);
	if (r == 0) {
		lua_pushnil(L);
		return 1;
	}
	lua_createtable(L, 0, 6);
	set_string(L, "action", ev.action);
	set_string(L, "port", ev.port);
	set_integer(L, "bus", ev.bus);
	set_hex(L, "vendor_id", ev.vendor, 4);
	set_hex(L, "product_id", ev.product, 4);
	set_string(L, "serial", ev.serial[0] ? ev.serial : NULL);
	return 1;
}

/* ---- the module ---- */

void pt_lua_set_root(lua_State *L, const char *root)
{
	lua_pushstring(L, root);
	lua_setfield(L, LUA_REGISTRYINDEX, ROOT_KEY);
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
	static const luaL_Reg funcs[] = {
		{ "context", pt_lua_context },
		{ "scan", pt_lua_scan },
		{ "root", pt_lua_root },
		{ "bind", pt_lua_bind },
		{ "restore", pt_lua_restore },
		{ "write_file", pt_lua_write_file },
		{ "listdir", pt_lua_listdir },
		{ "readlink", pt_lua_readlink },
		{ "read_file", pt_lua_read_file },
		{ "syslog", pt_lua_syslog },
		{ "qmp", pt_lua_qmp },
		{ "monitor", pt_lua_monitor },
		{ NULL, NULL },
	};
	static const luaL_Reg ctx_methods[] = { { "scan", ctx_scan }, { NULL, NULL } };
	static const luaL_Reg ctx_getters[] = { { "root", ctx_root }, { NULL, NULL } };
	static const luaL_Reg enum_methods[] = {
		{ "devices", enum_devices }, { "groups", enum_groups },
		{ "device", enum_device },   { "group", enum_group },
		{ "has_iommu", enum_has_iommu }, { "warnings", enum_warnings },
		{ "count", enum_count },     { "group_count", enum_group_count },
		{ "doctor", enum_doctor }, { "usb", enum_usb },
		{ NULL, NULL },
	};
	static const luaL_Reg dev_getters[] = {
		{ "address", dev_address },
		{ "domain", dev_domain },
		{ "bus", dev_bus },
		{ "slot", dev_slot },
		{ "func", dev_function },
		{ "vendor_id", dev_vendor_id },
		{ "device_id", dev_device_id },
		{ "subsystem_vendor_id", dev_subvendor_id },
		{ "subsystem_device_id", dev_subdevice_id },
		{ "class", dev_class },
		{ "revision", dev_revision },
		{ "vendor_name", dev_vendor_name },
		{ "device_name", dev_device_name },
		{ "subsystem_name", dev_subsystem_name },
		{ "class_name", dev_class_name },
		{ "driver", dev_driver },
		{ "driver_override", dev_driver_override },
		{ "group", dev_group },
		{ "iommu_group", dev_iommu_group },
		{ "boot_vga", dev_boot_vga },
		{ "reset_method", dev_reset_method },
		{ "numa_node", dev_numa_node },
		{ "bars", dev_bars },
		{ "header_type", dev_header_type },
		{ "bridge", dev_bridge },
		{ "multifunction", dev_multifunction },
		{ "parent", dev_parent },
		{ "physfn", dev_physfn },
		{ "virtfns", dev_virtfns },
		{ "sriov_totalvfs", dev_sriov_totalvfs },
		{ "verdict", dev_verdict },
		{ "passthrough_set", dev_passthrough_set },
		{ "pcie_type", dev_pcie_type },
		{ "critical", dev_critical },
		{ NULL, NULL },
	};
	static const luaL_Reg dev_methods[] = {
		{ "fields", dev_fields }, { "explain", dev_explain }, { "acs", dev_acs },
		{ "check_take", dev_check_take }, { "set_sriov_numvfs", dev_set_numvfs },
		{ NULL, NULL },
	};
	static const luaL_Reg group_getters[] = {
		{ "number", group_number },
		{ "type", group_type },
		{ "devices", group_devices },
		{ "passthrough_set", group_passthrough_set },
		{ NULL, NULL },
	};

	new_class(L, CTX_MT, ctx_methods, ctx_getters, ctx_close, ctx_tostring);
	new_class(L, ENUM_MT, enum_methods, NULL, enum_close, enum_tostring);
	new_class(L, DEVICE_MT, dev_methods, dev_getters, device_close, dev_tostring);
	luaL_getmetatable(L, DEVICE_MT);
	lua_pushcfunction(L, dev_eq);
	lua_setfield(L, -2, "__eq");
	lua_pop(L, 1);
	static const luaL_Reg group_methods[] = { { "fields", group_fields }, { NULL, NULL } };
	new_class(L, GROUP_MT, group_methods, group_getters, group_close, group_tostring);
	static const luaL_Reg txn_methods[] = {
		{ "plan", txn_plan }, { "commit", txn_commit }, { NULL, NULL },
	};
	static const luaL_Reg txn_getters[] = { { "devices", txn_devices }, { NULL, NULL } };
	new_class(L, TXN_MT, txn_methods, txn_getters, txn_close, NULL);
	static const luaL_Reg qmp_methods[] = {
		{ "attach", qmp_attach }, { "detach", qmp_detach }, { "list", qmp_list }, { NULL, NULL },
	};
	new_class(L, QMP_MT, qmp_methods, NULL, qmp_close, NULL);
	static const luaL_Reg monitor_methods[] = { { "next", monitor_next }, { NULL, NULL } };
	new_class(L, MONITOR_MT, monitor_methods, NULL, monitor_close, NULL);
	luaL_newmetatable(L, ITER_MT);
	lua_pushcfunction(L, iter_close);
	lua_setfield(L, -2, "__gc");
	lua_pushcfunction(L, iter_close);
	lua_setfield(L, -2, "__close");
	lua_pop(L, 1);

	luaL_newlib(L, funcs);
	/* pt.usb is the Lua module pt.usb, loaded when first used */
	lua_createtable(L, 0, 1);
	luaL_loadstring(L, "local t, k = ... if k == 'usb' then local m = require('pt.usb') rawset(t, k, m) return m end");
	lua_setfield(L, -2, "__index");
	lua_setmetatable(L, -2);
	return 1;
}
