// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The assignment: what a VM is to get, decided once. Devices come in as objects of a snapshot
 * (or as ids parsed by the one grammar, or as a VM's hostpciN lines with their mappings); each
 * brings its whole passthrough set; each member meets the guard here and nowhere else. The bind
 * transaction, every emitter, lint, the host plan and the hookscripts' pre-start work from it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libpt-private.h"

struct member {
	pt_device *dev;
	char *source;
};

struct pt_assignment {
	int refcount;
	pt_enum *e;
	unsigned vm, flags;
	struct member *v;
	size_t n, cap;
	struct pt_strv refusals; /* each "[SOURCE: ]MESSAGE" */
	struct pt_strv why;	 /* each MESSAGE alone */
	struct pt_strv sources;	 /* each SOURCE */
	int *errors;		 /* the refusals' -errno */
	bool *guarded;		 /* each refusal: the guard's (a device the host needs) */
	struct pt_strv forced;	 /* what the guard let go, said on every check */
	bool oom;
};

PT_EXPORT int pt_assignment_new(pt_enum *e, unsigned vm, unsigned flags, pt_assignment **ret)
{
	pt_assignment *a;

	if (!e || !ret)
		return -EINVAL;
	if (vm && pt_check_vmid(e->ctx, vm) < 0)
		return -EINVAL;
	if (flags & ~(PT_ASSIGN_FORCE | PT_ASSIGN_CONSOLE | PT_ASSIGN_MDEV))
		return pt_fail(e->ctx, -EINVAL, "pt_assignment_new: unknown flags 0x%x", flags);
	if (!(a = calloc(1, sizeof(*a))))
		return pt_fail(e->ctx, -ENOMEM, "out of memory");
	a->refcount = 1;
	a->e = pt_enum_ref(e);
	a->vm = vm;
	a->flags = flags;
	*ret = a;
	return 0;
}

static void destroy_assignment(pt_assignment *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i].source);
	free(a->v);
	free(a->errors);
	free(a->guarded);
	pt_strv_free(&a->refusals);
	pt_strv_free(&a->why);
	pt_strv_free(&a->sources);
	pt_strv_free(&a->forced);
	pt_enum_unref(a->e);
	free(a);
}

PT_DEFINE_REFCOUNT(pt_assignment, destroy_assignment)

PT_EXPORT pt_enum *pt_assignment_get_enum(const pt_assignment *a)
{
	return a ? a->e : NULL;
}

PT_EXPORT unsigned pt_assignment_get_vm(const pt_assignment *a)
{
	return a ? a->vm : 0;
}

PT_EXPORT unsigned pt_assignment_get_flags(const pt_assignment *a)
{
	return a ? a->flags : 0;
}

PT_EXPORT size_t pt_assignment_get_device_count(const pt_assignment *a)
{
	return a ? a->n : 0;
}

PT_EXPORT pt_device *pt_assignment_get_device(const pt_assignment *a, size_t i)
{
	return a && i < a->n ? a->v[i].dev : NULL;
}

PT_EXPORT const char *pt_assignment_get_source(const pt_assignment *a, size_t i)
{
	return a && i < a->n ? a->v[i].source : NULL;
}

PT_EXPORT size_t pt_assignment_get_refusal_count(const pt_assignment *a)
{
	return a ? a->refusals.n : 0;
}

PT_EXPORT const char *pt_assignment_get_refusal(const pt_assignment *a, size_t i)
{
	return a && i < a->refusals.n ? a->refusals.v[i] : NULL;
}

/* A refusal, its text cleaned (a mapping's name, an id: from a VM's config); guard: the guard's.
 * Out of memory, the assignment is refused as a whole (a->oom): never let through for want of a
 * word. */
