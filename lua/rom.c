/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Option ROMs from Lua: pt.rom_parse(data [, vendor, device]), dev:read_rom(),
 * pt.read_romfile(name), pt.write_romfile(name, data), pt.romfile_name_valid(name).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pt-lua-private.h"

static void push_image(lua_State *L, const struct pt_rom_image *img, int match, uint16_t vendor,
		       uint16_t device)
{
	lua_createtable(L, 0, 12);
	pt_lua_set_integer(L, "offset", (lua_Integer)img->offset);
	pt_lua_set_integer(L, "length", (lua_Integer)img->length);
	pt_lua_set_hex(L, "vendor_id", img->vendor_id, 4);
	pt_lua_set_hex(L, "device_id", img->device_id, 4);
	pt_lua_set_hex(L, "class", img->class_code, 6);
	pt_lua_set_integer(L, "code_type", img->code_type);
	pt_lua_set_string(L, "code", pt_rom_code_type_name(img->code_type));
	pt_lua_set_boolean(L, "last", img->last);
	if (img->checksum_ok >= 0)
		pt_lua_set_boolean(L, "checksum_ok", img->checksum_ok);
	if (img->efi_machine)
		pt_lua_set_hex(L, "efi_machine", img->efi_machine, 4);
	lua_createtable(L, (int)img->n_device_list, 0);
	for (unsigned i = 0; i < img->n_device_list; i++) {
		char id[8];
		snprintf(id, sizeof(id), "%04x", img->device_list[i]);
		lua_pushstring(L, id);
		lua_rawseti(L, -2, i + 1);
	}
	lua_setfield(L, -2, "device_list");
	if (match)
		pt_lua_set_boolean(L, "matches", pt_rom_image_matches(img, vendor, device));
}

/* pt.rom_parse(data [, vendor, device]): {start, end, problem, images = {...}} (with each
 * image's `matches` when ids are given); nil, problem, errno where no image is found. */
static int pt_lua_rom_parse(lua_State *L)
{
	size_t len;
	const char *data = luaL_checklstring(L, 1, &len);
	int match = !lua_isnoneornil(L, 2);
	lua_Integer vendor = match ? luaL_checkinteger(L, 2) : 0, device = match ? luaL_checkinteger(L, 3) : 0;
	pt_rom *rom;

	luaL_argcheck(L, vendor >= 0 && vendor <= 0xffff, 2, "a 16-bit id");
	luaL_argcheck(L, device >= 0 && device <= 0xffff, 3, "a 16-bit id");
	int r = pt_rom_parse(data, len, &rom);
	if (r < 0)
		return pt_lua_fail(L, r, strerror(-r));
	size_t n = pt_rom_get_image_count(rom);
	if (n == 0) {
		lua_pushstring(L, pt_rom_get_problem(rom));
		pt_rom_unref(rom);
		return pt_lua_fail(L, -ENOEXEC, lua_tostring(L, -1));
	}
	lua_createtable(L, 0, 4);
	pt_lua_set_integer(L, "start", (lua_Integer)pt_rom_get_start(rom));
	pt_lua_set_integer(L, "end", (lua_Integer)pt_rom_get_end(rom));
	pt_lua_set_string(L, "problem", pt_rom_get_problem(rom));
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		pt_rom_image img = PT_INIT(pt_rom_image);
		pt_rom_get_image(rom, i, &img);
		push_image(L, &img, match, (uint16_t)vendor, (uint16_t)device);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lua_setfield(L, -2, "images");
	pt_rom_unref(rom);
	return 1;
}

/* dev:read_rom(): the ROM's bytes, or nil, message, errno. */
int pt_lua_dev_read_rom(lua_State *L)
{
	pt_device *dev = pt_lua_check_open(L, 1, DEVICE_MT);
	void *data;
	size_t len;

	pt_lua_check_action(L, "read_rom");
	int r = pt_device_read_rom(dev, &data, &len);
	if (r < 0)
		return pt_lua_fail(L, r, pt_ctx_last_error(pt_enum_get_context(pt_device_get_enum(dev))));
	lua_pushlstring(L, data, len);
	free(data);
	return 1;
}

static int pt_lua_read_romfile(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	pt_ctx *ctx = pt_lua_root_context(L);
	void *data;
	size_t len;

	if (!ctx)
		return 3;
	int r = pt_ctx_read_romfile(ctx, name, &data, &len);
	if (r < 0) {
		lua_pushstring(L, pt_ctx_last_error(ctx));
		pt_ctx_unref(ctx);
		return pt_lua_fail(L, r, lua_tostring(L, -1));
	}
	pt_ctx_unref(ctx);
	lua_pushlstring(L, data, len);
	free(data);
	return 1;
}

/* pt.write_romfile(name, data): /usr/share/kvm/NAME under the root, atomically, the old one
 * backed up; true and the backup's path, or nil, message, errno. */
static int pt_lua_write_romfile(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	size_t len;
	const char *data = luaL_checklstring(L, 2, &len);
	char *backup = NULL;

	pt_lua_check_action(L, "pt.write_romfile");
	pt_ctx *ctx = pt_lua_root_context(L);
	if (!ctx)
		return 3;
	int r = pt_ctx_write_romfile(ctx, name, data, len, &backup);
	return pt_lua_written(L, ctx, r, backup);
}

static int pt_lua_romfile_name_valid(lua_State *L)
{
	lua_pushboolean(L, pt_romfile_name_valid(luaL_checkstring(L, 1)));
	return 1;
}

const luaL_Reg pt_lua_rom_funcs[] = {
	{ "rom_parse", pt_lua_rom_parse },
	{ "read_romfile", pt_lua_read_romfile },
	{ "write_romfile", pt_lua_write_romfile },
	{ "romfile_name_valid", pt_lua_romfile_name_valid },
	{ NULL, NULL },
};
