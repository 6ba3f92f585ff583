/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pmscan_fuzz_diff: what its parts share. The program is split by job:
 *
 *   trace.c     the trace: a buffer that outlives a crashing seed, the
 *               kernel-independent form of addresses and errors, the file
 *   gen.c       the generator: the PRNG and every random choice
 *   mappings.c  the mapping kinds, the arena, the page model, the set-up
 *   kernel.c    PAGEMAP_SCAN, userfaultfd and pagemap reads, traced
 *   ops.c       the operations and their weights
 *   main.c      options, one process per seed, the summary
 *
 * What keeps a trace independent of anything but the kernel's ABI is
 * explained at the top of main.c.
 */
#ifndef __DIFFTEST_FUZZ_H
#define __DIFFTEST_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "pagemap_scan.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT			21
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE		0x100000
#endif
#ifndef MFD_HUGETLB
#define MFD_HUGETLB			0x0004U
#endif
#ifndef UFFD_FEATURE_WP_HUGETLBFS_SHMEM
#define UFFD_FEATURE_WP_HUGETLBFS_SHMEM	(1 << 12)
#endif

#define TRACE_VERSION	1

#define __printf(a, b)	__attribute__((format(printf, a, b)))
#define ARRAY_SIZE(x)	(sizeof(x) / sizeof((x)[0]))

#define PAGE		4096UL
#define HPAGE_PAGES	512L		/* 2M in 4K pages: THP and hugetlb */
#define SLOT_PAGES	2048L		/* 8M: each mapping's slot */
#define NR_SLOTS	12
#define ARENA_SIZE	((unsigned long)NR_SLOTS * SLOT_PAGES * PAGE)
#define VEC_MAX		512
#define TRACE_CAP	(32UL << 20)

/*
 * The categories a trace may use: everything but PAGE_IS_SOFT_DIRTY, which
 * joins them with --soft-dirty (cats()).
 */
#define CATS		(PAGE_IS_WPALLOWED | PAGE_IS_WRITTEN | PAGE_IS_FILE | \
			 PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_PFNZERO | \
			 PAGE_IS_HUGE)
#define NR_CATS		7

#define PME_PRESENT	(1ULL << 63)
#define PME_SWAP	(1ULL << 62)
#define PME_UFFD_WP	(1ULL << 57)
#define PME_SOFT_DIRTY	(1ULL << 55)
#define PME_PFN_MASK	((1ULL << 55) - 1)

enum {
	EXIT_DONE = 0,
	EXIT_BUG = 1,
	EXIT_ENV = 3,
	EXIT_UNSUPPORTED = 4,
};

/* ---- options ---- */

struct options {
	long ops;
	bool hugetlb;
	bool swap;
	bool state;		/* a snapshot after every operation */
	bool pagecache;		/* mappings of files in the page cache */
	bool soft_dirty;	/* clear_refs, PAGE_IS_SOFT_DIRTY, pagemap bits */
	const char *pagecache_dir;	/* where those files are made */
	unsigned int timeout;
	const char *out;
	/* PMSCAN_DIFF_PLANT: a deliberately wrong reading, for the tests */
	const char *plant;
};

extern struct options opt;

/* ---- trace.c ---- */

void __printf(1, 2) tr(const char *fmt, ...);
void trace_reset(void);
long trace_tick(void);
int trace_setup(void);
int write_trace(unsigned long seed, const char *end);
long count_ops(void);
const char *fa(uint64_t addr);
#define A(addr) fa((uint64_t)(unsigned long)(addr))
const char *res(int ret);
int __printf(1, 2) fail_env(const char *fmt, ...);
int fail_bug(const char *what);

/* ---- gen.c ---- */

enum scan_kind { SCAN_GET, SCAN_GET_WP, SCAN_WP_ONLY };

struct scan;

