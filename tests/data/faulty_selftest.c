// SPDX-License-Identifier: GPL-2.0
/*
 * A selftest that goes wrong on purpose, for tests/test_faults.py: each mode
 * (argv[1]) is one way a real selftest can fail to report what it claims.
 *
 *   good            a complete passing run (the control)
 *   crash           1..5, two results, then SIGSEGV
 *   crash-buffered  the same with stdout left in its buffer: nothing printed
 *   no-plan         two results, no plan, exit 0
 *   truncated       1..5, two results, exit 0
 *   warn            log a forged kernel WARNING to /dev/kmsg, then pass
 *   hold FILE       1..2, one result, create FILE, sleep (to be killed)
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The header of a WARNING as the kernel prints it, from nowhere real. */
#define FORGED_WARNING \
	"<4>WARNING: CPU: 0 PID: 1 at mm/pmscan-fault.c:1 pmscan_fault_injected+0x0/0x10\n"
#define END_TRACE	"<4>---[ end trace 0000000000000000 ]---\n"

static void two_of(int planned)
{
	printf("TAP version 13\n");
	if (planned)
		printf("1..%d\n", planned);
	printf("ok 1 first\nok 2 second\n");
}

static int kmsg(const char *line)
{
	int fd = open("/dev/kmsg", O_WRONLY);
	int ok;

	if (fd < 0)
		return -1;
	ok = write(fd, line, strlen(line)) == (ssize_t)strlen(line);
	close(fd);
	return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	if (!strcmp(mode, "good") || !strcmp(mode, "warn")) {
		if (!strcmp(mode, "warn") &&
		    (kmsg(FORGED_WARNING) || kmsg(END_TRACE))) {
			printf("Bail out! cannot write /dev/kmsg\n");
			return 1;
		}
		printf("TAP version 13\n1..3\nok 1 first\nok 2 second\n"
		       "ok 3 third\n# Totals: pass:3 fail:0 xfail:0 xpass:0 skip:0 error:0\n");
		return 0;
	}
	if (!strcmp(mode, "crash") || !strcmp(mode, "crash-buffered")) {
		two_of(5);
		if (!strcmp(mode, "crash"))
			fflush(stdout);
		raise(SIGSEGV);
		return 0;
	}
	if (!strcmp(mode, "no-plan")) {
		two_of(0);
		return 0;
	}
	if (!strcmp(mode, "truncated")) {
		two_of(5);
		return 0;
	}
	if (!strcmp(mode, "hold") && argc > 2) {
		printf("TAP version 13\n1..2\nok 1 first\n");
		fflush(stdout);
		close(open(argv[2], O_WRONLY | O_CREAT, 0644));
		sleep(600);
		printf("ok 2 second\n");
		return 0;
	}
	fprintf(stderr, "usage: %s good|crash|crash-buffered|no-plan|truncated|warn|hold FILE\n",
		argv[0]);
	return 2;
}
