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

/*
 * One immutable snapshot of the host's PCI devices and IOMMU groups, read from sysfs in one
 * pass. Devices and groups belong to their snapshot: pt_device_ref/pt_group_ref keep the whole
 * snapshot alive.
 *
 * What the scan reads besides each device's own attributes is read when a getter first needs it,
 * unless flags read it up front: then no getter reads the host again, and a snapshot read with
 * PT_LOAD_ALL can be read by several threads at once. A part that cannot be read gives its
 * getters' "unknown" (NULL, -1 or -ENOENT, as each says), whenever it is read. The guard's facts
 * are the mounts, ZFS pools (zpool is run), default routes, keyboards and the console.
 */
#define PT_LOAD_NAMES (1u << 0)	   /* vendor, device, subsystem and class names (hwdb, pci.ids) */
#define PT_LOAD_CONFIG (1u << 1)   /* config space: PCIe port type, ACS (all of it only as root) */
#define PT_LOAD_GUARD (1u << 2)	   /* the guard's host facts (runs zpool) and device flags */
#define PT_LOAD_USB (1u << 3)	   /* the USB devices */
#define PT_LOAD_MDEV (1u << 4)	   /* mdev types, mdevs, vGPU types */
#define PT_LOAD_PLACEMENT (1u << 5) /* PCIe links, local CPUs, resizable BARs, power states */
#define PT_LOAD_DRIVERS (1u << 6)   /* vfio-pci variant drivers (modules.alias), VFIO cdevs */
#define PT_LOAD_ALL 0x7fu
int pt_enum_scan(pt_ctx *ctx, unsigned flags, pt_enum **ret);
pt_enum *pt_enum_ref(pt_enum *e);
pt_enum *pt_enum_unref(pt_enum *e);
/* Devices sorted by address. */
size_t pt_enum_get_device_count(const pt_enum *e);
pt_device *pt_enum_get_device(const pt_enum *e, size_t i);
/* A snapshot of some devices only: those named (addresses, or slots "DDDD:BB:SS" for all their
 * functions) and what their answers need (their slots' functions, IOMMU groups' members, the
 * bridges above them, their PFs), each answer about them the one a full scan gives; the other
 * devices are not read (a pre-start on a host of thousands of functions). -ENOENT names a device
 * not there. pt_enum_is_partial() tells such a snapshot (1) from a full one (0). */
int pt_enum_scan_devices(pt_ctx *ctx, const char *const *names, size_t n, unsigned flags, pt_enum **ret);
int pt_enum_is_partial(const pt_enum *e);
/* Accepts "0000:01:00.0", "10000:01:00.0" and the short "01:00.0" (domain 0), and a slot
 * ("0000:01:00", "01:00": its function 0). -ENOENT, -EINVAL. */
int pt_enum_find_device(const pt_enum *e, const char *address, pt_device **ret);
/* Groups sorted by number. */
size_t pt_enum_get_group_count(const pt_enum *e);
pt_group *pt_enum_get_group(const pt_enum *e, size_t i);
/* The group with that number; -ENOENT. */
int pt_enum_find_group(const pt_enum *e, unsigned number, pt_group **ret);
/* 1 when the host has IOMMU groups (the IOMMU is on), 0 when it has none. */
int pt_enum_has_iommu(const pt_enum *e);
/* Problems met while scanning (an unreadable or garbled attribute); the scan went on. */
size_t pt_enum_get_warning_count(const pt_enum *e);
const char *pt_enum_get_warning(const pt_enum *e, size_t i);

/* The snapshot a device belongs to, and a snapshot's context (borrowed). */
pt_enum *pt_device_get_enum(const pt_device *dev);
pt_ctx *pt_enum_get_context(const pt_enum *e);

/* A PCI function of a snapshot, as the scan read it: its address, ids, names, driver, IOMMU
 * group, BARs, and its place among bridges and SR-IOV functions. */
pt_device *pt_device_ref(pt_device *dev);
pt_device *pt_device_unref(pt_device *dev);
/* "0000:01:00.0"; the domain has 4 or 5 hex digits. */
const char *pt_device_get_address(const pt_device *dev);
unsigned pt_device_get_domain(const pt_device *dev);
unsigned pt_device_get_bus(const pt_device *dev);
unsigned pt_device_get_slot(const pt_device *dev);
unsigned pt_device_get_function(const pt_device *dev);
uint16_t pt_device_get_vendor_id(const pt_device *dev);
uint16_t pt_device_get_device_id(const pt_device *dev);
uint16_t pt_device_get_subsystem_vendor_id(const pt_device *dev);
uint16_t pt_device_get_subsystem_device_id(const pt_device *dev);
/* 24-bit class: base class, subclass, programming interface; -1 when unreadable. */
int32_t pt_device_get_class(const pt_device *dev);
/* The revision ID. */
uint8_t pt_device_get_revision(const pt_device *dev);
/* From libpci's name lookup (udev hwdb, then pci.ids); NULL when unknown, and the subsystem's
 * for subsystem ids that are the device's own (libpci would repeat the device's name). */
const char *pt_device_get_vendor_name(const pt_device *dev);
const char *pt_device_get_device_name(const pt_device *dev);
const char *pt_device_get_subsystem_name(const pt_device *dev);
const char *pt_device_get_class_name(const pt_device *dev);
/* The bound driver, NULL when none. */
const char *pt_device_get_driver(const pt_device *dev);
/* driver_override, NULL when unset. */
const char *pt_device_get_driver_override(const pt_device *dev);
/* NULL when the device has no IOMMU group. */
pt_group *pt_device_get_group(const pt_device *dev);
/* 1 or 0; -1 when the device has no boot_vga attribute (not a VGA device). */
int pt_device_get_boot_vga(const pt_device *dev);
/* reset_method as the kernel lists it ("flr bus"), "" for none, NULL when the kernel
 * predates the attribute (< 5.15). */
const char *pt_device_get_reset_method(const pt_device *dev);
/* -1 when unknown. */
int pt_device_get_numa_node(const pt_device *dev);
/* Size in bytes of BAR i (0-5) or of the expansion ROM (i = 6); 0 when unused. */
uint64_t pt_device_get_bar_size(const pt_device *dev, unsigned i);
/* The sizes BAR i can be resized to (resourceN_resize, Linux 6.1+): bit n for 2^n MiB; 0 when
 * the kernel offers no resizing (PT_LOAD_PLACEMENT). */
uint64_t pt_device_get_bar_resizable(const pt_device *dev, unsigned i);
/* Header type without the multifunction bit: 0 endpoint, 1 PCI bridge, 2 CardBus; -1 unknown. */
int pt_device_get_header_type(const pt_device *dev);
/* The vfio-pci variant driver for the device (a vendor's stand-in for vfio-pci with migration or
 * quirks: "mlx5_vfio_pci"), as modules.alias gives it for the device's ids (the kernel's
 * `vfio_pci:` alias, looked up with libkmod); NULL for none (PT_LOAD_DRIVERS). */
const char *pt_device_get_variant_driver(const pt_device *dev);
/* Its power state as the kernel says it ("D0", "D3hot", "D3cold"; power_state, Linux 5.16+), NULL
 * where it does not; whether its port may put it in D3cold (d3cold_allowed): 1, 0, or -1 unknown
 * (PT_LOAD_PLACEMENT). A GPU left in D3cold may not wake for the next VM: PT_PLAN_NO_D3COLD. */
const char *pt_device_get_power_state(const pt_device *dev);
int pt_device_get_d3cold_allowed(const pt_device *dev);
/*
 * IOMMUFD (Linux 6.6+): pt_host_has_iommufd is 1 when the kernel has /dev/iommu and VFIO's device
 * cdevs (sys/class/vfio-dev), 0 otherwise; a device bound to vfio-pci then has its cdev,
 * "/dev/vfio/devices/vfio0" (vfio-dev/vfioN; NULL for none: not bound, or an older kernel;
 * PT_LOAD_DRIVERS). pt_qemu_has_iommufd asks QEMU (qemu: its absolute path; NULL
 * /usr/bin/qemu-system-x86_64 on "/", none under another root) whether it has the iommufd object
 * (QEMU 9.0+): 1, 0, or -errno. The QEMU emitter opens devices through it with PT_EMIT_IOMMUFD.
 */
