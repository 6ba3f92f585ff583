// SPDX-License-Identifier: GPL-2.0
/*
 * PAGEMAP_SCAN with PM_SCAN_WP_MATCHING (get the written pages and protect
 * them again) as write trackers use it: per memory type, resumed after
 * max_pages or vec_len cuts, partial THPs and hugetlb pages, VMAs without
 * async uffd-wp, another process's pagemap, a writer racing the scans.
 */
#include <pthread.h>
#include <time.h>
#include "../kselftest.h"
#include "vm_util.h"

#define W		PAGE_IS_WRITTEN
#define WP_MATCH	PM_SCAN_WP_MATCHING
#define CHECK_ASYNC	PM_SCAN_CHECK_WPASYNC
#define MAX_REGIONS	64
#define MAX_EXP		4	/* regions a step expects */
#define SEED		0x33
#define RACE_PAGES	64
#define RACE_SECONDS	2

/*
 * A row of the case table: what run_case() sets up (@nr pages of @type
 * tracked; MIXED: 4 plain anon pages, 4 tracked, 4 plain; or nothing), and
 * the case's own choices.
 */
struct variant {
	enum { TRACK, MIXED, NOTHING } setup;
	enum mem_type type;
	size_t nr;		/* pages of the type's granule */
	bool populate;
	bool flag;
	const struct hcut *cut;	/* t_hugetlb_cut()'s */
	const struct step *steps; /* t_steps()' */
};

/*
 * Set up @t as @v says, registered for async uffd-wp, not protected (only
 * WP_ASYNC is asked for: mainline implies WP_UNPOPULATED). On failure
 * report the case and return false.
 */
static bool track(const char *name, struct unit_area *t, const struct variant *v)
{
	const bool mixed = v->setup == MIXED;
	const enum mem_type type = mixed ? MEM_ANON : v->type;
	uint64_t features = UFFD_FEATURE_WP_ASYNC | uffd_wp_features_for(type);
	int64_t have = uffd_api_features();
	int ret;

	if (have < 0 || (have & features) != features) {
		ksft_test_result_skip("%s: kernel lacks UFFD_FEATURE_WP_ASYNC%s\n",
				      name, type == MEM_SHMEM ||
				      type == MEM_HUGETLB ? " for this memory type" : "");
		return false;
	}
	ret = unit_area_alloc(t, type, mixed ? 12 : v->nr, mixed || v->populate, SEED);
	if (!ret) {
		t->uffd = uffd_wp_range(features, unit_addr(t, mixed ? 4 : 0),
					mixed ? 4 * t->unit : t->a.size, false);
		if (t->uffd < 0)
			ret = vmh_set_reason(VMH_FAIL, "async uffd-wp set-up: %s",
					     strerror(-t->uffd));
	}
	if (ret)
		vmh_report_setup(name, ret);
	return !ret;
}

/* Exactly the units marked 'w' in @map lack the uffd-wp bit (are written). */
static bool written_map(const struct unit_area *t, const char *map)
{
	bool ok = true;
	size_t i;

	for (i = 0; i < t->n; i++)
		ok &= units_wp(t, i, i + 1, map[i] != 'w');
	return ok;
}

struct scan_out {
	struct page_region v[MAX_REGIONS];
	long n;
	__u64 walk_end;
};

/* get+WP of units [from, to) of @t; @vec_len 0: WP only, no vector. */
static long get_wp(struct unit_area *t, size_t from, size_t to, __u64 flags,
		   __u64 max_pages, __u64 vec_len, struct scan_out *out)
{
	unsigned long base = (unsigned long)t->a.addr;

	out->n = pagemap_scan(t->pm, base + from * t->unit, base + to * t->unit,
			      vec_len ? out->v : NULL, vec_len, flags, max_pages,
			      0, W, 0, W, &out->walk_end);
	return out->n;
}

/* The get+WP of units [from, to) of @t get_wp() makes, for scan_expect(). */
static struct pm_scan_arg wp_arg(const struct unit_area *t, size_t from, size_t to,
				 __u64 flags, __u64 max_pages, __u64 vec_len)
{
	const unsigned long base = (unsigned long)t->a.addr;

	return (struct pm_scan_arg){ .start = base + from * t->unit,
		.end = base + to * t->unit, .flags = flags, .max_pages = max_pages,
		.vec_len = vec_len, .category_mask = W, .return_mask = W };
}

