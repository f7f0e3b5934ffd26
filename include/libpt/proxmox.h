/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libpt's Proxmox's files: section configs (storage.cfg, mappings), hookscripts, VM configs as qemu-server reads them, their lint and property strings.
 * A part of <libpt.h>, which includes it: include that. */
#ifndef LIBPT_PROXMOX_H
#define LIBPT_PROXMOX_H
#ifndef LIBPT_H_INSIDE
#error "include <libpt.h>, not <libpt/proxmox.h>"
#endif

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

#endif
