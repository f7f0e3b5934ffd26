/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A QMP client (QEMU's machine protocol: JSON lines over a unix socket), for hot-attaching
 * USB devices to running VMs: connect and negotiate capabilities, run a command and wait for
 * its answer (events that arrive meanwhile are kept), wait for an event, with a timeout on
 * every step. QEMU's own error text is passed through.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "libpt-private.h"

#define QMP_TIMEOUT_MS 5000
#define MAX_EVENTS 256 /* events kept while waiting for a reply; older ones are dropped */

struct pt_qmp {
	int refcount;
	pt_ctx *ctx;
	int fd;
	char *where; /* "VM 100" or the socket path, for messages */
	unsigned timeout_ms;
	unsigned next_id;
	char buf[65536];
	size_t len;
	json_t *events; /* arrived while waiting for a reply */
	pt_qmp_usb *usb; /* pt_qmp_query_usb's last answer */
	size_t n_usb;
};

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One JSON line from QEMU, NULL with last_error set on timeout, EOF or garbage. */
static json_t *read_message(pt_qmp *q, long deadline, int *err)
{
	for (;;) {
		char *nl = memchr(q->buf, '\n', q->len);
		if (nl) {
			json_error_t jerr;
			json_t *msg = json_loadb(q->buf, (size_t)(nl - q->buf), 0, &jerr);
			size_t used = (size_t)(nl - q->buf) + 1;
			memmove(q->buf, q->buf + used, q->len - used);
			q->len -= used;
			if (!msg) {
				*err = pt_fail(q->ctx, -EBADMSG, "%s: QMP: not JSON: %s", q->where, jerr.text);
				return NULL;
			}
			return msg;
		}
		if (q->len == sizeof(q->buf)) {
			*err = pt_fail(q->ctx, -EMSGSIZE, "%s: QMP: a message longer than %zu bytes", q->where,
				       sizeof(q->buf));
			return NULL;
		}
		long left = deadline - now_ms();
		struct pollfd p = { .fd = q->fd, .events = POLLIN };
		int r = left > 0 ? poll(&p, 1, (int)left) : 0;
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			*err = pt_fail(q->ctx, -ETIMEDOUT, "%s: QMP: no answer within %u ms", q->where, q->timeout_ms);
			return NULL;
		}
		ssize_t n = read(q->fd, q->buf + q->len, sizeof(q->buf) - q->len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			*err = pt_fail(q->ctx, n == 0 ? -ECONNRESET : -errno, "%s: QMP: the connection closed "
				       "(QEMU stopped?)", q->where);
			return NULL;
		}
		q->len += (size_t)n;
	}
}

/* Runs one command; *ret gets its "return" value (a new reference). */
static int execute(pt_qmp *q, const char *command, json_t *arguments, json_t **ret)
{
	unsigned id = ++q->next_id;
	json_t *msg = json_pack("{s:s, s:i}", "execute", command, "id", (json_int_t)id);
	long deadline = now_ms() + q->timeout_ms;
	int err = 0;

	if (arguments)
		json_object_set_new(msg, "arguments", arguments);
	char *text = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	if (!text)
		return -ENOMEM;
	size_t len = strlen(text), sent = 0;
	text[len++] = '\n'; /* json_dumps leaves room: it was NUL-terminated */
	while (sent < len) { /* the socket does not block: wait for room, within the deadline */
		ssize_t n = send(q->fd, text + sent, len - sent, MSG_NOSIGNAL);
		if (n > 0) {
			sent += (size_t)n;
			continue;
		}
		long left = deadline - now_ms();
		struct pollfd p = { .fd = q->fd, .events = POLLOUT };
		if (n < 0 && (errno == EAGAIN || errno == EINTR) && left > 0 && poll(&p, 1, (int)left) >= 0)
			continue;
		free(text);
		return n < 0 && errno == EAGAIN ?
		       pt_fail(q->ctx, -ETIMEDOUT, "%s: QMP: %s: not taken within %u ms", q->where, command, q->timeout_ms) :
		       pt_fail(q->ctx, -EPIPE, "%s: QMP: %s: the connection closed (QEMU stopped?)", q->where, command);
	}
	free(text);
	for (;;) {
		json_t *reply = read_message(q, deadline, &err);
		if (!reply)
			return err;
		if (json_object_get(reply, "event")) {
			if (json_array_size(q->events) >= MAX_EVENTS)
				json_array_remove(q->events, 0); /* a flooding peer costs no memory */
			json_array_append_new(q->events, reply);
			continue;
		}
		json_t *rid = json_object_get(reply, "id");
		if (!json_is_integer(rid) || json_integer_value(rid) != (json_int_t)id) {
			json_decref(reply);
			continue;
		}
		json_t *error = json_object_get(reply, "error");
		if (error) {
			const char *desc = json_string_value(json_object_get(error, "desc"));
			err = pt_fail(q->ctx, -EIO, "%s: %s: %s", q->where, command, desc ? desc : "error");
		} else if (ret)
			*ret = json_incref(json_object_get(reply, "return"));
		json_decref(reply);
		return err;
	}
}

