// SPDX-License-Identifier: GPL-2.0
/*
 * PAGEMAP_SCAN argument checking.
 *
 * Every row of the error table of the PAGEMAP_SCAN contract, in the order
 * mainline validates the arguments, then the argument behaviour the table
 * leaves to mainline: which error wins when two are present, where walk_end
 * points after an error, what an empty range, a zero vec_len, an exited
 * target or another process's pagemap give. Mainline (the host kernel) is
 * the oracle for all of it; a kernel without PAGEMAP_SCAN (the ioctl fails
 * with ENOTTY) skips every case.
 *
 * walk_end is preset to WALK_END_UNSET before each call, so "the argument
 * was not written back" (the early argument checks) is told apart from "the
 * kernel wrote walk_end".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "../kselftest.h"
#include "pagemap_scan.h"
#include "vm_util.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL	102
#endif

#define WALK_END_UNSET		0x5a5a5a5a5a5a5000ULL
#define VEC_POISON		0xa5
#define NR_VEC			16

/* Addresses no user range contains on a 64-bit architecture. */
#define KERNEL_ADDR		0xffffffff81000000ULL
#define NONCANONICAL_ADDR	(1ULL << 63)

static int pm_fd;
static char reason[256];

static void set_reason(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
}

static __u64 addr(const void *p)
{
	return (unsigned long)p;
}

/* A private anonymous mapping of @n pages; the environment is broken if not. */
static char *map_pages(unsigned long n, int prot)
{
	char *p = mmap(NULL, n * psize(), prot, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	if (p == MAP_FAILED)
		ksft_exit_fail_msg("mmap of %lu pages: %s\n", n,
				   strerror(errno));
	return p;
}

/* Write one byte into each listed page of @p, making it present. */
static void touch_pages(char *p, const unsigned int *idx, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[idx[i] * psize()] = 1;
}

/*
 * An address with nothing mapped at it: a page mapped, then unmapped. Take
 * it after the test's other mappings: a later mmap() may reuse it.
 */
static void *unmapped_addr(void)
{
	char *p = map_pages(1, PROT_READ);

	munmap(p, psize());
	return p;
}

static void poison_vec(struct page_region *vec, size_t n)
{
	memset(vec, VEC_POISON, n * sizeof(*vec));
}

static bool vec_untouched(const struct page_region *vec, size_t n)
{
	const unsigned char *b = (const unsigned char *)vec;
	size_t i;

	for (i = 0; i < n * sizeof(*vec); i++) {
		if (b[i] != VEC_POISON) {
			ksft_print_msg("vec[%zu] was written\n",
				       i / sizeof(*vec));
			return false;
		}
	}
	return true;
}

static bool region_is(const struct page_region *r, const void *start,
		      const void *end, __u64 categories)
{
	if (r->start == addr(start) && r->end == addr(end) &&
	    r->categories == categories)
		return true;
	ksft_print_msg("region [%#llx, %#llx) %#llx, expected [%#llx, %#llx) %#llx\n",
		       r->start, r->end, r->categories, addr(start), addr(end),
		       categories);
	return false;
}

/* A valid scan of [start, start + len) reporting every known category. */
static void arg_init(struct pm_scan_arg *arg, const void *start,
		     unsigned long len, struct page_region *vec, __u64 vec_len)
{
	memset(arg, 0, sizeof(*arg));
	arg->size = sizeof(*arg);
	arg->start = addr(start);
	arg->end = arg->start + len;
	arg->vec = addr(vec);
	arg->vec_len = vec_len;
	arg->return_mask = PM_SCAN_KNOWN_CATEGORIES;
}

/* PAGEMAP_SCAN with an argument pointer that may not be valid at all. */
static long ioctl_raw(int fd, void *arg)
{
	long ret = ioctl(fd, PAGEMAP_SCAN, arg);

	return ret < 0 ? -errno : ret;
}

/* PAGEMAP_SCAN with a valid @arg, its walk_end preset to the sentinel. */
static long scan_fd(int fd, struct pm_scan_arg *arg)
{
	arg->walk_end = WALK_END_UNSET;
	return ioctl_raw(fd, arg);
}

static long scan(struct pm_scan_arg *arg)
{
	return scan_fd(pm_fd, arg);
}

static const char *err_name(long ret)
{
	switch (ret) {
	case -EPERM:	return "EPERM";
	case -ESRCH:	return "ESRCH";
	case -EINTR:	return "EINTR";
	case -EFAULT:	return "EFAULT";
	case -EINVAL:	return "EINVAL";
	case -ENOTTY:	return "ENOTTY";
	default:	return ret < 0 ? "other error" : "success";
	}
}

/* @ret must be @want (a count or -errno). */
static bool check_ret(const char *what, long ret, long want)
{
	if (ret == want)
		return true;
	ksft_print_msg("%s: returned %ld (%s), expected %ld (%s)\n", what,
		       ret, err_name(ret), want, err_name(want));
	return false;
}

/*
 * @ret must be @want and walk_end must be @walk_end afterwards
 * (WALK_END_UNSET: not written back).
 */
static bool check(const char *what, long ret, long want,
		  const struct pm_scan_arg *arg, __u64 walk_end)
{
	if (!check_ret(what, ret, want))
		return false;
	if (arg->walk_end == walk_end)
		return true;
	ksft_print_msg("%s: walk_end %#llx, expected %#llx%s\n", what,
		       arg->walk_end, walk_end,
		       walk_end == WALK_END_UNSET ? " (not written back)" : "");
	return false;
}

/* A rejected argument: @want, and pm_scan_arg not written back. */
static bool check_rejected(const char *what, struct pm_scan_arg *arg,
			   long want)
{
	return check(what, scan(arg), want, arg, WALK_END_UNSET);
}

static int result(bool ok)
{
	return ok ? KSFT_PASS : KSFT_FAIL;
}

/* --- arg itself ---------------------------------------------------------- */

static int test_arg_unmapped(void)
{
	return result(check_ret("unmapped arg",
				ioctl_raw(pm_fd, unmapped_addr()), -EFAULT));
}

static int test_arg_null(void)
{
	return result(check_ret("NULL arg", ioctl_raw(pm_fd, NULL), -EFAULT));
}

static int test_arg_kernel_address(void)
{
	return result(check_ret("kernel address arg",
				ioctl_raw(pm_fd, (void *)KERNEL_ADDR),
				-EFAULT));
}

/*
 * An argument whose first 48 bytes are readable and the rest is not: the
 * whole structure is read before anything in it is looked at, so this is
 * EFAULT even with a wrong size (mainline's order: copy, then size).
 */
static int partly_readable_arg(__u64 size, const char *what)
{
	char *two = map_pages(2, PROT_READ | PROT_WRITE);
	char *mem = map_pages(1, PROT_READ | PROT_WRITE);
	struct pm_scan_arg full, *arg;
	struct page_region vec[NR_VEC];
	size_t head = 48;
	bool ok;

	munmap(two + psize(), psize());
	arg_init(&full, mem, psize(), vec, NR_VEC);
	full.size = size;
	full.walk_end = WALK_END_UNSET;
	arg = (struct pm_scan_arg *)(two + psize() - head);
	memcpy(arg, &full, head);

	ok = check_ret(what, ioctl_raw(pm_fd, arg), -EFAULT);
	if (arg->walk_end != WALK_END_UNSET) {
		ksft_print_msg("%s: walk_end written\n", what);
		ok = false;
	}
	munmap(two, psize());
	munmap(mem, psize());
	return result(ok);
}

static int test_arg_partly_readable(void)
{
	return partly_readable_arg(sizeof(struct pm_scan_arg),
				   "arg readable for 48 of 96 bytes");
}

/* --- size ---------------------------------------------------------------- */

static int test_size_smaller(void)
{
	static const __u64 sizes[] = { 0, 8, 88, 95 };
	char *mem = map_pages(1, PROT_READ | PROT_WRITE);
	struct page_region vec[NR_VEC];
	struct pm_scan_arg arg;
	char what[64];
	bool ok = true;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		arg_init(&arg, mem, psize(), vec, NR_VEC);
		arg.size = sizes[i];
		snprintf(what, sizeof(what), "size %llu", sizes[i]);
		ok &= check_rejected(what, &arg, -EINVAL);
	}
	munmap(mem, psize());
	return result(ok);
}

