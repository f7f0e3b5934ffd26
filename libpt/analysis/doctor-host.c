/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The doctor's run and the host's checks: CPU, firmware and kernel IOMMU, the command line,
 * interrupt remapping, ACS override, the VFIO modules and what blocks them, vfio-pci ids=, the
 * VMs' USB devices.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libkmod.h>

#include "doctor.h"

static const char *const VFIO_MODULES[] = { "vfio", "vfio_pci", "vfio_iommu_type1" };

/* The boot loader's place for kernel parameters, and the command that applies it. */
static void check_cpu(pt_doctor *d)
{
	char line[8192], flags[64] = "";
	FILE *f = pt_fopen_regular(d->e->ctx->rootfd, "proc/cpuinfo");

	if (!f) {
		pt_doctor_add(d, "cpu-virtualization", PT_INFO, "CPU virtualization extensions", NULL,
		    "%s/proc/cpuinfo: unreadable", root(d));
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5) == 0 && !flags[0]) {
			if (strstr(line, " vmx"))
				strcpy(flags, "vmx");
			else if (strstr(line, " svm"))
				strcpy(flags, "svm");
			else
				strcpy(flags, "-");
		}
	}
	fclose(f);
	if (flags[0] && strcmp(flags, "-") != 0)
		pt_doctor_add(d, "cpu-virtualization", PT_PASS, "CPU virtualization extensions", NULL,
		    "%s/proc/cpuinfo flags: %s", root(d), flags);
	else
		pt_doctor_add(d, "cpu-virtualization", PT_FAIL, "CPU virtualization extensions",
		    "enable Intel VT-x or AMD SVM in the firmware setup",
		    "%s/proc/cpuinfo flags: neither vmx nor svm", root(d));
}

static void check_iommu(pt_doctor *d)
{
	char fix[512];
	const char *params = pt_iommu_params(pt_host_cpu_vendor(d->e->ctx));
	bool dmar = exists(d, "sys/firmware/acpi/tables/DMAR");
	bool ivrs = exists(d, "sys/firmware/acpi/tables/IVRS");

	if (dmar || ivrs)
		pt_doctor_add(d, "iommu-firmware", PT_PASS, "IOMMU described by the firmware", NULL,
		    "%s/sys/firmware/acpi/tables/%s present", root(d), dmar ? "DMAR" : "IVRS");
	else if (exists(d, "sys/firmware/acpi/tables"))
		pt_doctor_add(d, "iommu-firmware", PT_FAIL, "IOMMU described by the firmware",
		    "enable VT-d (Intel) or AMD-Vi / IOMMU (AMD) in the firmware setup",
		    "%s/sys/firmware/acpi/tables: no DMAR nor IVRS table", root(d));
	else
		pt_doctor_add(d, "iommu-firmware", PT_INFO, "IOMMU described by the firmware", NULL,
		    "%s/sys/firmware/acpi/tables: absent (not an ACPI machine, or not readable)", root(d));

	pt_host_cmdline_fix(d->e->ctx, params, fix, sizeof(fix));
	if (d->e->n_groups)
		pt_doctor_add(d, "iommu-kernel", PT_PASS, "IOMMU on in the kernel", NULL,
		    "%s/sys/kernel/iommu_groups: %zu groups", root(d), d->e->n_groups);
	else
		pt_doctor_add(d, "iommu-kernel", PT_FAIL, "IOMMU on in the kernel", fix,
		    "%s/sys/kernel/iommu_groups: no groups", root(d));

	const char *off = cmdline_value(d, "intel_iommu=off") ? "intel_iommu=off" :
			  cmdline_value(d, "amd_iommu=off") ? "amd_iommu=off" : NULL;
	const char *on = cmdline_value(d, "intel_iommu=on");
	if (off)
		pt_doctor_add(d, "kernel-cmdline", PT_FAIL, "IOMMU on the kernel command line",
		    "remove it from the kernel command line (/etc/default/grub or /etc/kernel/cmdline)",
		    "%s/proc/cmdline: %s", root(d), off);
	else if (pt_host_cpu_vendor(d->e->ctx) && strcmp(pt_host_cpu_vendor(d->e->ctx), "intel") == 0 &&
		 !on && !d->e->n_groups)
		pt_doctor_add(d, "kernel-cmdline", PT_FAIL, "IOMMU on the kernel command line", fix,
		    "%s/proc/cmdline: no intel_iommu=on", root(d));
	else
		pt_doctor_add(d, "kernel-cmdline", PT_PASS, "IOMMU on the kernel command line", NULL,
		    "%s/proc/cmdline: %s", root(d), on ? "intel_iommu=on" :
		    d->e->n_groups ? "IOMMU on by default" : "nothing turns it off");

	/* Host devices through the IOMMU cost DMA performance; iommu=pt maps them 1:1. */
	size_t identity = 0, translated = 0;
	for (size_t i = 0; i < d->e->n_groups; i++) {
		const char *type = d->e->groups[i].type;
		if (type && strcmp(type, "identity") == 0)
			identity++;
		else if (type)
			translated++;
	}
	if (!d->e->n_groups)
		pt_doctor_add(d, "default-domain", PT_INFO, "Default DMA domain of host devices", NULL,
		    "no IOMMU groups to read a type from");
	else if (identity || cmdline_value(d, "iommu=pt") || cmdline_value(d, "iommu.passthrough=1"))
		pt_doctor_add(d, "default-domain", PT_PASS, "Default DMA domain of host devices", NULL,
		    "%s/sys/kernel/iommu_groups/*/type: %zu identity, %zu translated", root(d), identity,
		    translated);
	else {
		pt_host_cmdline_fix(d->e->ctx, "iommu=pt", fix, sizeof(fix));
		pt_doctor_add(d, "default-domain", PT_WARN, "Default DMA domain of host devices", fix,
		    "%s/sys/kernel/iommu_groups/*/type: all %zu translated (host devices pay for "
		    "IOMMU translation)", root(d), translated);
	}
}

