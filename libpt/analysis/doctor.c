/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Is this host ready for passthrough, and is this device? Each check says pass, warn, fail or
 * info, the evidence (the file read and the value found) and the fix (the exact line to add
 * and the command that applies it).
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

#include "libpt-private.h"

struct check {
	char *id, *title, *evidence, *fix;
	pt_status status;
};

struct pt_doctor {
	int refcount;
	pt_enum *e;
	struct check *checks;
	size_t n_checks;
	/* what the checks share */
	const char *cmdline; /* the context's (core/host.c) */
	char kernel[128];
	struct pt_modprobe modprobe;
	bool oom;
};

/* The vendor-reset device table: AMD GPUs whose reset leaves them unusable until the host
 * reboots (Polaris 10/11/12, Vega 10/20, Navi 10/12/14). */
static const struct { uint16_t first, last; const char *family; } RESET_BUG[] = {
	{ 0x67c0, 0x67c2, "Polaris 10" }, { 0x67c4, 0x67c4, "Polaris 10" },
	{ 0x67c7, 0x67c9, "Polaris 10" }, { 0x67ca, 0x67ca, "Polaris 10" },
	{ 0x67cc, 0x67cc, "Polaris 10" }, { 0x67cf, 0x67d0, "Polaris 10" },
	{ 0x67df, 0x67df, "Polaris 10" }, { 0x6fdf, 0x6fdf, "Polaris 10" },
	{ 0x67e0, 0x67e1, "Polaris 11" }, { 0x67e3, 0x67e3, "Polaris 11" },
	{ 0x67e7, 0x67e9, "Polaris 11" }, { 0x67eb, 0x67eb, "Polaris 11" },
	{ 0x67ef, 0x67ef, "Polaris 11" }, { 0x67ff, 0x67ff, "Polaris 11" },
	{ 0x6980, 0x6981, "Polaris 12" }, { 0x6985, 0x6987, "Polaris 12" },
	{ 0x6995, 0x6995, "Polaris 12" }, { 0x6997, 0x6997, "Polaris 12" },
	{ 0x699f, 0x699f, "Polaris 12" }, { 0x6860, 0x6864, "Vega 10" },
	{ 0x6867, 0x686f, "Vega 10" },	  { 0x687f, 0x687f, "Vega 10" },
	{ 0x66a0, 0x66a4, "Vega 20" },	  { 0x66a7, 0x66a7, "Vega 20" },
	{ 0x66af, 0x66af, "Vega 20" },	  { 0x7310, 0x7310, "Navi 10" },
	{ 0x7312, 0x7312, "Navi 10" },	  { 0x7318, 0x731b, "Navi 10" },
	{ 0x731e, 0x731f, "Navi 10" },	  { 0x1681, 0x1681, "Navi 10" },
	{ 0x7340, 0x7341, "Navi 14" },	  { 0x7347, 0x7347, "Navi 14" },
	{ 0x734f, 0x734f, "Navi 14" },	  { 0x7360, 0x7360, "Navi 12" },
	{ 0x7362, 0x7362, "Navi 12" },
};

static const char *const VFIO_MODULES[] = { "vfio", "vfio_pci", "vfio_iommu_type1" };

static char *vformat(const char *format, va_list args)
{
	char *s;
	return format && vasprintf(&s, format, args) >= 0 ? s : NULL;
}

/* Adds a check; evidence and fix are formats with one shared argument list each. */
static void add(pt_doctor *d, const char *id, pt_status status, const char *title,
		const char *fix, const char *evidence, ...) PT_PRINTF(6, 7);
static void add(pt_doctor *d, const char *id, pt_status status, const char *title,
		const char *fix, const char *evidence, ...)
{
	va_list args;
	struct check *c = realloc(d->checks, (d->n_checks + 1) * sizeof(*c));

	if (!c) {
		d->oom = true;
		return;
	}
	d->checks = c;
	c = &d->checks[d->n_checks++];
	va_start(args, evidence);
	c->evidence = vformat(evidence, args);
	va_end(args);
	c->id = strdup(id);
	c->title = strdup(title);
	c->fix = fix ? strdup(fix) : NULL;
	c->status = status;
	d->oom |= !c->id || !c->title || !c->evidence || (fix && !c->fix);
}

