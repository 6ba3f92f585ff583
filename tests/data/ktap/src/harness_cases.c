// SPDX-License-Identifier: GPL-2.0
/*
 * A kselftest_harness.h program with a fixture over two variants, a failing
 * assertion and a SKIP, to capture the harness's real output format.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../kselftest_harness.h"

FIXTURE(region)
{
	char *addr;
	size_t size;
};

FIXTURE_VARIANT(region)
{
	int flags;
};

FIXTURE_VARIANT_ADD(region, anon)
{
	.flags = MAP_PRIVATE | MAP_ANONYMOUS,
};

FIXTURE_VARIANT_ADD(region, shared)
{
	.flags = MAP_SHARED | MAP_ANONYMOUS,
};

FIXTURE_SETUP(region)
{
	self->size = 4 * getpagesize();
	self->addr = mmap(NULL, self->size, PROT_READ | PROT_WRITE,
			  variant->flags, -1, 0);
	ASSERT_NE(MAP_FAILED, self->addr);
}

FIXTURE_TEARDOWN(region)
{
	munmap(self->addr, self->size);
}

TEST_F(region, write_then_read)
{
	memset(self->addr, 0x5a, self->size);
	EXPECT_EQ(0x5a, self->addr[self->size - 1]);
}

TEST_F(region, needs_hugepages)
{
	SKIP(return, "no free hugepages (nr_hugepages is 0)");
}

TEST(counts_written_pages)
{
	int written = 3;

	TH_LOG("scan reported %d written pages", written);
	ASSERT_EQ(4, written);
}

TEST_HARNESS_MAIN