/*
 * A larger structure is rejected even when the extra bytes are zero: the
 * ABI has no extensible-struct rule.
 */
static int test_size_larger(void)
{
	static const __u64 sizes[] = { 97, 104, 4096, ~0ULL };
	char *mem = map_pages(1, PROT_READ | PROT_WRITE);
	struct page_region vec[NR_VEC];
	struct {
		struct pm_scan_arg arg;
		char zero[4096];
	} big;
	char what[64];
	bool ok = true;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		memset(&big, 0, sizeof(big));
		arg_init(&big.arg, mem, psize(), vec, NR_VEC);
		big.arg.size = sizes[i];
		snprintf(what, sizeof(what), "size %llu", sizes[i]);
		ok &= check_rejected(what, &big.arg, -EINVAL);
	}
	munmap(mem, psize());
	return result(ok);
}

/* --- flags and categories ------------------------------------------------ */

static int test_flags_unknown(void)
{
	char *mem = map_pages(1, PROT_READ | PROT_WRITE);
	struct page_region vec[NR_VEC];
	struct pm_scan_arg arg;
	char what[64];
	bool ok;
	int bit;

	/* The two known flags pass validation (plain VMA: nothing to WP). */
	arg_init(&arg, mem, psize(), vec, NR_VEC);
	arg.flags = PM_SCAN_WP_MATCHING;
	ok = check("flags PM_SCAN_WP_MATCHING", scan(&arg), 0, &arg,
		   addr(mem + psize()));
	for (bit = 2; bit < 64; bit++) {
		arg_init(&arg, mem, psize(), vec, NR_VEC);
		arg.flags = 1ULL << bit;
		snprintf(what, sizeof(what), "flags bit %d", bit);
		ok &= check_rejected(what, &arg, -EINVAL);
	}
	munmap(mem, psize());
	return result(ok);
}

static const struct {
	const char *name;
	size_t offset;
} cat_masks[] = {
	{ "category_inverted", offsetof(struct pm_scan_arg, category_inverted) },
	{ "category_mask", offsetof(struct pm_scan_arg, category_mask) },
	{ "category_anyof_mask",
	  offsetof(struct pm_scan_arg, category_anyof_mask) },
	{ "return_mask", offsetof(struct pm_scan_arg, return_mask) },
};

static __u64 *cat_field(struct pm_scan_arg *arg, size_t m)
{
	return (__u64 *)((char *)arg + cat_masks[m].offset);
}

/* All eight known categories are accepted in each of the four masks. */
static int test_categories_known(void)
{
	char *mem = map_pages(1, PROT_READ | PROT_WRITE);
	struct page_region vec[NR_VEC];
	struct pm_scan_arg arg;
	char what[64];
	bool ok = true;
	size_t m;

	mem[0] = 1;
	for (m = 0; m < ARRAY_SIZE(cat_masks); m++) {
		arg_init(&arg, mem, psize(), vec, NR_VEC);
		*cat_field(&arg, m) = PM_SCAN_KNOWN_CATEGORIES;
		snprintf(what, sizeof(what), "%s 0xff", cat_masks[m].name);
		if (scan(&arg) < 0 || arg.walk_end != addr(mem + psize())) {
			ksft_print_msg("%s: rejected (%s) or walk_end %#llx\n",
				       what, strerror(errno), arg.walk_end);
			ok = false;
		}
	}
	munmap(mem, psize());
	return result(ok);
}

/*
 * Bits 9..63 are unknown on every kernel. Bit 8 is PAGE_IS_GUARD from
 * mainline 6.14 on and is tested on its own.
 */
