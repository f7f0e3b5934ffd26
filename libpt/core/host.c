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

PT_EXPORT const char *pt_host_cpu_vendor(pt_ctx *ctx)
{
	if (!ctx)
		return NULL;
	if (!ctx->cpu_vendor_read) {
		char line[1024];
		FILE *f = pt_fopen_regular(ctx->rootfd, "proc/cpuinfo");
		ctx->cpu_vendor_read = true;
		while (f && !ctx->cpu_vendor && fgets(line, sizeof(line), f))
			if (strncmp(line, "vendor_id", 9) == 0)
				ctx->cpu_vendor = strstr(line, "AuthenticAMD") ? "amd" :
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

PT_EXPORT const char *pt_host_boot_loader(pt_ctx *ctx)
{
	if (!ctx)
		return NULL;
	return faccessat(ctx->rootfd, "etc/kernel/cmdline", F_OK, 0) == 0 ? "systemd-boot" : "grub";
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
