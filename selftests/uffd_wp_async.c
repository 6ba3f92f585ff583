// SPDX-License-Identifier: GPL-2.0
/*
 * Asynchronous userfaultfd write-protect (UFFD_FEATURE_WP_ASYNC). Per memory
 * type a range is registered async and protected, then pages are read,
 * written, both or neither: writes must complete with no message, land, and
 * clear the uffd-wp bit of exactly the written pages. Writers run under a
 * deadline, so a kernel that handles the faults synchronously fails instead
 * of hanging.
 */
#define _GNU_SOURCE
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

/* check_names[] in the order run_scenario() reports them. */
enum check { CHK_CLEARS = 4, NR_CHECKS = 6 };

static const char * const check_names[NR_CHECKS] = {
	"protect sets the wp bit on every page",
	"reads leave every page protected",
	"async writes complete with no message queued",
	"written and unwritten data are intact",
	"a write clears the wp bit of the written page only",
	"unregister and close leave no wp bit, writes work",
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

/*
 * Units (the huge page for hugetlb, else 4K) by index modulo 4: read only,
 * read then written, untouched, written. A set of them is a mask of i % 4.
 */
#define READ		0x3
#define WRITTEN		0xa
#define ALL		0xf
#define IN(set, i)	((set) >> ((i) % 4) & 1)

struct writer {
	struct unit_area u;	/* where to write: the area or an alias */
	unsigned int pick;	/* the units written */
};

static void *writer_fn(void *arg)
{
	struct writer *w = arg;
	size_t i;

	for (i = 0; i < w->u.n; i++)
		if (IN(w->pick, i))
			unit_write(&w->u, i);
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

/* A scenario's area, its userfaultfd, and the next check to report. */
struct run {
	const struct scenario *sc;
	struct unit_area u;
	int next;
};

enum unit_check { WP_BUT, DATA };

/*
 * Every unit has the uffd-wp bit but those in @set (WP_BUT), or holds what
 * unit_write() wrote if in @set, else its seed (DATA).
 */
static bool units_are(const struct run *r, enum unit_check what, unsigned int set)
{
	size_t i;

	for (i = 0; i < r->u.n; i++)
		if (what == DATA ? !unit_data_ok(&r->u, i, IN(set, i)) :
		    !units_wp(&r->u, i, i + 1, !IN(set, i)))
			return false;
	return true;
}

static const char *check_name(const struct run *r, int c)
{
	return c == CHK_CLEARS && r->sc->clears_name ? r->sc->clears_name : check_names[c];
}

static void report(struct run *r, bool ok)
{
	ksft_test_result(ok, "%s: %s\n", r->sc->name, check_name(r, r->next));
	r->next++;
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
	struct run r = { .sc = sc, .u = { .a.fd = -1, .uffd = -1 } };
	struct unit_area *u = &r.u;
	struct writer w = { .pick = WRITTEN };
	struct uffd_msg msg;
	int ret;
	size_t i;
	bool ok;

	if (advertised < 0 || (advertised & features) != features) {
		end_early(&r, VMH_SKIP, advertised >= 0 && advertised & UFFD_FEATURE_WP_ASYNC ?
			  "kernel lacks UFFD_FEATURE_WP_HUGETLBFS_SHMEM" :
			  "kernel lacks UFFD_FEATURE_WP_ASYNC");
		return;
	}
	ret = unit_area_alloc(u, sc->type, sc->nr, sc->populate, SEED);
	if (!ret) {
		u->uffd = uffd_async_wp(sc->type, u->a.addr, u->a.size, true);
		ret = u->uffd < 0 ? VMH_FAIL : sc->swap ? swap_out(u->a.addr, u->a.size) : VMH_OK;
	}
	if (ret) {
		end_early(&r, ret, vmh_reason);
		goto out;
	}
	report(&r, units_are(&r, WP_BUT, 0));

	/* Reads: a fault for never-touched or swapped pages, none for others. */
	for (i = 0; i < u->n; i++)
		if (IN(READ, i))
			touch_read(unit_addr(u, i), u->unit);
	ok = units_are(&r, WP_BUT, 0);
	for (i = 0; sc->swap && i < u->n; i++) {
		if (IN(READ, i) && !pagemap_has(unit_addr(u, i), PME_PRESENT)) {
			ksft_print_msg("page %zu not swapped in by a read\n", i);
			ok = false;
		}
	}
	report(&r, ok);

	w.u = *u;
	if (sc->alias) {
		w.u.a.addr = mmap(NULL, u->a.size, PROT_READ | PROT_WRITE, MAP_SHARED, u->a.fd, 0);
		if (w.u.a.addr == MAP_FAILED) {
			end_early(&r, VMH_FAIL, "mmap of the second mapping failed");
			goto out;
		}
	}
	ok = write_with_deadline(&w, u->uffd, u->a.addr, u->a.size);
	if (read(u->uffd, &msg, sizeof(msg)) != -1 || errno != EAGAIN) {
		ksft_print_msg("read() on the userfaultfd did not fail with EAGAIN\n");
		ok = false;
	}
	report(&r, ok);
	report(&r, units_are(&r, DATA, WRITTEN));

	ok = true;
	if (sc->alias) {
		/* The second mapping is not registered: nothing changed here. */
		ok = units_are(&r, WP_BUT, 0);
		munmap(w.u.a.addr, u->a.size);
		w.u.a.addr = u->a.addr;
		ok &= write_with_deadline(&w, u->uffd, u->a.addr, u->a.size);
	}
	report(&r, units_are(&r, WP_BUT, WRITTEN) && ok);

	ret = uffd_unregister(u->uffd, u->a.addr, u->a.size);
	close(u->uffd);
	u->uffd = -1;
	ok = !ret && units_are(&r, WP_BUT, ALL);
	if (!sc->populate && sc->type == MEM_ANON &&
	    !pagemap_all(u->a.addr, u->a.size, PME_SWAP, false)) {
		ksft_print_msg("a marker (pagemap swap bit) survived unregister\n");
		ok = false;
	}
	/* With no uffd left, the writer must never block. */
	w.pick = ALL;
	ok &= write_with_deadline(&w, -1, u->a.addr, u->a.size);
	report(&r, units_are(&r, DATA, ALL) && ok);
out:
	unit_area_free(u);
}

/* Bits 13 and 15 are advertised together. */
static int test_api_bits(void)
{
	if (!(advertised & UFFD_FEATURE_WP_ASYNC))
		return vmh_set_reason(KSFT_SKIP, "kernel lacks UFFD_FEATURE_WP_ASYNC");
	return ksft_status(advertised & UFFD_FEATURE_WP_UNPOPULATED);
}

/*
 * Bit 14 (UFFD_FEATURE_POISON) is not part of this series; mainline
 * advertises it with the UFFDIO_POISON ioctl, never without.
 */
static int test_api_no_poison(void)
{
	const bool poison = advertised & UFFD_FEATURE_POISON;
	int ret = KSFT_FAIL;
	uint64_t ioctls = 0;
	struct utsname uts;
	struct unit_area u;

	if (unit_area_alloc(&u, MEM_ANON, 1, false, 0))
		return KSFT_FAIL;
	u.uffd = uffd_open(0, true);
	if (u.uffd < 0 ||
	    uffd_register(u.uffd, u.a.addr, u.a.size, UFFDIO_REGISTER_MODE_MISSING, &ioctls))
		ksft_print_msg("registration failed\n");
	else if (poison && !(ioctls & (1ULL << UFFDIO_POISON_BIT)))
		ksft_print_msg("bit 14 advertised, UFFDIO_POISON not offered\n");
	else if (poison && !uname(&uts) && !strncmp(uts.release, "6.1.", 4))
		ksft_print_msg("bit 14 advertised on %s\n", uts.release);
	else
		ret = KSFT_PASS;
	unit_area_free(&u);
	return ret;
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
	return ksft_status(ok);
}

/*
 * Mainline turns WP_UNPOPULATED on with WP_ASYNC: never-touched anon pages
 * get protected (markers), and the first write resolves one asynchronously.
 */
static bool async_unpopulated(struct unit_area *u)
{
	if (!units_wp(u, 0, u->n, true))
		return false;
	unit_write(u, 0);
	return units_wp(u, 0, 1, false) && !uffd_has_message(u->uffd) &&
	       units_wp(u, 1, u->n, true);
}

/* Without WP_ASYNC a write queues a message; only the page unprotected is writable. */
static bool sync_trapped(struct unit_area *u)
{
	return uffd_write_trapped(u->uffd, unit_addr(u, 1), u->unit, 0x5a) &&
	       !uffd_has_message(u->uffd) && *unit_addr(u, 1) == 0x5a &&
	       units_wp(u, 0, 1, true) && units_wp(u, 1, 2, false);
}

/*
 * A global case: @fn, or @check on @nr anon pages (@populate) registered
 * for write-protect by a userfaultfd with @features and protected. They
 * run only with a usable userfaultfd, and (@need_async) one advertising
 * WP_ASYNC.
 */
static const struct global {
	const char *name;
	int (*fn)(void);
	bool need_async;
	bool (*check)(struct unit_area *u);
	size_t nr;
	bool populate;
	__u64 features;
} globals[] = {
	{ "UFFDIO_API advertises WP_ASYNC (bit 15) with WP_UNPOPULATED (bit 13)",
	  .fn = test_api_bits },
	{ "UFFDIO_API advertises bit 14 (POISON) only with UFFDIO_POISON, never on 6.1",
	  .fn = test_api_no_poison },
	{ "UFFDIO_API request of WP_ASYNC: accepted if advertised, else EINVAL",
	  .fn = test_api_request },
	{ "WP_ASYNC alone protects never-touched anon pages (implies WP_UNPOPULATED)",
	  .need_async = true, .check = async_unpopulated, .nr = 8,
	  .features = UFFD_FEATURE_WP_ASYNC },
	{ "without WP_ASYNC a wp fault is delivered as a message",
	  .check = sync_trapped, .nr = 4, .populate = true },
};

/* A global case's KSFT_ status. */
static int run_global(const struct global *g)
{
	struct unit_area u;
	bool ok;

	if (g->need_async && (advertised < 0 || !(advertised & UFFD_FEATURE_WP_ASYNC)))
		return vmh_set_reason(KSFT_SKIP, "kernel lacks UFFD_FEATURE_WP_ASYNC");
	if (advertised < 0)
		return vmh_set_reason(KSFT_SKIP, "userfaultfd unavailable: %s",
				      strerror((int)-advertised));
	if (g->fn)
		return g->fn();
	if (unit_area_alloc(&u, MEM_ANON, g->nr, g->populate, SEED))
		return KSFT_FAIL;
	u.uffd = uffd_wp_range(g->features, u.a.addr, u.a.size, true);
	if (u.uffd < 0)
		ksft_print_msg("set-up failed: %s\n", strerror(-u.uffd));
	ok = u.uffd >= 0 && g->check(&u);
	unit_area_free(&u);
	return ksft_status(ok);
}

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

	for (i = 0; i < ARRAY_SIZE(globals); i++)
		vmh_report(globals[i].name, run_global(&globals[i]));
	for (i = 0; i < ARRAY_SIZE(scenarios); i++)
		run_scenario(&scenarios[i]);

	vmh_finished();
	return 0;
}
