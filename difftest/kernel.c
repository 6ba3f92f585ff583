// SPDX-License-Identifier: GPL-2.0
/*
 * What the program asks of the kernel: PAGEMAP_SCAN (issued and traced),
 * userfaultfd, /proc/self/pagemap and smaps, and page accesses whose
 * SIGSEGV/SIGBUS is a result, not a crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/userfaultfd.h>
#include "fuzz.h"

int pm_fd = -1;
uint64_t zero_pfn;
static int uffd = -1;

/* ---- PAGEMAP_SCAN ---- */

static struct page_region vec[VEC_MAX + 1];

/*
 * Two pages, the second inaccessible: an output array placed at the end
 * of the first has room for a few regions only, and the kernel must fail
 * with EFAULT when it has more to write.
 */
static char *edge_vec;

int setup_scans(void)
{
	edge_vec = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (edge_vec == MAP_FAILED)
		return -1;
	return mprotect(edge_vec + PAGE, PAGE, PROT_NONE);
}

static struct page_region *scan_vec(const struct scan *sc)
{
	switch (sc->vk) {
	case VEC_NULL:
		return NULL;
	case VEC_EDGE:
		return (struct page_region *)(edge_vec + PAGE) - sc->edge_room;
	default:
		return vec;
	}
}

/* The kernel must not write past the @ret regions it returned. */
static void check_vec_tail(long ret)
{
	const unsigned char *tail = (const unsigned char *)&vec[ret];
	size_t k, n = sizeof(vec[0]) * (VEC_MAX + 1 - ret);

	for (k = 0; k < n; k++)
		if (tail[k] != 0xa5) {
			tr(" !vec-written-past-%ld", ret);
			return;
		}
}

/*
 * Issue a scan through @fd and trace it: arguments, result, walk_end,
 * regions. After a failure nothing of the array is traced: how much of it
 * was written before the fault is up to copy_to_user(), not the ABI.
 */
long do_scan_fd(int fd, const char *what, const struct scan *sc)
{
	struct page_region *v = scan_vec(sc);
	__u64 walk_end;
	long ret, i;

	memset(vec, 0xa5, sizeof(vec));
	memset(edge_vec, 0xa5, PAGE);
	ret = pagemap_scan(fd, sc->start, sc->end, v, sc->vec_len,
			   sc->flags, sc->max_pages, sc->inv, sc->mask,
			   sc->anyof, sc->ret_mask, &walk_end);
	if (opt.plant)
		plant_scan(v, ret, sc);
	tr("op %d %s %s-%s f=%llu inv=%#llx m=%#llx any=%#llx ret=%#llx len=%llu",
	   opno, what, A(sc->start), A(sc->end),
	   (unsigned long long)sc->flags, (unsigned long long)sc->inv,
	   (unsigned long long)sc->mask, (unsigned long long)sc->anyof,
	   (unsigned long long)sc->ret_mask, (unsigned long long)sc->vec_len);
	if (sc->vk == VEC_NULL)
		tr("(null)");
	else if (sc->vk == VEC_EDGE)
		tr("(room %d)", sc->edge_room);
	tr(" max=%llu -> ", (unsigned long long)sc->max_pages);
	if (ret < 0) {
		errno = (int)-ret;
		tr("%s", res(-1));
	} else {
		tr("%ld", ret);
	}
	tr(" we=%s", A(walk_end));
	if (ret > 0 && v) {
		tr(" [");
		for (i = 0; i < ret && i < VEC_MAX; i++)
			tr("%s%s-%s %#llx", i ? " " : "", A(v[i].start),
			   A(v[i].end),
			   (unsigned long long)v[i].categories);
		tr("]");
	}
	if (sc->vk == VEC_ARRAY && ret >= 0 && ret < VEC_MAX)
		check_vec_tail(ret);
	tr("\n");
	return ret;
}

long do_scan(const char *what, const struct scan *sc)
{
	return do_scan_fd(pm_fd, what, sc);
}

/* A full report of [start, end): how a write or a fork looks. */
void check_scan_fd(int fd, const char *what, uint64_t start, uint64_t end)
{
	struct scan sc = {
		.start = start, .end = end, .vec_len = VEC_MAX,
		.ret_mask = cats(),
	};

	do_scan_fd(fd, what, &sc);
}

void check_scan(const char *what, uint64_t start, uint64_t end)
{
	check_scan_fd(pm_fd, what, start, end);
}

/* A full report of the whole arena. */
void check_arena(const char *what)
{
	check_scan(what, (unsigned long)arena, (unsigned long)arena + ARENA_SIZE);
}

/*
 * PMSCAN_DIFF_PLANT=soft-dirty:N makes this program a kernel with a
 * soft-dirty bug, to show that the comparison catches one: the Nth scan of
 * the seed (counted from 1, fork children included) that returns regions
 * with PAGE_IS_SOFT_DIRTY in its return mask gets that bit of its first
 * region flipped. Nothing but the trace changes.
 */
void plant_scan(struct page_region *v, long ret, const struct scan *sc)
{
	long n;

	if (sscanf(opt.plant, "soft-dirty:%ld", &n) != 1 || ret < 1 || !v ||
	    !(sc->ret_mask & PAGE_IS_SOFT_DIRTY))
		return;
	if (trace_tick() == n)
		v[0].categories ^= PAGE_IS_SOFT_DIRTY;
}

/* ---- soft-dirty ---- */

/* Clear the soft-dirty bits of the whole process (clear_refs "4"). */
int clear_soft_dirty(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -1;
	if (write(fd, "4", 1) != 1)
		ret = -1;
	close(fd);
	return ret;
}

