// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Proxmox cluster resource mappings: /etc/pve/mapping/pci.cfg and usb.cfg. How Proxmox reads
 * them (qemu-server's parse_hostpci, pve-guest-common's assert_valid): a map path
 * without a function is the whole slot, checked by the attributes of function 0; a VM's hostpci
 * line names one mapping, and qemu-server takes each map line of its node as an alternative, so
 * a mapping's map lines must be the same kind of device. Hence one mapping a slot of the set in
 * the slot form when the set holds the whole slot, one a function otherwise.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "libpt-private.h"

/* A mapping name: a letter, then letters, digits, '-' and '_'. */
static int check_mapping_name(pt_ctx *ctx, const char *name)
{
	char q[128];
	int r = pt_config_value_check(ctx, "mapping name", name);

	if (r < 0)
		return r;
	if (!pt_word_valid(name, false, "-_"))
		return pt_fail(ctx, -EINVAL, "mapping name %s: letters, digits, '-' and '_'", pt_quote(q, sizeof(q), name));
	return 0;
}

static size_t slot_len(const struct pt_node_dev *d)
{
	return strlen(d->address) - 2;
}

static bool same_slot(const struct pt_node_dev *a, const struct pt_node_dev *b)
{
	return slot_len(a) == slot_len(b) && strncasecmp(a->address, b->address, slot_len(a)) == 0;
}

static char function_of(const struct pt_node_dev *d)
{
	return d->address[strlen(d->address) - 1];
}

/* What a slot is, to compare across nodes: "0=10de:1b81 1=10de:10f0", by function. */
static char *slot_shape(const struct pt_node *n, const struct pt_node_dev *of)
{
	struct pt_strv ids = { 0 };
	char *out = NULL;

	for (char fn = '0'; fn <= '7'; fn++)
		for (size_t i = 0; i < n->n_devices; i++) {
			const struct pt_node_dev *d = &n->devices[i];
			if (same_slot(d, of) && function_of(d) == fn)
				pt_strv_addf(&ids, "%c=%04x:%04x", fn, d->vendor, d->device);
		}
	if (!ids.oom)
		out = pt_strv_join(&ids, " ");
	pt_strv_free(&ids);
	return out;
}

static size_t slot_count(const struct pt_node *n, const struct pt_node_dev *of)
{
	size_t k = 0;

	for (size_t i = 0; i < n->n_devices; i++)
		k += same_slot(&n->devices[i], of);
	return k;
}

/* A unit of the set: a whole slot (by its function 0) or one function. */
struct unit {
	const struct pt_node_dev *first;
	bool whole;
	char *shape;
};

static const struct pt_node_dev *find(const struct pt_node *n, const char *address)
{
	uint64_t key, k;

	if (pt_address_parse(address, &key) < 0)
		return NULL;
	for (size_t i = 0; i < n->n_devices; i++)
		if (pt_address_parse(n->devices[i].address, &k) == 0 && k == key)
			return &n->devices[i];
	return NULL;
}

static int compare_devs(const void *a, const void *b)
{
	return strcasecmp((*(const struct pt_node_dev *const *)a)->address, (*(const struct pt_node_dev *const *)b)->address);
}