static int pt_qmp_wait_event(pt_qmp *q, const char *event, const char *device, unsigned timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	int err = 0;

	for (;;) {
		json_t *msg = NULL;
		if (json_array_size(q->events)) {
			msg = json_incref(json_array_get(q->events, 0));
			json_array_remove(q->events, 0);
		} else if (!(msg = read_message(q, deadline, &err)))
			return err == -ETIMEDOUT ? pt_fail(q->ctx, err, "%s: no %s for %s within %u ms", q->where,
							   event, device, timeout_ms) : err;
		const char *name = json_string_value(json_object_get(msg, "event"));
		json_t *data = json_object_get(msg, "data");
		const char *dev = json_string_value(json_object_get(data, "device"));
		bool match = name && strcmp(name, event) == 0 && (!device || (dev && strcmp(dev, device) == 0));
		json_decref(msg);
		if (match)
			return 0;
	}
}

/* The greeting, then capabilities: what every session starts with. */
static int negotiate(pt_qmp *q, long deadline)
{
	int err = 0;
	json_t *greeting = read_message(q, deadline, &err);

	if (!greeting || !json_object_get(greeting, "QMP")) {
		json_decref(greeting);
		return err ? err : pt_fail(q->ctx, -EPROTO, "%s: not a QMP greeting", q->where);
	}
	json_decref(greeting);
	return execute(q, "qmp_capabilities", NULL, NULL);
}

static pt_qmp *qmp_free(pt_qmp *q)
{
	if (q->fd >= 0)
		close(q->fd);
	json_decref(q->events);
	free(q->usb);
	free(q->where);
	pt_ctx_unref(q->ctx);
	free(q);
	return NULL;
}

/* A session on fd (it takes it, closing it on failure), named where in messages. */
static pt_qmp *qmp_new(pt_ctx *ctx, int fd, const char *where, unsigned timeout_ms)
{
	pt_qmp *q = fd >= 0 ? calloc(1, sizeof(*q)) : NULL;

	if (!q) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	q->refcount = 1;
	q->ctx = pt_ctx_ref(ctx);
	q->timeout_ms = timeout_ms;
	q->events = json_array();
	q->where = strdup(where);
	q->fd = fd;
	if (!q->where || !q->events)
		return qmp_free(q);
	return q;
}

PT_EXPORT int pt_qmp_connect(pt_ctx *ctx, const char *path, unsigned vm, pt_qmp **ret)
{
	return pt_qmp_connect_timeout(ctx, path, vm, QMP_TIMEOUT_MS, ret);
}

/* connect(2) within the deadline: a peer whose listen backlog is full gives EAGAIN at once
 * (the socket does not block), and is tried again until the deadline. */
