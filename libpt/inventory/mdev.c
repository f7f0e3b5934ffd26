/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Mediated devices (vGPU), read on first use: the types each mdev parent offers
 * (mdev_supported_types/TYPE: name, description, device_api, available_instances) and its live
 * mdevs (a child directory named by UUID, with an mdev_type link), for the parents the kernel
 * lists in /sys/class/mdev_bus; and NVIDIA's vGPU 17+ on Linux 6.8+, which has no mdev: a VF's
 * nvidia/creatable_vgpu_types ("ID : NAME" lines) and nvidia/current_vgpu_type (0: none).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libpt-private.h"

static void release_mdevs(pt_enum *e);

#define MDEV_BUS "sys/class/mdev_bus"

/* An attribute's text, its lines joined with ", " (a type's description has several). */
static char *attr_string(int dfd, const char *name)
{
	char buf[512], joined[1024];
	size_t n = 0;

	if (pt_read_attr(dfd, name, buf, sizeof(buf)) < 0)
		return NULL;
	for (const char *c = buf; *c && n + 3 < sizeof(joined); c++) {
		if (*c == '\n') {
			joined[n++] = ',';
			joined[n++] = ' ';
		} else {
			joined[n++] = *c;
		}
	}
	joined[n] = '\0';
	return pt_clean_string(joined);
}

/* A type's directory name: what `create` takes and Proxmox's mdev= names ("i915-GVTg_V5_4"). */
static bool type_name_valid(const char *s)
{
	if (!*s || strlen(s) > 64)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '-' || *s == '_'))
			return false;
	return true;
}

