// SPDX-License-Identifier: GPL-2.0
/*
 * PAGEMAP_SCAN and the permission rules of /proc/<pid>/pagemap.
 *
 * The ioctl adds no permission check of its own: whoever may open a
 * process's pagemap (the open-time ptrace_may_access(PTRACE_MODE_READ)
 * check, and the file's owner and mode, which follow the target's
 * dumpability) may scan and write-protect through the open file, exactly as
 * read() may read it. These cases show both halves of that on the kernel
 * under test, with mainline (the host kernel) as the oracle:
 *
 * - an unprivileged process cannot open the pagemap of another uid's
 *   process, nor of a non-dumpable process of its own uid, so it has no file
 *   to scan or write-protect through; a process that dropped its privileges
 *   can still scan its own; root without CAP_SYS_PTRACE, which the file's
 *   mode would let in, is kept out by the ptrace check alone;
 * - a file, once open, keeps its target: passed over SCM_RIGHTS it scans
 *   the sender, also after the receiver execs; opened by root and handed to
 *   an unprivileged process it scans and write-protects (as read() reads);
 *   it does not follow its target into a new program (exec), nor survive
 *   the target's exit (the reaped case is pagemap_scan_args's
 *   exited_process_esrch; here the target is a zombie);
 * - the ioctl reports no page frame numbers to anyone: only addresses in
 *   the scanned range and defined category bits, where read() of the same
 *   pagemap shows root the PFNs.
 *
 * The unprivileged side is a forked child that switched to uid/gid 65534
 * (nobody), or 65533 for a second unprivileged user. Cases that need to
 * switch users skip when the program does not run as root.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <grp.h>
#include <inttypes.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <linux/capability.h>
#include "../kselftest.h"
#include "vm_util.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE	0x100000
#endif

#define NOBODY			65534
#define OTHER_USER		65533
#define NR_PAGES		4
#define NR_VEC			8
#define VEC_CANARY		0xc3

/* Hidden modes of this program, run through exec by the cases below. */
#define MODE_SCAN_PASSED	"--scan-passed-fd"
#define MODE_HOLD		"--hold"

/* Each case gets NR_PAGES fresh anonymous pages here (main()). */
static struct area a;

static int result(bool ok)
{
	return ok ? KSFT_PASS : KSFT_FAIL;
}

/* --- pages and scans ------------------------------------------------------ */

/* Write the pages of @addr whose bit is set in @pages (bit i: page i). */
static void touch_mask(char *addr, unsigned int pages)
{
	int i;

	for (i = 0; i < NR_PAGES; i++)
		if (pages & (1u << i))
			addr[i * psize()] = (char)(i + 1);
}

/*
 * The present pages of [addr, addr + NR_PAGES pages) as a bit mask, as the
 * pagemap file @fd reports them; -errno if the scan failed.
 */
static long present_mask(int fd, const char *addr)
{
	struct page_region vec[NR_VEC];
	unsigned long p;
	long n, i, mask = 0;

	n = pagemap_scan(fd, (unsigned long)addr,
			 (unsigned long)addr + NR_PAGES * psize(), vec, NR_VEC,
			 0, 0, 0, PAGE_IS_PRESENT, 0, PAGE_IS_PRESENT, NULL);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++)
		for (p = vec[i].start; p < vec[i].end; p += psize())
			mask |= 1L << ((p - (unsigned long)addr) / psize());
	return mask;
}

static bool expect_present(const char *what, int fd, const char *addr,
			   long want)
{
	long got = present_mask(fd, addr);

	if (got == want)
		return true;
	if (got < 0)
		ksft_print_msg("%s: PAGEMAP_SCAN failed: %s\n", what,
			       strerror((int)-got));
	else
		ksft_print_msg("%s: present pages %#lx, expected %#lx\n", what,
			       got, want);
	return false;
}