/* That get+WP gives exactly the regions listed and stops at unit @we. */
#define GET_WP_EXPECT(t, from, to, flags, maxp, we, ...)		\
	SCAN_EXPECT((t)->pm, wp_arg(t, from, to, flags, maxp, 0), (t)->a.addr, \
		    (t)->unit, we, __VA_ARGS__)

/* get+WP of the whole area expecting nothing. */
static bool nothing_written(struct unit_area *t)
{
	return GET_WP_EXPECT(t, 0, t->n, WP_MATCH, 0, t->n);
}

static bool t_cycle(struct unit_area *t, const struct variant *v)
{
	size_t i, n;
	bool ok;

	n = t->n;
	/* Nothing is protected yet: everything is written. */
	ok = GET_WP_EXPECT(t, 0, n, WP_MATCH, 0, n, { 0, n, W });
	ok &= units_wp(t, 0, n, true);
	ok &= nothing_written(t);

	unit_write(t, 1);
	unit_write(t, 3);
	unit_write(t, 4);
	unit_write(t, n - 1);
	ok &= GET_WP_EXPECT(t, 0, n, WP_MATCH, 0, n, { 1, 2, W }, { 3, 5, W }, { n - 1, n, W });
	ok &= units_wp(t, 0, n, true);
	ok &= nothing_written(t);

	for (i = 0; i < n; i++)
		if (!unit_data_ok(t, i, i == 1 || i == 3 || i == 4 || i == n - 1))
			return false;
	return ok;
}

/*
 * get+WP of units [2, 5) of a THP, or (flag) of the whole THP cut by
 * max_pages 3: the THP is split at the range, the rest stays unreported.
 */
static bool t_thp_partial(struct unit_area *t, const struct variant *var)
{
	const __u64 all = PAGE_IS_WPALLOWED | W | PAGE_IS_PRESENT | PAGE_IS_HUGE;
	const size_t n = t->n, from = var->flag ? 0 : 2, to = var->flag ? 3 : 5;
	/* Split: no page is HUGE any more, the rest is still written... */
	const struct region_exp split[] = { { 0, from, all & ~PAGE_IS_HUGE },
		{ from, to, all & ~PAGE_IS_HUGE & ~W }, { to, n, all & ~PAGE_IS_HUGE } };
	/* ...and the next get+WP reports it, once. */
	const struct region_exp rest[] = { { 0, from, W }, { to, n, W } };
	struct pm_scan_arg arg = wp_arg(t, 0, n, 0, 0, 0);
	bool ok;

	ok = GET_WP_EXPECT(t, from, var->flag ? n : to, WP_MATCH, var->flag ? 3 : 0, to,
			   { from, to, W });
	ok &= units_wp(t, 0, from, false) && units_wp(t, from, to, true) &&
	      units_wp(t, to, n, false);
	arg.category_mask = 0;
	arg.return_mask = all;
	ok &= scan_expect(t->pm, arg, t->a.addr, t->unit, split + !from, 3 - !from, n);
	arg = wp_arg(t, 0, n, WP_MATCH, 0, 0);
	return scan_expect(t->pm, arg, t->a.addr, t->unit, rest + !from, 2 - !from, n) && ok;
}

/* A place in a hugetlb area: @q quarters of a huge page and @p base pages. */
struct hpos {
	size_t q, p;
};

/*
 * A get+WP of [from, to) of a hugetlb area, cut by @max_pages: it must
 * report huge pages [r0, r1) (none when equal), stop at @walk_end, and
 * leave unprotected the huge pages marked 'w' in @written.
 */
struct hcut {
	struct hpos from, to, max_pages, walk_end;
	size_t r0, r1;
	const char *written;
};

static bool t_hugetlb_cut(struct unit_area *t, const struct variant *v)
{
	const struct hcut *c = v->cut;
	const size_t per = t->unit / psize(), q = per / 4;
	const struct region_exp e[] = { { c->r0 * per, c->r1 * per, W } };
	struct unit_area b = *t;	/* the area in base pages */
	bool ok;

	b.unit = psize();
	ok = scan_expect(t->pm, wp_arg(&b, c->from.q * q + c->from.p, c->to.q * q + c->to.p,
				       WP_MATCH, c->max_pages.q * q + c->max_pages.p, 0),
			 b.a.addr, b.unit, e, c->r1 > c->r0, c->walk_end.q * q + c->walk_end.p);
	return written_map(t, c->written) && ok;
}

