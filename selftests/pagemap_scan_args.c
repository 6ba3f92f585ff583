// SPDX-License-Identifier: GPL-2.0
/*
 * PAGEMAP_SCAN argument checking: each error of the contract in mainline's
 * order of checks, which error wins when two are present, walk_end after
 * success and failure, other and exited processes. walk_end is preset to
 * WALK_END_UNSET, so "not written back" is seen.
 */
#include "../kselftest.h"
#include "vm_util.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL	102
#endif

#define WALK_END_UNSET		0x5a5a5a5a5a5a5000ULL
#define VEC_POISON		0xa5
#define NR_VEC			16
#define NR_MEM			8
/* Addresses no user range contains on a 64-bit architecture. */
#define KERNEL_ADDR		0xffffffff81000000ULL
#define NONCANONICAL_ADDR	(1ULL << 63)

static char *mem;		/* NR_MEM fresh pages for each case */
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

static char *map_pages(unsigned long n, int prot)
{
	char *p = mmap(NULL, n * psize(), prot, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	if (p == MAP_FAILED)
		ksft_exit_fail_msg("mmap: %s\n", strerror(errno));
	madvise(p, n * psize(), MADV_NOHUGEPAGE);
	return p;
}

/* Write each page of mem whose bit is set in @pages. */
static void touch(unsigned int pages)
{
	int i;

	for (i = 0; i < NR_MEM; i++)
		if (pages & (1u << i))
			mem[i * psize()] = 1;
}

/* A page mapped, then unmapped: a later mmap() may reuse it. */
static void *unmapped_addr(void)
{
	char *p = map_pages(1, PROT_READ);

	munmap(p, psize());
	return p;
}

/* The @n entries from @v on are still poisoned. */
static bool vec_untouched(const struct page_region *v, size_t n)
{
	if (check_bytes(v, n * sizeof(*v), VEC_POISON))
		return true;
	ksft_print_msg("vec[%td..%d) was written\n", v - vec, NR_VEC);
	return false;
}

/* arg->vec holds exactly @e (in pages from mem); in vec nothing after them is written. */
static bool vec_is(const struct region_exp *e, size_t n)
{
	const struct page_region *v = (void *)(unsigned long)arg->vec;

	return regions_match(mem, psize(), v, n, e, n) &&
	       (v != vec || vec_untouched(&vec[n], NR_VEC - n));
}

/*
 * A valid scan of [start, start + len) into a poisoned vec, reporting every
 * category, or with @present only present pages.
 */
static void init(const void *start, unsigned long len, bool present)
{
	memset(&big, 0, sizeof(big));
	memset(vec, VEC_POISON, sizeof(vec));
	*arg = (struct pm_scan_arg){
		.size = sizeof(*arg), .start = addr(start), .end = addr(start) + len,
		.vec = addr(vec), .vec_len = NR_VEC,
		.return_mask = present ? PAGE_IS_PRESENT : PM_SCAN_KNOWN_CATEGORIES,
		.category_mask = present ? PAGE_IS_PRESENT : 0,
	};
}

static long ioctl_raw(int fd, void *p)
{
	long ret = ioctl(fd, PAGEMAP_SCAN, p);

	return ret < 0 ? -errno : ret;
}

static long scan_fd(int fd)
{
	arg->walk_end = WALK_END_UNSET;
	return ioctl_raw(fd, arg);
}

static long scan(void)
{
	return scan_fd(pagemap_fd());
}

static bool check_ret(const char *what, long ret, long want)
{
	if (ret == want)
		return true;
	ksft_print_msg("%s: returned %ld (%s), expected %ld\n", what, ret,
		       ret < 0 ? strerror(-ret) : "success", want);
	return false;
}

/* @ret must be @want and arg->walk_end @walk_end. */
static bool check(const char *what, long ret, long want, __u64 walk_end)
{
	if (!check_ret(what, ret, want))
		return false;
	if (arg->walk_end == walk_end)
		return true;
	ksft_print_msg("%s: walk_end %#llx, expected %#llx\n", what,
		       arg->walk_end, walk_end);
	return false;
}

#define OFF(field)	offsetof(struct pm_scan_arg, field)

/*
 * Most cases are rows of calls: a one-page scan of mem with up to four
 * fields set (to a value, to a place relative to mem or to the top of the
 * address space, or vec to one of bad_vec()'s places), its return value
 * and walk_end (none: not written back). A call with @e must write exactly
 * those regions to vec, one that walks and finds nothing must leave it
 * untouched. A call with @bits is made once for each single bit from @bits
 * to 63 set in its first field.
 */
enum { ABS = 1, MEM_REL, TOP_REL, BAD_VEC };
enum { VEC_UNMAPPED, VEC_READONLY, VEC_FITS_2 };

struct set {
	size_t off;
	__u64 bytes;
	int pages;
	int base;		/* 0: no more fields */
};

struct call {
	long want;
	struct set walk_end;
	struct set s[4];	/* no field set: no more calls */
	int bits;
	struct region_exp e[3];	/* up to the first empty one */
};

#define SET(f, v)	{ OFF(f), (__u64)(v), 0, ABS }
#define AT(f, pg, b)	{ OFF(f), (__u64)(b), (pg), MEM_REL }
#define TOP(f, pg, b)	{ OFF(f), (__u64)(b), (pg), TOP_REL }
#define EINVAL_IF(...)	{ -EINVAL, { 0 }, { __VA_ARGS__ } }
#define EFAULT_IF(...)	{ -EFAULT, { 0 }, { __VA_ARGS__ } }
/* Walks [mem, mem + 2 pages) with these fields: @ret, walk_end at @we. */
#define WALK(ret, we, ...) \
	{ ret, we, { AT(end, 2, 0), __VA_ARGS__ } }
#define AT_MEM(pg)	{ 0, 0, (pg), MEM_REL }
#define EINVAL_BITS(f, from) { -EINVAL, { 0 }, { SET(f, 0) }, (from) }
#define P		PAGE_IS_PRESENT
#define WA		PAGE_IS_WPALLOWED
#define CHECK_WPASYNC	SET(flags, PM_SCAN_CHECK_WPASYNC)
/* vec at bad_vec(VEC_@kind) */
#define VEC(kind)	{ OFF(vec), 0, VEC_##kind, BAD_VEC }
/* Found only when results are written: walk_end is written back. */
#define VEC_NOT_WRITABLE(kind) {					\
	{ -EFAULT, AT_MEM(2), { AT(end, 2, 0), VEC(kind) } },	\
	{ 0, AT_MEM(2), { AT(start, 1, 0), AT(end, 2, 0), VEC(kind),	\
			  SET(category_mask, P) } } }
