/*
 * libFuzzer target: QMP replies and events, from a peer that says whatever the input says. The
 * input is what QEMU would send (the greeting, replies with ids 1, 2, ..., events); the client
 * negotiates, lists the USB devices (qom-list, then qom-get of each) and detaches one (waiting
 * for DEVICE_DELETED). The peer's end is closed after the input, so nothing waits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../libpt/libpt-private.h"

static pt_ctx *ctx;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	pt_qmp *q;

	if (!ctx) {
		pt_opts opts = { .size = sizeof(opts), .root = "/" };
		if (pt_ctx_new(&ctx, &opts) < 0)
			abort();
	}
	if (size > 100000 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	int big = 1 << 20;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	if (size && write(sv[1], data, size) < 0) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	shutdown(sv[1], SHUT_WR);
	if (pt_qmp_from_fd(ctx, sv[0], "fuzz", 50, &q) == 0) {
		int n = pt_qmp_query_usb(q);
		if (n >= 0) {
			if ((size_t)n != pt_qmp_get_usb_count(q))
				abort();
			for (size_t i = 0; i < pt_qmp_get_usb_count(q); i++) { /* every field within its bounds */
				pt_qmp_usb u = PT_INIT(pt_qmp_usb);
				if (pt_qmp_get_usb(q, i, &u) < 0 || strnlen(u.id, sizeof(u.id)) == sizeof(u.id) ||
				    strnlen(u.port, sizeof(u.port)) == sizeof(u.port))
					abort();
			}
		}
		pt_qmp_detach(q, "pt-usb-0403_6001");
		pt_qmp_unref(q);
	} /* the session took sv[0]: closed with it, or on failure */
	close(sv[1]);
	return 0;
}
