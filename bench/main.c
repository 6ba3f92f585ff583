// SPDX-License-Identifier: GPL-2.0
/*
 * pagemap_bench: PAGEMAP_SCAN write tracking against the older ways.
 *
 *   pagemap_bench [--quick] [--only cycle,shmem,file,thp,hugetlb,scan,fault]
 *                 [--size 256M] [--fracs 0.001,0.01,0.1,0.5]
 *                 [--runs 5] [--cycles 20] [--scan-sizes 1G,4G,16G,64G]
 *                 [--dense-sizes 256M,1G] [--fault-pages 16384] [--reps 7]
 *                 [--huge-size 256M] [--seed N]
 *
 * stdout: one JSON object per line: a "meta" line (kernel, machine,
 * features), "result" lines, an "end" line. stderr: progress. Exit status
 * 0 when every implementation that ran gave the right answers, 1 if any
 * gave a wrong one or failed, 2 on bad usage.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/utsname.h>
#include "bench.h"

const struct tracker *const trackers[] = {
	&tracker_pagemap_scan,	/* first: the reference for every ratio */
	&tracker_mprotect,
	&tracker_soft_dirty,
	&tracker_uffd_wp_sync,
};

const size_t nr_trackers = sizeof(trackers) / sizeof(trackers[0]);

#define MAX_LIST	16

struct opts {
	bool quick;
	char only[128];
	size_t size, huge_size;
	double fracs[MAX_LIST];
	size_t nr_fracs;
	int runs, cycles, reps;
	size_t scan_sizes[MAX_LIST], nr_scan;
	size_t dense_sizes[MAX_LIST], nr_dense;
	size_t fault_pages;
	uint64_t seed;
};

static void usage(void)
{
	fprintf(stderr,
		"usage: pagemap_bench [--quick] [--only cycle,shmem,file,thp,hugetlb,scan,fault]\n"
		"  [--size BYTES] [--huge-size BYTES] [--fracs F,...] [--runs N]\n"
		"  [--cycles N] [--scan-sizes BYTES,...] [--dense-sizes BYTES,...]\n"
		"  [--fault-pages N] [--reps N] [--seed N]\n"
		"sizes take K, M, G suffixes (powers of two); the cycle settings are\n"
		"cycle (anonymous memory), shmem (a memfd), file (a page-cache file in\n"
		"$PMSCAN_PAGECACHE_DIR, else /var/tmp), thp and hugetlb\n");
	exit(2);
}

static size_t parse_size(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	switch (*end) {
	case 'k': case 'K':
		v *= 1 << 10;
		break;
	case 'm': case 'M':
		v *= 1 << 20;
		break;
	case 'g': case 'G':
		v *= 1 << 30;
		break;
	case 0:
		break;
	default:
		usage();
	}
	if (v < (double)psize())
		usage();
	return (size_t)v / psize() * psize();
}

static size_t parse_sizes(char *s, size_t *out)
{
	size_t n = 0;
	char *tok;

	for (tok = strtok(s, ","); tok && n < MAX_LIST; tok = strtok(NULL, ","))
		out[n++] = parse_size(tok);
	return n;
}

static size_t parse_fracs(char *s, double *out)
{
	size_t n = 0;
	char *tok;

	for (tok = strtok(s, ","); tok && n < MAX_LIST; tok = strtok(NULL, ",")) {
		out[n] = strtod(tok, NULL);
		if (out[n] <= 0 || out[n] > 1)
			usage();
		n++;
	}
	return n;
}

static bool wanted(const struct opts *o, const char *what)
{
	char list[sizeof(o->only) + 2], key[32];

	if (!o->only[0])
		return true;
	snprintf(list, sizeof(list), ",%s,", o->only);
	snprintf(key, sizeof(key), ",%s,", what);
	return strstr(list, key);
}

/* --only's words: the benchmarks and the cycle's kinds of memory. */
static const char *const parts[] = {
	"cycle", "shmem", "file", "thp", "hugetlb", "scan", "fault",
};