int pt_host_has_iommufd(const pt_ctx *ctx);
const char *pt_device_get_vfio_cdev(const pt_device *dev);
int pt_qemu_has_iommufd(pt_ctx *ctx, const char *qemu);
/* 1 for a PCI or CardBus bridge, for a function of a multifunction device; 0 otherwise. */
int pt_device_is_bridge(const pt_device *dev);
int pt_device_is_multifunction(const pt_device *dev);
/* The upstream bridge, NULL for a device on a root bus. */
pt_device *pt_device_get_parent(const pt_device *dev);
/* SR-IOV: the physical function of a VF; the VFs of a PF. */
pt_device *pt_device_get_physfn(const pt_device *dev);
size_t pt_device_get_virtfn_count(const pt_device *dev);
pt_device *pt_device_get_virtfn(const pt_device *dev, size_t i);
/* sriov_totalvfs, 0 when the device cannot create virtual functions. */
unsigned pt_device_get_sriov_totalvfs(const pt_device *dev);
/* Creates n virtual functions (0 removes them); a new scan shows them. */
int pt_device_set_sriov_numvfs(pt_device *dev, unsigned n);
/* Waits at most timeout_ms until the PF has n VFs (its virtfn links, read now); -ETIMEDOUT
 * naming how many there were. *elapsed_ms: how long it took. */
int pt_device_wait_sriov_vfs(pt_device *dev, unsigned n, unsigned timeout_ms, unsigned *elapsed_ms);
/* Both, and with vf_driver each new VF given that driver before any other probes it: autoprobe
 * off (sriov_drivers_autoprobe 0) while they are made, each VF's driver_override and
 * drivers_probe, autoprobe back as it was (also on failure). vf_driver NULL: the system's. */
int pt_device_create_vfs(pt_device *pf, unsigned n, const char *vf_driver, unsigned wait_ms, unsigned *took_ms);

/*
 * Option ROMs (a GPU's vBIOS): a device's own, read through sysfs, or a file a user brings.
 * pt_rom_parse finds the images (after a flashing tool's header, where a dump has one) and says
 * what each is: 0 and *ret for any data (-ENOMEM); data with no image has none, and its problem
 * says why.
 */
typedef struct pt_rom pt_rom;
#define PT_ROM_MAX_DEVICE_LIST 16
enum { PT_ROM_CODE_X86 = 0, PT_ROM_CODE_OPEN_FIRMWARE = 1, PT_ROM_CODE_HPPA = 2, PT_ROM_CODE_EFI = 3 };
typedef struct pt_rom_image {
	size_t size;	    /* sizeof(pt_rom_image) */
	size_t offset;      /* of its 55 AA in the data */
	size_t length;      /* bytes, from the PCIR structure */
	uint16_t vendor_id, device_id;
	uint32_t class_code;
	uint8_t code_type;  /* PT_ROM_CODE_* */
	int last;           /* marked the last image */
	int checksum_ok;    /* x86: 1 when its bytes sum to 0, else 0; -1 for other code types */
	uint16_t efi_machine; /* EFI: 0x8664 x64, 0x014c IA-32, 0xaa64 AArch64, 0x0ebc EBC */
	uint16_t device_list[PT_ROM_MAX_DEVICE_LIST]; /* PCIR 3.0: further device ids */
	unsigned n_device_list;
} pt_rom_image;
int pt_rom_parse(const void *data, size_t len, pt_rom **ret);
pt_rom *pt_rom_ref(pt_rom *rom);
pt_rom *pt_rom_unref(pt_rom *rom);
/* Where the first image starts (> 0 behind a tool's header) and where the last image read ends:
 * [start, end) is the ROM. */
size_t pt_rom_get_start(const pt_rom *rom);
size_t pt_rom_get_end(const pt_rom *rom);
/* NULL, or what is wrong with the data (with no image: why it is not a ROM). */
const char *pt_rom_get_problem(const pt_rom *rom);
/* The images in their order (at most 8); image i into *ret, -ENOENT past the end. */
size_t pt_rom_get_image_count(const pt_rom *rom);
int pt_rom_get_image(const pt_rom *rom, size_t i, pt_rom_image *ret);
/* Whether the image is for that device: its PCIR ids, or the device in its device list. */
int pt_rom_image_matches(const pt_rom_image *img, uint16_t vendor, uint16_t device);
/* A PT_ROM_CODE_*'s name: "x86 (legacy BIOS)", "Open Firmware", "HP PA-RISC", "EFI"; else
 * "unknown". */
const char *pt_rom_code_type_name(unsigned code_type);
/* The device's ROM (root; not while a process holds its VFIO group): sysfs `rom` enabled,
 * read, disabled. The caller frees *data. */
int pt_device_read_rom(pt_device *dev, void **data, size_t *len);
/* The AMD GPU family whose reset bug the device has ("Polaris 10"...), which vendor-reset's
 * device_specific method works around; NULL for other devices. */
const char *pt_device_get_reset_bug(const pt_device *dev);
/*
 * Mediated devices (vGPU) (PT_LOAD_MDEV). An mdev parent's types (the directory name is what
 * `create` and Proxmox's mdev= take) and its live mdevs; NVIDIA's vGPU 17+ (no mdev): a VF's
 * creatable types and its current one. Strings borrowed from the snapshot; -ENOENT past the end.
 */
typedef struct pt_mdev_type {
	size_t size; /* sizeof(pt_mdev_type) */
	const char *type;
	const char *name, *description, *device_api; /* NULL where the kernel gives none */
	long available_instances;		      /* -1: unknown */
} pt_mdev_type;
typedef struct pt_mdev {
	size_t size; /* sizeof(pt_mdev) */
	char uuid[37];
	const char *type;
} pt_mdev;
typedef struct pt_vgpu_type {
	size_t size; /* sizeof(pt_vgpu_type) */
	unsigned id;
	const char *name;
} pt_vgpu_type;
size_t pt_device_get_mdev_type_count(const pt_device *dev);
int pt_device_get_mdev_type(const pt_device *dev, size_t i, pt_mdev_type *ret);
size_t pt_device_get_mdev_count(const pt_device *dev);
int pt_device_get_mdev(const pt_device *dev, size_t i, pt_mdev *ret);
size_t pt_device_get_vgpu_type_count(const pt_device *dev);
int pt_device_get_vgpu_type(const pt_device *dev, size_t i, pt_vgpu_type *ret);
/* The VF's current vGPU type: 0 none, -1 not an NVIDIA vGPU VF. */
long pt_device_get_vgpu_current(const pt_device *dev);
/* 1 for a VF of NVIDIA's vGPU 17+ (it has creatable types), 0 otherwise. */
int pt_device_has_vgpu(const pt_device *dev);
/* An mdev's UUID as sysfs names it: 8-4-4-4-12 lowercase hex digits. */
int pt_uuid_is_valid(const char *s);

/* Resets the device through sysfs `reset` (the kernel tries reset_method's methods in order),
 * under libpt's lock: only a device bound to vfio-pci or to no driver, and no VM holding it.
 * *method_ret (to free): the method the kernel tries first. -EOPNOTSUPP without a method. */
int pt_device_reset(pt_device *dev, char **method_ret);
/* Every decision pt_device_reset makes, nothing written: 0 and *step_ret (to free) the write it
 * would make, or the error the reset would give (a host driver, a VM holding it, no method). */
int pt_device_reset_dry_run(pt_device *dev, char **step_ret);
/* ROM files where Proxmox looks for `romfile=NAME`: /usr/share/kvm/NAME under the root. A
 * name is letters, digits, '-', '_', '.', '+', not starting with a punctuation mark. */
int pt_romfile_name_valid(const char *name);
int pt_ctx_read_romfile(pt_ctx *ctx, const char *name, void **data, size_t *len);
int pt_ctx_write_romfile(pt_ctx *ctx, const char *name, const void *data, size_t len, char **backup_ret);

/*
 * What passing a device through implies. The passthrough set is the device plus every other
 * member of its IOMMU group except bridges and other class-0x06 devices bound to no driver:
 * all of it must go to the VM together.
 */
typedef enum pt_verdict {
	PT_VERDICT_NO_IOMMU,	    /* the host has no IOMMU groups */
	PT_VERDICT_NO_GROUP,	    /* the host has groups but this device is in none */
	PT_VERDICT_BRIDGE,	    /* a bridge, or a class-0x06 device no driver holds: stays */
	PT_VERDICT_ISOLATED,	    /* the set is the device alone */
	PT_VERDICT_WITH_COMPANIONS, /* the others are functions of the same slot (a GPU's audio) */
	PT_VERDICT_SHARED,	    /* the set holds devices of other slots */
} pt_verdict;

/* What passing the device through implies, decided in the scan. */
pt_verdict pt_device_get_verdict(const pt_device *dev);
/* The report's flags, each a string: "boot-vga", "host-critical: REASON", "no-reset",
 * "override=DRIVER", "vf-of=ADDRESS", "N-vfs" (PT_LOAD_GUARD). */
size_t pt_device_get_flag_count(const pt_device *dev);
const char *pt_device_get_flag(const pt_device *dev, size_t i);
/* The device as the report's JSON object (README, "JSON"), on one line; to free. NULL when
 * out of memory. Its passthrough set is its group's (pt_group_to_json), not repeated. */
char *pt_device_to_json(const pt_device *dev);
/* len bytes as text that may reach a terminal, a log or JSON: valid UTF-8 without control
 * characters (C0, DEL, C1), every other byte written "\xNN"; to free, NULL without memory. The
 * one cleaner of text from elsewhere (sysfs, configs, reports, recipes). */
