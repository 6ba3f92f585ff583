// SPDX-License-Identifier: GPL-2.0
/*
 * PAGEMAP_SCAN and async uffd-wp across mprotect() and mremap(): the
 * protections survive, a split VMA stays registered on both sides, and a
 * move without UFFD_FEATURE_EVENT_REMAP (or a grown tail) reads as written.
 */
#define _GNU_SOURCE		/* mremap() */
#include "../kselftest.h"
#include "vm_util.h"

#define W	PAGE_IS_WRITTEN
#define WA	PAGE_IS_WPALLOWED
#define NR	8

static size_t ps;
static char *mem;	/* NR written pages, async-WP protected, NR free after */
static size_t len;	/* what is mapped at mem when the case ends */

/* [mem, mem + len) has exactly these WRITTEN/WPALLOWED regions. */
#define SCAN_IS(...)							\
	SCAN_EXPECT(pagemap_fd(), ((struct pm_scan_arg){			\
		.start = (unsigned long)mem, .end = (unsigned long)mem + len, \
		.category_anyof_mask = W | WA, .return_mask = W | WA }),	\
		mem, ps, len / ps, __VA_ARGS__)

/* The first @n pages at mem are all protected (or all not). */
static bool all_wp(size_t n, bool set)
{
	return pagemap_all(mem, n * ps, PME_UFFD_WP, set);
}

/* Every page but @skip holds the data the case began with. */
static bool data_intact(int skip)
{
	int i;

	for (i = 0; i < NR; i++) {
		if (i != skip && mem[i * ps] != (char)(0x40 + i)) {
			ksft_print_msg("page %d lost its data\n", i);
			return false;
		}
	}
	return true;
}

static bool t_mprotect_whole(void)
{
	bool ok = !mprotect(mem, len, PROT_READ) &&
		  !mprotect(mem, len, PROT_READ | PROT_WRITE);

	ok &= all_wp(NR, true) && SCAN_IS({ 0, NR, WA });
	mem[2 * ps] = 1;
	return ok && SCAN_IS({ 0, 2, WA }, { 2, 3, WA | W }, { 3, NR, WA }) &&
	       data_intact(2);
}

static bool t_mprotect_split(void)
{
	bool ok = !mprotect(mem + 2 * ps, 4 * ps, PROT_READ);

	ok &= SCAN_IS({ 0, NR, WA }) && all_wp(NR, true);
	mem[1 * ps] = 1;
	mem[7 * ps] = 7;
	ok &= !mprotect(mem + 2 * ps, 4 * ps, PROT_READ | PROT_WRITE);
	mem[3 * ps] = 3;
	return ok && SCAN_IS({ 0, 1, WA }, { 1, 2, WA | W }, { 2, 3, WA },
			     { 3, 4, WA | W }, { 4, 7, WA }, { 7, 8, WA | W });
}

static bool t_mprotect_none(void)
{
	bool ok = !mprotect(mem, len, PROT_NONE) && SCAN_IS({ 0, NR, WA });

	ok &= !mprotect(mem, len, PROT_READ | PROT_WRITE) && all_wp(NR, true);
	return ok && data_intact(-1) && SCAN_IS({ 0, NR, WA });
}

static bool t_mremap_move(void)
{
	char *to = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *moved = to == MAP_FAILED ? to :
		      mremap(mem, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to);

	if (moved == MAP_FAILED) {
		ksft_print_msg("mmap/mremap: %s\n", strerror(errno));
		if (to != MAP_FAILED)
			munmap(to, len);
		return false;
	}
	mem = moved;
	return SCAN_IS({ 0, NR, W }) && all_wp(NR, false) && data_intact(-1);
}

static bool t_mremap_grow(void)
{
	char *grown;

	mem[5 * ps] = 5;
	grown = mremap(mem, len, 2 * len, 0);
	if (grown != mem) {
		ksft_print_msg("mremap: %s\n", grown == MAP_FAILED ? strerror(errno) : "moved");
		return false;
	}
	len *= 2;
	return SCAN_IS({ 0, 5, WA }, { 5, 6, WA | W }, { 6, NR, WA }, { NR, 2 * NR, WA | W }) &&
	       data_intact(5);
}

static bool t_mremap_shrink(void)
{
	bool ok = mremap(mem, len, len / 2, 0) == mem;

	len /= 2;
	ok &= SCAN_IS({ 0, NR / 2, WA }) && all_wp(NR / 2, true);
	mem[ps] = 1;
	return ok && SCAN_IS({ 0, 1, WA }, { 1, 2, WA | W }, { 2, NR / 2, WA });
}

static const struct {
	const char *name;
	bool (*fn)(void);
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
	int uffd = -1, p;

	len = NR * ps;
	mem = mmap(NULL, 2 * len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		ksft_exit_fail_msg("mmap: %s\n", strerror(errno));
	munmap(mem + len, len);
	for (p = 0; p < NR; p++)
		mem[p * ps] = (char)(0x40 + p);
	uffd = uffd_async_wp(MEM_ANON, mem, len, true);
	if (uffd < 0)
		ksft_test_result_fail("%s: %s\n", cases[i].name, vmh_reason);
	else
		ksft_test_result(cases[i].fn(), "%s\n", cases[i].name);
	close(uffd);
	munmap(mem, len);
}

int main(void)
{
	size_t i;

	ps = psize();
	vmh_run_cases(i, ARRAY_SIZE(cases), true, cases[i].name, run_case(i));
	return 0;
}
