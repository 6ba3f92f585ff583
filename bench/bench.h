/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Write-tracking benchmarks: PAGEMAP_SCAN with asynchronous uffd-wp against
 * the older ways of finding the pages a program wrote (mprotect + SIGSEGV,
 * soft-dirty, synchronous uffd-wp).
 *
 * Every way of tracking is a struct tracker, each in its own file, driven
 * by the same write-watch cycle (cycle.c): write some pages, collect the
 * written ones (resetting the tracking), compare with what was written.
 *
 * Results go to stdout as one JSON object per line; progress goes to stderr.
 */
#ifndef __BENCH_H
#define __BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "pagemap_scan.h"
/*
 * The selftests' helpers (6.1's vm_util.c with the series' additions):
 * areas of each memory type, pagemap, soft-dirty and userfaultfd set-up,
 * and vmh_reason, the sentence that says why something failed.
 */
#include "vm_util.h"

/* What init() and the helpers return; a sentence in vmh_reason says why. */
enum {
	B_OK = 0,
	B_NA = 1,	/* not available on this kernel or machine */
	B_ERR = -1,	/* a failure that must be reported */
};

/*
 * The memory being tracked: MEM_ANON, MEM_SHMEM (a memfd mapped MAP_SHARED)
 * and MEM_PAGECACHE_SHARED (a file on a page-cache filesystem mapped
 * MAP_SHARED) in base pages, MEM_THP or MEM_HUGETLB. Tracking is per unit:
 * a base page, or a THP or hugetlb page (a write anywhere in a unit marks
 * it).
 */
struct region {
	enum mem_type kind;
	char *addr;
	size_t size;
	size_t unit;
	size_t nr_units;
	struct area area;	/* the mapping */
};

/*
 * Map @size bytes (rounded up to whole units) of @kind, written
 * (@populate) or never touched.
 */
int region_alloc(struct region *r, enum mem_type kind, size_t size,
		 bool populate);
void region_free(struct region *r);

/* The benchmark's name of @kind: anon, shmem, file, thp, hugetlb. */
const char *bench_mem_name(enum mem_type kind);

/*
 * Choose the directory of the page-cache files: $PMSCAN_PAGECACHE_DIR, else
 * /var/tmp or the current directory, the first on a filesystem whose files
 * live in the page cache (not tmpfs, ramfs or hugetlbfs). It is exported
 * as PMSCAN_PAGECACHE_DIR for the selftests' area_alloc(). Returns the
 * directory, or NULL with the reason in pagecache_reason.
 */
const char *pagecache_pick(void);
extern char pagecache_reason[256];
/* The filesystem type of the chosen directory ("ext4", "9p", ...). */
extern char pagecache_fs[64];

/*
 * One way of tracking written pages. The trackers share their set-up
 * (tracker.c): a byte a unit for the trackers that note writes themselves
 * (track_hits_*), a userfaultfd with the region registered (track_uffd_*).
 *
 * @init:	set up tracking of a populated region and arm it (every unit
 *		starts clean); B_OK, or B_NA/B_ERR with vmh_reason set.
 * @begin_cycle: called before a cycle's writes (may be NULL).
 * @collect:	store the indices of the units written since the last
 *		collect (or init) in @units, ascending, and reset tracking.
 *		Returns the count, or -1 with vmh_reason set.
 * @fini:	stop tracking; the region stays mapped and writable.
 */
struct tracker {
	const char *name;
	const char *desc;
	int (*init)(const struct region *r);
	void (*begin_cycle)(void);
	long (*collect)(size_t *units, size_t max);
	void (*fini)(void);
};

/* A tracker from its @prefix_init(), @prefix_collect() and @prefix_fini(). */
#define DEFINE_TRACKER(ident, prefix, label, what)			\
	const struct tracker ident = {					\
		.name = label, .desc = what, .init = prefix##_init,	\
		.collect = prefix##_collect, .fini = prefix##_fini,	\
	}

