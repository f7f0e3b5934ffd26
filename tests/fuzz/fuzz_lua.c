/*
 * libFuzzer target: the parsers written in Lua and the JSON decoder, in ptlua's interpreter.
 * The first byte picks one: json.decode, the Proxmox VM config, a property string, a recipe's
 * command line, a recipe itself (loaded in the sandbox, bounded, its table validated: tables with
 * metatables, odd fields, defaults). A clean refusal (an error naming the value, raised without a position) is
 * fine; an error positioned in a module ("proxmox.lua:12: attempt to ...": a runtime error of
 * the parser itself) is a bug, and aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "../../lua/pt-lua.h"

static lua_State *L;

/* "…/pt/proxmox.lua:123: ..." : an error raised in the code of a module, not by its refusal. */
static int from_module_code(const char *msg)
{
	const char *colon = strstr(msg, ".lua:");
	if (!colon)
		return 0;
	const char *p = colon + 5;
	if (*p < '0' || *p > '9')
		return 0;
	while (*p >= '0' && *p <= '9')
		p++;
	return p[0] == ':' && p[1] == ' ' && strchr(msg, ':') == colon + 4;
}

static const char HARNESS[] =
	"local which, s = ...\n"
	"local json, proxmox, recipe = require 'pt.json', require 'pt.proxmox', require 'pt.recipe'\n"
	"if which == 0 then return json.decode(s) end\n"
	"if which == 1 then return proxmox.parse_config(s, 'fuzz.conf') end\n"
	"if which == 2 then return proxmox.parse_props(s, 'host') end\n"
	"if which == 4 then\n"
	"  local pt = require 'pt'\n"
	"  pt._loading(true)\n"
	"  local env = recipe.sandbox { print = function() end, warn = function() end }\n"
	"  env.string = { format = string.format, len = string.len, sub = string.sub, byte = string.byte }\n"
	"  local chunk = load(s, '=recipe', 't', env)\n"
	"  if not chunk then return end\n"
	"  local ok, r = pt._bounded({ cpu = 1, memory = 16 << 20 }, chunk)\n"
	"  if ok and type(r) == 'table' then return recipe.validate(r, 'fuzz') end\n"
	"  return\n"
	"end\n"
	"local r = { name = 'f', description = 'd', run = function() end, args = {\n"
	"  { name = 'vm', type = 'vmid' }, { name = 'id', type = 'usb-id' }, { name = 'dev', type = 'pci-addr' },\n"
	"  { name = 'port', type = 'usb-port' }, { name = 'n', type = 'integer' }, { name = 'b', type = 'bool' } } }\n"
	"local words = {}\n"
	"for w in s:gmatch('%S+') do words[#words + 1] = w end\n"
	"return recipe.parse(r, words)\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!L) {
		L = pt_lua_newstate(); /* the recipe case's memory is bounded */
		pt_lua_setup(L, NULL);
		lua_getglobal(L, "package"); /* the modules of this tree */
		lua_pushstring(L, FUZZ_LUA_PATH);
		lua_setfield(L, -2, "path");
		lua_pop(L, 1);
	}
	if (size < 1)
		return 0;
	lua_settop(L, 0);
	if (luaL_loadbuffer(L, HARNESS, sizeof(HARNESS) - 1, "=fuzz") != LUA_OK)
		abort();
	lua_pushinteger(L, data[0] % 5);
	lua_pushlstring(L, (const char *)data + 1, size - 1);
	if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
		const char *msg = lua_tostring(L, -1);
		if (!msg || from_module_code(msg))
			abort();
	}
	lua_settop(L, 0);
	return 0;
}
