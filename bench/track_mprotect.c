// SPDX-License-Identifier: GPL-2.0
/*
 * Write tracking with mprotect() and SIGSEGV, as Wine does where the kernel
 * offers nothing better.
 *
 * The region is made read-only; the first write to a unit faults, and the
 * signal handler notes the unit and makes it writable again. Collecting
 * walks the notes (a byte per unit, so the answer comes out in address
 * order) and protects the whole region again with one mprotect(), which
 * also merges the VMAs the handler split back into one.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include "bench.h"

static struct sigaction old;
static bool installed;

static void mp_fini(void);

static void mp_segv(int sig, siginfo_t *si, void *uc)
{
	static const char msg[] = "mprotect tracker: mprotect in the SIGSEGV handler failed\n";
	const struct region *r = track_region;
	char *a = si->si_addr;
	size_t u;

	if (!r || a < r->addr || a >= r->addr + r->size) {
		/* Not ours: let the default action run on the retried access. */
		sigaction(SIGSEGV, &old, NULL);
		return;
	}
	u = (size_t)(a - r->addr) / r->unit;
	track_hits[u] = 1;
	if (mprotect(r->addr + u * r->unit, r->unit, PROT_READ | PROT_WRITE)) {
		/* ENOMEM: more VMAs than vm.max_map_count allows. */
		if (write(2, msg, sizeof(msg) - 1) < 0)
			_exit(3);
		_exit(3);
	}
}

static int mp_init(const struct region *r)
{
	struct sigaction sa = {
		.sa_sigaction = mp_segv,
		.sa_flags = SA_SIGINFO,
	};

	if (track_hits_init(r))
		return B_ERR;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &old)) {
		mp_fini();
		return vmh_set_reason(B_ERR, "sigaction: %s", strerror(errno));
	}
	installed = true;
	if (mprotect(r->addr, r->size, PROT_READ)) {
		mp_fini();
		return vmh_set_reason(B_ERR, "mprotect(PROT_READ): %s", strerror(errno));
	}
	return B_OK;
}

static long mp_collect(size_t *units, size_t max)
{
	const struct region *r = track_region;
	long n = track_hits_collect(units, max, NULL);

	if (n >= 0 && mprotect(r->addr, r->size, PROT_READ))
		return vmh_set_reason(B_ERR, "mprotect(PROT_READ): %s", strerror(errno));
	return n;
}

static void mp_fini(void)
{
	if (track_region)
		mprotect(track_region->addr, track_region->size,
			 PROT_READ | PROT_WRITE);
	if (installed)
		sigaction(SIGSEGV, &old, NULL);
	installed = false;
	track_hits_fini();
}

DEFINE_TRACKER(tracker_mprotect, mp, "mprotect",
	       "mprotect(PROT_READ) + SIGSEGV handler");
