// SPDX-License-Identifier: GPL-2.0
/*
 * nolostwrites - PAGEMAP_SCAN get+WP must never lose a write, nor report one
 * that did not happen, while writers, a scanner and background chaos race.
 *
 * Memory of each type (anon 4K, THP, shmem, hugetlb, and a file in the page
 * cache mapped privately and shared) is registered with an async
 * userfaultfd (WP_ASYNC | WP_UNPOPULATED) and write-protected once.
 * Writer threads then store into random pages; a scanner thread runs
 * get+WP (WP_MATCHING | CHECK_WPASYNC, category_mask = return_mask =
 * PAGE_IS_WRITTEN) over random sub-ranges with random vec_len and max_pages,
 * resuming from walk_end. After the writers stop, one final get+WP covers
 * everything, and the whole history is checked offline.
 *
 * Time is one global atomic counter ("ticks"). A write takes a tick `a`
 * before its store and a tick `b` after it (the atomic add orders the store
 * before it); the value stored is `a`. A scan takes `s0` before the ioctl
 * and `s1` after. A tracked granule is a 4K page (anon, THP, shmem) or a
 * huge page (hugetlb). For every granule g:
 *
 *  - a write W to g is "covered" by a report R of g when a(W) < s1(R): the
 *    store may have landed before R protected g. Racing writes may be
 *    reported by R or by the next report, both are fine.
 *  - LOST: a scan S walked g (g lies in [start, walk_end) of the call),
 *    did not report it, and some write W to g that no report so far covers
 *    finished before S began: b(W) < s0(S). The final scan starts after
 *    every write has finished, so every write must end up covered. Each
 *    (scan, granule) miss counts once.
 *  - PHANTOM: a report R of g is legitimate only if some write W to g
 *    started before R ended, a(W) < s1(R), and finished after the previous
 *    report R' of g began, b(W) > s0(R') (a write that finished before R'
 *    started was protected again by R'). A THP's async fault splits the PMD
 *    and unprotects only the written 4K page, so its neighbours must not be
 *    reported; hugetlb reports whole huge pages.
 *  - CONTENT: every writer owns one 8-byte slot per 4K page (its index);
 *    at the end each slot holds the value of that writer's last store, or
 *    0 if it never wrote there. Several writers thus fault on the same page
 *    at once without making the expected contents ambiguous.
 *
 * Chaos (on by default): mmap/munmap of other ranges, MADV_DONTNEED of
 * unrelated pages, mprotect toggling of an unrelated range, mprotect
 * RW <-> RW|EXEC of tracked sub-ranges (splits VMAs and THPs, must keep
 * every uffd-wp bit; all of the hugetlb area at once), fork() children that write their private copies of
 * tracked anon/THP pages and exit.
 *
 * Usage: nolostwrites [--seed S] [--writes N | --seconds T] [--threads N]
 *                     [--pages N] [--hugetlb-pages N] [--no-chaos]
 *                     [--types anon,thp,shmem,hugetlb,pagecache,pagecache-shared]
 *                     [--verbose]
 * The page-cache files are made in $PMSCAN_PAGECACHE_DIR, else the current
 * directory; on tmpfs (shmem, not the page cache) those types are skipped
 * with the reason. A kernel with async uffd-wp must register them: mainline
 * lets a WP_ASYNC context register WP-only on any VMA, so a refusal fails
 * that type.
 * Output: KTAP-ish, one result per memory type, then
 *   nolostwrites: seed S writes W lost L phantom P content-mismatch M ...
 * Exit status: 0 all good, 1 a check failed, 4 (KSFT_SKIP) unsupported.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "../kselftest.h"
#include "pagemap_scan.h"
#include "vm_util.h"
#include "prng.h"
#include "pagecache.h"

#define PS		4096UL
#define MAX_THREADS	64
#define VEC_MAX		512
#define NO_TICK		UINT64_MAX
#define SHOW_MAX	10

enum { T_ANON, T_THP, T_SHMEM, T_HUGETLB, T_PAGECACHE, T_PAGECACHE_SHARED, T_NR };

static const char * const type_names[T_NR] = {
	"anon", "thp", "shmem", "hugetlb", "pagecache", "pagecache-shared",
};
/* The types vm_util's area_alloc() makes; the page-cache ones are ours. */
static const enum mem_type type_mem[T_NR] = {
	MEM_ANON, MEM_THP, MEM_SHMEM, MEM_HUGETLB, MEM_FILE, MEM_FILE,
};

struct tracked {
	bool on;
	bool failed;		/* set-up failed where it must not: skip says why */
	char skip[256];
	struct area area;
	char *base;
	size_t pages;		/* 4K pages */
	size_t gran_pages;	/* 4K pages per tracked granule */
	size_t first_page;	/* global index of its first 4K page */
	size_t first_gran;	/* global index of its first granule */
	/* results */
	uint64_t writes, lost, phantom, mismatch, bad;
};

struct wlog {			/* one write */
	uint32_t page;		/* global 4K page index */
	uint32_t thread;
	uint64_t a, b;		/* ticks before and after the store */
};

