/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A transaction's steps, each walked both for the plan (a dry run: the exact writes, nothing
 * written, journal included) and for the commit, so the two cannot disagree: the writes to
 * driver_override, unbind and drivers_probe, the wait for a driver, the journal, a device's bind
 * and its restore (txn.c has the sequence and the transaction).
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

#include "txn.h"


int pt_txn_note(pt_txn *t, enum mode mode, const char *format, ...)
{
	char *s;
	va_list args;

	if (mode != PLAN)
		return 0;
	va_start(args, format);
	int n = vasprintf(&s, format, args);
	va_end(args);
	char **p = n < 0 ? NULL : realloc(t->plan, (t->n_plan + 1) * sizeof(*p));
	if (!p) {
		if (n >= 0)
			free(s);
		return -ENOMEM;
	}
	t->plan = p;
	p[t->n_plan++] = s;
	return 0;
}

/* One write, planned or made; a failure names the device, the step and the file. */
int pt_txn_step_write(pt_txn *t, enum mode mode, const struct item *it, const char *what,
		      const char *path, const char *value)
{
	const char *shown = strcmp(value, "\n") == 0 ? "\\n" : value;
	int r;

	if (mode == PLAN)
		return pt_txn_note(t, mode, "%s: write '%s' to %s/%s", it->address, shown, t->ctx->root, path);
	r = pt_write_attr(t->ctx->rootfd, path, value);
	if (r < 0)
		return pt_fail(t->ctx, r, "%s: %s (write '%s' to %s/%s): %s", it->address, what, shown,
			       t->ctx->root, path, strerror(-r));
	return 0;
}

int pt_txn_current_driver(pt_ctx *ctx, const char *address, char *buf, size_t size)
{
	char path[64], link[PATH_MAX];
	int r;

	snprintf(path, sizeof(path), "sys/bus/pci/devices/%s/driver", address);
	r = pt_read_link(ctx->rootfd, path, link, sizeof(link));
	if (r == -ENOENT) {
		snprintf(path, sizeof(path), "sys/bus/pci/devices/%s", address);
		if (faccessat(ctx->rootfd, path, F_OK, 0) < 0)
			return -ENODEV; /* the device itself is gone */
		buf[0] = '\0';
		return 0;
	}
	if (r == 0) {
		const char *name = pt_basename(link);
		if (!pt_driver_name_valid(name) || strlen(name) >= size)
			return pt_fail(ctx, -EINVAL, "%s: %s/%s links to a driver named \"%.80s\", which "
				       "is not a driver name", address, ctx->root, path, name);
		snprintf(buf, size, "%s", name);
	}
	return r;
}

/* The device's driver_override now, "" for none; a value that is no driver name is refused. */
int pt_txn_current_override(pt_ctx *ctx, const char *address, char *buf, size_t size)
{
	char path[64], value[256];
	int r;

	snprintf(path, sizeof(path), "sys/bus/pci/devices/%s/driver_override", address);
	r = pt_read_attr(ctx->rootfd, path, value, sizeof(value));
	if (r == -ENOENT || (r == 0 && strcmp(value, "(null)") == 0)) {
		buf[0] = '\0';
		return 0;
	}
	if (r < 0)
		return pt_fail(ctx, r, "%s: %s/%s: %s", address, ctx->root, path, strerror(-r));
	if (!pt_driver_name_valid(value) || strlen(value) >= size)
		return pt_fail(ctx, -EINVAL, "%s: %s/%s holds \"%.80s\", which is not a driver name",
			       address, ctx->root, path, value);
	snprintf(buf, size, "%s", value);
	return 0;
}

/* Bounded wait with backoff for the driver link: the kernel binds in its own time. */
int pt_txn_wait_driver(pt_txn *t, enum mode mode, const struct item *it, const char *want)
{
	struct timespec start, now;
	unsigned delay_us = 1000;
	char driver[64];
	int r;

	if (mode == PLAN)
		return pt_txn_note(t, mode, "%s: wait until %s/sys/bus/pci/devices/%s/driver is %s", it->address,
			    t->ctx->root, it->address, want[0] ? want : "none");
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		r = pt_txn_current_driver(t->ctx, it->address, driver, sizeof(driver));
		if (r == -ENODEV)
			return pt_fail(t->ctx, r, "%s: the device vanished from %s/sys/bus/pci/devices",
				       it->address, t->ctx->root);
		if (r == 0 && strcmp(driver, want) == 0)
			return 0;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (elapsed >= (long)t->timeout_ms)
			return pt_fail(t->ctx, -ETIMEDOUT, "%s: %s did not bind within %u ms (driver: %s)",
				       it->address, want[0] ? want : "no driver", t->timeout_ms,
				       driver[0] ? driver : "none");
		usleep(delay_us);
		delay_us = delay_us < 64000 ? delay_us * 2 : 100000;
	}
}

int pt_txn_step_journal(pt_txn *t, enum mode mode, struct item *it, bool bound)
{
	if (mode == PLAN)
		return pt_txn_note(t, mode, "%s: journal %s/run/libpt/%s (vm %u, driver %s, override %s, %s)",
			    it->address, t->ctx->root, it->address, t->vm,
			    it->j.driver[0] ? it->j.driver : "none",
			    it->j.override[0] ? it->j.override : "none", bound ? "bound" : "binding");
	it->j.bound = bound;
	it->j.pid = getpid();
	it->j.start = pt_proc_start(getpid());
	it->j.time = (long long)time(NULL);
	return pt_journal_write(t->ctx, &it->j);
}

