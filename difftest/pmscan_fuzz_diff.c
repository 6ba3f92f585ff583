// SPDX-License-Identifier: GPL-2.0
/*
 * pmscan_fuzz_diff - a seeded workload for differential testing of
 * PAGEMAP_SCAN and asynchronous userfaultfd write-protect.
 *
 * For every seed the program builds a set of mappings, drives a random but
 * fully seed-determined sequence of memory operations and PAGEMAP_SCAN
 * calls over them, and writes a trace in which nothing depends on where the
 * kernel put things: an address is "slot:page" (the mapping's slot in a
 * private arena and the page offset in it), sizes are in pages. Two kernels
 * that implement the same ABI give byte-identical traces for the same seed;
 * the harness (harness/difftest.py) compares them.
 *
 * Whatever would make a trace depend on something other than the kernel's
 * ABI is kept out by construction, never filtered afterwards:
 *
 * - the mappings live at fixed offsets of one 2M-aligned arena, so THP and
 *   hugetlb alignment is the same everywhere, and the rest of the address
 *   space is never scanned;
 * - THP: only the "thp" mapping is MADV_HUGEPAGE, it is written whole (so
 *   it is PMD-mapped, checked in smaps before anything is traced) with
 *   non-zero data (so no shrinker splits it as underused), and then
 *   PR_SET_THP_DISABLE stops new THPs and khugepaged for the rest of the
 *   run: from then on a THP only ever splits, and only because of an
 *   operation in the trace. Every other mapping is MADV_NOHUGEPAGE, which
 *   makes the host's THP policy (always or madvise) irrelevant;
 * - PAGE_IS_SOFT_DIRTY is never asked for nor returned (the host has no
 *   CONFIG_MEM_SOFT_DIRTY);
 * - hugetlb and swap are used only when the command line says so; their
 *   absence then is an environment error, never a difference;
 * - MADV_PAGEOUT is repeated until no page of the range is resident (or the
 *   seed ends with an environment error), so LRU batching does not leak in;
 * - MADV_DONTNEED never covers a whole 2M-aligned block: mainline 6.15+
 *   frees the page table it empties, and PAGEMAP_SCAN reports a missing
 *   table differently from empty entries in a VMA without async uffd-wp;
 * - mremap() is given ranges inside one VMA (mainline 6.17+ moves several
 *   VMAs at once), never private hugetlb ranges (moving part of one leaks a
 *   hugetlb reservation on mainline 6.18, starving later seeds);
 * - so is UFFDIO_WRITEPROTECT (6.1 wants one VMA, mainline 6.5+ takes
 *   several and may stop half-way);
 * - file pages are read (read faults map their neighbours too, up to the
 *   VMA's edges) only where the VMA is registered for uffd-wp, which turns
 *   fault-around off;
 * - private mappings get their anon_vma when they are made, and a file
 *   mapping grows only if no other mapping shares its file (see op_fork()
 *   and fd_shared());
 * - everything runs on one CPU, single-threaded; fork children are waited
 *   for before the next operation.
 *
 * Operations: write and read page ranges (every write is followed by a scan
 * of what it wrote); PAGEMAP_SCAN get, get+WP and WP-only with random
 * ranges (within a mapping, across mappings and gaps, the whole arena,
 * argument edge cases), masks, inverted categories, return masks, vec_len,
 * max_pages, an output array that runs into an inaccessible page, unknown
 * flag and category bits; snapshots of the whole arena; UFFDIO_WRITEPROTECT
 * on and off; UFFDIO_REGISTER and UNREGISTER of sub-ranges; MADV_DONTNEED;
 * MADV_PAGEOUT (with --swap); mprotect; munmap; mremap (move, shrink, grow);
 * fork (the child scans itself and, through the inherited descriptor, the
 * parent; the parent then scans the exited child); new mappings.
 *
 * Exit status of a seed: 0 done, 3 environment error (the trace says which
 * resource was missing), 4 the kernel lacks PAGEMAP_SCAN or async uffd-wp,
 * 1 a bug of this program's set-up.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/userfaultfd.h>
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

/* The categories a trace may use: everything but PAGE_IS_SOFT_DIRTY. */
#define CATS		(PAGE_IS_WPALLOWED | PAGE_IS_WRITTEN | PAGE_IS_FILE | \
			 PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_PFNZERO | \
			 PAGE_IS_HUGE)

#define PME_PRESENT	(1ULL << 63)
#define PME_PFN_MASK	((1ULL << 55) - 1)

enum {
	EXIT_DONE = 0,
	EXIT_BUG = 1,
	EXIT_ENV = 3,
	EXIT_UNSUPPORTED = 4,
};

/* ---- the trace: a shared buffer that outlives a crashing seed ---- */

struct trace {
	size_t len;
	bool truncated;
	char data[];
};

static struct trace *trace;

static void __printf(1, 2) tr(const char *fmt, ...)
{
	size_t room = TRACE_CAP - sizeof(*trace) - trace->len;
	va_list ap;
	int n;

	if (trace->truncated)
		return;
	va_start(ap, fmt);
	n = vsnprintf(trace->data + trace->len, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room)
		trace->truncated = true;
	else
		trace->len += n;
}

/* ---- the PRNG: splitmix64, so the sequence is ours on every libc ---- */

static uint64_t rng;

static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static long below(long n)
{
	return n > 0 ? (long)(rnd() % (uint64_t)n) : 0;
}

static bool chance(int pct)
{
	return below(100) < pct;
}

/* ---- the model: what the program has mapped, page by page ---- */

enum mtype { T_ANON, T_THP, T_SHMEM, T_FILE, T_HUGETLB, T_HUGETLB_SHARED, T_NR };

static const char *const tname[T_NR] = {
	[T_ANON] = "anon", [T_THP] = "thp", [T_SHMEM] = "shmem",
	[T_FILE] = "file", [T_HUGETLB] = "hugetlb",
	[T_HUGETLB_SHARED] = "hugetlb-shared",
};

#define PG_MAPPED	0x1
#define PG_READ		0x2
#define PG_WRITE	0x4
#define PG_REG		0x8	/* registered for uffd-wp */
#define PG_EDGE		0x10	/* a VMA may start here */

struct slot {
	bool used;
	enum mtype type;
	int fd;			/* backing memfd, or -1 */
	long pgoff;		/* file page offset of the slot's first page */
	unsigned char pg[SLOT_PAGES];
};

static struct slot slots[NR_SLOTS];
static char *arena;
static int uffd = -1;
static int pm_fd = -1;
static uint64_t zero_pfn;
static int opno;

static struct {
	long ops;
	bool hugetlb;
	bool swap;
	bool state;		/* a snapshot after every operation */
	unsigned int timeout;
	const char *out;
} opt = { .ops = 100, .timeout = 300 };

static bool is_hugetlb(enum mtype t)
{
	return t == T_HUGETLB || t == T_HUGETLB_SHARED;
}

static long gran(int s)
{
	return is_hugetlb(slots[s].type) ? HPAGE_PAGES : 1;
}

static char *pa(int s, long p)
{
	return arena + ((unsigned long)s * SLOT_PAGES + p) * PAGE;
}

static bool slot_empty(int s)
{
	long p;

	for (p = 0; p < SLOT_PAGES; p++)
		if (slots[s].pg[p] & PG_MAPPED)
			return false;
	return true;
}

static void set_flags(int s, long a, long b, unsigned char set, unsigned char clear)
{
	for (; a < b; a++)
		if (slots[s].pg[a] & PG_MAPPED)
			slots[s].pg[a] = (slots[s].pg[a] & ~clear) | set;
}

