// SPDX-License-Identifier: GPL-2.0
/*
 * What one look at a range costs: PAGEMAP_SCAN (get, and get+WP) against
 * reading the same range's /proc/self/pagemap entries and testing them.
 *
 * Layouts:
 *
 *   sparse  a large MAP_NORESERVE range (gigabytes of address space) with
 *	     16 pages written between looks, protected as a whole first;
 *   dense   every page present and protected, 1% of them written between
 *	     looks;
 *   holes   the sparse range before it was ever protected, asked for its
 *	     present pages instead: the walk meets empty page tables.
 *
 * The sparse range has to be protected first because, in a range
 * registered with WP_ASYNC and WP_UNPOPULATED, a page that was never
 * protected counts as written, empty or not. Protecting its empty pages
 * puts uffd-wp markers in them, so its page tables get filled in (VmPTE is
 * reported with the figures) and the sparse walks meet page tables full of
 * markers, not empty ones; "holes" shows the walk over nothing.
 *
 * Both sides must find the same pages on every repetition.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include "bench.h"

#define SPARSE_TOUCHED	16
#define READ_CHUNK	(256 * 1024)	/* pagemap entries per read() */

enum layout { L_SPARSE, L_DENSE, L_HOLES };

static const char *const layout_name[] = {
	[L_SPARSE] = "sparse",
	[L_DENSE] = "dense",
	[L_HOLES] = "holes",
};

enum scan_impl { SCAN_GET, SCAN_GET_WP, SCAN_READ, SCAN_NR };

static const char *const impl_name[SCAN_NR] = {
	[SCAN_GET] = "pagemap_scan_get",
	[SCAN_GET_WP] = "pagemap_scan_get_wp",
	[SCAN_READ] = "pagemap_read",
};

static const char *const impl_desc[SCAN_NR] = {
	[SCAN_GET] = "PAGEMAP_SCAN get",
	[SCAN_GET_WP] = "PAGEMAP_SCAN get + PM_SCAN_WP_MATCHING",
	[SCAN_READ] = "pread() of /proc/self/pagemap, testing each entry",
};

struct scan_range {
	enum layout layout;
	char *addr;
	size_t size, pages;
	size_t *touched;	/* page indices written between looks */
	size_t nr_touched;
	bool async;		/* registered for async uffd-wp */
	char why[256];		/* why not, when it is not */
	uint64_t category;	/* what is looked for: written or present */
	double protect_ns;	/* the first UFFDIO_WRITEPROTECT of the range */
	long pte_kb;		/* VmPTE after set-up */
	int uffd;
	struct page_region *vec;
	size_t vec_len;
	uint64_t *buf;
};

static void write_touched(struct scan_range *s, uint64_t v)
{
	size_t i;

	for (i = 0; i < s->nr_touched; i++)
		*(volatile uint64_t *)(s->addr + s->touched[i] * psize()) = v;
}

static int count_region(const struct page_region *pr, void *arg)
{
	*(long *)arg += (long)((pr->end - pr->start) / psize());
	return 0;
}

/* PAGEMAP_SCAN for the pages of s->category: their count, or -1. */
static long scan_count(struct scan_range *s, bool wp)
{
	uint64_t flags = PM_SCAN_CHECK_WPASYNC | (wp ? PM_SCAN_WP_MATCHING : 0);
	long ret, n = 0;

	ret = pagemap_scan_all((unsigned long)s->addr,
			       (unsigned long)s->addr + s->size, flags,
			       s->category, s->category, s->vec, s->vec_len,
			       count_region, &n);
	if (ret)
		return vmh_set_reason(B_ERR, "PAGEMAP_SCAN: %s", strerror((int)-ret));
	return n;
}

/*
 * Read the range's pagemap and count the pages of s->category: written is
 * present and not uffd-wp when the range is tracked, present otherwise.
 */
static long read_count(struct scan_range *s)
{
	bool written = s->async && s->category == PAGE_IS_WRITTEN;
	uint64_t mask = PME_PRESENT | (written ? PME_UFFD_WP : 0);
	size_t done, chunk, i;
	long n = 0;
	int ret;

	for (done = 0; done < s->pages; done += chunk) {
		chunk = s->pages - done < READ_CHUNK ? s->pages - done : READ_CHUNK;
		ret = pagemap_read(s->addr + done * psize(),
				   chunk * psize(), s->buf);
		if (ret)
			return vmh_set_reason(B_ERR, "reading /proc/self/pagemap: %s",
					  strerror(-ret));
		for (i = 0; i < chunk; i++)
			n += (s->buf[i] & mask) == PME_PRESENT;
	}
	return n;
}

