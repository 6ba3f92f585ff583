// SPDX-License-Identifier: GPL-2.0
/*
 * UFFDIO_CONTINUE_MODE_WP: resolving a minor fault with UFFDIO_CONTINUE can
 * map the page write-protected with uffd-wp, so that a monitor that fills a
 * range through minor faults also sees its first write.  Mainline has it
 * since 6.4, together with UFFD_FEATURE_WP_UNPOPULATED, which clients take
 * as the sign that it exists.
 *
 * For shmem and hugetlbfs, a memfd is mapped twice: one mapping fills the
 * page cache, the other is registered for minor faults and write-protect.
 * UFFDIO_CONTINUE with MODE_WP must map the page with the uffd-wp bit
 * (pagemap bit 57) and its data, the next write must be a write-protect
 * fault, and MODE_WP on a range registered without MODE_WP is EINVAL.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/memfd.h>
#include <linux/userfaultfd.h>
#include "../kselftest.h"

#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED	(1 << 13)
#endif
#ifndef UFFDIO_CONTINUE_MODE_WP
#define UFFDIO_CONTINUE_MODE_WP		((__u64)1 << 1)
#endif

#define PM_PRESENT		(1ULL << 63)
#define PM_UFFD_WP		(1ULL << 57)
#define FAULT_DEADLINE_MS	3000
#define PATTERN			0x3c
#define NR_CASES		3

struct memtype {
	const char *name;
	unsigned int memfd_flags;
	__u64 minor_feature;
	size_t psize;
};

static int pagemap_fd = -1;

static size_t hugetlb_page_size(void)
{
	char line[128];
	size_t kb = 0;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Hugepagesize: %zu kB", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}

/* Raise nr_hugepages so that @nr more pages are free; 0 on success. */
static int hugetlb_reserve(unsigned long nr)
{
	unsigned long total = 0, free_pages = 0;
	char line[128];
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "HugePages_Total: %lu", &total);
		sscanf(line, "HugePages_Free: %lu", &free_pages);
	}
	fclose(f);
	if (free_pages >= nr)
		return 0;
	f = fopen("/proc/sys/vm/nr_hugepages", "w");
	if (!f)
		return -1;
	fprintf(f, "%lu\n", total + nr - free_pages);
	return fclose(f) ? -1 : 0;
}

static uint64_t pagemap_entry(void *addr)
{
	uint64_t entry = 0;
	off_t off = (uintptr_t)addr / getpagesize() * sizeof(entry);

	if (pread(pagemap_fd, &entry, sizeof(entry), off) != sizeof(entry))
		ksft_exit_fail_msg("pread(pagemap): %s\n", strerror(errno));
	return entry;
}

static int uffd_open(__u64 features, __u64 *have)
{
	struct uffdio_api api = { .api = UFFD_API, .features = features };
	int uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (uffd < 0)
		return -1;
	if (ioctl(uffd, UFFDIO_API, &api)) {
		close(uffd);
		return -1;
	}
	if (have)
		*have = api.features;
	return uffd;
}

static int uffd_continue(int uffd, char *addr, size_t len, __u64 mode)
{
	struct uffdio_continue cont = {
		.range = { .start = (uintptr_t)addr, .len = len },
		.mode = mode,
	};

	return ioctl(uffd, UFFDIO_CONTINUE, &cont) ? -errno : 0;
}

struct writer {
	char *addr;
};

static void *write_page(void *arg)
{
	struct writer *w = arg;

	*(volatile char *)w->addr = PATTERN + 1;
	return NULL;
}

/* A write to @p must queue a write-protect message; resolve it either way. */
static int write_is_trapped(int uffd, char *p, size_t psize)
{
	struct writer w = { .addr = p };
	struct pollfd pfd = { .fd = uffd, .events = POLLIN };
	struct uffdio_writeprotect wp = {
		.range = { .start = (uintptr_t)p, .len = psize },
	};
	struct uffd_msg msg;
	pthread_t thread;
	int trapped = 0;

	if (pthread_create(&thread, NULL, write_page, &w))
		ksft_exit_fail_msg("pthread_create failed\n");
	if (poll(&pfd, 1, FAULT_DEADLINE_MS) == 1 &&
	    read(uffd, &msg, sizeof(msg)) == sizeof(msg))
		trapped = msg.event == UFFD_EVENT_PAGEFAULT &&
			  (msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP);
	else
		ksft_print_msg("no write-protect message for the write\n");
	if (ioctl(uffd, UFFDIO_WRITEPROTECT, &wp))
		ksft_exit_fail_msg("UFFDIO_WRITEPROTECT(unprotect): %s\n",
				   strerror(errno));
	pthread_join(thread, NULL);
	return trapped && p[0] == PATTERN + 1;
}

