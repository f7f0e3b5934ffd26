// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What the emitters build their output with: shell quoting, and the result they hand to the
 * caller.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "libpt-private.h"

/* A word the shell takes as it is, or in single quotes (a ' inside as '\''). */
static bool shell_plain(const char *w)
{
	if (!*w)
		return false;
	for (; *w; w++)
		if (!(('a' <= *w && *w <= 'z') || ('A' <= *w && *w <= 'Z') || ('0' <= *w && *w <= '9') ||
		      strchr("-_=,.:/", *w)))
			return false;
	return true;
}

char *pt_shell_join(const struct pt_strv *words)
{
	struct pt_strv quoted = { 0 };
	char *out;

	for (size_t i = 0; i < words->n; i++) {
		const char *w = words->v[i];
		if (shell_plain(w)) {
			pt_strv_add(&quoted, w);
			continue;
		}
		size_t len = 3;
		for (const char *c = w; *c; c++)
			len += *c == '\'' ? 4 : 1;
		char *q = malloc(len), *p = q;
		if (!q) {
			quoted.oom = true;
			break;
		}
		*p++ = '\'';
		for (const char *c = w; *c; c++)
			p = *c == '\'' ? stpcpy(p, "'\\''") : (*p = *c, p + 1);
		*p++ = '\'';
		*p = '\0';
		pt_strv_add(&quoted, q);
		free(q);
	}
	out = quoted.oom ? NULL : pt_strv_join(&quoted, " ");
	pt_strv_free(&quoted);
	return out;
}

struct pt_emission {
	int refcount;
	char **lines;
	size_t n_lines;
	char **notes;
	size_t n_notes;
	char *command;
};

/* The result of an emitter: the lists moved into it (emptied), or -ENOMEM. */
int pt_emission_new(pt_ctx *ctx, struct pt_strv *lines, struct pt_strv *notes, struct pt_strv *qm_words,
		    pt_emission **ret)
{
	pt_emission *em = calloc(1, sizeof(*em));
	int r = -ENOMEM;

	if (em)
		em->refcount = 1;
	if (!em || lines->oom || (notes && notes->oom) || (qm_words && qm_words->oom))
		goto out;
	if (qm_words && !(em->command = pt_shell_join(qm_words)))
		goto out;
	em->lines = lines->v;
	em->n_lines = lines->n;
	memset(lines, 0, sizeof(*lines));
	if (notes) {
		em->notes = notes->v;
		em->n_notes = notes->n;
		memset(notes, 0, sizeof(*notes));
	}
	*ret = em;
	em = NULL;
	r = 0;
out:
	pt_strv_free(lines);
	if (notes)
		pt_strv_free(notes);
	if (qm_words)
		pt_strv_free(qm_words);
	pt_emission_unref(em);
	return r < 0 ? pt_fail(ctx, r, "out of memory") : 0;
}

static void destroy_emission(pt_emission *em)
{
	for (size_t i = 0; i < em->n_lines; i++)
		free(em->lines[i]);
	for (size_t i = 0; i < em->n_notes; i++)
		free(em->notes[i]);
	free(em->lines);
	free(em->notes);
	free(em->command);
	free(em);
}

PT_DEFINE_REFCOUNT(pt_emission, destroy_emission)

PT_EXPORT size_t pt_emission_get_line_count(const pt_emission *em) { return em ? em->n_lines : 0; }
PT_EXPORT size_t pt_emission_get_note_count(const pt_emission *em) { return em ? em->n_notes : 0; }
PT_EXPORT const char *pt_emission_get_command(const pt_emission *em) { return em ? em->command : NULL; }

PT_EXPORT const char *pt_emission_get_line(const pt_emission *em, size_t i)
{
	return em && i < em->n_lines ? em->lines[i] : NULL;
}

PT_EXPORT const char *pt_emission_get_note(const pt_emission *em, size_t i)
{
	return em && i < em->n_notes ? em->notes[i] : NULL;
}

PT_EXPORT char *pt_shell_quote(const char *const *words, size_t n)
{
	struct pt_strv v = { 0 };
	char *out;

	if (!words && n)
		return NULL;
	for (size_t i = 0; i < n; i++)
		pt_strv_add(&v, words[i] ? words[i] : "");
	out = v.oom ? NULL : pt_shell_join(&v);
	pt_strv_free(&v);
	return out;
}
