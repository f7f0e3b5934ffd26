// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The host plan that makes a passthrough set go to vfio-pci at every boot (pt_host_plan_new): a
 * modprobe.d file (softdeps; `options vfio-pci ids=` only when no other device shares the ids,
 * else a udev rule setting driver_override by address), blacklist lines only when asked,
 * vendor-reset's udev rule for AMD GPUs with the reset bug, a udev rule keeping devices out of
 * D3cold when asked, the initramfs modules (initramfs-tools), and the IOMMU's kernel command line.
 * The plan's object and its changes are hostplan.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostplan.h"

#define MODPROBE "/etc/modprobe.d/libpt-vfio.conf"
#define UDEV "/etc/udev/rules.d/61-libpt-vfio.rules"
#define VENDOR_RESET "/etc/udev/rules.d/62-libpt-vendor-reset.rules"
#define INITRAMFS "/etc/initramfs-tools/modules"
#define D3COLD "/etc/udev/rules.d/63-libpt-d3cold.rules"

/* The kernel's major.minor under the root (0.0 when unknown). */
static void kernel_release(pt_ctx *ctx, unsigned *major, unsigned *minor)
{
	char *text = NULL;

	*major = *minor = 0;
	if (read_host(ctx, "/proc/sys/kernel/osrelease", &text) == 0 && text &&
	    sscanf(text, "%u.%u", major, minor) != 2)
		*major = *minor = 0;
	free(text);
}

static int compare_device_ptrs(const void *a, const void *b)
{
	uint64_t x = (*(pt_device *const *)a)->key, y = (*(pt_device *const *)b)->key;
	return x < y ? -1 : x > y;
}

/* What libpt persisted before, from its own modprobe.d file: the addresses of its header line
 * ("# Written by libpt: A B go to vfio-pci at boot."), and its softdep and blacklist drivers (a
 * device already on vfio-pci, or on its variant, no longer says which driver it had). */
#define HOST_DRIVERS "# Their host drivers: "

static int persisted(struct pt_host_plan *p, struct pt_strv *addresses, struct pt_strv *softdeps,
		     struct pt_strv *blacklisted, struct pt_strv *host_drivers, bool *recorded)
{
	char *text = NULL, word[64];
	const char *head = "# Written by libpt: ";
	int r = read_host(p->ctx, MODPROBE, &text);

	if (r < 0 || !text)
		return r;
	for (char *line = text, *next; *line; line = next) {
		next = line + strcspn(line, "\n");
		if (*next)
			*next++ = '\0';
		if (strncmp(line, head, strlen(head)) == 0) {
			for (char *w = line + strlen(head); *w;) {
				size_t len = strcspn(w, " ");
				uint64_t key;
				snprintf(word, sizeof(word), "%.*s", (int)(len < 63 ? len : 63), w);
				if (pt_address_parse(word, &key) == 0 && !pt_strv_has(addresses, word))
					pt_strv_add(addresses, word);
				w += len + strspn(w + len, " ");
			}
		} else if (strncmp(line, HOST_DRIVERS, strlen(HOST_DRIVERS)) == 0) {
			/* "ADDRESS=DRIVER ...": what each persisted device was on before vfio-pci took it
			 * at boot (once it is there, the device no longer says) */
			*recorded = true;
			for (char *w = line + strlen(HOST_DRIVERS); *w;) {
				size_t len = strcspn(w, " ");
				snprintf(word, sizeof(word), "%.*s", (int)(len < 63 ? len : 63), w);
				char *eq = strchr(word, '=');
				uint64_t key;
				if (eq && (*eq = '\0', pt_address_parse(word, &key) == 0) && pt_driver_name_valid(eq + 1) && eq[1])
					pt_strv_addf(host_drivers, "%s=%s", word, eq + 1);
				w += len + strspn(w + len, " ");
			}
		} else if (sscanf(line, "softdep %63s pre: vfio-pci", word) == 1 && pt_word_valid(word, true, "-_")) {
			if (!pt_strv_has(softdeps, word))
				pt_strv_add(softdeps, word);
		} else if (sscanf(line, "blacklist %63s", word) == 1 && pt_word_valid(word, true, "-_")) {
			if (!pt_strv_has(blacklisted, word))
				pt_strv_add(blacklisted, word);
		}
	}
	free(text);
	return 0;
}

