/*
 * What the C contract's test files share (tests/test-contract-*.c), in the style of kmod's
 * testsuite: each test a row of a table with the fixture root it runs on (a directory under
 * argv[1] that tests/test_ccontract.py builds), the kernel emulator's faults for the row
 * (KEMU_FAULTS, where the program runs with tests/kemu.c preloaded) and the exact output it
 * must write. Output goes to a memory stream and is compared whole, the fixture root's path
 * written "ROOT" (and test_hide, where the program sets it, test_hide_as); warnings the library
 * logs are part of it ("log: ..."). A test also fails by returning non-zero. The last line is
 * "N passed, N failed".
 */
#ifndef TEST_CONTRACT_COMMON_H
#define TEST_CONTRACT_COMMON_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "libpt.h"

struct test {
	const char *name;
	const char *fixture;
	int (*func)(pt_ctx *ctx, pt_enum *e, FILE *out);
	const char *expected;
	const char *faults; /* KEMU_FAULTS while the row runs (NULL: none) */
};

/* The row's output stream: the log function writes warnings to it. */
static FILE *test_out;
/* The row's fixture root, as the library was given it. */
static char test_root[4096];
/* Further arguments of the program (a QMP socket, a work directory). */
static char **test_args;
static int test_nargs;
/* A text that changes from run to run (a QMP socket's path), written test_hide_as in the output. */
static const char *test_hide, *test_hide_as;

static void test_log(void *data, int priority, const char *file, int line, const char *fn, const char *format,
		     va_list args)
{
	(void)data, (void)file, (void)line, (void)fn;
	if (priority > LOG_WARNING || !test_out)
		return;
	fputs("log: ", test_out);
	vfprintf(test_out, format, args);
	fputc('\n', test_out);
}

/* A context on the row's root with the test's log function (and systemctl, where given). */
static int test_ctx(pt_ctx **ctx, const char *systemctl)
{
	pt_opts o = { .size = sizeof(o), .root = test_root, .log_fn = test_log, .systemctl = systemctl };
	return pt_ctx_new(ctx, &o);
}

/* What a call says: its return value, and when it failed, the context's message. */
static int said(pt_ctx *ctx, int r, FILE *out)
{
	if (r < 0)
		fprintf(out, "%d %s\n", r, pt_ctx_last_error(ctx));
	else
		fprintf(out, "%d\n", r);
	return 0;
}

static pt_device *device(pt_enum *e, const char *address)
{
	pt_device *d = NULL;
	pt_enum_find_device(e, address, &d);
	return d;
}

static void print_emission(const pt_emission *em, FILE *out)
{
	for (size_t i = 0; i < pt_emission_get_line_count(em); i++)
		fprintf(out, "%s\n", pt_emission_get_line(em, i));
	for (size_t i = 0; i < pt_emission_get_note_count(em); i++)
		fprintf(out, "# %s\n", pt_emission_get_note(em, i));
	if (pt_emission_get_command(em))
		fprintf(out, "$ %s\n", pt_emission_get_command(em));
}

/* A file under the row's root: its content (to free), NULL when it does not exist. */
static char *slurp(const char *rel)
{
	char path[8192], *text = NULL;
	size_t len = 0;
	snprintf(path, sizeof(path), "%s/%s", test_root, rel);
	FILE *f = fopen(path, "r"), *m;
	if (!f)
		return NULL;
	m = open_memstream(&text, &len);
	for (int c; (c = fgetc(f)) != EOF;)
		fputc(c, m);
	fclose(f);
	fclose(m);
	return text;
}

/* The driver a device of the root is bound to now ("-" for none). */
static const char *bound(const char *address)
{
	/* a few buffers in turn: one printf may name several devices' drivers */
	static char names[4][256];
	static unsigned turn;
	char *name = names[turn++ % 4];
	char path[8192], link[4096];
	snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/%s/driver", test_root, address);
	ssize_t n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return "-";
	link[n] = '\0';
	snprintf(name, sizeof(names[0]), "%s", strrchr(link, '/') + 1);
	return name;
}

/* The text with every occurrence of what written as (in place; as no longer than what). */
static void hide(char *text, const char *what, const char *as)
{
	size_t n = what ? strlen(what) : 0, k = strlen(as);
	char *p = text;
	while (n && k <= n && (p = strstr(p, what))) {
		memcpy(p, as, k);
		memmove(p + k, p + n, strlen(p + n) + 1);
		p += k;
	}
}

static int run_test(const struct test *t, const char *roots)
{
	char *text = NULL;
	size_t len = 0;
	pt_ctx *ctx = NULL;
	pt_enum *e = NULL;
	int r;

	snprintf(test_root, sizeof(test_root), "%s/%s", roots, t->fixture);
	if (getenv("KEMU_ROOT")) { /* the kernel emulator follows the row's root */
		char native[4200];
		snprintf(native, sizeof(native), "%s.native", test_root);
		setenv("KEMU_ROOT", test_root, 1);
		setenv("KEMU_NATIVE", native, 1);
		setenv("KEMU_FAULTS", t->faults ? t->faults : "", 1);
	}
	test_out = open_memstream(&text, &len);
	if (!test_out || test_ctx(&ctx, NULL) < 0 || pt_enum_scan(ctx, 0, &e) < 0) {
		fprintf(stderr, "FAIL %s: the fixture %s: %s\n", t->name, test_root, ctx ? pt_ctx_last_error(ctx) : "no context");
		if (test_out)
			fclose(test_out);
		test_out = NULL;
		free(text);
		pt_ctx_unref(ctx);
		return 1;
	}
	r = t->func(ctx, e, test_out);
	pt_enum_unref(e);
	pt_ctx_unref(ctx);
	fclose(test_out);
	test_out = NULL;
	hide(text, test_hide, test_hide_as ? test_hide_as : "");
	hide(text, test_root, "ROOT");
	if (r == 0 && strcmp(text, t->expected) != 0) {
		fprintf(stderr, "FAIL %s: got\n%s\n--- expected\n%s\n", t->name, text, t->expected);
		r = 1;
	} else if (r) {
		fprintf(stderr, "FAIL %s (returned %d): %s\n", t->name, r, text);
	} else {
		printf("PASS %s\n", t->name);
	}
	free(text);
	return r != 0;
}

/* usage: PROGRAM ROOTS [ARGS...] [-- NAME...]: every row, or those named */
static int run_tests(const struct test *tests, size_t n, int argc, char **argv)
{
	size_t failed = 0, ran = 0;
	int names = argc;

	if (argc < 2) {
		fprintf(stderr, "usage: %s ROOTS [ARGS...] [-- NAME...]\n", argv[0]);
		return 2;
	}
	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			names = i + 1;
			break;
		}
	test_args = argv + 2;
	test_nargs = (names < argc ? names - 1 : argc) - 2;
	for (size_t i = 0; i < n; i++) {
		bool wanted = names >= argc;
		for (int k = names; k < argc; k++)
			wanted = wanted || strcmp(argv[k], tests[i].name) == 0;
		if (!wanted)
			continue;
		ran++;
		failed += run_test(&tests[i], argv[1]);
	}
	printf("%zu passed, %zu failed\n", ran - failed, failed);
	return failed != 0;
}

#endif
