/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pt.json: JSON output with a stable key order, so reports can be compared and diffed.
 * In C because the report of a host with thousands of functions encodes ~100k values, and
 * the scan must stay the dominant cost.
 *
 *   json.null            stands for null
 *   json.array(t)        marks t as a list (an empty table is otherwise an object)
 *   json.object(keys, t) fixes the order of t's keys; others follow, sorted
 *   json.record(keys, t) only those keys, in that order
 *   json.raw(text)       JSON encoded elsewhere, put as it is
 *   json.decode(s)       objects keep their key order, null is json.null; errors name the byte
 *   json.encode(v [, indent [, depth]]): indent such as "  " lays out containers one element
 *                        a line, down to depth (default: all); deeper ones stay on one line
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "libpt.h"
#include "pt-lua.h"

#include "json.h"

/* The output grows in a C buffer owned by a userdata: luaL_Buffer wants the stack top to
 * itself, which a recursive walk of tables cannot give it, and an error frees it by GC. */
struct buffer {
	char *data;
	size_t len, cap;
};

struct encoder {
	lua_State *L;
	struct buffer *b;
	const char *indent;
	size_t indent_len;
	int max_depth; /* containers deeper than this go on one line */
};

static void grow(struct encoder *enc, size_t len)
{
	struct buffer *b = enc->b;
	size_t cap = b->cap ? b->cap : 4096;
	char *data;

	while (cap < b->len + len)
		cap *= 2;
	data = realloc(b->data, cap);
	if (!data)
		luaL_error(enc->L, "json: not enough memory");
	b->data = data;
	b->cap = cap;
}

static inline void add(struct encoder *enc, const char *s, size_t len)
{
	struct buffer *b = enc->b;
	if (b->len + len > b->cap)
		grow(enc, len);
	memcpy(b->data + b->len, s, len);
	b->len += len;
}

#define put_char(enc, c) add((enc), &(char){ (c) }, 1)
#define put_str(enc, s) add((enc), (s), strlen(s))
#define put_lstr(enc, s, n) add((enc), (s), (n))

static void buffer_gc_free(struct buffer *b)
{
	free(b->data);
	*b = (struct buffer){ 0 };
}

static int buffer_gc(lua_State *L)
{
	buffer_gc_free(lua_touserdata(L, 1));
	return 0;
}

/* Containers up to max_depth get one element a line; deeper ones stay on one line. */
static void newline(struct encoder *enc, int depth)
{
	put_char(enc, '\n');
	for (int i = 0; i < depth; i++)
		put_lstr(enc, enc->indent, enc->indent_len);
}

/* Before an element of the container at depth; `first` for its first. */
static void before_element(struct encoder *enc, int depth, int first)
{
	if (enc->indent && depth < enc->max_depth)
		newline(enc, depth + 1);
	else if (enc->indent && !first)
		put_char(enc, ' ');
}

static void before_close(struct encoder *enc, int depth)
{
	if (enc->indent && depth < enc->max_depth)
		newline(enc, depth);
}

/* The library's one escaper (pt_json_quote). */
static void quote(struct encoder *enc, const char *s, size_t len)
{
	struct buffer *b = enc->b;

	if (len > (SIZE_MAX - 2) / 6)
		luaL_error(enc->L, "json: a string too long");
	if (b->len + 6 * len + 2 > b->cap)
		grow(enc, 6 * len + 2);
	b->len += pt_json_quote(b->data + b->len, s, len);
}

static void put_integer(struct encoder *enc, lua_Integer v)
{
	char buf[24], *p = buf + sizeof(buf);
	lua_Unsigned u = v < 0 ? 0 - (lua_Unsigned)v : (lua_Unsigned)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	put_lstr(enc, p, (size_t)(buf + sizeof(buf) - p));
}

static void encode(struct encoder *enc, int idx, int depth);

/* A list when marked, or a plain table whose keys are exactly 1..n with n > 0. */
static int is_array(lua_State *L, int idx, int has_mt)
{
	if (has_mt)
		return lua_rawequal(L, -1, ARRAY_MT_IDX);
	lua_Unsigned n = lua_rawlen(L, idx), count = 0;
	if (n == 0)
		return 0;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_pop(L, 1);
		if (!lua_isinteger(L, -1) || ++count > n) {
			lua_pop(L, 1);
			return 0;
		}
	}
	return count == n;
}

