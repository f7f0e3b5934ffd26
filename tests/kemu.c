/*
 * A kernel emulator for fixture trees, preloaded into the process under test (LD_PRELOAD):
 * writes to driver_override, drivers/D/bind, drivers/D/unbind and drivers_probe under
 * $KEMU_ROOT/sys change the `driver` links as the kernel would, synchronously.
 *
 * mdevs: a UUID written to PARENT/mdev_supported_types/TYPE/create makes PARENT/UUID (its
 * mdev_type link, a `remove` file) and sys/bus/mdev/devices/UUID, one available instance fewer;
 * 1 written to UUID/remove undoes it. Platform drivers (the firmware framebuffer): DEVICE
 * written to sys/bus/platform/drivers/D/unbind or bind takes or makes the `driver` links.
 *
 * Writes of 1 and 0 to a device's `rom` are taken (appended to .rom_writes beside it) and leave
 * the image as it is; a 1 to `reset` is appended to .resets (reset@ADDRESS=ERRNO fails it).
 *
 *   KEMU_ROOT      the fixture root
 *   KEMU_NATIVE    a file of "ADDRESS DRIVER" lines: what drivers_probe binds without override
 *   KEMU_FAULTS    comma-separated STEP@ADDRESS=WHAT, STEP one of override, unbind, bind, probe,
 *                  reset;
 *                  WHAT an errno name (EBUSY, EIO, ENODEV...) to fail the write with, `nobind`
 *                  (the write succeeds, no driver binds: a bind that never completes), or
 *                  `vanish` (the device disappears, as on surprise removal)
 *   KEMU_KILL_AFTER  SIGKILL the process right after its Nth emulated write (a crash)
 *   KEMU_REAL      over a real kernel: writes go to it, those under /sys and /run/libpt
 *                  only counted for KEMU_KILL_AFTER (a crash at a chosen step of a real bind)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static ssize_t (*real_write)(int, const void *, size_t);
static int writes;

static const char *root(void)
{
	const char *r = getenv("KEMU_ROOT");
	return r && *r ? r : NULL;
}

/* The fault configured for this step and device, or NULL. */
static const char *fault(const char *step, const char *address)
{
	static char value[64];
	const char *all = getenv("KEMU_FAULTS");
	char want[96];

	if (!all)
		return NULL;
	snprintf(want, sizeof(want), "%s@%s=", step, address);
	const char *p = strstr(all, want);
	if (!p || (p != all && p[-1] != ','))
		return NULL;
	p += strlen(want);
	snprintf(value, sizeof(value), "%.*s", (int)strcspn(p, ","), p);
	return value;
}

