/*
 * Appended to 6.1's vm_util.c (vm_util.mk); the includes join its own and
 * this comment is dropped.
 */
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <time.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <linux/memfd.h>

#define THP_ENABLED_PATH "/sys/kernel/mm/transparent_hugepage/enabled"
#define NR_HUGEPAGES_PATH "/proc/sys/vm/nr_hugepages"
#define meminfo_value(name) proc_field("/proc/meminfo", name)
#define UNIT_BYTE(i) ((unsigned char)(0x80 + (i)))

char vmh_reason[256];

int vmh_set_reason(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vmh_reason, sizeof(vmh_reason), fmt, ap);
	va_end(ap);
	return status;
}

const char *mem_type_name(enum mem_type type)
{
	static const char * const names[MEM_NR_TYPES] = {
		[MEM_ANON] = "anon",
		[MEM_THP] = "thp",
		[MEM_HUGETLB] = "hugetlb",
		[MEM_HUGETLB_SHARED] = "shared hugetlb",
		[MEM_SHMEM] = "shmem",
		[MEM_FILE] = "private file",
		[MEM_PAGECACHE] = "page cache private",
		[MEM_PAGECACHE_SHARED] = "page cache shared",
	};

	return type < MEM_NR_TYPES ? names[type] : "?";
}

size_t thp_size(void)
{
	char buf[128] = "";
	FILE *f = fopen(THP_ENABLED_PATH, "r");

	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return strstr(buf, "[never]") || !buf[0] ? 0 : read_pmd_pagesize();
}

long proc_field(const char *path, const char *name)
{
	char line[256];
	long val = -1;
	FILE *f;

	f = fopen(path, "r");
	if (!f)
		return -1;
	if (check_for_pattern(f, name, line, sizeof(line)))
		val = strtol(line + strlen(name), NULL, 10);
	fclose(f);
	return val;
}

size_t hugetlb_size(void)
{
	long kb = meminfo_value("Hugepagesize:");

	return kb > 0 ? (size_t)kb << 10 : 0;
}

int hugetlb_ensure(unsigned long nr)
{
	long free_pages = meminfo_value("HugePages_Free:");
	long total = meminfo_value("HugePages_Total:");
	FILE *f;

	if (free_pages < 0)
		return vmh_set_reason(VMH_SKIP, "no hugetlb support (no HugePages_Free in /proc/meminfo)");
	if ((unsigned long)free_pages >= nr)
		return VMH_OK;
	f = fopen(NR_HUGEPAGES_PATH, "w");
	if (f) {
		fprintf(f, "%ld\n", total + (long)nr - free_pages);
		fclose(f);
	}
	free_pages = meminfo_value("HugePages_Free:");
	if (free_pages < (long)nr)
		return vmh_set_reason(VMH_SKIP, "need %lu free hugetlb pages, have %ld (set %s)",
				      nr, free_pages, NR_HUGEPAGES_PATH);
	return VMH_OK;
}

bool check_bytes(const void *p, size_t len, unsigned char val)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (c[i] != val)
			return false;
	return true;
}

unsigned long touch_read(const void *p, size_t len)
{
	const unsigned char *c = p;
	unsigned long sum = 0;
	size_t off;

	/* An atomic load is never optimised away: each one is a real access. */
	for (off = 0; off < len; off += psize())
		sum += __atomic_load_n(c + off, __ATOMIC_RELAXED);
	return sum;
}

/* Size a PMD maps: one page table's worth of pages. */
static size_t pmd_size(void)
{
	return psize() / sizeof(uint64_t) * psize();
}

