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

PT_EXPORT size_t pt_device_get_companions(pt_device *dev, pt_device **out, size_t max)
{
	size_t n = 0;

	if (!dev)
		return 0;
	for (size_t i = 0; i < dev->e->n_devices; i++) {
		pt_device *d = &dev->e->devices[i];
		if (d != dev && pt_same_slot(d, dev) && is_companion_class(d->class)) {
			if (out && n < max)
				out[n] = d;
			n++;
		}
	}
	return n;
}
