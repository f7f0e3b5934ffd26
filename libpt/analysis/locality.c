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

PT_EXPORT char *pt_device_get_local_cpus(pt_device *dev)
{
	char path[96], buf[4096];

	if (!dev)
		return NULL;
	snprintf(path, sizeof(path), "sys/bus/pci/devices/%s/local_cpulist", dev->address);
	if (pt_read_attr(dev->e->ctx->rootfd, path, buf, sizeof(buf)) < 0 || !buf[0])
		return NULL;
	return strdup(buf);
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
