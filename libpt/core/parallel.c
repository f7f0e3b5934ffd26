/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The scan's reads on several threads on a large host: its time is the kernel's (opening sysfs
 * files; 4096 functions take a tenth of a second on one core). Each thread takes the next items
 * in turn; an item is read by one thread, which writes only what belongs to that item, so the
 * snapshot is the same whatever the number of threads. The files read are closed together
 * (struct pt_fd_pool). Signals stay with the caller's threads.
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>

#include "libpt-private.h"

#define THREADS_MAX 4
#define ITEMS_A_THREAD 1024
#define BATCH 16

struct work {
	size_t n;
	size_t next; /* atomic */
	pt_parallel_fn fn;
	void *arg;
	struct pt_fd_pool pool;
};

static void *run(void *p)
{
	struct work *w = p;

	for (;;) {
		size_t i = __atomic_fetch_add(&w->next, BATCH, __ATOMIC_RELAXED);
		if (i >= w->n)
			return NULL;
		for (size_t end = i + BATCH; i < end && i < w->n; i++)
			w->fn(w->arg, i, &w->pool);
	}
}

/* One thread a thousand items, no more than the CPUs the process may use, at most four. */
static unsigned threads_for(size_t n)
{
	cpu_set_t cpus;
	unsigned t = (unsigned)(n / ITEMS_A_THREAD);

	if (t <= 1 || sched_getaffinity(0, sizeof(cpus), &cpus) < 0)
		return 1;
	if (t > (unsigned)CPU_COUNT(&cpus))
		t = (unsigned)CPU_COUNT(&cpus);
	return t > THREADS_MAX ? THREADS_MAX : t;
}

void pt_parallel_for(size_t n, pt_parallel_fn fn, void *arg)
{
	struct work w = { .n = n, .fn = fn, .arg = arg, .pool.lock = PTHREAD_MUTEX_INITIALIZER };
	pthread_t threads[THREADS_MAX - 1];
	unsigned t = threads_for(n), started = 0;
	sigset_t all, old;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	while (started + 1 < t && pthread_create(&threads[started], NULL, run, &w) == 0)
		started++;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	run(&w); /* this thread too; alone where no thread could start */
	for (unsigned i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	pt_fd_pool_close(&w.pool);
}
