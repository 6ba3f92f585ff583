// SPDX-License-Identifier: GPL-2.0
/*
 * UFFDIO_CONTINUE_MODE_WP (mainline 6.4, with UFFD_FEATURE_WP_UNPOPULATED):
 * a minor fault resolved with it maps the page uffd-wp protected. A shmem or
 * hugetlbfs memfd is mapped twice: one mapping fills the page cache, the
 * other is registered for minor faults and write-protect.
 */
#include "../kselftest.h"
#include "vm_util.h"

#define PATTERN			0x3c
#define NR_CASES		3

static const char * const cases[NR_CASES] = {
	"CONTINUE with MODE_WP maps the page write-protected",
	"the next write is a write-protect fault",
	"MODE_WP on a range not registered for WP is EINVAL",
};

struct memtype {
	const char *name;
	enum mem_type type;
	__u64 minor_feature;
};

static int uffd_continue(int uffd, char *addr, size_t len, __u64 mode)
{
	struct uffdio_continue cont = {
		.range = { .start = (uintptr_t)addr, .len = len },
		.mode = mode,
	};

	return ioctl(uffd, UFFDIO_CONTINUE, &cont) ? -errno : 0;
}

static void test_memtype(const struct memtype *t)
{
	char *fill, *dst;
	const char *why;
	int uffd, ret;
	struct area a;
	size_t ps;

	ret = area_alloc(&a, t->type, 2, false, 0);
	if (ret && ret != VMH_SKIP)
		ksft_exit_fail_msg("%s: %s\n", t->name, vmh_reason);
	uffd = ret ? -1 : uffd_open(t->minor_feature, true);
	if (uffd < 0) {
		why = ret ? vmh_reason : "no minor fault support for this memory";
		skip_cases(t->name, cases, NR_CASES, why);
		area_free(&a);
		return;
	}
	/* Fill the file through a second mapping: dst only sees minor faults. */
	ps = a.psize;
	dst = a.addr;
	fill = mmap(NULL, a.size, PROT_READ | PROT_WRITE, MAP_SHARED, a.fd, 0);
	if (fill == MAP_FAILED)
		ksft_exit_fail_msg("mmap %s: %s\n", t->name, strerror(errno));
	memset(fill, PATTERN, a.size);

	/* Page 0 registered for minor faults and write-protect, page 1 for minor only. */
	if (uffd_register(uffd, dst, ps, UFFDIO_REGISTER_MODE_MINOR | UFFDIO_REGISTER_MODE_WP,
			  NULL) || uffd_register(uffd, dst + ps, ps, UFFDIO_REGISTER_MODE_MINOR, NULL))
		ksft_exit_fail_msg("UFFDIO_REGISTER %s: %s\n", t->name, strerror(errno));
	if (uffd_continue(uffd, dst, ps, UFFDIO_CONTINUE_MODE_WP)) {
		ksft_print_msg("UFFDIO_CONTINUE(MODE_WP): %s\n", strerror(errno));
		ksft_test_result_fail("%s: %s\n", t->name, cases[0]);
		ksft_test_result_skip("%s: %s (the page was not mapped)\n", t->name, cases[1]);
	} else {
		ksft_test_result(pagemap_has(dst, PME_PRESENT | PME_UFFD_WP) &&
				 dst[0] == PATTERN && dst[ps - 1] == PATTERN,
				 "%s: %s\n", t->name, cases[0]);
		ksft_test_result(uffd_write_trapped(uffd, dst, ps, PATTERN + 1) &&
				 dst[0] == PATTERN + 1, "%s: %s\n", t->name, cases[1]);
	}
	ksft_test_result(uffd_continue(uffd, dst + ps, ps, UFFDIO_CONTINUE_MODE_WP) == -EINVAL &&
			 !uffd_continue(uffd, dst + ps, ps, 0), "%s: %s\n", t->name, cases[2]);
	close(uffd);
	munmap(fill, a.size);
	area_free(&a);
}

int main(void)
{
	const struct memtype types[] = {
		{ "shmem", MEM_SHMEM, UFFD_FEATURE_MINOR_SHMEM },
		{ "hugetlb", MEM_HUGETLB_SHARED, UFFD_FEATURE_MINOR_HUGETLBFS },
	};
	int64_t have = uffd_api_features();
	const char *why = have < 0 ? "no userfaultfd" :
		!(have & UFFD_FEATURE_WP_UNPOPULATED) ?
		"no UFFDIO_CONTINUE_MODE_WP: the kernel lacks UFFD_FEATURE_WP_UNPOPULATED, which comes with it" :
		NULL;
	size_t i;

	ksft_print_header();
	ksft_set_plan(NR_CASES * ARRAY_SIZE(types));
	for (i = 0; i < ARRAY_SIZE(types); i++) {
		if (why)
			skip_cases(types[i].name, cases, NR_CASES, why);
		else
			test_memtype(&types[i]);
	}
	vmh_finished();
	return 0;
}