static int connect_by(pt_qmp *q, const struct sockaddr_un *addr, long deadline)
{
	unsigned delay_ms = 1;

	for (;;) {
		if (connect(q->fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EINPROGRESS) { /* wait until it is writable */
			struct pollfd p = { .fd = q->fd, .events = POLLOUT };
			long left = deadline - now_ms();
			int so = 0;
			socklen_t solen = sizeof(so);
			if (left <= 0 || poll(&p, 1, (int)left) <= 0)
				return -ETIMEDOUT;
			getsockopt(q->fd, SOL_SOCKET, SO_ERROR, &so, &solen);
			return -so;
		}
		if (errno != EAGAIN)
			return -errno;
		long left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		usleep((delay_ms < (unsigned)left ? delay_ms : (unsigned)left) * 1000);
		delay_ms = delay_ms < 64 ? delay_ms * 2 : 100;
	}
}

PT_EXPORT int pt_qmp_connect_timeout(pt_ctx *ctx, const char *path, unsigned vm, unsigned timeout_ms,
				     pt_qmp **ret)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char socket_path[sizeof(addr.sun_path)];
	pt_qmp *q;
	int r, n;

	if (!ctx || !ret)
		return -EINVAL;
	if (!path) {
		if ((r = pt_check_vmid(ctx, vm)) < 0)
			return r;
		n = snprintf(socket_path, sizeof(socket_path), "%s/var/run/qemu-server/%u.qmp", ctx->root, vm);
	} else
		n = snprintf(socket_path, sizeof(socket_path), "%s", path);
	if (n >= (int)sizeof(socket_path))
		return pt_fail(ctx, -ENAMETOOLONG, "%s%s: a socket path longer than %zu bytes",
			       path ? path : ctx->root, path ? "" : "/var/run/qemu-server/...", sizeof(socket_path) - 1);
	long deadline = now_ms() + timeout_ms;
	char vm_name[32];
	snprintf(vm_name, sizeof(vm_name), "VM %u", vm);
	q = qmp_new(ctx, socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), path ? path : vm_name,
		    timeout_ms);
	if (!q)
		return -ENOMEM;
	memcpy(addr.sun_path, socket_path, strlen(socket_path) + 1);
	if ((r = connect_by(q, &addr, deadline)) < 0) {
		if (r == -ETIMEDOUT)
			pt_fail(ctx, r, "%s: %s: QMP: not accepted within %u ms (the monitor is busy)", q->where,
				socket_path, timeout_ms);
		else
			pt_fail(ctx, r, "%s: %s: %s%s", q->where, socket_path, strerror(-r),
				r == -ENOENT || r == -ECONNREFUSED ? " (is the VM running?)" : "");
		qmp_free(q);
		return r;
	}
	if ((r = negotiate(q, deadline)) < 0) {
		qmp_free(q);
		return r;
	}
	*ret = q;
	return 0;
}

/* A QMP peer on a connected socket (the fuzz target's): it takes fd, closed on failure too. */
int pt_qmp_from_fd(pt_ctx *ctx, int fd, const char *where, unsigned timeout_ms, pt_qmp **ret)
{
	pt_qmp *q = qmp_new(ctx, fd, where, timeout_ms);
	int r;

	if (!q)
		return -ENOMEM;
	if ((r = negotiate(q, now_ms() + timeout_ms)) < 0) {
		qmp_free(q);
		return r;
	}
	*ret = q;
	return 0;
}

PT_EXPORT pt_qmp *pt_qmp_ref(pt_qmp *q)
{
	if (q)
		q->refcount++;
	return q;
}

PT_EXPORT pt_qmp *pt_qmp_unref(pt_qmp *q)
{
	if (!q || --q->refcount > 0)
		return NULL;
	return qmp_free(q);
}

PT_EXPORT void pt_qmp_set_timeout(pt_qmp *q, unsigned ms)
{
	q->timeout_ms = ms;
}

/* Whether the VM has a device of this id (/machine/peripheral/ID): 1, 0, or -errno. */
static int has_device(pt_qmp *q, const char *id)
{
	json_t *children = NULL, *child;
	size_t i;
	int r = execute(q, "qom-list", json_pack("{s:s}", "path", "/machine/peripheral"), &children), found = 0;

	if (r < 0)
		return r;
	json_array_foreach(children, i, child) {
		const char *name = json_string_value(json_object_get(child, "name"));
		found |= name && strcmp(name, id) == 0;
	}
	json_decref(children);
	return found;
}

/* device_add usb-host by vid:pid or by bus and port path; -EEXIST when the VM has a device of
 * that id already (asked first: QEMU says so only in words). */
