/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Where a device is: its NUMA node (numa_node, read with the snapshot) and the CPUs local to it
 * (local_cpulist, and the node's own cpulist, read when asked). A VM whose vCPUs or memory lie on
 * another node than its devices' pays for every DMA and interrupt across the interconnect; lint
 * says so from the VM's affinity and numaN hostnodes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libpt-private.h"

PT_EXPORT const char *pt_device_get_local_cpus(const pt_device *cdev)
{
	pt_device *dev = PT_MUTABLE(pt_device, cdev);
	char path[96], buf[4096];

	if (!dev)
		return NULL;
	if (!dev->cpus_loaded) {
		dev->cpus_loaded = true;
		snprintf(path, sizeof(path), "sys/bus/pci/devices/%s/local_cpulist", dev->address);
		if (pt_read_attr(dev->e->ctx->rootfd, path, buf, sizeof(buf)) == 0 && buf[0])
			dev->local_cpus = strdup(buf);
	}
	return dev->local_cpus;
}

int pt_cpulist_parse(const char *s, unsigned char *set, size_t max)
{
	size_t count = 0;

	memset(set, 0, max / 8);
	for (const char *p = s; *p;) {
		char *end;
		unsigned long a = strtoul(p, &end, 10), b = a;
		if (end == p)
			return -EINVAL;
		if (*end == '-') {
			const char *q = end + 1;
			b = strtoul(q, &end, 10);
			if (end == q || b < a)
				return -EINVAL;
		}
		if (b >= max)
			return -ERANGE;
		for (unsigned long c = a; c <= b; c++, count++)
			set[c / 8] |= (unsigned char)(1u << (c % 8));
		if (*end == ',')
			end++;
		else if (*end && *end != '\n')
			return -EINVAL;
		else if (*end == '\n')
			break;
		p = end;
	}
	return (int)count;
}

int pt_numa_node_cpus(pt_ctx *ctx, long node, char *buf, size_t size)
{
	char path[64];
	snprintf(path, sizeof(path), "sys/devices/system/node/node%ld/cpulist", node);
	return pt_read_attr(ctx->rootfd, path, buf, size);
}

/* The NUMA node of the devices a VM's lines name (in_vm), against where the VM runs: its
 * affinity (CPUs) and its numaN hostnodes. Devices on several nodes, or on none known, are said
 * or left; the node's CPUs come from sys/devices/system/node. */
void pt_lint_locality(pt_lint *l, pt_ctx *ctx, pt_enum *e, unsigned vm, const pt_vmconf *c, const char **in_vm)
{
	long node = -1;
	const pt_device *first = NULL, *other = NULL;
	char cpus[4096];
	unsigned char want[1024], have[1024]; /* 8192 CPUs */

	for (size_t i = 0; i < e->n_devices; i++) {
		const pt_device *d = &e->devices[i];
		if (!in_vm[i] || d->numa_node < 0)
			continue;
		if (!first) {
			first = d;
			node = d->numa_node;
		} else if (d->numa_node != node && !other)
			other = d;
	}
	if (!first)
		return;
	if (other) {
		pt_lint_note(l, vm, "hostpci", "devices-split-numa", "its devices are on NUMA nodes %ld (%s) and %d (%s): the VM "
		     "runs near one of them only", node, first->address, other->numa_node, other->address);
		return;
	}
	const char *affinity = pt_vmconf_get(c, "affinity");
	if (affinity && pt_numa_node_cpus(ctx, node, cpus, sizeof(cpus)) == 0 &&
	    pt_cpulist_parse(cpus, have, sizeof(have) * 8) > 0 && pt_cpulist_parse(affinity, want, sizeof(want) * 8) > 0) {
		size_t on = 0, off = 0;
		for (size_t b = 0; b < sizeof(want) * 8; b++)
			if (want[b / 8] & (1u << (b % 8))) {
				if (have[b / 8] & (1u << (b % 8)))
					on++;
				else
					off++;
			}
		if (!on)
			pt_lint_note(l, vm, "affinity", "affinity-off-device-node", "CPUs %s lie off NUMA node %ld, where %s is (its CPUs "
			     "%s): every DMA and interrupt crosses between the sockets", affinity, node, first->address, cpus);
		else if (off)
			pt_lint_note(l, vm, "affinity", "affinity-spans-nodes", "%zu of the CPUs %s lie off NUMA node %ld, where %s is "
			     "(its CPUs %s)", off, affinity, node, first->address, cpus);
	}
	for (size_t k = 0; k < pt_vmconf_get_key_count(c); k++) {
		const char *key = pt_vmconf_get_key(c, k);
		pt_props *props;
		if (!pt_key_numbered(key, "numa") || pt_props_parse(ctx, pt_vmconf_get(c, key), "cpus", &props) < 0)
			continue;
		const char *hostnodes = pt_props_get(props, "hostnodes");
		char list[128];
		/* qemu-server writes hostnodes as 0;1 or 0-1 */
		snprintf(list, sizeof(list), "%s", hostnodes ? hostnodes : "");
		for (char *s = list; *s; s++)
			if (*s == ';')
				*s = ',';
		if (hostnodes && pt_cpulist_parse(list, want, sizeof(want) * 8) > 0 && node < (long)sizeof(want) * 8 &&
		    !(want[node / 8] & (1u << (node % 8))))
			pt_lint_note(l, vm, key, "hostnodes-off-device-node", "hostnodes=%s: the VM's memory lies off NUMA node %ld, "
			     "where %s is", hostnodes, node, first->address);
		pt_props_unref(props);
	}
}

/* Free huge pages of kb KiB: on a node (node >= 0), or the host's (node < 0); -1 unknown. */
long pt_free_hugepages(pt_ctx *ctx, long node, unsigned long kb)
{
	char path[128], buf[32];
	unsigned long long n;

	if (node >= 0)
		snprintf(path, sizeof(path), "sys/devices/system/node/node%ld/hugepages/hugepages-%lukB/free_hugepages",
			 node, kb);
	else
		snprintf(path, sizeof(path), "sys/kernel/mm/hugepages/hugepages-%lukB/free_hugepages", kb);
	if (pt_read_attr(ctx->rootfd, path, buf, sizeof(buf)) < 0 || pt_parse_uint(buf, 1ULL << 40, &n) < 0)
		return -1;
	return (long)n;
}

/* A stopped VM with `hugepages:` against the pages free now: where its numaN hostnodes put its
 * memory, on those nodes; else the host's. A running VM holds its pages already. */
void pt_lint_hugepages(pt_lint *l, pt_ctx *ctx, unsigned vm, const pt_vmconf *c)
{
	const char *size = pt_vmconf_get(c, "hugepages");
	unsigned long mib;
	bool per_node = false;

	if (!size || strcmp(size, "any") == 0 || pt_vm_pid(ctx, vm) > 0)
		return;
	if (strcmp(size, "2") == 0)
		mib = 2;
	else if (strcmp(size, "1024") == 0)
		mib = 1024;
	else
		return; /* qemu-server refuses other sizes itself */
	const char *label = mib == 2 ? "2 MiB pages" : "1 GiB pages, which only a boot reserves reliably";
	for (size_t k = 0; k < pt_vmconf_get_key_count(c); k++) {
		const char *key = pt_vmconf_get_key(c, k);
		pt_props *props;
		if (!pt_key_numbered(key, "numa") || pt_props_parse(ctx, pt_vmconf_get(c, key), "cpus", &props) < 0)
			continue;
		const char *hostnodes = pt_props_get(props, "hostnodes"), *memory = pt_props_get(props, "memory");
		unsigned long long node, mem;
		if (hostnodes && memory && pt_parse_uint(hostnodes, 4095, &node) == 0 && pt_parse_uint(memory, 1ULL << 32, &mem) == 0) {
			per_node = true;
			unsigned long need = (unsigned long)((mem + mib - 1) / mib);
			long free = pt_free_hugepages(ctx, (long)node, mib * 1024);
			if (free >= 0 && (unsigned long)free < need)
				pt_lint_note(l, vm, key, "hugepages-short", "hugepages %s (%s): this NUMA node's %llu MiB on host node "
					     "%llu need %lu pages, the node has %ld free now: the VM would not start",
					     size, label, mem, node, need, free);
		}
		pt_props_unref(props);
	}
	if (per_node)
		return;
	unsigned long mem = pt_vmconf_memory(ctx, c), need = (mem + mib - 1) / mib;
	long free = pt_free_hugepages(ctx, -1, mib * 1024);
	if (free >= 0 && (unsigned long)free < need)
		pt_lint_note(l, vm, "hugepages", "hugepages-short", "hugepages %s (%s): memory %lu MiB needs %lu pages, the "
			     "host has %ld free now: the VM would not start", size, label, mem, need, free);
}
