// SPDX-License-Identifier: GPL-2.0
/*
 * A GetWriteWatch()-style API built on PAGEMAP_SCAN, and its tests.
 *
 * Windows' write watches, which Wine emulates, answer "which pages of this
 * region were written since the watch was last reset?", optionally
 * resetting the pages they return, with at most a caller-given number of
 * addresses per call.  With asynchronous uffd-wp this is one PAGEMAP_SCAN
 * per call: get (PAGE_IS_WRITTEN), capped by max_pages, with
 * PM_SCAN_WP_MATCHING for the resetting form, which re-protects exactly the
 * pages it reported.  The API below is what such a user writes; the tests
 * check it against the set of pages they wrote, including the cut at the
 * caller's count and resuming after it.
 */
#include "../kselftest.h"
#include "vm_util.h"

#define W		PAGE_IS_WRITTEN
#define WW_RESET	1	/* as WRITE_WATCH_FLAG_RESET */
#define NR_PAGES	256
#define MAX_VEC		64

struct write_watch {
	struct area a;
	int uffd;
	size_t psize;
};

/* Map @nr pages of @type and watch them: nothing counts as written yet. */
static int ww_create(struct write_watch *ww, enum mem_type type, size_t nr)
{
	int ret = area_alloc(&ww->a, type, nr, false, 0);

	if (ret)
		return ret;
	ww->psize = ww->a.psize;
	ww->uffd = uffd_async_wp(type, ww->a.addr, ww->a.size, true);
	if (ww->uffd < 0) {
		area_free(&ww->a);
		return VMH_FAIL;
	}
	return 0;
}

static void ww_destroy(struct write_watch *ww)
{
	close(ww->uffd);
	area_free(&ww->a);
}

/*
 * GetWriteWatch(): the addresses of the written pages of [start, start +
 * len), in order, at most *count of them; *count is set to how many.  With
 * WW_RESET the pages returned, and only those, are watched again.
 * Returns 0 or -errno.
 */
static int ww_get(struct write_watch *ww, unsigned int flags, char *start,
		  size_t len, char **addrs, size_t *count)
{
	struct page_region vec[MAX_VEC];
	char *pos = start, *end = start + len;
	size_t got = 0;

	while (pos < end && got < *count) {
		__u64 walk_end;
		long n, i;

		n = pagemap_scan(pagemap_fd(), (unsigned long)pos,
				 (unsigned long)end, vec, MAX_VEC,
				 flags & WW_RESET ? PM_SCAN_WP_MATCHING : 0,
				 (*count - got) * (ww->psize / psize()),
				 0, W, 0, W, &walk_end);
		if (n < 0)
			return (int)n;
		for (i = 0; i < n; i++) {
			char *p;

			for (p = (char *)(unsigned long)vec[i].start;
			     p < (char *)(unsigned long)vec[i].end && got < *count;
			     p += ww->psize)
				addrs[got++] = p;
		}
		if (walk_end <= (unsigned long)pos)
			return -EIO;	/* no progress: never expected */
		pos = (char *)(unsigned long)walk_end;
	}
	*count = got;
	return 0;
}

/* ResetWriteWatch(): watch every page of the range again. */
static int ww_reset(struct write_watch *ww, char *start, size_t len)
{
	long n = pagemap_scan(pagemap_fd(), (unsigned long)start,
			      (unsigned long)start + len, NULL, 0,
			      PM_SCAN_WP_MATCHING, 0, 0, W, 0, W, NULL);

	return n < 0 ? (int)n : 0;
}

/* ---- the tests --------------------------------------------------------- */

static char *pg(struct write_watch *ww, size_t i)
{
	return ww->a.addr + i * ww->psize;
}

static void write_pg(struct write_watch *ww, size_t i)
{
	pg(ww, i)[ww->psize / 2] = (char)(i + 1);
}

#define write_pgs(ww, ...)						\
	do {								\
		const size_t __p[] = { __VA_ARGS__ };			\
		size_t __i;						\
									\
		for (__i = 0; __i < ARRAY_SIZE(__p); __i++)		\
			write_pg(ww, __p[__i]);				\
	} while (0)

