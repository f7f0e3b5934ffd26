/*
 * A transaction prepared, another command run, then the commit: the race of two VMs' hookscripts
 * made deterministic. Run with the kernel emulator preloaded; the command inherits it.
 *
 *   interleave ROOT bind ADDRESS VM COMMAND     scan, plan the bind, run COMMAND, commit
 *   interleave ROOT restore VM COMMAND          plan the restore, run COMMAND, commit
 *
 * Prints the devices the commit took or gave back; exits 1 with libpt's message on failure.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpt.h>

int main(int argc, char **argv)
{
	pt_opts opts = { .size = sizeof(opts) };
	pt_ctx *ctx;
	pt_enum *e = NULL;
	pt_assignment *a = NULL;
	pt_txn *t;
	bool bind = argc == 6 && strcmp(argv[2], "bind") == 0;
	int r;

	if (!bind && !(argc == 5 && strcmp(argv[2], "restore") == 0)) {
		fprintf(stderr, "usage: interleave ROOT bind ADDRESS VM COMMAND | ROOT restore VM COMMAND\n");
		return 2;
	}
	opts.root = argv[1];
	if (pt_ctx_new(&ctx, &opts) < 0)
		return 1;
	if (bind) /* the device and its passthrough set, for the VM */
		r = pt_enum_scan(ctx, 0, &e) < 0 || pt_assignment_new(e, (unsigned)atoi(argv[4]), 0, &a) < 0 ||
		    pt_assignment_add(a, argv[3]) < 0 ? -1 : pt_txn_new_bind(a, 0, &t);
	else
		r = pt_txn_new_restore(ctx, (unsigned)atoi(argv[3]), 0, &t);
	if (r < 0) {
		fprintf(stderr, "interleave: %s\n", pt_ctx_last_error(ctx));
		return 1;
	}
	pt_txn_set_timeout(t, 300);
	fflush(stdout);
	if (system(argv[bind ? 5 : 4]) != 0)
		fprintf(stderr, "interleave: the command between plan and commit failed\n");
	r = pt_txn_commit(t);
	if (r < 0)
		fprintf(stderr, "interleave: %s\n", pt_ctx_last_error(ctx));
	else
		for (size_t i = 0; i < pt_txn_get_device_count(t); i++)
			printf("%s%s", i ? " " : "", pt_txn_get_device(t, i));
	printf("\n");
	pt_txn_unref(t);
	pt_assignment_unref(a);
	pt_enum_unref(e);
	pt_ctx_unref(ctx);
	return r < 0;
}