PT_EXPORT int pt_qmp_usb_attach(pt_qmp *q, const char *id, const pt_usb_match *match)
{
	pt_usb_match mm, *m = &mm;
	char hex[8];
	int r;

	if (!q || !id)
		return q ? pt_fail(q->ctx, -EINVAL, "pt_qmp_usb_attach: no device id") : -EINVAL;
	if ((r = PT_STRUCT_IN(&mm, match)) < 0)
		return pt_struct_fail(q->ctx, r, "pt_qmp_usb_attach", "pt_usb_match");
	if ((r = has_device(q, id)) != 0)
		return r < 0 ? r : pt_fail(q->ctx, -EEXIST, "%s: the VM has a device '%s' already", q->where, id);
	json_t *args = json_pack("{s:s, s:s}", "driver", "usb-host", "id", id);
	if (!args)
		return -ENOMEM;
	if (m->port) {
		json_object_set_new(args, "hostbus", json_integer(m->bus));
		json_object_set_new(args, "hostport", json_string(m->port));
	} else {
		snprintf(hex, sizeof(hex), "0x%04x", m->vendor);
		json_object_set_new(args, "vendorid", json_string(hex));
		snprintf(hex, sizeof(hex), "0x%04x", m->product);
		json_object_set_new(args, "productid", json_string(hex));
	}
	return execute(q, "device_add", args, NULL);
}

/* device_del, then the DEVICE_DELETED event: the guest has let go. */
PT_EXPORT int pt_qmp_detach(pt_qmp *q, const char *id)
{
	int r = execute(q, "device_del", json_pack("{s:s}", "id", id), NULL);
	return r < 0 ? r : pt_qmp_wait_event(q, "DEVICE_DELETED", id, q->timeout_ms);
}

/* The usb-host devices of the VM: id, and what they match (qom-get of their properties). */
PT_EXPORT int pt_qmp_query_usb(pt_qmp *q)
{
	json_t *children = NULL;
	pt_qmp_usb *list = NULL;
	size_t count = 0, i;
	json_t *child;
	int r;

	if (!q)
		return -EINVAL;
	r = execute(q, "qom-list", json_pack("{s:s}", "path", "/machine/peripheral"), &children);
	if (r < 0)
		return r;
	json_array_foreach(children, i, child) {
		const char *name = json_string_value(json_object_get(child, "name"));
		const char *type = json_string_value(json_object_get(child, "type"));
		if (!name || !type || strcmp(type, "child<usb-host>") != 0)
			continue;
		char path[256];
		const char *props[] = { "vendorid", "productid", "hostbus", "hostport" };
		json_t *values[4] = { 0 };
		snprintf(path, sizeof(path), "/machine/peripheral/%s", name);
		for (int p = 0; p < 4 && r == 0; p++)
			r = execute(q, "qom-get", json_pack("{s:s, s:s}", "path", path, "property", props[p]), &values[p]);
		pt_qmp_usb *more = r == 0 ? realloc(list, (count + 1) * sizeof(*list)) : NULL;
		if (r == 0 && !more)
			r = -ENOMEM;
		if (r == 0) {
			pt_qmp_usb *u = &(list = more)[count++];
			const char *port = json_string_value(values[3]);
			*u = PT_INIT(pt_qmp_usb);
			snprintf(u->id, sizeof(u->id), "%s", name);
			u->vendor = (uint16_t)json_integer_value(values[0]);
			u->product = (uint16_t)json_integer_value(values[1]);
			u->bus = (unsigned)json_integer_value(values[2]);
			snprintf(u->port, sizeof(u->port), "%s", port ? port : "");
		}
		for (int p = 0; p < 4; p++)
			json_decref(values[p]);
		if (r < 0)
			break;
	}
	json_decref(children);
	if (r < 0) {
		free(list);
		return r;
	}
	free(q->usb);
	q->usb = list;
	q->n_usb = count;
	return count > INT_MAX ? INT_MAX : (int)count;
}

PT_EXPORT size_t pt_qmp_get_usb_count(const pt_qmp *q)
{
	return q ? q->n_usb : 0;
}

PT_EXPORT int pt_qmp_get_usb(const pt_qmp *q, size_t i, pt_qmp_usb *ret)
{
	if (!q || i >= q->n_usb)
		return -ENOENT;
	return PT_STRUCT_OUT(ret, &q->usb[i]);
}
