/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Placement for Lua (pt.place, pt.Placement): where a VM runs next to its devices, which the
 * emitters take as their `place` option.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pt-lua-private.h"

CLOSER(place_close, PLACE_MT, pt_placement_unref)

/* pt.place(assignment [, {vcpus =, memory = MiB, hugepages = 2|1024}]): a pt.Placement, or nil,
 * message, errno (the devices on no node, or on several; a node short of CPUs is a note). */
static int l_place(lua_State *L)
{
	pt_assignment *a = pt_lua_check_open(L, 1, ASSIGN_MT);
	lua_Integer vcpus = 0, memory = 0, pages = 0;
	pt_placement *p;
	int r;

	if (!lua_isnoneornil(L, 2)) {
		luaL_checktype(L, 2, LUA_TTABLE);
		lua_getfield(L, 2, "vcpus");
		vcpus = luaL_optinteger(L, -1, 0);
		lua_getfield(L, 2, "memory");
		memory = luaL_optinteger(L, -1, 0);
		lua_getfield(L, 2, "hugepages");
		pages = luaL_optinteger(L, -1, 0);
		lua_pop(L, 3);
	}
	luaL_argcheck(L, vcpus >= 0 && vcpus <= 4096, 2, "vcpus: 0 (the VM's) to 4096");
	luaL_argcheck(L, memory >= 0 && memory <= (1LL << 32), 2, "memory: MiB, 0 for the VM's");
	luaL_argcheck(L, pages == 0 || pages == 2 || pages == 1024, 2, "hugepages: 2 or 1024 (MiB), as Proxmox's");
	if ((r = pt_placement_new(a, (unsigned)vcpus, (unsigned long)memory, (unsigned long)pages * 1024, &p)) < 0)
		return pt_lua_fail(L, r, pt_ctx_last_error(pt_lua_assignment_ctx(a)));
	pt_lua_push_box(L, p, PLACE_MT);
	return 1;
}

#define P(L) ((pt_placement *)pt_lua_check_open(L, 1, PLACE_MT))

static int place_node(lua_State *L) { lua_pushinteger(L, pt_placement_get_node(P(L))); return 1; }
static int place_cpus(lua_State *L) { lua_pushstring(L, pt_placement_get_cpus(P(L))); return 1; }
static int place_node_cpus(lua_State *L) { lua_pushstring(L, pt_placement_get_node_cpus(P(L))); return 1; }
static int place_vcpus(lua_State *L) { lua_pushinteger(L, pt_placement_get_vcpus(P(L))); return 1; }
static int place_memory(lua_State *L) { lua_pushinteger(L, (lua_Integer)pt_placement_get_memory(P(L))); return 1; }

static int place_hugepages(lua_State *L)
{
	pt_placement *p = P(L);
	if (!pt_placement_get_hugepage_size(p)) {
		lua_pushnil(L);
		return 1;
	}
	lua_createtable(L, 0, 3);
	pt_lua_set_integer(L, "size_kib", (lua_Integer)pt_placement_get_hugepage_size(p));
	pt_lua_set_integer(L, "needed", (lua_Integer)pt_placement_get_hugepages_needed(p));
	if (pt_placement_get_hugepages_free(p) >= 0)
		pt_lua_set_integer(L, "free", pt_placement_get_hugepages_free(p));
	return 1;
}

static const char *note_at(const void *p, size_t i)
{
	return pt_placement_get_note(p, i);
}

static int place_notes(lua_State *L)
{
	pt_placement *p = P(L);
	return pt_lua_push_strings(L, pt_placement_get_note_count(p), note_at, p);
}

const luaL_Reg pt_lua_placement_funcs[] = {
	{ "place", l_place },
	{ NULL, NULL },
};

void pt_lua_open_placement(lua_State *L)
{
	static const luaL_Reg methods[] = { { "notes", place_notes }, { NULL, NULL } };
	static const luaL_Reg getters[] = {
		{ "node", place_node },	  { "cpus", place_cpus },     { "node_cpus", place_node_cpus },
		{ "vcpus", place_vcpus }, { "memory", place_memory }, { "hugepages", place_hugepages },
		{ NULL, NULL },
	};
	pt_lua_new_class(L, PLACE_MT, methods, getters, place_close, NULL);
}
