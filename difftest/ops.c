// SPDX-License-Identifier: GPL-2.0
/*
 * The operations of a seed, each drawing its own arguments, performing
 * them, tracing the result and keeping the page model up to date, and
 * the weights they are drawn with.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "fuzz.h"

/* An operation that does not apply now returns SKIP: another is drawn. */
#define SKIP		(-1)

/* "op N what slot:a-slot:b -> result" */
static void tr_range(const char *what, int s, long a, long b, int ret)
{
	tr("op %d %s %s-%s -> %s\n", opno, what, A(pa(s, a)), A(pa(s, b)), res(ret));
}

static int op_write(int unused)
{
	long a, b, at;
	unsigned char v;
	uint64_t sum;
	int s, sig;

	if (!pick_target(&s, PG_MAPPED | PG_WRITE, false, &a, &b))
		return SKIP;
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
	return 0;
}

static int op_read(int unused)
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
	s = pick_slot();
	if (s >= 0 && has(s, MT_FILE))
		need |= PG_REG;
	if (s < 0 || !pick_run(s, need, &a, &b))
		return SKIP;
	sig = access_pages(s, a, b, 0, 0, &at, &sum);
	if (sig)
		tr("op %d read %s-%s -> signal %d at %s\n", opno, A(pa(s, a)),
		   A(pa(s, b)), sig, A(pa(s, at)));
	else
		tr("op %d read %s-%s -> %016llx\n", opno, A(pa(s, a)), A(pa(s, b)),
		   (unsigned long long)sum);
	return 0;
}

static const char *const scan_names[] = { "get", "getwp", "wponly" };

static int op_scan(int kind)
{
	struct scan sc;

	random_scan(&sc, kind);
	do_scan(scan_names[kind], &sc);
	return 0;
}

/* A snapshot of every page of the arena. */
static int op_snapshot(int unused)
{
	check_arena("snap");
	return 0;
}

static int op_uffd_wp(int unused)
{
	bool wp = chance(60);
	long a, b;
	int s, ret;

	/*
	 * Inside one VMA: 6.1 refuses a range over several VMAs (ENOENT,
	 * nothing done), mainline (6.5+) protects VMA after VMA and stops
	 * with ENOENT at the first one that is not registered.
	 */
	if (!pick_target(&s, PG_MAPPED, true, &a, &b))
		return SKIP;
	ret = uffd_protect(pa(s, a), (b - a) * PAGE, wp);
	tr_range(wp ? "uffd-wp" : "uffd-unwp", s, a, b, ret);
	return 0;
}

static int op_register(int unused)
{
	bool reg = chance(50);
	long a, b;
	int s, ret;

	if (!pick_target(&s, PG_MAPPED, false, &a, &b))
		return SKIP;
	mark_edges(s, a, b);
	if (reg)
		ret = uffd_register(pa(s, a), (b - a) * PAGE);
	else
		ret = uffd_unregister(pa(s, a), (b - a) * PAGE);
	tr_range(reg ? "register" : "unregister", s, a, b, ret);
	if (!ret)
		set_flags(s, a, b, reg ? PG_REG : 0, reg ? 0 : PG_REG);
	return 0;
}

