/*
 * The C contract, actions, against the kernel emulator (tests/kemu.c, preloaded): bind
 * transactions and their rollback when the kernel fails a write (the row's KEMU_FAULTS), the
 * restore, holds (mdev, vGPU type, the console), resets, VFs, ROM dumps, romfiles, host files,
 * hookscripts. Rows of tests/test-contract-common.h; each row that changes its root puts it back
 * or has a root of its own (tests/test_ccontract.py builds them).
 */
#include <ctype.h>
#include <sys/stat.h>

#include "test-contract-common.h"

#define NEW_UUID "0b4d1b3a-8e0e-4c1d-9b1e-2f3a4b5c6d7e"

/* The journals under run/libpt, besides the lock. */
static void journals(FILE *out)
{
	char path[8192];
	snprintf(path, sizeof(path), "%s/run/libpt", test_root);
	FILE *ls = NULL;
	char cmd[8300];
	snprintf(cmd, sizeof(cmd), "ls %s 2>/dev/null | grep -v '^lock$' | tr '\\n' ' '", path);
	ls = popen(cmd, "r");
	fprintf(out, "journals: ");
	for (int c; ls && (c = fgetc(ls)) != EOF;)
		fputc(c, out);
	if (ls)
		pclose(ls);
	fputc('\n', out);
}

/* Text with every run of 10 digits or more written "N": backups are named by the time, hold
 * journals by a sequence number. */
static void masked(const char *text, FILE *out)
{
	for (const char *p = text; p && *p;) {
		size_t n = strspn(p, "0123456789");
		if (n >= 10)
			fputc('N', out);
		else
			fwrite(p, 1, n ? n : 1, out);
		p += n ? n : 1;
	}
	fputs(text ? "" : "(none)", out);
}

static void print_backup(const char *what, const char *path, FILE *out)
{
	fprintf(out, "%s: ", what);
	masked(path, out);
	fputc('\n', out);
}

/* A backup's content, wherever its path is from (see the report: documented root-relative). */
static char *backup_text(const char *path)
{
	return strncmp(path, test_root, strlen(test_root)) == 0 ? slurp(path + strlen(test_root) + 1) : slurp(path + 1);
}

/* ---- bind transactions ---- */

/* A bind of VM vm: the devices named, each with its passthrough set, in one transaction. */
static int bind_new_flags(pt_enum *e, unsigned vm, const char *first, const char *second, unsigned flags,
			  pt_txn **t)
{
	pt_assignment *a = NULL;
	int r;

	if ((r = pt_assignment_new(e, vm, 0, &a)) == 0 && (r = pt_assignment_add(a, first)) == 0 &&
	    (!second || (r = pt_assignment_add(a, second)) == 0))
		r = pt_txn_new_bind(a, flags, t);
	pt_assignment_unref(a);
	return r;
}

static int bind_new(pt_enum *e, unsigned vm, const char *first, const char *second, pt_txn **t)
{
	return bind_new_flags(e, vm, first, second, 0, t);
}

static int commit_and_say(pt_ctx *ctx, pt_txn *t, FILE *out)
{
	int r = pt_txn_commit(t);
	fprintf(out, "commit: ");
	return said(ctx, r, out);
}

static int txn_assignment_and_restore(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_assignment *a = NULL;
	pt_txn *t = NULL;
	int r;

	if (pt_assignment_new(e, 100, 0, &a) < 0 || pt_assignment_add(a, "01:00.0") < 0)
		return 1;
	/* the AMD GPU in another group: the same transaction */
	fprintf(out, "add: %d\n", pt_assignment_add(a, "05:00.0"));
	if ((r = pt_txn_new_bind(a, 0, &t)) < 0)
		return said(ctx, r, out);
	pt_assignment_unref(a);
	fprintf(out, "ref same %d\n", pt_txn_ref(t) == t);
	pt_txn_unref(t);
	pt_txn_set_timeout(t, 300);
	pt_txn_set_lock_timeout(t, 1000);
	for (size_t i = 0; i < pt_txn_get_device_count(t); i++)
		fprintf(out, "device %s\n", pt_txn_get_device(t, i));
	/* the plan made when the transaction was */
	size_t steps = pt_txn_get_step_count(t);
	fprintf(out, "%zu steps; the first two:\n%s\n", steps, pt_txn_get_step(t, 0));
	fprintf(out, "%s\n", pt_txn_get_step(t, 1));
	fprintf(out, "beyond %p\n", (void *)pt_txn_get_step(t, 999));
	commit_and_say(ctx, t, out);
	pt_txn_unref(t);
	fprintf(out, "bound: %s %s %s\n", bound("0000:01:00.0"), bound("0000:01:00.1"), bound("0000:05:00.0"));
	journals(out);
	/* another VM asking for the held GPU is refused, naming the holder */
	if ((r = bind_new(e, 101, "01:00.0", NULL, &t)) < 0)
		return said(ctx, r, out);
	pt_txn_set_lock_timeout(t, 1000);
	r = pt_txn_commit(t);
	const char *msg = pt_ctx_last_error(ctx);
	fprintf(out, "commit: %d %.*s\n", r, (int)strcspn(msg, "("), msg); /* then the holder's process id */
	pt_txn_unref(t);
	/* the restore, as another process would: from the journal */
	if ((r = pt_txn_new_restore(ctx, 100, 0, &t)) < 0)
		return said(ctx, r, out);
	pt_txn_set_timeout(t, 300);
	for (size_t i = 0; i < pt_txn_get_device_count(t); i++)
		fprintf(out, "restores %s\n", pt_txn_get_device(t, i));
	commit_and_say(ctx, t, out);
	fprintf(out, "holds given back %zu\n", pt_txn_get_hold_count(t));
	pt_txn_unref(t);
	fprintf(out, "bound: %s %s %s\n", bound("0000:01:00.0"), bound("0000:01:00.1"), bound("0000:05:00.0"));
	journals(out);
	fprintf(out, "unref NULL %p\n", (void *)pt_txn_unref(NULL));
	return 0;
}

