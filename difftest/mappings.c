// SPDX-License-Identifier: GPL-2.0
/*
 * The mapping kinds, the arena they live in, the program's model of what
 * is mapped page by page, and the set-up of a seed's first mappings.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <linux/userfaultfd.h>
#include "fuzz.h"
#include "pagecache.h"

const struct mtype_info mtypes[T_NR] = {
	[T_ANON] = { "anon", 0 },
	[T_THP] = { "thp", MT_THP },
	[T_SHMEM] = { "shmem", MT_MEMFD | MT_SHARED | MT_SPARSE | MT_FILE },
	[T_FILE] = { "file", MT_MEMFD | MT_FILE },
	[T_HUGETLB] = { "hugetlb", MT_HUGETLB },
	[T_HUGETLB_SHARED] = { "hugetlb-shared", MT_HUGETLB | MT_MEMFD | MT_SHARED },
	[T_PAGECACHE] = { "pagecache", MT_PAGECACHE | MT_FILE },
	[T_PAGECACHE_SHARED] = { "pagecache-shared",
				 MT_PAGECACHE | MT_SHARED | MT_SPARSE | MT_FILE },
};

struct slot slots[NR_SLOTS];
char *arena;
int opno;

bool is_hugetlb(enum mtype t)
{
	return mtypes[t].flags & MT_HUGETLB;
}

/* Is slot @s of a kind with any of @mt_flags? */
bool has(int s, unsigned int mt_flags)
{
	return mtypes[slots[s].type].flags & mt_flags;
}

long gran(int s)
{
	return has(s, MT_HUGETLB) ? HPAGE_PAGES : 1;
}

char *pa(int s, long p)
{
	return arena + ((unsigned long)s * SLOT_PAGES + p) * PAGE;
}

void set_flags(int s, long a, long b, unsigned char set, unsigned char clear)
{
	for (; a < b; a++)
		if (slots[s].pg[a] & PG_MAPPED)
			slots[s].pg[a] = (slots[s].pg[a] & ~clear) | set;
}

/*
 * An operation on [a, b) may split VMAs at a and b, whether it succeeds or
 * not. The marks are a superset of the real VMA boundaries, which lets
 * mremap() be given ranges inside one VMA: moving several VMAs at once is
 * something mainline learnt in 6.17, a legitimate difference.
 */
void mark_edges(int s, long a, long b)
{
	slots[s].pg[a] |= PG_EDGE;
	if (b < SLOT_PAGES)
		slots[s].pg[b] |= PG_EDGE;
}

void release_slot_if_empty(int s)
{
	long p;

	for (p = 0; p < SLOT_PAGES; p++)
		if (slots[s].pg[p] & PG_MAPPED)
			return;
	slots[s].used = false;
}

/* Pages mapped from the start of slot @s on. */
static long mapped_len(int s)
{
	long len = 0;

	while (len < SLOT_PAGES && (slots[s].pg[len] & PG_MAPPED))
		len++;
	return len;
}

/*
 * Does another slot map the file of slot @s? Growing a mapping then could
 * map file pages that are mapped elsewhere too, and whether MADV_PAGEOUT
 * takes such a page is a heuristic that changed (page_mapcount() == 1 on
 * 6.1 and 6.12, "mapped by one mm" on 6.15+).
 */
bool fd_shared(int s)
{
	int t;

	for (t = 0; t < NR_SLOTS; t++)
		if (t != s && slots[t].used && slots[s].fd >= 0 && slots[t].fd == slots[s].fd)
			return true;
	return false;
}

