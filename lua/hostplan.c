/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host plan for Lua (pt.host_plan, pt.sriov_plan, pt.HostPlan): boot-time files as diffs,
 * applied with backups; pt.diff and pt.grub_with_params.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pt-lua-private.h"

/* ---- host persistence ---- */

/* pt.host_plan(inv, addresses, {blacklist =, cpu =, force =}) or pt.host_plan(assignment, nil,
 * {blacklist =, cpu =}): the plan of boot-time changes */
static int l_host_plan(lua_State *L)
{
	int r;
	lua_settop(L, 3);
	pt_assignment *a = pt_lua_test_assignment(L, 1);
	pt_enum *e = a ? pt_assignment_get_enum(a) : pt_lua_check_open(L, 1, SNAPSHOT_MT);
	size_t n = 0;
	const char **addresses = a ? NULL : pt_lua_check_strings(L, 2, &n);
	unsigned flags = 0;
	const char *cpu = NULL;
	pt_host_plan *p;

	if (!lua_isnil(L, 3)) {
		luaL_checktype(L, 3, LUA_TTABLE);
		if (pt_lua_bool_field(L, 3, "blacklist", false))
			flags |= PT_PLAN_BLACKLIST;
		if (pt_lua_bool_field(L, 3, "force", false))
			flags |= PT_LUA_OPT_FORCE;
		if (pt_lua_bool_field(L, 3, "no_d3cold", false))
			flags |= PT_PLAN_NO_D3COLD;
		if (pt_lua_bool_field(L, 3, "remove", false))
			flags |= PT_PLAN_REMOVE;
		cpu = pt_lua_opt_field(L, 3, "cpu");
	}
	if (!a && n == 0)
		return luaL_error(L, "host_plan: no devices");
	if (!a)
		a = pt_lua_ids_assignment(L, pt_enum_get_context(e), false, e, addresses, n, flags & PT_LUA_OPT_FORCE ? PT_ASSIGN_FORCE : 0);
	if (!a)
		return 3;
	if ((r = pt_host_plan_new(a, flags & ~PT_LUA_OPT_FORCE, cpu, &p)) < 0)
		return pt_lua_fail_ctx(L, r, pt_enum_get_context(e), false);
	pt_lua_push_box(L, p, PLAN_MT);
	return 1;
}

/* pt.hugepages_plan(placement): its huge pages reserved on its node at every boot */
static int l_hugepages_plan(lua_State *L)
{
	int r;
	pt_placement *place = pt_lua_check_open(L, 1, PLACE_MT);
	pt_host_plan *p;
	pt_ctx *ctx = pt_lua_check_root(L);

	if ((r = pt_host_plan_new_hugepages(ctx, place, &p)) < 0)
		return pt_lua_fail_ctx(L, r, ctx, true);
	pt_ctx_unref(ctx);
	pt_lua_push_box(L, p, PLAN_MT);
	return 1;
}

/* pt.sriov_plan(pf, vfs, wait_ms [, vf_driver]) */
static int l_sriov_plan(lua_State *L)
{
	int r;
	pt_device *pf = pt_lua_check_open(L, 1, DEVICE_MT);
	lua_Integer vfs = luaL_checkinteger(L, 2), wait = luaL_checkinteger(L, 3);
	const char *vf_driver = luaL_optstring(L, 4, NULL);
	pt_host_plan *p;

	luaL_argcheck(L, vfs >= 0 && vfs <= 65535, 2, "a count of VFs");
	luaL_argcheck(L, wait >= 0 && wait <= 3600000, 3, "milliseconds");
	if ((r = pt_host_plan_new_sriov(pf, (unsigned)vfs, (unsigned)wait, vf_driver, &p)) < 0)
		return pt_lua_fail_ctx(L, r, pt_enum_get_context(pt_device_get_enum(pf)), false);
	pt_lua_push_box(L, p, PLAN_MT);
	return 1;
}

CLOSER(plan_close, PLAN_MT, pt_host_plan_unref)

/* plan:changes(): { {path =, old =, new =, diff =}... } */
static int plan_changes(lua_State *L)
{
	pt_host_plan *p = pt_lua_check_open(L, 1, PLAN_MT);
	size_t n = pt_host_plan_get_change_count(p);

	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		char *diff = pt_host_plan_get_diff(p, i);
		lua_createtable(L, 0, 4);
		pt_lua_set_string(L, "path", pt_host_plan_get_path(p, i));
		pt_lua_set_string(L, "old", pt_host_plan_get_old(p, i));
		pt_lua_set_string(L, "new", pt_host_plan_get_new(p, i));
		pt_lua_set_string(L, "diff", diff);
		free(diff);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

static const char *command_at(const void *p, size_t i)
{
	return pt_host_plan_get_command(p, i);
}

static int plan_commands(lua_State *L)
{
	pt_host_plan *p = pt_lua_check_open(L, 1, PLAN_MT);
	return pt_lua_push_strings(L, pt_host_plan_get_command_count(p), command_at, p);
}

/* plan:apply(): the backups' paths; nil, message, errno when a write fails (the others put back) */
static int plan_apply(lua_State *L)
{
	int r;
	pt_host_plan *p = pt_lua_check_open(L, 1, PLAN_MT);
	lua_Integer k = 0;

	pt_lua_check_action(L, "plan:apply");
	if ((r = pt_host_plan_apply(p)) < 0)
		return pt_lua_fail_ctx(L, r, pt_host_plan_get_context(p), false);
	lua_newtable(L);
	for (size_t i = 0; i < pt_host_plan_get_change_count(p); i++)
		if (pt_host_plan_get_backup(p, i)) {
			lua_pushstring(L, pt_host_plan_get_backup(p, i));
			lua_rawseti(L, -2, ++k);
		}
	return 1;
}

/* pt.diff(path, old, new): a unified diff */
static int l_diff(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1), *old = luaL_optstring(L, 2, NULL), *new = luaL_checkstring(L, 3);
	char *d = pt_diff(path, old, new);

	if (!d)
		return luaL_error(L, "out of memory");
	lua_pushstring(L, d);
	free(d);
	return 1;
}

/* pt.grub_with_params(grub, params) */
static int l_grub_with_params(lua_State *L)
{
	char *g = pt_grub_with_params(luaL_optstring(L, 1, ""), luaL_checkstring(L, 2));

	if (!g)
		return luaL_error(L, "out of memory");
	lua_pushstring(L, g);
	free(g);
	return 1;
}

const luaL_Reg pt_lua_hostplan_funcs[] = {
	{ "host_plan", l_host_plan },
	{ "sriov_plan", l_sriov_plan },
	{ "hugepages_plan", l_hugepages_plan },
	{ "diff", l_diff },
	{ "grub_with_params", l_grub_with_params },
	{ NULL, NULL },
};

void pt_lua_open_hostplan(lua_State *L)
{
	static const luaL_Reg plan_methods[] = {
		{ "changes", plan_changes }, { "commands", plan_commands }, { "apply", plan_apply }, { NULL, NULL },
	};
	static const luaL_Reg none[] = { { NULL, NULL } };
	pt_lua_new_class(L, PLAN_MT, plan_methods, none, plan_close, NULL);
}