static void skip_all(const struct memtype *t, const char *why)
{
	ksft_test_result_skip("%s: CONTINUE with MODE_WP maps the page write-protected (%s)\n",
			      t->name, why);
	ksft_test_result_skip("%s: the next write is a write-protect fault (%s)\n",
			      t->name, why);
	ksft_test_result_skip("%s: MODE_WP on a range not registered for WP is EINVAL (%s)\n",
			      t->name, why);
}

static void test_memtype(const struct memtype *t)
{
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MINOR };
	char *fill, *dst;
	__u64 have;
	int fd, uffd;

	if (!t->psize) {
		skip_all(t, "no hugetlbfs");
		return;
	}
	uffd = uffd_open(t->minor_feature, &have);
	if (uffd < 0) {
		skip_all(t, "no minor fault support for this memory");
		return;
	}
	fd = memfd_create(t->name, t->memfd_flags);
	if (fd < 0 || ftruncate(fd, 2 * t->psize))
		ksft_exit_fail_msg("memfd %s: %s\n", t->name, strerror(errno));
	fill = mmap(NULL, 2 * t->psize, PROT_READ | PROT_WRITE, MAP_SHARED,
		    fd, 0);
	dst = mmap(NULL, 2 * t->psize, PROT_READ | PROT_WRITE, MAP_SHARED,
		   fd, 0);
	if (fill == MAP_FAILED || dst == MAP_FAILED)
		ksft_exit_fail_msg("mmap %s: %s\n", t->name, strerror(errno));
	memset(fill, PATTERN, 2 * t->psize);

	/* Page 0 in a range registered for minor faults and write-protect. */
	reg.range.start = (uintptr_t)dst;
	reg.range.len = t->psize;
	reg.mode |= UFFDIO_REGISTER_MODE_WP;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg))
		ksft_exit_fail_msg("UFFDIO_REGISTER(MINOR|WP) %s: %s\n", t->name,
				   strerror(errno));
	if (uffd_continue(uffd, dst, t->psize, UFFDIO_CONTINUE_MODE_WP)) {
		ksft_print_msg("UFFDIO_CONTINUE(MODE_WP): %s\n", strerror(errno));
		ksft_test_result_fail("%s: CONTINUE with MODE_WP maps the page write-protected\n",
				      t->name);
		ksft_test_result_skip("%s: the next write is a write-protect fault (the page was not mapped)\n",
				      t->name);
	} else {
		uint64_t e = pagemap_entry(dst);

		ksft_test_result((e & PM_PRESENT) && (e & PM_UFFD_WP) &&
				 dst[0] == PATTERN &&
				 dst[t->psize - 1] == PATTERN,
				 "%s: CONTINUE with MODE_WP maps the page write-protected\n",
				 t->name);
		ksft_test_result(write_is_trapped(uffd, dst, t->psize),
				 "%s: the next write is a write-protect fault\n",
				 t->name);
	}

	/* Page 1 registered for minor faults only. */
	reg.range.start = (uintptr_t)dst + t->psize;
	reg.mode = UFFDIO_REGISTER_MODE_MINOR;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg))
		ksft_exit_fail_msg("UFFDIO_REGISTER(MINOR) %s: %s\n", t->name,
				   strerror(errno));
	ksft_test_result(uffd_continue(uffd, dst + t->psize, t->psize,
				       UFFDIO_CONTINUE_MODE_WP) == -EINVAL &&
			 !uffd_continue(uffd, dst + t->psize, t->psize, 0),
			 "%s: MODE_WP on a range not registered for WP is EINVAL\n",
			 t->name);

	close(uffd);
	munmap(fill, 2 * t->psize);
	munmap(dst, 2 * t->psize);
	close(fd);
}

int main(void)
{
	struct memtype types[] = {
		{ "shmem", 0, UFFD_FEATURE_MINOR_SHMEM, getpagesize() },
		{ "hugetlb", MFD_HUGETLB, UFFD_FEATURE_MINOR_HUGETLBFS,
		  hugetlb_page_size() },
	};
	__u64 have = 0;
	int uffd;

	ksft_print_header();
	ksft_set_plan(NR_CASES * 2);

	uffd = uffd_open(0, &have);
	if (uffd < 0 || !(have & UFFD_FEATURE_WP_UNPOPULATED)) {
		const char *why = uffd < 0 ? "no userfaultfd" :
			"no UFFDIO_CONTINUE_MODE_WP: the kernel lacks UFFD_FEATURE_WP_UNPOPULATED, which comes with it";

		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			skip_all(&types[i], why);
		goto out;
	}
	close(uffd);
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
	if (pagemap_fd < 0)
		ksft_exit_fail_msg("open(/proc/self/pagemap): %s\n", strerror(errno));
	if (types[1].psize && hugetlb_reserve(2))
		types[1].psize = 0;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		test_memtype(&types[i]);
out:
	if (ksft_get_fail_cnt())
		ksft_exit_fail();
	if (!ksft_get_pass_cnt()) {
		/* Every case skipped: say so to the kselftest runner too. */
		ksft_print_cnts();
		exit(KSFT_SKIP);
	}
	ksft_exit_pass();
}
