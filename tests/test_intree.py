"""The selftests patch in the tree: 6.1's kselftest make runs the series' programs.

In our guest every program of the series passes; on plain 6.1 (Debian's
build of the same source, without the series) every one of them skips, and
says so with its exit status. Under make test the plain check reads the
pipeline's run of the same programs on plain 6.1 instead of booting
Debian's kernel a second time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import intree, ktap, pipeline, plugin, report, targets
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


def _judge_on_plain(prog: str, case: ktap.TestCase | None, counts: ktap.Counts,
                    exit_code: int | None, describe: str) -> None:
    """What the runner must see from a series program on plain 6.1."""
    if prog in REPRODUCERS:
        # The reproducers of the 6.1 bugs the series fixes: every case fails.
        assert counts.failed == counts.total > 0 and exit_code not in (0, ktap.KsftExit.SKIP), \
            describe
        return
    # Skipped as a whole, or (cases that need nothing new, such as synchronous
    # uffd-wp) passed with the rest skipped; never a failure.
    assert counts.skipped > 0 and counts.skipped + counts.passed == counts.total, describe
    assert case is None or case.ok, describe
    # Nothing passed: the exit status must be KSFT_SKIP (vmh_finished()), or
    # the runner counts the program as a pass.
    assert counts.passed or exit_code == ktap.KsftExit.SKIP, describe


def test_what_plain_must_show_the_runner() -> None:
    """The rule both ways of judging plain 6.1 share (pipeline results or a boot)."""
    _judge_on_plain("write_watch", None, ktap.Counts(skipped=3), ktap.KsftExit.SKIP, "")
    _judge_on_plain("uffd_wp_async", None, ktap.Counts(passed=2, skipped=3), 0, "")
    _judge_on_plain("uffd_wp_fixes", None, ktap.Counts(failed=4), 1, "")
    wrong = [("write_watch", ktap.Counts(skipped=3), 0),  # the runner would say "ok"
             ("write_watch", ktap.Counts(passed=1, failed=1, skipped=1), 1),
             ("uffd_wp_fixes", ktap.Counts(passed=1, failed=3), 1),
             ("uffd_wp_fixes", ktap.Counts(failed=4), 0)]
    for prog, counts, code in wrong:
        with pytest.raises(AssertionError):
            _judge_on_plain(prog, None, counts, code, "")


@pytest.mark.guest
@pytest.mark.slow
def test_intree_run_skips_on_plain_61(request: pytest.FixtureRequest) -> None:
    lay = layout()
    plain = targets.plain_kernel()
    if plain is None:
        pytest.skip("Debian's linux-image-6.1.0-*-amd64-unsigned is not installed "
                    "(run 'make setup')")
    ran = plugin.results_of_this_session(request.config, "plain")
    if ran is not None:
        # make test's pipeline already ran the same programs on plain 6.1 (built
        # from selftests/, of which the patch is generated): what the runner
        # would show is their exit status and results, so no second boot of
        # Debian's kernel (2 to 3 minutes under TCG).
        for prog in intree.series_programs(lay):
            res = report.load_program(ran, prog, is_ktap=True)
            assert res.verdict is not None, f"{prog} on plain: {res.describe()}"
            _judge_on_plain(prog, None, res.counts, res.verdict.exit.code,
                            f"{prog} on plain: {res.describe()}\n{res.output[-2000:]}")
        return
    built = pipeline.kernel_tree(lay)
    intree.build(lay, built)
    _, output = intree.run_in_guest(lay, built, plain, targets.GUEST_SETUP)
    lines = intree.parse(output)
    for prog, case, counts in _series_results(lay, lines, output):
        status = case.status
        code = (ktap.KsftExit.SKIP if status is ktap.Status.SKIP
                else 0 if status is ktap.Status.PASS else 1)
        _judge_on_plain(prog, case, counts, code,
                        f"{intree.describe(case)}\n{_describe(lines, output)}")
