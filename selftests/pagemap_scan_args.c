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
#include <stdarg.h>
#include "../kselftest.h"
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

#define NR_MEM			8

static int pm_fd;
/* Each case gets NR_MEM fresh, untouched pages here (run_case()). */
static char *mem;
static struct page_region vec[NR_VEC];
/* The argument, followed by zeroes for the cases of a larger size. */
static struct {
	struct pm_scan_arg a;
	char zero[4096];
} big;
static struct pm_scan_arg *const arg = &big.a;

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
	madvise(p, n * psize(), MADV_NOHUGEPAGE);
	return p;
}

/* Write one byte into each page of mem whose bit is set in @pages. */
static void touch(unsigned int pages)
{
	int i;

	for (i = 0; i < NR_MEM; i++)
		if (pages & (1u << i))
			mem[i * psize()] = 1;
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

static bool vec_untouched(const struct page_region *v, size_t n)
{
	const unsigned char *b = (const unsigned char *)v;
	size_t i;

	for (i = 0; i < n * sizeof(*v); i++) {
		if (b[i] != VEC_POISON) {
			ksft_print_msg("vec[%zu] was written\n", i / sizeof(*v));
			return false;
		}
	}
	return true;
}

/*
 * vec holds exactly the regions @e (in pages from mem) and nothing after
 * them was written.
 */
static bool vec_is(const struct region_exp *e, size_t ne)
{
	return regions_match(mem, psize(), vec, ne, e, ne) &&
	       vec_untouched(&vec[ne], NR_VEC - ne);
}

#define VEC_IS(...)							\
	({								\
		const struct region_exp __e[] = { __VA_ARGS__ };	\
		vec_is(__e, ARRAY_SIZE(__e));				\
	})

/*
 * arg: a valid scan of [start, start + len) into vec, reporting every known
 * category (or, with @present, selecting and reporting present pages only);
 * vec is poisoned.
 */
static void init(const void *start, unsigned long len, bool present)
{
	memset(&big, 0, sizeof(big));
	memset(vec, VEC_POISON, sizeof(vec));
	arg->size = sizeof(*arg);
	arg->start = addr(start);
	arg->end = arg->start + len;
	arg->vec = addr(vec);
	arg->vec_len = NR_VEC;
	arg->return_mask = present ? PAGE_IS_PRESENT : PM_SCAN_KNOWN_CATEGORIES;
	arg->category_mask = present ? PAGE_IS_PRESENT : 0;
}

/* PAGEMAP_SCAN with an argument pointer that may not be valid at all. */
static long ioctl_raw(int fd, void *p)
{
	long ret = ioctl(fd, PAGEMAP_SCAN, p);

	return ret < 0 ? -errno : ret;
}

/* PAGEMAP_SCAN of arg through @fd, its walk_end preset to the sentinel. */
static long scan_fd(int fd)
{
	arg->walk_end = WALK_END_UNSET;
	return ioctl_raw(fd, arg);
}

static long scan(void)
{
	return scan_fd(pm_fd);
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
 * @ret must be @want and arg->walk_end must be @walk_end afterwards
 * (WALK_END_UNSET: not written back).
 */
static bool check(const char *what, long ret, long want, __u64 walk_end)
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

/* A rejected argument: @want, and arg not written back. */
static bool rejected(const char *what, long want)
{
	return check(what, scan(), want, WALK_END_UNSET);
}

/*
 * A one-page scan of mem with the field at @off of arg set to each of
 * @vals in turn: each must be rejected with @want.
 */
static bool reject_each(const char *field, size_t off, const __u64 *vals,
			size_t n, long want)
{
	char what[64];
	bool ok = true;
	size_t i;

	for (i = 0; i < n; i++) {
		init(mem, psize(), false);
		*(__u64 *)((char *)arg + off) = vals[i];
		snprintf(what, sizeof(what), "%s %#llx", field, vals[i]);
		ok &= rejected(what, want);
	}
	return ok;
}

/* reject_each() with every single bit from @first up to 63. */
static bool reject_bits(const char *field, size_t off, int first, long want)
{
	__u64 vals[64];
	int bit;

	for (bit = first; bit < 64; bit++)
		vals[bit - first] = 1ULL << bit;
	return reject_each(field, off, vals, 64 - first, want);
}

#define OFF(field)	offsetof(struct pm_scan_arg, field)

static int result(bool ok)
{
	return ok ? KSFT_PASS : KSFT_FAIL;
}

/*
 * The cases made of rejected arguments are rows of calls: each call is a
 * one-page scan of mem with up to four fields of arg set, and must fail
 * with its error without writing arg back. A field is set to a value, or
 * to a place relative to mem or to the top of the address space.
 */
enum { ABS = 1, MEM_REL, TOP_REL };

struct set {
	size_t off;
	__u64 bytes;
	int pages;
	int base;		/* 0: no more fields */
};

struct call {
	long want;		/* 0: no more calls */
	struct set s[4];
};

#define SET(f, v)	{ OFF(f), (__u64)(v), 0, ABS }
#define AT(f, pg, b)	{ OFF(f), (__u64)(b), (pg), MEM_REL }
#define TOP(f, pg, b)	{ OFF(f), (__u64)(b), (pg), TOP_REL }
#define EINVAL_IF(...)	{ -EINVAL, { __VA_ARGS__ } }
#define EFAULT_IF(...)	{ -EFAULT, { __VA_ARGS__ } }

static int test_calls(const struct call *c)
{
	const struct set *s;
	char what[32];
	bool ok = true;
	size_t i;
	__u64 v;

	for (i = 0; i < 4 && c[i].want; i++) {
		init(mem, psize(), false);
		for (s = c[i].s; s < c[i].s + 4 && s->base; s++) {
			v = s->base == ABS ? 0 : s->base == MEM_REL ? addr(mem) : ~0ULL;
			v += (__u64)(long)s->pages * psize() + s->bytes;
			*(__u64 *)((char *)arg + s->off) = v;
		}
		snprintf(what, sizeof(what), "call %zu", i + 1);
		ok &= rejected(what, c[i].want);
	}
	return result(ok);
}

/* --- arg itself ---------------------------------------------------------- */

/* An argument pointer that points at nothing readable (-1: unmapped). */
static int test_arg_pointer(long p)
{
	return result(check_ret("arg pointer",
				ioctl_raw(pm_fd, p == -1 ? unmapped_addr() : (void *)p),
				-EFAULT));
}

/*
 * An argument whose first 48 bytes are readable and the rest is not: the
 * whole structure is read before anything in it is looked at, so this is
 * EFAULT even with a wrong size (mainline's order: copy, then size).
 */
static int test_partly_readable(long size)
{
	const char *what = "arg readable for 48 of 96 bytes";
	char *two = map_pages(2, PROT_READ | PROT_WRITE);
	struct pm_scan_arg *p;
	size_t head = 48;
	bool ok;

	munmap(two + psize(), psize());
	init(mem, psize(), false);
	arg->size = size;
	arg->walk_end = WALK_END_UNSET;
	p = (struct pm_scan_arg *)(two + psize() - head);
	memcpy(p, arg, head);

	ok = check_ret(what, ioctl_raw(pm_fd, p), -EFAULT);
	if (p->walk_end != WALK_END_UNSET) {
		ksft_print_msg("%s: walk_end written\n", what);
		ok = false;
	}
	munmap(two, psize());
	return result(ok);
}

/* --- flags and categories ------------------------------------------------ */

static int test_flags_unknown(long unused)
{
	/* The two known flags pass validation (plain VMA: nothing to WP). */
	bool ok;

	init(mem, psize(), false);
	arg->flags = PM_SCAN_WP_MATCHING;
	ok = check("flags PM_SCAN_WP_MATCHING", scan(), 0, addr(mem + psize()));
	return result(reject_bits("flags", OFF(flags), 2, -EINVAL) && ok);
}

static const struct {
	const char *name;
	size_t offset;
} cat_masks[] = {
	{ "category_inverted", OFF(category_inverted) },
	{ "category_mask", OFF(category_mask) },
	{ "category_anyof_mask", OFF(category_anyof_mask) },
	{ "return_mask", OFF(return_mask) },
};

/*
 * Each of the four masks set to @val in a one-page scan of mem: accepted
 * (with walk_end at the end) or, with @want, rejected with it.
 */
static bool each_mask(__u64 val, long want)
{
	char what[64];
	bool ok = true;
	size_t m;
	long ret;

	for (m = 0; m < ARRAY_SIZE(cat_masks); m++) {
		init(mem, psize(), false);
		*(__u64 *)((char *)arg + cat_masks[m].offset) = val;
		snprintf(what, sizeof(what), "%s %#llx", cat_masks[m].name, val);
		if (want) {
			ok &= rejected(what, want);
			continue;
		}
		ret = scan();
		if (ret < 0 || arg->walk_end != addr(mem + psize())) {
			ksft_print_msg("%s: returned %ld, walk_end %#llx\n",
				       what, ret, arg->walk_end);
			ok = false;
		}
	}
	return ok;
}

/* All eight known categories are accepted in each of the four masks. */
static int test_categories_known(long unused)
{
	touch(0x1);
	return result(each_mask(PM_SCAN_KNOWN_CATEGORIES, 0));
}

/*
 * Bits 9..63 are unknown on every kernel. Bit 8 is PAGE_IS_GUARD from
 * mainline 6.14 on and is tested on its own.
 */
static int test_category_unknown(long m)
{
	return result(reject_bits(cat_masks[m].name, cat_masks[m].offset, 9,
				  -EINVAL));
}

/*
 * Category bit 8 is PAGE_IS_GUARD on kernels with guard regions (mainline
 * 6.14+, where MADV_GUARD_INSTALL works) and an unknown bit elsewhere,
 * including 6.1 with this series. (6.13 has guard regions without the
 * category; no oracle of ours runs it.)
 */
static int test_category_bit8(long unused)
{
	bool guard;

	if (!madvise(mem, psize(), MADV_GUARD_INSTALL)) {
		guard = true;
	} else if (errno == EINVAL) {
		guard = false;
	} else {
		return vmh_set_reason(KSFT_SKIP, "MADV_GUARD_INSTALL: %s, bit 8's meaning unknown",
				      strerror(errno));
	}
	ksft_print_msg("guard regions %ssupported: bit 8 must be %s\n",
		       guard ? "" : "not ",
		       guard ? "accepted" : "rejected with EINVAL");
	return result(each_mask(1ULL << 8, guard ? 0 : -EINVAL));
}

/* --- the range ----------------------------------------------------------- */

/*
 * An unaligned end is rounded up: the walk covers the partial last page,
 * and walk_end is the rounded end.
 */
static int test_end_unaligned_rounded_up(long unused)
{
	bool ok;

	touch(0x3);
	init(mem, psize() + 1, true);
	ok = check("end = start + page + 1", scan(), 1, addr(mem + 2 * psize())) &&
	     VEC_IS({ 0, 2, PAGE_IS_PRESENT });
	init(mem, 1, true);
	ok &= check("end = start + 1", scan(), 1, addr(mem + psize())) &&
	      VEC_IS({ 0, 1, PAGE_IS_PRESENT });
	return result(ok);
}

/* --- the output array ---------------------------------------------------- */

/* vec = 0, vec_len = 0: a walk that reports nothing. */
static int test_vec_null_len_zero(long unused)
{
	touch(0x1);
	init(mem, 2 * psize(), false);
	arg->vec = 0;
	arg->vec_len = 0;
	return result(check("vec NULL, vec_len 0", scan(), 0,
			    addr(mem + 2 * psize())));
}

/* vec set, vec_len = 0: the same, and vec is never written... */
static int test_vec_len_zero(long unused)
{
	bool ok = true;
	int max_pages;

	touch(0x1);
	/* ...max_pages does not change that. */
	for (max_pages = 0; max_pages < 2; max_pages++) {
		init(mem, 2 * psize(), false);
		arg->vec_len = 0;
		arg->max_pages = max_pages;
		ok &= check(max_pages ? "vec set, vec_len 0, max_pages 1" :
			    "vec set, vec_len 0", scan(), 0,
			    addr(mem + 2 * psize())) && vec_untouched(vec, NR_VEC);
	}
	return result(ok);
}

/* vec (with its length) outside user space is refused before the walk. */
static int test_vec_not_user_range(long unused)
{
	/* The last is just long enough to run into non-canonical addresses. */
	const __u64 lens[] = { 1ULL << 62, ~0ULL,
			       (NONCANONICAL_ADDR - addr(vec)) / sizeof(*vec) + 1 };
	bool ok;

	touch(0x1);
	init(mem, psize(), false);
	arg->vec = KERNEL_ADDR;
	arg->vec_len = 1;
	ok = rejected("vec kernel address", -EFAULT);
	return result(ok & reject_each("vec_len", OFF(vec_len), lens,
				       ARRAY_SIZE(lens), -EFAULT));
}

/*
 * A user range that cannot be written: found when the walk writes its
 * results, so walk_end is written back (the end of the walk).
 */
static int test_vec_not_writable(long readonly)
{
	const char *what = readonly ? "read-only vec" : "unmapped vec";
	void *bad = readonly ? (void *)map_pages(1, PROT_READ) : unmapped_addr();
	char msg[96];
	bool ok;

	touch(0x1);
	init(mem, 2 * psize(), false);
	arg->vec = addr(bad);
	snprintf(msg, sizeof(msg), "%s, regions to write", what);
	ok = check(msg, scan(), -EFAULT, addr(mem + 2 * psize()));

	/* Nothing matches: nothing is written, no error. */
	init(mem + psize(), psize(), false);
	arg->vec = addr(bad);
	arg->category_mask = PAGE_IS_PRESENT;
	snprintf(msg, sizeof(msg), "%s, nothing to write", what);
	ok &= check(msg, scan(), 0, addr(mem + 2 * psize()));
	if (readonly)
		munmap(bad, psize());
	return result(ok);
}

/*
 * vec_len only bounds the output: a vec whose tail is unmapped works as
 * long as the regions found fit in the mapped part.
 */
static int test_vec_tail_unmapped(long unused)
{
	char *two = map_pages(2, PROT_READ | PROT_WRITE);
	struct page_region *v;
	bool ok;

	munmap(two + psize(), psize());
	v = (struct page_region *)(two + psize()) - 2;
	touch(0xa);
	init(mem, 4 * psize(), true);
	arg->vec = addr(v);
	ok = check("2 regions, room for 2", scan(), 2, addr(mem + 4 * psize())) &&
	     regions_match(mem, psize(), v, 2, (const struct region_exp[]) {
			   { 1, 2, PAGE_IS_PRESENT }, { 3, 4, PAGE_IS_PRESENT } }, 2);
	arg->category_mask = 0;
	ok &= check("4 regions, room for 2", scan(), -EFAULT,
		    addr(mem + 4 * psize()));
	munmap(two, psize());
	return result(ok);
}

/* --- PM_SCAN_CHECK_WPASYNC ----------------------------------------------- */

/* A VMA without async uffd-wp: EPERM, walk_end written back as the end. */
static int test_check_wpasync_plain_vma(long unused)
{
	const __u64 end = addr(mem + 2 * psize());
	bool ok;

	touch(0x1);
	init(mem, 2 * psize(), false);
	arg->flags = PM_SCAN_CHECK_WPASYNC;
	ok = check("CHECK_WPASYNC", scan(), -EPERM, end);
	arg->flags |= PM_SCAN_WP_MATCHING;
	ok &= check("CHECK_WPASYNC | WP_MATCHING", scan(), -EPERM, end);
	ok &= vec_untouched(vec, NR_VEC);
	arg->vec = 0;
	arg->vec_len = 0;
	ok &= check("CHECK_WPASYNC | WP_MATCHING, no vec", scan(), -EPERM, end);
	return result(ok);
}

/* An unmapped range has no VMA to complain about. */
static int test_check_wpasync_no_vma(long unused)
{
	char *hole = unmapped_addr();

	init(hole, psize(), false);
	arg->flags = PM_SCAN_CHECK_WPASYNC | PM_SCAN_WP_MATCHING;
	return result(check("CHECK_WPASYNC over a hole", scan(), 0,
			    addr(hole + psize())) && vec_untouched(vec, NR_VEC));
}

/*
 * Register the first 4 pages of mem for async uffd-wp (splitting the VMA),
 * touch pages 0 and 5. Returns the uffd, or -1 with the reason set (skip).
 */
static int async_wp_area(void)
{
	int64_t features = uffd_api_features();
	int uffd, ret;

	if (features < 0)
		return vmh_set_reason(-1, "userfaultfd unusable: %s",
				      strerror(-features));
	if (!(features & UFFD_FEATURE_WP_ASYNC))
		return vmh_set_reason(-1, "UFFD_FEATURE_WP_ASYNC not advertised");
	uffd = uffd_open(UFFD_FEATURE_WP_ASYNC, true);
	if (uffd < 0)
		ksft_exit_fail_msg("userfaultfd with WP_ASYNC: %s\n",
				   strerror(-uffd));
	ret = uffd_register(uffd, mem, 4 * psize(), UFFDIO_REGISTER_MODE_WP,
			    NULL);
	if (ret)
		ksft_exit_fail_msg("UFFDIO_REGISTER_MODE_WP: %s\n",
				   strerror(-ret));
	touch(0x21);
	return uffd;
}

/*
 * CHECK_WPASYNC over the async-WP VMA alone, or (@mixed) on into the plain
 * one after it: EPERM then, but the regions found in the first VMA are in
 * vec, and walk_end is the end of the range, not the start of the VMA that
 * failed.
 */
static int test_check_wpasync_async(long mixed)
{
	int uffd = async_wp_area();
	bool ok;

	if (uffd < 0)
		return KSFT_SKIP;
	init(mem, (mixed ? 8 : 4) * psize(), false);
	arg->flags = PM_SCAN_CHECK_WPASYNC;
	arg->return_mask = PAGE_IS_WPALLOWED | PAGE_IS_PRESENT;
	ok = check(mixed ? "CHECK_WPASYNC, async then plain VMA" :
		   "CHECK_WPASYNC on an async-WP VMA", scan(), mixed ? -EPERM : 2,
		   addr(mem + (mixed ? 8 : 4) * psize())) &&
	     VEC_IS({ 0, 1, PAGE_IS_WPALLOWED | PAGE_IS_PRESENT },
		    { 1, 4, PAGE_IS_WPALLOWED });
	close(uffd);
	return result(ok);
}

/* Without CHECK_WPASYNC, WP_MATCHING skips a plain VMA: nothing reported. */
static int test_wp_matching_plain_vma(long unused)
{
	touch(0x1);
	init(mem, 2 * psize(), false);
	arg->flags = PM_SCAN_WP_MATCHING;
	return result(check("WP_MATCHING on a plain VMA", scan(), 0,
			    addr(mem + 2 * psize())) && vec_untouched(vec, NR_VEC));
}

/* --- two errors at once: which one wins ---------------------------------- */

/*
 * An unwritable vec is only found when results are written: EPERM from a
 * walk that found nothing wins; with regions found before the EPERM, the
 * failed write (EFAULT) wins.
 */
static int test_order_eperm_vs_vec_write(long unused)
{
	int uffd;
	bool ok;

	touch(0x1);
	init(mem, psize(), false);
	arg->vec = addr(unmapped_addr());
	arg->flags = PM_SCAN_CHECK_WPASYNC;
	ok = check("unmapped vec, CHECK_WPASYNC plain VMA", scan(), -EPERM,
		   addr(mem + psize()));

	uffd = async_wp_area();
	if (uffd < 0) {
		ksft_print_msg("regions found before EPERM not tested: %s\n",
			       vmh_reason);
		return result(ok);
	}
	init(mem, 8 * psize(), false);
	arg->vec = addr(unmapped_addr());
	arg->flags = PM_SCAN_CHECK_WPASYNC;
	ok &= check("unmapped vec, regions, then EPERM", scan(), -EFAULT,
		    addr(mem + 8 * psize()));
	close(uffd);
	return result(ok);
}

/* --- results of valid calls ---------------------------------------------- */

static int test_start_equals_end(long unused)
{
	bool ok;

	touch(0x1);
	init(mem, 0, false);
	ok = check("start == end", scan(), 0, addr(mem));
	init(NULL, 0, false);
	ok &= check("start == end == 0", scan(), 0, 0);
	return result(ok && vec_untouched(vec, NR_VEC));
}

/* walk_end is the page-aligned end, holes in the range included. */
static int test_walk_end_success(long unused)
{
	touch(0x1);
	munmap(mem + 2 * psize(), 2 * psize());
	init(mem, 4 * psize() - 100, false);
	return result(check("range ending in a hole", scan(), 2,
			    addr(mem + 4 * psize())));
}

/* The return value is the number of regions written, no more are written. */
static int test_return_value(long unused)
{
	bool ok;

	touch(0x4d);
	init(mem, 8 * psize(), true);
	ok = check("3 regions", scan(), 3, addr(mem + 8 * psize())) &&
	     VEC_IS({ 0, 1, PAGE_IS_PRESENT }, { 2, 4, PAGE_IS_PRESENT },
		    { 6, 7, PAGE_IS_PRESENT });
	/* A full vec stops the walk at the first page it could not report. */
	init(mem, 8 * psize(), true);
	arg->vec_len = 2;
	ok &= check("3 regions, vec_len 2", scan(), 2, addr(mem + 6 * psize())) &&
	      vec_untouched(&vec[2], NR_VEC - 2);
	return result(ok);
}

/*
 * Any other command on pagemap is ENOTTY, as for any file that does not
 * know it (mainline's "fs/proc/task_mmu: return -ENOTTY for unknown pagemap
 * ioctls", in 6.12.118). Mainline answered EINVAL before that fix: such a
 * kernel skips the case, anything else fails it.
 */
static int test_unknown_ioctl(long unused)
{
	long ret;

	init(NULL, 0, false);
	ret = ioctl(pm_fd, _IOWR('f', 17, struct pm_scan_arg), arg);
	if (ret < 0 && errno == EINVAL)
		return vmh_set_reason(KSFT_SKIP, "EINVAL for an unknown command: a kernel "
				      "before the ENOTTY fix");
	return result(check_ret("ioctl 'f' 17 on pagemap",
				ret < 0 ? -errno : ret, -ENOTTY));
}

/* --- other processes ----------------------------------------------------- */

/*
 * Fork a child that touches @pages of mem (a bit a page) and waits until
 * the parent lets it go (peer_wait()); return the child's pagemap, open,
 * once the pages are touched.
 */
static int child_start(struct peer *c, unsigned int pages)
{
	int fd;

	peer_fork(c);
	if (!c->pid) {
		touch(pages);
		peer_send(c, 'r');
		peer_recv(c);
		child_exit(KSFT_PASS);
	}
	if (peer_recv(c) != 'r')
		ksft_exit_fail_msg("child %d died early\n", c->pid);
	fd = open_proc(c->pid, "pagemap", O_RDONLY);
	if (fd < 0)
		ksft_exit_fail_msg("open the child's pagemap: %s\n", strerror(errno));
	return fd;
}

/* The parent scans the child's pagemap and sees the child's pages. */
static int test_other_process(long unused)
{
	struct peer c;
	int fd = child_start(&c, 0xa);
	bool ok;

	init(mem, 4 * psize(), true);
	ok = check("child's pagemap", scan_fd(fd), 2, addr(mem + 4 * psize())) &&
	     VEC_IS({ 1, 2, PAGE_IS_PRESENT }, { 3, 4, PAGE_IS_PRESENT });
	/* The same range in the parent was never touched. */
	ok &= check("own pagemap", scan(), 0, addr(mem + 4 * psize()));
	ok &= peer_wait(&c, "child") == KSFT_PASS;
	close(fd);
	return result(ok);
}

/*
 * The pagemap of a process that exited (and was reaped) while the file was
 * open: mainline answers ESRCH before looking at the argument at all, and
 * writes nothing.
 */
static int test_exited_process(long unused)
{
	struct peer c;
	int fd = child_start(&c, 0x3);
	bool ok;

	init(mem, 2 * psize(), false);
	ok = check("child alive", scan_fd(fd), 1, addr(mem + 2 * psize()));
	ok &= peer_wait(&c, "child") == KSFT_PASS;

	init(mem, 2 * psize(), false);
	ok &= check("child exited", scan_fd(fd), -ESRCH, WALK_END_UNSET) &&
	      vec_untouched(vec, NR_VEC);
	arg->size = 0;
	ok &= check("child exited, size 0", scan_fd(fd), -ESRCH,
		    WALK_END_UNSET);
	ok &= check_ret("child exited, NULL arg", ioctl_raw(fd, NULL), -ESRCH);
	close(fd);
	return result(ok);
}

/* The cases, in mainline's order of the checks; @arg goes to @fn. */
static const struct {
	const char *name;
	int (*fn)(long arg);
	long arg;
	struct call calls[4];	/* without fn: these calls */
} cases[] = {
	{ "arg_unmapped_efault", .fn = test_arg_pointer, .arg = -1 },
	{ "arg_null_efault", .fn = test_arg_pointer },
	{ "arg_kernel_address_efault", .fn = test_arg_pointer, .arg = (long)KERNEL_ADDR },
	{ "arg_partly_readable_efault",
	  .fn = test_partly_readable, .arg = sizeof(struct pm_scan_arg) },
	{ "size_smaller_einval", .calls = { EINVAL_IF(SET(size, 0)), EINVAL_IF(SET(size, 8)),
	  EINVAL_IF(SET(size, 88)), EINVAL_IF(SET(size, 95)) } },
	/* Even with zeroes in the extra bytes: no extensible-struct rule. */
	{ "size_larger_einval", .calls = { EINVAL_IF(SET(size, 97)), EINVAL_IF(SET(size, 104)),
	  EINVAL_IF(SET(size, 4096)), EINVAL_IF(SET(size, ~0ULL)) } },
	{ "flags_unknown_einval", .fn = test_flags_unknown },
	{ "categories_known_accepted", .fn = test_categories_known },
	{ "category_inverted_unknown_einval", .fn = test_category_unknown },
	{ "category_mask_unknown_einval", .fn = test_category_unknown, .arg = 1 },
	{ "category_anyof_mask_unknown_einval", .fn = test_category_unknown, .arg = 2 },
	{ "return_mask_unknown_einval", .fn = test_category_unknown, .arg = 3 },
	{ "category_bit8_guard", .fn = test_category_bit8 },
	{ "start_unaligned_einval", .calls = { EINVAL_IF(AT(start, 0, 1)),
	  EINVAL_IF(AT(start, 0, 2048)), EINVAL_IF(AT(start, 1, -1)) } },
	{ "end_unaligned_rounded_up", .fn = test_end_unaligned_rounded_up },
	{ "end_before_start_efault", .calls = { EFAULT_IF(AT(start, 1, 0), AT(end, 0, 0)),
	  EFAULT_IF(AT(start, 1, 0), AT(end, 1, -1)) } },
	/* Even an empty range must be a user one. */
	{ "kernel_range_efault", .calls = {
	  EFAULT_IF(SET(start, KERNEL_ADDR), SET(end, KERNEL_ADDR + 4096)),
	  EFAULT_IF(SET(start, KERNEL_ADDR), SET(end, KERNEL_ADDR)),
	  EFAULT_IF(SET(end, KERNEL_ADDR)) } },
	/* The last: rounding it up would wrap to 0. */
	{ "end_huge_efault", .calls = { EFAULT_IF(SET(end, NONCANONICAL_ADDR)),
	  EFAULT_IF(SET(end, ~0ULL)), EFAULT_IF(TOP(end, -1, 2)) } },
	{ "vec_null_len_nonzero_einval", .calls = { EINVAL_IF(SET(vec, 0), SET(vec_len, 1)),
	  EINVAL_IF(SET(vec, 0), SET(vec_len, ~0ULL)) } },
	{ "vec_null_len_zero", .fn = test_vec_null_len_zero },
	{ "vec_len_zero", .fn = test_vec_len_zero },
	{ "vec_not_user_range_efault", .fn = test_vec_not_user_range },
	{ "vec_readonly_efault", .fn = test_vec_not_writable, .arg = 1 },
	{ "vec_unmapped_efault", .fn = test_vec_not_writable },
	{ "vec_tail_unmapped", .fn = test_vec_tail_unmapped },
	{ "check_wpasync_plain_vma_eperm", .fn = test_check_wpasync_plain_vma },
	{ "check_wpasync_no_vma", .fn = test_check_wpasync_no_vma },
	{ "check_wpasync_async_vma", .fn = test_check_wpasync_async },
	{ "check_wpasync_mixed_eperm", .fn = test_check_wpasync_async, .arg = 1 },
	{ "wp_matching_plain_vma_skipped", .fn = test_wp_matching_plain_vma },
	{ "order_copy_before_size", .fn = test_partly_readable, .arg = 8 },
	/* Every EINVAL of the early checks comes before the range's EFAULT. */
	{ "order_args_before_range", .calls = {
	  EINVAL_IF(AT(start, 1, 0), AT(end, 0, 0), SET(size, 88)),
	  EINVAL_IF(AT(start, 1, 0), AT(end, 0, 0), SET(flags, 1ULL << 2)),
	  EINVAL_IF(AT(start, 1, 0), AT(end, 0, 0), SET(return_mask, 1ULL << 9)),
	  EINVAL_IF(AT(start, 1, 1), AT(end, 0, 0)) } },
	{ "order_range_before_vec", .calls = {
	  EFAULT_IF(AT(start, 1, 0), AT(end, 0, 0), SET(vec, 0), SET(vec_len, 1)) } },
	{ "order_vec_null_before_vec_range", .calls = {
	  EINVAL_IF(SET(vec, 0), SET(vec_len, 1ULL << 62)) } },
	/* The argument checks all come before the walk that finds EPERM. */
	{ "order_args_before_eperm", .calls = {
	  EINVAL_IF(SET(flags, PM_SCAN_CHECK_WPASYNC), SET(vec, 0), SET(vec_len, 1)),
	  EFAULT_IF(SET(flags, PM_SCAN_CHECK_WPASYNC), SET(vec, KERNEL_ADDR)) } },
	{ "order_eperm_vs_vec_write", .fn = test_order_eperm_vs_vec_write },
	{ "start_equals_end", .fn = test_start_equals_end },
	{ "walk_end_success", .fn = test_walk_end_success },
	{ "return_value_is_region_count", .fn = test_return_value },
	{ "unknown_ioctl_enotty", .fn = test_unknown_ioctl },
	{ "other_process", .fn = test_other_process },
	{ "exited_process_esrch", .fn = test_exited_process },
};

/* A case with NR_MEM fresh pages in mem, unmapped afterwards. */
static int run_case(size_t i)
{
	int ret;

	mem = map_pages(NR_MEM, PROT_READ | PROT_WRITE);
	if (cases[i].fn)
		ret = cases[i].fn(cases[i].arg);
	else
		ret = test_calls(cases[i].calls);
	munmap(mem, NR_MEM * psize());
	return ret;
}

int main(void)
{
	size_t i;

	pm_fd = pagemap_fd();
	vmh_run_cases(i, ARRAY_SIZE(cases), false, cases[i].name,
		      vmh_report(cases[i].name, run_case(i)));
	return 0;
}
