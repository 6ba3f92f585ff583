// SPDX-License-Identifier: GPL-2.0
/*
 * Shared pieces of the write-tracking benchmarks: regions, feature probes,
 * userfaultfd set-up, statistics and the JSON lines on stdout.
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
#include <sys/syscall.h>
#include "bench.h"

#define THP_ENABLED	"/sys/kernel/mm/transparent_hugepage/enabled"
#define THP_PMD_SIZE	"/sys/kernel/mm/transparent_hugepage/hpage_pmd_size"

char bench_reason[256];

int set_reason(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(bench_reason, sizeof(bench_reason), fmt, ap);
	va_end(ap);
	return status;
}

const char *mem_kind_name(enum mem_kind kind)
{
	switch (kind) {
	case MEM_ANON:
		return "anon";
	case MEM_THP:
		return "thp";
	case MEM_HUGETLB:
		return "hugetlb";
	}
	return "?";
}

size_t page_size(void)
{
	static size_t ps;

	if (!ps)
		ps = (size_t)sysconf(_SC_PAGESIZE);
	return ps;
}

static bool read_first_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	bool ok;

	if (!f)
		return false;
	ok = fgets(buf, (int)len, f) != NULL;
	fclose(f);
	return ok;
}

size_t thp_size(void)
{
	char buf[128];

	if (!read_first_line(THP_ENABLED, buf, sizeof(buf)) ||
	    strstr(buf, "[never]"))
		return 0;
	if (!read_first_line(THP_PMD_SIZE, buf, sizeof(buf)))
		return 0;
	return strtoul(buf, NULL, 10);
}

static long meminfo(const char *name)
{
	size_t n = strlen(name);
	char line[256];
	long val = -1;
	FILE *f;

	f = fopen("/proc/meminfo", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, name, n) && line[n] == ':') {
			val = strtol(line + n + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return val;
}

size_t hugetlb_size(void)
{
	long kb = meminfo("Hugepagesize");

	return kb > 0 ? (size_t)kb << 10 : 0;
}

long hugetlb_free(void)
{
	long nfree = meminfo("HugePages_Free");
	long rsvd = meminfo("HugePages_Rsvd");

	/* Reserved pages are free but promised to another mapping. */
	return nfree < 0 ? nfree : nfree - (rsvd > 0 ? rsvd : 0);
}

long smaps_kb(const void *addr, const char *field)
{
	unsigned long start, end, target = (unsigned long)addr;
	size_t flen = strlen(field);
	bool inside = false;
	char line[512];
	long val = -1;
	FILE *f;

	f = fopen("/proc/self/smaps", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2) {
			if (inside)
				break;
			inside = target >= start && target < end;
			continue;
		}
		if (inside && !strncmp(line, field, flen)) {
			val = strtol(line + flen, NULL, 10);
			break;
		}
	}
	fclose(f);
	return val;
}

