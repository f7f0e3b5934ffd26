/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host's facts that the guard, the doctor and the emitters decide from, read once for a
 * snapshot: its mounts (through libmount, which unescapes "\040" and the like), the disks of a
 * ZFS pool mounted where the host needs it, the interfaces of its default routes, its keyboards
 * and framebuffer console, and its kernel command line. Each is read under the root, from
 * regular files only (a FIFO planted in a tree never blocks); what cannot be read is missing,
 * never guessed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libmount.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libpt-private.h"

/* Where the host keeps what it cannot run without: the root, boot, var and Proxmox storage. */
static bool is_host_mount(const char *mountpoint)
{
	static const char *const points[] = { "/", "/boot", "/boot/efi", "/var", "/var/lib/vz" };
	for (size_t i = 0; i < sizeof(points) / sizeof(*points); i++)
		if (strcmp(mountpoint, points[i]) == 0)
			return true;
	return strncmp(mountpoint, "/mnt/pve/", 9) == 0; /* Proxmox storage */
}

static bool add_item(void **v, size_t *n, size_t size, const void *item)
{
	void *more = realloc(*v, (*n + 1) * size);
	if (!more)
		return false;
	memcpy((char *)more + *n * size, item, size);
	*v = more;
	(*n)++;
	return true;
}

/*
 * A ZFS pool's member disks, from `zpool status -LP POOL` (full, resolved /dev paths): ZFS shows
 * its disks nowhere in sysfs. Run only for a host filesystem on ZFS, from the system's own
 * directories (no PATH search), with an empty environment.
 */
static void zfs_members(pt_ctx *ctx, struct pt_host_facts *h, const char *pool, const char *mountpoint)
{
	const char *const zpool[] = { ctx->zpool ? ctx->zpool : "/usr/sbin/zpool", ctx->zpool ? "" : "/sbin/zpool" };
	char *argv[] = { "zpool", "status", "-LP", (char *)pool, NULL };
	const char *exe = NULL;
	char *text = NULL;

	for (size_t i = 0; i < 2 && !exe; i++)
		if (zpool[i][0] == '/' && access(zpool[i], X_OK) == 0)
			exe = zpool[i];
	if (!exe)
		return;
	int r = pt_run_timeout(exe, argv, PT_PROGRAM_TIMEOUT_MS, &text, 1u << 20);
	if (r != 0) {
		/* the pool's disks unknown: every storage controller counts as one of them (the guard) */
		struct pt_host_mount m = { 0 };
		char why[64];
		if (r == -ETIMEDOUT)
			snprintf(why, sizeof(why), "it took over %u s", PT_PROGRAM_TIMEOUT_MS / 1000);
		else if (r < 0)
			snprintf(why, sizeof(why), "%s", strerror(-r));
		else
			snprintf(why, sizeof(why), "it exited with status %d", r);
		snprintf(m.mountpoint, sizeof(m.mountpoint), "%s", mountpoint);
		snprintf(m.source, sizeof(m.source), "ZFS pool %s, whose disks %s status -LP did not say: %s", pool, exe, why);
		add_item((void **)&h->unknown_pools, &h->n_unknown_pools, sizeof(m), &m);
		char q[1100];
		pt_warn(ctx, "%s: %s: every storage controller counts as the host's", pt_quote(q, sizeof(q), mountpoint),
			m.source);
		free(text);
		return;
	}
	for (char *line = text, *next; line && *line; line = next) {
		char device[256];
		struct pt_host_mount m = { 0 };
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (sscanf(line, " /dev/%255s", device) != 1)
			continue;
		snprintf(m.mountpoint, sizeof(m.mountpoint), "%s", mountpoint);
		snprintf(m.source, sizeof(m.source), "ZFS pool %s member /dev/%s", pool, device);
		snprintf(m.fstype, sizeof(m.fstype), "zfs");
		snprintf(m.disk, sizeof(m.disk), "%s", pt_basename(device));
		add_item((void **)&h->mounts, &h->n_mounts, sizeof(m), &m);
	}
	free(text);
}

/* libmount, loaded on first use (core/dl.c): it brings libblkid, libselinux and libpcre2 with it,
 * while only the guard's disk facts need it. */
