// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Lists of strings that remember running out of memory (checked once, at the end), and values
 * quoted for messages.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libpt-private.h"

void pt_strv_add(struct pt_strv *s, const char *str)
{
	if (s->oom)
		return;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 8;
		char **v = realloc(s->v, cap * sizeof(*v));
		if (!v) {
			s->oom = true;
			return;
		}
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n] = strdup(str);
	if (!s->v[s->n])
		s->oom = true;
	else
		s->n++;
}

void pt_strv_addf(struct pt_strv *s, const char *format, ...)
{
	va_list args;
	char *str;

	va_start(args, format);
	if (vasprintf(&str, format, args) < 0) {
		s->oom = true;
	} else {
		pt_strv_add(s, str);
		free(str);
	}
	va_end(args);
}

bool pt_strv_has(const struct pt_strv *s, const char *str)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], str) == 0)
			return true;
	return false;
}

char *pt_strv_join(const struct pt_strv *s, const char *sep)
{
	size_t len = 1, seplen = strlen(sep);
	char *out, *p;

	for (size_t i = 0; i < s->n; i++)
		len += strlen(s->v[i]) + (i ? seplen : 0);
	out = p = malloc(len);
	if (!out)
		return NULL;
	*p = '\0';
	for (size_t i = 0; i < s->n; i++) {
		if (i)
			p = stpcpy(p, sep);
		p = stpcpy(p, s->v[i]);
	}
	return out;
}

void pt_strv_free(struct pt_strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* Lua's %q, which the messages used before they were C's: the value in double quotes. */
const char *pt_quote(char *buf, size_t size, const char *s)
{
	size_t n = 0;

#define PUT(c) do { if (n + 1 < size) buf[n++] = (c); } while (0)
	PUT('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\' || *p == '\n') {
			PUT('\\');
			PUT(*p);
		} else if (*p == '\r') {
			PUT('\\');
			PUT('r');
		} else if (*p < 0x20 || *p == 0x7f) {
			char num[8];
			snprintf(num, sizeof(num), isdigit(p[1]) ? "\\%03u" : "\\%u", *p);
			for (char *c = num; *c; c++)
				PUT(*c);
		} else {
			PUT(*p);
		}
	}
	PUT('"');
#undef PUT
	buf[n < size ? n : size - 1] = '\0';
	return buf;
}

bool pt_word_valid(const char *s, bool digit_first, const char *punct)
{
	if (!s || !(isalpha((unsigned char)*s) || (digit_first && isdigit((unsigned char)*s))))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(punct, *s))
			return false;
	return true;
}

/* For qsort of a strv's strings. */
int pt_strv_compare(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The lines of a text: split at '\n', a last line without one kept. */
void pt_text_lines(const char *text, struct pt_strv *out)
{
	for (const char *p = text ? text : ""; *p;) {
		size_t n = strcspn(p, "\n");
		pt_strv_addf(out, "%.*s", (int)n, p);
		p += n + (p[n] == '\n');
	}
}

