/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Cluster nodes for Lua (pt.node, pt.Node): a node's devices from its snapshot, its report or
 * what it published; the mappings (pci.cfg, usb.cfg) that hold on every node.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pt-lua-private.h"

/* ---- cluster nodes and mappings ---- */

/* pt.node(name): a node's devices, to add to (node:add(record), node:add_inventory(inv),
 * node:read_report(file)) and give to pt.emit_mapping */
static int l_node(lua_State *L)
{
	int r;
	lua_settop(L, 1);
	const char *name = luaL_tolstring(L, 1, NULL);
	pt_ctx *ctx = pt_lua_check_root(L);
	pt_node *n;

	if ((r = pt_node_new(ctx, name, &n)) < 0)
		return pt_lua_fail_ctx(L, r, ctx, true);
	pt_ctx_unref(ctx);
	pt_lua_push_box(L, n, NODE_MT);
	return 1;
}

/* A record's field as the C call takes it: a string as it is, an integer in decimal, another
 * value as Lua writes it (to be refused, named); nil for nil. Left on the stack. */
static const char *record_field(lua_State *L, int idx, const char *key)
{
	int t = lua_getfield(L, idx, key);
	if (t == LUA_TNIL)
		return NULL;
	if (t == LUA_TSTRING)
		return lua_tostring(L, -1);
	return luaL_tolstring(L, -1, NULL);
}

/* node:add(record): a device as a report gives it (address, vendor_id... iommu_group, physfn) */
static int node_add(lua_State *L)
{
	int r;
	pt_node *n = pt_lua_check_open(L, 1, NODE_MT);
	luaL_checktype(L, 2, LUA_TTABLE);
	lua_settop(L, 2);
	pt_node_device d = {
		.size = sizeof(d),
		.address = record_field(L, 2, "address"),
		.vendor_id = record_field(L, 2, "vendor_id"),
		.device_id = record_field(L, 2, "device_id"),
		.subsystem_vendor_id = record_field(L, 2, "subsystem_vendor_id"),
		.subsystem_device_id = record_field(L, 2, "subsystem_device_id"),
		.iommu_group = record_field(L, 2, "iommu_group"),
		.physfn = record_field(L, 2, "physfn"),
	};
	if ((r = pt_node_add_device(n, &d)) < 0) {
		return pt_lua_fail_ctx(L, r, pt_node_get_context(n), false);
	}
	lua_settop(L, 1);
	return 1;
}

static int node_add_inventory(lua_State *L)
{
	int r;
	pt_node *n = pt_lua_check_open(L, 1, NODE_MT);
	pt_enum *e = pt_lua_check_open(L, 2, SNAPSHOT_MT);

	if ((r = pt_node_add_enum(n, e)) < 0) {
		return pt_lua_fail_ctx(L, r, pt_node_get_context(n), false);
	}
	lua_settop(L, 1);
	return 1;
}

static int node_read_report(lua_State *L)
{
	int r;
	pt_node *n = pt_lua_check_open(L, 1, NODE_MT);
	const char *file = luaL_checkstring(L, 2);

	if ((r = pt_node_read_report(n, file)) < 0) {
		return pt_lua_fail_ctx(L, r, pt_node_get_context(n), false);
	}
	lua_settop(L, 1);
	return 1;
}

/* node:read_published(path): the devices of the report the node published (pmxcfs), read and
 * checked in C; its time */
static int node_read_published(lua_State *L)
{
	pt_node *n = pt_lua_check_open(L, 1, NODE_MT);
	const char *path = luaL_checkstring(L, 2);
	long long t;
	int r = pt_node_read_published(n, path, &t);

	if (r < 0)
		return pt_lua_fail(L, r, r == -ENOENT ? "not published" : pt_ctx_last_error(pt_node_get_context(n)));
	lua_pushinteger(L, (lua_Integer)t);
	return 1;
}

/* node:publish([time]): this node's report (its snapshot, node:add_inventory) published through
 * pmxcfs (pt_node_publish); its path and size in bytes, or nil, message, errno. */
static int node_publish(lua_State *L)
{
	pt_node *n = pt_lua_check_open(L, 1, NODE_MT);
	lua_Integer t = luaL_optinteger(L, 2, (lua_Integer)time(NULL));
	size_t size;

	pt_lua_check_action(L, "node:publish");
	int r = pt_node_publish(n, (long long)t, &size);
	if (r < 0)
		return pt_lua_fail(L, r, pt_ctx_last_error(pt_node_get_context(n)));
	lua_pushfstring(L, "/etc/pve/nodes/%s/libpt.json", pt_node_get_name(n));
	lua_pushinteger(L, (lua_Integer)size);
	return 2;
}

