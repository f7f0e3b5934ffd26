/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef LIBPT_PRIVATE_H
#define LIBPT_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <syslog.h>
#include <sys/types.h>

#include "libpt.h"

#define PT_EXPORT __attribute__((visibility("default")))
/* What a const getter reads on first use (libpt.h's third rule) it keeps in the object. */
#define PT_MUTABLE(type, p) ((type *)(uintptr_t)(p))
#define PT_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* An object's pt_X_ref and pt_X_unref (libpt.h's first rule): `refcount` counts, and destroy
 * frees the object when the last reference goes. */
#define PT_DEFINE_REFCOUNT(type, destroy)                                \
	PT_EXPORT type *type##_ref(type *o)                              \
	{                                                                \
		if (o)                                                   \
			o->refcount++;                                   \
		return o;                                                \
	}                                                                \
	PT_EXPORT type *type##_unref(type *o)                            \
	{                                                                \
		if (o && --o->refcount == 0)                             \
			destroy(o);                                      \
		return NULL;                                             \
	}

/* Value structs (libpt.h's second rule). The caller's struct at src, of the size its first
 * member says, into ours (dst, len bytes, min the 1.0 size): -EINVAL below min, -E2BIG for a
 * larger one that sets members this library does not know; the rest of ours zero. */
int pt_struct_in(void *dst, size_t len, size_t min, const void *src);
/* Each value struct's size in libpt 1.0, the least a caller passes: through its last 1.0 member.
 * A release that adds members adds none here, so a program built with 1.0 keeps working. */
#define PT_SIZE_1_0(type, last) (offsetof(type, last) + sizeof(((type *)0)->last))
#define PT_V10(type, last) type * : PT_SIZE_1_0(type, last), const type * : PT_SIZE_1_0(type, last)
#define PT_MIN_SIZE(p)                                                                                       \
	_Generic((p), PT_V10(pt_opts, systemctl), PT_V10(pt_emit_opts, place), PT_V10(pt_link, max_speed),    \
		 PT_V10(pt_usb_event, serial), PT_V10(pt_usb_match, port), PT_V10(pt_qmp_usb, port),          \
		 PT_V10(pt_usb_spec, peer_port), PT_V10(pt_usb_resolved, peer_of),                           \
		 PT_V10(pt_usb_host, was_devnum), PT_V10(pt_node_device, physfn),                            \
		 PT_V10(pt_rom_image, n_device_list), PT_V10(pt_mdev_type, available_instances),             \
		 PT_V10(pt_mdev, type), PT_V10(pt_vgpu_type, name))
#define PT_STRUCT_IN(dst, src) pt_struct_in((dst), sizeof(*(dst)), PT_MIN_SIZE(dst), (src))
/* Ours (src, len bytes) into the caller's at out, as much as its size holds, its size kept;
 * -EINVAL below min. */
int pt_struct_out(void *out, size_t min, const void *src, size_t len);
#define PT_STRUCT_OUT(out, src) pt_struct_out((out), PT_MIN_SIZE(out), (src), sizeof(*(src)))
/* The caller's output struct at p holds at least min bytes (its size member), asked before any
 * work so that a failure writes nothing: 0, else -EINVAL. */
int pt_struct_check(const void *p, size_t min);
#define PT_STRUCT_CHECK(p) pt_struct_check((p), PT_MIN_SIZE(p))
/* r (-EINVAL or -E2BIG, from the two above) on ctx, naming the call and the type. */
int pt_struct_fail(pt_ctx *ctx, int r, const char *call, const char *type);

struct pci_access;
struct pt_strv;
struct kmod_ctx;

enum pt_name { PT_NAME_VENDOR, PT_NAME_DEVICE, PT_NAME_SUBSYSTEM, PT_NAME_CLASS, PT_NAME_MAX };
struct pt_name_cache {
	bool valid;
	unsigned key[4];
	char *name;
};

