/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a VM holds of the host besides its devices' drivers: an mdev created for it, a VF's
 * vGPU type, and, for a host with one GPU, the console (the display manager, the vtconsoles,
 * the firmware framebuffer). Each is a hold: a journal file /run/libpt/hold-VM-SEQ written
 * before the change is made, saying how to give it back; the VM's restore (post-stop, or a
 * later run after a crash) gives back its holds newest first, after its devices. One function
 * walks a change both for the plan (dry run: the exact writes) and for the commit.
 *
 *   mdev       write UUID to PARENT/mdev_supported_types/TYPE/create; back: 1 to UUID/remove
 *   vgpu       write TYPE to VF/nvidia/current_vgpu_type; back: the type it had (0: none)
 *   unit       systemctl stop UNIT (the display manager); back: systemctl start UNIT
 *   vtconsole  write 0 to vtconN/bind; back: 1
 *   fbdev      write DEVICE to platform DRIVER/unbind; back: DEVICE to DRIVER/bind
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "libpt-private.h"

#define LOCK_TIMEOUT_MS 60000
#define DISPLAY_MANAGER "display-manager.service"

enum kind { MDEV, VGPU, UNIT, VTCONSOLE, FBDEV };
static const char *const kind_names[] = { "mdev", "vgpu", "unit", "vtconsole", "fbdev" };

/* The platform drivers of the firmware's framebuffer that hold a GPU's memory while the host
 * console is on it (efifb, vesafb, simplefb and simpledrm register under these names). */
static const char *const fb_drivers[] = { "efi-framebuffer", "vesa-framebuffer", "simple-framebuffer" };

struct hold {
	enum kind kind;
	char key[96];	/* UUID, VF address, unit, vtconsole number, "DRIVER DEVICE" */
	char parent[PT_ADDR_MAX]; /* mdev: the parent */
	char value[64]; /* mdev: its type; vgpu: the type to give back */
	unsigned vm;
	char set[32];	/* vgpu: the type to set (the change, not journaled) */
};

struct run {
	pt_ctx *ctx;
	bool plan;
	struct pt_strv *steps;
	struct pt_strv taken; /* the holds this run wrote, to give back when a later step fails */
};

static void say(struct run *run, const char *format, ...) PT_PRINTF(2, 3);
static void say(struct run *run, const char *format, ...)
{
	char *s;
	va_list args;

	va_start(args, format);
	if (vasprintf(&s, format, args) >= 0) {
		pt_strv_add(run->steps, s);
		free(s);
	}
	va_end(args);
}

/* One sysfs write, said and (unless planned) made; a failure names the file. */
static int write_step(struct run *run, const char *path, const char *value)
{
	say(run, "write '%s' to %s/%s", value, run->ctx->root, path);
	if (run->plan)
		return 0;
	int r = pt_write_attr(run->ctx->rootfd, path, value);
	return r < 0 ? pt_fail(run->ctx, r, "write '%s' to %s/%s: %s", value, run->ctx->root, path, strerror(-r)) : 0;
}

static bool unit_name_valid(const char *s)
{
	size_t n = strlen(s);
	return n > 8 && n < 96 && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_.@-") == n &&
	       strcmp(s + n - 8, ".service") == 0 && s[0] != '-';
}

static bool fb_driver_known(const char *d)
{
	for (size_t i = 0; i < sizeof(fb_drivers) / sizeof(*fb_drivers); i++)
		if (strcmp(d, fb_drivers[i]) == 0)
			return true;
	return false;
}

/* systemctl VERB UNIT: its exit status; a root that is not the running system has no systemd
 * to ask unless pt_opts.systemctl names one. */
static int systemctl(struct run *run, const char *verb, const char *unit)
{
	const char *exe = run->ctx->systemctl ? run->ctx->systemctl : run->ctx->root[0] ? NULL : "/usr/bin/systemctl";
	char *argv[] = { "systemctl", (char *)verb, "--quiet", (char *)unit, NULL };

	if (!exe)
		return -ENOENT;
	return pt_run_timeout(exe, argv, PT_PROGRAM_TIMEOUT_MS, NULL, 0);
}

