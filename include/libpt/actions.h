/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libpt's what changes the host: binding transactions, holds, configuration files written atomically.
 * A part of <libpt.h>, which includes it: include that. */
#ifndef LIBPT_ACTIONS_H
#define LIBPT_ACTIONS_H
#ifndef LIBPT_H_INSIDE
#error "include <libpt.h>, not <libpt/actions.h>"
#endif

/*
 * Binding transactions. pt_txn_new_bind() takes an assignment's whole set for its VM
 * (pt_assignment_check first: its refusals refuse; force and the console are the assignment's);
 * pt_txn_new_restore() gives back what the journal under /run/libpt says a VM holds, whichever
 * process took it. Each makes its plan then, from the host as it is: the steps are the exact
 * writes, waits and journal changes, in order. Commit decides again under libpt's lock, from
 * what is true then: a device another VM holds is -EBUSY naming the VM; Proxmox's live
 * pci-id-reservations are honoured; a bind left half done by a dead process is undone first. A
 * failed step rolls back every device already touched; the error names the device, the step and
 * the file. With PT_TXN_DRY_RUN commit makes every decision and writes nothing at all.
 */
typedef struct pt_txn pt_txn;
#define PT_TXN_DRY_RUN (1u << 1) /* commit only plans */
#define PT_TXN_VARIANT (1u << 3) /* each device to its variant driver where it has one, else vfio-pci */
int pt_txn_new_bind(const pt_assignment *a, unsigned flags, pt_txn **ret);
int pt_txn_new_restore(pt_ctx *ctx, unsigned vm, unsigned flags, pt_txn **ret);
pt_txn *pt_txn_ref(pt_txn *t);
pt_txn *pt_txn_unref(pt_txn *t);
/* How long to wait for a driver to bind (default 5000 ms). */
void pt_txn_set_timeout(pt_txn *t, unsigned ms);
/* How long commit waits for another process's transaction to let go of the lock (default
 * 60000 ms); it says whom it waits for, and fails with -EBUSY naming the holder. */
void pt_txn_set_lock_timeout(pt_txn *t, unsigned ms);
/* The devices it covers (their addresses), and the plan made when it was created: one line a
 * write, wait or journal change; a commit's dry run plans again, and the steps are then its. */
size_t pt_txn_get_device_count(const pt_txn *t);
const char *pt_txn_get_device(const pt_txn *t, size_t i);
size_t pt_txn_get_step_count(const pt_txn *t);
const char *pt_txn_get_step(const pt_txn *t, size_t i);
/* Carries the plan out, under libpt's lock; with PT_TXN_DRY_RUN, makes every decision the commit
 * would make, from what is true now, and writes nothing. 0, or -errno, what it did rolled back. */
int pt_txn_commit(pt_txn *t);

/*
 * Holds: what a VM holds of the host besides its devices' drivers, each journaled
 * (/run/libpt/hold-VM-SEQ) before it is made and given back by the VM's restore
 * (pt_txn_new_restore: after its devices, newest first), also after a crash. Decided under
 * libpt's lock from what is true then. flags: PT_TXN_DRY_RUN (nothing written). *steps_ret: the
 * writes made (or planned), one a line, to free. A failure gives back what the call took.
 *
 * pt_hold_mdev: an mdev of the parent's TYPE (uuid NULL: a new random one, in uuid_ret) written
 * to its `create`; -ENOSPC when no instance is left, -EEXIST for a UUID in use.
 * pt_hold_vgpu: an NVIDIA vGPU 17+ VF's current_vgpu_type set to TYPE (one of its
 * creatable_vgpu_types; -EBUSY when it has another), given back as 0.
 * pt_hold_console: the host's console handed over for its only GPU: the display manager stopped
 * (systemctl, pt_opts.systemctl), every bound vtconsole unbound, every firmware framebuffer
 * (efi-, vesa-, simple-framebuffer) unbound from its driver; given back in reverse.
 */
int pt_hold_mdev(pt_device *parent, const char *type, const char *uuid, unsigned vm, unsigned flags,
		 char uuid_ret[37], char **steps_ret);
int pt_hold_vgpu(pt_device *vf, long type, unsigned vm, unsigned flags, char **steps_ret);
int pt_hold_console(pt_ctx *ctx, unsigned vm, unsigned flags, char **steps_ret);
/* How many holds the VM has now (journals), or -errno; how many a committed restore gave back. */
int pt_holds_count(pt_ctx *ctx, unsigned vm);
size_t pt_txn_get_hold_count(const pt_txn *t);

/*
 * Writes a host configuration file under the root atomically (a temporary file, fsynced and
 * renamed; links are not followed). With PT_WRITE_BACKUP the old file is first copied to
 * PATH.libpt-<epoch>, whose path as the user knows it (the context's root before it; to free)
 * goes to *backup_ret.
 */
#define PT_WRITE_BACKUP 1u
#define PT_WRITE_MKDIR 2u /* the file's own directory made when missing (not the ones above) */
#define PT_WRITE_EXECUTABLE 4u /* mode 0755 (a replaced file keeps its owner, gains x bits) */
int pt_ctx_write_file(pt_ctx *ctx, const char *path, const char *content, unsigned flags,
		      char **backup_ret);
/* The same for data of any bytes. */
int pt_ctx_write_data(pt_ctx *ctx, const char *path, const void *content, size_t len, unsigned flags,
		      char **backup_ret);

#endif