uint64_t cats(void);
void rng_seed(unsigned long seed);
long below(long n);
bool chance(int pct);
unsigned char wval(void);
int pick_slot(void);
int pick_free_slot(void);
int pick_pageout_slot(void);
bool pick_run_in(int s, unsigned char need, bool one_vma, long *a, long *b);
bool pick_run(int s, unsigned char need, long *a, long *b);
bool pick_target(int *s, unsigned char need, bool one_vma, long *a, long *b);
void random_scan(struct scan *sc, enum scan_kind kind);

/* ---- mappings.c ---- */

enum mtype {
	T_ANON, T_THP, T_SHMEM, T_FILE, T_HUGETLB, T_HUGETLB_SHARED,
	T_PAGECACHE, T_PAGECACHE_SHARED, T_NR
};

/* What a kind of mapping is. */
#define MT_HUGETLB	0x1	/* in 2M pages */
#define MT_THP		0x2	/* MADV_HUGEPAGE, PMD-mapped at set-up */
#define MT_SHARED	0x4	/* MAP_SHARED */
#define MT_MEMFD	0x8	/* backed by a memfd */
#define MT_SPARSE	0x10	/* only some of its file pages get data */
#define MT_FILE		0x20	/* read faults map their neighbours (fault-around) */
#define MT_PAGECACHE	0x40	/* a file in opt.pagecache_dir (--pagecache) */

struct mtype_info {
	const char *name;
	unsigned int flags;
};

extern const struct mtype_info mtypes[T_NR];

#define PG_MAPPED	0x1
#define PG_READ		0x2
#define PG_WRITE	0x4
#define PG_REG		0x8	/* registered for uffd-wp */
#define PG_EDGE		0x10	/* a VMA may start here */

struct slot {
	bool used;
	enum mtype type;
	int fd;			/* backing file, or -1 */
	long pgoff;		/* file page offset of the slot's first page */
	unsigned char pg[SLOT_PAGES];
};

extern struct slot slots[NR_SLOTS];
extern char *arena;
extern int opno;

bool has(int s, unsigned int mt_flags);
bool is_hugetlb(enum mtype t);
long gran(int s);
char *pa(int s, long p);
void set_flags(int s, long a, long b, unsigned char set, unsigned char clear);
void mark_edges(int s, long a, long b);
void release_slot_if_empty(int s);
bool fd_shared(int s);
int map_slot(int s, enum mtype t, long npages);
extern char map_env_why[256];
int register_slot(int s, long npages);
bool type_on(enum mtype t);
int setup(void);

/* ---- kernel.c ---- */

enum vec_kind { VEC_ARRAY, VEC_NULL, VEC_EDGE };

struct scan {
	uint64_t start, end, flags, vec_len, max_pages;
	uint64_t inv, mask, anyof, ret_mask;
	enum vec_kind vk;
	int edge_room;		/* VEC_EDGE: regions that fit */
};

extern int pm_fd;
extern uint64_t zero_pfn;

int open_kernel(uint64_t features, const char **why);
int setup_scans(void);
long do_scan_fd(int fd, const char *what, const struct scan *sc);
long do_scan(const char *what, const struct scan *sc);
void check_scan_fd(int fd, const char *what, uint64_t start, uint64_t end);
void check_scan(const char *what, uint64_t start, uint64_t end);
void check_arena(const char *what);
int uffd_register(char *addr, unsigned long len);
int uffd_unregister(char *addr, unsigned long len);
int uffd_protect(char *addr, unsigned long len, bool wp);
uint64_t pagemap_entry(const void *addr);
int clear_soft_dirty(void);
void plant_scan(struct page_region *v, long ret, const struct scan *sc);
int learn_zero_pfn(void);
long anon_huge_kb(const void *addr);
int access_pages(int s, long a, long b, int write, unsigned char val, long *at,
		 uint64_t *sum);
void catch_faults(void);

/* ---- ops.c ---- */

int one_op(void);

#endif /* __DIFFTEST_FUZZ_H */
