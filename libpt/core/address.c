/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* PCI addresses: "DDDD:BB:SS.F", with a 5-digit domain behind Intel VMD ("10000:01:00.0"), and
 * Proxmox's slot form "DDDD:BB:SS"; the domain may be left out. */
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

/*
 * The one PCI id grammar, wherever an address is typed: "[DDDD:]BB:SS.F" names a function,
 * "[DDDD:]BB:SS" the whole slot (Proxmox's hostpci form: every function of the slot, as
 * qemu-server reads it). The domain has 4 or 5 hex digits (Intel VMD), any case. *slot tells
 * the forms apart; the key is the function's, function 0's for a slot.
 */
int pt_pci_id_parse(const char *s, uint64_t *key, bool *slot)
{
	unsigned domain = 0, bus, dev, fn = 0;
	const char *p = s, *colon = s ? strchr(s, ':') : NULL;

	if (!colon)
		return -EINVAL;
	if (strchr(colon + 1, ':')) {
		if (hex_field(&p, 4, 5, &domain) < 0 || *p++ != ':')
			return -EINVAL;
	}
	if (hex_field(&p, 2, 2, &bus) < 0 || *p++ != ':' || hex_field(&p, 2, 2, &dev) < 0)
		return -EINVAL;
	*slot = *p == '\0';
	if (!*slot && (*p++ != '.' || hex_field(&p, 1, 1, &fn) < 0 || *p != '\0'))
		return -EINVAL;
	if (dev > 0x1f || fn > 7)
		return -EINVAL;
	*key = PT_KEY(domain, bus, (dev << 3) | fn);
	return 0;
}

int pt_pci_id_check(pt_ctx *ctx, const char *s, uint64_t *key, bool *slot)
{
	char q[96];

	if (!s || pt_pci_id_parse(s, key, slot) < 0)
		return pt_fail(ctx, -EINVAL, "%s is not a PCI address (DDDD:BB:SS.F) or slot (DDDD:BB:SS)",
			       pt_quote(q, sizeof(q), s ? s : "nil"));
	return 0;
}

int pt_address_parse(const char *s, uint64_t *key)
{
	bool slot;
	uint64_t k;

	if (pt_pci_id_parse(s, &k, &slot) < 0 || slot)
		return -EINVAL;
	*key = k;
	return 0;
}

PT_EXPORT int pt_pci_id_normalize(const char *s, char *out, size_t size)
{
	char buf[PT_ADDR_MAX];
	uint64_t key;
	bool slot;

	if (!s || !out || pt_pci_id_parse(s, &key, &slot) < 0)
		return -EINVAL;
	pt_address_format(key, buf);
	if (slot)
		buf[strlen(buf) - 2] = '\0';
	if (strlen(buf) >= size)
		return -ENOSPC;
	memcpy(out, buf, strlen(buf) + 1);
	return slot ? 1 : 0;
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