/* A bind that the kernel fails at a write: every device already touched is given back. */
static int txn_fault_rolled_back(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_txn *t = NULL;

	if (bind_new(e, 100, "01:00.0", "05:00.0", &t) < 0)
		return 1;
	pt_txn_set_timeout(t, 200);
	commit_and_say(ctx, t, out);
	pt_txn_unref(t);
	fprintf(out, "bound: %s %s %s\n", bound("0000:01:00.0"), bound("0000:01:00.1"), bound("0000:05:00.0"));
	char *o = slurp("sys/bus/pci/devices/0000:01:00.0/driver_override");
	fprintf(out, "override: %s", o);
	free(o);
	journals(out);
	/* the kernel well again: what a journal kept, the VM's restore gives back */
	setenv("KEMU_FAULTS", "", 1);
	if (pt_txn_new_restore(ctx, 100, 0, &t) < 0)
		return 1;
	pt_txn_set_timeout(t, 200);
	commit_and_say(ctx, t, out);
	pt_txn_unref(t);
	fprintf(out, "bound: %s %s %s\n", bound("0000:01:00.0"), bound("0000:01:00.1"), bound("0000:05:00.0"));
	journals(out);
	return 0;
}

/* A device bound to its driver while its driver_override already named vfio-pci (the audio
 * function here): its restore steers the probe to the driver it had, then puts the override it
 * had back. */
static int txn_restores_an_override(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_txn *t = NULL;
	char *o;

	fprintf(out, "before: %s, override ", bound("0000:01:00.1"));
	o = slurp("sys/bus/pci/devices/0000:01:00.1/driver_override");
	fprintf(out, "%s", o);
	free(o);
	if (bind_new(e, 100, "01:00.0", NULL, &t) < 0)
		return 1;
	pt_txn_set_timeout(t, 300);
	commit_and_say(ctx, t, out);
	pt_txn_unref(t);
	fprintf(out, "bound: %s %s\n", bound("0000:01:00.0"), bound("0000:01:00.1"));
	if (pt_txn_new_restore(ctx, 100, 0, &t) < 0)
		return 1;
	pt_txn_set_timeout(t, 300);
	for (size_t i = 0; i < pt_txn_get_step_count(t); i++)
		if (strncmp(pt_txn_get_step(t, i), "0000:01:00.1: write", 19) == 0 &&
		    !strstr(pt_txn_get_step(t, i), "unbind"))
			fprintf(out, "step: %s\n", pt_txn_get_step(t, i) + 14);
	commit_and_say(ctx, t, out);
	pt_txn_unref(t);
	fprintf(out, "after: %s, override ", bound("0000:01:00.1"));
	o = slurp("sys/bus/pci/devices/0000:01:00.1/driver_override");
	fprintf(out, "%s", o);
	free(o);
	journals(out);
	return 0;
}

