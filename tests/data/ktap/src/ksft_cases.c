// SPDX-License-Identifier: GPL-2.0
/*
 * Prints the KTAP of one kselftest.h scenario, chosen by the name the
 * program is run as (capture.sh makes one link per scenario), so that the
 * parser's test data is real kselftest.h output rather than typed by hand.
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <libgen.h>

#include "../kselftest.h"

static void all_passed(void)
{
	ksft_print_header();
	ksft_set_plan(3);
	ksft_print_msg("mapping 16 pages of anonymous memory\n");
	ksft_test_result_pass("anon: clear then write\n");
	ksft_test_result_pass("anon: write then clear\n");
	ksft_test_result_pass("anon: unpopulated range\n");
	ksft_finished();
}

static void skips(void)
{
	ksft_print_header();
	ksft_set_plan(5);
	ksft_test_result_pass("anon: written pages reported\n");
	ksft_test_result_skip("hugetlb: no free hugepages (nr_hugepages is 0)\n");
	ksft_test_result_pass("shmem: written pages reported\n");
	ksft_print_msg("THP disabled in /sys/kernel/mm/transparent_hugepage/enabled\n");
	ksft_test_result_skip("thp: transparent hugepages are disabled\n");
	ksft_test_result_pass("file: written pages reported\n");
	ksft_finished();
}

static void failure(void)
{
	ksft_print_header();
	ksft_set_plan(4);
	ksft_test_result_pass("anon: clear then write\n");
	ksft_print_msg("page 3: expected PAGE_IS_WRITTEN, got flags 0x0\n");
	ksft_print_msg("ioctl returned 2, expected 4 regions\n");
	ksft_test_result_fail("anon: written pages reported\n");
	ksft_test_result_pass("anon: unpopulated range\n");
	ksft_test_result_error("hugetlb: mmap failed: %s\n", strerror(ENOMEM));
	ksft_finished();
}

static void xfail(void)
{
	ksft_print_header();
	ksft_set_plan(3);
	ksft_test_result_pass("pagemap readable\n");
	ksft_test_result_xfail("zero page reported as written (known 6.1 limitation)\n");
	ksft_test_result_pass("pagemap ioctl rejects bad flags\n");
	ksft_finished();
}

static void bail_out(void)
{
	ksft_print_header();
	ksft_set_plan(6);
	ksft_test_result_pass("uffd: API handshake\n");
	ksft_test_result_pass("uffd: register range\n");
	ksft_exit_fail_msg("UFFDIO_WRITEPROTECT failed: %s\n", strerror(EINVAL));
}

static void crash(void)
{
	int i;

	ksft_print_header();
	ksft_set_plan(10);
	for (i = 1; i <= 4; i++)
		ksft_test_result_pass("scan step %d\n", i);
	ksft_print_msg("walking the range with a bad pointer\n");
	fflush(stdout);
	raise(SIGSEGV);
}

static void hang(void)
{
	ksft_print_header();
	ksft_set_plan(3);
	ksft_test_result_pass("fault in the range\n");
	ksft_print_msg("waiting for the fault handler thread\n");
	fflush(stdout);
	pause();
}

static void no_plan(void)
{
	ksft_print_header();
	ksft_test_result_pass("anon: clear then write\n");
	ksft_test_result_pass("anon: write then clear\n");
	ksft_test_result_pass("anon: unpopulated range\n");
	ksft_exit_pass();
}

static void plan_mismatch(void)
{
	ksft_print_header();
	ksft_set_plan(5);
	ksft_test_result_pass("anon: clear then write\n");
	ksft_test_result_pass("anon: write then clear\n");
	ksft_test_result_pass("anon: unpopulated range\n");
	ksft_finished();
}

static void no_tests(void)
{
	ksft_print_header();
	ksft_set_plan(0);
	ksft_finished();
}

static void no_totals(void)
{
	ksft_print_header();
	ksft_set_plan(3);
	ksft_test_result_pass("anon: clear then write\n");
	ksft_test_result_skip("hugetlb: no free hugepages\n");
	ksft_test_result_pass("anon: unpopulated range\n");
	exit(KSFT_PASS);
}

static void skip_all(void)
{
	ksft_print_header();
	ksft_exit_skip("PAGEMAP_SCAN is not supported by this kernel (ENOTTY)\n");
}

static const struct {
	const char *name;
	void (*run)(void);
} scenarios[] = {
	{ "ksft-all-passed", all_passed },
	{ "ksft-skips", skips },
	{ "ksft-failure", failure },
	{ "ksft-xfail", xfail },
	{ "ksft-bail-out", bail_out },
	{ "ksft-crash", crash },
	{ "ksft-hang", hang },
	{ "ksft-no-plan", no_plan },
	{ "ksft-plan-mismatch", plan_mismatch },
	{ "ksft-no-tests", no_tests },
	{ "ksft-no-totals", no_totals },
	{ "ksft-skip-all", skip_all },
};

int main(int argc, char **argv)
{
	const char *name = basename(argv[0]);
	size_t i;

	for (i = 0; i < ARRAY_SIZE(scenarios); i++) {
		if (!strcmp(name, scenarios[i].name)) {
			scenarios[i].run();
			return KSFT_FAIL;	/* scenarios exit themselves */
		}
	}
	fprintf(stderr, "unknown scenario %s\n", name);
	return 2;
}
