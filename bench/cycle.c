// SPDX-License-Identifier: GPL-2.0
/*
 * The write-watch cycle (the GetWriteWatch pattern): write K random units
 * of a populated region, collect the written ones and reset tracking.
 *
 * Every tracker sees the same sequence of written sets (the same seed), and
 * every cycle's answer is compared with the set actually written. Trackers
 * take turns run by run, so a change in the machine's load over time falls
 * on all of them alike.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"

#define FNV_OFFSET	0xcbf29ce484222325ULL
#define FNV_PRIME	0x100000001b3ULL

struct tracker_result {
	int status;			/* B_OK, B_NA, B_ERR */
	char reason[256];
	double *cycle, *write, *collect; /* ns per timed cycle */
	size_t n;
	uint64_t answers;		/* hash of every answer, in order */
	size_t mismatches;
	char first_mismatch[200];
	long thp_kb;			/* THP memory left at the end of a run */
};

struct cycle_state {
	const struct region *r;
	size_t k;			/* units written per cycle */
	size_t *perm, *got, *off;
	unsigned char *want;
	uint64_t rng;
	uint64_t stamp;
};

static void hash_units(uint64_t *h, const size_t *u, long n)
{
	long i;

	for (i = 0; i < n; i++) {
		*h ^= (uint64_t)u[i];
		*h *= FNV_PRIME;
	}
	*h ^= (uint64_t)n;
	*h *= FNV_PRIME;
}

/*
 * One cycle with @t; the times go to @res at @slot unless @slot is -1 (the
 * untimed warm-up). Returns B_OK, or B_ERR if the tracker failed.
 */
static int one_cycle(struct cycle_state *cs, const struct tracker *t,
		     struct tracker_result *res, long slot, long cycle)
{
	const struct region *r = cs->r;
	size_t per = r->unit / psize(), i;
	uint64_t t0, t1, t2;
	long n;
	bool ok;

	pick_units(cs->perm, r->nr_units, cs->k, &cs->rng);
	for (i = 0; i < cs->k; i++) {
		/* Any base page of a huge unit: the write marks the unit. */
		cs->off[i] = per > 1 ? (size_t)(rng_next(&cs->rng) % per) * psize() : 0;
		cs->want[cs->perm[i]] = 1;
	}
	cs->stamp++;

	t0 = now_ns();
	if (t->begin_cycle)
		t->begin_cycle();
	for (i = 0; i < cs->k; i++)
		*(volatile uint64_t *)(r->addr + cs->perm[i] * r->unit + cs->off[i]) = cs->stamp;
	t1 = now_ns();
	n = t->collect(cs->got, r->nr_units);
	t2 = now_ns();

	if (n < 0) {
		memset(cs->want, 0, r->nr_units);
		return B_ERR;
	}
	ok = (size_t)n == cs->k;
	for (i = 0; i < (size_t)n; i++) {
		if (cs->got[i] >= r->nr_units || !cs->want[cs->got[i]] ||
		    (i && cs->got[i] <= cs->got[i - 1])) {
			ok = false;
			break;
		}
	}
	if (!ok && !res->mismatches++) {
		if (i < (size_t)n)
			snprintf(res->first_mismatch, sizeof(res->first_mismatch),
				 "cycle %ld: %ld units reported, %zu written; unit %zu (entry %zu) was not written or is out of order",
				 cycle, n, cs->k, cs->got[i], i);
		else
			snprintf(res->first_mismatch, sizeof(res->first_mismatch),
				 "cycle %ld: %ld units reported, %zu written",
				 cycle, n, cs->k);
	}
	memset(cs->want, 0, r->nr_units);
	hash_units(&res->answers, cs->got, n);
	if (slot >= 0) {
		res->cycle[slot] = (double)(t2 - t0);
		res->write[slot] = (double)(t1 - t0);
		res->collect[slot] = (double)(t2 - t1);
		res->n = (size_t)slot + 1;
	}
	return B_OK;
}

