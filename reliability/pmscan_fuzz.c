// SPDX-License-Identifier: GPL-2.0
/*
 * pmscan_fuzz - a seeded PAGEMAP_SCAN argument fuzzer.
 *
 * Call K's arguments depend only on the seed and K (their own splitmix64
 * stream), so `--seed S --print-args` prints the same argument sequence on
 * every run, and a failure names the seed and the call to replay.
 *
 * Each call draws the target (our own pagemap, a child that is alive or
 * exiting, a reaped child's), the argument pointer (valid, NULL, unmapped,
 * kernel, read-only, inside a uffd-protected range), `size`, `flags` and the
 * four masks (with unknown bits), `start`/`end` (aligned or not, in an async
 * uffd-wp area, a plain area, THP, shmem, the chaos window, a hole, zero,
 * kernel addresses, wrapping, near the top of user space), `vec` (NULL,
 * a buffer, unmapped, read-only, inside the scanned range, inside a
 * uffd-write-protected buffer, straddling into a guard, kernel), `vec_len`
 * and `max_pages`. Meanwhile a chaos thread maps, unmaps, mremaps,
 * registers and protects mappings in a window the scans and vecs point into,
 * and another forks children that touch memory and exit, and threads that
 * exit.
 *
 * The expected result follows the spec's error table in mainline's order.
 * Where the order decides (ESRCH for a reaped target, an unreadable arg,
 * bad size/flags/masks/alignment, end < start, a kernel-half range, vec 0
 * with vec_len, an impossible vec range, a read-only arg) the errno must be
 * exactly that; past the argument checks the result must be success or an
 * errno the situation allows (EFAULT when the vec is not all writable,
 * EPERM with CHECK_WPASYNC outside async areas, ESRCH for an exiting
 * target). A success is checked too: ret <= vec_len, walk_end within
 * [start, end], regions ordered inside the range, categories within
 * return_mask, at most max_pages pages.
 *
 * Usage: pmscan_fuzz [--seed S] [--calls N] [--print-args] [--no-chaos]
 *                    [--plant-bad-result K]  (test-only: call K fails wrongly)
 * Exit status: 0 no violation, 1 a violation (FAIL seed=S call=K ...),
 * 4 PAGEMAP_SCAN or async uffd-wp is not supported.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "../kselftest.h"
#include "pagemap_scan.h"
#include "vm_util.h"
#include "prng.h"

#define PS		4096ULL
#define ARG_SIZE	sizeof(struct pm_scan_arg)
#define KNOWN_FLAGS	(PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC)
/* Bit 8 (PAGE_IS_GUARD) is valid on mainline 6.14+, not on 6.1: never drawn. */
#define UNKNOWN_CAT_LO	9
#define KERNEL_ADDR	0xffff888000000000ULL
#define USER_CLEAR	(1ULL << 46)	/* below: a user address on every kernel */
#define KERNEL_HALF	(1ULL << 63)	/* at or above: never a user address */

/* Fixed addresses far below where mmap() places things: ours alone. */
#define WINDOW		0x300000000000ULL
#define WIN_SLOTS	16
#define SLOT_PAGES	64
#define WIN_SIZE	(WIN_SLOTS * SLOT_PAGES * PS)
#define HOLE		0x100000000000ULL	/* never mapped */

#define AREA_PAGES	64
#define BUF_ENTRIES	1024

/* ---- the PRNG ------------------------------------------------------- */

static bool chance(uint64_t *s, unsigned int percent)
{
	return rnd(s, 100) < percent;
}

/* ---- the memory the calls point at ----------------------------------- */

/* Where an address was drawn from: printed symbolically, resolved at call. */
enum where {
	W_NULL, W_ABS,		/* no base: the offset is the address */
	W_ASYNC,		/* anon, async uffd-wp, partly written */
	W_PLAIN,		/* anon, no uffd */
	W_THP,			/* THP, async uffd-wp (plain anon when no THP) */
	W_SHMEM,		/* shmem, async uffd-wp (plain when unsupported) */
	W_WINDOW,		/* the chaos window */
	W_HOLE,			/* never mapped */
	W_BUF,			/* a vec buffer, a guard page after it */
	W_RO,			/* a read-only page, a guard after it */
	W_UFBUF,		/* a vec buffer under async uffd-wp */
	W_ARGS,			/* the normal arg page */
	W_NR
};