struct slog {			/* one PAGEMAP_SCAN call */
	uint64_t s0, s1;
	uint32_t type;
	uint32_t walk_lo, walk_hi;	/* global 4K pages [lo, hi) walked */
	uint32_t reg_off, reg_n;	/* into regions[] */
};

struct rlog {			/* one reported region, global 4K pages */
	uint32_t lo, hi;
};

struct writer {
	pthread_t th;
	int id;
	uint64_t rng;
	uint64_t quota;
	struct wlog *log;
	size_t n, cap;
};

static struct tracked types[T_NR];
static size_t total_pages, total_grans;
static int nthreads = 3;
static uint64_t seed = 1;
static uint64_t writes_wanted = 1000000;
static double seconds;
static size_t opt_pages = 4096;
static size_t opt_hpages = 8;
static bool chaos = true, verbose, plant_lost, plant_no_wp;
static unsigned int type_filter = (1u << T_NR) - 1;

static uint64_t ticks = 1;	/* 0: before anything was logged */
static volatile int stop_writers, stop_rest;
static int pm_fd, uffd;
static struct timespec t_start;

static struct slog *scans;
static size_t nscans, scans_cap;
static struct rlog *regions;
static size_t nregions, regions_cap;
static uint64_t scan_errors, chaos_ops, forks, past_walk_end, hugetlb_cut;
static char scan_error_text[512];

/* main's own writes (the planted case), logged like a writer's */
static struct writer main_writer;

static uint64_t tick(void)
{
	return __atomic_fetch_add(&ticks, 1, __ATOMIC_SEQ_CST);
}

static double elapsed(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t_start.tv_sec) + (t.tv_nsec - t_start.tv_nsec) / 1e9;
}

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return p;
	*cap = *cap ? *cap * 2 : 4096;
	if (*cap < need)
		*cap = need;
	p = realloc(p, *cap * size);
	if (!p) {
		printf("Bail out! out of memory for the logs\n");
		exit(KSFT_FAIL);
	}
	return p;
}

static struct tracked *type_of_page(size_t page)
{
	int t;

	for (t = 0; t < T_NR; t++)
		if (types[t].on && page >= types[t].first_page &&
		    page < types[t].first_page + types[t].pages)
			return &types[t];
	return NULL;
}

static size_t gran_of(const struct tracked *tr, size_t page)
{
	return tr->first_gran + (page - tr->first_page) / tr->gran_pages;
}

static uint64_t *slot(const struct tracked *tr, size_t local_page, int thread)
{
	return (uint64_t *)(tr->base + local_page * PS) + thread;
}

/* ---- set-up ---------------------------------------------------------- */

static bool is_pagecache(int t)
{
	return t == T_PAGECACHE || t == T_PAGECACHE_SHARED;
}

/*
 * @pages of a new page-cache file (pagecache.h), mapped MAP_SHARED or
 * MAP_PRIVATE. The file is sparse: every page reads as zeroes, as the
 * writers' slots start.
 */
static int pagecache_area(struct area *a, bool shared, size_t pages, char *why,
			  size_t len)
{
	const char *dir = pagecache_dir(why, len);
	int fd;

	if (!dir)
		return VMH_SKIP;
	fd = pagecache_file(dir, pages * PS);
	if (fd < 0) {
		snprintf(why, len, "a file in %s: %s", dir, strerror(errno));
		return VMH_SKIP;
	}
	a->map = mmap(NULL, pages * PS, PROT_READ | PROT_WRITE,
		      shared ? MAP_SHARED : MAP_PRIVATE, fd, 0);
	if (a->map == MAP_FAILED) {
		snprintf(why, len, "mmap of a file in %s: %s", dir, strerror(errno));
		close(fd);
		return VMH_FAIL;
	}
	a->type = MEM_FILE;
	a->addr = a->map;
	a->size = a->map_size = pages * PS;
	a->psize = PS;
	a->fd = fd;
	return VMH_OK;
}

