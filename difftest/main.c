// SPDX-License-Identifier: GPL-2.0
/*
 * pmscan_fuzz_diff - a seeded workload for differential testing of
 * PAGEMAP_SCAN and asynchronous userfaultfd write-protect.
 *
 * For every seed the program builds a set of mappings, drives a random but
 * fully seed-determined sequence of memory operations and PAGEMAP_SCAN
 * calls over them, and writes a trace in which nothing depends on where the
 * kernel put things: an address is "slot:page" (the mapping's slot in a
 * private arena and the page offset in it), sizes are in pages. Two kernels
 * that implement the same ABI give byte-identical traces for the same seed;
 * the harness (harness/difftest.py) compares them.
 *
 * Whatever would make a trace depend on something other than the kernel's
 * ABI is kept out by construction, never filtered afterwards:
 *
 * - the mappings live at fixed offsets of one 2M-aligned arena, so THP and
 *   hugetlb alignment is the same everywhere, and the rest of the address
 *   space is never scanned;
 * - THP: only the "thp" mapping is MADV_HUGEPAGE, it is written whole (so
 *   it is PMD-mapped, checked in smaps before anything is traced) with
 *   non-zero data (so no shrinker splits it as underused), and then
 *   PR_SET_THP_DISABLE stops new THPs and khugepaged for the rest of the
 *   run: from then on a THP only ever splits, and only because of an
 *   operation in the trace. Every other mapping is MADV_NOHUGEPAGE, which
 *   makes the host's THP policy (always or madvise) irrelevant;
 * - soft-dirty (--soft-dirty: clear_refs "4", PAGE_IS_SOFT_DIRTY in masks
 *   and results, pagemap's bits) needs CONFIG_MEM_SOFT_DIRTY, which the
 *   host lacks: without the flag the category is never asked for nor
 *   returned, and its operations weigh nothing (one_op());
 * - hugetlb, swap and page-cache files (--pagecache: a private and a
 *   shared mapping of files in $PMSCAN_PAGECACHE_DIR, which is not tmpfs)
 *   are used only when the command line says so; their absence then is an
 *   environment error, never a difference. Without them a seed does what
 *   it did before they existed;
 * - page-cache pages are never given to MADV_PAGEOUT: a dirty one waits
 *   for writeback, whose timing is the flusher's;
 * - MADV_PAGEOUT is repeated until no page of the range is resident (or the
 *   seed ends with an environment error), so LRU batching does not leak in;
 * - MADV_DONTNEED never covers a whole 2M-aligned block: mainline 6.15+
 *   frees the page table it empties, and PAGEMAP_SCAN reports a missing
 *   table differently from empty entries in a VMA without async uffd-wp;
 * - mremap() is given ranges inside one VMA (mainline 6.17+ moves several
 *   VMAs at once), never private hugetlb ranges (moving part of one leaks a
 *   hugetlb reservation on mainline 6.18, starving later seeds);
 * - so is UFFDIO_WRITEPROTECT (6.1 wants one VMA, mainline 6.5+ takes
 *   several and may stop half-way);
 * - file pages are read (read faults map their neighbours too, up to the
 *   VMA's edges) only where the VMA is registered for uffd-wp, which turns
 *   fault-around off;
 * - private mappings get their anon_vma when they are made, and a file
 *   mapping grows only if no other mapping shares its file (see op_fork()
 *   and fd_shared());
 * - everything runs on one CPU, single-threaded; fork children are waited
 *   for before the next operation.
 *
 * Operations: write and read page ranges (every write is followed by a scan
 * of what it wrote); PAGEMAP_SCAN get, get+WP and WP-only with random
 * ranges (within a mapping, across mappings and gaps, the whole arena,
 * argument edge cases), masks, inverted categories, return masks, vec_len,
 * max_pages, an output array that runs into an inaccessible page, unknown
 * flag and category bits; snapshots of the whole arena; UFFDIO_WRITEPROTECT
 * on and off; UFFDIO_REGISTER and UNREGISTER of sub-ranges; MADV_DONTNEED;
 * MADV_PAGEOUT and swap entries with and without uffd-wp, swapped in again
 * by a read or a write (with --swap); clear_refs, soft-dirty after fork and
 * mremap, pagemap's present/swap/uffd-wp/soft-dirty bits (with
 * --soft-dirty); mprotect; munmap; mremap (move, shrink, grow);
 * fork (the child scans itself and, through the inherited descriptor, the
 * parent; the parent then scans the exited child); new mappings.
 *
 * Exit status of a seed: 0 done, 3 environment error (the trace says which
 * resource was missing), 4 the kernel lacks PAGEMAP_SCAN or async uffd-wp,
 * 1 a bug of this program's set-up.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/userfaultfd.h>
#include "fuzz.h"

struct options opt = { .ops = 100, .timeout = 300 };

static void pin_cpu(void)
{
	cpu_set_t set;
	int cpu;

	if (sched_getaffinity(0, sizeof(set), &set))
		return;
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &set))
			break;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* The body of one seed, in a process of its own. */
