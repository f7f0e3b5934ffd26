/*
 * libFuzzer target: what libpt reads from files it does not write, on a tree made once: the
 * first byte picks the file the rest of the input becomes (a device's uevent, config or
 * resource, a journal, a modprobe.d file, another node's published report, a Proxmox section
 * config such as storage.cfg or mapping/pci.cfg), then the reader runs over it.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../libpt/libpt-private.h"

static char root[64];
static pt_ctx *ctx;

static void put(const char *rel, const uint8_t *data, size_t size)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		if (size && write(fd, data, size) < 0)
			abort();
		close(fd);
	}
}

static void mk(const char *rel)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	mkdir(path, 0700);
}

static void setup(void)
{
	snprintf(root, sizeof(root), "/tmp/libpt-fuzz-XXXXXX");
	if (!mkdtemp(root))
		abort();
	const char *dirs[] = { "sys", "sys/bus", "sys/bus/pci", "sys/bus/pci/devices", "sys/bus/pci/devices/0000:01:00.0",
			       "run", "run/libpt", "etc", "etc/modprobe.d", "etc/pve", "etc/pve/nodes", "etc/pve/nodes/pve2",
			       NULL };
	for (int i = 0; dirs[i]; i++)
		mk(dirs[i]);
	pt_opts opts = { .size = sizeof(opts), .root = root };
	if (pt_ctx_new(&ctx, &opts) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ctx)
		setup();
	if (size < 1)
		return 0;
	static const char *const files[] = { "sys/bus/pci/devices/0000:01:00.0/uevent",
					     "sys/bus/pci/devices/0000:01:00.0/config",
					     "sys/bus/pci/devices/0000:01:00.0/resource",
					     "run/libpt/0000:01:00.0", "etc/modprobe.d/fuzz.conf", "etc/pve/nodes/pve2/libpt.json",
					     "etc/pve/storage.cfg" };
	unsigned which = data[0] % 7;
	put(files[which], data + 1, size - 1);
	if (which < 3) {
		pt_enum *e;
		if (pt_enum_scan(ctx, 0, &e) == 0) {
			char *json = pt_device_to_json(pt_enum_get_device(e, 0));
			free(json);
			pt_enum_unref(e);
		}
	} else if (which == 3) {
		struct pt_journal j;
		if (pt_journal_read(ctx, "0000:01:00.0", &j) == 0 &&
		    (!pt_driver_name_valid(j.driver) || !pt_driver_name_valid(j.override) || j.vm < 100))
			abort(); /* a journal read back holds only what a journal may hold */
	} else if (which == 4) {
		struct pt_modprobe m;
		if (pt_modprobe_load(ctx, &m) == 0)
			pt_modprobe_free(&m);
	} else if (which == 6) {
		pt_pve_config *c;
		if (pt_pve_config_read(ctx, "/etc/pve/storage.cfg", &c) == 0) {
			/* every section has an id; every property a key and a value, the key without blanks */
			for (size_t i = 0; i < pt_pve_config_get_section_count(c); i++) {
				if (!pt_pve_config_get_id(c, i) || !pt_pve_config_get_id(c, i)[0])
					abort();
				for (size_t j = 0; j < pt_pve_config_get_property_count(c, i); j++)
					if (!pt_pve_config_get_value(c, i, j) || strpbrk(pt_pve_config_get_key(c, i, j), " \t\n"))
						abort();
			}
			pt_pve_config_unref(c);
		}
	} else {
		pt_node *n;
		long long t;
		if (pt_node_new(ctx, "pve2", &n) < 0)
			abort();
		if (pt_node_read_published(n, "/etc/pve/nodes/pve2/libpt.json", &t) == 0) {
			/* a report read back holds only what a report may hold */
			for (size_t i = 0; i < pt_node_get_device_count(n); i++) {
				pt_node_device d = PT_INIT(pt_node_device);
				uint64_t key;
				if (pt_node_get_device(n, i, &d) < 0 || pt_address_parse(d.address, &key) < 0 ||
				    strlen(d.vendor_id) != 4 || (d.physfn && pt_address_parse(d.physfn, &key) < 0))
					abort();
			}
			if (t < 946684800LL)
				abort();
		}
		pt_node_unref(n);
	}
	return 0;
}