/* PROT_NONE address space of @size aligned to @align, to map over. */
static char *reserve_aligned(size_t size, size_t align)
{
	char *raw, *addr;

	raw = mmap(NULL, size + align, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	addr = (char *)(((unsigned long)raw + align - 1) & ~(align - 1));
	if (addr > raw)
		munmap(raw, addr - raw);
	munmap(addr + size, align - (addr - raw));
	return addr;
}

static bool is_hugetlb(enum mem_type type)
{
	return type == MEM_HUGETLB || type == MEM_HUGETLB_SHARED;
}

static bool is_private_file(enum mem_type type)
{
	return type == MEM_FILE || type == MEM_PAGECACHE;
}

/* A page-cache file in $PMSCAN_PAGECACHE_DIR, or in "." unless on tmpfs. */
static int pagecache_file(struct area *a)
{
	const char *dir = getenv("PMSCAN_PAGECACHE_DIR");
	char path[4096];
	struct statfs fs;

	if (!dir || !*dir) {
		if (statfs(".", &fs))
			return vmh_set_reason(VMH_SKIP, "statfs(.): %s", strerror(errno));
		if (fs.f_type == TMPFS_MAGIC)
			return vmh_set_reason(VMH_SKIP, "PMSCAN_PAGECACHE_DIR is not set and the current directory is on tmpfs, not a page-cache filesystem");
		dir = ".";
	}
	snprintf(path, sizeof(path), "%s/pmscan-XXXXXX", dir);
	a->fd = mkstemp(path);
	if (a->fd < 0)
		return vmh_set_reason(VMH_SKIP, "creating a file in %s: %s", dir, strerror(errno));
	/* Removed by area_free(): 9p cannot resize an unlinked file. */
	a->path = strdup(path);
	return VMH_OK;
}

/*
 * Pick the granule of @a and make its backing file, if any: a private
 * file mapping's file gets the data (page i holds seed + i), so read
 * faults map its page cache pages.
 */
static int area_prepare(struct area *a, size_t nr, unsigned char seed)
{
	char buf[4096];
	size_t i, off;
	int ret = VMH_OK;

	if (a->type >= MEM_NR_TYPES)
		return vmh_set_reason(VMH_FAIL, "unknown memory type %d", a->type);
	if (a->type == MEM_THP || is_hugetlb(a->type)) {
		a->psize = a->type == MEM_THP ? thp_size() : hugetlb_size();
		if (!a->psize)
			return vmh_set_reason(VMH_SKIP, "%s", a->type == MEM_THP ?
					      "transparent hugepages are not available" :
					      "hugetlb is not available");
		ret = is_hugetlb(a->type) ? hugetlb_ensure(nr) : VMH_OK;
	}
	a->size = nr * a->psize;
	if (ret || a->type == MEM_ANON || a->type == MEM_THP || a->type == MEM_HUGETLB)
		return ret;
	if (a->type == MEM_PAGECACHE || a->type == MEM_PAGECACHE_SHARED) {
		ret = pagecache_file(a);
	} else {
		a->fd = syscall(__NR_memfd_create, mem_type_name(a->type), MFD_CLOEXEC |
				(a->type == MEM_HUGETLB_SHARED ? MFD_HUGETLB : 0));
		if (a->fd < 0)
			return vmh_set_reason(VMH_SKIP, "memfd_create(%s): %s",
					      mem_type_name(a->type), strerror(errno));
	}
	if (!ret && ftruncate(a->fd, a->size))
		return vmh_set_reason(VMH_FAIL, "ftruncate: %s", strerror(errno));
	for (i = 0; !ret && is_private_file(a->type) && i < nr; i++) {
		memset(buf, (unsigned char)(seed + i), sizeof(buf));
		for (off = 0; off < a->psize; off += sizeof(buf))
			if (pwrite(a->fd, buf, sizeof(buf), i * a->psize + off) != sizeof(buf))
				return vmh_set_reason(VMH_FAIL, "pwrite: %s", strerror(errno));
	}
	return ret;
}

int area_alloc(struct area *a, enum mem_type type, size_t nr, bool populate,
	       unsigned char seed)
{
	bool huge = is_hugetlb(type);
	size_t i, align;
	int flags, ret;
	char *at;

	*a = (struct area){ .type = type, .fd = -1, .psize = psize() };
	ret = area_prepare(a, nr, seed);
	if (ret)
		goto err;
	/* hugetlb pages are PMD entries: a PMD table of their own. */
	align = huge ? pmd_size() / sizeof(uint64_t) * pmd_size() :
		a->psize > pmd_size() ? a->psize : pmd_size();
	at = reserve_aligned(a->size, align);
	if (!at) {
		ret = vmh_set_reason(VMH_FAIL, "reserving address space: %s", strerror(errno));
		goto err;
	}
	if (a->fd < 0)
		flags = MAP_PRIVATE | MAP_ANONYMOUS | (huge ? MAP_HUGETLB : 0);
	else
		flags = is_private_file(type) ? MAP_PRIVATE : MAP_SHARED;
	a->addr = mmap(at, a->size, PROT_READ | PROT_WRITE, flags | MAP_FIXED,
		       a->fd, 0);
	if (a->addr == MAP_FAILED) {
		/* No huge pages, or no shared writable mappings (9p): a resource. */
		ret = vmh_set_reason(huge || (type == MEM_PAGECACHE_SHARED && errno == EINVAL) ?
				     VMH_SKIP : VMH_FAIL, "mmap %s: %s%s",
				     mem_type_name(type), strerror(errno),
				     type == MEM_PAGECACHE_SHARED ?
				     " (the directory's filesystem has no shared writable mappings: set PMSCAN_PAGECACHE_DIR to one that has)" : "");
		munmap(at, a->size);
		a->addr = NULL;
		goto err;
	}
	a->map = a->addr;
	a->map_size = a->size;
	/* Keep THP=always and khugepaged from changing the layout. */
	if (type == MEM_ANON)
		madvise(a->addr, a->size, MADV_NOHUGEPAGE);
	if (type == MEM_THP && madvise(a->addr, a->size, MADV_HUGEPAGE)) {
		ret = vmh_set_reason(VMH_SKIP, "MADV_HUGEPAGE: %s", strerror(errno));
		goto err;
	}
	for (i = 0; (populate || type == MEM_THP) && i < nr; i++) {
		if (is_private_file(type))
			touch_read(a->addr + i * a->psize, a->psize);
		else
			memset(a->addr + i * a->psize, (unsigned char)(seed + i), a->psize);
	}
	if (type == MEM_THP && !check_huge_anon(a->addr, nr, a->psize)) {
		ret = vmh_set_reason(VMH_SKIP, "the kernel did not back the area with THPs (AnonHugePages in smaps)");
		goto err;
	}
	return VMH_OK;
err:
	area_free(a);
	return ret;
}

void area_free(struct area *a)
{
	if (a->map)
		munmap(a->map, a->map_size);
	if (a->fd >= 0)
		close(a->fd);
	if (a->path)
		unlink(a->path);
	free(a->path);
	a->path = NULL;
	a->map = NULL;
	a->addr = NULL;
	a->fd = -1;
}

int unit_area_alloc(struct unit_area *u, enum mem_type type, size_t nr,
		    bool populate, unsigned char seed)
{
	int ret = area_alloc(&u->a, type, nr, populate, seed);

	u->uffd = -1;
	u->pm = pagemap_fd();
	u->unit = is_hugetlb(type) ? u->a.psize : psize();
	u->n = ret ? 0 : u->a.size / u->unit;
	u->seed = seed;
	u->seeded = populate || type == MEM_THP || is_private_file(type);
	return ret;
}

void unit_area_free(struct unit_area *u)
{
	if (u->uffd >= 0)
		close(u->uffd);
	u->uffd = -1;
	area_free(&u->a);
}

void unit_write(const struct unit_area *u, size_t i)
{
	memset(unit_addr(u, i), UNIT_BYTE(i), u->unit);
}

bool unit_data_ok(const struct unit_area *u, size_t i, bool written)
{
	unsigned char want = written ? UNIT_BYTE(i) : !u->seeded ? 0 :
			     (unsigned char)(u->seed + i * u->unit / u->a.psize);

	if (check_bytes(unit_addr(u, i), u->unit, want))
		return true;
	ksft_print_msg("unit %zu: expected bytes %#x, first byte %#x\n", i,
		       want, (unsigned char)*unit_addr(u, i));
	return false;
}

bool units_wp(const struct unit_area *u, size_t from, size_t to, bool set)
{
	size_t off;

	for (off = from * u->unit; off < to * u->unit; off += psize()) {
		if (!!(pagemap_get_entry(u->pm, u->a.addr + off) & PME_UFFD_WP) != set) {
			ksft_print_msg("unit %zu: expected the wp bit %s\n",
				       off / u->unit, set ? "set" : "clear");
			return false;
		}
	}
	return true;
}

int pagemap_fd(void)
{
	static int fd = -1;

	if (fd < 0) {
		fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			ksft_exit_fail_msg("open /proc/self/pagemap: %s\n", strerror(errno));
	}
	return fd;
}

bool pagemap_all(const void *addr, size_t len, uint64_t bit, bool set)
{
	const char *p = addr;
	size_t off;

	for (off = 0; off < len; off += psize())
		if (!!(pagemap_entry(p + off) & bit) != set)
			return false;
	return true;
}

bool regions_match(const char *base, size_t unit, const struct page_region *v,
		   long n, const struct region_exp *e, size_t ne)
{
	unsigned long start = (unsigned long)base;
	bool ok = n >= 0 && (size_t)n == ne;
	long i;

	for (i = 0; ok && i < (long)ne; i++)
		ok = v[i].start == start + e[i].start * unit &&
		     v[i].end == start + e[i].end * unit &&
		     v[i].categories == e[i].categories;
	if (ok)
		return true;
	ksft_print_msg("got (%ld):\n", n);
	for (i = 0; i < n; i++)
		ksft_print_msg("  [%llu, %llu) %#llx\n",
			       (unsigned long long)((v[i].start - start) / unit),
			       (unsigned long long)((v[i].end - start) / unit),
			       (unsigned long long)v[i].categories);
	ksft_print_msg("expected (%zu):\n", ne);
	for (i = 0; i < (long)ne; i++)
		ksft_print_msg("  [%zu, %zu) %#llx\n", e[i].start, e[i].end,
			       (unsigned long long)e[i].categories);
	return false;
}

bool scan_expect(int fd, struct pm_scan_arg arg, const char *base, size_t unit,
		 const struct region_exp *e, size_t ne, size_t walk_end)
{
	struct page_region v[SCAN_MAX_REGIONS];
	unsigned long start = (unsigned long)base;
	long n;
	bool ok;

	arg.size = sizeof(arg);
	arg.vec = (unsigned long)v;
	arg.vec_len = arg.vec_len ?: SCAN_MAX_REGIONS;
	n = ioctl(fd, PAGEMAP_SCAN, &arg);
	if (n < 0) {
		ksft_print_msg("PAGEMAP_SCAN failed: %s\n", strerror(errno));
		return false;
	}
	ok = regions_match(base, unit, v, n, e, ne);
	if (arg.walk_end != start + walk_end * unit) {
		ksft_print_msg("walk_end at +%#llx, expected +%#zx\n",
			       (unsigned long long)(arg.walk_end - start), walk_end * unit);
		ok = false;
	}
	return ok;
}

const char *series_missing(bool need_async)
{
	int ret = pagemap_scan_supported(pagemap_fd());
	int64_t features;

	if (ret < 0)
		ksft_exit_fail_msg("PAGEMAP_SCAN probe: %s\n", strerror(-ret));
	if (!ret)
		return "PAGEMAP_SCAN";
	features = need_async ? uffd_api_features() : 0;
	if (need_async && (features < 0 || !(features & UFFD_FEATURE_WP_ASYNC)))
		return "UFFD_FEATURE_WP_ASYNC";
	return NULL;
}

int64_t uffd_api_features(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	int fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	int64_t ret;

	if (fd < 0)
		return -errno;
	ret = ioctl(fd, UFFDIO_API, &api) ? -errno : (int64_t)api.features;
	close(fd);
	return ret;
}

int uffd_open(uint64_t features, bool nonblock)
{
	struct uffdio_api api = { .api = UFFD_API, .features = features };
	int fd, err;

	fd = syscall(__NR_userfaultfd, O_CLOEXEC | (nonblock ? O_NONBLOCK : 0));
	if (fd < 0 || !ioctl(fd, UFFDIO_API, &api))
		return fd < 0 ? -errno : fd;
	err = -errno;
	close(fd);
	return err;
}

int uffd_register(int uffd, const void *addr, size_t len, uint64_t mode,
		  uint64_t *ioctls)
{
	struct uffdio_register reg = {
		.range = { .start = (unsigned long)addr, .len = len },
		.mode = mode,
	};

	if (ioctl(uffd, UFFDIO_REGISTER, &reg))
		return -errno;
	if (ioctls)
		*ioctls = reg.ioctls;
	return 0;
}

int uffd_unregister(int uffd, const void *addr, size_t len)
{
	struct uffdio_range range = {
		.start = (unsigned long)addr, .len = len,
	};

	return ioctl(uffd, UFFDIO_UNREGISTER, &range) ? -errno : 0;
}

int uffd_wp(int uffd, const void *addr, size_t len, bool protect)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = (unsigned long)addr, .len = len },
		.mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	return ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) ? -errno : 0;
}