static int compare_strings(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void member(struct encoder *enc, int *written, int depth, int value_idx, const char *key,
		   size_t key_len)
{
	put_char(enc, *written ? ',' : '{');
	before_element(enc, depth, !(*written)++);
	quote(enc, key, key_len);
	put_str(enc, enc->indent ? ": " : ":");
	encode(enc, value_idx, depth + 1);
}

/* Object at idx, its metatable (or nil) on top of the stack, which this pops. */
static void encode_object(struct encoder *enc, int idx, int depth)
{
	lua_State *L = enc->L;
	int mt_idx = lua_gettop(L), keys_idx = 0, written = 0, declared_n = 0, total = 0;
	size_t len;

	bool only_declared = false;
	if (lua_istable(L, mt_idx) && lua_getfield(L, mt_idx, "__jsonkeys") == LUA_TTABLE) {
		keys_idx = lua_gettop(L);
		declared_n = (int)lua_rawlen(L, keys_idx);
		only_declared = lua_getfield(L, mt_idx, "__jsononly") != LUA_TNIL;
		lua_pop(L, 1);
	}
	for (int i = 1; i <= declared_n; i++) {
		if (lua_rawgeti(L, keys_idx, i) == LUA_TSTRING) {
			lua_pushvalue(L, -1);
			if (lua_rawget(L, idx) != LUA_TNIL) {
				const char *key = lua_tolstring(L, -2, &len);
				member(enc, &written, depth, lua_gettop(L), key, len);
			}
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
	lua_pushnil(L);
	while (!only_declared && lua_next(L, idx)) {
		lua_pop(L, 1);
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_error(L, "json: object key %s is not a string", luaL_tolstring(L, -1, NULL));
		total++;
	}
	if (only_declared)
		lua_pop(L, 1);
	if (total > written) {
		/* The undeclared keys, sorted; the table keeps the strings alive. */
		const char **extra = lua_newuserdatauv(L, (size_t)total * sizeof(*extra), 0);
		int n = 0;
		lua_pushnil(L);
		while (lua_next(L, idx)) {
			int declared = 0;
			lua_pop(L, 1);
			for (int i = 1; i <= declared_n && !declared; i++) {
				lua_rawgeti(L, keys_idx, i);
				declared = lua_rawequal(L, -1, -2);
				lua_pop(L, 1);
			}
			if (!declared)
				extra[n++] = lua_tostring(L, -1);
		}
		qsort(extra, (size_t)n, sizeof(*extra), compare_strings);
		for (int i = 0; i < n; i++) {
			lua_getfield(L, idx, extra[i]);
			member(enc, &written, depth, lua_gettop(L), extra[i], strlen(extra[i]));
			lua_pop(L, 1);
		}
	}
	lua_settop(L, mt_idx - 1);
	if (written == 0)
		put_str(enc, "{}");
	else {
		before_close(enc, depth);
		put_char(enc, '}');
	}
}

static void encode_table(struct encoder *enc, int idx, int depth)
{
	lua_State *L = enc->L;

	if (depth > MAX_DEPTH)
		luaL_error(L, "json: nested more than %d deep (a cycle?)", MAX_DEPTH);
	luaL_checkstack(L, 8, "json");
	int has_mt = lua_getmetatable(L, idx);
	if (!has_mt)
		lua_pushnil(L);
	else if (lua_getfield(L, -1, "__jsonraw") != LUA_TNIL) {
		/* json.raw(text): JSON written elsewhere (pt_device_to_json), put as it is */
		size_t len;
		lua_rawgeti(L, idx, 1);
		const char *text = lua_tolstring(L, -1, &len);
		if (text)
			put_lstr(enc, text, len);
		lua_pop(L, 3);
		return;
	} else
		lua_pop(L, 1);
	if (is_array(L, idx, has_mt)) {
		lua_pop(L, 1);
		lua_Unsigned n = lua_rawlen(L, idx);
		if (n == 0) {
			put_str(enc, "[]");
			return;
		}
		for (lua_Unsigned i = 1; i <= n; i++) {
			put_char(enc, i > 1 ? ',' : '[');
			before_element(enc, depth, i == 1);
			lua_rawgeti(L, idx, (lua_Integer)i);
			encode(enc, lua_gettop(L), depth + 1);
			lua_pop(L, 1);
		}
		before_close(enc, depth);
		put_char(enc, ']');
		return;
	}
	encode_object(enc, idx, depth);
}

static void encode(struct encoder *enc, int idx, int depth)
{
	lua_State *L = enc->L;
	char num[64];

	switch (lua_type(L, idx)) {
	case LUA_TNIL:
		put_str(enc, "null");
		break;
	case LUA_TBOOLEAN:
		put_str(enc, lua_toboolean(L, idx) ? "true" : "false");
		break;
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx)) {
			put_integer(enc, lua_tointeger(L, idx));
			break;
		}
		lua_Number v = lua_tonumber(L, idx);
		if (!isfinite(v))
			luaL_error(L, "json: cannot encode %f", v);
		snprintf(num, sizeof(num), "%.17g", v);
		put_str(enc, num);
		break;
	case LUA_TSTRING: {
		size_t len;
		const char *s = lua_tolstring(L, idx, &len);
		quote(enc, s, len);
		break;
	}
	case LUA_TTABLE:
		if (lua_rawequal(L, idx, NULL_IDX))
			put_str(enc, "null");
		else
			encode_table(enc, idx, depth);
		break;
	default:
		luaL_error(L, "json: cannot encode a %s", luaL_typename(L, idx));
	}
}

static int json_encode(lua_State *L)
{
	struct encoder enc = { .L = L };

	luaL_checkany(L, 1);
	enc.indent = luaL_optlstring(L, 2, NULL, &enc.indent_len);
	enc.max_depth = (int)luaL_optinteger(L, 3, MAX_DEPTH);
	lua_settop(L, 3);
	enc.b = lua_newuserdatauv(L, sizeof(*enc.b), 0);
	*enc.b = (struct buffer){ 0 };
	lua_pushvalue(L, BUFFER_MT_IDX);
	lua_setmetatable(L, -2);
	encode(&enc, 1, 0);
	lua_pushlstring(L, enc.b->data ? enc.b->data : "", enc.b->len);
	buffer_gc_free(enc.b);
	return 1;
}

static int json_array(lua_State *L)
{
	if (lua_isnoneornil(L, 1)) {
		lua_settop(L, 0);
		lua_newtable(L);
	}
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	lua_pushvalue(L, ARRAY_MT_IDX);
	lua_setmetatable(L, 1);
	return 1;
}

static int object_with(lua_State *L, bool only)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	luaL_checktype(L, 2, LUA_TTABLE);
	lua_createtable(L, 0, 2);
	lua_pushvalue(L, 1);
	lua_setfield(L, -2, "__jsonkeys");
	if (only) {
		lua_pushboolean(L, 1);
		lua_setfield(L, -2, "__jsononly");
	}
	lua_setmetatable(L, 2);
	lua_settop(L, 2);
	return 1;
}