/* The modprobe.d file, and the udev rule when ids= would take devices outside the set: for the
 * union of what libpt persisted before and the set (PT_PLAN_REMOVE: the set taken out), so a
 * second GPU adds to ids=, never replaces the first. A driver is blacklisted only when no device
 * staying on the host uses it. The union, sorted, to *union_ret (to free), for the other rules. */
static int plan_vfio(struct pt_host_plan *p, pt_enum *e, pt_device *const *asked, size_t n_asked, unsigned flags,
		     pt_device ***union_ret, size_t *n_union)
{
	struct pt_strv ids = { 0 }, drivers = { 0 }, shared = { 0 }, addresses = { 0 }, modprobe = { 0 };
	struct pt_strv before = { 0 }, softdeps = { 0 }, blacklisted = { 0 }, kept = { 0 };
	struct pt_strv recorded_drivers = { 0 }, host_drivers = { 0 }, unknown = { 0 };
	pt_device **set;
	size_t n = 0;
	bool recorded = false;
	int r = 0;

	/* what persisted sets are must be read off the whole host: a partial snapshot would drop
	 * them, and miss the devices ids= would also take */
	if (e->partial)
		return pt_fail(p->ctx, -EINVAL, "the host plan needs a scan of the whole host, not of some devices");
	if (!(set = calloc(e->n_devices + n_asked + 1, sizeof(*set))))
		return pt_fail(p->ctx, -ENOMEM, "out of memory");
	if ((r = persisted(p, &before, &softdeps, &blacklisted, &recorded_drivers, &recorded)) < 0) {
		free(set);
		return pt_fail(p->ctx, r, "%s%s: %s", p->ctx->root, MODPROBE, strerror(-r));
	}
	for (size_t i = 0; i < before.n; i++) {
		pt_device *d = NULL;
		bool out = false;
		for (size_t j = 0; j < n_asked; j++)
			out = out || strcmp(asked[j]->address, before.v[i]) == 0;
		if (out && (flags & PT_PLAN_REMOVE))
			continue;
		if (pt_enum_find_device(e, before.v[i], &d) < 0) {
			pt_strv_add(&kept, before.v[i]); /* not on this host now: left out, said in the file */
			continue;
		}
		set[n++] = d;
	}
	for (size_t j = 0; !(flags & PT_PLAN_REMOVE) && j < n_asked; j++) {
		bool have = false;
		for (size_t i = 0; i < n; i++)
			have = have || set[i] == asked[j];
		if (!have)
			set[n++] = asked[j];
	}
	qsort(set, n, sizeof(*set), compare_device_ptrs);
	/* a file written before host drivers were recorded: its softdeps stay, but for the removed
	 * devices' own drivers */
	for (size_t j = 0; !recorded && (flags & PT_PLAN_REMOVE) && j < n_asked; j++)
		for (size_t i = 0; asked[j]->driver && i < softdeps.n; i++)
			if (strcmp(softdeps.v[i], asked[j]->driver) == 0)
				softdeps.v[i][0] = '\0';
	for (size_t i = 0; !recorded && i < softdeps.n; i++)
		if (softdeps.v[i][0] && !pt_strv_has(&drivers, softdeps.v[i]))
			pt_strv_add(&drivers, softdeps.v[i]);
	for (size_t i = 0; i < n; i++) {
		char id[16];
		/* a device on vfio-pci or its variant shows no host driver: the one recorded while it
		 * had it, if any (never the variant: a softdep or blacklist of it is no host driver's,
		 * and a record that named it, an earlier libpt's, names none) */
		const char *on = set[i]->driver;
		const char *driver = on && !pt_device_on_vfio(set[i], on) ? on : NULL;
		size_t len = strlen(set[i]->address);
		for (size_t k = 0; !driver && k < recorded_drivers.n; k++)
			if (strncmp(recorded_drivers.v[k], set[i]->address, len) == 0 && recorded_drivers.v[k][len] == '=' &&
			    !pt_device_on_vfio(set[i], recorded_drivers.v[k] + len + 1))
				driver = recorded_drivers.v[k] + len + 1;
		if (!driver && on && strcmp(on, "vfio-pci"))
			pt_strv_addf(&unknown, "# %s is on its vfio-pci variant %s, which hides its host driver: no softdep "
				     "for it (give it back to its host driver, then persist it again)", set[i]->address, on);
		snprintf(id, sizeof(id), "%04x:%04x", set[i]->vendor, set[i]->device);
		if (!pt_strv_has(&ids, id))
			pt_strv_add(&ids, id);
		if (driver && !pt_strv_has(&drivers, driver))
			pt_strv_add(&drivers, driver);
		if (driver)
			pt_strv_addf(&host_drivers, "%s=%s", set[i]->address, driver);
		pt_strv_add(&addresses, set[i]->address);
	}
	/* ids= takes every device with those ids: only when the set holds all of them */
	for (size_t i = 0; i < e->n_devices; i++) {
		const pt_device *d = &e->devices[i];
		char id[16];
		bool in_set = false;
		snprintf(id, sizeof(id), "%04x:%04x", d->vendor, d->device);
		for (size_t j = 0; j < n; j++)
			in_set = in_set || set[j] == d;
		if (!in_set && pt_strv_has(&ids, id))
			pt_strv_addf(&shared, "%s (%s)", d->address, id);
	}
	char *list = joined(&addresses, " ");
	if (n)
		pt_strv_addf(&modprobe, "# Written by libpt: %s go to vfio-pci at boot.", list ? list : "");
	else
		pt_strv_add(&modprobe, "# Written by libpt: no device goes to vfio-pci at boot (all taken out).");
	if (host_drivers.n) {
		char *h = pt_strv_join(&host_drivers, " ");
		pt_strv_addf(&modprobe, HOST_DRIVERS "%s", h ? h : "");
		free(h);
	}
	if (kept.n) {
		char *k = pt_strv_join(&kept, " ");
		pt_strv_addf(&modprobe, "# Persisted before and not on this host now, left out: %s", k ? k : "");
		free(k);
	}
	for (size_t i = 0; i < unknown.n; i++)
		pt_strv_add(&modprobe, unknown.v[i]);
	for (size_t i = 0; i < drivers.n; i++)
		pt_strv_addf(&modprobe, "softdep %s pre: vfio-pci", drivers.v[i]);
	if (n == 0) {
		/* nothing left: no ids=, and no rule */
		struct pt_strv rules = { 0 };
		char *old = NULL;
		if (read_host(p->ctx, UDEV, &old) == 0 && old) {
			pt_strv_add(&rules, "# Written by libpt: no device is claimed by address.");
			pt_strv_add(&rules, "");
			r = pt_hostplan_change(p, UDEV, joined(&rules, "\n"), "update-initramfs -u -k all", false);
		}
		free(old);
	} else if (shared.n == 0) {
		char *idlist = pt_strv_join(&ids, ",");
		pt_strv_addf(&modprobe, "options vfio-pci ids=%s", idlist ? idlist : "");
		free(idlist);
	} else {
		struct pt_strv rules = { 0 };
		char *others = pt_strv_join(&shared, ", ");
		pt_strv_addf(&modprobe, "# ids= would also take %s: the devices are claimed by address in %s",
			     others ? others : "", UDEV);
		free(others);
		pt_strv_add(&rules, "# Written by libpt: driver_override by address, as ids= would take other devices.");
		for (size_t i = 0; i < n; i++)
			pt_strv_addf(&rules, "ACTION==\"add\", SUBSYSTEM==\"pci\", KERNEL==\"%s\", ATTR{driver_override}=\"vfio-pci\"",
				     set[i]->address);
		pt_strv_add(&rules, "");
		r = pt_hostplan_change(p, UDEV, joined(&rules, "\n"), "update-initramfs -u -k all", false);
	}
	/* a blacklist takes the driver from every device: only where none staying on the host uses it */
	for (size_t i = 0; i < drivers.n; i++) {
		if (!(flags & PT_PLAN_BLACKLIST) && !pt_strv_has(&blacklisted, drivers.v[i]))
			continue;
		const pt_device *user = NULL;
		for (size_t d = 0; d < e->n_devices && !user; d++) {
			bool in_set = false;
			for (size_t j = 0; j < n; j++)
				in_set = in_set || set[j] == &e->devices[d];
			if (!in_set && e->devices[d].driver && strcmp(e->devices[d].driver, drivers.v[i]) == 0)
				user = &e->devices[d];
		}
		if (user)
			pt_strv_addf(&modprobe, "# not blacklisted: %s also drives %s, which stays on the host (the softdep "
				     "is enough)", drivers.v[i], user->address);
		else
			pt_strv_addf(&modprobe, "blacklist %s", drivers.v[i]);
	}
	pt_strv_add(&modprobe, "");
	if (r == 0)
		r = pt_hostplan_change(p, MODPROBE, joined(&modprobe, "\n"), "update-initramfs -u -k all", false);
	pt_strv_free(&modprobe);
	pt_strv_free(&ids);
	pt_strv_free(&drivers);
	pt_strv_free(&shared);
	pt_strv_free(&before);
	pt_strv_free(&softdeps);
	pt_strv_free(&blacklisted);
	pt_strv_free(&kept);
	pt_strv_free(&recorded_drivers);
	pt_strv_free(&host_drivers);
	pt_strv_free(&unknown);
	free(list);
	*union_ret = set;
	*n_union = n;
	return r;
}

