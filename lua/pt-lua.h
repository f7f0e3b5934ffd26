/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What ptlua, and any C program that embeds the same interpreter set-up, needs of the binding. */
#ifndef PT_LUA_H
#define PT_LUA_H

#include <lua.h>

int luaopen_pt(lua_State *L);
/* pt.json, the report's encoder (also `require "pt.json"` from pt.so). */
int luaopen_pt_json(lua_State *L);
/* The root that pt.context() and pt.scan() use when not given one (ptlua --root). */
void pt_lua_set_root(lua_State *L, const char *root);

#endif
