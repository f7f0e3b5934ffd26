/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* USB devices (inv:usb()), QMP connections (pt.qmp) and the udev monitor (pt.monitor). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pt-lua-private.h"

CLOSER(qmp_close, QMP_MT, pt_qmp_unref)
CLOSER(monitor_close, MONITOR_MT, pt_monitor_unref)

/* ---- USB ---- */


/* inv:usb(): the USB devices, as plain tables. */
int pt_lua_enum_usb(lua_State *L)
{
	pt_enum *e = pt_lua_check_open(L, 1, SNAPSHOT_MT);
	size_t n = pt_enum_get_usb_count(e);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		pt_usb *u = pt_enum_get_usb(e, i);
		lua_createtable(L, 0, 14);
		pt_lua_set_string(L, "port", pt_usb_get_port(u));
		pt_lua_set_string(L, "peer_port", pt_usb_get_peer_port(u));
		pt_lua_set_integer(L, "bus", pt_usb_get_bus(u));
		pt_lua_set_integer(L, "devnum", pt_usb_get_devnum(u));
		pt_lua_set_integer(L, "speed", pt_usb_get_speed(u));
		pt_lua_set_hex(L, "device_class", pt_usb_get_class(u), 2);
		if (pt_usb_get_class(u) == 0x09)
			pt_lua_set_boolean(L, "hub", true);
		pt_lua_set_hex(L, "vendor_id", pt_usb_get_vendor_id(u), 4);
		pt_lua_set_hex(L, "product_id", pt_usb_get_product_id(u), 4);
		pt_lua_set_string(L, "manufacturer", pt_usb_get_manufacturer(u));
		pt_lua_set_string(L, "product", pt_usb_get_product(u));
		pt_lua_set_string(L, "serial", pt_usb_get_serial(u));
		pt_lua_set_string(L, "vendor_name", pt_usb_get_vendor_name(u));
		pt_lua_set_string(L, "product_name", pt_usb_get_product_name(u));
		pt_lua_set_string(L, "node", pt_usb_get_node(u));
		pt_lua_set_string(L, "interfaces", pt_usb_get_interfaces(u));
		if (pt_usb_get_controller(u))
			pt_lua_set_string(L, "controller", pt_device_get_address(pt_usb_get_controller(u)));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	/* the inventory the list came from, for pt.usb_resolve (hidden from getmetatable) */
	lua_createtable(L, 0, 2);
	lua_pushvalue(L, 1);
	lua_setfield(L, -2, "inventory");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);
	return 1;
}

/* pt.qmp{vm = 100 | socket = PATH [, timeout_ms = N]}: a QMP connection, or nil, msg, errno. */
static int pt_lua_qmp(lua_State *L)
{
	pt_opts opts = { .size = sizeof(opts) };
	pt_ctx *ctx;
	pt_qmp *q;

	luaL_checktype(L, 1, LUA_TTABLE);
	lua_getfield(L, 1, "socket");
	const char *socket = luaL_optstring(L, -1, NULL);
	lua_getfield(L, 1, "vm");
	lua_Integer vm = luaL_optinteger(L, -1, 0);
	lua_getfield(L, 1, "timeout_ms");
	lua_Integer timeout = luaL_optinteger(L, -1, 0);
	if (!socket && !vm)
		return luaL_argerror(L, 1, "needs vm or socket");
	lua_getfield(L, LUA_REGISTRYINDEX, ROOT_KEY);
	opts.root = lua_tostring(L, -1);
	int r = pt_ctx_new(&ctx, &opts);
	if (r < 0)
		return pt_lua_fail(L, r, lua_pushfstring(L, "%s: %s", opts.root ? opts.root : "/", strerror(-r)));
	r = pt_qmp_connect_timeout(ctx, socket, (unsigned)vm, timeout > 0 ? (unsigned)timeout : 5000, &q);
	if (r < 0) {
		lua_pushstring(L, pt_ctx_last_error(ctx));
		pt_ctx_unref(ctx);
		return pt_lua_fail(L, r, lua_tostring(L, -1));
	}
	pt_lua_push_box(L, q, QMP_MT);
	pt_lua_push_box(L, ctx, CTX_MT); /* errors are read from it */
	lua_setiuservalue(L, -2, 1);
	return 1;
}

