// SPDX-License-Identifier: GPL-2.0
/*
 * A GetWriteWatch()-style API (Windows' write watches, which Wine emulates)
 * built on async uffd-wp and one PAGEMAP_SCAN per call: get the written
 * pages, at most the caller's count of them (max_pages), and with the reset
 * flag re-protect exactly those (PM_SCAN_WP_MATCHING). Checked per memory
 * type against the pages the tests wrote.
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
};

/* Map @nr pages of @type and watch them: nothing counts as written yet. */
static int ww_create(struct write_watch *ww, enum mem_type type, size_t nr)
{
	int ret = area_alloc(&ww->a, type, nr, false, 0);

	if (ret)
		return ret;
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
				 (*count - got) * (ww->a.psize / psize()),
				 0, W, 0, W, &walk_end);
		if (n < 0)
			return (int)n;
		for (i = 0; i < n; i++) {
			char *p;

			for (p = (char *)(unsigned long)vec[i].start;
			     p < (char *)(unsigned long)vec[i].end && got < *count;
			     p += ww->a.psize)
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

static char *pg(struct write_watch *ww, size_t i)
{
	return ww->a.addr + i * ww->a.psize;
}

static void write_pg(struct write_watch *ww, size_t i)
{
	pg(ww, i)[ww->a.psize / 2] = (char)(i + 1);
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
	bool ok = count == nwant;
	size_t i;

	for (i = 0; ok && i < count; i++)
		ok = addrs[i] == pg(ww, want[i]);
	for (i = 0; !ok && (i < count || i < nwant); i++)
		ksft_print_msg("report %zu: page %zd, expected %zd\n", i,
			       i < count ? (addrs[i] - ww->a.addr) / (ssize_t)ww->a.psize : -1,
			       i < nwant ? (ssize_t)want[i] : -1);
	return ok;
}

/* A ww_get() of [from, from + len) with @cap gives exactly the pages @want. */
static bool get_expect(struct write_watch *ww, unsigned int flags, char *from,
		       size_t len, size_t cap, const size_t *want, size_t nwant)
{
	char *addrs[NR_PAGES];
	int ret = ww_get(ww, flags, from, len, addrs, &cap);

	if (ret)
		ksft_print_msg("ww_get: %s\n", strerror(-ret));
	return !ret && got_pages(ww, addrs, cap, want, nwant);
}

#define GET_EXPECT(ww, flags, from, len, cap, ...)			\
	({								\
		const size_t __w[] = { __VA_ARGS__ };			\
		get_expect(ww, flags, from, len, cap, __w, ARRAY_SIZE(__w)); \
	})
/* The same over the whole watch. */
#define GET_ALL(ww, flags, cap, ...)					\
	GET_EXPECT(ww, flags, (ww)->a.addr, (ww)->a.size, cap, __VA_ARGS__)

static bool none_written(struct write_watch *ww)
{
	return get_expect(ww, 0, ww->a.addr, ww->a.size, NR_PAGES, NULL, 0);
}

static bool t_fresh(struct write_watch *ww)
{
	touch_read(ww->a.addr, ww->a.size);
	return none_written(ww);
}

static bool t_get_keeps_reset_clears(struct write_watch *ww)
{
	bool ok;

	write_pgs(ww, 3, 7, 8);
	ok = GET_ALL(ww, 0, NR_PAGES, 3, 7, 8);
	/* Without reset the same pages come back. */
	ok &= GET_ALL(ww, 0, NR_PAGES, 3, 7, 8);
	ok &= GET_ALL(ww, WW_RESET, NR_PAGES, 3, 7, 8);
	ok &= none_written(ww);
	/* Written again after the reset: reported again. */
	write_pg(ww, 8);
	ok &= GET_ALL(ww, WW_RESET, NR_PAGES, 8);
	ok &= check_bytes(pg(ww, 8) + ww->a.psize / 2, 1, 9);
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
	ok &= GET_ALL(ww, WW_RESET, NR_PAGES, 9, 10, 11);
	ok &= none_written(ww);
	return ok;
}

static bool t_sub_range(struct write_watch *ww)
{
	bool ok;

	write_pgs(ww, 1, 5, 6, 14);
	ok = GET_EXPECT(ww, WW_RESET, pg(ww, 4), 8 * ww->a.psize, NR_PAGES, 5, 6);
	/* Outside the sub-range nothing was reset. */
	ok &= GET_ALL(ww, 0, NR_PAGES, 1, 14);
	return ok;
}

static bool t_reset_write_watch(struct write_watch *ww)
{
	bool ok;

	write_pgs(ww, 0, 15);
	ok = !ww_reset(ww, ww->a.addr, ww->a.size);
	ok &= none_written(ww);
	ok &= check_bytes(pg(ww, 0) + ww->a.psize / 2, 1, 1) &&
	      check_bytes(pg(ww, 15) + ww->a.psize / 2, 1, 16);
	return ok;
}

/* Rounds of random writes against a bitmap of what was written. */
static bool t_random_rounds(struct write_watch *ww)
{
	size_t nr = ww->a.size / ww->a.psize;
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
		ok &= none_written(ww);
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

/* Case @k: cases[] on each of types[] in turn. */
static const char *case_name(size_t k)
{
	static char name[160];

	snprintf(name, sizeof(name), "%s: %s", mem_type_name(types[k / ARRAY_SIZE(cases)]),
		 cases[k % ARRAY_SIZE(cases)].name);
	return name;
}

static void run_case(size_t k)
{
	enum mem_type type = types[k / ARRAY_SIZE(cases)];
	size_t i = k % ARRAY_SIZE(cases), nr = cases[i].nr;
	struct write_watch ww;
	int ret;

	/* hugetlb: as many huge pages as the guests reserve comfortably. */
	if (!nr)
		nr = type == MEM_HUGETLB ? 16 : NR_PAGES;
	ret = ww_create(&ww, type, nr);
	if (ret) {
		vmh_report_setup(case_name(k), ret);
	} else {
		ksft_test_result(cases[i].fn(&ww), "%s\n", case_name(k));
		ww_destroy(&ww);
	}
}

int main(void)
{
	size_t k;

	vmh_run_cases(k, ARRAY_SIZE(cases) * ARRAY_SIZE(types), true, case_name(k),
		      run_case(k));
	return 0;
}