PT_EXPORT int pt_uuid_is_valid(const char *s)
{
	static const char form[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
	if (!s || strlen(s) != sizeof(form) - 1)
		return 0;
	for (size_t i = 0; form[i]; i++)
		if (form[i] == '-' ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static void read_types(pt_enum *e, pt_device *dev, int devfd)
{
	int tfd = openat(devfd, "mdev_supported_types", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = tfd < 0 ? NULL : fdopendir(tfd);
	struct dirent *de;

	if (!dir) {
		if (tfd >= 0)
			close(tfd);
		return;
	}
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		if (!type_name_valid(de->d_name)) {
			pt_enum_add_warning(e, "%s: %s/sys/bus/pci/devices/%s/mdev_supported_types/%.64s: not a "
					    "type name, skipped", dev->address, e->ctx->root, dev->address, de->d_name);
			continue;
		}
		int fd = openat(dirfd(dir), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			continue;
		pt_mdev_type *t = realloc(dev->mdev_types, (dev->n_mdev_types + 1) * sizeof(*t));
		if (!t) {
			close(fd);
			break;
		}
		dev->mdev_types = t;
		t = &t[dev->n_mdev_types++];
		char *avail = attr_string(fd, "available_instances");
		unsigned long long n;
		*t = (pt_mdev_type){
			.size = sizeof(pt_mdev_type), .type = strdup(de->d_name), .name = attr_string(fd, "name"),
			.description = attr_string(fd, "description"), .device_api = attr_string(fd, "device_api"),
			.available_instances = avail && pt_parse_uint(avail, 1u << 20, &n) == 0 ? (long)n : -1,
		};
		free(avail);
		close(fd);
	}
	closedir(dir);
}

static int compare_types(const void *a, const void *b)
{
	return strcmp(((const pt_mdev_type *)a)->type, ((const pt_mdev_type *)b)->type);
}

static int compare_mdevs(const void *a, const void *b)
{
	return strcmp(((const pt_mdev *)a)->uuid, ((const pt_mdev *)b)->uuid);
}

/* The live mdevs: children named by UUID with an mdev_type link to one of the parent's types. */
static void read_mdevs(pt_device *dev, int devfd)
{
	int fd = openat(devfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = fd < 0 ? NULL : fdopendir(fd);
	char path[300], link[256];
	struct dirent *de;

	if (!dir) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(dir))) {
		if (!pt_uuid_is_valid(de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/mdev_type", de->d_name);
		if (pt_read_link(devfd, path, link, sizeof(link)) < 0 || !type_name_valid(pt_basename(link)))
			continue;
		pt_mdev *m = realloc(dev->mdevs, (dev->n_mdevs + 1) * sizeof(*m));
		if (!m)
			break;
		dev->mdevs = m;
		m = &m[dev->n_mdevs++];
		m->size = sizeof(*m);
		memcpy(m->uuid, de->d_name, sizeof(m->uuid)); /* 36 characters and the NUL */
		m->type = strdup(pt_basename(link));
	}
	closedir(dir);
}

/* NVIDIA vGPU 17+: "ID : NAME" lines (a header line "ID : vGPU Name" is skipped). */
static void read_nvidia(pt_device *dev, int devfd)
{
	char buf[8192], cur[32];
	unsigned long long v;

	if (pt_read_attr(devfd, "nvidia/creatable_vgpu_types", buf, sizeof(buf)) < 0)
		return;
	dev->vgpu_current = -1;
	if (pt_read_attr(devfd, "nvidia/current_vgpu_type", cur, sizeof(cur)) == 0 &&
	    pt_parse_uint(cur, 0xffffffff, &v) == 0)
		dev->vgpu_current = (long)v;
	dev->has_vgpu = true;
	for (char *save, *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		char *id = line + strspn(line, " \t"), *name = colon + 1 + strspn(colon + 1, " \t");
		id[strcspn(id, " \t")] = '\0';
		if (pt_parse_uint(id, 0xffffffff, &v) < 0 || !*name)
			continue; /* the header, or a line that is no type */
		pt_vgpu_type *t = realloc(dev->vgpu_types, (dev->n_vgpu_types + 1) * sizeof(*t));
		if (!t)
			break;
		dev->vgpu_types = t;
		t[dev->n_vgpu_types].size = sizeof(*t);
		t[dev->n_vgpu_types].id = (unsigned)v;
		t[dev->n_vgpu_types++].name = pt_clean_string(name);
	}
}

void pt_mdev_load(const pt_enum *ce)
{
	pt_enum *e = PT_MUTABLE(pt_enum, ce);
	int fd;
	DIR *dir;
	struct dirent *de;

	if (e->mdev_loaded)
		return;
	e->mdev_loaded = true;
	pt_enum_on_release(e, release_mdevs);
	fd = openat(e->ctx->rootfd, MDEV_BUS, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dir = fd < 0 ? NULL : fdopendir(fd);
	while (dir && (de = readdir(dir))) {
		uint64_t key;
		pt_device *dev;
		if (de->d_name[0] == '.' || pt_address_parse(de->d_name, &key) < 0 || !(dev = pt_enum_find_key(e, key)))
			continue;
		char path[64];
		snprintf(path, sizeof(path), "sys/bus/pci/devices/%s", dev->address);
		int devfd = openat(e->ctx->rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (devfd < 0)
			continue;
		read_types(e, dev, devfd);
		read_mdevs(dev, devfd);
		close(devfd);
		if (dev->n_mdev_types)
			qsort(dev->mdev_types, dev->n_mdev_types, sizeof(*dev->mdev_types), compare_types);
		if (dev->n_mdevs)
			qsort(dev->mdevs, dev->n_mdevs, sizeof(*dev->mdevs), compare_mdevs);
	}
	if (dir)
		closedir(dir);
	else if (fd >= 0)
		close(fd);
	/* vGPU 17+: the VFs of a PF bound to nvidia */
	for (size_t i = 0; i < e->n_devices; i++) {
		pt_device *dev = &e->devices[i];
		if (dev->vendor != 0x10de || !dev->physfn || !dev->physfn->driver ||
		    strcmp(dev->physfn->driver, "nvidia") != 0)
			continue;
		char path[64];
		snprintf(path, sizeof(path), "sys/bus/pci/devices/%s", dev->address);
		int devfd = openat(e->ctx->rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (devfd >= 0) {
			read_nvidia(dev, devfd);
			close(devfd);
		}
	}
}

static void mdev_free(pt_device *dev)
{
	for (size_t i = 0; i < dev->n_mdev_types; i++) {
		free((char *)dev->mdev_types[i].type);
		free((char *)dev->mdev_types[i].name);
		free((char *)dev->mdev_types[i].description);
		free((char *)dev->mdev_types[i].device_api);
	}
	free(dev->mdev_types);
	for (size_t i = 0; i < dev->n_mdevs; i++)
		free((char *)dev->mdevs[i].type);
	free(dev->mdevs);
	for (size_t i = 0; i < dev->n_vgpu_types; i++)
		free((char *)dev->vgpu_types[i].name);
	free(dev->vgpu_types);
}

PT_EXPORT size_t pt_device_get_mdev_type_count(const pt_device *dev)
{
	pt_mdev_load(dev->e);
	return dev->n_mdev_types;
}

PT_EXPORT int pt_device_get_mdev_type(const pt_device *dev, size_t i, pt_mdev_type *ret)
{
	if (i >= pt_device_get_mdev_type_count(dev))
		return -ENOENT;
	return PT_STRUCT_OUT(ret, &dev->mdev_types[i]);
}

PT_EXPORT size_t pt_device_get_mdev_count(const pt_device *dev)
{
	pt_mdev_load(dev->e);
	return dev->n_mdevs;
}

PT_EXPORT int pt_device_get_mdev(const pt_device *dev, size_t i, pt_mdev *ret)
{
	if (i >= pt_device_get_mdev_count(dev))
		return -ENOENT;
	return PT_STRUCT_OUT(ret, &dev->mdevs[i]);
}

PT_EXPORT size_t pt_device_get_vgpu_type_count(const pt_device *dev)
{
	pt_mdev_load(dev->e);
	return dev->n_vgpu_types;
}

PT_EXPORT int pt_device_get_vgpu_type(const pt_device *dev, size_t i, pt_vgpu_type *ret)
{
	if (i >= pt_device_get_vgpu_type_count(dev))
		return -ENOENT;
	return PT_STRUCT_OUT(ret, &dev->vgpu_types[i]);
}

PT_EXPORT long pt_device_get_vgpu_current(const pt_device *dev)
{
	pt_mdev_load(dev->e);
	return dev->has_vgpu ? dev->vgpu_current : -1;
}

PT_EXPORT int pt_device_has_vgpu(const pt_device *dev)
{
	pt_mdev_load(dev->e);
	return dev->has_vgpu;
}

static void release_mdevs(pt_enum *e)
{
	for (size_t i = 0; i < e->n_devices; i++)
		mdev_free(&e->devices[i]);
}