struct pt_ctx {
	int refcount;
	char *root;	/* as given, for messages: "" when "/" so paths read "/sys/..." */
	int rootfd;	/* every path of the host is opened relative to this */
	pt_log_fn log_fn;
	void *log_data;
	int log_priority;
	char last_error[1024];
	struct pci_access *pacc; /* libpci, opened on first use (names) */
	struct pt_name_cache names[PT_NAME_MAX]; /* the last name of each kind looked up */
	void (*release_names)(pt_ctx *ctx); /* set by names.c when it caches a name */
	void (*release_libpci)(pt_ctx *ctx); /* set by libpci.c when it opens libpci */
	bool libpci_failed;
	struct kmod_ctx *kmod; /* core/kmod.c, made on first use */
	void (*release_kmod)(pt_ctx *ctx);
	bool cpu_vendor_read;	/* host.c, on first use */
	const char *cpu_vendor;
	char *cmdline;		/* host.c, on first use */
	char *zpool;		/* pt_opts.zpool; NULL: the system's */
	char *systemctl;	/* pt_opts.systemctl; NULL: the system's on "/", none elsewhere */
};

void pt_log(pt_ctx *ctx, int priority, const char *file, int line, const char *fn,
	    const char *format, ...) PT_PRINTF(6, 7);
#define pt_dbg(ctx, ...) pt_log(ctx, LOG_DEBUG, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define pt_warn(ctx, ...) pt_log(ctx, LOG_WARNING, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define pt_info(ctx, ...) pt_log(ctx, LOG_INFO, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define pt_debug(ctx, ...) pt_log(ctx, LOG_DEBUG, __FILE__, __LINE__, __func__, __VA_ARGS__)
/* Records the message as the context's last error, logs it, and returns err (< 0). */
int pt_fail(pt_ctx *ctx, int err, const char *format, ...) PT_PRINTF(3, 4);
/* host.c: this node's name as Proxmox knows it (/etc/hostname's first label, under the root;
 * the host name on "/"): 0, or -ENOENT. */
int pt_node_self_name(pt_ctx *ctx, char name[256]);
/* pveconfig.c: a section config's text parsed (for the fuzzers), and a section's first value of
 * a key (NULL for none). */
int pt_pve_config_parse(const char *text, pt_pve_config **ret);
const char *pt_pve_config_value(const pt_pve_config *c, size_t i, const char *key);
/* analysis/locality.c: a CPU (or node) list, "0-3,8", into a bit set of max bits: how many are
 * set, -EINVAL, -ERANGE past max; and a NUMA node's CPUs, as the kernel lists them. */
int pt_cpulist_parse(const char *s, unsigned char *set, size_t max);
int pt_numa_node_cpus(pt_ctx *ctx, long node, char *buf, size_t size);
/* Free huge pages of kb KiB: on a node (node >= 0), or the host's (node < 0); -1 unknown. */
long pt_free_hugepages(pt_ctx *ctx, long node, unsigned long kb);
/* inventory/vmconfig.c: the VM ids of /etc/pve/qemu-server/<id>.conf, sorted (to free); a VM's
 * memory in MiB (`memory: 8192`, `memory: current=8192`; qemu-server's 512 when unset). */
int pt_vmconf_list(pt_ctx *ctx, unsigned **ret, size_t *n);
/* Proxmox's live reservation of a device (/run/qemu-server/pci-id-reservations): its VM other than
 * except, and how ("pid:N", "time:T"), or 0 for none. */
unsigned pt_pve_reserved_by(pt_ctx *ctx, const char *address, unsigned except, char *how, size_t size);
unsigned long pt_vmconf_memory(pt_ctx *ctx, const pt_vmconf *c);
/* analysis/findings.c: lint's state, a finding; a key "PREFIXN" (hostpci0, numa1); the VM's QEMU
 * from qemu-server's pid file, 0 when it does not run. analysis/locality.c: lint of a VM's placement against its
 * devices' NUMA node (in_vm: the key of each of the snapshot's devices the VM's lines name). */
struct pt_lint_finding {
	unsigned vm;
	char *key;
	const char *code;
	char *message;
};
struct pt_lint {
	int refcount;
	pt_ctx *ctx;
	struct pt_lint_finding *v;
	size_t n, cap;
	bool oom;
};
void pt_lint_note(pt_lint *l, unsigned vm, const char *key, const char *code, const char *format, ...) PT_PRINTF(5, 6);
/* inventory/vmconfig.c: "hostpci3" for "hostpci": the prefix and a number */
bool pt_key_numbered(const char *key, const char *prefix);
/* analysis/findings.c: the VM's QEMU (qemu-server's pid file), 0 when it does not run */
long pt_vm_pid(pt_ctx *ctx, unsigned vm);
void pt_lint_locality(pt_lint *l, pt_ctx *ctx, pt_enum *e, unsigned vm, const pt_vmconf *c, const char **in_vm);
void pt_lint_hugepages(pt_lint *l, pt_ctx *ctx, unsigned vm, const pt_vmconf *c);
/* host.c: "add PARAMS to ... then run: ..." for this host's boot loader. */
void pt_host_cmdline_fix(const pt_ctx *ctx, const char *params, char *buf, size_t size);
/* 0, or -EINVAL naming the VM id (pt_vmid_is_valid). */
int pt_check_vmid(pt_ctx *ctx, long long vm);

