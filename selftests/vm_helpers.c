// SPDX-License-Identifier: GPL-2.0
/*
 * Helpers shared by the PAGEMAP_SCAN and async uffd-wp selftests.
 *
 * Nothing here reports test results: helpers return VMH_OK, VMH_SKIP or
 * VMH_FAIL (with vmh_reason filled in) and the test program decides. The
 * only exits are for a broken environment (no /proc/self/pagemap), which no
 * test could survive.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/userfaultfd.h>
#include "../kselftest.h"
#include "vm_helpers.h"

#define THP_SIZE_PATH	"/sys/kernel/mm/transparent_hugepage/hpage_pmd_size"
#define THP_ENABLED_PATH "/sys/kernel/mm/transparent_hugepage/enabled"
#define NR_HUGEPAGES_PATH "/proc/sys/vm/nr_hugepages"

char vmh_reason[256];

static int reason(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vmh_reason, sizeof(vmh_reason), fmt, ap);
	va_end(ap);
	return status;
}

static void fatal(const char *what)
{
	printf("Bail out! %s: %s\n", what, strerror(errno));
	exit(KSFT_FAIL);
}

const char *mem_type_name(enum mem_type type)
{
	static const char * const names[MEM_NR_TYPES] = {
		[MEM_ANON] = "anon",
		[MEM_THP] = "thp",
		[MEM_HUGETLB] = "hugetlb",
		[MEM_HUGETLB_SHARED] = "shared hugetlb",
		[MEM_SHMEM] = "shmem",
		[MEM_FILE] = "private file",
	};

	return type < MEM_NR_TYPES ? names[type] : "?";
}

size_t page_size(void)
{
	static size_t ps;

	if (!ps)
		ps = (size_t)sysconf(_SC_PAGESIZE);
	return ps;
}

/* Read the first line of a small file into @buf; false if unreadable. */
static bool read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	bool ok;

	if (!f)
		return false;
	ok = fgets(buf, len, f) != NULL;
	fclose(f);
	return ok;
}

size_t thp_size(void)
{
	char buf[128];

	if (!read_line(THP_ENABLED_PATH, buf, sizeof(buf)) ||
	    strstr(buf, "[never]"))
		return 0;
	if (!read_line(THP_SIZE_PATH, buf, sizeof(buf)))
		return 0;
	return strtoul(buf, NULL, 10);
}

/* Value of a "Name:   N" line of /proc/meminfo, -1 if absent. */
static long meminfo_value(const char *name)
{
	char line[256];
	size_t n = strlen(name);
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
	long kb = meminfo_value("Hugepagesize");

	return kb > 0 ? (size_t)kb << 10 : 0;
}

int hugetlb_ensure(unsigned long nr)
{
	long free_pages = meminfo_value("HugePages_Free");
	char buf[32];
	long total;
	int fd, len;

	if (free_pages < 0)
		return reason(VMH_SKIP, "no hugetlb support (no HugePages_Free in /proc/meminfo)");
	if ((unsigned long)free_pages >= nr)
		return VMH_OK;

	/* Ask for the missing pages; this needs root and free memory. */
	if (!read_line(NR_HUGEPAGES_PATH, buf, sizeof(buf)))
		return reason(VMH_SKIP, "cannot read %s", NR_HUGEPAGES_PATH);
	total = strtol(buf, NULL, 10) + (long)nr - free_pages;
	fd = open(NR_HUGEPAGES_PATH, O_WRONLY);
	if (fd >= 0) {
		len = snprintf(buf, sizeof(buf), "%ld\n", total);
		if (write(fd, buf, len) != len)
			len = -1;
		close(fd);
	}
	free_pages = meminfo_value("HugePages_Free");
	if (free_pages < (long)nr)
		return reason(VMH_SKIP, "need %lu free hugetlb pages, have %ld (set %s)",
			      nr, free_pages, NR_HUGEPAGES_PATH);
	return VMH_OK;
}

void fill_bytes(void *p, size_t len, unsigned char val)
{
	memset(p, val, len);
}

bool check_bytes(const void *p, size_t len, unsigned char val)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (c[i] != val)
			return false;
	return true;
}

unsigned long touch_read(const void *p, size_t len)
{
	const unsigned char *c = p;
	unsigned long sum = 0;
	size_t off;

	/* An atomic load is never optimised away: each one is a real access. */
	for (off = 0; off < len; off += page_size())
		sum += __atomic_load_n(c + off, __ATOMIC_RELAXED);
	return sum;
}

size_t area_pages(const struct area *a)
{
	return a->size / a->psize;
}

