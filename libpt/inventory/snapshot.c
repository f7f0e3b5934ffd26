/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The snapshot (pt_enum): its life, its warnings, and lookups in it. The scan (pci.c) fills it;
 * the parts read on first use (USB devices, mediated devices) register what frees them, so the
 * snapshot depends on none of the files that read into it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libpt-private.h"

/* Adds a warning (the message taken), cleaned: a name from the tree (a directory's, a link's)
 * reaches no terminal or JSON with control bytes or invalid UTF-8. */
void pt_enum_take_warning(pt_enum *e, char *raw)
{
	char *msg = pt_clean_string(raw);
	free(raw);
	if (!msg)
		return;
	char **w = realloc(e->warnings, (e->n_warnings + 1) * sizeof(*w));
	if (!w) {
		free(msg);
		return;
	}
	e->warnings = w;
	e->warnings[e->n_warnings++] = msg;
	pt_info(e->ctx, "%s", msg); /* the caller shows e->warnings */
}

void pt_enum_add_warning(pt_enum *e, const char *format, ...)
{
	char *msg;
	va_list args;

	va_start(args, format);
	int n = vasprintf(&msg, format, args);
	va_end(args);
	if (n >= 0)
		pt_enum_take_warning(e, msg);
}

int pt_device_compare_keys(const void *a, const void *b)
{
	uint64_t ka = ((const pt_device *)a)->key, kb = ((const pt_device *)b)->key;
	return ka < kb ? -1 : ka > kb;
}

pt_device *pt_enum_find_key(const pt_enum *e, uint64_t key)
{
	pt_device probe = { .key = key };
	if (!e->n_devices)
		return NULL;
	return bsearch(&probe, e->devices, e->n_devices, sizeof(*e->devices), pt_device_compare_keys);
}

void pt_enum_on_release(pt_enum *e, void (*release)(pt_enum *e))
{
	for (unsigned i = 0; i < e->n_releases; i++)
		if (e->releases[i] == release)
			return;
	if (e->n_releases < sizeof(e->releases) / sizeof(e->releases[0]))
		e->releases[e->n_releases++] = release;
}

static void free_enum(pt_enum *e)
{
	for (size_t i = 0; i < e->n_devices; i++) {
		pt_device *d = &e->devices[i];
		free(d->driver);
		free(d->override);
		free(d->reset_method);
		free(d->virtfns);
		free(d->critical_reason);
		free(d->local_cpus);
		free(d->variant);
		free(d->cdev);
		for (size_t f = 0; f < d->n_flags; f++)
			free(d->flags[f]);
		free(d->flags);
		for (int n = 0; n < PT_NAME_MAX; n++)
			free(d->names[n]);
	}
	for (size_t i = 0; i < e->n_groups; i++) {
		free(e->groups[i].type);
		free(e->groups[i].members);
		free(e->groups[i].set);
	}
	for (unsigned i = 0; i < e->n_releases; i++) /* the parts read on first use */
		e->releases[i](e);
	for (size_t i = 0; i < e->n_warnings; i++)
		free(e->warnings[i]);
	free(e->warnings);
	free(e->listing);
	free(e->devices);
	free(e->groups);
	pt_ctx_unref(e->ctx);
	free(e);
}

PT_EXPORT pt_enum *pt_enum_ref(pt_enum *e)
{
	if (e)
		e->refcount++;
	return e;
}

PT_EXPORT pt_enum *pt_enum_unref(pt_enum *e)
{
	if (e && --e->refcount == 0)
		free_enum(e);
	return NULL;
}

PT_EXPORT size_t pt_enum_get_device_count(const pt_enum *e)
{
	return e->n_devices;
}

PT_EXPORT pt_device *pt_enum_get_device(const pt_enum *e, size_t i)
{
	return i < e->n_devices ? &e->devices[i] : NULL;
}

PT_EXPORT int pt_enum_find_device(const pt_enum *e, const char *address, pt_device **ret)
{
	uint64_t key;
	pt_device *dev;

	bool slot;

	/* the one grammar; a slot ("01:00") names its function 0 */
	if (!address || pt_pci_id_parse(address, &key, &slot) < 0)
		return pt_fail(e->ctx, -EINVAL, "\"%s\": not a PCI address (expected DDDD:BB:SS.F)",
			       address ? address : "(null)");
	dev = pt_enum_find_key(e, key);
	if (!dev)
		return pt_fail(e->ctx, -ENOENT, "%s: no such PCI device under %s",
			       address, pt_ctx_get_root(e->ctx));
	*ret = dev;
	return 0;
}

PT_EXPORT int pt_enum_has_iommu(const pt_enum *e)
{
	return e->n_groups > 0;
}

PT_EXPORT size_t pt_enum_get_warning_count(const pt_enum *e)
{
	return e->n_warnings;
}

PT_EXPORT const char *pt_enum_get_warning(const pt_enum *e, size_t i)
{
	return i < e->n_warnings ? e->warnings[i] : NULL;
}