/* run.c: a program of the system (an absolute path, no PATH search) run with an empty
 * environment, its output to *out (NULL: /dev/null); its exit status, or -errno. */
int pt_run_program(const char *exe, char *const argv[], int *out);
/* exe run to its end within timeout_ms: its exit status (128 + a signal), its stdout (at most
 * max bytes kept, NUL-terminated, to free) into *out when out; -ETIMEDOUT when it took longer
 * (it is killed), or -errno. */
int pt_run_timeout(const char *exe, char *const argv[], unsigned timeout_ms, char **out, size_t max);
#define PT_PROGRAM_TIMEOUT_MS 5000

/* dl.c: a library loaded on first use, once a process: fns[i] (a struct of typed pointers) from
 * names[i]. 0, or -ENOPKG with why in error. */
struct pt_dl {
	const char *soname;
	const char *const *names;
	void **fns;
	size_t n;
	bool tried, loaded;
	char error[256];
};
int pt_dl_load(struct pt_dl *dl);
#define PT_DL(soname, names, fns) { soname, names, (void **)&(fns), sizeof(names) / sizeof(*(names)), false, false, "" }

/* sysfs.c: bounded reads relative to a directory fd; each returns 0 or -errno. */
int pt_read_attr(int dirfd, const char *name, char *buf, size_t size);
int pt_read_bytes(int dirfd, const char *name, void *buf, size_t size, size_t *len);
int pt_read_link(int dirfd, const char *name, char *buf, size_t size);
/* files.c: a process (of the root's /proc) holding path open (a VM's QEMU), 0 for none. */
long pt_path_holder(pt_ctx *ctx, const char *path);
/* A directory whose files are read in turn and kept open until pt_dir_release gives them to a
 * pool that closes many together: the scan's device directories (pt_dir_open: the directory
 * goes with its files) and the groups' `type` files (pt_dir_at: a directory the caller closes). */
struct pt_dir {
	int fd;
	unsigned n_open;
	int open[16];
};
int pt_dir_open(struct pt_dir *d, int at, const char *name);
void pt_dir_at(struct pt_dir *d, int fd);
int pt_dir_read_attr(struct pt_dir *d, const char *name, char *buf, size_t size);
int pt_dir_read_bytes(struct pt_dir *d, const char *name, void *buf, size_t size, size_t *len);
/* Descriptors the scan's threads are done with, closed together: sorted, the runs of
 * consecutive numbers in them are all ours, whatever other threads have open. */
struct pt_fd_pool {
	pthread_mutex_t lock;
	unsigned n;
	int fds[64]; /* with four threads' files in flight, ~128 open at most: far under RLIMIT_NOFILE */
};
void pt_dir_release(struct pt_dir *d, struct pt_fd_pool *pool);
void pt_fd_pool_close(struct pt_fd_pool *pool);
/* parallel.c: fn(arg, i, pool) for each i < n, on several threads when n is large; what an
 * item's call writes is that item's alone. Files read go to the pool. */
typedef void (*pt_parallel_fn)(void *arg, size_t i, struct pt_fd_pool *pool);
void pt_parallel_for(size_t n, pt_parallel_fn fn, void *arg);
int pt_write_attr(int dirfd, const char *path, const char *value);
int pt_open_in_root(int rootfd, const char *path, int flags, mode_t mode);
int pt_open_parent_in_root(int rootfd, const char *path, const char **base);
const char *pt_basename(const char *path);
const char *pt_strip_prefix(const char *s, const char *prefix);
char *pt_clean_string(const char *s);
FILE *pt_fopen_regular(int rootfd, const char *path);
int pt_parse_hex(const char *s, unsigned long long max, unsigned long long *ret);
unsigned long long pt_hex_prefix(const char **p, int *digits);
int pt_parse_uint(const char *s, unsigned long long max, unsigned long long *ret);
/* The text of an open file, as pt_read_attr gives an attribute's. */
int pt_read_fd_text(int fd, char *buf, size_t size);
/* vmconfig.c: the [PENDING] section's keys and values (qemu-server applies them at start) */
size_t pt_vmconf_pending_count(const pt_vmconf *c);
const char *pt_vmconf_pending_key(const pt_vmconf *c, size_t i);
const char *pt_vmconf_pending_value(const pt_vmconf *c, size_t i);

