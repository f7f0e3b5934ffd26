/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Bounds on code that is not trusted (a recipe's top level, run and phases): memory, through an
 * allocator that fails past a ceiling; CPU, through an instruction-count hook that compares the
 * process's CPU time with a deadline, and RLIMIT_CPU as the backstop for time spent inside one C
 * call (a pattern match), which no hook sees; output, counted by pt.recipe. A bound once
 * exceeded stays exceeded until the bounded call returns: pt.recipe's pcall for recipes asks
 * pt._exceeded() and raises again, so a recipe cannot catch its way past a bound.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "pt-lua-private.h"

#define HOOK_EVERY 10000 /* instructions between two looks at the clock */
#define CPU_GRACE 2	 /* seconds past the bound before RLIMIT_CPU ends the process */

static struct bounds {
	size_t used, ceiling; /* bytes; ceiling 0: none */
	double deadline;      /* process CPU seconds; 0: none */
	double cpu;	      /* the bound, for its message */
	int active;
	int exceeded;
	/* a request refused once: Lua collects in an emergency and asks again; refused again, the
	 * bound is exceeded */
	const void *refused_ptr;
	size_t refused_size;
	char why[192];
} bounds;

static double cpu_now(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) < 0)
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void exceed(const char *why)
{
	if (!bounds.exceeded)
		snprintf(bounds.why, sizeof(bounds.why), "%s", why);
	bounds.exceeded = 1;
}

static void *bounded_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct bounds *b = ud;
	size_t old = ptr ? osize : 0;

	if (nsize == 0) {
		free(ptr);
		b->used -= old;
		return NULL;
	}
	if (b->ceiling && nsize > old && b->used - old + nsize > b->ceiling) {
		if (b->refused_ptr == ptr && b->refused_size == nsize) {
			char why[192];
			snprintf(why, sizeof(why), "the recipe went past its memory bound of %zu MiB (ptlua --memory-mib)",
				 b->ceiling >> 20);
			exceed(why);
		}
		b->refused_ptr = ptr;
		b->refused_size = nsize;
		return NULL; /* Lua collects and tries again, then raises "not enough memory" */
	}
	b->refused_ptr = NULL;
	b->refused_size = 0;
	void *p = realloc(ptr, nsize);
	if (p)
		b->used = b->used - old + nsize;
	return p;
}

static int panic(lua_State *L)
{
	const char *msg = lua_tostring(L, -1);
	fprintf(stderr, "PANIC: unprotected error in call to Lua API (%s)\n", msg ? msg : "error object is not a string");
	return 0;
}

lua_State *pt_lua_newstate(void)
{
	lua_State *L = lua_newstate(bounded_alloc, &bounds);
	if (L)
		lua_atpanic(L, panic);
	return L;
}

static void hook(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	if (bounds.deadline > 0 && cpu_now() > bounds.deadline) {
		char why[192];
		snprintf(why, sizeof(why), "the recipe ran past its CPU bound of %g s (ptlua --cpu-seconds)", bounds.cpu);
		exceed(why);
	}
	if (bounds.exceeded)
		luaL_error(L, "%s", bounds.why);
}

/* Past the hook's reach (one C call that does not return): the process ends, saying why. A
 * recipe's actions are transactions journaled before each write, so the next restore gives back
 * what one left. */
static void on_sigxcpu(int sig)
{
	static const char msg[] = "ptlua: the recipe ran past its CPU bound inside one call (ptlua --cpu-seconds); "
				  "stopped\n";
	(void)sig;
	ssize_t n = write(2, msg, sizeof(msg) - 1);
	(void)n;
	_exit(1);
}

/* pt._bounded({cpu = seconds, memory = bytes}, fn, ...): fn(...) under those bounds (0 or nil:
 * none); true and its results, or false and its error value, or false and the bound's message. */
static int l_bounded(lua_State *L)
{
	void *ud;
	lua_Number cpu;
	lua_Integer memory;
	struct rlimit before, rl;
	struct sigaction old_action, on_xcpu = { .sa_handler = on_sigxcpu };
	bool cpu_limited = false;

	luaL_checktype(L, 1, LUA_TTABLE);
	luaL_checktype(L, 2, LUA_TFUNCTION);
	if (bounds.active)
		return luaL_error(L, "pt._bounded: already bounded");
	lua_getfield(L, 1, "cpu");
	cpu = luaL_optnumber(L, -1, 0);
	lua_getfield(L, 1, "memory");
	memory = luaL_optinteger(L, -1, 0);
	lua_pop(L, 2);
	lua_remove(L, 1);
	int nargs = lua_gettop(L) - 1;

	bounds.exceeded = 0;
	bounds.why[0] = '\0';
	bounds.active = 1;
	bounds.ceiling = memory > 0 && lua_getallocf(L, &ud) == bounded_alloc ? bounds.used + (size_t)memory : 0;
	bounds.deadline = cpu > 0 ? cpu_now() + cpu : 0;
	bounds.cpu = cpu;
	if (cpu > 0) {
		lua_sethook(L, hook, LUA_MASKCOUNT, HOOK_EVERY);
		if (getrlimit(RLIMIT_CPU, &before) == 0) {
			rl = before;
			rlim_t stop = (rlim_t)(cpu_now() + cpu + CPU_GRACE + 1);
			/* never past a lower limit someone set already */
			if ((before.rlim_cur == RLIM_INFINITY || stop < before.rlim_cur) &&
			    sigaction(SIGXCPU, &on_xcpu, &old_action) == 0) {
				rl.rlim_cur = stop;
				cpu_limited = setrlimit(RLIMIT_CPU, &rl) == 0;
				if (!cpu_limited)
					sigaction(SIGXCPU, &old_action, NULL);
			}
		}
	}
	int status = lua_pcall(L, nargs, LUA_MULTRET, 0);
	/* back in libpt's own code: no bound applies */
	lua_sethook(L, NULL, 0, 0);
	if (cpu_limited) {
		setrlimit(RLIMIT_CPU, &before);
		sigaction(SIGXCPU, &old_action, NULL);
	}
	bounds.ceiling = 0;
	bounds.refused_ptr = NULL;
	bounds.refused_size = 0;
	bounds.deadline = 0;
	bounds.active = 0;
	if (bounds.exceeded) {
		lua_settop(L, 0);
		lua_pushboolean(L, 0);
		lua_pushstring(L, bounds.why);
		return 2;
	}
	lua_pushboolean(L, status == LUA_OK);
	lua_insert(L, 1);
	return lua_gettop(L);
}

/* pt._exceeded(): the bound exceeded in this bounded call, or nil. */
static int l_exceeded(lua_State *L)
{
	if (bounds.exceeded)
		lua_pushstring(L, bounds.why);
	else
		lua_pushnil(L);
	return 1;
}

/* pt._exceed(message): a bound that pt.recipe counts itself (output) exceeded: raised, and
 * raised again by every pcall of the recipe's. */
static int l_exceed(lua_State *L)
{
	exceed(luaL_checkstring(L, 1));
	return luaL_error(L, "%s", bounds.why);
}

const luaL_Reg pt_lua_bounds_funcs[] = {
	{ "_bounded", l_bounded },
	{ "_exceeded", l_exceeded },
	{ "_exceed", l_exceed },
	{ NULL, NULL },
};
