/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Mediated devices from Lua: dev:mdev_types(), dev:mdevs(), dev:vgpu_types(), pt.uuid_valid(s). */
#include "pt-lua-private.h"

/* {{type, name, description, device_api, available_instances}, ...} */
int pt_lua_dev_mdev_types(lua_State *L)
{
	pt_device *dev = pt_lua_check_open(L, 1, DEVICE_MT);
	size_t n;
	const struct pt_mdev_type *t = pt_device_get_mdev_types(dev, &n);

	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lua_createtable(L, 0, 5);
		pt_lua_set_string(L, "type", t[i].type);
		pt_lua_set_string(L, "name", t[i].name);
		pt_lua_set_string(L, "description", t[i].description);
		pt_lua_set_string(L, "device_api", t[i].device_api);
		if (t[i].available_instances >= 0)
			pt_lua_set_integer(L, "available_instances", t[i].available_instances);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

/* {{uuid, type}, ...} */
int pt_lua_dev_mdevs(lua_State *L)
{
	pt_device *dev = pt_lua_check_open(L, 1, DEVICE_MT);
	size_t n;
	const struct pt_mdev *m = pt_device_get_mdevs(dev, &n);

	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lua_createtable(L, 0, 2);
		pt_lua_set_string(L, "uuid", m[i].uuid);
		pt_lua_set_string(L, "type", m[i].type);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

/* {{id, name}, ...}, current (0: none), or nil where the device is no NVIDIA vGPU VF. */
int pt_lua_dev_vgpu_types(lua_State *L)
{
	pt_device *dev = pt_lua_check_open(L, 1, DEVICE_MT);
	size_t n;
	long current;
	const struct pt_vgpu_type *t = pt_device_get_vgpu_types(dev, &n, &current);

	if (!pt_device_has_vgpu(dev)) {
		lua_pushnil(L);
		return 1;
	}
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lua_createtable(L, 0, 2);
		pt_lua_set_integer(L, "id", t[i].id);
		pt_lua_set_string(L, "name", t[i].name);
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
