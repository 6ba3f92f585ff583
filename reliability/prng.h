/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The reliability programs' PRNG: splitmix64, so that a run is a function
 * of its seed alone.
 */
#ifndef __RELIABILITY_PRNG_H
#define __RELIABILITY_PRNG_H

#include <stdint.h>

static inline uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform enough in [0, n); 0 when n is 0. */
static inline uint64_t rnd(uint64_t *s, uint64_t n)
{
	return n ? splitmix(s) % n : 0;
}

#endif /* __RELIABILITY_PRNG_H */
