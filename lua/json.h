/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pt.json's parts: the module and its encoder (json.c), its decoder (jsondecode.c). */
#ifndef PT_LUA_JSON_H
#define PT_LUA_JSON_H

#include <lua.h>

/* Upvalues of every function: 1 null, 2 the array metatable, 3 the buffer metatable, 4 the
 * metatable of json.raw's values. */
#define NULL_IDX lua_upvalueindex(1)
#define ARRAY_MT_IDX lua_upvalueindex(2)
#define BUFFER_MT_IDX lua_upvalueindex(3)
#define RAW_MT_IDX lua_upvalueindex(4)

/* How deep containers may nest, either way. */
#define MAX_DEPTH 64

/* json.decode(s) */
int pt_lua_json_decode(lua_State *L);

#endif
