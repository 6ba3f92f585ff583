// SPDX-License-Identifier: GPL-2.0
/*
 * Shared pieces of the write-tracking benchmarks: regions (on the
 * selftests' areas), feature probes, statistics and the JSON lines on
 * stdout.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include "bench.h"

long hugetlb_free(void)
{
	long nfree = proc_field("/proc/meminfo", "HugePages_Free:");
	long rsvd = proc_field("/proc/meminfo", "HugePages_Rsvd:");

	/* Reserved pages are free but promised to another mapping. */
	return nfree < 0 ? nfree : nfree - (rsvd > 0 ? rsvd : 0);
}

long smaps_kb(const void *addr, const char *field)
{
	char line[512];
	char *val = __get_smap_entry((void *)addr, field, line, sizeof(line));

	return val ? strtol(val, NULL, 10) : -1;
}

const char *bench_mem_name(enum mem_type kind)
{
	return kind == MEM_PAGECACHE_SHARED ? "file" : mem_type_name(kind);
}

char pagecache_reason[256];
char pagecache_fs[64];
static const char *pagecache_chosen;

/* Filesystems by statfs() magic; @page_cache false for those without. */
static const struct {
	unsigned long magic;
	const char *name;
	bool page_cache;
} filesystems[] = {
	{ 0xef53, "ext4", true },		/* EXT4_SUPER_MAGIC (ext2/3 too) */
	{ 0x58465342, "xfs", true },
	{ 0x9123683e, "btrfs", true },
	{ 0x01021997, "9p", true },		/* V9FS_MAGIC */
	{ 0x794c7630, "overlay", true },
	{ 0x65735546, "fuse", true },
	{ 0x6969, "nfs", true },
	{ 0x01021994, "tmpfs", false },
	{ 0x858458f6, "ramfs", false },
	{ 0x958458f6, "hugetlbfs", false },
};

/*
 * The type of the filesystem mounted at or above @dir, from the mount table
 * (the last of stacked mounts): statfs() would not do, 9p passes the
 * host's filesystem's through. False if the table cannot be read.
 */
static bool mounted_fs_of(const char *dir, char *name, size_t len)
{
	char path[4096], mnt[4096], type[64], line[8192];
	size_t best = 0, n;
	bool found = false;
	FILE *f;

	if (!realpath(dir, path))
		return false;
	f = fopen("/proc/self/mounts", "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*s %4095s %63s", mnt, type) != 2)
			continue;
		n = strlen(mnt);
		if (strncmp(path, mnt, n) ||
		    (n > 1 && path[n] && path[n] != '/') || n < best)
			continue;
		best = n;
		snprintf(name, len, "%s", type);
		found = true;
	}
	fclose(f);
	return found;
}

/* The type of @dir's filesystem in @name; false if it has no page cache. */
static bool pagecache_fs_of(const char *dir, char *name, size_t len)
{
	struct statfs fs;
	size_t i;

	if (statfs(dir, &fs)) {
		snprintf(name, len, "%s", strerror(errno));
		return false;
	}
	if (mounted_fs_of(dir, name, len))
		return strcmp(name, "tmpfs") && strcmp(name, "ramfs") &&
		       strcmp(name, "hugetlbfs");
	for (i = 0; i < sizeof(filesystems) / sizeof(filesystems[0]); i++) {
		if ((unsigned long)fs.f_type == filesystems[i].magic) {
			snprintf(name, len, "%s", filesystems[i].name);
			return filesystems[i].page_cache;
		}
	}
	/* Other filesystems (f2fs, ...) keep their files in the page cache too. */
	snprintf(name, len, "0x%lx", (unsigned long)fs.f_type);
	return true;
}