static void emit_head(const struct scan_range *s, enum scan_impl impl,
		      long expect)
{
	json_begin("result");
	json_str("bench", "scan");
	json_str("layout", layout_name[s->layout]);
	json_str("impl", impl_name[impl]);
	json_str("desc", impl_desc[impl]);
	json_str("category", s->category == PAGE_IS_WRITTEN ? "written" : "present");
	json_int("size", (long long)s->size);
	json_int("pages", (long long)s->pages);
	/* The count both sides must find. */
	json_int("matching", expect);
	if (s->async && s->layout != L_HOLES)
		json_num("protect_ns", s->protect_ns);
	if (s->async)
		json_int("vm_pte_kb", s->pte_kb);
}

static void emit(const struct scan_range *s, enum scan_impl impl, long expect,
		 double *v, size_t n, const struct stats *ref, size_t wrong,
		 const char *wrong_text, unsigned long stale)
{
	struct stats st = stats_of(v, n);

	emit_head(s, impl, expect);
	json_str("status", wrong ? "wrong" : "ok");
	json_int("reps", (long long)n);
	json_stats("", &st);
	json_num("ns_per_page", st.median / (double)s->pages);
	json_num("pages_per_s", (double)s->pages / (st.median * 1e-9));
	if (ref)
		json_num("ratio", st.median / ref->median);
	else
		json_null("ratio");
	json_int("mismatches", (long long)wrong);
	if (wrong)
		json_str("first_mismatch", wrong_text);
	if (impl != SCAN_READ)
		json_int("stale_walk_end", (long long)stale);
	json_end();
}

static bool impl_applies(const struct scan_range *s, enum scan_impl i)
{
	if (i == SCAN_READ)
		return true;
	/* get+WP of present pages would protect the holes: not this test. */
	return s->async && !(i == SCAN_GET_WP && s->layout == L_HOLES);
}

static int measure(struct scan_range *s, int reps)
{
	char wrong_text[SCAN_NR][160];
	size_t wrong[SCAN_NR] = { 0 };
	unsigned long stale[SCAN_NR] = { 0 }, before;
	double *t[SCAN_NR];
	int rep, i, errors = 0;
	struct stats ref;
	long expect, got;
	uint64_t t0;

	/* The truth: the touched pages when tracked, else all present pages. */
	expect = s->async || s->layout != L_DENSE ? (long)s->nr_touched :
		 (long)s->pages;
	for (i = 0; i < SCAN_NR; i++) {
		t[i] = calloc((size_t)reps, sizeof(double));
		if (!t[i]) {
			perror("calloc");
			exit(2);
		}
	}
	for (rep = 0; rep < reps; rep++) {
		for (i = 0; i < SCAN_NR; i++) {
			if (!impl_applies(s, i))
				continue;
			/* Each look starts from the same written pages. */
			write_touched(s, (uint64_t)rep);
			before = pagemap_scan_stale_walk_end;
			t0 = now_ns();
			if (i == SCAN_READ)
				got = read_count(s);
			else
				got = scan_count(s, i == SCAN_GET_WP);
			t[i][rep] = (double)(now_ns() - t0);
			stale[i] += pagemap_scan_stale_walk_end - before;
			if (got < 0) {
				fprintf(stderr, "scan: %s\n", vmh_reason);
				return 1;
			}
			if (got != expect && !wrong[i]++)
				snprintf(wrong_text[i], sizeof(wrong_text[i]),
					 "rep %d: %ld pages found, %ld expected",
					 rep, got, expect);
		}
	}
	if (s->async) {
		double *copy = malloc((size_t)reps * sizeof(double));

		memcpy(copy, t[SCAN_GET], (size_t)reps * sizeof(double));
		ref = stats_of(copy, (size_t)reps);
		free(copy);
	}
	for (i = 0; i < SCAN_NR; i++) {
		if (impl_applies(s, i)) {
			emit(s, i, expect, t[i], (size_t)reps,
			     s->async ? &ref : NULL, wrong[i], wrong_text[i],
			     stale[i]);
		} else if (!s->async) {
			emit_head(s, i, expect);
			json_str("status", "n/a");
			json_str("reason", s->why);
			json_end();
		}
		errors += wrong[i] != 0;
		free(t[i]);
	}
	return errors;
}