uint64_t uffd_wp_features_for(enum mem_type type)
{
	return is_hugetlb(type) || type == MEM_SHMEM ?
	       UFFD_FEATURE_WP_HUGETLBFS_SHMEM : 0;
}

int uffd_async_wp(enum mem_type type, const void *addr, size_t len,
		  bool protect)
{
	int uffd = uffd_wp_range(UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED |
				 uffd_wp_features_for(type), addr, len, protect);

	if (uffd < 0)
		vmh_set_reason(uffd, "async uffd-wp of %s: %s", mem_type_name(type),
			       strerror(-uffd));
	return uffd;
}

int uffd_wp_range(uint64_t features, const void *addr, size_t len, bool protect)
{
	int uffd = uffd_open(features, true), ret;

	if (uffd < 0)
		return uffd;
	ret = uffd_register(uffd, addr, len, UFFDIO_REGISTER_MODE_WP, NULL);
	if (!ret && protect)
		ret = uffd_wp(uffd, addr, len, true);
	if (!ret)
		return uffd;
	close(uffd);
	return ret;
}

struct trapped_writer {
	char *p;
	char val;
	bool done;		/* __atomic */
};

static void *trapped_write(void *arg)
{
	struct trapped_writer *w = arg;

	*(volatile char *)w->p = w->val;
	__atomic_store_n(&w->done, true, __ATOMIC_RELEASE);
	return NULL;
}

