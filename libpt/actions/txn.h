/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A binding transaction's object (txn.c) and its steps, planned or made (txnsteps.c). */
#ifndef LIBPT_TXN_H
#define LIBPT_TXN_H

#include "libpt-private.h"

#define DEFAULT_TIMEOUT_MS 5000
#define LOCK_TIMEOUT_MS 60000 /* another VM's bind or restore, which waits for its drivers */

struct item {
	char address[PT_ADDR_MAX];
	uint16_t vendor, device;
	struct pt_journal j; /* what to give back */
	char current[64];    /* the driver bound now, "" for none */
	char module[64];     /* bind: vfio-pci, or the device's vfio-pci variant driver's module */
	char target[64];     /* bind: the driver it goes to (vfio-pci, the variant's driver); "" for a
			      * variant whose module is not loaded yet (named as it registers it, once loaded) */
	bool done;	     /* bind: already held for this VM; restore: nothing left to do */
	bool touched;	     /* commit changed something */
};

struct pt_txn {
	int refcount;
	pt_ctx *ctx;
	pt_enum *e; /* bind only */
	bool restore;
	unsigned vm;
	unsigned flags;
	unsigned timeout_ms;
	unsigned lock_timeout_ms;
	struct item *items;
	size_t n_items;
	char **plan;
	size_t n_plan;
	bool planned;  /* the plan is made on first use; a dry commit makes it again */
	char **retired;	/* an earlier plan's lines: borrowed strings live as long as the transaction */
	size_t n_retired;
	size_t n_holds; /* restore: the VM's holds (hold.c) given back */
};

enum mode { PLAN, COMMIT };

/* A line of the plan (PLAN) or nothing (COMMIT); -ENOMEM. */
int pt_txn_note(pt_txn *t, enum mode mode, const char *format, ...) PT_PRINTF(3, 4);
int pt_txn_step_write(pt_txn *t, enum mode mode, const struct item *it, const char *what, const char *path, const char *value);
int pt_txn_current_driver(pt_ctx *ctx, const char *address, char *buf, size_t size);
int pt_txn_current_override(pt_ctx *ctx, const char *address, char *buf, size_t size);
int pt_txn_wait_driver(pt_txn *t, enum mode mode, const struct item *it, const char *want);
int pt_txn_step_journal(pt_txn *t, enum mode mode, struct item *it, bool bound);
int pt_txn_bind_item(pt_txn *t, enum mode mode, struct item *it);
int pt_txn_restore_item(pt_txn *t, enum mode mode, struct item *it);

#endif
