// SPDX-License-Identifier: GPL-2.0
/*
 * Asynchronous userfaultfd write-protect (UFFD_FEATURE_WP_ASYNC).
 *
 * For every memory type uffd-wp covers, a range is registered in async mode
 * and write-protected; then some pages are read, some written, some both,
 * some left alone. The writes must be resolved by the kernel (no message on
 * the userfaultfd, no blocked writer), must land, and must clear the uffd-wp
 * bit (pagemap bit 57) of exactly the pages written; reads must not clear
 * it. Unregistering and closing must leave no protection behind.
 *
 * Writers run in a thread with a deadline, so a kernel that falls back to
 * synchronous handling produces a failure instead of a hung test.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <poll.h>
#include <pthread.h>
#include <time.h>
#include <sys/utsname.h>
#include "../kselftest.h"
#include "vm_util.h"

#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON	(1 << 14)
#endif
/* UFFDIO_POISON's bit in uffdio_register.ioctls (mainline 6.6+). */
#define UFFDIO_POISON_BIT	8

#define WRITER_DEADLINE_MS	3000
#define SEED			0x10
#define SEED2			0x80

enum check {
	CHK_PROTECT,
	CHK_READ,
	CHK_NO_MESSAGE,
	CHK_DATA,
	CHK_CLEARS,
	CHK_UNREGISTER,
	NR_CHECKS
};

static const char * const check_names[NR_CHECKS] = {
	[CHK_PROTECT] = "protect sets the wp bit on every page",
	[CHK_READ] = "reads leave every page protected",
	[CHK_NO_MESSAGE] = "async writes complete with no message queued",
	[CHK_DATA] = "written and unwritten data are intact",
	[CHK_CLEARS] = "a write clears the wp bit of the written page only",
	[CHK_UNREGISTER] = "unregister and close leave no wp bit, writes work",
};

struct scenario {
	const char *name;
	enum mem_type type;
	size_t nr;		/* pages of the type's granule */
	bool populate;
	bool swap;		/* page the range out after protecting it */
	bool alias;		/* write through a second, unregistered mapping */
	const char *clears_name; /* replaces check_names[CHK_CLEARS] */
};

static const struct scenario scenarios[] = {
	{ .name = "anon", .type = MEM_ANON, .nr = 16, .populate = true },
	{ .name = "thp", .type = MEM_THP, .nr = 2, .populate = true },
	{ .name = "shmem", .type = MEM_SHMEM, .nr = 16, .populate = true },
	{ .name = "hugetlb", .type = MEM_HUGETLB, .nr = 4, .populate = true },
	{ .name = "anon never touched", .type = MEM_ANON, .nr = 16 },
	{ .name = "shmem never touched", .type = MEM_SHMEM, .nr = 16 },
	{ .name = "hugetlb never touched", .type = MEM_HUGETLB, .nr = 4 },
	{ .name = "anon swapped out", .type = MEM_ANON, .nr = 16,
	  .populate = true, .swap = true },
	{ .name = "page cache private", .type = MEM_PAGECACHE, .nr = 16,
	  .populate = true },
	{ .name = "page cache shared", .type = MEM_PAGECACHE_SHARED, .nr = 16,
	  .populate = true },
	{ .name = "page cache private never touched", .type = MEM_PAGECACHE,
	  .nr = 16 },
	{ .name = "page cache shared never touched",
	  .type = MEM_PAGECACHE_SHARED, .nr = 16 },
	{ .name = "shmem second mapping", .type = MEM_SHMEM, .nr = 16,
	  .populate = true, .alias = true,
	  .clears_name = "a write through the second mapping leaves the first protected, a write through the first clears its page only" },
};

static int64_t advertised;	/* UFFDIO_API features, or -errno */

/* Unit of reads, writes and checks: the huge page for hugetlb, else 4K. */
static size_t unit_of(const struct area *a)
{
	return a->type == MEM_HUGETLB ? a->psize : psize();
}

/*
 * Page classes, by index modulo 4: 0 read only, 1 read then written,
 * 2 untouched, 3 written without a read first.
 */
static bool is_read(size_t i)
{
	return i % 4 == 0 || i % 4 == 1;
}

static bool is_written(size_t i)
{
	return i % 4 == 1 || i % 4 == 3;
}