bool uffd_write_trapped(int uffd, char *p, size_t len, char val)
{
	struct trapped_writer w = { .p = p, .val = val };
	struct pollfd pfd = { .fd = uffd, .events = POLLIN };
	unsigned long at, start = (unsigned long)p;
	struct uffd_msg msg;
	bool trapped = false;
	pthread_t thread;

	if (pthread_create(&thread, NULL, trapped_write, &w))
		ksft_exit_fail_msg("pthread_create failed\n");
	if (poll(&pfd, 1, 3000) == 1 && read(uffd, &msg, sizeof(msg)) == sizeof(msg)) {
		at = msg.arg.pagefault.address;
		trapped = msg.event == UFFD_EVENT_PAGEFAULT &&
			  (msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) &&
			  at >= start && at < start + len;
		if (!trapped)
			ksft_print_msg("unexpected message: event %u flags %llx\n",
				       msg.event, (unsigned long long)msg.arg.pagefault.flags);
	} else {
		ksft_print_msg("no write-protect message (the writer %s)\n",
			       __atomic_load_n(&w.done, __ATOMIC_ACQUIRE) ?
			       "finished unhindered" : "is stuck");
	}
	if (uffd_wp(uffd, p, len, false))
		ksft_exit_fail_msg("UFFDIO_WRITEPROTECT(unprotect): %s\n", strerror(errno));
	pthread_join(thread, NULL);
	return trapped;
}