char *area_page(const struct area *a, size_t idx)
{
	return a->addr + idx * a->psize;
}

long smaps_field_kb(const void *addr, const char *field)
{
	unsigned long start, end, target = (unsigned long)addr;
	size_t flen = strlen(field);
	bool in_vma = false;
	char line[512];
	long val = -1;
	FILE *f;

	f = fopen("/proc/self/smaps", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2) {
			if (in_vma)
				break;
			in_vma = target >= start && target < end;
			continue;
		}
		if (in_vma && !strncmp(line, field, flen)) {
			val = strtol(line + flen, NULL, 10);
			break;
		}
	}
	fclose(f);
	return val;
}

/* Size a PMD maps: one page table's worth of pages. */
static size_t pmd_size(void)
{
	return page_size() / sizeof(uint64_t) * page_size();
}

/*
 * Reserve @size bytes of address space aligned to @align (a power of two)
 * as an inaccessible mapping, for the caller to map over with MAP_FIXED.
 */
static char *reserve_aligned(size_t size, size_t align)
{
	char *raw, *addr;
	size_t head;

	raw = mmap(NULL, size + align, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	addr = (char *)(((unsigned long)raw + align - 1) & ~(align - 1));
	head = addr - raw;
	if (head)
		munmap(raw, head);
	munmap(addr + size, align - head);
	return addr;
}

static int alloc_memfd(struct area *a, const char *name, unsigned int flags)
{
	a->fd = memfd_create(name, MFD_CLOEXEC | flags);
	if (a->fd < 0)
		return reason(VMH_SKIP, "memfd_create(%s): %s", name,
			      strerror(errno));
	if (ftruncate(a->fd, a->size))
		return reason(VMH_FAIL, "ftruncate memfd: %s", strerror(errno));
	return VMH_OK;
}

/* Give a MEM_FILE area's file its data: granule page i holds seed + i. */
static int fill_file(struct area *a, size_t nr, unsigned char seed)
{
	char buf[4096];
	size_t i, off;

	for (i = 0; i < nr; i++) {
		memset(buf, (unsigned char)(seed + i), sizeof(buf));
		for (off = 0; off < a->psize; off += sizeof(buf))
			if (pwrite(a->fd, buf, sizeof(buf),
				   i * a->psize + off) != sizeof(buf))
				return reason(VMH_FAIL, "pwrite: %s",
					      strerror(errno));
	}
	return VMH_OK;
}

/* Pick the granule and the backing file of @a; map nothing yet. */
static int area_prepare(struct area *a, size_t nr, unsigned char seed)
{
	int ret;

	switch (a->type) {
	case MEM_ANON:
		break;
	case MEM_THP:
		a->psize = thp_size();
		if (!a->psize)
			return reason(VMH_SKIP, "transparent hugepages are not available");
		break;
	case MEM_HUGETLB:
	case MEM_HUGETLB_SHARED:
		a->psize = hugetlb_size();
		if (!a->psize)
			return reason(VMH_SKIP, "hugetlb is not available");
		ret = hugetlb_ensure(nr);
		if (ret)
			return ret;
		break;
	case MEM_SHMEM:
	case MEM_FILE:
		break;
	default:
		return reason(VMH_FAIL, "unknown memory type %d", a->type);
	}
	a->size = nr * a->psize;

	switch (a->type) {
	case MEM_HUGETLB_SHARED:
		return alloc_memfd(a, "vmh-hugetlb", MFD_HUGETLB);
	case MEM_SHMEM:
		return alloc_memfd(a, "vmh-shmem", 0);
	case MEM_FILE:
		ret = alloc_memfd(a, "vmh-file", 0);
		/* The file has data, so read faults map its page cache pages. */
		return ret ? ret : fill_file(a, nr, seed);
	default:
		return VMH_OK;
	}
}

int area_alloc(struct area *a, enum mem_type type, size_t nr, bool populate,
	       unsigned char seed)
{
	const int prot = PROT_READ | PROT_WRITE;
	size_t i, align;
	int flags, ret;
	char *at;
	long kb;

	memset(a, 0, sizeof(*a));
	a->type = type;
	a->fd = -1;
	a->psize = page_size();

	ret = area_prepare(a, nr, seed);
	if (ret)
		goto err;

	/*
	 * hugetlb pages are PMD entries: give them a PMD table of their own
	 * (a PUD-aligned start), for the same reason small areas get a page
	 * table of their own.
	 */
	if (type == MEM_HUGETLB || type == MEM_HUGETLB_SHARED)
		align = pmd_size() / sizeof(uint64_t) * pmd_size();
	else
		align = a->psize > pmd_size() ? a->psize : pmd_size();
	at = reserve_aligned(a->size, align);
	if (!at) {
		ret = reason(VMH_FAIL, "reserving address space: %s", strerror(errno));
		goto err;
	}
	switch (type) {
	case MEM_HUGETLB:
		flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB;
		break;
	case MEM_HUGETLB_SHARED:
	case MEM_SHMEM:
		flags = MAP_SHARED;
		break;
	case MEM_FILE:
		flags = MAP_PRIVATE;
		break;
	default:
		flags = MAP_PRIVATE | MAP_ANONYMOUS;
		break;
	}
	a->addr = mmap(at, a->size, prot, flags | MAP_FIXED, a->fd, 0);
	if (a->addr == MAP_FAILED) {
		ret = reason(type == MEM_HUGETLB || type == MEM_HUGETLB_SHARED ?
			     VMH_SKIP : VMH_FAIL, "mmap %s: %s",
			     mem_type_name(type), strerror(errno));
		munmap(at, a->size);
		a->addr = NULL;
		goto err;
	}
	a->map = a->addr;
	a->map_size = a->size;

	if (type == MEM_ANON) {
		/* Keep THP=always and khugepaged from changing the layout. */
		madvise(a->addr, a->size, MADV_NOHUGEPAGE);
	} else if (type == MEM_THP) {
		if (madvise(a->addr, a->size, MADV_HUGEPAGE)) {
			ret = reason(VMH_SKIP, "MADV_HUGEPAGE: %s", strerror(errno));
			goto err;
		}
		populate = true;
	}

	if (populate) {
		for (i = 0; i < nr; i++) {
			if (type == MEM_FILE)
				touch_read(area_page(a, i), a->psize);
			else
				fill_bytes(area_page(a, i), a->psize,
					   (unsigned char)(seed + i));
		}
	}

	if (type == MEM_THP) {
		kb = smaps_field_kb(a->addr, "AnonHugePages:");
		if (kb < (long)(a->size >> 10)) {
			ret = reason(VMH_SKIP, "the kernel did not back the area with THPs (AnonHugePages: %ld kB of %zu)",
				     kb, a->size >> 10);
			goto err;
		}
	}
	return VMH_OK;
err:
	area_free(a);
	return ret;
}

void area_free(struct area *a)
{
	if (a->map)
		munmap(a->map, a->map_size);
	if (a->fd >= 0)
		close(a->fd);
	a->map = NULL;
	a->addr = NULL;
	a->fd = -1;
}

int pagemap_fd(void)
{
	static int fd = -1;

	if (fd < 0) {
		fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			fatal("open /proc/self/pagemap");
	}
	return fd;
}

uint64_t pagemap_entry(const void *addr)
{
	uint64_t entry;
	off_t off = (unsigned long)addr / page_size() * sizeof(entry);

	if (pread(pagemap_fd(), &entry, sizeof(entry), off) != sizeof(entry))
		fatal("read /proc/self/pagemap");
	return entry;
}

bool pagemap_has(const void *addr, uint64_t bits)
{
	return (pagemap_entry(addr) & bits) == bits;
}

bool pagemap_all(const void *addr, size_t len, uint64_t bit, bool set)
{
	const char *p = addr;
	size_t off;

	for (off = 0; off < len; off += page_size())
		if (!!(pagemap_entry(p + off) & bit) != set)
			return false;
	return true;
}

static void print_regions(const char *what, const char *base, size_t unit,
			  const struct page_region *v, long n)
{
	long i;

	ksft_print_msg("%s (%ld):\n", what, n);
	for (i = 0; i < n; i++)
		ksft_print_msg("  [%llu, %llu) %#llx\n",
			       (unsigned long long)((v[i].start - (unsigned long)base) / unit),
			       (unsigned long long)((v[i].end - (unsigned long)base) / unit),
			       (unsigned long long)v[i].categories);
}

bool regions_match(const char *base, size_t unit, const struct page_region *v,
		   long n, const struct region_exp *e, size_t ne)
{
	unsigned long start = (unsigned long)base;
	bool ok = n >= 0 && (size_t)n == ne;
	size_t i;

	for (i = 0; ok && i < ne; i++)
		ok = v[i].start == start + e[i].start * unit &&
		     v[i].end == start + e[i].end * unit &&
		     v[i].categories == e[i].categories;
	if (ok)
		return true;

	print_regions("got", base, unit, v, n);
	ksft_print_msg("expected (%zu):\n", ne);
	for (i = 0; i < ne; i++)
		ksft_print_msg("  [%zu, %zu) %#llx\n", e[i].start, e[i].end,
			       (unsigned long long)e[i].categories);
	return false;
}

void clear_soft_dirty(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY);

	if (fd < 0)
		fatal("open /proc/self/clear_refs");
	if (write(fd, "4", 1) != 1)
		fatal("write /proc/self/clear_refs");
	close(fd);
}

