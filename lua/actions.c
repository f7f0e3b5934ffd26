/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Transactions (pt.bind, pt.restore) and host configuration files (pt.write_file). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "pt-lua-private.h"

CLOSER(txn_close, TXN_MT, pt_txn_unref)

/* ---- transactions ---- */

/* force and console are the assignment's (PT_ASSIGN_*), not the transaction's */
#define OPT_FORCE (1u << 8)
#define OPT_CONSOLE (1u << 9)

struct txn_opts {
	lua_Integer vm;
	unsigned flags;
	lua_Integer timeout_ms;
	lua_Integer lock_timeout_ms;
};

/* {vm = 100, dry_run = bool, force = bool, console = bool (the console is handed over),
 * timeout_ms = n, lock_timeout_ms = n}; unknown keys
 * are misuse. */
static void txn_options(lua_State *L, int idx, struct txn_opts *o, bool allow_force)
{
	static const char *const keys[] = { "vm",	 "dry_run", "force", "console", "timeout_ms", "lock_timeout_ms",
					    "root", "variant", NULL };
	luaL_checktype(L, idx, LUA_TTABLE);
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		int known = 0;
		for (int i = 0; keys[i] && lua_type(L, -2) == LUA_TSTRING; i++)
			known |= strcmp(lua_tostring(L, -2), keys[i]) == 0 &&
				 (allow_force || (strcmp(keys[i], "force") && strcmp(keys[i], "console")));
		if (!known)
			luaL_argerror(L, idx, lua_pushfstring(L, "unknown option '%s'", luaL_tolstring(L, -2, NULL)));
		lua_pop(L, 1);
	}
	lua_getfield(L, idx, "vm");
	o->vm = luaL_checkinteger(L, -1);
	lua_getfield(L, idx, "dry_run");
	o->flags = lua_toboolean(L, -1) ? PT_TXN_DRY_RUN : 0;
	lua_getfield(L, idx, "variant");
	o->flags |= lua_toboolean(L, -1) ? PT_TXN_VARIANT : 0;
	lua_pop(L, 1);
	lua_getfield(L, idx, "force");
	o->flags |= lua_toboolean(L, -1) ? OPT_FORCE : 0;
	lua_getfield(L, idx, "console");
	o->flags |= lua_toboolean(L, -1) ? OPT_CONSOLE : 0;
	lua_getfield(L, idx, "timeout_ms");
	o->timeout_ms = luaL_optinteger(L, -1, 0);
	lua_getfield(L, idx, "lock_timeout_ms");
	o->lock_timeout_ms = luaL_optinteger(L, -1, 0);
	lua_pop(L, 6);
	if (o->vm < 0 || o->vm > 0xffffffffLL)
		luaL_argerror(L, idx, "vm out of range");
}

/* A new transaction in its box, with the options' timeouts. */
static void push_txn(lua_State *L, pt_txn *t, const struct txn_opts *o)
{
	if (o->timeout_ms > 0)
		pt_txn_set_timeout(t, (unsigned)o->timeout_ms);
	if (o->lock_timeout_ms > 0)
		pt_txn_set_lock_timeout(t, (unsigned)o->lock_timeout_ms);
	pt_lua_push_box(L, t, TXN_MT);
}

/* pt.bind(assignment, {vm = 100, dry_run = true, timeout_ms =, lock_timeout_ms =}): the
 * assignment's set (pt.assign: force and console are its own), one transaction to commit. */
static int bind_assignment(lua_State *L)
{
	pt_assignment *a = pt_lua_check_open(L, 1, ASSIGN_MT);
	pt_ctx *ctx = pt_enum_get_context(pt_assignment_get_enum(a));
	struct txn_opts o;
	pt_txn *t;

	txn_options(L, 2, &o, false);
	if (o.vm != (lua_Integer)pt_assignment_get_vm(a))
		return luaL_argerror(L, 2, "vm: the assignment's VM");
	int r = pt_txn_new_bind(a, o.flags & (PT_TXN_DRY_RUN | PT_TXN_VARIANT), &t);
	if (r < 0)
		return pt_lua_fail(L, r, pt_ctx_last_error(ctx));
	push_txn(L, t, &o);
	lua_pushvalue(L, 1); /* errors are read from the assignment's context */
	lua_setiuservalue(L, -2, 1);
	return 1;
}

/* pt.bind(device or {devices...}, {vm = 100, dry_run = true, force = false}): one
 * transaction over their passthrough sets, to commit: their assignment, bound. */
