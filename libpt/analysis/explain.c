/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Why a device shares its IOMMU group, and what would change it.
 *
 * The kernel's rules (drivers/pci/pci.c, drivers/iommu/iommu.c), restated: walking up from a
 * device, it joins the group of the first bridge above which the path is not isolated. A root
 * or switch downstream port isolates when its ACS capability has Source Validation, Request
 * Redirect, Completion Redirect and Upstream Forwarding enabled (those it implements); the
 * functions of a multifunction device are apart only with ACS of their own; everything behind
 * a PCIe-to-PCI (or conventional PCI) bridge shares the bridge's requester id.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pci/header.h>

#include "libpt-private.h"

#define REQ_ACS (PCI_ACS_CTRL_VALID | PCI_ACS_CTRL_REQ_RED | PCI_ACS_CTRL_CMPLT_RED | PCI_ACS_CTRL_FORWARD)
#define MAX_SLOTS 8

struct pt_explain {
	int refcount;
	pt_device *dev;
	pt_isolation isolation;
	pt_device *culprit;
	char *reason;
	size_t n_steps;
	pt_device **step_devices;
	char **step_texts;
	size_t n_fixes;
	char **fixes;
	size_t n_slots;
	pt_device *slots[MAX_SLOTS];
};

static const char ACS_OVERRIDE[] =
	"Or boot with pcie_acs_override=downstream,multifunction (a patch that Proxmox VE's kernel "
	"carries and Debian's does not). It only makes the kernel pretend these ports isolate: the "
	"devices of the group can still reach each other's memory by DMA, so a VM given one of them "
	"can read and corrupt what the others hold, the host's devices included. Use it only for "
	"VMs you trust as much as the host.";

static char *vformat(const char *format, va_list args)
{
	char *s;
	return vasprintf(&s, format, args) < 0 ? NULL : s;
}

static int append(char ***list, size_t *n, char *s)
{
	if (!s)
		return -ENOMEM;
	char **l = realloc(*list, (*n + 1) * sizeof(*l));
	if (!l) {
		free(s);
		return -ENOMEM;
	}
	l[(*n)++] = s;
	*list = l;
	return 0;
}

static int add_fix(pt_explain *x, const char *format, ...) PT_PRINTF(2, 3);
static int add_fix(pt_explain *x, const char *format, ...)
{
	va_list args;
	va_start(args, format);
	char *s = vformat(format, args);
	va_end(args);
	return append(&x->fixes, &x->n_fixes, s);
}

static int add_step(pt_explain *x, pt_device *dev, const char *format, ...) PT_PRINTF(3, 4);
static int add_step(pt_explain *x, pt_device *dev, const char *format, ...)
{
	va_list args;
	va_start(args, format);
	char *s = vformat(format, args);
	va_end(args);
	pt_device **d = realloc(x->step_devices, (x->n_steps + 1) * sizeof(*d));
	if (!d) {
		free(s);
		return -ENOMEM;
	}
	x->step_devices = d;
	d[x->n_steps] = dev;
	size_t n = x->n_steps;
	int r = append(&x->step_texts, &n, s);
	if (r == 0)
		x->n_steps++;
	return r;
}

/* "SV RR" of the flags in mask. */
static void flag_names(uint16_t mask, char *buf, size_t size)
{
	static const struct { uint16_t bit; const char *name; } flags[] = {
		{ PCI_ACS_CTRL_VALID, "Source Validation" },
		{ PCI_ACS_CTRL_REQ_RED, "Request Redirect" },
		{ PCI_ACS_CTRL_CMPLT_RED, "Completion Redirect" },
		{ PCI_ACS_CTRL_FORWARD, "Upstream Forwarding" },
	};
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(flags) / sizeof(*flags); i++)
		if (mask & flags[i].bit) {
			if (buf[0])
				strncat(buf, ", ", size - strlen(buf) - 1);
			strncat(buf, flags[i].name, size - strlen(buf) - 1);
		}
}

enum check { CHECK_OK, CHECK_NO_ACS, CHECK_ACS_DISABLED, CHECK_UNREADABLE, CHECK_ALIAS };

/* Whether dev isolates what is below it (or, for a multifunction device, its functions),
 * as pci_acs_enabled() decides; missing gets the required flags that are off. */
static enum check acs_enabled(pt_device *dev, uint16_t *missing)
{
	uint16_t cap, ctrl;
	int type = pt_device_get_pcie_type(dev);
	int r;