/* Map NR_PAGES fresh pages exactly at @addr, which must be free. */
static char *map_at(unsigned long addr)
{
	char *p = mmap((void *)addr, NR_PAGES * psize(), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
		       -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if ((unsigned long)p != addr) {
		munmap(p, NR_PAGES * psize());
		return NULL;
	}
	madvise(p, NR_PAGES * psize(), MADV_NOHUGEPAGE);
	return p;
}

/* A pagemap entry read through @fd, which must be present with (or without) a PFN. */
static bool read_pme_is(const char *who, int fd, const void *addr, bool pfn)
{
	off_t off = (unsigned long)addr / psize() * sizeof(uint64_t);
	uint64_t e = 0;

	if (pread(fd, &e, sizeof(e), off) == sizeof(e) && (e & PME_PRESENT) &&
	    !!(e & PME_PFN_MASK) == pfn)
		return true;
	ksft_print_msg("%s: read() entry %#llx, expected present with %s\n",
		       who, (unsigned long long)e, pfn ? "a PFN" : "PFN 0");
	return false;
}

/* --- processes ------------------------------------------------------------ */

/*
 * Become an ordinary process of @uid: no supplementary groups, real,
 * effective and saved ids all @uid. Changing the euid makes the process
 * non-dumpable (fs.suid_dumpable); a program started by that user is
 * dumpable, so that is put back.
 */
static bool become(uid_t uid)
{
	if (setgroups(0, NULL) || setresgid(uid, uid, uid) ||
	    setresuid(uid, uid, uid)) {
		ksft_print_msg("switching to uid %u: %s\n", uid,
			       strerror(errno));
		return false;
	}
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)) {
		ksft_print_msg("PR_SET_DUMPABLE: %s\n", strerror(errno));
		return false;
	}
	return true;
}

/* Fork @p; true in the child, which runs as @uid (0: stays root). */
static bool child_as(struct peer *p, uid_t uid)
{
	peer_fork(p);
	if (p->pid)
		return false;
	if (uid && !become(uid))
		child_exit(KSFT_FAIL);
	return true;
}

/*
 * A process of @uid that writes @pages of the area, says 'r' and waits
 * until the parent sends a byte or closes its end; returns once it is
 * ready.
 */
static void holder(struct peer *p, uid_t uid, unsigned int pages)
{
	if (child_as(p, uid)) {
		touch_mask(a.addr, pages);
		peer_send(p, 'r');
		peer_recv(p);
		child_exit(KSFT_PASS);
	}
	if (peer_recv(p) != 'r')
		ksft_exit_fail_msg("the uid %u process did not start\n", uid);
}

/* --- passing file descriptors ----------------------------------------------- */

/*
 * Send @fd over @sock with SCM_RIGHTS, or with @fd -1 receive one: the
 * descriptor received (without close-on-exec), 0 once sent, -1 on failure.
 */
static int pass_fd(int sock, int fd)
{
	char byte = 'f';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	memset(&ctl, 0, sizeof(ctl));
	if (fd >= 0) {
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
		if (sendmsg(sock, &msg, 0) == 1)
			return 0;
	} else if (recvmsg(sock, &msg, 0) == 1) {
		c = CMSG_FIRSTHDR(&msg);
		if (c && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int))) {
			memcpy(&fd, CMSG_DATA(c), sizeof(int));
			return fd;
		}
		errno = EBADMSG;
	}
	ksft_print_msg("%s SCM_RIGHTS: %s\n", fd >= 0 ? "sendmsg" : "recvmsg",
		       strerror(errno));
	return -1;
}

/* Open our own pagemap now and send it over @sock. */
static bool send_own_pagemap(int sock)
{
	int fd = open_proc(0, "pagemap", O_RDONLY);
	bool ok = fd >= 0 && !pass_fd(sock, fd);

	if (fd >= 0)
		close(fd);
	return ok;
}

/* --- who may open ------------------------------------------------------------ */