char *pt_clean_text(const char *s, size_t len);
/* len bytes as a quoted JSON string into out (room for 6 * len + 2 bytes): controls, '"', '\\'
 * and DEL escaped, other bytes as they are; returns the length. The report's one escaper. */
size_t pt_json_quote(char *out, const char *s, size_t len);
/* "no-iommu", "no-group", "bridge", "isolated", "with-companions", "shared". */
const char *pt_verdict_to_string(pt_verdict v);
/* Members of the passthrough set, sorted by address, the device itself included; empty for
 * bridges and when there is no group. */
size_t pt_device_get_set_size(const pt_device *dev);
pt_device *pt_device_get_set_member(const pt_device *dev, size_t i);

/*
 * Config space capabilities (PT_LOAD_CONFIG). The PCI Express port type is a
 * PCI_EXP_TYPE_* value of <pci/header.h> (4 root port, 6 downstream port, 7 PCIe-to-PCI
 * bridge...), -1 for a conventional PCI device, -2 when the config space is unreadable
 * (without root sysfs gives 64 bytes).
 */
int pt_device_get_pcie_type(const pt_device *dev);
const char *pt_pcie_type_to_string(int type);
/* The ACS capability and control registers: 0, -ENOENT when absent, -EACCES when unreadable. */
int pt_device_get_acs(const pt_device *dev, uint16_t *cap, uint16_t *ctrl);

/* Why a device shares its group: the first point on its way up where isolation is lost. */
typedef struct pt_explain pt_explain;
/* The device's JSON object with the explanation as its last member, "explanation" (README,
 * "JSON"); to free. */
char *pt_device_to_json_explained(const pt_device *dev, const pt_explain *x);
typedef enum pt_isolation {
	PT_ISOLATION_OK,	    /* nothing on the path shares */
	PT_ISOLATION_MULTIFUNCTION, /* a function of a multifunction device without ACS */
	PT_ISOLATION_NO_ACS,	    /* a port above has no ACS capability */
	PT_ISOLATION_ACS_DISABLED,  /* a port above has ACS with required controls off */
	PT_ISOLATION_PCI_BRIDGE,    /* behind a PCIe-to-PCI bridge: one requester id */
	PT_ISOLATION_UNREADABLE,    /* config space unreadable (not root): unknown */
	PT_ISOLATION_UNEXPLAINED,   /* ACS is complete, yet the group is shared (a quirk) */
	PT_ISOLATION_NO_IOMMU,	    /* in no group */
} pt_isolation;

/* Why the device shares its group, or does not, into *ret (refcounted; it keeps the device's
 * snapshot alive); -EINVAL, -ENOMEM. */
int pt_device_explain(const pt_device *dev, pt_explain **ret);
pt_explain *pt_explain_ref(pt_explain *x);
pt_explain *pt_explain_unref(pt_explain *x);
/* How isolation is lost on the device's path, PT_ISOLATION_OK when it is not. */
pt_isolation pt_explain_get_isolation(const pt_explain *x);
/* "isolated", "multifunction-without-acs", "no-acs", "acs-disabled", "pci-bridge",
 * "unreadable", "unexplained", "no-iommu". */
const char *pt_isolation_to_string(pt_isolation v);
/* The device where isolation is lost; NULL when isolated or in no group. */
pt_device *pt_explain_get_culprit(const pt_explain *x);
/* One sentence naming the device, the port and the reason. */
const char *pt_explain_get_reason(const pt_explain *x);
/* The path from the device up to its root port, one line each. */
size_t pt_explain_get_step_count(const pt_explain *x);
pt_device *pt_explain_get_step_device(const pt_explain *x, size_t i);
const char *pt_explain_get_step_text(const pt_explain *x, size_t i);
/* What would change it, most practical first (ACS override last, with its cost). */
size_t pt_explain_get_fix_count(const pt_explain *x);
const char *pt_explain_get_fix(const pt_explain *x, size_t i);
/* Root ports of this host with an IOMMU group of their own: slots to move the card to. */
size_t pt_explain_get_slot_count(const pt_explain *x);
pt_device *pt_explain_get_slot(const pt_explain *x, size_t i);

/*
 * The host-critical guard: devices the host cannot give away, each with its reason ("boot VGA
 * device (boot_vga = 1)", "controller of / (/dev/sda2)", "NIC of the default route (vmbr0 ->
 * bond0 -> enp3s0)", "the only keyboard (...) hangs under it").
 */
enum {
	PT_CRITICAL_BOOT_VGA = 1 << 0, /* boot_vga = 1 */
	PT_CRITICAL_CONSOLE = 1 << 1,  /* draws the framebuffer console */
	PT_CRITICAL_STORAGE = 1 << 2,  /* controller of /, /boot, /boot/efi, /var, Proxmox storage */
	PT_CRITICAL_NETWORK = 1 << 3,  /* NIC of a default route, through bridges, bonds, VLANs */
	PT_CRITICAL_KEYBOARD = 1 << 4, /* USB controller of the only keyboard(s) */
};
/* A mask of PT_CRITICAL_*, 0 when the host can spare it (PT_LOAD_GUARD). */
unsigned pt_device_get_critical(const pt_device *dev);
/* The reasons, "; "-joined; NULL when none. */
const char *pt_device_get_critical_reason(const pt_device *dev);
/* Whether the device, with its whole passthrough set, may leave the host: 0, or -EBUSY with
 * the reason naming the critical member in pt_ctx_last_error(). PT_TAKE_FORCE overrides (and
 * logs a warning). Every action that takes devices away calls it. */
#define PT_TAKE_FORCE 1u
/* The host's console was handed over (pt_hold_console): a device that is critical only as the
 * console's or the boot VGA device may go; every other reason still refuses. */
#define PT_TAKE_CONSOLE 2u
int pt_device_check_take(const pt_device *dev, unsigned flags);

/*
 * An assignment: what a VM is to get, decided once, from which every path works (the bind
 * transaction, every emitter, lint, the host plan and the hookscripts' pre-start). Built from a
 * snapshot and a request (devices, PCI ids, a VM's hostpciN lines with their mappings), it holds
 * the passthrough set as device objects, each with where it came from, and every refusal with
 * its reason: a host-critical member (the guard: the message pt_device_check_take gives), a
 * device with nothing to pass through (a bridge, no IOMMU group). PT_ASSIGN_FORCE lets
 * host-critical members go, each said as a warning on every check; PT_ASSIGN_CONSOLE lets a
 * device go that is critical only as the console (the console was handed over).
 */
typedef struct pt_assignment pt_assignment;
#define PT_ASSIGN_FORCE 1u
#define PT_ASSIGN_CONSOLE 2u
/* The devices are mdev parents: each stays with the host and only the mediated devices it
 * provides go to the VM (a mapping with `mdev 1`), so it comes without its set or the guard. */
#define PT_ASSIGN_MDEV 4u
/* vm: the VM that is to get the devices (0: none named, as for libvirt or QEMU). */
int pt_assignment_new(pt_enum *e, unsigned vm, unsigned flags, pt_assignment **ret);
/* A PCI id as a user types it, in the one grammar: "0000:01:00.0", "01:00.0" (a function),
 * "0000:01:00", "01:00" (the whole slot, as qemu-server reads a hostpci id); each device's
 * whole passthrough set comes with it. -EINVAL for a malformed id, -ENOENT for none there. */
int pt_assignment_add(pt_assignment *a, const char *id);
/* A device and its whole passthrough set; source names where it came from (NULL: its address). */
int pt_assignment_add_device(pt_assignment *a, const pt_device *dev, const char *source);
/* Every hostpciN line of a VM's config: its host= ids, and a mapping= by the alternative its
 * start takes of the map lines for this node in /etc/pve/mapping/pci.cfg, as qemu-server
 * chooses: the one the VM holds (Proxmox's reservation), else the first no other VM holds and no
 * other line of the config takes. An mdev= line gives no device to the VM alone and is not
 * checked by the guard. A line naming no device here, or none free, is a refusal. */
int pt_assignment_add_vmconf(pt_assignment *a, const pt_vmconf *c);
/* The VM's config under the context's root read, what its hostpci lines name scanned (only
 * those devices: the pre-start path) and added: -ENOENT naming the file when the VM has no
 * config on this node. The snapshot is the assignment's (pt_assignment_get_enum). */
int pt_assignment_new_vm(pt_ctx *ctx, unsigned vm, unsigned flags, pt_assignment **ret);
pt_assignment *pt_assignment_ref(pt_assignment *a);
pt_assignment *pt_assignment_unref(pt_assignment *a);
/* The snapshot (borrowed), the VM and the flags it was made with. */
pt_enum *pt_assignment_get_enum(const pt_assignment *a);
unsigned pt_assignment_get_vm(const pt_assignment *a);
unsigned pt_assignment_get_flags(const pt_assignment *a);
/* The set, sorted by address, each device once; its source: the id, the device's address or
 * the config key ("hostpci0") that brought it. */