/* address.c */
#define PT_ADDR_MAX 16 /* "10000:01:00.0" and the NUL */
/* The one PCI id grammar: "[DDDD:]BB:SS.F" a function, "[DDDD:]BB:SS" (*slot) a whole slot. */
int pt_pci_id_parse(const char *s, uint64_t *key, bool *slot);
/* The same, -EINVAL with the one message ("ID is not a PCI address ... or slot ...") on ctx. */
int pt_pci_id_check(pt_ctx *ctx, const char *s, uint64_t *key, bool *slot);
/* A function's address only ("DDDD:BB:SS.F" or "BB:SS.F"); key orders addresses. */
int pt_address_parse(const char *s, uint64_t *key);
void pt_address_format(uint64_t key, char buf[PT_ADDR_MAX]);
#define PT_KEY(domain, bus, devfn) (((uint64_t)(domain) << 16) | ((bus) << 8) | (devfn))
/* The slot of an address key: every function of a device shares it. */
#define PT_SLOT(key) ((key) >> 3)

struct pt_group {
	pt_enum *e;
	unsigned number;
	char *type;
	pt_device **members; /* sorted by address */
	size_t n_members;
	pt_device **set;     /* members that go to a VM with any endpoint of the group */
	size_t n_set;
	pt_verdict verdict;  /* of the endpoints whose set is `set` */
};


struct pt_device {
	pt_enum *e;
	uint64_t key;
	char address[PT_ADDR_MAX];
	uint16_t vendor, device, subvendor, subdevice;
	int32_t class;
	uint8_t revision;
	int header_type;
	bool multifunction;
	int boot_vga;
	int numa_node;
	unsigned totalvfs;
	char *driver, *override, *reset_method;
	uint64_t bars[7];
	long group_number; /* -1: none */
	pt_group *group;
	uint64_t parent_key, physfn_key; /* 0 with has_* false: none */
	bool has_parent, has_physfn;
	pt_device *parent, *physfn;
	pt_device **virtfns;
	size_t n_virtfns;
	pt_verdict verdict;
	pt_device **set; /* the group's set */
	size_t n_set;
	char *names[PT_NAME_MAX];
	char **flags; /* json.c, worked out on first use */
	size_t n_flags;
	bool flags_loaded;
	bool names_looked_up[PT_NAME_MAX];
	/* inventory/pciconfig.c (PCI config space), read on demand */
	bool config_loaded;
	size_t config_len;
	int pcie_type; /* -1 conventional PCI, -2 unreadable */
	enum { PT_ACS_ABSENT, PT_ACS_PRESENT, PT_ACS_UNREADABLE } acs;
	uint16_t acs_cap, acs_ctrl;
	/* guard.c, found on first use */
	unsigned critical;
	char *critical_reason;
	/* analysis/link.c, read on first use: the PCIe link */
	bool link_loaded;
	int link_r;
	pt_link link;
	/* analysis/locality.c, read on first use: local_cpulist */
	bool cpus_loaded;
	char *local_cpus;
	/* inventory/variant.c, looked up on first use: its vfio-pci variant driver */
	bool variant_loaded;
	char *variant;
	/* inventory/iommufd.c, read on first use: its VFIO cdev */
	bool cdev_loaded;
	char *cdev;
	/* inventory/power.c, read on first use */
	bool power_loaded;
	char power_state[8];
	int d3cold;
	/* pci.c, read on first use: resourceN_resize */
	bool rebar_loaded;
	uint64_t rebar[6];
	/* mdev.c, read on first use for the whole snapshot */
	pt_mdev_type *mdev_types;
	size_t n_mdev_types;
	pt_mdev *mdevs;
	size_t n_mdevs;
	pt_vgpu_type *vgpu_types;
	size_t n_vgpu_types;
	long vgpu_current;
	bool has_vgpu;
	/* pciattr.c: the scan's warnings about this device, added to the snapshot's in address
	 * order once every device is read (devices are read on several threads) */
	char **scan_warnings;
	unsigned n_scan_warnings;
};

