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
	uint64_t features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED;
	int ret;

	if (!have_pagemap_scan() || !have_wp_async())
		return B_NA;
	features |= uffd_wp_features(r->kind);
	s.r = r;
	s.uffd = uffd_open(features, true);
	if (s.uffd < 0)
		return set_reason(B_NA, "UFFDIO_API with WP_ASYNC for %s memory: %s",
				  mem_kind_name(r->kind), strerror(-s.uffd));
	ret = uffd_register_wp(s.uffd, r->addr, r->size);
	if (ret) {
		pms_fini();
		return set_reason(B_NA, "UFFDIO_REGISTER (WP) of %s memory: %s",
				  mem_kind_name(r->kind), strerror(-ret));
	}
	/* Every unit may be written in one collect: at worst n/2 + 1 runs. */
	s.vec_len = r->nr_units / 2 + 1;
	if (s.vec_len > 65536)
		s.vec_len = 65536;
	s.vec = calloc(s.vec_len, sizeof(*s.vec));
	if (!s.vec) {
		pms_fini();
		return set_reason(B_ERR, "out of memory");
	}
	ret = uffd_wp_range(s.uffd, r->addr, r->size, true);
	if (ret) {
		pms_fini();
		return set_reason(B_ERR, "UFFDIO_WRITEPROTECT: %s", strerror(-ret));
	}
	return B_OK;
}

static long pms_collect(size_t *units, size_t max)
{
	const struct region *r = s.r;
	__u64 start = (unsigned long)r->addr, end = start + r->size;
	__u64 walk_end, a, last;
	size_t n = 0, u;
	long ret, i;

	while (start < end) {
		ret = pagemap_scan(pagemap_fd(), start, end, s.vec, s.vec_len,
				   PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
				   0, 0, PAGE_IS_WRITTEN, 0, PAGE_IS_WRITTEN,
				   &walk_end);
		if (ret < 0)
			return set_reason(B_ERR, "PAGEMAP_SCAN: %s",
					  strerror((int)-ret));
		for (i = 0; i < ret; i++) {
			/* A run may cover parts of several units, or share one. */
			last = s.vec[i].end - 1;
			for (a = s.vec[i].start; a <= last; a += r->unit) {
				u = (size_t)((a - (unsigned long)r->addr) / r->unit);
				if (n && units[n - 1] >= u)
					continue;
				if (n == max)
					return set_reason(B_ERR, "more than %zu units written",
							  max);
				units[n++] = u;
			}
			u = (size_t)((last - (unsigned long)r->addr) / r->unit);
			if (!n || units[n - 1] < u) {
				if (n == max)
					return set_reason(B_ERR, "more than %zu units written",
							  max);
				units[n++] = u;
			}
		}
		if (walk_end <= start)
			return set_reason(B_ERR, "PAGEMAP_SCAN made no progress at %#llx",
					  (unsigned long long)start);
		start = walk_end;
	}
	return (long)n;
}

static void pms_fini(void)
{
	if (s.uffd >= 0)
		close(s.uffd);	/* unregisters the range, dropping the bits */
	s.uffd = -1;
	free(s.vec);
	s.vec = NULL;
}

const struct tracker tracker_pagemap_scan = {
	.name = "pagemap_scan",
	.desc = "PAGEMAP_SCAN get+WP over async uffd-wp",
	.init = pms_init,
	.collect = pms_collect,
	.fini = pms_fini,
};
