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

#ifndef UFFD_FEATURE_WP_HUGETLBFS_SHMEM
#define UFFD_FEATURE_WP_HUGETLBFS_SHMEM	(1 << 12)
#endif

/* /proc/<pid>/pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst) */
#define PME_PRESENT	(1ULL << 63)
#define PME_SWAP	(1ULL << 62)
#define PME_UFFD_WP	(1ULL << 57)
#define PME_SOFT_DIRTY	(1ULL << 55)

/* What init() and the helpers return; a sentence in bench_reason says why. */
enum {
	B_OK = 0,
	B_NA = 1,	/* not available on this kernel or machine */
	B_ERR = -1,	/* a failure that must be reported */
};

extern char bench_reason[256];
int set_reason(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

enum mem_kind {
	MEM_ANON,	/* private anonymous memory in base pages (no THP) */
	MEM_THP,	/* private anonymous memory in PMD-mapped THPs */
	MEM_HUGETLB,	/* private anonymous MAP_HUGETLB memory */
};

const char *mem_kind_name(enum mem_kind kind);

/*
 * The memory being tracked. Tracking is per unit: a base page for MEM_ANON,
 * a THP or hugetlb page otherwise (a write anywhere in a unit marks it).
 */
struct region {
	enum mem_kind kind;
	char *addr;
	size_t size;
	size_t unit;
	size_t nr_units;
	char *map;		/* what region_free() unmaps */
	size_t map_size;
};

/* Map and populate (write every base page of) a region of @size bytes. */
int region_alloc(struct region *r, enum mem_kind kind, size_t size);
void region_free(struct region *r);

/*
 * One way of tracking written pages.
 *
 * @init:	set up tracking of a populated region and arm it (every unit
 *		starts clean); B_OK, or B_NA/B_ERR with bench_reason set.
 * @begin_cycle: called before a cycle's writes (may be NULL).
 * @collect:	store the indices of the units written since the last
 *		collect (or init) in @units, ascending, and reset tracking.
 *		Returns the count, or -1 with bench_reason set.
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

extern const struct tracker tracker_pagemap_scan;
extern const struct tracker tracker_mprotect;
extern const struct tracker tracker_soft_dirty;
extern const struct tracker tracker_uffd_wp_sync;

/* The trackers in reporting order; the first is the reference for ratios. */
extern const struct tracker *const trackers[];
extern const size_t nr_trackers;

/* Environment */
size_t page_size(void);
size_t thp_size(void);		/* 0: no THP */
size_t hugetlb_size(void);	/* 0: no hugetlb */
long hugetlb_free(void);	/* free, unreserved hugetlb pages; -1 if unknown */
long smaps_kb(const void *addr, const char *field);

/* /proc/self/pagemap, opened once */
int pagemap_fd(void);
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

/* Feature probes; each returns true or false and fills bench_reason. */
bool have_pagemap_scan(void);
bool have_wp_async(void);
bool have_soft_dirty(void);
int clear_soft_dirty(void);

/* userfaultfd */
int64_t uffd_features(void);	/* advertised features, or -errno */
int uffd_open(uint64_t features, bool nonblock);	/* fd or -errno */
int uffd_register_wp(int uffd, const void *addr, size_t len);
int uffd_wp_range(int uffd, const void *addr, size_t len, bool protect);
/* Features a WP registration of @kind needs. */
uint64_t uffd_wp_features(enum mem_kind kind);

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
	enum mem_kind kind;
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
