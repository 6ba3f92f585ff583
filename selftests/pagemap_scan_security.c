// SPDX-License-Identifier: GPL-2.0
/*
 * PAGEMAP_SCAN adds no permission check of its own: whoever may open a
 * process's pagemap may scan and write-protect through the open file, as
 * read() may read it, and nobody else. An open file keeps its target (over
 * SCM_RIGHTS, across the receiver's exec) but not past the target's exec or
 * exit, and the ioctl reports no page frame numbers. The unprivileged side
 * is a child that became uid 65534 (or 65533); such cases need root.
 */
#define _GNU_SOURCE
#include <grp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
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

/* Modes of this program that the exec cases run. */
#define MODE_SCAN_PASSED	"--scan-passed-fd"
#define MODE_HOLD		"--hold"

static struct area a;		/* NR_PAGES fresh anonymous pages a case */
static long case_arg;		/* the running case's arg */
static int passed;		/* in in_child()'s child: the file passed */
static struct page_region vec[NR_VEC];

/* Write the pages of @addr whose bit is set in @pages. */
static void touch_mask(char *addr, unsigned int pages)
{
	int i;

	for (i = 0; i < NR_PAGES; i++)
		if (pages & (1u << i))
			addr[i * psize()] = (char)(i + 1);
}

/*
 * A scan of NR_PAGES at @addr through @fd with @flags, of the pages with
 * the categories @cat (0: all), reporting @ret into vec (a canary in it
 * first): the scan's result, or -EIO if it wrote after its regions.
 */
static long scan(int fd, const char *addr, __u64 flags, __u64 cat, __u64 ret)
{
	long n, i;

	memset(vec, VEC_CANARY, sizeof(vec));
	n = pagemap_scan(fd, (unsigned long)addr,
			 (unsigned long)addr + NR_PAGES * psize(), vec, NR_VEC,
			 flags, 0, 0, cat, 0, ret, NULL);
	i = n > 0 ? n : 0;
	if (check_bytes(&vec[i], (NR_VEC - i) * sizeof(*vec), VEC_CANARY))
		return n;
	ksft_print_msg("PAGEMAP_SCAN (%ld) wrote after its regions\n", n);
	return -EIO;
}

/*
 * Whether the pages of NR_PAGES at @addr that a scan through @fd with @flags
 * finds with @cat are @want, a bit a page; if not, it says so.
 */
static bool scan_finds(const char *what, int fd, const char *addr,
		       __u64 flags, __u64 cat, long want)
{
	long n = scan(fd, addr, flags, cat, cat), i, got = 0;
	unsigned long p;

	for (i = 0; i < n; i++)
		for (p = vec[i].start; p < vec[i].end; p += psize())
			got |= 1L << ((p - (unsigned long)addr) / psize());
	if (n < 0 || got != want)
		ksft_print_msg("%s: pages %#lx, expected %#lx (scan: %ld)\n",
			       what, got, want, n);
	return n >= 0 && got == want;
}

static bool expect_present(const char *what, int fd, const char *addr,
			   long want)
{
	return scan_finds(what, fd, addr, 0, PAGE_IS_PRESENT, want);
}

/* A pagemap entry read through @fd: present, with (or without) a PFN. */
static bool read_pme_is(const char *who, int fd, const void *addr, bool pfn)
{
	off_t off = (unsigned long)addr / psize() * sizeof(uint64_t);
	uint64_t e = 0;

	if (pread(fd, &e, sizeof(e), off) == sizeof(e) && (e & PME_PRESENT) &&
	    !!(e & PME_PFN_MASK) == pfn)
		return true;
	ksft_print_msg("%s: read() entry %#llx\n", who, (unsigned long long)e);
	return false;
}

/*
 * Fork @p; true in the child, which runs as @uid (0: stays root), dumpable
 * like a program that user started (changing the euid made it non-dumpable).
 */
static bool child_as(struct peer *p, uid_t uid)
{
	peer_fork(p);
	if (p->pid)
		return false;
	if (uid && (setgroups(0, NULL) || setresgid(uid, uid, uid) ||
		    setresuid(uid, uid, uid) || prctl(PR_SET_DUMPABLE, 1, 0, 0, 0))) {
		ksft_print_msg("becoming uid %u: %s\n", uid, strerror(errno));
		child_exit(KSFT_FAIL);
	}
	return true;
}

