/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pt.json's decode (json.c is the module and its encoder): objects become tables with their
 * keys in order (json.object), lists json.array, null json.null; errors name the byte offset.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "json.h"

/* ---- decoding: objects become tables with their keys in order (json.object), lists
 * json.array, null json.null; errors name the byte offset ---- */

struct decoder {
	lua_State *L;
	const char *s, *p, *end;
	int depth;
};

static void fail_at(struct decoder *d, const char *what)
{
	luaL_error(d->L, "json: %s at byte %d", what, (int)(d->p - d->s) + 1);
}

static void skip_space(struct decoder *d)
{
	while (d->p < d->end && (*d->p == ' ' || *d->p == '\t' || *d->p == '\n' || *d->p == '\r'))
		d->p++;
}

static void decode_value(struct decoder *d);

static void put_utf8(luaL_Buffer *b, unsigned long c)
{
	char buf[4];
	int n;
	if (c < 0x80) { buf[0] = (char)c; n = 1; }
	else if (c < 0x800) { buf[0] = (char)(0xc0 | c >> 6); buf[1] = (char)(0x80 | (c & 0x3f)); n = 2; }
	else if (c < 0x10000) { buf[0] = (char)(0xe0 | c >> 12); buf[1] = (char)(0x80 | (c >> 6 & 0x3f));
		buf[2] = (char)(0x80 | (c & 0x3f)); n = 3; }
	else { buf[0] = (char)(0xf0 | c >> 18); buf[1] = (char)(0x80 | (c >> 12 & 0x3f));
		buf[2] = (char)(0x80 | (c >> 6 & 0x3f)); buf[3] = (char)(0x80 | (c & 0x3f)); n = 4; }
	luaL_addlstring(b, buf, (size_t)n);
}

static unsigned long hex4(struct decoder *d)
{
	unsigned long v = 0;
	for (int i = 0; i < 4; i++, d->p++) {
		char c = d->p < d->end ? *d->p : 0;
		int x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (x < 0)
			fail_at(d, "bad \\u escape");
		v = v * 16 + (unsigned long)x;
	}
	return v;
}

static void decode_string(struct decoder *d)
{
	luaL_Buffer b;
	luaL_buffinit(d->L, &b);
	d->p++;
	while (d->p < d->end && *d->p != '"') {
		unsigned char c = (unsigned char)*d->p++;
		if (c < 0x20)
			fail_at(d, "control character in a string");
		if (c != '\\') {
			luaL_addchar(&b, (char)c);
			continue;
		}
		if (d->p >= d->end)
			break;
		c = (unsigned char)*d->p++;
		const char *simple = strchr("\"\\/bfnrt", c);
		if (simple && c)
			luaL_addchar(&b, "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"]);
		else if (c == 'u') {
			unsigned long cp = hex4(d);
			if (cp >= 0xdc00 && cp < 0xe000)
				fail_at(d, "a lone low surrogate");
			if (cp >= 0xd800 && cp < 0xdc00) {
				if (!(d->p + 1 < d->end && d->p[0] == '\\' && d->p[1] == 'u'))
					fail_at(d, "a lone high surrogate");
				d->p += 2;
				unsigned long low = hex4(d);
				if (low < 0xdc00 || low >= 0xe000)
					fail_at(d, "a high surrogate without its low one");
				cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
			}
			put_utf8(&b, cp);
		} else
			fail_at(d, "bad escape");
	}
	if (d->p >= d->end)
		fail_at(d, "unterminated string");
	d->p++;
	luaL_pushresult(&b);
}