static int new_memfd(const char *name, unsigned int flags, long pages)
{
	int fd = memfd_create(name, MFD_CLOEXEC | flags);

	if (fd < 0)
		return -1;
	if (ftruncate(fd, pages * PAGE)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Give the file pages [0, n) data (@some: only some of them). */
static int fill_file(int fd, long n, bool some)
{
	static char buf[PAGE];
	long p;

	for (p = 0; p < n; p++) {
		if (some && !chance(50))
			continue;
		memset(buf, wval(), sizeof(buf));
		if (pwrite(fd, buf, PAGE, p * PAGE) != (ssize_t)PAGE)
			return -1;
	}
	return 0;
}

/* Why the last map_slot() of a page-cache file found no file, or "". */
char map_env_why[256];

/* The backing file of a new mapping of @t: an fd, or -EXIT_ENV/-EXIT_BUG. */
static int backing_file(enum mtype t, long npages)
{
	const struct mtype_info *m = &mtypes[t];
	int fd;

	if (m->flags & MT_HUGETLB) {
		fd = new_memfd(m->name, MFD_HUGETLB, npages);
		return fd < 0 ? -EXIT_ENV : fd;
	}
	/* Sized for the whole slot, so a mapping may grow in place. */
	if (m->flags & MT_PAGECACHE)
		fd = pagecache_file(opt.pagecache_dir, SLOT_PAGES * PAGE);
	else
		fd = new_memfd(m->name, 0, SLOT_PAGES);
	if (fd < 0 && (m->flags & MT_PAGECACHE)) {
		snprintf(map_env_why, sizeof(map_env_why), ": a file in %s: %s",
			 opt.pagecache_dir, strerror(errno));
		return -EXIT_ENV;
	}
	if (fd < 0)
		return -EXIT_BUG;
	if (fill_file(fd, npages, m->flags & MT_SPARSE)) {
		close(fd);
		return -EXIT_BUG;
	}
	return fd;
}

/*
 * Map @npages of type @t at the start of slot @s. Returns 0, -EXIT_ENV
 * when a resource is missing (hugetlb pages), -EXIT_BUG otherwise.
 */
int map_slot(int s, enum mtype t, long npages)
{
	unsigned int mt = mtypes[t].flags;
	int prot = PROT_READ | PROT_WRITE, flags = MAP_FIXED_NOREPLACE, fd = -1;
	char *want = pa(s, 0), *got;

	if (mt & (MT_MEMFD | MT_PAGECACHE)) {
		fd = backing_file(t, npages);
		if (fd < 0)
			return fd;
	} else {
		flags |= MAP_ANONYMOUS | (mt & MT_HUGETLB ? MAP_HUGETLB : 0);
	}
	flags |= mt & MT_SHARED ? MAP_SHARED : MAP_PRIVATE;
	got = mmap(want, npages * PAGE, prot, flags, fd, 0);
	if (got != want) {
		if (fd >= 0)
			close(fd);
		return mt & MT_HUGETLB ? -EXIT_ENV : -EXIT_BUG;
	}
	if (!(mt & MT_HUGETLB) &&
	    madvise(got, npages * PAGE, mt & MT_THP ? MADV_HUGEPAGE : MADV_NOHUGEPAGE))
		return -EXIT_BUG;
	slots[s].used = true;
	slots[s].type = t;
	slots[s].fd = fd;
	slots[s].pgoff = 0;
	memset(slots[s].pg, 0, sizeof(slots[s].pg));
	memset(slots[s].pg, PG_MAPPED | PG_READ | PG_WRITE, npages);
	mark_edges(s, 0, npages);
	/*
	 * fork() copies the page tables of a VMA only if it has an anon_vma
	 * (or uffd-wp, which the child lacks). A write gives a private VMA
	 * its anon_vma now, and every VMA split from it shares that, so what
	 * the child sees does not depend on how a kernel merges VMAs.
	 */
	if (!(flags & MAP_SHARED))
		*(volatile char *)got = (char)wval();
	return 0;
}

/* Register pages [0, @npages) of slot @s for uffd-wp. */
int register_slot(int s, long npages)
{
	int ret = uffd_register(pa(s, 0), npages * PAGE);

	if (!ret)
		set_flags(s, 0, npages, PG_REG, 0);
	return ret;
}

/*
 * The arena: ARENA_SIZE bytes at the start of a 1G-aligned, 1G region
 * whose last page holds an inaccessible anchor mapping.
 *
 * PAGEMAP_SCAN tells a range without a page table from empty entries of
 * one (in a VMA without async uffd-wp, and for hugetlb), so when page
 * tables are freed must not differ between kernels. The anchor keeps the
 * region's PMD table alive from the first fault on, whatever the kernel's
 * policy for freeing upper-level tables, and all slots share it.
 */
static int reserve_arena(void)
{
	unsigned long align = 1UL << 30;
	char *raw, *anchor;

	raw = mmap(NULL, 2 * align, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		return -1;
	arena = (char *)(((unsigned long)raw + align - 1) & ~(align - 1));
	/*
	 * Leave the arena unmapped: the mappings are placed with
	 * MAP_FIXED_NOREPLACE, and nothing in this process maps memory
	 * without an address after this point (no threads, no large
	 * malloc()s), so the gaps stay gaps.
	 */
	if (munmap(raw, 2 * align))
		return -1;
	anchor = mmap(arena + align - PAGE, PAGE, PROT_NONE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	return anchor == arena + align - PAGE ? 0 : -1;
}

/* The first mappings of a seed, one slot each, in this order. */
static const enum mtype first_types[] = {
	T_ANON, T_ANON, T_THP, T_SHMEM, T_FILE, T_HUGETLB, T_HUGETLB_SHARED,
	T_PAGECACHE, T_PAGECACHE_SHARED,
};

/* Does this run use mappings of type @t (--hugetlb, --pagecache)? */
bool type_on(enum mtype t)
{
	if (is_hugetlb(t))
		return opt.hugetlb;
	if (mtypes[t].flags & MT_PAGECACHE)
		return opt.pagecache;
	return true;
}

static int map_first(int s, enum mtype t)
{
	const char *name = mtypes[t].name;
	long n;
	int ret;

	if (t == T_THP)
		n = HPAGE_PAGES * (1 + below(2));
	else if (is_hugetlb(t))
		n = HPAGE_PAGES * (1 + below(3));
	else
		n = 8 + below(249);
	ret = map_slot(s, t, n);
	if (ret == -EXIT_ENV && is_hugetlb(t))
		return fail_env("mmap %s of %ld hugetlb pages", name, n / HPAGE_PAGES);
	if (ret)
		return ret == -EXIT_ENV ? fail_env("mmap %s%s", name, map_env_why) :
					  fail_bug(name);
	tr("map %d %s pages=%ld\n", s, name, n);
	return 0;
}

/*
 * The THP slot is written whole, so each 2M is one PMD-mapped THP, and
 * must be that before anything is traced: the environment decides
 * whether a THP can be allocated, not the kernel's ABI.
 */
static int make_thps(void)
{
	long len, p, kb, at;
	uint64_t sum;
	int s;

	for (s = 0; s < NR_SLOTS; s++) {
		if (!slots[s].used || !has(s, MT_THP))
			continue;
		len = mapped_len(s);
		for (p = 0; p < len; p += HPAGE_PAGES)
			access_pages(s, p, p + HPAGE_PAGES, 1, wval(), &at, &sum);
		kb = anon_huge_kb(pa(s, 0));
		if (kb != (long)(len * PAGE >> 10))
			return fail_env("THP not allocated (AnonHugePages %ld kB of %ld)",
					kb, (long)(len * PAGE >> 10));
	}
	/* From here on no THP is made and khugepaged leaves us alone. */
	if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0))
		return fail_bug("PR_SET_THP_DISABLE");
	return 0;
}

/* --pagecache: where its files go (pagecache.h), or the seed ends "env". */
static int find_pagecache_dir(void)
{
	char why[512];

	opt.pagecache_dir = pagecache_dir(why, sizeof(why));
	return opt.pagecache_dir ? 0 : fail_env("%s", why);
}

int setup(void)
{
	uint64_t features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_HUGETLBFS_SHMEM;
	bool unpop = chance(50);
	const char *why;
	size_t i;
	int s = 0, ret;

	if (unpop)
		features |= UFFD_FEATURE_WP_UNPOPULATED;
	ret = open_kernel(features, &why);
	if (ret == EXIT_UNSUPPORTED)
		tr("end unsupported %s\n", why);
	if (ret)
		return ret == EXIT_UNSUPPORTED ? ret : fail_bug(why);
	if (opt.pagecache && find_pagecache_dir())
		return EXIT_ENV;
	if (opt.swap && learn_zero_pfn())
		return fail_bug("zero page");
	if (opt.swap && !zero_pfn)
		return fail_env("--swap needs the PFNs in /proc/self/pagemap (root)");
	if (setup_scans())
		return fail_bug("mapping the edge array");
	if (reserve_arena())
		return fail_bug("reserving the arena");
	tr("uffd features=%s\n", unpop ? "async,unpopulated" : "async");

	for (i = 0; i < ARRAY_SIZE(first_types); i++) {
		if (!type_on(first_types[i]))
			continue;
		ret = map_first(s++, first_types[i]);
		if (ret)
			return ret;
	}
	ret = make_thps();
	if (ret)
		return ret;
	for (s = 0; s < NR_SLOTS; s++) {
		if (!slots[s].used || !chance(80))
			continue;
		ret = register_slot(s, mapped_len(s));
		tr("register %d -> %s\n", s, res(ret));
	}
	return 0;
}