/* open() of @pid's pagemap must fail with EACCES or EPERM, read and write. */
static bool open_denied(const char *what, pid_t pid)
{
	static const int modes[] = { O_RDONLY, O_RDWR };
	bool ok = true;
	size_t i;
	int fd;

	for (i = 0; i < ARRAY_SIZE(modes); i++) {
		fd = open_proc(pid, "pagemap", modes[i]);
		if (fd >= 0) {
			ksft_print_msg("%s: open(%s) succeeded\n", what,
				       modes[i] == O_RDONLY ? "O_RDONLY" :
				       "O_RDWR");
			close(fd);
			ok = false;
		} else if (errno != EACCES && errno != EPERM) {
			ksft_print_msg("%s: open failed with %s, expected EACCES or EPERM\n",
				       what, strerror(errno));
			ok = false;
		}
	}
	return ok;
}

/*
 * A process that dropped root for nobody opens its own pagemap and scans
 * it: the ioctl needs no privilege beyond the open.
 */
static int test_own_pagemap_unprivileged(int unused)
{
	struct peer p;

	if (child_as(&p, NOBODY)) {
		int fd = open_proc(0, "pagemap", O_RDONLY);

		touch_mask(a.addr, 0x5);
		child_exit(result(expect_present("nobody, own pagemap", fd,
						 a.addr, 0x5)));
	}
	return peer_wait(&p, "own pagemap");
}

/*
 * nobody may not open the pagemap of a root process, nor that of a
 * dumpable process of another unprivileged user: there is no file to scan
 * or write-protect through. The root target's pages stay as they were.
 */
static int test_other_uid_denied(int unused)
{
	struct peer other, prober;
	bool ok;

	touch_mask(a.addr, 0x3);
	/* A process of another unprivileged user, holding still. */
	holder(&other, OTHER_USER, 0);
	if (child_as(&prober, NOBODY)) {
		ok = open_denied("nobody -> root", getppid());
		ok &= open_denied("nobody -> uid 65533", other.pid);
		child_exit(result(ok));
	}
	ok = peer_wait(&prober, "prober") == KSFT_PASS;
	ok &= peer_wait(&other, "uid 65533") == KSFT_PASS;
	ok &= expect_present("root's own pagemap afterwards", pagemap_fd(),
			     a.addr, 0x3);
	return result(ok);
}

/*
 * Two nobody processes: the prober can open and scan the target's pagemap
 * while the target is dumpable, and cannot open it once the target made
 * itself non-dumpable. A file opened before that keeps working, for read()
 * and the ioctl alike: the check is made when the file is opened.
 */
static int test_nondumpable_same_uid(int unused)
{
	struct peer target, prober;
	bool ok = true;
	int fd;

	if (child_as(&target, NOBODY)) {
		touch_mask(a.addr, 0x9);
		peer_send(&target, 'r');	/* dumpable, pages written */
		if (peer_recv(&target) != 'd' || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0))
			child_exit(KSFT_FAIL);
		peer_send(&target, 'n');	/* non-dumpable now */
		peer_recv(&target);
		child_exit(KSFT_PASS);
	}
	if (peer_recv(&target) != 'r')
		ksft_exit_fail_msg("the target process did not start\n");

	if (child_as(&prober, NOBODY)) {
		fd = open_proc(target.pid, "pagemap", O_RDONLY);
		if (fd < 0) {
			ksft_print_msg("open of a dumpable same-uid process: %s\n",
				       strerror(errno));
			child_exit(KSFT_FAIL);
		}
		ok = expect_present("dumpable target", fd, a.addr, 0x9);
		peer_send(&prober, 'o');
		if (peer_recv(&prober) != 'n')	/* target is non-dumpable */
			child_exit(KSFT_FAIL);
		ok &= open_denied("nobody -> non-dumpable nobody", target.pid);
		/* The file opened before still reads and scans. */
		ok &= expect_present("file opened while dumpable", fd, a.addr,
				     0x9);
		ok &= read_pme_is("file opened while dumpable", fd, a.addr, false);
		child_exit(result(ok));
	}
	ok &= peer_recv(&prober) == 'o';
	peer_send(&target, 'd');
	ok &= peer_recv(&target) == 'n';
	peer_send(&prober, 'n');
	ok &= peer_wait(&prober, "prober") == KSFT_PASS;

	/* Root (CAP_SYS_PTRACE) still may: the same rule as for read(). */
	fd = open_proc(target.pid, "pagemap", O_RDONLY);
	if (fd < 0)
		ksft_print_msg("root: open of the non-dumpable process: %s\n",
			       strerror(errno));
	ok &= fd >= 0 && expect_present("root scanning the non-dumpable process",
					fd, a.addr, 0x9);
	if (fd >= 0)
		close(fd);
	ok &= peer_wait(&target, "target") == KSFT_PASS;
	return result(ok);
}