/* AMD GPUs with the reset bug: vendor-reset's device_specific method, chosen at every boot
 * (reset_method is the kernel's, not kept). For every set persisted (plan_vfio's union), as the
 * file is one for them all: a second GPU adds its rule, a removed one's goes. Returns 1 when the
 * union has one. */
static int plan_vendor_reset(struct pt_host_plan *p, pt_device *const *set, size_t n)
{
	struct pt_strv rules = { 0 }, seen = { 0 };
	char *old = NULL;
	int r;

	pt_strv_add(&rules, "# Written by libpt: vendor-reset's reset for GPUs with the AMD reset bug.");
	for (size_t i = 0; i < n; i++) {
		const char *bug = pt_device_get_reset_bug(set[i]);
		char id[16];
		snprintf(id, sizeof(id), "%04x:%04x", set[i]->vendor, set[i]->device);
		if (!bug || pt_strv_has(&seen, id))
			continue;
		pt_strv_add(&seen, id);
		pt_strv_addf(&rules,
			     "ACTION==\"add\", SUBSYSTEM==\"pci\", ATTR{vendor}==\"0x%04x\", ATTR{device}==\"0x%04x\", "
			     "ATTR{reset_method}=\"device_specific\"  # %s",
			     set[i]->vendor, set[i]->device, bug);
	}
	bool any = seen.n > 0;
	pt_strv_free(&seen);
	if (!any) {
		pt_strv_free(&rules);
		/* none left: an earlier plan's rule file says so rather than keep its rules */
		if ((r = read_host(p->ctx, VENDOR_RESET, &old)) < 0 || !old)
			return r;
		free(old);
		pt_strv_add(&rules, "# Written by libpt: no GPU persisted here needs vendor-reset's reset.");
	}
	pt_strv_add(&rules, "");
	r = pt_hostplan_change(p, VENDOR_RESET, joined(&rules, "\n"), "udevadm control --reload", false);
	return r < 0 ? r : any;
}

