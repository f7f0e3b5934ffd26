/*
 * The C contract, USB and QMP: a QEMU monitor (a fake QMP peer in this program, on a socket of
 * the root: the VM's by its id, or one that never answers), the udev monitor of USB events
 * (run under umockdev-wrapper with an empty testbed: no event comes), and what libusb is asked
 * under a root that is not the running system's. Rows of tests/test-contract-common.h.
 */
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "test-contract-common.h"

/* ---- a fake QMP peer ---- */

struct peer {
	int listen_fd;
	bool answers; /* false: greets, negotiates, then never answers */
	char log[2048]; /* the commands it was sent, one a line */
};

static const char *reply(const char *line, char *buf, size_t size)
{
	const char *id = strstr(line, "\"id\"");
	long n = id ? strtol(id + 5, NULL, 10) : 0;
	const char *value = "{}";
	if (strstr(line, "qom-list"))
		value = "[{\"name\": \"type\", \"type\": \"string\"}, {\"name\": \"pt-usb-1\", \"type\": \"child<usb-host>\"}, "
			"{\"name\": \"net0\", \"type\": \"child<virtio-net-pci>\"}]";
	else if (strstr(line, "vendorid"))
		value = "4292";
	else if (strstr(line, "productid"))
		value = "60000";
	else if (strstr(line, "hostbus"))
		value = "0";
	else if (strstr(line, "hostport"))
		value = "\"\"";
	snprintf(buf, size, "{\"return\": %s, \"id\": %ld}\r\n", value, n);
	return buf;
}