static int json_object(lua_State *L)
{
	return object_with(L, false);
}

/* json.raw(text): a value already encoded, put in the output as it is. */
static int json_raw(lua_State *L)
{
	luaL_checkstring(L, 1);
	lua_createtable(L, 1, 0);
	lua_pushvalue(L, 1);
	lua_rawseti(L, -2, 1);
	lua_pushvalue(L, RAW_MT_IDX); /* one for all: the report makes two a device */
	lua_setmetatable(L, -2);
	return 1;
}

/* json.record(keys, t): only those keys, in that order (nil ones left out); no others. */
static int json_record(lua_State *L)
{
	return object_with(L, true);
}

__attribute__((visibility("default"))) int luaopen_pt_json(lua_State *L)
{
	static const luaL_Reg funcs[] = {
		{ "encode", json_encode }, { "decode", pt_lua_json_decode }, { "array", json_array },
		{ "object", json_object }, { "record", json_record }, { "raw", json_raw },
		{ NULL, NULL },
	};
	lua_createtable(L, 0, 4);
	int m = lua_gettop(L);
	lua_newtable(L); /* m + 1: null */
	lua_createtable(L, 0, 1);
	lua_pushliteral(L, "null");
	lua_setfield(L, -2, "__name");
	lua_pushboolean(L, 0); /* getmetatable gives false: no code changes what the encoder reads */
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);
	lua_createtable(L, 0, 1); /* m + 2: the array metatable */
	lua_pushliteral(L, "json.array");
	lua_setfield(L, -2, "__name");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_createtable(L, 0, 1); /* m + 3: the buffer metatable */
	lua_pushcfunction(L, buffer_gc);
	lua_setfield(L, -2, "__gc");
	lua_createtable(L, 0, 1); /* m + 4: the metatable of json.raw's values */
	lua_pushboolean(L, 1);
	lua_setfield(L, -2, "__jsonraw");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_pushvalue(L, m);
	for (int i = 1; i <= 4; i++)
		lua_pushvalue(L, m + i);
	luaL_setfuncs(L, funcs, 4);
	lua_pushvalue(L, m + 1);
	lua_setfield(L, m, "null");
	lua_settop(L, m);
	return 1;
}
