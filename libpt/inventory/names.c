/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Vendor, device and class names through libpci, which asks udev's hwdb and then pci.ids.
 * Opened on the first lookup: a scan that prints no names never loads the database.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pci/pci.h>

#include "libpt-private.h"

static void names_close(pt_ctx *ctx);

/* libpci's error callback must not return; it jumps back to the guarded call instead. */
static __thread jmp_buf *pci_escape;

static void PCI_NONRET pci_error(char *msg, ...)
{
	(void)msg;
	longjmp(*pci_escape, 1);
}

static void pci_quiet(char *msg, ...)
{
	(void)msg;
}

static struct pci_access *open_libpci(pt_ctx *ctx)
{
	char path[PATH_MAX];
	jmp_buf escape;
	struct pci_access *pacc = pci_alloc();

	if (!pacc)
		return NULL;
	pacc->error = pci_error;
	pacc->warning = pci_quiet;
	pacc->debug = pci_quiet;
	/* Forced to sysfs under the root: libpci would otherwise fall back to /proc/bus/pci
	 * and describe the machine we run on. */
	pacc->method = PCI_ACCESS_SYS_BUS_PCI;
	snprintf(path, sizeof(path), "%s/sys/bus/pci", ctx->root);
	pci_escape = &escape;
	if (setjmp(escape)) {
		pt_warn(ctx, "libpci could not be set up for %s", path);
		pci_escape = NULL;
		return NULL;
	}
	pci_set_param(pacc, "sysfs.path", path);
	pci_init(pacc);
	pci_escape = NULL;
	return pacc;
}

/* The ids a name depends on: thousands of SR-IOV functions share them, so the last lookup of
 * each kind is kept. */
static void name_key(const pt_device *dev, enum pt_name which, unsigned k[4])
{
	k[0] = which == PT_NAME_CLASS ? (unsigned)dev->class >> 8 : dev->vendor;
	k[1] = which == PT_NAME_DEVICE || which == PT_NAME_SUBSYSTEM ? dev->device : 0;
	k[2] = which == PT_NAME_SUBSYSTEM ? dev->subvendor : 0;
	k[3] = which == PT_NAME_SUBSYSTEM ? dev->subdevice : 0;
}

const char *pt_names_lookup(pt_device *dev, enum pt_name which)
{
	pt_ctx *ctx = dev->e->ctx;
	struct pt_name_cache *cache = &ctx->names[which];
	unsigned key[4];
	char buf[256];
	char *volatile name = NULL; /* set between setjmp and a possible longjmp */
	jmp_buf escape;

	if (dev->names_looked_up[which])
		return dev->names[which];
	dev->names_looked_up[which] = true;
	ctx->release_names = names_close; /* the cache and libpci go with the context */
	name_key(dev, which, key);
	if (cache->valid && memcmp(cache->key, key, sizeof(key)) == 0) {
		dev->names[which] = cache->name ? strdup(cache->name) : NULL;
		return dev->names[which];
	}
	if (!ctx->pacc && !(ctx->pacc = open_libpci(ctx)))
		return NULL;
	pci_escape = &escape;
	if (setjmp(escape) == 0) {
		int flags = PCI_LOOKUP_NO_NUMBERS;
		switch (which) {
		case PT_NAME_VENDOR:
			name = pci_lookup_name(ctx->pacc, buf, sizeof(buf), flags | PCI_LOOKUP_VENDOR,
					       dev->vendor);
			break;
		case PT_NAME_DEVICE:
			name = pci_lookup_name(ctx->pacc, buf, sizeof(buf), flags | PCI_LOOKUP_DEVICE,
					       dev->vendor, dev->device);
			break;
		case PT_NAME_SUBSYSTEM:
			name = pci_lookup_name(ctx->pacc, buf, sizeof(buf),
					       flags | PCI_LOOKUP_SUBSYSTEM | PCI_LOOKUP_DEVICE,
					       dev->vendor, dev->device, dev->subvendor,
					       dev->subdevice);
			break;
		case PT_NAME_CLASS:
			if (dev->class >= 0)
				name = pci_lookup_name(ctx->pacc, buf, sizeof(buf),
						       flags | PCI_LOOKUP_CLASS, dev->class >> 8);
			break;
		default:
			break;
		}
	}
	pci_escape = NULL;
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
	if (ctx->pacc)
		pci_cleanup(ctx->pacc);
	ctx->pacc = NULL;
}

PT_EXPORT const char *pt_device_get_vendor_name(pt_device *dev)
{
	return pt_names_lookup(dev, PT_NAME_VENDOR);
}

PT_EXPORT const char *pt_device_get_device_name(pt_device *dev)
{
	return pt_names_lookup(dev, PT_NAME_DEVICE);
}

PT_EXPORT const char *pt_device_get_subsystem_name(pt_device *dev)
{
	return pt_names_lookup(dev, PT_NAME_SUBSYSTEM);
}

PT_EXPORT const char *pt_device_get_class_name(pt_device *dev)
{
	return pt_names_lookup(dev, PT_NAME_CLASS);
}