static void *serve(void *arg)
{
	struct peer *p = arg;
	static const char greeting[] = "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}}, "
				       "\"capabilities\": []}}\r\n";
	char line[4096], out[1024];
	size_t len = 0;
	int fd = accept(p->listen_fd, NULL, NULL);

	if (fd < 0 || write(fd, greeting, sizeof(greeting) - 1) < 0)
		goto done;
	for (ssize_t n; (n = read(fd, line + len, sizeof(line) - 1 - len)) > 0;) {
		len += (size_t)n;
		line[len] = '\0';
		char *nl;
		while ((nl = strchr(line, '\n'))) {
			*nl = '\0';
			const char *ex = strstr(line, "\"execute\"");
			ex = ex ? strchr(ex + 10, '"') : NULL;
			if (ex && strlen(p->log) + 64 < sizeof(p->log))
				snprintf(p->log + strlen(p->log), 64, "%.*s\n", (int)strcspn(ex + 1, "\""), ex + 1);
			if (p->answers || strstr(line, "qmp_capabilities")) {
				reply(line, out, sizeof(out));
				if (write(fd, out, strlen(out)) < 0)
					goto done;
			}
			len -= (size_t)(nl + 1 - line);
			memmove(line, nl + 1, len + 1);
		}
	}
done:
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* Listens on path (under the root) and serves one connection on a thread. */
static int peer_start(struct peer *p, pthread_t *thread, const char *rel)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", test_root, rel);
	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	unlink(sa.sun_path);
	p->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (p->listen_fd < 0 || bind(p->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(p->listen_fd, 1) < 0)
		return -1;
	return pthread_create(thread, NULL, serve, p) == 0 ? 0 : -1;
}

static void peer_stop(struct peer *p, pthread_t thread)
{
	shutdown(p->listen_fd, SHUT_RDWR);
	pthread_join(thread, NULL);
	close(p->listen_fd);
}

static int qmp_by_vm_id(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	struct peer p = { .answers = true };
	pthread_t thread;
	pt_qmp *q = NULL;
	pt_qmp_usb u = PT_INIT(pt_qmp_usb);
	int r;

	if (peer_start(&p, &thread, "var/run/qemu-server/100.qmp") < 0)
		return 1;
	if ((r = pt_qmp_connect(ctx, NULL, 100, &q)) < 0) {
		said(ctx, r, out);
	} else {
		fprintf(out, "ref same %d, before asking %zu\n", pt_qmp_ref(q) == q, pt_qmp_get_usb_count(q));
		pt_qmp_unref(q);
		pt_qmp_set_timeout(q, 2000);
		if ((r = pt_qmp_query_usb(q)) < 0)
			said(ctx, r, out);
		else
			fprintf(out, "query: %d, count %zu\n", r, pt_qmp_get_usb_count(q));
		for (size_t i = 0; i < pt_qmp_get_usb_count(q); i++) {
			if (pt_qmp_get_usb(q, i, &u) < 0)
				return 1;
			fprintf(out, "%s %04x:%04x bus %u port \"%s\"\n", u.id, u.vendor, u.product, u.bus, u.port);
		}
		/* past the end, and a struct without its size: nothing written */
		pt_qmp_usb unsized = { .size = 0, .bus = 7 };
		r = pt_qmp_get_usb(q, 0, &unsized);
		fprintf(out, "beyond %d, no size %d (bus %u), NULL %zu %d\n", pt_qmp_get_usb(q, 1, &u), r, unsized.bus,
			pt_qmp_get_usb_count(NULL), pt_qmp_get_usb(NULL, 0, &u));
		pt_qmp_unref(q);
	}
	peer_stop(&p, thread);
	fprintf(out, "the peer was sent:\n%s", p.log);
	q = NULL;
	r = pt_qmp_connect(ctx, NULL, 101, &q);
	said(ctx, r, out);
	r = pt_qmp_connect(ctx, NULL, 99, &q);
	said(ctx, r, out);
	fprintf(out, "unref NULL %p\n", (void *)pt_qmp_unref(NULL));
	return q != NULL;
}

static int qmp_peer_that_never_answers(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	struct peer p = { .answers = false };
	pthread_t thread;
	pt_qmp *q = NULL;
	size_t n = 0;
	char path[4200];
	int r;

	if (peer_start(&p, &thread, "silent.qmp") < 0)
		return 1;
	snprintf(path, sizeof(path), "%s/silent.qmp", test_root);
	if ((r = pt_qmp_connect(ctx, path, 0, &q)) < 0) {
		said(ctx, r, out);
	} else {
		pt_qmp_set_timeout(q, 200);
		r = pt_qmp_query_usb(q);
		said(ctx, r, out);
		n = pt_qmp_get_usb_count(q);
		pt_qmp_unref(q);
	}
	peer_stop(&p, thread);
	return n != 0;
}

/* ---- a USB device to a VM and back, the whole job (resolve, libusb's view, id, QMP) ---- */

static int usb_attach_and_detach(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	struct peer p = { .answers = true };
	pt_usb_resolved m = PT_INIT(pt_usb_resolved);
	pthread_t thread;
	char id[PT_USB_ID_MAX] = "", tiny[8];
	int r;

	if (pt_usb_resolve(ctx, e, &(pt_usb_spec){ .size = sizeof(pt_usb_spec), .port = "1-2" }, &m) < 0)
		return 1;
	r = pt_usb_device_id(&m, id, sizeof(id));
	fprintf(out, "by port: %d %s, too small: %d\n", r, id, pt_usb_device_id(&m, tiny, sizeof(tiny)));
	if (pt_usb_resolve(ctx, e, &(pt_usb_spec){ .size = sizeof(pt_usb_spec), .id = "10C4:EA60" }, &m) < 0)
		return 1;
	r = pt_usb_device_id(&m, id, sizeof(id));
	fprintf(out, "by id: %d %s\n", r, id);
	/* a port with nothing at it goes on to QMP (usb-host takes the device when it comes), here to
	 * a VM that is not running; no VM named is refused before */
	char sock[4200];
	snprintf(sock, sizeof(sock), "%s/var/run/qemu-server/100.qmp", test_root);
	unlink(sock);
	r = pt_usb_attach(e, &(pt_usb_spec){ .size = sizeof(pt_usb_spec), .port = "1-9" }, NULL, 100, 200, id, sizeof(id));
	said(ctx, r, out);
	r = pt_usb_attach(e, &(pt_usb_spec){ .size = sizeof(pt_usb_spec), .port = "1-2" }, NULL, 0, 200, id, sizeof(id));
	said(ctx, r, out);
	if (peer_start(&p, &thread, "var/run/qemu-server/100.qmp") < 0)
		return 1;
	id[0] = '\0';
	r = pt_usb_attach(e, &(pt_usb_spec){ .size = sizeof(pt_usb_spec), .serial = "0001" }, NULL, 100, 2000, id, sizeof(id));
	fprintf(out, "attach by serial: %d %s\n", r, id);
	peer_stop(&p, thread);
	fprintf(out, "the peer was sent:\n%s", p.log);
	p = (struct peer){ .answers = true };
	if (peer_start(&p, &thread, "var/run/qemu-server/100.qmp") < 0)
		return 1;
	r = pt_usb_detach(ctx, &(pt_usb_spec){ .size = sizeof(pt_usb_spec), .port = "1-2" }, NULL, 100, 200, id, sizeof(id));
	said(ctx, r, out); /* the fake peer sends no DEVICE_DELETED: the guest never lets go */
	peer_stop(&p, thread);
	fprintf(out, "detach %s; the peer was sent:\n%s", id, p.log);
	r = pt_usb_detach(ctx, &(pt_usb_spec){ .size = sizeof(pt_usb_spec), .serial = "0001" }, NULL, 100, 200, id, sizeof(id));
	said(ctx, r, out);
	return 0;
}

/* ---- the udev monitor (under umockdev-wrapper: a testbed of its own, no event) ---- */

static int monitor_quiet(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_monitor *m = NULL;
	pt_usb_event ev = PT_INIT(pt_usb_event);
	int r = pt_monitor_new(ctx, &m);

	if (r < 0)
		return said(ctx, r, out);
	fprintf(out, "fd %d, ref same %d\n", pt_monitor_get_fd(m) >= 0, pt_monitor_ref(m) == m);
	pt_monitor_unref(m);
	fprintf(out, "receive: %d\n", pt_monitor_receive(m, 50, &ev));
	fprintf(out, "unref %p, NULL %p, %d\n", (void *)pt_monitor_unref(m), (void *)pt_monitor_unref(NULL),
		pt_monitor_new(ctx, NULL));
	return 0;
}

/* ---- libusb, asked under a root that is not the running system ---- */

static int usb_host_elsewhere(pt_ctx *ctx, pt_enum *e, FILE *out)
{
	pt_usb_resolved m = PT_INIT(pt_usb_resolved);
	pt_usb_host h = PT_INIT(pt_usb_host);
	int r = pt_usb_resolve(ctx, e, &(pt_usb_spec){ .size = sizeof(pt_usb_spec), .port = "1-2" }, &m);

	if (r < 0)
		return said(ctx, r, out);
	r = pt_usb_check_host(ctx, &m, &h);
	said(ctx, r, out);
	r = pt_usb_reset(ctx, &m, 0, 100, &h);
	said(ctx, r, out);
	r = pt_usb_reset(ctx, &m, PT_USB_RESET_FORCE, 100, &h);
	said(ctx, r, out);
	return 0;
}

static const struct test tests[] = {
	{ "qmp-by-vm-id", "usb", qmp_by_vm_id,
	  "ref same 1, before asking 0\nquery: 1, count 1\npt-usb-1 10c4:ea60 bus 0 port \"\"\n"
	  "beyond -2, no size -22 (bus 7), NULL 0 -2\nthe peer was sent:\nqmp_capabilities\nqom-list\nqom-get\n"
	  "qom-get\nqom-get\nqom-get\n"
	  "-2 VM 101: ROOT/var/run/qemu-server/101.qmp: No such file or directory (is the VM running?)\n"
	  "-22 VM id '99': must be 100 to 999999999\nunref NULL (nil)\n" },
	{ "qmp-peer-that-never-answers", "usb", qmp_peer_that_never_answers,
	  "-110 ROOT/silent.qmp: QMP: no answer within 200 ms\n" },
	{ "usb-host-elsewhere", "usb", usb_host_elsewhere,
	  "-18 libusb sees the running system's /sys/bus/usb and /dev/bus/usb, not ROOT/sys and ROOT/dev: QEMU's view of a USB device is only checked on the host itself\n"
	  "-18 libusb sees the running system's /sys/bus/usb and /dev/bus/usb, not ROOT/sys and ROOT/dev: QEMU's view of a USB device is only checked on the host itself\n"
	  "-18 libusb sees the running system's /sys/bus/usb and /dev/bus/usb, not ROOT/sys and ROOT/dev: QEMU's view of a USB device is only checked on the host itself\n" },
	{ "usb-attach-and-detach", "usb", usb_attach_and_detach,
	  "by port: 0 pt-usb-1_2, too small: -28\nby id: 0 pt-usb-10c4_ea60\n"
	  "-2 VM 100: ROOT/var/run/qemu-server/100.qmp: No such file or directory (is the VM running?)\n"
	  "-22 a USB attach needs the device and the VM (or its socket)\n"
	  "attach by serial: 0 pt-usb-1_2\nthe peer was sent:\nqmp_capabilities\nqom-list\ndevice_add\n"
	  "-110 VM 100: no DEVICE_DELETED for pt-usb-1_2 within 200 ms\n"
	  "detach pt-usb-1_2; the peer was sent:\nqmp_capabilities\ndevice_del\n"
	  "-22 a detach names the device by id or port, as it was attached\n" },
	{ "monitor-quiet", "usb", monitor_quiet,
	  "fd 1, ref same 1\nreceive: 0\nunref (nil), NULL (nil), -22\n" },
};

int main(int argc, char **argv)
{
	return run_tests(tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
