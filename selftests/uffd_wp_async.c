// SPDX-License-Identifier: GPL-2.0
/*
 * Asynchronous userfaultfd write-protect (UFFD_FEATURE_WP_ASYNC). Per memory
 * type a range is registered async and protected, then pages are read,
 * written, both or neither: writes must complete with no message, land, and
 * clear the uffd-wp bit of exactly the written pages. Writers run under a
 * deadline, so a kernel that handles the faults synchronously fails instead
 * of hanging.
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

#define WRITER_DEADLINE_S	3
#define SEED			0x10
#define SEED2			0x80

enum check {
	CHK_PROTECT, CHK_READ, CHK_NO_MESSAGE, CHK_DATA, CHK_CLEARS, CHK_UNREGISTER,
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
	{ "anon", MEM_ANON, 16, .populate = true },
	{ "thp", MEM_THP, 2, .populate = true },
	{ "shmem", MEM_SHMEM, 16, .populate = true },
	{ "hugetlb", MEM_HUGETLB, 4, .populate = true },
	{ "anon never touched", MEM_ANON, .nr = 16 },
	{ "shmem never touched", MEM_SHMEM, .nr = 16 },
	{ "hugetlb never touched", MEM_HUGETLB, .nr = 4 },
	{ "anon swapped out", MEM_ANON, 16, .populate = true, .swap = true },
	{ "page cache private", MEM_PAGECACHE, 16, .populate = true },
	{ "page cache shared", MEM_PAGECACHE_SHARED, 16, .populate = true },
	{ "page cache private never touched", MEM_PAGECACHE, .nr = 16 },
	{ "page cache shared never touched", MEM_PAGECACHE_SHARED, .nr = 16 },
	{ "shmem second mapping", MEM_SHMEM, 16, .populate = true, .alias = true,
	  .clears_name = "a write through the second mapping leaves the first protected, a write through the first clears its page only" },
};

static int64_t advertised;	/* UFFDIO_API features, or -errno */

/* Unit of reads, writes and checks: the huge page for hugetlb, else 4K. */
static size_t unit_of(const struct area *a)
{
	return a->type == MEM_HUGETLB ? a->psize : psize();
}

/* Units by index modulo 4: read only, read then written, untouched, written. */
static bool is_read(size_t i)
{
	return i % 4 == 0 || i % 4 == 1;
}

static bool is_written(size_t i)
{
	return i % 4 == 1 || i % 4 == 3;
}

static bool pick_all(size_t i)
{
	return true;
}

/* What area_alloc() wrote (a private file's file has it even untouched). */
static unsigned char orig_val(const struct scenario *sc, const struct area *a, size_t i)
{
	if (!sc->populate && sc->type != MEM_PAGECACHE)
		return 0;
	return (unsigned char)(SEED + i * unit_of(a) / a->psize);
}

struct writer {
	char *base;		/* where to write: the area or an alias */
	size_t unit, nr;
	bool (*pick)(size_t i);
};

static void *writer_fn(void *arg)
{
	struct writer *w = arg;
	size_t i;

	for (i = 0; i < w->nr; i++)
		if (w->pick(i))
			memset(w->base + i * w->unit, (unsigned char)(SEED2 + i), w->unit);
	return NULL;
}

static bool uffd_has_message(int uffd)
{
	struct pollfd pfd = { .fd = uffd, .events = POLLIN };

	return poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLIN);
}

/*
 * Run the writes of @w in a thread: true if they finished before the
 * deadline. A writer blocked in a synchronous fault is released by
 * unprotecting the range, so that the test can go on.
 */
static bool write_with_deadline(struct writer *w, int uffd, void *addr, size_t len)
{
	struct timespec deadline;
	pthread_t thread;

	if (pthread_create(&thread, NULL, writer_fn, w)) {
		ksft_print_msg("pthread_create failed\n");
		return false;
	}
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += WRITER_DEADLINE_S;
	if (!pthread_timedjoin_np(thread, NULL, &deadline))
		return true;
	ksft_print_msg("writer blocked for %d s (message queued: %s); releasing it\n",
		       WRITER_DEADLINE_S, uffd_has_message(uffd) ? "yes" : "no");
	uffd_wp(uffd, addr, len, false);
	pthread_join(thread, NULL);
	return false;
}

/* Every unit has the uffd-wp bit @set, or (@flip_written) the written ones not. */
static bool units_wp(const struct area *a, bool set, bool flip_written, const char *what)
{
	size_t i, unit = unit_of(a);

	for (i = 0; i < a->size / unit; i++) {
		bool want = set != (flip_written && is_written(i));

		if (!pagemap_all(a->addr + i * unit, unit, PME_UFFD_WP, want)) {
			ksft_print_msg("%s: page %zu: wp bit %s (pagemap %#llx)\n", what, i,
				       want ? "clear" : "set",
				       (unsigned long long)pagemap_entry(a->addr + i * unit));
			return false;
		}
	}
	return true;
}

