/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Lua module `pt`: the C API as userdata with named metatables. Misuse raises an
 * argument error; system failures return nil, message, errno. This file assembles the module
 * from its parts: inventory.c (contexts, inventories, devices, groups), actions.c
 * (transactions, host files, reset), host.c (reading the host), usb.c (USB, QMP, the udev
 * monitor), rom.c (option ROMs), mdev.c (mediated devices), emit.c (VM configuration and the
 * emitters); what the parts share is in common.c, and no part calls another.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pt-lua-private.h"


/* pt._loading(bool): for pt.recipe, which the sandbox does not give recipes. */
static int pt_lua_loading(lua_State *L)
{
	lua_pushboolean(L, lua_toboolean(L, 1));
	lua_setfield(L, LUA_REGISTRYINDEX, LOADING_KEY);
	return 0;
}

/* pt._setup(): ptlua's {recipes = DIR, interpreter = PATH}, nil under another interpreter. */
static int pt_lua_setup_info(lua_State *L)
{
	lua_getfield(L, LUA_REGISTRYINDEX, PT_SETUP_KEY);
	return 1;
}

/* pt._recipe_files(dir): the recipes of a directory, "NAME.lua" regular files (links
 * followed), sorted; {} when it cannot be read. For pt.recipe: recipes by name, ptlua --list. */