/* Present pages up to @end (and @more set): regions @..., walk_end at @we. */
#define PRESENT(we, end, more, ...)					\
	{ ARRAY_SIZE(((struct region_exp[]){ __VA_ARGS__ })), AT_MEM(we),	\
	  { end, SET(category_mask, P), SET(return_mask, P), more }, 0,	\
	  { __VA_ARGS__ } }

/* vec on an unmapped page, a read-only one, or with room for 2 regions before a hole */
static __u64 bad_vec(int kind)
{
	static char *readonly, *two;

	if (!two) {
		readonly = map_pages(1, PROT_READ);
		two = map_pages(2, PROT_READ | PROT_WRITE);
		munmap(two + psize(), psize());
	}
	if (kind == VEC_UNMAPPED)
		return addr(unmapped_addr());
	return addr(kind == VEC_READONLY ? readonly : two + psize() - 2 * sizeof(*vec));
}

static __u64 value(const struct set *s)
{
	__u64 v = s->base == ABS ? 0 : s->base == MEM_REL ? addr(mem) : ~0ULL;

	if (s->base == BAD_VEC)
		return bad_vec(s->pages);
	return v + (__u64)(long)s->pages * psize() + s->bytes;
}

static bool run_call(const struct call *c, size_t i, int bit)
{
	const struct set *s;
	char what[32];
	size_t n;
	__u64 we;

	init(mem, psize(), false);
	for (s = c->s; s < c->s + 4 && s->base; s++)
		*(__u64 *)((char *)arg + s->off) = value(s);
	if (c->bits)
		*(__u64 *)((char *)arg + c->s[0].off) |= 1ULL << bit;
	snprintf(what, sizeof(what), "row %zu, bit %d", i + 1, c->bits ? bit : -1);
	we = c->walk_end.base ? value(&c->walk_end) : WALK_END_UNSET;
	for (n = 0; n < ARRAY_SIZE(c->e) && c->e[n].end; n++)
		;
	return check(what, scan(), c->want, we) &&
	       (n ? vec_is(c->e, n) : !c->walk_end.base || c->want > 0 ||
		vec_untouched(vec, NR_VEC));
}

