// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libvirt: <hostdev> elements for PCI devices (managed='yes': libvirt detaches and reattaches
 * them), USB devices and existing mediated devices, alone for `virsh attach-device` or in a
 * minimal q35/UEFI domain. Every value is checked before it goes into the XML.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "libpt-private.h"

static void pci_hostdev(struct pt_strv *out, const pt_device *d, const char *p)
{
	pt_strv_addf(out, "%s<hostdev mode='subsystem' type='pci' managed='yes'>", p);
	pt_strv_addf(out, "%s  <source>", p);
	pt_strv_addf(out, "%s    <address domain='0x%04x' bus='0x%02x' slot='0x%02x' function='0x%x'/>", p,
		     pt_device_get_domain(d), pt_device_get_bus(d), pt_device_get_slot(d), pt_device_get_function(d));
	pt_strv_addf(out, "%s  </source>", p);
	pt_strv_addf(out, "%s</hostdev>", p);
}

static int usb_hostdev(pt_ctx *ctx, struct pt_strv *out, const pt_usb_spec *usb, const char *p)
{
	char q[128];

	if (usb->id) {
		const char *hex = "0123456789abcdefABCDEF";
		if (strlen(usb->id) != 9 || strspn(usb->id, hex) != 4 || usb->id[4] != ':' || strspn(usb->id + 5, hex) != 4)
			return pt_fail(ctx, -EINVAL, "USB id %s: expected VVVV:PPPP", pt_quote(q, sizeof(q), usb->id));
	} else if (!usb->bus || !usb->devnum) {
		return pt_fail(ctx, -EINVAL, "a USB device needs an id or a bus and device number");
	}
	pt_strv_addf(out, "%s<hostdev mode='subsystem' type='usb' managed='yes'>", p);
	pt_strv_addf(out, "%s  <source>", p);
	if (usb->id) {
		char id[10];
		for (int i = 0; i < 10; i++)
			id[i] = usb->id[i] >= 'A' && usb->id[i] <= 'F' ? usb->id[i] + ('a' - 'A') : usb->id[i];
		pt_strv_addf(out, "%s    <vendor id='0x%.4s'/>", p, id);
		pt_strv_addf(out, "%s    <product id='0x%.4s'/>", p, id + 5);
	} else {
		pt_strv_addf(out, "%s    <address bus='%u' device='%u'/>", p, usb->bus, usb->devnum);
	}
	pt_strv_addf(out, "%s  </source>", p);
	pt_strv_addf(out, "%s</hostdev>", p);
	return 0;
}

/* A domain's size and where it runs: its vCPUs each pinned to a host CPU of the node, its memory
 * bound there, on huge pages where asked (4096 MiB and 4 vCPUs, floating, without a place). */
static void domain_placement(struct pt_strv *out, const pt_placement *p)
{
	unsigned char set[1024];

	if (!p) {
		pt_strv_add(out, "  <memory unit='MiB'>4096</memory>");
		pt_strv_add(out, "  <vcpu>4</vcpu>");
		return;
	}
	pt_strv_addf(out, "  <memory unit='MiB'>%lu</memory>", pt_placement_get_memory(p));
	if (pt_placement_get_hugepage_size(p)) {
		pt_strv_add(out, "  <memoryBacking>");
		pt_strv_add(out, "    <hugepages>");
		pt_strv_addf(out, "      <page size='%lu' unit='KiB'/>", pt_placement_get_hugepage_size(p));
		pt_strv_add(out, "    </hugepages>");
		pt_strv_add(out, "  </memoryBacking>");
	}
	pt_strv_addf(out, "  <vcpu placement='static' cpuset='%s'>%u</vcpu>", pt_placement_get_cpus(p),
		     pt_placement_get_vcpus(p));
	pt_strv_add(out, "  <cputune>");
	unsigned vcpu = 0, n = pt_placement_get_vcpus(p);
	if (pt_cpulist_parse(pt_placement_get_cpus(p), set, sizeof(set) * 8) > 0)
		for (unsigned c = 0; c < sizeof(set) * 8 && vcpu < n; c++)
			if (set[c / 8] & (1u << (c % 8)))
				pt_strv_addf(out, "    <vcpupin vcpu='%u' cpuset='%u'/>", vcpu++, c);
	if (vcpu < n) /* fewer CPUs than vCPUs: the rest share the node's chosen ones */
		for (; vcpu < n; vcpu++)
			pt_strv_addf(out, "    <vcpupin vcpu='%u' cpuset='%s'/>", vcpu, pt_placement_get_cpus(p));
	pt_strv_add(out, "  </cputune>");
	pt_strv_add(out, "  <numatune>");
	pt_strv_addf(out, "    <memory mode='strict' nodeset='%d'/>", pt_placement_get_node(p));
	pt_strv_add(out, "  </numatune>");
}