static const char * const where_name[W_NR] = {
	"NULL", "abs", "async", "plain", "thp", "shmem", "window", "hole",
	"buf", "ro", "ufbuf", "argpage",
};

struct place {
	char *base;
	uint64_t size;		/* bytes that are mapped (and writable, but W_RO) */
	bool async;		/* the whole area is async uffd-wp registered */
	bool writable;		/* its bytes are writable by the kernel */
};

static struct place places[W_NR];

struct addr {
	enum where w;
	uint64_t off;
};

static uint64_t resolve(struct addr a)
{
	if (a.w == W_NULL)
		return 0;
	if (a.w == W_ABS)
		return a.off;
	return (uint64_t)(unsigned long)places[a.w].base + a.off;
}

static void addr_str(char *buf, size_t len, struct addr a)
{
	if (a.w == W_NULL)
		snprintf(buf, len, "NULL");
	else if (a.w == W_ABS)
		snprintf(buf, len, "%#" PRIx64, a.off);
	else
		snprintf(buf, len, "%s+%#" PRIx64, where_name[a.w], a.off);
}

/* ---- one call's arguments -------------------------------------------- */

enum target { TGT_SELF, TGT_CHILD, TGT_DYING, TGT_REAPED, TGT_NR };
static const char * const target_name[TGT_NR] = { "self", "child", "dying", "reaped" };

enum argp { ARGP_OK, ARGP_NULL, ARGP_HOLE, ARGP_KERNEL, ARGP_RO, ARGP_ASYNC, ARGP_NR };
static const char * const argp_name[ARGP_NR] = { "ok", "NULL", "hole", "kernel", "ro", "async" };

struct call {
	enum target target;
	enum argp argp;
	struct pm_scan_arg arg;		/* vec, start, end resolved at call time */
	struct addr start, end, vec;
	bool end_rel;			/* end = resolved start + end.off */
};

static uint64_t pick_mask(uint64_t *r)
{
	uint64_t m = 0;

	if (chance(r, 40))
		return 0;
	m = rnd(r, 256);
	if (chance(r, 4))
		m |= 1ULL << (UNKNOWN_CAT_LO + rnd(r, 64 - UNKNOWN_CAT_LO));
	return m;
}

static uint64_t pick_len(uint64_t *r)
{
	switch (rnd(r, 8)) {
	case 0: return 0;
	case 1: return PS;
	case 2: return rnd(r, 8) * PS;
	case 3: return rnd(r, AREA_PAGES + 8) * PS;
	case 4: return rnd(r, 1ULL << 20) * PS;		/* up to 4G */
	case 5: return rnd(r, 1ULL << 35) * PS;		/* huge */
	case 6: return -(rnd(r, 16) * PS);		/* wraps */
	default: return rnd(r, 4 * AREA_PAGES) * PS;
	}
}

static struct addr pick_start(uint64_t *r)
{
	static const enum where areas[] = { W_ASYNC, W_PLAIN, W_THP, W_SHMEM,
					    W_WINDOW, W_HOLE, W_BUF, W_UFBUF };
	struct addr a = { W_ABS, 0 };

	switch (rnd(r, 16)) {
	case 0: a.off = 0; break;
	case 1: a.off = KERNEL_ADDR + rnd(r, 64) * PS; break;
	case 2: a.off = (1ULL << 47) - rnd(r, 8) * PS; break;	/* top of user space */
	case 3: a.off = rnd(r, 1ULL << 35) * PS; break;		/* anywhere */
	case 4: a.off = -(rnd(r, 4) + 1) * PS; break;
	default:
		a.w = areas[rnd(r, sizeof(areas) / sizeof(areas[0]))];
		a.off = (a.w == W_WINDOW ? rnd(r, WIN_SIZE / PS) :
			 rnd(r, AREA_PAGES + 4)) * PS;
		if (a.w == W_THP)
			a.off = rnd(r, 2 * 512) * PS;
	}
	if (chance(r, 6))
		a.off += 1 + rnd(r, PS - 1);	/* unaligned */
	return a;
}

static struct addr pick_vec(uint64_t *r)
{
	struct addr a = { W_NULL, 0 };

