/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Mediated devices from Lua: dev:mdev_types(), dev:mdevs(), dev:vgpu_types(), pt.uuid_valid(s). */
#include "pt-lua-private.h"

/* {{type, name, description, device_api, available_instances}, ...} */
int pt_lua_dev_mdev_types(lua_State *L)
{
	pt_device *dev = pt_lua_check_open(L, 1, DEVICE_MT);
	size_t n = pt_device_get_mdev_type_count(dev);

	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		pt_mdev_type t = PT_INIT(pt_mdev_type);
		pt_device_get_mdev_type(dev, i, &t);
		lua_createtable(L, 0, 5);
		pt_lua_set_string(L, "type", t.type);
		pt_lua_set_string(L, "name", t.name);
		pt_lua_set_string(L, "description", t.description);
		pt_lua_set_string(L, "device_api", t.device_api);
		if (t.available_instances >= 0)
			pt_lua_set_integer(L, "available_instances", t.available_instances);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

/* {{uuid, type}, ...} */
int pt_lua_dev_mdevs(lua_State *L)
{
	pt_device *dev = pt_lua_check_open(L, 1, DEVICE_MT);
	size_t n = pt_device_get_mdev_count(dev);

	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		pt_mdev m = PT_INIT(pt_mdev);
		pt_device_get_mdev(dev, i, &m);
		lua_createtable(L, 0, 2);
		pt_lua_set_string(L, "uuid", m.uuid);
		pt_lua_set_string(L, "type", m.type);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

/* {{id, name}, ...}, current (0: none), or nil where the device is no NVIDIA vGPU VF. */
int pt_lua_dev_vgpu_types(lua_State *L)
{
	pt_device *dev = pt_lua_check_open(L, 1, DEVICE_MT);
	size_t n = pt_device_get_vgpu_type_count(dev);
	long current = pt_device_get_vgpu_current(dev);

	if (!pt_device_has_vgpu(dev)) {
		lua_pushnil(L);
		return 1;
	}
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		pt_vgpu_type t = PT_INIT(pt_vgpu_type);
		pt_device_get_vgpu_type(dev, i, &t);
		lua_createtable(L, 0, 2);
		pt_lua_set_integer(L, "id", t.id);
		pt_lua_set_string(L, "name", t.name);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return pt_lua_push_opt_int(L, current) + 1;
}

static int pt_lua_uuid_valid(lua_State *L)
{
	lua_pushboolean(L, pt_uuid_is_valid(luaL_checkstring(L, 1)));
	return 1;
}

const luaL_Reg pt_lua_mdev_funcs[] = {
	{ "uuid_valid", pt_lua_uuid_valid },
	{ NULL, NULL },
};