static bool has_address(pt_device *const *set, size_t n, const char *address)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(set[i]->address, address) == 0)
			return true;
	return false;
}

static int compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Devices kept out of D3cold, each by its address, in one file for every set persisted: the
 * devices it named before (a second set adds to them, not replaces them) while they stay in
 * plan_vfio's union (PT_PLAN_REMOVE takes its set out), or are not on this host now (left as
 * they are, as the modprobe.d file says of them); and with PT_PLAN_NO_D3COLD this set's devices
 * that have d3cold_allowed. Only this set's devices are replayed: an add event for every PCI
 * device would run every add rule of the host again. */
static int plan_d3cold(struct pt_host_plan *p, pt_enum *e, pt_device *const *set, size_t n, pt_device *const *asked,
		       size_t n_asked, unsigned flags)
{
	struct pt_strv before = { 0 }, keep = { 0 }, rules = { 0 }, trigger = { 0 };
	char *old = NULL, *command = NULL;
	int r = read_host(p->ctx, D3COLD, &old);

	if (r < 0)
		return pt_fail(p->ctx, r, "%s%s: %s", p->ctx->root, D3COLD, strerror(-r));
	if (!old && (!(flags & PT_PLAN_NO_D3COLD) || (flags & PT_PLAN_REMOVE)))
		return 0;
	bool had = old != NULL;
	pt_text_lines(old, &before);
	free(old);
	for (size_t i = 0; i < before.n; i++) {
		const char *k = strstr(before.v[i], "KERNEL==\"");
		char address[PT_ADDR_MAX];
		uint64_t key;
		pt_device *d = NULL;
		if (before.v[i][0] == '#' || !k)
			continue;
		k += strlen("KERNEL==\"");
		snprintf(address, sizeof(address), "%.*s", (int)strcspn(k, "\""), k);
		if (pt_address_parse(address, &key) < 0 || pt_strv_has(&keep, address))
			continue;
		if (has_address(set, n, address) || pt_enum_find_device(e, address, &d) < 0)
			pt_strv_add(&keep, address);
	}
	pt_strv_free(&before);
	for (size_t i = 0; (flags & PT_PLAN_NO_D3COLD) && !(flags & PT_PLAN_REMOVE) && i < n_asked; i++)
		if (pt_device_get_d3cold_allowed(asked[i]) >= 0 && !pt_strv_has(&keep, asked[i]->address))
			pt_strv_add(&keep, asked[i]->address);
	if (!had && keep.n == 0)
		return 0; /* none of the set has d3cold_allowed: no file */
	if (!keep.oom)
		qsort(keep.v, keep.n, sizeof(*keep.v), compare_strings);
	pt_strv_add(&rules, keep.n ? "# Written by libpt: these devices stay out of D3cold (they may not wake for the next VM)."
				   : "# Written by libpt: no device is kept out of D3cold.");
	for (size_t i = 0; i < keep.n; i++) {
		pt_strv_addf(&rules, "ACTION==\"add\", SUBSYSTEM==\"pci\", KERNEL==\"%s\", ATTR{d3cold_allowed}=\"0\"",
			     keep.v[i]);
		if (!(flags & PT_PLAN_REMOVE) && has_address(asked, n_asked, keep.v[i]))
			pt_strv_addf(&trigger, "/sys/bus/pci/devices/%s", keep.v[i]);
	}
	pt_strv_add(&rules, "");
	bool any = trigger.n > 0;
	char *devices = any ? joined(&trigger, " ") : NULL;
	if ((!any || devices) && asprintf(&command, "udevadm control --reload%s%s",
					  any ? " && udevadm trigger --action=add " : "", any ? devices : "") < 0)
		command = NULL;
	free(devices);
	pt_strv_free(&keep);
	if (!command) {
		pt_strv_free(&rules);
		return pt_fail(p->ctx, -ENOMEM, "out of memory");
	}
	r = pt_hostplan_change(p, D3COLD, joined(&rules, "\n"), command, false);
	free(command);
	return r;
}