size_t pt_assignment_get_device_count(const pt_assignment *a);
pt_device *pt_assignment_get_device(const pt_assignment *a, size_t i);
const char *pt_assignment_get_source(const pt_assignment *a, size_t i);
/* The refusals, in the order met: "hostpci0: 0000:03:00.0: refused: controller of / (...);
 * force to take it anyway". With PT_ASSIGN_FORCE the guard's refusals are not among them. */
size_t pt_assignment_get_refusal_count(const pt_assignment *a);
const char *pt_assignment_get_refusal(const pt_assignment *a, size_t i);
/* 0 when the set may go: each forced host-critical member said as a warning (every call);
 * otherwise the first refusal, -EBUSY for the guard's, -EINVAL for nothing to pass through,
 * -ENOENT for a line that names no device here, in pt_ctx_last_error(). Every emitter, bind and
 * host plan that works from an assignment calls it first. */
int pt_assignment_check(const pt_assignment *a);

/* A device's kind, the one rule for report, doctor, emitters and recipes, from its class:
 * "gpu", "audio", "multimedia", "storage", "network", "wireless", "usb", "serial-bus",
 * "bridge", "communication", "system", "input", "accelerator", "other"; "unknown" when the
 * class is unreadable. */
const char *pt_device_get_kind(const pt_device *dev);
/* A PCI id in the one grammar, canonical into out ("0000:01:00.0", or "0000:01:00" for a slot):
 * 0 for a function, 1 for a slot, -EINVAL when it is none, -ENOSPC when out is too small. */
int pt_pci_id_normalize(const char *s, char *out, size_t size);
/* A VM id as typed: decimal digits without a leading zero, 100 to 999999999. 0 and *vm, or
 * -EINVAL. */
int pt_vmid_parse(const char *s, unsigned *vm);

/*
 * The readiness doctor: the host's checks (CPU, firmware and kernel IOMMU, command line,
 * DMA domains, interrupt remapping, ACS override, VFIO modules, what blocks them, vfio-pci
 * ids=) and, given a device, its own (boot VGA, reset, AMD reset bug, large BARs, softdep,
 * group, guard). Each has a status, the evidence (file and value) and a fix.
 */
typedef struct pt_doctor pt_doctor;
typedef enum pt_status { PT_PASS, PT_WARN, PT_FAIL, PT_INFO } pt_status;
int pt_doctor_run(pt_enum *e, const pt_device *dev, pt_doctor **ret);
pt_doctor *pt_doctor_ref(pt_doctor *d);
pt_doctor *pt_doctor_unref(pt_doctor *d);
/* The checks, in the order they ran: each one's id ("iommu-kernel"), title, status and evidence
 * (the file and the value read); NULL (PT_INFO) past the end. */
size_t pt_doctor_get_check_count(const pt_doctor *d);
const char *pt_doctor_get_id(const pt_doctor *d, size_t i);
const char *pt_doctor_get_title(const pt_doctor *d, size_t i);
pt_status pt_doctor_get_status(const pt_doctor *d, size_t i);
const char *pt_doctor_get_evidence(const pt_doctor *d, size_t i);
/* NULL when there is nothing to do. */
const char *pt_doctor_get_fix(const pt_doctor *d, size_t i);
/* How many checks failed (PT_FAIL). */
size_t pt_doctor_get_failures(const pt_doctor *d);
/* "pass", "warn", "fail", "info". */
const char *pt_status_to_string(pt_status s);

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

/*
 * The PCIe link a device trained at: width in lanes and speed in MT/s (2500 Gen1 ... 64000 Gen6),
 * now and at most, as the kernel gives them (current_link_*, max_link_*; PT_LOAD_PLACEMENT); 0
 * where unknown, -ENOENT without link attributes (conventional PCI, an integrated endpoint).
 * pt_device_check_link: the device's link and each bridge's up to the root against what both
 * ends of it can do: 0 as capable, 1 fewer lanes (a riser, a slot wired for fewer lanes: a
 * defect), 2 a lower speed (a low-power state trains it down; it may come back under load),
 * with *why (to free) naming the device, the link and the cause; -ENOENT when no link says.
 */
/* The CPUs local to the device ("0-7,16-23", its local_cpulist; PT_LOAD_PLACEMENT); NULL when
 * the kernel says none. Its node is pt_device_get_numa_node. */
const char *pt_device_get_local_cpus(const pt_device *dev);
typedef struct pt_link {
	size_t size;		   /* sizeof(pt_link) */
	unsigned width, max_width; /* lanes */
	unsigned speed, max_speed; /* MT/s */
} pt_link;
int pt_device_get_link(const pt_device *dev, pt_link *ret);
int pt_device_check_link(const pt_device *dev, char **why);

/*
 * Placement: where a VM runs so that its devices' DMA and interrupts stay on their NUMA node
 * (the emitters take it in pt_emit_opts.place). pt_placement_new decides it for an assignment's
 * set: the node its devices are on (-ENOENT, naming them, when the kernel gives none; -EXDEV,
 * naming two, when they are on several), vcpus host CPUs of that node for the VM's vCPUs (0: the
 * VM's cores x sockets, from its config), whole cores first (SMT siblings together, from each
 * CPU's topology/thread_siblings_list), none that another VM's `affinity` pins; its memory_mib
 * on that node (0: the VM's memory), on huge pages of hugepage_kib (2048 or 1048576; 0: none)
 * against what the node has free now. What falls short (fewer free CPUs than vCPUs: they share;
 * pages not free: the VM would not start; 1 GiB pages, which only a boot reserves reliably) is
 * said in its notes.
 */
typedef struct pt_placement pt_placement;
int pt_placement_new(const pt_assignment *a, unsigned vcpus, unsigned long memory_mib, unsigned long hugepage_kib,
		     pt_placement **ret);
pt_placement *pt_placement_ref(pt_placement *p);
pt_placement *pt_placement_unref(pt_placement *p);
/* The node; its CPUs ("8-15,24-31"); the host CPUs chosen for the vCPUs ("8-11,24-27"). */
int pt_placement_get_node(const pt_placement *p);
const char *pt_placement_get_node_cpus(const pt_placement *p);
const char *pt_placement_get_cpus(const pt_placement *p);
/* The vCPUs and memory (MiB) placed; the huge page size (KiB, 0: none), the pages the memory
 * needs and those free on the node now (-1: unknown). */
unsigned pt_placement_get_vcpus(const pt_placement *p);
unsigned long pt_placement_get_memory(const pt_placement *p);
unsigned long pt_placement_get_hugepage_size(const pt_placement *p);
unsigned long pt_placement_get_hugepages_needed(const pt_placement *p);
long pt_placement_get_hugepages_free(const pt_placement *p);
size_t pt_placement_get_note_count(const pt_placement *p);
const char *pt_placement_get_note(const pt_placement *p, size_t i);

/*
 * A posted IOMMU group listing (len bytes of text; source names it in messages) read as a host,
 * to judge a board before buying it: "IOMMU Group N" lines with `lspci -nns` device lines (the
 * group on each line or on its own line above them; -k's driver lines), or ls-iommu's "Group N:
 * [vvvv:dddd] [R] ADDR  CLASS  NAME" lines. The snapshot has the listing's devices and groups,
 * analysed as a host's (verdicts, passthrough sets, names, kinds); what a listing cannot say is
 * unknown: no device has a parent, config space (ACS, PCIe type) is unreadable, boot_vga and
 * NUMA are -1, reset methods NULL (ls-iommu: "flr" with [R], else ""), no host fact makes a
 * device critical. -EINVAL names the file and line of what is not a listing.
 */
int pt_enum_new_from_listing(pt_ctx *ctx, const char *text, size_t len, const char *source, pt_enum **ret);

/*
 * Proxmox's section config files under /etc/pve (storage.cfg, mapping/pci.cfg, mapping/usb.cfg),
 * read as pve's SectionConfig reads them: sections headed "TYPE: ID" (storage.cfg) or by the ID
 * alone (the mappings), each with its indented "KEY VALUE" lines in order (a key may come again:
 * a mapping's `map` lines), up to a blank line or the next head; '#' lines are comments; other
 * lines are skipped. -ENOENT when the file is absent; -EINVAL for a path outside /etc/pve.
 * Getters take the section's index (i) and the property's (j); NULL or 0 past the end.
 */