/*
 * With @send, send our own pagemap over @sock with SCM_RIGHTS: 0 once sent;
 * else receive a descriptor: the one received. -1 on failure.
 */
static int pass_pagemap(int sock, bool send)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl = { .hdr = { .cmsg_len = CMSG_LEN(sizeof(int)),
			   .cmsg_level = SOL_SOCKET, .cmsg_type = SCM_RIGHTS } };
	char byte = 'f';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	int fd = -1;
	bool sent;

	if (send) {
		fd = open_proc(0, "pagemap", O_RDONLY);
		memcpy(CMSG_DATA(&ctl.hdr), &fd, sizeof(int));
		sent = fd >= 0 && sendmsg(sock, &msg, 0) == 1;
		close(fd);
		fd = sent ? 0 : -1;
	} else if (recvmsg(sock, &msg, 0) == 1 &&
		   msg.msg_controllen >= CMSG_LEN(sizeof(int)) &&
		   ctl.hdr.cmsg_type == SCM_RIGHTS) {
		memcpy(&fd, CMSG_DATA(&ctl.hdr), sizeof(int));
	}
	if (fd < 0)
		ksft_print_msg("SCM_RIGHTS: %s\n", strerror(errno));
	return fd;
}

/*
 * The KSFT_ status of @fn run in a child of @uid. With @pass, the child
 * gets our pagemap (in passed) only through a socket: it is sent and
 * closed before the fork.
 */
static int in_child(uid_t uid, bool (*fn)(void), bool pass)
{
	int sv[2] = { -1, -1 }, ret = KSFT_FAIL;
	struct peer p;

	if (pass && socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		ksft_exit_fail_msg("socketpair: %s\n", strerror(errno));
	if (!pass || !pass_pagemap(sv[0], true)) {
		if (child_as(&p, uid)) {
			passed = pass ? pass_pagemap(sv[1], false) : -1;
			child_exit(pass && passed < 0 ? KSFT_FAIL : ksft_status(fn()));
		}
		ret = peer_wait(&p, "child");
	}
	close(sv[0]);		/* -1 without @pass */
	close(sv[1]);
	return ret;
}

/* Exec this program in @mode, with @x and @y as its next two arguments. */
static void exec_self(const char *mode, unsigned long x, unsigned long y)
{
	char xs[24], ys[24];
	char *args[] = { "/proc/self/exe", (char *)mode, xs, ys, NULL };

	snprintf(xs, sizeof(xs), "%lu", x);
	snprintf(ys, sizeof(ys), "%lu", y);
	fflush(stdout);
	execv(args[0], args);
}

/*
 * A process of @uid that wrote @pages and waits for the parent to finish.
 * Sent a 'd', it becomes non-dumpable and says 'n'; sent an 'x', it execs
 * this program in MODE_HOLD, which says 'x'.
 */
static void holder(struct peer *p, uid_t uid, unsigned int pages)
{
	int c;

	if (child_as(p, uid)) {
		touch_mask(a.addr, pages);
		peer_send(p, 'r');
		c = peer_recv(p);
		if (c == 'd' && !prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)) {
			peer_send(p, 'n');
			c = peer_recv(p);
		}
		if (c != 'x')
			child_exit(c == 'd' ? KSFT_FAIL : KSFT_PASS);
		exec_self(MODE_HOLD, p->to, p->from);
		child_exit(KSFT_FAIL);
	}
	if (peer_recv(p) != 'r')
		ksft_exit_fail_msg("the uid %u process did not start\n", uid);
}

/* open() of @pid's pagemap fails with EACCES or EPERM, read and write. */
static bool open_denied(const char *what, pid_t pid)
{
	static const int modes[] = { O_RDONLY, O_RDWR };
	bool ok = true;
	size_t i;
	int fd;

	for (i = 0; i < ARRAY_SIZE(modes); i++) {
		fd = open_proc(pid, "pagemap", modes[i]);
		if (fd >= 0 || (errno != EACCES && errno != EPERM)) {
			ksft_print_msg("%s: open(mode %d): %s\n", what,
				       modes[i], fd >= 0 ? "opened" : strerror(errno));
			ok = false;
		}
		if (fd >= 0)
			close(fd);
	}
	return ok;
}

