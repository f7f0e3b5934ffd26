/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The PCI inventory: one pass over /sys/bus/pci/devices, each attribute read once (pciattr.c),
 * then parents, SR-IOV links and groups resolved by lookup in the sorted snapshot; a scan of
 * some devices, and the attributes read or written after the scan (Resizable BAR, SR-IOV).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libpt-private.h"

#define DEVICES_DIR "sys/bus/pci/devices"

/* Reads the names in the devices directory; the devices are scanned once they are sorted. */
static int list_devices(pt_enum *e, DIR *dir)
{
	size_t cap = 0;
	struct dirent *de;

	while ((de = readdir(dir))) {
		uint64_t key;
		if (de->d_name[0] == '.')
			continue;
		char canonical[PT_ADDR_MAX];
		/* The kernel names them "%04x:%02x:%02x.%d"; anything else is not its device. */
		bool ok = pt_address_parse(de->d_name, &key) == 0;
		if (ok)
			pt_address_format(key, canonical);
		if (!ok || strcmp(canonical, de->d_name) != 0) {
			pt_enum_add_warning(e, "%s/" DEVICES_DIR "/%s: not a PCI address, skipped",
					    e->ctx->root, de->d_name);
			continue;
		}
		if (e->n_devices == cap) {
			cap = cap ? cap * 2 : 64;
			pt_device *d = realloc(e->devices, cap * sizeof(*d));
			if (!d)
				return -ENOMEM;
			e->devices = d;
		}
		memset(&e->devices[e->n_devices], 0, sizeof(pt_device));
		e->devices[e->n_devices].key = key;
		memcpy(e->devices[e->n_devices++].address, canonical, sizeof(canonical));
	}
	if (e->n_devices) /* qsort's base may not be NULL */
		qsort(e->devices, e->n_devices, sizeof(*e->devices), pt_device_compare_keys);
	return 0;
}