static int test_category_unknown(size_t m)
{
	char *mem = map_pages(1, PROT_READ | PROT_WRITE);
	struct page_region vec[NR_VEC];
	struct pm_scan_arg arg;
	char what[64];
	bool ok = true;
	int bit;

	for (bit = 9; bit < 64; bit++) {
		arg_init(&arg, mem, psize(), vec, NR_VEC);
		*cat_field(&arg, m) = 1ULL << bit;
		snprintf(what, sizeof(what), "%s bit %d", cat_masks[m].name,
			 bit);
		ok &= check_rejected(what, &arg, -EINVAL);
	}
	munmap(mem, psize());
	return result(ok);
}

static int test_category_inverted_unknown(void)
{
	return test_category_unknown(0);
}

static int test_category_mask_unknown(void)
{
	return test_category_unknown(1);
}

static int test_category_anyof_mask_unknown(void)
{
	return test_category_unknown(2);
}

static int test_return_mask_unknown(void)
{
	return test_category_unknown(3);
}

/*
 * Category bit 8 is PAGE_IS_GUARD on kernels with guard regions (mainline
 * 6.14+, where MADV_GUARD_INSTALL works) and an unknown bit elsewhere,
 * including 6.1 with this series. (6.13 has guard regions without the
 * category; no oracle of ours runs it.)
 */
static int test_category_bit8(void)
{
	char *mem = map_pages(1, PROT_READ | PROT_WRITE);
	struct page_region vec[NR_VEC];
	struct pm_scan_arg arg;
	bool guard, ok = true;
	char what[64];
	long ret;
	size_t m;

	if (!madvise(mem, psize(), MADV_GUARD_INSTALL)) {
		guard = true;
	} else if (errno == EINVAL) {
		guard = false;
	} else {
		set_reason("MADV_GUARD_INSTALL: %s, bit 8's meaning unknown",
			   strerror(errno));
		munmap(mem, psize());
		return KSFT_SKIP;
	}
	ksft_print_msg("guard regions %ssupported: bit 8 must be %s\n",
		       guard ? "" : "not ",
		       guard ? "accepted" : "rejected with EINVAL");

	for (m = 0; m < ARRAY_SIZE(cat_masks); m++) {
		arg_init(&arg, mem, psize(), vec, NR_VEC);
		*cat_field(&arg, m) = 1ULL << 8;
		snprintf(what, sizeof(what), "%s bit 8", cat_masks[m].name);
		if (!guard) {
			ok &= check_rejected(what, &arg, -EINVAL);
			continue;
		}
		ret = scan(&arg);
		if (ret < 0 || arg.walk_end != addr(mem + psize())) {
			ksft_print_msg("%s: returned %ld, walk_end %#llx\n",
				       what, ret, arg.walk_end);
			ok = false;
		}
	}
	munmap(mem, psize());
	return result(ok);
}

/* --- the range ----------------------------------------------------------- */

static int test_start_unaligned(void)
{
	const unsigned long offs[] = { 1, psize() / 2, psize() - 1 };
	char *mem = map_pages(2, PROT_READ | PROT_WRITE);
	struct page_region vec[NR_VEC];
	struct pm_scan_arg arg;
	char what[64];
	bool ok = true;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(offs); i++) {
		arg_init(&arg, mem + offs[i], psize(), vec, NR_VEC);
		snprintf(what, sizeof(what), "start + %lu", offs[i]);
		ok &= check_rejected(what, &arg, -EINVAL);
	}
	munmap(mem, 2 * psize());
	return result(ok);
}

/*
 * An unaligned end is rounded up: the walk covers the partial last page,
 * and walk_end is the rounded end.
 */
static int test_end_unaligned_rounded_up(void)
{
	static const unsigned int present[] = { 0, 1 };
	char *mem = map_pages(3, PROT_READ | PROT_WRITE);
	struct page_region vec[NR_VEC];
	struct pm_scan_arg arg;
	bool ok;

	touch_pages(mem, present, ARRAY_SIZE(present));

	poison_vec(vec, NR_VEC);
	arg_init(&arg, mem, psize() + 1, vec, NR_VEC);
	arg.category_mask = PAGE_IS_PRESENT;
	arg.return_mask = PAGE_IS_PRESENT;
	ok = check("end = start + page + 1", scan(&arg), 1, &arg,
		   addr(mem + 2 * psize())) &&
	     region_is(&vec[0], mem, mem + 2 * psize(), PAGE_IS_PRESENT) &&
	     vec_untouched(&vec[1], NR_VEC - 1);

	poison_vec(vec, NR_VEC);
	arg_init(&arg, mem, 1, vec, NR_VEC);
	arg.category_mask = PAGE_IS_PRESENT;
	arg.return_mask = PAGE_IS_PRESENT;
	ok &= check("end = start + 1", scan(&arg), 1, &arg,
		    addr(mem + psize())) &&
	      region_is(&vec[0], mem, mem + psize(), PAGE_IS_PRESENT) &&
	      vec_untouched(&vec[1], NR_VEC - 1);

	munmap(mem, 3 * psize());
	return result(ok);
}

static int test_end_before_start(void)
{
	char *mem = map_pages(2, PROT_READ | PROT_WRITE);
	struct page_region vec[NR_VEC];
	struct pm_scan_arg arg;
	bool ok;

	arg_init(&arg, mem + psize(), 0, vec, NR_VEC);
	arg.end = addr(mem);
	ok = check_rejected("end = start - page", &arg, -EFAULT);
	arg_init(&arg, mem + psize(), 0, vec, NR_VEC);
	arg.end = addr(mem + psize() - 1);
	ok &= check_rejected("end = start - 1", &arg, -EFAULT);
	munmap(mem, 2 * psize());
	return result(ok);
}

static int test_kernel_range(void)
{
	char *mem = map_pages(1, PROT_READ | PROT_WRITE);
	struct page_region vec[NR_VEC];
	struct pm_scan_arg arg;
	bool ok;

	arg_init(&arg, mem, psize(), vec, NR_VEC);
	arg.start = KERNEL_ADDR;
	arg.end = KERNEL_ADDR + psize();
	ok = check_rejected("kernel start and end", &arg, -EFAULT);

	/* Even an empty range must be a user one. */
	arg.end = KERNEL_ADDR;
	ok &= check_rejected("kernel start == end", &arg, -EFAULT);

	arg_init(&arg, mem, psize(), vec, NR_VEC);
	arg.end = KERNEL_ADDR;
	ok &= check_rejected("user start, kernel end", &arg, -EFAULT);
	munmap(mem, psize());
	return result(ok);
}