/* A process that dropped root scans its own pagemap. */
static bool own_pagemap(void)
{
	touch_mask(a.addr, 0x5);
	return expect_present("nobody, own pagemap",
			      open_proc(0, "pagemap", O_RDONLY), a.addr, 0x5);
}

/* nobody may not open root's pagemap, nor another user's dumpable one. */
static int test_other_uid_denied(int unused)
{
	struct peer other, prober;
	bool ok;

	touch_mask(a.addr, 0x3);
	holder(&other, OTHER_USER, 0);
	if (child_as(&prober, NOBODY))
		child_exit(ksft_status(open_denied("nobody -> root", getppid()) &
				       open_denied("nobody -> uid 65533", other.pid)));
	ok = peer_wait(&prober, "nobody") == KSFT_PASS;
	ok &= peer_wait(&other, "uid 65533") == KSFT_PASS;
	return ksft_status(ok & expect_present("root's pagemap", pagemap_fd(), a.addr, 0x3));
}

static bool drop_cap_sys_ptrace(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data))
		return false;
	data[CAP_TO_INDEX(CAP_SYS_PTRACE)].effective &= ~CAP_TO_MASK(CAP_SYS_PTRACE);
	data[CAP_TO_INDEX(CAP_SYS_PTRACE)].permitted &= ~CAP_TO_MASK(CAP_SYS_PTRACE);
	return !syscall(SYS_capset, &hdr, data);
}

enum { NONDUMPABLE, NO_CAP_SYS_PTRACE };

/*
 * A prober opens nobody's pagemap (pages 0 and 3 written), then may no
 * longer: the target becomes non-dumpable (@how NONDUMPABLE, the prober is
 * nobody too), or the prober, root, drops CAP_SYS_PTRACE (it passes the
 * file mode check, not the ptrace one; where it may open environ, the same
 * check, pagemap must just agree). A new open is denied; the file opened
 * before still scans, and reads with PFNs only for root. Root may open it.
 */
static int test_loses_access(int how)
{
	struct peer tgt, prober;
	bool ok = true;
	int fd, ret;

	holder(&tgt, NOBODY, 0x9);
	if (child_as(&prober, how == NONDUMPABLE ? NOBODY : 0)) {
		fd = open_proc(tgt.pid, "pagemap", O_RDONLY);
		ok = expect_present("while allowed", fd, a.addr, 0x9);
		peer_send(&prober, 'o');
		if (peer_recv(&prober) != 'n' ||
		    (how == NO_CAP_SYS_PTRACE && !drop_cap_sys_ptrace()))
			child_exit(KSFT_FAIL);
		if (how == NO_CAP_SYS_PTRACE &&
		    open_proc(tgt.pid, "environ", O_RDONLY) >= 0)
			child_exit(open_proc(tgt.pid, "pagemap", O_RDONLY) < 0 ?
				   KSFT_FAIL : KSFT_SKIP);
		ok &= open_denied("no longer allowed", tgt.pid);
		ok &= expect_present("opened while allowed", fd, a.addr, 0x9);
		ok &= read_pme_is("opened while allowed", fd, a.addr,
				  how == NO_CAP_SYS_PTRACE);
		child_exit(ksft_status(ok));
	}
	ok &= peer_recv(&prober) == 'o';
	if (how == NONDUMPABLE) {
		peer_send(&tgt, 'd');
		ok &= peer_recv(&tgt) == 'n';
	}
	peer_send(&prober, 'n');
	ret = peer_wait(&prober, "prober");
	if (ret == KSFT_SKIP)
		vmh_set_reason(0, "this kernel lets root without CAP_SYS_PTRACE open another uid's /proc/<pid>/environ too (not mainline's ptrace rule); its pagemap agrees");
	fd = open_proc(tgt.pid, "pagemap", O_RDONLY);
	ok &= expect_present("root", fd, a.addr, 0x9);
	close(fd);
	ok &= peer_wait(&tgt, "target") == KSFT_PASS;
	return ok ? ret : KSFT_FAIL;
}

