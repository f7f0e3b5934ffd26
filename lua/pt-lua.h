/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What ptlua, and any C program that embeds the same interpreter set-up, needs of the binding. */
#ifndef PT_LUA_H
#define PT_LUA_H

#include <lua.h>

int luaopen_pt(lua_State *L);
/* pt.json, the report's encoder (also `require "pt.json"` from pt.so). */
int luaopen_pt_json(lua_State *L);
/* A new state whose memory pt.recipe can bound for recipes that are not trusted (pt._bounded);
 * a state made otherwise runs them without a memory bound. */
lua_State *pt_lua_newstate(void);
/* ptlua's set-up of a new state: standard libraries, pt and pt.json preloaded, the bundled
 * modules on a fixed package.path (the environment's LUA_PATH and LUA_CPATH are ignored), and
 * the root (NULL: "/"). Then run a recipe with require("pt.recipe").ptlua{words = {...}}. */
void pt_lua_setup(lua_State *L, const char *root);
/* The root that pt.context() and pt.scan() use when not given one (ptlua --root). */
void pt_lua_set_root(lua_State *L, const char *root);
/* The zpool program those contexts ask about a ZFS pool's disks (ptlua --zpool; pt_opts.zpool). */
void pt_lua_set_zpool(lua_State *L, const char *zpool);
/* The systemctl that stops and starts the display manager when the console is handed to a VM
 * (ptlua --systemctl; pt_opts.systemctl). */
void pt_lua_set_systemctl(lua_State *L, const char *systemctl);

#endif