static int test_calls(const struct call *c)
{
	bool ok = true;
	size_t i;
	int bit;

	for (i = 0; i < 4 && c[i].s[0].base; i++) {
		bit = c[i].bits;
		do
			ok &= run_call(&c[i], i, bit);
		while (c[i].bits && ++bit < 64);
	}
	return ksft_status(ok);
}

/* An argument pointer to nothing readable (-1: an unmapped page). */
static int test_arg_pointer(long p)
{
	void *arg_p = p == -1 ? unmapped_addr() : (void *)p;

	return ksft_status(check_ret("arg pointer", ioctl_raw(pagemap_fd(), arg_p), -EFAULT));
}

/*
 * Only the first 48 of @size bytes readable: EFAULT even with a wrong size
 * (the copy comes before the size check).
 */
static int test_partly_readable(long size)
{
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
	ok = check_ret("partly readable arg", ioctl_raw(pagemap_fd(), p), -EFAULT) &&
	     p->walk_end == WALK_END_UNSET;
	munmap(two, psize());
	return ksft_status(ok);
}

/*
 * Each of the four masks (category_inverted to return_mask) set to @bits:
 * accepted. Bit 8 (PAGE_IS_GUARD from 6.14) only where MADV_GUARD_INSTALL
 * works, else EINVAL.
 */
static int test_each_mask(long bits)
{
	long want = 0;
	char what[64];
	bool ok = true;
	size_t off;

	if ((bits & (1 << 8)) && madvise(mem, psize(), MADV_GUARD_INSTALL))
		want = -errno;
	if (want && want != -EINVAL)
		return vmh_set_reason(KSFT_SKIP, "MADV_GUARD_INSTALL: %s, bit 8's meaning unknown",
				      strerror(-want));
	for (off = OFF(category_inverted); off <= OFF(return_mask); off += sizeof(__u64)) {
		init(mem, psize(), false);
		*(__u64 *)((char *)arg + off) = bits;
		snprintf(what, sizeof(what), "mask at offset %zu: %#lx", off, bits);
		if (want)
			ok &= check(what, scan(), want, WALK_END_UNSET);
		else
			ok &= scan() >= 0 && arg->walk_end == addr(mem + psize());
	}
	return ksft_status(ok);
}

/* ENOTTY since "fs/proc/task_mmu: return -ENOTTY for unknown pagemap ioctls". */
static int test_unknown_ioctl(long unused)
{
	long ret;

	init(NULL, 0, false);
	ret = ioctl(pagemap_fd(), _IOWR('f', 17, struct pm_scan_arg), arg);
	if (ret < 0 && errno == EINVAL)
		return vmh_set_reason(KSFT_SKIP, "EINVAL for an unknown command: a kernel "
				      "before the ENOTTY fix");
	return ksft_status(check_ret("ioctl 'f' 17", ret < 0 ? -errno : ret, -ENOTTY));
}

/*
 * Another process's pagemap (a child that wrote pages 1 and 3, waiting)
 * shows its pages, not ours. Once the child is reaped (@reaped): ESRCH
 * before the argument is looked at, nothing written.
 */