PT_EXPORT pt_enum *pt_device_get_enum(const pt_device *dev) { return dev->e; }
PT_EXPORT pt_ctx *pt_enum_get_context(const pt_enum *e) { return e->ctx; }

PT_EXPORT pt_device *pt_device_ref(pt_device *dev)
{
	if (dev)
		pt_enum_ref(dev->e);
	return dev;
}

PT_EXPORT pt_device *pt_device_unref(pt_device *dev)
{
	if (dev)
		pt_enum_unref(dev->e);
	return NULL;
}

PT_EXPORT const char *pt_device_get_address(const pt_device *dev) { return dev->address; }
PT_EXPORT unsigned pt_device_get_domain(const pt_device *dev) { return (unsigned)(dev->key >> 16); }
PT_EXPORT unsigned pt_device_get_bus(const pt_device *dev) { return (dev->key >> 8) & 0xff; }
PT_EXPORT unsigned pt_device_get_slot(const pt_device *dev) { return (dev->key >> 3) & 0x1f; }
PT_EXPORT unsigned pt_device_get_function(const pt_device *dev) { return dev->key & 7; }
PT_EXPORT uint16_t pt_device_get_vendor_id(const pt_device *dev) { return dev->vendor; }
PT_EXPORT uint16_t pt_device_get_device_id(const pt_device *dev) { return dev->device; }
PT_EXPORT uint16_t pt_device_get_subsystem_vendor_id(const pt_device *dev) { return dev->subvendor; }
PT_EXPORT uint16_t pt_device_get_subsystem_device_id(const pt_device *dev) { return dev->subdevice; }
PT_EXPORT int32_t pt_device_get_class(const pt_device *dev) { return dev->class; }
PT_EXPORT uint8_t pt_device_get_revision(const pt_device *dev) { return dev->revision; }
PT_EXPORT const char *pt_device_get_driver(const pt_device *dev) { return dev->driver; }
PT_EXPORT const char *pt_device_get_driver_override(const pt_device *dev) { return dev->override; }
PT_EXPORT pt_group *pt_device_get_group(const pt_device *dev) { return dev->group; }
PT_EXPORT int pt_device_get_boot_vga(const pt_device *dev) { return dev->boot_vga; }
PT_EXPORT const char *pt_device_get_reset_method(const pt_device *dev) { return dev->reset_method; }
PT_EXPORT int pt_device_get_numa_node(const pt_device *dev) { return dev->numa_node; }
PT_EXPORT int pt_device_get_header_type(const pt_device *dev) { return dev->header_type; }
PT_EXPORT pt_device *pt_device_get_parent(const pt_device *dev) { return dev->parent; }
PT_EXPORT pt_device *pt_device_get_physfn(const pt_device *dev) { return dev->physfn; }
PT_EXPORT size_t pt_device_get_virtfn_count(const pt_device *dev) { return dev->n_virtfns; }
PT_EXPORT unsigned pt_device_get_sriov_totalvfs(const pt_device *dev) { return dev->totalvfs; }

PT_EXPORT uint64_t pt_device_get_bar_size(const pt_device *dev, unsigned i)
{
	return i < 7 ? dev->bars[i] : 0;
}

/* resourceN_resize (Linux 6.1+, a device with the Resizable BAR capability): a bitmask of the
 * sizes BAR i supports, bit n for 2^n MiB; 0 where the kernel offers none. Read on first use. */
PT_EXPORT int pt_device_is_bridge(const pt_device *dev)
{
	return dev->header_type == 1 || dev->header_type == 2;
}

PT_EXPORT int pt_device_is_multifunction(const pt_device *dev)
{
	/* Function 0 carries the bit; the other functions' presence says the same. */
	if (dev->multifunction || (dev->key & 7))
		return 1;
	const pt_device *next = dev + 1;
	return next < dev->e->devices + dev->e->n_devices && pt_same_slot(next, dev);
}

PT_EXPORT pt_device *pt_device_get_virtfn(const pt_device *dev, size_t i)
{
	return i < dev->n_virtfns ? dev->virtfns[i] : NULL;
}

/*
 * The PCI device nearest the end of a sysfs path ("../../devices/pci0000:00/0000:00:17.0/ata1/
 * host0/.../block/sda"): the controller a disk, a NIC or an input device hangs under.
 */
pt_device *pt_pci_ancestor(pt_enum *e, const char *path)
{
	char component[64];
	pt_device *found = NULL;
	const char *p = path;

	while (*p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		uint64_t key;
		if (len < sizeof(component)) {
			memcpy(component, p, len);
			component[len] = '\0';
			pt_device *d;
			if (pt_address_parse(component, &key) == 0 && strchr(component, ':') != strrchr(component, ':') &&
			    (d = pt_enum_find_key(e, key)))
				found = d;
		}
		p += len;
		while (*p == '/')
			p++;
	}
	return found;
}

