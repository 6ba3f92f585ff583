#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>
#include <linux/userfaultfd.h>
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#define SZ (4UL << 20)
static char *map2m(int fd)
{
	char *p = mmap(NULL, SZ * 2, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *a = (char *)(((unsigned long)p + (2UL << 20) - 1) & ~((2UL << 20) - 1));
	return mmap(a, SZ, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
}
int main(int argc, char **argv)
{
	int reg = argc > 1 && atoi(argv[1]);
	int fd = memfd_create("c", 0);
	ftruncate(fd, SZ);
	char *a = map2m(fd), *b = map2m(fd);
	if (reg) {
		int u = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
		struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_MINOR_SHMEM };
		if (ioctl(u, UFFDIO_API, &api)) { perror("api"); return 1; }
		struct uffdio_register r = { .range = { (unsigned long)b, SZ }, .mode = UFFDIO_REGISTER_MODE_MINOR };
		if (ioctl(u, UFFDIO_REGISTER, &r)) { perror("reg"); return 1; }
	}
	memset(a, 1, SZ);
	int ret;
	if (argc > 2) {
		for (unsigned long i = 0; i < SZ; i += 4096)
			ret += b[i];
	} else {
		ret = madvise(b, SZ, MADV_COLLAPSE);
		printf("reg=%d collapse(b)=%d errno=%d %s\n", reg, ret, ret ? errno : 0, ret ? strerror(errno) : "");
	}
	ret = madvise(a, SZ, MADV_COLLAPSE);
	printf("reg=%d collapse(a)=%d errno=%d %s\n", reg, ret, ret ? errno : 0, ret ? strerror(errno) : "");
	return 0;
}
