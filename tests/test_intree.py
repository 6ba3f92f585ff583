"""Patch 0005 in the tree: 6.1's kselftest make runs the series' programs.

In our guest every program of the series passes; on plain 6.1 (Debian's
build of the same source, without the series) every one of them skips.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import intree, ktap, pipeline, targets
from harness.paths import Layout, layout
from harness.report import REPRODUCERS

RUNNER_OUTPUT = """\
TAP version 13
1..4
# selftests: vm: madv_populate
# TAP version 13
# 1..1
# ok 1 populate
ok 1 selftests: vm: madv_populate
# selftests: vm: pagemap_scan_args
# TAP version 13
# 1..2
# ok 1 # SKIP argument checks: kernel lacks PAGEMAP_SCAN
# ok 2 # SKIP walk_end: kernel lacks PAGEMAP_SCAN
ok 2 selftests: vm: pagemap_scan_args # SKIP
# selftests: vm: pagemap_scan_wp
# TAP version 13
# 1..3
# ok 1 cycle
not ok 3 selftests: vm: pagemap_scan_wp # TIMEOUT 45 seconds
# selftests: vm: uffd_wp_async
# TAP version 13
# 1..1
# not ok 1 async write
not ok 4 selftests: vm: uffd_wp_async # exit=1
"""


def test_parse_reads_the_runner_lines() -> None:
    got = intree.parse(RUNNER_OUTPUT)
    assert sorted(got) == ["madv_populate", "pagemap_scan_args", "pagemap_scan_wp",
                           "uffd_wp_async"]
    populate = got["madv_populate"]
    assert populate.status is ktap.Status.PASS
    assert ktap.Counts.of(populate.children) == ktap.Counts(passed=1)
    args = got["pagemap_scan_args"]
    assert args.status is ktap.Status.SKIP and ktap.Counts.of(args.children).skipped == 2
    timeout = got["pagemap_scan_wp"]
    assert timeout.status is ktap.Status.TIMEOUT and not timeout.ok
    failed = got["uffd_wp_async"]
    assert failed.status is ktap.Status.FAIL and ktap.Counts.of(failed.children).failed == 1
    assert "TIMEOUT" in intree.describe(timeout) and "1 passed" in intree.describe(timeout)


def test_the_run_is_restricted_to_the_programs_not_run_vmtests() -> None:
    argv = intree.make_argv(Path("/k"), "run_tests")
    assert argv[:4] == ["make", "-C", "/k/tools/testing/selftests", "TARGETS=vm"]
    assert "TEST_PROGS=" in argv and "TEST_GEN_FILES=" in argv and argv[-1] == "run_tests"


@pytest.fixture(scope="module")
def built_tree() -> Path:
    lay = layout()
    tree = pipeline.kernel_tree(lay)
    intree.build(lay, tree)
    return tree


def _describe(lines: dict[str, ktap.TestCase], output: str) -> str:
    return "\n".join(intree.describe(c) for c in lines.values()) or output[-3000:]


def _series_results(lay: Layout, lines: dict[str, ktap.TestCase], output: str
                    ) -> Iterator[tuple[str, ktap.TestCase, ktap.Counts]]:
    """Each series program's line of the runner's output, its case and counts
    (the output is printed first, for the log of a failure)."""
    print(output)
    for prog in intree.series_programs(lay):
        assert prog in lines, f"the runner did not run {prog}:\n{output[-3000:]}"
        yield prog, lines[prog], ktap.Counts.of(lines[prog].children)


@pytest.mark.guest
@pytest.mark.slow
def test_intree_run_passes_in_our_guest(built_tree: Path) -> None:
    lay = layout()
    status, output = intree.run_in_guest(lay, built_tree, pipeline.our_kernel(built_tree),
                                         targets.GUEST_SETUP)
    lines = intree.parse(output)
    for _prog, case, counts in _series_results(lay, lines, output):
        # Passed, and so did every case inside: nothing skipped or failed.
        assert case.status is ktap.Status.PASS and counts.total == counts.passed > 0, (
            f"{intree.describe(case)}\n{_describe(lines, output)}")
    assert status == 0 or any(c.status is not ktap.Status.PASS for n, c in lines.items()
                              if n not in intree.series_programs(lay)), output[-3000:]


@pytest.mark.guest
@pytest.mark.slow
def test_intree_run_skips_on_plain_61(built_tree: Path) -> None:
    lay = layout()
    plain = targets.plain_kernel()
    if plain is None:
        pytest.skip("Debian's linux-image-6.1.0-*-amd64-unsigned is not installed "
                    "(run 'make setup')")
    _, output = intree.run_in_guest(lay, built_tree, plain, targets.GUEST_SETUP)
    lines = intree.parse(output)
    for prog, case, counts in _series_results(lay, lines, output):
        if prog in REPRODUCERS:
            # The reproducers of the 6.1 bugs the series fixes: every case fails.
            assert case.status is ktap.Status.FAIL and counts.failed == counts.total > 0, (
                f"{intree.describe(case)}\n{_describe(lines, output)}")
            continue
        # Skipped as a whole, or (cases that need nothing new, such as
        # synchronous uffd-wp) passed with the rest skipped; never a failure.
        assert case.ok and counts.skipped > 0 and counts.skipped + counts.passed == \
            counts.total, f"{intree.describe(case)}\n{_describe(lines, output)}"
        # Nothing passed: the runner must say SKIP (vmh_finished()'s exit status).
        assert counts.passed or case.status is ktap.Status.SKIP, (
            f"{intree.describe(case)}\n{_describe(lines, output)}")