static void refuse_as(pt_assignment *a, int err, const char *source, const char *raw, bool guard)
{
	char *msg = pt_clean_string(raw), *src = pt_clean_string(source ? source : "");
	size_t n = a->refusals.n;
	int *more = msg && src && !a->oom ? reallocarray(a->errors, n + 1, sizeof(*more)) : NULL;
	bool *marks = more ? reallocarray(a->guarded, n + 1, sizeof(*marks)) : NULL;

	if (more)
		a->errors = more;
	if (marks) {
		a->guarded = marks;
		a->guarded[n] = guard;
		a->errors[n] = err;
		if (src[0] && strncmp(msg, src, strlen(src)) != 0)
			pt_strv_addf(&a->refusals, "%s: %s", src, msg);
		else
			pt_strv_add(&a->refusals, msg);
		pt_strv_add(&a->why, msg);
		pt_strv_add(&a->sources, src);
	}
	if (!marks || a->refusals.n != n + 1 || a->why.n != n + 1 || a->sources.n != n + 1)
		a->oom = true;
	free(msg);
	free(src);
}

static void refuse(pt_assignment *a, int err, const char *source, const char *raw)
{
	refuse_as(a, err, source, raw, false);
}

/* A member in address order, once; the first source that brought it stays. */
static void add_member(pt_assignment *a, pt_device *dev, const char *source)
{
	size_t i = 0;

	while (i < a->n && a->v[i].dev->key < dev->key)
		i++;
	if (i < a->n && a->v[i].dev == dev)
		return;
	if (a->n == a->cap) {
		struct member *more = reallocarray(a->v, a->cap ? 2 * a->cap : 8, sizeof(*more));
		if (!more) {
			a->oom = true;
			return;
		}
		a->v = more;
		a->cap = a->cap ? 2 * a->cap : 8;
	}
	char *copy = pt_clean_string(source);
	if (!copy) {
		a->oom = true;
		return;
	}
	memmove(&a->v[i + 1], &a->v[i], (a->n - i) * sizeof(*a->v));
	a->v[i] = (struct member){ dev, copy };
	a->n++;
}

PT_EXPORT int pt_assignment_add_device(pt_assignment *a, const pt_device *dev, const char *source)
{
	if (!a || !dev || dev->e != a->e)
		return a ? pt_fail(a->e->ctx, -EINVAL, "pt_assignment_add_device: a device of another snapshot") : -EINVAL;
	source = source ? source : dev->address;
	if (a->flags & PT_ASSIGN_MDEV) {
		/* the parent stays with the host; only its mediated devices go: so it must be one */
		if (pt_device_get_mdev_type_count(dev) == 0 && !pt_device_has_vgpu(dev)) {
			char msg[128];
			snprintf(msg, sizeof(msg), "%s: not an mdev parent (no mdev types, no vGPU types)", dev->address);
			refuse(a, -EINVAL, source, msg);
			return pt_fail(a->e->ctx, -EINVAL, "%s", msg);
		}
		add_member(a, PT_MUTABLE(pt_device, dev), source);
		return a->oom ? pt_fail(a->e->ctx, -ENOMEM, "out of memory") : 0;
	}
	if (dev->n_set == 0) {
		char *msg;
		int r, err = -EINVAL;
		if (pt_device_is_bridge(dev) || dev->verdict == PT_VERDICT_BRIDGE)
			r = asprintf(&msg, "%s: a bridge stays with the host; pass the devices below it", dev->address);
		else if (!dev->group)
			r = asprintf(&msg, "%s: in no IOMMU group (%s): it cannot be passed through", dev->address,
				     dev->e->n_groups ? "its iommu_group link is missing" : "the IOMMU is off"), err = -ENODEV;
		else
			r = asprintf(&msg, "%s: %s: nothing to pass through", dev->address, pt_verdict_to_string(dev->verdict));
		if (r < 0)
			return pt_fail(a->e->ctx, -ENOMEM, "out of memory");
		refuse(a, err, source, msg);
		free(msg);
	}
	for (size_t i = 0; i < dev->n_set; i++) {
		pt_device *m = dev->set[i];
		char *msg;
		int r = pt_guard_decide(dev, m, a->flags, &msg);
		if (r == -ENOMEM || (r != 0 && !msg))
			return pt_fail(a->e->ctx, -ENOMEM, "out of memory");
		if (r < 0)
			refuse_as(a, r, source, msg, true);
		else if (r == 1 && !pt_strv_has(&a->forced, msg))
			pt_strv_add(&a->forced, msg);
		free(msg);
		add_member(a, m, source);
	}
	return a->oom ? pt_fail(a->e->ctx, -ENOMEM, "out of memory") : 0;
}

