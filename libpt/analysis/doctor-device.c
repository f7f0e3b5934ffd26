/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A device's own checks in the doctor: its softdep, reset (and AMD's reset bug), bus reset,
 * BARs, ROM, PCIe link, group and the guard.
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

/* With ids=, vfio-pci must load before the host driver or the host driver wins. A device on
 * vfio-pci or its variant shows no host driver to order (the variant is none). */

static void check_softdep(pt_doctor *d, const pt_device *dev)
{
	const char *driver = dev->driver;
	const struct pt_modprobe_rule *r;
	size_t from = 0;
	char fix[512];

	if (!in_ids(d, dev) || !driver || pt_device_on_vfio(dev, driver))
		return;
	while ((r = pt_modprobe_find(&d->modprobe, "softdep", driver, &from)))
		if (strstr(r->value, "vfio-pci") || strstr(r->value, "vfio_pci")) {
			pt_doctor_add(d, "softdep", PT_PASS, "vfio-pci loads before the host driver", NULL,
			    "%s:%u: softdep %s %s", r->file, r->line, r->module, r->value);
			return;
		}
	snprintf(fix, sizeof(fix), "echo 'softdep %s pre: vfio-pci' >> /etc/modprobe.d/vfio.conf && "
		 "update-initramfs -u", driver);
	pt_doctor_add(d, "softdep", PT_WARN, "vfio-pci loads before the host driver", fix,
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
		pt_doctor_add(d, "amd-reset-bug", loaded && selected ? PT_PASS : PT_FAIL,
		    "AMD GPU reset bug handled", loaded && selected ? NULL : fix,
		    "%04x:%04x is an AMD %s GPU, which does not come back from a VM without vendor-reset; "
		    "%s/sys/module/vendor_reset %s; reset_method: %s", dev->vendor, dev->device, family,
		    root(d), loaded ? "present" : "absent", dev->reset_method ? dev->reset_method : "(none)");
		return;
	}
	if (!dev->reset_method)
		pt_doctor_add(d, "reset", PT_INFO, "Device reset", NULL,
		    "%s/sys/bus/pci/devices/%s: the kernel predates reset_method; reset present", root(d),
		    dev->address);
	else if (!dev->reset_method[0])
		pt_doctor_add(d, "reset", PT_WARN, "Device reset",
		    "none in software: expect the device to need a host reboot between VM runs, or pass "
		    "its whole slot (a function-level reset is missing)",
		    "%s/sys/bus/pci/devices/%s: no reset_method, no reset", root(d), dev->address);
	else
		pt_doctor_add(d, "reset", PT_PASS, "Device reset", NULL,
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
		pt_doctor_add(d, "bus-reset", PT_INFO, "What a bus reset would also hit", NULL,
		    "%s resets itself first (%s); a secondary bus reset of %s would also reset %s",
		    dev->address, own, dev->parent->address, n ? others : "nothing else");
	else if (!strstr(dev->reset_method, "bus"))
		return;
	else if (n)
		pt_doctor_add(d, "bus-reset", PT_WARN, "What a bus reset would also hit",
		    "pass those devices to the same VM, or put the device in a slot of its own",
		    "%s has no reset of its own (reset_method: %s): its reset is a secondary bus reset of %s, "
		    "which also resets %s", dev->address, dev->reset_method, dev->parent->address, others);
	else
		pt_doctor_add(d, "bus-reset", PT_PASS, "What a bus reset would also hit", NULL,
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
		pt_doctor_add(d, "large-bar", PT_WARN, "BARs above 256 MiB", fix,
		    "%s/sys/bus/pci/devices/%s/resource: %s; the passthrough set's large BARs: %llu MiB", root(d),
		    dev->address, evidence, (unsigned long long)(total >> 20));
	} else {
		pt_doctor_add(d, "large-bar", PT_PASS, "BARs above 256 MiB", NULL,
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
		pt_doctor_add(d, "rom", PT_WARN, "The GPU's vBIOS",
		    "give the VM a ROM file: put it in /usr/share/kvm and check it with ptlua "
		    "scripts/rom.lua --file NAME --device ADDRESS, then hostpciN: ...,romfile=NAME",
		    "%s/sys/bus/pci/devices/%s/resource: no expansion ROM BAR (the VM gets no vBIOS "
		    "from the device)", root(d), dev->address);
	else
		pt_doctor_add(d, "rom", PT_INFO, "The GPU's vBIOS",
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
		pt_doctor_add(d, "pcie-link", PT_WARN, "PCIe link as wide as it can be",
		    "seat the card again, or move it to a slot wired for all its lanes; a riser or an adapter "
		    "may carry fewer", "%s%s", why, where);
	else if (r == 2)
		pt_doctor_add(d, "pcie-link", PT_INFO, "PCIe link as fast as it can be", "check again with the device busy",
		    "%s%s", why, where);
	else if (r == 0 && pt_device_get_link(dev, &k) == 0)
		pt_doctor_add(d, "pcie-link", PT_PASS, "PCIe link as wide and fast as it can be", NULL,
		    "%s%s: x%u at %u.%u GT/s", dev->address, where, k.width, k.speed / 1000, k.speed % 1000 / 100);
	else
		pt_doctor_add(d, "pcie-link", PT_INFO, "PCIe link", NULL, "%s: the kernel gives no link attributes (not PCIe, "
		    "or an integrated device)", dev->address);
	free(why);
}

void pt_doctor_check_device(pt_doctor *d, const pt_device *dev)
{
	pt_explain *x = NULL;

	if (dev->boot_vga == 1)
		pt_doctor_add(d, "boot-vga", PT_WARN, "Not the firmware's console GPU",
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
		pt_doctor_add(d, "group", status, "IOMMU group", status == PT_PASS || !fixes[0] ? NULL : fixes,
		    "%s: %s; %s", dev->address, pt_verdict_to_string(dev->verdict),
		    pt_explain_get_reason(x));
		pt_explain_unref(x);
	} else
		d->oom = true;

	pt_guard_load(d->e);
	if (pt_device_check_take(dev, 0) < 0)
		pt_doctor_add(d, "guard", PT_FAIL, "The host can spare it",
		    "choose another device, or pass --force if the host truly does without it",
		    "%s", pt_ctx_last_error(d->e->ctx));
	else
		pt_doctor_add(d, "guard", PT_PASS, "The host can spare it", NULL,
		    "%s and its passthrough set hold no host-critical device", dev->address);
}

