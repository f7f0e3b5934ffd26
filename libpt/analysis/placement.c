/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Placement: a VM next to its devices. The node its set is on (numa_node, as the kernel gives
 * it), host CPUs of that node for its vCPUs, whole cores first so that SMT siblings serve one VM
 * (topology/thread_siblings_list), none another VM's `affinity` pins already, and its memory on
 * that node, on huge pages where asked, against what the node has free now. The emitters write
 * it as Proxmox's affinity and numa0, libvirt's cputune and numatune, QEMU's memory backend.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libpt-private.h"

#define MAX_CPUS 8192

struct pt_placement {
	int refcount;
	int node;
	char *node_cpus, *cpus;
	unsigned vcpus;
	unsigned long memory_mib, hugepage_kib, hugepages_needed;
	long hugepages_free;
	struct pt_strv notes;
};

static void destroy_placement(pt_placement *p)
{
	free(p->node_cpus);
	free(p->cpus);
	pt_strv_free(&p->notes);
	free(p);
}

PT_DEFINE_REFCOUNT(pt_placement, destroy_placement)

PT_EXPORT int pt_placement_get_node(const pt_placement *p) { return p ? p->node : -1; }
PT_EXPORT const char *pt_placement_get_node_cpus(const pt_placement *p) { return p ? p->node_cpus : NULL; }
PT_EXPORT const char *pt_placement_get_cpus(const pt_placement *p) { return p ? p->cpus : NULL; }
PT_EXPORT unsigned pt_placement_get_vcpus(const pt_placement *p) { return p ? p->vcpus : 0; }
PT_EXPORT unsigned long pt_placement_get_memory(const pt_placement *p) { return p ? p->memory_mib : 0; }
PT_EXPORT unsigned long pt_placement_get_hugepage_size(const pt_placement *p) { return p ? p->hugepage_kib : 0; }
PT_EXPORT unsigned long pt_placement_get_hugepages_needed(const pt_placement *p) { return p ? p->hugepages_needed : 0; }
PT_EXPORT long pt_placement_get_hugepages_free(const pt_placement *p) { return p ? p->hugepages_free : -1; }
PT_EXPORT size_t pt_placement_get_note_count(const pt_placement *p) { return p ? p->notes.n : 0; }

PT_EXPORT const char *pt_placement_get_note(const pt_placement *p, size_t i)
{
	return p && i < p->notes.n ? p->notes.v[i] : NULL;
}

static bool has(const unsigned char *set, unsigned c)
{
	return set[c / 8] & (1u << (c % 8));
}

static void put(unsigned char *set, unsigned c)
{
	set[c / 8] |= (unsigned char)(1u << (c % 8));
}

/* A set as the kernel writes a cpulist ("8-11,24-27"); to free, NULL out of memory. */
static char *cpulist(const unsigned char *set)
{
	struct pt_strv parts = { 0 };
	char *out;

	for (unsigned c = 0; c < MAX_CPUS; c++) {
		if (!has(set, c))
			continue;
		unsigned end = c;
		while (end + 1 < MAX_CPUS && has(set, end + 1))
			end++;
		if (end == c)
			pt_strv_addf(&parts, "%u", c);
		else
			pt_strv_addf(&parts, "%u-%u", c, end);
		c = end;
	}
	out = parts.oom ? NULL : pt_strv_join(&parts, ",");
	pt_strv_free(&parts);
	return out;
}