static int test_child(long reaped)
{
	struct peer c;
	bool ok;
	int fd;

	peer_fork(&c);
	if (!c.pid) {
		touch(0xa);
		peer_send(&c, 'r');
		peer_recv(&c);
		child_exit(KSFT_PASS);
	}
	if (peer_recv(&c) != 'r')
		ksft_exit_fail_msg("child %d died early\n", c.pid);
	fd = open_proc(c.pid, "pagemap", O_RDONLY);
	init(mem, 4 * psize(), true);
	ok = check("child's pagemap", scan_fd(fd), 2, addr(mem + 4 * psize())) &&
	     vec_is((const struct region_exp[]){ { 1, 2, P }, { 3, 4, P } }, 2);
	ok &= check("own pagemap", scan(), 0, addr(mem + 4 * psize()));
	ok &= peer_wait(&c, "child") == KSFT_PASS;
	if (reaped) {
		init(mem, 2 * psize(), false);
		ok &= check("child reaped", scan_fd(fd), -ESRCH, WALK_END_UNSET) &&
		      vec_untouched(vec, NR_VEC);
		arg->size = 0;
		ok &= check("size 0", scan_fd(fd), -ESRCH, WALK_END_UNSET);
		ok &= check_ret("NULL arg", ioctl_raw(fd, NULL), -ESRCH);
	}
	close(fd);
	return ksft_status(ok);
}

/*
 * In mainline's order of the checks. Before a case, mem's pages in @unmap
 * are unmapped, with @async its first 4 are async-WP registered, then the
 * pages in @touch are written.
 */