	switch (rnd(r, 20)) {
	case 0: case 1: break;					/* NULL */
	case 2: a.w = W_HOLE; a.off = rnd(r, 16) * PS; break;
	case 3: a.w = W_RO; break;
	case 4: case 5: a.w = W_ASYNC; a.off = rnd(r, AREA_PAGES) * PS; break;
	case 6: case 7: a.w = W_UFBUF; a.off = rnd(r, 4) * 24; break;
	case 8: a.w = W_WINDOW; a.off = rnd(r, WIN_SIZE / PS) * PS; break;
	case 9: a.w = W_ABS; a.off = KERNEL_ADDR; break;
	case 10: /* straddles into the guard page after the buffer */
		a.w = W_BUF; a.off = BUF_ENTRIES * 24 - 24 * (1 + rnd(r, 4)); break;
	case 11: a.w = W_THP; a.off = rnd(r, 1024) * PS; break;
	default: a.w = W_BUF; a.off = chance(r, 10) ? 1 + rnd(r, 23) : 0;
	}
	return a;
}

static void gen_call(uint64_t seed, uint64_t k, struct call *c)
{
	static const uint64_t sizes[] = { 0, 1, 8, ARG_SIZE - 8, ARG_SIZE - 1,
					  ARG_SIZE + 1, ARG_SIZE + 8, 4096, ~0ULL };
	uint64_t r = seed ^ (k * 0xd1342543de82ef95ULL + 0x1234567ULL);
	struct pm_scan_arg *a = &c->arg;

	splitmix(&r);
	memset(c, 0, sizeof(*c));
	c->target = TGT_SELF;
	if (chance(&r, 10))
		c->target = 1 + rnd(&r, TGT_NR - 1);
	c->argp = ARGP_OK;
	if (chance(&r, 8))
		c->argp = 1 + rnd(&r, ARGP_NR - 1);

	a->size = chance(&r, 92) ? ARG_SIZE : sizes[rnd(&r, 9)];
	switch (rnd(&r, 10)) {
	case 0: case 1: case 2: a->flags = 0; break;
	case 3: case 4: a->flags = PM_SCAN_WP_MATCHING; break;
	case 5: case 6: a->flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC; break;
	case 7: a->flags = PM_SCAN_CHECK_WPASYNC; break;
	case 8: a->flags = rnd(&r, 4); break;
	default: a->flags = rnd(&r, 4) | (1ULL << (2 + rnd(&r, 62)));
	}
	a->category_inverted = pick_mask(&r);
	a->category_mask = pick_mask(&r);
	a->category_anyof_mask = pick_mask(&r);
	a->return_mask = chance(&r, 20) ? 0xff : pick_mask(&r);

	c->start = pick_start(&r);
	c->end_rel = chance(&r, 85);
	if (c->end_rel) {
		c->end.w = W_ABS;
		c->end.off = pick_len(&r);
		if (chance(&r, 10))
			c->end.off += 1 + rnd(&r, PS - 1);	/* unaligned end */
	} else {
		c->end = pick_start(&r);
	}
	c->vec = pick_vec(&r);
	switch (rnd(&r, 10)) {
	case 0: a->vec_len = 0; break;
	case 1: a->vec_len = 1; break;
	case 2: a->vec_len = 1ULL << (20 + rnd(&r, 44)); break;	/* huge */
	case 3: a->vec_len = BUF_ENTRIES + rnd(&r, 64); break;
	default: a->vec_len = 1 + rnd(&r, 64);
	}
	if (c->vec.w == W_NULL && chance(&r, 70))
		a->vec_len = 0;
	switch (rnd(&r, 6)) {
	case 0: case 1: case 2: a->max_pages = 0; break;
	case 3: a->max_pages = 1 + rnd(&r, 8); break;
	case 4: a->max_pages = rnd(&r, 1024); break;
	default: a->max_pages = splitmix(&r);
	}
}

static void print_call(FILE *f, uint64_t k, const struct call *c)
{
	char s[64], e[64], v[64];
	const struct pm_scan_arg *a = &c->arg;

	addr_str(s, sizeof(s), c->start);
	addr_str(e, sizeof(e), c->end);
	addr_str(v, sizeof(v), c->vec);
	fprintf(f, "call %" PRIu64 ": target=%s argp=%s size=%llu flags=%#llx "
		"start=%s end=%s%s vec=%s vec_len=%#llx max_pages=%#llx "
		"inverted=%#llx mask=%#llx anyof=%#llx return=%#llx\n",
		k, target_name[c->target], argp_name[c->argp],
		(unsigned long long)a->size, (unsigned long long)a->flags, s,
		c->end_rel ? "start+" : "", e, v,
		(unsigned long long)a->vec_len, (unsigned long long)a->max_pages,
		(unsigned long long)a->category_inverted,
		(unsigned long long)a->category_mask,
		(unsigned long long)a->category_anyof_mask,
		(unsigned long long)a->return_mask);
}

