// SPDX-License-Identifier: GPL-2.0
/*
 * The trace: a buffer shared with the parent, so a seed that crashes keeps
 * what it wrote, and the kernel-independent form of what goes in it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include "fuzz.h"

struct trace {
	size_t len;
	bool truncated;
	long ticks;		/* trace_tick(): shared by a seed's processes */
	char data[];
};

static struct trace *trace;

int trace_setup(void)
{
	trace = mmap(NULL, TRACE_CAP, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return trace == MAP_FAILED ? -1 : 0;
}

void trace_reset(void)
{
	trace->len = 0;
	trace->truncated = false;
	trace->ticks = 0;
}

/*
 * Count an event of the seed, in trace order: fork children share the
 * counter, and the parent waits for them, so the Nth event is the Nth in
 * the trace.
 */
long trace_tick(void)
{
	return ++trace->ticks;
}

void tr(const char *fmt, ...)
{
	size_t room = TRACE_CAP - sizeof(*trace) - trace->len;
	va_list ap;
	int n;

	if (trace->truncated)
		return;
	va_start(ap, fmt);
	n = vsnprintf(trace->data + trace->len, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room)
		trace->truncated = true;
	else
		trace->len += n;
}

/*
 * An address as "slot:page[+bytes]" when it lies in the arena. The result
 * lives in a ring of buffers, enough for the addresses of one trace line.
 */
const char *fa(uint64_t addr)
{
	static char ring[8][48];
	static unsigned int next;
	uint64_t base = (uint64_t)(unsigned long)arena, off, pg;
	char *buf = ring[next++ % 8];
	size_t len = sizeof(ring[0]);

	if (addr < base || addr > base + ARENA_SIZE) {
		snprintf(buf, len, "%#llx", (unsigned long long)addr);
		return buf;
	}
	off = addr - base;
	pg = off / PAGE;
	if (off % PAGE)
		snprintf(buf, len, "%llu:%llu+%llu",
			 (unsigned long long)(pg / SLOT_PAGES),
			 (unsigned long long)(pg % SLOT_PAGES),
			 (unsigned long long)(off % PAGE));
	else
		snprintf(buf, len, "%llu:%llu",
			 (unsigned long long)(pg / SLOT_PAGES),
			 (unsigned long long)(pg % SLOT_PAGES));
	return buf;
}

static const char *err_name(int e)
{
	switch (e) {
	case 0: return "ok";
	case EINVAL: return "EINVAL";
	case EFAULT: return "EFAULT";
	case EPERM: return "EPERM";
	case ENOMEM: return "ENOMEM";
	case ENOENT: return "ENOENT";
	case EBUSY: return "EBUSY";
	case EAGAIN: return "EAGAIN";
	case ENOTTY: return "ENOTTY";
	case EEXIST: return "EEXIST";
	case EINTR: return "EINTR";
	case ENOSPC: return "ENOSPC";
	case ESRCH: return "ESRCH";
	default: return NULL;
	}
}

/* The result of a syscall: "ok" or the errno's name. */
const char *res(int ret)
{
	static char buf[32];
	const char *n;

	if (ret == 0)
		return "ok";
	n = err_name(errno);
	if (n)
		return n;
	snprintf(buf, sizeof(buf), "errno%d", errno);
	return buf;
}

/* A resource outside the ABI is missing: the seed is inconclusive. */
int fail_env(const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	tr("end env %s\n", buf);
	return EXIT_ENV;
}

int fail_bug(const char *what)
{
	tr("end error %s: %s\n", what, strerror(errno));
	return EXIT_BUG;
}

/* The trace of @seed, with @end as its last line if given, to its file. */
int write_trace(unsigned long seed, const char *end)
{
	char path[4096];
	size_t off = 0;
	int fd;

	if (end)
		tr("%s\n", end);
	if (trace->truncated) {
		trace->truncated = false;
		trace->len -= trace->len > 64 ? 64 : trace->len;
		tr("\nend error trace longer than %lu bytes\n", TRACE_CAP);
	}
	if (!opt.out)
		return fwrite(trace->data, 1, trace->len, stdout) == trace->len ? 0 : -1;
	snprintf(path, sizeof(path), "%s/seed-%lu.trace", opt.out, seed);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	while (off < trace->len) {
		ssize_t n = write(fd, trace->data + off, trace->len - off);

		if (n <= 0) {
			close(fd);
			return -1;
		}
		off += n;
	}
	return close(fd);
}

/* Count the "op N" entries of a finished trace (for the ops/s figure). */
long count_ops(void)
{
	long n = -1;
	const char *p = trace->data, *end = trace->data + trace->len;
	int k;

	while (p < end) {
		if (sscanf(p, "op %d ", &k) == 1 && k + 1 > n)
			n = k + 1;
		p = memchr(p, '\n', end - p);
		if (!p)
			break;
		p++;
	}
	return n < 0 ? 0 : n;
}
