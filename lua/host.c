/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading the host under the root for recipes, which have no io: pt.listdir, pt.readlink,
 * pt.read_file, pt.syslog; and pt.remove_file, to undo what pt.write_file created. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "pt-lua-private.h"

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* pt.listdir(path): the names in a directory under the root, sorted, without . and .. */
static int pt_lua_listdir(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	lua_getfield(L, LUA_REGISTRYINDEX, ROOT_KEY);
	const char *root = lua_isstring(L, -1) ? lua_tostring(L, -1) : "/";
	const char *full = lua_pushfstring(L, "%s/%s", strcmp(root, "/") == 0 ? "" : root,
					   path[0] == '/' ? path + 1 : path);
	DIR *dir = opendir(full);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;

	if (!dir)
		return fail(L, -errno, lua_pushfstring(L, "%s: %s", full, strerror(errno)));
	while ((de = readdir(dir))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char **more = realloc(names, (n + 1) * sizeof(*names));
		if (!more || !(more[n] = strdup(de->d_name))) {
			names = more ? more : names;
			break;
		}
		names = more;
		n++;
	}
	closedir(dir);
	qsort(names, n, sizeof(*names), compare_names);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lua_pushstring(L, names[i]);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
		free(names[i]);
	}
	free(names);
	return 1;
}

/* pt.readlink(path): a link's target, the path read under the root. */
static int pt_lua_readlink(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	char target[PATH_MAX];
	lua_getfield(L, LUA_REGISTRYINDEX, ROOT_KEY);
	const char *root = lua_isstring(L, -1) ? lua_tostring(L, -1) : "/";
	const char *full = lua_pushfstring(L, "%s/%s", strcmp(root, "/") == 0 ? "" : root,
					   path[0] == '/' ? path + 1 : path);
	ssize_t n = readlink(full, target, sizeof(target) - 1);
	if (n < 0)
		return fail(L, -errno, lua_pushfstring(L, "%s: %s", full, strerror(errno)));
	lua_pushlstring(L, target, (size_t)n);
	return 1;
}

/* pt.read_file(path): a whole file as the caller names it (a report given on the command
 * line); nil, message, errno when it cannot be read. */
static int pt_lua_read_file(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	FILE *f = fopen(path, "re");
	luaL_Buffer b;
	size_t n;

	if (!f)
		return fail(L, -errno, lua_pushfstring(L, "%s: %s", path, strerror(errno)));
	luaL_buffinit(L, &b);
	do {
		char *p = luaL_prepbuffer(&b);
		n = fread(p, 1, LUAL_BUFFERSIZE, f);
		luaL_addsize(&b, n);
	} while (n == LUAL_BUFFERSIZE);
	int err = ferror(f) ? errno : 0;
	fclose(f);
	if (err)
		return fail(L, -err, lua_pushfstring(L, "%s: %s", path, strerror(err)));
	luaL_pushresult(&b);
	return 1;
}

/* pt.syslog(message): to the system log as "libpt", at notice priority. */
static int pt_lua_syslog(lua_State *L)
{
	const char *msg = luaL_checkstring(L, 1);
	openlog("libpt", LOG_PID, LOG_DAEMON);
	syslog(LOG_NOTICE, "%s", msg);
	closelog();
	return 0;
}

/* pt.remove_file(path): removes a file under the root (what an undone write created). */
static int pt_lua_remove_file(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	lua_getfield(L, LUA_REGISTRYINDEX, ROOT_KEY);
	const char *root = lua_isstring(L, -1) ? lua_tostring(L, -1) : "/";
	const char *full = lua_pushfstring(L, "%s/%s", strcmp(root, "/") == 0 ? "" : root,
					   path[0] == '/' ? path + 1 : path);
	if (unlink(full) < 0 && errno != ENOENT)
		return fail(L, -errno, lua_pushfstring(L, "%s: %s", full, strerror(errno)));
	lua_pushboolean(L, 1);
	return 1;
}

const luaL_Reg pt_lua_host_funcs[] = {
	{ "remove_file", pt_lua_remove_file },
	{ "listdir", pt_lua_listdir },
	{ "readlink", pt_lua_readlink },
	{ "read_file", pt_lua_read_file },
	{ "syslog", pt_lua_syslog },
	{ NULL, NULL },
};
