/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The page-cache file memory type of the reliability programs and the
 * differential tester: a file on a filesystem whose pages live in the page
 * cache (ext4, xfs, 9p, ...), in $PMSCAN_PAGECACHE_DIR, else the current
 * directory. tmpfs is refused (its files are shmem, another memory type),
 * and so is hugetlbfs.
 */
#ifndef __RELIABILITY_PAGECACHE_H
#define __RELIABILITY_PAGECACHE_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/vfs.h>

#define PAGECACHE_ENV		"PMSCAN_PAGECACHE_DIR"
#define PAGECACHE_TMPFS		0x01021994
#define PAGECACHE_HUGETLBFS	0x958458f6

/*
 * The directory for page-cache files, or NULL with the reason (and what
 * to do) in @why.
 */
static inline const char *pagecache_dir(char *why, size_t len)
{
	const char *env = getenv(PAGECACHE_ENV);
	const char *dir = env && *env ? env : ".";
	const char *named = env && *env ? PAGECACHE_ENV : "the current directory";
	struct statfs sfs;

	if (statfs(dir, &sfs)) {
		snprintf(why, len, "page-cache directory %s (%s): %s", dir, named,
			 strerror(errno));
		return NULL;
	}
	if (sfs.f_type == PAGECACHE_TMPFS || sfs.f_type == (typeof(sfs.f_type))PAGECACHE_HUGETLBFS) {
		snprintf(why, len, "page-cache directory %s (%s) is on %s: set "
			 PAGECACHE_ENV " to a directory on a disk filesystem", dir, named,
			 sfs.f_type == PAGECACHE_TMPFS ? "tmpfs" : "hugetlbfs");
		return NULL;
	}
	return dir;
}

/*
 * A new file of @bytes in @dir, gone from the directory at once
 * (O_TMPFILE, else a named file unlinked); an fd or -1 with errno set.
 * The named file is sized before it is unlinked: QEMU's 9p server
 * resolves a truncate by path, so an unlinked file there cannot be sized.
 */
static inline int pagecache_file(const char *dir, size_t bytes)
{
	char path[4096] = "";
	int fd, err;

	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(path, sizeof(path), "%s/pmscan-pagecache.XXXXXX", dir);
		fd = mkostemp(path, O_CLOEXEC);
		if (fd < 0)
			return -1;
	}
	if (ftruncate(fd, bytes)) {
		err = errno;
		close(fd);
		if (path[0])
			unlink(path);
		errno = err;
		return -1;
	}
	if (path[0])
		unlink(path);
	return fd;
}

#endif /* __RELIABILITY_PAGECACHE_H */
