/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Capabilities from the config space: the PCI Express port type and the ACS capability, found
 * by libpci's capability walk over the bytes read here.
 *
 * The whole config space is read on demand, once per device, and only for the devices an
 * explanation or a check needs: on real hardware every dword of it is a config cycle, and
 * 4 KiB for thousands of functions would cost seconds. Without root sysfs gives the first
 * 64 bytes only, which is told apart from "absent".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include <pci/pci.h>

#include "libpt-private.h"

#define CONFIG_MAX 4096

static uint16_t word(const unsigned char *c, size_t pos)
{
	return (uint16_t)(c[pos] | c[pos + 1] << 8);
}

/* libpci walks the capability lists (loops and all) over the bytes read here, never the device. */
struct caps {
	const pt_device *dev;
	unsigned char *c;
	size_t len;
	int exp, acs; /* their offsets, -1 when absent */
};

static void find_caps(struct pci_access *pacc, void *arg)
{
	struct caps *k = arg;
	const pt_device *dev = k->dev;
	struct pci_dev *pd = pci_get_dev(pacc, (int)(dev->key >> 16), (int)((dev->key >> 8) & 0xff),
					 (int)((dev->key >> 3) & 0x1f), (int)(dev->key & 7));
	struct pci_cap *cap;

	if (!pd)
		return;
	pci_setup_cache(pd, k->c, (int)k->len);
	pd->hdrtype = k->c[PCI_HEADER_TYPE] & 0x7f;
	if ((cap = pci_find_cap(pd, PCI_CAP_ID_EXP, PCI_CAP_NORMAL)))
		k->exp = cap->addr;
	if ((cap = pci_find_cap(pd, PCI_EXT_CAP_ID_ACS, PCI_CAP_EXTENDED)))
		k->acs = cap->addr;
	pci_free_dev(pd);
}

static void parse(pt_device *dev, unsigned char *c, size_t len)
{
	struct caps k = { .dev = dev, .c = c, .len = len, .exp = -1, .acs = -1 };

	dev->config_len = len;
	dev->pcie_type = -1;
	dev->acs = PT_ACS_ABSENT;
	if (len < 256) {
		/* Only the header: caps cannot be seen, nor told absent. */
		dev->pcie_type = -2;
		dev->acs = PT_ACS_UNREADABLE;
		return;
	}
	if (pt_libpci_call(dev->e->ctx, find_caps, &k) < 0) {
		dev->pcie_type = -2;
		dev->acs = PT_ACS_UNREADABLE;
		return;
	}
	if (k.exp >= 0 && (size_t)k.exp + PCI_EXP_FLAGS + 2 <= len)
		dev->pcie_type = (word(c, (size_t)k.exp + PCI_EXP_FLAGS) & PCI_EXP_FLAGS_TYPE) >> 4;
	/* A device without extended config space (256 bytes) has no ACS. */
	if (k.acs >= 0 && (size_t)k.acs + 8 <= len) {
		dev->acs = PT_ACS_PRESENT;
		dev->acs_cap = word(c, (size_t)k.acs + PCI_ACS_CAP);
		dev->acs_ctrl = word(c, (size_t)k.acs + PCI_ACS_CTRL);
	}
}

/* Reads and parses the config space the first time it is asked for. */
void pt_config_load(const pt_device *cdev)
{
	pt_device *dev = PT_MUTABLE(pt_device, cdev);
	unsigned char *c;
	size_t len = 0;
	int r, fd;

	if (dev->config_loaded)
		return;
	dev->config_loaded = true;
	c = malloc(CONFIG_MAX);
	fd = openat(dev->e->ctx->rootfd, "sys/bus/pci/devices", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!c || fd < 0) {
		free(c);
		if (fd >= 0)
			close(fd);
		parse(dev, NULL, 0);
		return;
	}
	char path[PT_ADDR_MAX + 8];
	snprintf(path, sizeof(path), "%s/config", dev->address);
	r = pt_read_bytes(fd, path, c, CONFIG_MAX, &len);
	close(fd);
	if (r < 0) {
		pt_dbg(dev->e->ctx, "%s: %s/sys/bus/pci/devices/%s: %s", dev->address,
		       dev->e->ctx->root, path, strerror(-r));
		len = 0;
	}
	parse(dev, c, len);
	free(c);
}

PT_EXPORT int pt_device_get_pcie_type(const pt_device *dev)
{
	pt_config_load(dev);
	return dev->pcie_type;
}

PT_EXPORT int pt_device_get_acs(const pt_device *dev, uint16_t *cap, uint16_t *ctrl)
{
	pt_config_load(dev);
	if (dev->acs == PT_ACS_UNREADABLE)
		return -EACCES;
	if (dev->acs == PT_ACS_ABSENT)
		return -ENOENT;
	if (cap)
		*cap = dev->acs_cap;
	if (ctrl)
		*ctrl = dev->acs_ctrl;
	return 0;
}

PT_EXPORT const char *pt_pcie_type_to_string(int type)
{
	static const char *const names[] = {
		[PCI_EXP_TYPE_ENDPOINT] = "endpoint",
		[PCI_EXP_TYPE_LEG_END] = "legacy endpoint",
		[PCI_EXP_TYPE_ROOT_PORT] = "root port",
		[PCI_EXP_TYPE_UPSTREAM] = "switch upstream port",
		[PCI_EXP_TYPE_DOWNSTREAM] = "switch downstream port",
		[PCI_EXP_TYPE_PCI_BRIDGE] = "PCIe-to-PCI bridge",
		[PCI_EXP_TYPE_PCIE_BRIDGE] = "PCI-to-PCIe bridge",
		[PCI_EXP_TYPE_ROOT_INT_EP] = "root complex integrated endpoint",
		[PCI_EXP_TYPE_ROOT_EC] = "root complex event collector",
	};
	if (type == -1)
		return "conventional PCI";
	if (type < 0)
		return "unknown (config space unreadable)";
	if ((size_t)type < sizeof(names) / sizeof(*names) && names[type])
		return names[type];
	return "PCI Express (unknown type)";
}