/* PT_TXN_VARIANT: the ConnectX VF to its variant driver, the Intel NIC (none) to vfio-pci */
static int txn_variant_driver(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_txn *t = NULL;
	int r;

	if ((r = bind_new_flags(e, 100, "02:00.0", "04:00.0", PT_TXN_VARIANT, &t)) < 0)
		return said(ctx, r, out);
	pt_txn_set_timeout(t, 300);
	for (size_t i = 0; i < pt_txn_get_step_count(t); i++)
		if (strstr(pt_txn_get_step(t, i), "driver_override"))
			fprintf(out, "step: %s\n", pt_txn_get_step(t, i));
	commit_and_say(ctx, t, out);
	pt_txn_unref(t);
	fprintf(out, "bound: %s %s\n", bound("0000:02:00.0"), bound("0000:04:00.0"));
	if (pt_txn_new_restore(ctx, 100, 0, &t) < 0)
		return 1;
	pt_txn_set_timeout(t, 300);
	commit_and_say(ctx, t, out);
	pt_txn_unref(t);
	fprintf(out, "after: %s %s\n", bound("0000:02:00.0"), bound("0000:04:00.0"));
	journals(out);
	return 0;
}

/* ---- USB ---- */

/* An id buffer too small, at attach and at detach: said, the id named (pt_usb_device_id has no
 * context to say it on; under a root the last error before it is libusb's, which does not look) */
static int usb_id_buffer_too_small(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	char id[8] = "";

	said(ctx, pt_usb_attach(e, &(pt_usb_spec){ .size = sizeof(pt_usb_spec), .port = "1-2" }, NULL, 100, 200,
				id, sizeof(id)), out);
	said(ctx, pt_usb_detach(ctx, &(pt_usb_spec){ .size = sizeof(pt_usb_spec), .id = "10c4:ea60" }, NULL, 100,
				200, id, sizeof(id)), out);
	fprintf(out, "id \"%s\"\n", id);
	return 0;
}

/* ---- holds ---- */

static int holds_mdev_and_vgpu(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	char uuid[37] = "", *steps = NULL;
	pt_device *igd = device(e, "00:02.0"), *vf = device(e, "06:00.4");
	int r;

	if ((r = pt_hold_mdev(igd, "i915-GVTg_V5_4", NEW_UUID, 100, PT_TXN_DRY_RUN, uuid, &steps)) < 0)
		return said(ctx, r, out);
	fprintf(out, "dry run: %s\n", uuid);
	masked(steps, out);
	fputc('\n', out);
	free(steps);
	fprintf(out, "holds %d\n", pt_holds_count(ctx, 100));
	if ((r = pt_hold_mdev(igd, "i915-GVTg_V5_4", NEW_UUID, 100, 0, uuid, &steps)) < 0)
		return said(ctx, r, out);
	free(steps);
	char *avail = slurp("sys/devices/pci0000:00/0000:00:02.0/mdev_supported_types/i915-GVTg_V5_4/available_instances");
	fprintf(out, "made %s, holds %d, available %s", uuid, pt_holds_count(ctx, 100), avail);
	free(avail);
	r = pt_hold_mdev(igd, "i915-GVTg_V5_4", NEW_UUID, 100, 0, uuid, &steps);
	said(ctx, r, out);
	r = pt_hold_mdev(igd, "i915-GVTg_V5_8", NULL, 100, 0, uuid, &steps);
	said(ctx, r, out);
	/* a random UUID */
	if ((r = pt_hold_mdev(igd, "i915-GVTg_V5_4", NULL, 100, PT_TXN_DRY_RUN, uuid, NULL)) < 0)
		return said(ctx, r, out);
	fprintf(out, "random uuid valid %d\n", pt_uuid_is_valid(uuid));
	r = pt_hold_vgpu(vf, 999, 101, 0, &steps);
	said(ctx, r, out);
	if ((r = pt_hold_vgpu(vf, 558, 101, 0, &steps)) < 0)
		return said(ctx, r, out);
	masked(steps, out);
	fputc('\n', out);
	free(steps);
	char *cur = slurp("sys/devices/pci0000:00/0000:00:1b.0/0000:06:00.4/nvidia/current_vgpu_type");
	fprintf(out, "current %sholds of 101: %d\n", cur, pt_holds_count(ctx, 101));
	free(cur);
	r = pt_hold_vgpu(vf, 557, 102, 0, &steps);
	said(ctx, r, out);
	/* each VM's restore gives back its own */
	unsigned vms[] = { 100, 101 };
	for (size_t i = 0; i < 2; i++) {
		pt_txn *t = NULL;
		if (pt_txn_new_restore(ctx, vms[i], 0, &t) < 0)
			return 1;
		commit_and_say(ctx, t, out);
		fprintf(out, "vm %u gave back %zu holds, has %d\n", vms[i], pt_txn_get_hold_count(t), pt_holds_count(ctx, vms[i]));
		pt_txn_unref(t);
	}
	cur = slurp("sys/devices/pci0000:00/0000:00:1b.0/0000:06:00.4/nvidia/current_vgpu_type");
	avail = slurp("sys/devices/pci0000:00/0000:00:02.0/mdev_supported_types/i915-GVTg_V5_4/available_instances");
	fprintf(out, "current %savailable %s", cur, avail);
	free(cur);
	free(avail);
	journals(out);
	return 0;
}