static int test_end_huge(void)
{
	char *mem = map_pages(1, PROT_READ | PROT_WRITE);
	struct page_region vec[NR_VEC];
	struct pm_scan_arg arg;
	bool ok;

	arg_init(&arg, mem, psize(), vec, NR_VEC);
	arg.end = NONCANONICAL_ADDR;
	ok = check_rejected("end = 1 << 63", &arg, -EFAULT);
	arg.end = ~0ULL;
	ok &= check_rejected("end = ~0", &arg, -EFAULT);
	/* Rounding this end up would wrap to 0. */
	arg.end = ~0ULL - psize() + 2;
	ok &= check_rejected("end = ~0 - page + 2", &arg, -EFAULT);
	munmap(mem, psize());
	return result(ok);
}

/* --- the output array ---------------------------------------------------- */

static int test_vec_null_len_nonzero(void)
{
	char *mem = map_pages(1, PROT_READ | PROT_WRITE);
	struct pm_scan_arg arg;
	bool ok;

	arg_init(&arg, mem, psize(), NULL, 1);
	ok = check_rejected("vec NULL, vec_len 1", &arg, -EINVAL);
	arg.vec_len = ~0ULL;
	ok &= check_rejected("vec NULL, vec_len ~0", &arg, -EINVAL);
	munmap(mem, psize());
	return result(ok);
}

/* vec = 0, vec_len = 0: a walk that reports nothing. */
static int test_vec_null_len_zero(void)
{
	char *mem = map_pages(2, PROT_READ | PROT_WRITE);
	struct pm_scan_arg arg;
	bool ok;

	mem[0] = 1;
	arg_init(&arg, mem, 2 * psize(), NULL, 0);
	ok = check("vec NULL, vec_len 0", scan(&arg), 0, &arg,
		   addr(mem + 2 * psize()));
	munmap(mem, 2 * psize());
	return result(ok);
}

/* vec set, vec_len = 0: the same, and vec is never written. */
static int test_vec_len_zero(void)
{
	char *mem = map_pages(2, PROT_READ | PROT_WRITE);
	struct page_region vec[NR_VEC];
	struct pm_scan_arg arg;
	bool ok;

	mem[0] = 1;
	poison_vec(vec, NR_VEC);
	arg_init(&arg, mem, 2 * psize(), vec, 0);
	ok = check("vec set, vec_len 0", scan(&arg), 0, &arg,
		   addr(mem + 2 * psize())) && vec_untouched(vec, NR_VEC);

	/* max_pages does not change that. */
	arg_init(&arg, mem, 2 * psize(), vec, 0);
	arg.max_pages = 1;
	ok &= check("vec set, vec_len 0, max_pages 1", scan(&arg), 0, &arg,
		    addr(mem + 2 * psize())) && vec_untouched(vec, NR_VEC);
	munmap(mem, 2 * psize());
	return result(ok);
}

/* vec (with its length) outside user space is refused before the walk. */
static int test_vec_not_user_range(void)
{
	char *mem = map_pages(1, PROT_READ | PROT_WRITE);
	struct page_region vec[NR_VEC];
	struct pm_scan_arg arg;
	bool ok;

	mem[0] = 1;
	arg_init(&arg, mem, psize(), (void *)KERNEL_ADDR, 1);
	ok = check_rejected("vec kernel address", &arg, -EFAULT);

	arg_init(&arg, mem, psize(), vec, 1ULL << 62);
	ok &= check_rejected("vec_len 1 << 62", &arg, -EFAULT);
	arg.vec_len = ~0ULL;
	ok &= check_rejected("vec_len ~0", &arg, -EFAULT);
	/* Just long enough to run into non-canonical addresses. */
	arg.vec_len = (NONCANONICAL_ADDR - addr(vec)) / sizeof(*vec) + 1;
	ok &= check_rejected("vec + vec_len past user space", &arg, -EFAULT);
	munmap(mem, psize());
	return result(ok);
}

/*
 * A user range that cannot be written: found when the walk writes its
 * results, so walk_end is written back (the end of the walk).
 */
static int vec_not_writable(bool readonly, const char *what)
{
	char *mem = map_pages(2, PROT_READ | PROT_WRITE);
	struct page_region *bad;
	struct pm_scan_arg arg;
	char msg[96];
	bool ok;

	bad = readonly ? (void *)map_pages(1, PROT_READ) : unmapped_addr();
	mem[0] = 1;
	arg_init(&arg, mem, 2 * psize(), bad, NR_VEC);
	snprintf(msg, sizeof(msg), "%s, regions to write", what);
	ok = check(msg, scan(&arg), -EFAULT, &arg, addr(mem + 2 * psize()));

	/* Nothing matches: nothing is written, no error. */
	arg_init(&arg, mem + psize(), psize(), bad, NR_VEC);
	arg.category_mask = PAGE_IS_PRESENT;
	snprintf(msg, sizeof(msg), "%s, nothing to write", what);
	ok &= check(msg, scan(&arg), 0, &arg, addr(mem + 2 * psize()));
	munmap(mem, 2 * psize());
	if (readonly)
		munmap(bad, psize());
	return result(ok);
}

static int test_vec_readonly(void)
{
	return vec_not_writable(true, "read-only vec");
}

static int test_vec_unmapped(void)
{
	return vec_not_writable(false, "unmapped vec");
}

/*
 * vec_len only bounds the output: a vec whose tail is unmapped works as
 * long as the regions found fit in the mapped part.
 */