static int unit_step(struct run *run, const char *verb, const char *unit)
{
	say(run, "systemctl %s %s", verb, unit);
	if (run->plan)
		return 0;
	int r = systemctl(run, verb, unit);
	if (r != 0)
		return pt_fail(run->ctx, r < 0 ? r : -EIO, "systemctl %s %s: %s", verb, unit,
			       r == -ETIMEDOUT ? "no answer within 5 s (killed)" : r < 0 ? strerror(-r) :
			       "failed (see journalctl -u it)");
	return 0;
}

/* ---- the journal of holds ---- */

static int hold_write(struct run *run, const struct hold *h, char name[64])
{
	struct timespec now;
	char text[512];

	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(name, 64, "hold-%u-%019lld", h->vm, (long long)now.tv_sec * 1000000000LL + now.tv_nsec);
	snprintf(text, sizeof(text), "kind=%s\nkey=%s\nparent=%s\nvalue=%s\nvm=%u\npid=%ld\n", kind_names[h->kind], h->key,
		 h->parent, h->value, h->vm, (long)getpid());
	say(run, "journal %s/run/libpt/%s (%s %s)", run->ctx->root, name, kind_names[h->kind], h->key);
	if (run->plan)
		return 0;
	pt_strv_add(&run->taken, name);
	return pt_journal_put(run->ctx, name, text);
}

/* A hold as its file says it, each value checked as where it came from: -EBADMSG when damaged. */
static int hold_read(pt_ctx *ctx, const char *name, struct hold *h)
{
	char text[512], *save;
	unsigned long long v;
	int seen = 0, r = pt_journal_get(ctx, name, text, sizeof(text));

	if (r < 0)
		return r;
	memset(h, 0, sizeof(*h));
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq++ = '\0';
		if (strcmp(line, "kind") == 0) {
			for (size_t k = 0; k < sizeof(kind_names) / sizeof(*kind_names); k++)
				if (strcmp(eq, kind_names[k]) == 0)
					h->kind = (enum kind)k, seen |= 1;
		} else if (strcmp(line, "key") == 0 && strlen(eq) < sizeof(h->key) && !(seen & 2))
			strcpy(h->key, eq), seen |= 2;
		else if (strcmp(line, "parent") == 0 && strlen(eq) < sizeof(h->parent))
			strcpy(h->parent, eq);
		else if (strcmp(line, "value") == 0 && strlen(eq) < sizeof(h->value))
			strcpy(h->value, eq);
		else if (strcmp(line, "vm") == 0 && pt_parse_uint(eq, PT_VMID_MAX, &v) == 0 && !(seen & 4))
			h->vm = (unsigned)v, seen |= 4;
	}
	char driver[64], device[64];
	bool ok = seen == 7 && pt_vmid_is_valid(h->vm);
	if (ok && h->kind == MDEV)
		ok = pt_uuid_is_valid(h->key);
	else if (ok && h->kind == VGPU)
		ok = pt_address_parse(h->key, &(uint64_t){ 0 }) == 0 && pt_parse_uint(h->value, 0xffffffff, &v) == 0;
	else if (ok && h->kind == UNIT)
		ok = unit_name_valid(h->key) && strcmp(h->key, DISPLAY_MANAGER) == 0; /* the only unit libpt stops */
	else if (ok && h->kind == VTCONSOLE)
		ok = pt_parse_uint(h->key, 63, &v) == 0;
	else if (ok && h->kind == FBDEV)
		ok = sscanf(h->key, "%63s %63s", driver, device) == 2 && fb_driver_known(driver) && pt_driver_name_valid(device);
	if (!ok)
		return pt_fail(ctx, -EBADMSG, "journal %s/run/libpt/%s is damaged: give back what it held by hand and "
			       "delete the file", ctx->root, name);
	return 0;
}

