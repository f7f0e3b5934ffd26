/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* PCI addresses: "DDDD:BB:SS.F", with a 5-digit domain behind Intel VMD ("10000:01:00.0"). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "libpt-private.h"

static int hex_field(const char **p, int min, int max, unsigned *ret)
{
	unsigned v = 0;
	int n = 0;

	while (isxdigit((unsigned char)**p) && n < max) {
		char c = (char)tolower((unsigned char)**p);
		v = v * 16 + (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
		(*p)++;
		n++;
	}
	if (n < min || isxdigit((unsigned char)**p))
		return -EINVAL;
	*ret = v;
	return 0;
}

int pt_address_parse(const char *s, uint64_t *key)
{
	unsigned domain = 0, bus, slot, fn;
	const char *p = s;
	const char *colon = strchr(s, ':');

	if (!colon)
		return -EINVAL;
	if (strchr(colon + 1, ':')) {
		if (hex_field(&p, 4, 5, &domain) < 0 || *p++ != ':')
			return -EINVAL;
	}
	if (hex_field(&p, 2, 2, &bus) < 0 || *p++ != ':' ||
	    hex_field(&p, 2, 2, &slot) < 0 || *p++ != '.' ||
	    hex_field(&p, 1, 1, &fn) < 0 || *p != '\0')
		return -EINVAL;
	if (slot > 0x1f || fn > 7)
		return -EINVAL;
	*key = PT_KEY(domain, bus, (slot << 3) | fn);
	return 0;
}

/* "%04x:%02x:%02x.%x" by hand: every device of a scan is formatted, snprintf is slow. */
void pt_address_format(uint64_t key, char buf[PT_ADDR_MAX])
{
	static const char hex[] = "0123456789abcdef";
	unsigned domain = (unsigned)(key >> 16), bus = (unsigned)(key >> 8) & 0xff, devfn = key & 0xff;
	char *p = buf;

	if (domain > 0xffff)
		*p++ = hex[(domain >> 16) & 0xf];
	for (int shift = 12; shift >= 0; shift -= 4)
		*p++ = hex[(domain >> shift) & 0xf];
	*p++ = ':';
	*p++ = hex[bus >> 4];
	*p++ = hex[bus & 0xf];
	*p++ = ':';
	*p++ = hex[(devfn >> 3) >> 4];
	*p++ = hex[(devfn >> 3) & 0xf];
	*p++ = '.';
	*p++ = hex[devfn & 7];
	*p = '\0';
}