	*missing = 0;
	if (type == -2)
		return CHECK_UNREADABLE;
	if (type == -1 || type == PCI_EXP_TYPE_PCI_BRIDGE || type == PCI_EXP_TYPE_PCIE_BRIDGE)
		return CHECK_ALIAS;
	if (type != PCI_EXP_TYPE_ROOT_PORT && type != PCI_EXP_TYPE_DOWNSTREAM &&
	    !pt_device_is_multifunction(dev))
		return CHECK_OK; /* no ACS applies to it */
	r = pt_device_get_acs(dev, &cap, &ctrl);
	if (r == -EACCES)
		return CHECK_UNREADABLE;
	if (r < 0)
		return CHECK_NO_ACS;
	*missing = (uint16_t)((REQ_ACS & cap) & ~ctrl);
	return *missing ? CHECK_ACS_DISABLED : CHECK_OK;
}

static const char *what(pt_device *dev)
{
	int type = pt_device_get_pcie_type(dev);
	if (type == -1 && pt_device_is_bridge(dev))
		return "PCI bridge";
	return pt_pcie_type_to_string(type);
}

static bool below(const pt_device *dev, const pt_device *port)
{
	for (const pt_device *p = dev->parent; p; p = p->parent)
		if (p == port)
			return true;
	return false;
}

/* Root ports whose group holds nothing but themselves and what hangs below them. */
static void find_slots(pt_explain *x)
{
	pt_enum *e = x->dev->e;
	uint16_t missing;

	for (size_t i = 0; i < e->n_devices && x->n_slots < MAX_SLOTS; i++) {
		pt_device *port = &e->devices[i];
		if (!port->group || below(x->dev, port) || pt_device_get_pcie_type(port) != PCI_EXP_TYPE_ROOT_PORT ||
		    acs_enabled(port, &missing) != CHECK_OK)
			continue;
		bool own = true;
		for (size_t m = 0; m < port->group->n_members && own; m++)
			own = port->group->members[m] == port || below(port->group->members[m], port);
		if (own)
			x->slots[x->n_slots++] = port;
	}
}

static int fix_slots(pt_explain *x)
{
	char list[1024] = "";

	find_slots(x);
	if (x->n_slots == 0 && x->dev->e->partial)
		return add_fix(x, "Move the card to a slot whose root port has an IOMMU group of its "
				  "own (a scan of the whole host lists them).");
	if (x->n_slots == 0)
		return add_fix(x, "Move the card to a slot whose root port has an IOMMU group of its "
				  "own: this host shows none.");
	for (size_t i = 0; i < x->n_slots; i++) {
		pt_device *port = x->slots[i];
		char one[128];
		pt_device *first = NULL;
		pt_enum *e = port->e;
		for (size_t d = 0; d < e->n_devices && !first; d++)
			if (below(&e->devices[d], port))
				first = &e->devices[d];
		snprintf(one, sizeof(one), "%s%s (IOMMU group %u, %s%s)", i ? "; " : "", port->address,
			 port->group->number, first ? "holds " : "nothing below it",
			 first ? first->address : "");
		strncat(list, one, sizeof(list) - strlen(list) - 1);
	}
	return add_fix(x, "Move the card to a slot whose root port has an IOMMU group of its own: %s.",
		       list);
}

static int set_reason(pt_explain *x, pt_isolation isolation, pt_device *culprit,
		      const char *format, ...) PT_PRINTF(4, 5);
static int set_reason(pt_explain *x, pt_isolation isolation, pt_device *culprit,
		      const char *format, ...)
{
	va_list args;
	va_start(args, format);
	x->reason = vformat(format, args);
	va_end(args);
	x->isolation = isolation;
	x->culprit = culprit;
	return x->reason ? 0 : -ENOMEM;
}