/* Gives one hold back (idempotent: what is already back is left). */
static int give_back(struct run *run, const struct hold *h)
{
	char path[192], link[256], driver[64], device[64];

	switch (h->kind) {
	case MDEV:
		snprintf(path, sizeof(path), "sys/bus/mdev/devices/%s/remove", h->key);
		if (faccessat(run->ctx->rootfd, path, F_OK, 0) < 0) {
			say(run, "mdev %s: already gone", h->key);
			return 0;
		}
		return write_step(run, path, "1");
	case VGPU:
		snprintf(path, sizeof(path), "sys/bus/pci/devices/%s/nvidia/current_vgpu_type", h->key);
		return write_step(run, path, h->value);
	case UNIT:
		return unit_step(run, "start", h->key);
	case VTCONSOLE:
		snprintf(path, sizeof(path), "sys/class/vtconsole/vtcon%s/bind", h->key);
		return write_step(run, path, "1");
	case FBDEV:
		sscanf(h->key, "%63s %63s", driver, device);
		snprintf(path, sizeof(path), "sys/bus/platform/devices/%s/driver", device);
		if (pt_read_link(run->ctx->rootfd, path, link, sizeof(link)) == 0) {
			say(run, "%s: bound to %s already", device, pt_basename(link));
			return 0;
		}
		snprintf(path, sizeof(path), "sys/bus/platform/drivers/%s/bind", driver);
		return write_step(run, path, device);
	}
	return -EINVAL;
}

/* The hold in journal NAME given back and its journal removed: 1; a damaged one skipped, named: 0. */
static int give_back_named(struct run *run, const char *name, unsigned vm)
{
	struct hold h;
	int r = hold_read(run->ctx, name, &h);

	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		pt_warn(run->ctx, "%s (skipped)", run->ctx->last_error);
		return 0;
	}
	if (h.vm != vm)
		return 0;
	if ((r = give_back(run, &h)) < 0)
		return r;
	say(run, "remove %s/run/libpt/%s", run->ctx->root, name);
	return run->plan || (r = pt_journal_remove(run->ctx, name)) == 0 ? 1 : r;
}

/*
 * The VM's holds given back, newest first, each journal removed once its hold is back (a
 * damaged one is skipped, named): how many, or -errno. Called under libpt's lock by the VM's
 * restore (txn.c); in a plan, only said.
 */
int pt_holds_give_back(pt_ctx *ctx, unsigned vm, bool plan, struct pt_strv *steps)
{
	struct pt_strv names;
	struct run run = { .ctx = ctx, .plan = plan, .steps = steps };
	char prefix[32];
	int r = 0;

	snprintf(prefix, sizeof(prefix), "hold-%u-", vm);
	if ((r = pt_journal_names(ctx, prefix, &names)) < 0)
		return pt_fail(ctx, r, "%s/run/libpt: %s", ctx->root, strerror(-r));
	int given = 0;
	for (size_t i = names.n; r >= 0 && i-- > 0;)
		if ((r = give_back_named(&run, names.v[i], vm)) > 0)
			given++;
	pt_strv_free(&names);
	return r < 0 ? r : given;
}

/* ---- taking ---- */

