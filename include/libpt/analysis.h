/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libpt's what a snapshot means: capabilities, why a device shares its group, the guard, the assignment, the doctor, the PCIe link and placement.
 * A part of <libpt.h>, which includes it: include that. */
#ifndef LIBPT_ANALYSIS_H
#define LIBPT_ANALYSIS_H
#ifndef LIBPT_H_INSIDE
#error "include <libpt.h>, not <libpt/analysis.h>"
#endif

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
 * provides go to the VM (a mapping with `mdev 1`), so it comes without its set or the guard; a
 * device that is no mdev parent is refused, and only pt_emit_mapping takes such an assignment
 * (pt_assignment_check refuses it: -EINVAL). */
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
 * needs and those free on the node now for it (-1: unknown; a running VM whose config has
 * hugepages: its own pages counted in, as they are its). */
unsigned pt_placement_get_vcpus(const pt_placement *p);
unsigned long pt_placement_get_memory(const pt_placement *p);
unsigned long pt_placement_get_hugepage_size(const pt_placement *p);
unsigned long pt_placement_get_hugepages_needed(const pt_placement *p);
long pt_placement_get_hugepages_free(const pt_placement *p);
size_t pt_placement_get_note_count(const pt_placement *p);
const char *pt_placement_get_note(const pt_placement *p, size_t i);

#endif