extern const struct tracker tracker_pagemap_scan;
extern const struct tracker tracker_mprotect;
extern const struct tracker tracker_soft_dirty;
extern const struct tracker tracker_uffd_wp_sync;

/* The trackers in reporting order; the first is the reference for ratios. */
extern const struct tracker *const trackers[];
extern const size_t nr_trackers;

/* The tracker's region and its notes: a byte a unit, set when written. */
extern const struct region *track_region;
extern unsigned char *track_hits;
int track_hits_init(const struct region *r);
/*
 * Store the noted units in @units (at most @max), clear the notes, and
 * call @rearm(first, n) for each run of n noted units from @first.
 */
long track_hits_collect(size_t *units, size_t max,
			int (*rearm)(size_t first, size_t n));
void track_hits_fini(void);
/*
 * A userfaultfd with @r registered for uffd-wp and write-protected, async
 * or sync: the fd, or -1 with vmh_reason set (B_NA when @r's memory
 * cannot be tracked so).
 */
int track_uffd_init(const struct region *r, bool async, int *status);

/* Environment */
long hugetlb_free(void);	/* free, unreserved hugetlb pages; -1 if unknown */
long smaps_kb(const void *addr, const char *field);

/* Read the entries of [addr, addr + len) into @buf: 0 or -errno. */
int pagemap_read(const void *addr, size_t len, uint64_t *buf);

/*
 * One PAGEMAP_SCAN over [start, end) in as many calls as the output needs:
 * each region found goes to @fn (return non-zero to stop, which is then
 * returned). Flags and masks as in struct pm_scan_arg; @vec/@vec_len is
 * the buffer of each call. Returns 0, the value @fn stopped with, or
 * -errno from the ioctl.
 *
 * A call that returns fewer regions than @vec_len walked the whole range
 * (with no max_pages, only a full vector stops a walk early), whatever
 * walk_end says: mainline (seen on 6.18) leaves walk_end where its
 * internal buffer last filled when a walk finds more than 512 regions, so
 * going on from walk_end would report some regions twice. Such calls are
 * counted in pagemap_scan_stale_walk_end.
 */
long pagemap_scan_all(__u64 start, __u64 end, __u64 flags, __u64 category_mask,
		      __u64 return_mask, struct page_region *vec, size_t vec_len,
		      int (*fn)(const struct page_region *pr, void *arg), void *arg);
extern unsigned long pagemap_scan_stale_walk_end;

/* Feature probes; each returns true or false and fills vmh_reason. */
bool have_pagemap_scan(void);
bool have_wp_async(void);
bool have_soft_dirty(void);

/* Measurement */
uint64_t now_ns(void);
uint64_t rng_next(uint64_t *state);

struct stats {
	size_t n;
	double median, min, max, mean;
};

/* Sorts @v in place. */
struct stats stats_of(double *v, size_t n);

/* Output: one JSON object per line on stdout. */
void json_begin(const char *type);
void json_str(const char *key, const char *val);
void json_int(const char *key, long long val);
void json_num(const char *key, double val);
void json_null(const char *key);
void json_bool(const char *key, bool val);
void json_stats(const char *prefix, const struct stats *s);
void json_end(void);

void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Benchmarks (cycle.c, scan.c, fault.c); each returns its error count. */
struct cycle_opts {
	enum mem_type kind;
	size_t size;
	const double *fracs;
	size_t nr_fracs;
	int runs;
	int cycles;
	uint64_t seed;
};

int bench_cycle(const struct cycle_opts *o);

struct scan_opts {
	const size_t *sparse;
	size_t nr_sparse;
	const size_t *dense;
	size_t nr_dense;
	int reps;
	uint64_t seed;
};

int bench_scan(const struct scan_opts *o);

struct fault_opts {
	size_t pages;
	int reps;
	uint64_t seed;
};

int bench_fault(const struct fault_opts *o);

/* Fill @perm[0..k) with k distinct values of [0, n), using @perm[0..n). */
void pick_units(size_t *perm, size_t n, size_t k, uint64_t *rng);

#endif /* __BENCH_H */
