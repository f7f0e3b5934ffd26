/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Binding transactions: take a device's whole passthrough set for a VM, and give every device
 * back. The sequence is the driver_override one of libvirt and driverctl:
 *
 *   bind:    (its driver's module loaded, where it is not) driver_override <- vfio-pci, or
 *            the variant's driver; driver/unbind <- BDF; drivers_probe <- BDF;
 *            wait until driver -> vfio-pci (the variant's)
 *   restore: driver_override <- the original (or "\n"); unbind; drivers_probe;
 *            wait until driver -> the original driver
 *
 * One function walks an item's steps both for the plan (a dry run: the exact writes, nothing
 * written, journal included) and for the commit, so the two cannot disagree. The journal is
 * written before the first change to a device and removed after its last restore; a failure
 * rolls back every device already touched, and names the step.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libkmod.h>

#include "txn.h"

/* ---- checks before anything is written ---- */

/* The device at that address is still the one scanned (a hot swap would change it). */
static int reverify(pt_txn *t, const struct item *it)
{
	char path[64], buf[32];
	unsigned long long vendor = 0, device = 0;
	int r;

	snprintf(path, sizeof(path), "sys/bus/pci/devices/%s/vendor", it->address);
	r = pt_read_attr(t->ctx->rootfd, path, buf, sizeof(buf));
	if (r == 0 && pt_parse_hex(buf, 0xffff, &vendor) == 0) {
		snprintf(path, sizeof(path), "sys/bus/pci/devices/%s/device", it->address);
		r = pt_read_attr(t->ctx->rootfd, path, buf, sizeof(buf));
		if (r == 0)
			r = pt_parse_hex(buf, 0xffff, &device);
	}
	if (r == -ENOENT)
		return pt_fail(t->ctx, -ENODEV, "%s: the device vanished since the scan", it->address);
	if (r < 0)
		return pt_fail(t->ctx, r, "%s: %s/%s: %s", it->address, t->ctx->root, path, strerror(-r));
	if (vendor != it->vendor || device != it->device)
		return pt_fail(t->ctx, -ENODEV, "%s: now %04llx:%04llx, was %04x:%04x at scan time: the "
			       "device changed; scan again", it->address, vendor, device, it->vendor, it->device);
	return 0;
}

/* Proxmox's own claims: "<pciid> <vmid> time:<expiry>" or "... pid:<pid>". */
static int check_reservations(pt_txn *t, const struct item *it)
{
	char how[64];
	unsigned vm = pt_pve_reserved_by(t->ctx, it->address, t->vm, how, sizeof(how));

	if (vm)
		return pt_fail(t->ctx, -EBUSY, "%s: reserved by Proxmox for VM %u (%s in "
			       "%s/run/qemu-server/pci-id-reservations)", it->address, vm, how, t->ctx->root);
	return 0;
}

/* Who holds the device, from its journal (held): -EBUSY naming the holder, 1 for a bind a dead
 * process left half done (undone first), 2 for ours already, 0 for free. The commit decides so
 * under the lock; a dry run decides the same from what it reads. */
static int claim_decide(pt_txn *t, const struct item *it, int read, const struct pt_journal *held)
{
	if (read == -ENOENT)
		return 0;
	if (read < 0)
		return read;
	bool alive = held->pid != getpid() && pt_process_alive(held->pid, held->start);
	if (!held->bound && !alive)
		return 1;
	if (held->vm != t->vm)
		return pt_fail(t->ctx, -EBUSY, "%s: held by VM %u (%s by process %ld)", it->address,
			       held->vm, held->bound ? "bound" : "being bound", (long)held->pid);
	if (!held->bound)
		return pt_fail(t->ctx, -EBUSY, "%s: being bound for VM %u by process %ld", it->address,
			       held->vm, (long)held->pid);
	return 2;
}

/* Held for this VM already: left as it is, whatever driver it is on (its plan's note says which);
 * what to give back is the journal's. */
static int held_already(pt_txn *t, struct item *it, const struct pt_journal *held)
{
	int r;

	it->j = *held;
	it->done = true;
	r = pt_txn_current_driver(t->ctx, it->address, it->current, sizeof(it->current));
	return r == -ENODEV ? pt_fail(t->ctx, r, "%s: the device vanished since the scan", it->address) : r;
}

/* A dry run's claim: the commit's decisions, nothing undone. */
static int claim_dry(pt_txn *t, struct item *it)
{
	struct pt_journal held;
	int r = claim_decide(t, it, pt_journal_read(t->ctx, it->address, &held), &held);

	it->done = false; /* decided again: an earlier dry commit's may have changed since */
	if (r == 1)
		pt_warn(t->ctx, "%s: a bind for VM %u that process %ld left unfinished would be undone first",
			it->address, held.vm, (long)held.pid);
	return r < 0 ? r : r == 2 ? held_already(t, it, &held) : check_reservations(t, it);
}

/* Under the lock: who holds the device now. A crashed bind is undone first. */
static int claim(pt_txn *t, struct item *it)
{
	struct pt_journal held;
	int r = claim_decide(t, it, pt_journal_read(t->ctx, it->address, &held), &held);

	if (r < 0)
		return r;
	if (r == 0)
		return check_reservations(t, it);
	if (r == 1) {
		/* A bind that died half way: give the device back before anything else. */
		struct item stale = *it;
		stale.j = held;
		pt_warn(t->ctx, "%s: undoing a bind for VM %u that process %ld left unfinished",
			it->address, held.vm, (long)held.pid);
		if ((r = pt_txn_restore_item(t, COMMIT, &stale)) < 0)
			return r;
		if ((r = pt_txn_current_driver(t->ctx, it->address, it->current, sizeof(it->current))) < 0)
			return r;
		snprintf(it->j.driver, sizeof(it->j.driver), "%s", held.driver);
		snprintf(it->j.override, sizeof(it->j.override), "%s", held.override);
		return check_reservations(t, it);
	}
	return held_already(t, it, &held);
}

/*
 * Under the lock, after the claim: what to give back is what the device has now, not what the
 * scan saw (another VM may have given it back, or taken and returned it, since).
 */
static int read_now(pt_txn *t, struct item *it)
{
	int r;

	if (it->done)
		return 0;
	if ((r = pt_txn_current_driver(t->ctx, it->address, it->current, sizeof(it->current))) < 0)
		return r == -ENODEV ? pt_fail(t->ctx, r, "%s: the device vanished since the scan",
					      it->address) : r;
	if ((r = pt_txn_current_override(t->ctx, it->address, it->j.override, sizeof(it->j.override))) < 0)
		return r;
	snprintf(it->j.driver, sizeof(it->j.driver), "%s", it->current);
	return 0;
}

/*
 * A bind's driver's module (vfio-pci, a variant) loaded, through libkmod on the real host; a
 * blacklist is named. A dry run decides the same and loads nothing. driver: the PCI driver the
 * module registered (pds_vfio_pci's is pds-vfio-pci), "" where a dry run found it not loaded
 * (the commit loads it, then reads the name).
 */
static int ensure_module(pt_txn *t, bool dry, const char *name, char *driver, size_t size)
{
	struct kmod_ctx *kmod;
	struct kmod_module *mod = NULL;
	struct pt_modprobe m;
	int r;

	if (pt_module_pci_driver(t->ctx, name, driver, size) == 0)
		return 0;
	driver[0] = '\0';
	if (pt_modprobe_load(t->ctx, &m) == 0) {
		size_t from = 0;
		const struct pt_modprobe_rule *rule = pt_modprobe_find(&m, "blacklist", name, &from);
		if (rule) {
			r = pt_fail(t->ctx, -EPERM, "%s is not loaded and %s:%u blacklists it "
				    "(blacklist %s): delete that line, then run update-initramfs -u",
				    name, rule->file, rule->line, rule->module);
			pt_modprobe_free(&m);
			return r;
		}
		pt_modprobe_free(&m);
	}
	if (t->ctx->root[0])
		return pt_fail(t->ctx, -ENOENT, "%s is not loaded (no %s/sys/bus/pci/drivers/%s), "
			       "and modules are loaded only on the host itself (root /)", name, t->ctx->root, name);
	if (dry)
		return 0; /* the commit loads it */
	kmod = pt_kmod_context(t->ctx);
	r = kmod ? pt_kmod_module_new_from_name(kmod, name, &mod) : errno == ENOSYS ? -ENOSYS : -ENOMEM;
	if (r == 0)
		r = pt_kmod_module_probe_insert_module(mod, KMOD_PROBE_APPLY_BLACKLIST);
	pt_kmod_module_unref(mod);
	if (r == KMOD_PROBE_APPLY_BLACKLIST)
		return pt_fail(t->ctx, -EPERM, "%s is blacklisted (modprobe.d); remove the blacklist", name);
	if (r < 0)
		return pt_fail(t->ctx, r, "loading %s: %s", name, strerror(-r));
	/* the module's init registers its driver; without one, no device could bind to it */
	for (int i = 0; i < 50; i++) {
		if (pt_module_pci_driver(t->ctx, name, driver, size) == 0)
			return 0;
		usleep(10000);
	}
	char modname[64];
	snprintf(modname, sizeof(modname), "%s", name);
	pt_module_name(modname);
	return pt_fail(t->ctx, -ETIMEDOUT, "loaded %s, but it registered no PCI driver within 500 ms "
		       "(%s/sys/module/%s/drivers)", name, t->ctx->root, modname);
}

/* Whether an item before item i, left to bind, takes the same module (each is loaded once). */
static bool module_seen(const pt_txn *t, size_t i)
{
	for (size_t k = 0; k < i; k++)
		if (!t->items[k].done && strcmp(t->items[k].module, t->items[i].module) == 0)
			return true;
	return false;
}

/*
 * The modules of the items left to bind (those held for this VM already stay as they are),
 * each once, loaded: vfio-pci only where an item takes it (a host that blacklists vfio_pci
 * can still bind its devices to their variants). Each item's driver is then named as its
 * loaded module registered it (pds_vfio_pci's driver is pds-vfio-pci).
 */
static int ensure_vfio(pt_txn *t, bool dry)
{
	for (size_t i = 0; i < t->n_items; i++) {
		char driver[64];
		int r;
		if (t->items[i].done || module_seen(t, i))
			continue;
		if ((r = ensure_module(t, dry, t->items[i].module, driver, sizeof(driver))) < 0)
			return r;
		for (size_t k = i; driver[0] && k < t->n_items; k++)
			if (!t->items[k].done && strcmp(t->items[k].module, t->items[i].module) == 0)
				snprintf(t->items[k].target, sizeof(t->items[k].target), "%s", driver);
	}
	return 0;
}

/* ---- the transaction ---- */

static pt_txn *new_txn(pt_ctx *ctx, unsigned vm, unsigned flags, bool restore)
{
	pt_txn *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->refcount = 1;
	t->ctx = pt_ctx_ref(ctx);
	t->vm = vm;
	t->flags = flags;
	t->restore = restore;
	t->timeout_ms = DEFAULT_TIMEOUT_MS;
	t->lock_timeout_ms = LOCK_TIMEOUT_MS;
	return t;
}

static int add_item(pt_txn *t, const char *address, uint16_t vendor, uint16_t device)
{
	struct item *items = realloc(t->items, (t->n_items + 1) * sizeof(*items));
	if (!items)
		return -ENOMEM;
	t->items = items;
	struct item *it = &items[t->n_items++];
	memset(it, 0, sizeof(*it));
	snprintf(it->address, sizeof(it->address), "%s", address);
	it->vendor = vendor;
	it->device = device;
	snprintf(it->j.address, sizeof(it->j.address), "%s", address);
	it->j.vendor = vendor;
	it->j.device = device;
	it->j.vm = t->vm;
	return 0;
}

/* The items of an assignment's set, each once. */
static int add_assignment(pt_txn *t, const pt_assignment *a)
{
	for (size_t i = 0; i < pt_assignment_get_device_count(a); i++) {
		pt_device *m = pt_assignment_get_device(a, i);
		int r;
		bool have = false;
		for (size_t k = 0; k < t->n_items && !have; k++)
			have = strcmp(t->items[k].address, m->address) == 0;
		if (have)
			continue;
		if ((r = add_item(t, m->address, m->vendor, m->device)) < 0)
			return pt_fail(t->ctx, r, "%s: %s", m->address, strerror(-r));
		struct item *it = &t->items[t->n_items - 1];
		snprintf(it->current, sizeof(it->current), "%s", m->driver ? m->driver : "");
		snprintf(it->j.driver, sizeof(it->j.driver), "%s", it->current);
		/* its vfio-pci variant driver where asked and it has one, else vfio-pci */
		const char *variant = t->flags & PT_TXN_VARIANT ? pt_device_get_variant_driver(m) : NULL;
		snprintf(it->module, sizeof(it->module), "%s", variant ? variant : "vfio-pci");
		snprintf(it->target, sizeof(it->target), "%s", "vfio-pci");
		if (variant && pt_module_pci_driver(t->ctx, variant, it->target, sizeof(it->target)) < 0)
			it->target[0] = '\0'; /* named as its module registers it, once loaded */
		snprintf(it->j.override, sizeof(it->j.override), "%s", m->override ? m->override : "");
	}
	return 0;
}

static int make_plan(pt_txn *t, bool again);

PT_EXPORT int pt_txn_new_bind(const pt_assignment *a, unsigned flags, pt_txn **ret)
{
	pt_enum *e;
	pt_txn *t;
	int r;

	if (!a || !ret)
		return -EINVAL;
	e = pt_assignment_get_enum(a);
	if ((r = pt_check_vmid(e->ctx, pt_assignment_get_vm(a))) < 0)
		return r;
	if (flags & ~(PT_TXN_DRY_RUN | PT_TXN_VARIANT))
		return pt_fail(e->ctx, -EINVAL, "pt_txn_new_bind: flags %#x: PT_TXN_DRY_RUN, PT_TXN_VARIANT", flags);
	if ((r = pt_assignment_check(a)) < 0)
		return r;
	t = new_txn(e->ctx, pt_assignment_get_vm(a), flags, false);
	if (!t)
		return -ENOMEM;
	t->e = pt_enum_ref(e);
	if (pt_assignment_get_device_count(a) == 0)
		r = pt_fail(e->ctx, -EINVAL, "nothing to pass through");
	if (r < 0 || (r = add_assignment(t, a)) < 0 || (r = make_plan(t, false)) < 0) {
		pt_txn_unref(t);
		return r;
	}
	*ret = t;
	return 0;
}

/*
 * The devices the VM holds, from the journals: at planning, and again under the lock at commit
 * (a journal may have gone, or changed hands, in between). A damaged journal is skipped with
 * a warning naming it: the VM's other devices still go back.
 */
static int collect_restore(pt_txn *t)
{
	char (*list)[PT_ADDR_MAX];
	size_t n;
	int r;

	t->n_items = 0;
	if ((r = pt_journal_list(t->ctx, &list, &n)) < 0)
		return r == -ENOMEM ? pt_fail(t->ctx, r, "%s/run/libpt: %s", t->ctx->root, strerror(-r)) : r;
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct pt_journal j;
		int jr = pt_journal_read(t->ctx, list[i], &j);
		if (jr == -ENOENT)
			continue;
		if (jr < 0) {
			pt_warn(t->ctx, "%s (skipped)", t->ctx->last_error);
			continue;
		}
		if (j.vm != t->vm)
			continue;
		if ((r = add_item(t, j.address, j.vendor, j.device)) < 0)
			break;
		struct item *it = &t->items[t->n_items - 1];
		it->j = j;
		r = pt_txn_current_driver(t->ctx, it->address, it->current, sizeof(it->current));
		if (r == -ENODEV) {
			snprintf(it->current, sizeof(it->current), "%s", "(vanished)");
			r = 0;
		}
	}
	free(list);
	return r;
}

