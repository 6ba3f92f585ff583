// SPDX-License-Identifier: GPL-2.0
/*
 * What the trackers share: the region they track, a byte a unit for those
 * that note writes themselves (mprotect + SIGSEGV, synchronous uffd-wp),
 * and the userfaultfd set-up of those built on uffd-wp.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bench.h"

const struct region *track_region;
unsigned char *track_hits;

int track_hits_init(const struct region *r)
{
	track_region = r;
	track_hits = calloc(r->nr_units, 1);
	return track_hits ? B_OK : vmh_set_reason(B_ERR, "out of memory");
}

long track_hits_collect(size_t *units, size_t max,
			int (*rearm)(size_t first, size_t n))
{
	size_t u, first, n = 0, nr = track_region->nr_units;

	for (u = 0; u < nr; u++) {
		if (!track_hits[u])
			continue;
		for (first = u; u < nr && track_hits[u]; u++) {
			track_hits[u] = 0;
			if (n == max)
				return vmh_set_reason(B_ERR, "more than %zu units written", max);
			units[n++] = u;
		}
		if (rearm && rearm(first, u - first))
			return -1;
	}
	return (long)n;
}

void track_hits_fini(void)
{
	free(track_hits);
	track_hits = NULL;
	track_region = NULL;
}

int track_uffd_init(const struct region *r, bool async, int *status)
{
	const char *name = bench_mem_name(r->kind);
	int uffd, ret;

	*status = B_NA;
	if (async) {
		if (!have_wp_async())
			return -1;
		uffd = uffd_async_wp(r->kind, r->addr, r->size, true);
		return uffd < 0 ? vmh_set_reason(-1, "async uffd-wp of %s memory: %s",
						 name, vmh_reason) : uffd;
	}
	uffd = uffd_open(uffd_wp_features_for(r->kind), true);
	if (uffd < 0)
		return vmh_set_reason(-1, "UFFDIO_API for uffd-wp on %s memory: %s",
				      name, strerror(-uffd));
	ret = uffd_register(uffd, r->addr, r->size, UFFDIO_REGISTER_MODE_WP, NULL);
	if (ret) {
		close(uffd);
		/* Sync uffd-wp: anonymous, shmem and hugetlb memory only. */
		return vmh_set_reason(-1, "UFFDIO_REGISTER (WP) of %s memory: %s%s",
				      name, strerror(-ret),
				      r->kind == MEM_PAGECACHE_SHARED && ret == -EINVAL ?
				      " (synchronous uffd-wp covers anonymous, shmem and hugetlb memory only)" : "");
	}
	ret = uffd_wp(uffd, r->addr, r->size, true);
	if (ret) {
		close(uffd);
		*status = B_ERR;
		return vmh_set_reason(-1, "UFFDIO_WRITEPROTECT: %s", strerror(-ret));
	}
	return uffd;
}
