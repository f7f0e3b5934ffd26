/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libpt's emission: Proxmox, libvirt and QEMU configuration, cluster mappings, the host plan (modprobe.d, boot loader, VFs, huge pages).
 * A part of <libpt.h>, which includes it: include that. */
#ifndef LIBPT_EMIT_H
#define LIBPT_EMIT_H
#ifndef LIBPT_H_INSIDE
#error "include <libpt.h>, not <libpt/emit.h>"
#endif

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

#endif