/* A device held for this VM already stays as it is: the note says the driver it is on. */
static int note_held(pt_txn *t, enum mode mode, const struct item *it)
{
	char want[128];

	if (it->target[0] && strcmp(it->current, it->target) == 0)
		return pt_txn_note(t, mode, "%s: already bound to %s for vm %u", it->address, it->target, t->vm);
	if (it->target[0])
		snprintf(want, sizeof(want), "%s", it->target);
	else
		snprintf(want, sizeof(want), "the driver %s registers", it->module);
	return pt_txn_note(t, mode, "%s: already held for vm %u, bound to %s: left so (restore the vm, then bind "
			   "again, to take it to %s)", it->address, t->vm, it->current[0] ? it->current : "no driver", want);
}

int pt_txn_bind_item(pt_txn *t, enum mode mode, struct item *it)
{
	char path[128], module[64];
	int r;

	if (it->done)
		return note_held(t, mode, it);
	/* the driver's name is known once its module is loaded (pds_vfio_pci registers pds-vfio-pci):
	 * a plan made before that says where the commit reads it, the commit has it */
	bool named = it->target[0] != '\0';
	if (!named && mode == COMMIT)
		return pt_fail(t->ctx, -EINVAL, "%s: the driver of module %s is not known: it is not loaded",
			       it->address, it->module);
	snprintf(module, sizeof(module), "%s", it->module);
	pt_module_name(module); /* /sys/module's spelling */
	if ((r = pt_txn_step_journal(t, mode, it, false)) < 0)
		return r;
	it->touched = mode == COMMIT;
	snprintf(path, sizeof(path), "sys/bus/pci/devices/%s/driver_override", it->address);
	if (named)
		r = pt_txn_step_write(t, mode, it, "set driver_override", path, it->target);
	else
		r = pt_txn_note(t, mode, "%s: write the driver %s registers (read from %s/sys/module/%s/drivers "
				"after loading) to %s/%s", it->address, it->module, t->ctx->root, module, t->ctx->root, path);
	if (r < 0)
		return r;
	bool on_target = named && strcmp(it->current, it->target) == 0;
	if (it->current[0] && !on_target) {
		char what[96];
		snprintf(path, sizeof(path), "sys/bus/pci/drivers/%s/unbind", it->current);
		snprintf(what, sizeof(what), "unbind %s", it->current);
		if ((r = pt_txn_step_write(t, mode, it, what, path, it->address)) < 0)
			return r;
	}
	if (!on_target && (r = pt_txn_step_write(t, mode, it, "probe", "sys/bus/pci/drivers_probe", it->address)) < 0)
		return r;
	if (named)
		r = pt_txn_wait_driver(t, mode, it, it->target);
	else
		r = pt_txn_note(t, mode, "%s: wait until %s/sys/bus/pci/devices/%s/driver is the driver %s registers",
				it->address, t->ctx->root, it->address, it->module);
	if (r < 0)
		return r;
	return pt_txn_step_journal(t, mode, it, true);
}

/* Back to what the journal says, from whatever state a bind (or a crash) left. */
int pt_txn_restore_item(pt_txn *t, enum mode mode, struct item *it)
{
	char path[128], override[128], current[64];
	int r;

	if (mode == COMMIT) {
		r = pt_txn_current_driver(t->ctx, it->address, current, sizeof(current));
		if (r == -ENODEV) /* nothing left to give back */
			return pt_journal_remove(t->ctx, it->address);
		if (r < 0)
			return pt_fail(t->ctx, r, "%s: reading its driver: %s", it->address, strerror(-r));
	} else
		snprintf(current, sizeof(current), "%s", it->current);
	snprintf(override, sizeof(override), "sys/bus/pci/devices/%s/driver_override", it->address);
	bool rebind = strcmp(current, it->j.driver) != 0;
	/* An override it had that names another driver than the one it was bound to (vfio-pci set
	 * over snd_hda_intel) would win the probe: the probe is steered to its driver, then the
	 * override it had is put back. */
	bool steer = rebind && it->j.driver[0] && it->j.override[0] && strcmp(it->j.override, it->j.driver) != 0;
	if (steer)
		r = pt_txn_step_write(t, mode, it, "steer the probe to its driver (driver_override)", override, it->j.driver);
	else
		r = pt_txn_step_write(t, mode, it, "restore driver_override", override, it->j.override[0] ? it->j.override : "\n");
	if (r < 0)
		return r;
	if (rebind) {
		if (current[0]) {
			char what[96];
			snprintf(path, sizeof(path), "sys/bus/pci/drivers/%s/unbind", current);
			snprintf(what, sizeof(what), "unbind %s", current);
			if ((r = pt_txn_step_write(t, mode, it, what, path, it->address)) < 0)
				return r;
		}
		if (it->j.driver[0] &&
		    (r = pt_txn_step_write(t, mode, it, "probe", "sys/bus/pci/drivers_probe", it->address)) < 0)
			return r;
		if ((r = pt_txn_wait_driver(t, mode, it, it->j.driver)) < 0)
			return r;
	}
	if (steer && (r = pt_txn_step_write(t, mode, it, "restore driver_override", override, it->j.override)) < 0)
		return r;
	if (mode == PLAN)
		return pt_txn_note(t, mode, "%s: remove %s/run/libpt/%s", it->address, t->ctx->root, it->address);
	return pt_journal_remove(t->ctx, it->address);
}
