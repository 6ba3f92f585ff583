/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the PAGEMAP_SCAN and async uffd-wp selftests: sizes,
 * one allocator per memory type, /proc/self/pagemap entries, userfaultfd
 * set-up, swap-out.
 *
 * Functions that may meet a missing feature or resource return one of
 * VMH_OK, VMH_SKIP or VMH_FAIL and leave a sentence saying why in
 * vmh_reason, which the caller prints with its skip or fail result.
 */
#ifndef __SELFTESTS_VM_HELPERS_H
#define __SELFTESTS_VM_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include "pagemap_scan.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT		21
#endif

#ifndef UFFD_FEATURE_WP_HUGETLBFS_SHMEM
#define UFFD_FEATURE_WP_HUGETLBFS_SHMEM	(1 << 12)
#endif

/* Bits of a /proc/<pid>/pagemap entry (Documentation/admin-guide/mm/pagemap.rst) */
#define PME_PRESENT		(1ULL << 63)
#define PME_SWAP		(1ULL << 62)
#define PME_FILE		(1ULL << 61)
#define PME_UFFD_WP		(1ULL << 57)
#define PME_SOFT_DIRTY		(1ULL << 55)

enum vmh_status {
	VMH_OK = 0,
	VMH_FAIL = -1,
	VMH_SKIP = 4,		/* KSFT_SKIP */
};

extern char vmh_reason[256];

/* The memory types the tests run over. */
enum mem_type {
	MEM_ANON,		/* private anonymous, base pages only */
	MEM_THP,		/* private anonymous, PMD-mapped THPs */
	MEM_HUGETLB,		/* private anonymous MAP_HUGETLB */
	MEM_HUGETLB_SHARED,	/* hugetlb memfd mapped MAP_SHARED */
	MEM_SHMEM,		/* memfd mapped MAP_SHARED */
	MEM_FILE,		/* memfd mapped MAP_PRIVATE (a private file mapping) */
	MEM_NR_TYPES
};

const char *mem_type_name(enum mem_type type);

struct area {
	enum mem_type type;
	char *addr;		/* start of the usable range */
	size_t size;		/* bytes, a multiple of psize */
	size_t psize;		/* granule: base page, THP or hugetlb page size */
	int fd;			/* backing memfd or -1 */
	char *map;		/* what area_free() unmaps */
	size_t map_size;
};

size_t page_size(void);
/* PMD-sized THP size, 0 when THP is not available. */
size_t thp_size(void);
/* Default hugetlb page size from /proc/meminfo, 0 if hugetlb is absent. */
size_t hugetlb_size(void);
/* Make sure @nr hugetlb pages are free, raising nr_hugepages if needed. */
int hugetlb_ensure(unsigned long nr);

/*
 * area_alloc - map @nr pages of @type (pages of the type's granule).
 *
 * The area starts on a PMD boundary (a PUD boundary for hugetlb), so an area
 * of up to 2M (1G) lies in one page table and shares it with no other
 * mapping: whether a never-touched page has an empty entry or no page table
 * at all depends only on the test.
 *
 * @populate: write every page (its index + @seed in every byte, see
 * area_fill()); a MEM_FILE area instead gets that data written into the file
 * and is read-faulted, so its pages stay the file's page cache pages. MEM_THP
 * is always populated: that is how it is checked to be really huge.
 */
int area_alloc(struct area *a, enum mem_type type, size_t nr, bool populate,
	       unsigned char seed);
void area_free(struct area *a);
size_t area_pages(const struct area *a);
char *area_page(const struct area *a, size_t idx);

/* Fill or check one page of @len bytes with byte @val. */
void fill_bytes(void *p, size_t len, unsigned char val);
bool check_bytes(const void *p, size_t len, unsigned char val);
/* Read every page of the range (one byte a page), returning a checksum. */
unsigned long touch_read(const void *p, size_t len);

/* kB value of @field ("AnonHugePages:") in the smaps block of @addr's VMA. */
long smaps_field_kb(const void *addr, const char *field);

/* /proc/self/pagemap */
int pagemap_fd(void);
uint64_t pagemap_entry(const void *addr);
bool pagemap_has(const void *addr, uint64_t bits);
/* True when every base page of [addr, addr+len) has (or lacks) @bit. */
bool pagemap_all(const void *addr, size_t len, uint64_t bit, bool set);

/* PAGEMAP_SCAN output checks: an expected region, in caller-chosen units. */
struct region_exp {
	size_t start, end;
	uint64_t categories;
};

/*
 * True if the @n regions of @v are exactly @e, offsets in @unit bytes from
 * @base; if not, both lists are printed as KTAP diagnostics.
 */
bool regions_match(const char *base, size_t unit, const struct page_region *v,
		   long n, const struct region_exp *e, size_t ne);

/* Soft-dirty: true if the kernel tracks it (CONFIG_MEM_SOFT_DIRTY). */
bool soft_dirty_supported(void);
void clear_soft_dirty(void);

/* userfaultfd */
/* Features UFFDIO_API advertises; -errno if userfaultfd is unusable. */
int64_t uffd_api_features(void);
/* "PAGEMAP_SCAN" or "UFFD_FEATURE_WP_ASYNC" when the kernel lacks it, or NULL. */
const char *series_missing(bool need_async);
/* Open a non-blocking userfaultfd and enable @features: fd or -errno. */
int uffd_open(uint64_t features);
int uffd_register(int uffd, void *addr, size_t len, uint64_t mode,
		  uint64_t *ioctls);
int uffd_unregister(int uffd, void *addr, size_t len);
int uffd_wp(int uffd, void *addr, size_t len, bool protect);
/* The features a WP registration of @type needs, on top of the caller's. */
uint64_t uffd_wp_features_for(enum mem_type type);

/* swap */
bool swap_enabled(void);
/* MADV_PAGEOUT [addr, addr+len) and check every page became a swap entry. */
int swap_out(void *addr, size_t len);

/*
 * ksft_finished(), except that when every case skipped (a kernel without
 * the feature) the exit status is KSFT_SKIP, so that kselftest's runner
 * reports the program as skipped rather than passed.  A macro: kselftest.h
 * keeps its counters in each program's own static variables.
 */
#define vmh_finished()							\
	do {								\
		if (ksft_get_xskip_cnt() &&				\
		    ksft_get_xskip_cnt() == (int)ksft_test_num()) {	\
			ksft_print_cnts();				\
			exit(KSFT_SKIP);				\
		}							\
		ksft_finished();					\
	} while (0)

#endif /* __SELFTESTS_VM_HELPERS_H */