/* The addresses got are exactly the pages @want (indices), in order. */
static bool got_pages(struct write_watch *ww, char **addrs, size_t count,
		      const size_t *want, size_t nwant)
{
	size_t i;

	if (count != nwant) {
		ksft_print_msg("%zu pages reported, expected %zu\n", count,
			       nwant);
		for (i = 0; i < count && i < 8; i++)
			ksft_print_msg("  page %zd\n",
				       (addrs[i] - ww->a.addr) / (ssize_t)ww->psize);
		return false;
	}
	for (i = 0; i < count; i++) {
		if (addrs[i] != pg(ww, want[i])) {
			ksft_print_msg("report %zu: page %zd, expected %zu\n", i,
				       (addrs[i] - ww->a.addr) / (ssize_t)ww->psize,
				       want[i]);
			return false;
		}
	}
	return true;
}

#define GET_EXPECT(ww, flags, from, len, cap, ...)			\
	({								\
		const size_t __w[] = { __VA_ARGS__ };			\
		char *__a[NR_PAGES];					\
		size_t __n = (cap);					\
		int __r = ww_get(ww, flags, from, len, __a, &__n);	\
		if (__r)						\
			ksft_print_msg("ww_get: %s\n", strerror(-__r));	\
		!__r && got_pages(ww, __a, __n, __w, ARRAY_SIZE(__w));	\
	})

/* GET_EXPECT() and GET_NONE() over the whole watch. */
#define GET_ALL(ww, flags, cap, ...)					\
	GET_EXPECT(ww, flags, (ww)->a.addr, (ww)->a.size, cap, __VA_ARGS__)
#define NONE_ALL(ww)	GET_NONE(ww, 0, (ww)->a.addr, (ww)->a.size)

#define GET_NONE(ww, flags, from, len)					\
	({								\
		char *__a[NR_PAGES];					\
		size_t __n = NR_PAGES;					\
		int __r = ww_get(ww, flags, from, len, __a, &__n);	\
		if (!__r && __n)					\
			ksft_print_msg("%zu pages reported, expected none\n", \
				       __n);				\
		!__r && !__n;						\
	})

static bool t_fresh(struct write_watch *ww)
{
	bool ok;

	touch_read(ww->a.addr, ww->a.size);
	ok = NONE_ALL(ww);
	return ok;
}

static bool t_get_keeps_reset_clears(struct write_watch *ww)
{
	bool ok;

	write_pgs(ww, 3, 7, 8);
	ok = GET_ALL(ww, 0, NR_PAGES, 3, 7, 8);
	/* Without reset the same pages come back. */
	ok &= GET_ALL(ww, 0, NR_PAGES, 3, 7, 8);
	ok &= GET_ALL(ww, WW_RESET, NR_PAGES, 3, 7, 8);
	ok &= NONE_ALL(ww);
	/* Written again after the reset: reported again. */
	write_pg(ww, 8);
	ok &= GET_ALL(ww, WW_RESET, NR_PAGES, 8);
	ok &= check_bytes(pg(ww, 8) + ww->psize / 2, 1, 9);
	return ok;
}

/* A count smaller than the written pages: the first ones, and only those reset. */
static bool t_count_cut(struct write_watch *ww)
{
	size_t i;
	bool ok;

	for (i = 2; i < 12; i++)
		write_pg(ww, i);
	ok = GET_ALL(ww, WW_RESET, 4, 2, 3, 4, 5);
	ok &= GET_ALL(ww, WW_RESET, 3, 6, 7, 8);
	ok &= GET_ALL(ww, WW_RESET, NR_PAGES,
			 9, 10, 11);
	ok &= NONE_ALL(ww);
	return ok;
}

static bool t_sub_range(struct write_watch *ww)
{
	bool ok;

	write_pgs(ww, 1, 5, 6, 14);
	ok = GET_EXPECT(ww, WW_RESET, pg(ww, 4), 8 * ww->psize, NR_PAGES, 5, 6);
	/* Outside the sub-range nothing was reset. */
	ok &= GET_ALL(ww, 0, NR_PAGES, 1, 14);
	return ok;
}

