// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Value structs crossing the API (libpt.h's second rule): each starts with its size, so that a
 * program built with an older or newer header and this library agree on what each side has.
 */
#include <errno.h>
#include <string.h>

#include "libpt-private.h"

/* No value struct comes near this: a larger size is garbage, not a newer libpt.h. */
#define PT_STRUCT_MAX 4096

int pt_struct_in(void *dst, size_t len, size_t min, const void *src)
{
	size_t size;

	if (!src)
		return -EINVAL;
	memcpy(&size, src, sizeof(size));
	if (size < min || size > PT_STRUCT_MAX)
		return -EINVAL;
	/* a newer caller's members past ours must be unset: we would ignore them */
	for (size_t i = len; i < size; i++)
		if (((const unsigned char *)src)[i])
			return -E2BIG;
	memset(dst, 0, len);
	memcpy(dst, src, size < len ? size : len);
	memcpy(dst, &len, sizeof(len));
	return 0;
}

int pt_struct_out(void *out, size_t min, const void *src, size_t len)
{
	size_t size;

	if (!out)
		return -EINVAL;
	memcpy(&size, out, sizeof(size));
	if (size < min || size > PT_STRUCT_MAX)
		return -EINVAL;
	memcpy(out, src, size < len ? size : len);
	if (size > len)
		memset((unsigned char *)out + len, 0, size - len);
	memcpy(out, &size, sizeof(size));
	return 0;
}

int pt_struct_check(const void *p, size_t min)
{
	size_t size;

	if (!p)
		return -EINVAL;
	memcpy(&size, p, sizeof(size));
	return size < min || size > PT_STRUCT_MAX ? -EINVAL : 0;
}

int pt_struct_fail(pt_ctx *ctx, int r, const char *call, const char *type)
{
	if (r == -E2BIG)
		return pt_fail(ctx, r, "%s: a %s larger than this library's that sets members it does not know "
			       "(a program built with a newer libpt.h)", call, type);
	return pt_fail(ctx, r, "%s: no %s, or its size is not one (set .size = sizeof(%s))", call, type, type);
}