/* The CPUs other VMs pin with `affinity:` (under /etc/pve/qemu-server), into pinned. */
static void pinned_by_others(pt_ctx *ctx, unsigned vm, unsigned char *pinned)
{
	unsigned *vms;
	size_t n;
	unsigned char one[MAX_CPUS / 8];

	if (pt_vmconf_list(ctx, &vms, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		pt_vmconf *c;
		if (vms[i] == vm || pt_vmconf_read(ctx, vms[i], &c) < 0)
			continue;
		const char *affinity = pt_vmconf_get(c, "affinity");
		if (affinity && pt_cpulist_parse(affinity, one, MAX_CPUS) > 0)
			for (size_t b = 0; b < sizeof(one); b++)
				pinned[b] |= one[b];
		pt_vmconf_unref(c);
	}
	free(vms);
}

/* cpu's SMT siblings (itself included) into set; itself alone when the kernel says nothing. */
static void siblings(pt_ctx *ctx, unsigned cpu, unsigned char *set)
{
	char path[96], buf[256];

	snprintf(path, sizeof(path), "sys/devices/system/cpu/cpu%u/topology/thread_siblings_list", cpu);
	if (pt_read_attr(ctx->rootfd, path, buf, sizeof(buf)) < 0 || pt_cpulist_parse(buf, set, MAX_CPUS) <= 0 ||
	    !has(set, cpu)) {
		memset(set, 0, MAX_CPUS / 8);
		put(set, cpu);
	}
}

/* n CPUs of the node's free ones into chosen, whole cores first; how many were taken. */
static unsigned choose(pt_ctx *ctx, const unsigned char *node, const unsigned char *pinned, unsigned n,
		       unsigned char *chosen)
{
	unsigned char sib[MAX_CPUS / 8];
	unsigned taken = 0;

	/* a core whose threads are all on the node and free, while n has room for all of them */
	for (unsigned c = 0; c < MAX_CPUS && taken < n; c++) {
		if (!has(node, c) || has(pinned, c) || has(chosen, c))
			continue;
		siblings(ctx, c, sib);
		unsigned threads = 0;
		bool whole = true;
		for (unsigned s = 0; s < MAX_CPUS; s++)
			if (has(sib, s)) {
				threads++;
				whole = whole && has(node, s) && !has(pinned, s) && !has(chosen, s);
			}
		if (!whole || taken + threads > n)
			continue;
		for (unsigned s = 0; s < MAX_CPUS; s++)
			if (has(sib, s))
				put(chosen, s);
		taken += threads;
	}
	/* then single threads for what is left (an odd count, cores shared with pinned threads) */
	for (unsigned c = 0; c < MAX_CPUS && taken < n; c++)
		if (has(node, c) && !has(pinned, c) && !has(chosen, c)) {
			put(chosen, c);
			taken++;
		}
	return taken;
}

/* The node of the set's devices: 0 and *node, or the error naming them. */
static int set_node(const pt_assignment *a, pt_ctx *ctx, int *node)
{
	const pt_device *first = NULL;

	for (size_t i = 0; i < pt_assignment_get_device_count(a); i++) {
		const pt_device *d = pt_assignment_get_device(a, i);
		if (d->numa_node < 0)
			continue;
		if (first && d->numa_node != first->numa_node)
			return pt_fail(ctx, -EXDEV, "%s is on NUMA node %d, %s on node %d: a VM runs near one of them only",
				       first->address, first->numa_node, d->address, d->numa_node);
		first = first ? first : d;
	}
	if (!first)
		return pt_fail(ctx, -ENOENT, "no NUMA node for %s (numa_node -1: a host of one node, or firmware that "
			       "says none): nothing to place", pt_assignment_get_device_count(a) ?
			       pt_device_get_address(pt_assignment_get_device(a, 0)) : "an empty set");
	*node = first->numa_node;
	return 0;
}

/* The VM's vCPUs (cores x sockets) and memory from its config, where not given; *on_pages:
 * it runs on huge pages now (running, its config's hugepages: set), so holds its own. */
static void vm_size(pt_ctx *ctx, unsigned vm, unsigned *vcpus, unsigned long *memory_mib, bool *on_pages)
{
	pt_vmconf *c = NULL;
	unsigned long long cores = 1, sockets = 1;

	if (vm && pt_vmconf_read(ctx, vm, &c) < 0)
		c = NULL; /* a VM still to be created: qemu-server's defaults */
	if (!*vcpus) {
		const char *v;
		if ((v = pt_vmconf_get(c, "cores")) && pt_parse_uint(v, 1024, &cores) < 0)
			cores = 1;
		if ((v = pt_vmconf_get(c, "sockets")) && pt_parse_uint(v, 64, &sockets) < 0)
			sockets = 1;
		*vcpus = (unsigned)(cores * sockets);
	}
	if (!*memory_mib)
		*memory_mib = pt_vmconf_memory(ctx, c);
	*on_pages = c && pt_vmconf_get(c, "hugepages") && pt_vm_pid(ctx, vm) > 0;
	pt_vmconf_unref(c);
}

PT_EXPORT int pt_placement_new(const pt_assignment *a, unsigned vcpus, unsigned long memory_mib,
			       unsigned long hugepage_kib, pt_placement **ret)
{
	unsigned char node_set[MAX_CPUS / 8], pinned[MAX_CPUS / 8], chosen[MAX_CPUS / 8];
	pt_placement *p;
	pt_ctx *ctx;
	char cpus[4096];
	int node = -1, r;

	if (!a || !ret)
		return -EINVAL;
	ctx = pt_enum_get_context(pt_assignment_get_enum(a));
	if (hugepage_kib != 0 && hugepage_kib != 2048 && hugepage_kib != 1048576)
		return pt_fail(ctx, -EINVAL, "huge pages of %lu KiB: 2048 (2 MiB) or 1048576 (1 GiB), as Proxmox's "
			       "hugepages: 2|1024", hugepage_kib);
	if ((r = pt_assignment_check(a)) < 0 || (r = set_node(a, ctx, &node)) < 0)
		return r;
	if ((r = pt_numa_node_cpus(ctx, node, cpus, sizeof(cpus))) < 0 || pt_cpulist_parse(cpus, node_set, MAX_CPUS) <= 0)
		return pt_fail(ctx, r < 0 ? r : -EINVAL, "NUMA node %d: %s/sys/devices/system/node/node%d/cpulist: %s", node,
			       ctx->root, node, r < 0 ? strerror(-r) : "no CPUs");
	bool on_pages = false;
	vm_size(ctx, pt_assignment_get_vm(a), &vcpus, &memory_mib, &on_pages);
	if (!(p = calloc(1, sizeof(*p))))
		return pt_fail(ctx, -ENOMEM, "out of memory");
	p->refcount = 1;
	p->node = node;
	p->vcpus = vcpus;
	p->memory_mib = memory_mib;
	p->hugepage_kib = hugepage_kib;
	p->hugepages_free = -1;
	/* the CPUs: the node's free ones, whole cores first */
	memset(pinned, 0, sizeof(pinned));
	memset(chosen, 0, sizeof(chosen));
	pinned_by_others(ctx, pt_assignment_get_vm(a), pinned);
	unsigned node_count = 0, free_count = 0;
	for (unsigned c = 0; c < MAX_CPUS; c++)
		if (has(node_set, c)) {
			node_count++;
			free_count += !has(pinned, c);
		}
	unsigned taken = choose(ctx, node_set, pinned, vcpus, chosen);
	if (taken < vcpus) {
		if (taken == 0) /* every CPU of the node pinned: share the node rather than leave it */
			memcpy(chosen, node_set, sizeof(chosen));
		pt_strv_addf(&p->notes, "NUMA node %d has %u CPUs, %u of them free of other VMs' affinity, for %u vCPUs: "
			     "the vCPUs share %s", node, node_count, free_count, vcpus,
			     taken ? "the CPUs chosen" : "the node's CPUs with the VMs pinned there");
	}
	if (free_count < node_count)
		pt_strv_addf(&p->notes, "%u CPUs of NUMA node %d are other VMs' (their affinity): left out",
			     node_count - free_count, node);
	p->node_cpus = strdup(cpus);
	p->cpus = cpulist(chosen);
	/* the memory on huge pages of the node */
	if (hugepage_kib) {
		p->hugepages_needed = (memory_mib * 1024 + hugepage_kib - 1) / hugepage_kib;
		p->hugepages_free = pt_free_hugepages(ctx, node, hugepage_kib);
		/* a running VM's own pages are in use, not short: counted as free for it (else a
		 * reservation would count them twice) */
		if (p->hugepages_free >= 0 && on_pages)
			p->hugepages_free += (long)p->hugepages_needed;
		if (p->hugepages_free >= 0 && (unsigned long)p->hugepages_free < p->hugepages_needed)
			pt_strv_addf(&p->notes, "NUMA node %d has %ld free huge pages of %lu KiB, the VM's %lu MiB need %lu: "
				     "it would not start; raise /sys/devices/system/node/node%d/hugepages/hugepages-%lukB/"
				     "nr_hugepages by %lu first, or reserve them at boot (the host plan: "
				     "pt_host_plan_new_hugepages, emit.lua --format host --place)",
				     node, p->hugepages_free, hugepage_kib, memory_mib, p->hugepages_needed, node,
				     hugepage_kib, p->hugepages_needed - (unsigned long)p->hugepages_free);
		if (hugepage_kib == 1048576)
			pt_strv_add(&p->notes, "1 GiB pages are reserved reliably only at boot (hugepagesz=1G hugepages=N): "
				    "memory fragments once the host runs");
	}
	if (!p->node_cpus || !p->cpus || p->notes.oom) {
		pt_placement_unref(p);
		return pt_fail(ctx, -ENOMEM, "out of memory");
	}
	*ret = p;
	return 0;
}
