#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Regenerate the recorded kselftest outputs in tests/data/ktap/ from the
# programs in this directory, built against a 6.1 kernel tree's kselftest
# headers. Usage: capture.sh <linux-6.1 tree> (default: the harness cache).
set -eu

KSRC=${1:-$HOME/.cache/pagemap-scan/linux}
SELFTESTS=$KSRC/tools/testing/selftests
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=$(dirname "$HERE")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# runner.sh names a program "selftests: <dir under BASE_DIR>: <program>"
mkdir -p "$WORK/pagemap"
ln -s "$SELFTESTS/kselftest" "$WORK/kselftest"
PROGS=$WORK/pagemap
# (relative source names: the harness prints __FILE__ in its messages)
cd "$HERE"
gcc -Wall -I"$SELFTESTS/vm" -o "$PROGS/ksft_cases" ksft_cases.c
gcc -Wall -I"$SELFTESTS/vm" -o "$PROGS/harness-cases" harness_cases.c

# The output of a program and its exit status, stdout line-buffered as on a
# console (otherwise a crash loses everything the program printed).
capture() {
	name=$1
	shift
	rc=0
	# (through a pipe: runner.sh appends to /dev/stdout from two processes)
	(cd "$PROGS" && timeout 10 stdbuf -oL "$@" 2>&1 || echo "rc=$?" >"$WORK/rc") |
		cat >"$DATA/$name.log"
	if [ -e "$WORK/rc" ]; then
		rc=$(sed 's/rc=//' "$WORK/rc")
		rm "$WORK/rc"
	fi
	echo "$rc" >"$DATA/$name.rc"
}

for scenario in all-passed skips failure xfail bail-out crash hang no-plan \
		plan-mismatch no-tests no-totals skip-all; do
	ln -sf ksft_cases "$PROGS/ksft-$scenario"
	capture "ksft-$scenario" "./ksft-$scenario"
done
capture harness-cases ./harness-cases

# kselftest's runner nests each program's output, "# "-prefixed, in its own
# TAP; a short timeout makes ksft-hang a TIMEOUT.
capture runner-nested sh -c "
	BASE_DIR='$WORK'
	. '$WORK/kselftest/runner.sh'
	kselftest_default_timeout=3
	run_many ./ksft-skips ./harness-cases ./ksft-crash ./ksft-hang"