static unsigned char orig_val(const struct scenario *sc, const struct area *a,
			      size_t unit_idx)
{
	/*
	 * area_alloc() fills each granule page with seed + its index; a
	 * private file mapping's file has that data even when not touched.
	 */
	if (!sc->populate && sc->type != MEM_PAGECACHE)
		return 0;
	return (unsigned char)(SEED + unit_idx * unit_of(a) / a->psize);
}

static unsigned char new_val(size_t i)
{
	return (unsigned char)(SEED2 + i);
}

struct writer {
	char *base;		/* where to write: the area or an alias */
	size_t unit, nr;
	bool (*pick)(size_t i);
	bool done;		/* set by the writer thread, __atomic */
};

static void *writer_fn(void *arg)
{
	struct writer *w = arg;
	size_t i;

	for (i = 0; i < w->nr; i++)
		if (w->pick(i))
			memset(w->base + i * w->unit, new_val(i), w->unit);
	__atomic_store_n(&w->done, true, __ATOMIC_RELEASE);
	return NULL;
}

static bool uffd_has_message(int uffd)
{
	struct pollfd pfd = { .fd = uffd, .events = POLLIN };

	return poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLIN);
}

/*
 * Run the writes of @w in a thread. Return true if they finished before the
 * deadline. A writer blocked in a synchronous uffd-wp fault is released by
 * unprotecting the range, so the test can go on and report.
 */
static bool write_with_deadline(struct writer *w, int uffd, void *addr,
				size_t len)
{
	const struct timespec tick = { .tv_nsec = 10 * 1000 * 1000 };
	pthread_t thread;
	int waited;

	__atomic_store_n(&w->done, false, __ATOMIC_RELAXED);
	if (pthread_create(&thread, NULL, writer_fn, w)) {
		ksft_print_msg("pthread_create failed\n");
		return false;
	}
	for (waited = 0; waited < WRITER_DEADLINE_MS; waited += 10) {
		if (__atomic_load_n(&w->done, __ATOMIC_ACQUIRE))
			break;
		nanosleep(&tick, NULL);
	}
	if (waited >= WRITER_DEADLINE_MS) {
		ksft_print_msg("writer blocked for %d ms (message queued: %s); releasing it\n",
			       WRITER_DEADLINE_MS,
			       uffd_has_message(uffd) ? "yes" : "no");
		uffd_wp(uffd, addr, len, false);
	}
	pthread_join(thread, NULL);
	return waited < WRITER_DEADLINE_MS;
}

/* Every base page of unit @i has (or lacks) the uffd-wp bit. */
static bool unit_wp(const struct area *a, size_t i, bool set)
{
	return pagemap_all(a->addr + i * unit_of(a), unit_of(a), PME_UFFD_WP,
			   set);
}

static bool all_units_wp(const struct area *a, size_t nunits, bool set,
			 const char *what)
{
	size_t i;

	for (i = 0; i < nunits; i++) {
		if (!unit_wp(a, i, set)) {
			ksft_print_msg("%s: page %zu: wp bit %s (pagemap %#llx)\n",
				       what, i, set ? "clear" : "set",
				       (unsigned long long)pagemap_entry(a->addr + i * unit_of(a)));
			return false;
		}
	}
	return true;
}

static bool data_ok(const struct scenario *sc, const struct area *a,
		    size_t nunits, bool (*written)(size_t i))
{
	size_t i, unit = unit_of(a);

	for (i = 0; i < nunits; i++) {
		unsigned char want = written(i) ? new_val(i) :
					orig_val(sc, a, i);

		if (!check_bytes(a->addr + i * unit, unit, want)) {
			ksft_print_msg("page %zu: expected bytes %#x, first byte %#x\n",
				       i, want, (unsigned char)a->addr[i * unit]);
			return false;
		}
	}
	return true;
}

static bool pick_all(size_t i)
{
	return true;
}

struct run {
	const struct scenario *sc;
	int next;		/* next check to report */
};

static const char *check_name(const struct run *r, int c)
{
	if (c == CHK_CLEARS && r->sc->clears_name)
		return r->sc->clears_name;
	return check_names[c];
}