/* Parents and SR-IOV functions, by lookup in the sorted snapshot. */
static int link_devices(pt_enum *e)
{
	for (size_t i = 0; i < e->n_devices; i++) {
		pt_device *vf = &e->devices[i];
		if (vf->has_parent)
			vf->parent = pt_enum_find_key(e, vf->parent_key);
		if (!vf->has_physfn || !(vf->physfn = pt_enum_find_key(e, vf->physfn_key)))
			continue;
		pt_device **v = realloc(vf->physfn->virtfns,
					(vf->physfn->n_virtfns + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		vf->physfn->virtfns = v;
		v[vf->physfn->n_virtfns++] = vf;
	}
	return 0;
}

/* ---- a scan of some devices: the named ones and what their answers need ---- */

static void mark(pt_enum *e, bool *keep, uint64_t key)
{
	pt_device *d = pt_enum_find_key(e, key);
	if (d)
		keep[d - e->devices] = true;
}

/* The devices one device's answers need: its slot's functions, its IOMMU group's members (as
 * /sys/kernel/iommu_groups/N/devices lists them), the bridges above it, its PF. */
static void mark_needs(pt_enum *e, bool *keep, const pt_device *dev, int devicesfd)
{
	char link[PATH_MAX], path[96];
	unsigned long long n;

	for (size_t i = 0; i < e->n_devices; i++) /* the slot: neighbours in the sorted list */
		if (pt_same_slot(&e->devices[i], dev))
			keep[i] = true;
	if (pt_read_link(devicesfd, dev->address, link, sizeof(link)) == 0)
		for (char *save, *c = strtok_r(link, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
			uint64_t key;
			if (pt_address_parse(c, &key) == 0)
				mark(e, keep, key);
		}
	snprintf(path, sizeof(path), "%s/iommu_group", dev->address);
	if (pt_read_link(devicesfd, path, link, sizeof(link)) == 0 &&
	    pt_parse_uint(pt_basename(link), 0x7fffffff, &n) == 0) {
		snprintf(path, sizeof(path), "sys/kernel/iommu_groups/%llu/devices", n);
		int gfd = openat(e->ctx->rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *g = gfd >= 0 ? fdopendir(gfd) : NULL;
		for (struct dirent *de; g && (de = readdir(g));) {
			uint64_t key;
			if (pt_address_parse(de->d_name, &key) == 0)
				mark(e, keep, key);
		}
		if (g)
			closedir(g);
		else if (gfd >= 0)
			close(gfd);
	}
	snprintf(path, sizeof(path), "%s/physfn", dev->address);
	if (pt_read_link(devicesfd, path, link, sizeof(link)) == 0) {
		uint64_t key;
		if (pt_address_parse(pt_basename(link), &key) == 0)
			mark(e, keep, key);
	}
}

/* Keeps the devices named (addresses, or slots "DDDD:BB:SS" for all their functions) and,
 * transitively, what they need; the others leave the snapshot. -ENOENT names one not there. */
static int restrict_to(pt_enum *e, const char *const *names, size_t n_names, bool missing_ok, int devicesfd)
{
	bool *keep = calloc(e->n_devices ? e->n_devices : 1, sizeof(*keep));
	bool *done = calloc(e->n_devices ? e->n_devices : 1, sizeof(*done));
	int r = 0;

	if (!keep || !done) {
		free(keep);
		free(done);
		return -ENOMEM;
	}
	for (size_t i = 0; r == 0 && i < n_names; i++) {
		uint64_t key;
		bool found = false, slot;
		/* a slot: every function of it */
		if ((r = pt_pci_id_check(e->ctx, names[i], &key, &slot)) < 0)
			break;
		for (size_t d = 0; d < e->n_devices; d++)
			if (e->devices[d].key == key || (slot && PT_SLOT(e->devices[d].key) == PT_SLOT(key)))
				keep[d] = found = true;
		if (!found && !missing_ok)
			r = pt_fail(e->ctx, -ENOENT, "%s: no such device in %s/" DEVICES_DIR, names[i], e->ctx->root);
	}
	for (bool more = r == 0; more;) {
		more = false;
		for (size_t d = 0; d < e->n_devices; d++)
			if (keep[d] && !done[d]) {
				done[d] = more = true;
				mark_needs(e, keep, &e->devices[d], devicesfd);
			}
	}
	size_t kept = 0;
	for (size_t d = 0; r == 0 && d < e->n_devices; d++)
		if (keep[d])
			e->devices[kept++] = e->devices[d];
	if (r == 0)
		e->n_devices = kept;
	free(keep);
	free(done);
	return r;
}

static int scan(pt_ctx *ctx, const char *const *names, size_t n_names, bool partial, bool missing_ok, pt_enum **ret);

/* The snapshot of every device (names NULL), or of those named and what their answers need
 * (analysis/scan.c: pt_enum_scan, pt_enum_scan_devices). */
int pt_scan(pt_ctx *ctx, const char *const *names, size_t n, pt_enum **ret)
{
	return names ? scan(ctx, names, n, true, false, ret) : scan(ctx, NULL, 0, false, false, ret);
}

/* The same as pt_enum_scan_devices, a name that is not there left out (the caller says so). */
int pt_enum_scan_present(pt_ctx *ctx, const char *const *names, size_t n, pt_enum **ret)
{
	return scan(ctx, names, n, true, true, ret);
}

PT_EXPORT int pt_enum_is_partial(const pt_enum *e)
{
	return e && e->partial;
}

static int scan(pt_ctx *ctx, const char *const *names, size_t n_names, bool partial, bool missing_ok, pt_enum **ret)
{
	pt_enum *e;
	int fd, r;
	DIR *dir;

	if (!ctx || !ret)
		return -EINVAL;
	fd = openat(ctx->rootfd, DEVICES_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		return pt_fail(ctx, r, "%s: not a sysfs tree: %s/" DEVICES_DIR ": %s",
			       pt_ctx_get_root(ctx), ctx->root, strerror(-r));
	}
	dir = fdopendir(fd);
	e = calloc(1, sizeof(*e));
	if (!dir || !e) {
		if (dir)
			closedir(dir);
		else
			close(fd);
		free(e);
		return pt_fail(ctx, -ENOMEM, "scanning PCI devices: %s", strerror(ENOMEM));
	}
	e->refcount = 1;
	e->ctx = pt_ctx_ref(ctx);
	e->partial = partial;
	r = list_devices(e, dir);
	if (r == 0 && partial)
		r = restrict_to(e, names, n_names, missing_ok, dirfd(dir));
	if (r == 0)
		pt_pci_read_devices(e, dirfd(dir));
	closedir(dir);
	if (r == 0)
		r = link_devices(e);
	if (r == 0)
		r = pt_iommu_scan_groups(e);
	if (r == 0)
		r = pt_iommu_analyse(e);
	if (r < 0) {
		pt_enum_unref(e);
		if (r == -ENOENT || r == -EINVAL)
			return r; /* the name was said */
		return pt_fail(ctx, r, "scanning PCI devices under %s: %s", pt_ctx_get_root(ctx),
			       strerror(-r));
	}
	*ret = e;
	return 0;
}

PT_EXPORT uint64_t pt_device_get_bar_resizable(const pt_device *cdev, unsigned i)
{
	pt_device *dev = PT_MUTABLE(pt_device, cdev);

	if (i >= 6)
		return 0;
	if (!dev->rebar_loaded) {
		char path[80], buf[32];
		unsigned long long v;
		dev->rebar_loaded = true;
		for (unsigned n = 0; n < 6; n++) {
			snprintf(path, sizeof(path), DEVICES_DIR "/%s/resource%u_resize", dev->address, n);
			if (pt_read_attr(dev->e->ctx->rootfd, path, buf, sizeof(buf)) == 0 &&
			    pt_parse_hex(buf, ~0ULL, &v) == 0)
				dev->rebar[n] = v;
		}
	}
	return dev->rebar[i];
}

/*
 * Waits, at most timeout_ms, until the PF has its first n VFs (virtfn0 .. virtfnN-1 links, read
 * now, not from the snapshot): creating 64 VFs takes tens of seconds on some NICs. *elapsed_ms
 * gets how long it took; -ETIMEDOUT says how many were there when the time was up.
 */
PT_EXPORT int pt_device_wait_sriov_vfs(pt_device *dev, unsigned n, unsigned timeout_ms, unsigned *elapsed_ms)
{
	struct timespec start, now, pause = { 0, 5 * 1000 * 1000 };
	char path[96];
	unsigned have = 0, took = 0;

	if (!dev)
		return -EINVAL;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		while (have < n) {
			snprintf(path, sizeof(path), DEVICES_DIR "/%s/virtfn%u", dev->address, have);
			if (faccessat(dev->e->ctx->rootfd, path, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
				break;
			have++;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		took = (unsigned)((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
		if (have == n || took >= timeout_ms)
			break;
		struct timespec nap = pause; /* backing off, never past the deadline */
		if ((unsigned long)nap.tv_nsec / 1000000 > timeout_ms - took)
			nap.tv_nsec = (long)(timeout_ms - took) * 1000000;
		nanosleep(&nap, NULL);
		if (pause.tv_nsec < 200 * 1000 * 1000)
			pause.tv_nsec *= 2;
	}
	if (elapsed_ms)
		*elapsed_ms = took;
	if (have < n)
		return pt_fail(dev->e->ctx, -ETIMEDOUT, "%s: %u of %u virtual functions after %u ms (%s%s/%s/virtfnN)",
			       dev->address, have, n, took, dev->e->ctx->root, "/" DEVICES_DIR, dev->address);
	return 0;
}

PT_EXPORT int pt_device_set_sriov_numvfs(pt_device *dev, unsigned n)
{
	char path[64], value[16];
	int r;

	if (!dev->totalvfs)
		return pt_fail(dev->e->ctx, -EINVAL, "%s: cannot create virtual functions (no sriov_totalvfs)",
			       dev->address);
	if (n > dev->totalvfs)
		return pt_fail(dev->e->ctx, -EINVAL, "%s: %u virtual functions asked, at most %u", dev->address,
			       n, dev->totalvfs);
	snprintf(path, sizeof(path), DEVICES_DIR "/%s/sriov_numvfs", dev->address);
	char before[16] = "0";
	pt_read_attr(dev->e->ctx->rootfd, path, before, sizeof(before));
	/* The kernel takes a new count only from zero; a failure puts the old count back. */
	r = pt_write_attr(dev->e->ctx->rootfd, path, "0");
	snprintf(value, sizeof(value), "%u", n);
	if (r == 0 && n && (r = pt_write_attr(dev->e->ctx->rootfd, path, value)) < 0 && strcmp(before, "0") != 0)
		pt_write_attr(dev->e->ctx->rootfd, path, before);
	if (r < 0)
		return pt_fail(dev->e->ctx, r, "%s: write '%s' to %s/%s: %s (the count stays %s)", dev->address,
			       value, dev->e->ctx->root, path, strerror(-r), before);
	return 0;
}