/*
 * read() shows PFNs to root only. A scan of the area (pages 0 and 2
 * written, 3 the zero page) reporting every category (but soft-dirty,
 * which depends on the config) gives exactly the expected regions and
 * writes nothing after them: no field a frame number could travel in.
 */
static bool no_pfn(void)
{
	const uint64_t w = PAGE_IS_WRITTEN | PAGE_IS_PRESENT;
	const struct region_exp e[] = {
		{ 0, 1, w }, { 1, 2, PAGE_IS_WRITTEN },
		{ 2, 3, w }, { 3, 4, w | PAGE_IS_PFNZERO },
	};
	int fd = open_proc(0, "pagemap", O_RDONLY);
	bool ok;

	touch_mask(a.addr, 0x5);
	touch_read(a.addr + 3 * psize(), psize());
	ok = regions_match(a.addr, psize(), vec,
			   scan(fd, a.addr, 0, 0, PM_SCAN_KNOWN_CATEGORIES & ~PAGE_IS_SOFT_DIRTY),
			   e, ARRAY_SIZE(e));
	ok &= read_pme_is(geteuid() ? "nobody" : "root", fd, a.addr, !geteuid());
	close(fd);
	return ok;
}

/*
 * The receiver of the SCM_RIGHTS cases maps its own pages at @addr (the
 * sender's address) and writes 1 and 3: the passed file @fd shows the
 * sender's 0 and 2, its own pagemap 1 and 3.
 */
static bool receiver_check(int fd, unsigned long addr)
{
	char *mine = mmap((void *)addr, NR_PAGES * psize(),
			  PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS |
			  MAP_FIXED_NOREPLACE, -1, 0);

	if (mine != (char *)addr) {
		ksft_print_msg("mmap at %#lx: %s\n", addr, strerror(errno));
		return false;
	}
	madvise(mine, NR_PAGES * psize(), MADV_NOHUGEPAGE);
	touch_mask(mine, 0xa);
	return expect_present("passed file", fd, mine, 0x5) &
	       expect_present("own pagemap", open_proc(0, "pagemap", O_RDONLY),
			      mine, 0xa);
}

/*
 * Pass our pagemap (pages 0 and 2 written) to a child that replaced the
 * area with its own (with case_arg, after exec'ing this program): its
 * scans show our pages.
 */
static bool scm_receiver(void)
{
	munmap(a.map, a.map_size);
	if (!case_arg)
		return receiver_check(passed, (unsigned long)a.addr);
	exec_self(MODE_SCAN_PASSED, passed, (unsigned long)a.addr);
	return false;
}

/* nobody gets and write-protects root's written pages through root's file. */
static bool nobody_wp_via_root(void)
{
	return scan_finds("get+WP through root's file", passed, a.addr,
			  PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
			  PAGE_IS_WRITTEN, 0xf) &&
	       read_pme_is("nobody via root's file", passed, a.addr, true);
}

/*
 * Root hands its own pagemap to nobody, which reads (PFNs included, by
 * the opener's credentials), scans and write-protects root's memory with
 * it: nothing is checked after open. Root's pages were really protected:
 * a new write shows alone.
 */
static int test_root_fd_handed_to_nobody(int unused)
{
	int uffd = uffd_async_wp(MEM_ANON, a.addr, a.size, false);
	bool ok;

	if (uffd < 0) {
		if (series_missing(true))
			return vmh_set_reason(KSFT_SKIP, "kernel lacks UFFD_FEATURE_WP_ASYNC/WP_UNPOPULATED");
		ksft_print_msg("%s\n", vmh_reason);
		return KSFT_FAIL;
	}
	touch_mask(a.addr, 0xf);
	ok = in_child(NOBODY, nobody_wp_via_root, true) == KSFT_PASS;
	touch_mask(a.addr, 0x4);
	ok = ok && scan_finds("root after nobody's WP", pagemap_fd(), a.addr,
			      0, PAGE_IS_WRITTEN, 0x4);
	close(uffd);
	return ksft_status(ok);
}

/* MODE_HOLD: say through argv[2] the exec is done, wait for EOF on argv[3]. */
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
 * A pagemap opened before its process execs (@exec) refers to the old mm:
 * ESRCH (read() gives nothing), never the new program's memory; a new
 * open reads the new program. A zombie's mm is gone already: ESRCH too.
 * Either way nothing is written.
 */