/* The devices an id names in the snapshot (a slot: each function), or -EINVAL / -ENOENT. */
static int add_id(pt_assignment *a, const char *id, const char *source, bool refuse_missing)
{
	uint64_t key;
	bool slot, found = false;
	int r = 0;

	if ((r = pt_pci_id_check(a->e->ctx, id, &key, &slot)) < 0)
		return r;
	for (size_t i = 0; i < a->e->n_devices && r == 0; i++) {
		pt_device *d = &a->e->devices[i];
		if (slot ? PT_SLOT(d->key) != PT_SLOT(key) : d->key != key)
			continue;
		found = true;
		r = pt_assignment_add_device(a, d, source);
	}
	if (r == 0 && !found) {
		char *msg;
		if (asprintf(&msg, "host %s: no such PCI device on this host", id) < 0)
			return pt_fail(a->e->ctx, -ENOMEM, "out of memory");
		if (refuse_missing)
			refuse(a, -ENOENT, source, msg);
		else
			r = pt_fail(a->e->ctx, -ENOENT, "%s", msg);
		free(msg);
	}
	return r;
}

PT_EXPORT int pt_assignment_add(pt_assignment *a, const char *id)
{
	if (!a)
		return -EINVAL;
	return add_id(a, id, id, false);
}

/* The ids of a ';'-joined list ("01:00.0;01:00.1"), as qemu-server splits host= and path=; one
 * too long to be an id is left out (the grammar would refuse it). */
static void split_ids(const char *list, struct pt_strv *out)
{
	for (const char *p = list; *p;) {
		size_t len = strcspn(p, ";");
		if (len && len < 64) {
			char id[64];
			snprintf(id, sizeof(id), "%.*s", (int)len, p);
			pt_strv_add(out, id);
		}
		p += len + (p[len] == ';');
	}
}

/* /etc/pve/mapping/pci.cfg and this node's name, read once for all the lines of a config. */
struct pcicfg {
	bool read;
	int r;		    /* 0, or why it could not be read */
	pt_pve_config *cfg; /* NULL: none */
	char node[256];
};

static void pcicfg_free(struct pcicfg *m)
{
	pt_pve_config_unref(m->cfg);
}

/* The paths of a mapping's map lines for this node in /etc/pve/mapping/pci.cfg, ';'-joined
 * paths each an id; every alternative, since qemu-server takes whichever is free. -ENOENT when
 * the mapping is not there. */
static int mapping_paths(pt_ctx *ctx, struct pcicfg *m, const char *mapping, struct pt_strv *out)
{
	size_t i;

	if (!m->read) {
		m->read = true;
		m->r = pt_pve_config_read(ctx, "/etc/pve/mapping/pci.cfg", &m->cfg);
		if (pt_node_self_name(ctx, m->node) < 0)
			m->node[0] = '\0';
	}
	if (m->r < 0)
		return m->r;
	if (pt_pve_config_find(m->cfg, mapping, &i) < 0)
		return -ENOENT;
	for (size_t j = 0; j < pt_pve_config_get_property_count(m->cfg, i); j++) {
		pt_props *props;
		if (strcmp(pt_pve_config_get_key(m->cfg, i, j), "map") != 0 ||
		    pt_props_parse(ctx, pt_pve_config_get_value(m->cfg, i, j), NULL, &props) < 0)
			continue;
		const char *n = pt_props_get(props, "node"), *path = pt_props_get(props, "path");
		if (n && path && strcmp(n, m->node) == 0)
			split_ids(path, out);
		pt_props_unref(props);
	}
	return 0;
}

int pt_mapping_paths(pt_ctx *ctx, const char *mapping, struct pt_strv *out)
{
	struct pcicfg m = { 0 };
	int r = mapping_paths(ctx, &m, mapping, out);
	pcicfg_free(&m);
	return r;
}

