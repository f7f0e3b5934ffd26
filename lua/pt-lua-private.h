/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the files of the Lua binding share: boxes, classes, table fields, the parts' lists. */
#ifndef PT_LUA_PRIVATE_H
#define PT_LUA_PRIVATE_H

#include <stdbool.h>

#include <lauxlib.h>
#include <lua.h>

#include "libpt.h"
#include "pt-lua.h"

#define CTX_MT "pt.Context"
#define SNAPSHOT_MT "pt.Snapshot"
#define DEVICE_MT "pt.Device"
#define GROUP_MT "pt.Group"
#define ITER_MT "pt.Iterator"
#define TXN_MT "pt.Transaction"
#define QMP_MT "pt.QMP"
#define MONITOR_MT "pt.Monitor"
#define ASSIGN_MT "pt.Assignment"
#define ROOT_KEY "pt.root"
#define ZPOOL_KEY "pt.zpool"
#define SYSTEMCTL_KEY "pt.systemctl"
#define LOADING_KEY "pt.loading"
/* ptlua's set-up (setup.c): {recipes = the bundled recipes' directory, interpreter = its path} */
#define PT_SETUP_KEY "pt.setup"

/* Every userdata holds one reference; closing drops it, later use raises. */
typedef struct { void *p; } box;

void *pt_lua_check_open(lua_State *L, int idx, const char *mt);
void pt_lua_push_box(lua_State *L, void *p, const char *mt);
int pt_lua_fail(lua_State *L, int err, const char *msg);
/* names (n of them, each and the array malloc'ed) sorted, pushed as a list, and freed. */
int pt_lua_push_names(lua_State *L, char **names, size_t n);
void pt_lua_push_device(lua_State *L, pt_device *dev);
void pt_lua_push_group(lua_State *L, pt_group *g);
void pt_lua_push_opt_string(lua_State *L, const char *s);
int pt_lua_push_opt_int(lua_State *L, long v);
/* A metatable with __gc and __close (close), methods and getters read as fields; methods of
 * another part added to it. */
void pt_lua_add_methods(lua_State *L, const char *mt, const luaL_Reg *methods);
void pt_lua_new_class(lua_State *L, const char *mt, const luaL_Reg *methods, const luaL_Reg *getters,
	       lua_CFunction close, lua_CFunction tostring);

#define CLOSER(name, mt, unref)                         \
	static int name(lua_State *L)                   \
	{                                               \
		box *b = luaL_checkudata(L, 1, mt);     \
		if (b->p)                               \
			unref(b->p);                    \
		b->p = NULL;                            \
		return 0;                               \
	}

/* Fields of plain tables. */
void pt_lua_set_string(lua_State *L, const char *key, const char *value);
void pt_lua_set_integer(lua_State *L, const char *key, lua_Integer value);
void pt_lua_set_hex(lua_State *L, const char *key, unsigned long value, int width);
void pt_lua_set_boolean(lua_State *L, const char *key, int value);
typedef pt_device *(*member_at)(const void *obj, size_t i);
void pt_lua_set_addresses(lua_State *L, const char *key, size_t n, member_at get, const void *obj);

/* What a file write returns to Lua: true and the backup's path (freed), or nil, message, errno;
 * the context is dropped either way. */
int pt_lua_written(lua_State *L, pt_ctx *ctx, int r, char *backup);

/* Raises when a recipe's top level (loading it) tries what changes the host. */
void pt_lua_check_action(lua_State *L, const char *what);

/* The context of the root ptlua was given; NULL with nil, message, errno pushed (3). */
pt_ctx *pt_lua_root_context(lua_State *L);

/* pt.context{root = DIR}: the context on the stack (1), or nil, message, errno (3). */
int pt_lua_context(lua_State *L);

/* The parts: each registers its classes and lists its module functions. */
void pt_lua_open_inventory(lua_State *L);
void pt_lua_open_device(lua_State *L);
extern const luaL_Reg pt_lua_inventory_funcs[];
void pt_lua_open_actions(lua_State *L);
extern const luaL_Reg pt_lua_actions_funcs[];
extern const luaL_Reg pt_lua_host_funcs[];
void pt_lua_open_usb(lua_State *L);
extern const luaL_Reg pt_lua_usb_funcs[];
extern const luaL_Reg pt_lua_rom_funcs[];
extern const luaL_Reg pt_lua_mdev_funcs[];
void pt_lua_open_assignment(lua_State *L);
extern const luaL_Reg pt_lua_assignment_funcs[];
void pt_lua_open_vmconf(lua_State *L);
extern const luaL_Reg pt_lua_vmconf_funcs[];
void pt_lua_open_node(lua_State *L);
extern const luaL_Reg pt_lua_node_funcs[];
void pt_lua_open_hostplan(lua_State *L);
void pt_lua_open_placement(lua_State *L);
extern const luaL_Reg pt_lua_placement_funcs[];
extern const luaL_Reg pt_lua_hostplan_funcs[];
extern const luaL_Reg pt_lua_bounds_funcs[];
extern const luaL_Reg pt_lua_emit_funcs[];
int pt_lua_dev_companions(lua_State *L);
int pt_lua_dev_read_rom(lua_State *L);
int pt_lua_dev_reset(lua_State *L);
int pt_lua_dev_create_mdev(lua_State *L);
int pt_lua_dev_set_vgpu_type(lua_State *L);
int pt_lua_dev_mdev_types(lua_State *L);
int pt_lua_dev_mdevs(lua_State *L);
int pt_lua_dev_vgpu_types(lua_State *L);
/* inv:usb(), in usb.c, a method of the inventory */
int pt_lua_enum_usb(lua_State *L);

#define VMCONF_MT "pt.VMConfig"
#define NODE_MT "pt.Node"
#define PLAN_MT "pt.HostPlan"
#define PLACE_MT "pt.Placement"
/* An option `force` of the emitters and the host plan: the assignment's (PT_ASSIGN_FORCE). */
#define PT_LUA_OPT_FORCE (1u << 31)
int pt_lua_fail_ctx(lua_State *L, int r, pt_ctx *ctx, bool owned);
pt_ctx *pt_lua_check_root(lua_State *L);
const char *pt_lua_opt_field(lua_State *L, int idx, const char *key);
bool pt_lua_bool_field(lua_State *L, int idx, const char *key, bool if_nil);
void pt_lua_push_emission(lua_State *L, const pt_emission *em, bool notes);
pt_usb_spec *pt_lua_check_usb(lua_State *L, int idx, pt_usb_spec *spec);
const char **pt_lua_check_strings(lua_State *L, int idx, size_t *n);
pt_assignment *pt_lua_test_assignment(lua_State *L, int idx);
pt_ctx *pt_lua_assignment_ctx(const pt_assignment *a);
pt_assignment *pt_lua_ids_assignment(lua_State *L, pt_ctx *ctx, bool owned, pt_enum *e, const char **ids, size_t n, unsigned flags);
int pt_lua_push_strings(lua_State *L, size_t n, const char *(*get)(const void *obj, size_t i), const void *obj);

#endif