/* ---- userfaultfd ---- */

int uffd_register(char *addr, unsigned long len)
{
	struct uffdio_register reg = {
		.range = { .start = (unsigned long)addr, .len = len },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};

	return ioctl(uffd, UFFDIO_REGISTER, &reg);
}

int uffd_unregister(char *addr, unsigned long len)
{
	struct uffdio_range r = { .start = (unsigned long)addr, .len = len };

	return ioctl(uffd, UFFDIO_UNREGISTER, &r);
}

int uffd_protect(char *addr, unsigned long len, bool wp)
{
	struct uffdio_writeprotect w = {
		.range = { .start = (unsigned long)addr, .len = len },
		.mode = wp ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	return ioctl(uffd, UFFDIO_WRITEPROTECT, &w);
}

/* A userfaultfd handshaken with @features (0: whatever it offers, in @api). */
static int new_uffd(uint64_t features, struct uffdio_api *api)
{
	int fd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -1;
	api->api = UFFD_API;
	api->features = features;
	if (ioctl(fd, UFFDIO_API, api)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Is async uffd-wp there? Opens the seed's userfaultfd with @features. */
static int open_uffd(uint64_t features, bool *unsupported)
{
	struct uffdio_api api;
	int fd = new_uffd(0, &api);

	*unsupported = false;
	if (fd < 0)
		return -1;
	close(fd);
	if ((api.features & features) != features) {
		*unsupported = true;
		return -1;
	}
	return new_uffd(features, &api);
}

/*
 * Open the seed's pagemap and userfaultfd (with @features). Returns 0,
 * EXIT_UNSUPPORTED with what is missing in *@why, or EXIT_BUG with the
 * step that failed in *@why and errno set.
 */
int open_kernel(uint64_t features, const char **why)
{
	static char buf[96];
	bool unsupported;
	int ret;

	pm_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pm_fd < 0) {
		*why = "open /proc/self/pagemap";
		return EXIT_BUG;
	}
	ret = pagemap_scan_supported(pm_fd);
	if (ret == 0) {
		*why = "PAGEMAP_SCAN (ENOTTY)";
		return EXIT_UNSUPPORTED;
	}
	if (ret < 0) {
		errno = -ret;
		*why = "PAGEMAP_SCAN probe";
		return EXIT_BUG;
	}
	uffd = open_uffd(features, &unsupported);
	if (unsupported) {
		snprintf(buf, sizeof(buf),
			 "UFFD_FEATURE_WP_ASYNC (features %#llx not advertised)",
			 (unsigned long long)features);
		*why = buf;
		return EXIT_UNSUPPORTED;
	}
	if (uffd < 0) {
		*why = "userfaultfd";
		return EXIT_BUG;
	}
	return 0;
}

/* ---- pagemap and smaps ---- */

uint64_t pagemap_entry(const void *addr)
{
	uint64_t e = 0;

	if (pread(pm_fd, &e, sizeof(e), (unsigned long)addr / PAGE * sizeof(e)) !=
	    sizeof(e))
		return 0;
	return e;
}

/* The zero page's PFN, so MADV_PAGEOUT's leftovers can be told apart. */
int learn_zero_pfn(void)
{
	volatile char *p = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
				-1, 0);

	if (p == MAP_FAILED)
		return -1;
	(void)p[0];
	zero_pfn = pagemap_entry((const void *)p) & PME_PFN_MASK;
	return 0;
}

/* kB of AnonHugePages in the smaps entry of the VMA at @addr. */
long anon_huge_kb(const void *addr)
{
	unsigned long lo, hi, at = (unsigned long)addr;
	char line[512];
	bool in = false;
	long kb = -1;
	FILE *f;

	f = fopen("/proc/self/smaps", "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			if (in)
				break;
			in = at >= lo && at < hi;
		} else if (in && !strncmp(line, "AnonHugePages:", 14)) {
			kb = strtol(line + 14, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kb;
}

/* ---- page accesses: a wrong SIGSEGV/SIGBUS is a result, not a crash ---- */

static sigjmp_buf fault_jmp;
static volatile sig_atomic_t fault_armed;

static void on_fault(int sig)
{
	if (!fault_armed)
		_exit(128 + sig);
	fault_armed = 0;
	siglongjmp(fault_jmp, sig);
}

void catch_faults(void)
{
	struct sigaction sa = { .sa_handler = on_fault };

	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
}

/*
 * Write or read pages [a, b) of slot @s. Returns 0, or the signal that a
 * page raised; *@at is the page that faulted, *@sum a digest of what was
 * read.
 */
int access_pages(int s, long a, long b, int write, unsigned char val,
		 long *at, uint64_t *sum)
{
	volatile long p = a;
	volatile uint64_t h = 1469598103934665603ULL;
	int sig;

	sig = sigsetjmp(fault_jmp, 1);
	if (sig) {
		*at = p;
		*sum = h;
		return sig;
	}
	fault_armed = 1;
	for (; p < b; p++) {
		char *c = pa(s, p);

		if (write) {
			memset(c, val, PAGE);
		} else {
			h = (h ^ (unsigned char)__atomic_load_n(c, __ATOMIC_RELAXED)) *
			    1099511628211ULL;
			h = (h ^ (unsigned char)__atomic_load_n(c + PAGE / 2 + 1,
								__ATOMIC_RELAXED)) *
			    1099511628211ULL;
		}
	}
	fault_armed = 0;
	*sum = h;
	return 0;
}