static void emit(const struct cycle_opts *o, const struct region *shape,
		 double frac, size_t k, const struct tracker *t,
		 struct tracker_result *res, const struct stats *ref,
		 const struct tracker_result *first_ok)
{
	struct stats c, w, col;
	char hex[20];

	json_begin("result");
	json_str("bench", "cycle");
	json_str("mem", bench_mem_name(o->kind));
	json_str("impl", t->name);
	json_str("desc", t->desc);
	json_int("size", (long long)shape->size);
	json_int("unit", (long long)shape->unit);
	json_int("units", (long long)shape->nr_units);
	json_num("frac", frac);
	json_int("written", (long long)k);
	if (res->status != B_OK) {
		json_str("status", res->status == B_NA ? "n/a" : "error");
		json_str("reason", res->reason);
		json_end();
		return;
	}
	c = stats_of(res->cycle, res->n);
	w = stats_of(res->write, res->n);
	col = stats_of(res->collect, res->n);
	json_str("status", res->mismatches ? "wrong" : "ok");
	json_int("runs", o->runs);
	json_int("cycles", (long long)res->n);
	json_stats("", &c);
	json_num("write_median_ns", w.median);
	json_num("collect_median_ns", col.median);
	json_num("pages_per_s", (double)k / (c.median * 1e-9));
	if (ref)
		json_num("ratio", c.median / ref->median);
	else
		json_null("ratio");
	json_int("mismatches", (long long)res->mismatches);
	if (res->mismatches)
		json_str("first_mismatch", res->first_mismatch);
	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)res->answers);
	json_str("answers", hex);
	json_bool("answers_agree", !first_ok || first_ok->answers == res->answers);
	if (o->kind == MEM_THP)
		json_int("thp_kb_after", res->thp_kb);
	json_end();
}

/* The region size this kind of memory allows; 0 with vmh_reason if none. */
static size_t usable_size(const struct cycle_opts *o)
{
	size_t hs = hugetlb_size();
	long nfree;

	if (o->kind != MEM_HUGETLB)
		return o->size;
	if (!hs) {
		vmh_set_reason(B_NA, "no hugetlb support in this kernel");
		return 0;
	}
	nfree = hugetlb_free();
	if (nfree <= 0) {
		vmh_set_reason(B_NA, "no free hugetlb pages (%ld free and unreserved; raise vm.nr_hugepages)",
			   nfree);
		return 0;
	}
	return (size_t)nfree * hs < o->size ? (size_t)nfree * hs : o->size;
}