/* Whether two hostpci ids name one device (the one grammar): a slot's path (no function) names
 * each of its functions; "01:00.0" is "0000:01:00.0". */
static bool same_id(const char *a, const char *b)
{
	uint64_t ka, kb;
	bool sa, sb;

	if (pt_pci_id_parse(a, &ka, &sa) < 0 || pt_pci_id_parse(b, &kb, &sb) < 0)
		return false;
	return sa || sb ? PT_SLOT(ka) == PT_SLOT(kb) : ka == kb;
}

int pt_mapping_choose(pt_ctx *ctx, unsigned vm, const struct pt_strv *paths, const struct pt_strv *used, char *why,
		      size_t size)
{
	char how[64], fn[80];
	int pick = -EBUSY;

	if (why && size)
		why[0] = '\0';
	for (size_t i = 0; i < paths->n; i++) {
		bool taken = false;
		/* a slot's path: its function 0 carries the reservation */
		snprintf(fn, sizeof(fn), "%s%s", paths->v[i], strchr(paths->v[i], '.') ? "" : ".0");
		unsigned by = pt_pve_reserved_by(ctx, fn, 0, how, sizeof(how));
		if (by && by == vm)
			return (int)i;
		for (size_t u = 0; used && u < used->n && !taken; u++)
			taken = same_id(paths->v[i], used->v[u]);
		if (pick < 0 && !by && !taken)
			pick = (int)i;
		if (why && size && strlen(why) + 48 < size)
			snprintf(why + strlen(why), size - strlen(why), "%s%s %s", why[0] ? ", " : "", paths->v[i],
				 by || taken ? "" : "free");
		if (why && size && (by || taken) && strlen(why) + 32 < size) {
			if (by)
				snprintf(why + strlen(why), size - strlen(why), "held by VM %u", by);
			else
				snprintf(why + strlen(why), size - strlen(why), "on another of its lines");
		}
	}
	return pick;
}

/* The ids a hostpci line names: its host= ids, or its mapping's paths on this node. */
static int line_ids(pt_ctx *ctx, struct pcicfg *m, const pt_props *props, struct pt_strv *ids, const char **mapping)
{
	const char *host = pt_props_get(props, "host");

	*mapping = pt_props_get(props, "mapping");
	if (*mapping)
		return mapping_paths(ctx, m, *mapping, ids);
	split_ids(host ? host : "", ids);
	return 0;
}

/* The config's lines a VM's start reads: the main section's, then [PENDING]'s (qemu-server
 * applies them at start). Line i's key and value; false past the last. */
static bool config_line(const pt_vmconf *c, size_t i, const char **key, const char **value, bool *pending)
{
	size_t main = pt_vmconf_get_key_count(c);

	*pending = i >= main;
	if (i < main) {
		*key = pt_vmconf_get_key(c, i);
		*value = pt_vmconf_get(c, *key);
		return true;
	}
	if (i - main >= pt_vmconf_pending_count(c))
		return false;
	*key = pt_vmconf_pending_key(c, i - main);
	*value = pt_vmconf_pending_value(c, i - main);
	return true;
}

/* A mapping's alternatives (ids) narrowed to the one the VM's start takes (pt_mapping_choose),
 * which joins used; a refusal when every one is taken. */
static int choose_alternative(pt_assignment *a, struct pt_strv *ids, struct pt_strv *used, const char *source)
{
	char why[512], msg[600];
	int i = pt_mapping_choose(a->e->ctx, a->vm, ids, used, why, sizeof(why));

	if (i < 0) {
		snprintf(msg, sizeof(msg), "no alternative on this node is free for VM %u: %s", a->vm, why);
		refuse(a, -EBUSY, source, msg);
		return i;
	}
	char *keep = ids->v[i];
	ids->v[i] = ids->v[0];
	ids->v[0] = keep;
	while (ids->n > 1)
		free(ids->v[--ids->n]);
	pt_strv_add(used, keep);
	return 0;
}

/* The ids of the config's lines that name devices themselves (host=): qemu-server takes them
 * before it chooses a mapping's alternative. */
