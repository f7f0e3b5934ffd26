/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libkmod, loaded on first use. Linking it costs every process that links libpt about 3.4 M
 * instructions at start-up (libkmod brings libcrypto, libzstd and liblzma, and they initialise),
 * while only the doctor's module checks and loading vfio-pci need it: `make bench` measures
 * ptlua's start-up against lua5.4's. The wrappers have libkmod's own signatures.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <stdbool.h>
#include <unistd.h>

#include "libpt-private.h"

struct kmod_list;

static struct {
	struct kmod_ctx *(*new)(const char *, const char *const *);
	struct kmod_ctx *(*unref)(struct kmod_ctx *);
	int (*module_new_from_name)(struct kmod_ctx *, const char *, struct kmod_module **);
	struct kmod_module *(*module_unref)(struct kmod_module *);
	const char *(*module_get_path)(const struct kmod_module *);
	int (*probe_insert_module)(struct kmod_module *, unsigned, const char *,
				   int (*)(struct kmod_module *, const char *, void *), const void *,
				   void (*)(struct kmod_module *, bool, void *));
	int (*module_new_from_lookup)(struct kmod_ctx *, const char *, struct kmod_list **);
	struct kmod_list *(*list_next)(const struct kmod_list *, const struct kmod_list *);
	struct kmod_module *(*module_get_module)(const struct kmod_list *);
	const char *(*module_get_name)(const struct kmod_module *);
	int (*module_unref_list)(struct kmod_list *);
} k;
static const char *const names[] = {
	"kmod_new", "kmod_unref", "kmod_module_new_from_name", "kmod_module_unref", "kmod_module_get_path",
	"kmod_module_probe_insert_module", "kmod_module_new_from_lookup", "kmod_list_next", "kmod_module_get_module",
	"kmod_module_get_name", "kmod_module_unref_list",
};
_Static_assert(sizeof(names) / sizeof(*names) == sizeof(k) / sizeof(void *), "one name a call");
static struct pt_dl libkmod = PT_DL("libkmod.so.2", names, k);

static bool load(void)
{
	return pt_dl_load(&libkmod) == 0;
}

static void release_kmod(pt_ctx *ctx)
{
	if (ctx->kmod && load())
		k.unref(ctx->kmod);
	ctx->kmod = NULL;
}

/*
 * The context's one libkmod context, made on first use: on the host itself (root "/") libkmod's
 * own defaults (the running kernel's modules, the system's modprobe.d, so a module inserted gets
 * its options); under another root that tree's /lib/modules/RELEASE and no configuration at all
 * (modprobe.d is read by modprobe.c, with the file and line of every rule, never blocking).
 * NULL with errno ENOSYS when libkmod cannot be loaded.
 */
struct kmod_ctx *pt_kmod_context(pt_ctx *ctx)
{
	static const char *const no_config[] = { NULL };
	char dir[PATH_MAX], release[128] = "";

	if (ctx->kmod)
		return ctx->kmod;
	if (!load()) {
		errno = ENOSYS;
		return NULL;
	}
	if (!ctx->root[0]) {
		ctx->kmod = k.new(NULL, NULL);
	} else {
		FILE *f = pt_fopen_regular(ctx->rootfd, "proc/sys/kernel/osrelease");
		if (f && fgets(release, sizeof(release), f))
			release[strcspn(release, "\n")] = '\0';
		if (f)
			fclose(f);
		snprintf(dir, sizeof(dir), "%s/lib/modules/%s", ctx->root, release[0] ? release : "unknown");
		ctx->kmod = k.new(dir, no_config);
	}
	if (ctx->kmod)
		ctx->release_kmod = release_kmod;
	return ctx->kmod;
}

int pt_kmod_module_new_from_name(struct kmod_ctx *ctx, const char *name, struct kmod_module **mod)
{
	return load() ? k.module_new_from_name(ctx, name, mod) : -ENOSYS;
}

void pt_kmod_module_unref(struct kmod_module *mod)
{
	if (mod && load())
		k.module_unref(mod);
}

const char *pt_kmod_module_get_path(const struct kmod_module *mod)
{
	return load() ? k.module_get_path(mod) : NULL;
}

int pt_kmod_module_probe_insert_module(struct kmod_module *mod, unsigned flags)
{
	return load() ? k.probe_insert_module(mod, flags, NULL, NULL, NULL, NULL) : -ENOSYS;
}

int pt_kmod_alias_module(pt_ctx *ctx, const char *alias, char *buf, size_t size)
{
	struct kmod_ctx *kc = pt_kmod_context(ctx);
	struct kmod_list *list = NULL;
	int r;

	if (!kc)
		return -ENOSYS;
	if ((r = k.module_new_from_lookup(kc, alias, &list)) < 0)
		return r;
	r = -ENOENT;
	if (list) { /* the first: the module alias lookup's order, as modprobe takes it */
		struct kmod_module *m = k.module_get_module(list);
		const char *name = m ? k.module_get_name(m) : NULL;
		if (name) {
			snprintf(buf, size, "%s", name);
			r = 0;
		}
		if (m)
			k.module_unref(m);
	}
	k.module_unref_list(list);
	return r;
}

/* Whether sys/bus/pci/drivers/NAME is there (NAME a driver name: no '/'). */
static bool pci_driver_there(pt_ctx *ctx, const char *name)
{
	char path[96];

	snprintf(path, sizeof(path), "sys/bus/pci/drivers/%.63s", name);
	return faccessat(ctx->rootfd, path, F_OK, 0) == 0;
}

/* buf is always written: the driver's name (0), the module's (-ENOENT), "" (-EINVAL: module is
 * no module name). */
int pt_module_pci_driver(pt_ctx *ctx, const char *module, char *buf, size_t size)
{
	char spelled[3][64], path[96]; /* the module's name as given, with '_' (/sys/module's), with '-' */
	int r = -ENOENT;

	snprintf(buf, size, "%s", "");
	if (!pt_driver_name_valid(module))
		return -EINVAL;
	for (int i = 0; i < 3; i++) {
		snprintf(spelled[i], sizeof(spelled[i]), "%s", module);
		for (char *c = spelled[i]; i > 0 && *c; c++)
			if (*c == (i == 1 ? '-' : '_'))
				*c = i == 1 ? '_' : '-';
	}
	/* a loaded module lists its drivers: /sys/module/MOD/drivers/pci:NAME; NAME goes to
	 * driver_override, so one that is no driver name is skipped */
	snprintf(path, sizeof(path), "sys/module/%s/drivers", spelled[1]);
	int fd = openat(ctx->rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d && fd >= 0)
		close(fd);
	for (struct dirent *de; d && r < 0 && (de = readdir(d));) {
		const char *name = de->d_name + 4;
		if (strncmp(de->d_name, "pci:", 4) == 0 && name[0] && pt_driver_name_valid(name) && strlen(name) < size) {
			snprintf(buf, size, "%s", name);
			r = 0;
		}
	}
	if (d)
		closedir(d);
	/* else a driver of the module's name, in any of its spellings */
	for (int i = 0; r < 0 && i < 3; i++)
		if (pci_driver_there(ctx, spelled[i])) {
			snprintf(buf, size, "%s", spelled[i]);
			r = 0;
		}
	if (r < 0)
		snprintf(buf, size, "%s", module);
	return r;
}
