// SPDX-License-Identifier: GPL-2.0
/*
 * What one write fault costs, by the state of the page written:
 *
 *   no_fault	   present and writable (the loop's own cost)
 *   uffd_wp_async  present, protected by async uffd-wp: the kernel clears
 *		   the bit and the write goes on
 *   soft_dirty	   present, write-protected by clear_refs: a plain wp fault
 *		   that reuses the page
 *   read_mapped	   mapped by a read fault (the shared zero page), clean:
 *		   the write copies it on write
 *   untouched	   never touched: the write allocates and zeroes a page
 *   mprotect	   present, PROT_READ: SIGSEGV, a handler mprotect()s it back
 *   uffd_wp_sync   present, protected by uffd-wp: a handler thread
 *		   unprotects it
 *
 * Every page of the area is written once, in a random order; the figure is
 * the time per page. Each repetition starts from a new area, and every
 * write must have been seen by whatever armed the pages.
 *
 * The async uffd-wp fault needs only UFFD_FEATURE_WP_ASYNC, not
 * PAGEMAP_SCAN, so it is armed here and checked through the uffd-wp bit of
 * /proc/self/pagemap: a kernel with the first half of the series has it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include "bench.h"

static struct {
	const struct region *r;
	int uffd;
} wa = { .uffd = -1 };

static void wa_fini(void)
{
	if (wa.uffd >= 0)
		close(wa.uffd);
	wa.uffd = -1;
}

/* Register @r for async uffd-wp and protect it. */
static int wa_init(const struct region *r)
{
	int ret;

	wa.r = r;
	wa.uffd = track_uffd_init(r, true, &ret);
	return wa.uffd < 0 ? ret : B_OK;
}

/* The pages whose uffd-wp bit the faults cleared, from /proc/self/pagemap. */
static long wa_collect(size_t *units, size_t max)
{
	const struct region *r = wa.r;
	size_t i, n = 0, pages = r->size / psize();
	uint64_t *pm = malloc(pages * sizeof(*pm));
	int ret;

	if (!pm)
		return vmh_set_reason(B_ERR, "out of memory");
	ret = pagemap_read(r->addr, r->size, pm);
	for (i = 0; !ret && i < pages && n < max; i++)
		if ((pm[i] & (PME_PRESENT | PME_UFFD_WP)) == PME_PRESENT)
			units[n++] = i;
	free(pm);
	if (ret)
		return vmh_set_reason(B_ERR, "reading /proc/self/pagemap: %s",
				  strerror(-ret));
	return (long)n;
}

static const struct tracker async_faults = {
	.name = "uffd_wp_async",
	.init = wa_init,
	.collect = wa_collect,
	.fini = wa_fini,
};

enum fault_kind {
	F_NO_FAULT,
	F_UFFD_WP_ASYNC,
	F_SOFT_DIRTY,
	F_READ_MAPPED,
	F_UNTOUCHED,
	F_MPROTECT,
	F_UFFD_WP_SYNC,
	F_NR
};

static const struct {
	const char *name, *desc;
	const struct tracker *tracker;	/* the tracker that arms the page */
} kinds[F_NR] = {
	[F_NO_FAULT] = { "no_fault", "present, writable page: no fault" },
	[F_UFFD_WP_ASYNC] = { "uffd_wp_async", "async uffd-wp fault on a present page",
			      &async_faults },
	[F_SOFT_DIRTY] = { "soft_dirty", "wp fault after clear_refs (page reused)",
			   &tracker_soft_dirty },
	[F_READ_MAPPED] = { "read_mapped", "write to a read-faulted clean page (zero page, COW)" },
	[F_UNTOUCHED] = { "untouched", "write to an untouched page (allocate + zero)" },
	[F_MPROTECT] = { "mprotect", "SIGSEGV + mprotect() in the handler",
			 &tracker_mprotect },
	[F_UFFD_WP_SYNC] = { "uffd_wp_sync", "sync uffd-wp fault, handler thread unprotects",
			     &tracker_uffd_wp_sync },
};

