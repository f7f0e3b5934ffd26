/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The emitters, VM configuration, companions and USB resolution for Lua: thin bindings of the C
 * calls that pt.proxmox, pt.libvirt, pt.qemu, pt.passthrough and pt.usb wrap. A refused value
 * raises the library's message, as those modules' own checks did.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pt-lua-private.h"

#define VMCONF_MT "pt.VMConfig"
#define NODE_MT "pt.Node"
#define PLAN_MT "pt.HostPlan"

/* Raises the context's last error; an owned context is dropped first. */
static int raise(lua_State *L, pt_ctx *ctx, bool owned)
{
	lua_pushstring(L, pt_ctx_last_error(ctx));
	if (owned)
		pt_ctx_unref(ctx);
	return lua_error(L);
}

/* The emitters' force option: the assignment's (PT_ASSIGN_FORCE), not an emitter flag. */
#define OPT_FORCE (1u << 31)

static pt_ctx *root_ctx(lua_State *L)
{
	pt_ctx *ctx = pt_lua_root_context(L);
	if (!ctx)
		lua_error(L); /* its message is on the stack, under the errno */
	return ctx;
}

/* A string field of the table at idx, left on the stack so it lives through the call. */
static const char *opt_field(lua_State *L, int idx, const char *key)
{
	int t = lua_getfield(L, idx, key);
	if (t == LUA_TNIL)
		return NULL;
	if (t != LUA_TSTRING)
		luaL_error(L, "option '%s': a string expected, got %s", key, lua_typename(L, t));
	return lua_tostring(L, -1);
}

static bool bool_field(lua_State *L, int idx, const char *key, bool if_nil)
{
	int t = lua_getfield(L, idx, key);
	bool v = t == LUA_TNIL ? if_nil : lua_toboolean(L, -1);
	lua_pop(L, 1);
	return v;
}

static void check_opts(lua_State *L, int idx, pt_emit_opts *o)
{
	static const char *const known[] = { "vm", "primary", "rombar", "romfile", "hide_kvm", "legacy_igd",
					     "usb3", "machine", "storage", "config", "force", NULL };
	memset(o, 0, sizeof(*o));
	o->size = sizeof(*o);
	if (lua_isnoneornil(L, idx))
		return;
	luaL_checktype(L, idx, LUA_TTABLE);
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
		size_t i = 0;
		while (known[i] && strcmp(known[i], k))
			i++;
		if (!known[i])
			luaL_argerror(L, idx, lua_pushfstring(L, "unknown option '%s'", luaL_tolstring(L, -2, NULL)));
		lua_pop(L, 1);
	}
	lua_getfield(L, idx, "vm");
	lua_Integer vm = lua_tointeger(L, -1);
	lua_pop(L, 1);
	o->vm = vm > 0 && vm <= PT_VMID_MAX ? (unsigned)vm : 0;
	o->primary = opt_field(L, idx, "primary");
	o->romfile = opt_field(L, idx, "romfile");
	o->machine = opt_field(L, idx, "machine");
	o->storage = opt_field(L, idx, "storage");
	if (!bool_field(L, idx, "rombar", true))
		o->flags |= PT_EMIT_NO_ROMBAR;
	if (bool_field(L, idx, "hide_kvm", false))
		o->flags |= PT_EMIT_HIDE_KVM;
	if (bool_field(L, idx, "legacy_igd", false))
		o->flags |= PT_EMIT_LEGACY_IGD;
	if (bool_field(L, idx, "usb3", false))
		o->flags |= PT_EMIT_USB3;
	if (bool_field(L, idx, "force", false))
		o->flags |= OPT_FORCE;
	if (lua_getfield(L, idx, "config") == LUA_TTABLE) {
		lua_getfield(L, -1, "handle");
		o->config = pt_lua_check_open(L, -1, VMCONF_MT);
	}
}