static bool t_reset_write_watch(struct write_watch *ww)
{
	bool ok;

	write_pgs(ww, 0, 15);
	ok = !ww_reset(ww, ww->a.addr, ww->a.size);
	ok &= NONE_ALL(ww);
	ok &= check_bytes(pg(ww, 0) + ww->psize / 2, 1, 1) &&
	      check_bytes(pg(ww, 15) + ww->psize / 2, 1, 16);
	return ok;
}

/* Rounds of random writes against a bitmap of what was written. */
static bool t_random_rounds(struct write_watch *ww)
{
	size_t nr = ww->a.size / ww->psize;
	unsigned int seed = 12345;
	bool ok = true;
	int round;

	for (round = 0; round < 8 && ok; round++) {
		size_t want[NR_PAGES], nwant = 0, i, cap;
		bool written[NR_PAGES] = { false };
		char *addrs[NR_PAGES];
		size_t got = 0;

		for (i = 0; i < nr / 8; i++) {
			size_t p = rand_r(&seed) % nr;

			write_pg(ww, p);
			written[p] = true;
		}
		for (i = 0; i < nr; i++)
			if (written[i])
				want[nwant++] = i;
		/* Collect in pieces of a random count, resetting as we go. */
		while (got < nr) {
			size_t n;

			cap = 1 + rand_r(&seed) % 16;
			if (cap > nr - got)
				cap = nr - got;
			n = cap;
			if (ww_get(ww, WW_RESET, ww->a.addr, ww->a.size,
				   addrs + got, &n)) {
				ok = false;
				break;
			}
			got += n;
			if (n < cap)
				break;
		}
		ok &= got_pages(ww, addrs, got, want, nwant);
		ok &= NONE_ALL(ww);
	}
	return ok;
}

/* The cases, each on a fresh watch of @nr pages (0: NR_PAGES). */
static const struct {
	const char *name;
	bool (*fn)(struct write_watch *ww);
	size_t nr;
} cases[] = {
	{ "a fresh watch reports nothing, reads included", t_fresh, 8 },
	{ "get keeps, get with reset clears, a new write is seen",
	  t_get_keeps_reset_clears, 16 },
	{ "a count cut returns and resets the first pages only, the rest next time",
	  t_count_cut, 16 },
	{ "a sub-range get reports and resets only inside it", t_sub_range, 16 },
	{ "ResetWriteWatch forgets the writes, keeps the data",
	  t_reset_write_watch, 16 },
	{ "random writes in rounds, collected in random counts",
	  t_random_rounds, 0 },
};

static const enum mem_type types[] = {
	MEM_ANON, MEM_SHMEM, MEM_HUGETLB, MEM_PAGECACHE, MEM_PAGECACHE_SHARED,
};

static void run_case(const char *name, size_t i, enum mem_type type)
{
	size_t nr = cases[i].nr;
	struct write_watch ww;
	int ret;

	/* hugetlb: as many huge pages as the guests reserve comfortably. */
	if (!nr)
		nr = type == MEM_HUGETLB ? 16 : NR_PAGES;
	ret = ww_create(&ww, type, nr);

	if (ret) {
		vmh_report_setup(name, ret);
	} else {
		ksft_test_result(cases[i].fn(&ww), "%s\n", name);
		ww_destroy(&ww);
	}
}

int main(void)
{
	const char *missing;
	char name[160];
	size_t i, t;

	ksft_print_header();
	ksft_set_plan(ARRAY_SIZE(cases) * ARRAY_SIZE(types));
	missing = series_missing(true);
	for (t = 0; t < ARRAY_SIZE(types); t++) {
		for (i = 0; i < ARRAY_SIZE(cases); i++) {
			snprintf(name, sizeof(name), "%s: %s",
				 mem_type_name(types[t]), cases[i].name);
			if (missing)
				ksft_test_result_skip("%s: kernel lacks %s\n", name,
						      missing);
			else
				run_case(name, i, types[t]);
		}
	}
	vmh_finished();
	return 0;
}
