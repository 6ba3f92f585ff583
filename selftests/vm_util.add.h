/*
 * What the PAGEMAP_SCAN and async uffd-wp selftests add to 6.1's
 * vm/vm_util.h. Not a header of its own: the #include lines below join
 * vm_util.h's, the rest is appended to it (selftests/Makefile does that for
 * the out-of-tree build, patch 0005 in the tree). This comment is dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include "pagemap_scan.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT		21
#endif

/* Bits of a /proc/<pid>/pagemap entry (Documentation/admin-guide/mm/pagemap.rst) */
#define PME_PRESENT		(1ULL << 63)
#define PME_SWAP		(1ULL << 62)
#define PME_FILE		(1ULL << 61)
#define PME_UFFD_WP		(1ULL << 57)
#define PME_SOFT_DIRTY		(1ULL << 55)
#define PME_PFN_MASK		((1ULL << 55) - 1)

/*
 * Helpers that may meet a missing feature or resource return VMH_OK,
 * VMH_SKIP or VMH_FAIL and leave a sentence saying why in vmh_reason.
 */
enum vmh_status {
	VMH_OK = 0,
	VMH_FAIL = -1,
	VMH_SKIP = 4,		/* KSFT_SKIP */
};

extern char vmh_reason[256];
int vmh_set_reason(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The memory types the tests run over. */
enum mem_type {
	MEM_ANON,		/* private anonymous, base pages only */
	MEM_THP,		/* private anonymous, PMD-mapped THPs */
	MEM_HUGETLB,		/* private anonymous MAP_HUGETLB */
	MEM_HUGETLB_SHARED,	/* hugetlb memfd mapped MAP_SHARED */
	MEM_SHMEM,		/* memfd mapped MAP_SHARED */
	MEM_FILE,		/* memfd mapped MAP_PRIVATE (a private file mapping) */
	MEM_PAGECACHE,		/* a file on a page-cache filesystem, MAP_PRIVATE */
	MEM_PAGECACHE_SHARED,	/* the same, MAP_SHARED */
	MEM_NR_TYPES
};

const char *mem_type_name(enum mem_type type);

struct area {
	enum mem_type type;
	char *addr;		/* start of the usable range */
	size_t size;		/* bytes, a multiple of psize */
	size_t psize;		/* granule: base page, THP or hugetlb page size */
	int fd;			/* backing file or -1 */
	char *path;		/* the page-cache types' file, removed when freed */
	char *map;		/* what area_free() unmaps */
	size_t map_size;
};

static inline size_t psize(void)
{
	return (size_t)getpagesize();
}

/* The value after @pattern in the smaps block of the VMA starting at @addr. */
char *__get_smap_entry(void *addr, const char *pattern, char *buf, size_t len);

/* The number on the "@name   N" line of @path (/proc/meminfo...), -1 if none. */
long proc_field(const char *path, const char *name);
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
 * @populate: write every page (its index + @seed in every byte); a private
 * file mapping instead gets that data written into the file and is
 * read-faulted, so its pages stay the file's page cache pages. MEM_THP is
 * always populated: that is how it is checked to be really huge.
 *
 * The page-cache types use a file in $PMSCAN_PAGECACHE_DIR, or in the
 * current directory when that is unset and not on tmpfs (else VMH_SKIP).
 */
int area_alloc(struct area *a, enum mem_type type, size_t nr, bool populate,
	       unsigned char seed);
void area_free(struct area *a);

/* Check one page of @len bytes against byte @val. */
bool check_bytes(const void *p, size_t len, unsigned char val);
/* Read every page of the range (one byte a page), returning a checksum. */
unsigned long touch_read(const void *p, size_t len);

/* /proc/self/pagemap, opened once. */
int pagemap_fd(void);
static inline uint64_t pagemap_entry(const void *addr)
{
	return pagemap_get_entry(pagemap_fd(), (char *)addr);
}

static inline bool pagemap_has(const void *addr, uint64_t bits)
{
	return (pagemap_entry(addr) & bits) == bits;
}

/* True when every base page of [addr, addr+len) has (or lacks) @bit. */
bool pagemap_all(const void *addr, size_t len, uint64_t bit, bool set);

struct page_region;	/* pagemap_scan.h */

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

/* userfaultfd */
/* Features UFFDIO_API advertises; -errno if userfaultfd is unusable. */
int64_t uffd_api_features(void);
/* "PAGEMAP_SCAN" or "UFFD_FEATURE_WP_ASYNC" when the kernel lacks it, or NULL. */
const char *series_missing(bool need_async);
/* Open a userfaultfd and enable @features: fd or -errno. */
int uffd_open(uint64_t features, bool nonblock);
int uffd_register(int uffd, const void *addr, size_t len, uint64_t mode,
		  uint64_t *ioctls);
int uffd_unregister(int uffd, const void *addr, size_t len);
int uffd_wp(int uffd, const void *addr, size_t len, bool protect);
/* The features a WP registration of @type needs, on top of the caller's. */
uint64_t uffd_wp_features_for(enum mem_type type);
/*
 * An async uffd-wp context (WP_ASYNC | WP_UNPOPULATED and what @type
 * needs) with [addr, addr+len) registered and, with @protect,
 * write-protected: the fd, or -errno with vmh_reason saying which step failed.
 */
int uffd_async_wp(enum mem_type type, const void *addr, size_t len,
		  bool protect);

/*
 * Write @val to @p in a thread: with [p, p+len) write-protected by the
 * synchronous context @uffd, the write must queue a write-protect fault
 * for that range. The range is unprotected afterwards (which lets the
 * writer finish) either way. True if the fault came.
 */
bool uffd_write_trapped(int uffd, char *p, size_t len, char val);

/* MADV_PAGEOUT [addr, addr+len) and check every page became a swap entry. */
int swap_out(void *addr, size_t len);

/* Open /proc/<pid>/<file>; pid 0: this process's, said when it fails. */
int open_proc(pid_t pid, const char *file, int flags);

/*
 * A forked process and two pipes to it: the parent writes to @to and reads
 * from @from; in the child the same names are its own ends.
 */
struct peer {
	pid_t pid;
	int to;
	int from;
};

void peer_fork(struct peer *p);
void peer_send(const struct peer *p, char c);
/* The next byte from the other side; -1 once it closed its end. */
int peer_recv(const struct peer *p);
/* End a child: flush what it printed, exit with @status. */
void child_exit(int status) __attribute__((noreturn));
/*
 * Close our ends and reap the child; its verdict (KSFT_PASS, _SKIP or
 * _FAIL) from its exit status, KSFT_FAIL if it was killed.
 */
int peer_wait(struct peer *p, const char *what);

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

/*
 * A program's KTAP header, plan and ending around its loop over @n cases
 * (@i the index): each case is skipped when the kernel lacks what the
 * series adds (series_missing(@need_async)), else the statement after
 * @name runs it.
 */
#define vmh_run_cases(i, n, need_async, name, ...)			\
	do {								\
		const char *__missing;					\
									\
		ksft_print_header();					\
		ksft_set_plan(n);					\
		__missing = series_missing(need_async);			\
		for (i = 0; i < (n); i++) {				\
			vmh_reason[0] = '\0';				\
			if (__missing)					\
				ksft_test_result_skip("%s: kernel lacks %s\n", \
						      name, __missing);	\
			else						\
				__VA_ARGS__;				\
		}							\
		vmh_finished();						\
	} while (0)

/* Report case @name skipped (@ret VMH_SKIP) or failed, with vmh_reason. */
#define vmh_report_setup(name, ret)					\
	((ret) == VMH_SKIP ?						\
	 ksft_test_result_skip("%s: %s\n", name, vmh_reason) :		\
	 ksft_test_result_fail("%s: %s\n", name, vmh_reason))

/* Report case @name with @ret, a KSFT_ status. */
#define vmh_report(name, ret)						\
	do {								\
		int __r = (ret);					\
									\
		if (__r == KSFT_SKIP)					\
			ksft_test_result_skip("%s: %s\n", name, vmh_reason); \
		else							\
			ksft_test_result(__r == KSFT_PASS, "%s\n", name);	\
	} while (0)

/* Shared by the write-protect programs. */
/*
 * A userfaultfd with @features and [addr, addr+len) registered for
 * write-protect and, with @protect, protected: the fd, or -errno.
 */
int uffd_wp_range(uint64_t features, const void *addr, size_t len, bool protect);
