// SPDX-License-Identifier: GPL-2.0
/*
 * The generator: every random choice of a seed, drawn from one PRNG
 * (splitmix64, so the sequence is the same on every libc). The order of
 * the draws is the trace's identity: a change here changes what every
 * seed does.
 */
#include "fuzz.h"
#include "prng.h"

static uint64_t rng;

void rng_seed(unsigned long seed)
{
	rng = seed * 0x2545f4914f6cdd1dULL + 1;
}

long below(long n)
{
	return n > 0 ? (long)rnd(&rng, (uint64_t)n) : 0;
}

bool chance(int pct)
{
	return below(100) < pct;
}

/* Value written to a page: never zero (see the THP note in main.c). */
unsigned char wval(void)
{
	return (unsigned char)(1 + below(255));
}

/* The categories of this run: CATS, with PAGE_IS_SOFT_DIRTY if --soft-dirty. */
uint64_t cats(void)
{
	return opt.soft_dirty ? CATS | PAGE_IS_SOFT_DIRTY : CATS;
}

/* ---- what to operate on ---- */

static bool slot_used(int s)
{
	return slots[s].used;
}

static bool slot_free(int s)
{
	return !slots[s].used;
}

/*
 * MADV_PAGEOUT of a dirty page-cache page waits for writeback, which runs
 * when the flusher decides: left out.
 */
static bool pageout_ok(int s)
{
	return slots[s].used && !has(s, MT_HUGETLB | MT_PAGECACHE);
}

static int pick_where(bool (*ok)(int s))
{
	int cand[NR_SLOTS], n = 0, s;

	for (s = 0; s < NR_SLOTS; s++)
		if (ok(s))
			cand[n++] = s;
	return n ? cand[below(n)] : -1;
}

int pick_slot(void)
{
	return pick_where(slot_used);
}

int pick_free_slot(void)
{
	return pick_where(slot_free);
}

int pick_pageout_slot(void)
{
	return pick_where(pageout_ok);
}

static long pick_len(long max)
{
	if (chance(50))
		return 1 + below(max > 8 ? 8 : max);
	return 1 + below(max);
}

/* Do pages [p, p + g) of slot @s all have @need? */
static bool granule_has(int s, long p, long g, unsigned char need)
{
	long q;

	for (q = p; q < p + g; q++)
		if ((slots[s].pg[q] & need) != need)
			return false;
	return true;
}

/*
 * A random run [*a, *b) of pages of slot @s that all have @need, aligned to
 * the slot's granule, within one VMA if @one_vma; false if the slot has no
 * such granule.
 */
bool pick_run_in(int s, unsigned char need, bool one_vma, long *a, long *b)
{
	static long cand[SLOT_PAGES];
	long g = gran(s), n = 0, p, len;

	for (p = 0; p < SLOT_PAGES; p += g)
		if (granule_has(s, p, g, need))
			cand[n++] = p;
	if (!n)
		return false;
	*a = cand[below(n)];
	len = pick_len(SLOT_PAGES / g);
	for (p = *a; p < SLOT_PAGES && p < *a + len * g; p += g) {
		if (one_vma && p > *a && (slots[s].pg[p] & PG_EDGE))
			break;
		if (!granule_has(s, p, g, need))
			break;
	}
	*b = p;
	return true;
}

bool pick_run(int s, unsigned char need, long *a, long *b)
{
	return pick_run_in(s, need, false, a, b);
}

/* A mapping *@s and a run of its pages with @need, as pick_run_in(). */
bool pick_target(int *s, unsigned char need, bool one_vma, long *a, long *b)
{
	*s = pick_slot();
	return *s >= 0 && pick_run_in(*s, need, one_vma, a, b);
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

/* ---- scans ---- */

/*
 * A category set for a mask: mostly one or two bits, so scans match. Without
 * --soft-dirty the draws are what they were before it existed.
 */
static uint64_t random_cats(void)
{
	int n = opt.soft_dirty ? NR_CATS + 1 : NR_CATS;
	uint64_t c = 1ULL << below(n);

	switch (below(10)) {
	case 0 ... 4:
		return c;
	case 5 ... 7:
		return c | 1ULL << below(n);
	default:
		return splitmix(&rng) & cats();
	}
}

static void whole_arena(struct scan *sc)
{
	sc->start = (unsigned long)arena;
	sc->end = (unsigned long)arena + ARENA_SIZE;
}

static void pick_scan_range(struct scan *sc)
{
	int s, t;
	long a, b;

	switch (below(20)) {
	case 0 ... 13:		/* within one mapping */
		s = pick_slot();
		if (s < 0) {
			whole_arena(sc);
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
		whole_arena(sc);
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

static void pick_vec(struct scan *sc)
{
	switch (below(20)) {
	case 0:
		sc->vk = VEC_NULL;	/* vec = NULL, vec_len = 0 */
		break;
	case 1:
		sc->vec_len = 0;	/* an array of no entries */
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

/*
 * Now and then an unknown flag or category bit: EINVAL. Bit 8 is left
 * out: it is PAGE_IS_GUARD on mainline 6.14+, unknown on 6.1.
 */
static void add_bad_bit(struct scan *sc)
{
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

/* Random arguments for a scan of @kind. */
void random_scan(struct scan *sc, enum scan_kind kind)
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
		sc->ret_mask = cats();
		break;
	case 2:
		sc->ret_mask = 0;
		break;
	default:
		sc->ret_mask = random_cats();
		break;
	}
	if (kind == SCAN_WP_ONLY)
		sc->vk = VEC_NULL;
	else
		pick_vec(sc);
	if (chance(35))
		sc->max_pages = 1 + below(chance(50) ? 8 : 600);
	if (chance(3))
		add_bad_bit(sc);
}