typedef struct pt_pve_config pt_pve_config;
int pt_pve_config_read(pt_ctx *ctx, const char *path, pt_pve_config **ret);
pt_pve_config *pt_pve_config_ref(pt_pve_config *c);
pt_pve_config *pt_pve_config_unref(pt_pve_config *c);
size_t pt_pve_config_get_section_count(const pt_pve_config *c);
/* "dir", "nfs", ...; NULL for a section headed by its ID alone. */
const char *pt_pve_config_get_type(const pt_pve_config *c, size_t i);
const char *pt_pve_config_get_id(const pt_pve_config *c, size_t i);
size_t pt_pve_config_get_property_count(const pt_pve_config *c, size_t i);
const char *pt_pve_config_get_key(const pt_pve_config *c, size_t i, size_t j);
const char *pt_pve_config_get_value(const pt_pve_config *c, size_t i, size_t j);
/* The index of the section with that ID into *i (the first, should one come twice); -ENOENT. */
int pt_pve_config_find(const pt_pve_config *c, const char *id, size_t *i);

/*
 * Proxmox hookscripts. pt_pve_snippets_dir: where a storage keeps snippets
 * ("/var/lib/vz/snippets" for `local`), from /etc/pve/storage.cfg under the root; a storage with
 * files (dir, nfs, cifs, cephfs, btrfs), enabled, on this node, whose content lists `snippets`,
 * else -ENOENT or -EINVAL with the message saying how to enable it (pvesm set); to free.
 *
 * pt_pve_set_hookscript: text written executable as NAME in STORAGE's snippets, then the VM's
 * hookscript set with `qm set VM --hookscript STORAGE:snippets/NAME` (qm NULL: /usr/sbin/qm on
 * "/", none under another root), under a 60 s timeout: Proxmox writes VM configs under its own
 * lock, libpt never edits one. A VM with another hookscript is refused (-EEXIST) without
 * PT_HOOKSCRIPT_REPLACE. PT_HOOKSCRIPT_REMOVE deletes the VM's hookscript when it is this one
 * and removes the snippet. *steps_ret (to free) gets the writes and commands, one a line, done
 * or, with PT_HOOKSCRIPT_DRY_RUN, that would be done. Returns 0, PT_HOOKSCRIPT_BY_HAND when qm
 * is absent (the snippet is written; the qm command, in the steps, is the admin's to run), or
 * -errno with the message: the VM without a config here, qm's exit status and words.
 */
int pt_pve_snippets_dir(pt_ctx *ctx, const char *storage, char **dir_ret);
#define PT_HOOKSCRIPT_DRY_RUN 1u
#define PT_HOOKSCRIPT_REMOVE 2u
#define PT_HOOKSCRIPT_REPLACE 4u
#define PT_HOOKSCRIPT_BY_HAND 1
int pt_pve_set_hookscript(pt_ctx *ctx, unsigned vm, const char *storage, const char *name,
			  const char *text, const char *qm, unsigned flags, char **steps_ret);

/*
 * USB devices of the snapshot (PT_LOAD_USB): port path ("1-2.3"), ids, the kernel's
 * copies of the descriptor strings, names from udev's hwdb, speed (Mbit/s), interfaces
 * ("ff:cp210x 03:usbhid": class and driver of each), the /dev node of a serial adapter or
 * disk, and the PCI controller it hangs under. pt_usb_ref/pt_usb_unref hold the whole snapshot.
 */
typedef struct pt_usb pt_usb;
size_t pt_enum_get_usb_count(const pt_enum *e);
pt_usb *pt_enum_get_usb(const pt_enum *e, size_t i);
pt_usb *pt_usb_ref(pt_usb *u);
pt_usb *pt_usb_unref(pt_usb *u);
const char *pt_usb_get_port(const pt_usb *u);
/* The other half of the device's physical port (its USB 3 or USB 2 port, where the kernel links
 * them: port/peer), as a port path ("2-2"); NULL for none. A device that comes back at another
 * speed is there. */
const char *pt_usb_get_peer_port(const pt_usb *u);
/* "BUS-PORT(.PORT)*", as the kernel names a USB device's port. */
int pt_usb_port_is_valid(const char *s);
/* Its bus and device number (/dev/bus/usb/BUS/DEVNUM), and its speed in Mbit/s. */
unsigned pt_usb_get_bus(const pt_usb *u);
unsigned pt_usb_get_devnum(const pt_usb *u);
unsigned pt_usb_get_speed(const pt_usb *u);
/* bDeviceClass: 0x09 for a hub (QEMU cannot pass a hub: the devices behind it go one by one). */
unsigned pt_usb_get_class(const pt_usb *u);
/* Its ids; its descriptor strings, hwdb names, /dev node and interfaces, NULL where it has
 * none; the PCI controller it hangs under, NULL when the snapshot has none. */
uint16_t pt_usb_get_vendor_id(const pt_usb *u);
uint16_t pt_usb_get_product_id(const pt_usb *u);
const char *pt_usb_get_manufacturer(const pt_usb *u);
const char *pt_usb_get_product(const pt_usb *u);
const char *pt_usb_get_serial(const pt_usb *u);
const char *pt_usb_get_vendor_name(const pt_usb *u);
const char *pt_usb_get_product_name(const pt_usb *u);
const char *pt_usb_get_node(const pt_usb *u);
const char *pt_usb_get_interfaces(const pt_usb *u);
pt_device *pt_usb_get_controller(const pt_usb *u);

/* USB devices coming and going (udev's usb_device events, after udev has handled them). */
typedef struct pt_monitor pt_monitor;
typedef struct pt_usb_event {
	size_t size;	 /* sizeof(pt_usb_event) */
	char action[16]; /* add, remove, bind, unbind, change */
	char port[32];
	unsigned bus;
	uint16_t vendor, product;
	char serial[128];
} pt_usb_event;
/* -ENOMEM, or -EPROTO naming the udev call that failed (libudev cannot be set up, the netlink
 * socket cannot be opened: no udev here, or not permitted, or the filter not set). */
int pt_monitor_new(pt_ctx *ctx, pt_monitor **ret);
pt_monitor *pt_monitor_ref(pt_monitor *m);
pt_monitor *pt_monitor_unref(pt_monitor *m);
/* The socket to poll(2): readable when an event waits. */
int pt_monitor_get_fd(const pt_monitor *m);
/* 1 and *ret filled, 0 when nothing came within timeout_ms, -errno on failure. */
int pt_monitor_receive(pt_monitor *m, unsigned timeout_ms, pt_usb_event *ret);

/*
 * QMP, to a running VM's QEMU: by socket path, or by Proxmox VM id (path NULL:
 * /var/run/qemu-server/<vm>.qmp under the root). Every step has a timeout (5000 ms unless
 * set); QEMU's error text comes through in pt_ctx_last_error().
 */
typedef struct pt_qmp pt_qmp;
typedef struct pt_usb_match {
	size_t size;		  /* sizeof(pt_usb_match) */
	uint16_t vendor, product; /* by id, when port is NULL */
	unsigned bus;		  /* by physical port: bus and port path ("2.3") */
	const char *port;
} pt_usb_match;
int pt_qmp_connect(pt_ctx *ctx, const char *path, unsigned vm, pt_qmp **ret);
/* The same, with connect, the greeting and capability negotiation each within timeout_ms (a
 * monitor that never accepts, never greets or sends half a line fails with -ETIMEDOUT); the
 * timeout then applies to every command. A path longer than sun_path is -ENAMETOOLONG. */
int pt_qmp_connect_timeout(pt_ctx *ctx, const char *path, unsigned vm, unsigned timeout_ms, pt_qmp **ret);
pt_qmp *pt_qmp_ref(pt_qmp *q);
pt_qmp *pt_qmp_unref(pt_qmp *q);
/* How long each later step (an answer, device_del's DEVICE_DELETED) may take, in ms. */
void pt_qmp_set_timeout(pt_qmp *q, unsigned ms);
/* device_add usb-host with that id; -EEXIST when the VM has a device of that id already. */
int pt_qmp_usb_attach(pt_qmp *q, const char *id, const pt_usb_match *m);
/* device_del, waiting for DEVICE_DELETED. */
int pt_qmp_detach(pt_qmp *q, const char *id);
/* The usb-host devices attached, asked of QEMU (qom-list and qom-get): their QEMU ids and what they
 * match. pt_qmp_query_usb asks, and returns how many there are or -errno; the getters give the
 * last answer's. */
typedef struct pt_qmp_usb {
	size_t size;		  /* sizeof(pt_qmp_usb) */
	char id[128];
	uint16_t vendor, product; /* 0 when matched by port */
	unsigned bus;
	char port[64];		  /* "" when matched by id */
} pt_qmp_usb;
int pt_qmp_query_usb(pt_qmp *q);
size_t pt_qmp_get_usb_count(const pt_qmp *q);
int pt_qmp_get_usb(const pt_qmp *q, size_t i, pt_qmp_usb *ret);

/*
 * A GPU's companions: the other functions of its slot that go to a VM with it: audio (class
 * 0x0403), a USB-C port's USB controller (0x0c03) and its UCSI serial bus controller (0x0c80),
 * in address order.
 */
size_t pt_device_get_companion_count(const pt_device *dev);
pt_device *pt_device_get_companion(const pt_device *dev, size_t i);