static int pt_lua_recipe_files(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	DIR *dir = opendir(path);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;
	struct stat st;

	while (dir && (de = readdir(dir))) {
		size_t len = strlen(de->d_name);
		if (len <= 4 || de->d_name[0] == '.' || strcmp(de->d_name + len - 4, ".lua") != 0 ||
		    fstatat(dirfd(dir), de->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
			continue;
		char **more = realloc(names, (n + 1) * sizeof(*names));
		if (!more)
			break;
		names = more;
		if (!(names[n] = strdup(de->d_name)))
			break;
		n++;
	}
	if (dir)
		closedir(dir);
	return pt_lua_push_names(L, names, n);
}

/* pt.vmid_valid(n): the one check of a VM id (pt_vmid_is_valid). */
static int pt_lua_vmid_valid(lua_State *L)
{
	lua_Integer n;
	int isint;
	n = lua_tointegerx(L, 1, &isint);
	lua_pushboolean(L, isint && pt_vmid_is_valid((long long)n));
	return 1;
}

/* pt.vmid(text): the VM id typed (pt_vmid_parse: "00100" and "1e2" are none), or nil. */
static int pt_lua_vmid(lua_State *L)
{
	unsigned vm;
	if (lua_type(L, 1) == LUA_TSTRING && pt_vmid_parse(lua_tostring(L, 1), &vm) == 0)
		lua_pushinteger(L, vm);
	else if (lua_isinteger(L, 1) && pt_vmid_is_valid((long long)lua_tointeger(L, 1)))
		lua_pushinteger(L, lua_tointeger(L, 1));
	else
		lua_pushnil(L);
	return 1;
}

/* pt.pci_id(text): the PCI id in the one grammar, canonical ("0000:01:00.0", or "0000:01:00"
 * for a whole slot) and whether it is a slot; nil when it is none. */
static int pt_lua_pci_id(lua_State *L)
{
	char out[32];
	int r = pt_pci_id_normalize(luaL_checkstring(L, 1), out, sizeof(out));
	if (r < 0) {
		lua_pushnil(L);
		return 1;
	}
	lua_pushstring(L, out);
	lua_pushboolean(L, r == 1);
	return 2;
}

/* pt.clean(text): text from elsewhere as it may be shown (pt_clean_text). */
static int pt_lua_clean(lua_State *L)
{
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	char *out = pt_clean_text(s, len);

	if (!out)
		return luaL_error(L, "out of memory");
	lua_pushstring(L, out);
	free(out);
	return 1;
}

/* pt.slot(address): "0000:01:00" of "0000:01:00.1", the slot every function of a device shares. */
static int pt_lua_slot(lua_State *L)
{
	size_t len;
	const char *a = luaL_checklstring(L, 1, &len);
	if (len < 9 || a[len - 2] != '.' || a[len - 1] < '0' || a[len - 1] > '7')
		return luaL_argerror(L, 1, lua_pushfstring(L, "%s is not a PCI address", a));
	lua_pushlstring(L, a, len - 2);
	return 1;
}

/* pt.host(): { cpu_vendor =, boot_loader =, iommu_params = { ... } } of the host under the root,
 * and pt.iommu_params(vendor): the kernel parameters for a CPU of that vendor, as words. */
static void push_words(lua_State *L, const char *s)
{
	lua_newtable(L);
	int n = 0;
	for (const char *p = s; *p;) {
		size_t len = strcspn(p, " ");
		lua_pushlstring(L, p, len);
		lua_rawseti(L, -2, ++n);
		p += len;
		p += strspn(p, " ");
	}
}

static int pt_lua_iommu_params(lua_State *L)
{
	push_words(L, pt_iommu_params(luaL_optstring(L, 1, NULL)));
	return 1;
}

static int pt_lua_host(lua_State *L)
{
	lua_settop(L, 0);
	lua_newtable(L);
	if (pt_lua_context(L) != 1)
		return 3;
	pt_ctx *ctx = pt_lua_check_open(L, -1, CTX_MT);
	lua_createtable(L, 0, 3);
	pt_lua_set_string(L, "cpu_vendor", pt_host_cpu_vendor(ctx));
	pt_lua_set_string(L, "boot_loader", pt_host_boot_loader(ctx));
	push_words(L, pt_iommu_params(pt_host_cpu_vendor(ctx)));
	lua_setfield(L, -2, "iommu_params");
	char *advice = pt_host_iommu_advice(ctx);
	pt_lua_set_string(L, "iommu_advice", advice);
	free(advice);
	return 1;
}

static int pt_lua_root(lua_State *L)
{
	lua_getfield(L, LUA_REGISTRYINDEX, ROOT_KEY);
	if (lua_isnil(L, -1))
		lua_pushliteral(L, "/");
	return 1;
}

/* pt.errno: the errno values the calls return third (nil, message, errno), by name: callers
 * tell failures apart by them, never by a message's words. */
static void push_errno(lua_State *L)
{
	static const struct { const char *name; int value; } codes[] = {
		{ "EPERM", EPERM },	{ "ENOENT", ENOENT },	  { "EIO", EIO },	  { "EACCES", EACCES },
		{ "EBUSY", EBUSY },	{ "EEXIST", EEXIST },	  { "ENODEV", ENODEV },	  { "EINVAL", EINVAL },
		{ "ENOSPC", ENOSPC },	{ "EROFS", EROFS },	  { "ENOTSUP", ENOTSUP }, { "ETIMEDOUT", ETIMEDOUT },
		{ "ECONNREFUSED", ECONNREFUSED }, { "ENOMEM", ENOMEM }, { "EPROTO", EPROTO },
	};
	lua_createtable(L, 0, (int)(sizeof(codes) / sizeof(*codes)));
	for (size_t i = 0; i < sizeof(codes) / sizeof(*codes); i++) {
		lua_pushinteger(L, codes[i].value);
		lua_setfield(L, -2, codes[i].name);
	}
}

/* Exported from pt.so for require "pt" in the system's Lua. */
__attribute__((visibility("default"))) int luaopen_pt(lua_State *L)
{
	static const luaL_Reg funcs[] = { { "root", pt_lua_root }, { "_loading", pt_lua_loading }, { "_setup", pt_lua_setup_info },
					  { "_recipe_files", pt_lua_recipe_files },
					  { "vmid_valid", pt_lua_vmid_valid }, { "slot", pt_lua_slot },
					  { "vmid", pt_lua_vmid }, { "pci_id", pt_lua_pci_id }, { "clean", pt_lua_clean },
					  { "host", pt_lua_host }, { "iommu_params", pt_lua_iommu_params },
					  { NULL, NULL } };

	/* the methods of devices and inventories that other parts implement */
	static const luaL_Reg device_methods[] = {
		{ "read_rom", pt_lua_dev_read_rom },	   { "reset", pt_lua_dev_reset },
		{ "mdev_types", pt_lua_dev_mdev_types }, { "mdevs", pt_lua_dev_mdevs },
		{ "vgpu_types", pt_lua_dev_vgpu_types }, { "companions", pt_lua_dev_companions },
		{ "create_mdev", pt_lua_dev_create_mdev }, { "set_vgpu_type", pt_lua_dev_set_vgpu_type },
		{ NULL, NULL },
	};
	static const luaL_Reg enum_methods[] = {
		{ "usb", pt_lua_enum_usb }, { NULL, NULL },
	};

	pt_lua_open_inventory(L);
	pt_lua_open_device(L);
	pt_lua_add_methods(L, DEVICE_MT, device_methods);
	pt_lua_add_methods(L, SNAPSHOT_MT, enum_methods);
	pt_lua_open_actions(L);
	pt_lua_open_usb(L);
	pt_lua_open_assignment(L);
	pt_lua_open_vmconf(L);
	pt_lua_open_node(L);
	pt_lua_open_hostplan(L);
	pt_lua_open_placement(L);
	luaL_newlib(L, funcs);
	luaL_setfuncs(L, pt_lua_inventory_funcs, 0);
	luaL_setfuncs(L, pt_lua_actions_funcs, 0);
	luaL_setfuncs(L, pt_lua_host_funcs, 0);
	luaL_setfuncs(L, pt_lua_usb_funcs, 0);
	luaL_setfuncs(L, pt_lua_rom_funcs, 0);
	luaL_setfuncs(L, pt_lua_mdev_funcs, 0);
	luaL_setfuncs(L, pt_lua_emit_funcs, 0);
	luaL_setfuncs(L, pt_lua_assignment_funcs, 0);
	luaL_setfuncs(L, pt_lua_vmconf_funcs, 0);
	luaL_setfuncs(L, pt_lua_node_funcs, 0);
	luaL_setfuncs(L, pt_lua_hostplan_funcs, 0);
	luaL_setfuncs(L, pt_lua_placement_funcs, 0);
	luaL_setfuncs(L, pt_lua_bounds_funcs, 0);
	push_errno(L);
	lua_setfield(L, -2, "errno");
	lua_pushstring(L, PT_LISTING_CANNOT_SHOW);
	lua_setfield(L, -2, "listing_cannot_show");
	/* pt.usb is the Lua module pt.usb, loaded when first used */
	lua_createtable(L, 0, 1);
	luaL_loadstring(L, "local t, k = ... if k == 'usb' then local m = require('pt.usb') rawset(t, k, m) return m end");
	lua_setfield(L, -2, "__index");
	lua_setmetatable(L, -2);
	return 1;
}