/* A t_hugetlb_cut() row: @nr_ huge pages, the hcut. */
#define HCUT(nr_, ...)							\
	{ .type = MEM_HUGETLB, .nr = nr_, .populate = true,		\
	  .cut = &(const struct hcut){ __VA_ARGS__ } }

/*
 * A step of a case: with @write, protect the area and write the units
 * marked 'w' in it; with @sync, register units [0, 4) for sync uffd-wp.
 * Then get (+WP by @flags) units [from, to) cut by @max_pages into a
 * vector of @vec_len (MAX_REGIONS if 0): it fails with @err, or gives
 * @call, "a-b,c-d>e": the written regions [a, b), [c, d) and walk_end e
 * (">e": none; NULL: WP only, no vector, returns 0). Afterwards the units
 * marked 'w' in @written, and only they, are unprotected (NULL: not
 * checked).
 */
struct step {
	size_t from, to;
	__u64 flags, max_pages;
	const char *call, *written, *write;
	__u64 vec_len;
	int err;
	bool sync;
};

static size_t parse_call(const char *p, struct region_exp *e, size_t *walk_end)
{
	size_t ne;

	for (ne = 0; ne < MAX_EXP && *p != '>'; ne++) {
		e[ne].start = strtoul(p, (char **)&p, 10);
		e[ne].end = strtoul(p + 1, (char **)&p, 10);
		e[ne].categories = W;
		p += *p == ',';
	}
	*walk_end = strtoul(p + 1, NULL, 10);
	return ne;
}

static bool t_steps(struct unit_area *t, const struct variant *v)
{
	struct region_exp e[MAX_EXP];
	const struct step *s;
	struct scan_out o;
	size_t i, ne, we = 0;
	int uffd = -1;
	bool ok = true, good;

	for (s = v->steps; s->to; s++) {
		if (s->sync)
			uffd = uffd_wp_range(0, t->a.addr, 4 * t->unit, false);
		if ((s->sync && uffd < 0) ||
		    (s->write && uffd_wp(t->uffd, t->a.addr, t->a.size, true))) {
			ksft_print_msg("step %zu: set-up failed\n", s - v->steps);
			return false;
		}
		for (i = 0; s->write && i < t->n; i++)
			if (s->write[i] == 'w')
				unit_write(t, i);
		good = !s->write || written_map(t, s->write);
		ne = s->call ? parse_call(s->call, e, &we) : 0;
		if (s->call && !s->err)
			good &= scan_expect(t->pm, wp_arg(t, s->from, s->to, s->flags,
							  s->max_pages, s->vec_len),
					    t->a.addr, t->unit, e, ne, we);
		else
			good &= get_wp(t, s->from, s->to, s->flags, s->max_pages,
				       s->call ? MAX_REGIONS : 0, &o) == -s->err &&
				(!s->err || o.walk_end == (unsigned long)unit_addr(t, we));
		if (s->written)
			good &= written_map(t, s->written);
		if (!good)
			ksft_print_msg("step %zu differs\n", s - v->steps);
		ok &= good;
	}
	if (uffd >= 0)
		close(uffd);
	return ok;
}

#define STEPS(...)	.steps = (const struct step[]){ __VA_ARGS__, {} }
/* A step: the fields up to @written in order, the rest by name. */
#define STEP(from_, to_, flags_, max_, call_, written_, ...)			\
	{ .from = from_, .to = to_, .flags = flags_, .max_pages = max_,	\
	  .call = call_, .written = written_, __VA_ARGS__ }
#define ANON16		.type = MEM_ANON, .nr = 16, .populate = true

/*
 * A child writes units 2 and 5 of its tracked area, then unit 6 when asked
 * ('w'). Or (flag) it exits first: its pagemap kept open gives ESRCH.
 */
