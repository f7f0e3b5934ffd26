/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Whether a device is on VFIO: bound to vfio-pci, or to its vfio-pci variant driver
 * (mlx5_vfio_pci), which stands in for vfio-pci: no host driver holds the device then, and a VM
 * opens it through its /dev/vfio/GROUP as it would on vfio-pci. The one rule every layer above
 * asks (a reset, lint, the doctor, the host plan), so none names vfio-pci alone.
 */
#include <string.h>

#include "libpt-private.h"

/* Two names of one driver: a module's name and its driver's may differ only in '-' against '_'
 * (pds_vfio_pci registers pds-vfio-pci), and the variant may have been looked up before its
 * module was loaded, by the module's name. */
static bool same_driver(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (*a != *b && !((*a == '-' || *a == '_') && (*b == '-' || *b == '_')))
			return false;
	return *a == *b;
}

bool pt_device_on_vfio(const pt_device *dev, const char *driver)
{
	if (!driver || !driver[0])
		return false;
	if (strcmp(driver, "vfio-pci") == 0)
		return true;
	const char *variant = pt_device_get_variant_driver(dev);
	return variant && same_driver(variant, driver);
}
