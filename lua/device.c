/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A PCI device of a snapshot for Lua (pt.Device): its attributes as fields, what passing it
 * through implies, its link and local CPUs, the explanation of its group, the guard's word, and
 * its VFs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pt-lua-private.h"

CLOSER(device_close, DEVICE_MT, pt_device_unref)

static pt_device *virtfn_at(const void *d, size_t i) { return pt_device_get_virtfn(d, i); }

#define DEV(L) ((pt_device *)pt_lua_check_open(L, 1, DEVICE_MT))
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
		pt_lua_push_opt_string(L, (expr));     \
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
STR_GETTER(dev_kind, pt_device_get_kind(d))
STR_GETTER(dev_driver, pt_device_get_driver(d))
STR_GETTER(dev_driver_override, pt_device_get_driver_override(d))
STR_GETTER(dev_reset_method, pt_device_get_reset_method(d))
STR_GETTER(dev_reset_bug, pt_device_get_reset_bug(d))
STR_GETTER(dev_verdict, pt_verdict_to_string(pt_device_get_verdict(d)))
STR_GETTER(dev_critical, pt_device_get_critical_reason(d))
STR_GETTER(dev_variant_driver, pt_device_get_variant_driver(d))
STR_GETTER(dev_vfio_cdev, pt_device_get_vfio_cdev(d))
STR_GETTER(dev_power_state, pt_device_get_power_state(d))

static int dev_d3cold_allowed(lua_State *L)
{
	int v = pt_device_get_d3cold_allowed(DEV(L));
	if (v < 0)
		lua_pushnil(L);
	else
		lua_pushboolean(L, v);
	return 1;
}

/* dev.critical_kinds: why the host needs it, as words ("boot-vga", "console", "storage",
 * "network", "keyboard"); empty when it can spare it. */
static int dev_critical_kinds(lua_State *L)
{
	static const struct { unsigned bit; const char *word; } kinds[] = {
		{ PT_CRITICAL_BOOT_VGA, "boot-vga" }, { PT_CRITICAL_CONSOLE, "console" },
		{ PT_CRITICAL_STORAGE, "storage" },   { PT_CRITICAL_NETWORK, "network" },
		{ PT_CRITICAL_KEYBOARD, "keyboard" },
	};
	unsigned mask = pt_device_get_critical(DEV(L));
	int n = 0;

	lua_newtable(L);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(*kinds); i++)
		if (mask & kinds[i].bit) {
			lua_pushstring(L, kinds[i].word);
			lua_rawseti(L, -2, ++n);
		}
	return 1;
}


static int dev_class(lua_State *L) { return pt_lua_push_opt_int(L, pt_device_get_class(DEV(L))); }
static int dev_numa_node(lua_State *L) { return pt_lua_push_opt_int(L, pt_device_get_numa_node(DEV(L))); }
static int dev_header_type(lua_State *L) { return pt_lua_push_opt_int(L, pt_device_get_header_type(DEV(L))); }

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
static int dev_group(lua_State *L) { pt_lua_push_group(L, pt_device_get_group(DEV(L))); return 1; }
static int dev_parent(lua_State *L) { pt_lua_push_device(L, pt_device_get_parent(DEV(L))); return 1; }
static int dev_physfn(lua_State *L) { pt_lua_push_device(L, pt_device_get_physfn(DEV(L))); return 1; }

static int dev_iommu_group(lua_State *L)
{
	pt_group *g = pt_device_get_group(DEV(L));
	return pt_lua_push_opt_int(L, g ? (long)pt_group_get_number(g) : -1);
}