/* The first point on the way up where isolation is lost, with a step for each element. */
static int walk(pt_explain *x)
{
	pt_device *dev = x->dev;
	bool siblings = false, conventional_functions = false;
	uint16_t missing;
	char flags[128];
	int r = 0;

	for (size_t i = 0; dev->group && i < dev->group->n_members; i++) {
		pt_device *m = dev->group->members[i];
		siblings |= m != dev && pt_same_slot(m, dev);
	}
	for (pt_device *p = dev; p && r == 0; p = p->parent) {
		enum check c = acs_enabled(p, &missing);
		bool self = p == dev;
		flag_names(missing, flags, sizeof(flags));
		switch (c) {
		case CHECK_OK:
			r = add_step(x, p, "%s %s: %s", p->address, what(p),
				     !self ? "isolates what is below it" :
				     pt_device_is_multifunction(p) ? "its ACS parts its functions" :
								     "a single function");
			continue;
		case CHECK_UNREADABLE:
			r = add_step(x, p, "%s: config space unreadable (%zu bytes: not root?)", p->address,
				     p->config_len);
			if (r == 0 && !x->reason && (!self || siblings))
				r = set_reason(x, PT_ISOLATION_UNREADABLE, p,
					       "%s: only %zu bytes of its config space can be read (sysfs "
					       "gives 64 without root), so its ACS capability is unknown; "
					       "nothing is guessed", p->address, p->config_len);
			continue;
		case CHECK_ALIAS:
			r = add_step(x, p, "%s %s: %s", p->address, what(p),
				     self ? "conventional PCI: no ACS" :
					    "devices behind it share its requester id");
			/* pci_acs_enabled() is false without a PCI Express capability. */
			conventional_functions |= self && siblings && pt_device_is_multifunction(p);
			if (r == 0 && !x->reason && !self)
				r = set_reason(x, PT_ISOLATION_PCI_BRIDGE, p,
					       "%s is behind %s, a %s: the IOMMU sees every device behind "
					       "it as one requester, so they share a group",
					       dev->address, p->address, what(p));
			continue;
		case CHECK_NO_ACS:
			r = add_step(x, p, "%s %s%s: no ACS capability", p->address, what(p),
				     pt_device_is_multifunction(p) ? " (multifunction)" : "");
			break;
		case CHECK_ACS_DISABLED:
			r = add_step(x, p, "%s %s: ACS present, %s off", p->address, what(p), flags);
			break;
		}
		if (r < 0 || x->reason)
			continue;
		/* A multifunction device's own ACS only parts it from its sibling functions. */
		if (self && !siblings)
			continue;
		if (self)
			r = set_reason(x, PT_ISOLATION_MULTIFUNCTION, p,
				       "%s is a function of a multifunction device %s: its functions "
				       "share a group", p->address,
				       c == CHECK_NO_ACS ? "without ACS" : "whose ACS has Request or "
								  "Completion Redirect off");
		else if (c == CHECK_NO_ACS)
			r = set_reason(x, PT_ISOLATION_NO_ACS, p,
				       "%s, the %s above %s, has no ACS capability: it lets the devices "
				       "below it talk to each other%s, so they share a group",
				       p->address, what(p), dev->address,
				       pt_device_is_multifunction(p) ? " and to its sibling functions' devices" : "");
		else
			r = set_reason(x, PT_ISOLATION_ACS_DISABLED, p,
				       "%s, the %s above %s, has ACS but %s disabled, so the devices "
				       "below it share a group", p->address, what(p), dev->address, flags);
	}
	/* Nothing above parts it, so the kernel groups the functions of its slot (as it does
	 * last, after aliases and upstream ports). */
	if (r == 0 && !x->reason && conventional_functions)
		r = set_reason(x, PT_ISOLATION_MULTIFUNCTION, dev,
			       "%s is a function of a multifunction conventional PCI device (no PCI "
			       "Express capability): conventional PCI has no ACS, so the kernel keeps "
			       "its functions in one group", dev->address);
	return r;
}

static int fixes(pt_explain *x)
{
	char slot[16];
	int r = 0;

	snprintf(slot, sizeof(slot), "%.*s", (int)strlen(x->dev->address) - 2, x->dev->address);
	switch (x->isolation) {
	case PT_ISOLATION_MULTIFUNCTION:
		r = add_fix(x, "Pass every function of slot %s together (a GPU with its audio "
			       "function is the usual case).", slot);
		if (r == 0 && pt_device_get_pcie_type(x->dev) >= 0)
			r = add_fix(x, "%s", ACS_OVERRIDE);
		break;
	case PT_ISOLATION_NO_ACS:
	case PT_ISOLATION_ACS_DISABLED:
		if (x->isolation == PT_ISOLATION_ACS_DISABLED)
			r = add_fix(x, "Linux enables ACS on every port at boot when the IOMMU is on: check "
				       "that it was on at boot and that no pci=config_acs= or "
				       "pci=disable_acs_redir= parameter turns these bits off.");
		if (r == 0)
			r = fix_slots(x);
		if (r == 0)
			r = add_fix(x, "%s", ACS_OVERRIDE);
		break;
	case PT_ISOLATION_PCI_BRIDGE:
		r = add_fix(x, "No setting separates devices behind a PCIe-to-PCI bridge (ACS override "
			       "does not either): pass all of them together, or move the card to a PCI "
			       "Express slot.");
		if (r == 0)
			r = fix_slots(x);
		break;
	case PT_ISOLATION_UNREADABLE:
		r = add_fix(x, "Run as root to read the extended config space.");
		break;
	case PT_ISOLATION_UNEXPLAINED:
		r = add_fix(x, "Look for a DMA alias quirk of this device in the kernel log "
			       "(dmesg | grep -i alias) or ask its vendor.");
		break;
	default:
		break;
	}
	return r;
}