bool soft_dirty_supported(void)
{
	size_t ps = page_size();
	bool ret;
	char *p;

	p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (p == MAP_FAILED)
		return false;
	/* A written page of a new VMA is soft-dirty wherever it exists. */
	p[0] = 1;
	ret = pagemap_has(p, PME_SOFT_DIRTY);
	munmap(p, ps);
	return ret;
}

static int uffd_open_api(uint64_t features, uint64_t *advertised)
{
	struct uffdio_api api = { .api = UFFD_API, .features = features };
	int fd, err;

	fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
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

/*
 * What the tests of the series need and this kernel lacks, or NULL:
 * PAGEMAP_SCAN, and with @need_async asynchronous uffd-wp too.  A probe
 * failing otherwise than "not implemented" ends the program.
 */
const char *series_missing(bool need_async)
{
	int ret = pagemap_scan_supported(pagemap_fd());
	int64_t features;

	if (ret < 0) {
		errno = -ret;
		fatal("PAGEMAP_SCAN probe");
	}
	if (!ret)
		return "PAGEMAP_SCAN";
	features = need_async ? uffd_api_features() : 0;
	if (need_async && (features < 0 || !(features & UFFD_FEATURE_WP_ASYNC)))
		return "UFFD_FEATURE_WP_ASYNC";
	return NULL;
}

int64_t uffd_api_features(void)
{
	uint64_t features;
	int fd;

	fd = uffd_open_api(0, &features);
	if (fd < 0)
		return fd;
	close(fd);
	return (int64_t)features;
}

int uffd_open(uint64_t features)
{
	return uffd_open_api(features, NULL);
}

int uffd_register(int uffd, void *addr, size_t len, uint64_t mode,
		  uint64_t *ioctls)
{
	struct uffdio_register reg = {
		.range = { .start = (unsigned long)addr, .len = len },
		.mode = mode,
	};

	if (ioctl(uffd, UFFDIO_REGISTER, &reg))
		return -errno;
	if (ioctls)
		*ioctls = reg.ioctls;
	return 0;
}

int uffd_unregister(int uffd, void *addr, size_t len)
{
	struct uffdio_range range = {
		.start = (unsigned long)addr, .len = len,
	};

	return ioctl(uffd, UFFDIO_UNREGISTER, &range) ? -errno : 0;
}

int uffd_wp(int uffd, void *addr, size_t len, bool protect)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = (unsigned long)addr, .len = len },
		.mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	return ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) ? -errno : 0;
}

