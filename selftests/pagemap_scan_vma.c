// SPDX-License-Identifier: GPL-2.0
/*
 * PAGEMAP_SCAN and async uffd-wp across mprotect() and mremap(): the
 * protections survive, a split VMA stays registered on both sides, and a
 * move without UFFD_FEATURE_EVENT_REMAP (or a grown tail) reads as written.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* mremap() */
#endif
#include "../kselftest.h"
#include "vm_util.h"

#define W	PAGE_IS_WRITTEN
#define WA	PAGE_IS_WPALLOWED
#define NR	8
#define MAX_REGIONS 16

static size_t ps;

struct watched {
	char *addr;	/* NR pages, with NR more free after them */
	size_t len;	/* what is mapped at addr when the case ends */
	int uffd;
};

/* NR written pages, async-WP protected, NR free pages after them. */
static char *watch(struct watched *w)
{
	char *p = mmap(NULL, 2 * NR * ps, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t i;

	if (p == MAP_FAILED)
		return vmh_set_reason(0, "mmap: %s", strerror(errno)), NULL;
	munmap(p + NR * ps, NR * ps);
	for (i = 0; i < NR; i++)
		p[i * ps] = (char)(0x40 + i);
	w->addr = p;
	w->len = NR * ps;
	w->uffd = uffd_async_wp(MEM_ANON, p, NR * ps, true);
	if (w->uffd < 0) {
		munmap(p, NR * ps);
		return NULL;
	}
	return p;
}

/* [addr, addr + n pages) has exactly these WRITTEN/WPALLOWED regions. */
#define SCAN_IS(addr, n, ...)						\
	({								\
		const struct region_exp __e[] = { __VA_ARGS__ };	\
		struct page_region __v[MAX_REGIONS];			\
		char *__a = (addr);					\
		long __n = pagemap_scan(pagemap_fd(), (unsigned long)__a, \
					(unsigned long)__a + (n) * ps,	\
					__v, MAX_REGIONS, 0, 0, 0, 0,	\
					W | WA, W | WA, NULL);		\
		regions_match(__a, ps, __v, __n, __e, ARRAY_SIZE(__e));	\
	})

/* Every page but @skip holds the data watch() wrote. */
static bool data_intact(char *at, int skip)
{
	size_t i;

	for (i = 0; i < NR; i++) {
		if ((int)i != skip && at[i * ps] != (char)(0x40 + i)) {
			ksft_print_msg("page %zu lost its data\n", i);
			return false;
		}
	}
	return true;
}

static bool t_mprotect_whole(struct watched *w)
{
	bool ok;

	ok = !mprotect(w->addr, NR * ps, PROT_READ) &&
	     !mprotect(w->addr, NR * ps, PROT_READ | PROT_WRITE);
	ok &= pagemap_all(w->addr, NR * ps, PME_UFFD_WP, true);
	ok &= SCAN_IS(w->addr, NR, { 0, NR, WA });
	w->addr[2 * ps] = 1;
	ok &= SCAN_IS(w->addr, NR, { 0, 2, WA }, { 2, 3, WA | W }, { 3, NR, WA });
	ok &= data_intact(w->addr, 2);
	return ok;
}

static bool t_mprotect_split(struct watched *w)
{
	bool ok;

	/* Three VMAs: both sides of each split stay registered and protected. */
	ok = !mprotect(w->addr + 2 * ps, 4 * ps, PROT_READ);
	ok &= SCAN_IS(w->addr, NR, { 0, NR, WA });
	ok &= pagemap_all(w->addr, NR * ps, PME_UFFD_WP, true);
	w->addr[1 * ps] = 1;
	w->addr[7 * ps] = 7;
	ok &= !mprotect(w->addr + 2 * ps, 4 * ps, PROT_READ | PROT_WRITE);
	w->addr[3 * ps] = 3;
	ok &= SCAN_IS(w->addr, NR, { 0, 1, WA }, { 1, 2, WA | W }, { 2, 3, WA },
		      { 3, 4, WA | W }, { 4, 7, WA }, { 7, 8, WA | W });
	return ok;
}

static bool t_mprotect_none(struct watched *w)
{
	bool ok;

	ok = !mprotect(w->addr, NR * ps, PROT_NONE);
	ok &= SCAN_IS(w->addr, NR, { 0, NR, WA });
	ok &= !mprotect(w->addr, NR * ps, PROT_READ | PROT_WRITE);
	ok &= pagemap_all(w->addr, NR * ps, PME_UFFD_WP, true);
	ok &= data_intact(w->addr, -1);
	ok &= SCAN_IS(w->addr, NR, { 0, NR, WA });
	return ok;
}

/* Moved without EVENT_REMAP: unregistered, every page written, data kept. */
static bool t_mremap_move(struct watched *w)
{
	char *to = mmap(NULL, NR * ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	char *moved;
	bool ok;

	if (to == MAP_FAILED) {
		ksft_print_msg("mmap: %s\n", strerror(errno));
		return false;
	}
	moved = mremap(w->addr, NR * ps, NR * ps, MREMAP_MAYMOVE | MREMAP_FIXED,
		       to);
	ok = moved == to;
	if (ok) {
		ok &= SCAN_IS(moved, NR, { 0, NR, W });
		ok &= pagemap_all(moved, NR * ps, PME_UFFD_WP, false);
		ok &= data_intact(moved, -1);
		w->addr = moved;
	} else {
		ksft_print_msg("mremap: %s\n", strerror(errno));
		munmap(to, NR * ps);
	}
	return ok;
}

/* Grown in place: the old pages keep their state, the new ones are written. */
static bool t_mremap_grow(struct watched *w)
{
	char *grown;
	bool ok;

	w->addr[5 * ps] = 5;
	grown = mremap(w->addr, NR * ps, 2 * NR * ps, 0);
	ok = grown == w->addr;
	if (ok) {
		w->len = 2 * NR * ps;
		ok &= SCAN_IS(w->addr, 2 * NR, { 0, 5, WA }, { 5, 6, WA | W },
			      { 6, NR, WA }, { NR, 2 * NR, WA | W });
		ok &= data_intact(w->addr, 5);
	} else {
		ksft_print_msg("mremap: %s\n", grown == MAP_FAILED ?
			       strerror(errno) : "moved");
	}
	return ok;
}

static bool t_mremap_shrink(struct watched *w)
{
	char *shrunk;
	bool ok;

	shrunk = mremap(w->addr, NR * ps, NR / 2 * ps, 0);
	ok = shrunk == w->addr;
	w->len = NR / 2 * ps;
	ok &= SCAN_IS(w->addr, NR / 2, { 0, NR / 2, WA });
	ok &= pagemap_all(w->addr, NR / 2 * ps, PME_UFFD_WP, true);
	w->addr[ps] = 1;
	ok &= SCAN_IS(w->addr, NR / 2, { 0, 1, WA }, { 1, 2, WA | W },
		      { 2, NR / 2, WA });
	return ok;
}

static const struct {
	const char *name;
	bool (*fn)(struct watched *w);
} cases[] = {
	{ "mprotect read-only and back keeps every protection, a later write is seen",
	  t_mprotect_whole },
	{ "mprotect of a part splits the VMA, both sides stay registered and protected",
	  t_mprotect_split },
	{ "PROT_NONE and back keeps protections and data",
	  t_mprotect_none },
	{ "mremap move without EVENT_REMAP: unregistered, all written, data kept (as mainline)",
	  t_mremap_move },
	{ "mremap grow in place: old pages keep their state, new ones read as written",
	  t_mremap_grow },
	{ "mremap shrink: the rest stays registered and protected",
	  t_mremap_shrink },
};

static void run_case(size_t i)
{
	struct watched w;

	if (!watch(&w)) {
		ksft_test_result_fail("%s: %s\n", cases[i].name, vmh_reason);
		return;
	}
	ksft_test_result(cases[i].fn(&w), "%s\n", cases[i].name);
	close(w.uffd);
	munmap(w.addr, w.len);
}

int main(void)
{
	size_t i;

	ps = psize();
	vmh_run_cases(i, ARRAY_SIZE(cases), true, cases[i].name, run_case(i));
	return 0;
}