static int hold_console_and_back(pt_ctx *unused, pt_enum *e, FILE *out)
{
	char systemctl[4200], *steps = NULL;
	pt_ctx *ctx = NULL;
	pt_txn *t = NULL;
	int r;

	snprintf(systemctl, sizeof(systemctl), "%s-systemctl", test_root);
	if (test_ctx(&ctx, systemctl) < 0)
		return 1;
	if ((r = pt_hold_console(ctx, 100, PT_TXN_DRY_RUN, &steps)) < 0)
		return said(ctx, r, out);
	fprintf(out, "dry run:\n");
	masked(steps, out);
	fputc('\n', out);
	free(steps);
	if ((r = pt_hold_console(ctx, 100, 0, &steps)) < 0)
		return said(ctx, r, out);
	free(steps);
	char *vt = slurp("sys/class/vtconsole/vtcon1/bind");
	fprintf(out, "holds %d, vtcon1 %sefifb bound %d\n", pt_holds_count(ctx, 100), vt,
		access(strcat(strcpy(systemctl, test_root), "/sys/devices/platform/efi-framebuffer.0/driver"), F_OK) == 0);
	free(vt);
	if (pt_txn_new_restore(ctx, 100, 0, &t) < 0)
		return 1;
	commit_and_say(ctx, t, out);
	fprintf(out, "gave back %zu holds\n", pt_txn_get_hold_count(t));
	pt_txn_unref(t);
	vt = slurp("sys/class/vtconsole/vtcon1/bind");
	char *log = slurp("../console-systemctl.log");
	fprintf(out, "holds %d, vtcon1 %sefifb bound %d\nsystemctl:\n%s", pt_holds_count(ctx, 100), vt,
		access(systemctl, F_OK) == 0, log);
	free(vt);
	free(log);
	fprintf(out, "%d\n", pt_holds_count(ctx, 99));
	pt_ctx_unref(ctx);
	return 0;
}

/* ---- resets ---- */

static int reset_a_free_device(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	char *text = NULL;
	int r;

	if ((r = pt_device_reset_dry_run(device(e, "03:10.4"), &text)) < 0)
		return said(ctx, r, out);
	fprintf(out, "dry run: %s\n", text);
	free(text);
	char *resets = slurp("sys/devices/pci0000:00/0000:00:1c.0/0000:03:10.4/.resets");
	fprintf(out, "resets so far: %s\n", resets ? resets : "none");
	free(resets);
	r = pt_device_reset(device(e, "03:10.4"), &text);
	said(ctx, r, out);
	if (r == 0) {
		fprintf(out, "method %s\n", text);
		free(text);
	}
	resets = slurp("sys/devices/pci0000:00/0000:00:1c.0/0000:03:10.4/.resets");
	fprintf(out, "resets: %s", resets ? resets : "none\n");
	free(resets);
	/* refused: a host driver's device, a device without a method */
	r = pt_device_reset_dry_run(device(e, "01:00.0"), &text);
	said(ctx, r, out);
	r = pt_device_reset(device(e, "01:00.0"), &text);
	said(ctx, r, out);
	r = pt_device_reset(device(e, "00:00.0"), &text);
	said(ctx, r, out);
	return 0;
}

/* ---- virtual functions ---- */

static int sriov_vfs_with_their_driver(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_device *pf = device(e, "03:00.0");
	unsigned took = 0;
	int r;

	fprintf(out, "set 2: %d, ", pt_device_set_sriov_numvfs(pf, 2));
	char *n = slurp("sys/devices/pci0000:00/0000:00:1c.0/0000:03:00.0/sriov_numvfs");
	fprintf(out, "numvfs %s\n", n);
	free(n);
	r = pt_device_set_sriov_numvfs(pf, 5);
	said(ctx, r, out);
	r = pt_device_set_sriov_numvfs(device(e, "01:00.0"), 1);
	said(ctx, r, out);
	r = pt_device_wait_sriov_vfs(pf, 2, 100, &took);
	fprintf(out, "wait 2: %d in time %d\n", r, took <= 100);
	r = pt_device_wait_sriov_vfs(pf, 4, 50, &took);
	const char *msg = pt_ctx_last_error(ctx), *after = strstr(msg, " after ");
	/* how long it waited, 50 ms or a little more, is not compared */
	fprintf(out, "%d %.*s after N%s\n", r, after ? (int)(after - msg) : 0, msg, after ? strstr(after, " ms") : "");
	r = pt_device_create_vfs(pf, 2, "vfio-pci", 300, &took);
	said(ctx, r, out);
	char *ap = slurp("sys/devices/pci0000:00/0000:00:1c.0/0000:03:00.0/sriov_drivers_autoprobe");
	fprintf(out, "VFs on %s %s, autoprobe %s\n", bound("0000:03:10.0"), bound("0000:03:10.4"), ap);
	free(ap);
	r = pt_device_create_vfs(pf, 2, "x/../y", 300, &took);
	said(ctx, r, out);
	return 0;
}