uint64_t uffd_wp_features_for(enum mem_type type)
{
	switch (type) {
	case MEM_HUGETLB:
	case MEM_HUGETLB_SHARED:
	case MEM_SHMEM:
		return UFFD_FEATURE_WP_HUGETLBFS_SHMEM;
	default:
		return 0;
	}
}

bool swap_enabled(void)
{
	char line[256];
	int lines = 0;
	FILE *f;

	f = fopen("/proc/swaps", "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		lines++;
	fclose(f);
	/* The first line is the header. */
	return lines > 1;
}

int swap_out(void *addr, size_t len)
{
	const struct timespec pause = { .tv_nsec = 20 * 1000 * 1000 };
	char *p = addr;
	size_t off, left = 0;
	int tries;

	if (!swap_enabled())
		return reason(VMH_SKIP, "no swap is enabled (/proc/swaps lists no device)");

	/*
	 * A page still sitting in a per-CPU LRU batch cannot be isolated
	 * and is silently left in memory: ask again a few times.
	 */
	for (tries = 0; tries < 20; tries++) {
		if (madvise(addr, len, MADV_PAGEOUT)) {
			if (errno == EINVAL)
				return reason(VMH_SKIP, "MADV_PAGEOUT is not supported");
			return reason(VMH_FAIL, "MADV_PAGEOUT: %s", strerror(errno));
		}
		left = 0;
		for (off = 0; off < len; off += page_size()) {
			uint64_t e = pagemap_entry(p + off);

			if ((e & PME_PRESENT) || !(e & PME_SWAP))
				left++;
		}
		if (!left)
			return VMH_OK;
		nanosleep(&pause, NULL);
	}
	return reason(VMH_SKIP, "MADV_PAGEOUT left %zu of %zu pages in memory",
		      left, len / page_size());
}