PT_EXPORT int pt_txn_new_restore(pt_ctx *ctx, unsigned vm, unsigned flags, pt_txn **ret)
{
	pt_txn *t;
	int r;

	if (!ctx || !ret)
		return -EINVAL;
	if ((r = pt_check_vmid(ctx, vm)) < 0)
		return r;
	if (flags & ~PT_TXN_DRY_RUN)
		return pt_fail(ctx, -EINVAL, "pt_txn_new_restore: flags %#x: only PT_TXN_DRY_RUN", flags);
	t = new_txn(ctx, vm, flags, true);
	if (!t)
		return -ENOMEM;
	if ((r = collect_restore(t)) < 0 || (r = make_plan(t, false)) < 0) {
		pt_txn_unref(t);
		return r;
	}
	*ret = t;
	return 0;
}

PT_EXPORT pt_txn *pt_txn_ref(pt_txn *t)
{
	if (t)
		t->refcount++;
	return t;
}

PT_EXPORT pt_txn *pt_txn_unref(pt_txn *t)
{
	if (!t || --t->refcount > 0)
		return NULL;
	for (size_t i = 0; i < t->n_retired; i++)
		free(t->retired[i]);
	free(t->retired);
	for (size_t i = 0; i < t->n_plan; i++)
		free(t->plan[i]);
	free(t->plan);
	free(t->items);
	pt_enum_unref(t->e);
	pt_ctx_unref(t->ctx);
	free(t);
	return NULL;
}