static int setup_type(int t)
{
	struct tracked *tr = &types[t];
	uint64_t rng = seed ^ (0x5eed0000ULL + t);
	size_t nr, i;
	int ret;

	if (t == T_HUGETLB) {
		if (!hugetlb_size()) {
			snprintf(tr->skip, sizeof(tr->skip), "hugetlb is not available");
			return VMH_SKIP;
		}
		/* Spare pages: a forked child makes the parent copy on write. */
		ret = hugetlb_ensure(opt_hpages + 4);
		if (ret) {
			snprintf(tr->skip, sizeof(tr->skip), "%s", vmh_reason);
			return ret;
		}
		nr = opt_hpages;
	} else if (t == T_THP) {
		nr = thp_size() ? (opt_pages * PS + thp_size() - 1) / thp_size() : 1;
	} else {
		nr = opt_pages;
	}
	if (is_pagecache(t)) {
		ret = pagecache_area(&tr->area, t == T_PAGECACHE_SHARED, nr, tr->skip,
				     sizeof(tr->skip));
		if (ret)
			return ret;
	} else {
		ret = area_alloc(&tr->area, type_mem[t], nr, false, 0);
		if (ret) {
			snprintf(tr->skip, sizeof(tr->skip), "%s", vmh_reason);
			return ret;
		}
	}
	tr->base = tr->area.addr;
	tr->pages = tr->area.size / PS;
	tr->gran_pages = t == T_HUGETLB ? tr->area.psize / PS : 1;

	/*
	 * Initial contents: every writer slot 0. THP areas come populated
	 * with a pattern: clear it (the THPs stay). Other types: a random
	 * half of the pages is populated by a write, a quarter of the rest
	 * read-faulted (the zero page for anon), the rest never touched, so
	 * the protection meets present pages, zero pages and empty entries.
	 */
	if (t == T_THP) {
		memset(tr->base, 0, tr->area.size);
	} else {
		for (i = 0; i < tr->pages; i += tr->gran_pages) {
			uint64_t r = rnd(&rng, 8);

			if (r < 4 || t == T_HUGETLB)
				memset(tr->base + i * PS, 0, tr->gran_pages * PS);
			else if (r < 5)
				(void)touch_read(tr->base + i * PS, PS);
		}
	}
	ret = uffd_register(uffd, tr->base, tr->area.size,
			    UFFDIO_REGISTER_MODE_WP, NULL);
	if (ret && is_pagecache(t)) {
		/* Async uffd-wp registers WP-only on any VMA (mainline 6.7+). */
		snprintf(tr->skip, sizeof(tr->skip), "UFFDIO_REGISTER(WP) of a "
			 "%s file mapping with UFFD_FEATURE_WP_ASYNC: %s (mainline "
			 "registers any VMA)", t == T_PAGECACHE ? "private" : "shared",
			 strerror(-ret));
		tr->failed = true;
		return VMH_SKIP;
	}
	if (ret) {
		snprintf(tr->skip, sizeof(tr->skip), "UFFDIO_REGISTER(WP) %s: %s",
			 type_names[t], strerror(-ret));
		return t == T_ANON ? VMH_FAIL : VMH_SKIP;
	}
	ret = uffd_wp(uffd, tr->base, tr->area.size, true);
	if (ret) {
		snprintf(tr->skip, sizeof(tr->skip), "UFFDIO_WRITEPROTECT %s: %s",
			 type_names[t], strerror(-ret));
		return VMH_FAIL;
	}
	return VMH_OK;
}

/* ---- writers --------------------------------------------------------- */

static void log_write(struct writer *w, size_t page, uint64_t a, uint64_t b)
{
	w->log = grow(w->log, &w->cap, w->n + 1, sizeof(*w->log));
	w->log[w->n++] = (struct wlog){ .page = page, .thread = w->id, .a = a, .b = b };
}

static void do_write(struct writer *w, struct tracked *tr, size_t local_page)
{
	uint64_t a, b;

	a = tick();
	__atomic_store_n(slot(tr, local_page, w->id), a, __ATOMIC_RELAXED);
	b = tick();
	log_write(w, tr->first_page + local_page, a, b);
}

static int enabled[T_NR], nenabled;

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint64_t done = 0;

	while (!stop_writers) {
		struct tracked *tr = &types[enabled[rnd(&w->rng, nenabled)]];
		size_t page = rnd(&w->rng, tr->pages);
		int burst = 1 + rnd(&w->rng, 4), i;

		/* Short bursts: the same page again, or its neighbours. */
		for (i = 0; i < burst; i++) {
			do_write(w, tr, page);
			if (rnd(&w->rng, 2) && page + 1 < tr->pages)
				page++;
		}
		done += burst;
		if (!seconds && done >= w->quota)
			break;
		if (seconds && !(done & 1023) && elapsed() >= seconds)
			break;
		if (!rnd(&w->rng, 64))
			sched_yield();
	}
	return NULL;
}

/* ---- the scanner ----------------------------------------------------- */

static struct page_region scan_vec[VEC_MAX];

/*
 * One get+WP call over [start, end) of @tr, logged; returns walk_end or 0
 * after an error (which is recorded).
 */