static bool data_ok(const struct scenario *sc, const struct area *a, bool (*written)(size_t i))
{
	size_t i, unit = unit_of(a);

	for (i = 0; i < a->size / unit; i++) {
		unsigned char want = written(i) ? SEED2 + i : orig_val(sc, a, i);

		if (!check_bytes(a->addr + i * unit, unit, want)) {
			ksft_print_msg("page %zu: expected bytes %#x, first byte %#x\n",
				       i, want, (unsigned char)a->addr[i * unit]);
			return false;
		}
	}
	return true;
}

struct run {
	const struct scenario *sc;
	int next;		/* next check to report */
};

static const char *check_name(const struct run *r, int c)
{
	return c == CHK_CLEARS && r->sc->clears_name ? r->sc->clears_name : check_names[c];
}

static void report(struct run *r, enum check c, bool ok)
{
	ksft_test_result(ok, "%s: %s\n", r->sc->name, check_name(r, c));
	r->next = c + 1;
}

/* Report the checks not reached: skipped (@status VMH_SKIP) or failed, saying why. */
static void end_early(struct run *r, int status, const char *why)
{
	if (status != VMH_SKIP)
		ksft_print_msg("%s: %s\n", r->sc->name, why);
	for (; r->next < NR_CHECKS; r->next++) {
		if (status == VMH_SKIP)
			ksft_test_result_skip("%s: %s: %s\n", r->sc->name,
					      check_name(r, r->next), why);
		else
			ksft_test_result_fail("%s: %s\n", r->sc->name, check_name(r, r->next));
	}
}

static void run_scenario(const struct scenario *sc)
{
	uint64_t features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED |
			    uffd_wp_features_for(sc->type);
	struct writer w = { .pick = is_written };
	struct run r = { .sc = sc };
	size_t nunits, unit, i;
	struct uffd_msg msg;
	char *alias = NULL;
	struct area a;
	int uffd, ret;
	bool ok;

	if (advertised < 0 || !(advertised & UFFD_FEATURE_WP_ASYNC)) {
		end_early(&r, VMH_SKIP, "kernel lacks UFFD_FEATURE_WP_ASYNC");
		return;
	}
	if ((advertised & features) != features) {
		end_early(&r, VMH_SKIP, "kernel lacks UFFD_FEATURE_WP_HUGETLBFS_SHMEM");
		return;
	}
	ret = area_alloc(&a, sc->type, sc->nr, sc->populate, SEED);
	if (ret) {
		end_early(&r, ret, vmh_reason);
		return;
	}
	unit = unit_of(&a);
	nunits = a.size / unit;
	uffd = uffd_async_wp(sc->type, a.addr, a.size, true);
	ret = uffd < 0 ? VMH_FAIL : sc->swap ? swap_out(a.addr, a.size) : VMH_OK;
	if (ret) {
		end_early(&r, ret, vmh_reason);
		goto out;
	}
	report(&r, CHK_PROTECT, units_wp(&a, true, false, "after protect"));

	/* Reads: a fault for never-touched or swapped pages, none for others. */
	for (i = 0; i < nunits; i++)
		if (is_read(i))
			touch_read(a.addr + i * unit, unit);
	ok = units_wp(&a, true, false, "after reads");
	for (i = 0; sc->swap && i < nunits; i++) {
		if (is_read(i) && !pagemap_has(a.addr + i * unit, PME_PRESENT)) {
			ksft_print_msg("page %zu not swapped in by a read\n", i);
			ok = false;
		}
	}
	report(&r, CHK_READ, ok);

	if (sc->alias) {
		alias = mmap(NULL, a.size, PROT_READ | PROT_WRITE, MAP_SHARED, a.fd, 0);
		if (alias == MAP_FAILED) {
			alias = NULL;
			end_early(&r, VMH_FAIL, "mmap of the second mapping failed");
			goto out;
		}
	}
	w.base = alias ? alias : a.addr;
	w.unit = unit;
	w.nr = nunits;
	ok = write_with_deadline(&w, uffd, a.addr, a.size);
	if (read(uffd, &msg, sizeof(msg)) != -1 || errno != EAGAIN) {
		ksft_print_msg("read() on the userfaultfd did not fail with EAGAIN\n");
		ok = false;
	}
	report(&r, CHK_NO_MESSAGE, ok);
	report(&r, CHK_DATA, data_ok(sc, &a, is_written));

	ok = true;
	if (alias) {
		/* The second mapping is not registered: nothing changed here. */
		ok = units_wp(&a, true, false, "after writes through the second mapping");
		w.base = a.addr;
		ok &= write_with_deadline(&w, uffd, a.addr, a.size);
	}
	report(&r, CHK_CLEARS, units_wp(&a, true, true, "after writes") && ok);

	ret = uffd_unregister(uffd, a.addr, a.size);
	close(uffd);
	uffd = -1;
	ok = !ret && units_wp(&a, false, false, "after unregister");
	if (!sc->populate && sc->type == MEM_ANON &&
	    !pagemap_all(a.addr, a.size, PME_SWAP, false)) {
		ksft_print_msg("a marker (pagemap swap bit) survived unregister\n");
		ok = false;
	}
	/* With no uffd left, the writer must never block. */
	w.pick = pick_all;
	ok &= write_with_deadline(&w, -1, a.addr, a.size);
	report(&r, CHK_UNREGISTER, data_ok(sc, &a, pick_all) && ok);
out:
	if (alias)
		munmap(alias, a.size);
	if (uffd >= 0)
		close(uffd);
	area_free(&a);
}