/*
 * Proxmox VM configuration: /etc/pve/qemu-server/<vm>.conf as qemu-server reads it. The main
 * section's keys in file order (a key given twice keeps its first place and its last value);
 * snapshot sections ([name]) are named and otherwise ignored; '#' lines before the first key are
 * the description. Refcounted (pt_vmconf is declared above).
 */
/* A line qemu-server cannot read (no "key: value", an empty value) is warned about, naming
 * FILE:LINE, and skipped, as qemu-server skips it; pt_vmconf_read reads on past a NUL byte (the
 * line that holds it is skipped). Keys are found in constant time. */
int pt_vmconf_parse(pt_ctx *ctx, const char *text, const char *file, pt_vmconf **ret);
/* The VM's config under the context's root (a regular file only); -ENOENT when it has none. */
int pt_vmconf_read(pt_ctx *ctx, unsigned vm, pt_vmconf **ret);
pt_vmconf *pt_vmconf_ref(pt_vmconf *c);
pt_vmconf *pt_vmconf_unref(pt_vmconf *c);
/* The main section's keys, in file order. */
size_t pt_vmconf_get_key_count(const pt_vmconf *c);
const char *pt_vmconf_get_key(const pt_vmconf *c, size_t i);
/* The value of a key of the main section, NULL when absent (and for a NULL config). */
const char *pt_vmconf_get(const pt_vmconf *c, const char *key);
/* The description (its lines without the '#', joined by newlines; "" for none); the snapshot
 * sections' names. */
const char *pt_vmconf_get_description(const pt_vmconf *c);
size_t pt_vmconf_get_snapshot_count(const pt_vmconf *c);
const char *pt_vmconf_get_snapshot(const pt_vmconf *c, size_t i);
/* The first N >= from, N <= max, with no PREFIXN key ("hostpci", 15): N, or -ENOSPC. */
int pt_vmconf_next_free(const pt_vmconf *c, const char *prefix, unsigned max, unsigned from);
/* Whether a `machine:` value is a q35 machine type (1) or not (0: i440fx, the default). */
int pt_vmconf_is_q35(const char *machine);
/* The devices the VM's hostpciN lines name with host=, in the config's order: "0000:01:00" for a
 * whole slot, "0000:01:00.1" for a function (the domain added where the line leaves it out);
 * each line's ';'-joined ids one by one; an id that is none as it is written. A line that is no
 * property string was warned about when the config was read, and names none. */
size_t pt_vmconf_get_hostpci_count(const pt_vmconf *c);
const char *pt_vmconf_get_hostpci(const pt_vmconf *c, size_t i);

/* Lint of the VM configs under /etc/pve/qemu-server against the snapshot's host (only_vm: that
 * VM's findings, 0: all): pcie=1 without q35, x-vga with SeaBIOS, absent devices, group members
 * the VM lacks, a device in two VMs, unknown mappings, USB ids two present devices share,
 * romfile= and legacy-igd=1 lines, the guard, placement. Findings sorted by VM, key and message;
 * a config that cannot be read or parsed fails the run, named. */
typedef struct pt_lint pt_lint;
int pt_lint_run(pt_enum *e, unsigned only_vm, pt_lint **ret);
pt_lint *pt_lint_ref(pt_lint *l);
pt_lint *pt_lint_unref(pt_lint *l);
/* Finding i: its VM; its key ("hostpci0", "usb1"; "hostpci" for a device in two VMs); its code,
 * what a program tests ("pcie-needs-q35", "x-vga-seabios", "unknown-mapping", "no-such-device",
 * "group-incomplete", "device-in-two-vms", "usb-ambiguous", "romfile-name", "romfile-missing",
 * "romfile-not-a-rom", "romfile-damaged", "romfile-header", "romfile-wrong-device",
 * "romfile-no-efi", "igd-not-alone", "igd-machine", "igd-vga", "igd-rombar", "host-critical",
 * "affinity-off-device-node", "affinity-spans-nodes", "hostnodes-off-device-node",
 * "devices-split-numa", "hugepages-short"; on the running system, what QEMU's usb-host will find
 * (pt_usb_check_host): "usb-not-found", "usb-no-access", "usb-held", "usb-unchecked" (no
 * libusb)); and its message, for people. */
size_t pt_lint_get_finding_count(const pt_lint *l);
unsigned pt_lint_get_vm(const pt_lint *l, size_t i);
const char *pt_lint_get_key(const pt_lint *l, size_t i);
const char *pt_lint_get_code(const pt_lint *l, size_t i);
const char *pt_lint_get_message(const pt_lint *l, size_t i);

/* Property strings of a config value: "host=01:00,pcie=1"; an item without a key takes the
 * default key ("01:00,pcie=1" with "host"), or is -EINVAL without one. */
typedef struct pt_props pt_props;
int pt_props_parse(pt_ctx *ctx, const char *value, const char *default_key, pt_props **ret);
pt_props *pt_props_ref(pt_props *p);
pt_props *pt_props_unref(pt_props *p);
size_t pt_props_get_count(const pt_props *p);
const char *pt_props_get_key(const pt_props *p, size_t i);
const char *pt_props_get_value(const pt_props *p, size_t i);
/* The last value given for the key, NULL when none. */
const char *pt_props_get(const pt_props *p, const char *key);
/* 0 for a value that may go into a config line; -EINVAL naming WHAT and the value when it holds
 * a control character, ',', '=', ';' or a non-ASCII byte (it could carry another key in). */
int pt_config_value_check(pt_ctx *ctx, const char *what, const char *value);

/*
 * A USB device as a user names it: by vendor:product, by physical port ("BUS-PORT(.PORT)*"), by
 * serial number, or (libvirt) by bus and device number.
 */
typedef struct pt_usb_spec {
	size_t size; /* sizeof(pt_usb_spec) */
	const char *id;
	const char *port;
	const char *serial;
	unsigned bus, devnum;
	/* by port: the other half of that physical port where known (pt_usb_get_peer_port), so that
	 * emission covers the device at either speed */
	const char *peer_port;
} pt_usb_spec;
/* What QEMU's usb-host will match on: vendor and product (port ""), or bus and port path. */
typedef struct pt_usb_resolved {
	size_t size;	   /* sizeof(pt_usb_resolved) */
	uint16_t vendor, product;
	char port[32];	   /* "1-2.3" */
	unsigned bus;	   /* 1 */
	char hostport[32]; /* "2.3" */
	char peer_of[32];  /* the port asked for when the device is on its other half now */
} pt_usb_resolved;
/* Resolves the spec against the snapshot's USB devices (e may be NULL: none known): an id that
 * several present devices share is -ENOTUNIQ naming their ports; a serial no device has, -ENOENT. */
int pt_usb_resolve(pt_ctx *ctx, const pt_enum *e, const pt_usb_spec *spec, pt_usb_resolved *ret);

/*
 * What QEMU's usb-host will see, asked of libusb-1.0 as QEMU asks it (libusb is loaded on first
 * use; the scan never opens a device): the device at the resolved bus and port path, or the first
 * with the resolved ids, and whether its usbfs node opens. 0 and *ret when QEMU would find and
 * open it (holder: a process that has the node open now, such as another VM's QEMU, 0 for none);
 * -ENODEV when libusb sees no such device (the message lists what it sees on the bus: QEMU's
 * "failed to find host usb device" before the VM meets it), -EACCES when the node does not open,
 * -EXDEV for a root that is not the running system (libusb sees only /sys and /dev), -ENOPKG
 * when libusb-1.0.so.0 cannot be loaded.
 */
typedef struct pt_usb_host {
	size_t size;		  /* sizeof(pt_usb_host) */
	unsigned bus, devnum;
	char port[32];		  /* "1-2.3" */
	uint16_t vendor, product;
	char node[40];		  /* /dev/bus/usb/001/003 */
	long holder;		  /* a process that has the node open, 0 for none */
	unsigned was_devnum;	  /* pt_usb_reset: the device number before; devnum is the new one */
} pt_usb_host;
int pt_usb_check_host(pt_ctx *ctx, const pt_usb_resolved *m, pt_usb_host *ret);
/*
 * A USB device to a running VM and back, over its QMP socket (socket, else VM vm's; timeout_ms
 * as pt_qmp_connect_timeout, 0 for libpt's default). pt_usb_device_id: libpt's QEMU device id
 * for a match, "pt-usb-1_2_3" by port, "pt-usb-10c4_ea60" by id (the same match, the same id);
 * -ENOSPC when size is too small (PT_USB_ID_MAX fits every one). pt_usb_attach: spec resolved
 * against the snapshot (pt_usb_resolve), checked as QEMU's usb-host will find it
 * (pt_usb_check_host; skipped where it cannot look), both before QMP, then device_add with that
 * id, written to id first: -EEXIST when the VM has it attached already. pt_usb_detach: by id or
 * port, as it was attached: device_del and the guest's letting go (DEVICE_DELETED).
 */