static int explain(pt_explain *x)
{
	pt_device *dev = x->dev;
	int r;

	if (!dev->group)
		return set_reason(x, PT_ISOLATION_NO_IOMMU, NULL, "%s is in no IOMMU group: %s",
				  dev->address, dev->e->n_groups ? "its iommu_group link is missing"
								 : "the IOMMU is off");
	r = walk(x);
	if (r == 0 && !x->reason) {
		bool alone = true;
		for (size_t i = 0; i < dev->n_set; i++)
			alone &= dev->set[i] == dev;
		if (alone || pt_device_is_bridge(dev))
			r = set_reason(x, PT_ISOLATION_OK, NULL, "%s is isolated: %s", dev->address,
				       pt_device_is_bridge(dev) ? "a bridge stays with the host"
								: "its group holds nothing else to pass");
		else
			r = set_reason(x, PT_ISOLATION_UNEXPLAINED, NULL,
				       "%s shares its group although ACS on its path is complete: the "
				       "kernel grouped it for a reason config space does not show "
				       "(a quirk or DMA alias)", dev->address);
	}
	if (r == 0)
		r = fixes(x);
	return r;
}

PT_EXPORT pt_explain *pt_explain_unref(pt_explain *x)
{
	if (!x || --x->refcount > 0)
		return NULL;
	for (size_t i = 0; i < x->n_steps; i++)
		free(x->step_texts[i]);
	for (size_t i = 0; i < x->n_fixes; i++)
		free(x->fixes[i]);
	free(x->step_texts);
	free(x->step_devices);
	free(x->fixes);
	free(x->reason);
	pt_device_unref(x->dev);
	free(x);
	return NULL;
}

PT_EXPORT pt_explain *pt_explain_ref(pt_explain *x)
{
	if (x)
		x->refcount++;
	return x;
}

PT_EXPORT int pt_device_explain(const pt_device *dev, pt_explain **ret)
{
	pt_explain *x;
	int r;

	if (!dev || !ret)
		return -EINVAL;
	x = calloc(1, sizeof(*x));
	if (!x)
		return pt_fail(dev->e->ctx, -ENOMEM, "%s: explaining its group: %s", dev->address,
			       strerror(ENOMEM));
	x->refcount = 1;
	x->dev = pt_device_ref(PT_MUTABLE(pt_device, dev));
	r = explain(x);
	if (r < 0) {
		pt_explain_unref(x);
		return pt_fail(dev->e->ctx, r, "%s: explaining its group: %s", dev->address, strerror(-r));
	}
	*ret = x;
	return 0;
}

PT_EXPORT pt_isolation pt_explain_get_isolation(const pt_explain *x) { return x->isolation; }
PT_EXPORT pt_device *pt_explain_get_culprit(const pt_explain *x) { return x->culprit; }
PT_EXPORT const char *pt_explain_get_reason(const pt_explain *x) { return x->reason; }
PT_EXPORT size_t pt_explain_get_step_count(const pt_explain *x) { return x->n_steps; }
PT_EXPORT size_t pt_explain_get_fix_count(const pt_explain *x) { return x->n_fixes; }
PT_EXPORT size_t pt_explain_get_slot_count(const pt_explain *x) { return x->n_slots; }

PT_EXPORT pt_device *pt_explain_get_step_device(const pt_explain *x, size_t i)
{
	return i < x->n_steps ? x->step_devices[i] : NULL;
}

PT_EXPORT const char *pt_explain_get_step_text(const pt_explain *x, size_t i)
{
	return i < x->n_steps ? x->step_texts[i] : NULL;
}

PT_EXPORT const char *pt_explain_get_fix(const pt_explain *x, size_t i)
{
	return i < x->n_fixes ? x->fixes[i] : NULL;
}

PT_EXPORT pt_device *pt_explain_get_slot(const pt_explain *x, size_t i)
{
	return i < x->n_slots ? x->slots[i] : NULL;
}

PT_EXPORT const char *pt_isolation_to_string(pt_isolation v)
{
	static const char *const names[] = {
		[PT_ISOLATION_OK] = "isolated",
		[PT_ISOLATION_MULTIFUNCTION] = "multifunction-without-acs",
		[PT_ISOLATION_NO_ACS] = "no-acs",
		[PT_ISOLATION_ACS_DISABLED] = "acs-disabled",
		[PT_ISOLATION_PCI_BRIDGE] = "pci-bridge",
		[PT_ISOLATION_UNREADABLE] = "unreadable",
		[PT_ISOLATION_UNEXPLAINED] = "unexplained",
		[PT_ISOLATION_NO_IOMMU] = "no-iommu",
	};
	return (unsigned)v < sizeof(names) / sizeof(*names) ? names[v] : NULL;
}