/*
 * An operation on [a, b) may split VMAs at a and b, whether it succeeds or
 * not. The marks are a superset of the real VMA boundaries, which lets
 * mremap() be given ranges inside one VMA: moving several VMAs at once is
 * something mainline learnt in 6.17, a legitimate difference.
 */
static void mark_edges(int s, long a, long b)
{
	slots[s].pg[a] |= PG_EDGE;
	if (b < SLOT_PAGES)
		slots[s].pg[b] |= PG_EDGE;
}

/*
 * An address as "slot:page[+bytes]" when it lies in the arena. The result
 * lives in a ring of buffers, enough for the addresses of one trace line.
 */
static const char *fa(uint64_t addr)
{
	static char ring[8][48];
	static unsigned int next;
	uint64_t base = (uint64_t)(unsigned long)arena, off, pg;
	char *buf = ring[next++ % 8];
	size_t len = sizeof(ring[0]);

	if (addr < base || addr > base + ARENA_SIZE) {
		snprintf(buf, len, "%#llx", (unsigned long long)addr);
		return buf;
	}
	off = addr - base;
	pg = off / PAGE;
	if (off % PAGE)
		snprintf(buf, len, "%llu:%llu+%llu",
			 (unsigned long long)(pg / SLOT_PAGES),
			 (unsigned long long)(pg % SLOT_PAGES),
			 (unsigned long long)(off % PAGE));
	else
		snprintf(buf, len, "%llu:%llu",
			 (unsigned long long)(pg / SLOT_PAGES),
			 (unsigned long long)(pg % SLOT_PAGES));
	return buf;
}

#define A(addr) fa((uint64_t)(unsigned long)(addr))

static const char *err_name(int e)
{
	switch (e) {
	case 0: return "ok";
	case EINVAL: return "EINVAL";
	case EFAULT: return "EFAULT";
	case EPERM: return "EPERM";
	case ENOMEM: return "ENOMEM";
	case ENOENT: return "ENOENT";
	case EBUSY: return "EBUSY";
	case EAGAIN: return "EAGAIN";
	case ENOTTY: return "ENOTTY";
	case EEXIST: return "EEXIST";
	case EINTR: return "EINTR";
	case ENOSPC: return "ENOSPC";
	case ESRCH: return "ESRCH";
	default: return NULL;
	}
}

/* The result of a syscall: "ok" or the errno's name. */
static const char *res(int ret)
{
	static char buf[32];
	const char *n;

	if (ret == 0)
		return "ok";
	n = err_name(errno);
	if (n)
		return n;
	snprintf(buf, sizeof(buf), "errno%d", errno);
	return buf;
}

/* ---- faults: a wrong SIGSEGV/SIGBUS is a result, not a crash ---- */

static sigjmp_buf fault_jmp;
static volatile sig_atomic_t fault_armed;

static void on_fault(int sig)
{
	if (!fault_armed)
		_exit(128 + sig);
	fault_armed = 0;
	siglongjmp(fault_jmp, sig);
}

/* Value written to a page: never zero (see the THP note at the top). */
static unsigned char wval(void)
{
	return (unsigned char)(1 + below(255));
}

/*
 * Write or read pages [a, b) of slot @s. Returns 0, or the signal that a
 * page raised; *@at is the page that faulted, *@sum a digest of what was
 * read.
 */
static int access_pages(int s, long a, long b, int write, unsigned char val,
			long *at, uint64_t *sum)
{
	volatile long p = a;
	volatile uint64_t h = 1469598103934665603ULL;
	int sig;

	sig = sigsetjmp(fault_jmp, 1);
	if (sig) {
		*at = p;
		*sum = h;
		return sig;
	}
	fault_armed = 1;
	for (; p < b; p++) {
		char *c = pa(s, p);

		if (write) {
			memset(c, val, PAGE);
		} else {
			h = (h ^ (unsigned char)__atomic_load_n(c, __ATOMIC_RELAXED)) *
			    1099511628211ULL;
			h = (h ^ (unsigned char)__atomic_load_n(c + PAGE / 2 + 1,
								__ATOMIC_RELAXED)) *
			    1099511628211ULL;
		}
	}
	fault_armed = 0;
	*sum = h;
	return 0;
}

/* ---- PAGEMAP_SCAN ---- */

static struct page_region vec[VEC_MAX + 1];

/*
 * Two pages, the second inaccessible: an output array placed at the end
 * of the first has room for a few regions only, and the kernel must fail
 * with EFAULT when it has more to write.
 */
static char *edge_vec;

enum vec_kind { VEC_ARRAY, VEC_NULL, VEC_EDGE };

struct scan {
	uint64_t start, end, flags, vec_len, max_pages;
	uint64_t inv, mask, anyof, ret_mask;
	enum vec_kind vk;
	int edge_room;		/* VEC_EDGE: regions that fit */
};

static struct page_region *scan_vec(const struct scan *sc)
{
	switch (sc->vk) {
	case VEC_NULL:
		return NULL;
	case VEC_EDGE:
		return (struct page_region *)(edge_vec + PAGE) - sc->edge_room;
	default:
		return vec;
	}
}

/*
 * Issue a scan through @fd and trace it: arguments, result, walk_end,
 * regions. After a failure nothing of the array is traced: how much of it
 * was written before the fault is up to copy_to_user(), not the ABI.
 */
static long do_scan_fd(int fd, const char *what, const struct scan *sc)
{
	struct page_region *v = scan_vec(sc);
	__u64 walk_end;
	long ret, i;

	memset(vec, 0xa5, sizeof(vec));
	memset(edge_vec, 0xa5, PAGE);
	ret = pagemap_scan(fd, sc->start, sc->end, v, sc->vec_len,
			   sc->flags, sc->max_pages, sc->inv, sc->mask,
			   sc->anyof, sc->ret_mask, &walk_end);
	tr("op %d %s %s-%s f=%llu inv=%#llx m=%#llx any=%#llx ret=%#llx len=%llu",
	   opno, what, A(sc->start), A(sc->end),
	   (unsigned long long)sc->flags, (unsigned long long)sc->inv,
	   (unsigned long long)sc->mask, (unsigned long long)sc->anyof,
	   (unsigned long long)sc->ret_mask, (unsigned long long)sc->vec_len);
	if (sc->vk == VEC_NULL)
		tr("(null)");
	else if (sc->vk == VEC_EDGE)
		tr("(room %d)", sc->edge_room);
	tr(" max=%llu -> ", (unsigned long long)sc->max_pages);
	if (ret < 0) {
		errno = (int)-ret;
		tr("%s", res(-1));
	} else {
		tr("%ld", ret);
	}
	tr(" we=%s", A(walk_end));
	if (ret > 0 && v) {
		tr(" [");
		for (i = 0; i < ret && i < VEC_MAX; i++)
			tr("%s%s-%s %#llx", i ? " " : "", A(v[i].start),
			   A(v[i].end),
			   (unsigned long long)v[i].categories);
		tr("]");
	}
	/* The kernel must not write past the regions it returned. */
	if (sc->vk == VEC_ARRAY && ret >= 0 && ret < VEC_MAX) {
		const unsigned char *tail = (const unsigned char *)&vec[ret];
		size_t k, n = sizeof(vec[0]) * (VEC_MAX + 1 - ret);

		for (k = 0; k < n; k++)
			if (tail[k] != 0xa5) {
				tr(" !vec-written-past-%ld", ret);
				break;
			}
	}
	tr("\n");
	return ret;
}

static long do_scan(const char *what, const struct scan *sc)
{
	return do_scan_fd(pm_fd, what, sc);
}

/* A full report of [start, end): how a write or a fork looks. */
static void check_scan_fd(int fd, const char *what, uint64_t start, uint64_t end)
{
	struct scan sc = {
		.start = start, .end = end, .vec_len = VEC_MAX,
		.ret_mask = CATS,
	};

	do_scan_fd(fd, what, &sc);
}