static int test_vec_tail_unmapped(void)
{
	static const unsigned int present[] = { 1, 3 };
	char *mem = map_pages(4, PROT_READ | PROT_WRITE);
	char *two = map_pages(2, PROT_READ | PROT_WRITE);
	struct page_region *vec;
	struct pm_scan_arg arg;
	bool ok;

	munmap(two + psize(), psize());
	vec = (struct page_region *)(two + psize()) - 2;
	touch_pages(mem, present, ARRAY_SIZE(present));

	arg_init(&arg, mem, 4 * psize(), vec, NR_VEC);
	arg.category_mask = PAGE_IS_PRESENT;
	arg.return_mask = PAGE_IS_PRESENT;
	ok = check("2 regions, room for 2", scan(&arg), 2, &arg,
		   addr(mem + 4 * psize())) &&
	     region_is(&vec[0], mem + psize(), mem + 2 * psize(),
		       PAGE_IS_PRESENT) &&
	     region_is(&vec[1], mem + 3 * psize(), mem + 4 * psize(),
		       PAGE_IS_PRESENT);

	arg_init(&arg, mem, 4 * psize(), vec, NR_VEC);
	arg.return_mask = PAGE_IS_PRESENT;
	ok &= check("4 regions, room for 2", scan(&arg), -EFAULT, &arg,
		    addr(mem + 4 * psize()));
	munmap(mem, 4 * psize());
	munmap(two, psize());
	return result(ok);
}

/* --- PM_SCAN_CHECK_WPASYNC ----------------------------------------------- */

/* A VMA without async uffd-wp: EPERM, walk_end written back as the end. */
static int test_check_wpasync_plain_vma(void)
{
	char *mem = map_pages(2, PROT_READ | PROT_WRITE);
	struct page_region vec[NR_VEC];
	struct pm_scan_arg arg;
	bool ok;

	mem[0] = 1;
	poison_vec(vec, NR_VEC);
	arg_init(&arg, mem, 2 * psize(), vec, NR_VEC);
	arg.flags = PM_SCAN_CHECK_WPASYNC;
	ok = check("CHECK_WPASYNC", scan(&arg), -EPERM, &arg,
		   addr(mem + 2 * psize()));
	arg.flags |= PM_SCAN_WP_MATCHING;
	ok &= check("CHECK_WPASYNC | WP_MATCHING", scan(&arg), -EPERM, &arg,
		    addr(mem + 2 * psize()));
	ok &= vec_untouched(vec, NR_VEC);

	arg_init(&arg, mem, 2 * psize(), NULL, 0);
	arg.flags = PM_SCAN_CHECK_WPASYNC | PM_SCAN_WP_MATCHING;
	ok &= check("CHECK_WPASYNC | WP_MATCHING, no vec", scan(&arg), -EPERM,
		    &arg, addr(mem + 2 * psize()));
	munmap(mem, 2 * psize());
	return result(ok);
}

/* An unmapped range has no VMA to complain about. */
static int test_check_wpasync_no_vma(void)
{
	char *mem = unmapped_addr();
	struct page_region vec[NR_VEC];
	struct pm_scan_arg arg;

	poison_vec(vec, NR_VEC);
	arg_init(&arg, mem, psize(), vec, NR_VEC);
	arg.flags = PM_SCAN_CHECK_WPASYNC | PM_SCAN_WP_MATCHING;
	return result(check("CHECK_WPASYNC over a hole", scan(&arg), 0, &arg,
			    addr(mem + psize())) && vec_untouched(vec, NR_VEC));
}

/*
 * Map 8 pages; register the first 4 for async uffd-wp (splitting the VMA),
 * touch pages 0 and 5. Returns the uffd, or -1 with the reason set (skip).
 */
static int async_wp_area(char **memp)
{
	int64_t features = uffd_api_features();
	char *mem;
	int uffd, ret;

	if (features < 0) {
		set_reason("userfaultfd unusable: %s", strerror(-features));
		return -1;
	}
	if (!(features & UFFD_FEATURE_WP_ASYNC)) {
		set_reason("UFFD_FEATURE_WP_ASYNC not advertised");
		return -1;
	}
	uffd = uffd_open(UFFD_FEATURE_WP_ASYNC, true);
	if (uffd < 0)
		ksft_exit_fail_msg("userfaultfd with WP_ASYNC: %s\n",
				   strerror(-uffd));
	mem = map_pages(8, PROT_READ | PROT_WRITE);
	ret = uffd_register(uffd, mem, 4 * psize(), UFFDIO_REGISTER_MODE_WP,
			    NULL);
	if (ret)
		ksft_exit_fail_msg("UFFDIO_REGISTER_MODE_WP: %s\n",
				   strerror(-ret));
	mem[0] = 1;
	mem[5 * psize()] = 1;
	*memp = mem;
	return uffd;
}

static int test_check_wpasync_async_vma(void)
{
	struct page_region vec[NR_VEC];
	struct pm_scan_arg arg;
	int uffd;
	char *mem;
	bool ok;

	uffd = async_wp_area(&mem);
	if (uffd < 0)
		return KSFT_SKIP;
	poison_vec(vec, NR_VEC);
	arg_init(&arg, mem, 4 * psize(), vec, NR_VEC);
	arg.flags = PM_SCAN_CHECK_WPASYNC;
	arg.return_mask = PAGE_IS_WPALLOWED | PAGE_IS_PRESENT;
	ok = check("CHECK_WPASYNC on an async-WP VMA", scan(&arg), 2, &arg,
		   addr(mem + 4 * psize())) &&
	     region_is(&vec[0], mem, mem + psize(),
		       PAGE_IS_WPALLOWED | PAGE_IS_PRESENT) &&
	     region_is(&vec[1], mem + psize(), mem + 4 * psize(),
		       PAGE_IS_WPALLOWED) &&
	     vec_untouched(&vec[2], NR_VEC - 2);
	close(uffd);
	munmap(mem, 8 * psize());
	return result(ok);
}

/*
 * An async-WP VMA followed by a plain one: EPERM, but the regions found in
 * the first VMA are in vec, and walk_end is the end of the range, not the
 * start of the VMA that failed.
 */