static bool t_child(struct unit_area *unused, const struct variant *var)
{
	struct unit_area t = { .unit = psize(), .n = 8 };
	struct scan_out o;
	struct peer c;
	bool ok;

	peer_fork(&c);
	if (!c.pid) {
		if (area_alloc(&t.a, MEM_ANON, 8, true, SEED) ||
		    uffd_wp_range(UFFD_FEATURE_WP_ASYNC, t.a.addr, t.a.size, true) < 0)
			child_exit(KSFT_FAIL);
		unit_write(&t, 2);
		unit_write(&t, 5);
		if (write(c.to, &t.a.addr, sizeof(t.a.addr)) != sizeof(t.a.addr))
			child_exit(KSFT_FAIL);
		while (peer_recv(&c) == 'w') {
			unit_write(&t, 6);
			peer_send(&c, 'w');
		}
		child_exit(KSFT_PASS);
	}
	if (read(c.from, &t.a.addr, sizeof(t.a.addr)) != sizeof(t.a.addr)) {
		ksft_print_msg("the child failed to set up\n");
		peer_wait(&c, "child");
		return false;
	}
	t.pm = open_proc(c.pid, "pagemap", O_RDONLY);
	if (t.pm < 0)
		ksft_exit_fail_msg("open the child's pagemap: %s\n", strerror(errno));
	if (var->flag) {
		ok = peer_wait(&c, "child") == KSFT_PASS;
		if (get_wp(&t, 0, 8, WP_MATCH, 0, MAX_REGIONS, &o) != -ESRCH) {
			ksft_print_msg("scan returned %ld, expected -ESRCH\n", o.n);
			ok = false;
		}
	} else {
		ok = GET_WP_EXPECT(&t, 0, 8, WP_MATCH, 0, 8, { 2, 3, W }, { 5, 6, W });
		peer_send(&c, 'w');
		ok &= peer_recv(&c) == 'w';
		ok &= GET_WP_EXPECT(&t, 0, 8, WP_MATCH, 0, 8, { 6, 7, W });
		ok &= peer_wait(&c, "child") == KSFT_PASS;
	}
	close(t.pm);
	return ok;
}

/*
 * The child's side of t_fork_unregistered(): its copy is in a VMA fork()
 * did not register, so no entry may keep the protection and every page
 * reads as written. Through its own pagemap: pagemap_fd() is the parent's.
 */
static bool fork_child_check(struct unit_area *t)
{
	t->pm = open("/proc/self/pagemap", O_RDONLY);
	return t->pm >= 0 && units_wp(t, 0, t->n, false) &&
	       GET_WP_EXPECT(t, 0, t->n, 0, 0, t->n, { 0, t->n, W });
}

/* 6.1 kept the uffd-wp bit of present hugetlb entries in the child. */
static bool t_fork_unregistered(struct unit_area *t, const struct variant *v)
{
	struct peer c;
	bool ok;

	ok = GET_WP_EXPECT(t, 0, t->n, WP_MATCH, 0, t->n, { 0, t->n, W });
	unit_write(t, 1);
	peer_fork(&c);
	if (!c.pid)
		child_exit(ksft_status(fork_child_check(t)));
	ok &= peer_wait(&c, "the child checking its copy") == KSFT_PASS;
	return written_map(t, ".w..") && ok;
}

struct racer {
	struct unit_area *t;
	bool stop;		/* __atomic */
	unsigned long writes;
};

/* Write an increasing counter into pages picked pseudo-randomly. */
static void *racer_fn(void *arg)
{
	struct racer *r = arg;
	unsigned int seed = 1;
	unsigned long *p;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		seed = seed * 1103515245 + 12345;
		p = (unsigned long *)unit_addr(r->t, (seed >> 16) % r->t->n);
		__atomic_store_n(p, ++r->writes, __ATOMIC_RELAXED);
	}
	return NULL;
}

/*
 * A writer and get+WP race. Each page a scan reports is read after the
 * scan; after the writer stops and one more scan, the value last read of
 * every page must be its final one: a write get+WP lost leaves it stale.
 */