static void check_interrupts(pt_doctor *d)
{
	char line[1024];
	bool remapped = false;
	FILE *f = pt_fopen_regular(d->e->ctx->rootfd, "proc/interrupts");

	if (!f) {
		pt_doctor_add(d, "interrupt-remapping", PT_INFO, "Interrupt remapping", NULL,
		    "%s/proc/interrupts: unreadable", root(d));
		return;
	}
	while (!remapped && fgets(line, sizeof(line), f))
		remapped = strstr(line, " IR-") != NULL;
	fclose(f);
	if (remapped)
		pt_doctor_add(d, "interrupt-remapping", PT_PASS, "Interrupt remapping", NULL,
		    "%s/proc/interrupts: IR- (remapped) interrupts", root(d));
	else if (!d->e->n_groups)
		pt_doctor_add(d, "interrupt-remapping", PT_INFO, "Interrupt remapping", NULL,
		    "%s/proc/interrupts: none remapped (the IOMMU is off)", root(d));
	else
		pt_doctor_add(d, "interrupt-remapping", PT_WARN, "Interrupt remapping",
		    "enable interrupt remapping in the firmware (x2APIC / VT-d); failing that, "
		    "'options vfio_iommu_type1 allow_unsafe_interrupts=1' in /etc/modprobe.d/vfio.conf "
		    "lets VMs start, at the cost of letting a VM inject interrupts into the host",
		    "%s/proc/interrupts: no IR- (remapped) interrupts", root(d));
}

static void check_acs_override(pt_doctor *d)
{
	const char *v = cmdline_value(d, "pcie_acs_override=");
	if (v)
		pt_doctor_add(d, "acs-override", PT_WARN, "ACS override",
		    "remove pcie_acs_override from the kernel command line unless every VM given a "
		    "device of an overridden group is trusted as much as the host",
		    "%s/proc/cmdline: pcie_acs_override=%.*s: the kernel splits groups the hardware does "
		    "not isolate; their devices can still reach each other's memory by DMA",
		    root(d), (int)strcspn(v, " \n"), v);
	else
		pt_doctor_add(d, "acs-override", PT_PASS, "ACS override", NULL, "%s/proc/cmdline: no pcie_acs_override",
		    root(d));
}