/* Drop CAP_SYS_PTRACE from the effective and permitted sets. */
static bool drop_cap_sys_ptrace(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2];
	const unsigned int bit = CAP_SYS_PTRACE;

	if (syscall(SYS_capget, &hdr, data))
		return false;
	data[bit / 32].effective &= ~(1u << (bit % 32));
	data[bit / 32].permitted &= ~(1u << (bit % 32));
	return !syscall(SYS_capset, &hdr, data);
}

/*
 * The open-time ptrace_may_access() check on its own: a root process
 * without CAP_SYS_PTRACE still passes the file's permission check
 * (CAP_DAC_OVERRIDE), but may not open nobody's pagemap, while the file it
 * opened before dropping the capability still scans: nothing is checked
 * again at the ioctl.
 */
static int test_no_cap_sys_ptrace(int unused)
{
	struct peer target, prober;
	int ret, before, env;
	bool ok;

	holder(&target, NOBODY, 0x3);
	if (child_as(&prober, 0)) {
		before = open_proc(target.pid, "pagemap", O_RDONLY);
		if (before < 0) {
			ksft_print_msg("root with CAP_SYS_PTRACE: open: %s\n",
				       strerror(errno));
			child_exit(KSFT_FAIL);
		}
		if (!drop_cap_sys_ptrace()) {
			ksft_print_msg("capset: %s\n", strerror(errno));
			child_exit(KSFT_FAIL);
		}
		/*
		 * environ is opened through the same check (proc_mem_open,
		 * PTRACE_MODE_READ): where this kernel's ptrace rule lets
		 * the process in there, it is not mainline's rule, and the
		 * pagemap must simply agree.
		 */
		env = open_proc(target.pid, "environ", O_RDONLY);
		if (env >= 0) {
			close(env);
			env = open_proc(target.pid, "pagemap", O_RDONLY);
			if (env < 0)
				ksft_print_msg("environ opens, pagemap does not: %s\n",
					       strerror(errno));
			child_exit(env < 0 ? KSFT_FAIL : KSFT_SKIP);
		}
		ok = open_denied("root without CAP_SYS_PTRACE -> nobody",
				 target.pid);
		ok &= expect_present("file opened with CAP_SYS_PTRACE", before,
				     a.addr, 0x3);
		child_exit(result(ok));
	}
	ret = peer_wait(&prober, "prober");
	if (ret == KSFT_SKIP)
		vmh_set_reason(0, "this kernel lets root without CAP_SYS_PTRACE open another uid's /proc/<pid>/environ too (not mainline's ptrace rule); its pagemap agrees");
	return peer_wait(&target, "target") == KSFT_PASS ? ret : KSFT_FAIL;
}

/* --- no page frame numbers ---------------------------------------------------- */

/*
 * Scan the area (pages 0 and 2 written, page 3 read: the zero page) with
 * every category reported. The output must be exactly the expected
 * regions, made of addresses in the range and category bits
 * PM_SCAN_KNOWN_CATEGORIES defines, and nothing after the last region may
 * be written: there is no field a frame number could travel in.
 */
