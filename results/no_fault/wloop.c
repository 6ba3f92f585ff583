// SPDX-License-Identifier: GPL-2.0
/*
 * The no_fault loop of bench/fault.c alone: N pages made present by memset,
 * then written once each in a random order, six passes (a 50 ms sleep before
 * the fourth), with the area's AnonHugePages from smaps.
 * Usage: wloop PAGES [huge]   (static: gcc -O2 -static -o wloop wloop.c)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>

static uint64_t now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static long anon_huge_kb(void *addr)
{
	char line[256];
	unsigned long lo, hi;
	long kb = -1;
	int in = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = lo <= (unsigned long)addr && (unsigned long)addr < hi;
		else if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	}
	if (f)
		fclose(f);
	return kb;
}

int main(int argc, char **argv)
{
	size_t n = strtoul(argv[1], NULL, 0), ps = 4096, i, pass;
	int advice = argc > 2 && !strcmp(argv[2], "huge") ? MADV_HUGEPAGE : MADV_NOHUGEPAGE;
	size_t *order = malloc(n * sizeof(*order));
	uint64_t x = 88172645463325252ULL, t0, t1;
	char *p = mmap(NULL, n * ps + (2 << 20), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	p = (char *)(((uintptr_t)p + (2 << 20) - 1) & ~(uintptr_t)((2 << 20) - 1));
	madvise(p, n * ps, advice);
	for (i = 0; i < n; i++)
		memset(p + i * ps, 1, ps);
	for (i = 0; i < n; i++)
		order[i] = i;
	for (i = n - 1; i > 0; i--) {
		size_t j, t;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		j = x % (i + 1);
		t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	printf("pages %zu %s AnonHugePages %ld kB:", n, advice == MADV_HUGEPAGE ? "huge" : "nohuge",
	       anon_huge_kb(p));
	for (pass = 0; pass < 6; pass++) {
		if (pass == 3)
			usleep(50000);
		t0 = now();
		for (i = 0; i < n; i++)
			*(volatile uint64_t *)(p + order[i] * ps) = i;
		t1 = now();
		printf(" %s%.0f", pass == 3 ? "| " : "", (double)(t1 - t0) / n);
	}
	printf(" ns/page\n");
	return 0;
}
