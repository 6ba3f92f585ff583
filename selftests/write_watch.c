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

/*
 * GetWriteWatch(): the addresses of the written pages of [start, start +
 * len), in order, at most *count of them; *count is set to how many.  With
 * WW_RESET the pages returned, and only those, are watched again.
 * Returns 0 or -errno.
 */
static int ww_get(struct area *a, unsigned int flags, char *start,
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
				 (*count - got) * (a->psize / psize()),
				 0, W, 0, W, &walk_end);
		if (n < 0)
			return (int)n;
		for (i = 0; i < n; i++) {
			char *p;

			for (p = (char *)(unsigned long)vec[i].start;
			     p < (char *)(unsigned long)vec[i].end && got < *count;
			     p += a->psize)
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
static int ww_reset(char *start, size_t len)
{
	long n = pagemap_scan(pagemap_fd(), (unsigned long)start,
			      (unsigned long)start + len, NULL, 0,
			      PM_SCAN_WP_MATCHING, 0, 0, W, 0, W, NULL);

	return n < 0 ? (int)n : 0;
}

static char *pg(struct area *a, size_t i)
{
	return a->addr + i * a->psize;
}

static void write_pg(struct area *a, size_t i)
{
	pg(a, i)[a->psize / 2] = (char)(i + 1);
}

#define write_pgs(a, ...)						\
	do {								\
		const size_t __p[] = { __VA_ARGS__ };			\
		size_t __i;						\
									\
		for (__i = 0; __i < ARRAY_SIZE(__p); __i++)		\
			write_pg(a, __p[__i]);				\
	} while (0)

/* The addresses got are exactly the pages @want (indices), in order. */
static bool got_pages(struct area *a, char **addrs, size_t count,
		      const size_t *want, size_t nwant)
{
	bool ok = count == nwant;
	size_t i;

	for (i = 0; ok && i < count; i++)
		ok = addrs[i] == pg(a, want[i]);
	for (i = 0; !ok && (i < count || i < nwant); i++)
		ksft_print_msg("report %zu: page %zd, expected %zd\n", i,
			       i < count ? (addrs[i] - a->addr) / (ssize_t)a->psize : -1,
			       i < nwant ? (ssize_t)want[i] : -1);
	return ok;
}

/*
 * A ww_get() of pages [from, to) (to 0: the end) with @cap gives exactly
 * the pages @want.
 */
static bool get_expect(struct area *a, unsigned int flags, size_t from,
		       size_t to, size_t cap, const size_t *want, size_t nwant)
{
	char *addrs[NR_PAGES];
	int ret;

	to = to ? to : a->size / a->psize;
	ret = ww_get(a, flags, pg(a, from), (to - from) * a->psize, addrs, &cap);
	if (ret)
		ksft_print_msg("ww_get: %s\n", strerror(-ret));
	return !ret && got_pages(a, addrs, cap, want, nwant);
}

/* The same over the whole watch, the pages listed. */
#define GET_ALL(a, flags, cap, ...)					\
	({								\
		const size_t __w[] = { __VA_ARGS__ };			\
		get_expect(a, flags, 0, 0, cap, __w, ARRAY_SIZE(__w));	\
	})

static bool none_written(struct area *a)
{
	return get_expect(a, 0, 0, 0, NR_PAGES, NULL, 0);
}

static bool t_fresh(struct area *a)
{
	touch_read(a->addr, a->size);
	return none_written(a);
}

static bool t_get_keeps_reset_clears(struct area *a)
{
	bool ok;

	write_pgs(a, 3, 7, 8);
	ok = GET_ALL(a, 0, NR_PAGES, 3, 7, 8);
	/* Without reset the same pages come back. */
	ok &= GET_ALL(a, 0, NR_PAGES, 3, 7, 8);
	ok &= GET_ALL(a, WW_RESET, NR_PAGES, 3, 7, 8);
	ok &= none_written(a);
	/* Written again after the reset: reported again. */
	write_pg(a, 8);
	ok &= GET_ALL(a, WW_RESET, NR_PAGES, 8);
	ok &= check_bytes(pg(a, 8) + a->psize / 2, 1, 9);
	return ok;
}

static bool t_count_cut(struct area *a)
{
	size_t i;
	bool ok;

	for (i = 2; i < 12; i++)
		write_pg(a, i);
	ok = GET_ALL(a, WW_RESET, 4, 2, 3, 4, 5);
	ok &= GET_ALL(a, WW_RESET, 3, 6, 7, 8);
	ok &= GET_ALL(a, WW_RESET, NR_PAGES, 9, 10, 11);
	ok &= none_written(a);
	return ok;
}

static bool t_sub_range(struct area *a)
{
	bool ok;

	write_pgs(a, 1, 5, 6, 14);
	ok = get_expect(a, WW_RESET, 4, 12, NR_PAGES, (const size_t[]){ 5, 6 }, 2);
	/* Outside the sub-range nothing was reset. */
	ok &= GET_ALL(a, 0, NR_PAGES, 1, 14);
	return ok;
}

static bool t_reset_write_watch(struct area *a)
{
	bool ok;

	write_pgs(a, 0, 15);
	ok = !ww_reset(a->addr, a->size);
	ok &= none_written(a);
	ok &= check_bytes(pg(a, 0) + a->psize / 2, 1, 1) &&
	      check_bytes(pg(a, 15) + a->psize / 2, 1, 16);
	return ok;
}

static bool t_random_rounds(struct area *a)
{
	size_t nr = a->size / a->psize;
	unsigned int seed = 12345;
	bool ok = true;
	int round;

	for (round = 0; round < 8 && ok; round++) {
		size_t want[NR_PAGES], nwant = 0, got = 0, i, cap, n;
		bool written[NR_PAGES] = { false };
		char *addrs[NR_PAGES];

		for (i = 0; i < nr / 8; i++) {
			size_t p = rand_r(&seed) % nr;

			write_pg(a, p);
			written[p] = true;
		}
		for (i = 0; i < nr; i++)
			if (written[i])
				want[nwant++] = i;
		/* Collect in pieces of a random count, resetting as we go. */
		do {
			cap = 1 + rand_r(&seed) % 16;
			n = cap = cap < nr - got ? cap : nr - got;
			if (ww_get(a, WW_RESET, a->addr, a->size, addrs + got, &n))
				return false;
			got += n;
		} while (n == cap && got < nr);
		ok &= got_pages(a, addrs, got, want, nwant);
		ok &= none_written(a);
	}
	return ok;
}

/* The cases, each on a fresh watch of @nr pages (0: NR_PAGES). */
static const struct {
	const char *name;
	bool (*fn)(struct area *a);
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

/* Case @k on a fresh watch: an area registered for async uffd-wp, protected. */
static void run_case(size_t k)
{
	enum mem_type type = types[k / ARRAY_SIZE(cases)];
	size_t i = k % ARRAY_SIZE(cases), nr = cases[i].nr;
	struct area a;
	int ret, uffd;

	/* hugetlb: as many huge pages as the guests reserve comfortably. */
	if (!nr)
		nr = type == MEM_HUGETLB ? 16 : NR_PAGES;
	ret = area_alloc(&a, type, nr, false, 0);
	uffd = ret ? -1 : uffd_async_wp(type, a.addr, a.size, true);
	if (ret || uffd < 0)
		vmh_report_setup(case_name(k), ret ?: VMH_FAIL);
	else
		ksft_test_result(cases[i].fn(&a), "%s\n", case_name(k));
	if (uffd >= 0)
		close(uffd);
	area_free(&a);
}

int main(void)
{
	size_t k;

	vmh_run_cases(k, ARRAY_SIZE(cases) * ARRAY_SIZE(types), true, case_name(k),
		      run_case(k));
	return 0;
}
