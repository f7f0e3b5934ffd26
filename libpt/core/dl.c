/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Libraries loaded on first use. Each shared library a process links costs it at every start
 * (mapping, relocation, its own dependencies: libmount brings libblkid, libselinux and
 * libpcre2), while only some calls need libkmod, libusb or libmount; `make bench` measures
 * ptlua's start-up against lua5.4's. A library is loaded once a process and never unloaded.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "libpt-private.h"

static pthread_mutex_t loading = PTHREAD_MUTEX_INITIALIZER;

int pt_dl_load(struct pt_dl *dl)
{
	pthread_mutex_lock(&loading);
	if (!dl->tried) {
		dl->tried = true;
		void *h = dlopen(dl->soname, RTLD_NOW | RTLD_LOCAL);
		if (!h)
			snprintf(dl->error, sizeof(dl->error), "%s", dlerror());
		for (size_t i = 0; h && i < dl->n; i++)
			if (!(dl->fns[i] = dlsym(h, dl->names[i]))) {
				snprintf(dl->error, sizeof(dl->error), "%s: no %s", dl->soname, dl->names[i]);
				h = NULL; /* what is loaded stays: a library is loaded once a process */
			}
		dl->loaded = h != NULL;
	}
	pthread_mutex_unlock(&loading);
	return dl->loaded ? 0 : -ENOPKG;
}