const char *pagecache_pick(void)
{
	const char *given = getenv("PMSCAN_PAGECACHE_DIR");
	const char *const fallbacks[] = { "/var/tmp", "." };
	char seen[200] = "";
	size_t i;

	if (pagecache_chosen || pagecache_reason[0])
		return pagecache_chosen;
	if (given && *given) {
		if (pagecache_fs_of(given, pagecache_fs, sizeof(pagecache_fs)) &&
		    !access(given, W_OK | X_OK))
			return pagecache_chosen = given;
		snprintf(pagecache_reason, sizeof(pagecache_reason),
			 "PMSCAN_PAGECACHE_DIR=%s is not a writable directory on a page-cache filesystem (%s): point it at one on ext4, xfs, btrfs, ...",
			 given, pagecache_fs);
		return NULL;
	}
	for (i = 0; i < sizeof(fallbacks) / sizeof(fallbacks[0]); i++) {
		if (pagecache_fs_of(fallbacks[i], pagecache_fs, sizeof(pagecache_fs)) &&
		    !access(fallbacks[i], W_OK | X_OK)) {
			setenv("PMSCAN_PAGECACHE_DIR", fallbacks[i], 1);
			return pagecache_chosen = fallbacks[i];
		}
		snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), "%s%s on %s",
			 i ? ", " : "", fallbacks[i], pagecache_fs);
	}
	pagecache_fs[0] = 0;
	snprintf(pagecache_reason, sizeof(pagecache_reason),
		 "no writable directory on a page-cache filesystem (PMSCAN_PAGECACHE_DIR unset; %s): set PMSCAN_PAGECACHE_DIR to one on ext4, xfs, btrfs, ...",
		 seen);
	return NULL;
}

/*
 * Write the first byte of every page of a shared mapping: a write fault
 * each, which for a file allocates its blocks (page_mkwrite), so that every
 * page is present, writable and dirty before tracking starts.
 */
static void populate_shared(struct region *r)
{
	size_t off;

	for (off = 0; off < r->size; off += psize())
		r->addr[off] = (char)(off / psize());
}

int region_alloc(struct region *r, enum mem_type kind, size_t size,
		 bool populate)
{
	size_t unit = kind == MEM_THP ? thp_size() :
		      kind == MEM_HUGETLB ? hugetlb_size() : psize();
	bool shared = kind == MEM_SHMEM || kind == MEM_PAGECACHE_SHARED;
	int ret;

	memset(r, 0, sizeof(*r));
	r->kind = kind;
	if (!unit)
		return vmh_set_reason(B_NA, "no %s memory on this kernel or machine",
				      mem_type_name(kind));
	if (kind == MEM_PAGECACHE_SHARED && !pagecache_pick())
		return vmh_set_reason(B_NA, "%s", pagecache_reason);
	/* Shared memory is populated below, once it cannot become huge. */
	ret = area_alloc(&r->area, kind, (size + unit - 1) / unit,
			 populate && !shared, 1);
	if (ret == VMH_SKIP && kind == MEM_HUGETLB)
		return vmh_set_reason(B_NA, "%s (%ld free and unreserved hugetlb pages)",
				      vmh_reason, hugetlb_free());
	if (ret)
		return ret == VMH_SKIP ? B_NA : B_ERR;
	r->addr = r->area.addr;
	r->size = r->area.size;
	r->unit = unit;
	r->nr_units = r->size / unit;
	if (shared) {
		/* Base pages: shmem_enabled=always would give THPs. */
		madvise(r->addr, r->size, MADV_NOHUGEPAGE);
		if (populate)
			populate_shared(r);
		if (smaps_kb(r->addr, kind == MEM_SHMEM ? "ShmemPmdMapped:" :
			     "FilePmdMapped:") > 0) {
			region_free(r);
			return vmh_set_reason(B_NA, "%s memory is PMD-mapped despite MADV_NOHUGEPAGE (shmem_enabled=force?): not base pages",
					      bench_mem_name(kind));
		}
	}
	return B_OK;
}

void region_free(struct region *r)
{
	area_free(&r->area);
	r->addr = NULL;
}