static uint64_t scan_once(struct tracked *tr, uint64_t start, uint64_t end,
			  uint64_t vec_len, uint64_t max_pages, bool final)
{
	uint64_t lo = (uint64_t)(unsigned long)tr->base;
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.flags = (plant_no_wp && !final ? 0 : PM_SCAN_WP_MATCHING) |
			 PM_SCAN_CHECK_WPASYNC,
		.start = start, .end = end,
		.vec = (uint64_t)(unsigned long)scan_vec, .vec_len = vec_len,
		.max_pages = max_pages,
		.category_mask = PAGE_IS_WRITTEN,
		.return_mask = PAGE_IS_WRITTEN,
	};
	uint64_t aligned_end = (end + PS - 1) & ~(PS - 1);
	struct slog *s;
	uint64_t s0, s1, wend;
	long ret, i;
	uint32_t last_hi;

	s0 = tick();
	ret = ioctl(pm_fd, PAGEMAP_SCAN, &arg);
	s1 = tick();
	if (ret < 0) {
		if (!scan_errors++)
			snprintf(scan_error_text, sizeof(scan_error_text),
				 "PAGEMAP_SCAN %s [%#" PRIx64 ", %#" PRIx64 ") vec_len %" PRIu64
				 " max_pages %" PRIu64 ": %s", type_names[tr - types],
				 start, end, vec_len, max_pages, strerror(errno));
		return 0;
	}
	wend = arg.walk_end;
	if (wend < start || wend > ((end + PS - 1) & ~(PS - 1)) || (wend & (PS - 1))) {
		if (!scan_errors++)
			snprintf(scan_error_text, sizeof(scan_error_text),
				 "PAGEMAP_SCAN %s [%#" PRIx64 ", %#" PRIx64 "): walk_end %#"
				 PRIx64 " outside the range", type_names[tr - types],
				 start, end, wend);
		return 0;
	}
	scans = grow(scans, &scans_cap, nscans + 1, sizeof(*scans));
	regions = grow(regions, &regions_cap, nregions + ret, sizeof(*regions));
	s = &scans[nscans++];
	*s = (struct slog){
		.s0 = s0, .s1 = s1, .type = tr - types,
		.walk_lo = tr->first_page + (start - lo) / PS,
		.walk_hi = tr->first_page + (wend - lo) / PS,
		.reg_off = nregions,
	};
	last_hi = s->walk_lo;
	for (i = 0; i < ret; i++) {
		struct page_region *r = &scan_vec[i];
		struct rlog rl;

		/*
		 * Mainline may report (and protect) hugetlb pages beyond
		 * walk_end: when the range starts inside a written huge
		 * page it sets walk_end to the start and walks on. Such
		 * reports count as reports; only [start, walk_end) counts
		 * as walked.
		 */
		if (r->end > wend)
			past_walk_end++;
		if (r->start < start || r->end > aligned_end || r->start >= r->end ||
		    ((r->start | r->end) & (PS - 1)) ||
		    r->categories != PAGE_IS_WRITTEN ||
		    ((r->start - lo) / PS % tr->gran_pages) ||
		    ((r->end - lo) / PS % tr->gran_pages)) {
			if (tr->bad++ < SHOW_MAX)
				printf("# %s: bad region [%#llx, %#llx) cat %#llx in scan [%#"
				       PRIx64 ", %#" PRIx64 ") walk_end %#" PRIx64 "\n",
				       type_names[tr - types], (unsigned long long)r->start,
				       (unsigned long long)r->end,
				       (unsigned long long)r->categories, start, end, wend);
			continue;
		}
		rl.lo = tr->first_page + (r->start - lo) / PS;
		rl.hi = tr->first_page + (r->end - lo) / PS;
		/* The planted bug: forget the first page of one final report. */
		if (final && plant_lost) {
			plant_lost = false;
			rl.lo += tr->gran_pages;
			if (rl.lo == rl.hi)
				continue;
		}
		regions[nregions++] = rl;
		s->reg_n++;
		last_hi = rl.hi;
	}
	/*
	 * Mainline's hugetlb walk with max_pages: a written huge page that
	 * no longer fits is backed out, walk_end set to its start, and the
	 * walk goes on; the next one that does not fit moves walk_end again,
	 * past written pages it did not report. Trust the walk only up to
	 * the last page it reported.
	 */
	if (tr->gran_pages > 1 && max_pages && s->walk_hi > last_hi) {
		s->walk_hi = last_hi;
		hugetlb_cut++;
	}
	return wend;
}

/* Cover [start, end) of @tr in resumed calls; stop when no progress. */
static void scan_range(struct tracked *tr, uint64_t start, uint64_t end,
		       uint64_t vec_len, uint64_t max_pages, bool final, int calls)
{
	uint64_t cur = start, aligned_end = (end + PS - 1) & ~(PS - 1);

	while (cur < aligned_end && calls-- > 0) {
		uint64_t wend = scan_once(tr, cur, end, vec_len, max_pages, final);

		if (wend <= cur)
			break;
		cur = wend;
	}
}

static void *scanner_main(void *arg)
{
	static const uint64_t vec_lens[] = { 1, 2, 3, 5, 8, 16, 64, VEC_MAX };
	uint64_t rng = seed ^ 0x5ca11e5ULL;

	(void)arg;
	while (!stop_rest) {
		struct tracked *tr = &types[enabled[rnd(&rng, nenabled)]];
		uint64_t lo = (uint64_t)(unsigned long)tr->base;
		size_t first = 0, len = tr->pages;
		uint64_t max_pages = 0, start, end;

		if (rnd(&rng, 8)) {
			first = rnd(&rng, tr->pages);
			/* log-uniform lengths: many short ranges, some long */
			len = 1 + rnd(&rng, 1 + ((tr->pages - first - 1) >> rnd(&rng, 12)));
		}
		start = lo + first * PS;
		end = lo + (first + len) * PS;
		if (!rnd(&rng, 4))
			end -= PS - 1 - rnd(&rng, PS - 1);	/* unaligned end */
		if (rnd(&rng, 2)) {
			max_pages = 1 + rnd(&rng, 64);
			if (tr->gran_pages > 1)
				max_pages = tr->gran_pages * (1 + rnd(&rng, 3)) +
					    rnd(&rng, 2) * rnd(&rng, tr->gran_pages);
		}
		scan_range(tr, start, end, vec_lens[rnd(&rng, 8)], max_pages,
			   false, 64);
	}
	return NULL;
}

