// SPDX-License-Identifier: GPL-2.0
/*
 * Write tracking with soft-dirty bits (CONFIG_MEM_SOFT_DIRTY), as CRIU does.
 *
 * Writing "4" to /proc/self/clear_refs clears the soft-dirty bit of every
 * page of the process and write-protects the pages, so the next write
 * faults and sets the bit again. Collecting reads the region's
 * /proc/self/pagemap entries and tests bit 55, then clears again.
 */
#include <stdlib.h>
#include <string.h>
#include "bench.h"

static struct {
	const struct region *r;
	uint64_t *pm;
	size_t nr_pages;
} s;

static void sd_fini(void);

/* Is any base page of unit @u soft-dirty in the entries just read? */
static bool unit_dirty(size_t u)
{
	size_t per = s.r->unit / psize(), i;

	for (i = u * per; i < (u + 1) * per; i++)
		if (s.pm[i] & PME_SOFT_DIRTY)
			return true;
	return false;
}

static int sd_read(void)
{
	int ret = pagemap_read(s.r->addr, s.r->size, s.pm);

	return ret ? vmh_set_reason(B_ERR, "reading /proc/self/pagemap: %s",
				strerror(-ret)) : B_OK;
}

static int sd_init(const struct region *r)
{
	int ret;

	if (!have_soft_dirty())
		return B_NA;
	if (track_hits_init(r))
		return B_ERR;
	s.r = r;
	s.nr_pages = r->size / psize();
	s.pm = malloc(s.nr_pages * sizeof(*s.pm));
	if (!s.pm)
		return vmh_set_reason(B_ERR, "out of memory");
	/* Check that this kind of memory is tracked: clear, write, look. */
	clear_softdirty();
	ret = sd_read();
	if (!ret && unit_dirty(0))
		ret = vmh_set_reason(B_NA, "clear_refs does not clear soft-dirty on %s memory",
				 bench_mem_name(r->kind));
	if (!ret) {
		r->addr[0]++;
		ret = sd_read();
	}
	if (!ret && !unit_dirty(0))
		ret = vmh_set_reason(B_NA, "the kernel does not track soft-dirty on %s memory",
				 bench_mem_name(r->kind));
	if (ret)
		sd_fini();
	else
		clear_softdirty();
	return ret;
}

static long sd_collect(size_t *units, size_t max)
{
	size_t u;
	long n;

	if (sd_read())
		return -1;
	for (u = 0; u < s.r->nr_units; u++)
		track_hits[u] = unit_dirty(u);
	n = track_hits_collect(units, max, NULL);
	clear_softdirty();
	return n;
}

static void sd_fini(void)
{
	track_hits_fini();
	free(s.pm);
	s.pm = NULL;
	s.r = NULL;
}

DEFINE_TRACKER(tracker_soft_dirty, sd, "soft_dirty",
	       "clear_refs 4 + /proc/self/pagemap bit 55");