/* Loaded (/sys/module), built in (modules.builtin) or loadable (libkmod finds its file). */
static void check_modules(pt_doctor *d)
{
	char found[1024] = "", missing[256] = "", path[PATH_MAX], line[512];
	struct kmod_ctx *kmod = pt_kmod_context(d->e->ctx); /* the tree's modules */

	for (size_t i = 0; i < sizeof(VFIO_MODULES) / sizeof(*VFIO_MODULES); i++) {
		const char *name = VFIO_MODULES[i], *state = NULL;
		char where[PATH_MAX] = "";
		snprintf(path, sizeof(path), "sys/module/%s", name);
		if (exists(d, path))
			state = "loaded";
		snprintf(path, sizeof(path), "lib/modules/%s/modules.builtin", d->kernel);
		FILE *f = state ? NULL : pt_fopen_regular(d->e->ctx->rootfd, path);
		while (f && !state && fgets(line, sizeof(line), f)) {
			char base[64];
			snprintf(base, sizeof(base), "%.*s", (int)strcspn(pt_basename(line), ".\n"), pt_basename(line));
			pt_module_name(base);
			if (strcmp(base, name) == 0)
				state = "built in";
		}
		if (f)
			fclose(f);
		struct kmod_module *mod = NULL;
		if (!state && kmod && pt_kmod_module_new_from_name(kmod, name, &mod) == 0 && pt_kmod_module_get_path(mod)) {
			state = "loadable";
			snprintf(where, sizeof(where), " (%s)", pt_kmod_module_get_path(mod));
		}
		pt_kmod_module_unref(mod);
		size_t used = strlen(found);
		if (snprintf(found + used, sizeof(found) - used, "%s%s: %s%s", found[0] ? "; " : "", name,
			     state ? state : "missing", where) >= (int)(sizeof(found) - used))
			snprintf(found + used, sizeof(found) - used, "%s%s: %s", found[0] ? "; " : "", name,
				 state ? state : "missing"); /* its path too long for the line */
		if (!state)
			snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), "%s%s",
				 missing[0] ? ", " : "", name);
	}
	if (missing[0])
		pt_doctor_add(d, "vfio-modules", PT_FAIL, "VFIO modules",
		    "install the kernel's modules package (apt install linux-image-$(uname -r)), then "
		    "run: modprobe vfio-pci",
		    "%s/lib/modules/%s: %s", root(d), d->kernel, found);
	else
		pt_doctor_add(d, "vfio-modules", PT_PASS, "VFIO modules", NULL, "%s", found);
}

/* blacklist and install rules (and modprobe.blacklist=) that keep vfio from loading. */
static void check_blocked(pt_doctor *d)
{
	char evidence[2048] = "", fix[2048] = "";
	const char *bl = cmdline_value(d, "modprobe.blacklist=");

	for (size_t i = 0; i < sizeof(VFIO_MODULES) / sizeof(*VFIO_MODULES); i++) {
		static const char *const kinds[] = { "blacklist", "install" };
		for (size_t k = 0; k < 2; k++) {
			const struct pt_modprobe_rule *r;
			size_t from = 0;
			while ((r = pt_modprobe_find(&d->modprobe, kinds[k], VFIO_MODULES[i], &from))) {
				/* An install rule that runs something else instead of loading it. */
				if (k == 1 && !strstr(r->value, "/bin/false") && !strstr(r->value, "/bin/true"))
					continue;
				snprintf(evidence + strlen(evidence), sizeof(evidence) - strlen(evidence),
					 "%s%s:%u: %s %s %s", evidence[0] ? "; " : "", r->file, r->line,
					 r->kind, r->module, r->value);
				snprintf(fix + strlen(fix), sizeof(fix) - strlen(fix), "%sdelete line %u of %s",
					 fix[0] ? "; " : "", r->line, r->file);
			}
		}
		if (bl && strstr(bl, VFIO_MODULES[i]))
			snprintf(evidence + strlen(evidence), sizeof(evidence) - strlen(evidence),
				 "%s%s/proc/cmdline: modprobe.blacklist=%.*s", evidence[0] ? "; " : "",
				 root(d), (int)strcspn(bl, " \n"), bl);
	}
	if (evidence[0]) {
		strncat(fix, fix[0] ? ", then run: update-initramfs -u" : "remove vfio from modprobe.blacklist=",
			sizeof(fix) - strlen(fix) - 1);
		pt_doctor_add(d, "vfio-blocked", PT_FAIL, "Nothing blocks the VFIO modules", fix, "%s", evidence);
	} else
		pt_doctor_add(d, "vfio-blocked", PT_PASS, "Nothing blocks the VFIO modules", NULL,
		    "no blacklist or install rule for vfio in %s/{etc,run,usr/lib,lib}/modprobe.d", root(d));
}

/* One ids= value: which devices each id matches; returns whether one matched two. */
static bool scan_ids(pt_doctor *d, const char *v, const char *where, char *evidence, size_t size)
{
	char ids[1024];
	bool twice = false;

	snprintf(ids, sizeof(ids), "%.*s", (int)strcspn(v, " \n"), v);
	for (char *save, *id = strtok_r(ids, ",", &save); id; id = strtok_r(NULL, ",", &save)) {
		unsigned vendor, device;
		char matches[1024] = "";
		size_t n = 0;
		if (sscanf(id, "%4x:%4x", &vendor, &device) != 2)
			continue;
		for (size_t i = 0; i < d->e->n_devices; i++)
			if (d->e->devices[i].vendor == vendor && d->e->devices[i].device == device)
				snprintf(matches + strlen(matches), sizeof(matches) - strlen(matches), "%s%s",
					 n++ ? " and " : "", d->e->devices[i].address);
		snprintf(evidence + strlen(evidence), size - strlen(evidence), "%s%s: ids %04x:%04x matches %s",
			 evidence[0] ? "; " : "", where, vendor, device, n ? matches : "no device");
		twice |= n > 1;
	}
	return twice;
}