/* ---- the expectation ------------------------------------------------- */

struct expect {
	int exact;		/* > 0: exactly this errno; 0: see allowed */
	bool ok, efault, eperm, esrch, einval;
	const char *why;
};

/* Bytes writable from @v on, as far as this process knows; 0: none. */
static uint64_t vec_room(struct addr v)
{
	const struct place *p;

	if (v.w == W_NULL || v.w == W_ABS || v.w == W_HOLE)
		return 0;
	p = &places[v.w];
	if (!p->writable || v.off >= p->size)
		return 0;
	return p->size - v.off;
}

static uint64_t mul_sat(uint64_t a, uint64_t b)
{
	uint64_t r;

	return __builtin_mul_overflow(a, b, &r) ? ~0ULL : r;
}

static bool in_async(uint64_t start, uint64_t end)
{
	int w;

	for (w = W_ASYNC; w < W_NR; w++) {
		uint64_t lo = (uint64_t)(unsigned long)places[w].base;

		if (places[w].async && start >= lo && end <= lo + places[w].size)
			return true;
	}
	return false;
}

static struct expect expect_for(const struct call *c, uint64_t start, uint64_t end,
				uint64_t vec)
{
	const struct pm_scan_arg *a = &c->arg;
	uint64_t cats = a->category_inverted | a->category_mask |
			a->category_anyof_mask | a->return_mask;
	uint64_t vbytes = mul_sat(a->vec_len, sizeof(struct page_region));
	struct expect x = { 0 };

	if (c->target == TGT_REAPED)
		return (struct expect){ .exact = ESRCH, .why = "target reaped" };
	x.esrch = c->target == TGT_DYING;
	if (c->argp == ARGP_NULL || c->argp == ARGP_HOLE || c->argp == ARGP_KERNEL)
		return (struct expect){ .exact = EFAULT, .esrch = x.esrch,
					.why = "arg not readable" };
	if (a->size != ARG_SIZE)
		return (struct expect){ .exact = EINVAL, .esrch = x.esrch, .why = "size" };
	if (a->flags & ~(uint64_t)KNOWN_FLAGS)
		return (struct expect){ .exact = EINVAL, .esrch = x.esrch, .why = "flags" };
	if (cats & ~(uint64_t)PM_SCAN_KNOWN_CATEGORIES)
		return (struct expect){ .exact = EINVAL, .esrch = x.esrch, .why = "masks" };
	if (start & (PS - 1))
		return (struct expect){ .exact = EINVAL, .esrch = x.esrch,
					.why = "start unaligned" };
	if (end < start || start >= KERNEL_HALF || end >= KERNEL_HALF)
		return (struct expect){ .exact = EFAULT, .esrch = x.esrch,
					.why = "range not user" };
	/* Between the clearly-user and the kernel half: kernel-dependent. */
	if (end > USER_CLEAR)
		x.efault = true;
	if (!vec && a->vec_len)
		return (struct expect){ .exact = x.efault ? 0 : EINVAL,
					.efault = x.efault, .einval = true,
					.esrch = x.esrch, .why = "vec NULL, vec_len" };
	if (vec && (vec >= KERNEL_HALF || vbytes >= KERNEL_HALF ||
		    vec + vbytes < vec || vec + vbytes >= KERNEL_HALF))
		return (struct expect){ .exact = EFAULT, .esrch = x.esrch,
					.why = "vec range not user" };
	if (c->argp == ARGP_RO)
		return (struct expect){ .exact = EFAULT, .esrch = x.esrch,
					.why = "arg read-only (walk_end write-back)" };
	if (vec && vec + vbytes > USER_CLEAR)
		x.efault = true;
	/* Past the argument checks: the walk. */
	x.ok = true;
	if (vec && vbytes > vec_room(c->vec))
		x.efault = true;	/* output may fault */
	if ((a->flags & PM_SCAN_CHECK_WPASYNC) &&
	    (c->target != TGT_SELF || !in_async(start, (end + PS - 1) & ~(PS - 1))))
		x.eperm = true;
	x.why = "walk";
	return x;
}

static bool allowed(const struct expect *x, long ret, int err)
{
	if (ret >= 0)
		return x->exact == 0 && x->ok;
	if (err == ESRCH && x->esrch)
		return true;
	if (x->exact)
		return err == x->exact;
	return (err == EFAULT && x->efault) || (err == EPERM && x->eperm) ||
	       (err == EINVAL && x->einval);
}