static const struct {
	const char *name;
	int (*fn)(long arg);
	long arg;
	unsigned int touch, unmap;
	bool async;
	struct call calls[4];	/* without fn: these calls */
} cases[] = {
	{ "arg_unmapped_efault", .fn = test_arg_pointer, .arg = -1 },
	{ "arg_null_efault", .fn = test_arg_pointer },
	{ "arg_kernel_address_efault", .fn = test_arg_pointer, .arg = (long)KERNEL_ADDR },
	{ "arg_partly_readable_efault", .fn = test_partly_readable,
	  .arg = sizeof(struct pm_scan_arg) },
	{ "size_smaller_einval", .calls = { EINVAL_IF(SET(size, 0)), EINVAL_IF(SET(size, 8)),
	  EINVAL_IF(SET(size, 88)), EINVAL_IF(SET(size, 95)) } },
	/* No extensible-struct rule: zeroes in the extra bytes do not help. */
	{ "size_larger_einval", .calls = { EINVAL_IF(SET(size, 97)), EINVAL_IF(SET(size, 104)),
	  EINVAL_IF(SET(size, 4096)), EINVAL_IF(SET(size, ~0ULL)) } },
	{ "flags_unknown_einval", .calls = {
	  { 0, AT_MEM(1), { SET(flags, PM_SCAN_WP_MATCHING) } }, EINVAL_BITS(flags, 2) } },
	{ "categories_known_accepted", .fn = test_each_mask,
	  .arg = PM_SCAN_KNOWN_CATEGORIES, .touch = 0x1 },
	/* Bit 8 (PAGE_IS_GUARD from 6.14) has a case of its own. */
	{ "category_inverted_unknown_einval", .calls = { EINVAL_BITS(category_inverted, 9) } },
	{ "category_mask_unknown_einval", .calls = { EINVAL_BITS(category_mask, 9) } },
	{ "category_anyof_mask_unknown_einval", .calls = { EINVAL_BITS(category_anyof_mask, 9) } },
	{ "return_mask_unknown_einval", .calls = { EINVAL_BITS(return_mask, 9) } },
	{ "category_bit8_guard", .fn = test_each_mask, .arg = 1 << 8 },
	{ "start_unaligned_einval", .calls = { EINVAL_IF(AT(start, 0, 1)),
	  EINVAL_IF(AT(start, 0, 2048)), EINVAL_IF(AT(start, 1, -1)) } },
	/* The walk covers the partial last page; walk_end is the rounded end. */
	{ "end_unaligned_rounded_up", .touch = 0x3, .calls = {
	  PRESENT(2, AT(end, 1, 1), { 0 }, { 0, 2, P }),
	  PRESENT(1, AT(end, 0, 1), { 0 }, { 0, 1, P }) } },
	{ "end_before_start_efault", .calls = { EFAULT_IF(AT(start, 1, 0), AT(end, 0, 0)),
	  EFAULT_IF(AT(start, 1, 0), AT(end, 1, -1)) } },
	/* Even an empty range must be a user one. */
	{ "kernel_range_efault", .calls = {
	  EFAULT_IF(SET(start, KERNEL_ADDR), SET(end, KERNEL_ADDR + 4096)),
	  EFAULT_IF(SET(start, KERNEL_ADDR), SET(end, KERNEL_ADDR)),
	  EFAULT_IF(SET(end, KERNEL_ADDR)) } },
	/* The last would wrap to 0 when rounded up. */
	{ "end_huge_efault", .calls = { EFAULT_IF(SET(end, NONCANONICAL_ADDR)),
	  EFAULT_IF(SET(end, ~0ULL)), EFAULT_IF(TOP(end, -1, 2)) } },
	{ "vec_null_len_nonzero_einval", .calls = { EINVAL_IF(SET(vec, 0), SET(vec_len, 1)),
	  EINVAL_IF(SET(vec, 0), SET(vec_len, ~0ULL)) } },
	{ "vec_null_len_zero", .touch = 0x1, .calls = {
	  WALK(0, AT_MEM(2), SET(vec, 0), SET(vec_len, 0)) } },
	/* max_pages does not make a zero vec_len write vec. */
	{ "vec_len_zero", .touch = 0x1, .calls = { WALK(0, AT_MEM(2), SET(vec_len, 0)),
	  WALK(0, AT_MEM(2), SET(vec_len, 0), SET(max_pages, 1)) } },
	/* 2^62 regions wrap to 0 bytes; the last length runs into non-canonical addresses. */
	{ "vec_not_user_range_efault", .touch = 0x1, .calls = {
	  EFAULT_IF(SET(vec, KERNEL_ADDR), SET(vec_len, 1)), EFAULT_IF(SET(vec_len, 1ULL << 62)),
	  EFAULT_IF(SET(vec_len, ~0ULL)),
	  EFAULT_IF(SET(vec_len, NONCANONICAL_ADDR / sizeof(struct page_region) + 1)) } },
	{ "vec_readonly_efault", .touch = 0x1, .calls = VEC_NOT_WRITABLE(READONLY) },
	{ "vec_unmapped_efault", .touch = 0x1, .calls = VEC_NOT_WRITABLE(UNMAPPED) },
	/* A vec whose tail is unmapped works while the regions fit before it. */
	{ "vec_tail_unmapped", .touch = 0xa, .calls = {
	  PRESENT(4, AT(end, 4, 0), VEC(FITS_2), { 1, 2, P }, { 3, 4, P }),
	  { -EFAULT, AT_MEM(4), { AT(end, 4, 0), VEC(FITS_2), SET(return_mask, P) } } } },
	{ "check_wpasync_plain_vma_eperm", .touch = 0x1, .calls = {
	  WALK(-EPERM, AT_MEM(2), SET(flags, PM_SCAN_CHECK_WPASYNC)),
	  WALK(-EPERM, AT_MEM(2), SET(flags, PM_SCAN_CHECK_WPASYNC | PM_SCAN_WP_MATCHING)),
	  WALK(-EPERM, AT_MEM(2), SET(flags, PM_SCAN_CHECK_WPASYNC | PM_SCAN_WP_MATCHING),
	       SET(vec, 0), SET(vec_len, 0)) } },
	{ "check_wpasync_no_vma", .unmap = 0x1, .calls = {
	  { 0, AT_MEM(1), { SET(flags, PM_SCAN_CHECK_WPASYNC | PM_SCAN_WP_MATCHING) } } } },
	/* Into a plain VMA: EPERM, yet the async VMA's regions are in vec. */
	{ "check_wpasync_async_vma", .async = true, .touch = 0x21, .calls = {
	  { 2, AT_MEM(4), { AT(end, 4, 0), CHECK_WPASYNC, SET(return_mask, WA | P) }, 0,
	    { { 0, 1, WA | P }, { 1, 4, WA } } } } },
	{ "check_wpasync_mixed_eperm", .async = true, .touch = 0x21, .calls = {
	  { -EPERM, AT_MEM(8), { AT(end, 8, 0), CHECK_WPASYNC, SET(return_mask, WA | P) }, 0,
	    { { 0, 1, WA | P }, { 1, 4, WA } } } } },
	{ "wp_matching_plain_vma_skipped", .touch = 0x1, .calls = {
	  WALK(0, AT_MEM(2), SET(flags, PM_SCAN_WP_MATCHING)) } },
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
	/* The argument checks come before the walk that finds EPERM. */
	{ "order_args_before_eperm", .calls = {
	  EINVAL_IF(SET(flags, PM_SCAN_CHECK_WPASYNC), SET(vec, 0), SET(vec_len, 1)),
	  EFAULT_IF(SET(flags, PM_SCAN_CHECK_WPASYNC), SET(vec, KERNEL_ADDR)) } },
	/* An unwritable vec: EPERM wins if nothing was found, else EFAULT. */
	{ "order_eperm_vs_vec_write", .async = true, .touch = 0x21, .calls = {
	  { -EPERM, AT_MEM(6), { AT(start, 5, 0), AT(end, 6, 0), CHECK_WPASYNC, VEC(UNMAPPED) } },
	  { -EFAULT, AT_MEM(8), { AT(end, 8, 0), CHECK_WPASYNC, VEC(UNMAPPED) } } } },
	{ "start_equals_end", .touch = 0x1, .calls = {
	  { 0, AT_MEM(0), { AT(end, 0, 0) } },
	  { 0, SET(start, 0), { SET(start, 0), SET(end, 0) } } } },
	/* walk_end is the page-aligned end, holes included. */
	{ "walk_end_success", .touch = 0x1, .unmap = 0xc, .calls = {
	  { 2, AT_MEM(4), { AT(end, 4, -100) } } } },
	/* The number of regions written; a full vec stops the walk. */
	{ "return_value_is_region_count", .touch = 0x4d, .calls = {
	  PRESENT(8, AT(end, 8, 0), { 0 }, { 0, 1, P }, { 2, 4, P }, { 6, 7, P }),
	  PRESENT(6, AT(end, 8, 0), SET(vec_len, 2), { 0, 1, P }, { 2, 4, P }) } },
	{ "unknown_ioctl_enotty", .fn = test_unknown_ioctl },
	{ "other_process", .fn = test_child },
	{ "exited_process_esrch", .fn = test_child, .arg = 1 },
};

static int run_case(size_t i)
{
	const typeof(cases[0]) *c = &cases[i];
	int ret, p, uffd = -1;

	mem = map_pages(NR_MEM, PROT_READ | PROT_WRITE);
	for (p = 0; p < NR_MEM; p++)
		if (c->unmap & (1u << p))
			munmap(mem + p * psize(), psize());
	if (c->async)
		uffd = uffd_async_wp(MEM_ANON, mem, 4 * psize(), false);
	touch(c->touch);
	if (c->async && uffd < 0)
		ret = series_missing(true) ? KSFT_SKIP : KSFT_FAIL;
	else
		ret = c->fn ? c->fn(c->arg) : test_calls(c->calls);
	if (uffd >= 0)
		close(uffd);
	munmap(mem, NR_MEM * psize());
	return ret;
}

int main(void)
{
	size_t i;

	vmh_run_cases(i, ARRAY_SIZE(cases), false, cases[i].name,
		      vmh_report(cases[i].name, run_case(i)));
	return 0;
}