static int run_seed(unsigned long seed)
{
	int ret;

	rng_seed(seed);
	catch_faults();
	alarm(opt.timeout);
	pin_cpu();
	tr("pmscan-fuzz-diff v%d seed=%lu ops=%ld hugetlb=%d swap=%d%s%s%s\n",
	   TRACE_VERSION, seed, opt.ops, opt.hugetlb, opt.swap,
	   opt.pagecache ? " pagecache=1" : "",
	   opt.soft_dirty ? " soft-dirty=1" : "", opt.state ? " state=1" : "");
	ret = setup();
	if (ret)
		return ret;
	for (opno = 0; opno < opt.ops; opno++) {
		ret = one_op();
		if (ret)
			return ret;
		/*
		 * --state: the whole arena after each operation (a scan that
		 * changes nothing and draws no random number), so the first
		 * operation after which two kernels disagree shows at once.
		 */
		if (opt.state)
			check_arena("state");
	}
	check_arena("snap");
	tr("end ok\n");
	return EXIT_DONE;
}

/* ---- the driver: one process per seed, one trace file per seed ---- */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Does this kernel have what the program tests? Prints the answer. */
static int probe(void)
{
	const char *why;
	int ret;

	ret = open_kernel(UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED |
			  UFFD_FEATURE_WP_HUGETLBFS_SHMEM, &why);
	if (ret == EXIT_UNSUPPORTED)
		printf("unsupported %s\n", why);
	else if (ret)
		printf("error %s: %s\n", why, strerror(errno));
	else
		printf("supported\n");
	return ret;
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [--ops N] [--hugetlb] [--swap] [--pagecache] [--soft-dirty]\n"
		"          [--state]\n"
		"          [--timeout S] [--out DIR] FIRST [COUNT] | S1,S2,...\n"
		"       %s --probe\n"
		"Runs seeds FIRST..FIRST+COUNT-1 (COUNT defaults to 1), or the listed\n"
		"seeds, one process each; with --out, one trace file per seed\n"
		"(DIR/seed-N.trace) and a summary on stdout, else the traces on stdout.\n"
		"--state adds a scan of the whole arena after every operation.\n"
		"--pagecache adds private and shared mappings of files in\n"
		"$PMSCAN_PAGECACHE_DIR (default: the current directory), which must\n"
		"not be on tmpfs; without it a seed's trace is what it was before the\n"
		"page-cache type existed.\n"
		"--soft-dirty adds clear_refs, PAGE_IS_SOFT_DIRTY and pagemap reads\n"
		"(the kernel needs CONFIG_MEM_SOFT_DIRTY); --swap adds MADV_PAGEOUT and\n"
		"swap entries with and without uffd-wp (the kernel needs swap).\n"
		"PMSCAN_DIFF_PLANT=soft-dirty:N flips PAGE_IS_SOFT_DIRTY in the first\n"
		"region of the Nth scan that returns it: a planted bug, for tests.\n",
		argv0, argv0);
	exit(EXIT_BUG);
}

#define MAX_LIST	4096

/* SEEDS: "FIRST [COUNT]", or a list "S1,S2,..." put in @list: how many. */
static unsigned long parse_seeds(int argc, char **argv, int ai, unsigned long *list)
{
	unsigned long count = 1, n = 0;
	char *p = argv[ai], *end;

	if (strchr(p, ',')) {
		if (ai + 1 < argc)
			usage(argv[0]);
		while (*p && n < MAX_LIST) {
			list[n++] = strtoul(p, &end, 10);
			if (end == p || (*end && *end != ','))
				usage(argv[0]);
			p = *end ? end + 1 : end;
		}
		return n;
	}
	if (ai + 1 < argc)
		count = strtoul(argv[ai + 1], NULL, 10);
	return count;
}