PT_EXPORT int pt_emit_libvirt(pt_ctx *ctx, const pt_assignment *a, const pt_usb_spec *usb,
			      const char *domain, const pt_emit_opts *opts, pt_emission **ret)
{
	struct pt_strv out = { 0 }, devices = { 0 };
	const char *indent = domain ? "    " : "";
	char q[128];
	int r;

	pt_usb_spec usb_copy;
	pt_emit_opts o;

	if (!ctx || !ret)
		return -EINVAL;
	if ((r = pt_usb_spec_in(ctx, &usb, &usb_copy)) < 0 || (r = pt_emit_opts_copy(ctx, &o, opts)) < 0)
		return r;
	if (domain && !pt_word_valid(domain, true, "-_.")) /* nothing to escape */
		return pt_fail(ctx, -EINVAL, "domain name %s: letters, digits, '-', '_', '.'",
			       pt_quote(q, sizeof(q), domain));
	if (a && (r = pt_assignment_check_in(ctx, a)) < 0)
		return r;
	for (size_t i = 0; i < pt_assignment_get_device_count(a); i++)
		pci_hostdev(&devices, pt_assignment_get_device(a, i), indent);
	if (usb && (r = usb_hostdev(ctx, &devices, usb, indent)) < 0) {
		pt_strv_free(&devices);
		return r;
	}
	if (!domain)
		return pt_emission_new(ctx, &devices, NULL, NULL, ret);
	pt_strv_add(&out, "<domain type='kvm'>");
	pt_strv_addf(&out, "  <name>%s</name>", domain);
	domain_placement(&out, o.place);
	pt_strv_add(&out, "  <os firmware='efi'>");
	pt_strv_add(&out, "    <type arch='x86_64' machine='q35'>hvm</type>");
	pt_strv_add(&out, "  </os>");
	pt_strv_add(&out, "  <features>");
	pt_strv_add(&out, "    <acpi/>");
	pt_strv_add(&out, "    <apic/>");
	pt_strv_add(&out, "  </features>");
	pt_strv_add(&out, "  <cpu mode='host-passthrough'/>");
	pt_strv_add(&out, "  <devices>");
	for (size_t i = 0; i < devices.n; i++)
		pt_strv_add(&out, devices.v[i]);
	if (devices.n == 0)
		pt_strv_add(&out, "");
	pt_strv_add(&out, "  </devices>");
	pt_strv_add(&out, "</domain>");
	pt_strv_free(&devices);
	struct pt_strv notes = { 0 };
	for (size_t i = 0; o.place && i < pt_placement_get_note_count(o.place); i++)
		pt_strv_add(&notes, pt_placement_get_note(o.place, i));
	return pt_emission_new(ctx, &out, &notes, NULL, ret);
}

PT_EXPORT int pt_emit_libvirt_mdev(pt_ctx *ctx, const char *uuid, pt_emission **ret)
{
	struct pt_strv out = { 0 };
	char q[128];

	if (!ctx || !ret)
		return -EINVAL;
	if (!uuid || !pt_uuid_is_valid(uuid))
		return pt_fail(ctx, -EINVAL, "%s: not an mdev UUID", pt_quote(q, sizeof(q), uuid ? uuid : "nil"));
	pt_strv_add(&out, "<hostdev mode='subsystem' type='mdev' model='vfio-pci'>");
	pt_strv_add(&out, "  <source>");
	pt_strv_addf(&out, "    <address uuid='%s'/>", uuid);
	pt_strv_add(&out, "  </source>");
	pt_strv_add(&out, "</hostdev>");
	return pt_emission_new(ctx, &out, NULL, NULL, ret);
}
