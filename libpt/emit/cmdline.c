// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The kernel command line as the boot loaders keep it: parameters added to a line (the words
 * missing at its end, the others in place), and GRUB's /etc/default/grub with them added to the
 * GRUB_CMDLINE_LINUX_DEFAULT assignment that takes effect.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libpt-private.h"

/* The words missing from a command line added at its end, the others kept in place. */
char *pt_cmdline_add_params(const char *line, size_t len, const char *params)
{
	struct pt_strv words = { 0 };
	char *have = strndup(line, len), *out;
	bool blank = true;

	if (!have)
		return NULL;
	for (size_t i = 0; i < len; i++)
		blank = blank && isspace((unsigned char)line[i]);
	pt_strv_add(&words, blank ? "" : have);
	for (const char *p = params; *p;) {
		size_t n = strcspn(p, " ");
		bool found = false;
		for (const char *w = have; *w;) {
			w += strspn(w, " \t\r\n\v\f");
			size_t m = strcspn(w, " \t\r\n\v\f");
			found = found || (m == n && m && strncmp(w, p, n) == 0);
			w += m;
		}
		if (!found)
			pt_strv_addf(&words, "%.*s", (int)n, p);
		p += n + strspn(p + n, " ");
	}
	free(have);
	/* "a b" + "c" -> "a b c"; a blank line is replaced; nothing added: the line as it was */
	if (words.oom) {
		pt_strv_free(&words);
		return NULL;
	}
	if (words.n == 1) {
		pt_strv_free(&words);
		return strndup(line, len);
	}
	if (words.n > 1 && !words.v[0][0]) {
		free(words.v[0]);
		memmove(words.v, words.v + 1, (words.n - 1) * sizeof(*words.v));
		words.n--;
	}
	out = pt_strv_join(&words, " ");
	pt_strv_free(&words);
	return out;
}


/* One GRUB_CMDLINE_LINUX_DEFAULT= line with the parameters added, or NULL when the line is not
 * one libpt edits (a comment, another variable, an unquoted value with spaces). */
static char *grub_line(const char *line, const char *params, bool *oom)
{
	static const char key[] = "GRUB_CMDLINE_LINUX_DEFAULT=";
	const char *p = line + strspn(line, " \t\r\v\f");
	size_t lead, end = strlen(line);
	char q = 0, *value, *out = NULL;

	if (strncmp(p, key, sizeof(key) - 1))
		return NULL;
	lead = (size_t)(p - line) + sizeof(key) - 1;
	while (end > lead && isspace((unsigned char)line[end - 1]))
		end--;
	/* the value in quotes of one kind, or bare (then without spaces) */
	if ((line[lead] == '"' || line[lead] == '\'') && end >= lead + 2 && line[end - 1] == line[lead]) {
		q = line[lead];
		value = pt_cmdline_add_params(line + lead + 1, end - lead - 2, params);
	} else {
		for (size_t i = lead; i < end; i++)
			if (isspace((unsigned char)line[i]))
				return NULL;
		value = pt_cmdline_add_params(line + lead, end - lead, params);
	}
	if (!value || asprintf(&out, "%.*s%c%s%c%s", (int)lead, line, q ? q : '"', value, q ? q : '"', line + end) < 0) {
		*oom = true;
		out = NULL;
	}
	free(value);
	return out;
}


PT_EXPORT char *pt_grub_with_params(const char *grub, const char *params)
{
	struct pt_strv lines = { 0 };
	bool oom = false;
	char *out = NULL;

	if (!params)
		return NULL;
	grub = grub ? grub : "";
	pt_text_lines(grub, &lines);
	for (size_t k = lines.n; k-- > 0;) {
		char *edited = grub_line(lines.v[k], params, &oom);
		if (!edited)
			continue;
		free(lines.v[k]);
		lines.v[k] = edited;
		char *joined = lines.oom ? NULL : pt_strv_join(&lines, "\n");
		if (joined && asprintf(&out, "%s\n", joined) < 0)
			out = NULL;
		free(joined);
		pt_strv_free(&lines);
		return out;
	}
	pt_strv_free(&lines);
	if (oom)
		return NULL;
	size_t n = strlen(grub);
	if (asprintf(&out, "%s%sGRUB_CMDLINE_LINUX_DEFAULT=\"%s\"\n", grub, n == 0 || grub[n - 1] == '\n' ? "" : "\n",
		     params) < 0)
		return NULL;
	return out;
}