#define PT_USB_ID_MAX 48
int pt_usb_device_id(const pt_usb_resolved *m, char *id, size_t size);
int pt_usb_attach(pt_enum *e, const pt_usb_spec *spec, const char *socket, unsigned vm, unsigned timeout_ms,
		  char *id, size_t size);
int pt_usb_detach(pt_ctx *ctx, const pt_usb_spec *spec, const char *socket, unsigned vm, unsigned timeout_ms,
		  char *id, size_t size);
/* Resets a wedged device the way a replug would (libusb_reset_device: usbfs's USBDEVFS_RESET),
 * refused with -EBUSY naming the process while one has its node open (a VM's usb-host) unless
 * PT_USB_RESET_FORCE. A device that re-enumerates is found again at its port (or the port's
 * other half) within timeout_ms (0: 5000) and *ret says where it is now; -ETIMEDOUT when it does
 * not come back. */
#define PT_USB_RESET_FORCE 1u
int pt_usb_reset(pt_ctx *ctx, const pt_usb_resolved *m, unsigned flags, unsigned timeout_ms, pt_usb_host *ret);

/*
 * Emission: the configuration that gives devices to a VM, for Proxmox, libvirt and QEMU, from an
 * assignment (what the VM gets, its whole passthrough sets, checked first: its refusals refuse,
 * and what it forced is said as a warning every time) and USB devices. Bad values are refused
 * with -EINVAL and a message naming the value (pt_ctx_last_error); nothing a value carries can
 * start another key, line or shell word.
 */
#define PT_EMIT_NO_ROMBAR (1u << 0)  /* rombar=0: do not expose the option ROM */
#define PT_EMIT_HIDE_KVM (1u << 1)   /* cpu host,hidden=1 (NVIDIA drivers before 465) */
#define PT_EMIT_LEGACY_IGD (1u << 2) /* Proxmox legacy-igd=1: Intel's IGD as the only display */
#define PT_EMIT_USB3 (1u << 3)	     /* Proxmox usbN: usb3=1 */
#define PT_EMIT_IOMMUFD (1u << 5)    /* QEMU: devices through an iommufd object (pt_host_has_iommufd) */
typedef struct pt_emit_opts {
	size_t size;		 /* sizeof(pt_emit_opts) */
	unsigned vm;		 /* Proxmox: the VM (its config is read for free keys and settings) */
	unsigned flags;		 /* PT_EMIT_* */
	const char *primary;	 /* the device that is the VM's primary display: x-vga (Proxmox: on
				  * its slot's line, and vga none) */
	const char *romfile;	 /* a vBIOS file (Proxmox: a name in /usr/share/kvm) */
	const char *machine;	 /* Proxmox: what a VM that is not q35 yet gets; NULL "q35" */
	const char *storage;	 /* Proxmox: where a new efidisk goes; NULL "local-lvm" */
	const pt_vmconf *config; /* Proxmox: the VM's config; NULL reads it */
	const pt_placement *place; /* where the VM runs (pt_placement_new): Proxmox affinity, numa0
				    * and hugepages; libvirt's vcpu cpuset, cputune, numatune and
				    * hugepages (a domain); QEMU's -smp, -m, memory backend and -numa */
} pt_emit_opts;
/* An emitter's result: its lines (Proxmox: "hostpci0: 01:00,pcie=1"; libvirt: XML lines; QEMU:
 * the words), its notes (Proxmox: what is left to do, "efidisk0: allocate it with qm set ..."),
 * and its command (Proxmox: the same as one `qm set` line; QEMU: the words as a shell line, each
 * quoted for the shell where it needs it; NULL for the others). */
typedef struct pt_emission pt_emission;
pt_emission *pt_emission_ref(pt_emission *em);
pt_emission *pt_emission_unref(pt_emission *em);
size_t pt_emission_get_line_count(const pt_emission *em);
const char *pt_emission_get_line(const pt_emission *em, size_t i);
size_t pt_emission_get_note_count(const pt_emission *em);
const char *pt_emission_get_note(const pt_emission *em, size_t i);
const char *pt_emission_get_command(const pt_emission *em);
/* Proxmox: one hostpciN a slot of the set (the function-less "01:00" form when every function
 * of the slot goes, ';'-joined functions otherwise; pcie=1 on q35), then the settings the VM
 * lacks (machine q35; for a GPU bios ovmf, an efidisk to allocate, cpu host; vga none for a
 * primary display). With PT_EMIT_LEGACY_IGD, Proxmox's legacy-igd rules. A VM with no config
 * yet gets the lines with a note saying so. */
int pt_emit_proxmox(const pt_assignment *a, const pt_emit_opts *opts, pt_emission **ret);
/* Proxmox: hostpciN: ADDRESS,mdev=TYPE (Proxmox creates the mdev at VM start); a type the parent
 * does not offer, or has no instance left of, is refused naming what it offers. */
int pt_emit_proxmox_mdev(const pt_device *dev, const char *type, const pt_emit_opts *opts, pt_emission **ret);
/* Proxmox: usbN: host=VVVV:PPPP or host=BUS-PORT; by a port with a peer, a second usbN line for
 * the other half (a device back at another speed is there; QEMU passes whichever is present). */
int pt_emit_proxmox_usb(pt_ctx *ctx, const pt_usb_spec *usb, const pt_emit_opts *opts, pt_emission **ret);
/* libvirt: <hostdev> elements for the assignment's set (NULL: none) and the USB device (NULL:
 * none; by id or by bus and device number); with a domain name, inside a minimal q35/UEFI
 * domain, placed where opts->place says (opts NULL: the defaults). */
int pt_emit_libvirt(pt_ctx *ctx, const pt_assignment *a, const pt_usb_spec *usb, const char *domain,
		    const pt_emit_opts *opts, pt_emission **ret);
/* libvirt: the <hostdev> element of the mdev with that UUID; -EINVAL for no mdev UUID. */
int pt_emit_libvirt_mdev(pt_ctx *ctx, const char *uuid, pt_emission **ret);
/* QEMU: -device vfio-pci for each device of the set (NULL: none) with the pcie-root-port of its
 * slot (function 0 first, multifunction=on when the slot brings several; x-vga=on on
 * opts->primary), then usb-host with its qemu-xhci (by id or port). A slot whose function 0 does
 * not go gets its lowest function at the guest's function 0: a guest enumerates no slot without
 * one. */
int pt_emit_qemu(pt_ctx *ctx, const pt_assignment *a, const pt_usb_spec *usb, const pt_emit_opts *opts,
		 pt_emission **ret);
/* QEMU: -device vfio-pci,sysfsdev= the mdev with that UUID; -EINVAL for no mdev UUID. */
int pt_emit_qemu_mdev(pt_ctx *ctx, const char *uuid, pt_emission **ret);
/*
 * Cluster mappings (/etc/pve/mapping/pci.cfg) hold on every node they name: each node's devices
 * come from its snapshot (this node) or its report (another node's, input from elsewhere: every
 * field checked, the error naming the node, the device and the value).
 */
typedef struct pt_node pt_node;
typedef struct pt_node_device {
	size_t size;			/* sizeof(pt_node_device) */
	const char *address;		/* "0000:01:00.0" */
	const char *vendor_id, *device_id; /* "10de" */
	const char *subsystem_vendor_id, *subsystem_device_id;
	const char *iommu_group;	/* "12", NULL: none */
	const char *physfn;		/* the PF's address of a VF, NULL otherwise */
} pt_node_device;
/* A node by its name (a host name: letters, digits, '-', '.'), with no devices yet. */
int pt_node_new(pt_ctx *ctx, const char *name, pt_node **ret);
pt_node *pt_node_ref(pt_node *n);
pt_node *pt_node_unref(pt_node *n);
/* Its name, its context (borrowed), how many devices it has. */
const char *pt_node_get_name(const pt_node *n);
pt_ctx *pt_node_get_context(const pt_node *n);
size_t pt_node_get_device_count(const pt_node *n);
/* A device of the node, every field checked (the address, 4-digit hex ids, a decimal group, the
 * PF's address); -EINVAL naming the node, the device and the value. */
int pt_node_add_device(pt_node *n, const pt_node_device *d);
/* This node's devices, from its snapshot. */
int pt_node_add_enum(pt_node *n, pt_enum *e);
/* Another node's devices, from its `report.lua --json` (a regular file under 64 MiB). */
int pt_node_read_report(pt_node *n, const char *file);
/* Another node's devices from the report it published through pmxcfs (`report.lua --publish`,
 * path under the context's root, under 1 MiB): one reader, strict (duplicate keys and NUL in a
 * string refused, the format, the node's own name, the columns and every field of every row
 * checked, a time between 2000 and a day from now), each error naming the file and the value.
 * *time_ret: when it was published. -ENOENT when there is none. */