static int test_check_wpasync_mixed(void)
{
	struct page_region vec[NR_VEC];
	struct pm_scan_arg arg;
	int uffd;
	char *mem;
	bool ok;

	uffd = async_wp_area(&mem);
	if (uffd < 0)
		return KSFT_SKIP;
	poison_vec(vec, NR_VEC);
	arg_init(&arg, mem, 8 * psize(), vec, NR_VEC);
	arg.flags = PM_SCAN_CHECK_WPASYNC;
	arg.return_mask = PAGE_IS_WPALLOWED | PAGE_IS_PRESENT;
	ok = check("CHECK_WPASYNC, async then plain VMA", scan(&arg), -EPERM,
		   &arg, addr(mem + 8 * psize())) &&
	     region_is(&vec[0], mem, mem + psize(),
		       PAGE_IS_WPALLOWED | PAGE_IS_PRESENT) &&
	     region_is(&vec[1], mem + psize(), mem + 4 * psize(),
		       PAGE_IS_WPALLOWED) &&
	     vec_untouched(&vec[2], NR_VEC - 2);
	close(uffd);
	munmap(mem, 8 * psize());
	return result(ok);
}

/* Without CHECK_WPASYNC, WP_MATCHING skips a plain VMA: nothing reported. */
static int test_wp_matching_plain_vma(void)
{
	char *mem = map_pages(2, PROT_READ | PROT_WRITE);
	struct page_region vec[NR_VEC];
	struct pm_scan_arg arg;
	bool ok;

	mem[0] = 1;
	poison_vec(vec, NR_VEC);
	arg_init(&arg, mem, 2 * psize(), vec, NR_VEC);
	arg.flags = PM_SCAN_WP_MATCHING;
	ok = check("WP_MATCHING on a plain VMA", scan(&arg), 0, &arg,
		   addr(mem + 2 * psize())) && vec_untouched(vec, NR_VEC);
	munmap(mem, 2 * psize());
	return result(ok);
}

/* --- two errors at once: which one wins ---------------------------------- */

static int test_order_copy_before_size(void)
{
	return partly_readable_arg(8, "arg partly readable, size 8");
}

/* Every EINVAL of the early checks comes before the range's EFAULT. */
static int test_order_args_before_range(void)
{
	char *mem = map_pages(2, PROT_READ | PROT_WRITE);
	struct page_region vec[NR_VEC];
	struct pm_scan_arg arg;
	bool ok;

	arg_init(&arg, mem + psize(), 0, vec, NR_VEC);
	arg.end = addr(mem);
	arg.size = 88;
	ok = check_rejected("size 88, end < start", &arg, -EINVAL);

	arg.size = sizeof(arg);
	arg.flags = 1ULL << 2;
	ok &= check_rejected("flags bit 2, end < start", &arg, -EINVAL);

	arg.flags = 0;
	arg.return_mask = 1ULL << 9;
	ok &= check_rejected("return_mask bit 9, end < start", &arg, -EINVAL);

	arg.return_mask = PM_SCAN_KNOWN_CATEGORIES;
	arg.start++;
	ok &= check_rejected("start unaligned, end < start", &arg, -EINVAL);
	munmap(mem, 2 * psize());
	return result(ok);
}

static int test_order_range_before_vec(void)
{
	char *mem = map_pages(2, PROT_READ | PROT_WRITE);
	struct pm_scan_arg arg;
	bool ok;

	arg_init(&arg, mem + psize(), 0, NULL, 1);
	arg.end = addr(mem);
	ok = check_rejected("end < start, vec NULL with vec_len 1", &arg,
			    -EFAULT);
	munmap(mem, 2 * psize());
	return result(ok);
}

static int test_order_vec_null_before_vec_range(void)
{
	char *mem = map_pages(1, PROT_READ | PROT_WRITE);
	struct pm_scan_arg arg;
	bool ok;

	arg_init(&arg, mem, psize(), NULL, 1ULL << 62);
	ok = check_rejected("vec NULL, vec_len 1 << 62", &arg, -EINVAL);
	munmap(mem, psize());
	return result(ok);
}

/* The argument checks all come before the walk that finds EPERM. */
static int test_order_args_before_eperm(void)
{
	char *mem = map_pages(1, PROT_READ | PROT_WRITE);
	struct pm_scan_arg arg;
	bool ok;

	mem[0] = 1;
	arg_init(&arg, mem, psize(), NULL, 1);
	arg.flags = PM_SCAN_CHECK_WPASYNC;
	ok = check_rejected("vec NULL with vec_len, CHECK_WPASYNC plain VMA",
			    &arg, -EINVAL);
	arg_init(&arg, mem, psize(), (void *)KERNEL_ADDR, 1);
	arg.flags = PM_SCAN_CHECK_WPASYNC;
	ok &= check_rejected("vec kernel address, CHECK_WPASYNC plain VMA",
			     &arg, -EFAULT);
	munmap(mem, psize());
	return result(ok);
}

/*
 * An unwritable vec is only found when results are written: EPERM from a
 * walk that found nothing wins; with regions found before the EPERM, the
 * failed write (EFAULT) wins.
 */
static int test_order_eperm_vs_vec_write(void)
{
	char *mem = map_pages(1, PROT_READ | PROT_WRITE);
	void *bad = unmapped_addr();
	struct pm_scan_arg arg;
	int uffd;
	bool ok;

	mem[0] = 1;
	arg_init(&arg, mem, psize(), bad, NR_VEC);
	arg.flags = PM_SCAN_CHECK_WPASYNC;
	ok = check("unmapped vec, CHECK_WPASYNC plain VMA", scan(&arg), -EPERM,
		   &arg, addr(mem + psize()));
	munmap(mem, psize());

	uffd = async_wp_area(&mem);
	if (uffd < 0) {
		ksft_print_msg("regions found before EPERM not tested: %s\n",
			       reason);
		return result(ok);
	}
	bad = unmapped_addr();
	arg_init(&arg, mem, 8 * psize(), bad, NR_VEC);
	arg.flags = PM_SCAN_CHECK_WPASYNC;
	ok &= check("unmapped vec, regions, then EPERM", scan(&arg), -EFAULT,
		    &arg, addr(mem + 8 * psize()));
	close(uffd);
	munmap(mem, 8 * psize());
	return result(ok);
}

/* --- results of valid calls ---------------------------------------------- */

