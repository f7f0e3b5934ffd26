/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Option ROMs, a GPU's vBIOS among them: a device's own, read through sysfs `rom`, or a file a
 * user brings (PCI Firmware Specification 3.x: each image starts with 55 AA and points to its
 * PCI Data Structure, "PCIR", which gives the ids, the code type and the length; EFI images
 * carry their own header). Without an EFI image OVMF shows nothing before the guest's driver.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libpt-private.h"

#define PCIR_POINTER 0x18
#define MAX_IMAGES 8
#define EFI_SIGNATURE 0x0ef1

static uint16_t le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Where the PCIR of an image at `at` is, or 0 when there is no image there. */
static size_t pcir_at(const unsigned char *d, size_t len, size_t at)
{
	if (at + PCIR_POINTER + 2 > len || d[at] != 0x55 || d[at + 1] != 0xaa)
		return 0;
	size_t p = at + le16(d + at + PCIR_POINTER);
	if (p < at + PCIR_POINTER + 2 || p + 0x18 > len || memcmp(d + p, "PCIR", 4) != 0)
		return 0;
	return p;
}

struct pt_rom {
	int refcount;
	size_t start, end;
	size_t n_images;
	pt_rom_image images[MAX_IMAGES];
	const char *problem;
};

static void parse_image(const unsigned char *d, size_t len, size_t at, size_t pcir, pt_rom_image *img)
{
	*img = PT_INIT(pt_rom_image);
	img->offset = at;
	img->vendor_id = le16(d + pcir + 4);
	img->device_id = le16(d + pcir + 6);
	img->class_code = (uint32_t)d[pcir + 0x0d] | (uint32_t)d[pcir + 0x0e] << 8 |
			  (uint32_t)d[pcir + 0x0f] << 16;
	img->length = (size_t)le16(d + pcir + 0x10) * 512;
	img->code_type = d[pcir + 0x14];
	img->last = (d[pcir + 0x15] & 0x80) != 0;
	img->checksum_ok = -1;
	/* PCIR revision 3: a list of further device ids the image supports, ending with 0 */
	size_t list = le16(d + pcir + 8);
	if (d[pcir + 0x0c] >= 3 && list) {
		for (size_t p = pcir + list; p + 2 <= len && img->n_device_list < PT_ROM_MAX_DEVICE_LIST; p += 2) {
			uint16_t id = le16(d + p);
			if (!id)
				break;
			img->device_list[img->n_device_list++] = id;
		}
	}
	if (img->code_type == PT_ROM_CODE_X86 && at + 3 <= len) {
		/* the legacy image's bytes over its initialization size sum to 0 */
		size_t n = (size_t)d[at + 2] * 512;
		if (n && at + n <= len) {
			unsigned char sum = 0;
			for (size_t i = 0; i < n; i++)
				sum = (unsigned char)(sum + d[at + i]);
			img->checksum_ok = sum == 0;
		} else {
			img->checksum_ok = 0;
		}
	} else if (img->code_type == PT_ROM_CODE_EFI && at + 0x0c <= len &&
		   le32(d + at + 4) == EFI_SIGNATURE) {
		img->efi_machine = le16(d + at + 0x0a);
	}
}

PT_EXPORT int pt_rom_parse(const void *data, size_t len, pt_rom **ret)
{
	const unsigned char *d = data;
	pt_rom *info;
	size_t at = 0, pcir = 0;

	if ((!data && len) || !ret)
		return -EINVAL;
	info = calloc(1, sizeof(*info));
	if (!info)
		return -ENOMEM;
	info->refcount = 1;
	/* A dump made by a flashing tool carries its own header first: the image starts at the
	 * first 55 AA that points to a PCIR structure. */
	for (; at + PCIR_POINTER + 2 <= len; at++)
		if ((pcir = pcir_at(d, len, at)))
			break;
	if (!pcir) {
		info->problem = len < 2 || d[0] != 0x55 || d[1] != 0xaa
					? "no option ROM image: no 55 AA signature followed by a PCIR structure"
					: "55 AA, but its PCIR pointer leads to no PCIR structure";
		*ret = info;
		return 0;
	}
	info->start = at;
	while (pcir && info->n_images < MAX_IMAGES) {
		pt_rom_image *img = &info->images[info->n_images++];
		parse_image(d, len, at, pcir, img);
		if (!img->length) {
			info->problem = "an image of length 0";
			break;
		}
		if (at + img->length > len) {
			info->problem = "the last image runs past the end of the data (a truncated dump?)";
			info->end = len;
			break;
		}
		info->end = at + img->length;
		if (img->last)
			break;
		at += img->length;
		pcir = pcir_at(d, len, at);
		if (!pcir)
			info->problem = "an image not marked last, and no image after it";
	}
	*ret = info;
	return 0;
}

