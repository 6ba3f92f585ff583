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
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include "bench.h"

static struct {
	const struct region *r;
	unsigned char *hit;
	struct sigaction old;
	bool installed;
} s;

static void mp_fini(void);

static void mp_segv(int sig, siginfo_t *si, void *uc)
{
	static const char msg[] = "mprotect tracker: mprotect in the SIGSEGV handler failed\n";
	const struct region *r = s.r;
	char *a = si->si_addr;
	size_t u;

	if (!r || a < r->addr || a >= r->addr + r->size) {
		/* Not ours: let the default action run on the retried access. */
		sigaction(SIGSEGV, &s.old, NULL);
		return;
	}
	u = (size_t)(a - r->addr) / r->unit;
	s.hit[u] = 1;
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

	s.r = r;
	s.hit = calloc(r->nr_units, 1);
	if (!s.hit)
		return set_reason(B_ERR, "out of memory");
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &s.old)) {
		mp_fini();
		return set_reason(B_ERR, "sigaction: %s", strerror(errno));
	}
	s.installed = true;
	if (mprotect(r->addr, r->size, PROT_READ)) {
		mp_fini();
		return set_reason(B_ERR, "mprotect(PROT_READ): %s", strerror(errno));
	}
	return B_OK;
}

static long mp_collect(size_t *units, size_t max)
{
	const struct region *r = s.r;
	size_t u, n = 0;

	for (u = 0; u < r->nr_units; u++) {
		if (!s.hit[u])
			continue;
		s.hit[u] = 0;
		if (n == max)
			return set_reason(B_ERR, "more than %zu units written", max);
		units[n++] = u;
	}
	if (mprotect(r->addr, r->size, PROT_READ))
		return set_reason(B_ERR, "mprotect(PROT_READ): %s", strerror(errno));
	return (long)n;
}

static void mp_fini(void)
{
	if (s.r)
		mprotect(s.r->addr, s.r->size, PROT_READ | PROT_WRITE);
	if (s.installed)
		sigaction(SIGSEGV, &s.old, NULL);
	s.installed = false;
	free(s.hit);
	s.hit = NULL;
	s.r = NULL;
}

const struct tracker tracker_mprotect = {
	.name = "mprotect",
	.desc = "mprotect(PROT_READ) + SIGSEGV handler",
	.init = mp_init,
	.collect = mp_collect,
	.fini = mp_fini,
};