static bool t_race(struct unit_area *t, const struct variant *v)
{
	unsigned long seen[RACE_PAGES] = { 0 }, scans = 0, a;
	const time_t end = time(NULL) + RACE_SECONDS;
	struct racer r = { .t = t };
	struct scan_out o;
	pthread_t thread;
	bool ok = true, stop;
	size_t i;
	long k;

	memset(t->a.addr, 0, t->a.size);
	if (pthread_create(&thread, NULL, racer_fn, &r)) {
		ksft_print_msg("pthread_create failed\n");
		return false;
	}
	do {
		stop = time(NULL) >= end;
		if (stop) {	/* one more scan after the writer is gone */
			__atomic_store_n(&r.stop, true, __ATOMIC_RELEASE);
			pthread_join(thread, NULL);
		}
		ok &= get_wp(t, 0, t->n, WP_MATCH, 0, MAX_REGIONS, &o) >= 0;
		for (k = 0; k < o.n; k++)
			for (a = o.v[k].start; a < o.v[k].end; a += t->unit)
				seen[(a - (unsigned long)t->a.addr) / t->unit] =
					__atomic_load_n((unsigned long *)a, __ATOMIC_RELAXED);
		scans++;
	} while (!stop);
	for (i = 0; ok && i < t->n; i++) {
		unsigned long final = *(unsigned long *)unit_addr(t, i);

		if (seen[i] != final) {
			ksft_print_msg("page %zu: last value seen %lu, final %lu\n",
				       i, seen[i], final);
			ok = false;
		}
	}
	ksft_print_msg("%lu writes, %lu scans\n", r.writes, scans);
	return nothing_written(t) && ok && r.writes > 0 && scans > 1;
}

/* The get+WP cycle on @nr pages of @type (as the name's @prefix says). */
#define CYCLE(prefix, type_, nr_, populate_)				\
	{ prefix ": get+WP, writes, get+WP reports exactly the written pages", \
	  t_cycle, { .type = type_, .nr = nr_, .populate = populate_ } }

