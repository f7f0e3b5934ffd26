/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The context's one libpci handle, opened on first use (names, capabilities) and forced to its
 * linux-sysfs method under the root: libpci would otherwise fall back to /proc/bus/pci and
 * describe the machine it runs on. libpci's fatal errors must not return: pt_libpci_call runs a
 * function with them caught.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdio.h>

#include <pci/pci.h>

#include "libpt-private.h"

static __thread jmp_buf *pci_escape;

static void PCI_NONRET pci_error(char *msg, ...)
{
	(void)msg;
	longjmp(*pci_escape, 1);
}

static void pci_quiet(char *msg, ...)
{
	(void)msg;
}

static void release_libpci(pt_ctx *ctx)
{
	if (ctx->pacc)
		pci_cleanup(ctx->pacc);
	ctx->pacc = NULL;
}

static void open_libpci(struct pci_access *unused, void *arg)
{
	pt_ctx *ctx = arg;
	char path[PATH_MAX];
	struct pci_access *pacc = pci_alloc();

	(void)unused;
	if (!pacc)
		return;
	pacc->error = pci_error;
	pacc->warning = pci_quiet;
	pacc->debug = pci_quiet;
	pacc->method = PCI_ACCESS_SYS_BUS_PCI;
	snprintf(path, sizeof(path), "%s/sys/bus/pci", ctx->root);
	ctx->pacc = pacc; /* released by the context even when pci_init gives up */
	ctx->release_libpci = release_libpci;
	pci_set_param(pacc, "sysfs.path", path);
	pci_init(pacc);
}

int pt_libpci_call(pt_ctx *ctx, void (*fn)(struct pci_access *pacc, void *arg), void *arg)
{
	jmp_buf here, *outer = pci_escape;

	pci_escape = &here;
	if (setjmp(here)) {
		pci_escape = outer;
		if (!ctx->libpci_failed)
			pt_warn(ctx, "libpci could not be used under %s/sys/bus/pci", ctx->root);
		ctx->libpci_failed = true;
		return -EIO;
	}
	if (!ctx->pacc && !ctx->libpci_failed)
		open_libpci(NULL, ctx);
	if (ctx->pacc && !ctx->libpci_failed)
		fn(ctx->pacc, arg);
	pci_escape = outer;
	return ctx->pacc && !ctx->libpci_failed ? 0 : -EIO;
}