static int setup(struct scan_range *s, enum layout layout, size_t size,
		 uint64_t seed)
{
	uint64_t rng = seed, t0;
	size_t i, j, tmp, *perm;
	int ret;

	memset(s, 0, sizeof(*s));
	s->layout = layout;
	s->uffd = -1;
	s->size = size;
	s->pages = size / psize();
	s->category = layout == L_HOLES ? PAGE_IS_PRESENT : PAGE_IS_WRITTEN;
	s->addr = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (s->addr == MAP_FAILED) {
		s->addr = NULL;
		return vmh_set_reason(B_NA, "mmap of %zu MiB (MAP_NORESERVE): %s",
				  size >> 20, strerror(errno));
	}
	madvise(s->addr, size, MADV_NOHUGEPAGE);
	if (layout == L_DENSE) {
		/* 1% of the pages, chosen at random, written between looks. */
		s->nr_touched = s->pages / 100 ? s->pages / 100 : 1;
		perm = malloc(s->pages * sizeof(*perm));
		s->touched = malloc(s->nr_touched * sizeof(*s->touched));
		if (!perm || !s->touched)
			return vmh_set_reason(B_ERR, "out of memory");
		for (i = 0; i < s->pages; i++)
			perm[i] = i;
		for (i = 0; i < s->nr_touched; i++) {
			j = i + (size_t)(rng_next(&rng) % (s->pages - i));
			tmp = perm[i];
			perm[i] = perm[j];
			perm[j] = tmp;
			s->touched[i] = perm[i];
		}
		free(perm);
		for (i = 0; i < s->pages; i++)
			s->addr[i * psize()] = 1;
	} else {
		s->nr_touched = SPARSE_TOUCHED;
		s->touched = malloc(s->nr_touched * sizeof(*s->touched));
		if (!s->touched)
			return vmh_set_reason(B_ERR, "out of memory");
		for (i = 0; i < s->nr_touched; i++)
			s->touched[i] = s->pages / s->nr_touched * i + 7;
		write_touched(s, 1);
	}
	s->buf = malloc(READ_CHUNK * sizeof(*s->buf));
	s->vec_len = s->nr_touched + 1;
	s->vec = calloc(s->vec_len, sizeof(*s->vec));
	if (!s->buf || !s->vec)
		return vmh_set_reason(B_ERR, "out of memory");

	s->async = have_pagemap_scan() && have_wp_async();
	if (!s->async) {
		snprintf(s->why, sizeof(s->why), "%s", vmh_reason);
		return B_OK;
	}
	s->uffd = uffd_open(UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED,
			    true);
	if (s->uffd < 0)
		return vmh_set_reason(B_ERR, "UFFDIO_API (WP_ASYNC): %s",
				  strerror(-s->uffd));
	ret = uffd_register(s->uffd, s->addr, size, UFFDIO_REGISTER_MODE_WP, NULL);
	if (ret)
		return vmh_set_reason(B_ERR, "UFFDIO_REGISTER (WP): %s", strerror(-ret));
	if (layout != L_HOLES) {
		t0 = now_ns();
		ret = uffd_wp(s->uffd, s->addr, size, true);
		s->protect_ns = (double)(now_ns() - t0);
		if (ret)
			return vmh_set_reason(B_ERR, "UFFDIO_WRITEPROTECT: %s",
					  strerror(-ret));
	}
	s->pte_kb = proc_field("/proc/self/status", "VmPTE:");
	return B_OK;
}

static void teardown(struct scan_range *s)
{
	if (s->uffd >= 0)
		close(s->uffd);
	if (s->addr)
		munmap(s->addr, s->size);
	free(s->touched);
	free(s->vec);
	free(s->buf);
}

static int one_range(enum layout layout, size_t size, const struct scan_opts *o)
{
	struct scan_range s;
	int ret, i, errors = 0;

	progress("scan %s %zu MiB", layout_name[layout], size >> 20);
	ret = setup(&s, layout, size, o->seed);
	if (ret) {
		for (i = 0; i < SCAN_NR; i++) {
			json_begin("result");
			json_str("bench", "scan");
			json_str("layout", layout_name[layout]);
			json_str("impl", impl_name[i]);
			json_int("size", (long long)size);
			json_str("status", ret == B_NA ? "n/a" : "error");
			json_str("reason", vmh_reason);
			json_end();
		}
		errors += ret == B_ERR;
	} else {
		errors += measure(&s, o->reps);
	}
	teardown(&s);
	return errors;
}

int bench_scan(const struct scan_opts *o)
{
	int errors = 0;
	size_t k;

	for (k = 0; k < o->nr_sparse; k++)
		errors += one_range(L_HOLES, o->sparse[k], o);
	for (k = 0; k < o->nr_sparse; k++)
		errors += one_range(L_SPARSE, o->sparse[k], o);
	for (k = 0; k < o->nr_dense; k++)
		errors += one_range(L_DENSE, o->dense[k], o);
	return errors;
}
