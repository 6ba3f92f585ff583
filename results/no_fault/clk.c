// SPDX-License-Identifier: GPL-2.0
/* What one clock_gettime(CLOCK_MONOTONIC) costs: 1000 calls, five times. */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static uint64_t now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int main(void)
{
	uint64_t t0, t1;
	int r, i;

	for (r = 0; r < 5; r++) {
		t0 = now();
		for (i = 0; i < 1000; i++)
			now();
		t1 = now();
		printf(" %.0f", (double)(t1 - t0) / 1000);
	}
	printf(" ns per clock_gettime\n");
	return 0;
}