int pagemap_read(const void *addr, size_t len, uint64_t *buf)
{
	size_t ps = psize();
	off_t off = (off_t)((unsigned long)addr / ps * sizeof(uint64_t));
	size_t want = len / ps * sizeof(uint64_t), done = 0;
	ssize_t n;

	while (done < want) {
		n = pread(pagemap_fd(), (char *)buf + done, want - done,
			  off + (off_t)done);
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

unsigned long pagemap_scan_stale_walk_end;

long pagemap_scan_all(__u64 start, __u64 end, __u64 flags, __u64 category_mask,
		      __u64 return_mask, struct page_region *vec, size_t vec_len,
		      int (*fn)(const struct page_region *pr, void *arg), void *arg)
{
	__u64 walk_end;
	long ret, i;
	int stop;

	while (start < end) {
		ret = pagemap_scan(pagemap_fd(), start, end, vec, vec_len, flags,
				   0, 0, category_mask, 0, return_mask, &walk_end);
		if (ret < 0)
			return ret;
		for (i = 0; i < ret; i++) {
			stop = fn(&vec[i], arg);
			if (stop)
				return stop;
		}
		if ((size_t)ret < vec_len) {
			if (walk_end != end)
				pagemap_scan_stale_walk_end++;
			break;
		}
		if (walk_end <= start)
			return -EIO;	/* no progress: never seen */
		start = walk_end;
	}
	return 0;
}

bool have_pagemap_scan(void)
{
	int ret = pagemap_scan_supported(pagemap_fd());

	if (ret == 1)
		return true;
	if (ret == 0)
		vmh_set_reason(B_NA, "the kernel has no PAGEMAP_SCAN (ioctl on /proc/self/pagemap: ENOTTY)");
	else
		vmh_set_reason(B_NA, "PAGEMAP_SCAN probe failed: %s", strerror(-ret));
	return false;
}

bool have_wp_async(void)
{
	uint64_t want = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED;
	int64_t f = uffd_api_features();

	if (f < 0) {
		vmh_set_reason(B_NA, "userfaultfd unavailable: %s", strerror((int)-f));
		return false;
	}
	if (((uint64_t)f & want) != want) {
		vmh_set_reason(B_NA, "userfaultfd does not advertise %s",
			   (f & UFFD_FEATURE_WP_ASYNC) ? "UFFD_FEATURE_WP_UNPOPULATED" :
			   "UFFD_FEATURE_WP_ASYNC");
		return false;
	}
	return true;
}

bool have_soft_dirty(void)
{
	if (softdirty_supported())
		return true;
	vmh_set_reason(B_NA, "the kernel has no soft-dirty tracking (no CONFIG_MEM_SOFT_DIRTY: new mappings lack the sd flag)");
	return false;
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* splitmix64: small, fast, and the same sequence everywhere. */
uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void pick_units(size_t *perm, size_t n, size_t k, uint64_t *rng)
{
	size_t i, j, t;

	/* The first k steps of a Fisher-Yates shuffle. */
	for (i = 0; i < k; i++) {
		j = i + (size_t)(rng_next(rng) % (n - i));
		t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

struct stats stats_of(double *v, size_t n)
{
	struct stats s = { .n = n };
	double sum = 0;
	size_t i;

	if (!n)
		return s;
	qsort(v, n, sizeof(*v), cmp_double);
	for (i = 0; i < n; i++)
		sum += v[i];
	s.min = v[0];
	s.max = v[n - 1];
	s.mean = sum / (double)n;
	s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	return s;
}

static bool json_first;

void json_begin(const char *type)
{
	json_first = true;
	putchar('{');
	json_str("type", type);
}

static void json_key(const char *key)
{
	if (!json_first)
		fputs(", ", stdout);
	json_first = false;
	printf("\"%s\": ", key);
}

void json_str(const char *key, const char *val)
{
	const char *c;

	json_key(key);
	putchar('"');
	for (c = val; *c; c++) {
		if (*c == '"' || *c == '\\')
			printf("\\%c", *c);
		else if ((unsigned char)*c < 0x20)
			printf("\\u%04x", *c);
		else
			putchar(*c);
	}
	putchar('"');
}

void json_int(const char *key, long long val)
{
	json_key(key);
	printf("%lld", val);
}

void json_num(const char *key, double val)
{
	json_key(key);
	if (isfinite(val))
		printf("%.6g", val);
	else
		fputs("null", stdout);
}

void json_null(const char *key)
{
	json_key(key);
	fputs("null", stdout);
}

void json_bool(const char *key, bool val)
{
	json_key(key);
	fputs(val ? "true" : "false", stdout);
}

void json_stats(const char *prefix, const struct stats *s)
{
	char key[64];

	snprintf(key, sizeof(key), "%smedian_ns", prefix);
	json_num(key, s->median);
	snprintf(key, sizeof(key), "%smin_ns", prefix);
	json_num(key, s->min);
	snprintf(key, sizeof(key), "%smax_ns", prefix);
	json_num(key, s->max);
}

void json_end(void)
{
	fputs("}\n", stdout);
	fflush(stdout);
}

void progress(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