/* The options; returns the index of the first seed argument. */
static int parse_options(int argc, char **argv)
{
	long n;
	int ai;

	for (ai = 1; ai < argc && !strncmp(argv[ai], "--", 2); ai++) {
		if (!strcmp(argv[ai], "--probe"))
			exit(probe());
		else if (!strcmp(argv[ai], "--hugetlb"))
			opt.hugetlb = true;
		else if (!strcmp(argv[ai], "--swap"))
			opt.swap = true;
		else if (!strcmp(argv[ai], "--state"))
			opt.state = true;
		else if (!strcmp(argv[ai], "--pagecache"))
			opt.pagecache = true;
		else if (!strcmp(argv[ai], "--soft-dirty"))
			opt.soft_dirty = true;
		else if (!strcmp(argv[ai], "--ops") && ai + 1 < argc)
			opt.ops = strtol(argv[++ai], NULL, 10);
		else if (!strcmp(argv[ai], "--timeout") && ai + 1 < argc)
			opt.timeout = (unsigned int)strtoul(argv[++ai], NULL, 10);
		else if (!strcmp(argv[ai], "--out") && ai + 1 < argc)
			opt.out = argv[++ai];
		else
			usage(argv[0]);
	}
	if (ai >= argc || ai + 2 < argc)
		usage(argv[0]);
	opt.plant = getenv("PMSCAN_DIFF_PLANT");
	if (opt.plant && !*opt.plant)
		opt.plant = NULL;
	if (opt.plant && sscanf(opt.plant, "soft-dirty:%ld", &n) != 1) {
		fprintf(stderr, "PMSCAN_DIFF_PLANT=%s: expected soft-dirty:N\n", opt.plant);
		exit(EXIT_BUG);
	}
	return ai;
}

/*
 * Run @seed in a process of its own and write its trace. Returns its
 * status (2 for a crash), or -1 when this program cannot go on.
 */
static int one_seed(unsigned long seed, long *ops)
{
	char end[64] = "";
	int status, st;
	pid_t pid;

	trace_reset();
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return -1;
	}
	if (pid == 0)
		_exit(run_seed(seed));
	if (waitpid(pid, &status, 0) != pid) {
		perror("waitpid");
		return -1;
	}
	if (WIFSIGNALED(status)) {
		st = 2;
		snprintf(end, sizeof(end), "end %s signal %d",
			 WTERMSIG(status) == SIGALRM ? "timeout" : "crash",
			 WTERMSIG(status));
	} else {
		st = WEXITSTATUS(status);
		if (st != EXIT_DONE && st != EXIT_ENV &&
		    st != EXIT_UNSUPPORTED && st != EXIT_BUG)
			snprintf(end, sizeof(end), "end crash status %d", st);
	}
	*ops += count_ops();
	if (write_trace(seed, end[0] ? end : NULL)) {
		perror("writing the trace");
		return -1;
	}
	return st;
}

int main(int argc, char **argv)
{
	static unsigned long list[MAX_LIST];
	unsigned long first, count, i;
	long total_ops = 0, per[5] = { 0 };
	bool listed;
	int st, ai;
	double t0;

	ai = parse_options(argc, argv);
	listed = strchr(argv[ai], ',') != NULL;
	first = strtoul(argv[ai], NULL, 10);
	count = parse_seeds(argc, argv, ai, list);
	if (sysconf(_SC_PAGESIZE) != (long)PAGE) {
		fprintf(stderr, "this program assumes 4K pages\n");
		return EXIT_BUG;
	}
	if (opt.out && mkdir(opt.out, 0755) && errno != EEXIST) {
		perror(opt.out);
		return EXIT_BUG;
	}
	/* Shared with each seed's process, so a crash keeps its trace. */
	if (trace_setup()) {
		perror("mmap");
		return EXIT_BUG;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	t0 = now();
	for (i = 0; i < count; i++) {
		st = one_seed(listed ? list[i] : first + i, &total_ops);
		if (st < 0)
			return EXIT_BUG;
		per[st < 5 ? st : 2]++;
		if (st == EXIT_UNSUPPORTED) {
			/* Every other seed would say the same. */
			count = i + 1;
			break;
		}
	}
	if (opt.out)
		printf("summary seeds=%lu ops=%ld seconds=%.3f done=%ld env=%ld %s=%ld failed=%ld\n",
		       count, total_ops, now() - t0, per[EXIT_DONE], per[EXIT_ENV],
		       "unsupported", per[EXIT_UNSUPPORTED], per[EXIT_BUG] + per[2]);
	if (per[EXIT_UNSUPPORTED])
		return EXIT_UNSUPPORTED;
	return per[EXIT_BUG] + per[2] ? EXIT_BUG : EXIT_DONE;
}
