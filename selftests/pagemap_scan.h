/* SPDX-License-Identifier: GPL-2.0 */
/*
 * PAGEMAP_SCAN and async uffd-wp uapi: from the installed headers when they
 * have it, else these copies of mainline's ABI.
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

/* Mainline 6.4 added these together. */
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED	(1 << 13)
#define UFFDIO_CONTINUE_MODE_WP		((__u64)1 << 1)
#endif

/* Mainline 6.7 added all of these together. */
#ifndef PAGEMAP_SCAN
#define UFFD_FEATURE_WP_ASYNC	(1 << 15)

#define PAGE_IS_WPALLOWED	(1 << 0)
#define PAGE_IS_WRITTEN		(1 << 1)
#define PAGE_IS_FILE		(1 << 2)
#define PAGE_IS_PRESENT		(1 << 3)
#define PAGE_IS_SWAPPED		(1 << 4)
#define PAGE_IS_PFNZERO		(1 << 5)
#define PAGE_IS_HUGE		(1 << 6)
#define PAGE_IS_SOFT_DIRTY	(1 << 7)

#define PM_SCAN_WP_MATCHING	(1 << 0)
#define PM_SCAN_CHECK_WPASYNC	(1 << 1)

struct page_region {
	__u64 start;
	__u64 end;
	__u64 categories;
};

struct pm_scan_arg {
	__u64 size;
	__u64 flags;
	__u64 start;
	__u64 end;
	__u64 walk_end;
	__u64 vec;
	__u64 vec_len;
	__u64 max_pages;
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
 * PAGEMAP_SCAN with these pm_scan_arg fields through @pagemap_fd: the
 * number of regions, or -errno. @walk_end, if set, gets arg.walk_end.
 */
static inline long pagemap_scan(int pagemap_fd, __u64 start, __u64 end,
				struct page_region *vec, __u64 vec_len,
				__u64 flags, __u64 max_pages,
				__u64 category_inverted, __u64 category_mask,
				__u64 category_anyof_mask, __u64 return_mask,
				__u64 *walk_end)
{
	struct pm_scan_arg arg = {
		.size = sizeof(arg), .flags = flags, .start = start, .end = end,
		.vec = (__u64)(unsigned long)vec, .vec_len = vec_len,
		.max_pages = max_pages, .category_inverted = category_inverted,
		.category_mask = category_mask,
		.category_anyof_mask = category_anyof_mask,
		.return_mask = return_mask,
	};
	long ret = ioctl(pagemap_fd, PAGEMAP_SCAN, &arg);

	if (walk_end)
		*walk_end = arg.walk_end;
	return ret < 0 ? -errno : ret;
}

/* An empty scan: 1 if PAGEMAP_SCAN works, 0 if unknown (ENOTTY), or -errno. */
static inline int pagemap_scan_supported(int pagemap_fd)
{
	long ret = pagemap_scan(pagemap_fd, 0, 0, NULL, 0, 0, 0, 0, 0, 0, 0,
				NULL);

	return ret >= 0 ? 1 : ret == -ENOTTY ? 0 : (int)ret;
}

#endif /* __SELFTESTS_PAGEMAP_SCAN_H */
