/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reading the host for recipes, which have no io: pt.listdir, pt.readlink, pt.read_file, read
 * only, under the root and only where recipes need to look (CONFINED); pt.syslog; and
 * pt.remove_file, for the modules that undo what pt.write_file created (recipes do not get it).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/openat2.h>

#include "pt-lua-private.h"

#define MAX_FILE (16 << 20)

/* What recipes may read, under the root. */
static const char *const CONFINED[] = { "sys/", "dev/disk/", "etc/pve/", "run/libpt/", NULL };

static const char *root_of(lua_State *L)
{
	lua_getfield(L, LUA_REGISTRYINDEX, ROOT_KEY);
	const char *root = lua_isstring(L, -1) ? lua_tostring(L, -1) : "/";
	lua_pop(L, 1);
	return root; /* the registry keeps the string */
}

/*
 * Opens an absolute path under the root for reading: no "." or ".." component, inside one of
 * CONFINED, every link resolved inside the root (openat2 RESOLVE_IN_ROOT, no /proc magic links).
 * Returns the fd, or -errno with the message pushed.
 */
static int open_confined(lua_State *L, const char *path, int flags)
{
	const char *root = root_of(L);
	char rel[PATH_MAX];
	bool inside = false;

	if (path[0] != '/' || strlen(path) >= sizeof(rel)) {
		lua_pushfstring(L, "%s: recipes read absolute paths under the root", path);
		return -EINVAL;
	}
	snprintf(rel, sizeof(rel), "%s/", path + 1);
	for (char *c = rel, *next; *c; c = next + 1) {
		next = strchr(c, '/');
		if (next == c || (next - c == 1 && c[0] == '.') || (next - c == 2 && c[0] == '.' && c[1] == '.')) {
			lua_pushfstring(L, "%s: no empty, '.' or '..' components", path);
			return -EINVAL;
		}
	}
	for (int i = 0; CONFINED[i]; i++)
		inside |= strncmp(rel, CONFINED[i], strlen(CONFINED[i])) == 0;
	if (!inside) {
		lua_pushfstring(L, "%s: recipes read only /sys, /dev/disk, /etc/pve and /run/libpt", path);
		return -EACCES;
	}
	rel[strlen(rel) - 1] = '\0';
	int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		int err = errno;
		lua_pushfstring(L, "%s: %s", root, strerror(err));
		return -err;
	}
	struct open_how how = { .flags = (unsigned)flags | O_CLOEXEC | O_NOCTTY,
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	int fd = (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS) /* before Linux 5.6: the components were checked above */
		fd = openat(rootfd, rel, flags | O_CLOEXEC | O_NOCTTY);
	int err = errno;
	close(rootfd);
	if (fd < 0) {
		lua_pushfstring(L, "%s%s: %s", strcmp(root, "/") == 0 ? "" : root, path, strerror(err));
		return -err;
	}
	return fd;
}

/* The whole of a regular file (fd taken and closed), at most MAX_FILE bytes. */
static int read_regular(lua_State *L, int fd, const char *path)
{
	struct stat st;
	luaL_Buffer b;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return pt_lua_fail(L, -EINVAL, lua_pushfstring(L, "%s: not a regular file", path));
	}
	luaL_buffinit(L, &b);
	size_t total = 0;
	for (;;) {
		char *p = luaL_prepbuffer(&b);
		ssize_t n = read(fd, p, LUAL_BUFFERSIZE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || total + (size_t)n > MAX_FILE) {
			int err = n < 0 ? errno : EFBIG;
			close(fd);
			return pt_lua_fail(L, -err, lua_pushfstring(L, "%s: %s", path, strerror(err)));
		}
		if (n == 0)
			break;
		luaL_addsize(&b, (size_t)n);
		total += (size_t)n;
	}
	close(fd);
	luaL_pushresult(&b);
	return 1;
}

/* pt.listdir(path): the names in a directory under the root, sorted, without . and .. */
static int pt_lua_listdir(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	int fd = open_confined(L, path, O_RDONLY | O_DIRECTORY);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;

	if (fd < 0)
		return pt_lua_fail(L, fd, lua_tostring(L, -1));
	DIR *dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return pt_lua_fail(L, -ENOMEM, NULL);
	}
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
	return pt_lua_push_names(L, names, n);
}

/* pt.readlink(path): a link's target; its directory is opened as pt.listdir's. */
static int pt_lua_readlink(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	const char *slash = strrchr(path, '/');
	char target[PATH_MAX];

	lua_pushlstring(L, path, slash && slash > path ? (size_t)(slash - path) : 1);
	int dir = open_confined(L, lua_tostring(L, -1), O_RDONLY | O_DIRECTORY);
	if (dir < 0)
		return pt_lua_fail(L, dir, lua_tostring(L, -1));
	ssize_t n = slash && slash[1] ? readlinkat(dir, slash + 1, target, sizeof(target) - 1) : -1;
	int err = slash && slash[1] ? errno : EINVAL;
	close(dir);
	if (n < 0)
		return pt_lua_fail(L, -err, lua_pushfstring(L, "%s: %s", path, strerror(err)));
	lua_pushlstring(L, target, (size_t)n);
	return 1;
}

/* pt.read_file(path): a regular file under the root, as pt.listdir confines it (never a FIFO
 * or device: nothing blocks); nil, message, errno when it cannot be read. */