static void report(struct run *r, enum check c, bool ok)
{
	ksft_test_result(ok, "%s: %s\n", r->sc->name, check_name(r, c));
	r->next = c + 1;
}

static void skip_rest(struct run *r, const char *why)
{
	for (; r->next < NR_CHECKS; r->next++)
		ksft_test_result_skip("%s: %s: %s\n", r->sc->name,
				      check_name(r, r->next), why);
}

static void fail_rest(struct run *r, const char *why)
{
	ksft_print_msg("%s: %s\n", r->sc->name, why);
	for (; r->next < NR_CHECKS; r->next++)
		ksft_test_result_fail("%s: %s\n", r->sc->name,
				      check_name(r, r->next));
}

static void run_scenario(const struct scenario *sc)
{
	struct run r = { .sc = sc };
	uint64_t features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED;
	struct writer w = { 0 };
	struct uffd_msg msg;
	char *alias = NULL;
	size_t nunits, unit, i;
	struct area a;
	bool ok;
	int uffd, ret;

	if (advertised < 0 || !(advertised & UFFD_FEATURE_WP_ASYNC)) {
		skip_rest(&r, "kernel lacks UFFD_FEATURE_WP_ASYNC");
		return;
	}
	features |= uffd_wp_features_for(sc->type);
	if ((advertised & features) != features) {
		skip_rest(&r, "kernel lacks UFFD_FEATURE_WP_HUGETLBFS_SHMEM");
		return;
	}

	ret = area_alloc(&a, sc->type, sc->nr, sc->populate, SEED);
	if (ret == VMH_SKIP) {
		skip_rest(&r, vmh_reason);
		return;
	} else if (ret) {
		fail_rest(&r, vmh_reason);
		return;
	}
	unit = unit_of(&a);
	nunits = a.size / unit;

	uffd = uffd_async_wp(sc->type, a.addr, a.size, true);
	if (uffd < 0) {
		fail_rest(&r, vmh_reason);
		goto out_area;
	}

	if (sc->swap) {
		ret = swap_out(a.addr, a.size);
		if (ret == VMH_SKIP) {
			skip_rest(&r, vmh_reason);
			goto out_uffd;
		} else if (ret) {
			fail_rest(&r, vmh_reason);
			goto out_uffd;
		}
	}
	report(&r, CHK_PROTECT, all_units_wp(&a, nunits, true, "after protect"));

	/* Reads: a fault for never-touched or swapped pages, none for others. */
	for (i = 0; i < nunits; i++)
		if (is_read(i))
			touch_read(a.addr + i * unit, unit);
	ok = all_units_wp(&a, nunits, true, "after reads");
	if (sc->swap) {
		for (i = 0; i < nunits; i++) {
			if (is_read(i) && !pagemap_has(a.addr + i * unit, PME_PRESENT)) {
				ksft_print_msg("page %zu not swapped in by a read\n", i);
				ok = false;
			}
		}
	}
	report(&r, CHK_READ, ok);

	if (sc->alias) {
		alias = mmap(NULL, a.size, PROT_READ | PROT_WRITE, MAP_SHARED,
			     a.fd, 0);
		if (alias == MAP_FAILED) {
			fail_rest(&r, "mmap of the second mapping failed");
			goto out_uffd;
		}
	}
	w.base = alias ? alias : a.addr;
	w.unit = unit;
	w.nr = nunits;
	w.pick = is_written;
	ok = write_with_deadline(&w, uffd, a.addr, a.size);
	if (read(uffd, &msg, sizeof(msg)) != -1 || errno != EAGAIN) {
		ksft_print_msg("read() on the userfaultfd did not fail with EAGAIN\n");
		ok = false;
	}
	report(&r, CHK_NO_MESSAGE, ok);

	report(&r, CHK_DATA, data_ok(sc, &a, nunits, is_written));

	if (sc->alias) {
		/* The second mapping is not registered: nothing changed here. */
		ok = all_units_wp(&a, nunits, true, "after writes through the second mapping");
		w.base = a.addr;
		ok &= write_with_deadline(&w, uffd, a.addr, a.size);
	} else {
		ok = true;
	}
	for (i = 0; i < nunits; i++) {
		if (!unit_wp(&a, i, !is_written(i))) {
			ksft_print_msg("page %zu (%s): wp bit %s (pagemap %#llx)\n",
				       i, is_written(i) ? "written" : "not written",
				       is_written(i) ? "still set" : "cleared",
				       (unsigned long long)pagemap_entry(a.addr + i * unit));
			ok = false;
		}
	}
	report(&r, CHK_CLEARS, ok);

	ret = uffd_unregister(uffd, a.addr, a.size);
	close(uffd);
	uffd = -1;
	ok = !ret && all_units_wp(&a, nunits, false, "after unregister");
	if (!sc->populate && sc->type == MEM_ANON &&
	    !pagemap_all(a.addr, a.size, PME_SWAP, false)) {
		ksft_print_msg("a marker (pagemap swap bit) survived unregister\n");
		ok = false;
	}
	/* With no uffd left, the writer must never block. */
	w.pick = pick_all;
	w.base = a.addr;
	ok &= write_with_deadline(&w, -1, a.addr, a.size);
	ok &= data_ok(sc, &a, nunits, pick_all);
	report(&r, CHK_UNREGISTER, ok);

out_uffd:
	if (alias && alias != MAP_FAILED)
		munmap(alias, a.size);
	if (uffd >= 0)
		close(uffd);
out_area:
	area_free(&a);
}