/* Every word of --only is one of parts[]; else usage. */
static void check_only(const char *only)
{
	char list[128], *tok, *save;
	size_t i;

	snprintf(list, sizeof(list), "%s", only);
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
			if (!strcmp(tok, parts[i]))
				break;
		if (i == sizeof(parts) / sizeof(parts[0])) {
			fprintf(stderr, "pagemap_bench: --only %s: unknown part '%s'\n",
				only, tok);
			usage();
		}
	}
}

/* The cycle's kinds of memory by their --only part, in the order they run. */
static const struct {
	const char *part;
	enum mem_type kind;
	bool huge;	/* run after the scans and faults, at --huge-size */
} kinds[] = {
	{ "cycle", MEM_ANON, false },
	{ "shmem", MEM_SHMEM, false },
	{ "file", MEM_PAGECACHE_SHARED, false },
	{ "thp", MEM_THP, true },
	{ "hugetlb", MEM_HUGETLB, true },
};

/* Run the wanted cycle settings of huge or base-page kinds; the errors. */
static int cycles(const struct opts *o, struct cycle_opts *co, bool huge)
{
	int errors = 0;
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (kinds[i].huge != huge || !wanted(o, kinds[i].part))
			continue;
		co->kind = kinds[i].kind;
		errors += bench_cycle(co);
	}
	return errors;
}

static void defaults(struct opts *o)
{
	static const double fracs[] = { 0.001, 0.01, 0.1, 0.5 };

	memcpy(o->fracs, fracs, sizeof(fracs));
	o->nr_fracs = 4;
	o->seed = 0x5eed;
	if (o->quick) {
		o->size = 32 << 20;
		o->huge_size = 32 << 20;
		o->runs = 2;
		o->cycles = 3;
		o->reps = 3;
		o->scan_sizes[0] = 1UL << 30;
		o->nr_scan = 1;
		o->dense_sizes[0] = 64 << 20;
		o->nr_dense = 1;
		o->fault_pages = 1024;
	} else {
		o->size = 256 << 20;
		o->huge_size = 256 << 20;
		o->runs = 5;
		o->cycles = 20;
		o->reps = 7;
		o->scan_sizes[0] = 1UL << 30;
		o->scan_sizes[1] = 4UL << 30;
		o->scan_sizes[2] = 16UL << 30;
		o->scan_sizes[3] = 64UL << 30;
		o->nr_scan = 4;
		o->dense_sizes[0] = 256 << 20;
		o->dense_sizes[1] = 1UL << 30;
		o->nr_dense = 2;
		o->fault_pages = 16384;
	}
}