static int pt_lua_read_file(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	int fd = open_confined(L, path, O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return pt_lua_fail(L, fd, lua_tostring(L, -1));
	return read_regular(L, fd, path);
}

/* pt.read_host_file(path): a regular file under the root, read for libpt's own modules (the host
 * plan reads /etc/default/grub, modprobe.d, /proc/cpuinfo): links resolved inside the root,
 * never blocking; nil, message, errno otherwise. Recipes do not get it (pt.recipe hides it). */
static int pt_lua_read_host_file(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	const char *root = root_of(L);
	luaL_argcheck(L, path[0] == '/' && !strstr(path, "/../") && !strstr(path, "/./"), 1, "a plain absolute path");
	int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return pt_lua_fail(L, -errno, lua_pushfstring(L, "%s: %s", root, strerror(errno)));
	struct open_how how = { .flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	int fd = (int)syscall(SYS_openat2, rootfd, path + 1, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)
		fd = openat(rootfd, path + 1, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	int err = errno;
	close(rootfd);
	if (fd < 0)
		return pt_lua_fail(L, -err, lua_pushfstring(L, "%s%s: %s", strcmp(root, "/") == 0 ? "" : root, path,
							  strerror(err)));
	return read_regular(L, fd, path);
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
	pt_lua_check_action(L, "pt.remove_file");
	const char *root = root_of(L);
	const char *full = lua_pushfstring(L, "%s/%s", strcmp(root, "/") == 0 ? "" : root,
					   path[0] == '/' ? path + 1 : path);
	if (unlink(full) < 0 && errno != ENOENT)
		return pt_lua_fail(L, -errno, lua_pushfstring(L, "%s: %s", full, strerror(errno)));
	lua_pushboolean(L, 1);
	return 1;
}

/*
 * pt.pve_config(path): a Proxmox section config file under /etc/pve (pt_pve_config_read):
 * a list of sections {type = "dir" or nil, id = ..., {key, value}, {key, value}, ...};
 * nil, message, errno when it cannot be read (ENOENT: absent).
 */
static int pt_lua_pve_config(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	pt_ctx *ctx = pt_lua_root_context(L);
	pt_pve_config *cfg;

	if (!ctx)
		return lua_error(L);
	int r = pt_pve_config_read(ctx, path, &cfg);
	if (r < 0) {
		int n = pt_lua_fail(L, r, r == -ENOENT ? lua_pushfstring(L, "%s: absent", path) : pt_ctx_last_error(ctx));
		pt_ctx_unref(ctx);
		return n;
	}
	pt_ctx_unref(ctx);
	size_t n = pt_pve_config_get_section_count(cfg);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		size_t m = pt_pve_config_get_property_count(cfg, i);
		lua_createtable(L, (int)m, 2);
		pt_lua_set_string(L, "type", pt_pve_config_get_type(cfg, i));
		pt_lua_set_string(L, "id", pt_pve_config_get_id(cfg, i));
		for (size_t j = 0; j < m; j++) {
			lua_createtable(L, 2, 0);
			lua_pushstring(L, pt_pve_config_get_key(cfg, i, j));
			lua_rawseti(L, -2, 1);
			lua_pushstring(L, pt_pve_config_get_value(cfg, i, j));
			lua_rawseti(L, -2, 2);
			lua_rawseti(L, -2, (lua_Integer)j + 1);
		}
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	pt_pve_config_unref(cfg);
	return 1;
}

/* pt.iommufd([qemu]): whether the host (/dev/iommu and VFIO cdevs) and QEMU (asked: -object
 * help; qemu its absolute path, nil: the system's on "/") can open devices through IOMMUFD:
 * true, or false and why. */
static int pt_lua_iommufd(lua_State *L)
{
	const char *qemu = luaL_optstring(L, 1, NULL);
	if (qemu) /* it runs the program */
		pt_lua_check_action(L, "pt.iommufd with a QEMU's path");
	pt_ctx *ctx = pt_lua_root_context(L);
	if (!ctx)
		return lua_error(L);
	int host = pt_host_has_iommufd(ctx), r = host ? pt_qemu_has_iommufd(ctx, qemu) : 0;
	lua_pushboolean(L, host && r == 1);
	if (!host)
		lua_pushstring(L, "the kernel has no /dev/iommu or no VFIO cdevs (IOMMUFD: Linux 6.6+)");
	else if (r < 0)
		lua_pushstring(L, pt_ctx_last_error(ctx));
	else if (r == 0)
		lua_pushstring(L, "QEMU has no iommufd object (QEMU 9.0+)");
	else
		lua_pushstring(L, "the kernel has IOMMUFD and VFIO cdevs, QEMU its iommufd object");
	pt_ctx_unref(ctx);
	return 2;
}

const luaL_Reg pt_lua_host_funcs[] = {
	{ "iommufd", pt_lua_iommufd },
	{ "pve_config", pt_lua_pve_config },
	{ "remove_file", pt_lua_remove_file },
	{ "listdir", pt_lua_listdir },
	{ "readlink", pt_lua_readlink },
	{ "read_file", pt_lua_read_file },
	{ "read_host_file", pt_lua_read_host_file },
	{ "syslog", pt_lua_syslog },
	{ NULL, NULL },
};