/*
 * The global cases return a KSFT_ status; they run only with a usable
 * userfaultfd, and (@need_async) one advertising WP_ASYNC.
 */

/* Bits 13 and 15 are advertised together. */
static int test_api_bits(void)
{
	if (!(advertised & UFFD_FEATURE_WP_ASYNC))
		return vmh_set_reason(KSFT_SKIP, "kernel lacks UFFD_FEATURE_WP_ASYNC");
	return advertised & UFFD_FEATURE_WP_UNPOPULATED ? KSFT_PASS : KSFT_FAIL;
}

/*
 * Bit 14 (UFFD_FEATURE_POISON) is not part of this series. Mainline
 * advertises it together with the UFFDIO_POISON ioctl, so the check is
 * that the bit never appears without the ioctl, and never on 6.1.
 */
static int test_api_no_poison(void)
{
	size_t len = psize();
	struct utsname uts;
	uint64_t ioctls = 0;
	bool ok = false;
	char *p;
	int uffd;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	uffd = uffd_open(0, true);
	if (p == MAP_FAILED || uffd < 0 ||
	    uffd_register(uffd, p, len, UFFDIO_REGISTER_MODE_MISSING, &ioctls)) {
		ksft_print_msg("registration failed\n");
		goto out;
	}
	ok = true;
	if ((advertised & UFFD_FEATURE_POISON) &&
	    !(ioctls & (1ULL << UFFDIO_POISON_BIT))) {
		ksft_print_msg("bit 14 advertised, UFFDIO_POISON not offered\n");
		ok = false;
	}
	if (!uname(&uts) && !strncmp(uts.release, "6.1.", 4) &&
	    (advertised & UFFD_FEATURE_POISON)) {
		ksft_print_msg("bit 14 advertised on %s\n", uts.release);
		ok = false;
	}
out:
	if (uffd >= 0)
		close(uffd);
	if (p != MAP_FAILED)
		munmap(p, len);
	return ok ? KSFT_PASS : KSFT_FAIL;
}

/* Requesting WP_ASYNC matches what is advertised. */
static int test_api_request(void)
{
	int fd = uffd_open(UFFD_FEATURE_WP_ASYNC, true);
	bool offered = advertised & UFFD_FEATURE_WP_ASYNC;
	bool ok = offered ? fd >= 0 : fd == -EINVAL;

	if (!ok)
		ksft_print_msg("%s, %s\n", offered ? "advertised" : "not advertised",
			       fd >= 0 ? "accepted" : strerror(-fd));
	if (fd >= 0)
		close(fd);
	return ok ? KSFT_PASS : KSFT_FAIL;
}

/*
 * Mainline turns WP_UNPOPULATED on whenever WP_ASYNC is requested, so
 * never-touched anonymous pages get protected (markers) even when only
 * WP_ASYNC was asked for.
 */