static pt_ctx *qmp_ctx(lua_State *L)
{
	lua_getiuservalue(L, 1, 1);
	pt_ctx *ctx = pt_lua_check_open(L, -1, CTX_MT);
	lua_pop(L, 1);
	return ctx;
}

/* q:attach{id = "usb0", usb_id = "10c4:ea60"} or {id =, bus = 1, port = "2.3"} */
static int qmp_attach(lua_State *L)
{
	pt_qmp *q = pt_lua_check_open(L, 1, QMP_MT);
	pt_usb_match m = PT_INIT(pt_usb_match);
	pt_lua_check_action(L, "attach");
	unsigned v, p;

	luaL_checktype(L, 2, LUA_TTABLE);
	lua_getfield(L, 2, "id");
	const char *id = luaL_checkstring(L, -1);
	lua_getfield(L, 2, "usb_id");
	const char *usb_id = luaL_optstring(L, -1, NULL);
	lua_getfield(L, 2, "port");
	m.port = luaL_optstring(L, -1, NULL);
	lua_getfield(L, 2, "bus");
	m.bus = (unsigned)luaL_optinteger(L, -1, 0);
	if (usb_id) {
		if (sscanf(usb_id, "%4x:%4x", &v, &p) != 2)
			return luaL_argerror(L, 2, "usb_id must be VVVV:PPPP");
		m.vendor = (uint16_t)v;
		m.product = (uint16_t)p;
	} else if (!m.port || !m.bus)
		return luaL_argerror(L, 2, "needs usb_id, or bus and port");
	int r = pt_qmp_usb_attach(q, id, &m);
	if (r < 0)
		return pt_lua_fail(L, r, pt_ctx_last_error(qmp_ctx(L)));
	lua_pushboolean(L, 1);
	return 1;
}

static int qmp_detach(lua_State *L)
{
	pt_qmp *q = pt_lua_check_open(L, 1, QMP_MT);
	pt_lua_check_action(L, "detach");
	int r = pt_qmp_detach(q, luaL_checkstring(L, 2));
	if (r < 0)
		return pt_lua_fail(L, r, pt_ctx_last_error(qmp_ctx(L)));
	lua_pushboolean(L, 1);
	return 1;
}

/* A USB spec from a table {id = "10c4:ea60" | port = "1-2.3" | serial = "S"} (strings of the
 * table: they live as long as it is on the stack). */
static pt_usb_spec check_spec(lua_State *L, int idx)
{
	pt_usb_spec spec = PT_INIT(pt_usb_spec);
	luaL_checktype(L, idx, LUA_TTABLE);
	lua_getfield(L, idx, "id");
	lua_getfield(L, idx, "port");
	lua_getfield(L, idx, "serial");
	spec.id = luaL_optstring(L, -3, NULL);
	spec.port = luaL_optstring(L, -2, NULL);
	spec.serial = luaL_optstring(L, -1, NULL);
	lua_pop(L, 3);
	if (!spec.id && !spec.port && !spec.serial)
		luaL_argerror(L, idx, "needs id, port or serial");
	return spec;
}

