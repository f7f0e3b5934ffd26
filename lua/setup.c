/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The interpreter set-up of ptlua, for any C program that embeds Lua with libpt: the standard
 * libraries, `pt` and `pt.json` preloaded, the bundled Lua modules found beside the binary (or
 * where they were installed; their bytecode, which `make` compiles, where it is not older than
 * their sources), and nothing from LUA_PATH, LUA_CPATH or LUA_INIT.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "pt-lua-private.h"

#ifndef PT_LUADIR
#define PT_LUADIR "/usr/local/share/libpt/lua"
#endif
#ifndef PT_SCRIPTDIR
#define PT_SCRIPTDIR "/usr/local/share/libpt/scripts"
#endif

/*
 * A searcher before Lua's own: a module on package.path whose bytecode (X.luac, compiled by
 * make) is there and not older than its source is loaded from the bytecode; an edited source
 * is never shadowed by stale bytecode. Returns like Lua's searchers.
 */
static int bytecode_searcher(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	struct stat src, bin;

	lua_getglobal(L, "package");
	lua_getfield(L, -1, "searchpath");
	lua_pushvalue(L, 1);
	lua_getfield(L, -3, "path");
	lua_call(L, 2, 1);
	const char *path = lua_tostring(L, -1);
	if (!path) {
		lua_pushfstring(L, "no bytecode for '%s'", name);
		return 1;
	}
	const char *luac = lua_pushfstring(L, "%sc", path);
	if (stat(luac, &bin) < 0 ||
	    (stat(path, &src) == 0 && (bin.st_mtim.tv_sec < src.st_mtim.tv_sec ||
				       (bin.st_mtim.tv_sec == src.st_mtim.tv_sec &&
					bin.st_mtim.tv_nsec < src.st_mtim.tv_nsec)))) {
		lua_pushfstring(L, "no fresh bytecode %s", luac);
		return 1;
	}
	if (luaL_loadfilex(L, luac, "b") != LUA_OK)
		return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name, luac,
				  lua_tostring(L, -1));
	lua_pushstring(L, luac);
	return 2;
}

/* The bundled modules and recipes: lua/ and scripts/ beside the binary in the build tree,
 * share/libpt/{lua,scripts} beside an installed bin/ (wherever PREFIX put it), else the
 * directories fixed at build time. The recipes' directory and the interpreter's own path go to
 * the registry (PT_SETUP_KEY) for pt.recipe: recipes by name, hookscript snippets' shebang. */
static void set_paths(lua_State *L)
{
	static const char *const beside[] = { "%s/pt/recipe.lua", "%s/../share/libpt/lua/pt/recipe.lua" };
	static const char *const recipes_beside[] = { "%s/../scripts", "%s/../share/libpt/scripts" };
	char exe[PATH_MAX], probe[PATH_MAX + 64];
	const char *dir = PT_LUADIR, *suffix = "";
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	int found = -1;

	lua_createtable(L, 0, 2);
	if (n > 0) {
		exe[n] = '\0';
		lua_pushstring(L, exe);
		lua_setfield(L, -2, "interpreter");
		char *slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
		for (int i = 0; slash && i < 2; i++) {
			snprintf(probe, sizeof(probe), beside[i], exe);
			if (access(probe, R_OK) == 0) {
				dir = exe;
				suffix = i ? "/../share/libpt/lua" : "";
				found = i;
				break;
			}
		}
	}
	if (found >= 0)
		lua_pushfstring(L, recipes_beside[found], exe);
	else
		lua_pushstring(L, PT_SCRIPTDIR);
	lua_setfield(L, -2, "recipes");
	lua_setfield(L, LUA_REGISTRYINDEX, PT_SETUP_KEY);
	lua_getglobal(L, "package");
	lua_pushfstring(L, "%s%s/?.lua;%s%s/?/init.lua", dir, suffix, dir, suffix);
	lua_setfield(L, -2, "path");
	lua_getfield(L, -1, "searchers"); /* 1 preload, then ours, then Lua's */
	for (lua_Integer i = (lua_Integer)lua_rawlen(L, -1); i >= 2; i--) {
		lua_rawgeti(L, -1, i);
		lua_rawseti(L, -2, i + 1);
	}
	lua_pushcfunction(L, bytecode_searcher);
	lua_rawseti(L, -2, 2);
	lua_pop(L, 1);
	lua_pushliteral(L, "");
	lua_setfield(L, -2, "cpath");
	lua_getfield(L, -1, "preload");
	lua_pushcfunction(L, luaopen_pt);
	lua_setfield(L, -2, "pt");
	lua_pushcfunction(L, luaopen_pt_json);
	lua_setfield(L, -2, "pt.json");
	lua_pop(L, 2);
}

__attribute__((visibility("default"))) void pt_lua_setup(lua_State *L, const char *root)
{
	luaL_openlibs(L);
	set_paths(L);
	if (root)
		pt_lua_set_root(L, root);
}