int swap_out(void *addr, size_t len)
{
	const struct timespec pause = { .tv_nsec = 20 * 1000 * 1000 };
	char *p = addr;
	size_t off, left = 0;
	int tries;

	if (meminfo_value("SwapTotal:") <= 0)
		return vmh_set_reason(VMH_SKIP, "no swap is enabled (/proc/swaps lists no device)");
	/* A page in a per-CPU LRU batch is left in memory: ask again. */
	for (tries = 0; tries < 20; tries++) {
		if (madvise(addr, len, MADV_PAGEOUT)) {
			if (errno == EINVAL)
				return vmh_set_reason(VMH_SKIP, "MADV_PAGEOUT is not supported");
			return vmh_set_reason(VMH_FAIL, "MADV_PAGEOUT: %s", strerror(errno));
		}
		left = 0;
		for (off = 0; off < len; off += psize()) {
			uint64_t e = pagemap_entry(p + off);

			if ((e & PME_PRESENT) || !(e & PME_SWAP))
				left++;
		}
		if (!left)
			return VMH_OK;
		nanosleep(&pause, NULL);
	}
	return vmh_set_reason(VMH_SKIP, "MADV_PAGEOUT left %zu of %zu pages in memory",
			      left, len / psize());
}

int open_proc(pid_t pid, const char *file, int flags)
{
	char path[64];
	int fd;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/%s", pid, file);
	else
		snprintf(path, sizeof(path), "/proc/self/%s", file);
	fd = open(path, flags);
	if (fd < 0 && !pid)
		ksft_print_msg("open %s: %s\n", path, strerror(errno));
	return fd;
}

