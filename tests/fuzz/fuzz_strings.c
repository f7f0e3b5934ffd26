/*
 * libFuzzer target: the string parsers that take sysfs and command-line text. Properties, not
 * just "no crash": an address that parses formats back to a canonical form that parses to the
 * same key; a cleaned string has no control byte and cleaning it again changes nothing; the
 * option ROM parser (the same bytes as a ROM file) gives images inside the data, in order.
 */
#include <errno.h>
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

	pt_rom *rom = NULL;
	if (pt_rom_parse(data, size, &rom) != 0 || !rom)
		abort(); /* any data parses: a non-ROM has no image, and its problem says why */
	size_t n = pt_rom_get_image_count(rom), at = pt_rom_get_start(rom);
	if (n == 0) {
		if (!pt_rom_get_problem(rom))
			abort();
	} else if (n > 8 || pt_rom_get_end(rom) > size || pt_rom_get_start(rom) >= size) {
		abort();
	}
	for (size_t i = 0; i < n; i++) {
		pt_rom_image img = PT_INIT(pt_rom_image);
		if (pt_rom_get_image(rom, i, &img) < 0 || img.offset != at || img.offset + 0x1a > size ||
		    (i + 1 < n && img.offset + img.length > size))
			abort();
		at += img.length;
	}
	pt_rom_image past = PT_INIT(pt_rom_image);
	if (pt_rom_get_image(rom, n, &past) != -ENOENT)
		abort();
	pt_rom_unref(rom);
	return 0;
}