static int read_text(pt_doctor *d, const char *path, char *buf, size_t size)
{
	return pt_read_attr(d->e->ctx->rootfd, path, buf, size);
}

static bool exists(pt_doctor *d, const char *path)
{
	return faccessat(d->e->ctx->rootfd, path, F_OK, 0) == 0;
}

static const char *root(pt_doctor *d)
{
	return d->e->ctx->root;
}

/* A word of the kernel command line ("intel_iommu=on"), or the value after a prefix. */
static const char *cmdline_value(pt_doctor *d, const char *prefix)
{
	size_t len = strlen(prefix);
	for (const char *p = d->cmdline; (p = strstr(p, prefix)); p += len)
		if (p == d->cmdline || p[-1] == ' ')
			return p + len;
	return NULL;
}

/* The boot loader's place for kernel parameters, and the command that applies it. */
static void check_cpu(pt_doctor *d)
{
	char line[8192], flags[64] = "";
	FILE *f = pt_fopen_regular(d->e->ctx->rootfd, "proc/cpuinfo");

	if (!f) {
		add(d, "cpu-virtualization", PT_INFO, "CPU virtualization extensions", NULL,
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
		add(d, "cpu-virtualization", PT_PASS, "CPU virtualization extensions", NULL,
		    "%s/proc/cpuinfo flags: %s", root(d), flags);
	else
		add(d, "cpu-virtualization", PT_FAIL, "CPU virtualization extensions",
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
		add(d, "iommu-firmware", PT_PASS, "IOMMU described by the firmware", NULL,
		    "%s/sys/firmware/acpi/tables/%s present", root(d), dmar ? "DMAR" : "IVRS");
	else if (exists(d, "sys/firmware/acpi/tables"))
		add(d, "iommu-firmware", PT_FAIL, "IOMMU described by the firmware",
		    "enable VT-d (Intel) or AMD-Vi / IOMMU (AMD) in the firmware setup",
		    "%s/sys/firmware/acpi/tables: no DMAR nor IVRS table", root(d));
	else
		add(d, "iommu-firmware", PT_INFO, "IOMMU described by the firmware", NULL,
		    "%s/sys/firmware/acpi/tables: absent (not an ACPI machine, or not readable)", root(d));

	pt_host_cmdline_fix(d->e->ctx, params, fix, sizeof(fix));
	if (d->e->n_groups)
		add(d, "iommu-kernel", PT_PASS, "IOMMU on in the kernel", NULL,
		    "%s/sys/kernel/iommu_groups: %zu groups", root(d), d->e->n_groups);
	else
		add(d, "iommu-kernel", PT_FAIL, "IOMMU on in the kernel", fix,
		    "%s/sys/kernel/iommu_groups: no groups", root(d));

	const char *off = cmdline_value(d, "intel_iommu=off") ? "intel_iommu=off" :
			  cmdline_value(d, "amd_iommu=off") ? "amd_iommu=off" : NULL;
	const char *on = cmdline_value(d, "intel_iommu=on");
	if (off)
		add(d, "kernel-cmdline", PT_FAIL, "IOMMU on the kernel command line",
		    "remove it from the kernel command line (/etc/default/grub or /etc/kernel/cmdline)",
		    "%s/proc/cmdline: %s", root(d), off);
	else if (pt_host_cpu_vendor(d->e->ctx) && strcmp(pt_host_cpu_vendor(d->e->ctx), "intel") == 0 &&
		 !on && !d->e->n_groups)
		add(d, "kernel-cmdline", PT_FAIL, "IOMMU on the kernel command line", fix,
		    "%s/proc/cmdline: no intel_iommu=on", root(d));
	else
		add(d, "kernel-cmdline", PT_PASS, "IOMMU on the kernel command line", NULL,
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
		add(d, "default-domain", PT_INFO, "Default DMA domain of host devices", NULL,
		    "no IOMMU groups to read a type from");
	else if (identity || cmdline_value(d, "iommu=pt") || cmdline_value(d, "iommu.passthrough=1"))
		add(d, "default-domain", PT_PASS, "Default DMA domain of host devices", NULL,
		    "%s/sys/kernel/iommu_groups/*/type: %zu identity, %zu translated", root(d), identity,
		    translated);
	else {
		pt_host_cmdline_fix(d->e->ctx, "iommu=pt", fix, sizeof(fix));
		add(d, "default-domain", PT_WARN, "Default DMA domain of host devices", fix,
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
		add(d, "interrupt-remapping", PT_INFO, "Interrupt remapping", NULL,
		    "%s/proc/interrupts: unreadable", root(d));
		return;
	}
	while (!remapped && fgets(line, sizeof(line), f))
		remapped = strstr(line, " IR-") != NULL;
	fclose(f);
	if (remapped)
		add(d, "interrupt-remapping", PT_PASS, "Interrupt remapping", NULL,
		    "%s/proc/interrupts: IR- (remapped) interrupts", root(d));
	else if (!d->e->n_groups)
		add(d, "interrupt-remapping", PT_INFO, "Interrupt remapping", NULL,
		    "%s/proc/interrupts: none remapped (the IOMMU is off)", root(d));
	else
		add(d, "interrupt-remapping", PT_WARN, "Interrupt remapping",
		    "enable interrupt remapping in the firmware (x2APIC / VT-d); failing that, "
		    "'options vfio_iommu_type1 allow_unsafe_interrupts=1' in /etc/modprobe.d/vfio.conf "
		    "lets VMs start, at the cost of letting a VM inject interrupts into the host",
		    "%s/proc/interrupts: no IR- (remapped) interrupts", root(d));
}

static void check_acs_override(pt_doctor *d)
{
	const char *v = cmdline_value(d, "pcie_acs_override=");
	if (v)
		add(d, "acs-override", PT_WARN, "ACS override",
		    "remove pcie_acs_override from the kernel command line unless every VM given a "
		    "device of an overridden group is trusted as much as the host",
		    "%s/proc/cmdline: pcie_acs_override=%.*s: the kernel splits groups the hardware does "
		    "not isolate; their devices can still reach each other's memory by DMA",
		    root(d), (int)strcspn(v, " \n"), v);
	else
		add(d, "acs-override", PT_PASS, "ACS override", NULL, "%s/proc/cmdline: no pcie_acs_override",
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
		add(d, "vfio-modules", PT_FAIL, "VFIO modules",
		    "install the kernel's modules package (apt install linux-image-$(uname -r)), then "
		    "run: modprobe vfio-pci",
		    "%s/lib/modules/%s: %s", root(d), d->kernel, found);
	else
		add(d, "vfio-modules", PT_PASS, "VFIO modules", NULL, "%s", found);
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
		add(d, "vfio-blocked", PT_FAIL, "Nothing blocks the VFIO modules", fix, "%s", evidence);
	} else
		add(d, "vfio-blocked", PT_PASS, "Nothing blocks the VFIO modules", NULL,
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
		add(d, "vm-usb", missing || held ? PT_WARN : PT_INFO, "a VM's USB device as QEMU will find it",
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
		add(d, "vfio-ids", PT_PASS, "vfio-pci ids= takes only the devices meant", NULL,
		    "no vfio-pci ids= in modprobe.d or on the kernel command line");
	else if (twice)
		add(d, "vfio-ids", PT_WARN, "vfio-pci ids= takes only the devices meant",
		    "two devices share these ids, and ids= takes both: bind by address instead "
		    "(ptlua scripts/bind.lua --device ADDRESS, or a udev rule setting driver_override)",
		    "%s", evidence);
	else
		add(d, "vfio-ids", PT_PASS, "vfio-pci ids= takes only the devices meant", NULL, "%s", evidence);
}

static bool in_ids(pt_doctor *d, const pt_device *dev)
{
	const struct pt_modprobe_rule *r;
	char id[16];
	size_t from = 0;

	snprintf(id, sizeof(id), "%04x:%04x", dev->vendor, dev->device);
	while ((r = pt_modprobe_find(&d->modprobe, "options", "vfio_pci", &from)))
		if (strstr(r->value, "ids=") && strstr(r->value, id))
			return true;
	const char *v = cmdline_value(d, "vfio-pci.ids=");
	return v && strstr(v, id) && (size_t)(strstr(v, id) - v) < strcspn(v, " \n");
}

/* With ids=, vfio-pci must load before the host driver or the host driver wins. */
static void check_softdep(pt_doctor *d, const pt_device *dev)
{
	const char *driver = dev->driver;
	const struct pt_modprobe_rule *r;
	size_t from = 0;
	char fix[512];

	if (!in_ids(d, dev) || !driver || strcmp(driver, "vfio-pci") == 0)
		return;
	while ((r = pt_modprobe_find(&d->modprobe, "softdep", driver, &from)))
		if (strstr(r->value, "vfio-pci") || strstr(r->value, "vfio_pci")) {
			add(d, "softdep", PT_PASS, "vfio-pci loads before the host driver", NULL,
			    "%s:%u: softdep %s %s", r->file, r->line, r->module, r->value);
			return;
		}
	snprintf(fix, sizeof(fix), "echo 'softdep %s pre: vfio-pci' >> /etc/modprobe.d/vfio.conf && "
		 "update-initramfs -u", driver);
	add(d, "softdep", PT_WARN, "vfio-pci loads before the host driver", fix,
	    "%s is in vfio-pci ids= but bound to %s, and no softdep %s pre: vfio-pci in %s/etc/modprobe.d",
	    dev->address, driver, driver, root(d));
}

PT_EXPORT const char *pt_device_get_reset_bug(const pt_device *dev)
{
	for (size_t i = 0; dev && dev->vendor == 0x1002 && i < sizeof(RESET_BUG) / sizeof(*RESET_BUG); i++)
		if (dev->device >= RESET_BUG[i].first && dev->device <= RESET_BUG[i].last)
			return RESET_BUG[i].family;
	return NULL;
}

static void check_reset(pt_doctor *d, const pt_device *dev)
{
	const char *family = pt_device_get_reset_bug(dev);
	char fix[512];

	if (family) {
		bool loaded = exists(d, "sys/module/vendor_reset");
		bool selected = dev->reset_method && strstr(dev->reset_method, "device_specific");
		snprintf(fix, sizeof(fix), "install vendor-reset (dkms), load it at boot "
			 "(echo vendor-reset >> /etc/modules), and select it: echo device_specific > "
			 "/sys/bus/pci/devices/%s/reset_method (at every boot, e.g. from a udev rule)",
			 dev->address);
		add(d, "amd-reset-bug", loaded && selected ? PT_PASS : PT_FAIL,
		    "AMD GPU reset bug handled", loaded && selected ? NULL : fix,
		    "%04x:%04x is an AMD %s GPU, which does not come back from a VM without vendor-reset; "
		    "%s/sys/module/vendor_reset %s; reset_method: %s", dev->vendor, dev->device, family,
		    root(d), loaded ? "present" : "absent", dev->reset_method ? dev->reset_method : "(none)");
		return;
	}
	if (!dev->reset_method)
		add(d, "reset", PT_INFO, "Device reset", NULL,
		    "%s/sys/bus/pci/devices/%s: the kernel predates reset_method; reset present", root(d),
		    dev->address);
	else if (!dev->reset_method[0])
		add(d, "reset", PT_WARN, "Device reset",
		    "none in software: expect the device to need a host reboot between VM runs, or pass "
		    "its whole slot (a function-level reset is missing)",
		    "%s/sys/bus/pci/devices/%s: no reset_method, no reset", root(d), dev->address);
	else
		add(d, "reset", PT_PASS, "Device reset", NULL,
		    "%s/sys/bus/pci/devices/%s/reset_method: %s", root(d), dev->address, dev->reset_method);
}

static bool below(const pt_device *dev, const pt_device *bridge)
{
	for (const pt_device *p = dev->parent; p; p = p->parent)
		if (p == bridge)
			return true;
	return false;
}

/* What a secondary bus reset of the device's bridge also resets (everything below that
 * bridge), and whether the device has a reset of its own that the kernel tries first. */
static void check_bus_reset(pt_doctor *d, const pt_device *dev)
{
	char others[1024] = "", own[128] = "";
	size_t n = 0;

	if (!dev->reset_method || !dev->parent)
		return;
	for (const char *m = dev->reset_method; *m;) {
		size_t len = strcspn(m, " ");
		if (!((len == 3 && strncmp(m, "bus", 3) == 0) || (len == 7 && strncmp(m, "cxl_bus", 7) == 0)) &&
		    !own[0])
			snprintf(own, sizeof(own), "%.*s", (int)len, m);
		m += len;
		m += strspn(m, " ");
	}
	for (size_t i = 0; i < d->e->n_devices; i++) {
		pt_device *o = &d->e->devices[i];
		if (o == dev || !below(o, dev->parent))
			continue;
		if (n++ < 8)
			snprintf(others + strlen(others), sizeof(others) - strlen(others), "%s%s",
				 others[0] ? ", " : "", o->address);
	}
	if (n > 8)
		snprintf(others + strlen(others), sizeof(others) - strlen(others), " and %zu more", n - 8);
	if (own[0])
		add(d, "bus-reset", PT_INFO, "What a bus reset would also hit", NULL,
		    "%s resets itself first (%s); a secondary bus reset of %s would also reset %s",
		    dev->address, own, dev->parent->address, n ? others : "nothing else");
	else if (!strstr(dev->reset_method, "bus"))
		return;
	else if (n)
		add(d, "bus-reset", PT_WARN, "What a bus reset would also hit",
		    "pass those devices to the same VM, or put the device in a slot of its own",
		    "%s has no reset of its own (reset_method: %s): its reset is a secondary bus reset of %s, "
		    "which also resets %s", dev->address, dev->reset_method, dev->parent->address, others);
	else
		add(d, "bus-reset", PT_PASS, "What a bus reset would also hit", NULL,
		    "%s resets through its bridge %s, below which there is nothing else", dev->address,
		    dev->parent->address);
}

/* "256 MiB-16 GiB" from a resourceN_resize bitmask (bit n: 2^n MiB). */
static void size_range(uint64_t sizes, char *buf, size_t size)
{
	int lo = __builtin_ctzll(sizes), hi = 63 - __builtin_clzll(sizes);
	char a[24], b[24];
	snprintf(a, sizeof(a), lo >= 10 ? "%d GiB" : "%d MiB", 1 << (lo >= 10 ? lo - 10 : lo));
	snprintf(b, sizeof(b), hi >= 10 ? "%llu GiB" : "%llu MiB", 1ULL << (hi >= 10 ? hi - 10 : hi));
	snprintf(buf, size, "%s-%s", a, b);
}

/*
 * BARs over 256 MiB need the VM's 64-bit MMIO window to hold them: OVMF's (X-PciMmio64Mb) and
 * q35's pci-hole64-size; 32 GiB is what older OVMF and QEMU give. The window asked for is twice
 * the passthrough set's large BARs, a power of two, at least 64 GiB.
 */
static void check_bars(pt_doctor *d, const pt_device *dev)
{
	char evidence[768] = "", fix[512];
	uint64_t total = 0;

	for (size_t m = 0; m < (dev->n_set ? dev->n_set : 1); m++) {
		const pt_device *member = dev->n_set ? dev->set[m] : dev;
		for (unsigned i = 0; i < 6; i++)
			if (member->bars[i] > (256ULL << 20))
				total += member->bars[i];
	}
	for (unsigned i = 0; i < 6; i++) {
		uint64_t sizes = pt_device_get_bar_resizable(dev, i);
		char range[48] = "";
		if (sizes)
			size_range(sizes, range, sizeof(range));
		if (dev->bars[i] > (256ULL << 20) || sizes)
			snprintf(evidence + strlen(evidence), sizeof(evidence) - strlen(evidence),
				 "%sBAR%u: %llu MiB%s%s%s", evidence[0] ? ", " : "", i,
				 (unsigned long long)(dev->bars[i] >> 20), sizes ? " (resizable: " : "", range,
				 sizes ? ")" : "");
	}
	if (total) {
		uint64_t window = 64ULL << 30;
		while (window < 2 * total)
			window <<= 1;
		snprintf(fix, sizeof(fix), "enable Above 4G Decoding (and Resizable BAR if wanted) in the firmware "
			 "setup; give the VM a 64-bit MMIO window of %llu GiB: qm set VMID --args '-fw_cfg "
			 "name=opt/ovmf/X-PciMmio64Mb,string=%llu -global q35-pcihost.pci-hole64-size=%lluG' (OVMF "
			 "and q35; without it the guest fails the BARs with \"not enough IO\")",
			 (unsigned long long)(window >> 30), (unsigned long long)(window >> 20),
			 (unsigned long long)(window >> 30));
		add(d, "large-bar", PT_WARN, "BARs above 256 MiB", fix,
		    "%s/sys/bus/pci/devices/%s/resource: %s; the passthrough set's large BARs: %llu MiB", root(d),
		    dev->address, evidence, (unsigned long long)(total >> 20));
	} else {
		add(d, "large-bar", PT_PASS, "BARs above 256 MiB", NULL,
		    "%s/sys/bus/pci/devices/%s/resource: none over 256 MiB%s%s", root(d), dev->address,
		    evidence[0] ? "; " : "", evidence);
	}
}

/* A GPU's vBIOS: the VM reads it through the device's ROM BAR, or from a romfile. Reading the
 * ROM changes the device's state for a moment, so the doctor only says what rom.lua does. */
static void check_rom(pt_doctor *d, const pt_device *dev)
{
	if (strcmp(pt_device_get_kind(dev), "gpu"))
		return;
	if (!dev->bars[6])
		add(d, "rom", PT_WARN, "The GPU's vBIOS",
		    "give the VM a ROM file: put it in /usr/share/kvm and check it with ptlua "
		    "scripts/rom.lua --file NAME --device ADDRESS, then hostpciN: ...,romfile=NAME",
		    "%s/sys/bus/pci/devices/%s/resource: no expansion ROM BAR (the VM gets no vBIOS "
		    "from the device)", root(d), dev->address);
	else
		add(d, "rom", PT_INFO, "The GPU's vBIOS",
		    NULL, "%s/sys/bus/pci/devices/%s/resource: an expansion ROM of %llu KiB; ptlua "
		    "scripts/rom.lua --device %s reads and checks it (OVMF needs an EFI image in it)",
		    root(d), dev->address, (unsigned long long)(dev->bars[6] >> 10), dev->address);
}

/* The physical slot a device sits in, by the kernel's /sys/bus/pci/slots/NAME/address
 * ("0000:01:00"); "" when the firmware names none. */
static void slot_name(pt_doctor *d, const pt_device *dev, char *name, size_t size)
{
	char path[320], address[32];
	DIR *dir;
	int fd = openat(d->e->ctx->rootfd, "sys/bus/pci/slots", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;

	name[0] = '\0';
	if (fd < 0 || !(dir = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(dir)) && !name[0]) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/address", de->d_name);
		if (pt_read_attr(dirfd(dir), path, address, sizeof(address)) == 0 &&
		    strncmp(address, dev->address, strlen(dev->address) - 2) == 0 && strlen(address) == strlen(dev->address) - 2)
			snprintf(name, size, "%s", de->d_name);
	}
	closedir(dir);
}

/* The PCIe link against what both its ends can do (analysis/link.c), naming the slot. */
static void check_link(pt_doctor *d, const pt_device *dev)
{
	char *why = NULL, slot[256], where[320] = "";
	pt_link k = PT_INIT(pt_link);
	int r = pt_device_check_link(dev, &why);

	slot_name(d, dev, slot, sizeof(slot));
	if (slot[0])
		snprintf(where, sizeof(where), " (slot %s)", slot);
	if (r == 1)
		add(d, "pcie-link", PT_WARN, "PCIe link as wide as it can be",
		    "seat the card again, or move it to a slot wired for all its lanes; a riser or an adapter "
		    "may carry fewer", "%s%s", why, where);
	else if (r == 2)
		add(d, "pcie-link", PT_INFO, "PCIe link as fast as it can be", "check again with the device busy",
		    "%s%s", why, where);
	else if (r == 0 && pt_device_get_link(dev, &k) == 0)
		add(d, "pcie-link", PT_PASS, "PCIe link as wide and fast as it can be", NULL,
		    "%s%s: x%u at %u.%u GT/s", dev->address, where, k.width, k.speed / 1000, k.speed % 1000 / 100);
	else
		add(d, "pcie-link", PT_INFO, "PCIe link", NULL, "%s: the kernel gives no link attributes (not PCIe, "
		    "or an integrated device)", dev->address);
	free(why);
}

static void check_device(pt_doctor *d, const pt_device *dev)
{
	pt_explain *x = NULL;

	if (dev->boot_vga == 1)
		add(d, "boot-vga", PT_WARN, "Not the firmware's console GPU",
		    "the host loses its console when it goes; the VM may need its vBIOS from a file "
		    "(romfile=) because the firmware changed the shadowed copy; prefer another GPU for the host",
		    "%s/sys/bus/pci/devices/%s/boot_vga: 1", root(d), dev->address);
	check_reset(d, dev);
	check_bus_reset(d, dev);
	check_bars(d, dev);
	check_rom(d, dev);
	check_softdep(d, dev);
	check_link(d, dev);

	pt_status status = dev->verdict == PT_VERDICT_ISOLATED || dev->verdict == PT_VERDICT_WITH_COMPANIONS ?
			   PT_PASS : dev->verdict == PT_VERDICT_SHARED ? PT_WARN : PT_FAIL;
	if (pt_device_explain(dev, &x) == 0) {
		char fixes[4096] = "";
		for (size_t i = 0; i < pt_explain_get_fix_count(x); i++)
			snprintf(fixes + strlen(fixes), sizeof(fixes) - strlen(fixes), "%s%s",
				 i ? " " : "", pt_explain_get_fix(x, i));
		add(d, "group", status, "IOMMU group", status == PT_PASS || !fixes[0] ? NULL : fixes,
		    "%s: %s; %s", dev->address, pt_verdict_to_string(dev->verdict),
		    pt_explain_get_reason(x));
		pt_explain_unref(x);
	} else
		d->oom = true;

	pt_guard_load(d->e);
	if (pt_device_check_take(dev, 0) < 0)
		add(d, "guard", PT_FAIL, "The host can spare it",
		    "choose another device, or pass --force if the host truly does without it",
		    "%s", pt_ctx_last_error(d->e->ctx));
	else
		add(d, "guard", PT_PASS, "The host can spare it", NULL,
		    "%s and its passthrough set hold no host-critical device", dev->address);
}

static void free_doctor(pt_doctor *d)
{
	for (size_t i = 0; i < d->n_checks; i++) {
		free(d->checks[i].id);
		free(d->checks[i].title);
		free(d->checks[i].evidence);
		free(d->checks[i].fix);
	}
	free(d->checks);
	pt_modprobe_free(&d->modprobe);
	pt_enum_unref(d->e);
	free(d);
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
		free_doctor(d);
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
		check_device(d, dev);
	if (d->oom) {
		free_doctor(d);
		return pt_fail(e->ctx, -ENOMEM, "doctor: %s", strerror(ENOMEM));
	}
	*ret = d;
	return 0;
}

PT_EXPORT pt_doctor *pt_doctor_ref(pt_doctor *d)
{
	if (d)
		d->refcount++;
	return d;
}

PT_EXPORT pt_doctor *pt_doctor_unref(pt_doctor *d)
{
	if (d && --d->refcount == 0)
		free_doctor(d);
	return NULL;
}

PT_EXPORT size_t pt_doctor_get_check_count(const pt_doctor *d) { return d->n_checks; }

#define CHECK_GETTER(type, name, field, none)                                      \
	PT_EXPORT type pt_doctor_get_##name(const pt_doctor *d, size_t i)          \
	{                                                                          \
		return i < d->n_checks ? d->checks[i].field : none;                \
	}
CHECK_GETTER(const char *, id, id, NULL)
CHECK_GETTER(const char *, title, title, NULL)
CHECK_GETTER(const char *, evidence, evidence, NULL)
CHECK_GETTER(const char *, fix, fix, NULL)
CHECK_GETTER(pt_status, status, status, PT_INFO)

PT_EXPORT size_t pt_doctor_get_failures(const pt_doctor *d)
{
	size_t n = 0;
	for (size_t i = 0; i < d->n_checks; i++)
		n += d->checks[i].status == PT_FAIL;
	return n;
}

PT_EXPORT const char *pt_status_to_string(pt_status s)
{
	static const char *const names[] = { [PT_PASS] = "pass", [PT_WARN] = "warn",
					     [PT_FAIL] = "fail", [PT_INFO] = "info" };
	return (unsigned)s < sizeof(names) / sizeof(*names) ? names[s] : NULL;
}
