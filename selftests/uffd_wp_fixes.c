// SPDX-License-Identifier: GPL-2.0
/*
 * Reproducers of three 6.1 uffd-wp bugs the series fixes. Synchronous
 * uffd-wp only: on 6.1 without the fixes every case fails.
 *
 * fork: a child forked without EVENT_FORK keeps the uffd-wp bit of a present
 * hugetlb entry, so its first write retries forever (it runs under an alarm).
 * unshare: a read-only pin (process_vm_readv()) of a protected hugetlb page
 * shared with a child copies it without the uffd-wp bit.
 * unprotect: UFFDIO_WRITEPROTECT without MODE_WP made soft-dirty-tracked
 * shmem PTEs writable, so the next write was not soft-dirty.
 */
#define _GNU_SOURCE
#include <sys/uio.h>
#include "../kselftest.h"
#include "vm_util.h"

#define CHILD_DEADLINE_S	10

#define T_FORK		"hugetlb fork without EVENT_FORK: the child's write completes"
#define T_UNSHARE_BIT	"hugetlb unshare: a read-only pin keeps the uffd-wp bit"
#define T_UNSHARE_TRAP	"hugetlb unshare: the next write is still trapped"
#define T_UNPROTECT	"shmem unprotect with soft-dirty tracking: the next write is soft-dirty"

static const char * const names[] = { T_FORK, T_UNSHARE_BIT, T_UNSHARE_TRAP, T_UNPROTECT };
static size_t hpage;

/* A synchronous uffd-wp context with @addr registered and write-protected. */
static int uffd_wp_protect(char *addr, size_t len)
{
	int uffd = uffd_wp_range(0, addr, len, true);

	if (uffd < 0)
		ksft_exit_fail_msg("uffd-wp set-up: %s\n", strerror(-uffd));
	return uffd;
}

/* A private hugetlb page, written, then registered and write-protected. */
static char *protected_hugetlb_page(int *uffd)
{
	char *p = mmap(NULL, hpage, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);

	if (p == MAP_FAILED)
		ksft_exit_fail_msg("mmap(MAP_HUGETLB): %s\n", strerror(errno));
	memset(p, 0x5a, hpage);
	*uffd = uffd_wp_protect(p, hpage);
	if (!(pagemap_entry(p) & PME_UFFD_WP))
		ksft_exit_fail_msg("UFFDIO_WRITEPROTECT set no uffd-wp bit\n");
	return p;
}

static void test_fork_child_writes(void)
{
	int uffd;
	char *p = protected_hugetlb_page(&uffd);
	struct peer child;

	peer_fork(&child);
	if (!child.pid) {
		alarm(CHILD_DEADLINE_S);
		*(volatile char *)p = 1;
		child_exit(ksft_status(p[0] == 1));
	}
	ksft_test_result(peer_wait(&child, "the child's write (SIGALRM: never completed)") ==
			 KSFT_PASS, "%s\n", T_FORK);
	close(uffd);
	munmap(p, hpage);
}

static void test_unshare_keeps_protection(void)
{
	int uffd;
	char buf[64], *p = protected_hugetlb_page(&uffd);
	struct iovec local = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct iovec remote = { .iov_base = p, .iov_len = sizeof(buf) };
	struct peer child;

	peer_fork(&child);
	if (!child.pid) {
		/* Keep the page shared with the parent until it is done. */
		peer_recv(&child);
		child_exit(KSFT_PASS);
	}
	if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != sizeof(buf)) {
		if (errno == ENOSYS) {
			ksft_test_result_skip("%s (no process_vm_readv: CONFIG_CROSS_MEMORY_ATTACH is off)\n",
					      T_UNSHARE_BIT);
			ksft_test_result_skip("%s (no read-only pin to test with)\n",
					      T_UNSHARE_TRAP);
			goto out;
		}
		ksft_exit_fail_msg("process_vm_readv: %s\n", strerror(errno));
	}
	if (buf[0] != 0x5a || buf[sizeof(buf) - 1] != 0x5a)
		ksft_exit_fail_msg("process_vm_readv read the wrong data\n");

	ksft_test_result(pagemap_entry(p) & PME_UFFD_WP, "%s\n", T_UNSHARE_BIT);
	ksft_test_result(uffd_write_trapped(uffd, p, hpage, 2), "%s\n", T_UNSHARE_TRAP);
out:
	peer_wait(&child, "the child sharing the page");
	close(uffd);
	munmap(p, hpage);
}

static void test_unprotect_keeps_write_notify(void)
{
	char *p = mmap(NULL, psize(), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int uffd;

	if (p == MAP_FAILED)
		ksft_exit_fail_msg("mmap(MAP_SHARED): %s\n", strerror(errno));
	p[0] = 1;
	if (!(pagemap_entry(p) & PME_SOFT_DIRTY)) {
		ksft_test_result_skip("%s (no soft-dirty bits: CONFIG_MEM_SOFT_DIRTY is off)\n",
				      T_UNPROTECT);
		goto out;
	}
	clear_softdirty();
	if (pagemap_entry(p) & PME_SOFT_DIRTY)
		ksft_exit_fail_msg("clear_refs left the soft-dirty bit set\n");

	uffd = uffd_wp_protect(p, psize());
	if (uffd_wp(uffd, p, psize(), false))
		ksft_exit_fail_msg("UFFDIO_WRITEPROTECT(unprotect): %s\n",
				   strerror(errno));
	p[0] = 2;
	ksft_test_result(pagemap_entry(p) & PME_SOFT_DIRTY, "%s\n", T_UNPROTECT);
	close(uffd);
out:
	munmap(p, psize());
}

int main(void)
{
	int64_t features;

	ksft_print_header();
	ksft_set_plan(4);

	features = uffd_api_features();
	if (features < 0 || !(features & UFFD_FEATURE_WP_HUGETLBFS_SHMEM)) {
		skip_cases("", names, 4, features < 0 ? "no userfaultfd" :
			   "no uffd-wp for shmem and hugetlbfs (UFFD_FEATURE_WP_HUGETLBFS_SHMEM)");
		goto out;
	}
	hpage = hugetlb_size();
	if (hpage && !hugetlb_ensure(2)) {
		test_fork_child_writes();
		test_unshare_keeps_protection();
	} else {
		skip_cases("", names, 3,
			   "no hugetlb pages (hugetlbfs absent, or nr_hugepages cannot be raised)");
	}
	test_unprotect_keeps_write_notify();
out:
	vmh_finished();
	return 0;
}