static int sriov_fault_puts_the_count_back(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	unsigned took = 0;
	int r = pt_device_create_vfs(device(e, "03:00.0"), 2, "vfio-pci", 300, &took);
	said(ctx, r, out);
	char *n = slurp("sys/devices/pci0000:00/0000:00:1c.0/0000:03:00.0/sriov_numvfs");
	char *ap = slurp("sys/devices/pci0000:00/0000:00:1c.0/0000:03:00.0/sriov_drivers_autoprobe");
	fprintf(out, "numvfs %s, autoprobe %s\n", n, ap);
	free(n);
	free(ap);
	return 0;
}

/* ---- ROMs and files ---- */

static int rom_dump_and_romfile(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	void *data = NULL, *back = NULL;
	size_t len = 0, back_len = 0;
	pt_rom *rom = NULL;
	pt_rom_image img = PT_INIT(pt_rom_image);
	char *backup = NULL;
	int r;

	if ((r = pt_device_read_rom(device(e, "01:00.0"), &data, &len)) < 0)
		return said(ctx, r, out);
	if (pt_rom_parse(data, len, &rom) < 0 || pt_rom_get_image(rom, 0, &img) < 0)
		return 1;
	char *writes = slurp("sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/.rom_writes");
	fprintf(out, "%zu bytes, %04x:%04x, rom writes %s", len, img.vendor_id, img.device_id, writes);
	free(writes);
	pt_rom_unref(rom);
	r = pt_device_read_rom(device(e, "01:00.1"), &back, &back_len);
	said(ctx, r, out);
	if ((r = pt_ctx_write_romfile(ctx, "gpu.rom", data, len, &backup)) < 0)
		return said(ctx, r, out);
	print_backup("first write, backup", backup, out);
	free(backup);
	if ((r = pt_ctx_write_romfile(ctx, "gpu.rom", data, len, &backup)) < 0)
		return said(ctx, r, out);
	print_backup("second write, backup", strstr(backup, "/usr/share/kvm/"), out);
	free(backup);
	if ((r = pt_ctx_read_romfile(ctx, "gpu.rom", &back, &back_len)) < 0)
		return said(ctx, r, out);
	fprintf(out, "read back: same %d\n", back_len == len && memcmp(back, data, len) == 0);
	free(back);
	r = pt_ctx_write_romfile(ctx, "../gpu.rom", data, len, NULL);
	said(ctx, r, out);
	r = pt_ctx_read_romfile(ctx, "absent.rom", &back, &back_len);
	said(ctx, r, out);
	free(data);
	return 0;
}

static int write_files(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	char *backup = NULL, path[8192];
	struct stat st;
	int r;

	r = pt_ctx_write_file(ctx, "/etc/libpt/new.conf", "a=1\n", 0, NULL);
	said(ctx, r, out);
	r = pt_ctx_write_file(ctx, "/etc/libpt/new.conf", "a=1\n", PT_WRITE_MKDIR, &backup);
	fprintf(out, "mkdir: %d, backup %s\n", r, backup ? backup : "(none)");
	if ((r = pt_ctx_write_file(ctx, "/etc/libpt/new.conf", "a=2\n", PT_WRITE_BACKUP, &backup)) < 0)
		return said(ctx, r, out);
	const char *tail = strstr(backup, "/etc/libpt/new.conf.libpt-");
	print_backup("backup", tail, out);
	char *old = backup_text(backup), *now = slurp("etc/libpt/new.conf");
	fprintf(out, "old %snew %s", old, now);
	free(old);
	free(now);
	free(backup);
	if ((r = pt_ctx_write_data(ctx, "/etc/libpt/hook", "#!/bin/sh\0x", 11, PT_WRITE_EXECUTABLE, NULL)) < 0)
		return said(ctx, r, out);
	snprintf(path, sizeof(path), "%s/etc/libpt/hook", test_root);
	r = stat(path, &st);
	fprintf(out, "data: %d, mode %o, size %lld\n", r, st.st_mode & 0777, (long long)st.st_size);
	/* a link is not followed: not written through */
	r = pt_ctx_write_file(ctx, "/etc/link.conf", "mine\n", 0, NULL);
	said(ctx, r, out);
	snprintf(path, sizeof(path), "%s/etc/link.conf", test_root);
	char *target = slurp("link-target");
	fprintf(out, "still a link %d, its target still %s", lstat(path, &st) == 0 && S_ISLNK(st.st_mode), target);
	free(target);
	r = pt_ctx_write_file(ctx, "etc/relative.conf", "x\n", 0, NULL);
	said(ctx, r, out);
	r = pt_ctx_write_file(ctx, "/etc/../../escape.conf", "x\n", 0, NULL);
	said(ctx, r, out);
	return 0;
}