/* initramfs-tools: the vfio modules early, so vfio-pci claims before the host driver. */
static int plan_initramfs(struct pt_host_plan *p, bool vendor_reset)
{
	const char *wanted[6];
	size_t n_wanted = 0;
	unsigned major, minor;
	struct pt_strv have = { 0 }, lines = { 0 };
	char *old, *out = NULL;
	int r;

	kernel_release(p->ctx, &major, &minor);
	wanted[n_wanted++] = "vfio";
	if (major < 6 || (major == 6 && minor < 2))
		wanted[n_wanted++] = "vfio_virqfd"; /* merged into vfio in 6.2 */
	wanted[n_wanted++] = "vfio_iommu_type1";
	wanted[n_wanted++] = "vfio_pci";
	if (vendor_reset)
		wanted[n_wanted++] = "vendor-reset";
	if ((r = read_host(p->ctx, INITRAMFS, &old)) < 0)
		return r;
	pt_text_lines(old, &lines);
	for (size_t i = 0; i < lines.n; i++) {
		const char *w = lines.v[i] + strspn(lines.v[i], " \t\r\v\f");
		pt_strv_addf(&have, "%.*s", (int)strcspn(w, " \t\r\n\v\f"), w);
	}
	pt_strv_free(&lines);
	const char *base = old ? old : "# List of modules that you want to include in your initramfs.\n";
	size_t len = strlen(base);
	struct pt_strv add = { 0 };
	for (size_t i = 0; i < n_wanted; i++)
		if (!pt_strv_has(&have, wanted[i]))
			pt_strv_addf(&add, "%s\n", wanted[i]);
	char *tail = joined(&add, "");
	if (tail && asprintf(&out, "%s%s%s", base, len > 0 && base[len - 1] != '\n' ? "\n" : "", tail) < 0)
		out = NULL;
	free(tail);
	free(old);
	pt_strv_free(&have);
	return pt_hostplan_change(p, INITRAMFS, out, "update-initramfs -u -k all", false);
}