/* Runs a hold's taking under the lock (or plans it): *steps_ret the writes, one a line. */
static int take(pt_ctx *ctx, unsigned vm, unsigned flags, int (*fn)(struct run *, void *), void *arg, char **steps_ret)
{
	struct pt_strv steps = { 0 };
	struct run run = { .ctx = ctx, .plan = flags & PT_TXN_DRY_RUN, .steps = &steps };
	int lock = -1, r;

	if ((r = pt_check_vmid(ctx, vm)) < 0)
		return r;
	if (!run.plan && (lock = pt_journal_lock(ctx, LOCK_TIMEOUT_MS)) < 0)
		return lock;
	r = fn(&run, arg);
	if (r < 0 && run.taken.n) {
		/* what this run took goes back, newest first; the first error is the one told */
		char why[sizeof(ctx->last_error)], *more = NULL;
		snprintf(why, sizeof(why), "%s", ctx->last_error);
		for (size_t i = run.taken.n; i-- > 0;)
			if (give_back_named(&run, run.taken.v[i], vm) < 0 && !more &&
			    asprintf(&more, "; giving back: %s (its journal stays: run restore)", ctx->last_error) < 0)
				more = NULL;
		snprintf(ctx->last_error, sizeof(ctx->last_error), "%s%s", why, more ? more : "");
		free(more);
	}
	pt_strv_free(&run.taken);
	pt_journal_unlock(lock);
	if (r == 0 && steps_ret && !(*steps_ret = pt_strv_join(&steps, "\n")))
		r = pt_fail(ctx, -ENOMEM, "out of memory");
	pt_strv_free(&steps);
	return r;
}

/* A change with its hold: journal first, then the change; the journal goes when it fails. */
static int hold_and(struct run *run, const struct hold *h, int (*change)(struct run *, const struct hold *))
{
	char name[64];
	int r = hold_write(run, h, name);

	if (r == 0 && (r = change(run, h)) < 0 && !run->plan) {
		/* the change was not made: nothing to give back for it */
		char why[sizeof(run->ctx->last_error)];
		snprintf(why, sizeof(why), "%s", run->ctx->last_error);
		pt_journal_remove(run->ctx, name);
		free(run->taken.v[--run->taken.n]);
		snprintf(run->ctx->last_error, sizeof(run->ctx->last_error), "%s", why);
	}
	return r;
}

struct mdev_arg {
	pt_device *parent;
	const char *type;
	char uuid[37];
	unsigned vm;
};

static int mdev_create(struct run *run, const struct hold *h)
{
	char path[256];
	snprintf(path, sizeof(path), "sys/bus/pci/devices/%s/mdev_supported_types/%s/create", h->parent, h->value);
	return write_step(run, path, h->key);
}

