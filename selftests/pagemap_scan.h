/* SPDX-License-Identifier: GPL-2.0 */
/*
 * PAGEMAP_SCAN and asynchronous uffd-wp uapi for the selftests.
 *
 * The definitions come from <linux/fs.h> and <linux/userfaultfd.h> when the
 * headers are new enough (a tree with the series after headers_install, or a
 * mainline 6.7+ system); otherwise the copies below, which carry mainline's
 * ABI, fill the gaps.
 */
#ifndef __SELFTESTS_PAGEMAP_SCAN_H
#define __SELFTESTS_PAGEMAP_SCAN_H

#include <errno.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <linux/types.h>
#include <linux/ioctl.h>
#include <linux/fs.h>
#include <linux/userfaultfd.h>

#ifndef UFFD_FEATURE_WP_HUGETLBFS_SHMEM
#define UFFD_FEATURE_WP_HUGETLBFS_SHMEM	(1 << 12)
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED	(1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC		(1 << 15)
#endif

/*
 * Mainline added the categories, the flags, the structures and the ioctl
 * number together (6.7): a header has all of them or none.
 */
#ifndef PAGEMAP_SCAN
/* Page categories: pm_scan_arg masks and page_region.categories. */
#define PAGE_IS_WPALLOWED	(1 << 0)
#define PAGE_IS_WRITTEN		(1 << 1)
#define PAGE_IS_FILE		(1 << 2)
#define PAGE_IS_PRESENT		(1 << 3)
#define PAGE_IS_SWAPPED		(1 << 4)
#define PAGE_IS_PFNZERO		(1 << 5)
#define PAGE_IS_HUGE		(1 << 6)
#define PAGE_IS_SOFT_DIRTY	(1 << 7)

/* pm_scan_arg.flags */
#define PM_SCAN_WP_MATCHING	(1 << 0)
#define PM_SCAN_CHECK_WPASYNC	(1 << 1)

/* One output region, [start, end). */
struct page_region {
	__u64 start;
	__u64 end;
	__u64 categories;
};

struct pm_scan_arg {
	__u64 size;			/* sizeof(struct pm_scan_arg) */
	__u64 flags;			/* PM_SCAN_* */
	__u64 start;			/* [start, end) to scan */
	__u64 end;
	__u64 walk_end;			/* out: where the walk stopped */
	__u64 vec;			/* struct page_region array */
	__u64 vec_len;
	__u64 max_pages;		/* 0: no limit */
	__u64 category_inverted;
	__u64 category_mask;
	__u64 category_anyof_mask;
	__u64 return_mask;
};

#define PAGEMAP_SCAN	_IOWR('f', 16, struct pm_scan_arg)
#endif /* PAGEMAP_SCAN */

/* The categories this series knows: bits 0..7. */
#define PM_SCAN_KNOWN_CATEGORIES	0xffULL

/*
 * pagemap_scan - fill a struct pm_scan_arg and issue PAGEMAP_SCAN
 * @pagemap_fd:	an open /proc/<pid>/pagemap
 * @walk_end:	if not NULL, receives pm_scan_arg.walk_end as the kernel left
 *		it (it is set to 0 before the call, so a kernel that did not
 *		write it back is visible)
 *
 * The other arguments are the pm_scan_arg fields of the same name.
 *
 * Return: the ioctl's return value (the number of regions written to @vec)
 * on success, or -errno on failure; errno is left as the ioctl set it.
 */
static inline long pagemap_scan(int pagemap_fd, __u64 start, __u64 end,
				struct page_region *vec, __u64 vec_len,
				__u64 flags, __u64 max_pages,
				__u64 category_inverted, __u64 category_mask,
				__u64 category_anyof_mask, __u64 return_mask,
				__u64 *walk_end)
{
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.flags = flags,
		.start = start,
		.end = end,
		.walk_end = 0,
		.vec = (__u64)(unsigned long)vec,
		.vec_len = vec_len,
		.max_pages = max_pages,
		.category_inverted = category_inverted,
		.category_mask = category_mask,
		.category_anyof_mask = category_anyof_mask,
		.return_mask = return_mask,
	};
	long ret;

	ret = ioctl(pagemap_fd, PAGEMAP_SCAN, &arg);
	if (walk_end)
		*walk_end = arg.walk_end;
	return ret < 0 ? -errno : ret;
}

/*
 * pagemap_scan_supported - does this kernel implement PAGEMAP_SCAN?
 * @pagemap_fd:	an open /proc/<pid>/pagemap
 *
 * Issues an empty scan ([0, 0), no output array), which a kernel with the
 * ioctl accepts and answers with 0.
 *
 * Return: 1 if supported, 0 if the ioctl is unknown (ENOTTY: a kernel
 * without the series), -errno if the probe failed in another way.
 */
static inline int pagemap_scan_supported(int pagemap_fd)
{
	long ret = pagemap_scan(pagemap_fd, 0, 0, NULL, 0, 0, 0, 0, 0, 0, 0,
				NULL);

	if (ret >= 0)
		return 1;
	if (ret == -ENOTTY)
		return 0;
	return (int)ret;
}

#endif /* __SELFTESTS_PAGEMAP_SCAN_H */
