// SPDX-License-Identifier: LGPL-2.1-or-later
/* Unified diffs of the host files a plan changes (pt_host_plan_get_diff, pt_diff). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libpt-private.h"

/* The most cells of a diff's LCS table: past it the middle is shown as removed, then added. */
#define LCS_CELLS 250000

/*
 * A unified diff, one hunk with all context (the files are small). The common head and tail are
 * matched first; only what differs between them is compared line by line, in memory linear in
 * the files' size (a middle past LCS_CELLS is shown whole: still a correct diff).
 */
PT_EXPORT char *pt_diff(const char *path, const char *old, const char *new)
{
	struct pt_strv a = { 0 }, b = { 0 }, out = { 0 };
	size_t n, m, head = 0, tail = 0, n1, m1;
	char *text;

	if (!path || !new)
		return NULL;
	pt_text_lines(old, &a);
	pt_text_lines(new, &b);
	n = a.n;
	m = b.n;
	while (head < n && head < m && strcmp(a.v[head], b.v[head]) == 0)
		head++;
	while (tail < n - head && tail < m - head && strcmp(a.v[n - 1 - tail], b.v[m - 1 - tail]) == 0)
		tail++;
	pt_strv_addf(&out, "--- %s", old ? path : "/dev/null");
	pt_strv_addf(&out, "+++ %s", path);
	pt_strv_addf(&out, "@@ -%zu,%zu +%zu,%zu @@", n > 0 ? (size_t)1 : 0, n, m > 0 ? (size_t)1 : 0, m);
	for (size_t k = 0; k < head; k++)
		pt_strv_addf(&out, " %s", a.v[k]);
	n1 = n - head - tail;
	m1 = m - head - tail;
	unsigned *lcs = n1 * m1 > LCS_CELLS ? NULL : calloc((n1 + 1) * (m1 + 1), sizeof(*lcs));
	if (!lcs) {
		for (size_t k = head; k < n - tail; k++)
			pt_strv_addf(&out, "-%s", a.v[k]);
		for (size_t k = head; k < m - tail; k++)
			pt_strv_addf(&out, "+%s", b.v[k]);
	} else {
		/* L(i, j): the longest common subsequence of a[head+i..] and b[head+j..] */
#define L(i, j) lcs[(i) * (m1 + 1) + (j)]
		for (size_t i = n1; i-- > 0;)
			for (size_t j = m1; j-- > 0;)
				L(i, j) = strcmp(a.v[head + i], b.v[head + j]) == 0 ? L(i + 1, j + 1) + 1
					  : L(i + 1, j) > L(i, j + 1)			   ? L(i + 1, j)
											   : L(i, j + 1);
		size_t i = 0, j = 0;
		while (i < n1 || j < m1) {
			if (i < n1 && j < m1 && strcmp(a.v[head + i], b.v[head + j]) == 0) {
				pt_strv_addf(&out, " %s", a.v[head + i]);
				i++;
				j++;
			} else if (i < n1 && (j >= m1 || L(i + 1, j) >= L(i, j + 1))) {
				pt_strv_addf(&out, "-%s", a.v[head + i++]);
			} else {
				pt_strv_addf(&out, "+%s", b.v[head + j++]);
			}
		}
#undef L
		free(lcs);
	}
	for (size_t k = n - tail; k < n; k++)
		pt_strv_addf(&out, " %s", a.v[k]);
	text = out.oom || a.oom || b.oom ? NULL : pt_strv_join(&out, "\n");
	pt_strv_free(&a);
	pt_strv_free(&b);
	pt_strv_free(&out);
	return text;
}

