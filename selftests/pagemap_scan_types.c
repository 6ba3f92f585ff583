// SPDX-License-Identifier: GPL-2.0
/*
 * PAGEMAP_SCAN page categories per memory type, and the masks that select
 * and report them. Each case puts the pages of a small range in known
 * states and compares the scan with the exact regions mainline gives,
 * including where the page table layout shows (those say "as mainline").
 */
#include "../kselftest.h"
#include "vm_util.h"

#define P	PAGE_IS_PRESENT
#define W	PAGE_IS_WRITTEN
#define F	PAGE_IS_FILE
#define S	PAGE_IS_SWAPPED
#define Z	PAGE_IS_PFNZERO
#define H	PAGE_IS_HUGE
#define A	PAGE_IS_WPALLOWED
#define SD	PAGE_IS_SOFT_DIRTY
/*
 * Everything but soft-dirty, which a kernel with CONFIG_MEM_SOFT_DIRTY
 * reports on freshly mapped pages; only the soft-dirty case asks for it.
 */
#define RM	(A | W | F | P | S | Z | H)

#define MAX_EXP		6
#define SEED		0x21
/* A region end meaning "the end of the area". */
#define END		((size_t)-1)

static const struct pm_scan_arg all_rm = { .return_mask = RM };

/*
 * A case: a function of its own, or (fn NULL) a layout scanned once: an
 * area of @type, uffd-wp as @wp says (on the first @wp_nr pages, 0: all),
 * with @before the one region a scan finds then, before the pages are
 * protected (ASYNC_WP_PROTECTED) and touched as @ops says (a character a
 * page: 'w' written, 'r' read, '.' left alone; with @soft_dirty after
 * clear_refs), pages [swap[0], swap[1]) swapped out, then one scan with
 * @m (all categories but soft-dirty when zero) that must give exactly @e;
 * with @merged, a scan with no masks then gives one region. Pages are
 * base pages, huge pages for hugetlb.
 */
struct tcase {
	const char *name;
	void (*fn)(const struct tcase *c);
	enum mem_type type;
	size_t nr;		/* 0: a PMD's worth of base pages */
	bool populate;
	const char *ops;
	enum { NO_WP, SYNC_WP, ASYNC_WP, ASYNC_WP_PROTECTED } wp;
	size_t wp_nr;
	size_t swap[2];
	struct pm_scan_arg m;	/* the masks */
	bool soft_dirty;
	struct region_exp before, e[MAX_EXP];	/* up to the first with end 0 */
	bool merged;
};

/* A scan of @a with @m's masks gives exactly @e (in @unit) and covers @a. */
static bool scan_is(const struct area *a, struct pm_scan_arg m, size_t unit,
		    const struct region_exp *e, size_t ne)
{
	m.start = (unsigned long)a->addr;
	m.end = m.start + a->size;
	return scan_expect(pagemap_fd(), m, a->addr, unit, e, ne, a->size / unit);
}

/*
 * Allocate for a case; on failure report the case as skipped or failed
 * and return false.
 */
static bool get_area(const char *name, struct area *a, enum mem_type type,
		     size_t nr, bool populate)
{
	int ret = area_alloc(a, type, nr, populate, SEED);

	if (ret)
		vmh_report_setup(name, ret);
	return !ret;
}

/* Page @i of @a in @unit, END meaning the end. */
static size_t page_nr(const struct area *a, size_t unit, size_t i)
{
	return i == END ? a->size / unit : i;
}