static int take_mdev(struct run *run, void *arg)
{
	struct mdev_arg *a = arg;
	const char *address = pt_device_get_address(a->parent);
	char path[256], buf[32];
	unsigned long long left = 0;
	struct hold h = { .kind = MDEV, .vm = a->vm };

	/* decided now, under the lock: the type there, an instance left, the UUID unused */
	snprintf(path, sizeof(path), "sys/bus/pci/devices/%s/mdev_supported_types/%s/available_instances", address,
		 a->type);
	if (pt_read_attr(run->ctx->rootfd, path, buf, sizeof(buf)) < 0 || pt_parse_uint(buf, 1u << 20, &left) < 0)
		return pt_fail(run->ctx, -ENOENT, "%s: no mdev type %s (%s/%s)", address, a->type, run->ctx->root, path);
	if (!left)
		return pt_fail(run->ctx, -ENOSPC, "%s: mdev type %s has no instance left", address, a->type);
	snprintf(path, sizeof(path), "sys/bus/mdev/devices/%s", a->uuid);
	if (faccessat(run->ctx->rootfd, path, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return pt_fail(run->ctx, -EEXIST, "mdev %s exists already", a->uuid);
	snprintf(h.key, sizeof(h.key), "%s", a->uuid);
	snprintf(h.parent, sizeof(h.parent), "%s", address);
	snprintf(h.value, sizeof(h.value), "%s", a->type);
	return hold_and(run, &h, mdev_create);
}

PT_EXPORT int pt_hold_mdev(pt_device *parent, const char *type, const char *uuid, unsigned vm, unsigned flags,
			   char uuid_ret[37], char **steps_ret)
{
	struct mdev_arg a = { .parent = parent, .type = type, .vm = vm };
	char q[160];

	if (!parent)
		return -EINVAL;
	pt_ctx *ctx = pt_enum_get_context(pt_device_get_enum(parent));
	if (!type || !pt_word_valid(type, true, "-_.") || strlen(type) > 64)
		return pt_fail(ctx, -EINVAL, "mdev type %s: not a type name", pt_quote(q, sizeof(q), type ? type : "nil"));
	if (uuid && !pt_uuid_is_valid(uuid))
		return pt_fail(ctx, -EINVAL, "mdev UUID %s: expected 8-4-4-4-12 lower-case hex digits",
			       pt_quote(q, sizeof(q), uuid));
	if (uuid)
		snprintf(a.uuid, sizeof(a.uuid), "%s", uuid);
	else {
		unsigned char b[16];
		if (getrandom(b, sizeof(b), 0) != sizeof(b))
			return pt_fail(ctx, -EIO, "getrandom: %m");
		b[6] = (b[6] & 0x0f) | 0x40, b[8] = (b[8] & 0x3f) | 0x80; /* version 4, RFC 4122 */
		snprintf(a.uuid, sizeof(a.uuid), "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
			 b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
	}
	int r = take(ctx, vm, flags, take_mdev, &a, steps_ret);
	if (r == 0 && uuid_ret)
		memcpy(uuid_ret, a.uuid, 37);
	return r;
}

struct vgpu_arg {
	pt_device *vf;
	long type;
	unsigned vm;
};

static int vgpu_set(struct run *run, const struct hold *h)
{
	char path[192];
	snprintf(path, sizeof(path), "sys/bus/pci/devices/%s/nvidia/current_vgpu_type", h->key);
	return write_step(run, path, h->set);
}

static int take_vgpu(struct run *run, void *arg)
{
	struct vgpu_arg *a = arg;
	const char *address = pt_device_get_address(a->vf);
	char path[128], buf[32], *text = NULL;
	unsigned long long now;
	size_t len;
	struct hold h = { .kind = VGPU, .vm = a->vm };

	snprintf(path, sizeof(path), "sys/bus/pci/devices/%s/nvidia/current_vgpu_type", address);
	if (pt_read_attr(run->ctx->rootfd, path, buf, sizeof(buf)) < 0 || pt_parse_uint(buf, 0xffffffff, &now) < 0)
		return pt_fail(run->ctx, -ENOENT, "%s: no NVIDIA vGPU type here (%s/%s)", address, run->ctx->root, path);
	if ((long)now == a->type) {
		say(run, "%s: vGPU type %ld already", address, a->type);
		return 0;
	}
	if (now != 0)
		return pt_fail(run->ctx, -EBUSY, "%s: has vGPU type %llu already (another VM's?): set it to 0 first", address,
			       now);
	/* the type must be one the VF can create now */
	char want[32];
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/nvidia/creatable_vgpu_types", address);
	snprintf(want, sizeof(want), "%ld", a->type);
	bool creatable = false;
	if (pt_read_in_root(run->ctx, path, 65536, &text, &len) == 0 && text)
		for (char *save, *line = strtok_r(text, "\n", &save); line && !creatable; line = strtok_r(NULL, "\n", &save))
			creatable = strncmp(line, want, strlen(want)) == 0 && (line[strlen(want)] == ' ' || !line[strlen(want)]);
	free(text);
	if (!creatable)
		return pt_fail(run->ctx, -ENOENT, "%s: vGPU type %ld is not among the types it can create now (%s%s)", address,
			       a->type, run->ctx->root, path);
	snprintf(h.key, sizeof(h.key), "%s", address);
	snprintf(h.value, sizeof(h.value), "%llu", now);
	snprintf(h.set, sizeof(h.set), "%ld", a->type);
	return hold_and(run, &h, vgpu_set);
}

PT_EXPORT int pt_hold_vgpu(pt_device *vf, long type, unsigned vm, unsigned flags, char **steps_ret)
{
	struct vgpu_arg a = { .vf = vf, .type = type, .vm = vm };

	if (!vf)
		return -EINVAL;
	pt_ctx *ctx = pt_enum_get_context(pt_device_get_enum(vf));
	if (type <= 0 || type > 0xffffffffL)
		return pt_fail(ctx, -EINVAL, "vGPU type %ld: a type id from creatable_vgpu_types", type);
	return take(ctx, vm, flags, take_vgpu, &a, steps_ret);
}

static int stop_unit(struct run *run, const struct hold *h) { return unit_step(run, "stop", h->key); }

static int unbind_vtconsole(struct run *run, const struct hold *h)
{
	char path[160];
	snprintf(path, sizeof(path), "sys/class/vtconsole/vtcon%s/bind", h->key);
	return write_step(run, path, "0");
}

static int unbind_fb(struct run *run, const struct hold *h)
{
	char path[128], driver[64], device[64];
	sscanf(h->key, "%63s %63s", driver, device);
	snprintf(path, sizeof(path), "sys/bus/platform/drivers/%s/unbind", driver);
	return write_step(run, path, device);
}

/* The console handed over: the display manager stopped (when it runs), each bound vtconsole
 * unbound, each firmware framebuffer device unbound from its driver. */
static int take_console(struct run *run, void *arg)
{
	unsigned vm = *(unsigned *)arg;
	struct hold h = { .vm = vm };
	char path[160], buf[16];
	int r = 0;
	DIR *d;
	struct dirent *de;

	int active = systemctl(run, "is-active", DISPLAY_MANAGER);
	if (active == 0) {
		h.kind = UNIT;
		snprintf(h.key, sizeof(h.key), "%s", DISPLAY_MANAGER);
		r = hold_and(run, &h, stop_unit);
	} else
		say(run, "%s: not running%s", DISPLAY_MANAGER, active == -ENOENT ? " (no systemctl for this root)" : "");
	for (unsigned n = 0; r == 0 && n < 64; n++) {
		snprintf(path, sizeof(path), "sys/class/vtconsole/vtcon%u/bind", n);
		if (pt_read_attr(run->ctx->rootfd, path, buf, sizeof(buf)) < 0)
			continue;
		if (strcmp(buf, "1") != 0)
			continue;
		h.kind = VTCONSOLE;
		snprintf(h.key, sizeof(h.key), "%u", n);
		r = hold_and(run, &h, unbind_vtconsole);
	}
	for (size_t i = 0; r == 0 && i < sizeof(fb_drivers) / sizeof(*fb_drivers); i++) {
		snprintf(path, sizeof(path), "sys/bus/platform/drivers/%s", fb_drivers[i]);
		int fd = openat(run->ctx->rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || !(d = fdopendir(fd))) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		while (r == 0 && (de = readdir(d)))
			if (de->d_type == DT_LNK && pt_driver_name_valid(de->d_name) && strchr(de->d_name, '.') &&
			    strcmp(de->d_name, "module")) {
				h.kind = FBDEV;
				snprintf(h.key, sizeof(h.key), "%s %.63s", fb_drivers[i], de->d_name);
				r = hold_and(run, &h, unbind_fb);
			}
		closedir(d);
	}
	return r;
}

PT_EXPORT int pt_hold_console(pt_ctx *ctx, unsigned vm, unsigned flags, char **steps_ret)
{
	if (!ctx)
		return -EINVAL;
	return take(ctx, vm, flags, take_console, &vm, steps_ret);
}

PT_EXPORT int pt_holds_count(pt_ctx *ctx, unsigned vm)
{
	struct pt_strv names;
	char prefix[32];

	if (!ctx)
		return -EINVAL;
	snprintf(prefix, sizeof(prefix), "hold-%u-", vm);
	int r = pt_journal_names(ctx, prefix, &names);
	if (r < 0)
		return r;
	r = (int)names.n;
	pt_strv_free(&names);
	return r;
}