static int pt_lua_bind(lua_State *L)
{
	struct txn_opts o;
	pt_assignment *a = NULL;
	pt_txn *t;
	pt_ctx *ctx = NULL;
	int r = 0, n = lua_istable(L, 1) ? (int)lua_rawlen(L, 1) : 1;

	if (luaL_testudata(L, 1, ASSIGN_MT))
		return bind_assignment(L);

	txn_options(L, 2, &o, true);
	luaL_argcheck(L, n > 0, 1, "no device");
	lua_settop(L, 2);
	for (int i = 1; i <= n && r == 0; i++) {
		if (lua_istable(L, 1))
			lua_rawgeti(L, 1, i);
		else
			lua_pushvalue(L, 1);
		pt_device *d = pt_lua_check_open(L, -1, DEVICE_MT);
		pt_enum *e = pt_device_get_enum(d);
		ctx = pt_enum_get_context(e);
		if (!a && (r = pt_assignment_new(e, (unsigned)o.vm, (o.flags & OPT_FORCE ? PT_ASSIGN_FORCE : 0) |
							    (o.flags & OPT_CONSOLE ? PT_ASSIGN_CONSOLE : 0), &a)) < 0)
			break;
		r = pt_assignment_add_device(a, d, NULL);
		lua_pop(L, 1);
	}
	if (r == 0)
		r = pt_txn_new_bind(a, o.flags & (PT_TXN_DRY_RUN | PT_TXN_VARIANT), &t);
	pt_assignment_unref(a);
	if (r < 0)
		return pt_lua_fail(L, r, pt_ctx_last_error(ctx));
	push_txn(L, t, &o);
	if (lua_istable(L, 1))
		lua_rawgeti(L, 1, 1);
	else
		lua_pushvalue(L, 1);
	lua_setiuservalue(L, -2, 1); /* errors are read from the first device's context */
	return 1;
}