static int op_dontneed(int unused)
{
	long a, b;
	int s, ret;

	if (!pick_target(&s, PG_MAPPED, false, &a, &b))
		return SKIP;
	/*
	 * Mainline (6.15+, CONFIG_PT_RECLAIM) frees a page table that
	 * MADV_DONTNEED empties when the range covers all of it, and
	 * PAGEMAP_SCAN tells a missing page table (no category in a VMA
	 * without async uffd-wp) from empty entries (PAGE_IS_WRITTEN). Older
	 * kernels keep the table: never cover a whole 2M-aligned block.
	 */
	if (!has(s, MT_HUGETLB)) {
		long first = (a + HPAGE_PAGES - 1) / HPAGE_PAGES * HPAGE_PAGES;

		if (b > first + HPAGE_PAGES - 1)
			b = first + HPAGE_PAGES - 1;
	}
	ret = madvise(pa(s, a), (b - a) * PAGE, MADV_DONTNEED);
	tr_range("dontneed", s, a, b, ret);
	return 0;
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

static int op_pageout(int unused)
{
	long a, b, left = 0;
	int s, ret = 0, i;

	if (!opt.swap)
		return SKIP;
	s = pick_pageout_slot();
	if (s < 0 || !pick_run(s, PG_MAPPED, &a, &b))
		return SKIP;
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
	tr_range("pageout", s, a, b, ret);
	if (!ret && left)
		return fail_env("MADV_PAGEOUT left %ld of %ld pages resident", left, b - a);
	return 0;
}

static int op_mprotect(int unused)
{
	static const int prots[] = { PROT_READ | PROT_WRITE, PROT_READ, PROT_NONE };
	static const char *const pnames[] = { "rw", "r", "none" };
	static const unsigned char pflags[] = { PG_READ | PG_WRITE, PG_READ, 0 };
	long a, b;
	int s, ret, k;

	if (!pick_target(&s, PG_MAPPED, false, &a, &b))
		return SKIP;
	k = (int)(chance(50) ? 0 : 1 + below(4) / 3);
	mark_edges(s, a, b);
	ret = mprotect(pa(s, a), (b - a) * PAGE, prots[k]);
	tr("op %d mprotect %s-%s %s -> %s\n", opno, A(pa(s, a)), A(pa(s, b)),
	   pnames[k], res(ret));
	if (!ret)
		set_flags(s, a, b, pflags[k], PG_READ | PG_WRITE);
	return 0;
}

static int op_munmap(int unused)
{
	long a, b;
	int s, ret;

	if (!pick_target(&s, PG_MAPPED, false, &a, &b))
		return SKIP;
	mark_edges(s, a, b);
	ret = munmap(pa(s, a), (b - a) * PAGE);
	tr_range("munmap", s, a, b, ret);
	if (!ret) {
		memset(slots[s].pg + a, 0, b - a);
		release_slot_if_empty(s);
	}
	return 0;
}

/* mremap() [a, b) of slot @s to the start of a free slot. */
static int mremap_move(int s, long a, long b)
{
	int d = pick_free_slot(), ret;

	if (d < 0)
		return SKIP;
	ret = mremap(pa(s, a), (b - a) * PAGE, (b - a) * PAGE,
		     MREMAP_MAYMOVE | MREMAP_FIXED, pa(d, 0)) == MAP_FAILED ? -1 : 0;
	tr("op %d mremap-move %s-%s to %s -> %s\n", opno, A(pa(s, a)),
	   A(pa(s, b)), A(pa(d, 0)), res(ret));
	if (ret)
		return 0;
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
	return 0;
}

/* mremap() [a, b) of slot @s in place to its first @len pages. */
static int mremap_shrink(int s, long a, long b)
{
	long g = gran(s), len;
	int ret;

	if (b - a < 2 * g)
		return SKIP;
	len = g * (1 + below((b - a) / g - 1));
	ret = mremap(pa(s, a), (b - a) * PAGE, len * PAGE, 0) == MAP_FAILED ? -1 : 0;
	tr("op %d mremap-shrink %s-%s to %ld -> %s\n", opno, A(pa(s, a)),
	   A(pa(s, b)), len, res(ret));
	if (!ret) {
		memset(slots[s].pg + a + len, 0, b - a - len);
		mark_edges(s, a + len, b);
	}
	return 0;
}

/* mremap() [a, b) of slot @s in place, some pages longer. */
static int mremap_grow(int s, long a, long b)
{
	long grow;
	int ret;

	if (has(s, MT_HUGETLB) || fd_shared(s))
		return SKIP;
	grow = 1 + below(32);
	if (b + grow > SLOT_PAGES)
		return SKIP;
	ret = mremap(pa(s, a), (b - a) * PAGE, (b - a + grow) * PAGE, 0) == MAP_FAILED ?
	      -1 : 0;
	tr("op %d mremap-grow %s-%s by %ld -> %s\n", opno, A(pa(s, a)),
	   A(pa(s, b)), grow, res(ret));
	/* The new pages belong to the VMA that held page b - 1. */
	if (!ret)
		memset(slots[s].pg + b, slots[s].pg[b - 1] & ~PG_EDGE, grow);
	return 0;
}

static int op_mremap(int unused)
{
	static int (*const how[])(int s, long a, long b) = {
		mremap_move, mremap_shrink, mremap_grow,
	};
	long a, b;
	int s;

	if (!pick_target(&s, PG_MAPPED, true, &a, &b))
		return SKIP;
	/*
	 * Moving part of a private hugetlb VMA leaks a hugetlb reservation
	 * on mainline (6.18: HugePages_Rsvd grows by one per move of pages
	 * not yet faulted in), which starves later seeds of hugetlb pages:
	 * not done.
	 */
	if (slots[s].type == T_HUGETLB)
		return SKIP;
	return how[below(ARRAY_SIZE(how))](s, a, b);
}

/*
 * The forked child of op_fork(): scans the parent through the inherited
 * descriptor (the parent is blocked meanwhile), then itself, writes page
 * @a of slot @w (if @w >= 0) and scans it, and exits once the parent has
 * opened its pagemap.
 */
static void fork_child(const struct scan *sc, int w, long a, long b, int ready, int go)
{
	long at;
	uint64_t sum;
	char c = 0;
	int s;

	do_scan_fd(pm_fd, "parent", sc);
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
	if (write(ready, &c, 1) != 1 || read(go, &c, 1) != 1)
		_exit(EXIT_BUG);
	_exit(0);
}

/*
 * fork(): the child (which has no userfaultfd: no UFFD_FEATURE_EVENT_FORK)
 * reports what it sees of every mapping, writes one page and reports it
 * again, then exits; the parent waits, so nothing runs concurrently.
 */
static int op_fork(int unused)
{
	int s, w = -1, status, dead_fd = -1, ready[2], go[2];
	enum scan_kind kind = (enum scan_kind)below(3);
	long a = 0, b = 0;
	struct scan sc;
	char c = 0;
	pid_t pid;

	random_scan(&sc, kind);

	for (s = 0; s < NR_SLOTS; s++)
		if (slots[s].used && !has(s, MT_HUGETLB) &&
		    pick_run(s, PG_MAPPED | PG_WRITE, &a, &b) && chance(50)) {
			w = s;
			b = a + 1;
			break;
		}
	tr("op %d fork\n", opno);
	if (pipe2(ready, O_CLOEXEC) || pipe2(go, O_CLOEXEC)) {
		tr("op %d fork-pipe -> %s\n", opno, res(-1));
		return 0;
	}
	pid = fork();
	if (pid < 0) {
		tr("op %d fork -> %s\n", opno, res(-1));
		return 0;
	}
	if (pid == 0)
		fork_child(&sc, w, a, b, ready[1], go[0]);
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
	return 0;
}

static int op_newmap(int unused)
{
	enum mtype types[T_NR], t;
	int d, ret, nt = 0;
	long n;

	for (t = 0; t < T_NR; t++)
		if (type_on(t))
			types[nt++] = t;
	d = pick_free_slot();
	if (d < 0)
		return SKIP;
	t = types[below(nt)];
	n = is_hugetlb(t) ? HPAGE_PAGES * (1 + below(2)) : 1 + below(600);
	ret = map_slot(d, t, n);
	tr("op %d mmap %d %s pages=%ld -> %s\n", opno, d, mtypes[t].name, n,
	   ret ? "failed" : "ok");
	if (ret)
		return ret == -EXIT_ENV ? fail_env("mmap %s%s", mtypes[t].name, map_env_why) :
					  fail_bug(mtypes[t].name);
	if (chance(70)) {
		ret = register_slot(d, n);
		tr("op %d register %d -> %s\n", opno, d, res(ret));
	}
	return 0;
}

/* The operations and their weights, in percent. */
static const struct {
	int (*run)(int arg);
	int arg;
	int weight;
} ops[] = {
	{ op_write, 0, 18 }, { op_read, 0, 7 }, { op_scan, SCAN_GET, 17 },
	{ op_scan, SCAN_GET_WP, 12 }, { op_scan, SCAN_WP_ONLY, 5 },
	{ op_snapshot, 0, 4 }, { op_uffd_wp, 0, 6 }, { op_register, 0, 3 },
	{ op_dontneed, 0, 6 }, { op_pageout, 0, 4 }, { op_mprotect, 0, 6 },
	{ op_munmap, 0, 3 }, { op_mremap, 0, 4 }, { op_fork, 0, 2 },
	{ op_newmap, 0, 3 },
};

/* Run one operation; returns 0 or an exit status that ends the seed. */
int one_op(void)
{
	int total = 0, r, ret;
	size_t k;

	for (k = 0; k < ARRAY_SIZE(ops); k++)
		total += ops[k].weight;
	do {
		r = (int)below(total);
		for (k = 0; r >= ops[k].weight; k++)
			r -= ops[k].weight;
		ret = ops[k].run(ops[k].arg);
	} while (ret == SKIP);
	return ret;
}