/* ---- chaos ----------------------------------------------------------- */

static volatile int stop;
static int uffd;
static pthread_mutex_t victim_lock = PTHREAD_MUTEX_INITIALIZER;
static int victim_fd = -1;		/* a dying child's pagemap */
static int child_fd = -1, reaped_fd = -1;
static pid_t live_child;
static uint64_t chaos_ops, forks, threads_made;

static void *short_thread(void *arg)
{
	volatile char *p = arg;

	p[0]++;
	return NULL;
}

static void *window_chaos(void *arg)
{
	uint64_t r = *(uint64_t *)arg;

	while (!stop) {
		int slot = rnd(&r, WIN_SLOTS), other = rnd(&r, WIN_SLOTS);
		char *p = (char *)(unsigned long)(WINDOW + slot * SLOT_PAGES * PS);
		char *q = (char *)(unsigned long)(WINDOW + other * SLOT_PAGES * PS);
		size_t n = (1 + rnd(&r, SLOT_PAGES)) * PS;
		void *m;

		switch (rnd(&r, 9)) {
		case 0: case 1:
			m = mmap(p, n, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_ANONYMOUS |
				 (chance(&r, 30) ? MAP_SHARED : MAP_PRIVATE), -1, 0);
			if (m != MAP_FAILED)
				memset(p, 1, PS);
			break;
		case 2:
			munmap(p + rnd(&r, SLOT_PAGES) * PS, n);
			break;
		case 3:	/* move a slot's start onto another slot */
			mremap(p, PS * (1 + rnd(&r, 4)), n, MREMAP_MAYMOVE | MREMAP_FIXED, q);
			break;
		case 4:	/* grow or shrink in place */
			mremap(p, PS * (1 + rnd(&r, 8)), n, 0);
			break;
		case 5:
			if (!uffd_register(uffd, p, n, UFFDIO_REGISTER_MODE_WP, NULL))
				uffd_wp(uffd, p, n, true);
			break;
		case 6:
			mprotect(p, n, chance(&r, 50) ? PROT_READ :
				 chance(&r, 50) ? PROT_NONE : PROT_READ | PROT_WRITE);
			break;
		case 7:
			madvise(p, n, MADV_DONTNEED);
			break;
		default:	/* a hole in the middle of a slot */
			munmap(p + PS * rnd(&r, SLOT_PAGES), PS);
			break;
		}
		chaos_ops++;
	}
	return NULL;
}

static void *process_chaos(void *arg)
{
	uint64_t r = *(uint64_t *)arg;

	while (!stop) {
		char path[64];
		pid_t pid;
		int fd;

		/* A child that touches memory and exits while we scan it. */
		pid = fork();
		if (pid == 0) {
			struct timespec t = { .tv_nsec = rnd(&r, 2000000) };

			places[W_PLAIN].base[0]++;
			places[W_ASYNC].base[PS]++;
			nanosleep(&t, NULL);
			_exit(0);
		}
		if (pid < 0)
			continue;
		forks++;
		snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		pthread_mutex_lock(&victim_lock);
		if (victim_fd >= 0)
			close(victim_fd);
		victim_fd = fd;
		pthread_mutex_unlock(&victim_lock);
		waitpid(pid, NULL, 0);

		if (chance(&r, 30)) {
			pthread_t th;

			if (!pthread_create(&th, NULL, short_thread, places[W_PLAIN].base)) {
				pthread_join(th, NULL);
				threads_made++;
			}
		}
		chaos_ops++;
	}
	return NULL;
}

/* ---- set-up ---------------------------------------------------------- */

