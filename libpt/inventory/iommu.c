/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * IOMMU groups, and for every device its passthrough set and verdict.
 *
 * VFIO hands a group to a VM whole: every endpoint in it must be bound to vfio-pci (or
 * pci-stub, or nothing). Bridges stay with the host, and so may class-0x06 devices (host, ISA
 * bridges) that no driver holds; everything else in the group goes with the device.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libpt-private.h"

#define GROUPS_DIR "sys/kernel/iommu_groups"

static int compare_numbers(const void *a, const void *b)
{
	unsigned na = ((const pt_group *)a)->number, nb = ((const pt_group *)b)->number;
	return na < nb ? -1 : na > nb;
}

pt_group *pt_enum_lookup_group(const pt_enum *e, unsigned number)
{
	pt_group probe = { .number = number };
	if (!e->n_groups)
		return NULL;
	return bsearch(&probe, e->groups, e->n_groups, sizeof(*e->groups), compare_numbers);
}

/* The groups the kernel lists, with their domain type; no directory means no IOMMU. */
/* In a partial snapshot, only the groups of its devices are read. */
static bool referenced(const pt_enum *e, unsigned long long n)
{
	for (size_t i = 0; i < e->n_devices; i++)
		if (e->devices[i].group_number == (long)n)
			return true;
	return false;
}

struct group_types {
	pt_enum *e;
	int groupsfd;
};

static void read_type(void *arg, size_t i, struct pt_fd_pool *pool)
{
	struct group_types *t = arg;
	pt_group *g = &t->e->groups[i];
	char type[64], path[64];
	struct pt_dir d;

	pt_dir_at(&d, t->groupsfd);
	snprintf(path, sizeof(path), "%u/type", g->number);
	if (pt_dir_read_attr(&d, path, type, sizeof(type)) == 0)
		g->type = strdup(type);
	pt_dir_release(&d, pool);
}

/* The groups listed, then each one's domain type read (on several threads on a large host). */
static int read_groups(pt_enum *e)
{
	int fd = openat(e->ctx->rootfd, GROUPS_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	size_t cap = 0;
	struct dirent *de;
	DIR *dir;

	if (fd < 0)
		return errno == ENOENT ? 0 : pt_fail(e->ctx, -errno, "%s/" GROUPS_DIR ": %m", e->ctx->root);
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return -ENOMEM;
	}
	while ((de = readdir(dir))) {
		unsigned long long n;
		if (de->d_name[0] == '.')
			continue;
		if (pt_parse_uint(de->d_name, 0x7fffffff, &n) < 0) {
			pt_enum_add_warning(e, "%s/" GROUPS_DIR "/%s: not a group number, skipped",
					    e->ctx->root, de->d_name);
			continue;
		}
		if (e->partial && !referenced(e, n))
			continue;
		if (e->n_groups == cap) {
			cap = cap ? cap * 2 : 32;
			pt_group *g = realloc(e->groups, cap * sizeof(*g));
			if (!g) {
				closedir(dir);
				return -ENOMEM;
			}
			e->groups = g;
		}
		pt_group *g = &e->groups[e->n_groups++];
		memset(g, 0, sizeof(*g));
		g->e = e;
		g->number = (unsigned)n;
	}
	struct group_types t = { e, dirfd(dir) };
	pt_parallel_for(e->n_groups, read_type, &t);
	closedir(dir);
	if (e->n_groups)
		qsort(e->groups, e->n_groups, sizeof(*e->groups), compare_numbers);
	return 0;
}

/* Devices are visited in address order, so each group's members come out sorted. */
static int add_member(pt_group *g, pt_device *dev)
{
	pt_device **m = realloc(g->members, (g->n_members + 1) * sizeof(*m));
	if (!m)
		return -ENOMEM;
	g->members = m;
	m[g->n_members++] = dev;
	return 0;
}

int pt_iommu_scan_groups(pt_enum *e)
{
	int r = read_groups(e);
	return r < 0 ? r : pt_iommu_add_members(e);
}

/* Each device into its group (e->groups, sorted by number): by its group number. */
int pt_iommu_add_members(pt_enum *e)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < e->n_devices; i++) {
		pt_device *dev = &e->devices[i];
		if (dev->group_number < 0)
			continue;
		dev->group = pt_enum_lookup_group(e, (unsigned)dev->group_number);
		if (!dev->group) {
			pt_enum_add_warning(e, "%s: %s/sys/bus/pci/devices/%s/iommu_group: links to "
					    "group %ld, which %s/" GROUPS_DIR " does not have",
					    dev->address, e->ctx->root, dev->address,
					    dev->group_number, e->ctx->root);
			continue;
		}
		r = add_member(dev->group, dev);
	}
	return r;
}