static void check_scan(const char *what, uint64_t start, uint64_t end)
{
	check_scan_fd(pm_fd, what, start, end);
}

/* A category set for a mask: mostly one or two bits, so scans match. */
static uint64_t random_cats(void)
{
	uint64_t c = 1ULL << below(7);

	switch (below(10)) {
	case 0 ... 4:
		return c;
	case 5 ... 7:
		return c | 1ULL << below(7);
	default:
		return rnd() & CATS;
	}
}

/* ---- set-up ---- */

static int fail_env(const char *fmt, ...) __printf(1, 2);

static int fail_env(const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	tr("end env %s\n", buf);
	return EXIT_ENV;
}

static int fail_bug(const char *what)
{
	tr("end error %s: %s\n", what, strerror(errno));
	return EXIT_BUG;
}

static int new_memfd(const char *name, unsigned int flags, long pages)
{
	int fd = memfd_create(name, MFD_CLOEXEC | flags);

	if (fd < 0)
		return -1;
	if (ftruncate(fd, pages * PAGE)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Give the file pages [0, n) data (shmem: only some of them). */
static int fill_file(int fd, long n, bool some)
{
	static char buf[PAGE];
	long p;

	for (p = 0; p < n; p++) {
		if (some && !chance(50))
			continue;
		memset(buf, wval(), sizeof(buf));
		if (pwrite(fd, buf, PAGE, p * PAGE) != (ssize_t)PAGE)
			return -1;
	}
	return 0;
}

static int uffd_register(char *addr, unsigned long len)
{
	struct uffdio_register reg = {
		.range = { .start = (unsigned long)addr, .len = len },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};

	return ioctl(uffd, UFFDIO_REGISTER, &reg);
}

static int uffd_unregister(char *addr, unsigned long len)
{
	struct uffdio_range r = { .start = (unsigned long)addr, .len = len };

	return ioctl(uffd, UFFDIO_UNREGISTER, &r);
}

static int uffd_protect(char *addr, unsigned long len, bool wp)
{
	struct uffdio_writeprotect w = {
		.range = { .start = (unsigned long)addr, .len = len },
		.mode = wp ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	return ioctl(uffd, UFFDIO_WRITEPROTECT, &w);
}

/*
 * Map @npages of type @t at the start of slot @s. Returns 0, -EXIT_ENV
 * when a resource is missing (hugetlb pages), -EXIT_BUG otherwise.
 */
static int map_slot(int s, enum mtype t, long npages)
{
	int prot = PROT_READ | PROT_WRITE, flags = MAP_FIXED_NOREPLACE, fd = -1;
	char *want = pa(s, 0), *got;

	switch (t) {
	case T_ANON:
	case T_THP:
		flags |= MAP_PRIVATE | MAP_ANONYMOUS;
		break;
	case T_HUGETLB:
		flags |= MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB;
		break;
	case T_SHMEM:
	case T_FILE:
		/* Sized for the whole slot, so a mapping may grow in place. */
		fd = new_memfd(tname[t], 0, SLOT_PAGES);
		if (fd < 0 || fill_file(fd, npages, t == T_SHMEM))
			return -EXIT_BUG;
		flags |= t == T_SHMEM ? MAP_SHARED : MAP_PRIVATE;
		break;
	case T_HUGETLB_SHARED:
		fd = new_memfd(tname[t], MFD_HUGETLB, npages);
		if (fd < 0)
			return -EXIT_ENV;
		flags |= MAP_SHARED;
		break;
	default:
		return -EXIT_BUG;
	}
	got = mmap(want, npages * PAGE, prot, flags, fd, 0);
	if (got != want) {
		if (fd >= 0)
			close(fd);
		return is_hugetlb(t) ? -EXIT_ENV : -EXIT_BUG;
	}
	if (!is_hugetlb(t) &&
	    madvise(got, npages * PAGE, t == T_THP ? MADV_HUGEPAGE : MADV_NOHUGEPAGE))
		return -EXIT_BUG;
	slots[s].used = true;
	slots[s].type = t;
	slots[s].fd = fd;
	slots[s].pgoff = 0;
	memset(slots[s].pg, 0, sizeof(slots[s].pg));
	memset(slots[s].pg, PG_MAPPED | PG_READ | PG_WRITE, npages);
	mark_edges(s, 0, npages);
	/*
	 * fork() copies the page tables of a VMA only if it has an anon_vma
	 * (or uffd-wp, which the child lacks). A write gives a private VMA
	 * its anon_vma now, and every VMA split from it shares that, so what
	 * the child sees does not depend on how a kernel merges VMAs.
	 */
	if (!(flags & MAP_SHARED))
		*(volatile char *)got = (char)wval();
	return 0;
}

/* kB of AnonHugePages in the smaps entry of the VMA at @addr. */
static long anon_huge_kb(const void *addr)
{
	unsigned long lo, hi, at = (unsigned long)addr;
	char line[512];
	bool in = false;
	long kb = -1;
	FILE *f;

	f = fopen("/proc/self/smaps", "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			if (in)
				break;
			in = at >= lo && at < hi;
		} else if (in && !strncmp(line, "AnonHugePages:", 14)) {
			kb = strtol(line + 14, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kb;
}

static uint64_t pagemap_entry(const void *addr)
{
	uint64_t e = 0;

	if (pread(pm_fd, &e, sizeof(e), (unsigned long)addr / PAGE * sizeof(e)) !=
	    sizeof(e))
		return 0;
	return e;
}

/* The zero page's PFN, so MADV_PAGEOUT's leftovers can be told apart. */
static int learn_zero_pfn(void)
{
	volatile char *p = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
				-1, 0);

	if (p == MAP_FAILED)
		return -1;
	(void)p[0];
	zero_pfn = pagemap_entry((const void *)p) & PME_PFN_MASK;
	return 0;
}

/* Is async uffd-wp there? Opens the seed's userfaultfd with @features. */
static int open_uffd(uint64_t features, bool *unsupported)
{
	struct uffdio_api api = { .api = UFFD_API };
	int fd;

	*unsupported = false;
	fd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -1;
	if (ioctl(fd, UFFDIO_API, &api)) {
		close(fd);
		return -1;
	}
	close(fd);
	if ((api.features & features) != features) {
		*unsupported = true;
		return -1;
	}
	fd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -1;
	api.api = UFFD_API;
	api.features = features;
	if (ioctl(fd, UFFDIO_API, &api)) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * The arena: ARENA_SIZE bytes at the start of a 1G-aligned, 1G region
 * whose last page holds an inaccessible anchor mapping.
 *
 * PAGEMAP_SCAN tells a range without a page table from empty entries of
 * one (in a VMA without async uffd-wp, and for hugetlb), so when page
 * tables are freed must not differ between kernels. The anchor keeps the
 * region's PMD table alive from the first fault on, whatever the kernel's
 * policy for freeing upper-level tables, and all slots share it.
 */
static int reserve_arena(void)
{
	unsigned long align = 1UL << 30;
	char *raw, *anchor;

	raw = mmap(NULL, 2 * align, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		return -1;
	arena = (char *)(((unsigned long)raw + align - 1) & ~(align - 1));
	/*
	 * Leave the arena unmapped: the mappings are placed with
	 * MAP_FIXED_NOREPLACE, and nothing in this process maps memory
	 * without an address after this point (no threads, no large
	 * malloc()s), so the gaps stay gaps.
	 */
	if (munmap(raw, 2 * align))
		return -1;
	anchor = mmap(arena + align - PAGE, PAGE, PROT_NONE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	return anchor == arena + align - PAGE ? 0 : -1;
}

static int setup(unsigned long seed)
{
	static const enum mtype base_types[] = { T_ANON, T_ANON, T_THP, T_SHMEM, T_FILE };
	uint64_t features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_HUGETLBFS_SHMEM;
	bool unsupported, unpop;
	int s = 0, ret;
	size_t i;
	long n;

	pm_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pm_fd < 0)
		return fail_bug("open /proc/self/pagemap");
	ret = pagemap_scan_supported(pm_fd);
	if (ret == 0) {
		tr("end unsupported PAGEMAP_SCAN (ENOTTY)\n");
		return EXIT_UNSUPPORTED;
	}
	if (ret < 0) {
		errno = -ret;
		return fail_bug("PAGEMAP_SCAN probe");
	}
	unpop = chance(50);
	if (unpop)
		features |= UFFD_FEATURE_WP_UNPOPULATED;
	uffd = open_uffd(features, &unsupported);
	if (unsupported) {
		tr("end unsupported UFFD_FEATURE_WP_ASYNC (features %#llx not advertised)\n",
		   (unsigned long long)features);
		return EXIT_UNSUPPORTED;
	}
	if (uffd < 0)
		return fail_bug("userfaultfd");
	if (opt.swap && learn_zero_pfn())
		return fail_bug("zero page");
	if (opt.swap && !zero_pfn)
		return fail_env("--swap needs the PFNs in /proc/self/pagemap (root)");
	edge_vec = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (edge_vec == MAP_FAILED || mprotect(edge_vec + PAGE, PAGE, PROT_NONE))
		return fail_bug("mapping the edge array");
	if (reserve_arena())
		return fail_bug("reserving the arena");
	tr("uffd features=%s\n", unpop ? "async,unpopulated" : "async");

	for (i = 0; i < ARRAY_SIZE(base_types); i++, s++) {
		enum mtype t = base_types[i];

		n = t == T_THP ? HPAGE_PAGES * (1 + below(2)) : 8 + below(249);
		ret = map_slot(s, t, n);
		if (ret)
			return ret == -EXIT_ENV ? fail_env("mmap %s", tname[t]) :
						  fail_bug(tname[t]);
		tr("map %d %s pages=%ld\n", s, tname[t], n);
	}
	if (opt.hugetlb) {
		for (i = 0; i < 2; i++, s++) {
			enum mtype t = i ? T_HUGETLB_SHARED : T_HUGETLB;

			n = HPAGE_PAGES * (1 + below(3));
			ret = map_slot(s, t, n);
			if (ret)
				return ret == -EXIT_ENV ?
				       fail_env("mmap %s of %ld hugetlb pages",
						tname[t], n / HPAGE_PAGES) :
				       fail_bug(tname[t]);
			tr("map %d %s pages=%ld\n", s, tname[t], n);
		}
	}

	/*
	 * The THP slot is written whole, so each 2M is one PMD-mapped THP,
	 * and must be that before anything is traced: the environment
	 * decides whether a THP can be allocated, not the kernel's ABI.
	 */
	for (s = 0; s < NR_SLOTS; s++) {
		long len = 0, p;
		uint64_t sum;

		if (!slots[s].used || slots[s].type != T_THP)
			continue;
		while (slots[s].pg[len] & PG_MAPPED)
			len++;
		for (p = 0; p < len; p += HPAGE_PAGES)
			access_pages(s, p, p + HPAGE_PAGES, 1, wval(), &n, &sum);
		n = anon_huge_kb(pa(s, 0));
		if (n != (long)(len * PAGE >> 10))
			return fail_env("THP not allocated (AnonHugePages %ld kB of %ld)",
					n, (long)(len * PAGE >> 10));
	}
	/* From here on no THP is made and khugepaged leaves us alone. */
	if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0))
		return fail_bug("PR_SET_THP_DISABLE");

	for (s = 0; s < NR_SLOTS; s++) {
		long len = 0;

		if (!slots[s].used)
			continue;
		while (len < SLOT_PAGES && (slots[s].pg[len] & PG_MAPPED))
			len++;
		if (chance(80)) {
			ret = uffd_register(pa(s, 0), len * PAGE);
			tr("register %d -> %s\n", s, res(ret));
			if (!ret)
				set_flags(s, 0, len, PG_REG, 0);
		}
	}
	return 0;
}

/* ---- choosing what to operate on ---- */

static int pick_slot(bool (*ok)(int s))
{
	int cand[NR_SLOTS], n = 0, s;

	for (s = 0; s < NR_SLOTS; s++)
		if (slots[s].used && (!ok || ok(s)))
			cand[n++] = s;
	return n ? cand[below(n)] : -1;
}

static int pick_free_slot(void)
{
	int cand[NR_SLOTS], n = 0, s;

	for (s = 0; s < NR_SLOTS; s++)
		if (!slots[s].used)
			cand[n++] = s;
	return n ? cand[below(n)] : -1;
}

static long pick_len(long max)
{
	if (chance(50))
		return 1 + below(max > 8 ? 8 : max);
	return 1 + below(max);
}

/*
 * A random run [*a, *b) of pages of slot @s that all have @need, aligned to
 * the slot's granule; false if the slot has no such granule.
 */
static bool pick_run_in(int s, unsigned char need, bool one_vma, long *a, long *b)
{
	static long cand[SLOT_PAGES];
	long g = gran(s), n = 0, p, q, len;

	for (p = 0; p < SLOT_PAGES; p += g) {
		for (q = p; q < p + g; q++)
			if ((slots[s].pg[q] & need) != need)
				break;
		if (q == p + g)
			cand[n++] = p;
	}
	if (!n)
		return false;
	*a = cand[below(n)];
	len = pick_len(SLOT_PAGES / g);
	for (p = *a; p < SLOT_PAGES && p < *a + len * g; p += g) {
		if (one_vma && p > *a && (slots[s].pg[p] & PG_EDGE))
			break;
		for (q = p; q < p + g; q++)
			if ((slots[s].pg[q] & need) != need)
				break;
		if (q != p + g)
			break;
	}
	*b = p;
	return true;
}

static bool pick_run(int s, unsigned char need, long *a, long *b)
{
	return pick_run_in(s, need, false, a, b);
}

/* Any range within the used part of a slot, holes included. */
static void pick_span(int s, long *a, long *b)
{
	long g = gran(s), last = 0, p;

	for (p = 0; p < SLOT_PAGES; p++)
		if (slots[s].pg[p] & PG_MAPPED)
			last = p + 1;
	last = (last + g - 1) / g;
	*a = below(last) * g;
	*b = *a + pick_len(last - *a / g + 1) * g;
	if (*b > SLOT_PAGES)
		*b = SLOT_PAGES;
	if (g == 1 || chance(70))
		return;
	/* Unaligned edges inside a hugetlb page: the walk's own business. */
	*a += below(g);
	*b = *a + 1 + below(*b - *a);
}

/* ---- operations ---- */

static bool op_write(void)
{
	long a, b, at;
	unsigned char v;
	uint64_t sum;
	int s, sig;

	s = pick_slot(NULL);
	if (s < 0 || !pick_run(s, PG_MAPPED | PG_WRITE, &a, &b))
		return false;
	if (gran(s) > 1 && b - a > 1) {
		/* Often only part of a hugetlb page. */
		a += below(b - a);
		b = a + 1 + below(b - a);
	}
	v = wval();
	sig = access_pages(s, a, b, 1, v, &at, &sum);
	if (sig)
		tr("op %d write %s-%s v=%u -> signal %d at %s\n", opno, A(pa(s, a)),
		   A(pa(s, b)), v, sig, A(pa(s, at)));
	else
		tr("op %d write %s-%s v=%u -> ok\n", opno, A(pa(s, a)), A(pa(s, b)), v);
	/* Does the next scan see the write? */
	check_scan("seen", (unsigned long)pa(s, a), (unsigned long)pa(s, b));
	return true;
}

static bool op_read(void)
{
	unsigned char need = PG_MAPPED | PG_READ;
	long a, b, at;
	uint64_t sum;
	int s, sig;

	/*
	 * A read fault in a file-backed VMA maps the page cache pages around
	 * it too (fault-around), up to the VMA's edges, and where a VMA ends
	 * depends on how the kernel merges VMAs (6.1 leaves apart VMAs that
	 * mainline merges, e.g. after UFFDIO_UNREGISTER). Fault-around is off
	 * in VMAs registered for uffd-wp: read file pages only there.
	 */
	s = pick_slot(NULL);
	if (s >= 0 && (slots[s].type == T_SHMEM || slots[s].type == T_FILE))
		need |= PG_REG;
	if (s < 0 || !pick_run(s, need, &a, &b))
		return false;
	sig = access_pages(s, a, b, 0, 0, &at, &sum);
	if (sig)
		tr("op %d read %s-%s -> signal %d at %s\n", opno, A(pa(s, a)),
		   A(pa(s, b)), sig, A(pa(s, at)));
	else
		tr("op %d read %s-%s -> %016llx\n", opno, A(pa(s, a)), A(pa(s, b)),
		   (unsigned long long)sum);
	return true;
}

enum scan_kind { SCAN_GET, SCAN_GET_WP, SCAN_WP_ONLY };

static void pick_scan_range(struct scan *sc)
{
	uint64_t base = (unsigned long)arena;
	int s, t;
	long a, b;

	switch (below(20)) {
	case 0 ... 13:		/* within one mapping */
		s = pick_slot(NULL);
		if (s < 0) {
			sc->start = base;
			sc->end = base + ARENA_SIZE;
			break;
		}
		pick_span(s, &a, &b);
		sc->start = (unsigned long)pa(s, a);
		sc->end = (unsigned long)pa(s, b);
		break;
	case 14 ... 16:		/* across slots and the gaps between them */
		s = (int)below(NR_SLOTS);
		t = s + (int)below(NR_SLOTS - s);
		sc->start = (unsigned long)pa(s, below(SLOT_PAGES));
		sc->end = (unsigned long)pa(t, below(SLOT_PAGES)) + PAGE;
		if (sc->end < sc->start)
			sc->end = sc->start;
		break;
	case 17:		/* the whole arena */
		sc->start = base;
		sc->end = base + ARENA_SIZE;
		break;
	default:		/* edges of the argument checks, inside the arena */
		s = (int)below(NR_SLOTS);
		sc->start = (unsigned long)pa(s, 1 + below(SLOT_PAGES - 65));
		sc->end = sc->start + PAGE * (1 + below(64));
		switch (below(5)) {
		case 0:
			sc->start += 1 + below(PAGE - 1);	/* EINVAL */
			break;
		case 1:
			sc->end -= 1 + below(PAGE - 1);		/* rounded up */
			break;
		case 2:
			sc->end = sc->start;			/* empty */
			break;
		case 3:
			sc->end = sc->start - PAGE;		/* backwards */
			break;
		default:
			sc->end = 1ULL << 63;			/* not user */
			break;
		}
		break;
	}
}

static const char *const scan_names[] = { "get", "getwp", "wponly" };

/* Random arguments for a scan of @kind. */
static void random_scan(struct scan *sc, enum scan_kind kind)
{
	struct scan s = { 0 };

	*sc = s;
	pick_scan_range(sc);
	if (kind != SCAN_GET)
		sc->flags |= PM_SCAN_WP_MATCHING;
	if (chance(20))
		sc->flags |= PM_SCAN_CHECK_WPASYNC;
	if (chance(40))
		sc->inv = random_cats();
	if (chance(50))
		sc->mask = random_cats();
	if (chance(40))
		sc->anyof = random_cats();
	switch (below(10)) {
	case 0 ... 1:
		sc->ret_mask = CATS;
		break;
	case 2:
		sc->ret_mask = 0;
		break;
	default:
		sc->ret_mask = random_cats();
		break;
	}
	if (kind == SCAN_WP_ONLY) {
		sc->vk = VEC_NULL;
	} else {
		switch (below(20)) {
		case 0:
			sc->vk = VEC_NULL;	/* vec = NULL, vec_len = 0 */
			break;
		case 1:
			sc->vec_len = 0;		/* an array of no entries */
			break;
		case 2:
			sc->vk = VEC_EDGE;	/* runs into a PROT_NONE page */
			sc->edge_room = (int)(1 + below(4));
			sc->vec_len = sc->edge_room + 1 + below(VEC_MAX / 4);
			break;
		case 3 ... 10:
			sc->vec_len = VEC_MAX;
			break;
		default:
			sc->vec_len = 1 + below(12);
			break;
		}
	}
	if (chance(35))
		sc->max_pages = 1 + below(chance(50) ? 8 : 600);
	/*
	 * Now and then an unknown flag or category bit: EINVAL. Bit 8 is
	 * left out: it is PAGE_IS_GUARD on mainline 6.14+, unknown on 6.1.
	 */
	if (chance(3)) {
		uint64_t bad = 1ULL << (9 + below(55));

		switch (below(5)) {
		case 0:
			sc->flags |= 1ULL << (2 + below(62));
			break;
		case 1:
			sc->inv |= bad;
			break;
		case 2:
			sc->mask |= bad;
			break;
		case 3:
			sc->anyof |= bad;
			break;
		default:
			sc->ret_mask |= bad;
			break;
		}
	}
}

static bool op_scan(enum scan_kind kind)
{
	struct scan sc;

	random_scan(&sc, kind);
	do_scan(scan_names[kind], &sc);
	return true;
}

/* A snapshot of every page of the arena. */
static bool op_snapshot(void)
{
	check_scan("snap", (unsigned long)arena, (unsigned long)arena + ARENA_SIZE);
	return true;
}

static bool op_uffd_wp(void)
{
	bool wp = chance(60);
	long a, b;
	int s, ret;

	/*
	 * Inside one VMA: 6.1 refuses a range over several VMAs (ENOENT,
	 * nothing done), mainline (6.5+) protects VMA after VMA and stops
	 * with ENOENT at the first one that is not registered.
	 */
	s = pick_slot(NULL);
	if (s < 0 || !pick_run_in(s, PG_MAPPED, true, &a, &b))
		return false;
	ret = uffd_protect(pa(s, a), (b - a) * PAGE, wp);
	tr("op %d uffd-%s %s-%s -> %s\n", opno, wp ? "wp" : "unwp", A(pa(s, a)),
	   A(pa(s, b)), res(ret));
	return true;
}

static bool op_register(void)
{
	bool reg = chance(50);
	long a, b;
	int s, ret;

	s = pick_slot(NULL);
	if (s < 0 || !pick_run(s, PG_MAPPED, &a, &b))
		return false;
	mark_edges(s, a, b);
	if (reg)
		ret = uffd_register(pa(s, a), (b - a) * PAGE);
	else
		ret = uffd_unregister(pa(s, a), (b - a) * PAGE);
	tr("op %d %s %s-%s -> %s\n", opno, reg ? "register" : "unregister",
	   A(pa(s, a)), A(pa(s, b)), res(ret));
	if (!ret)
		set_flags(s, a, b, reg ? PG_REG : 0, reg ? 0 : PG_REG);
	return true;
}

static bool op_dontneed(void)
{
	long a, b;
	int s, ret;

	s = pick_slot(NULL);
	if (s < 0 || !pick_run(s, PG_MAPPED, &a, &b))
		return false;
	/*
	 * Mainline (6.15+, CONFIG_PT_RECLAIM) frees a page table that
	 * MADV_DONTNEED empties when the range covers all of it, and
	 * PAGEMAP_SCAN tells a missing page table (no category in a VMA
	 * without async uffd-wp) from empty entries (PAGE_IS_WRITTEN). Older
	 * kernels keep the table: never cover a whole 2M-aligned block.
	 */
	if (!is_hugetlb(slots[s].type)) {
		long first = (a + HPAGE_PAGES - 1) / HPAGE_PAGES * HPAGE_PAGES;

		if (b > first + HPAGE_PAGES - 1)
			b = first + HPAGE_PAGES - 1;
	}
	ret = madvise(pa(s, a), (b - a) * PAGE, MADV_DONTNEED);
	tr("op %d dontneed %s-%s -> %s\n", opno, A(pa(s, a)), A(pa(s, b)), res(ret));
	return true;
}

static bool pageout_ok(int s)
{
	return !is_hugetlb(slots[s].type);
}

/* Pages of [a, b) still resident after MADV_PAGEOUT, the zero page aside. */
static long resident(int s, long a, long b)
{
	long p, n = 0;

	for (p = a; p < b; p++) {
		uint64_t e = pagemap_entry(pa(s, p));

		if ((e & PME_PRESENT) && (e & PME_PFN_MASK) != zero_pfn)
			n++;
	}
	return n;
}

static int op_pageout(bool *done)
{
	long a, b, left = 0;
	int s, ret = 0, i;

	*done = false;
	if (!opt.swap)
		return 0;
	s = pick_slot(pageout_ok);
	if (s < 0 || !pick_run(s, PG_MAPPED, &a, &b))
		return 0;
	*done = true;
	/*
	 * Reclaim may pass over a page that is, for the moment, on a per-CPU
	 * LRU batch or otherwise busy: ask again until nothing is resident,
	 * so the trace does not depend on that timing.
	 */
	for (i = 0; i < 20; i++) {
		ret = madvise(pa(s, a), (b - a) * PAGE, MADV_PAGEOUT);
		if (ret)
			break;
		left = resident(s, a, b);
		if (!left)
			break;
		usleep(1000 * i);
	}
	tr("op %d pageout %s-%s -> %s\n", opno, A(pa(s, a)), A(pa(s, b)), res(ret));
	if (!ret && left)
		return fail_env("MADV_PAGEOUT left %ld of %ld pages resident", left, b - a);
	return 0;
}

static bool op_mprotect(void)
{
	static const int prots[] = { PROT_READ | PROT_WRITE, PROT_READ, PROT_NONE };
	static const char *const pnames[] = { "rw", "r", "none" };
	static const unsigned char pflags[] = { PG_READ | PG_WRITE, PG_READ, 0 };
	long a, b;
	int s, ret, k;

	s = pick_slot(NULL);
	if (s < 0 || !pick_run(s, PG_MAPPED, &a, &b))
		return false;
	k = (int)(chance(50) ? 0 : 1 + below(4) / 3);
	mark_edges(s, a, b);
	ret = mprotect(pa(s, a), (b - a) * PAGE, prots[k]);
	tr("op %d mprotect %s-%s %s -> %s\n", opno, A(pa(s, a)), A(pa(s, b)),
	   pnames[k], res(ret));
	if (!ret)
		set_flags(s, a, b, pflags[k], PG_READ | PG_WRITE);
	return true;
}

static void release_slot_if_empty(int s)
{
	if (slot_empty(s))
		slots[s].used = false;
}

static bool op_munmap(void)
{
	long a, b;
	int s, ret;

	s = pick_slot(NULL);
	if (s < 0 || !pick_run(s, PG_MAPPED, &a, &b))
		return false;
	mark_edges(s, a, b);
	ret = munmap(pa(s, a), (b - a) * PAGE);
	tr("op %d munmap %s-%s -> %s\n", opno, A(pa(s, a)), A(pa(s, b)), res(ret));
	if (!ret) {
		memset(slots[s].pg + a, 0, b - a);
		release_slot_if_empty(s);
	}
	return true;
}

/*
 * Does another slot map the file of slot @s? Growing a mapping then could
 * map file pages that are mapped elsewhere too, and whether MADV_PAGEOUT
 * takes such a page is a heuristic that changed (page_mapcount() == 1 on
 * 6.1 and 6.12, "mapped by one mm" on 6.15+).
 */
static bool fd_shared(int s)
{
	int t;

	for (t = 0; t < NR_SLOTS; t++)
		if (t != s && slots[t].used && slots[s].fd >= 0 && slots[t].fd == slots[s].fd)
			return true;
	return false;
}

static bool op_mremap(void)
{
	long a, b, g, grow;
	int s, d, ret = 0;
	void *r;

	s = pick_slot(NULL);
	if (s < 0 || !pick_run_in(s, PG_MAPPED, true, &a, &b))
		return false;
	/*
	 * Moving part of a private hugetlb VMA leaks a hugetlb reservation
	 * on mainline (6.18: HugePages_Rsvd grows by one per move of pages
	 * not yet faulted in), which starves later seeds of hugetlb pages:
	 * not done.
	 */
	if (slots[s].type == T_HUGETLB)
		return false;
	g = gran(s);
	switch (below(3)) {
	case 0:			/* move to a free slot */
		d = pick_free_slot();
		if (d < 0)
			return false;
		r = mremap(pa(s, a), (b - a) * PAGE, (b - a) * PAGE,
			   MREMAP_MAYMOVE | MREMAP_FIXED, pa(d, 0));
		ret = r == MAP_FAILED ? -1 : 0;
		tr("op %d mremap-move %s-%s to %s -> %s\n", opno, A(pa(s, a)),
		   A(pa(s, b)), A(pa(d, 0)), res(ret));
		if (ret)
			break;
		slots[d].used = true;
		slots[d].type = slots[s].type;
		slots[d].fd = slots[s].fd;
		slots[d].pgoff = slots[s].pgoff + a;
		memset(slots[d].pg, 0, sizeof(slots[d].pg));
		memcpy(slots[d].pg, slots[s].pg + a, b - a);
		/* Without UFFD_FEATURE_EVENT_REMAP the moved VMA is unregistered. */
		set_flags(d, 0, b - a, 0, PG_REG);
		mark_edges(d, 0, b - a);
		memset(slots[s].pg + a, 0, b - a);
		mark_edges(s, a, b);
		release_slot_if_empty(s);
		break;
	case 1:			/* shrink in place */
		if (b - a < 2 * g)
			return false;
		grow = g * (1 + below((b - a) / g - 1));
		r = mremap(pa(s, a), (b - a) * PAGE, grow * PAGE, 0);
		ret = r == MAP_FAILED ? -1 : 0;
		tr("op %d mremap-shrink %s-%s to %ld -> %s\n", opno, A(pa(s, a)),
		   A(pa(s, b)), grow, res(ret));
		if (!ret) {
			memset(slots[s].pg + a + grow, 0, b - a - grow);
			mark_edges(s, a + grow, b);
		}
		break;
	default:		/* grow in place */
		if (is_hugetlb(slots[s].type) || fd_shared(s))
			return false;
		grow = 1 + below(32);
		if (b + grow > SLOT_PAGES)
			return false;
		r = mremap(pa(s, a), (b - a) * PAGE, (b - a + grow) * PAGE, 0);
		ret = r == MAP_FAILED ? -1 : 0;
		tr("op %d mremap-grow %s-%s by %ld -> %s\n", opno, A(pa(s, a)),
		   A(pa(s, b)), grow, res(ret));
		if (!ret) {
			/* The new pages belong to the VMA that held page b - 1. */
			memset(slots[s].pg + b, slots[s].pg[b - 1] & ~PG_EDGE, grow);
		}
		break;
	}
	return true;
}

/*
 * fork(): the child (which has no userfaultfd: no UFFD_FEATURE_EVENT_FORK)
 * reports what it sees of every mapping, writes one page and reports it
 * again, then exits; the parent waits, so nothing runs concurrently.
 */
static bool op_fork(void)
{
	int s, w = -1, status, parent_fd, dead_fd = -1, ready[2], go[2];
	enum scan_kind kind = (enum scan_kind)below(3);
	long a = 0, b = 0, at;
	struct scan sc;
	uint64_t sum;
	char c = 0;
	pid_t pid;

	random_scan(&sc, kind);

	for (s = 0; s < NR_SLOTS; s++)
		if (slots[s].used && !is_hugetlb(slots[s].type) &&
		    pick_run(s, PG_MAPPED | PG_WRITE, &a, &b) && chance(50)) {
			w = s;
			b = a + 1;
			break;
		}
	tr("op %d fork\n", opno);
	if (pipe2(ready, O_CLOEXEC) || pipe2(go, O_CLOEXEC)) {
		tr("op %d fork-pipe -> %s\n", opno, res(-1));
		return true;
	}
	pid = fork();
	if (pid < 0) {
		tr("op %d fork -> %s\n", opno, res(-1));
		return true;
	}
	if (pid == 0) {
		/* The inherited descriptor scans the parent, blocked meanwhile. */
		parent_fd = pm_fd;
		do_scan_fd(parent_fd, "parent", &sc);
		pm_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		if (pm_fd < 0)
			_exit(EXIT_BUG);
		for (s = 0; s < NR_SLOTS; s++)
			if (slots[s].used)
				check_scan("child", (unsigned long)pa(s, 0),
					   (unsigned long)pa(s + 1, 0));
		if (w >= 0) {
			int sig = access_pages(w, a, b, 1, wval(), &at, &sum);

			tr("op %d child-write %s -> %s\n", opno, A(pa(w, a)),
			   sig ? "signal" : "ok");
			check_scan("child-seen", (unsigned long)pa(w, a),
				   (unsigned long)pa(w, b));
		}
		/* Let the parent open our pagemap, then exit. */
		if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(EXIT_BUG);
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	if (read(ready[0], &c, 1) == 1) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
		dead_fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (write(go[1], &c, 1) != 1)
		tr("op %d fork-go -> %s\n", opno, res(-1));
	close(ready[0]);
	close(go[1]);
	if (waitpid(pid, &status, 0) != pid)
		tr("op %d fork-wait -> %s\n", opno, res(-1));
	else
		tr("op %d fork-child -> status %d\n", opno,
		   WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	/* A scan of a process that is gone: no pages, no crash. */
	if (dead_fd >= 0) {
		check_scan_fd(dead_fd, "dead", (unsigned long)arena,
			      (unsigned long)arena + ARENA_SIZE);
		close(dead_fd);
	} else {
		tr("op %d dead -> no pagemap\n", opno);
	}
	return true;
}

static int op_newmap(bool *done)
{
	static const enum mtype types[] = {
		T_ANON, T_THP, T_SHMEM, T_FILE, T_HUGETLB, T_HUGETLB_SHARED,
	};
	int d, ret, nt = opt.hugetlb ? 6 : 4;
	enum mtype t;
	long n;

	*done = false;
	d = pick_free_slot();
	if (d < 0)
		return 0;
	*done = true;
	t = types[below(nt)];
	n = is_hugetlb(t) ? HPAGE_PAGES * (1 + below(2)) : 1 + below(600);
	ret = map_slot(d, t, n);
	tr("op %d mmap %d %s pages=%ld -> %s\n", opno, d, tname[t], n,
	   ret ? "failed" : "ok");
	if (ret)
		return ret == -EXIT_ENV ? fail_env("mmap %s", tname[t]) :
					  fail_bug(tname[t]);
	if (chance(70)) {
		ret = uffd_register(pa(d, 0), n * PAGE);
		tr("op %d register %d -> %s\n", opno, d, res(ret));
		if (!ret)
			set_flags(d, 0, n, PG_REG, 0);
	}
	return 0;
}

/* Weights of the operations, in percent. */
enum op {
	OP_WRITE, OP_READ, OP_GET, OP_GETWP, OP_WPONLY, OP_SNAP, OP_UFFDWP,
	OP_REGISTER, OP_DONTNEED, OP_PAGEOUT, OP_MPROTECT, OP_MUNMAP,
	OP_MREMAP, OP_FORK, OP_NEWMAP, OP_NR
};

static const int weight[OP_NR] = {
	[OP_WRITE] = 18, [OP_READ] = 7, [OP_GET] = 17, [OP_GETWP] = 12,
	[OP_WPONLY] = 5, [OP_SNAP] = 4, [OP_UFFDWP] = 6, [OP_REGISTER] = 3,
	[OP_DONTNEED] = 6, [OP_PAGEOUT] = 4, [OP_MPROTECT] = 6,
	[OP_MUNMAP] = 3, [OP_MREMAP] = 4, [OP_FORK] = 2, [OP_NEWMAP] = 3,
};

/* Run one operation; returns 0 or an exit status that ends the seed. */
static int one_op(void)
{
	int total = 0, k, r, ret = 0;
	bool done = false;

	for (k = 0; k < OP_NR; k++)
		total += weight[k];
	while (!done) {
		r = (int)below(total);
		for (k = 0; r >= weight[k]; k++)
			r -= weight[k];
		switch (k) {
		case OP_WRITE:
			done = op_write();
			break;
		case OP_READ:
			done = op_read();
			break;
		case OP_GET:
			done = op_scan(SCAN_GET);
			break;
		case OP_GETWP:
			done = op_scan(SCAN_GET_WP);
			break;
		case OP_WPONLY:
			done = op_scan(SCAN_WP_ONLY);
			break;
		case OP_SNAP:
			done = op_snapshot();
			break;
		case OP_UFFDWP:
			done = op_uffd_wp();
			break;
		case OP_REGISTER:
			done = op_register();
			break;
		case OP_DONTNEED:
			done = op_dontneed();
			break;
		case OP_PAGEOUT:
			ret = op_pageout(&done);
			break;
		case OP_MPROTECT:
			done = op_mprotect();
			break;
		case OP_MUNMAP:
			done = op_munmap();
			break;
		case OP_MREMAP:
			done = op_mremap();
			break;
		case OP_FORK:
			done = op_fork();
			break;
		case OP_NEWMAP:
			ret = op_newmap(&done);
			break;
		}
		if (ret)
			return ret;
	}
	return 0;
}

static void pin_cpu(void)
{
	cpu_set_t set;
	int cpu;

	if (sched_getaffinity(0, sizeof(set), &set))
		return;
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &set))
			break;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* The body of one seed, in a process of its own. */
static int run_seed(unsigned long seed)
{
	struct sigaction sa = { .sa_handler = on_fault };
	int ret;

	rng = seed * 0x2545f4914f6cdd1dULL + 1;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	alarm(opt.timeout);
	pin_cpu();
	tr("pmscan-fuzz-diff v%d seed=%lu ops=%ld hugetlb=%d swap=%d%s\n",
	   TRACE_VERSION, seed, opt.ops, opt.hugetlb, opt.swap,
	   opt.state ? " state=1" : "");
	ret = setup(seed);
	if (ret)
		return ret;
	for (opno = 0; opno < opt.ops; opno++) {
		ret = one_op();
		if (ret)
			return ret;
		/*
		 * --state: the whole arena after each operation (a scan that
		 * changes nothing and draws no random number), so the first
		 * operation after which two kernels disagree shows at once.
		 */
		if (opt.state)
			check_scan("state", (unsigned long)arena,
				   (unsigned long)arena + ARENA_SIZE);
	}
	op_snapshot();
	tr("end ok\n");
	return EXIT_DONE;
}

/* ---- the driver: one process per seed, one trace file per seed ---- */

static int write_trace(unsigned long seed, const char *end)
{
	char path[4096];
	size_t off = 0;
	int fd;

	if (end)
		tr("%s\n", end);
	if (trace->truncated) {
		trace->truncated = false;
		trace->len -= trace->len > 64 ? 64 : trace->len;
		tr("\nend error trace longer than %lu bytes\n", TRACE_CAP);
	}
	if (!opt.out)
		return fwrite(trace->data, 1, trace->len, stdout) == trace->len ? 0 : -1;
	snprintf(path, sizeof(path), "%s/seed-%lu.trace", opt.out, seed);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	while (off < trace->len) {
		ssize_t n = write(fd, trace->data + off, trace->len - off);

		if (n <= 0) {
			close(fd);
			return -1;
		}
		off += n;
	}
	return close(fd);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Count the "op N" entries of a finished trace (for the ops/s figure). */
static long count_ops(void)
{
	long n = -1;
	const char *p = trace->data, *end = trace->data + trace->len;
	int k;

	while (p < end) {
		if (sscanf(p, "op %d ", &k) == 1 && k + 1 > n)
			n = k + 1;
		p = memchr(p, '\n', end - p);
		if (!p)
			break;
		p++;
	}
	return n < 0 ? 0 : n;
}

static int probe(void)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC), ret;
	bool unsupported;

	if (fd < 0) {
		perror("open /proc/self/pagemap");
		return EXIT_BUG;
	}
	ret = pagemap_scan_supported(fd);
	if (ret == 0) {
		printf("unsupported PAGEMAP_SCAN (ENOTTY)\n");
		return EXIT_UNSUPPORTED;
	}
	if (ret < 0) {
		printf("error PAGEMAP_SCAN probe: %s\n", strerror(-ret));
		return EXIT_BUG;
	}
	uffd = open_uffd(UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED |
			 UFFD_FEATURE_WP_HUGETLBFS_SHMEM, &unsupported);
	if (unsupported) {
		printf("unsupported UFFD_FEATURE_WP_ASYNC (not advertised)\n");
		return EXIT_UNSUPPORTED;
	}
	if (uffd < 0) {
		printf("error userfaultfd: %s\n", strerror(errno));
		return EXIT_BUG;
	}
	printf("supported\n");
	return EXIT_DONE;
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [--ops N] [--hugetlb] [--swap] [--state] [--timeout S] [--out DIR]\n"
		"          FIRST [COUNT] | S1,S2,...\n"
		"       %s --probe\n"
		"Runs seeds FIRST..FIRST+COUNT-1 (COUNT defaults to 1), or the listed\n"
		"seeds, one process each; with --out, one trace file per seed\n"
		"(DIR/seed-N.trace) and a summary on stdout, else the traces on stdout.\n"
		"--state adds a scan of the whole arena after every operation.\n",
		argv0, argv0);
	exit(EXIT_BUG);
}

#define MAX_LIST	4096

/* SEEDS: "FIRST [COUNT]", or a list "S1,S2,..." put in @list: how many. */
static unsigned long parse_seeds(int argc, char **argv, int ai, unsigned long *list)
{
	unsigned long count = 1, n = 0;
	char *p = argv[ai], *end;

	if (strchr(p, ',')) {
		if (ai + 1 < argc)
			usage(argv[0]);
		while (*p && n < MAX_LIST) {
			list[n++] = strtoul(p, &end, 10);
			if (end == p || (*end && *end != ','))
				usage(argv[0]);
			p = *end ? end + 1 : end;
		}
		return n;
	}
	if (ai + 1 < argc)
		count = strtoul(argv[ai + 1], NULL, 10);
	return count;
}

int main(int argc, char **argv)
{
	static unsigned long list[MAX_LIST];
	unsigned long first = 0, count = 1, i;
	bool listed;
	long total_ops = 0, per[5] = { 0 };
	int status, st, ai;
	double t0;
	pid_t pid;

	for (ai = 1; ai < argc && !strncmp(argv[ai], "--", 2); ai++) {
		if (!strcmp(argv[ai], "--probe"))
			return probe();
		else if (!strcmp(argv[ai], "--hugetlb"))
			opt.hugetlb = true;
		else if (!strcmp(argv[ai], "--swap"))
			opt.swap = true;
		else if (!strcmp(argv[ai], "--state"))
			opt.state = true;
		else if (!strcmp(argv[ai], "--ops") && ai + 1 < argc)
			opt.ops = strtol(argv[++ai], NULL, 10);
		else if (!strcmp(argv[ai], "--timeout") && ai + 1 < argc)
			opt.timeout = (unsigned int)strtoul(argv[++ai], NULL, 10);
		else if (!strcmp(argv[ai], "--out") && ai + 1 < argc)
			opt.out = argv[++ai];
		else
			usage(argv[0]);
	}
	if (ai >= argc || ai + 2 < argc)
		usage(argv[0]);
	listed = strchr(argv[ai], ',') != NULL;
	first = strtoul(argv[ai], NULL, 10);
	count = parse_seeds(argc, argv, ai, list);
	if (sysconf(_SC_PAGESIZE) != (long)PAGE) {
		fprintf(stderr, "this program assumes 4K pages\n");
		return EXIT_BUG;
	}
	if (opt.out && mkdir(opt.out, 0755) && errno != EEXIST) {
		perror(opt.out);
		return EXIT_BUG;
	}
	/* Shared with each seed's process, so a crash keeps its trace. */
	trace = mmap(NULL, TRACE_CAP, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (trace == MAP_FAILED) {
		perror("mmap");
		return EXIT_BUG;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	t0 = now();
	for (i = 0; i < count; i++) {
		unsigned long seed = listed ? list[i] : first + i;
		char end[64] = "";

		trace->len = 0;
		trace->truncated = false;
		fflush(stdout);
		pid = fork();
		if (pid < 0) {
			perror("fork");
			return EXIT_BUG;
		}
		if (pid == 0)
			_exit(run_seed(seed));
		if (waitpid(pid, &status, 0) != pid) {
			perror("waitpid");
			return EXIT_BUG;
		}
		if (WIFSIGNALED(status)) {
			st = 2;
			snprintf(end, sizeof(end), "end %s signal %d",
				 WTERMSIG(status) == SIGALRM ? "timeout" : "crash",
				 WTERMSIG(status));
		} else {
			st = WEXITSTATUS(status);
			if (st != EXIT_DONE && st != EXIT_ENV &&
			    st != EXIT_UNSUPPORTED && st != EXIT_BUG)
				snprintf(end, sizeof(end), "end crash status %d", st);
		}
		total_ops += count_ops();
		if (write_trace(seed, end[0] ? end : NULL)) {
			perror("writing the trace");
			return EXIT_BUG;
		}
		per[st < 5 ? st : 2]++;
		if (st == EXIT_UNSUPPORTED) {
			/* Every other seed would say the same. */
			count = i + 1;
			break;
		}
	}
	if (opt.out)
		printf("summary seeds=%lu ops=%ld seconds=%.3f done=%ld env=%ld %s=%ld failed=%ld\n",
		       count, total_ops, now() - t0, per[EXIT_DONE], per[EXIT_ENV],
		       "unsupported", per[EXIT_UNSUPPORTED], per[EXIT_BUG] + per[2]);
	if (per[EXIT_UNSUPPORTED])
		return EXIT_UNSUPPORTED;
	return per[EXIT_BUG] + per[2] ? EXIT_BUG : EXIT_DONE;
}