static char *map_guarded(uint64_t size, int prot)
{
	char *p = mmap(NULL, size + PS, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (mprotect(p, size, prot))
		return NULL;
	return p;
}

static int setup(uint64_t seed, uint64_t features)
{
	struct area thp, shm;
	uint64_t r = seed;
	char *p;
	int i;

	p = map_guarded(AREA_PAGES * PS, PROT_READ | PROT_WRITE);
	places[W_ASYNC] = (struct place){ p, AREA_PAGES * PS, true, true };
	for (i = 0; i < AREA_PAGES; i++)
		if (chance(&r, 50))
			p[i * PS] = 1;
	if (uffd_register(uffd, p, AREA_PAGES * PS, UFFDIO_REGISTER_MODE_WP, NULL) ||
	    uffd_wp(uffd, p, AREA_PAGES * PS, true))
		return -1;

	p = map_guarded(AREA_PAGES * PS, PROT_READ | PROT_WRITE);
	memset(p, 2, AREA_PAGES * PS / 2);
	places[W_PLAIN] = (struct place){ p, AREA_PAGES * PS, false, true };

	if (area_alloc(&thp, MEM_THP, 2, true, 0) == VMH_OK &&
	    !uffd_register(uffd, thp.addr, thp.size, UFFDIO_REGISTER_MODE_WP, NULL) &&
	    !uffd_wp(uffd, thp.addr, thp.size, true))
		places[W_THP] = (struct place){ thp.addr, thp.size, true, true };
	else	/* the same size, plain: a vec drawn there must stay ours */
		places[W_THP] = (struct place){ map_guarded(2 * 512 * PS,
					PROT_READ | PROT_WRITE), 2 * 512 * PS, false, true };

	places[W_SHMEM] = places[W_PLAIN];
	if ((features & UFFD_FEATURE_WP_HUGETLBFS_SHMEM) &&
	    area_alloc(&shm, MEM_SHMEM, AREA_PAGES, true, 0) == VMH_OK &&
	    !uffd_register(uffd, shm.addr, shm.size, UFFDIO_REGISTER_MODE_WP, NULL) &&
	    !uffd_wp(uffd, shm.addr, shm.size, true))
		places[W_SHMEM] = (struct place){ shm.addr, shm.size, true, true };

	p = mmap((void *)(unsigned long)WINDOW, WIN_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	places[W_WINDOW] = (struct place){ p, WIN_SIZE, false, false };
	places[W_HOLE] = (struct place){ (char *)(unsigned long)HOLE, 0, false, false };

	p = map_guarded(BUF_ENTRIES * 24, PROT_READ | PROT_WRITE);
	places[W_BUF] = (struct place){ p, BUF_ENTRIES * 24, false, true };
	p = map_guarded(PS, PROT_READ);
	places[W_RO] = (struct place){ p, PS, false, false };
	p = map_guarded(BUF_ENTRIES * 24, PROT_READ | PROT_WRITE);
	memset(p, 0, BUF_ENTRIES * 24);
	/* BUF_ENTRIES * 24 is a whole number of pages */
	if (uffd_register(uffd, p, BUF_ENTRIES * 24, UFFDIO_REGISTER_MODE_WP, NULL))
		return -1;
	places[W_UFBUF] = (struct place){ p, BUF_ENTRIES * 24, true, true };
	p = map_guarded(PS, PROT_READ | PROT_WRITE);
	places[W_ARGS] = (struct place){ p, PS, false, true };
	return 0;
}

static int fork_targets(void)
{
	char path[64];
	int hold[2];
	pid_t pid;

	pid = fork();
	if (pid == 0) {
		pause();
		_exit(0);
	}
	live_child = pid;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	child_fd = open(path, O_RDONLY | O_CLOEXEC);

	/* It exits only once its pagemap is open: a pipe holds it. */
	if (pipe(hold))
		return -1;
	pid = fork();
	if (pid == 0) {
		char c;

		close(hold[1]);
		(void)!read(hold[0], &c, 1);
		_exit(0);
	}
	close(hold[0]);
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	reaped_fd = open(path, O_RDONLY | O_CLOEXEC);
	close(hold[1]);
	waitpid(pid, NULL, 0);
	return child_fd >= 0 && reaped_fd >= 0 ? 0 : -1;
}

/* ---- checking a success ---------------------------------------------- */

static const char *check_success(const struct call *c, long ret, uint64_t start,
				 uint64_t end, uint64_t walk_end, const struct page_region *v,
				 bool readable)
{
	const struct pm_scan_arg *a = &c->arg;
	uint64_t aend = (end + PS - 1) & ~(PS - 1), prev = start, pages = 0;
	long i;

	if ((uint64_t)ret > a->vec_len)
		return "more regions than vec_len";
	if (!a->vec && ret)
		return "regions without a vec";
	if (walk_end < start || walk_end > aend || (walk_end & (PS - 1)))
		return "walk_end outside [start, end]";
	if (!readable)
		return NULL;
	for (i = 0; i < ret; i++) {
		if (v[i].start < prev || v[i].end <= v[i].start || v[i].end > aend ||
		    ((v[i].start | v[i].end) & (PS - 1)))
			return "a region out of order or outside the range";
		if (v[i].categories & ~a->return_mask)
			return "categories outside return_mask";
		pages += (v[i].end - v[i].start) / PS;
		prev = v[i].end;
	}
	if (a->max_pages && pages > a->max_pages)
		return "more pages than max_pages";
	return NULL;
}

/* ---- main ------------------------------------------------------------ */

static const char *errname(int e)
{
	switch (e) {
	case 0: return "ok";
	case EFAULT: return "EFAULT";
	case EINVAL: return "EINVAL";
	case EPERM: return "EPERM";
	case ESRCH: return "ESRCH";
	case EINTR: return "EINTR";
	case ENOTTY: return "ENOTTY";
	case ENOMEM: return "ENOMEM";
	default: return strerror(e);
	}
}

int main(int argc, char **argv)
{
	uint64_t seed = 1, calls = 10000, k, features, counts[8] = { 0 };
	static const int counted[8] = { 0, EINVAL, EFAULT, EPERM, ESRCH, EINTR, -1, -1 };
	bool print_only = false, chaos = true;
	uint64_t plant = UINT64_MAX;	/* --plant-bad-result: the checker's own test */
	pthread_t th[2];
	uint64_t thr_seed[2];
	struct timespec t0, t1;
	int self_fd, i;
	int64_t adv;
	double secs;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--calls") && i + 1 < argc)
			calls = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--print-args") || !strcmp(argv[i], "--dry-run"))
			print_only = true;
		else if (!strcmp(argv[i], "--no-chaos"))
			chaos = false;
		else if (!strcmp(argv[i], "--plant-bad-result") && i + 1 < argc)
			plant = strtoull(argv[++i], NULL, 0);
		else {
			fprintf(stderr, "usage: %s [--seed S] [--calls N] [--print-args] "
				"[--no-chaos] [--plant-bad-result K]\n", argv[0]);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (print_only) {
		struct call c;

		for (k = 0; k < calls; k++) {
			gen_call(seed, k, &c);
			print_call(stdout, k, &c);
		}
		return 0;
	}

	self_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (self_fd < 0 || pagemap_scan_supported(self_fd) != 1) {
		printf("pmscan_fuzz: SKIP PAGEMAP_SCAN is not supported\n");
		return KSFT_SKIP;
	}
	adv = uffd_api_features();
	features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED;
	if (adv < 0 || ((uint64_t)adv & features) != features) {
		printf("pmscan_fuzz: SKIP async uffd-wp is not advertised\n");
		return KSFT_SKIP;
	}
	features |= (uint64_t)adv & UFFD_FEATURE_WP_HUGETLBFS_SHMEM;
	uffd = uffd_open(features, true);
	if (uffd < 0 || setup(seed, features) || fork_targets()) {
		printf("Bail out! set-up failed: %s\n", strerror(errno));
		if (live_child > 0)
			kill(live_child, SIGKILL);
		return KSFT_FAIL;
	}
	signal(SIGPIPE, SIG_IGN);
	if (chaos) {
		thr_seed[0] = seed ^ 0xaaaa;
		thr_seed[1] = seed ^ 0x5555;
		pthread_create(&th[0], NULL, window_chaos, &thr_seed[0]);
		pthread_create(&th[1], NULL, process_chaos, &thr_seed[1]);
	}

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (k = 0; k < calls; k++) {
		struct pm_scan_arg *argp, *slot = (struct pm_scan_arg *)places[W_ARGS].base;
		struct page_region *out = NULL;
		uint64_t start, end, vec, walk_end = 0;
		const char *bad = NULL;
		struct expect x;
		struct call c;
		bool locked = false, readable;
		long ret;
		int err, fd = self_fd;

		gen_call(seed, k, &c);
		start = resolve(c.start);
		end = c.end_rel ? start + c.end.off : resolve(c.end);
		vec = resolve(c.vec);
		c.arg.start = start;
		c.arg.end = end;
		c.arg.vec = vec;
		/* Sometimes protect the uffd buffer again before it is used. */
		if (c.vec.w == W_UFBUF && (k & 1))
			uffd_wp(uffd, places[W_UFBUF].base, BUF_ENTRIES * 24, true);

		switch (c.argp) {
		case ARGP_NULL: argp = NULL; break;
		case ARGP_HOLE: argp = (void *)(unsigned long)HOLE; break;
		case ARGP_KERNEL: argp = (void *)(unsigned long)KERNEL_ADDR; break;
		case ARGP_RO:
			/* the read-only page holds a copy written while writable */
			mprotect(places[W_RO].base, PS, PROT_READ | PROT_WRITE);
			memcpy(places[W_RO].base, &c.arg, sizeof(c.arg));
			mprotect(places[W_RO].base, PS, PROT_READ);
			argp = (void *)places[W_RO].base;
			break;
		case ARGP_ASYNC:
			argp = (void *)(places[W_ASYNC].base + (k % AREA_PAGES) * PS);
			memcpy(argp, &c.arg, sizeof(c.arg));
			uffd_wp(uffd, argp, PS, true);
			break;
		default:
			*slot = c.arg;
			argp = slot;
		}
		switch (c.target) {
		case TGT_CHILD: fd = child_fd; break;
		case TGT_REAPED: fd = reaped_fd; break;
		case TGT_DYING:
			pthread_mutex_lock(&victim_lock);
			locked = true;
			fd = victim_fd >= 0 ? victim_fd : reaped_fd;
			break;
		default: break;
		}
		x = expect_for(&c, start, end, vec);

		ret = ioctl(fd, PAGEMAP_SCAN, argp);
		err = ret < 0 ? errno : 0;
		if (k == plant) {
			/* Test-only: a kernel answer no call may get (EBADF). */
			ret = -1;
			err = EBADF;
		}
		if (locked)
			pthread_mutex_unlock(&victim_lock);

		for (i = 0; i < 6 && counted[i] != err; i++)
			;
		counts[i]++;
		if (!allowed(&x, ret, err)) {
			bad = x.exact ? "wrong errno" : ret >= 0 ? "success not allowed" :
			      "errno not allowed";
		} else if (ret >= 0) {
			if (c.argp == ARGP_OK || c.argp == ARGP_ASYNC)
				walk_end = ((struct pm_scan_arg *)argp)->walk_end;
			readable = c.vec.w == W_BUF || c.vec.w == W_UFBUF;
			out = readable ? (struct page_region *)(unsigned long)vec : NULL;
			if (c.argp == ARGP_OK || c.argp == ARGP_ASYNC)
				bad = check_success(&c, ret, start, end, walk_end, out,
						    readable && !(vec & 7) &&
						    c.vec.off + ret * 24 <= BUF_ENTRIES * 24);
		}
		if (bad) {
			printf("FAIL seed=%" PRIu64 " call=%" PRIu64 ": %s: got %ld %s, "
			       "expected %s%s%s%s%s%s (%s)\n", seed, k, bad, ret,
			       errname(err), x.exact ? errname(x.exact) : "",
			       x.ok ? " ok" : "", x.efault ? " EFAULT" : "",
			       x.eperm ? " EPERM" : "", x.esrch ? " ESRCH" : "",
			       x.einval ? " EINVAL" : "", x.why);
			print_call(stdout, k, &c);
			printf("  resolved: start=%#" PRIx64 " end=%#" PRIx64 " vec=%#" PRIx64
			       " walk_end=%#" PRIx64 "\n", start, end, vec, walk_end);
			printf("  replay: pmscan_fuzz --seed %" PRIu64 " --calls %" PRIu64 "\n",
			       seed, k + 1);
			stop = 1;
			if (chaos) {
				pthread_join(th[0], NULL);
				pthread_join(th[1], NULL);
			}
			kill(live_child, SIGKILL);
			return KSFT_FAIL;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	stop = 1;
	if (chaos) {
		pthread_join(th[0], NULL);
		pthread_join(th[1], NULL);
	}
	kill(live_child, SIGKILL);
	waitpid(live_child, NULL, 0);
	secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("pmscan_fuzz: seed %" PRIu64 " calls %" PRIu64 " ok %" PRIu64 " EINVAL %"
	       PRIu64 " EFAULT %" PRIu64 " EPERM %" PRIu64 " ESRCH %" PRIu64 " EINTR %"
	       PRIu64 " other %" PRIu64 " violations 0 chaos-ops %" PRIu64 " forks %"
	       PRIu64 " threads %" PRIu64 "\n", seed, calls, counts[0], counts[1],
	       counts[2], counts[3], counts[4], counts[5], counts[6], chaos_ops, forks,
	       threads_made);
	printf("pmscan_fuzz: %.2f seconds, %.0f calls/s\n", secs, calls / (secs > 0 ? secs : 1));
	return KSFT_PASS;
}