/* Time writing every page of @r once in @order; -1 if set-up failed. */
static int one_rep(enum fault_kind k, size_t pages, const size_t *order,
		   double *ns, size_t *got_pages)
{
	const struct tracker *t = kinds[k].tracker;
	size_t ps = psize(), i, *units = NULL;
	struct region r;
	uint64_t t0, t1;
	long n;
	int ret;

	ret = region_alloc(&r, MEM_ANON, pages * ps,
			   k != F_READ_MAPPED && k != F_UNTOUCHED);
	if (ret)
		return ret;
	if (k == F_READ_MAPPED)
		for (i = 0; i < pages; i++)
			(void)*(volatile char *)(r.addr + i * ps);
	if (t) {
		ret = t->init(&r);
		if (ret) {
			region_free(&r);
			return ret;
		}
	}
	t0 = now_ns();
	for (i = 0; i < pages; i++)
		*(volatile uint64_t *)(r.addr + order[i] * ps) = i;
	t1 = now_ns();
	*ns = (double)(t1 - t0) / (double)pages;
	*got_pages = pages;
	if (t) {
		/* The tracker must have seen every write. */
		units = malloc(pages * sizeof(*units));
		n = units ? t->collect(units, pages) : -1;
		*got_pages = n < 0 ? 0 : (size_t)n;
		free(units);
		t->fini();
	}
	region_free(&r);
	return B_OK;
}

int bench_fault(const struct fault_opts *o)
{
	size_t *order = malloc(o->pages * sizeof(*order)), got = 0, i, j, tmp;
	double *v[F_NR];
	int status[F_NR], k, rep, errors = 0;
	char reason[F_NR][256];
	struct stats st[F_NR];
	uint64_t rng = o->seed;

	if (!order) {
		perror("malloc");
		exit(2);
	}
	for (i = 0; i < o->pages; i++)
		order[i] = i;
	for (i = 0; i + 1 < o->pages; i++) {
		j = i + (size_t)(rng_next(&rng) % (o->pages - i));
		tmp = order[i];
		order[i] = order[j];
		order[j] = tmp;
	}
	for (k = 0; k < F_NR; k++) {
		v[k] = calloc((size_t)o->reps, sizeof(double));
		status[k] = B_OK;
		reason[k][0] = 0;
	}
	/* Kinds take turns within each repetition, as in the cycle. */
	for (rep = 0; rep < o->reps; rep++) {
		progress("fault %zu pages: rep %d/%d", o->pages, rep + 1, o->reps);
		for (k = 0; k < F_NR; k++) {
			if (status[k] != B_OK)
				continue;
			vmh_reason[0] = 0;
			status[k] = one_rep(k, o->pages, order, &v[k][rep], &got);
			if (status[k] != B_OK) {
				snprintf(reason[k], sizeof(reason[k]), "%s", vmh_reason);
				continue;
			}
			if (got != o->pages) {
				snprintf(reason[k], sizeof(reason[k]),
					 "%zu of %zu written pages reported", got, o->pages);
				status[k] = B_ERR;
			}
		}
	}
	for (k = 0; k < F_NR; k++)
		if (status[k] == B_OK)
			st[k] = stats_of(v[k], (size_t)o->reps);
	for (k = 0; k < F_NR; k++) {
		json_begin("result");
		json_str("bench", "fault");
		json_str("impl", kinds[k].name);
		json_str("desc", kinds[k].desc);
		json_int("pages", (long long)o->pages);
		if (status[k] != B_OK) {
			json_str("status", status[k] == B_NA ? "n/a" : "error");
			json_str("reason", reason[k]);
			json_end();
			errors += status[k] == B_ERR;
			free(v[k]);
			continue;
		}
		json_str("status", "ok");
		json_int("reps", o->reps);
		json_stats("", &st[k]);
		json_num("pages_per_s", 1e9 / st[k].median);
		if (status[F_UFFD_WP_ASYNC] == B_OK)
			json_num("ratio", st[k].median / st[F_UFFD_WP_ASYNC].median);
		else
			json_null("ratio");
		json_end();
		free(v[k]);
	}
	free(order);
	return errors;
}