struct pt_enum {
	int refcount;
	pt_ctx *ctx;
	pt_device *devices; /* sorted by key */
	size_t n_devices;
	pt_group *groups;   /* sorted by number */
	size_t n_groups;
	char **warnings;
	size_t n_warnings;
	bool guard_loaded;
	struct pt_usb *usb; /* usb.c, read on first use */
	size_t n_usb;
	bool usb_loaded;
	bool mdev_loaded; /* mdev.c */
	bool partial; /* pt_enum_scan_devices: only the named devices and what they need */
	char *listing; /* pt_enum_new_from_listing: what the listing is (its source), else NULL */
	struct pt_host_facts *host; /* hostfacts.c, read on first use */
	void (*releases[6])(pt_enum *e); /* what frees the parts read on first use */
	unsigned n_releases;
};

/* snapshot.c: the snapshot's life, warnings and lookups */
void pt_enum_add_warning(pt_enum *e, const char *format, ...) PT_PRINTF(2, 3);
static inline bool pt_same_slot(const pt_device *a, const pt_device *b)
{
	return PT_SLOT(a->key) == PT_SLOT(b->key);
}
void pt_enum_take_warning(pt_enum *e, char *msg);
/* A part read on first use registers what frees it with the snapshot. */
void pt_enum_on_release(pt_enum *e, void (*release)(pt_enum *e));
/* mdev.c */
void pt_mdev_load(const pt_enum *e);
pt_group *pt_enum_lookup_group(const pt_enum *e, unsigned number);
pt_device *pt_enum_find_key(const pt_enum *e, uint64_t key);
/* vmconfig.c: the devices a hostpci line's host id names ("01:00.0": that function; "01:00" or
 * "0000:01:00": every function of the slot), up to max into out; returns how many there are. */
size_t pt_enum_find_hostpci(const pt_enum *e, const char *id, pt_device **out, size_t max);
/* pci.c: the scan itself (every device, names NULL, or those named and what they need); and
 * pt_enum_scan_devices with the names that are not there left out */
int pt_scan(pt_ctx *ctx, const char *const *names, size_t n, pt_enum **ret);
int pt_enum_scan_present(pt_ctx *ctx, const char *const *names, size_t n, pt_enum **ret);
/* pciattr.c: the attributes of each device of the sorted list, read by the scan (on several
 * threads on a large host), then their warnings added to the snapshot's in address order */
void pt_pci_read_devices(pt_enum *e, int devicesfd);
/* guard.c: the guard's one decision about member m of what was asked for (asked): 0 it may
 * go, 1 it goes although critical (forced, or the console handed over: the message is the
 * warning), -EBUSY refused (the message is the refusal). flags: PT_TAKE_*. */
int pt_guard_decide(const pt_device *asked, const pt_device *m, unsigned flags, char **msg);
/* assign.c: an assignment of ids, from e or (e NULL) a snapshot of only them under ctx's root;
 * its devices' addresses (borrowed, NULL-terminated; the array to free, NULL out of memory). */
int pt_assignment_of(pt_ctx *ctx, pt_enum *e, const char *const *ids, size_t n, unsigned vm, unsigned flags,
		     pt_assignment **ret);
const char **pt_assignment_addresses(const pt_assignment *a);
/* Refusal i: its -errno, where it came from ("hostpci0", "hostpci1 (mapping gpu)"), why, and
 * whether it is the guard's (a device the host needs; else: nothing there, none free...). */
int pt_assignment_refusal(const pt_assignment *a, size_t i, const char **source, const char **why, bool *guard);
/* pt_assignment_check that takes an assignment of mdev parents (PT_ASSIGN_MDEV): a mapping's */
int pt_assignment_check_mdev(const pt_assignment *a);
/* pt_assignment_check, its message also on ctx when that is another context */
int pt_assignment_check_in(pt_ctx *ctx, const pt_assignment *a);
/* The ids a mapping's map lines name for this node, in their order (every alternative); -ENOENT
 * without the mapping. */
