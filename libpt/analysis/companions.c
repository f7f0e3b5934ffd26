// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A GPU's companions: the other functions of its slot that a VM gets with it. Audio (HDMI and
 * DisplayPort sound, class 0x0403), USB (a USB-C port on the card, 0x0c03) and serial bus (its
 * UCSI controller, 0x0c80). They share the GPU's slot but may sit in IOMMU groups of their own.
 */
#include <errno.h>

#include "libpt-private.h"

static bool is_companion_class(int32_t class)
{
	if (class < 0)
		return false;
	switch (class >> 8) {
	case 0x0403: /* audio device */
	case 0x0c03: /* USB controller */
	case 0x0c80: /* serial bus controller (UCSI) */
		return true;
	default:
		return false;
	}
}

/* Companion i of the device (i = SIZE_MAX: none, and *n how many there are). */
static pt_device *companion(const pt_device *dev, size_t i, size_t *n)
{
	*n = 0;
	if (!dev)
		return NULL;
	for (size_t k = 0; k < dev->e->n_devices; k++) {
		pt_device *d = &dev->e->devices[k];
		if (d != dev && pt_same_slot(d, dev) && is_companion_class(d->class) && (*n)++ == i)
			return d;
	}
	return NULL;
}

PT_EXPORT size_t pt_device_get_companion_count(const pt_device *dev)
{
	size_t n;
	companion(dev, SIZE_MAX, &n);
	return n;
}

PT_EXPORT pt_device *pt_device_get_companion(const pt_device *dev, size_t i)
{
	size_t n;
	return companion(dev, i, &n);
}