/*
 * The global cases return a KSFT_ status; they run only with a usable
 * userfaultfd, and (need_async) one advertising WP_ASYNC.
 */

/* Bits 13 and 15 are advertised together. */
static int test_api_bits(void)
{
	if (!(advertised & UFFD_FEATURE_WP_ASYNC))
		return vmh_set_reason(KSFT_SKIP, "kernel lacks UFFD_FEATURE_WP_ASYNC");
	return advertised & UFFD_FEATURE_WP_UNPOPULATED ? KSFT_PASS : KSFT_FAIL;
}

/*
 * Bit 14 (UFFD_FEATURE_POISON) is not part of this series; mainline
 * advertises it with the UFFDIO_POISON ioctl, never without.
 */
static int test_api_no_poison(void)
{
	uint64_t ioctls = 0;
	struct utsname uts;
	struct area a;
	bool ok = false;
	int uffd;

	if (area_alloc(&a, MEM_ANON, 1, false, 0))
		return KSFT_FAIL;
	uffd = uffd_open(0, true);
	if (uffd < 0 ||
	    uffd_register(uffd, a.addr, a.size, UFFDIO_REGISTER_MODE_MISSING, &ioctls)) {
		ksft_print_msg("registration failed\n");
		goto out;
	}
	ok = true;
	if ((advertised & UFFD_FEATURE_POISON) && !(ioctls & (1ULL << UFFDIO_POISON_BIT))) {
		ksft_print_msg("bit 14 advertised, UFFDIO_POISON not offered\n");
		ok = false;
	}
	if ((advertised & UFFD_FEATURE_POISON) && !uname(&uts) &&
	    !strncmp(uts.release, "6.1.", 4)) {
		ksft_print_msg("bit 14 advertised on %s\n", uts.release);
		ok = false;
	}
out:
	if (uffd >= 0)
		close(uffd);
	area_free(&a);
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
 * A userfaultfd with @features, @a registered for write-protect and
 * protected: the fd, or -errno (said).
 */
static int wp_area(const struct area *a, uint64_t features)
{
	int uffd = uffd_wp_range(features, a->addr, a->size, true);

	if (uffd < 0)
		ksft_print_msg("set-up failed: %s\n", strerror(-uffd));
	return uffd;
}

/*
 * Mainline turns WP_UNPOPULATED on with WP_ASYNC: never-touched anon pages
 * get protected (markers), and the first write resolves one asynchronously.
 */
static int test_async_implies_unpopulated(void)
{
	struct area a;
	bool ok;
	int uffd;

	if (area_alloc(&a, MEM_ANON, 8, false, 0))
		return KSFT_FAIL;
	uffd = wp_area(&a, UFFD_FEATURE_WP_ASYNC);
	ok = uffd >= 0 && pagemap_all(a.addr, a.size, PME_UFFD_WP, true);
	if (ok) {
		a.addr[0] = 1;
		ok = !pagemap_has(a.addr, PME_UFFD_WP) &&
		     pagemap_all(a.addr + psize(), a.size - psize(), PME_UFFD_WP, true) &&
		     !uffd_has_message(uffd);
	}
	if (uffd >= 0)
		close(uffd);
	area_free(&a);
	return ok ? KSFT_PASS : KSFT_FAIL;
}

/* Without WP_ASYNC a write queues a message; only the page unprotected is writable. */
static int test_sync_still_works(void)
{
	struct area a;
	char *page1;
	bool ok;
	int uffd;

	if (area_alloc(&a, MEM_ANON, 4, true, SEED))
		return KSFT_FAIL;
	page1 = a.addr + psize();
	uffd = wp_area(&a, 0);
	ok = uffd >= 0 && uffd_write_trapped(uffd, page1, psize(), 0x5a) &&
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
		ksft_print_msg("UFFDIO_API features: %#llx\n", (unsigned long long)advertised);

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
