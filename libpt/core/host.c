/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Facts of the host that several parts decide from, each decided here once: the CPU vendor
 * (/proc/cpuinfo), the kernel parameters that turn its IOMMU on for passthrough, and the boot
 * loader that reads them (systemd-boot through /etc/kernel/cmdline, else GRUB), and the kernel
 * command line (/proc/cmdline). Read under the root on first use and kept in the context.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libpt-private.h"

PT_EXPORT const char *pt_host_cpu_vendor(const pt_ctx *ctx)
{
	if (!ctx)
		return NULL;
	if (!ctx->cpu_vendor_read) {
		pt_ctx *c = PT_MUTABLE(pt_ctx, ctx);
		char line[1024];
		FILE *f = pt_fopen_regular(ctx->rootfd, "proc/cpuinfo");
		c->cpu_vendor_read = true;
		while (f && !ctx->cpu_vendor && fgets(line, sizeof(line), f))
			if (strncmp(line, "vendor_id", 9) == 0)
				c->cpu_vendor = strstr(line, "AuthenticAMD") ? "amd" :
						  strstr(line, "GenuineIntel") ? "intel" : NULL;
		if (f)
			fclose(f);
	}
	return ctx->cpu_vendor;
}

/* "iommu=pt" for AMD (its IOMMU is on once the firmware enables it; there is no amd_iommu=on),
 * "intel_iommu=on iommu=pt" for Intel and for a vendor not known. */
PT_EXPORT const char *pt_iommu_params(const char *vendor)
{
	return vendor && strcmp(vendor, "amd") == 0 ? "iommu=pt" : "intel_iommu=on iommu=pt";
}

PT_EXPORT const char *pt_host_boot_loader(const pt_ctx *ctx)
{
	if (!ctx)
		return NULL;
	return faccessat(ctx->rootfd, "etc/kernel/cmdline", F_OK, 0) == 0 ? "systemd-boot" : "grub";
}

/* Where this host's boot loader takes kernel parameters, and what to run after: the one
 * answer the doctor's fixes and the IOMMU-off advice give. */
void pt_host_cmdline_fix(const pt_ctx *ctx, const char *params, char *buf, size_t size)
{
	if (strcmp(pt_host_boot_loader(ctx), "systemd-boot") == 0)
		snprintf(buf, size, "add \"%s\" to the line in /etc/kernel/cmdline, then run: "
			 "proxmox-boot-tool refresh && reboot", params);
	else
		snprintf(buf, size, "add \"%s\" to GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub, "
			 "then run: update-grub && reboot", params);
}

/*
 * What to do when the IOMMU is off, for this host: the firmware's switch, the kernel parameters
 * for its CPU's vendor (both vendors' when unknown) where its boot loader takes them, and how to
 * check. To free; NULL when out of memory.
 */
PT_EXPORT char *pt_host_iommu_advice(const pt_ctx *ctx)
{
	static const char *const vendors[] = { "intel", "amd" };
	const char *vendor;
	char fix[512], *text = NULL;
	size_t len = 0;
	FILE *f;

	if (!ctx || !(f = open_memstream(&text, &len)))
		return NULL;
	vendor = pt_host_cpu_vendor(ctx);
	fprintf(f, "The IOMMU is off: %s/sys/kernel/iommu_groups has no groups, so no device can be passed "
		   "through.\nTo turn it on:\n  1. Enable %s in the firmware setup.\n", ctx->root,
		vendor && strcmp(vendor, "amd") == 0 ? "AMD-Vi / IOMMU" :
		vendor && strcmp(vendor, "intel") == 0 ? "VT-d" : "VT-d (Intel) or AMD-Vi / IOMMU (AMD)");
	for (unsigned i = 0, n = 0; i < 2; i++) {
		if (vendor && strcmp(vendor, vendors[i]) != 0)
			continue;
		pt_host_cmdline_fix(ctx, pt_iommu_params(vendors[i]), fix, sizeof(fix));
		fprintf(f, "  %s%s%s%s\n", n++ ? "   " : "2. ", vendor ? "" : i ? "AMD CPU: " : "Intel CPU: ", fix,
			i ? " (the AMD IOMMU is on once the firmware enables it; \"amd_iommu=on\" is not a kernel option)"
			  : "");
	}
	fprintf(f, "  3. Check with: ptlua report --require-iommu");
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

const char *pt_host_cmdline(pt_ctx *ctx)
{
	if (!ctx->cmdline) {
		char line[4096] = "";
		FILE *f = pt_fopen_regular(ctx->rootfd, "proc/cmdline");
		if (f && !fgets(line, sizeof(line), f))
			line[0] = '\0';
		if (f)
			fclose(f);
		line[strcspn(line, "\n")] = '\0';
		ctx->cmdline = strdup(line);
	}
	return ctx->cmdline ? ctx->cmdline : "";
}

/* This node's name as Proxmox knows it: /etc/hostname's first label, under the root. */
int pt_node_self_name(pt_ctx *ctx, char name[256])
{
	char *text = NULL;
	size_t len;
	int r = pt_read_in_root(ctx, "/etc/hostname", 4096, &text, &len);

	name[0] = '\0';
	if (r == 0 && text) {
		size_t n = strcspn(text + strspn(text, " \t\n"), ". \t\n");
		if (n > 0 && n < 256)
			memcpy(name, text + strspn(text, " \t\n"), n), name[n] = '\0';
	}
	free(text);
	if (!name[0] && ctx->root[0] == '\0' && gethostname(name, 256) == 0) {
		name[255] = '\0';
		name[strcspn(name, ".")] = '\0';
	}
	return name[0] ? 0 : -ENOENT;
}
