/*
 * libFuzzer target: the string parsers that take sysfs and command-line text. Properties, not
 * just "no crash": an address that parses formats back to a canonical form that parses to the
 * same key; a cleaned string has no control byte and cleaning it again changes nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../libpt/libpt-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	uint64_t key, again;
	unsigned long long v;
	char canonical[PT_ADDR_MAX];

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (pt_address_parse(s, &key) == 0) {
		pt_address_format(key, canonical);
		if (pt_address_parse(canonical, &again) != 0 || again != key)
			abort();
	}
	(void)pt_parse_hex(s, ~0ULL, &v);
	(void)pt_parse_uint(s, ~0ULL, &v);
	char *clean = pt_clean_string(s);
	if (clean) {
		for (const unsigned char *p = (const unsigned char *)clean; *p; p++)
			if (*p < 0x20 || *p == 0x7f)
				abort();
		char *twice = pt_clean_string(clean);
		if (twice && strcmp(twice, clean) != 0)
			abort();
		free(twice);
	}
	free(clean);
	free(s);
	return 0;
}