static int test_async_implies_unpopulated(void)
{
	struct area a;
	bool ok;
	int uffd, ret;

	if (area_alloc(&a, MEM_ANON, 8, false, 0))
		return KSFT_FAIL;
	uffd = uffd_open(UFFD_FEATURE_WP_ASYNC, true);
	ret = uffd < 0 ? uffd :
	      uffd_register(uffd, a.addr, a.size, UFFDIO_REGISTER_MODE_WP, NULL);
	if (!ret)
		ret = uffd_wp(uffd, a.addr, a.size, true);
	ok = !ret && pagemap_all(a.addr, a.size, PME_UFFD_WP, true);
	if (ret)
		ksft_print_msg("set-up failed: %s\n", strerror(-ret));
	/* And the first write resolves such a page in async mode too. */
	if (ok) {
		a.addr[0] = 1;
		ok = !pagemap_has(a.addr, PME_UFFD_WP) &&
		     pagemap_all(a.addr + psize(), a.size - psize(),
				 PME_UFFD_WP, true) &&
		     !uffd_has_message(uffd);
	}
	if (uffd >= 0)
		close(uffd);
	area_free(&a);
	return ok ? KSFT_PASS : KSFT_FAIL;
}

/*
 * Without WP_ASYNC, uffd-wp is synchronous as before: a write queues one
 * message, and only the page unprotected becomes writable.
 */
static int test_sync_still_works(void)
{
	char *page1;
	struct area a;
	int uffd, ret;
	bool ok;

	if (area_alloc(&a, MEM_ANON, 4, true, SEED))
		return KSFT_FAIL;
	page1 = a.addr + psize();
	uffd = uffd_open(0, true);
	ret = uffd < 0 ? uffd :
	      uffd_register(uffd, a.addr, a.size, UFFDIO_REGISTER_MODE_WP, NULL);
	if (!ret)
		ret = uffd_wp(uffd, a.addr, a.size, true);
	if (ret)
		ksft_print_msg("set-up failed: %s\n", strerror(-ret));
	ok = !ret && uffd_write_trapped(uffd, page1, psize(), 0x5a) &&
	     !uffd_has_message(uffd) && page1[0] == 0x5a &&
	     !pagemap_has(page1, PME_UFFD_WP) && pagemap_has(a.addr, PME_UFFD_WP);
	if (uffd >= 0)
		close(uffd);
	area_free(&a);
	return ok ? KSFT_PASS : KSFT_FAIL;
}

static const struct {
	const char *name;
	int (*fn)(void);
	bool need_async;
} globals[] = {
	{ "UFFDIO_API advertises WP_ASYNC (bit 15) with WP_UNPOPULATED (bit 13)",
	  test_api_bits, false },
	{ "UFFDIO_API advertises bit 14 (POISON) only with UFFDIO_POISON, never on 6.1",
	  test_api_no_poison, false },
	{ "UFFDIO_API request of WP_ASYNC: accepted if advertised, else EINVAL",
	  test_api_request, false },
	{ "WP_ASYNC alone protects never-touched anon pages (implies WP_UNPOPULATED)",
	  test_async_implies_unpopulated, true },
	{ "without WP_ASYNC a wp fault is delivered as a message", test_sync_still_works, false },
};

int main(int argc, char **argv)
{
	size_t i;

	ksft_print_header();
	ksft_set_plan(ARRAY_SIZE(globals) + ARRAY_SIZE(scenarios) * NR_CHECKS);

	advertised = uffd_api_features();
	if (advertised < 0)
		ksft_print_msg("userfaultfd: %s\n", strerror((int)-advertised));
	else
		ksft_print_msg("UFFDIO_API features: %#llx\n",
			       (unsigned long long)advertised);

	for (i = 0; i < ARRAY_SIZE(globals); i++) {
		if (advertised >= 0 && (!globals[i].need_async ||
					(advertised & UFFD_FEATURE_WP_ASYNC)))
			vmh_report(globals[i].name, globals[i].fn());
		else if (globals[i].need_async)
			ksft_test_result_skip("%s: kernel lacks UFFD_FEATURE_WP_ASYNC\n",
					      globals[i].name);
		else
			ksft_test_result_skip("%s: userfaultfd unavailable: %s\n",
					      globals[i].name, strerror((int)-advertised));
	}
	for (i = 0; i < ARRAY_SIZE(scenarios); i++)
		run_scenario(&scenarios[i]);

	vmh_finished();
	return 0;
}