/* The VM of a USB attach or detach: {vm = N | socket = PATH, timeout_ms = N} at idx. */
static void check_vm(lua_State *L, int idx, const char **socket, unsigned *vm, unsigned *timeout)
{
	lua_getfield(L, idx, "socket");
	lua_getfield(L, idx, "vm");
	lua_getfield(L, idx, "timeout_ms");
	*socket = luaL_optstring(L, -3, NULL);
	lua_Integer v = luaL_optinteger(L, -2, 0), t = luaL_optinteger(L, -1, 0);
	lua_pop(L, 3);
	luaL_argcheck(L, *socket || pt_vmid_is_valid((long long)v), idx, "needs vm (a VM id) or socket");
	luaL_argcheck(L, t >= 0 && t <= 600000, idx, "timeout_ms: 0 to 600000");
	*vm = (unsigned)v;
	*timeout = (unsigned)t;
}

/* pt.usb_attach(inv, {vm = | socket =, timeout_ms, id = | port = | serial =}): pt_usb_attach;
 * the device id, or nil, message, errno and (for EEXIST: attached already) the device id. */
static int pt_lua_usb_attach(lua_State *L)
{
	pt_enum *e = pt_lua_check_open(L, 1, SNAPSHOT_MT);
	pt_usb_spec spec = check_spec(L, 2);
	char id[PT_USB_ID_MAX] = "";
	const char *socket;
	unsigned vm, timeout;

	check_vm(L, 2, &socket, &vm, &timeout);
	pt_lua_check_action(L, "attach");
	int r = pt_usb_attach(e, &spec, socket, vm, timeout, id, sizeof(id));
	if (r < 0) {
		pt_lua_fail(L, r, pt_ctx_last_error(pt_enum_get_context(e)));
		lua_pushstring(L, id);
		return 4;
	}
	lua_pushstring(L, id);
	return 1;
}

/* pt.usb_detach({vm = | socket =, timeout_ms, id = | port =}): pt_usb_detach; the device id, or
 * nil, message, errno. */
static int pt_lua_usb_detach(lua_State *L)
{
	pt_usb_spec spec = check_spec(L, 1);
	char id[PT_USB_ID_MAX];
	const char *socket;
	unsigned vm, timeout;

	check_vm(L, 1, &socket, &vm, &timeout);
	pt_lua_check_action(L, "detach");
	pt_ctx *ctx = pt_lua_root_context(L);
	if (!ctx)
		return lua_error(L);
	int r = pt_usb_detach(ctx, &spec, socket, vm, timeout, id, sizeof(id));
	int n = r < 0 ? pt_lua_fail(L, r, pt_ctx_last_error(ctx)) : (lua_pushstring(L, id), 1);
	pt_ctx_unref(ctx);
	return n;
}