/* ---- chaos ----------------------------------------------------------- */

static void child_writes(uint64_t r)
{
	int t = r & 1 ? T_THP : T_ANON;
	struct tracked *tr = &types[t];
	size_t page;

	/* Its own copy: must change nothing the parent tracks or reads. */
	if (!tr->on)
		_exit(0);
	page = (r >> 8) % tr->pages;
	*slot(tr, page, (r >> 4) % nthreads) = 0xdeadbeefULL;
	_exit(0);
}

static void *chaos_main(void *arg)
{
	uint64_t rng = seed ^ 0xc4a05ULL;
	size_t junk_pages = 256;
	char *junk, *guard;
	int ro = 0;

	(void)arg;
	junk = mmap(NULL, junk_pages * PS, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	guard = mmap(NULL, 64 * PS, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (junk == MAP_FAILED || guard == MAP_FAILED)
		return NULL;
	memset(junk, 1, junk_pages * PS);
	while (!stop_rest) {
		uint64_t r = splitmix(&rng);
		struct timespec pause = { .tv_nsec = 200000 };

		switch (r % 6) {
		case 0: {	/* mmap, touch, munmap (sometimes in two steps) */
			size_t n = 1 + (r >> 8) % 128;
			int shared = (r >> 16) & 1;
			char *p = mmap(NULL, n * PS, PROT_READ | PROT_WRITE,
				       (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS,
				       -1, 0);

			if (p == MAP_FAILED)
				break;
			memset(p, 2, n * PS);
			if (n > 2 && (r >> 17) & 1)
				munmap(p + PS, PS);
			munmap(p, n * PS);
			break;
		}
		case 1: {	/* MADV_DONTNEED of unrelated pages */
			size_t off = (r >> 8) % junk_pages, n = 1 + (r >> 20) % 32;

			if (off + n > junk_pages)
				n = junk_pages - off;
			if (!ro)
				memset(junk + off * PS, 3, n * PS);
			madvise(junk + off * PS, n * PS, MADV_DONTNEED);
			break;
		}
		case 2:		/* mprotect toggling of an unrelated range */
			ro = !ro;
			mprotect(junk, junk_pages * PS,
				 ro ? PROT_READ : PROT_READ | PROT_WRITE);
			break;
		case 3: {	/* RW -> RW|EXEC -> RW over tracked pages */
			struct tracked *tr = &types[enabled[(r >> 8) % nenabled]];
			size_t g = tr->gran_pages, first, n;

			first = (r >> 16) % (tr->pages / g) * g;
			n = (1 + (r >> 32) % 16) * g;
			if (first + n > tr->pages)
				n = tr->pages - first;
			/*
			 * hugetlb: the whole area, never a split. Splitting a
			 * hugetlb VMA makes 6.1.192 itself warn under lockdep
			 * (hugetlb_split() before i_mmap_rwsem is taken; see
			 * hugetlb_split_lockdep.c), which would hide any
			 * report of ours on the debug kernel.
			 */
			if (tr == &types[T_HUGETLB]) {
				first = 0;
				n = tr->pages;
			}
			if (mprotect(tr->base + first * PS, n * PS,
				     PROT_READ | PROT_WRITE | PROT_EXEC) == 0) {
				nanosleep(&pause, NULL);
				mprotect(tr->base + first * PS, n * PS,
					 PROT_READ | PROT_WRITE);
			}
			break;
		}
		case 4: {	/* fork a child that writes its copy and exits */
			pid_t pid = fork();

			if (pid == 0)
				child_writes(r >> 8);
			if (pid > 0) {
				waitpid(pid, NULL, 0);
				forks++;
			}
			break;
		}
		case 5:		/* a few unrelated pages come and go */
			munmap(guard, 64 * PS);
			guard = mmap(NULL, 64 * PS, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (guard != MAP_FAILED)
				memset(guard, 4, 64 * PS);
			else
				guard = NULL;
			break;
		}
		chaos_ops++;
		if (!guard)
			break;
		nanosleep(&pause, NULL);
	}
	if (guard)
		munmap(guard, 64 * PS);
	munmap(junk, junk_pages * PS);
	return NULL;
}

/* ---- the check ------------------------------------------------------- */

static int cmp_wlog(const void *x, const void *y)
{
	const struct wlog *a = x, *b = y;

	return a->a < b->a ? -1 : a->a > b->a;
}

struct gstate {
	uint64_t max_done;	/* max b of the writes added so far */
	uint64_t uncov_min_done;	/* min b of the uncovered writes */
	uint64_t uncov_first_a;	/* a of that write, for the report */
	uint64_t prev_s0;	/* s0 of the previous report, 0: none */
	uint64_t stamp;		/* scan index + 1 that reported it */
};

static void check(struct wlog *w, size_t nw)
{
	struct gstate *g = calloc(total_grans, sizeof(*g));
	size_t wi = 0, k, i;

	if (!g) {
		printf("Bail out! out of memory for the check\n");
		exit(KSFT_FAIL);
	}
	for (i = 0; i < total_grans; i++)
		g[i].uncov_min_done = NO_TICK;
	qsort(w, nw, sizeof(*w), cmp_wlog);

	for (k = 0; k < nscans; k++) {
		struct slog *s = &scans[k];
		struct tracked *tr = &types[s->type];
		size_t gi, p;

		/* Every write that started before this scan ended. */
		for (; wi < nw && w[wi].a < s->s1; wi++) {
			struct tracked *wt = type_of_page(w[wi].page);
			struct gstate *x = &g[gran_of(wt, w[wi].page)];

			if (w[wi].b > x->max_done)
				x->max_done = w[wi].b;
			if (x->uncov_min_done == NO_TICK) {
				x->uncov_min_done = w[wi].b;
				x->uncov_first_a = w[wi].a;
			} else if (w[wi].b < x->uncov_min_done) {
				x->uncov_min_done = w[wi].b;
			}
		}
		for (i = 0; i < s->reg_n; i++) {
			struct rlog *r = &regions[s->reg_off + i];

			for (p = r->lo; p < r->hi; p += tr->gran_pages) {
				struct gstate *x = &g[gi = gran_of(tr, p)];

				if (x->stamp == k + 1)
					continue;
				x->stamp = k + 1;
				if (x->max_done <= x->prev_s0) {
					if (tr->phantom++ < SHOW_MAX)
						printf("# %s: PHANTOM page %zu reported by scan %zu "
						       "(ticks %" PRIu64 "-%" PRIu64 "): last write "
						       "finished at %" PRIu64 ", previous report began "
						       "at %" PRIu64 "\n", type_names[s->type],
						       p - tr->first_page, k, s->s0, s->s1,
						       x->max_done, x->prev_s0);
				}
				x->prev_s0 = s->s0;
				x->uncov_min_done = NO_TICK;
			}
		}
		/* Walked, not reported: nothing may be waiting from before s0. */
		for (p = s->walk_lo; p < s->walk_hi; p++) {
			size_t local = p - tr->first_page;
			struct gstate *x;

			if (local % tr->gran_pages ||
			    p + tr->gran_pages > s->walk_hi)
				continue;
			x = &g[gran_of(tr, p)];
			if (x->stamp == k + 1 || x->uncov_min_done >= s->s0)
				continue;
			if (tr->lost++ < SHOW_MAX)
				printf("# %s: LOST write to page %zu: written at ticks %" PRIu64
				       "..%" PRIu64 ", scan %zu (ticks %" PRIu64 "-%" PRIu64
				       ") walked [%zu, %zu) and did not report it\n",
				       type_names[s->type], local, x->uncov_first_a,
				       x->uncov_min_done, k, s->s0, s->s1,
				       (size_t)s->walk_lo - tr->first_page,
				       (size_t)s->walk_hi - tr->first_page);
			x->uncov_min_done = NO_TICK;
		}
	}
	/* Writes that no scan ever walked after them (cannot happen: the
	 * final scan walks everything) would show here. */
	for (; wi < nw; wi++) {
		struct tracked *wt = type_of_page(w[wi].page);

		if (wt->lost++ < SHOW_MAX)
			printf("# %s: LOST write to page %zu after the final scan\n",
			       type_names[wt - types], w[wi].page - wt->first_page);
	}
	free(g);
}

/* Every slot holds its writer's last value. */
static void check_contents(struct wlog *w, size_t nw)
{
	uint64_t *last = calloc(total_pages * nthreads, sizeof(*last));
	size_t i, p;
	int t;

	if (!last) {
		printf("Bail out! out of memory for the contents check\n");
		exit(KSFT_FAIL);
	}
	/* sorted by a: the last write of each slot is the last one seen */
	for (i = 0; i < nw; i++)
		last[(size_t)w[i].page * nthreads + w[i].thread] = w[i].a;
	for (t = 0; t < T_NR; t++) {
		struct tracked *tr = &types[t];

		if (!tr->on)
			continue;
		for (p = 0; p < tr->pages; p++) {
			int th;

			for (th = 0; th < nthreads; th++) {
				uint64_t want = last[(tr->first_page + p) * nthreads + th];
				uint64_t got = *slot(tr, p, th);

				if (got == want)
					continue;
				if (tr->mismatch++ < SHOW_MAX)
					printf("# %s: page %zu slot %d holds %#" PRIx64
					       ", the last write stored %#" PRIx64 "\n",
					       type_names[t], p, th, got, want);
			}
		}
	}
	free(last);
}

/* ---- main ------------------------------------------------------------ */

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [--seed S] [--writes N | --seconds T] [--threads N]\n"
		"       [--pages N] [--hugetlb-pages N]\n"
		"       [--types anon,thp,shmem,hugetlb,pagecache,pagecache-shared]\n"
		"       [--no-chaos] [--verbose]\n", prog);
	exit(2);
}

static unsigned int parse_types(const char *s)
{
	unsigned int mask = 0;
	char *copy = strdup(s), *tok, *save = NULL;
	int t;

	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		for (t = 0; t < T_NR; t++)
			if (!strcmp(tok, type_names[t]))
				mask |= 1u << t;
		if (!mask)
			usage("nolostwrites");
	}
	free(copy);
	return mask;
}

static void parse_args(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--no-chaos")) {
			chaos = false;
		} else if (!strcmp(a, "--chaos")) {
			chaos = true;
		} else if (!strcmp(a, "--verbose")) {
			verbose = true;
		} else if (!strcmp(a, "--plant-lost-write")) {
			plant_lost = true;	/* test-only: the checker must fail */
		} else if (!strcmp(a, "--plant-no-wp")) {
			plant_no_wp = true;	/* test-only: reports repeat: phantoms */
		} else if (!v) {
			usage(argv[0]);
		} else if (!strcmp(a, "--seed")) {
			seed = strtoull(v, NULL, 0), i++;
		} else if (!strcmp(a, "--writes")) {
			writes_wanted = strtoull(v, NULL, 0), i++;
		} else if (!strcmp(a, "--seconds")) {
			seconds = strtod(v, NULL), i++;
		} else if (!strcmp(a, "--threads")) {
			nthreads = atoi(v), i++;
		} else if (!strcmp(a, "--pages")) {
			opt_pages = strtoul(v, NULL, 0), i++;
		} else if (!strcmp(a, "--hugetlb-pages")) {
			opt_hpages = strtoul(v, NULL, 0), i++;
		} else if (!strcmp(a, "--types")) {
			type_filter = parse_types(v), i++;
		} else {
			usage(argv[0]);
		}
	}
	if (nthreads < 1 || nthreads > MAX_THREADS || opt_pages < 16 ||
	    opt_pages > (1u << 24) || opt_hpages < 1)
		usage(argv[0]);
}

