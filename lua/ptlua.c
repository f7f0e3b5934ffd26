/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ptlua: runs libpt's Lua scripts and recipes, the way lua.c runs a script.
 *
 *   ptlua [--root DIR] [--zpool PROGRAM] [--systemctl PROGRAM] [-v] [--trusted]
 *         [--cpu-seconds N] [--memory-mib N] [--output-kib N] SCRIPT [ARGS...]
 *   ptlua --describe SCRIPT | --check SCRIPT... | --list
 *   ptlua hookscript --vm VMID --recipe NAME [RECIPE OPTIONS...]
 *
 * It runs as root from Proxmox hookscripts, so the environment does not steer it: LUA_INIT,
 * LUA_PATH and LUA_CPATH are ignored and the bundled modules are found next to the binary
 * (build tree) or in the installed data directory. Exit 0 success, 1 failure, 2 usage.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "pt-lua.h"

static const char *progname = "ptlua";
static int verbose;

static void usage(void)
{
	fprintf(stderr, "usage: %s [--root DIR] [--zpool PROGRAM] [--systemctl PROGRAM] [-v] [--trusted] SCRIPT [ARGS...]\n"
			"       %s --describe SCRIPT\n"
			"       %s --check SCRIPT...\n"
			"       %s --list\n"
			"       %s hookscript --vm VMID --recipe NAME [RECIPE OPTIONS...] [--storage ID]\n"
			"  SCRIPT        a path, or a recipe's name: the admin's in /etc/libpt/recipes, then the\n"
			"                bundled ones (ptlua --list)\n"
			"  --root DIR    read /sys, /proc, /dev, /run and /etc under DIR\n"
			"  --zpool PROGRAM  the zpool that says a ZFS pool's disks (default /usr/sbin/zpool)\n"
			"  --systemctl PROGRAM  the systemctl that stops and starts the display manager\n"
			"                   (default /usr/bin/systemctl; none under --root)\n"
			"  -v            show a traceback with errors\n"
			"  --trusted     run the script with Lua's whole library (io, os), not in the sandbox\n"
			"  --cpu-seconds N, --memory-mib N, --output-kib N\n"
			"                the bounds of a recipe that is not trusted, 0 for none (defaults:\n"
			"                a hookscript phase, --check, --describe 10 s, 64 MiB, 1024 KiB; a run\n"
			"                120 s, 1024 MiB, 1048576 KiB)\n"
			"  --describe    print a recipe's help\n"
			"  --check       check recipes without running them\n"
			"  --list        list the recipes by name, each with its description\n"
			"A recipe run as SCRIPT VMID PHASE is a Proxmox hookscript.\n",
		progname, progname, progname, progname, progname);
}

static int msghandler(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);
	if (!msg) {
		if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
			return 1;
		msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
	}
	if (verbose)
		luaL_traceback(L, L, msg, 1);
	return 1;
}

/* arg[0] is the script, arg[1..] its arguments, arg[-1..] ptlua and its options. */
static void set_arg(lua_State *L, char **argv, int argc, int script)
{
	lua_createtable(L, argc - script - 1 > 0 ? argc - script - 1 : 0, script + 1);
	for (int i = 0; i < argc; i++) {
		lua_pushstring(L, argv[i]);
		lua_rawseti(L, -2, i - script);
	}
	lua_setglobal(L, "arg");
}

static int report(lua_State *L, int status)
{
	if (status != LUA_OK) {
		fprintf(stderr, "%s: %s\n", progname, lua_tostring(L, -1));
		lua_pop(L, 1);
	}
	return status;
}

struct main_args {
	int argc;
	char **argv;
	int script;
	const char *root;
	const char *zpool;
	const char *systemctl;
	const char *mode; /* "run", "describe", "check" */
	long bounds[3];	  /* cpu seconds, memory MiB, output KiB; 0: none */
	int bound_given[3]; /* not given: pt.recipe's default */
	int trusted;
	int exit_code;
};

/*
 * Loading, the sandbox, recipes, --describe, --check and the hookscript mode live in
 * pt.recipe (lua/pt/recipe.lua): this sets the interpreter up and hands over.
 */
