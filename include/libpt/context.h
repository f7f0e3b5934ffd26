/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libpt's the context: where every call starts (the root, the log, the last error), and the host's own facts.
 * A part of <libpt.h>, which includes it: include that. */
#ifndef LIBPT_CONTEXT_H
#define LIBPT_CONTEXT_H
#ifndef LIBPT_H_INSIDE
#error "include <libpt.h>, not <libpt/context.h>"
#endif

/* The library context, where every call starts: the root the host is read under, the log, the
 * last error. The other objects are opaque too: a snapshot of the host, its PCI devices and
 * IOMMU groups, a VM's configuration. */
typedef struct pt_ctx pt_ctx;
typedef struct pt_enum pt_enum;
typedef struct pt_device pt_device;
typedef struct pt_group pt_group;
typedef struct pt_vmconf pt_vmconf;

/* Log callback, the shape of kmod_set_log_fn's: priority is a syslog priority. */
typedef void (*pt_log_fn)(void *data, int priority, const char *file, int line,
			  const char *fn, const char *format, va_list args);

/* Options for pt_ctx_new(). Set .size = sizeof(pt_opts); fields added later go at the end. */
typedef struct pt_opts {
	size_t size;
	const char *root;	/* where /sys, /proc, /dev, /run and /etc are read; NULL = "/" */
	pt_log_fn log_fn;	/* NULL: log to stderr at the PT_LOG priority (default: warning) */
	void *log_data;
	const char *zpool;	/* the zpool program asked which disks a ZFS pool the host is on has
				 * (the guard): NULL /usr/sbin/zpool or /sbin/zpool; never a PATH
				 * search; run with an empty environment */
	const char *systemctl;	/* the systemctl that stops and starts the display manager when the
				 * console is handed to a VM (pt_hold_console): NULL /usr/bin/systemctl
				 * on the running system ("/"), none under another root */
} pt_opts;

/* A context for opts (NULL: the defaults) into *ret, logging at warning or at the priority the
 * PT_LOG environment variable names ("debug", "info"... or a number); -EINVAL for a size too
 * small to hold root, -errno when the root does not open as a directory. */
int pt_ctx_new(pt_ctx **ret, const pt_opts *opts);
pt_ctx *pt_ctx_ref(pt_ctx *ctx);
pt_ctx *pt_ctx_unref(pt_ctx *ctx);
/* The root the host is read under, "/" for the running system. */
const char *pt_ctx_get_root(const pt_ctx *ctx);
/* The message of the last failed call on this context, "" when none. */
const char *pt_ctx_last_error(const pt_ctx *ctx);

/* The host under the context's root: its CPU vendor ("intel", "amd", NULL when unknown), the
 * kernel parameters that turn the IOMMU on for passthrough on a CPU of that vendor, and the boot
 * loader that reads them ("systemd-boot" when /etc/kernel/cmdline exists, else "grub"). */
const char *pt_host_cpu_vendor(const pt_ctx *ctx);
const char *pt_iommu_params(const char *vendor);
const char *pt_host_boot_loader(const pt_ctx *ctx);
/* What to do when the IOMMU is off, for this host (the firmware's switch; the parameters for its
 * CPU's vendor, both when unknown, where its boot loader takes them; how to check), as lines of
 * text; to free. NULL when out of memory. The report and the doctor say the same. */
char *pt_host_iommu_advice(const pt_ctx *ctx);

/* A Proxmox VM id: 100 to 999999999 (qemu-server's pve-vmid). The one check libpt and its Lua
 * modules make of a VM id. */
#define PT_VMID_MIN 100
#define PT_VMID_MAX 999999999
int pt_vmid_is_valid(long long vm); /* 1 or 0 */
/* The syslog priority up to which the context logs (LOG_WARNING unless PT_LOG says otherwise). */
void pt_ctx_set_log_priority(pt_ctx *ctx, int priority);
int pt_ctx_get_log_priority(const pt_ctx *ctx);

#endif