void peer_fork(struct peer *p)
{
	int down[2], up[2];

	if (pipe(down) || pipe(up))
		ksft_exit_fail_msg("pipe: %s\n", strerror(errno));
	fflush(stdout);
	p->pid = fork();
	if (p->pid < 0)
		ksft_exit_fail_msg("fork: %s\n", strerror(errno));
	/* The parent writes down and reads up; the child the other way. */
	p->to = p->pid ? down[1] : up[1];
	p->from = p->pid ? up[0] : down[0];
	close(p->pid ? down[0] : up[0]);
	close(p->pid ? up[1] : down[1]);
}

void peer_send(const struct peer *p, char c)
{
	if (write(p->to, &c, 1) != 1)
		ksft_print_msg("pipe write: %s\n", strerror(errno));
}

int peer_recv(const struct peer *p)
{
	char c;

	return read(p->from, &c, 1) == 1 ? c : -1;
}

void child_exit(int status)
{
	fflush(stdout);
	_exit(status);
}

int peer_wait(struct peer *p, const char *what)
{
	int status;

	if (p->to >= 0)
		close(p->to);
	close(p->from);
	if (waitpid(p->pid, &status, 0) != p->pid)
		ksft_exit_fail_msg("waitpid: %s\n", strerror(errno));
	if (!WIFEXITED(status)) {
		ksft_print_msg("%s: child %d killed by signal %d\n", what,
			       p->pid, WTERMSIG(status));
		return KSFT_FAIL;
	}
	status = WEXITSTATUS(status);
	if (status == KSFT_PASS || status == KSFT_SKIP)
		return status;
	if (status != KSFT_FAIL)
		ksft_print_msg("%s: exit status %d\n", what, status);
	return KSFT_FAIL;
}