static int hookscript_by_hand(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	char *dir = NULL, *steps = NULL, path[8192];
	struct stat st;
	int r;

	if ((r = pt_pve_snippets_dir(ctx, "local", &dir)) < 0)
		return said(ctx, r, out);
	fprintf(out, "snippets of local: %s\n", dir);
	free(dir);
	r = pt_pve_snippets_dir(ctx, "tank", &dir);
	said(ctx, r, out);
	r = pt_pve_snippets_dir(ctx, "nowhere", &dir);
	said(ctx, r, out);
	r = pt_pve_set_hookscript(ctx, 100, "local", "libpt-100.sh", "#!/bin/sh\nexit 0\n", NULL, PT_HOOKSCRIPT_DRY_RUN, &steps);
	fprintf(out, "dry run: %d\n%s\n", r, steps);
	free(steps);
	/* no qm under another root: the snippet written, the command the admin's */
	r = pt_pve_set_hookscript(ctx, 100, "local", "libpt-100.sh", "#!/bin/sh\nexit 0\n", NULL, 0, &steps);
	fprintf(out, "by hand: %d\n%s\n", r, r >= 0 ? steps : pt_ctx_last_error(ctx));
	free(steps);
	snprintf(path, sizeof(path), "%s/var/lib/vz/snippets/libpt-100.sh", test_root);
	r = stat(path, &st);
	fprintf(out, "snippet: %d mode %o\n", r, st.st_mode & 0777);
	r = pt_pve_set_hookscript(ctx, 555, "local", "libpt-555.sh", "#!/bin/sh\n", NULL, 0, &steps);
	said(ctx, r, out);
	r = pt_pve_set_hookscript(ctx, 100, "local", "../x.sh", "#!/bin/sh\n", NULL, 0, &steps);
	said(ctx, r, out);
	return 0;
}