/* Stays with the host when the group goes to a VM. */
static bool stays_with_host(const pt_device *dev)
{
	return pt_device_is_bridge(dev) || (strcmp(pt_device_get_kind(dev), "bridge") == 0 && !dev->driver);
}

static pt_verdict verdict_of(pt_device *const *set, size_t n, const pt_device *dev)
{
	if (n == 1)
		return PT_VERDICT_ISOLATED;
	for (size_t i = 0; i < n; i++)
		if (!pt_same_slot(set[i], dev))
			return PT_VERDICT_SHARED;
	return PT_VERDICT_WITH_COMPANIONS;
}

int pt_iommu_analyse(pt_enum *e)
{
	for (size_t i = 0; i < e->n_groups; i++) {
		pt_group *g = &e->groups[i];
		g->set = malloc((g->n_members ? g->n_members : 1) * sizeof(*g->set));
		if (!g->set)
			return -ENOMEM;
		for (size_t m = 0; m < g->n_members; m++)
			if (!stays_with_host(g->members[m]))
				g->set[g->n_set++] = g->members[m];
		if (g->n_set)
			g->verdict = verdict_of(g->set, g->n_set, g->set[0]);
	}
	for (size_t i = 0; i < e->n_devices; i++) {
		pt_device *dev = &e->devices[i];
		if (!dev->group)
			dev->verdict = e->n_groups ? PT_VERDICT_NO_GROUP : PT_VERDICT_NO_IOMMU;
		else if (stays_with_host(dev))
			/* A host, ISA or PCI bridge no driver holds is never passed through. */
			dev->verdict = PT_VERDICT_BRIDGE;
		else {
			dev->set = dev->group->set;
			dev->n_set = dev->group->n_set;
			dev->verdict = dev->group->verdict;
		}
	}
	return 0;
}

PT_EXPORT pt_verdict pt_device_get_verdict(const pt_device *dev)
{
	return dev->verdict;
}

PT_EXPORT const char *pt_verdict_to_string(pt_verdict v)
{
	static const char *const names[] = {
		[PT_VERDICT_NO_IOMMU] = "no-iommu",
		[PT_VERDICT_NO_GROUP] = "no-group",
		[PT_VERDICT_BRIDGE] = "bridge",
		[PT_VERDICT_ISOLATED] = "isolated",
		[PT_VERDICT_WITH_COMPANIONS] = "with-companions",
		[PT_VERDICT_SHARED] = "shared",
	};
	return (unsigned)v < sizeof(names) / sizeof(*names) ? names[v] : NULL;
}

PT_EXPORT size_t pt_device_get_set_size(const pt_device *dev)
{
	return dev->n_set;
}

PT_EXPORT pt_device *pt_device_get_set_member(const pt_device *dev, size_t i)
{
	return i < dev->n_set ? dev->set[i] : NULL;
}

PT_EXPORT pt_group *pt_group_ref(pt_group *group)
{
	if (group)
		pt_enum_ref(group->e);
	return group;
}

PT_EXPORT pt_group *pt_group_unref(pt_group *group)
{
	if (group)
		pt_enum_unref(group->e);
	return NULL;
}

PT_EXPORT unsigned pt_group_get_number(const pt_group *group) { return group->number; }
PT_EXPORT const char *pt_group_get_type(const pt_group *group) { return group->type; }
PT_EXPORT size_t pt_group_get_device_count(const pt_group *group) { return group->n_members; }

PT_EXPORT size_t pt_group_get_set_size(const pt_group *group) { return group->n_set; }

PT_EXPORT pt_device *pt_group_get_set_member(const pt_group *group, size_t i)
{
	return i < group->n_set ? group->set[i] : NULL;
}

PT_EXPORT pt_device *pt_group_get_device(const pt_group *group, size_t i)
{
	return i < group->n_members ? group->members[i] : NULL;
}

PT_EXPORT int pt_enum_find_group(const pt_enum *e, unsigned number, pt_group **ret)
{
	pt_group *g = pt_enum_lookup_group(e, number);
	if (!g)
		return pt_fail(e->ctx, -ENOENT, "IOMMU group %u: no such group", number);
	*ret = g;
	return 0;
}

PT_EXPORT size_t pt_enum_get_group_count(const pt_enum *e)
{
	return e->n_groups;
}

PT_EXPORT pt_group *pt_enum_get_group(const pt_enum *e, size_t i)
{
	return i < e->n_groups ? &e->groups[i] : NULL;
}