static void one_fraction(const struct cycle_opts *o, size_t size, double frac,
			 size_t fi, struct tracker_result *res, int *errors)
{
	struct cycle_state cs = { 0 };
	struct region r, shape = { 0 };
	const struct tracker_result *first_ok = NULL;
	struct stats ref_stats;
	bool have_ref = false;
	size_t ti, i, samples = (size_t)o->runs * (size_t)o->cycles;
	int run, ret;
	long c;

	for (ti = 0; ti < nr_trackers; ti++) {
		memset(&res[ti], 0, sizeof(res[ti]));
		res[ti].answers = FNV_OFFSET;
		res[ti].cycle = calloc(samples, sizeof(double));
		res[ti].write = calloc(samples, sizeof(double));
		res[ti].collect = calloc(samples, sizeof(double));
		if (!res[ti].cycle || !res[ti].write || !res[ti].collect) {
			perror("calloc");
			exit(2);
		}
	}

	for (run = 0; run < o->runs; run++) {
		progress("cycle %s %zu MiB %g%%: run %d/%d", bench_mem_name(o->kind),
			 size >> 20, frac * 100, run + 1, o->runs);
		for (ti = 0; ti < nr_trackers; ti++) {
			const struct tracker *t = trackers[ti];
			struct tracker_result *tr = &res[ti];

			if (tr->status != B_OK)
				continue;
			ret = region_alloc(&r, o->kind, size, true);
			if (ret) {
				tr->status = ret;
				snprintf(tr->reason, sizeof(tr->reason), "%s", vmh_reason);
				continue;
			}
			shape = r;
			if (!cs.perm) {
				cs.k = (size_t)llround(frac * (double)r.nr_units);
				if (cs.k < 1)
					cs.k = 1;
				cs.perm = calloc(r.nr_units, sizeof(size_t));
				cs.got = calloc(r.nr_units, sizeof(size_t));
				cs.off = calloc(r.nr_units, sizeof(size_t));
				cs.want = calloc(r.nr_units, 1);
				if (!cs.perm || !cs.got || !cs.off || !cs.want) {
					perror("calloc");
					exit(2);
				}
			}
			cs.r = &r;
			vmh_reason[0] = 0;
			ret = t->init(&r);
			if (ret) {
				tr->status = ret;
				snprintf(tr->reason, sizeof(tr->reason), "%s", vmh_reason);
				region_free(&r);
				continue;
			}
			/* The same written sets for every tracker in this run. */
			for (i = 0; i < r.nr_units; i++)
				cs.perm[i] = i;
			cs.rng = o->seed ^ ((uint64_t)run << 32) ^ ((uint64_t)fi << 48);
			ret = one_cycle(&cs, t, tr, -1, -1);
			for (c = 0; !ret && c < o->cycles; c++)
				ret = one_cycle(&cs, t, tr, (long)run * o->cycles + c, c);
			if (ret) {
				tr->status = B_ERR;
				snprintf(tr->reason, sizeof(tr->reason), "%s", vmh_reason);
			}
			if (o->kind == MEM_THP)
				tr->thp_kb = smaps_kb(r.addr, "AnonHugePages:");
			t->fini();
			region_free(&r);
		}
	}

	if (res[0].status == B_OK && res[0].n) {
		double *copy = malloc(res[0].n * sizeof(double));

		memcpy(copy, res[0].cycle, res[0].n * sizeof(double));
		ref_stats = stats_of(copy, res[0].n);
		free(copy);
		have_ref = true;
	}
	for (ti = 0; ti < nr_trackers; ti++) {
		if (res[ti].status == B_OK && !first_ok)
			first_ok = &res[ti];
	}
	for (ti = 0; ti < nr_trackers; ti++) {
		if (!shape.nr_units) {
			/* No region at all: report the sizes asked for. */
			shape.kind = o->kind;
			shape.size = size;
		}
		emit(o, &shape, frac, cs.k, trackers[ti], &res[ti],
		     have_ref ? &ref_stats : NULL, first_ok);
		if (res[ti].status == B_ERR || res[ti].mismatches)
			(*errors)++;
		if (res[ti].status == B_OK && first_ok &&
		    first_ok->answers != res[ti].answers)
			(*errors)++;
		free(res[ti].cycle);
		free(res[ti].write);
		free(res[ti].collect);
	}
	free(cs.perm);
	free(cs.got);
	free(cs.off);
	free(cs.want);
}

int bench_cycle(const struct cycle_opts *o)
{
	struct tracker_result *res = calloc(nr_trackers, sizeof(*res));
	size_t size, fi, ti;
	int errors = 0;

	if (!res) {
		perror("calloc");
		exit(2);
	}
	size = usable_size(o);
	for (fi = 0; fi < o->nr_fracs; fi++) {
		if (!size) {
			for (ti = 0; ti < nr_trackers; ti++) {
				json_begin("result");
				json_str("bench", "cycle");
				json_str("mem", bench_mem_name(o->kind));
				json_str("impl", trackers[ti]->name);
				json_num("frac", o->fracs[fi]);
				json_str("status", "n/a");
				json_str("reason", vmh_reason);
				json_end();
			}
			continue;
		}
		one_fraction(o, size, o->fracs[fi], fi, res, &errors);
	}
	free(res);
	return errors;
}