PT_EXPORT void pt_txn_set_timeout(pt_txn *t, unsigned ms)
{
	if (t)
		t->timeout_ms = ms;
}

PT_EXPORT void pt_txn_set_lock_timeout(pt_txn *t, unsigned ms)
{
	if (t)
		t->lock_timeout_ms = ms;
}

static int make_plan(pt_txn *t, bool again)
{
	int r = 0;

	if (t->planned && !again)
		return 0;
	if (t->n_plan) {
		char **more = realloc(t->retired, (t->n_retired + t->n_plan) * sizeof(*more));
		if (!more)
			return -ENOMEM; /* the old plan stays */
		t->retired = more;
		memcpy(t->retired + t->n_retired, t->plan, t->n_plan * sizeof(*more));
		t->n_retired += t->n_plan;
	}
	t->n_plan = 0;
	/* the commit first loads each module the devices left to bind take, once, where not loaded */
	for (size_t i = 0; r == 0 && !t->restore && i < t->n_items; i++) {
		const struct item *it = &t->items[i];
		char driver[64];
		if (!it->done && !module_seen(t, i) && pt_module_pci_driver(t->ctx, it->module, driver, sizeof(driver)) < 0)
			r = pt_txn_note(t, PLAN, "load module %s (modprobe %s)", it->module, it->module);
	}
	for (size_t i = 0; r == 0 && i < t->n_items; i++)
		r = t->restore ? pt_txn_restore_item(t, PLAN, &t->items[i]) : pt_txn_bind_item(t, PLAN, &t->items[i]);
	if (r == 0 && t->restore) {
		/* then what else the VM holds, newest first */
		struct pt_strv steps = { 0 };
		r = pt_holds_give_back(t->ctx, t->vm, true, &steps);
		for (size_t i = 0; r >= 0 && i < steps.n; i++)
			r = pt_txn_note(t, PLAN, "%s", steps.v[i]);
		pt_strv_free(&steps);
	}
	t->planned = r == 0;
	return r < 0 ? r : 0;
}

