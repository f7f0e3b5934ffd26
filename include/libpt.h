/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libpt: safe, scriptable PCI, GPU and USB passthrough to virtual machines.
 *
 * The rules of libpt 1.0, which every declaration below keeps (README.md, "C API"):
 *  - Objects are opaque and refcounted: pt_X_ref() and pt_X_unref() accept NULL, unref returns
 *    NULL. A device, group or USB device belongs to its snapshot, and its ref keeps the whole
 *    snapshot alive.
 *  - Value structs (pt_opts, pt_usb_spec, pt_link, ...) are the one other kind: plain data whose
 *    first member is `size`, set by the caller to sizeof the struct it was built with
 *    (PT_INIT(type) does it); the library reads and writes only that many bytes, and later
 *    releases add members only at the end. A size below 1.0's is -EINVAL; a larger one (a
 *    program built with a newer header) that sets members this library does not know, -E2BIG.
 *  - Getters take a const object, never fail and never print. Where one reads the host on first
 *    use (names, config space, the guard's facts, USB, links, mdevs), pt_enum_scan()'s PT_LOAD_*
 *    flags read it up front instead: a snapshot scanned with PT_LOAD_ALL reads nothing more and
 *    may be shared by threads; otherwise one object is for one thread at a time.
 *  - Lists are a count and an index: pt_X_get_Y_count(x) and pt_X_get_Y(x, i), i below the
 *    count (NULL, 0 or -ENOENT past the end).
 *  - Fallible calls return 0 (or a count) or -errno, and write their outputs only on success.
 *    The code is the interface: where callers must tell cases apart, each case has its own code,
 *    documented at the call (-ENOENT no such device or file, -EBUSY held by a VM or the host,
 *    -EEXIST already there, -ENOTUNIQ more than one matches, -EPERM not root, -EINVAL a bad
 *    argument). pt_ctx_last_error() is for people: it names the device, the file and the value,
 *    and no program should parse it.
 *  - Borrowed `const char *` results live as long as the object they came from; `char *`
 *    results are the caller's to free().
 *  - The library never prints to stdout, never exits, never aborts on input.
 *
 * The declarations are in parts, one a layer, that this header includes in order (include it,
 * not a part): libpt/context.h (the context, the host's own facts), libpt/snapshot.h (devices,
 * groups, ROMs, mdevs, the report's JSON), libpt/proxmox.h (Proxmox's files: VM configs, section
 * configs, lint), libpt/analysis.h (why a group is shared, the guard, the assignment, the
 * doctor, links, placement), libpt/actions.h (binding transactions, holds, file writes),
 * libpt/usb.h (USB devices, QMP, attach) and libpt/emit.h (Proxmox, libvirt and QEMU
 * configuration, cluster mappings, the host plan).
 */
#ifndef LIBPT_H
#define LIBPT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The version this header is of; pt_version() says the library's at run time. Each release's
 * new symbols get a version node of their own in the library (LIBPT_1.1 { ... } LIBPT_1.0;),
 * what a release shipped never changes, and `make abi-check` (abidiff against abi/) fails a
 * build that breaks it; the soname's major moves only with a deliberate break, said in NEWS.
 */
#define PT_VERSION_MAJOR 1
#define PT_VERSION_MINOR 0
#define PT_VERSION_MICRO 0
#define PT_VERSION_AT_LEAST(major, minor) \
	(PT_VERSION_MAJOR > (major) || (PT_VERSION_MAJOR == (major) && PT_VERSION_MINOR >= (minor)))
/* "1.0.0": the library's version at run time (the header's may be older). */
const char *pt_version(void);
/* A value struct of that type with its size set and every other member zero. */
#define PT_INIT(type) ((type){ .size = sizeof(type) })

#define LIBPT_H_INSIDE
#include <libpt/context.h>
#include <libpt/snapshot.h>
#include <libpt/proxmox.h>
#include <libpt/analysis.h>
#include <libpt/actions.h>
#include <libpt/usb.h>
#include <libpt/emit.h>
#undef LIBPT_H_INSIDE

#ifdef __cplusplus
}
#endif
#endif