static int plan_cmdline(struct pt_host_plan *p, const char *cpu_vendor)
{
	return pt_hostplan_params(p, pt_iommu_params(cpu_vendor ? cpu_vendor : pt_host_cpu_vendor(p->ctx)));
}

static int host_plan(pt_enum *e, pt_device **set, size_t n, unsigned flags, const char *cpu_vendor, pt_host_plan **ret)
{
	struct pt_host_plan *p = NULL;
	int r;

	if ((r = pt_hostplan_new(e->ctx, &p)) < 0)
		return r;
	/* the udev rules are for every set persisted, as the modprobe.d file is: plan_vfio's union */
	pt_device **all = NULL;
	size_t n_all = 0;
	r = plan_vfio(p, e, set, n, flags, &all, &n_all);
	int vendor_reset = r < 0 ? r : plan_vendor_reset(p, all, n_all);
	if (vendor_reset < 0)
		r = vendor_reset;
	if (r == 0)
		r = plan_d3cold(p, e, all, n_all, set, n, flags);
	free(all);
	if (r == 0)
		r = plan_initramfs(p, vendor_reset > 0);
	if (r == 0)
		r = plan_cmdline(p, cpu_vendor);
	return pt_hostplan_done(p, r, ret);
}

PT_EXPORT int pt_host_plan_new(const pt_assignment *a, unsigned flags, const char *cpu_vendor, pt_host_plan **ret)
{
	size_t n = pt_assignment_get_device_count(a);
	pt_device **set;
	pt_enum *e;
	int r;

	if (!a || !ret)
		return -EINVAL;
	e = pt_assignment_get_enum(a);
	if (flags & ~(PT_PLAN_BLACKLIST | PT_PLAN_REMOVE | PT_PLAN_NO_D3COLD))
		return pt_fail(e->ctx, -EINVAL, "pt_host_plan_new: flags %#x: not PT_PLAN_*", flags);
	if (!(flags & PT_PLAN_REMOVE) && (r = pt_assignment_check(a)) < 0)
		return r;
	if (n == 0)
		return pt_fail(e->ctx, -EINVAL, "pt_host_plan_new: no devices");
	if (!(set = calloc(n, sizeof(*set))))
		return pt_fail(e->ctx, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		set[i] = pt_assignment_get_device(a, i);
	r = host_plan(e, set, n, flags, cpu_vendor, ret);
	free(set);
	return r;
}