/* The units of the set, slot by slot in address order. */
static int units_of(pt_ctx *ctx, const struct pt_node *here, const char *const *set, size_t n_set, struct unit **ret,
		    size_t *n_ret)
{
	const struct pt_node_dev **wanted = calloc(n_set ? n_set : 1, sizeof(*wanted));
	struct unit *units = calloc(n_set ? n_set : 1, sizeof(*units));
	size_t n = 0, n_wanted = 0;

	if (!wanted || !units) {
		free(wanted);
		free(units);
		return pt_fail(ctx, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n_set; i++) {
		const struct pt_node_dev *d = find(here, set[i]);
		if (!d) {
			free(wanted);
			free(units);
			return pt_fail(ctx, -ENOENT, "%s: not a device of node %s", set[i], here->name);
		}
		bool dup = false;
		for (size_t j = 0; j < n_wanted; j++)
			dup = dup || wanted[j] == d;
		if (!dup)
			wanted[n_wanted++] = d;
	}
	qsort(wanted, n_wanted, sizeof(*wanted), compare_devs);
	for (size_t i = 0, j; i < n_wanted; i = j) {
		for (j = i + 1; j < n_wanted && same_slot(wanted[j], wanted[i]); j++)
			;
		if (j - i == slot_count(here, wanted[i]) && function_of(wanted[i]) == '0') {
			units[n].first = wanted[i];
			units[n].whole = true;
			if (!(units[n++].shape = slot_shape(here, wanted[i]))) {
				for (size_t k = 0; k < n; k++)
					free(units[k].shape);
				free(units);
				free(wanted);
				return pt_fail(ctx, -ENOMEM, "out of memory");
			}
		} else {
			for (size_t k = i; k < j; k++)
				units[n++].first = wanted[k];
		}
	}
	free(wanted);
	*ret = units;
	*n_ret = n;
	return 0;
}

/* A device's NUMA node on a node known by its snapshot (this one); -1 unknown (another node's
 * report says none). */
static int numa_of(const struct pt_node *node, const struct pt_node_dev *d)
{
	pt_device *dev;
	if (!node->e || pt_enum_find_device(node->e, d->address, &dev) < 0)
		return -1;
	return pt_device_get_numa_node(dev);
}

static int emit_mapping(pt_ctx *ctx, const char *name, const char *const *set, size_t n_set, pt_node *const *nodes,
			size_t n_nodes, unsigned flags, pt_emission **ret)
{
	struct pt_strv lines = { 0 }, notes = { 0 }, missing = { 0 };
	struct unit *units = NULL;
	size_t n_units = 0;
	int r;

	if (!ctx || !ret || !nodes || n_nodes == 0 || (n_set && !set) || (flags & ~PT_MAPPING_MDEV))
		return ctx ? pt_fail(ctx, -EINVAL, "pt_emit_mapping: no nodes, or unknown flags") : -EINVAL;
	if ((r = check_mapping_name(ctx, name)) < 0 || (r = units_of(ctx, nodes[0], set, n_set, &units, &n_units)) < 0)
		return r;
	for (size_t u = 0; u < n_units; u++) {
		const struct unit *un = &units[u];
		char mname[160];

		if (u == 0)
			snprintf(mname, sizeof(mname), "%s", name);
		else
			snprintf(mname, sizeof(mname), "%s-%zu", name, u + 1);
		if (u > 0)
			pt_strv_add(&lines, "");
		pt_strv_add(&lines, mname);
		for (size_t k = 0; k < n_nodes; k++) {
			const struct pt_node *node = nodes[k];
			bool found = false;
			/* a pool: qemu-server takes a node's first free alternative, so this node's come
			 * ordered the device asked for first, then those on its NUMA node, then the rest */
			struct pt_strv asked = { 0 }, near = { 0 }, far = { 0 };
			int numa = numa_of(node, un->first);
			for (size_t i = 0; i < node->n_devices; i++) {
				const struct pt_node_dev *d = &node->devices[i];
				/* an alternative is the same kind of device: a VF for a VF, never its PF */
				bool match = d->vendor == un->first->vendor && d->device == un->first->device &&
					     d->is_vf == un->first->is_vf;
				if (match && un->whole) {
					char *shape = function_of(d) == '0' ? slot_shape(node, d) : NULL;
					match = shape && strcmp(shape, un->shape) == 0;
					free(shape);
				}
				if (!match)
					continue;
				found = true;
				char group[32] = "";
				if (d->group >= 0)
					snprintf(group, sizeof(group), "iommugroup=%ld,", d->group);
				struct pt_strv *to = d == un->first ? &asked : numa >= 0 && numa_of(node, d) == numa ? &near : &far;
				pt_strv_addf(to, "\tmap id=%04x:%04x,%snode=%s,path=%.*s,subsystem-id=%04x:%04x", d->vendor,
					     d->device, group, node->name, (int)(un->whole ? slot_len(d) : strlen(d->address)),
					     d->address, d->subvendor, d->subdevice);
			}
			for (struct pt_strv *from = &asked; from; from = from == &asked ? &near : from == &near ? &far : NULL) {
				for (size_t i = 0; i < from->n; i++)
					pt_strv_add(&lines, from->v[i]);
				lines.oom |= from->oom;
				pt_strv_free(from);
			}
			if (!found && !pt_strv_has(&missing, node->name))
				pt_strv_add(&missing, node->name);
		}
		if (flags & PT_MAPPING_MDEV) {
			/* Proxmox creates an mdev of hostpciN's mdev= type on the mapped device */
			pt_strv_add(&lines, "\tmdev 1");
			pt_strv_addf(&notes, "in the VM: hostpciN: mapping=%s,mdev=TYPE,pcie=1", mname);
		} else
			pt_strv_addf(&notes, "in the VM: hostpciN: mapping=%s,pcie=1", mname);
	}
	if (missing.n) {
		char *list = pt_strv_join(&missing, ", ");
		if (list)
			pt_strv_addf(&notes, "no matching device on: %s", list);
		else
			notes.oom = true;
		free(list);
	}
	for (size_t u = 0; u < n_units; u++)
		free(units[u].shape);
	free(units);
	pt_strv_free(&missing);
	return pt_emission_new(ctx, &lines, &notes, NULL, ret);
}

/* This node from its snapshot: the set guarded there (a mapping hands a VM its devices). */
PT_EXPORT int pt_emit_mapping(const pt_assignment *a, const char *name, pt_node *const *nodes, size_t n_nodes,
			      unsigned flags, pt_emission **ret)
{
	pt_ctx *ctx;
	const char **set;
	int r;

	if (!a || !ret)
		return -EINVAL;
	ctx = pt_enum_get_context(pt_assignment_get_enum(a));
	if (!nodes || n_nodes == 0)
		return pt_fail(ctx, -EINVAL, "pt_emit_mapping: no nodes");
	if (!(flags & PT_MAPPING_MDEV) != !(pt_assignment_get_flags(a) & PT_ASSIGN_MDEV))
		return pt_fail(ctx, -EINVAL, "pt_emit_mapping: PT_MAPPING_MDEV goes with an assignment of mdev parents "
			       "(PT_ASSIGN_MDEV)");
	if ((r = pt_assignment_check_mdev(a)) < 0)
		return r;
	if (!(set = pt_assignment_addresses(a)))
		return pt_fail(ctx, -ENOMEM, "out of memory");
	r = emit_mapping(ctx, name, set, pt_assignment_get_device_count(a), nodes, n_nodes, flags, ret);
	free(set);
	return r;
}

PT_EXPORT int pt_emit_usb_mapping(pt_ctx *ctx, const char *name, const pt_usb_spec *usb, const char *const *nodes,
				  size_t n_nodes, pt_emission **ret)
{
	struct pt_strv lines = { 0 }, notes = { 0 };
	char host[64];
	int r;

	pt_usb_spec usb_copy;

	if (!ctx || !ret || (n_nodes && !nodes))
		return ctx ? pt_fail(ctx, -EINVAL, "pt_emit_usb_mapping: no nodes") : -EINVAL;
	if ((r = pt_usb_spec_in(ctx, &usb, &usb_copy)) < 0 || (r = pt_config_value_check(ctx, "mapping name", name)) < 0 || (r = pt_usb_spec_host(ctx, usb, host)) < 0 ||
	    (r = check_mapping_name(ctx, name)) < 0)
		return r;
	for (size_t i = 0; i < n_nodes; i++)
		if ((r = pt_node_name_check(ctx, nodes[i])) < 0)
			return r;
	/* one map line a node: the other half of a physical port is a mapping of its own */
	const char *peer = pt_usb_spec_peer(usb);
	for (const char *at = host; at; at = at == host ? peer : NULL) {
		if (at != host)
			pt_strv_add(&lines, "");
		pt_strv_addf(&lines, "%s%s", name, at == host ? "" : "-2");
		for (size_t i = 0; i < n_nodes; i++)
			pt_strv_addf(&lines, "\tmap %s=%s,node=%s", usb->port ? "path" : "id", at, nodes[i]);
	}
	if (peer)
		pt_strv_addf(&notes, "in the VM: usbN: mapping=%s and usbM: mapping=%s-2 (%s and %s, the two halves of one "
			     "physical port: Proxmox takes one map line a node, so one mapping a half)", name, name, host, peer);
	else
		pt_strv_addf(&notes, "in the VM: usbN: mapping=%s", name);
	return pt_emission_new(ctx, &lines, &notes, NULL, ret);
}