static int test_start_equals_end(void)
{
	char *mem = map_pages(1, PROT_READ | PROT_WRITE);
	struct page_region vec[NR_VEC];
	struct pm_scan_arg arg;
	bool ok;

	mem[0] = 1;
	poison_vec(vec, NR_VEC);
	arg_init(&arg, mem, 0, vec, NR_VEC);
	ok = check("start == end", scan(&arg), 0, &arg, addr(mem));
	arg_init(&arg, NULL, 0, vec, NR_VEC);
	ok &= check("start == end == 0", scan(&arg), 0, &arg, 0);
	ok &= vec_untouched(vec, NR_VEC);
	munmap(mem, psize());
	return result(ok);
}

/* walk_end is the page-aligned end, holes in the range included. */
static int test_walk_end_success(void)
{
	char *mem = map_pages(4, PROT_READ | PROT_WRITE);
	struct page_region vec[NR_VEC];
	struct pm_scan_arg arg;
	bool ok;

	mem[0] = 1;
	munmap(mem + 2 * psize(), 2 * psize());
	arg_init(&arg, mem, 4 * psize() - 100, vec, NR_VEC);
	ok = check("range ending in a hole", scan(&arg), 2, &arg,
		   addr(mem + 4 * psize()));
	munmap(mem, 2 * psize());
	return result(ok);
}

/* The return value is the number of regions written, no more are written. */
static int test_return_value(void)
{
	static const unsigned int present[] = { 0, 2, 3, 6 };
	char *mem = map_pages(8, PROT_READ | PROT_WRITE);
	struct page_region vec[NR_VEC];
	struct pm_scan_arg arg;
	bool ok;

	touch_pages(mem, present, ARRAY_SIZE(present));

	poison_vec(vec, NR_VEC);
	arg_init(&arg, mem, 8 * psize(), vec, NR_VEC);
	arg.category_mask = PAGE_IS_PRESENT;
	arg.return_mask = PAGE_IS_PRESENT;
	ok = check("3 regions", scan(&arg), 3, &arg, addr(mem + 8 * psize())) &&
	     region_is(&vec[0], mem, mem + psize(), PAGE_IS_PRESENT) &&
	     region_is(&vec[1], mem + 2 * psize(), mem + 4 * psize(),
		       PAGE_IS_PRESENT) &&
	     region_is(&vec[2], mem + 6 * psize(), mem + 7 * psize(),
		       PAGE_IS_PRESENT) &&
	     vec_untouched(&vec[3], NR_VEC - 3);

	/* A full vec stops the walk at the first page it could not report. */
	poison_vec(vec, NR_VEC);
	arg_init(&arg, mem, 8 * psize(), vec, 2);
	arg.category_mask = PAGE_IS_PRESENT;
	arg.return_mask = PAGE_IS_PRESENT;
	ok &= check("3 regions, vec_len 2", scan(&arg), 2, &arg,
		    addr(mem + 6 * psize())) &&
	      vec_untouched(&vec[2], NR_VEC - 2);
	munmap(mem, 8 * psize());
	return result(ok);
}

/* Mainline's pagemap ioctl handler answers other commands with EINVAL. */
static int test_unknown_ioctl(void)
{
	struct pm_scan_arg arg;
	long ret;

	arg_init(&arg, NULL, 0, NULL, 0);
	ret = ioctl(pm_fd, _IOWR('f', 17, struct pm_scan_arg), &arg);
	return result(check_ret("ioctl 'f' 17 on pagemap",
				ret < 0 ? -errno : ret, -EINVAL));
}

/* --- other processes ----------------------------------------------------- */

struct child {
	pid_t pid;
	int go;			/* parent writes: child may exit */
};

/*
 * Fork a child that touches @idx pages of @mem and waits until the parent
 * writes to the go pipe; returns once the pages are touched.
 */
