// SPDX-License-Identifier: GPL-2.0
/*
 * Write tracking with PAGEMAP_SCAN and asynchronous uffd-wp.
 *
 * The region is registered for uffd-wp with UFFD_FEATURE_WP_ASYNC: a write
 * to a protected page is resolved by the kernel itself (it clears the
 * page's uffd-wp bit and lets the write go on), so no thread ever sees a
 * fault. Collecting is one PAGEMAP_SCAN walk that returns the pages whose
 * bit is clear (PAGE_IS_WRITTEN) and, with PM_SCAN_WP_MATCHING, protects
 * them again in the same walk.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bench.h"

static struct {
	const struct region *r;
	int uffd;
	struct page_region *vec;
	size_t vec_len;
} s = { .uffd = -1 };

static void pms_fini(void);

static int pms_init(const struct region *r)
{
	int ret;

	if (!have_pagemap_scan())
		return B_NA;
	s.r = r;
	s.uffd = track_uffd_init(r, true, &ret);
	if (s.uffd < 0)
		return ret;
	/* Every unit may be written in one collect: at worst n/2 + 1 runs. */
	s.vec_len = r->nr_units / 2 + 1;
	if (s.vec_len > 65536)
		s.vec_len = 65536;
	s.vec = calloc(s.vec_len, sizeof(*s.vec));
	if (!s.vec) {
		pms_fini();
		return vmh_set_reason(B_ERR, "out of memory");
	}
	return B_OK;
}

struct collect {
	size_t *units, max, n;
};

/* Append the units a written run covers (a run may share its first unit). */
static int pms_region(const struct page_region *pr, void *arg)
{
	const struct region *r = s.r;
	struct collect *c = arg;
	size_t u = (size_t)((pr->start - (unsigned long)r->addr) / r->unit);
	size_t last = (size_t)((pr->end - 1 - (unsigned long)r->addr) / r->unit);

	if (c->n && c->units[c->n - 1] >= u)
		u = c->units[c->n - 1] + 1;
	for (; u <= last; u++) {
		if (c->n == c->max)
			return vmh_set_reason(1, "more than %zu units written", c->max);
		c->units[c->n++] = u;
	}
	return 0;
}

static long pms_collect(size_t *units, size_t max)
{
	const struct region *r = s.r;
	struct collect c = { .units = units, .max = max };
	long ret;

	ret = pagemap_scan_all((unsigned long)r->addr,
			       (unsigned long)r->addr + r->size,
			       PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
			       PAGE_IS_WRITTEN, PAGE_IS_WRITTEN, s.vec, s.vec_len,
			       pms_region, &c);
	if (ret < 0)
		return vmh_set_reason(B_ERR, "PAGEMAP_SCAN: %s", strerror((int)-ret));
	return ret ? -1 : (long)c.n;	/* ret > 0: pms_region() gave up */
}

static void pms_fini(void)
{
	if (s.uffd >= 0)
		close(s.uffd);	/* unregisters the range, dropping the bits */
	s.uffd = -1;
	free(s.vec);
	s.vec = NULL;
}

DEFINE_TRACKER(tracker_pagemap_scan, pms, "pagemap_scan",
	       "PAGEMAP_SCAN get+WP over async uffd-wp");
