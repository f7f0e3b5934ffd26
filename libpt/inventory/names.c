/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Vendor, device and class names through libpci, which asks udev's hwdb and then pci.ids.
 * Opened on the first lookup: a scan that prints no names never loads the database.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pci/pci.h>

#include "libpt-private.h"

static void names_close(pt_ctx *ctx);

/* The ids a name depends on: thousands of SR-IOV functions share them, so the last lookup of
 * each kind is kept. */
static void name_key(const pt_device *dev, enum pt_name which, unsigned k[4])
{
	k[0] = which == PT_NAME_CLASS ? (unsigned)dev->class >> 8 : dev->vendor;
	k[1] = which == PT_NAME_DEVICE || which == PT_NAME_SUBSYSTEM ? dev->device : 0;
	k[2] = which == PT_NAME_SUBSYSTEM ? dev->subvendor : 0;
	k[3] = which == PT_NAME_SUBSYSTEM ? dev->subdevice : 0;
}

struct lookup {
	pt_device *dev;
	enum pt_name which;
	char buf[256];
	char *name;
};

static void look_up(struct pci_access *pacc, void *arg)
{
	struct lookup *l = arg;
	const pt_device *dev = l->dev;
	int flags = PCI_LOOKUP_NO_NUMBERS;

	switch (l->which) {
	case PT_NAME_VENDOR:
		l->name = pci_lookup_name(pacc, l->buf, sizeof(l->buf), flags | PCI_LOOKUP_VENDOR, dev->vendor);
		break;
	case PT_NAME_DEVICE:
		l->name = pci_lookup_name(pacc, l->buf, sizeof(l->buf), flags | PCI_LOOKUP_DEVICE, dev->vendor,
					  dev->device);
		break;
	case PT_NAME_SUBSYSTEM:
		/* a subsystem with the device's own ids is no subsystem of its own: libpci would give
		 * the device's name for it (lspci -v shows that twice) */
		if (dev->subvendor == dev->vendor && dev->subdevice == dev->device)
			break;
		l->name = pci_lookup_name(pacc, l->buf, sizeof(l->buf), flags | PCI_LOOKUP_SUBSYSTEM | PCI_LOOKUP_DEVICE,
					  dev->vendor, dev->device, dev->subvendor, dev->subdevice);
		break;
	case PT_NAME_CLASS:
		if (dev->class >= 0)
			l->name = pci_lookup_name(pacc, l->buf, sizeof(l->buf), flags | PCI_LOOKUP_CLASS, dev->class >> 8);
		break;
	default:
		break;
	}
}

const char *pt_names_lookup(pt_device *dev, enum pt_name which)
{
	pt_ctx *ctx = dev->e->ctx;
	struct pt_name_cache *cache = &ctx->names[which];
	struct lookup l = { .dev = dev, .which = which };
	unsigned key[4];
	char *name;

	if (dev->names_looked_up[which])
		return dev->names[which];
	dev->names_looked_up[which] = true;
	ctx->release_names = names_close; /* the cache goes with the context */
	name_key(dev, which, key);
	if (cache->valid && memcmp(cache->key, key, sizeof(key)) == 0) {
		dev->names[which] = cache->name ? strdup(cache->name) : NULL;
		return dev->names[which];
	}
	if (pt_libpci_call(ctx, look_up, &l) < 0)
		return NULL;
	name = l.name;
	if (name && which == PT_NAME_CLASS) {
		/* For a known class with an unknown subclass libpci appends the code ("Unassigned
		 * class [ffff]"); callers print codes themselves. */
		char code[16];
		size_t len = strlen(name);
		snprintf(code, sizeof(code), " [%04x]", (unsigned)dev->class >> 8);
		if (len > strlen(code) && strcmp(name + len - strlen(code), code) == 0)
			name[len - strlen(code)] = '\0';
	}
	if (name)
		dev->names[which] = strdup(name);
	free(cache->name);
	cache->name = name ? strdup(name) : NULL;
	memcpy(cache->key, key, sizeof(key));
	cache->valid = true;
	return dev->names[which];
}

static void names_close(pt_ctx *ctx)
{
	for (int i = 0; i < PT_NAME_MAX; i++)
		free(ctx->names[i].name);
}

PT_EXPORT const char *pt_device_get_vendor_name(const pt_device *dev)
{
	return pt_names_lookup(PT_MUTABLE(pt_device, dev), PT_NAME_VENDOR);
}

PT_EXPORT const char *pt_device_get_device_name(const pt_device *dev)
{
	return pt_names_lookup(PT_MUTABLE(pt_device, dev), PT_NAME_DEVICE);
}

PT_EXPORT const char *pt_device_get_subsystem_name(const pt_device *dev)
{
	return pt_names_lookup(PT_MUTABLE(pt_device, dev), PT_NAME_SUBSYSTEM);
}

PT_EXPORT const char *pt_device_get_class_name(const pt_device *dev)
{
	return pt_names_lookup(PT_MUTABLE(pt_device, dev), PT_NAME_CLASS);
}