static void destroy_rom(pt_rom *rom)
{
	free(rom);
}

PT_DEFINE_REFCOUNT(pt_rom, destroy_rom)

PT_EXPORT size_t pt_rom_get_start(const pt_rom *rom) { return rom ? rom->start : 0; }
PT_EXPORT size_t pt_rom_get_end(const pt_rom *rom) { return rom ? rom->end : 0; }
PT_EXPORT const char *pt_rom_get_problem(const pt_rom *rom) { return rom ? rom->problem : NULL; }
PT_EXPORT size_t pt_rom_get_image_count(const pt_rom *rom) { return rom ? rom->n_images : 0; }

PT_EXPORT int pt_rom_get_image(const pt_rom *rom, size_t i, pt_rom_image *ret)
{
	if (!rom || i >= rom->n_images)
		return -ENOENT;
	return PT_STRUCT_OUT(ret, &rom->images[i]);
}

PT_EXPORT int pt_rom_image_matches(const pt_rom_image *img, uint16_t vendor, uint16_t device)
{
	if (!img || img->vendor_id != vendor)
		return 0;
	if (img->device_id == device)
		return 1;
	for (unsigned i = 0; i < img->n_device_list; i++)
		if (img->device_list[i] == device)
			return 1;
	return 0;
}

PT_EXPORT const char *pt_rom_code_type_name(unsigned code_type)
{
	switch (code_type) {
	case PT_ROM_CODE_X86: return "x86 (legacy BIOS)";
	case PT_ROM_CODE_OPEN_FIRMWARE: return "Open Firmware";
	case PT_ROM_CODE_HPPA: return "HP PA-RISC";
	case PT_ROM_CODE_EFI: return "EFI";
	default: return "unknown";
	}
}


PT_EXPORT int pt_romfile_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (!n || n > 128 || !((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z') ||
			       (name[0] >= '0' && name[0] <= '9')))
		return 0;
	for (const char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		      *c == '-' || *c == '_' || *c == '.' || *c == '+'))
			return 0;
	return 1;
}

int pt_romfile_check(pt_ctx *ctx, const char *name)
{
	if (!pt_romfile_name_valid(name))
		return pt_fail(ctx, -EINVAL, "romfile \"%.80s\": a file name in " PT_ROMFILE_DIR " (letters, "
			       "digits, '-', '_', '.', '+')", name ? name : "");
	return 0;
}

PT_EXPORT int pt_ctx_read_romfile(pt_ctx *ctx, const char *name, void **data, size_t *len)
{
	char path[256];
	int r;

	if (!ctx || !data || !len)
		return -EINVAL;
	if ((r = pt_romfile_check(ctx, name)) < 0)
		return r;
	snprintf(path, sizeof(path), PT_ROMFILE_DIR "/%s", name);
	int fd = pt_open_in_root(ctx->rootfd, path + 1, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0);
	if (fd < 0)
		return pt_fail(ctx, -errno, "%s%s: %m", ctx->root, path);
	struct stat st;
	unsigned char *buf = NULL;
	size_t got = 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)PT_ROM_MAX) {
		close(fd);
		return pt_fail(ctx, -EINVAL, "%s%s: not a regular file of at most %u MiB", ctx->root, path,
			       PT_ROM_MAX >> 20);
	}
	buf = malloc((size_t)st.st_size + 1);
	r = buf ? 0 : -ENOMEM;
	while (!r && got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			r = n < 0 ? -errno : -EIO;
		else
			got += (size_t)n;
	}
	close(fd);
	if (r < 0) {
		free(buf);
		return pt_fail(ctx, r, "%s%s: %s", ctx->root, path, strerror(-r));
	}
	*data = buf;
	*len = got;
	return 0;
}