/* An emission's lines (notes false) or notes as a list. */
static void push_list(lua_State *L, const pt_emission *em, bool notes)
{
	size_t n = notes ? pt_emission_get_note_count(em) : pt_emission_get_line_count(em);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lua_pushstring(L, notes ? pt_emission_get_note(em, i) : pt_emission_get_line(em, i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
}

/* {lines =, notes =, qm =} of a Proxmox emission */
static int push_proxmox(lua_State *L, pt_emission *em)
{
	lua_createtable(L, 0, 3);
	push_list(L, em, false);
	lua_setfield(L, -2, "lines");
	push_list(L, em, true);
	lua_setfield(L, -2, "notes");
	pt_lua_set_string(L, "qm", pt_emission_get_command(em));
	pt_emission_unref(em);
	return 1;
}

static void push_joined(lua_State *L, pt_emission *em)
{
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	for (size_t i = 0; i < pt_emission_get_line_count(em); i++) {
		if (i)
			luaL_addchar(&b, '\n');
		luaL_addstring(&b, pt_emission_get_line(em, i));
	}
	pt_emission_unref(em);
	luaL_pushresult(&b);
}

/* {id = "10c4:ea60"} | {port = "1-2.3"} | {serial = S} | {bus = B, device = D}, or nil */
static pt_usb_spec *check_usb(lua_State *L, int idx, pt_usb_spec *spec)
{
	if (lua_isnoneornil(L, idx))
		return NULL;
	luaL_checktype(L, idx, LUA_TTABLE);
	*spec = PT_INIT(pt_usb_spec);
	spec->id = opt_field(L, idx, "id");
	spec->port = opt_field(L, idx, "port");
	spec->serial = opt_field(L, idx, "serial");
	spec->peer_port = opt_field(L, idx, "peer_port");
	lua_getfield(L, idx, "bus");
	spec->bus = (unsigned)lua_tointeger(L, -1);
	lua_getfield(L, idx, "device");
	spec->devnum = (unsigned)lua_tointeger(L, -1);
	return spec;
}

/* A list of strings at idx (addresses, node names), as a C array on the Lua stack (a userdata). */
static const char **check_addresses(lua_State *L, int idx, size_t *n)
{
	const char **v;

	*n = 0;
	if (lua_isnoneornil(L, idx))
		return NULL;
	luaL_checktype(L, idx, LUA_TTABLE);
	*n = lua_rawlen(L, idx);
	v = lua_newuserdatauv(L, (*n ? *n : 1) * sizeof(*v), 0);
	for (size_t i = 0; i < *n; i++) {
		lua_rawgeti(L, idx, (lua_Integer)i + 1);
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_error(L, "%s is not a PCI address", luaL_tolstring(L, -1, NULL));
		v[i] = lua_tostring(L, -1); /* the table keeps it */
		lua_pop(L, 1);
	}
	return v;
}

/* ---- the assignment ---- */

static pt_assignment *test_assignment(lua_State *L, int idx)
{
	return luaL_testudata(L, idx, ASSIGN_MT) ? pt_lua_check_open(L, idx, ASSIGN_MT) : NULL;
}

static pt_ctx *assignment_ctx(const pt_assignment *a)
{
	return pt_enum_get_context(pt_assignment_get_enum(a));
}

/* The assignment of a list of ids (a Lua convenience: C emitters take assignments), on e or a
 * snapshot of only them under ctx's root (owned: raised with), boxed on the stack. */
static pt_assignment *ids_assignment(lua_State *L, pt_ctx *ctx, bool owned, pt_enum *e, const char **ids, size_t n,
				     unsigned flags)
{
	pt_assignment *a = NULL;
	int r = 0;

	if (e)
		pt_enum_ref(e);
	else if (n)
		r = pt_enum_scan_devices(ctx, ids, n, 0, &e);
	else
		r = pt_enum_scan(ctx, 0, &e); /* an empty set, whose emitter has its say */
	if (r == 0)
		r = pt_assignment_new(e, 0, flags, &a);
	pt_enum_unref(e);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = pt_assignment_add(a, ids[i]);
	if (r < 0) {
		pt_assignment_unref(a);
		raise(L, ctx, owned);
	}
	pt_lua_push_box(L, a, ASSIGN_MT);
	return a;
}

static unsigned assign_flags(lua_State *L, int idx)
{
	unsigned flags = 0;

	if (lua_isnoneornil(L, idx))
		return 0;
	luaL_checktype(L, idx, LUA_TTABLE);
	if (bool_field(L, idx, "force", false))
		flags |= PT_ASSIGN_FORCE;
	if (bool_field(L, idx, "console", false))
		flags |= PT_ASSIGN_CONSOLE;
	return flags;
}

/* pt.assign(inv, items [, {vm =, force =, console =}]): what a VM is to get; items are devices
 * of inv or PCI ids ("01:00.0", "0000:01:00" a slot), each with its passthrough set. nil, the
 * message and errno for an id that is malformed or not there. pt.assign(devices [, opts]): of
 * the devices' own snapshot. */
static int l_assign(lua_State *L)
{
	if (lua_istable(L, 1)) {
		lua_settop(L, 2);
		lua_rawgeti(L, 1, 1);
		pt_device *first = pt_lua_check_open(L, -1, DEVICE_MT);
		lua_pop(L, 1);
		pt_lua_push_box(L, pt_enum_ref(pt_device_get_enum(first)), SNAPSHOT_MT);
		lua_insert(L, 1);
	}
	lua_settop(L, 3);
	pt_enum *e = pt_lua_check_open(L, 1, SNAPSHOT_MT);
	lua_Integer vm = 0;
	pt_assignment *a;
	int r;

	luaL_checktype(L, 2, LUA_TTABLE);
	if (!lua_isnil(L, 3)) {
		luaL_checktype(L, 3, LUA_TTABLE);
		lua_getfield(L, 3, "vm");
		vm = luaL_optinteger(L, -1, 0);
		lua_pop(L, 1);
		luaL_argcheck(L, vm == 0 || pt_vmid_is_valid((long long)vm), 3, "vm: a VM id");
	}
	if ((r = pt_assignment_new(e, (unsigned)vm, assign_flags(L, 3), &a)) < 0)
		return pt_lua_fail(L, r, pt_ctx_last_error(pt_enum_get_context(e)));
	pt_lua_push_box(L, a, ASSIGN_MT);
	for (lua_Integer i = 1; r == 0 && i <= (lua_Integer)lua_rawlen(L, 2); i++) {
		int t = lua_rawgeti(L, 2, i);
		if (t == LUA_TSTRING)
			r = pt_assignment_add(a, lua_tostring(L, -1));
		else
			r = pt_assignment_add_device(a, pt_lua_check_open(L, -1, DEVICE_MT), NULL);
		lua_pop(L, 1);
	}
	if (r < 0)
		return pt_lua_fail(L, r, pt_ctx_last_error(pt_enum_get_context(e))); /* the box frees it */
	return 1;
}

/* pt.assign_vm(vm [, {force =, console =}]): the VM's hostpci lines (their mappings too), only
 * what they name read; nil, the message and errno when the VM has no config here. */
static int l_assign_vm(lua_State *L)
{
	lua_settop(L, 2);
	lua_Integer vm = luaL_checkinteger(L, 1);
	pt_assignment *a;
	pt_ctx *ctx;
	int r;

	luaL_argcheck(L, pt_vmid_is_valid((long long)vm), 1, "a VM id");
	unsigned flags = assign_flags(L, 2);
	ctx = root_ctx(L);
	if ((r = pt_assignment_new_vm(ctx, (unsigned)vm, flags, &a)) < 0) {
		pt_lua_fail(L, r, pt_ctx_last_error(ctx));
		pt_ctx_unref(ctx);
		return 3;
	}
	pt_ctx_unref(ctx);
	pt_lua_push_box(L, a, ASSIGN_MT);
	return 1;
}

CLOSER(assign_close, ASSIGN_MT, pt_assignment_unref)

/* a:devices(): the set, in address order */
static int assign_devices(lua_State *L)
{
	pt_assignment *a = pt_lua_check_open(L, 1, ASSIGN_MT);
	size_t n = pt_assignment_get_device_count(a);

	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		pt_lua_push_device(L, pt_assignment_get_device(a, i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

/* A list of n strings, the i-th get(obj, i). */
static int push_strings(lua_State *L, size_t n, const char *(*get)(const void *obj, size_t i), const void *obj)
{
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lua_pushstring(L, get(obj, i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

static const char *address_at(const void *a, size_t i)
{
	return pt_device_get_address(pt_assignment_get_device(a, i));
}

static const char *source_at(const void *a, size_t i)
{
	return pt_assignment_get_source(a, i);
}

static const char *refusal_at(const void *a, size_t i)
{
	return pt_assignment_get_refusal(a, i);
}

/* a:addresses(): the set's addresses; a:sources(): where each came from; a:refusals(): every
 * refusal with its reason */
static int assign_addresses(lua_State *L)
{
	pt_assignment *a = pt_lua_check_open(L, 1, ASSIGN_MT);
	return push_strings(L, pt_assignment_get_device_count(a), address_at, a);
}

static int assign_sources(lua_State *L)
{
	pt_assignment *a = pt_lua_check_open(L, 1, ASSIGN_MT);
	return push_strings(L, pt_assignment_get_device_count(a), source_at, a);
}

static int assign_refusals(lua_State *L)
{
	pt_assignment *a = pt_lua_check_open(L, 1, ASSIGN_MT);
	return push_strings(L, pt_assignment_get_refusal_count(a), refusal_at, a);
}

/* a:check(): true, or nil, the first refusal and errno (forced members said as warnings) */
static int assign_check(lua_State *L)
{
	pt_assignment *a = pt_lua_check_open(L, 1, ASSIGN_MT);
	int r = pt_assignment_check(a);

	if (r < 0)
		return pt_lua_fail(L, r, pt_ctx_last_error(assignment_ctx(a)));
	lua_pushboolean(L, 1);
	return 1;
}

/* a.snapshot: the snapshot its devices belong to (pt.assign_vm's reads only the VM's devices) */
static int assign_snapshot(lua_State *L)
{
	pt_assignment *a = pt_lua_check_open(L, 1, ASSIGN_MT);
	pt_lua_push_box(L, pt_enum_ref(pt_assignment_get_enum(a)), SNAPSHOT_MT);
	return 1;
}

static int assign_vm(lua_State *L)
{
	pt_assignment *a = pt_lua_check_open(L, 1, ASSIGN_MT);
	unsigned vm = pt_assignment_get_vm(a);

	if (vm)
		lua_pushinteger(L, vm);
	else
		lua_pushnil(L);
	return 1;
}

/* pt.emit_proxmox(dev, opts): {lines, notes, qm} */
static int l_emit_proxmox(lua_State *L)
{
	lua_settop(L, 2);
	pt_assignment *a = test_assignment(L, 1);
	pt_emit_opts o;
	pt_emission *em;

	check_opts(L, 2, &o);
	if (!a) {
		pt_device *dev = pt_lua_check_open(L, 1, DEVICE_MT);
		pt_enum *e = pt_device_get_enum(dev);
		if (pt_assignment_new(e, 0, o.flags & OPT_FORCE ? PT_ASSIGN_FORCE : 0, &a) < 0)
			return raise(L, pt_enum_get_context(e), false);
		pt_lua_push_box(L, a, ASSIGN_MT);
		if (pt_assignment_add_device(a, dev, NULL) < 0)
			return raise(L, pt_enum_get_context(e), false);
	}
	o.flags &= ~OPT_FORCE;
	if (pt_emit_proxmox(a, &o, &em) < 0)
		return raise(L, assignment_ctx(a), false);
	return push_proxmox(L, em);
}

/* pt.emit_proxmox_mdev(dev, type, opts): {lines, notes, qm} */
static int l_emit_proxmox_mdev(lua_State *L)
{
	lua_settop(L, 3);
	pt_device *dev = pt_lua_check_open(L, 1, DEVICE_MT);
	const char *type = luaL_optstring(L, 2, NULL);
	pt_emit_opts o;
	pt_emission *em;

	check_opts(L, 3, &o);
	if (pt_emit_proxmox_mdev(dev, type, &o, &em) < 0)
		return raise(L, pt_enum_get_context(pt_device_get_enum(dev)), false);
	return push_proxmox(L, em);
}

/* pt.emit_proxmox_usb(usb, opts): {lines, notes, qm} */
static int l_emit_proxmox_usb(lua_State *L)
{
	lua_settop(L, 2);
	pt_usb_spec spec, *usb = check_usb(L, 1, &spec);
	pt_emit_opts o;
	pt_emission *em;
	pt_ctx *ctx;

	check_opts(L, 2, &o);
	ctx = root_ctx(L);
	if (pt_emit_proxmox_usb(ctx, usb, &o, &em) < 0)
		return raise(L, ctx, true);
	pt_ctx_unref(ctx);
	return push_proxmox(L, em);
}

/* pt.emit_libvirt(addresses or assignment, usb, domain): the XML */
static int l_emit_libvirt(lua_State *L)
{
	lua_settop(L, 3);
	size_t n = 0;
	pt_assignment *a = test_assignment(L, 1);
	const char **addresses = a ? NULL : check_addresses(L, 1, &n);
	pt_usb_spec spec, *usb = check_usb(L, 2, &spec);
	const char *domain = luaL_optstring(L, 3, NULL);
	pt_emission *em;
	pt_ctx *ctx = root_ctx(L);

	if (!a && n)
		a = ids_assignment(L, ctx, true, NULL, addresses, n, 0);
	if (pt_emit_libvirt(ctx, a, usb, domain, &em) < 0)
		return raise(L, ctx, true);
	pt_ctx_unref(ctx);
	push_joined(L, em);
	return 1;
}

/* pt.emit_qemu(addresses or assignment, usb, opts): the words */
static int l_emit_qemu(lua_State *L)
{
	lua_settop(L, 3);
	size_t n = 0;
	pt_assignment *a = test_assignment(L, 1);
	const char **addresses = a ? NULL : check_addresses(L, 1, &n);
	pt_usb_spec spec, *usb = check_usb(L, 2, &spec);
	pt_emit_opts o;
	pt_emission *em;
	pt_ctx *ctx;

	check_opts(L, 3, &o);
	ctx = root_ctx(L);
	if (!a && n)
		a = ids_assignment(L, ctx, true, NULL, addresses, n, o.flags & OPT_FORCE ? PT_ASSIGN_FORCE : 0);
	o.flags &= ~OPT_FORCE;
	if (pt_emit_qemu(ctx, a, usb, &o, &em) < 0)
		return raise(L, ctx, true);
	pt_ctx_unref(ctx);
	push_list(L, em, false);
	pt_emission_unref(em);
	return 1;
}

/* pt.emit_mdev(format, uuid): libvirt's hostdev (a string) or QEMU's words, of an existing mdev */
static int l_emit_mdev(lua_State *L)
{
	lua_settop(L, 2);
	static const char *const formats[] = { "libvirt", "qemu", NULL };
	int f = luaL_checkoption(L, 1, NULL, formats);
	const char *uuid = luaL_optstring(L, 2, NULL);
	pt_emission *em;
	pt_ctx *ctx = root_ctx(L);

	if ((f == 0 ? pt_emit_libvirt_mdev(ctx, uuid, &em) : pt_emit_qemu_mdev(ctx, uuid, &em)) < 0)
		return raise(L, ctx, true);
	pt_ctx_unref(ctx);
	if (f == 0) {
		push_joined(L, em);
	} else {
		push_list(L, em, false);
		pt_emission_unref(em);
	}
	return 1;
}

/* pt.shell_quote(words): one shell line */
static int l_shell_quote(lua_State *L)
{
	lua_settop(L, 1);
	size_t n;
	const char **words;
	char *line;

	luaL_checktype(L, 1, LUA_TTABLE);
	n = lua_rawlen(L, 1);
	words = lua_newuserdatauv(L, (n ? n : 1) * sizeof(*words), 0);
	for (size_t i = 0; i < n; i++) {
		lua_rawgeti(L, 1, (lua_Integer)i + 1);
		words[i] = luaL_tolstring(L, -1, NULL); /* kept on the stack */
	}
	line = pt_shell_quote(words, n);
	if (!line)
		return luaL_error(L, "out of memory");
	lua_pushstring(L, line);
	free(line);
	return 1;
}

/* ---- VM configuration ---- */

CLOSER(vmconf_close, VMCONF_MT, pt_vmconf_unref)

/* {keys = {...}, values = {k = v}} */
static void push_section(lua_State *L, const pt_vmconf *c)
{
	lua_createtable(L, 0, 2);
	lua_createtable(L, (int)pt_vmconf_get_key_count(c), 0);
	lua_createtable(L, 0, (int)pt_vmconf_get_key_count(c));
	for (size_t i = 0; i < pt_vmconf_get_key_count(c); i++) {
		const char *k = pt_vmconf_get_key(c, i);
		lua_pushstring(L, k);
		lua_rawseti(L, -3, (lua_Integer)i + 1);
		lua_pushstring(L, pt_vmconf_get(c, k));
		lua_setfield(L, -2, k);
	}
	lua_setfield(L, -3, "values");
	lua_setfield(L, -2, "keys");
}

/* The config as { main = section, snapshots = {name = true}, description = text, handle = C }. */
static void push_vmconf(lua_State *L, pt_vmconf *c)
{
	lua_createtable(L, 0, 4);
	push_section(L, c);
	lua_setfield(L, -2, "main");
	lua_createtable(L, 0, (int)pt_vmconf_get_snapshot_count(c));
	for (size_t i = 0; i < pt_vmconf_get_snapshot_count(c); i++) {
		lua_pushboolean(L, 1);
		lua_setfield(L, -2, pt_vmconf_get_snapshot(c, i));
	}
	lua_setfield(L, -2, "snapshots");
	pt_lua_set_string(L, "description", pt_vmconf_get_description(c));
	pt_lua_push_box(L, c, VMCONF_MT);
	lua_setfield(L, -2, "handle");
}

/* pt.vmconf_parse(text, file): the config; raises naming FILE:LINE */
static int l_vmconf_parse(lua_State *L)
{
	lua_settop(L, 2);
	const char *text = luaL_checkstring(L, 1), *file = luaL_optstring(L, 2, NULL);
	pt_ctx *ctx = root_ctx(L);
	pt_vmconf *c;

	if (pt_vmconf_parse(ctx, text, file, &c) < 0)
		return raise(L, ctx, true);
	pt_ctx_unref(ctx);
	push_vmconf(L, c);
	return 1;
}

/* pt.vmconf_read(vm): the VM's config and its path, or nil and the path when it has none */
static int l_vmconf_read(lua_State *L)
{
	lua_settop(L, 1);
	lua_Integer vm = luaL_checkinteger(L, 1);
	pt_ctx *ctx = root_ctx(L);
	pt_vmconf *c;
	int r = pt_vmconf_read(ctx, vm > 0 && vm <= PT_VMID_MAX ? (unsigned)vm : 0, &c);
	const char *root = pt_ctx_get_root(ctx);

	lua_pushfstring(L, "%s/etc/pve/qemu-server/%d.conf", strcmp(root, "/") ? root : "", (int)vm);
	if (r == -ENOENT) {
		pt_ctx_unref(ctx);
		lua_pushnil(L);
		lua_insert(L, -2);
		return 2;
	}
	if (r < 0)
		return raise(L, ctx, true);
	pt_ctx_unref(ctx);
	push_vmconf(L, c);
	lua_insert(L, -2);
	return 2;
}

/* pt.props_parse(value, default_key): { {key, value}... }, { key = value } */
static int l_props_parse(lua_State *L)
{
	lua_settop(L, 2);
	const char *value = luaL_checkstring(L, 1), *dflt = luaL_optstring(L, 2, NULL);
	pt_ctx *ctx = root_ctx(L);
	pt_props *p;

	if (pt_props_parse(ctx, value, dflt, &p) < 0)
		return raise(L, ctx, true);
	pt_ctx_unref(ctx);
	size_t n = pt_props_get_count(p);
	lua_createtable(L, (int)n, 0);
	lua_createtable(L, 0, (int)n);
	for (size_t i = 0; i < n; i++) {
		lua_createtable(L, 2, 0);
		lua_pushstring(L, pt_props_get_key(p, i));
		lua_rawseti(L, -2, 1);
		lua_pushstring(L, pt_props_get_value(p, i));
		lua_rawseti(L, -2, 2);
		lua_rawseti(L, -3, (lua_Integer)i + 1);
		lua_pushstring(L, pt_props_get_value(p, i));
		lua_setfield(L, -2, pt_props_get_key(p, i));
	}
	pt_props_unref(p);
	return 2;
}

/* pt.config_value(what, value): the value, or raises naming it */
static int l_config_value(lua_State *L)
{
	lua_settop(L, 2);
	const char *what = luaL_checkstring(L, 1), *value = luaL_tolstring(L, 2, NULL);
	pt_ctx *ctx = root_ctx(L);

	if (pt_config_value_check(ctx, what, value) < 0)
		return raise(L, ctx, true);
	pt_ctx_unref(ctx);
	lua_pushstring(L, value);
	return 1;
}

/* pt.usb_resolve(match, devices): what QEMU matches on, {id =} or {port, bus, hostport,
 * peer_of}; devices is inv:usb() of the inventory they are resolved against, or {} for none */
static int l_usb_resolve(lua_State *L)
{
	lua_settop(L, 2);
	pt_usb_spec spec, *usb = check_usb(L, 1, &spec);
	pt_enum *e = NULL;
	pt_usb_resolved res = PT_INIT(pt_usb_resolved);

	luaL_checktype(L, 1, LUA_TTABLE);
	if (lua_type(L, 2) == LUA_TTABLE && lua_getmetatable(L, 2)) {
		lua_getfield(L, -1, "inventory");
		e = pt_lua_check_open(L, -1, SNAPSHOT_MT);
	}
	pt_ctx *ctx = root_ctx(L);
	if (pt_usb_resolve(ctx, e, usb, &res) < 0)
		return raise(L, ctx, true);
	pt_ctx_unref(ctx);
	lua_createtable(L, 0, 4);
	if (res.port[0]) {
		pt_lua_set_string(L, "port", res.port);
		pt_lua_set_integer(L, "bus", res.bus);
		pt_lua_set_string(L, "hostport", res.hostport);
		if (res.peer_of[0])
			pt_lua_set_string(L, "peer_of", res.peer_of);
	} else {
		char id[16];
		snprintf(id, sizeof(id), "%04x:%04x", res.vendor, res.product);
		pt_lua_set_string(L, "id", id);
	}
	return 1;
}

/* dev:companions(): the functions of a GPU's slot that go with it */
int pt_lua_dev_companions(lua_State *L)
{
	pt_device *dev = pt_lua_check_open(L, 1, DEVICE_MT);
	size_t n = pt_device_get_companion_count(dev);

	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		pt_lua_push_device(L, pt_device_get_companion(dev, i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

/* ---- cluster nodes and mappings ---- */

/* pt.node(name): a node's devices, to add to (node:add(record), node:add_inventory(inv),
 * node:read_report(file)) and give to pt.emit_mapping */
static int l_node(lua_State *L)
{
	lua_settop(L, 1);
	const char *name = luaL_tolstring(L, 1, NULL);
	pt_ctx *ctx = root_ctx(L);
	pt_node *n;

	if (pt_node_new(ctx, name, &n) < 0)
		return raise(L, ctx, true);
	pt_ctx_unref(ctx);
	pt_lua_push_box(L, n, NODE_MT);
	return 1;
}

/* A record's field as the C call takes it: a string as it is, an integer in decimal, another
 * value as Lua writes it (to be refused, named); nil for nil. Left on the stack. */
static const char *record_field(lua_State *L, int idx, const char *key)
{
	int t = lua_getfield(L, idx, key);
	if (t == LUA_TNIL)
		return NULL;
	if (t == LUA_TSTRING)
		return lua_tostring(L, -1);
	return luaL_tolstring(L, -1, NULL);
}

/* node:add(record): a device as a report gives it (address, vendor_id... iommu_group, physfn) */
static int node_add(lua_State *L)
{
	pt_node *n = pt_lua_check_open(L, 1, NODE_MT);
	luaL_checktype(L, 2, LUA_TTABLE);
	lua_settop(L, 2);
	pt_node_device d = {
		.size = sizeof(d),
		.address = record_field(L, 2, "address"),
		.vendor_id = record_field(L, 2, "vendor_id"),
		.device_id = record_field(L, 2, "device_id"),
		.subsystem_vendor_id = record_field(L, 2, "subsystem_vendor_id"),
		.subsystem_device_id = record_field(L, 2, "subsystem_device_id"),
		.iommu_group = record_field(L, 2, "iommu_group"),
		.physfn = record_field(L, 2, "physfn"),
	};
	if (pt_node_add_device(n, &d) < 0) {
		return raise(L, pt_node_get_context(n), false);
	}
	lua_settop(L, 1);
	return 1;
}

static int node_add_inventory(lua_State *L)
{
	pt_node *n = pt_lua_check_open(L, 1, NODE_MT);
	pt_enum *e = pt_lua_check_open(L, 2, SNAPSHOT_MT);

	if (pt_node_add_enum(n, e) < 0) {
		return raise(L, pt_node_get_context(n), false);
	}
	lua_settop(L, 1);
	return 1;
}

static int node_read_report(lua_State *L)
{
	pt_node *n = pt_lua_check_open(L, 1, NODE_MT);
	const char *file = luaL_checkstring(L, 2);

	if (pt_node_read_report(n, file) < 0) {
		return raise(L, pt_node_get_context(n), false);
	}
	lua_settop(L, 1);
	return 1;
}

/* node:read_published(path): the devices of the report the node published (pmxcfs), read and
 * checked in C; its time */
static int node_read_published(lua_State *L)
{
	pt_node *n = pt_lua_check_open(L, 1, NODE_MT);
	const char *path = luaL_checkstring(L, 2);
	long long t;
	int r = pt_node_read_published(n, path, &t);

	if (r < 0)
		return pt_lua_fail(L, r, r == -ENOENT ? "not published" : pt_ctx_last_error(pt_node_get_context(n)));
	lua_pushinteger(L, (lua_Integer)t);
	return 1;
}

/* node:publish([time]): this node's report (its snapshot, node:add_inventory) published through
 * pmxcfs (pt_node_publish); its path and size in bytes, or nil, message, errno. */
static int node_publish(lua_State *L)
{
	pt_node *n = pt_lua_check_open(L, 1, NODE_MT);
	lua_Integer t = luaL_optinteger(L, 2, (lua_Integer)time(NULL));
	size_t size;

	pt_lua_check_action(L, "node:publish");
	int r = pt_node_publish(n, (long long)t, &size);
	if (r < 0)
		return pt_lua_fail(L, r, pt_ctx_last_error(pt_node_get_context(n)));
	lua_pushfstring(L, "/etc/pve/nodes/%s/libpt.json", pt_node_get_name(n));
	lua_pushinteger(L, (lua_Integer)size);
	return 2;
}

/* node:rows(): its devices as records {address, vendor_id, ..., iommu_group (an integer), physfn} */
static int node_rows(lua_State *L)
{
	pt_node *n = pt_lua_check_open(L, 1, NODE_MT);
	size_t count = pt_node_get_device_count(n);

	lua_createtable(L, (int)count, 0);
	for (size_t i = 0; i < count; i++) {
		pt_node_device d = PT_INIT(pt_node_device);
		pt_node_get_device(n, i, &d);
		lua_createtable(L, 0, 7);
		pt_lua_set_string(L, "address", d.address);
		pt_lua_set_string(L, "vendor_id", d.vendor_id);
		pt_lua_set_string(L, "device_id", d.device_id);
		pt_lua_set_string(L, "subsystem_vendor_id", d.subsystem_vendor_id);
		pt_lua_set_string(L, "subsystem_device_id", d.subsystem_device_id);
		if (d.iommu_group)
			pt_lua_set_integer(L, "iommu_group", strtol(d.iommu_group, NULL, 10));
		pt_lua_set_string(L, "physfn", d.physfn);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

CLOSER(node_close, NODE_MT, pt_node_unref)

static int node_name(lua_State *L)
{
	lua_pushstring(L, pt_node_get_name(pt_lua_check_open(L, 1, NODE_MT)));
	return 1;
}

static int node_count(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)pt_node_get_device_count(pt_lua_check_open(L, 1, NODE_MT)));
	return 1;
}

/* {lines =, notes =} */
static int push_mapping(lua_State *L, pt_emission *em)
{
	lua_createtable(L, 0, 2);
	push_list(L, em, false);
	lua_setfield(L, -2, "lines");
	push_list(L, em, true);
	lua_setfield(L, -2, "notes");
	pt_emission_unref(em);
	return 1;
}

/* pt.emit_mapping(name, addresses, nodes [, {mdev = bool}]): pci.cfg {lines, notes}; nodes[1] is
 * this node */
static int l_emit_mapping(lua_State *L)
{
	lua_settop(L, 4);
	const char *name = luaL_tolstring(L, 1, NULL);
	size_t n_set = 0, n_nodes;
	pt_assignment *a = test_assignment(L, 2);
	const char **set = a ? NULL : check_addresses(L, 2, &n_set);
	pt_node **nodes;
	pt_emission *em;

	luaL_checktype(L, 3, LUA_TTABLE);
	n_nodes = lua_rawlen(L, 3);
	nodes = lua_newuserdatauv(L, (n_nodes ? n_nodes : 1) * sizeof(*nodes), 0);
	for (size_t i = 0; i < n_nodes; i++) {
		lua_rawgeti(L, 3, (lua_Integer)i + 1);
		nodes[i] = pt_lua_check_open(L, -1, NODE_MT);
		lua_pop(L, 1); /* the list keeps it */
	}
	unsigned flags = lua_istable(L, 4) && bool_field(L, 4, "mdev", false) ? PT_MAPPING_MDEV : 0;
	if (!a) {
		pt_ctx *ctx = root_ctx(L);
		a = ids_assignment(L, ctx, true, NULL, set, n_set, flags & PT_MAPPING_MDEV ? PT_ASSIGN_MDEV : 0);
		pt_ctx_unref(ctx);
	}
	if (pt_emit_mapping(a, name, nodes, n_nodes, flags, &em) < 0)
		return raise(L, assignment_ctx(a), false);
	return push_mapping(L, em);
}

/* pt.emit_usb_mapping(name, usb, node_names): usb.cfg {lines, notes} */
static int l_emit_usb_mapping(lua_State *L)
{
	lua_settop(L, 3);
	const char *name = luaL_tolstring(L, 1, NULL);
	pt_usb_spec spec, *usb = check_usb(L, 2, &spec);
	size_t n;
	const char **names = check_addresses(L, 3, &n);
	pt_emission *em;
	pt_ctx *ctx = root_ctx(L);

	if (pt_emit_usb_mapping(ctx, name, usb, names, n, &em) < 0)
		return raise(L, ctx, true);
	pt_ctx_unref(ctx);
	return push_mapping(L, em);
}

/* ---- host persistence ---- */

/* pt.host_plan(inv, addresses, {blacklist =, cpu =, force =}) or pt.host_plan(assignment, nil,
 * {blacklist =, cpu =}): the plan of boot-time changes */
static int l_host_plan(lua_State *L)
{
	lua_settop(L, 3);
	pt_assignment *a = test_assignment(L, 1);
	pt_enum *e = a ? pt_assignment_get_enum(a) : pt_lua_check_open(L, 1, SNAPSHOT_MT);
	size_t n = 0;
	const char **addresses = a ? NULL : check_addresses(L, 2, &n);
	unsigned flags = 0;
	const char *cpu = NULL;
	pt_host_plan *p;

	if (!lua_isnil(L, 3)) {
		luaL_checktype(L, 3, LUA_TTABLE);
		if (bool_field(L, 3, "blacklist", false))
			flags |= PT_PLAN_BLACKLIST;
		if (bool_field(L, 3, "force", false))
			flags |= OPT_FORCE;
		if (bool_field(L, 3, "remove", false))
			flags |= PT_PLAN_REMOVE;
		cpu = opt_field(L, 3, "cpu");
	}
	if (!a && n == 0)
		return luaL_error(L, "host_plan: no devices");
	if (!a)
		a = ids_assignment(L, pt_enum_get_context(e), false, e, addresses, n, flags & OPT_FORCE ? PT_ASSIGN_FORCE : 0);
	if (pt_host_plan_new(a, flags & ~OPT_FORCE, cpu, &p) < 0)
		return raise(L, pt_enum_get_context(e), false);
	pt_lua_push_box(L, p, PLAN_MT);
	return 1;
}

/* pt.sriov_plan(pf, vfs, wait_ms [, vf_driver]) */
static int l_sriov_plan(lua_State *L)
{
	pt_device *pf = pt_lua_check_open(L, 1, DEVICE_MT);
	lua_Integer vfs = luaL_checkinteger(L, 2), wait = luaL_checkinteger(L, 3);
	const char *vf_driver = luaL_optstring(L, 4, NULL);
	pt_host_plan *p;

	luaL_argcheck(L, vfs >= 0 && vfs <= 65535, 2, "a count of VFs");
	luaL_argcheck(L, wait >= 0 && wait <= 3600000, 3, "milliseconds");
	if (pt_host_plan_new_sriov(pf, (unsigned)vfs, (unsigned)wait, vf_driver, &p) < 0)
		return raise(L, pt_enum_get_context(pt_device_get_enum(pf)), false);
	pt_lua_push_box(L, p, PLAN_MT);
	return 1;
}

CLOSER(plan_close, PLAN_MT, pt_host_plan_unref)

/* plan:changes(): { {path =, old =, new =, diff =}... } */
static int plan_changes(lua_State *L)
{
	pt_host_plan *p = pt_lua_check_open(L, 1, PLAN_MT);
	size_t n = pt_host_plan_get_change_count(p);

	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		char *diff = pt_host_plan_get_diff(p, i);
		lua_createtable(L, 0, 4);
		pt_lua_set_string(L, "path", pt_host_plan_get_path(p, i));
		pt_lua_set_string(L, "old", pt_host_plan_get_old(p, i));
		pt_lua_set_string(L, "new", pt_host_plan_get_new(p, i));
		pt_lua_set_string(L, "diff", diff);
		free(diff);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

static const char *command_at(const void *p, size_t i)
{
	return pt_host_plan_get_command(p, i);
}

static int plan_commands(lua_State *L)
{
	pt_host_plan *p = pt_lua_check_open(L, 1, PLAN_MT);
	return push_strings(L, pt_host_plan_get_command_count(p), command_at, p);
}

/* plan:apply(): the backups' paths; raises when a write fails (the others put back) */
static int plan_apply(lua_State *L)
{
	pt_host_plan *p = pt_lua_check_open(L, 1, PLAN_MT);
	lua_Integer k = 0;

	pt_lua_check_action(L, "plan:apply");
	if (pt_host_plan_apply(p) < 0)
		return raise(L, pt_host_plan_get_context(p), false);
	lua_newtable(L);
	for (size_t i = 0; i < pt_host_plan_get_change_count(p); i++)
		if (pt_host_plan_get_backup(p, i)) {
			lua_pushstring(L, pt_host_plan_get_backup(p, i));
			lua_rawseti(L, -2, ++k);
		}
	return 1;
}

/* pt.diff(path, old, new): a unified diff */
static int l_diff(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1), *old = luaL_optstring(L, 2, NULL), *new = luaL_checkstring(L, 3);
	char *d = pt_diff(path, old, new);

	if (!d)
		return luaL_error(L, "out of memory");
	lua_pushstring(L, d);
	free(d);
	return 1;
}

/* pt.grub_with_params(grub, params) */
static int l_grub_with_params(lua_State *L)
{
	char *g = pt_grub_with_params(luaL_optstring(L, 1, ""), luaL_checkstring(L, 2));

	if (!g)
		return luaL_error(L, "out of memory");
	lua_pushstring(L, g);
	free(g);
	return 1;
}

/* pt.lint(inv, vm): { {vm =, key =, code =, message =}... } of the VM configs (vm: only its) */
static int l_lint(lua_State *L)
{
	lua_settop(L, 2);
	pt_enum *e = pt_lua_check_open(L, 1, SNAPSHOT_MT);
	lua_Integer vm = luaL_optinteger(L, 2, 0);
	pt_lint *l;

	luaL_argcheck(L, vm == 0 || pt_vmid_is_valid((long long)vm), 2, "a VM id");
	if (pt_lint_run(e, (unsigned)vm, &l) < 0)
		return raise(L, pt_enum_get_context(e), false);
	size_t n = pt_lint_get_finding_count(l);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lua_createtable(L, 0, 4);
		pt_lua_set_integer(L, "vm", pt_lint_get_vm(l, i));
		pt_lua_set_string(L, "key", pt_lint_get_key(l, i));
		pt_lua_set_string(L, "code", pt_lint_get_code(l, i));
		pt_lua_set_string(L, "message", pt_lint_get_message(l, i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	pt_lint_unref(l);
	return 1;
}

const luaL_Reg pt_lua_emit_funcs[] = {
	{ "lint", l_lint },
	{ "assign", l_assign },
	{ "assign_vm", l_assign_vm },
	{ "host_plan", l_host_plan },
	{ "sriov_plan", l_sriov_plan },
	{ "diff", l_diff },
	{ "grub_with_params", l_grub_with_params },
	{ "node", l_node },
	{ "emit_mapping", l_emit_mapping },
	{ "emit_usb_mapping", l_emit_usb_mapping },
	{ "emit_proxmox", l_emit_proxmox },
	{ "emit_proxmox_mdev", l_emit_proxmox_mdev },
	{ "emit_proxmox_usb", l_emit_proxmox_usb },
	{ "emit_libvirt", l_emit_libvirt },
	{ "emit_qemu", l_emit_qemu },
	{ "emit_mdev", l_emit_mdev },
	{ "shell_quote", l_shell_quote },
	{ "vmconf_parse", l_vmconf_parse },
	{ "vmconf_read", l_vmconf_read },
	{ "props_parse", l_props_parse },
	{ "config_value", l_config_value },
	{ "usb_resolve", l_usb_resolve },
	{ NULL, NULL },
};

void pt_lua_open_emit(lua_State *L)
{
	static const luaL_Reg none[] = { { NULL, NULL } };
	static const luaL_Reg node_methods[] = {
		{ "add", node_add }, { "add_inventory", node_add_inventory }, { "read_report", node_read_report },
		{ "read_published", node_read_published }, { "rows", node_rows }, { "publish", node_publish },
		{ NULL, NULL },
	};
	static const luaL_Reg node_getters[] = { { "name", node_name }, { "count", node_count }, { NULL, NULL } };
	pt_lua_new_class(L, VMCONF_MT, none, none, vmconf_close, NULL);
	pt_lua_new_class(L, NODE_MT, node_methods, node_getters, node_close, NULL);
	static const luaL_Reg plan_methods[] = {
		{ "changes", plan_changes }, { "commands", plan_commands }, { "apply", plan_apply }, { NULL, NULL },
	};
	pt_lua_new_class(L, PLAN_MT, plan_methods, none, plan_close, NULL);
	static const luaL_Reg assign_methods[] = {
		{ "devices", assign_devices }, { "addresses", assign_addresses }, { "sources", assign_sources },
		{ "refusals", assign_refusals }, { "check", assign_check }, { NULL, NULL },
	};
	static const luaL_Reg assign_getters[] = { { "vm", assign_vm }, { "snapshot", assign_snapshot }, { NULL, NULL } };
	pt_lua_new_class(L, ASSIGN_MT, assign_methods, assign_getters, assign_close, NULL);
}
