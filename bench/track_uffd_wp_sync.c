// SPDX-License-Identifier: GPL-2.0
/*
 * Write tracking with synchronous uffd-wp: the way before WP_ASYNC.
 *
 * The region is registered for uffd-wp and protected. A write blocks the
 * writing thread and queues a message on the userfaultfd; a handler thread
 * reads it, notes the unit, and unprotects the unit with
 * UFFDIO_WRITEPROTECT, which also wakes the writer. Collecting walks the
 * notes and protects each run of written units again.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bench.h"

static struct {
	int uffd;
	int stop[2];		/* a pipe: writing to it ends the handler */
	pthread_t thread;
	bool running;
} s = { .uffd = -1, .stop = { -1, -1 } };

static void ws_fini(void);

static void *ws_handler(void *arg)
{
	struct pollfd pfd[2] = {
		{ .fd = s.uffd, .events = POLLIN },
		{ .fd = s.stop[0], .events = POLLIN },
	};
	const struct region *r = track_region;
	struct uffd_msg msg[64];
	ssize_t n, i;
	size_t u;
	int ret;

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("uffd-wp handler: poll");
			exit(3);
		}
		if (pfd[1].revents)
			return NULL;
		n = read(s.uffd, msg, sizeof(msg));
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			perror("uffd-wp handler: read");
			exit(3);
		}
		for (i = 0; i < n / (ssize_t)sizeof(msg[0]); i++) {
			if (msg[i].event != UFFD_EVENT_PAGEFAULT ||
			    !(msg[i].arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP)) {
				fprintf(stderr, "uffd-wp handler: unexpected event %u\n",
					msg[i].event);
				exit(3);
			}
			u = (size_t)((char *)(unsigned long)msg[i].arg.pagefault.address -
				     r->addr) / r->unit;
			track_hits[u] = 1;
			/* Unprotecting wakes the faulting thread. */
			ret = uffd_wp(s.uffd, r->addr + u * r->unit, r->unit, false);
			if (ret) {
				fprintf(stderr, "uffd-wp handler: UFFDIO_WRITEPROTECT: %s\n",
					strerror(-ret));
				exit(3);
			}
		}
	}
}

static int ws_init(const struct region *r)
{
	int ret;

	if (track_hits_init(r))
		return B_ERR;
	s.uffd = track_uffd_init(r, false, &ret);
	if (s.uffd < 0)
		goto err;
	if (pipe(s.stop)) {
		ret = vmh_set_reason(B_ERR, "pipe: %s", strerror(errno));
		goto err;
	}
	ret = pthread_create(&s.thread, NULL, ws_handler, NULL);
	if (ret) {
		ret = vmh_set_reason(B_ERR, "pthread_create: %s", strerror(ret));
		goto err;
	}
	s.running = true;
	return B_OK;
err:
	ws_fini();
	return ret;
}

/* Protect a run of written units again with one call. */
static int ws_rearm(size_t first, size_t n)
{
	const struct region *r = track_region;
	int ret = uffd_wp(s.uffd, r->addr + first * r->unit, n * r->unit, true);

	return ret ? vmh_set_reason(B_ERR, "UFFDIO_WRITEPROTECT: %s", strerror(-ret)) : 0;
}

static long ws_collect(size_t *units, size_t max)
{
	return track_hits_collect(units, max, ws_rearm);
}

static void ws_fini(void)
{
	if (s.running) {
		if (write(s.stop[1], "x", 1) != 1)
			perror("uffd-wp handler: stop");
		pthread_join(s.thread, NULL);
	}
	s.running = false;
	if (s.stop[0] >= 0) {
		close(s.stop[0]);
		close(s.stop[1]);
	}
	s.stop[0] = -1;
	s.stop[1] = -1;
	if (s.uffd >= 0)
		close(s.uffd);
	s.uffd = -1;
	track_hits_fini();
}

DEFINE_TRACKER(tracker_uffd_wp_sync, ws, "uffd_wp_sync",
	       "synchronous uffd-wp, a handler thread unprotecting each page");