static struct {
	__typeof__(mnt_new_table) *new_table;
	__typeof__(mnt_new_iter) *new_iter;
	__typeof__(mnt_table_parse_stream) *table_parse_stream;
	__typeof__(mnt_table_next_fs) *table_next_fs;
	__typeof__(mnt_fs_get_target) *fs_get_target;
	__typeof__(mnt_fs_get_source) *fs_get_source;
	__typeof__(mnt_fs_get_fstype) *fs_get_fstype;
	__typeof__(mnt_fs_get_devno) *fs_get_devno;
	__typeof__(mnt_free_iter) *free_iter;
	__typeof__(mnt_unref_table) *unref_table;
} mnt;
static const char *const mnt_names[] = {
	"mnt_new_table",     "mnt_new_iter",	   "mnt_table_parse_stream", "mnt_table_next_fs", "mnt_fs_get_target",
	"mnt_fs_get_source", "mnt_fs_get_fstype", "mnt_fs_get_devno",	     "mnt_free_iter",	  "mnt_unref_table",
};
_Static_assert(sizeof(mnt_names) / sizeof(*mnt_names) == sizeof(mnt) / sizeof(void *), "one name a call");
static struct pt_dl libmount = PT_DL("libmount.so.1", mnt_names, mnt);

/* /proc/self/mountinfo through libmount: the mounts where the host keeps what it needs, each
 * with the block device it is on (its sysfs name), or the ZFS pool's disks. */
static void read_mounts(pt_ctx *ctx, struct pt_host_facts *h)
{
	if (pt_dl_load(&libmount) < 0) {
		pt_warn(ctx, "libmount cannot be loaded (%s): the disks the host runs from are not guarded", libmount.error);
		return;
	}
	struct libmnt_table *tb = mnt.new_table();
	struct libmnt_iter *it = mnt.new_iter(MNT_ITER_FORWARD);
	struct libmnt_fs *fs;
	FILE *f = pt_fopen_regular(ctx->rootfd, "proc/self/mountinfo");
	char shown[PATH_MAX + 32];

	snprintf(shown, sizeof(shown), "%s/proc/self/mountinfo", ctx->root);
	if (!f || !tb || !it || mnt.table_parse_stream(tb, f, shown) < 0) {
		pt_dbg(ctx, "%s: unreadable: the disks are not guarded", shown);
		goto out;
	}
	while (mnt.table_next_fs(tb, it, &fs) == 0) {
		const char *target = mnt.fs_get_target(fs), *source = mnt.fs_get_source(fs);
		const char *fstype = mnt.fs_get_fstype(fs);
		dev_t devno = mnt.fs_get_devno(fs);
		struct pt_host_mount m = { 0 };

		if (!target || !is_host_mount(target))
			continue;
		if (fstype && strcmp(fstype, "zfs") == 0) {
			char pool[256];
			snprintf(pool, sizeof(pool), "%.*s", (int)strcspn(source ? source : "", "/"), source ? source : "");
			zfs_members(ctx, h, pool, target);
			continue;
		}
		snprintf(m.mountpoint, sizeof(m.mountpoint), "%s", target);
		snprintf(m.source, sizeof(m.source), "%s", source ? source : "");
		snprintf(m.fstype, sizeof(m.fstype), "%s", fstype ? fstype : "");
		if (major(devno) != 0) {
			char path[64], link[PATH_MAX];
			snprintf(path, sizeof(path), "sys/dev/block/%u:%u", major(devno), minor(devno));
			if (pt_read_link(ctx->rootfd, path, link, sizeof(link)) < 0)
				continue;
			snprintf(m.disk, sizeof(m.disk), "%s", pt_basename(link));
		} else if (source && strncmp(source, "/dev/", 5) == 0) {
			/* btrfs and others show an anonymous device number: the source names the disk */
			snprintf(m.disk, sizeof(m.disk), "%s", pt_basename(source));
		} else {
			continue;
		}
		add_item((void **)&h->mounts, &h->n_mounts, sizeof(m), &m);
	}
out:
	if (f)
		fclose(f);
	mnt.free_iter(it);
	mnt.unref_table(tb);
}

/* The interfaces of default routes: IPv4 destination 00000000 mask 00000000, IPv6 ::/0. */
static void read_routes(pt_ctx *ctx, struct pt_host_facts *h)
{
	static const struct { const char *file; const char *format; } tables[] = {
		{ "proc/net/route", "%63s %8s %*s %*s %*s %*s %*s %8s" },
		{ "proc/net/ipv6_route", "%32s %2s %*s %*s %*s %*s %*s %*s %*s %63s" },
	};
	for (size_t t = 0; t < 2; t++) {
		char line[512], a[64], b[40], c[64];
		FILE *f = pt_fopen_regular(ctx->rootfd, tables[t].file);
		while (f && fgets(line, sizeof(line), f)) {
			struct pt_host_iface iface = { 0 };
			bool dflt = t == 0 ? sscanf(line, tables[t].format, c, a, b) == 3 && strcmp(a, "00000000") == 0 &&
						     strcmp(b, "00000000") == 0
					   : sscanf(line, tables[t].format, a, b, c) == 3 && strspn(a, "0") == 32 &&
						     strcmp(b, "00") == 0 && strcmp(c, "lo") != 0;
			if (!dflt)
				continue;
			snprintf(iface.name, sizeof(iface.name), "%s", c);
			add_item((void **)&h->routes, &h->n_routes, sizeof(iface), &iface);
		}
		if (f)
			fclose(f);
	}
}