static int dev_virtfns(lua_State *L)
{
	pt_device *d = DEV(L);
	lua_createtable(L, (int)pt_device_get_virtfn_count(d), 0);
	for (size_t i = 0; i < pt_device_get_virtfn_count(d); i++) {
		pt_lua_push_device(L, pt_device_get_virtfn(d, i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

static int dev_passthrough_set(lua_State *L)
{
	pt_device *d = DEV(L);
	lua_createtable(L, (int)pt_device_get_set_size(d), 0);
	for (size_t i = 0; i < pt_device_get_set_size(d); i++) {
		pt_lua_push_device(L, pt_device_get_set_member(d, i));
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

/*
 * dev:fields(): every attribute at once as a plain table, shaped as the JSON report has it:
 * ids as hex strings ("10de", class "030000"), devices as addresses, absent ones nil. One
 * call instead of thirty for reports over thousands of functions. The passthrough set is the
 * group's (g:fields()), not repeated for each member.
 */
static int dev_fields(lua_State *L)
{
	pt_device *d = DEV(L);
	pt_group *g = pt_device_get_group(d);

	lua_createtable(L, 0, 32);
	pt_lua_set_string(L, "address", pt_device_get_address(d));
	pt_lua_set_integer(L, "domain", pt_device_get_domain(d));
	pt_lua_set_integer(L, "bus", pt_device_get_bus(d));
	pt_lua_set_integer(L, "slot", pt_device_get_slot(d));
	pt_lua_set_integer(L, "func", pt_device_get_function(d));
	pt_lua_set_hex(L, "vendor_id", pt_device_get_vendor_id(d), 4);
	pt_lua_set_hex(L, "device_id", pt_device_get_device_id(d), 4);
	pt_lua_set_hex(L, "subsystem_vendor_id", pt_device_get_subsystem_vendor_id(d), 4);
	pt_lua_set_hex(L, "subsystem_device_id", pt_device_get_subsystem_device_id(d), 4);
	if (pt_device_get_class(d) >= 0)
		pt_lua_set_hex(L, "class", (unsigned long)pt_device_get_class(d), 6);
	pt_lua_set_hex(L, "revision", pt_device_get_revision(d), 2);
	pt_lua_set_string(L, "vendor_name", pt_device_get_vendor_name(d));
	pt_lua_set_string(L, "device_name", pt_device_get_device_name(d));
	pt_lua_set_string(L, "class_name", pt_device_get_class_name(d));
	pt_lua_set_string(L, "kind", pt_device_get_kind(d));
	pt_lua_set_string(L, "driver", pt_device_get_driver(d));
	pt_lua_set_string(L, "driver_override", pt_device_get_driver_override(d));
	if (g)
		pt_lua_set_integer(L, "iommu_group", pt_group_get_number(g));
	if (pt_device_get_boot_vga(d) >= 0)
		pt_lua_set_boolean(L, "boot_vga", pt_device_get_boot_vga(d));
	pt_lua_set_string(L, "reset_method", pt_device_get_reset_method(d));
	if (pt_device_get_numa_node(d) >= 0)
		pt_lua_set_integer(L, "numa_node", pt_device_get_numa_node(d));
	if (pt_device_get_header_type(d) >= 0)
		pt_lua_set_integer(L, "header_type", pt_device_get_header_type(d));
	pt_lua_set_boolean(L, "bridge", pt_device_is_bridge(d));
	pt_lua_set_boolean(L, "multifunction", pt_device_is_multifunction(d));
	if (pt_device_get_parent(d))
		pt_lua_set_string(L, "parent", pt_device_get_address(pt_device_get_parent(d)));
	if (pt_device_get_physfn(d))
		pt_lua_set_string(L, "physfn", pt_device_get_address(pt_device_get_physfn(d)));
	pt_lua_set_addresses(L, "virtfns", pt_device_get_virtfn_count(d), virtfn_at, d);
	pt_lua_set_integer(L, "sriov_totalvfs", pt_device_get_sriov_totalvfs(d));
	pt_lua_set_string(L, "verdict", pt_verdict_to_string(pt_device_get_verdict(d)));
	pt_lua_set_string(L, "critical", pt_device_get_critical_reason(d));
	lua_createtable(L, 6, 0);
	for (unsigned i = 0; i < 6; i++) {
		lua_pushinteger(L, (lua_Integer)pt_device_get_bar_size(d, i));
		lua_rawseti(L, -2, i + 1);
	}
	lua_setfield(L, -2, "bar_sizes");
	pt_lua_set_integer(L, "rom_size", (lua_Integer)pt_device_get_bar_size(d, 6));
	size_t n = pt_device_get_flag_count(d);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lua_pushstring(L, pt_device_get_flag(d, i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lua_setfield(L, -2, "flags");
	return 1;
}

/* dev:link(): its PCIe link {width, max_width, speed, max_speed (MT/s), state = "ok" | "narrow" |
 * "slow", why} (pt_device_get_link, pt_device_check_link); nil without link attributes. */
static int dev_link(lua_State *L)
{
	pt_device *d = DEV(L);
	pt_link k = PT_INIT(pt_link);
	char *why = NULL;

	if (pt_device_get_link(d, &k) < 0) {
		lua_pushnil(L);
		return 1;
	}
	int r = pt_device_check_link(d, &why);
	lua_createtable(L, 0, 6);
	pt_lua_set_integer(L, "width", k.width);
	pt_lua_set_integer(L, "max_width", k.max_width);
	pt_lua_set_integer(L, "speed", k.speed);
	pt_lua_set_integer(L, "max_speed", k.max_speed);
	pt_lua_set_string(L, "state", r == 1 ? "narrow" : r == 2 ? "slow" : r == 0 ? "ok" : "unknown");
	pt_lua_set_string(L, "why", why);
	free(why);
	return 1;
}

/* dev:local_cpus(): the CPUs local to it ("0-7,16-23"), or nil (pt_device_get_local_cpus). */
static int dev_local_cpus(lua_State *L)
{
	lua_pushstring(L, pt_device_get_local_cpus(DEV(L)));
	return 1;
}

/* dev:explain(): why the device shares its group, as a plain table. */
static int dev_explain(lua_State *L)
{
	pt_device *d = DEV(L);
	pt_explain *x;
	int r = pt_device_explain(d, &x);

	if (r < 0)
		return pt_lua_fail(L, r, lua_pushfstring(L, "%s: cannot explain its group: %s",
						  pt_device_get_address(d), strerror(-r)));
	lua_createtable(L, 0, 7);
	pt_lua_set_string(L, "device", pt_device_get_address(d));
	pt_lua_set_string(L, "isolation", pt_isolation_to_string(pt_explain_get_isolation(x)));
	if (pt_explain_get_culprit(x))
		pt_lua_set_string(L, "culprit", pt_device_get_address(pt_explain_get_culprit(x)));
	pt_lua_set_string(L, "reason", pt_explain_get_reason(x));
	lua_createtable(L, (int)pt_explain_get_step_count(x), 0);
	for (size_t i = 0; i < pt_explain_get_step_count(x); i++) {
		lua_createtable(L, 0, 2);
		pt_lua_set_string(L, "device", pt_device_get_address(pt_explain_get_step_device(x, i)));
		pt_lua_set_string(L, "text", pt_explain_get_step_text(x, i));
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
		return pt_lua_fail(L, r, lua_pushfstring(L, "%s: %s", pt_device_get_address(d),
						  r == -EACCES ? "config space unreadable (not root?)"
							       : "no ACS capability"));
	lua_createtable(L, 0, 2);
	pt_lua_set_integer(L, "cap", cap);
	pt_lua_set_integer(L, "ctrl", ctrl);
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
		return pt_lua_fail(L, r, pt_ctx_last_error(pt_enum_get_context(pt_device_get_enum(d))));
	lua_pushboolean(L, 1);
	return 1;
}

/* dev:set_sriov_numvfs(n): true, or nil, message, errno. */
static int dev_set_numvfs(lua_State *L)
{
	pt_lua_check_action(L, "set_sriov_numvfs");
	pt_device *d = DEV(L);
	lua_Integer n = luaL_checkinteger(L, 2);
	luaL_argcheck(L, n >= 0 && n <= 0xffff, 2, "out of range");
	int r = pt_device_set_sriov_numvfs(d, (unsigned)n);
	if (r < 0)
		return pt_lua_fail(L, r, pt_ctx_last_error(pt_enum_get_context(pt_device_get_enum(d))));
	lua_pushboolean(L, 1);
	return 1;
}

/* dev:create_vfs(n, {driver = NAME, wait_ms = N}): the VFs made with their driver decided first;
 * the milliseconds they took, or nil, message, errno. */
static int dev_create_vfs(lua_State *L)
{
	pt_lua_check_action(L, "create_vfs");
	pt_device *d = DEV(L);
	lua_Integer n = luaL_checkinteger(L, 2), ms = 60000;
	const char *driver = NULL;
	unsigned took = 0;
	luaL_argcheck(L, n >= 0 && n <= 0xffff, 2, "out of range");
	if (!lua_isnoneornil(L, 3)) {
		luaL_checktype(L, 3, LUA_TTABLE);
		lua_getfield(L, 3, "driver");
		driver = luaL_optstring(L, -1, NULL);
		lua_getfield(L, 3, "wait_ms");
		ms = luaL_optinteger(L, -1, 60000);
		luaL_argcheck(L, ms >= 0 && ms <= 3600000, 3, "wait_ms: 0 to 3600000");
	}
	int r = pt_device_create_vfs(d, (unsigned)n, driver, (unsigned)ms, &took);
	if (r < 0)
		return pt_lua_fail(L, r, pt_ctx_last_error(pt_enum_get_context(pt_device_get_enum(d))));
	lua_pushinteger(L, took);
	return 1;
}

/* dev:wait_vfs(n, timeout_ms): the milliseconds it took, or nil, message, errno. */
static int dev_wait_vfs(lua_State *L)
{
	pt_device *d = DEV(L);
	lua_Integer n = luaL_checkinteger(L, 2), ms = luaL_optinteger(L, 3, 60000);
	unsigned took = 0;
	luaL_argcheck(L, n >= 0 && n <= 0xffff, 2, "out of range");
	luaL_argcheck(L, ms >= 0 && ms <= 3600000, 3, "0 to 3600000 ms");
	int r = pt_device_wait_sriov_vfs(d, (unsigned)n, (unsigned)ms, &took);
	if (r < 0)
		return pt_lua_fail(L, r, pt_ctx_last_error(pt_enum_get_context(pt_device_get_enum(d))));
	lua_pushinteger(L, took);
	return 1;
}

static int dev_pcie_type(lua_State *L)
{
	lua_pushstring(L, pt_pcie_type_to_string(pt_device_get_pcie_type(DEV(L))));
	return 1;
}

/* dev:json(): the report's JSON object of the device, as a string. */
/* dev:json([explain]): the report's object of the device, with its explanation when asked */
static int dev_json(lua_State *L)
{
	pt_device *d = DEV(L);
	pt_explain *x = NULL;
	int r;

	if (lua_toboolean(L, 2) && (r = pt_device_explain(d, &x)) < 0)
		return luaL_error(L, "%s: cannot explain its group: %s", pt_device_get_address(d), strerror(-r));
	char *text = x ? pt_device_to_json_explained(d, x) : pt_device_to_json(d);
	pt_explain_unref(x);
	if (!text)
		return luaL_error(L, "not enough memory");
	lua_pushstring(L, text);
	free(text);
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


void pt_lua_open_device(lua_State *L)
{
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
		{ "kind", dev_kind },
		{ "driver", dev_driver },
		{ "driver_override", dev_driver_override },
		{ "group", dev_group },
		{ "iommu_group", dev_iommu_group },
		{ "boot_vga", dev_boot_vga },
		{ "reset_method", dev_reset_method }, { "reset_bug", dev_reset_bug },
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
		{ "critical_kinds", dev_critical_kinds },
		{ "variant_driver", dev_variant_driver },
		{ "vfio_cdev", dev_vfio_cdev },
		{ "power_state", dev_power_state },
		{ "d3cold_allowed", dev_d3cold_allowed },
		{ NULL, NULL },
	};
	static const luaL_Reg dev_methods[] = {
		{ "fields", dev_fields }, { "json", dev_json }, { "explain", dev_explain }, { "acs", dev_acs },
		{ "link", dev_link }, { "local_cpus", dev_local_cpus },
		{ "check_take", dev_check_take }, { "set_sriov_numvfs", dev_set_numvfs }, { "wait_vfs", dev_wait_vfs },
		{ "create_vfs", dev_create_vfs },
		{ NULL, NULL },
	};
	pt_lua_new_class(L, DEVICE_MT, dev_methods, dev_getters, device_close, dev_tostring);
	luaL_getmetatable(L, DEVICE_MT);
	lua_pushcfunction(L, dev_eq);
	lua_setfield(L, -2, "__eq");
	lua_pop(L, 1);
}