/* Map @size bytes aligned to @align, with a spare @align for the rounding. */
static int map_aligned(struct region *r, size_t size, size_t align, int flags)
{
	char *raw;

	r->map_size = size + align;
	raw = mmap(NULL, r->map_size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
	if (raw == MAP_FAILED)
		return set_reason(B_ERR, "mmap of %zu bytes: %s", r->map_size,
				  strerror(errno));
	r->map = raw;
	r->addr = (char *)(((unsigned long)raw + align - 1) & ~(align - 1));
	return B_OK;
}

int region_alloc(struct region *r, enum mem_kind kind, size_t size)
{
	size_t ps = page_size(), hs;
	size_t off;
	long kb;

	memset(r, 0, sizeof(*r));
	r->kind = kind;
	switch (kind) {
	case MEM_ANON:
		r->unit = ps;
		if (map_aligned(r, size, ps, 0))
			return B_ERR;
		/* Base pages only: a THP would change what a fault costs. */
		madvise(r->addr, size, MADV_NOHUGEPAGE);
		break;
	case MEM_THP:
		r->unit = thp_size();
		if (!r->unit)
			return set_reason(B_NA, "THP is disabled (%s is [never] or missing)",
					  THP_ENABLED);
		size = (size + r->unit - 1) & ~(r->unit - 1);
		if (map_aligned(r, size, r->unit, 0))
			return B_ERR;
		if (madvise(r->addr, size, MADV_HUGEPAGE)) {
			region_free(r);
			return set_reason(B_NA, "MADV_HUGEPAGE: %s", strerror(errno));
		}
		break;
	case MEM_HUGETLB:
		hs = hugetlb_size();
		if (!hs)
			return set_reason(B_NA, "no hugetlb support in this kernel");
		r->unit = hs;
		size = (size + hs - 1) & ~(hs - 1);
		r->map_size = size;
		r->map = mmap(NULL, size, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
		if (r->map == MAP_FAILED) {
			r->map = NULL;
			return set_reason(B_NA, "no free hugetlb pages for %zu MiB (MAP_HUGETLB: %s; %ld free and unreserved)",
					  size >> 20, strerror(errno),
					  hugetlb_free());
		}
		r->addr = r->map;
		break;
	}
	r->size = size;
	r->nr_units = size / r->unit;
	for (off = 0; off < size; off += ps)
		r->addr[off] = 1;
	if (kind == MEM_THP) {
		kb = smaps_kb(r->addr, "AnonHugePages:");
		if (kb < (long)(size >> 10)) {
			region_free(r);
			return set_reason(B_NA, "the kernel gave no THPs for the region (AnonHugePages %ld of %zu kB)",
					  kb, size >> 10);
		}
	}
	return B_OK;
}

void region_free(struct region *r)
{
	if (r->map)
		munmap(r->map, r->map_size);
	r->map = NULL;
	r->addr = NULL;
}

int pagemap_fd(void)
{
	static int fd = -1;

	if (fd < 0) {
		fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			perror("/proc/self/pagemap");
			exit(2);
		}
	}
	return fd;
}

int pagemap_read(const void *addr, size_t len, uint64_t *buf)
{
	size_t ps = page_size();
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
		set_reason(B_NA, "the kernel has no PAGEMAP_SCAN (ioctl on /proc/self/pagemap: ENOTTY)");
	else
		set_reason(B_NA, "PAGEMAP_SCAN probe failed: %s", strerror(-ret));
	return false;
}

bool have_wp_async(void)
{
	uint64_t want = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED;
	int64_t f = uffd_features();

	if (f < 0) {
		set_reason(B_NA, "userfaultfd unavailable: %s", strerror((int)-f));
		return false;
	}
	if (((uint64_t)f & want) != want) {
		set_reason(B_NA, "userfaultfd does not advertise %s",
			   (f & UFFD_FEATURE_WP_ASYNC) ? "UFFD_FEATURE_WP_UNPOPULATED" :
			   "UFFD_FEATURE_WP_ASYNC");
		return false;
	}
	return true;
}

int clear_soft_dirty(void)
{
	static int fd = -1;

	if (fd < 0) {
		fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return set_reason(B_ERR, "/proc/self/clear_refs: %s",
					  strerror(errno));
	}
	/* "4": clear the soft-dirty bits of every page of the process. */
	if (write(fd, "4", 1) != 1)
		return set_reason(B_ERR, "writing 4 to /proc/self/clear_refs: %s",
				  strerror(errno));
	return B_OK;
}

bool have_soft_dirty(void)
{
	size_t ps = page_size();
	uint64_t e;
	char *p;
	bool ok;

	p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (p == MAP_FAILED) {
		set_reason(B_ERR, "mmap: %s", strerror(errno));
		return false;
	}
	/* A page written in a new VMA is soft-dirty wherever the bit exists. */
	p[0] = 1;
	ok = !pagemap_read(p, ps, &e) && (e & PME_SOFT_DIRTY);
	munmap(p, ps);
	if (!ok)
		set_reason(B_NA, "the kernel has no soft-dirty tracking (pagemap bit 55 stays clear on a written page: no CONFIG_MEM_SOFT_DIRTY)");
	return ok;
}

static int uffd_api(uint64_t features, bool nonblock, uint64_t *advertised)
{
	struct uffdio_api api = { .api = UFFD_API, .features = features };
	int flags = O_CLOEXEC | (nonblock ? O_NONBLOCK : 0);
	int fd, err;

	fd = (int)syscall(__NR_userfaultfd, flags);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, UFFDIO_API, &api)) {
		err = -errno;
		close(fd);
		return err;
	}
	if (advertised)
		*advertised = api.features;
	return fd;
}

int64_t uffd_features(void)
{
	uint64_t f = 0;
	int fd = uffd_api(0, true, &f);

	if (fd < 0)
		return fd;
	close(fd);
	return (int64_t)f;
}

int uffd_open(uint64_t features, bool nonblock)
{
	return uffd_api(features, nonblock, NULL);
}

uint64_t uffd_wp_features(enum mem_kind kind)
{
	return kind == MEM_HUGETLB ? UFFD_FEATURE_WP_HUGETLBFS_SHMEM : 0;
}

int uffd_register_wp(int uffd, const void *addr, size_t len)
{
	struct uffdio_register reg = {
		.range = { .start = (unsigned long)addr, .len = len },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};

	return ioctl(uffd, UFFDIO_REGISTER, &reg) ? -errno : 0;
}

int uffd_wp_range(int uffd, const void *addr, size_t len, bool protect)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = (unsigned long)addr, .len = len },
		.mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	return ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) ? -errno : 0;
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