static const struct test tests[] = {
	{ "txn-assignment-and-restore", "act", txn_assignment_and_restore,
	  "add: 0\nref same 1\ndevice 0000:01:00.0\ndevice 0000:01:00.1\ndevice 0000:05:00.0\n"
	  "18 steps; the first two:\n"
	  "0000:01:00.0: journal ROOT/run/libpt/0000:01:00.0 (vm 100, driver nouveau, override none, binding)\n"
	  "0000:01:00.0: write 'vfio-pci' to ROOT/sys/bus/pci/devices/0000:01:00.0/driver_override\n"
	  "beyond (nil)\ncommit: 0\nbound: vfio-pci vfio-pci vfio-pci\n"
	  "journals: 0000:01:00.0 0000:01:00.1 0000:05:00.0 \ncommit: -16 0000:01:00.0: held by VM 100 \n"
	  "restores 0000:01:00.0\nrestores 0000:01:00.1\nrestores 0000:05:00.0\ncommit: 0\nholds given back 0\n"
	  "bound: nouveau snd_hda_intel amdgpu\njournals: \nunref NULL (nil)\n"},
	{ "txn-unbind-fails-rolled-back", "fault1", txn_fault_rolled_back,
	  "commit: -16 0000:05:00.0: unbind amdgpu (write '0000:05:00.0' to ROOT/sys/bus/pci/drivers/amdgpu/unbind): Device or resource busy\n"
	  "bound: nouveau snd_hda_intel amdgpu\noverride: (null)\njournals: \ncommit: 0\nbound: nouveau snd_hda_intel amdgpu\n"
	  "journals: \n", "unbind@0000:05:00.0=EBUSY" },
	{ "txn-bind-never-completes", "fault2", txn_fault_rolled_back,
	  "commit: -110 0000:01:00.1: vfio-pci did not bind within 200 ms (driver: none); rolling back: 0000:01:00.1: snd_hda_intel did not bind within 200 ms (driver: none) (its journal stays: run restore)\n"
	  "bound: nouveau - amdgpu\noverride: (null)\njournals: 0000:01:00.1 \ncommit: 0\n"
	  "bound: nouveau snd_hda_intel amdgpu\njournals: \n", "probe@0000:01:00.1=nobind" },
	{ "txn-restores-an-override-it-had", "override", txn_restores_an_override,
	  "before: snd_hda_intel, override vfio-pci\ncommit: 0\nbound: vfio-pci vfio-pci\n"
	  "step: write 'snd_hda_intel' to ROOT/sys/bus/pci/devices/0000:01:00.1/driver_override\n"
	  "step: write '0000:01:00.1' to ROOT/sys/bus/pci/drivers_probe\n"
	  "step: write 'vfio-pci' to ROOT/sys/bus/pci/devices/0000:01:00.1/driver_override\n"
	  "commit: 0\nafter: snd_hda_intel, override vfio-pci\njournals: \n" },
	{ "txn-variant-driver", "variant", txn_variant_driver,
	  "step: 0000:02:00.0: write 'mlx5_vfio_pci' to ROOT/sys/bus/pci/devices/0000:02:00.0/driver_override\n"
	  "step: 0000:04:00.0: write 'vfio-pci' to ROOT/sys/bus/pci/devices/0000:04:00.0/driver_override\n"
	  "commit: 0\nbound: mlx5_vfio_pci vfio-pci\ncommit: 0\nafter: mlx5_core igb\njournals: \n" },
	{ "usb-id-buffer-too-small", "act", usb_id_buffer_too_small,
	  "-28 the USB device at port 1-2: its QEMU id pt-usb-1_2 needs 11 bytes, the buffer has 8 (PT_USB_ID_MAX fits every one)\n"
	  "-28 USB device 10c4:ea60: its QEMU id pt-usb-10c4_ea60 needs 17 bytes, the buffer has 8 (PT_USB_ID_MAX fits every one)\n"
	  "id \"\"\n" },
	{ "holds-mdev-and-vgpu", "act", holds_mdev_and_vgpu,
	  "dry run: 0b4d1b3a-8e0e-4c1d-9b1e-2f3a4b5c6d7e\n"
	  "journal ROOT/run/libpt/hold-100-N (mdev 0b4d1b3a-8e0e-4c1d-9b1e-2f3a4b5c6d7e)\n"
	  "write '0b4d1b3a-8e0e-4c1d-9b1e-2f3a4b5c6d7e' to ROOT/sys/bus/pci/devices/0000:00:02.0/mdev_supported_types/i915-GVTg_V5_4/create\n"
	  "holds 0\nmade 0b4d1b3a-8e0e-4c1d-9b1e-2f3a4b5c6d7e, holds 1, available 1\n"
	  "-17 mdev 0b4d1b3a-8e0e-4c1d-9b1e-2f3a4b5c6d7e exists already\n"
	  "-28 0000:00:02.0: mdev type i915-GVTg_V5_8 has no instance left\nrandom uuid valid 1\n"
	  "-2 0000:06:00.4: vGPU type 999 is not among the types it can create now (ROOT/sys/bus/pci/devices/0000:06:00.4/nvidia/creatable_vgpu_types)\n"
	  "journal ROOT/run/libpt/hold-101-N (vgpu 0000:06:00.4)\n"
	  "write '558' to ROOT/sys/bus/pci/devices/0000:06:00.4/nvidia/current_vgpu_type\n"
	  "current 558holds of 101: 1\n"
	  "-16 0000:06:00.4: has vGPU type 558 already (another VM's?): set it to 0 first\ncommit: 0\n"
	  "vm 100 gave back 1 holds, has 0\ncommit: 0\nvm 101 gave back 1 holds, has 0\ncurrent 0available 2\n"
	  "journals: \n" },
	{ "hold-console-and-back", "console", hold_console_and_back,
	  "dry run:\njournal ROOT/run/libpt/hold-100-N (unit display-manager.service)\n"
	  "systemctl stop display-manager.service\njournal ROOT/run/libpt/hold-100-N (vtconsole 1)\n"
	  "write '0' to ROOT/sys/class/vtconsole/vtcon1/bind\n"
	  "journal ROOT/run/libpt/hold-100-N (fbdev efi-framebuffer efi-framebuffer.0)\n"
	  "write 'efi-framebuffer.0' to ROOT/sys/bus/platform/drivers/efi-framebuffer/unbind\n"
	  "holds 3, vtcon1 0efifb bound 0\ncommit: 0\ngave back 3 holds\nholds 0, vtcon1 1efifb bound 1\n"
	  "systemctl:\nis-active --quiet display-manager.service\nis-active --quiet display-manager.service\n"
	  "stop --quiet display-manager.service\nstart --quiet display-manager.service\n0\n" },
	{ "reset-a-free-device", "act", reset_a_free_device,
	  "dry run: write '1' to ROOT/sys/bus/pci/devices/0000:03:10.4/reset (methods in order: flr bus)\n"
	  "resets so far: none\n0\nmethod flr\nresets: 1\n"
	  "-16 0000:01:00.0: bound to nouveau: a reset would pull the device from under its driver (bind it to vfio-pci first: bind.lua)\n"
	  "-16 0000:01:00.0: bound to nouveau: a reset would pull the device from under its driver (bind it to vfio-pci first: bind.lua)\n"
	  "-95 0000:00:00.0: the kernel offers no reset for it (no reset methods in ROOT/sys/bus/pci/devices/0000:00:00.0/reset_method)\n" },
	{ "reset-fails", "act", reset_a_free_device,
	  "dry run: write '1' to ROOT/sys/bus/pci/devices/0000:03:10.4/reset (methods in order: flr bus)\n"
	  "resets so far: 1\n\n"
	  "-5 0000:03:10.4: write '1' to ROOT/sys/bus/pci/devices/0000:03:10.4/reset: Input/output error\n"
	  "resets: 1\n"
	  "-16 0000:01:00.0: bound to nouveau: a reset would pull the device from under its driver (bind it to vfio-pci first: bind.lua)\n"
	  "-16 0000:01:00.0: bound to nouveau: a reset would pull the device from under its driver (bind it to vfio-pci first: bind.lua)\n"
	  "-95 0000:00:00.0: the kernel offers no reset for it (no reset methods in ROOT/sys/bus/pci/devices/0000:00:00.0/reset_method)\n", "reset@0000:03:10.4=EIO" },
	{ "sriov-vfs-with-their-driver", "act", sriov_vfs_with_their_driver,
	  "set 2: 0, numvfs 2\n-22 0000:03:00.0: 5 virtual functions asked, at most 4\n"
	  "-22 0000:01:00.0: cannot create virtual functions (no sriov_totalvfs)\nwait 2: 0 in time 1\n"
	  "-110 0000:03:00.0: 2 of 4 virtual functions after N ms (ROOT/sys/bus/pci/devices/0000:03:00.0/virtfnN)\n"
	  "0\nVFs on vfio-pci vfio-pci, autoprobe 1\n-22 0000:03:00.0: VF driver \"x/../y\" is not a driver name\n"},
	{ "sriov-fault-puts-the-count-back", "act", sriov_fault_puts_the_count_back,
	  "-5 0000:03:10.4: write 'vfio-pci' to ROOT/sys/bus/pci/devices/0000:03:10.4/driver_override: Input/output error; the VF count put back to 2\n"
	  "numvfs 2, autoprobe 1\n", "override@0000:03:10.4=EIO" },
	{ "rom-dump-and-romfile", "act", rom_dump_and_romfile,
	  "1024 bytes, 10de:2484, rom writes 1\n0\n"
	  "-2 0000:01:00.1: has no expansion ROM (its ROM BAR has no size in ROOT/sys/bus/pci/devices/0000:01:00.1/resource)\n"
	  "first write, backup: (none)\nsecond write, backup: /usr/share/kvm/gpu.rom.libpt-N\nread back: same 1\n"
	  "-22 romfile \"../gpu.rom\": a file name in /usr/share/kvm (letters, digits, '-', '_', '.', '+')\n"
	  "-2 ROOT/usr/share/kvm/absent.rom: No such file or directory\n" },
	{ "write-files", "act", write_files,
	  "-2 ROOT/etc/libpt/new.conf: its directory: No such file or directory\nmkdir: 0, backup (none)\n"
	  "backup: /etc/libpt/new.conf.libpt-N\nold a=1\nnew a=2\ndata: 0, mode 755, size 11\n"
	  "-22 ROOT/etc/link.conf: not a regular file (a link or device): not written\n"
	  "still a link 1, its target still theirs\n-22 etc/relative.conf: not a plain absolute path\n"
	  "-22 /etc/../../escape.conf: not a plain absolute path\n" },
	{ "hookscript-by-hand", "act", hookscript_by_hand,
	  "snippets of local: /var/lib/vz/snippets\n"
	  "-22 storage 'tank' (zfspool) keeps no files: snippets need a directory storage (dir, nfs, cifs, cephfs, btrfs), such as 'local'\n"
	  "-2 storage 'nowhere': not in ROOT/etc/pve/storage.cfg\ndry run: 0\n"
	  "write ROOT/var/lib/vz/snippets/libpt-100.sh (mode 0755)\n"
	  "qm set 100 --hookscript local:snippets/libpt-100.sh\n\nby hand: 1\n"
	  "write ROOT/var/lib/vz/snippets/libpt-100.sh (mode 0755)\n"
	  "to do by hand: qm set 100 --hookscript local:snippets/libpt-100.sh\n\nsnippet: 0 mode 755\n"
	  "-2 ROOT/etc/pve/qemu-server/555.conf: no such VM config\n"
	  "-22 snippet name '../x.sh': letters, digits, '.', '-' and '_' only\n" },
};

int main(int argc, char **argv)
{
	return run_tests(tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
