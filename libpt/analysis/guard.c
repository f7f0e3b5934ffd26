/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host-critical guard: the devices the host cannot give away without losing its
 * console, its disks, its management network or its only keyboard, each with the reason.
 * Found once per snapshot, on first use, from /proc and /sys under the root.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libpt-private.h"

#define MAX_DEPTH 8 /* of dm/md slaves, bridges over bonds over VLANs */

static void mark(pt_device *dev, unsigned kind, const char *format, ...) PT_PRINTF(3, 4);
static void mark(pt_device *dev, unsigned kind, const char *format, ...)
{
	char reason[256], *joined;
	va_list args;

	va_start(args, format);
	vsnprintf(reason, sizeof(reason), format, args);
	va_end(args);
	if (dev->critical_reason && strstr(dev->critical_reason, reason))
		return;
	if (asprintf(&joined, "%s%s%s", dev->critical_reason ? dev->critical_reason : "",
		     dev->critical_reason ? "; " : "", reason) < 0)
		return;
	free(dev->critical_reason);
	dev->critical_reason = joined;
	dev->critical |= kind;
}

static int open_dir(pt_enum *e, const char *path)
{
	return openat(e->ctx->rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void guard_vga(pt_enum *e)
{
	for (size_t i = 0; i < e->n_devices; i++)
		if (e->devices[i].boot_vga == 1)
			mark(&e->devices[i], PT_CRITICAL_BOOT_VGA, "boot VGA device (boot_vga = 1)");
}

/* The framebuffer console: fbcon bound to a vtconsole, drawing on fbN of a PCI device. */
static void guard_console(pt_enum *e)
{
	char link[PATH_MAX], buf[128], path[PATH_MAX];
	bool fbcon = false;
	struct dirent *de;
	DIR *dir;
	int fd = open_dir(e, "sys/class/vtconsole");

	if (fd >= 0 && (dir = fdopendir(fd))) {
		while ((de = readdir(dir)))
			if (strncmp(de->d_name, "vtcon", 5) == 0) {
				char bind[8];
				snprintf(path, sizeof(path), "%s/name", de->d_name);
				if (pt_read_attr(dirfd(dir), path, buf, sizeof(buf)) < 0 || !strstr(buf, "frame buffer"))
					continue;
				snprintf(path, sizeof(path), "%s/bind", de->d_name);
				fbcon |= pt_read_attr(dirfd(dir), path, bind, sizeof(bind)) == 0 && strcmp(bind, "1") == 0;
			}
		closedir(dir);
	} else if (fd >= 0)
		close(fd);
	if (!fbcon || (fd = open_dir(e, "sys/class/graphics")) < 0 || !(dir = fdopendir(fd))) {
		if (fbcon && fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(dir))) {
		pt_device *dev;
		if (strncmp(de->d_name, "fb", 2) != 0)
			continue;
		/* The class link leads through the device it belongs to. */
		if (pt_read_link(dirfd(dir), de->d_name, link, sizeof(link)) == 0 &&
		    (dev = pt_pci_ancestor(e, link)))
			mark(dev, PT_CRITICAL_CONSOLE, "draws the framebuffer console (%s)", de->d_name);
	}
	closedir(dir);
}

/* A block device (sda2, dm-0, md0) down to the controllers of the disks under it. */
static void guard_block(pt_enum *e, const char *name, const char *mountpoint, const char *shown,
			int depth)
{
	char path[PATH_MAX], link[PATH_MAX];
	pt_device *dev;
	struct dirent *de;
	DIR *dir;
	int fd;

	if (depth > MAX_DEPTH || strchr(name, '/') || name[0] == '.')
		return;
	snprintf(path, sizeof(path), "sys/class/block/%s", name);
	if (pt_read_link(e->ctx->rootfd, path, link, sizeof(link)) < 0) {
		pt_dbg(e->ctx, "%s: %s/%s: unreadable", mountpoint, e->ctx->root, path);
		return;
	}
	dev = pt_pci_ancestor(e, link);
	if (dev) {
		mark(dev, PT_CRITICAL_STORAGE, "controller of %s (%s)", mountpoint, shown);
		return;
	}
	/* dm, md: the devices under it are its slaves. */
	snprintf(path, sizeof(path), "sys/class/block/%s/slaves", name);
	if ((fd = open_dir(e, path)) < 0)
		return;
	if (!(dir = fdopendir(fd))) {
		close(fd);
		return;
	}
	while ((de = readdir(dir)))
		if (de->d_name[0] != '.')
			guard_block(e, de->d_name, mountpoint, shown, depth + 1);
	closedir(dir);
}

static bool is_host_mount(const char *mountpoint)
{
	static const char *const points[] = { "/", "/boot", "/boot/efi", "/var", "/var/lib/vz" };
	for (size_t i = 0; i < sizeof(points) / sizeof(*points); i++)
		if (strcmp(mountpoint, points[i]) == 0)
			return true;
	return strncmp(mountpoint, "/mnt/pve/", 9) == 0; /* Proxmox storage */
}

/*
 * A ZFS pool's member disks, from `zpool status -LP POOL` (full, resolved /dev paths): ZFS
 * shows its disks nowhere in sysfs. Run only when a host filesystem is on ZFS.
 */
static void guard_zfs(pt_enum *e, const char *pool, const char *mountpoint)
{
	char *argv[] = { "zpool", "status", "-LP", (char *)pool, NULL };
	char line[1024];
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return;
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(fds[1], 1);
		dup2(null, 2);
		execvp("zpool", argv);
		_exit(127);
	}
	close(fds[1]);
	FILE *f = pid > 0 ? fdopen(fds[0], "r") : NULL;
	if (!f) {
		close(fds[0]);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		char device[256];
		if (sscanf(line, " /dev/%255s", device) == 1) {
			char shown[600];
			snprintf(shown, sizeof(shown), "ZFS pool %s member /dev/%s", pool, device);
			guard_block(e, pt_basename(device), mountpoint, shown, 0);
		}
	}
	fclose(f);
	waitpid(pid, NULL, 0);
}

/* mountinfo: "36 35 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw" */
static void guard_storage(pt_enum *e)
{
	char line[4096];
	FILE *f = pt_fopen_regular(e->ctx->rootfd, "proc/self/mountinfo");

	if (!f) {
		pt_dbg(e->ctx, "%s/proc/self/mountinfo: unreadable: the disks are not guarded", e->ctx->root);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		unsigned major, minor;
		char mountpoint[1024], source[1024], name[256], fstype[64];
		const char *dash = strstr(line, " - ");
		if (sscanf(line, "%*u %*u %u:%u %*s %1023s", &major, &minor, mountpoint) != 3 ||
		    !is_host_mount(mountpoint) || !dash || sscanf(dash, " - %63s %1023s", fstype, source) != 2)
			continue;
		if (strcmp(fstype, "zfs") == 0) {
			snprintf(name, sizeof(name), "%.*s", (int)strcspn(source, "/"), source);
			guard_zfs(e, name, mountpoint);
			continue;
		}
		snprintf(name, sizeof(name), "%u:%u", major, minor);
		if (major != 0) {
			char link[PATH_MAX], path[300];
			snprintf(path, sizeof(path), "sys/dev/block/%s", name);
			if (pt_read_link(e->ctx->rootfd, path, link, sizeof(link)) == 0)
				guard_block(e, pt_basename(link), mountpoint, source, 0);
		} else if (strncmp(source, "/dev/", 5) == 0) {
			/* btrfs and others show an anonymous device number: the source names the disk. */
			guard_block(e, pt_basename(source), mountpoint, source, 0);
		}
	}
	fclose(f);
}

/* The physical NICs under an interface: itself, or what a bridge, bond or VLAN sits on. */
static void guard_netdev(pt_enum *e, const char *iface, const char *chain, int depth)
{
	char path[PATH_MAX], link[PATH_MAX], next[1024];
	struct dirent *de;
	pt_device *dev;
	DIR *dir;
	int fd;

	if (depth > MAX_DEPTH || strchr(iface, '/') || iface[0] == '.')
		return;
	snprintf(path, sizeof(path), "sys/class/net/%s", iface);
	if (pt_read_link(e->ctx->rootfd, path, link, sizeof(link)) == 0 && (dev = pt_pci_ancestor(e, link))) {
		mark(dev, PT_CRITICAL_NETWORK, "NIC of the default route (%s)", chain);
		if (dev->physfn)
			mark(dev->physfn, PT_CRITICAL_NETWORK, "physical function of %s, NIC of the default route (%s)",
			     dev->address, chain);
		return;
	}
	if ((fd = open_dir(e, path)) < 0 || !(dir = fdopendir(fd))) {
		return;
	}
	while ((de = readdir(dir)))
		if (strncmp(de->d_name, "lower_", 6) == 0) {
			snprintf(next, sizeof(next), "%s -> %s", chain, de->d_name + 6);
			guard_netdev(e, de->d_name + 6, next, depth + 1);
		}
	closedir(dir);
}

/* The interfaces of default routes: IPv4 destination 00000000 mask 00000000, IPv6 ::/0. */
static void guard_network(pt_enum *e)
{
	static const struct { const char *file; const char *format; } tables[] = {
		{ "proc/net/route", "%63s %8s %*s %*s %*s %*s %*s %8s" },
		{ "proc/net/ipv6_route", "%32s %2s %*s %*s %*s %*s %*s %*s %*s %63s" },
	};
	for (size_t t = 0; t < 2; t++) {
		char line[512], a[64], b[40], c[64];
		FILE *f = pt_fopen_regular(e->ctx->rootfd, tables[t].file);
		if (!f) {
			continue;
		}
		while (fgets(line, sizeof(line), f)) {
			if (t == 0 && sscanf(line, tables[t].format, c, a, b) == 3 &&
			    strcmp(a, "00000000") == 0 && strcmp(b, "00000000") == 0)
				guard_netdev(e, c, c, 0);
			else if (t == 1 && sscanf(line, tables[t].format, a, b, c) == 3 &&
				 strspn(a, "0") == 32 && strcmp(b, "00") == 0 && strcmp(c, "lo") != 0)
				guard_netdev(e, c, c, 0);
		}
		fclose(f);
	}
}

/* udev's test: EV_KEY, and KEY_ESC up to KEY_D (bits 1-31 of the key bitmap) all there. */
static bool is_keyboard(int dfd, const char *input)
{
	char path[300], ev[64], keys[1024];
	unsigned long long evbits;

	snprintf(path, sizeof(path), "%s/capabilities/ev", input);
	if (pt_read_attr(dfd, path, ev, sizeof(ev)) < 0 || pt_parse_hex(ev, ~0ULL, &evbits) < 0 ||
	    !(evbits & (1u << 1)))
		return false;
	snprintf(path, sizeof(path), "%s/capabilities/key", input);
	if (pt_read_attr(dfd, path, keys, sizeof(keys)) < 0)
		return false;
	const char *low = strrchr(keys, ' ');
	unsigned long long bits;
	return pt_parse_hex(low ? low + 1 : keys, ~0ULL, &bits) == 0 &&
	       (bits & 0xfffffffeULL) == 0xfffffffeULL;
}

/* The USB controller of the keyboards, when they all hang under one. */
static void guard_keyboard(pt_enum *e)
{
	char link[PATH_MAX], name[128] = "", path[300];
	pt_device *only = NULL;
	bool elsewhere = false;
	struct dirent *de;
	DIR *dir;
	int fd = open_dir(e, "sys/class/input");

	if (fd < 0 || !(dir = fdopendir(fd))) {
		return;
	}
	while ((de = readdir(dir))) {
		if (strncmp(de->d_name, "input", 5) != 0 || !is_keyboard(dirfd(dir), de->d_name) ||
		    pt_read_link(dirfd(dir), de->d_name, link, sizeof(link)) < 0)
			continue;
		pt_device *dev = pt_pci_ancestor(e, link);
		if (!dev || (only && dev != only))
			elsewhere = true; /* a PS/2 keyboard, or one on another controller */
		else if (!only) {
			only = dev;
			snprintf(path, sizeof(path), "%s/name", de->d_name);
			pt_read_attr(dirfd(dir), path, name, sizeof(name));
		}
	}
	closedir(dir);
	if (only && !elsewhere)
		mark(only, PT_CRITICAL_KEYBOARD, "the only keyboard (%s) hangs under it", name[0] ? name : "unnamed");
}

void pt_guard_load(pt_enum *e)
{
	if (e->guard_loaded)
		return;
	e->guard_loaded = true;
	guard_vga(e);
	guard_console(e);
	guard_storage(e);
	guard_network(e);
	guard_keyboard(e);
}

PT_EXPORT unsigned pt_device_get_critical(pt_device *dev)
{
	pt_guard_load(dev->e);
	return dev->critical;
}

PT_EXPORT const char *pt_device_get_critical_reason(pt_device *dev)
{
	pt_guard_load(dev->e);
	return dev->critical_reason;
}

PT_EXPORT int pt_device_check_take(pt_device *dev, unsigned flags)
{
	pt_device *self[1] = { dev };
	pt_device **set = dev->n_set ? dev->set : self;
	size_t n = dev->n_set ? dev->n_set : 1;

	pt_guard_load(dev->e);
	for (size_t i = 0; i < n; i++) {
		pt_device *m = set[i];
		if (!m->critical)
			continue;
		if (flags & PT_TAKE_FORCE) {
			pt_warn(dev->e->ctx, "%s: taken although %s is host-critical: %s (forced)",
				dev->address, m->address, m->critical_reason);
			continue;
		}
		if (m == dev)
			return pt_fail(dev->e->ctx, -EBUSY, "%s: refused: %s; force to take it anyway",
				       dev->address, m->critical_reason);
		return pt_fail(dev->e->ctx, -EBUSY, "%s: refused: it goes with %s (IOMMU group %u), "
			       "%s; force to take it anyway", dev->address, m->address,
			       dev->group ? dev->group->number : 0, m->critical_reason);
	}
	return 0;
}