/* "options vfio-pci ids=10de:1b81,10de:10f0" grabs every device with those ids. */
/* The VMs' usbN lines as QEMU's usb-host will meet them (lint's libusb findings, on the running
 * system only: a tree under a root gives none). */
static void check_vm_usb(pt_doctor *d)
{
	pt_lint *l;

	if (pt_lint_run(d->e, 0, &l) < 0)
		return; /* an unreadable VM config is lint's to report */
	for (size_t i = 0; i < pt_lint_get_finding_count(l); i++) {
		const char *code = pt_lint_get_code(l, i);
		bool missing = strcmp(code, "usb-not-found") == 0 || strcmp(code, "usb-no-access") == 0;
		if (!missing && strcmp(code, "usb-held") && strcmp(code, "usb-unchecked"))
			continue;
		bool held = strcmp(code, "usb-held") == 0;
		pt_doctor_add(d, "vm-usb", missing || held ? PT_WARN : PT_INFO, "a VM's USB device as QEMU will find it",
		    missing ? "plug the device in, or give the line the port or id it has now (usb.lua --check)"
		    : held ? "detach it from the VM or program that has it (usb.lua --detach)" : NULL,
		    "VM %u %s: %s", pt_lint_get_vm(l, i), pt_lint_get_key(l, i), pt_lint_get_message(l, i));
	}
	pt_lint_unref(l);
}

static void check_ids(pt_doctor *d)
{
	char evidence[4096] = "", where[PATH_MAX + 16];
	const struct pt_modprobe_rule *r;
	const char *v;
	size_t from = 0;
	bool twice = false;

	while ((r = pt_modprobe_find(&d->modprobe, "options", "vfio_pci", &from)))
		if ((v = strstr(r->value, "ids="))) {
			snprintf(where, sizeof(where), "%s:%u", r->file, r->line);
			twice |= scan_ids(d, v + 4, where, evidence, sizeof(evidence));
		}
	if ((v = cmdline_value(d, "vfio-pci.ids=")) || (v = cmdline_value(d, "vfio_pci.ids="))) {
		snprintf(where, sizeof(where), "%s/proc/cmdline", root(d));
		twice |= scan_ids(d, v, where, evidence, sizeof(evidence));
	}
	if (!evidence[0])
		pt_doctor_add(d, "vfio-ids", PT_PASS, "vfio-pci ids= takes only the devices meant", NULL,
		    "no vfio-pci ids= in modprobe.d or on the kernel command line");
	else if (twice)
		pt_doctor_add(d, "vfio-ids", PT_WARN, "vfio-pci ids= takes only the devices meant",
		    "two devices share these ids, and ids= takes both: bind by address instead "
		    "(ptlua scripts/bind.lua --device ADDRESS, or a udev rule setting driver_override)",
		    "%s", evidence);
	else
		pt_doctor_add(d, "vfio-ids", PT_PASS, "vfio-pci ids= takes only the devices meant", NULL, "%s", evidence);
}


PT_EXPORT int pt_doctor_run(pt_enum *e, const pt_device *dev, pt_doctor **ret)
{
	pt_doctor *d;
	int r;

	if (!e || !ret || (dev && dev->e != e))
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return pt_fail(e->ctx, -ENOMEM, "doctor: %s", strerror(ENOMEM));
	d->refcount = 1;
	d->e = pt_enum_ref(e);
	d->cmdline = pt_host_cmdline(e->ctx);
	if (read_text(d, "proc/sys/kernel/osrelease", d->kernel, sizeof(d->kernel)) < 0)
		snprintf(d->kernel, sizeof(d->kernel), "unknown");
	r = pt_modprobe_load(e->ctx, &d->modprobe);
	if (r < 0) {
		pt_doctor_destroy(d);
		return pt_fail(e->ctx, r, "doctor: reading modprobe.d under %s: %s", pt_ctx_get_root(e->ctx),
			       strerror(-r));
	}
	check_cpu(d);
	check_iommu(d);
	check_interrupts(d);
	check_acs_override(d);
	check_modules(d);
	check_blocked(d);
	check_ids(d);
	check_vm_usb(d);
	if (dev)
		pt_doctor_check_device(d, dev);
	if (d->oom) {
		pt_doctor_destroy(d);
		return pt_fail(e->ctx, -ENOMEM, "doctor: %s", strerror(ENOMEM));
	}
	*ret = d;
	return 0;
}