static void child_start(struct child *c, char *mem, const unsigned int *idx,
			size_t n)
{
	int ready[2], go[2];
	char b = 0;

	if (pipe(ready) || pipe(go))
		ksft_exit_fail_msg("pipe: %s\n", strerror(errno));
	fflush(stdout);
	c->pid = fork();
	if (c->pid < 0)
		ksft_exit_fail_msg("fork: %s\n", strerror(errno));
	if (!c->pid) {
		/* Only the parent may hold the write end: EOF is "go". */
		close(go[1]);
		close(ready[0]);
		touch_pages(mem, idx, n);
		if (write(ready[1], &b, 1) != 1 || read(go[0], &b, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	if (read(ready[0], &b, 1) != 1)
		ksft_exit_fail_msg("child %d died early\n", c->pid);
	close(ready[0]);
	c->go = go[1];
}

static int child_open_pagemap(const struct child *c)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", c->pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		ksft_exit_fail_msg("open %s: %s\n", path, strerror(errno));
	return fd;
}

/* Let the child exit and reap it. */
static void child_end(struct child *c)
{
	int status;

	close(c->go);
	if (waitpid(c->pid, &status, 0) != c->pid)
		ksft_exit_fail_msg("waitpid: %s\n", strerror(errno));
}

/* The parent scans the child's pagemap and sees the child's pages. */
static int test_other_process(void)
{
	static const unsigned int present[] = { 1, 3 };
	char *mem = map_pages(4, PROT_READ | PROT_WRITE);
	struct page_region vec[NR_VEC];
	struct pm_scan_arg arg;
	struct child c;
	bool ok;
	int fd;

	child_start(&c, mem, present, ARRAY_SIZE(present));
	fd = child_open_pagemap(&c);

	poison_vec(vec, NR_VEC);
	arg_init(&arg, mem, 4 * psize(), vec, NR_VEC);
	arg.category_mask = PAGE_IS_PRESENT;
	arg.return_mask = PAGE_IS_PRESENT;
	ok = check("child's pagemap", scan_fd(fd, &arg), 2, &arg,
		   addr(mem + 4 * psize())) &&
	     region_is(&vec[0], mem + psize(), mem + 2 * psize(),
		       PAGE_IS_PRESENT) &&
	     region_is(&vec[1], mem + 3 * psize(), mem + 4 * psize(),
		       PAGE_IS_PRESENT) &&
	     vec_untouched(&vec[2], NR_VEC - 2);

	/* The same range in the parent was never touched. */
	ok &= check("own pagemap", scan(&arg), 0, &arg,
		    addr(mem + 4 * psize()));

	child_end(&c);
	close(fd);
	munmap(mem, 4 * psize());
	return result(ok);
}

/*
 * The pagemap of a process that exited (and was reaped) while the file was
 * open: mainline answers ESRCH before looking at the argument at all, and
 * writes nothing.
 */
static int test_exited_process(void)
{
	static const unsigned int present[] = { 0, 1 };
	char *mem = map_pages(2, PROT_READ | PROT_WRITE);
	struct page_region vec[NR_VEC];
	struct pm_scan_arg arg;
	struct child c;
	bool ok;
	int fd;

	child_start(&c, mem, present, ARRAY_SIZE(present));
	fd = child_open_pagemap(&c);
	arg_init(&arg, mem, 2 * psize(), vec, NR_VEC);
	ok = check("child alive", scan_fd(fd, &arg), 1, &arg,
		   addr(mem + 2 * psize()));
	child_end(&c);

	poison_vec(vec, NR_VEC);
	arg_init(&arg, mem, 2 * psize(), vec, NR_VEC);
	ok &= check("child exited", scan_fd(fd, &arg), -ESRCH, &arg,
		    WALK_END_UNSET) && vec_untouched(vec, NR_VEC);

	arg_init(&arg, mem, 2 * psize(), vec, NR_VEC);
	arg.size = 0;
	ok &= check("child exited, size 0", scan_fd(fd, &arg), -ESRCH, &arg,
		    WALK_END_UNSET);
	ok &= check_ret("child exited, NULL arg", ioctl_raw(fd, NULL), -ESRCH);
	close(fd);
	munmap(mem, 2 * psize());
	return result(ok);
}

static const struct test_case {
	const char *name;
	int (*fn)(void);
} tests[] = {
	{ "arg_unmapped_efault", test_arg_unmapped },
	{ "arg_null_efault", test_arg_null },
	{ "arg_kernel_address_efault", test_arg_kernel_address },
	{ "arg_partly_readable_efault", test_arg_partly_readable },
	{ "size_smaller_einval", test_size_smaller },
	{ "size_larger_einval", test_size_larger },
	{ "flags_unknown_einval", test_flags_unknown },
	{ "categories_known_accepted", test_categories_known },
	{ "category_inverted_unknown_einval", test_category_inverted_unknown },
	{ "category_mask_unknown_einval", test_category_mask_unknown },
	{ "category_anyof_mask_unknown_einval",
	  test_category_anyof_mask_unknown },
	{ "return_mask_unknown_einval", test_return_mask_unknown },
	{ "category_bit8_guard", test_category_bit8 },
	{ "start_unaligned_einval", test_start_unaligned },
	{ "end_unaligned_rounded_up", test_end_unaligned_rounded_up },
	{ "end_before_start_efault", test_end_before_start },
	{ "kernel_range_efault", test_kernel_range },
	{ "end_huge_efault", test_end_huge },
	{ "vec_null_len_nonzero_einval", test_vec_null_len_nonzero },
	{ "vec_null_len_zero", test_vec_null_len_zero },
	{ "vec_len_zero", test_vec_len_zero },
	{ "vec_not_user_range_efault", test_vec_not_user_range },
	{ "vec_readonly_efault", test_vec_readonly },
	{ "vec_unmapped_efault", test_vec_unmapped },
	{ "vec_tail_unmapped", test_vec_tail_unmapped },
	{ "check_wpasync_plain_vma_eperm", test_check_wpasync_plain_vma },
	{ "check_wpasync_no_vma", test_check_wpasync_no_vma },
	{ "check_wpasync_async_vma", test_check_wpasync_async_vma },
	{ "check_wpasync_mixed_eperm", test_check_wpasync_mixed },
	{ "wp_matching_plain_vma_skipped", test_wp_matching_plain_vma },
	{ "order_copy_before_size", test_order_copy_before_size },
	{ "order_args_before_range", test_order_args_before_range },
	{ "order_range_before_vec", test_order_range_before_vec },
	{ "order_vec_null_before_vec_range",
	  test_order_vec_null_before_vec_range },
	{ "order_args_before_eperm", test_order_args_before_eperm },
	{ "order_eperm_vs_vec_write", test_order_eperm_vs_vec_write },
	{ "start_equals_end", test_start_equals_end },
	{ "walk_end_success", test_walk_end_success },
	{ "return_value_is_region_count", test_return_value },
	{ "unknown_ioctl_einval", test_unknown_ioctl },
	{ "other_process", test_other_process },
	{ "exited_process_esrch", test_exited_process },
};

int main(void)
{
	size_t i;
	int ret;

	ksft_print_header();
	pm_fd = open("/proc/self/pagemap", O_RDONLY);
	if (pm_fd < 0)
		ksft_exit_fail_msg("open /proc/self/pagemap: %s\n",
				   strerror(errno));
	ret = pagemap_scan_supported(pm_fd);
	if (ret < 0)
		ksft_exit_fail_msg("PAGEMAP_SCAN probe failed: %s\n",
				   strerror(-ret));
	ksft_set_plan(ARRAY_SIZE(tests));

	if (!ret) {
		for (i = 0; i < ARRAY_SIZE(tests); i++)
			ksft_test_result_skip("%s: PAGEMAP_SCAN not supported (ENOTTY)\n",
					      tests[i].name);
		ksft_print_cnts();
		return KSFT_SKIP;
	}

	for (i = 0; i < ARRAY_SIZE(tests); i++) {
		reason[0] = '\0';
		switch (tests[i].fn()) {
		case KSFT_PASS:
			ksft_test_result_pass("%s\n", tests[i].name);
			break;
		case KSFT_SKIP:
			ksft_test_result_skip("%s: %s\n", tests[i].name,
					      reason);
			break;
		default:
			ksft_test_result_fail("%s\n", tests[i].name);
			break;
		}
	}
	vmh_finished();
	return 0;
}