int pt_mapping_paths(pt_ctx *ctx, const char *mapping, struct pt_strv *out);
/* Of a mapping's alternatives on this node (paths, in order), the one VM vm gets at its start,
 * as qemu-server chooses: the one it holds now (a running VM's reservation), else the first no
 * other VM holds and none of used (its config's other lines) takes. The index, or -EBUSY with
 * each alternative and who has it in why. */
int pt_mapping_choose(pt_ctx *ctx, unsigned vm, const struct pt_strv *paths, const struct pt_strv *used, char *why,
		      size_t size);
/* Orders devices by address (qsort, bsearch). */
int pt_device_compare_keys(const void *a, const void *b);
/* iommu.c: reads the groups, then links devices to them and computes sets and verdicts. */
int pt_iommu_scan_groups(pt_enum *e);
int pt_iommu_add_members(pt_enum *e);
int pt_iommu_analyse(pt_enum *e);
/* modprobe.c: the rules of modprobe.d, each with its file and line. */
struct pt_modprobe_rule {
	char *file; /* as the user knows it: ROOT/etc/modprobe.d/vfio.conf */
	unsigned line;
	char kind[16];	 /* blacklist, install, options, softdep, remove */
	char module[64]; /* with '_' for '-' */
	char *value;	 /* the rest of the line */
};
struct pt_modprobe {
	struct pt_modprobe_rule *rules;
	size_t n_rules;
};
int pt_modprobe_load(pt_ctx *ctx, struct pt_modprobe *m);
void pt_modprobe_free(struct pt_modprobe *m);
/* The next rule of that kind for that module from *from on, NULL when none. */
const struct pt_modprobe_rule *pt_modprobe_find(const struct pt_modprobe *m, const char *kind,
						const char *module, size_t *from);
void pt_module_name(char *name);

/* kmod.c: libkmod, loaded on first use (its own calls, pt_ prefixed) */
struct kmod_ctx;
struct kmod_module;
struct kmod_ctx *pt_kmod_context(pt_ctx *ctx);
int pt_kmod_module_new_from_name(struct kmod_ctx *ctx, const char *name, struct kmod_module **mod);
void pt_kmod_module_unref(struct kmod_module *mod);
const char *pt_kmod_module_get_path(const struct kmod_module *mod);
int pt_kmod_module_probe_insert_module(struct kmod_module *mod, unsigned flags);
/* The first module modules.alias gives for alias (libkmod's lookup) into buf: 0, -ENOENT for
 * none, -ENOSYS without libkmod. */
int pt_kmod_alias_module(pt_ctx *ctx, const char *alias, char *buf, size_t size);
/* The PCI driver a module registers (a driver's name may differ from its module's: module
 * pds_vfio_pci, driver pds-vfio-pci) into buf: 0 when the module is loaded (its
 * /sys/module/MOD/drivers/pci:NAME, or a driver of its name in either spelling), -ENOENT when
 * not (buf: the module's name), -EINVAL for a name that is no driver name (buf: ""). */
int pt_module_pci_driver(pt_ctx *ctx, const char *module, char *buf, size_t size);

/* files.c: the one atomic write (temporary file, fsync, rename, fsync of the directory) */
struct stat;
int pt_write_atomic(int dir, const char *name, const char *content, size_t len, mode_t mode,
		    const struct stat *like);

/* files.c: a whole regular file under the root, links resolved inside it (to free, NUL-ended);
 * the removal of a file under the root */
int pt_read_in_root(pt_ctx *ctx, const char *path, size_t max, char **data, size_t *len);
int pt_remove_in_root(pt_ctx *ctx, const char *path);

/* qmp.c: a session on a connected socket (tests/fuzz) */
int pt_qmp_from_fd(pt_ctx *ctx, int fd, const char *where, unsigned timeout_ms, pt_qmp **ret);

/* journal.c: /run/libpt/<address>, one a device libpt holds */
struct pt_journal {
	char address[PT_ADDR_MAX];
	uint16_t vendor, device;
	unsigned vm;
	pid_t pid;
	unsigned long long start; /* the process's start time (/proc/PID/stat field 22), 0 unknown */
	long long time;
	char driver[64];   /* the driver to give it back to, "" for none */
	char override[64]; /* the driver_override to restore, "" for none */
	bool bound;	   /* false while the bind is under way */
};
int pt_journal_lock(pt_ctx *ctx, unsigned timeout_ms);
/* core/sysfs.c: a driver's name as the kernel gives it (letters, digits, '_', '-', '.') */
bool pt_driver_name_valid(const char *s);
int pt_check_driver_name(pt_ctx *ctx, const char *who, const char *what, const char *name);
void pt_journal_unlock(int fd);