/* The layout case (fn NULL), as struct tcase says. */
static void t_layout(const struct tcase *c)
{
	const char *name = c->name;
	size_t nr = c->nr ? c->nr : thp_size() ? thp_size() / psize() : 512;
	const uint64_t need = UFFD_FEATURE_WP_ASYNC | uffd_wp_features_for(c->type);
	const size_t wp_len = c->wp_nr * psize();
	const bool async = c->wp >= ASYNC_WP;
	const int64_t f = async ? uffd_api_features() : 0;
	struct region_exp e[MAX_EXP];
	size_t i, ne, unit;
	int uffd = -1, ret;
	struct area a;
	bool ok;

	if (c->soft_dirty && !softdirty_supported()) {
		ksft_test_result_skip("%s: kernel lacks soft-dirty tracking (pagemap bit 55 never set)\n",
				      name);
		return;
	}
	if (async && (f < 0 || (f & need) != need)) {
		ksft_test_result_skip("%s: kernel lacks UFFD_FEATURE_WP_ASYNC\n", name);
		return;
	}
	if (!get_area(name, &a, c->type, nr, c->populate))
		return;
	unit = c->type == MEM_HUGETLB || c->type == MEM_HUGETLB_SHARED ? a.psize : psize();
	if (c->wp != NO_WP) {
		uffd = uffd_wp_range(async ? need | UFFD_FEATURE_WP_UNPOPULATED :
				     uffd_wp_features_for(c->type), a.addr, wp_len ? : a.size, false);
		if (uffd < 0 && !async) {
			ksft_test_result_skip("%s: uffd-wp registration failed: %s\n",
					      name, strerror(-uffd));
			goto out;
		}
	}
	/* Before any page table below the PMD (hugetlb: PUD) exists. */
	ok = !c->before.end || scan_is(&a, all_rm, unit, &c->before, 1);
	if (uffd < 0 && async) {
		ksft_test_result_fail("%s: uffd-wp set-up failed: %s\n", name, strerror(-uffd));
		goto out;
	}
	if (c->wp == ASYNC_WP_PROTECTED && uffd_wp(uffd, a.addr, wp_len ? : a.size, true)) {
		ksft_test_result_fail("%s: uffd-wp set-up failed: %s\n", name, strerror(errno));
		goto out;
	}
	if (c->soft_dirty)
		clear_softdirty();
	for (i = 0; c->ops && c->ops[i]; i++) {
		if (c->ops[i] == 'w')
			a.addr[i * unit] = 0x5a;
		else if (c->ops[i] == 'r')
			touch_read(a.addr + i * unit, 1);
		/* The pagemap bit agrees with the ioctl's. */
		if (c->soft_dirty)
			ok &= pagemap_has(a.addr + i * unit, PME_SOFT_DIRTY) == (c->ops[i] == 'w');
	}
	if (c->swap[1]) {
		ret = swap_out(a.addr + c->swap[0] * unit,
			       (page_nr(&a, unit, c->swap[1]) - c->swap[0]) * unit);
		if (ret) {
			vmh_report_setup(name, ret);
			goto out;
		}
	}
	for (ne = 0; ne < MAX_EXP && c->e[ne].end; ne++) {
		e[ne] = c->e[ne];
		e[ne].end = page_nr(&a, unit, e[ne].end);
	}
	ok &= scan_is(&a, c->m.return_mask ? c->m : all_rm, unit, e, ne);
	/* With return_mask 0 all pages merge into one region. */
	e[0] = (struct region_exp){ 0, a.size / unit, 0 };
	if (c->merged)
		ok &= scan_is(&a, (struct pm_scan_arg){ 0 }, unit, e, 1);
	ksft_test_result(ok, "%s\n", name);
out:
	if (uffd >= 0)
		close(uffd);
	area_free(&a);
}

static void t_thp_zero(const struct tcase *c)
{
	size_t ts = thp_size(), nr = ts / psize();
	const struct region_exp zero = { 0, nr, P | Z | H | W };
	const char *name = c->name;
	uint64_t pfn0, pfn1;
	struct area a;

	if (!ts) {
		ksft_test_result_skip("%s: transparent hugepages are not available\n", name);
		return;
	}
	/* The file holds 0 or 1: the number on its first line. */
	if (proc_field("/sys/kernel/mm/transparent_hugepage/use_zero_page", "") != 1) {
		ksft_test_result_skip("%s: the huge zero page is disabled\n", name);
		return;
	}
	if (!get_area(name, &a, MEM_ANON, nr, false))
		return;
	if (madvise(a.addr, a.size, MADV_HUGEPAGE)) {
		ksft_test_result_skip("%s: MADV_HUGEPAGE: %s\n", name, strerror(errno));
		goto out;
	}
	touch_read(a.addr, 1);
	/* The huge zero page has distinct, consecutive PFNs (root only). */
	pfn0 = pagemap_entry(a.addr) & PME_PFN_MASK;
	pfn1 = pagemap_entry(a.addr + psize()) & PME_PFN_MASK;
	if (!pfn0 || pfn1 != pfn0 + 1) {
		ksft_test_result_skip("%s: no huge zero page mapped (PFNs %#llx, %#llx)\n",
				      name, (unsigned long long)pfn0,
				      (unsigned long long)pfn1);
		goto out;
	}
	ksft_test_result(scan_is(&a, all_rm, psize(), &zero, 1),
			 "%s\n", name);
out:
	area_free(&a);
}