static int test_target_gone(int exec)
{
	siginfo_t si = { 0 };
	struct peer p;
	uint64_t e = 0;
	int fd, fd2;
	long ret;
	bool ok;

	holder(&p, 0, 0x6);
	fd = open_proc(p.pid, "pagemap", O_RDONLY);
	ok = expect_present("before", fd, a.addr, 0x6);
	if (exec) {
		peer_send(&p, 'x');
		ok &= peer_recv(&p) == 'x';	/* the new program runs */
		ok &= pread(fd, &e, sizeof(e), 0) <= 0;
		fd2 = open_proc(p.pid, "pagemap", O_RDONLY);
		ok &= pread(fd2, &e, sizeof(e), 0) == sizeof(e);
		close(fd2);
	} else {
		close(p.to);	/* let it exit */
		p.to = -1;
		if (waitid(P_PID, p.pid, &si, WEXITED | WNOWAIT))
			ksft_exit_fail_msg("waitid: %s\n", strerror(errno));
	}
	ret = scan(fd, a.addr, 0, 0, PM_SCAN_KNOWN_CATEGORIES);
	if (ret != -ESRCH) {
		ksft_print_msg("target gone: scan returned %ld\n", ret);
		ok = false;
	}
	close(fd);
	return ksft_status(ok & (peer_wait(&p, "target") == KSFT_PASS));
}

/*
 * @fn, or in a child of @uid (nobody or root) @child; @touch: pages written
 * first.
 */
static const struct {
	const char *name;
	int (*fn)(int arg);
	long arg;
	bool root;		/* skipped unless run as root (so is a @uid) */
	bool (*child)(void);
	uid_t uid;
	bool pass;		/* the child gets our pagemap through a socket */
	unsigned int touch;
} cases[] = {
	{ "own_pagemap_unprivileged", .child = own_pagemap, .uid = NOBODY },
	{ "other_uid_open_denied", .fn = test_other_uid_denied, .root = true },
	{ "nondumpable_same_uid", .fn = test_loses_access, .arg = NONDUMPABLE,
	  .root = true },
	{ "no_cap_sys_ptrace_open_denied", .fn = test_loses_access,
	  .arg = NO_CAP_SYS_PTRACE, .root = true },
	{ "no_pfn_unprivileged", .child = no_pfn, .uid = NOBODY },
	{ "no_pfn_root", .child = no_pfn, .root = true },
	{ "scm_rights_keeps_target", .child = scm_receiver, .pass = true, .touch = 0x5 },
	{ "scm_rights_after_exec", .arg = 1, .child = scm_receiver, .pass = true,
	  .touch = 0x5 },
	{ "root_fd_handed_to_nobody", .fn = test_root_fd_handed_to_nobody, .root = true },
	{ "target_exec_esrch", .fn = test_target_gone, .arg = 1 },
	{ "zombie_target_esrch", .fn = test_target_gone },
};

static int run_case(size_t i)
{
	const typeof(cases[0]) *c = &cases[i];
	int ret;

	if ((c->root || c->uid) && geteuid())
		return vmh_set_reason(KSFT_SKIP, "switching to other users needs root");
	ret = area_alloc(&a, MEM_ANON, NR_PAGES, false, 0);
	if (ret)
		return ret == VMH_SKIP ? KSFT_SKIP : KSFT_FAIL;
	touch_mask(a.addr, c->touch);
	case_arg = c->arg;
	ret = c->child ? in_child(c->uid, c->child, c->pass) : c->fn(c->arg);
	area_free(&a);
	return ret;
}

int main(int argc, char **argv)
{
	size_t i;

	/* argv[2] the passed file, argv[3] the sender's address */
	if (argc > 1 && !strcmp(argv[1], MODE_SCAN_PASSED))
		return ksft_status(argc == 4 && receiver_check(atoi(argv[2]),
							       strtoul(argv[3], NULL, 0)));
	if (argc > 1 && !strcmp(argv[1], MODE_HOLD))
		return hold_main(argc, argv);
	vmh_run_cases(i, ARRAY_SIZE(cases), false, cases[i].name,
		      vmh_report(cases[i].name, run_case(i)));
	return 0;
}