PT_EXPORT size_t pt_txn_get_step_count(const pt_txn *t)
{
	return t ? t->n_plan : 0;
}

PT_EXPORT const char *pt_txn_get_step(const pt_txn *t, size_t i)
{
	return t && i < t->n_plan ? t->plan[i] : NULL;
}

PT_EXPORT size_t pt_txn_get_device_count(const pt_txn *t) { return t->n_items; }
PT_EXPORT size_t pt_txn_get_hold_count(const pt_txn *t) { return t->n_holds; }

PT_EXPORT const char *pt_txn_get_device(const pt_txn *t, size_t i)
{
	return i < t->n_items ? t->items[i].address : NULL;
}

/* Gives back every device the failed commit touched, newest first; keeps the first error. */
static void rollback(pt_txn *t, size_t upto)
{
	char first[sizeof(t->ctx->last_error)];

	snprintf(first, sizeof(first), "%s", t->ctx->last_error);
	for (size_t i = upto + 1; i-- > 0;) {
		struct item *it = &t->items[i];
		if (!it->touched)
			continue;
		if (pt_txn_restore_item(t, COMMIT, it) < 0) {
			char again[2 * sizeof(first) + 64];
			snprintf(again, sizeof(again), "%s; rolling back: %s (its journal stays: run restore)",
				 first, t->ctx->last_error);
			snprintf(first, sizeof(first), "%.*s", (int)sizeof(first) - 1, again);
		}
	}
	snprintf(t->ctx->last_error, sizeof(t->ctx->last_error), "%s", first);
}

