/*
 * Appended to 6.1's vm_util.h (vm_util.mk); the includes join its own and
 * this comment is dropped.
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

/* Bits of a /proc/<pid>/pagemap entry */
#define PME_PRESENT		(1ULL << 63)
#define PME_SWAP		(1ULL << 62)
#define PME_UFFD_WP		(1ULL << 57)
#define PME_SOFT_DIRTY		(1ULL << 55)
#define PME_PFN_MASK		((1ULL << 55) - 1)

/* What a helper returns; vmh_reason says why when it is not VMH_OK. */
enum vmh_status {
	VMH_OK = 0,
	VMH_FAIL = -1,
	VMH_SKIP = 4,		/* KSFT_SKIP */
};

extern char vmh_reason[256];
int vmh_set_reason(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

enum mem_type {
	MEM_ANON,		/* base pages only */
	MEM_THP,		/* PMD-mapped THPs */
	MEM_HUGETLB,		/* private MAP_HUGETLB */
	MEM_HUGETLB_SHARED,	/* hugetlb memfd, MAP_SHARED */
	MEM_SHMEM,		/* memfd, MAP_SHARED */
	MEM_FILE,		/* memfd, MAP_PRIVATE */
	MEM_PAGECACHE,		/* a file on a page-cache filesystem, MAP_PRIVATE */
	MEM_PAGECACHE_SHARED,	/* the same, MAP_SHARED */
	MEM_NR_TYPES
};

const char *mem_type_name(enum mem_type type);

struct area {
	enum mem_type type;
	char *addr;
	size_t size;
	size_t psize;		/* base page, THP or hugetlb page size */
	int fd;			/* backing file or -1 */
	char *path;		/* a page-cache type's file, removed when freed */
	char *map;		/* what area_free() unmaps */
	size_t map_size;
};

static inline size_t psize(void)
{
	return (size_t)getpagesize();
}

char *__get_smap_entry(void *addr, const char *pattern, char *buf, size_t len);

/* The number on the "@name   N" line of @path (/proc/meminfo...), -1 if none. */
long proc_field(const char *path, const char *name);
/* THP and default hugetlb page sizes, 0 when not available. */
size_t thp_size(void);
size_t hugetlb_size(void);
/* Make sure @nr hugetlb pages are free, raising nr_hugepages if needed. */
int hugetlb_ensure(unsigned long nr);

/*
 * Map @nr pages of @type's granule on a PMD boundary (PUD for hugetlb), so
 * that a small area has a page table of its own. @populate writes page i
 * with @seed + i (a private file mapping: the file, then read-faults it);
 * MEM_THP is always populated. The page-cache types use a file in
 * $PMSCAN_PAGECACHE_DIR, or in the current directory unless it is tmpfs.
 */
int area_alloc(struct area *a, enum mem_type type, size_t nr, bool populate,
	       unsigned char seed);
void area_free(struct area *a);

/*
 * An area counted in units, what one write-protect covers: the huge page
 * for hugetlb, else the base page; @uffd (-1: none) is closed with it.
 */
struct unit_area {
	struct area a;
	size_t unit;
	size_t n;		/* units in the area */
	int uffd;
	int pm;			/* the pagemap it is read through: pagemap_fd() */
	unsigned char seed;	/* area_alloc()'s, if it wrote any (@seeded) */
	bool seeded;
};

int unit_area_alloc(struct unit_area *u, enum mem_type type, size_t nr,
		    bool populate, unsigned char seed);
void unit_area_free(struct unit_area *u);

static inline char *unit_addr(const struct unit_area *u, size_t i)
{
	return u->a.addr + i * u->unit;
}

/* Write 0x80 + @i to every byte of unit @i. */
void unit_write(const struct unit_area *u, size_t i);
/* Unit @i holds what unit_write() wrote if @written, else its seed data. */
bool unit_data_ok(const struct unit_area *u, size_t i, bool written);
/* Every base page of units [from, to) has (or lacks) the uffd-wp bit. */
bool units_wp(const struct unit_area *u, size_t from, size_t to, bool set);

/* Every byte of [p, p + len) is @val. */
bool check_bytes(const void *p, size_t len, unsigned char val);
/* Read one byte of each page, returning their sum. */
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

/* Every base page of [addr, addr+len) has (or lacks) @bit. */
bool pagemap_all(const void *addr, size_t len, uint64_t bit, bool set);

/* An expected PAGEMAP_SCAN region, in caller-chosen units. */
struct region_exp {
	size_t start, end;
	uint64_t categories;
};

/* The @n regions of @v are exactly @e (in @unit from @base); else both are printed. */
bool regions_match(const char *base, size_t unit, const struct page_region *v,
		   long n, const struct region_exp *e, size_t ne);

/*
 * PAGEMAP_SCAN of @arg through @fd into a vector of its own (vec_len 0:
 * SCAN_MAX_REGIONS): true if it gives exactly the regions @e and stops at
 * @walk_end, both in @unit from @base; else what differs is printed.
 */
#define SCAN_MAX_REGIONS	64
bool scan_expect(int fd, struct pm_scan_arg arg, const char *base, size_t unit,
		 const struct region_exp *e, size_t ne, size_t walk_end);
/* scan_expect() of the regions listed after @walk_end. */
#define SCAN_EXPECT(fd, arg, base, unit, walk_end, ...)			\
	({								\
		const struct region_exp __e[] = { __VA_ARGS__ };	\
		scan_expect(fd, arg, base, unit, __e, ARRAY_SIZE(__e), walk_end); \
	})

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
 * An async uffd-wp context (WP_UNPOPULATED too) with [addr, addr+len)
 * registered and, with @protect, protected: the fd, or -errno and vmh_reason.
 */
int uffd_async_wp(enum mem_type type, const void *addr, size_t len,
		  bool protect);
/* The same with @features, not WP_UNPOPULATED unless asked: fd or -errno. */
int uffd_wp_range(uint64_t features, const void *addr, size_t len, bool protect);

/*
 * A thread writes @val to @p in [p, p+len), which the synchronous @uffd
 * protects: true if the write-protect fault came. The range is unprotected.
 */
bool uffd_write_trapped(int uffd, char *p, size_t len, char val);

/* MADV_PAGEOUT [addr, addr+len); every page must become a swap entry. */
int swap_out(void *addr, size_t len);

/* Open /proc/<pid>/<file>; pid 0: /proc/self, failure printed. */
int open_proc(pid_t pid, const char *file, int flags);

/* A forked child and pipes to it: each side writes @to, reads @from. */
struct peer {
	pid_t pid;
	int to;
	int from;
};

void peer_fork(struct peer *p);
void peer_send(const struct peer *p, char c);
/* The next byte from the other side; -1 once it closed its end. */
int peer_recv(const struct peer *p);
/* Flush and _exit(@status). */
void child_exit(int status) __attribute__((noreturn));
/* Close our ends and reap the child: KSFT_PASS, _SKIP or _FAIL. */
int peer_wait(struct peer *p, const char *what);

/*
 * ksft_finished(), but KSFT_SKIP when every case skipped. A macro:
 * kselftest.h's counters are each program's own.
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
 * KTAP header, plan and end around a loop over @n cases (index @i): each
 * is skipped if series_missing(@need_async), else the last argument runs.
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

/*
 * ksft_status(): KSFT_PASS if @ok, else KSFT_FAIL. skip_cases(): skip the
 * @n cases @names, each reported as "<@prefix>: <name> (@why)", or without
 * @prefix if it is "".
 */
#define ksft_status(ok)		((ok) ? KSFT_PASS : KSFT_FAIL)
#define skip_cases(prefix, names, n, why)				\
	do {								\
		const char *__pre = (prefix);				\
		int __i;						\
									\
		for (__i = 0; __i < (int)(n); __i++)			\
			ksft_test_result_skip("%s%s%s (%s)\n", __pre,	\
					      *__pre ? ": " : "",	\
					      (names)[__i], why);	\
	} while (0)