static void host_ids(pt_ctx *ctx, const pt_vmconf *c, struct pt_strv *used)
{
	const char *key, *value;
	bool pending;

	for (size_t k = 0; config_line(c, k, &key, &value, &pending); k++) {
		pt_props *props;
		if (!pt_key_numbered(key, "hostpci") || pt_props_parse(ctx, value, "host", &props) < 0)
			continue;
		if (!pt_props_get(props, "mapping") && !pt_props_get(props, "mdev") && pt_props_get(props, "host"))
			split_ids(pt_props_get(props, "host"), used);
		pt_props_unref(props);
	}
}

static int add_vmconf(pt_assignment *a, const pt_vmconf *c, struct pcicfg *cfg)
{
	const char *key, *value;
	bool pending;
	pt_ctx *ctx = a->e->ctx;
	struct pt_strv usedv = { 0 }, *used = &usedv;
	int r = 0;

	host_ids(ctx, c, used);
	for (size_t k = 0; r == 0 && config_line(c, k, &key, &value, &pending); k++) {
		const char *mapping;
		struct pt_strv ids = { 0 };
		char source[112];
		pt_props *props;
		if (!pt_key_numbered(key, "hostpci"))
			continue;
		snprintf(source, sizeof(source), "%s%s", pending ? "pending " : "", key);
		if (pt_props_parse(ctx, value, "host", &props) < 0) {
			refuse(a, -EINVAL, source, pt_ctx_last_error(ctx));
			continue;
		}
		if (pt_props_get(props, "mdev")) {
			pt_props_unref(props); /* a mediated device: the parent stays on the host */
			continue;
		}
		int m = line_ids(ctx, cfg, props, &ids, &mapping);
		if (mapping)
			snprintf(source, sizeof(source), "%s%s (mapping %.40s)", pending ? "pending " : "", key, mapping);
		if (m == -ENOENT && mapping)
			refuse(a, -ENOENT, source, "not in /etc/pve/mapping/pci.cfg");
		else if (m < 0)
			refuse(a, m, source, "/etc/pve/mapping/pci.cfg cannot be read");
		else if (ids.n == 0)
			refuse(a, -ENOENT, source, mapping ? "no map line for this node" : "no host id");
		else if (mapping && choose_alternative(a, &ids, used, source) < 0)
			pt_strv_free(&ids); /* refused: none is free */
		for (size_t i = 0; i < ids.n && r == 0; i++) {
			r = add_id(a, ids.v[i], source, true);
			if (r == -EINVAL) {
				refuse(a, -EINVAL, source, pt_ctx_last_error(ctx));
				r = 0;
			}
		}
		pt_strv_free(&ids);
		pt_props_unref(props);
	}
	if (r == 0 && (a->oom || a->refusals.oom || used->oom))
		r = pt_fail(ctx, -ENOMEM, "out of memory");
	pt_strv_free(used);
	return r;
}

PT_EXPORT int pt_assignment_add_vmconf(pt_assignment *a, const pt_vmconf *c)
{
	struct pcicfg cfg = { 0 };

	if (!a)
		return -EINVAL;
	int r = add_vmconf(a, c, &cfg);
	pcicfg_free(&cfg);
	return r;
}