static bool scan_has_no_pfn(const char *who, int fd)
{
	unsigned long start = (unsigned long)a.addr;
	unsigned long end = start + a.size;
	struct page_region vec[NR_VEC];
	const unsigned char *b;
	bool ok = true;
	size_t i;
	long n;

	touch_mask(a.addr, 0x5);
	touch_read(a.addr + 3 * psize(), psize());
	memset(vec, VEC_CANARY, sizeof(vec));
	n = pagemap_scan(fd, start, end, vec, NR_VEC, 0, 0, 0, 0, 0,
			 PM_SCAN_KNOWN_CATEGORIES, NULL);
	if (n < 0) {
		ksft_print_msg("%s: PAGEMAP_SCAN: %s\n", who, strerror((int)-n));
		return false;
	}
	for (i = 0; i < (size_t)n; i++) {
		if (vec[i].start < start || vec[i].end > end ||
		    vec[i].start >= vec[i].end ||
		    (vec[i].start | vec[i].end) % psize()) {
			ksft_print_msg("%s: region %zu [%#llx, %#llx) is not a page range inside [%#lx, %#lx)\n",
				       who, i, (unsigned long long)vec[i].start,
				       (unsigned long long)vec[i].end, start,
				       end);
			ok = false;
		}
		if (vec[i].categories & ~PM_SCAN_KNOWN_CATEGORIES) {
			ksft_print_msg("%s: region %zu has undefined category bits %#llx\n",
				       who, i,
				       (unsigned long long)vec[i].categories);
			ok = false;
		}
		/* Soft-dirty is config-dependent: leave it out of the match. */
		vec[i].categories &= ~PAGE_IS_SOFT_DIRTY;
	}
	b = (const unsigned char *)&vec[n];
	for (i = 0; i < (NR_VEC - (size_t)n) * sizeof(*vec); i++) {
		if (b[i] != VEC_CANARY) {
			ksft_print_msg("%s: byte %zu after the %ld regions was written\n",
				       who, i, n);
			ok = false;
			break;
		}
	}
	/* And it is the layout itself: written, written, zero page. */
	if (ok) {
		const uint64_t w = PAGE_IS_WRITTEN | PAGE_IS_PRESENT;
		struct region_exp e[] = {
			{ 0, 1, w }, { 1, 2, PAGE_IS_WRITTEN },
			{ 2, 3, w }, { 3, 4, w | PAGE_IS_PFNZERO },
		};

		ok = regions_match(a.addr, psize(), vec, n, e, ARRAY_SIZE(e));
	}
	return ok;
}

/*
 * nobody scans its own memory with every category reported and gets no
 * frame numbers; read() of its own pagemap, for contrast, shows the pages
 * present with a PFN of 0 (it lacks CAP_SYS_ADMIN).
 */
static int test_no_pfn_unprivileged(int unused)
{
	struct peer p;

	if (child_as(&p, NOBODY)) {
		int fd = open_proc(0, "pagemap", O_RDONLY);
		bool ok = scan_has_no_pfn("nobody", fd);

		child_exit(result(read_pme_is("nobody", fd, a.addr, false) && ok));
	}
	return peer_wait(&p, "nobody");
}

/*
 * Root's read() of the pagemap shows the PFN of a written page; root's
 * scan of the same pages still carries none.
 */
static int test_no_pfn_root(int unused)
{
	int fd = open_proc(0, "pagemap", O_RDONLY);
	bool ok = scan_has_no_pfn("root", fd);

	ok &= read_pme_is("root", fd, a.addr, true);
	close(fd);
	return result(ok);
}

/* --- a file keeps its target ------------------------------------------------- */

/*
 * The receiver's side of the SCM_RIGHTS cases, in the receiver's own
 * memory: map NR_PAGES at @addr (the sender's address), write pages 1 and
 * 3, then check the passed file @fd shows the sender's pages 0 and 2 while
 * its own pagemap shows 1 and 3. Returns a KSFT_ status.
 */
static int receiver_check(int fd, unsigned long addr, const char *who)
{
	char what[64];
	char *mine;
	bool ok;

	mine = map_at(addr);
	if (!mine) {
		ksft_print_msg("%s: cannot map at the sender's address %#lx: %s\n",
			       who, addr, strerror(errno));
		return KSFT_FAIL;
	}
	touch_mask(mine, 0xa);
	snprintf(what, sizeof(what), "%s, passed file", who);
	ok = expect_present(what, fd, mine, 0x5);
	snprintf(what, sizeof(what), "%s, own pagemap", who);
	ok &= expect_present(what, open_proc(0, "pagemap", O_RDONLY), mine, 0xa);
	return result(ok);
}