/*
 * The mixed layout the mask cases share, 8 anon pages in one page table:
 * 0-2 written (P|W), 3-4 read, so zero page (P|Z|W), 5-7 empty PTEs (W).
 */
#define MIXED	.type = MEM_ANON, .nr = 8, .ops = "wwwrr"
/*
 * Never-touched pages of an async VMA of @type, protected, then one
 * written (PRESENT|WPALLOWED and @written), one read (the same and @read),
 * the rest markers (SWAPPED|WPALLOWED).
 */
#define MARKERS(t, written, read)					\
	.type = t, .nr = 8, .ops = "wr", .wp = ASYNC_WP_PROTECTED,	\
	.e = { { 0, 1, A | P | (written) }, { 1, 2, A | P | (read) }, { 2, 8, A | S } }
/* A private mapping of a file of @type, read, page 1 then written: a CoW copy. */
#define COW(t)								\
	.type = t, .nr = 8, .populate = true, .ops = ".w",		\
	.e = { { 0, 1, P | W | F }, { 1, 2, P | W }, { 2, 8, P | W | F } }

static const struct tcase cases[] = {
	{ "anon: written pages are PRESENT|WRITTEN, not FILE",
	  .type = MEM_ANON, .nr = 8, .populate = true, .e = { { 0, 8, P | W } } },
	{ "anon: an empty PTE in a populated page table is WRITTEN only",
	  .type = MEM_ANON, .nr = 8, .ops = "w", .e = { { 0, 1, P | W }, { 1, 8, W } } },
	{ "anon: a read fault maps the zero page: PRESENT|PFNZERO|WRITTEN",
	  .type = MEM_ANON, .nr = 8, .ops = "wr",
	  .e = { { 0, 1, P | W }, { 1, 2, P | Z | W }, { 2, 8, W } } },
	/* A whole PMD's worth, never touched: no page table below it. */
	{ "anon: no page table in a VMA without uffd-wp: no category (as mainline)",
	  .type = MEM_ANON, .e = { { 0, END, 0 } } },
	{ "anon: no page table in a sync uffd-wp VMA: WRITTEN (as mainline)",
	  .type = MEM_ANON, .wp = SYNC_WP, .e = { { 0, END, W } } },
	{ "thp: a PMD-mapped THP is PRESENT|WRITTEN|HUGE",
	  .type = MEM_THP, .nr = 2, .populate = true, .e = { { 0, END, P | W | H } } },
	{ "thp: a read fault maps the huge zero page: PRESENT|PFNZERO|HUGE|WRITTEN",
	  .fn = t_thp_zero },
	{ "hugetlb: a private huge page is PRESENT|WRITTEN|HUGE, an untouched one HUGE, none without a page table (as mainline)",
	  .type = MEM_HUGETLB, .nr = 2, .before = { 0, 2, 0 }, .ops = "w",
	  .e = { { 0, 1, H | P | W }, { 1, 2, H } }, .merged = true },
	{ "hugetlb: a shared huge page is PRESENT|WRITTEN|HUGE|FILE, an untouched one HUGE, none without a page table (as mainline)",
	  .type = MEM_HUGETLB_SHARED, .nr = 2, .before = { 0, 2, 0 }, .ops = "w",
	  .e = { { 0, 1, H | P | W | F }, { 1, 2, H } }, .merged = true },
	{ "shmem: mapped pages are PRESENT|WRITTEN|FILE, an empty PTE WRITTEN",
	  .type = MEM_SHMEM, .nr = 8, .ops = "wr", .e = { { 0, 2, P | W | F }, { 2, 8, W } } },
	{ "private file: page cache pages are FILE, a CoW copy is not", COW(MEM_FILE) },
	{ "anon: swapped-out pages are SWAPPED|WRITTEN, not PRESENT",
	  .type = MEM_ANON, .nr = 8, .populate = true, .swap = { 2, 5 },
	  .e = { { 0, 2, P | W }, { 2, 5, S | W }, { 5, 8, P | W } } },
	{ "thp: a swapped-out THP is SWAPPED|WRITTEN, not HUGE",
	  .type = MEM_THP, .nr = 1, .populate = true, .swap = { 0, END },
	  .e = { { 0, END, S | W } } },
	{ "soft-dirty: only pages written since clear_refs are SOFT_DIRTY",
	  .type = MEM_ANON, .nr = 8, .populate = true, .soft_dirty = true, .ops = "..w..w",
	  .m = { .return_mask = SD },
	  .e = { { 0, 2, 0 }, { 2, 3, SD }, { 3, 5, 0 }, { 5, 6, SD }, { 6, 8, 0 } } },
	{ "async uffd-wp: registered pages are WPALLOWED, the rest of the VMA not",
	  .type = MEM_ANON, .nr = 8, .populate = true, .wp = ASYNC_WP, .wp_nr = 4,
	  .e = { { 0, 4, A | P | W }, { 4, 8, P | W } } },
	{ "sync uffd-wp: registered pages are not WPALLOWED",
	  .type = MEM_ANON, .nr = 8, .populate = true, .wp = SYNC_WP,
	  .e = { { 0, 8, P | W } } },
	{ "anon markers: protected never-touched pages are SWAPPED, not WRITTEN",
	  MARKERS(MEM_ANON, W, Z) },
	{ "shmem markers: protected never-touched pages are SWAPPED, not WRITTEN",
	  MARKERS(MEM_SHMEM, W | F, F) },
	{ "anon: no page table in an async uffd-wp VMA: WPALLOWED|WRITTEN (as mainline)",
	  .type = MEM_ANON, .wp = ASYNC_WP, .e = { { 0, END, A | W } } },
	{ "hugetlb: never-touched pages of an async VMA are WPALLOWED without a page table, HUGE|WPALLOWED|SWAPPED once protected",
	  .type = MEM_HUGETLB, .nr = 2, .wp = ASYNC_WP_PROTECTED, .before = { 0, 2, A },
	  .e = { { 0, 2, H | A | S } } },
	{ "merging: equal neighbours merge, a change of categories splits",
	  MIXED, .e = { { 0, 3, P | W }, { 3, 5, P | Z | W }, { 5, 8, W } }, .merged = true },
	{ "category_mask: pages having every bit",
	  MIXED, .m = { .category_mask = P | Z, .return_mask = RM }, .e = { { 3, 5, P | Z | W } } },
	{ "category_inverted: pages lacking a bit, real categories reported",
	  MIXED, .m = { .category_inverted = P, .category_mask = P, .return_mask = RM },
	  .e = { { 5, 8, W } } },
	{ "category_anyof_mask: pages having any of the bits",
	  MIXED, .m = { .category_anyof_mask = P | Z, .return_mask = RM },
	  .e = { { 0, 3, P | W }, { 3, 5, P | Z | W } } },
	{ "category_inverted with category_anyof_mask",
	  MIXED, .m = { .category_inverted = P, .category_anyof_mask = P | Z, .return_mask = RM },
	  .e = { { 3, 5, P | Z | W }, { 5, 8, W } } },
	{ "category_mask with category_anyof_mask",
	  MIXED, .m = { .category_mask = W, .category_anyof_mask = Z | S, .return_mask = RM },
	  .e = { { 3, 5, P | Z | W } } },
	{ "return_mask: only its bits are reported, merging follows them",
	  MIXED, .m = { .return_mask = P }, .e = { { 0, 5, P }, { 5, 8, 0 } } },
	{ "a category_mask bit outside return_mask still selects",
	  MIXED, .m = { .category_mask = Z, .return_mask = W }, .e = { { 3, 5, W } } },
	/* A file on a page-cache filesystem (PMSCAN_PAGECACHE_DIR). */
	{ "page cache private: page cache pages are FILE, a CoW copy is not", COW(MEM_PAGECACHE) },
	/* (Read faults map the neighbours too: every page is written here.) */
	{ "page cache shared: mapped pages are PRESENT|WRITTEN|FILE",
	  .type = MEM_PAGECACHE_SHARED, .nr = 8, .populate = true,
	  .e = { { 0, 8, P | W | F } } },
	{ "page cache private markers: protected never-touched pages are SWAPPED, a CoW copy is not FILE",
	  MARKERS(MEM_PAGECACHE, W, F) },
	{ "page cache shared markers: protected never-touched pages are SWAPPED, not WRITTEN",
	  MARKERS(MEM_PAGECACHE_SHARED, W | F, F) },
};

int main(void)
{
	size_t i;

	vmh_run_cases(i, ARRAY_SIZE(cases), false, cases[i].name,
		      (cases[i].fn ?: t_layout)(&cases[i]));
	return 0;
}