static const struct {
	const char *name;
	bool (*fn)(struct unit_area *t, const struct variant *v);
	struct variant v;
} cases[] = {
	CYCLE("anon", MEM_ANON, 16, true),
	CYCLE("anon never touched", MEM_ANON, 16, false),
	CYCLE("thp", MEM_THP, 1, true),
	CYCLE("shmem", MEM_SHMEM, 16, true),
	{ "hugetlb: get+WP, writes, get+WP reports exactly the written huge pages",
	  t_cycle, { .type = MEM_HUGETLB, .nr = 8, .populate = true } },
	CYCLE("page cache private", MEM_PAGECACHE, 16, true),
	CYCLE("page cache shared", MEM_PAGECACHE_SHARED, 16, true),
	{ "WP only (vec 0, vec_len 0) returns 0 and protects the matching pages",
	  t_steps, { ANON16, STEPS(STEP(0, 16, WP_MATCH, 0, NULL, "................"),
		STEP(0, 16, WP_MATCH, 0, NULL, "................", .write = "..ww............"),
		/* A plain get (no WP) finds nothing written. */
		STEP(0, 16, 0, 0, ">16", NULL)) } },
	{ "max_pages cuts a region exactly, resumes at walk_end, protects only what was reported",
	  t_steps, { ANON16, STEPS(STEP(0, 16, WP_MATCH, 5, "0-5>5", ".....wwwwwwwwwww",
					.write = "wwwwwwwwwwwwwwww"),
		STEP(5, 16, WP_MATCH, 5, "5-10>10", "..........wwwwww"),
		STEP(10, 16, WP_MATCH, 5, "10-15>15", "...............w"),
		STEP(15, 16, WP_MATCH, 5, "15-16>16", "................")) } },
	{ "max_pages with sparse pages: walk_end is the first unreported match",
	  t_steps, { ANON16, STEPS(STEP(0, 16, WP_MATCH, 2, "0-1,3-4>6", "......w..w..w..w",
					.write = "w..w..w..w..w..w"),
		STEP(6, 16, WP_MATCH, 2, "6-7,9-10>12", "............w..w"),
		STEP(12, 16, WP_MATCH, 2, "12-13,15-16>16", "................")) } },
	/* Pages that merge into the last region never stop the walk. */
	{ "vec_len: a full vector stops at the next region, resuming reports each page once",
	  t_steps, { ANON16, STEPS(STEP(0, 16, WP_MATCH, 0, "0-16>16", "................",
					.vec_len = 1),
		STEP(0, 16, WP_MATCH, 0, "0-2>4", "....www..w..wwww", .write = "ww..www..w..wwww",
		     .vec_len = 1),
		STEP(4, 16, WP_MATCH, 0, "4-7>9", ".........w..wwww", .vec_len = 1),
		STEP(9, 16, WP_MATCH, 0, "9-10>12", "............wwww", .vec_len = 1),
		STEP(12, 16, WP_MATCH, 0, "12-16>16", "................", .vec_len = 1)) } },
	{ "thp: get+WP of part of a THP splits it, the rest stays writable and unreported",
	  t_thp_partial, { .type = MEM_THP, .nr = 1, .populate = true } },
	{ "thp: a max_pages cut inside a THP splits it at the cut",
	  t_thp_partial, { .type = MEM_THP, .nr = 1, .populate = true, .flag = true } },
	{ "hugetlb: get+WP ending inside a huge page stops at its start and leaves it writable",
	  t_hugetlb_cut, HCUT(2, .to = { 4, 1 }, .walk_end = { 4, 0 }, .r1 = 1, .written = ".w") },
	{ "hugetlb: get+WP starting inside a huge page leaves it, walk_end at the range start, later ones protected (as mainline)",
	  t_hugetlb_cut, HCUT(2, .from = { 0, 1 }, .to = { 8, 0 }, .walk_end = { 0, 1 },
			      .r0 = 1, .r1 = 2, .written = "w.") },
	{ "hugetlb: a max_pages cut inside a huge page protects nothing, walk_end at its start",
	  t_hugetlb_cut, HCUT(1, .to = { 4, 0 }, .max_pages = { 0, 3 }, .written = "w") },
	/* Room for the first huge page and a quarter of the next. */
	{ "hugetlb: max_pages cut in several huge pages: walk_end at the last one cut (as mainline)",
	  t_hugetlb_cut, HCUT(3, .to = { 12, 0 }, .max_pages = { 5, 0 }, .walk_end = { 8, 0 },
			      .r1 = 1, .written = ".ww") },
	/* MIXED: units 0-3 plain, 4-7 async uffd-wp, 8-11 plain; walk_end at the end */
	{ "CHECK_WPASYNC: EPERM on a plain or sync uffd-wp VMA, fine on an async one",
	  t_steps, { .setup = MIXED, STEPS(STEP(0, 4, CHECK_ASYNC, 0, ">4", NULL, .err = EPERM),
		STEP(4, 8, CHECK_ASYNC, 0, "4-8>8", NULL),
		STEP(4, 8, CHECK_ASYNC | WP_MATCH, 0, "4-8>8", NULL),
		STEP(0, 4, CHECK_ASYNC, 0, ">4", NULL, .err = EPERM, .sync = true)) } },
	{ "CHECK_WPASYNC from an async into a plain VMA: EPERM, async pages stay protected (as mainline)",
	  t_steps, { .setup = MIXED, STEPS(STEP(4, 12, CHECK_ASYNC | WP_MATCH, 0, ">12",
						"wwww....wwww", .err = EPERM)) } },
	{ "WP_MATCHING skips VMAs without async uffd-wp",
	  t_steps, { .setup = MIXED, STEPS(STEP(0, 12, WP_MATCH, 0, "4-8>12", "wwww....wwww"),
		/* Without WP_MATCHING the plain VMAs are reported as usual. */
		STEP(0, 12, 0, 0, "0-4,8-12>12", NULL)) } },
	{ "a child's pagemap: get+WP from the parent, a child write shows up next",
	  t_child, { .setup = NOTHING } },
	{ "an exited child's pagemap: ESRCH, nothing reported (as mainline)",
	  t_child, { .setup = NOTHING, .flag = true } },
	{ "anon: fork without EVENT_FORK, the child's copy is unprotected, the parent's stays",
	  t_fork_unregistered, { .type = MEM_ANON, .nr = 4, .populate = true } },
	{ "hugetlb: fork without EVENT_FORK, the child's copy is unprotected, the parent's stays",
	  t_fork_unregistered, { .type = MEM_HUGETLB, .nr = 4, .populate = true } },
	{ "a write racing with get+WP is never lost",
	  t_race, { .type = MEM_ANON, .nr = RACE_PAGES, .populate = true } },
};

static void run_case(size_t i)
{
	const struct variant *v = &cases[i].v;
	const char *name = cases[i].name;
	struct unit_area t = { .a.fd = -1, .uffd = -1 };

	if (v->setup == NOTHING || track(name, &t, v))
		ksft_test_result(cases[i].fn(&t, v), "%s\n", name);
	unit_area_free(&t);
}

int main(int argc, char **argv)
{
	size_t i;

	vmh_run_cases(i, ARRAY_SIZE(cases), true, cases[i].name, run_case(i));
	return 0;
}