/*
 * MODE_SCAN_PASSED: this program, exec'ed by a receiver that holds the
 * passed file as descriptor argv[2]; argv[3] is the sender's address.
 */
static int scan_passed_main(int argc, char **argv)
{
	if (argc != 4)
		return KSFT_FAIL;
	return receiver_check(atoi(argv[2]), strtoul(argv[3], NULL, 0),
			      "after exec");
}

/*
 * The sender (this process) writes pages 0 and 2 of an area and passes its
 * pagemap over SCM_RIGHTS to a child that replaced the area with its own
 * (pages 1 and 3 written): the child's scans through the file show the
 * sender's pages. With @exec, the child first execs this program, which
 * maps the address anew, so nothing of the sender's layout is left in it.
 */
static int test_scm_rights(int exec)
{
	struct peer p;
	int sv[2];
	bool ok;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		ksft_exit_fail_msg("socketpair: %s\n", strerror(errno));
	if (child_as(&p, 0)) {
		char fdarg[16], addrarg[32];
		char *args[] = { "/proc/self/exe", MODE_SCAN_PASSED, fdarg,
				 addrarg, NULL };
		int got;

		close(sv[0]);
		/* Drop the inherited mapping: the address is reused below. */
		munmap(a.map, a.map_size);
		got = pass_fd(sv[1], -1);
		if (got < 0)
			child_exit(KSFT_FAIL);
		if (!exec)
			child_exit(receiver_check(got, (unsigned long)a.addr,
						  "receiver"));
		snprintf(fdarg, sizeof(fdarg), "%d", got);
		snprintf(addrarg, sizeof(addrarg), "%#lx",
			 (unsigned long)a.addr);
		fflush(stdout);
		execv(args[0], args);
		ksft_print_msg("exec %s: %s\n", args[0], strerror(errno));
		child_exit(KSFT_FAIL);
	}
	close(sv[1]);
	touch_mask(a.addr, 0x5);
	/* Opened after the fork: the child gets it only through the socket. */
	ok = send_own_pagemap(sv[0]);
	ok &= peer_wait(&p, "receiver") == KSFT_PASS;
	close(sv[0]);
	return result(ok);
}

/*
 * Root opens its own pagemap and hands the file to a process that became
 * nobody. nobody could not have opened it (test_other_uid_denied), but with
 * the file it reads, scans and write-protects root's memory: no check is
 * made after open, for read() as for the ioctl (mainline 6.18 behaves so).
 */
