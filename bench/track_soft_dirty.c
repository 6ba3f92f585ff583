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
	size_t per = s.r->unit / page_size(), i;

	for (i = u * per; i < (u + 1) * per; i++)
		if (s.pm[i] & PME_SOFT_DIRTY)
			return true;
	return false;
}

static int sd_read(void)
{
	int ret = pagemap_read(s.r->addr, s.r->size, s.pm);

	return ret ? set_reason(B_ERR, "reading /proc/self/pagemap: %s",
				strerror(-ret)) : B_OK;
}

static int sd_init(const struct region *r)
{
	int ret;

	if (!have_soft_dirty())
		return B_NA;
	s.r = r;
	s.nr_pages = r->size / page_size();
	s.pm = malloc(s.nr_pages * sizeof(*s.pm));
	if (!s.pm)
		return set_reason(B_ERR, "out of memory");
	/* Check that this kind of memory is tracked: clear, write, look. */
	ret = clear_soft_dirty();
	if (!ret)
		ret = sd_read();
	if (!ret && unit_dirty(0))
		ret = set_reason(B_NA, "clear_refs does not clear soft-dirty on %s memory",
				 mem_kind_name(r->kind));
	if (!ret) {
		r->addr[0]++;
		ret = sd_read();
	}
	if (!ret && !unit_dirty(0))
		ret = set_reason(B_NA, "the kernel does not track soft-dirty on %s memory",
				 mem_kind_name(r->kind));
	if (!ret)
		ret = clear_soft_dirty();
	if (ret)
		sd_fini();
	return ret;
}

static long sd_collect(size_t *units, size_t max)
{
	size_t u, n = 0;

	if (sd_read())
		return -1;
	for (u = 0; u < s.r->nr_units; u++) {
		if (!unit_dirty(u))
			continue;
		if (n == max)
			return set_reason(B_ERR, "more than %zu units written", max);
		units[n++] = u;
	}
	if (clear_soft_dirty())
		return -1;
	return (long)n;
}

static void sd_fini(void)
{
	free(s.pm);
	s.pm = NULL;
	s.r = NULL;
}

const struct tracker tracker_soft_dirty = {
	.name = "soft_dirty",
	.desc = "clear_refs 4 + /proc/self/pagemap bit 55",
	.init = sd_init,
	.collect = sd_collect,
	.fini = sd_fini,
};