PT_EXPORT int pt_assignment_new_vm(pt_ctx *ctx, unsigned vm, unsigned flags, pt_assignment **ret)
{
	struct pt_strv ids = { 0 };
	pt_assignment *a = NULL;
	pt_vmconf *c;
	pt_enum *e;
	int r;

	if (!ctx || !ret)
		return -EINVAL;
	if ((r = pt_check_vmid(ctx, vm)) < 0)
		return r;
	if ((r = pt_vmconf_read(ctx, vm, &c)) < 0) {
		if (r == -ENOENT)
			return pt_fail(ctx, r, "VM %u has no config on this node (/etc/pve/qemu-server/%u.conf)", vm, vm);
		return r;
	}
	/* only what the lines name is read; a name not there is the assignment's refusal */
	struct pcicfg cfg = { 0 };
	const char *key, *value;
	bool pending;
	for (size_t k = 0; config_line(c, k, &key, &value, &pending); k++) {
		const char *mapping;
		pt_props *props;
		if (!pt_key_numbered(key, "hostpci") || pt_props_parse(ctx, value, "host", &props) < 0)
			continue;
		struct pt_strv line = { 0 };
		if (line_ids(ctx, &cfg, props, &line, &mapping) == 0)
			for (size_t i = 0; i < line.n; i++) {
				uint64_t key_;
				bool slot;
				if (pt_pci_id_parse(line.v[i], &key_, &slot) == 0)
					pt_strv_add(&ids, line.v[i]);
			}
		pt_strv_free(&line);
		pt_props_unref(props);
	}
	if (ids.oom) {
		r = pt_fail(ctx, -ENOMEM, "out of memory");
	} else {
		r = pt_enum_scan_present(ctx, (const char *const *)ids.v, ids.n, &e); /* none: empty */
	}
	pt_strv_free(&ids);
	if (r == 0) {
		r = pt_assignment_new(e, vm, flags, &a);
		pt_enum_unref(e);
	}
	if (r == 0)
		r = add_vmconf(a, c, &cfg);
	pcicfg_free(&cfg);
	pt_vmconf_unref(c);
	if (r < 0) {
		pt_assignment_unref(a);
		return r;
	}
	*ret = a;
	return 0;
}

/* The check; mdev: an assignment of mdev parents is what the caller takes (a mapping). */
static int check(const pt_assignment *a, bool mdev)
{
	if (!a)
		return -EINVAL;
	if ((a->flags & PT_ASSIGN_MDEV) && !mdev)
		return pt_fail(a->e->ctx, -EINVAL, "an assignment of mdev parents (PT_ASSIGN_MDEV) gives a VM their "
			       "mediated devices, never the parents: only a mapping takes it (pt_emit_mapping, "
			       "PT_MAPPING_MDEV)");
	if (a->oom || a->refusals.oom || a->forced.oom)
		return pt_fail(a->e->ctx, -ENOMEM, "out of memory: nothing is given to a VM");
	if (a->refusals.n)
		return pt_fail(a->e->ctx, a->errors[0], "%s", a->refusals.v[0]);
	for (size_t i = 0; i < a->forced.n; i++)
		pt_warn(a->e->ctx, "%s", a->forced.v[i]);
	return 0;
}

PT_EXPORT int pt_assignment_check(const pt_assignment *a)
{
	return check(a, false);
}

int pt_assignment_check_mdev(const pt_assignment *a)
{
	return check(a, true);
}

int pt_assignment_of(pt_ctx *ctx, pt_enum *e, const char *const *ids, size_t n, unsigned vm, unsigned flags,
		     pt_assignment **ret)
{
	pt_assignment *a = NULL;
	int r = 0;

	if (e)
		pt_enum_ref(e);
	else if ((r = n ? pt_enum_scan_devices(ctx, ids, n, 0, &e) : pt_enum_scan_present(ctx, NULL, 0, &e)) < 0)
		return r;
	r = pt_assignment_new(e, vm, flags, &a);
	pt_enum_unref(e);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = pt_assignment_add(a, ids[i]);
	if (r < 0) {
		pt_assignment_unref(a);
		return r;
	}
	*ret = a;
	return 0;
}

const char **pt_assignment_addresses(const pt_assignment *a)
{
	const char **v = calloc(a->n + 1, sizeof(*v));

	for (size_t i = 0; v && i < a->n; i++)
		v[i] = a->v[i].dev->address;
	return v;
}

int pt_assignment_check_in(pt_ctx *ctx, const pt_assignment *a)
{
	int r = pt_assignment_check(a);

	if (r < 0 && ctx && ctx != a->e->ctx)
		pt_fail(ctx, r, "%s", pt_ctx_last_error(a->e->ctx));
	return r;
}

int pt_assignment_refusal(const pt_assignment *a, size_t i, const char **source, const char **why, bool *guard)
{
	if (!a || i >= a->refusals.n || a->why.n != a->refusals.n || a->sources.n != a->refusals.n)
		return 0;
	*source = a->sources.v[i];
	*why = a->why.v[i];
	*guard = a->guarded[i];
	return a->errors[i];
}