static void decode_container(struct decoder *d, char close)
{
	lua_State *L = d->L;
	int n = 0;

	if (++d->depth > MAX_DEPTH)
		fail_at(d, "nested too deep");
	luaL_checkstack(L, 6, "json");
	d->p++;
	lua_newtable(L); /* the value */
	if (close == '}')
		lua_newtable(L); /* its keys, in order */
	skip_space(d);
	if (d->p < d->end && *d->p == close)
		d->p++;
	else
		for (;;) {
			skip_space(d);
			if (close == '}') {
				if (d->p >= d->end || *d->p != '"')
					fail_at(d, "expected a string key");
				decode_string(d);
				lua_pushvalue(L, -1);
				lua_rawseti(L, -3, ++n);
				skip_space(d);
				if (d->p >= d->end || *d->p++ != ':')
					fail_at(d, "expected ':'");
				decode_value(d);
				lua_rawset(L, -4);
			} else {
				decode_value(d);
				lua_rawseti(L, -2, ++n);
			}
			skip_space(d);
			if (d->p < d->end && *d->p == ',') {
				d->p++;
				continue;
			}
			if (d->p < d->end && *d->p == close) {
				d->p++;
				break;
			}
			fail_at(d, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
		}
	if (close == '}') {
		lua_createtable(L, 0, 1);
		lua_insert(L, -2);
		lua_setfield(L, -2, "__jsonkeys");
		lua_setmetatable(L, -2);
	} else {
		lua_pushvalue(L, ARRAY_MT_IDX);
		lua_setmetatable(L, -2);
	}
	d->depth--;
}

static void decode_value(struct decoder *d)
{
	skip_space(d);
	if (d->p >= d->end)
		fail_at(d, "unexpected end");
	char c = *d->p;
	if (c == '{' || c == '[')
		decode_container(d, c == '{' ? '}' : ']');
	else if (c == '"')
		decode_string(d);
	else if (d->end - d->p >= 4 && strncmp(d->p, "true", 4) == 0) {
		lua_pushboolean(d->L, 1);
		d->p += 4;
	} else if (d->end - d->p >= 5 && strncmp(d->p, "false", 5) == 0) {
		lua_pushboolean(d->L, 0);
		d->p += 5;
	} else if (d->end - d->p >= 4 && strncmp(d->p, "null", 4) == 0) {
		lua_pushvalue(d->L, NULL_IDX);
		d->p += 4;
	} else {
		/* RFC 8259: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, finite */
		char num[64];
		const char *q = d->p;
		if (q < d->end && *q == '-')
			q++;
		if (q < d->end && *q == '0')
			q++;
		else if (q < d->end && *q >= '1' && *q <= '9')
			while (q < d->end && *q >= '0' && *q <= '9')
				q++;
		else
			fail_at(d, "unexpected character");
		if (q < d->end && *q == '.') {
			if (++q >= d->end || *q < '0' || *q > '9')
				fail_at(d, "bad number");
			while (q < d->end && *q >= '0' && *q <= '9')
				q++;
		}
		if (q < d->end && (*q == 'e' || *q == 'E')) {
			q++;
			if (q < d->end && (*q == '+' || *q == '-'))
				q++;
			if (q >= d->end || *q < '0' || *q > '9')
				fail_at(d, "bad number");
			while (q < d->end && *q >= '0' && *q <= '9')
				q++;
		}
		size_t len = (size_t)(q - d->p);
		if (len >= sizeof(num))
			fail_at(d, "a number too long");
		memcpy(num, d->p, len);
		num[len] = '\0';
		if (!lua_stringtonumber(d->L, num))
			fail_at(d, "bad number");
		if (lua_type(d->L, -1) == LUA_TNUMBER && !lua_isinteger(d->L, -1) && !isfinite(lua_tonumber(d->L, -1)))
			fail_at(d, "a number out of range");
		d->p += len;
	}
}

int pt_lua_json_decode(lua_State *L)
{
	size_t len;
	struct decoder d = { .L = L };

	d.s = d.p = luaL_checklstring(L, 1, &len);
	d.end = d.s + len;
	lua_settop(L, 1);
	decode_value(&d);
	skip_space(&d);
	if (d.p != d.end)
		fail_at(&d, "trailing characters");
	return 1;
}