int pt_node_read_published(pt_node *n, const char *path, long long *time_ret);
/* This node's report, published through pmxcfs for the other nodes: its snapshot's devices
 * (pt_node_add_enum) in the one format pt_node_read_published reads, at time (seconds since the
 * epoch), written atomically to /etc/pve/nodes/NAME/libpt.json under the context's root;
 * *size_ret its bytes. -EINVAL without a snapshot, -EFBIG at 1 MiB or more (pmxcfs's limit). */
int pt_node_publish(pt_node *n, long long time, size_t *size_ret);
/* Device i of the node, as it was added (the strings borrowed from the node); -ENOENT past the
 * end. */
int pt_node_get_device(const pt_node *n, size_t i, pt_node_device *out);
/* pci.cfg entries that pass the assignment's set (of this node, nodes[0]) on every node: one
 * mapping a slot of the set, in the slot form (path=0000:01:00, every function of the slot
 * checked by function 0's ids, as pve-guest-common does) when the set holds the whole slot, one
 * a function otherwise (NAME, NAME-2, ...); a `map` line for each device of each node that is
 * the same kind (a VF for a VF). Lines: the pci.cfg text, mappings apart by an empty line. Notes:
 * "in the VM: hostpciN: mapping=NAME,pcie=1" for each, then "no matching device on: NODE, ..." if
 * any. PT_MAPPING_MDEV: the devices provide mediated devices (`mdev 1`; the VM's line takes
 * mdev=TYPE and Proxmox creates the mdev at start). */
#define PT_MAPPING_MDEV 1u
int pt_emit_mapping(const pt_assignment *a, const char *name, pt_node *const *nodes, size_t n_nodes,
		    unsigned flags, pt_emission **ret);
/* usb.cfg: one map line a node (qemu-server takes one a node), by id or by port. By a port with
 * a peer, a second mapping NAME-2 for the other half (one map line a node allows no more). Lines:
 * the usb.cfg text; notes: "in the VM: usbN: mapping=NAME" (and NAME-2). */
int pt_emit_usb_mapping(pt_ctx *ctx, const char *name, const pt_usb_spec *usb, const char *const *nodes,
			size_t n_nodes, pt_emission **ret);
/*
 * Host persistence: what makes a passthrough set (addresses of the snapshot), with every set
 * persisted before, go to vfio-pci at every boot, as a plan of file changes under the root: /etc/modprobe.d/libpt-vfio.conf
 * (softdeps; `options vfio-pci ids=` only when no other device has those ids, otherwise
 * /etc/udev/rules.d/61-libpt-vfio.rules setting driver_override by address; blacklist lines with
 * PT_PLAN_BLACKLIST), vendor-reset's udev rule for AMD GPUs with the reset bug, the initramfs
 * modules, and the IOMMU parameters for the CPU's vendor (cpu_vendor, or the host's) on the
 * kernel command line of the host's boot loader (GRUB or systemd-boot). Files already right are
 * not in it; the commands are what to run after applying it.
 */
typedef struct pt_host_plan pt_host_plan;
#define PT_PLAN_BLACKLIST 1u
/* The plan is for every set libpt persisted (its modprobe.d file's header names them) and this
 * one; PT_PLAN_REMOVE takes this set out instead. A driver is blacklisted (PT_PLAN_BLACKLIST, or
 * an earlier plan's) only while no device staying on the host uses it. */
#define PT_PLAN_REMOVE 4u
/* The set's devices kept out of D3cold (a udev rule writing 0 to each one's d3cold_allowed),
 * rather than vfio-pci's disable_idle_d3 for every device. */
#define PT_PLAN_NO_D3COLD 8u
/* The set is the assignment's, checked first (what it forces, it forces). */
int pt_host_plan_new(const pt_assignment *a, unsigned flags, const char *cpu_vendor, pt_host_plan **ret);
/* VFs that exist at every boot: /etc/libpt/sriov-PF.conf for libpt-sriov@PF.service (ordered
 * before pve-guests.service), the count and the bounded wait. */
int pt_host_plan_new_sriov(const pt_device *pf, unsigned vfs, unsigned wait_ms, const char *vf_driver, pt_host_plan **ret);
pt_host_plan *pt_host_plan_ref(pt_host_plan *p);
pt_host_plan *pt_host_plan_unref(pt_host_plan *p);
/* Huge pages a placement needs (pt_placement_new with huge pages) reserved on its node at every
 * boot: the kernel command line's hugepagesz= and per-node hugepages=NODE:COUNT (Linux 5.19+),
 * COUNT the node's pages now and what the VM lacks; 1 GiB pages come reliably only so, 2 MiB
 * pages also now (a command of the plan). -EEXIST when the command line reserves huge pages
 * already (libpt does not rewrite another reservation), naming what to add. */
int pt_host_plan_new_hugepages(pt_ctx *ctx, const pt_placement *place, pt_host_plan **ret);
/* Its context (borrowed); the files it changes, by their path on the host ("/etc/default/grub",
 * read and written under the context's root). */
pt_ctx *pt_host_plan_get_context(const pt_host_plan *p);
size_t pt_host_plan_get_change_count(const pt_host_plan *p);
const char *pt_host_plan_get_path(const pt_host_plan *p, size_t i);
/* The file as it is, NULL when it does not exist; and as the plan writes it. */
const char *pt_host_plan_get_old(const pt_host_plan *p, size_t i);
const char *pt_host_plan_get_new(const pt_host_plan *p, size_t i);
/* The change as a unified diff; to free. */
char *pt_host_plan_get_diff(const pt_host_plan *p, size_t i);
/* The commands to run once it is applied ("update-initramfs -u -k all"), each once. */
size_t pt_host_plan_get_command_count(const pt_host_plan *p);
const char *pt_host_plan_get_command(const pt_host_plan *p, size_t i);
/* Writes every change atomically, each old file kept as FILE.libpt-<time>; a failure puts back
 * the files already written. Once applied, change i's backup is its path (NULL for a file that
 * did not exist). */
int pt_host_plan_apply(pt_host_plan *p);
const char *pt_host_plan_get_backup(const pt_host_plan *p, size_t i);
/* A unified diff of two texts (old NULL: a new file), one hunk; to free. */
char *pt_diff(const char *path, const char *old, const char *new_text);
/* /etc/default/grub with the parameters (space-separated) added to the GRUB_CMDLINE_LINUX_DEFAULT
 * assignment that takes effect, comments never edited; one added when there is none. To free. */
char *pt_grub_with_params(const char *grub, const char *params);

/* Words as one shell line, each quoted where the shell would read it otherwise; to free. */
char *pt_shell_quote(const char *const *words, size_t n);

/* An IOMMU group of a snapshot: its number (N of /sys/kernel/iommu_groups/N), type, members and
 * passthrough set. pt_group_ref/pt_group_unref hold the whole snapshot. */
pt_group *pt_group_ref(pt_group *group);
pt_group *pt_group_unref(pt_group *group);
unsigned pt_group_get_number(const pt_group *group);
/* /sys/kernel/iommu_groups/N/type: "DMA", "DMA-FQ", "identity"...; NULL when absent. */
const char *pt_group_get_type(const pt_group *group);
/* What goes to a VM with any endpoint of the group (sorted; see pt_device_get_set_size). */
size_t pt_group_get_set_size(const pt_group *group);
pt_device *pt_group_get_set_member(const pt_group *group, size_t i);
/* The group as the report's JSON object {number, type, devices, passthrough_set}; to free. */
char *pt_group_to_json(const pt_group *group);

/*
 * The report's whole JSON document (README, "JSON"; `report.lua --json` prints it): "root" (a
 * listing's snapshot: "listing", its source, and "cannot_show"), "iommu", "devices", each one
 * line (pt_device_to_json), "groups", the groups they are in, each one line (pt_group_to_json),
 * "warnings" (pt_enum_get_warning), two spaces an indent. devices: the n to report (NULL: every
 * device of the snapshot; n 0: none). PT_JSON_EXPLAIN: each device in a group that is not a bridge with its
 * explanation (pt_device_to_json_explained); PT_JSON_LINKS: "links", each device's PCIe link by
 * address, {width, max_width, speed, max_speed, state: "ok", "narrow", "slow" or "unknown", why}
 * (pt_device_check_link). To free; NULL out of memory or for a bad argument.
 */
#define PT_JSON_EXPLAIN 1u
#define PT_JSON_LINKS 2u
#define PT_LISTING_CANNOT_SHOW                                                                          \
	"a listing shows groups and their devices, not the topology behind bridges, ACS, boot VGA, reset " \
	"methods or USB devices; groups can change with the BIOS, its version and the kernel (ACS override)"
char *pt_enum_to_json(const pt_enum *e, pt_device *const *devices, size_t n, unsigned flags);
/* Members sorted by address, bridges included. */
size_t pt_group_get_device_count(const pt_group *group);
pt_device *pt_group_get_device(const pt_group *group, size_t i);

#ifdef __cplusplus
}
#endif
#endif
