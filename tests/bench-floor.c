/* The floor for `make bench`: list the devices, read each one's vendor, device, class and
 * subsystem ids and its driver and iommu_group links, and nothing else. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

static const char *const files[] = { "vendor", "device", "class", "subsystem_vendor", "subsystem_device" };
static const char *const links[] = { "driver", "iommu_group" };

int main(int argc, char **argv)
{
	char path[PATH_MAX], buf[4096];
	unsigned long bytes = 0, devices = 0;
	struct dirent *de;
	DIR *dir;

	if (argc != 2) {
		fprintf(stderr, "usage: bench-floor ROOT\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/sys/bus/pci/devices", argv[1]);
	dir = opendir(path);
	if (!dir) {
		perror(path);
		return 1;
	}
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		int dfd = openat(dirfd(dir), de->d_name, O_RDONLY | O_DIRECTORY);
		if (dfd < 0)
			continue;
		devices++;
		for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
			int fd = openat(dfd, files[i], O_RDONLY);
			ssize_t n = fd < 0 ? 0 : read(fd, buf, sizeof(buf));
			bytes += n > 0 ? (unsigned long)n : 0;
			if (fd >= 0)
				close(fd);
		}
		for (size_t i = 0; i < sizeof(links) / sizeof(*links); i++) {
			ssize_t n = readlinkat(dfd, links[i], buf, sizeof(buf));
			bytes += n > 0 ? (unsigned long)n : 0;
		}
		close(dfd);
	}
	closedir(dir);
	printf("%lu devices, %lu bytes\n", devices, bytes);
	return 0;
}