static int test_root_fd_handed_to_nobody(int unused)
{
	unsigned long start = (unsigned long)a.addr;
	struct page_region vec[NR_VEC];
	struct peer p;
	int sv[2], uffd;
	bool ok;
	long n;

	uffd = uffd_async_wp(MEM_ANON, a.addr, a.size, false);
	if (uffd < 0) {
		if (series_missing(true))
			return vmh_set_reason(KSFT_SKIP, "kernel lacks UFFD_FEATURE_WP_ASYNC/WP_UNPOPULATED");
		ksft_print_msg("%s\n", vmh_reason);
		return KSFT_FAIL;
	}
	touch_mask(a.addr, 0xf);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		ksft_exit_fail_msg("socketpair: %s\n", strerror(errno));
	if (child_as(&p, NOBODY)) {
		int got = pass_fd(sv[1], -1);

		if (got < 0)
			child_exit(KSFT_FAIL);
		/* Write-protect root's written pages, reporting them. */
		n = pagemap_scan(got, start, start + a.size, vec, NR_VEC,
				 PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
				 0, 0, PAGE_IS_WRITTEN, 0, PAGE_IS_WRITTEN,
				 NULL);
		ok = n == 1 && vec[0].start == start &&
		     vec[0].end == start + a.size;
		if (!ok)
			ksft_print_msg("nobody's get+WP through root's file: %ld regions\n",
				       n);
		/*
		 * read() decides on PFNs by the credentials the file was
		 * opened with: nobody sees root's PFNs through root's file.
		 * The scan above had no field to carry them in.
		 */
		ok &= read_pme_is("nobody's read() through root's file", got,
				  a.addr, true);
		peer_send(&p, 'w');
		child_exit(result(ok));
	}
	close(sv[1]);
	ok = send_own_pagemap(sv[0]);
	ok &= peer_recv(&p) == 'w';
	ok &= peer_wait(&p, "nobody") == KSFT_PASS;
	close(sv[0]);
	/* Root's pages were really protected: a new write shows alone. */
	if (ok) {
		struct region_exp e[] = { { 2, 3, PAGE_IS_WRITTEN } };

		a.addr[2 * psize()] = 9;
		n = pagemap_scan(pagemap_fd(), start, start + a.size, vec,
				 NR_VEC, 0, 0, 0, PAGE_IS_WRITTEN, 0,
				 PAGE_IS_WRITTEN, NULL);
		ok = regions_match(a.addr, psize(), vec, n, e, ARRAY_SIZE(e));
	}
	close(uffd);
	return result(ok);
}

/* --- a file does not follow its target into a new program or past exit ------- */

/*
 * MODE_HOLD: tell the parent through argv[2] that the exec is done, then
 * wait until argv[3] reaches EOF.
 */
static int hold_main(int argc, char **argv)
{
	char c = 'x';

	if (argc != 4 || write(atoi(argv[2]), &c, 1) != 1)
		return KSFT_FAIL;
	while (read(atoi(argv[3]), &c, 1) > 0)
		;
	return KSFT_PASS;
}

/*
 * A pagemap opened before its process execs refers to the mm the process
 * left behind, which is gone: the scan fails with ESRCH (as read() returns
 * nothing), never reports the new program's memory. A fresh open sees the
 * new program.
 */
static int test_target_exec(int unused)
{
	struct peer p;
	uint64_t e = 0;
	int fd, fd2;
	bool ok;
	long ret;

	if (child_as(&p, 0)) {
		char rd[16], gofd[16];
		char *args[] = { "/proc/self/exe", MODE_HOLD, rd, gofd, NULL };

		touch_mask(a.addr, 0x6);
		peer_send(&p, 'r');
		if (peer_recv(&p) != 'x')
			child_exit(KSFT_FAIL);
		snprintf(rd, sizeof(rd), "%d", p.to);
		snprintf(gofd, sizeof(gofd), "%d", p.from);
		fflush(stdout);
		execv(args[0], args);
		child_exit(KSFT_FAIL);
	}
	if (peer_recv(&p) != 'r')
		ksft_exit_fail_msg("child did not start\n");
	fd = open_proc(p.pid, "pagemap", O_RDONLY);
	if (fd < 0)
		ksft_exit_fail_msg("open the child's pagemap: %s\n",
				   strerror(errno));
	ok = expect_present("before exec", fd, a.addr, 0x6);
	peer_send(&p, 'x');
	ok &= peer_recv(&p) == 'x';	/* the new program runs */

	ret = present_mask(fd, a.addr);
	if (ret != -ESRCH) {
		ksft_print_msg("file opened before exec: scan returned %ld (%s), expected ESRCH\n",
			       ret, ret < 0 ? strerror((int)-ret) : "success");
		ok = false;
	}
	/* read() of the old file gives nothing either... */
	if (pread(fd, &e, sizeof(e), 0) > 0) {
		ksft_print_msg("file opened before exec: read() returned an entry\n");
		ok = false;
	}
	/* ...while a file opened now reads the new program's pagemap. */
	fd2 = open_proc(p.pid, "pagemap", O_RDONLY);
	if (fd2 < 0 || pread(fd2, &e, sizeof(e), 0) != sizeof(e)) {
		ksft_print_msg("open and read after exec: %s\n",
			       strerror(errno));
		ok = false;
	}
	if (fd2 >= 0)
		close(fd2);
	close(fd);
	ok &= peer_wait(&p, "exec'ed child") == KSFT_PASS;
	return result(ok);
}

