/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libpt's the snapshot: the host's PCI devices and IOMMU groups as one scan read them, ROMs, mdevs, a device's passthrough set, a posted listing read as a host, a GPU's companions, the report's JSON.
 * A part of <libpt.h>, which includes it: include that. */
#ifndef LIBPT_SNAPSHOT_H
#define LIBPT_SNAPSHOT_H
#ifndef LIBPT_H_INSIDE
#error "include <libpt.h>, not <libpt/snapshot.h>"
#endif

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
 * `vfio_pci:` alias, looked up with libkmod): the driver's name as its loaded module registered
 * it ("pds-vfio-pci" of pds_vfio_pci), the module's name while it is not loaded; NULL for none
 * (PT_LOAD_DRIVERS). */
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
 * /usr/bin/qemu-system-x86_64 on "/", none under another root; a regular file root owns that no
 * one else may write, else -EPERM) whether it has the iommufd object (QEMU 9.0+): 1, 0, or -errno. The QEMU emitter opens devices through it with PT_EMIT_IOMMUFD.
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
 * A GPU's companions: the other functions of its slot that go to a VM with it: audio (class
 * 0x0403), a USB-C port's USB controller (0x0c03) and its UCSI serial bus controller (0x0c80),
 * in address order.
 */
size_t pt_device_get_companion_count(const pt_device *dev);
pt_device *pt_device_get_companion(const pt_device *dev, size_t i);

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

#endif