/* usbhost.c: libusb, loaded on first use; a device opened as QEMU's usb-host opens it. */
struct libusb_context;
struct libusb_device;
struct libusb_device_handle;
struct pt_usbhost {
	struct libusb_context *usb;
	struct libusb_device **list;
	struct libusb_device_handle *handle;
};
int pt_usbhost_open(pt_ctx *ctx, const pt_usb_resolved *m, struct pt_usbhost *h, pt_usb_host *ret);
int pt_usbhost_reset(pt_ctx *ctx, struct pt_usbhost *h, const pt_usb_host *dev);
void pt_usbhost_end(struct pt_usbhost *h);
/* usb.c: the other half of the physical port a device is at now, "" for none (port/peer). */
void pt_usb_read_peer(pt_ctx *ctx, const char *port, char peer[32]);

/* reset.c: 0, or -EBUSY naming why, for a device a reset or a ROM read may touch now (no VM
 * holding its /dev/vfio/GROUP; for a reset, no host driver either). */
int pt_device_check_free(pt_device *dev, const char *what, bool host_driver_ok);
int pt_journal_write(pt_ctx *ctx, const struct pt_journal *j);
int pt_journal_read(pt_ctx *ctx, const char *address, struct pt_journal *j);
int pt_journal_remove(pt_ctx *ctx, const char *address);
int pt_journal_list(pt_ctx *ctx, char (**ret)[PT_ADDR_MAX], size_t *n);
int pt_journal_put(pt_ctx *ctx, const char *name, const char *text);
int pt_journal_get(pt_ctx *ctx, const char *name, char *buf, size_t size);
int pt_journal_names(pt_ctx *ctx, const char *prefix, struct pt_strv *ret);
/* hold.c: the VM's holds given back newest first, under the lock (plan: only said in steps):
 * how many, or -errno. */
int pt_holds_give_back(pt_ctx *ctx, unsigned vm, bool plan, struct pt_strv *steps);
bool pt_pid_alive(pid_t pid);
/* The start time of a process of the running system (/proc/PID/stat field 22, clock ticks since
 * boot), 0 when unknown; alive: the process exists and, when start is known, started then (a
 * pid reused by another process is not it). */
unsigned long long pt_proc_start(pid_t pid);
bool pt_process_alive(pid_t pid, unsigned long long start);

/* inventory/hostfacts.c: the host's facts, read once for a snapshot */
struct pt_host_mount {
	char mountpoint[1024];
	char source[1024]; /* as the user knows it: "/dev/sda2", "ZFS pool rpool member /dev/sda3" */
	char fstype[64];
	char disk[256];	   /* its block device's sysfs name: "sda2", "dm-0" */
};
struct pt_host_iface {
	char name[64];
};
struct pt_host_input {
	char name[128];
	char path[4096]; /* the sysfs link it hangs under */
};
struct pt_host_facts {
	struct pt_host_mount *mounts; /* the host's own: /, /boot, /boot/efi, /var, Proxmox storage */
	size_t n_mounts;
	/* host filesystems on a ZFS pool whose disks zpool did not say (it timed out, or failed):
	 * mountpoint, and source the pool and why */
	struct pt_host_mount *unknown_pools;
	size_t n_unknown_pools;
	struct pt_host_iface *routes; /* the interfaces of the default routes */
	size_t n_routes;
	struct pt_host_input *keyboards;
	size_t n_keyboards;
	struct pt_host_input *framebuffers; /* those the framebuffer console draws on */
	size_t n_framebuffers;
};
const struct pt_host_facts *pt_host_facts(pt_enum *e);
/* core/host.c: the kernel command line under the root, "" when unreadable */
const char *pt_host_cmdline(pt_ctx *ctx);
/* guard.c */
void pt_guard_load(pt_enum *e);
/* snapshot.c: the PCI device nearest the end of a sysfs path: what a disk, NIC or USB device hangs under. */
pt_device *pt_pci_ancestor(pt_enum *e, const char *path);
/* usb.c */
void pt_usb_load(const pt_enum *e);
/* inventory/pciconfig.c: PCI config space */
void pt_config_load(const pt_device *dev);
/* inventory/libpci.c: fn(the context's libpci handle, arg) with libpci's fatal errors caught: 0,
 * or -EIO when libpci cannot be used (said once) */