PT_EXPORT int pt_txn_commit(pt_txn *t)
{
	int lock, r = 0;
	size_t i;

	if (t->flags & PT_TXN_DRY_RUN) {
		/* every decision the commit makes, from what is true now; nothing written */
		if (!t->restore) {
			for (i = 0; r == 0 && i < t->n_items; i++)
				r = reverify(t, &t->items[i]);
			for (i = 0; r == 0 && i < t->n_items; i++)
				r = claim_dry(t, &t->items[i]);
			if (r == 0)
				r = ensure_vfio(t, true);
		}
		return r < 0 ? r : make_plan(t, true);
	}
	lock = pt_journal_lock(t->ctx, t->lock_timeout_ms);
	if (lock < 0)
		return lock;
	/* Everything below is decided from what is true now, under the lock. */
	if (t->restore)
		r = collect_restore(t);
	else {
		for (i = 0; r == 0 && i < t->n_items; i++)
			r = reverify(t, &t->items[i]);
		for (i = 0; r == 0 && i < t->n_items; i++)
			r = claim(t, &t->items[i]);
		for (i = 0; r == 0 && i < t->n_items; i++)
			r = read_now(t, &t->items[i]);
		if (r == 0)
			r = ensure_vfio(t, false);
	}
	for (i = 0; r == 0 && i < t->n_items; i++)
		r = t->restore ? pt_txn_restore_item(t, COMMIT, &t->items[i]) : pt_txn_bind_item(t, COMMIT, &t->items[i]);
	if (r < 0 && !t->restore && i > 0)
		rollback(t, i - 1);
	if (r == 0 && t->restore) {
		struct pt_strv steps = { 0 };
		int given = pt_holds_give_back(t->ctx, t->vm, false, &steps);
		pt_strv_free(&steps);
		r = given < 0 ? given : 0;
		t->n_holds = given < 0 ? 0 : (size_t)given;
	}
	pt_journal_unlock(lock);
	return r;
}