static int txn_plan_at(lua_State *L, int idx)
{
	pt_txn *t = pt_lua_check_open(L, idx, TXN_MT);
	size_t n = pt_txn_get_step_count(t);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lua_pushstring(L, pt_txn_get_step(t, i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

static int txn_plan(lua_State *L)
{
	return txn_plan_at(L, 1);
}

static int txn_devices(lua_State *L)
{
	pt_txn *t = pt_lua_check_open(L, 1, TXN_MT);
	lua_createtable(L, (int)pt_txn_get_device_count(t), 0);
	for (size_t i = 0; i < pt_txn_get_device_count(t); i++) {
		lua_pushstring(L, pt_txn_get_device(t, i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

static int txn_commit(lua_State *L)
{
	pt_txn *t = pt_lua_check_open(L, 1, TXN_MT);
	pt_lua_check_action(L, "commit");
	int r = pt_txn_commit(t);
	if (r < 0) {
		lua_getiuservalue(L, 1, 1);
		pt_ctx *ctx = luaL_testudata(L, -1, DEVICE_MT) ?
			      pt_enum_get_context(pt_device_get_enum(pt_lua_check_open(L, -1, DEVICE_MT))) :
			      luaL_testudata(L, -1, ASSIGN_MT) ?
			      pt_enum_get_context(pt_assignment_get_enum(pt_lua_check_open(L, -1, ASSIGN_MT))) :
			      pt_lua_check_open(L, -1, CTX_MT);
		return pt_lua_fail(L, r, pt_ctx_last_error(ctx));
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* pt.restore{vm = 100 [, dry_run = true] [, root = DIR]}: gives back what the journal says the
 * VM holds. Returns the devices given back, or with dry_run the plan, writing nothing. */
static int pt_lua_restore(lua_State *L)
{
	struct txn_opts o;
	pt_txn *t;

	txn_options(L, 1, &o, false);
	lua_getfield(L, 1, "root");
	lua_newtable(L);
	lua_insert(L, -2);
	lua_setfield(L, -2, "root");
	lua_replace(L, 1);
	lua_settop(L, 1);
	if (pt_lua_context(L) != 1)
		return 3;
	pt_ctx *ctx = pt_lua_check_open(L, -1, CTX_MT);
	int r = pt_txn_new_restore(ctx, (unsigned)o.vm, o.flags & PT_TXN_DRY_RUN, &t);
	if (r < 0)
		return pt_lua_fail(L, r, pt_ctx_last_error(ctx));
	push_txn(L, t, &o);
	lua_pushvalue(L, -2);
	lua_setiuservalue(L, -2, 1);
	if (o.flags & PT_TXN_DRY_RUN)
		return txn_plan_at(L, lua_gettop(L));
	pt_lua_check_action(L, "pt.restore");
	lua_pushcfunction(L, txn_commit);
	lua_pushvalue(L, -2);
	lua_call(L, 1, 3);
	if (lua_isnil(L, -3))
		return 3;
	lua_pop(L, 3);
	lua_replace(L, 1);
	lua_settop(L, 1);
	txn_devices(L);
	lua_pushinteger(L, (lua_Integer)pt_txn_get_hold_count(pt_lua_check_open(L, 1, TXN_MT)));
	return 2; /* the devices given back, and how many holds */
}

/* pt.write_file(path, content [, {backup = true, mkdir = true, root = DIR}]): atomic, under the root.
 * Returns true and the backup's path, or nil, message, errno. */
static int pt_lua_write_file(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	const char *content = luaL_checkstring(L, 2);
	pt_lua_check_action(L, "pt.write_file");
	pt_opts opts = { .size = sizeof(opts) };
	unsigned flags = 0;
	char *backup = NULL;
	pt_ctx *ctx;

	if (!lua_isnoneornil(L, 3)) {
		luaL_checktype(L, 3, LUA_TTABLE);
		lua_getfield(L, 3, "backup");
		flags = lua_toboolean(L, -1) ? PT_WRITE_BACKUP : 0;
		lua_getfield(L, 3, "mkdir");
		flags |= lua_toboolean(L, -1) ? PT_WRITE_MKDIR : 0;
		lua_getfield(L, 3, "root");
		opts.root = luaL_optstring(L, -1, NULL);
	}
	if (!opts.root) {
		lua_getfield(L, LUA_REGISTRYINDEX, ROOT_KEY);
		opts.root = lua_tostring(L, -1);
	}
	int r = pt_ctx_new(&ctx, &opts);
	if (r < 0)
		return pt_lua_fail(L, r, lua_pushfstring(L, "%s: %s", opts.root ? opts.root : "/", strerror(-r)));
	r = pt_ctx_write_file(ctx, path, content, flags, &backup);
	return pt_lua_written(L, ctx, r, backup);
}

/* dev:reset(): the method the kernel tries first, or nil, message, errno. */
int pt_lua_dev_reset(lua_State *L)
{
	pt_device *dev = pt_lua_check_open(L, 1, DEVICE_MT);
	char *method = NULL;
	bool dry = lua_istable(L, 2) && (lua_getfield(L, 2, "dry_run"), lua_toboolean(L, -1));

	if (!dry)
		pt_lua_check_action(L, "reset");
	int r = dry ? pt_device_reset_dry_run(dev, &method) : pt_device_reset(dev, &method);
	if (r < 0)
		return pt_lua_fail(L, r, pt_ctx_last_error(pt_enum_get_context(pt_device_get_enum(dev))));
	lua_pushstring(L, method ? method : "");
	free(method);
	return 1;
}

/* The options of a hold: {vm = N, dry_run = bool}; the flags. */
static unsigned hold_options(lua_State *L, int idx, lua_Integer *vm)
{
	luaL_checktype(L, idx, LUA_TTABLE);
	lua_getfield(L, idx, "vm");
	*vm = luaL_checkinteger(L, -1);
	luaL_argcheck(L, *vm > 0 && *vm <= PT_VMID_MAX, idx, "vm: a VM id");
	lua_getfield(L, idx, "dry_run");
	unsigned flags = lua_toboolean(L, -1) ? PT_TXN_DRY_RUN : 0;
	lua_pop(L, 2);
	if (!(flags & PT_TXN_DRY_RUN))
		pt_lua_check_action(L, "a hold");
	return flags;
}

/* The steps of a hold as a list of lines (steps freed), after extra values already pushed. */
static int hold_answer(lua_State *L, pt_ctx *ctx, int r, char *steps, int pushed)
{
	if (r < 0) {
		lua_pop(L, pushed);
		return pt_lua_fail(L, r, pt_ctx_last_error(ctx));
	}
	lua_newtable(L);
	lua_Integer i = 0;
	for (char *save, *line = strtok_r(steps, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		lua_pushstring(L, line);
		lua_rawseti(L, -2, ++i);
	}
	free(steps);
	if (pushed)
		lua_insert(L, -1 - pushed);
	return pushed + 1;
}

/* dev:create_mdev{type =, vm =, uuid = nil, dry_run = false}: the steps and the mdev's UUID */
int pt_lua_dev_create_mdev(lua_State *L)
{
	pt_device *dev = pt_lua_check_open(L, 1, DEVICE_MT);
	lua_Integer vm;
	char uuid[37], *steps = NULL;

	unsigned flags = hold_options(L, 2, &vm);
	lua_getfield(L, 2, "type");
	lua_getfield(L, 2, "uuid");
	const char *type = luaL_checkstring(L, -2), *want = luaL_optstring(L, -1, NULL);
	int r = pt_hold_mdev(dev, type, want, (unsigned)vm, flags, uuid, &steps);
	lua_pop(L, 2);
	if (r == 0)
		lua_pushstring(L, uuid);
	return hold_answer(L, pt_enum_get_context(pt_device_get_enum(dev)), r, steps, r == 0);
}

/* dev:set_vgpu_type{type = N, vm =, dry_run = false}: the steps */
int pt_lua_dev_set_vgpu_type(lua_State *L)
{
	pt_device *dev = pt_lua_check_open(L, 1, DEVICE_MT);
	lua_Integer vm;
	char *steps = NULL;

	unsigned flags = hold_options(L, 2, &vm);
	lua_getfield(L, 2, "type");
	lua_Integer type = luaL_checkinteger(L, -1);
	lua_pop(L, 1);
	int r = pt_hold_vgpu(dev, (long)type, (unsigned)vm, flags, &steps);
	return hold_answer(L, pt_enum_get_context(pt_device_get_enum(dev)), r, steps, 0);
}

/* pt.hand_over_console{vm =, dry_run = false}: the steps */
static int pt_lua_hand_over_console(lua_State *L)
{
	lua_Integer vm;
	char *steps = NULL;

	unsigned flags = hold_options(L, 1, &vm);
	pt_ctx *ctx = pt_lua_root_context(L);
	if (!ctx)
		return lua_error(L);
	int r = pt_hold_console(ctx, (unsigned)vm, flags, &steps);
	int n = hold_answer(L, ctx, r, steps, 0);
	pt_ctx_unref(ctx);
	return n;
}

/*
 * pt.set_hookscript{vm = N, storage = ID, name = FILE, text = SNIPPET, qm = PROGRAM, dry_run,
 * remove, replace}: pt_pve_set_hookscript. Returns the steps (a list of lines) and true when
 * qm is absent and its command is left to the admin; nil, message, errno on failure.
 */
static int pt_lua_set_hookscript(lua_State *L)
{
	static const char *const bools[] = { "dry_run", "remove", "replace" };
	static const unsigned flag[] = { PT_HOOKSCRIPT_DRY_RUN, PT_HOOKSCRIPT_REMOVE, PT_HOOKSCRIPT_REPLACE };
	unsigned flags = 0;
	char *steps = NULL;

	luaL_checktype(L, 1, LUA_TTABLE);
	lua_getfield(L, 1, "vm");
	lua_Integer vm = luaL_checkinteger(L, -1);
	lua_getfield(L, 1, "storage");
	const char *storage = luaL_checkstring(L, -1);
	lua_getfield(L, 1, "name");
	const char *name = luaL_checkstring(L, -1);
	lua_getfield(L, 1, "text");
	const char *text = luaL_optstring(L, -1, NULL);
	lua_getfield(L, 1, "qm");
	const char *qm = luaL_optstring(L, -1, NULL);
	for (int i = 0; i < 3; i++) {
		lua_getfield(L, 1, bools[i]);
		flags |= lua_toboolean(L, -1) ? flag[i] : 0;
		lua_pop(L, 1);
	}
	if (!(flags & PT_HOOKSCRIPT_DRY_RUN))
		pt_lua_check_action(L, "pt.set_hookscript");
	if (vm < 0 || vm > UINT_MAX)
		return luaL_argerror(L, 1, "vm: not a VM id");
	pt_ctx *ctx = pt_lua_root_context(L);
	if (!ctx)
		return lua_error(L);
	int r = pt_pve_set_hookscript(ctx, (unsigned)vm, storage, name, text, qm, flags, &steps);
	if (r < 0) {
		int n = pt_lua_fail(L, r, pt_ctx_last_error(ctx));
		pt_ctx_unref(ctx);
		return n;
	}
	pt_ctx_unref(ctx);
	lua_newtable(L);
	for (char *line = steps, *end; line && *line; line = end + 1) {
		end = strchr(line, '\n');
		lua_pushlstring(L, line, (size_t)(end - line));
		lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
	}
	free(steps);
	lua_pushboolean(L, r == PT_HOOKSCRIPT_BY_HAND);
	return 2;
}

const luaL_Reg pt_lua_actions_funcs[] = {
	{ "set_hookscript", pt_lua_set_hookscript },
	{ "hand_over_console", pt_lua_hand_over_console },
	{ "bind", pt_lua_bind },
	{ "restore", pt_lua_restore },
	{ "write_file", pt_lua_write_file },
	{ NULL, NULL },
};

void pt_lua_open_actions(lua_State *L)
{
	static const luaL_Reg txn_methods[] = {
		{ "plan", txn_plan }, { "commit", txn_commit }, { NULL, NULL },
	};
	static const luaL_Reg txn_getters[] = { { "devices", txn_devices }, { NULL, NULL } };
	pt_lua_new_class(L, TXN_MT, txn_methods, txn_getters, txn_close, NULL);
}
