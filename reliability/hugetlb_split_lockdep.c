// SPDX-License-Identifier: GPL-2.0
/*
 * A reproducer for a lockdep report in linux-source-6.1 6.1.192 itself,
 * without the series: splitting a hugetlb VMA (here mprotect() of one of
 * two huge pages) reaches hugetlb_split() from __vma_adjust() before the
 * file's i_mmap_rwsem is taken, and i_mmap_assert_write_locked() warns
 * ("WARNING: ... at include/linux/fs.h:509 hugetlb_split").  No
 * userfaultfd, no PAGEMAP_SCAN: only mmap and mprotect.
 *
 * Exit status: 0 the split was made, 4 no hugetlb pages, 1 an error.
 * Whether the kernel warned is in its log (dmesg).
 */
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <sys/mman.h>

#define HPAGE (2UL << 20)

int main(void)
{
	char *p = mmap(NULL, 2 * HPAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);

	if (p == MAP_FAILED) {
		printf("mmap MAP_HUGETLB: %s\n", strerror(errno));
		return errno == ENOMEM ? 4 : 1;
	}
	memset(p, 1, 2 * HPAGE);
	if (mprotect(p + HPAGE, HPAGE, PROT_READ)) {
		printf("mprotect: %s\n", strerror(errno));
		return 1;
	}
	printf("split a hugetlb VMA at %p\n", (void *)(p + HPAGE));
	return munmap(p, 2 * HPAGE) ? 1 : 0;
}