int pt_libpci_call(pt_ctx *ctx, void (*fn)(struct pci_access *pacc, void *arg), void *arg);
/* names.c */
const char *pt_names_lookup(pt_device *dev, enum pt_name which);

/* core/strv.c: lists of strings; an allocation that fails marks the list, which is checked once
 * at the end. */
struct pt_strv {
	char **v;
	size_t n, cap;
	bool oom;
};
void pt_strv_add(struct pt_strv *s, const char *str);
void pt_strv_addf(struct pt_strv *s, const char *format, ...) PT_PRINTF(2, 3);
bool pt_strv_has(const struct pt_strv *s, const char *str);
char *pt_strv_join(const struct pt_strv *s, const char *sep);
void pt_strv_free(struct pt_strv *s);
/* The lines of a text (NULL: none) added to out: split at '\n', a last line without one kept. */
void pt_text_lines(const char *text, struct pt_strv *out);
/* emit/cmdline.c: a kernel command line (len bytes) with the words of params it lacks added at
 * its end; to free. */
char *pt_cmdline_add_params(const char *line, size_t len, const char *params);
int pt_strv_compare(const void *a, const void *b);
/* emit/text.c */
char *pt_shell_join(const struct pt_strv *words);
/* The result, the lists moved into it (notes and command words may be NULL). */
int pt_emission_new(pt_ctx *ctx, struct pt_strv *lines, struct pt_strv *notes, struct pt_strv *command,
		    pt_emission **ret);
/* core/strv.c: a name of ASCII letters and digits and the given punctuation, the first a letter
 * (or, with digit_first, a letter or digit): mapping, node, storage and domain names */
bool pt_word_valid(const char *s, bool digit_first, const char *punct);
/* core/strv.c: a value in double quotes, escaped as Lua's %q does (messages name values so) */
const char *pt_quote(char *buf, size_t size, const char *s);
/* emit/proxmox.c */
int pt_emit_opts_copy(pt_ctx *ctx, pt_emit_opts *dst, const pt_emit_opts *src);
/* inventory/usb.c: the usb-host match of a spec by port or id, checked: "1-2.3" or "10c4:ea60"
 * (lower case). */
int pt_usb_spec_host(pt_ctx *ctx, const pt_usb_spec *usb, char host[64]);
/* A caller's spec (*usb, NULL: none) copied into copy, *usb then pointing to it; -EINVAL naming
 * a size that is not a pt_usb_spec's. */
int pt_usb_spec_in(pt_ctx *ctx, const pt_usb_spec **usb, pt_usb_spec *copy);
/* The other half of a spec's port (checked by pt_usb_spec_host), NULL for none. */
const char *pt_usb_spec_peer(const pt_usb_spec *usb);
/* inventory/rom.c: 0, or -EINVAL naming a name that is not a ROM file's */
int pt_romfile_check(pt_ctx *ctx, const char *name);
#define PT_ROM_MAX (64u << 20) /* the largest ROM read; the largest ROM BAR the kernel maps is far smaller */
#define PT_ROMFILE_DIR "/usr/share/kvm"
/* inventory/node.c: a cluster node's devices, each checked where it entered */
struct pt_node_dev {
	char address[PT_ADDR_MAX]; /* as the node gave it */
	uint16_t vendor, device, subvendor, subdevice;
	long group; /* -1: none */
	bool is_vf;
	/* the same as text, for pt_node_get_device */
	char ids[4][5];
	char group_text[16];
	char physfn[PT_ADDR_MAX];
};
struct pt_node {
	int refcount;
	pt_ctx *ctx;
	char *name;
	struct pt_node_dev *devices; /* in the order the node gave them */
	size_t n_devices, cap;
	pt_enum *e; /* this node: the snapshot its devices came from (pt_node_add_enum), for the guard */
};
int pt_node_name_check(pt_ctx *ctx, const char *name);
/* inventory/vfio.c: whether driver (the device's now, or as read from sysfs) is vfio-pci or the
 * device's vfio-pci variant driver, which stands in for it: no host driver holds the device. */
bool pt_device_on_vfio(const pt_device *dev, const char *driver);

#endif