static int errno_named(const char *name)
{
	static const struct { const char *name; int value; } names[] = {
		{ "EBUSY", EBUSY }, { "EIO", EIO }, { "ENODEV", ENODEV }, { "EINVAL", EINVAL },
		{ "EPERM", EPERM }, { "ENOENT", ENOENT }, { "EAGAIN", EAGAIN },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
		if (strcmp(name, names[i].name) == 0)
			return names[i].value;
	return 0;
}

/* A relative link as the kernel writes it: up to the common ancestor, then down. */
static int kernel_link(const char *target, const char *name)
{
	char dir[PATH_MAX], rel[PATH_MAX] = "";
	size_t common = 0;

	snprintf(dir, sizeof(dir), "%s", name);
	*strrchr(dir, '/') = '\0';
	/* the longest shared prefix ending at a component boundary */
	for (size_t i = 0; dir[i] && dir[i] == target[i]; i++)
		if (dir[i + 1] == '\0' ? target[i + 1] == '/' : dir[i + 1] == '/' && target[i + 1] == '/')
			common = i + 1;
	for (const char *p = dir + common; *p; p++)
		if (*p == '/')
			strncat(rel, "../", sizeof(rel) - strlen(rel) - 1);
	strncat(rel, target + common + 1, sizeof(rel) - strlen(rel) - 1);
	return symlink(rel, name);
}

static int device_dir(const char *address, char *out, size_t size)
{
	char link[PATH_MAX];
	snprintf(link, sizeof(link), "%s/sys/bus/pci/devices/%s", root(), address);
	return realpath(link, out) && strlen(out) < size ? 0 : -1;
}

static const char *bound_driver(const char *dev, char *buf, size_t size)
{
	char path[PATH_MAX], link[PATH_MAX];
	snprintf(path, sizeof(path), "%s/driver", dev);
	ssize_t n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return NULL;
	link[n] = '\0';
	snprintf(buf, size, "%s", strrchr(link, '/') + 1);
	return buf;
}

static int do_bind(const char *address, const char *dev, const char *driver)
{
	char drv[PATH_MAX], name[PATH_MAX], target[PATH_MAX];
	struct stat st;

	snprintf(drv, sizeof(drv), "%s/sys/bus/pci/drivers/%s", root(), driver);
	if (!realpath(drv, target) || stat(target, &st) < 0)
		return -ENODEV;
	snprintf(name, sizeof(name), "%s/driver", dev);
	if (kernel_link(target, name) < 0)
		return -errno;
	snprintf(name, sizeof(name), "%s/%s", target, address);
	kernel_link(dev, name);
	return 0;
}

static int do_unbind(const char *address, const char *dev, const char *driver)
{
	char bound[64], path[PATH_MAX];
	if (!bound_driver(dev, bound, sizeof(bound)) || strcmp(bound, driver) != 0)
		return -ENODEV;
	snprintf(path, sizeof(path), "%s/driver", dev);
	unlink(path);
	snprintf(path, sizeof(path), "%s/sys/bus/pci/drivers/%s/%s", root(), driver, address);
	unlink(path);
	return 0;
}

static const char *native_driver(const char *address, char *buf, size_t size)
{
	const char *file = getenv("KEMU_NATIVE");
	char line[256], a[32], d[64];
	FILE *f = file ? fopen(file, "r") : NULL;
	const char *found = NULL;

	while (f && !found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%31s %63s", a, d) == 2 && strcmp(a, address) == 0)
			found = snprintf(buf, size, "%s", d) >= 0 ? buf : NULL;
	if (f)
		fclose(f);
	return found;
}

static void vanish(const char *address, const char *dev)
{
	char path[PATH_MAX], gone[PATH_MAX + 8];
	snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/%s", root(), address);
	unlink(path);
	snprintf(gone, sizeof(gone), "%s.gone", dev);
	rename(dev, gone);
}

/* drivers_probe: the override's driver, else the native one, if it is there. */
static int do_probe(const char *address, const char *dev)
{
	char override[64] = "", path[PATH_MAX], buf[64];
	const char *driver;
	snprintf(path, sizeof(path), "%s/driver_override", dev);
	FILE *f = fopen(path, "r");
	if (f) {
		if (fgets(override, sizeof(override), f))
			override[strcspn(override, "\n")] = '\0';
		fclose(f);
	}
	if (bound_driver(dev, buf, sizeof(buf)))
		return 0;
	driver = override[0] && strcmp(override, "(null)") != 0 ? override : native_driver(address, buf, sizeof(buf));
	if (driver)
		do_bind(address, dev, driver); /* a driver that is not there binds nothing */
	return 0;
}

/* The emulated write; returns -errno, or 1 when the write is not one it handles. */
/* A device's `rom`: "1" enables reading it, "0" disables; the image itself stays (the fixture
 * keeps a copy in ROOT/.fixture-roms/ADDRESS: opening the file for writing truncated it). Each
 * value is appended to .rom_writes beside it, for the tests to see the sequence. */
static int emulate_rom(const char *path, const char *value)
{
	char log[PATH_MAX], copy[PATH_MAX], buf[65536], dir[PATH_MAX];
	size_t n;

	if (strcmp(value, "1") != 0 && strcmp(value, "0") != 0 && strcmp(value, "1\n") != 0 &&
	    strcmp(value, "0\n") != 0)
		return -EINVAL;
	snprintf(log, sizeof(log), "%.*s.rom_writes", (int)(strlen(path) - 3), path);
	FILE *f = fopen(log, "a");
	if (!f)
		return -errno;
	fprintf(f, "%c\n", value[0]);
	fclose(f);
	snprintf(dir, sizeof(dir), "%.*s", (int)(strlen(path) - 4), path);
	snprintf(copy, sizeof(copy), "%s/.fixture-roms/%s", root(), strrchr(dir, '/') + 1);
	FILE *in = fopen(copy, "rb"), *out = in ? fopen(path, "wb") : NULL;
	while (in && out && (n = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, n, out);
	if (in)
		fclose(in);
	if (out)
		fclose(out);
	return 0;
}

/* A device's `reset`: "1" resets it (appended to .resets beside it); reset@ADDRESS=ERRNO fails. */
static int emulate_reset(const char *path, const char *value)
{
	char log[PATH_MAX], dir[PATH_MAX];

	if (strcmp(value, "1") != 0 && strcmp(value, "1\n") != 0)
		return -EINVAL;
	snprintf(dir, sizeof(dir), "%.*s", (int)(strlen(path) - 6), path);
	const char *f = fault("reset", strrchr(dir, '/') + 1);
	if (f && errno_named(f))
		return -errno_named(f);
	snprintf(log, sizeof(log), "%s/.resets", dir);
	FILE *out = fopen(log, "a");
	if (!out)
		return -errno;
	fputs("1\n", out);
	fclose(out);
	return 0;
}

static int add_instances(const char *type_dir, int delta)
{
	char file[PATH_MAX], buf[32] = "0";
	snprintf(file, sizeof(file), "%s/available_instances", type_dir);
	FILE *f = fopen(file, "r");
	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '0';
		fclose(f);
	}
	int n = atoi(buf) + delta;
	if (n < 0)
		return -ENOSPC;
	f = fopen(file, "w");
	if (!f)
		return -errno;
	fprintf(f, "%d\n", n);
	fclose(f);
	return 0;
}

static int emulate_mdev(const char *path, const char *value)
{
	char dir[PATH_MAX], parent[PATH_MAX], uuid[64], name[PATH_MAX], target[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0'; /* .../TYPE or .../UUID */
	if (strcmp(strrchr(path, '/'), "/create") == 0) {
		snprintf(uuid, sizeof(uuid), "%.*s", (int)strcspn(value, "\n"), value);
		snprintf(parent, sizeof(parent), "%s", dir);
		*strrchr(parent, '/') = '\0';
		*strrchr(parent, '/') = '\0'; /* the parent device */
		snprintf(name, sizeof(name), "%s/%s", parent, uuid);
		int r = add_instances(dir, -1);
		if (r < 0)
			return r;
		if (mkdir(name, 0755) < 0)
			return add_instances(dir, 1), -EEXIST;
		snprintf(target, sizeof(target), "%s/mdev_type", name);
		kernel_link(dir, target);
		snprintf(target, sizeof(target), "%s/remove", name);
		FILE *f = fopen(target, "w");
		if (f)
			fclose(f);
		snprintf(target, sizeof(target), "%s/sys/bus/mdev/devices", root());
		mkdir(target, 0755);
		snprintf(target, sizeof(target), "%s/sys/bus/mdev/devices/%s", root(), uuid);
		return kernel_link(name, target) < 0 ? -errno : 0;
	}
	/* UUID/remove */
	char type[PATH_MAX], link[PATH_MAX];
	snprintf(name, sizeof(name), "%s/mdev_type", dir);
	ssize_t n = readlink(name, link, sizeof(link) - 1);
	if (n < 0)
		return 1; /* not an mdev: the write goes to the file */
	link[n] = '\0';
	snprintf(type, sizeof(type), "%s/%s", dir, link);
	add_instances(type, 1);
	unlink(name);
	snprintf(name, sizeof(name), "%s/remove", dir);
	unlink(name);
	snprintf(target, sizeof(target), "%s/sys/bus/mdev/devices/%s", root(), strrchr(dir, '/') + 1);
	unlink(target);
	return rmdir(dir) < 0 ? -errno : 0;
}

static int emulate_platform(const char *driver, const char *step, const char *value)
{
	char device[128], dev[PATH_MAX], drv[PATH_MAX], name[PATH_MAX], link[PATH_MAX];
	snprintf(device, sizeof(device), "%.*s", (int)strcspn(value, "\n"), value);
	snprintf(name, sizeof(name), "%s/sys/bus/platform/devices/%s", root(), device);
	snprintf(link, sizeof(link), "%s/sys/bus/platform/drivers/%s", root(), driver);
	if (!realpath(name, dev) || !realpath(link, drv))
		return -ENODEV;
	snprintf(name, sizeof(name), "%s/driver", dev);
	snprintf(link, sizeof(link), "%s/%s", drv, device);
	if (strcmp(step, "unbind") == 0) {
		if (unlink(name) < 0)
			return -ENODEV;
		unlink(link);
		return 0;
	}
	if (access(name, F_OK) == 0)
		return -EBUSY;
	kernel_link(dev, link);
	return kernel_link(drv, name) < 0 ? -errno : 0;
}

static int emulate(int fd, const char *value, size_t n, const char *path)
{
	char address[64], dev[PATH_MAX], step[16], driver[64] = "";
	const char *rel = path + strlen(root()) + 1;
	int r;

	snprintf(address, sizeof(address), "%.*s", (int)strcspn(value, "\n"), value);
	if (strlen(path) > 4 && strcmp(path + strlen(path) - 4, "/rom") == 0)
		return emulate_rom(path, value);
	if (strlen(path) > 6 && strcmp(path + strlen(path) - 6, "/reset") == 0)
		return emulate_reset(path, value);
	if ((strlen(path) > 7 && strcmp(path + strlen(path) - 7, "/create") == 0 && strstr(path, "/mdev_supported_types/")) ||
	    (strlen(path) > 7 && strcmp(path + strlen(path) - 7, "/remove") == 0 && !strstr(path, "/sys/bus/pci/")))
		return emulate_mdev(path, value);
	if (sscanf(rel, "sys/bus/platform/drivers/%63[^/]/%15s", driver, step) == 2 &&
	    (strcmp(step, "bind") == 0 || strcmp(step, "unbind") == 0))
		return emulate_platform(driver, step, value);
	if (n && strcmp(path + strlen(path) - 16, "/driver_override") == 0) {
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%.*s", (int)(strlen(path) - 16), path);
		snprintf(address, sizeof(address), "%s", strrchr(dir, '/') + 1);
		strcpy(step, "override");
	} else if (sscanf(rel, "sys/bus/pci/drivers/%63[^/]/%15s", driver, step) == 2 &&
		   (strcmp(step, "bind") == 0 || strcmp(step, "unbind") == 0)) {
	} else if (strcmp(rel, "sys/bus/pci/drivers_probe") == 0) {
		strcpy(step, "probe");
	} else
		return 1;

	const char *f = fault(step, address);
	if (f && errno_named(f))
		return -errno_named(f);
	if (device_dir(address, dev, sizeof(dev)) < 0)
		return -ENODEV;
	if (strcmp(step, "override") == 0) {
		/* the kernel keeps the value without its newline and shows it with one */
		char stored[140];
		snprintf(stored, sizeof(stored), "%.*s\n", (int)strcspn(value, "\n"), value);
		if (strcmp(stored, "\n") == 0)
			strcpy(stored, "(null)\n");
		r = ftruncate(fd, 0) < 0 || real_write(fd, stored, strlen(stored)) < 0 ? -errno : 0;
	} else if (strcmp(step, "unbind") == 0)
		r = do_unbind(address, dev, driver);
	else if (strcmp(step, "bind") == 0) {
		char bound[64];
		r = bound_driver(dev, bound, sizeof(bound)) ? -EBUSY : do_bind(address, dev, driver);
	} else
		r = f && strcmp(f, "nobind") == 0 ? 0 : do_probe(address, dev);
	if (f && strcmp(f, "vanish") == 0)
		vanish(address, dev);
	return r;
}

/* sysfs ignores O_TRUNC: a failed write leaves the value as it was. */
int openat(int dirfd, const char *path, int flags, ...)
{
	static int (*real_openat)(int, const char *, int, ...);
	mode_t mode = 0;
	va_list args;

	if (!real_openat)
		real_openat = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, "openat");
	if (flags & O_CREAT) {
		va_start(args, flags);
		mode = va_arg(args, mode_t);
		va_end(args);
	}
	size_t len = strlen(path);
	if (root() && ((len > 16 && strcmp(path + len - 16, "/driver_override") == 0) ||
		       strcmp(path, "driver_override") == 0 || (len > 4 && strcmp(path + len - 4, "/rom") == 0)))
		flags &= ~O_TRUNC;
	return real_openat(dirfd, path, flags, mode);
}

ssize_t write(int fd, const void *buf, size_t n)
{
	char proc[64], path[PATH_MAX], value[128];
	ssize_t len;

	if (!real_write)
		real_write = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	if (getenv("KEMU_REAL")) {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		len = readlink(proc, path, sizeof(path) - 1);
		ssize_t r = real_write(fd, buf, n);
		const char *kill_after = getenv("KEMU_KILL_AFTER");
		if (len > 0)
			path[len] = '\0';
		bool counted = len > 0 && (strncmp(path, "/sys/", 5) == 0 || strncmp(path, "/run/libpt/", 11) == 0);
		if (counted && kill_after && ++writes >= atoi(kill_after))
			raise(SIGKILL);
		return r;
	}
	if (!root() || n >= sizeof(value))
		return real_write(fd, buf, n);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	len = readlink(proc, path, sizeof(path) - 1);
	if (len < 0)
		return real_write(fd, buf, n);
	path[len] = '\0';
	if (strncmp(path, root(), strlen(root())) != 0 || path[strlen(root())] != '/')
		return real_write(fd, buf, n);
	memcpy(value, buf, n);
	value[n] = '\0';
	int r = emulate(fd, value, n, path);
	if (r == 1)
		return real_write(fd, buf, n);
	const char *kill_after = getenv("KEMU_KILL_AFTER");
	if (kill_after && ++writes >= atoi(kill_after))
		raise(SIGKILL);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return (ssize_t)n;
}