/* node:rows(): its devices as records {address, vendor_id, ..., iommu_group (an integer), physfn} */
static int node_rows(lua_State *L)
{
	pt_node *n = pt_lua_check_open(L, 1, NODE_MT);
	size_t count = pt_node_get_device_count(n);

	lua_createtable(L, (int)count, 0);
	for (size_t i = 0; i < count; i++) {
		pt_node_device d = PT_INIT(pt_node_device);
		pt_node_get_device(n, i, &d);
		lua_createtable(L, 0, 7);
		pt_lua_set_string(L, "address", d.address);
		pt_lua_set_string(L, "vendor_id", d.vendor_id);
		pt_lua_set_string(L, "device_id", d.device_id);
		pt_lua_set_string(L, "subsystem_vendor_id", d.subsystem_vendor_id);
		pt_lua_set_string(L, "subsystem_device_id", d.subsystem_device_id);
		if (d.iommu_group)
			pt_lua_set_integer(L, "iommu_group", strtol(d.iommu_group, NULL, 10));
		pt_lua_set_string(L, "physfn", d.physfn);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

CLOSER(node_close, NODE_MT, pt_node_unref)

static int node_name(lua_State *L)
{
	lua_pushstring(L, pt_node_get_name(pt_lua_check_open(L, 1, NODE_MT)));
	return 1;
}

static int node_count(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)pt_node_get_device_count(pt_lua_check_open(L, 1, NODE_MT)));
	return 1;
}

/* {lines =, notes =} */
static int push_mapping(lua_State *L, pt_emission *em)
{
	lua_createtable(L, 0, 2);
	pt_lua_push_emission(L, em, false);
	lua_setfield(L, -2, "lines");
	pt_lua_push_emission(L, em, true);
	lua_setfield(L, -2, "notes");
	pt_emission_unref(em);
	return 1;
}

/* pt.emit_mapping(name, addresses, nodes [, {mdev = bool}]): pci.cfg {lines, notes}; nodes[1] is
 * this node */
static int l_emit_mapping(lua_State *L)
{
	int r;
	lua_settop(L, 4);
	const char *name = luaL_tolstring(L, 1, NULL);
	size_t n_set = 0, n_nodes;
	pt_assignment *a = pt_lua_test_assignment(L, 2);
	const char **set = a ? NULL : pt_lua_check_strings(L, 2, &n_set);
	pt_node **nodes;
	pt_emission *em;

	luaL_checktype(L, 3, LUA_TTABLE);
	n_nodes = lua_rawlen(L, 3);
	nodes = lua_newuserdatauv(L, (n_nodes ? n_nodes : 1) * sizeof(*nodes), 0);
	for (size_t i = 0; i < n_nodes; i++) {
		lua_rawgeti(L, 3, (lua_Integer)i + 1);
		nodes[i] = pt_lua_check_open(L, -1, NODE_MT);
		lua_pop(L, 1); /* the list keeps it */
	}
	unsigned flags = lua_istable(L, 4) && pt_lua_bool_field(L, 4, "mdev", false) ? PT_MAPPING_MDEV : 0;
	if (!a) {
		pt_ctx *ctx = pt_lua_check_root(L);
		a = pt_lua_ids_assignment(L, ctx, true, NULL, set, n_set, flags & PT_MAPPING_MDEV ? PT_ASSIGN_MDEV : 0);
		if (!a)
			return 3;
		pt_ctx_unref(ctx);
	}
	if ((r = pt_emit_mapping(a, name, nodes, n_nodes, flags, &em)) < 0)
		return pt_lua_fail_ctx(L, r, pt_lua_assignment_ctx(a), false);
	return push_mapping(L, em);
}

/* pt.emit_usb_mapping(name, usb, node_names): usb.cfg {lines, notes} */
static int l_emit_usb_mapping(lua_State *L)
{
	int r;
	lua_settop(L, 3);
	const char *name = luaL_tolstring(L, 1, NULL);
	pt_usb_spec spec, *usb = pt_lua_check_usb(L, 2, &spec);
	size_t n;
	const char **names = pt_lua_check_strings(L, 3, &n);
	pt_emission *em;
	pt_ctx *ctx = pt_lua_check_root(L);

	if ((r = pt_emit_usb_mapping(ctx, name, usb, names, n, &em)) < 0)
		return pt_lua_fail_ctx(L, r, ctx, true);
	pt_ctx_unref(ctx);
	return push_mapping(L, em);
}

const luaL_Reg pt_lua_node_funcs[] = {
	{ "node", l_node },
	{ "emit_mapping", l_emit_mapping },
	{ "emit_usb_mapping", l_emit_usb_mapping },
	{ NULL, NULL },
};

void pt_lua_open_node(lua_State *L)
{
	static const luaL_Reg node_methods[] = {
		{ "add", node_add }, { "add_inventory", node_add_inventory }, { "read_report", node_read_report },
		{ "read_published", node_read_published }, { "rows", node_rows }, { "publish", node_publish },
		{ NULL, NULL },
	};
	static const luaL_Reg node_getters[] = { { "name", node_name }, { "count", node_count }, { NULL, NULL } };
	pt_lua_new_class(L, NODE_MT, node_methods, node_getters, node_close, NULL);
}