/*
 * The target has exited but is not reaped yet (a zombie): its mm is gone
 * already, so the scan fails with ESRCH and writes nothing. (The reaped
 * case is pagemap_scan_args's exited_process_esrch.)
 */
static int test_zombie_target(int unused)
{
	struct page_region vec[NR_VEC];
	struct peer p;
	siginfo_t si;
	__u64 walk_end;
	bool ok;
	long ret;
	int fd;

	holder(&p, 0, 0x1);
	fd = open_proc(p.pid, "pagemap", O_RDONLY);
	if (fd < 0)
		ksft_exit_fail_msg("open the child's pagemap: %s\n",
				   strerror(errno));
	ok = expect_present("alive", fd, a.addr, 0x1);
	close(p.to);	/* let it exit */
	p.to = -1;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, p.pid, &si, WEXITED | WNOWAIT))
		ksft_exit_fail_msg("waitid: %s\n", strerror(errno));

	memset(vec, VEC_CANARY, sizeof(vec));
	ret = pagemap_scan(fd, (unsigned long)a.addr,
			   (unsigned long)a.addr + a.size, vec, NR_VEC, 0, 0,
			   0, 0, 0, PM_SCAN_KNOWN_CATEGORIES, &walk_end);
	if (ret != -ESRCH) {
		ksft_print_msg("zombie: scan returned %ld, expected ESRCH\n",
			       ret);
		ok = false;
	}
	if (((unsigned char *)vec)[0] != VEC_CANARY) {
		ksft_print_msg("zombie: the scan wrote to vec\n");
		ok = false;
	}
	close(fd);
	ok &= peer_wait(&p, "zombie") == KSFT_PASS;
	return result(ok);
}

static const struct {
	const char *name;
	int (*fn)(int arg);
	int arg;
	bool root;		/* switches users: skipped unless run as root */
} cases[] = {
	{ "own_pagemap_unprivileged", test_own_pagemap_unprivileged, 0, true },
	{ "other_uid_open_denied", test_other_uid_denied, 0, true },
	{ "nondumpable_same_uid", test_nondumpable_same_uid, 0, true },
	{ "no_cap_sys_ptrace_open_denied", test_no_cap_sys_ptrace, 0, true },
	{ "no_pfn_unprivileged", test_no_pfn_unprivileged, 0, true },
	{ "no_pfn_root", test_no_pfn_root, 0, true },
	{ "scm_rights_keeps_target", test_scm_rights, 0, false },
	{ "scm_rights_after_exec", test_scm_rights, 1, false },
	{ "root_fd_handed_to_nobody", test_root_fd_handed_to_nobody, 0, true },
	{ "target_exec_esrch", test_target_exec, 0, false },
	{ "zombie_target_esrch", test_zombie_target, 0, false },
};

/* A case with a fresh area of NR_PAGES anonymous pages, freed afterwards. */
static int run_case(size_t i)
{
	int ret;

	if (cases[i].root && geteuid())
		return vmh_set_reason(KSFT_SKIP, "switching to other users needs root");
	ret = area_alloc(&a, MEM_ANON, NR_PAGES, false, 0);
	if (ret)
		return ret == VMH_SKIP ? KSFT_SKIP : KSFT_FAIL;
	ret = cases[i].fn(cases[i].arg);
	area_free(&a);
	return ret;
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc > 1 && !strcmp(argv[1], MODE_SCAN_PASSED))
		return scan_passed_main(argc, argv);
	if (argc > 1 && !strcmp(argv[1], MODE_HOLD))
		return hold_main(argc, argv);

	vmh_run_cases(i, ARRAY_SIZE(cases), false, cases[i].name,
		      vmh_report(cases[i].name, run_case(i)));
	return 0;
}
