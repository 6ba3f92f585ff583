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
	const struct region *r;
	int uffd;
	int stop[2];		/* a pipe: writing to it ends the handler */
	unsigned char *hit;
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
	const struct region *r = s.r;
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
			s.hit[u] = 1;
			/* Unprotecting wakes the faulting thread. */
			ret = uffd_wp_range(s.uffd, r->addr + u * r->unit,
					    r->unit, false);
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

	s.r = r;
	s.hit = calloc(r->nr_units, 1);
	if (!s.hit)
		return set_reason(B_ERR, "out of memory");
	s.uffd = uffd_open(uffd_wp_features(r->kind), true);
	if (s.uffd < 0) {
		ret = set_reason(B_NA, "UFFDIO_API for uffd-wp on %s memory: %s",
				 mem_kind_name(r->kind), strerror(-s.uffd));
		goto err;
	}
	ret = uffd_register_wp(s.uffd, r->addr, r->size);
	if (ret) {
		ret = set_reason(B_NA, "UFFDIO_REGISTER (WP) of %s memory: %s",
				 mem_kind_name(r->kind), strerror(-ret));
		goto err;
	}
	ret = uffd_wp_range(s.uffd, r->addr, r->size, true);
	if (ret) {
		ret = set_reason(B_ERR, "UFFDIO_WRITEPROTECT: %s", strerror(-ret));
		goto err;
	}
	if (pipe(s.stop)) {
		ret = set_reason(B_ERR, "pipe: %s", strerror(errno));
		goto err;
	}
	ret = pthread_create(&s.thread, NULL, ws_handler, NULL);
	if (ret) {
		ret = set_reason(B_ERR, "pthread_create: %s", strerror(ret));
		goto err;
	}
	s.running = true;
	return B_OK;
err:
	ws_fini();
	return ret;
}

static long ws_collect(size_t *units, size_t max)
{
	const struct region *r = s.r;
	size_t u, first, n = 0;
	int ret;

	for (u = 0; u < r->nr_units; u++) {
		if (!s.hit[u])
			continue;
		/* Protect each run of written units with one call. */
		for (first = u; u < r->nr_units && s.hit[u]; u++) {
			s.hit[u] = 0;
			if (n == max)
				return set_reason(B_ERR, "more than %zu units written",
						  max);
			units[n++] = u;
		}
		ret = uffd_wp_range(s.uffd, r->addr + first * r->unit,
				    (u - first) * r->unit, true);
		if (ret)
			return set_reason(B_ERR, "UFFDIO_WRITEPROTECT: %s",
					  strerror(-ret));
	}
	return (long)n;
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
	free(s.hit);
	s.hit = NULL;
}

const struct tracker tracker_uffd_wp_sync = {
	.name = "uffd_wp_sync",
	.desc = "synchronous uffd-wp, a handler thread unprotecting each page",
	.init = ws_init,
	.collect = ws_collect,
	.fini = ws_fini,
};