static void loadavg(char *buf, size_t len)
{
	FILE *f = fopen("/proc/loadavg", "r");

	buf[0] = 0;
	if (f) {
		if (!fgets(buf, (int)len, f))
			buf[0] = 0;
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = 0;
}

static void meta(const struct opts *o, int argc, char **argv)
{
	struct utsname u;
	char load[128], args[512] = "";
	const char *dir;
	bool yes;
	int i;

	uname(&u);
	loadavg(load, sizeof(load));
	for (i = 1; i < argc; i++) {
		strncat(args, argv[i], sizeof(args) - strlen(args) - 2);
		if (i + 1 < argc)
			strcat(args, " ");
	}
	json_begin("meta");
	json_str("program", "pagemap_bench");
	json_str("kernel", u.release);
	json_str("kernel_version", u.version);
	json_str("machine", u.machine);
	json_int("cpus", sysconf(_SC_NPROCESSORS_ONLN));
	json_str("loadavg", load);
	json_str("args", args);
	json_bool("quick", o->quick);
	json_int("page_size", (long long)psize());
	json_int("thp_size", (long long)thp_size());
	json_int("hugetlb_size", (long long)hugetlb_size());
	json_int("hugetlb_free", hugetlb_free());
	json_int("size", (long long)o->size);
	json_int("runs", o->runs);
	json_int("cycles", o->cycles);
	yes = have_pagemap_scan();
	json_bool("pagemap_scan", yes);
	json_str("pagemap_scan_reason", yes ? "" : vmh_reason);
	yes = have_wp_async();
	json_bool("wp_async", yes);
	json_str("wp_async_reason", yes ? "" : vmh_reason);
	yes = have_soft_dirty();
	json_bool("soft_dirty", yes);
	json_str("soft_dirty_reason", yes ? "" : vmh_reason);
	dir = pagecache_pick();
	json_str("pagecache_dir", dir ? dir : "");
	json_str("pagecache_fs", pagecache_fs);
	json_str("pagecache_reason", pagecache_reason);
	json_end();
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "only", required_argument, NULL, 'o' },
		{ "size", required_argument, NULL, 's' },
		{ "huge-size", required_argument, NULL, 'H' },
		{ "fracs", required_argument, NULL, 'f' },
		{ "runs", required_argument, NULL, 'r' },
		{ "cycles", required_argument, NULL, 'c' },
		{ "reps", required_argument, NULL, 'R' },
		{ "scan-sizes", required_argument, NULL, 'S' },
		{ "dense-sizes", required_argument, NULL, 'D' },
		{ "fault-pages", required_argument, NULL, 'F' },
		{ "seed", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { 0 };
	struct cycle_opts co;
	struct scan_opts so;
	struct fault_opts fo;
	uint64_t started = now_ns();
	char load[128];
	int c, errors = 0;

	/* --quick sets the defaults the other options then override. */
	for (c = 1; c < argc; c++)
		if (!strcmp(argv[c], "--quick"))
			o.quick = true;
	defaults(&o);
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 'o') {
			snprintf(o.only, sizeof(o.only), "%s", optarg);
			check_only(o.only);
		}
		else if (c == 's' || c == 'H')
			*(c == 's' ? &o.size : &o.huge_size) = parse_size(optarg);
		else if (c == 'f')
			o.nr_fracs = parse_fracs(optarg, o.fracs);
		else if (c == 'r' || c == 'c' || c == 'R')
			*(c == 'r' ? &o.runs : c == 'c' ? &o.cycles : &o.reps) = atoi(optarg);
		else if (c == 'S')
			o.nr_scan = parse_sizes(optarg, o.scan_sizes);
		else if (c == 'D')
			o.nr_dense = parse_sizes(optarg, o.dense_sizes);
		else if (c == 'F')
			o.fault_pages = strtoul(optarg, NULL, 0);
		else if (c == 'e')
			o.seed = strtoull(optarg, NULL, 0);
		else if (c != 'q')	/* --quick was taken above */
			usage();
	}
	if (optind != argc || o.runs < 1 || o.cycles < 1 || o.reps < 1 ||
	    o.fault_pages < 1)
		usage();

	meta(&o, argc, argv);
	co = (struct cycle_opts){
		.size = o.size, .fracs = o.fracs, .nr_fracs = o.nr_fracs,
		.runs = o.runs, .cycles = o.cycles, .seed = o.seed,
	};
	errors += cycles(&o, &co, false);
	if (wanted(&o, "scan")) {
		so = (struct scan_opts){
			.sparse = o.scan_sizes, .nr_sparse = o.nr_scan,
			.dense = o.dense_sizes, .nr_dense = o.nr_dense,
			.reps = o.reps, .seed = o.seed,
		};
		errors += bench_scan(&so);
	}
	if (wanted(&o, "fault")) {
		fo = (struct fault_opts){
			.pages = o.fault_pages, .reps = o.reps, .seed = o.seed,
		};
		errors += bench_fault(&fo);
	}
	co.size = o.huge_size;
	errors += cycles(&o, &co, true);

	loadavg(load, sizeof(load));
	json_begin("end");
	json_int("errors", errors);
	json_int("stale_walk_end", (long long)pagemap_scan_stale_walk_end);
	json_num("elapsed_s", (double)(now_ns() - started) * 1e-9);
	json_str("loadavg", load);
	json_end();
	return errors ? 1 : 0;
}
