/* The C API against a fixture tree given as argv[1]: what a C program linking libpt sees. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "libpt.h"

static int failures;

#define CHECK(cond, ...)                                                  \
	do {                                                              \
		if (!(cond)) {                                            \
			fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                     \
			fputc('\n', stderr);                              \
			failures++;                                       \
		}                                                         \
	} while (0)

static int logged;

static void log_fn(void *data, int priority, const char *file, int line, const char *fn,
		   const char *format, va_list args)
{
	(void)file; (void)line; (void)fn; (void)format; (void)args;
	if (priority <= LOG_WARNING)
		(*(int *)data)++;
}

int main(int argc, char **argv)
{
	pt_opts opts = { .size = sizeof(opts), .log_fn = log_fn, .log_data = &logged };
	pt_ctx *ctx = NULL;
	pt_enum *e = NULL;
	pt_device *dev = NULL, *kept;

	if (argc != 3) {
		fprintf(stderr, "usage: test-api ROOT NOT-SYSFS\n");
		return 2;
	}
	/* Options that predate `root` are refused rather than misread. */
	pt_opts old = { .size = sizeof(size_t) };
	CHECK(pt_ctx_new(&ctx, &old) == -EINVAL, "short opts accepted");
	CHECK(ctx == NULL, "output written on failure");

	opts.root = argv[2];
	CHECK(pt_ctx_new(&ctx, &opts) == 0, "ctx on a plain dir");
	CHECK(pt_enum_scan(ctx, 0, &e) == -ENOENT, "scan of a tree that is not sysfs");
	CHECK(e == NULL, "output written on failure");
	CHECK(strstr(pt_ctx_last_error(ctx), "not a sysfs tree") != NULL, "message: %s",
	      pt_ctx_last_error(ctx));
	ctx = pt_ctx_unref(ctx);

	opts.root = argv[1];
	CHECK(pt_ctx_new(&ctx, &opts) == 0, "ctx");
	CHECK(strcmp(pt_ctx_get_root(ctx), argv[1]) == 0, "root %s", pt_ctx_get_root(ctx));
	CHECK(pt_enum_scan(ctx, 0, &e) == 0, "scan: %s", pt_ctx_last_error(ctx));
	CHECK(pt_enum_has_iommu(e) == 1, "iommu");
	CHECK(pt_enum_get_device_count(e) == 21, "count %zu", pt_enum_get_device_count(e));
	CHECK(pt_enum_get_group_count(e) == 15, "groups %zu", pt_enum_get_group_count(e));

	CHECK(pt_enum_find_device(e, "01:00.0", &dev) == 0, "short address");
	CHECK(dev && strcmp(pt_device_get_address(dev), "0000:01:00.0") == 0, "address");
	CHECK(pt_device_get_vendor_id(dev) == 0x10de && pt_device_get_device_id(dev) == 0x1d01, "ids");
	CHECK(pt_device_get_class(dev) == 0x030000, "class %06x", pt_device_get_class(dev));
	CHECK(pt_device_get_revision(dev) == 0xa1, "revision");
	CHECK(pt_device_get_verdict(dev) == PT_VERDICT_WITH_COMPANIONS, "verdict %s",
	      pt_verdict_to_string(pt_device_get_verdict(dev)));
	CHECK(pt_device_get_set_size(dev) == 2, "set size");
	CHECK(strcmp(pt_device_get_address(pt_device_get_set_member(dev, 1)), "0000:01:00.1") == 0, "set");
	CHECK(pt_device_get_set_member(dev, 2) == NULL, "out of range");
	CHECK(pt_device_get_parent(dev) &&
	      strcmp(pt_device_get_address(pt_device_get_parent(dev)), "0000:00:01.0") == 0, "parent");
	CHECK(pt_device_is_bridge(pt_device_get_parent(dev)), "parent is a bridge");
	CHECK(pt_group_get_number(pt_device_get_group(dev)) == 2, "group");
	CHECK(strcmp(pt_group_get_type(pt_device_get_group(dev)), "DMA") == 0, "group type");
	CHECK(pt_group_get_device_count(pt_device_get_group(dev)) == 3, "group members");
	CHECK(pt_group_get_set_size(pt_device_get_group(dev)) == 2, "group set");
	CHECK(pt_device_get_driver(dev) == NULL, "no driver");
	CHECK(pt_device_get_boot_vga(dev) == 0, "not boot vga");
	CHECK(pt_device_get_vendor_name(dev) && strcmp(pt_device_get_vendor_name(dev), "NVIDIA Corporation") == 0,
	      "vendor name");
	CHECK(pt_device_get_class_name(dev) &&
	      strcmp(pt_device_get_class_name(dev), "VGA compatible controller") == 0, "class name");
	CHECK(strcmp(pt_device_get_reset_method(dev), "flr bus") == 0, "reset method");

	CHECK(pt_enum_find_device(e, "0000:09:00.0", &dev) == -ENOENT, "absent device");
	CHECK(strstr(pt_ctx_last_error(ctx), "0000:09:00.0") != NULL, "names the address: %s",
	      pt_ctx_last_error(ctx));
	CHECK(pt_enum_find_device(e, "0000:01:00.0\n", &dev) == -EINVAL, "trailing newline");
	CHECK(pt_enum_find_device(e, "0000:01:20.0", &dev) == -EINVAL, "slot > 0x1f");
	CHECK(pt_enum_find_device(e, "000:01:00.0", &dev) == -EINVAL, "3-digit domain");
	CHECK(pt_enum_find_device(e, "0000:01:00.8", &dev) == -EINVAL, "function 8");
	CHECK(pt_enum_find_device(e, "../01:00.0", &dev) == -EINVAL, "path");
	CHECK(pt_enum_find_device(e, NULL, &dev) == -EINVAL, "NULL");
	CHECK(pt_enum_find_device(e, "0000:01:00.0", &dev) == 0, "found again");

	/* A device keeps its snapshot alive after the caller drops it. */
	kept = pt_device_ref(dev);
	e = pt_enum_unref(e);
	CHECK(e == NULL, "unref returns NULL");
	CHECK(strcmp(pt_device_get_address(kept), "0000:01:00.0") == 0, "kept device usable");
	CHECK(pt_device_get_set_size(kept) == 2, "kept set");
	pt_device_unref(kept);
	CHECK(pt_ctx_unref(NULL) == NULL && pt_enum_unref(NULL) == NULL && pt_device_unref(NULL) == NULL,
	      "unref NULL");
	CHECK(logged == 0, "no warnings on a clean tree (%d)", logged);
	pt_ctx_unref(ctx);
	if (failures)
		fprintf(stderr, "%d checks failed\n", failures);
	return failures ? 1 : 0;
}