/* q:list(): {{id =, vendor_id =, product_id =, bus =, port =}...} */
static int qmp_list(lua_State *L)
{
	pt_qmp *q = pt_lua_check_open(L, 1, QMP_MT);
	int r = pt_qmp_query_usb(q);
	if (r < 0)
		return pt_lua_fail(L, r, pt_ctx_last_error(qmp_ctx(L)));
	size_t n = pt_qmp_get_usb_count(q);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		pt_qmp_usb u = PT_INIT(pt_qmp_usb);
		pt_qmp_get_usb(q, i, &u);
		lua_createtable(L, 0, 5);
		pt_lua_set_string(L, "id", u.id);
		pt_lua_set_hex(L, "vendor_id", u.vendor, 4);
		pt_lua_set_hex(L, "product_id", u.product, 4);
		pt_lua_set_integer(L, "bus", u.bus);
		pt_lua_set_string(L, "port", u.port[0] ? u.port : NULL);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

/* pt.monitor(): USB devices coming and going; m:next(timeout_ms) gives an event table, or nil
 * when nothing came. */
static int pt_lua_monitor(lua_State *L)
{
	pt_opts opts = { .size = sizeof(opts) };
	pt_ctx *ctx;
	pt_monitor *m;
	int r = pt_ctx_new(&ctx, &opts);
	if (r < 0)
		return pt_lua_fail(L, r, lua_pushfstring(L, "udev monitor: %s", strerror(-r)));
	r = pt_monitor_new(ctx, &m);
	if (r < 0) {
		lua_pushstring(L, pt_ctx_last_error(ctx));
		pt_ctx_unref(ctx);
		return pt_lua_fail(L, r, lua_tostring(L, -1));
	}
	pt_ctx_unref(ctx);
	pt_lua_push_box(L, m, MONITOR_MT);
	return 1;
}

static int monitor_next(lua_State *L)
{
	pt_monitor *m = pt_lua_check_open(L, 1, MONITOR_MT);
	lua_Integer timeout = luaL_optinteger(L, 2, 1000);
	pt_usb_event ev = PT_INIT(pt_usb_event);
	int r = pt_monitor_receive(m, (unsigned)(timeout < 0 ? 0 : timeout), &ev);
	if (r < 0)
		return pt_lua_fail(L, r, lua_pushfstring(L, "udev monitor: %s", strerror(-r)));
	if (r == 0) {
		lua_pushnil(L);
		return 1;
	}
	lua_createtable(L, 0, 6);
	pt_lua_set_string(L, "action", ev.action);
	pt_lua_set_string(L, "port", ev.port);
	pt_lua_set_integer(L, "bus", ev.bus);
	pt_lua_set_hex(L, "vendor_id", ev.vendor, 4);
	pt_lua_set_hex(L, "product_id", ev.product, 4);
	pt_lua_set_string(L, "serial", ev.serial[0] ? ev.serial : NULL);
	return 1;
}

/* pt.usb_resolve's answer, {id = "VVVV:PPPP"} or {port = "B-P.P"}, as the C struct: checked by
 * pt_usb_resolve itself (no snapshot: the port as given). */
static void check_resolved(lua_State *L, int idx, pt_ctx *ctx, pt_usb_resolved *m)
{
	pt_usb_spec spec = PT_INIT(pt_usb_spec);

	luaL_checktype(L, idx, LUA_TTABLE);
	lua_getfield(L, idx, "port");
	lua_getfield(L, idx, "id");
	spec.port = lua_tostring(L, -2);
	spec.id = spec.port ? NULL : lua_tostring(L, -1);
	int r = pt_usb_resolve(ctx, NULL, &spec, m);
	lua_pop(L, 2);
	if (r < 0) {
		lua_pushstring(L, pt_ctx_last_error(ctx));
		pt_ctx_unref(ctx);
		luaL_argerror(L, idx, lua_tostring(L, -1));
	}
}

static void push_host(lua_State *L, const pt_usb_host *h)
{
	char id[16];

	lua_createtable(L, 0, 7);
	pt_lua_set_string(L, "port", h->port);
	pt_lua_set_integer(L, "bus", h->bus);
	pt_lua_set_integer(L, "devnum", h->devnum);
	snprintf(id, sizeof(id), "%04x:%04x", h->vendor, h->product);
	pt_lua_set_string(L, "id", id);
	pt_lua_set_string(L, "node", h->node);
	if (h->holder)
		pt_lua_set_integer(L, "holder", h->holder);
	if (h->was_devnum)
		pt_lua_set_integer(L, "was_devnum", h->was_devnum);
}

/* The device as a table; false and why where libusb cannot look (-EXDEV: a root that is not the
 * running system); else nil, message, errno. The context let go. */
static int host_answer(lua_State *L, pt_ctx *ctx, int r, const pt_usb_host *h)
{
	int n = 1;
	if (r == -EXDEV) {
		lua_pushboolean(L, 0);
		lua_pushstring(L, pt_ctx_last_error(ctx));
		n = 2;
	} else if (r < 0)
		n = pt_lua_fail(L, r, pt_ctx_last_error(ctx));
	else
		push_host(L, h);
	pt_ctx_unref(ctx);
	return n;
}

/* pt.usb_host(resolved): what QEMU's usb-host will find (libusb), {port, bus, devnum, id, node,
 * holder}; false, why under a root libusb cannot see; or nil, message, errno */
static int pt_lua_usb_host(lua_State *L)
{
	pt_usb_resolved m = PT_INIT(pt_usb_resolved);
	pt_usb_host h = PT_INIT(pt_usb_host);

	pt_ctx *ctx = pt_lua_root_context(L);
	if (!ctx)
		return lua_error(L);
	check_resolved(L, 1, ctx, &m);
	return host_answer(L, ctx, pt_usb_check_host(ctx, &m, &h), &h);
}

/* pt.usb_device_id(resolved): libpt's QEMU device id for a match (pt_usb_device_id). */
static int pt_lua_usb_device_id(lua_State *L)
{
	pt_usb_resolved m = PT_INIT(pt_usb_resolved);
	char id[PT_USB_ID_MAX];

	pt_ctx *ctx = pt_lua_root_context(L);
	if (!ctx)
		return lua_error(L);
	check_resolved(L, 1, ctx, &m);
	pt_ctx_unref(ctx);
	if (pt_usb_device_id(&m, id, sizeof(id)) < 0)
		return luaL_argerror(L, 1, "a port too long for a device id");
	lua_pushstring(L, id);
	return 1;
}

/* pt.usb_reset(resolved [, {force = bool, timeout_ms = N}]): where the device is after its
 * reset (as pt.usb_host, with was_devnum), or nil, message, errno */
static int pt_lua_usb_reset(lua_State *L)
{
	pt_usb_resolved m = PT_INIT(pt_usb_resolved);
	pt_usb_host h = PT_INIT(pt_usb_host);
	unsigned flags = 0;
	lua_Integer timeout = 0;

	luaL_checktype(L, 1, LUA_TTABLE);
	if (!lua_isnoneornil(L, 2)) {
		luaL_checktype(L, 2, LUA_TTABLE);
		lua_getfield(L, 2, "force");
		flags = lua_toboolean(L, -1) ? PT_USB_RESET_FORCE : 0;
		lua_getfield(L, 2, "timeout_ms");
		timeout = luaL_optinteger(L, -1, 0);
		luaL_argcheck(L, timeout >= 0 && timeout <= 600000, 2, "timeout_ms: 0 to 600000");
		lua_pop(L, 2);
	}
	pt_lua_check_action(L, "a USB reset");
	pt_ctx *ctx = pt_lua_root_context(L);
	if (!ctx)
		return lua_error(L);
	check_resolved(L, 1, ctx, &m);
	return host_answer(L, ctx, pt_usb_reset(ctx, &m, flags, (unsigned)timeout, &h), &h);
}

static int pt_lua_usb_port_valid(lua_State *L)
{
	lua_pushboolean(L, pt_usb_port_is_valid(luaL_checkstring(L, 1)));
	return 1;
}

const luaL_Reg pt_lua_usb_funcs[] = {
	{ "qmp", pt_lua_qmp },
	{ "usb_port_valid", pt_lua_usb_port_valid },
	{ "usb_host", pt_lua_usb_host },
	{ "usb_reset", pt_lua_usb_reset },
	{ "usb_device_id", pt_lua_usb_device_id },
	{ "usb_attach", pt_lua_usb_attach },
	{ "usb_detach", pt_lua_usb_detach },
	{ "monitor", pt_lua_monitor },
	{ NULL, NULL },
};

void pt_lua_open_usb(lua_State *L)
{
	static const luaL_Reg qmp_methods[] = {
		{ "attach", qmp_attach }, { "detach", qmp_detach }, { "list", qmp_list }, { NULL, NULL },
	};
	pt_lua_new_class(L, QMP_MT, qmp_methods, NULL, qmp_close, NULL);
	static const luaL_Reg monitor_methods[] = { { "next", monitor_next }, { NULL, NULL } };
	pt_lua_new_class(L, MONITOR_MT, monitor_methods, NULL, monitor_close, NULL);
}