static int pmain(lua_State *L)
{
	struct main_args *a = lua_touserdata(L, 1);

	luaL_checkversion(L);
	pt_lua_setup(L, a->root);
	if (a->zpool)
		pt_lua_set_zpool(L, a->zpool);
	if (a->systemctl)
		pt_lua_set_systemctl(L, a->systemctl);
	set_arg(L, a->argv, a->argc, a->script);
	lua_gc(L, LUA_GCRESTART);
	lua_gc(L, LUA_GCGEN, 0, 0);

	lua_pushcfunction(L, msghandler);
	int base = lua_gettop(L);
	lua_getglobal(L, "require");
	lua_pushliteral(L, "pt.recipe");
	lua_call(L, 1, 1);
	lua_getfield(L, -1, "ptlua");
	lua_createtable(L, 0, 3);
	lua_pushstring(L, a->mode);
	lua_setfield(L, -2, "mode");
	lua_pushboolean(L, a->trusted);
	lua_setfield(L, -2, "trusted");
	lua_createtable(L, a->argc - a->script, 0);
	for (int i = a->script; i < a->argc; i++) {
		lua_pushstring(L, a->argv[i]);
		lua_rawseti(L, -2, i - a->script + 1);
	}
	lua_setfield(L, -2, "words");
	lua_createtable(L, 0, 3);
	static const char *const names[] = { "cpu", "memory", "output" };
	static const lua_Integer unit[] = { 1, 1 << 20, 1 << 10 };
	for (int i = 0; i < 3; i++)
		if (a->bound_given[i]) {
			lua_pushinteger(L, (lua_Integer)a->bounds[i] * unit[i]);
			lua_setfield(L, -2, names[i]);
		}
	lua_setfield(L, -2, "bounds");
	if (lua_pcall(L, 1, 1, base) != LUA_OK)
		return lua_error(L);
	a->exit_code = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
	return 0;
}

static lua_State *L; /* a global: at exit, still reachable for leak checkers */

/* The index of a bound's option in main_args.bounds, -1 for another word. */
static int bound_option(const char *word)
{
	static const char *const options[] = { "--cpu-seconds", "--memory-mib", "--output-kib" };
	for (int i = 0; i < 3; i++)
		if (strcmp(word, options[i]) == 0)
			return i;
	return -1;
}

int main(int argc, char **argv)
{
	struct main_args a = { .argc = argc, .argv = argv, .mode = "run" };
	int i, b;

	if (argv[0] && argv[0][0])
		progname = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-v") == 0)
			verbose = 1;
		else if (strcmp(argv[i], "--describe") == 0)
			a.mode = "describe";
		else if (strcmp(argv[i], "--check") == 0)
			a.mode = "check";
		else if (strcmp(argv[i], "--list") == 0)
			a.mode = "list";
		else if (strcmp(argv[i], "--trusted") == 0)
			a.trusted = 1;
		else if (strcmp(argv[i], "--zpool") == 0 && i + 1 < argc)
			a.zpool = argv[++i];
		else if (strcmp(argv[i], "--systemctl") == 0 && i + 1 < argc)
			a.systemctl = argv[++i];
		else if (strcmp(argv[i], "--root") == 0 && i + 1 < argc)
			a.root = argv[++i];
		else if ((b = bound_option(argv[i])) >= 0 && i + 1 < argc) {
			char *end;
			long v = strtol(argv[++i], &end, 10);
			if (*end || v < 0 || v > 1L << 20) {
				fprintf(stderr, "%s: %s '%s': a whole number from 0 (no bound) to %ld\n", progname, argv[i - 1],
					argv[i], 1L << 20);
				return 2;
			}
			a.bounds[b] = v;
			a.bound_given[b] = 1;
		}
		else if (strncmp(argv[i], "--root=", 7) == 0)
			a.root = argv[i] + 7;
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage();
			return 0;
		} else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "%s: unknown option '%s'\n", progname, argv[i]);
			usage();
			return 2;
		} else
			break;
	}
	if (i >= argc && strcmp(a.mode, "list") != 0) {
		usage();
		return 2;
	}
	a.script = i;

	L = pt_lua_newstate();
	if (!L) {
		fprintf(stderr, "%s: cannot create the Lua state: not enough memory\n", progname);
		return 1;
	}
	lua_gc(L, LUA_GCSTOP);
	lua_pushcfunction(L, pmain);
	lua_pushlightuserdata(L, &a);
	int status = report(L, lua_pcall(L, 1, 0, 0));
	/* The state is left to the process's end, as os.exit leaves it: closing it frees every
	 * object one by one (8% of the JSON report's instructions on 4096 functions, callgrind),
	 * and what must happen at the end happens anyway (exit flushes the files; descriptors and
	 * locks go with the process). PTLUA_CLOSE_STATE=1 closes it, for leak checkers. */
	const char *close_state = getenv("PTLUA_CLOSE_STATE");
	if (close_state && strcmp(close_state, "1") == 0)
		lua_close(L);
	fflush(NULL);
	if (status != LUA_OK)
		return 1;
	return a.exit_code;
}
