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

	pt_rom_info *rom = NULL;
	int r = pt_rom_parse(data, size, &rom);
	if (r == 0) {
		size_t at = rom->start;
		if (!rom->n_images || rom->end > size || rom->start >= size)
			abort();
		for (size_t i = 0; i < rom->n_images; i++) {
			const struct pt_rom_image *img = &rom->images[i];
			if (img->offset != at || img->offset + 0x1a > size ||
			    (i + 1 < rom->n_images && img->offset + img->length > size))
				abort();
			at += img->length;
		}
	} else if (r != -ENOEXEC || !rom || !rom->problem) {
		abort();
	}
	pt_rom_info_free(rom);
	return 0;
}