int main(int argc, char **argv)
{
	struct writer ws[MAX_THREADS];
	pthread_t scanner, chaos_th;
	uint64_t features, total_writes = 0, lost = 0, phantom = 0, mismatch = 0, bad = 0;
	struct wlog *all;
	size_t nall = 0;
	int t, i, failed = 0, nfail = 0, num = 0, skipped = 0;
	int64_t adv;
	double run_s;

	parse_args(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n");

	pm_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pm_fd < 0 || pagemap_scan_supported(pm_fd) != 1) {
		printf("1..0 # SKIP PAGEMAP_SCAN is not supported by this kernel\n");
		return KSFT_SKIP;
	}
	adv = uffd_api_features();
	features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED;
	if (adv < 0 || ((uint64_t)adv & features) != features) {
		printf("1..0 # SKIP async uffd-wp (WP_ASYNC|WP_UNPOPULATED) is not advertised\n");
		return KSFT_SKIP;
	}
	if ((uint64_t)adv & UFFD_FEATURE_WP_HUGETLBFS_SHMEM)
		features |= UFFD_FEATURE_WP_HUGETLBFS_SHMEM;
	uffd = uffd_open(features, true);
	if (uffd < 0) {
		printf("Bail out! userfaultfd with async WP: %s\n", strerror(-uffd));
		return KSFT_FAIL;
	}

	printf("1..%d\n", T_NR);
	printf("# seed %" PRIu64 " threads %d %s %s\n", seed, nthreads,
	       seconds ? "seconds" : "writes", chaos ? "chaos on" : "chaos off");
	for (t = 0; t < T_NR; t++) {
		struct tracked *tr = &types[t];
		int ret;

		if (!(type_filter & (1u << t))) {
			snprintf(tr->skip, sizeof(tr->skip), "not selected (--types)");
			continue;
		}
		if ((t == T_SHMEM || t == T_HUGETLB) &&
		    !(features & UFFD_FEATURE_WP_HUGETLBFS_SHMEM)) {
			snprintf(tr->skip, sizeof(tr->skip),
				 "UFFD_FEATURE_WP_HUGETLBFS_SHMEM is not advertised");
			continue;
		}
		ret = setup_type(t);
		if (ret == VMH_FAIL) {
			printf("Bail out! %s: %s\n", type_names[t], tr->skip);
			return KSFT_FAIL;
		}
		if (ret)
			continue;
		tr->on = true;
		tr->first_page = total_pages;
		tr->first_gran = total_grans;
		total_pages += tr->pages;
		total_grans += tr->pages / tr->gran_pages;
		enabled[nenabled++] = t;
	}
	if (!nenabled) {
		printf("# no memory type could be set up\n");
		for (t = 0; t < T_NR; t++) {
			printf("%s %d %s # %s%s\n", types[t].failed ? "not ok" : "ok",
			       t + 1, type_names[t], types[t].failed ? "" : "SKIP ",
			       types[t].skip);
			failed |= types[t].failed;
		}
		return failed ? KSFT_FAIL : KSFT_SKIP;
	}

	clock_gettime(CLOCK_MONOTONIC, &t_start);
	for (i = 0; i < nthreads; i++) {
		ws[i] = (struct writer){ .id = i, .rng = seed * 1000003ULL + i,
					 .quota = writes_wanted / nthreads +
						  (i < (int)(writes_wanted % nthreads)) };
		if (pthread_create(&ws[i].th, NULL, writer_main, &ws[i])) {
			printf("Bail out! pthread_create\n");
			return KSFT_FAIL;
		}
	}
	pthread_create(&scanner, NULL, scanner_main, NULL);
	if (chaos)
		pthread_create(&chaos_th, NULL, chaos_main, NULL);
	for (i = 0; i < nthreads; i++)
		pthread_join(ws[i].th, NULL);
	stop_writers = 1;
	stop_rest = 1;
	pthread_join(scanner, NULL);
	if (chaos)
		pthread_join(chaos_th, NULL);

	/*
	 * The planted case: one write after the scanner stopped, so the final
	 * scan has something to report, of which one page is then dropped.
	 */
	main_writer.id = 0;
	if (plant_lost)
		do_write(&main_writer, &types[enabled[0]], 0);

	/* The final get+WP over everything, after every write finished. */
	for (i = 0; i < nenabled; i++) {
		struct tracked *tr = &types[enabled[i]];
		uint64_t lo = (uint64_t)(unsigned long)tr->base;

		scan_range(tr, lo, lo + tr->pages * PS, VEC_MAX, 0, true, 1 << 20);
	}
	run_s = elapsed();

	for (i = 0; i < nthreads; i++)
		nall += ws[i].n;
	nall += main_writer.n;
	all = malloc((nall + 1) * sizeof(*all));
	if (!all) {
		printf("Bail out! out of memory\n");
		return KSFT_FAIL;
	}
	nall = 0;
	for (i = 0; i < nthreads; i++) {
		memcpy(all + nall, ws[i].log, ws[i].n * sizeof(*all));
		nall += ws[i].n;
		free(ws[i].log);
	}
	memcpy(all + nall, main_writer.log, main_writer.n * sizeof(*all));
	nall += main_writer.n;
	for (i = 0; i < (int)nall; i++)
		type_of_page(all[i].page)->writes++;

	check(all, nall);
	check_contents(all, nall);

	if (scan_errors)
		printf("# scan errors: %" PRIu64 ", the first: %s\n", scan_errors,
		       scan_error_text);
	for (t = 0; t < T_NR; t++) {
		struct tracked *tr = &types[t];
		bool ok;

		num++;
		if (tr->failed) {
			printf("not ok %d %s # %s\n", num, type_names[t], tr->skip);
			failed = 1;
			nfail++;
			continue;
		}
		if (!tr->on) {
			printf("ok %d %s # SKIP %s\n", num, type_names[t], tr->skip);
			skipped++;
			continue;
		}
		ok = !tr->lost && !tr->phantom && !tr->mismatch && !tr->bad;
		printf("%s %d %s # writes %" PRIu64 " lost %" PRIu64 " phantom %" PRIu64
		       " content-mismatch %" PRIu64 " bad-regions %" PRIu64 "\n",
		       ok ? "ok" : "not ok", num, type_names[t], tr->writes, tr->lost,
		       tr->phantom, tr->mismatch, tr->bad);
		failed |= !ok;
		nfail += !ok;
		total_writes += tr->writes;
		lost += tr->lost;
		phantom += tr->phantom;
		mismatch += tr->mismatch;
		bad += tr->bad;
	}
	failed |= scan_errors != 0;
	if (past_walk_end || hugetlb_cut)
		printf("# hugetlb walk_end: %" PRIu64 " regions reported beyond it, %"
		       PRIu64 " max_pages walks trusted only up to their last report\n",
		       past_walk_end, hugetlb_cut);
	printf("# scans %zu regions %zu chaos-ops %" PRIu64 " forks %" PRIu64
	       " seconds %.2f writes/s %.0f\n", nscans, nregions, chaos_ops, forks,
	       run_s, total_writes / (run_s > 0 ? run_s : 1));
	printf("nolostwrites: seed %" PRIu64 " writes %" PRIu64 " lost %" PRIu64
	       " phantom %" PRIu64 " content-mismatch %" PRIu64 " bad-regions %" PRIu64
	       " scan-errors %" PRIu64 "\n", seed, total_writes, lost, phantom,
	       mismatch, bad, scan_errors);
	printf("# Totals: pass:%d fail:%d skip:%d\n", num - nfail - skipped, nfail,
	       skipped);
	if (verbose)
		printf("# ticks %" PRIu64 "\n", ticks);
	return failed ? KSFT_FAIL : KSFT_PASS;
}