/* udev's test of a keyboard: EV_KEY, and KEY_ESC up to KEY_D (bits 1-31 of the key bitmap). */
static bool is_keyboard(int dfd, const char *input)
{
	char path[300], ev[64], keys[1024];
	unsigned long long evbits, bits;

	snprintf(path, sizeof(path), "%s/capabilities/ev", input);
	if (pt_read_attr(dfd, path, ev, sizeof(ev)) < 0 || pt_parse_hex(ev, ~0ULL, &evbits) < 0 || !(evbits & (1u << 1)))
		return false;
	snprintf(path, sizeof(path), "%s/capabilities/key", input);
	if (pt_read_attr(dfd, path, keys, sizeof(keys)) < 0)
		return false;
	const char *low = strrchr(keys, ' ');
	return pt_parse_hex(low ? low + 1 : keys, ~0ULL, &bits) == 0 && (bits & 0xfffffffeULL) == 0xfffffffeULL;
}

static DIR *open_dir(pt_ctx *ctx, const char *path)
{
	int fd = openat(ctx->rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;

	if (fd >= 0 && !dir)
		close(fd);
	return dir;
}

/* Keyboards (/sys/class/input/inputN) with the sysfs path they hang under. */
static void read_keyboards(pt_ctx *ctx, struct pt_host_facts *h)
{
	DIR *dir = open_dir(ctx, "sys/class/input");
	struct dirent *de;

	while (dir && (de = readdir(dir))) {
		struct pt_host_input k = { 0 };
		char path[300];
		if (strncmp(de->d_name, "input", 5) != 0 || !is_keyboard(dirfd(dir), de->d_name) ||
		    pt_read_link(dirfd(dir), de->d_name, k.path, sizeof(k.path)) < 0)
			continue;
		snprintf(path, sizeof(path), "%s/name", de->d_name);
		pt_read_attr(dirfd(dir), path, k.name, sizeof(k.name));
		add_item((void **)&h->keyboards, &h->n_keyboards, sizeof(k), &k);
	}
	if (dir)
		closedir(dir);
}

/* The framebuffer console: fbcon bound to a vtconsole, drawing on the fbN devices. */
static void read_console(pt_ctx *ctx, struct pt_host_facts *h)
{
	DIR *dir = open_dir(ctx, "sys/class/vtconsole");
	struct dirent *de;
	bool fbcon = false;

	while (dir && (de = readdir(dir))) {
		char path[300], buf[128], bind[8];
		if (strncmp(de->d_name, "vtcon", 5) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/name", de->d_name);
		if (pt_read_attr(dirfd(dir), path, buf, sizeof(buf)) < 0 || !strstr(buf, "frame buffer"))
			continue;
		snprintf(path, sizeof(path), "%s/bind", de->d_name);
		fbcon |= pt_read_attr(dirfd(dir), path, bind, sizeof(bind)) == 0 && strcmp(bind, "1") == 0;
	}
	if (dir)
		closedir(dir);
	if (!fbcon || !(dir = open_dir(ctx, "sys/class/graphics")))
		return;
	while ((de = readdir(dir))) {
		struct pt_host_input fb = { 0 };
		if (strncmp(de->d_name, "fb", 2) != 0 || pt_read_link(dirfd(dir), de->d_name, fb.path, sizeof(fb.path)) < 0)
			continue;
		snprintf(fb.name, sizeof(fb.name), "%.100s", de->d_name);
		add_item((void **)&h->framebuffers, &h->n_framebuffers, sizeof(fb), &fb);
	}
	closedir(dir);
}

static void release_host_facts(pt_enum *e)
{
	struct pt_host_facts *h = e->host;

	if (!h)
		return;
	free(h->mounts);
	free(h->unknown_pools);
	free(h->routes);
	free(h->keyboards);
	free(h->framebuffers);
	free(h);
	e->host = NULL;
}

const struct pt_host_facts *pt_host_facts(pt_enum *e)
{
	static const struct pt_host_facts none;

	if (!e->host) {
		struct pt_host_facts *h = calloc(1, sizeof(*h));
		if (!h)
			return &none;
		e->host = h;
		pt_enum_on_release(e, release_host_facts);
		read_mounts(e->ctx, h);
		read_routes(e->ctx, h);
		read_keyboards(e->ctx, h);
		read_console(e->ctx, h);
	}
	return e->host;
}
