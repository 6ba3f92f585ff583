"""Unit tests of harness.ktap on recorded kselftest / KUnit outputs.

The recordings are in tests/data/ktap/ (see its README for where each comes
from); a ``.rc`` file next to a ``.log`` holds the program's exit status.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.ktap import (
    Counts,
    ExitStatus,
    KsftExit,
    ProblemKind,
    Status,
    TestRun,
    expected_exit_code,
    judge,
    parse,
    parse_lines,
)

DATA = Path(__file__).parent / "data" / "ktap"


def recorded(name: str) -> TestRun:
    return parse((DATA / f"{name}.log").read_text())


def exit_code(name: str) -> int:
    return int((DATA / f"{name}.rc").read_text())


def kinds(run: TestRun) -> list[ProblemKind]:
    return [p.kind for p in run.problems]


def problem_text(run: TestRun, kind: ProblemKind) -> str:
    found = [str(p) for p in run.problems if p.kind is kind]
    assert found, f"no {kind} in {run.problems}"
    return "\n".join(found)


# -- runs that pass


@pytest.mark.parametrize(
    ("name", "planned"),
    [("ksft-all-passed", 3), ("soft-dirty-6.1", 15), ("madv_populate-host", 16)],
)
def test_all_passed(name: str, planned: int) -> None:
    run = recorded(name)
    assert run.ok
    assert run.status is Status.PASS
    assert run.problems == ()
    assert run.version == "TAP version 13"
    assert run.plan is not None and run.plan.count == planned
    assert [c.number for c in run.cases] == list(range(1, planned + 1))
    assert run.counts == Counts(passed=planned)
    assert run.totals is not None and run.totals.passed == planned
    verdict = judge(run, exit_code(name))
    assert verdict.ok and verdict.status is Status.PASS
    assert str(verdict) == "PASS"
    assert expected_exit_code(run) is KsftExit.PASS


def test_real_6_1_names_and_diagnostics() -> None:
    run = recorded("soft-dirty-6.1")
    assert run.cases[0].name == "Test test_simple"
    assert run.cases[14].name == "Test test_mprotect-file soft-dirty after rewritten"
    passed = recorded("ksft-all-passed")
    assert passed.cases[0].diagnostics == ("mapping 16 pages of anonymous memory",)
    assert passed.diagnostics == ()  # the totals line is parsed, not kept as text


def test_skips_keep_their_reasons() -> None:
    run = recorded("ksft-skips")
    assert run.ok and run.status is Status.PASS
    assert run.counts == Counts(passed=3, skipped=2)
    skipped = [c for c in run.cases if c.status is Status.SKIP]
    assert [c.reason for c in skipped] == [
        "hugetlb: no free hugepages (nr_hugepages is 0)",
        "thp: transparent hugepages are disabled",
    ]
    # kselftest.h prints no name on a skip line: the case is labelled by number
    assert skipped[0].name == "" and skipped[0].label == "test 2"
    assert skipped[1].diagnostics == (
        "THP disabled in /sys/kernel/mm/transparent_hugepage/enabled",
    )
    assert judge(run, exit_code("ksft-skips")).ok


@pytest.mark.parametrize("name", ["ksft-skip-all", "soft-dirty-host"])
def test_program_skipped_as_a_whole(name: str) -> None:
    run = recorded(name)
    assert run.ok
    assert run.status is Status.SKIP
    assert run.plan is not None and run.plan.count == 0
    assert run.plan.skip_reason
    assert "skipped as a whole: " + run.plan.skip_reason in run.summary()
    assert expected_exit_code(run) is KsftExit.SKIP
    verdict = judge(run, exit_code(name))
    assert verdict.ok and verdict.status is Status.SKIP
    assert run.plan.skip_reason in str(verdict)


def test_xfail_is_ok() -> None:
    run = recorded("ksft-xfail")
    assert run.ok
    assert run.counts == Counts(passed=2, xfailed=1)
    case = run.cases[1]
    assert case.status is Status.XFAIL
    assert case.reason == "zero page reported as written (known 6.1 limitation)"
    assert judge(run, exit_code("ksft-xfail")).ok


def test_totals_line_absent_is_fine() -> None:
    run = recorded("ksft-no-totals")
    assert run.totals is None
    assert run.ok
    assert judge(run, exit_code("ksft-no-totals")).ok


# -- runs that fail


def test_failure_names_the_failed_tests_and_keeps_their_diagnostics() -> None:
    run = recorded("ksft-failure")
    assert not run.ok
    assert run.status is Status.FAIL
    assert run.problems == ()  # the output itself is complete
    assert run.counts == Counts(passed=2, failed=1, errors=1)
    failed = run.cases[1]
    assert failed.status is Status.FAIL
    assert failed.name == "anon: written pages reported"
    assert failed.diagnostics == (
        "page 3: expected PAGE_IS_WRITTEN, got flags 0x0",
        "ioctl returned 2, expected 4 regions",
    )
    error = run.cases[3]
    assert error.status is Status.ERROR
    assert error.reason == "hugetlb: mmap failed: Cannot allocate memory"
    summary = run.summary()
    assert summary.startswith("FAIL: 4 planned, 4 reported: 2 passed, 1 failed, 1 errors")
    assert "FAIL anon: written pages reported" in summary
    assert "ERROR test 4 (hugetlb: mmap failed: Cannot allocate memory)" in summary
    verdict = judge(run, exit_code("ksft-failure"))
    assert verdict.status is Status.FAIL
    assert "2 tests failed: anon: written pages reported, test 4" in str(verdict)


def test_kselftest_harness_output() -> None:
    run = recorded("harness-cases")
    assert run.status is Status.FAIL
    assert run.problems == ()
    assert [c.label for c in run.cases] == [
        "global.counts_written_pages",
        "region.anon.write_then_read",
        "region.anon.needs_hugepages",  # from the harness's "OK" line
        "region.shared.write_then_read",
        "region.shared.needs_hugepages",
    ]
    assert run.cases[2].status is Status.SKIP
    assert run.cases[2].reason == "no free hugepages (nr_hugepages is 0)"
    failed = run.cases[0]
    assert failed.status is Status.FAIL
    assert any("Expected 4 (4) == written (3)" in d for d in failed.diagnostics)
    assert run.totals is not None and run.totals.failed == 1


def test_missing_plan() -> None:
    run = recorded("ksft-no-plan")
    assert kinds(run) == [ProblemKind.MISSING_PLAN]
    assert not run.ok
    assert run.status is Status.ERROR
    assert "no plan line ('1..N')" in problem_text(run, ProblemKind.MISSING_PLAN)
    assert "cannot tell whether all tests ran" in run.summary()
    verdict = judge(run, exit_code("ksft-no-plan"))  # it exited 0
    assert not verdict.ok and verdict.status is Status.ERROR


def truncated(name: str) -> tuple[TestRun, str]:
    """The recorded run ``name``, whose one problem is that it stopped early,
    and what that problem says."""
    run = recorded(name)
    assert kinds(run) == [ProblemKind.TRUNCATED]
    return run, problem_text(run, ProblemKind.TRUNCATED)


def test_plan_mismatch_program_finished_early() -> None:
    run, message = truncated("ksft-plan-mismatch")
    assert "says 5 tests but only 3 reported" in message
    assert "test 3 ('anon: unpopulated range'" in message
    assert "finished (it printed its totals) without running them all" in message
    assert not judge(run, exit_code("ksft-plan-mismatch")).ok


def test_more_results_than_planned() -> None:
    run = parse("TAP version 13\n1..2\nok 1 a\nok 2 b\nok 3 c\n")
    assert kinds(run) == [ProblemKind.PLAN_MISMATCH]
    assert "3 results but the plan (line 2) says 2" in str(run.problems[0])
    assert not run.ok


def test_crash_mid_run() -> None:
    run, message = truncated("ksft-crash")
    assert "says 10 tests but only 4 reported" in message
    assert "test 4 ('scan step 4'" in message
    assert "crashed or was killed, or its output was cut short" in message
    assert run.noise == ("Segmentation fault",)
    verdict = judge(run, exit_code("ksft-crash"))  # 139: SIGSEGV through the shell
    assert verdict.status is Status.CRASHED
    assert "killed by SIGSEGV (signal 11) after 4 results of 10 planned" in str(verdict)


def test_hang_killed_by_timeout() -> None:
    run, _ = truncated("ksft-hang")
    verdict = judge(run, exit_code("ksft-hang"))  # 124 from timeout(1)
    assert verdict.status is Status.TIMEOUT
    assert "timed out" in str(verdict)
    assert "after 1 results of 3 planned (last: test 1 'fault in the range')" in str(verdict)


def test_bail_out() -> None:
    run = recorded("ksft-bail-out")
    assert kinds(run) == [ProblemKind.BAIL_OUT, ProblemKind.TRUNCATED]
    assert run.bailed_out
    assert "bailed out: UFFDIO_WRITEPROTECT failed: Invalid argument" in problem_text(
        run, ProblemKind.BAIL_OUT
    )
    assert "the program bailed out on line 5" in problem_text(run, ProblemKind.TRUNCATED)
    verdict = judge(run, exit_code("ksft-bail-out"))
    assert verdict.status is Status.FAIL
    assert "UFFDIO_WRITEPROTECT failed" in str(verdict)


def test_plan_of_zero_without_skip_is_no_tests() -> None:
    run = recorded("ksft-no-tests")
    assert kinds(run) == [ProblemKind.NO_TESTS]
    assert "plan '1..0' without a SKIP reason" in str(run.problems[0])
    assert not run.ok
    assert not judge(run, exit_code("ksft-no-tests")).ok  # although it exited 0


def test_header_but_nothing_else() -> None:
    run = parse("TAP version 13\n")
    assert kinds(run) == [ProblemKind.NO_TESTS]
    assert "stopped before running any test" in str(run.problems[0])


@pytest.mark.parametrize(
    "text",
    ["", "\n\n", "Segmentation fault\n", (DATA.parent / "dmesg" / "boot-6.1.log").read_text()],
)
def test_no_tap_output_at_all(text: str) -> None:
    run = parse(text)
    assert kinds(run) == [ProblemKind.NO_OUTPUT]
    assert "no KTAP/TAP output found" in str(run.problems[0])
    assert not run.ok
    assert run.status is Status.ERROR
    assert not judge(run, 0).ok


def test_duplicate_and_out_of_order_numbers() -> None:
    run = parse("TAP version 13\n1..4\nok 1 a\nok 3 c\nok 3 c again\nok 2 b\n")
    assert kinds(run) == [
        ProblemKind.OUT_OF_ORDER,
        ProblemKind.DUPLICATE_NUMBER,
        ProblemKind.OUT_OF_ORDER,
    ]
    texts = [str(p) for p in run.problems]
    assert texts[0] == "line 4: expected test number 2 next, found 3 ('c')"
    assert texts[1] == "line 5: test number 3 ('c again') was already reported on line 4"
    assert not run.ok


def test_second_plan_and_second_header() -> None:
    run = parse("TAP version 13\n1..1\nok 1 a\nTAP version 13\n1..1\n")
    assert kinds(run) == [ProblemKind.SECOND_HEADER, ProblemKind.DUPLICATE_PLAN]
    assert "output of two runs is mixed" in str(run.problems[0])
    assert "second plan '1..1'" in str(run.problems[1])


def test_totals_that_disagree_with_the_results() -> None:
    text = (
        "TAP version 13\n1..2\nok 1 a\nok 2 b\n"
        "# Totals: pass:3 fail:0 xfail:0 xpass:0 skip:0 error:0\n"
    )
    run = parse(text)
    assert kinds(run) == [ProblemKind.TOTALS_MISMATCH]
    assert "'# Totals: pass:3 " in str(run.problems[0])
    assert "result lines give pass:2 " in str(run.problems[0])


def test_trailing_plan_is_accepted() -> None:
    run = parse("TAP version 13\nok 1 a\nok 2 b\n1..2\n")
    assert run.ok


# -- nesting


def test_runner_nests_program_output() -> None:
    run = recorded("runner-nested")
    names = [c.name for c in run.cases]
    assert names == [
        f"selftests: pagemap: {p}"
        for p in ("ksft-skips", "harness-cases", "ksft-crash", "ksft-hang")
    ]
    skips, harness, crash, hang = run.cases
    assert skips.status is Status.PASS and skips.planned == 5 and len(skips.children) == 5
    assert [c.status for c in skips.children].count(Status.SKIP) == 2
    assert harness.status is Status.FAIL and harness.reason == "exit=1"
    assert harness.children[2].label == "region.anon.needs_hugepages"
    assert crash.status is Status.FAIL and crash.reason == "exit=139"
    assert hang.status is Status.TIMEOUT and hang.reason == "3 seconds"
    # the inner runs that stopped early are reported where they are
    truncated = [p for p in run.problems if p.kind is ProblemKind.TRUNCATED]
    assert [p.path for p in truncated] == [(crash.name,), (hang.name,)]
    assert "says 10 tests but only 4 reported" in str(truncated[0])
    assert str(truncated[0]).startswith("line 49 in selftests: pagemap: ksft-crash: ")
    failures = [" / ".join(path) for path, _ in run.failures()]
    assert failures == [
        "selftests: pagemap: harness-cases / global.counts_written_pages",
        "selftests: pagemap: ksft-crash",
        "selftests: pagemap: ksft-hang",
    ]
    assert run.leaf_counts == Counts(passed=10, failed=1, skipped=4)
    # runner.sh exits 0 whatever happened: the results decide
    verdict = judge(run, exit_code("runner-nested"))
    assert verdict.status is Status.FAIL
    assert "exit status 0 (KSFT_PASS) although results failed" in str(verdict)


def test_ktap_v1_subtests_in_dmesg() -> None:
    run = recorded("kunit-nested")
    assert run.version == "KTAP version 1"
    assert run.status is Status.FAIL
    assert run.problems == ()  # a parameterised subtest may omit its plan
    args, wp = run.cases
    assert args.name == "pagemap_scan_args" and args.status is Status.PASS
    assert args.planned == 3
    categories = args.children[1]
    assert [c.name for c in categories.children] == ["written", "file", "present"]
    assert categories.planned is None
    hugetlb = args.children[2]
    assert hugetlb.status is Status.SKIP and hugetlb.reason == "CONFIG_HUGETLB_PAGE is not set"
    assert wp.status is Status.FAIL
    failed = wp.children[0]
    assert failed.name == "uffd_wp_async_fault" and failed.status is Status.FAIL
    assert failed.diagnostics == (
        "uffd_wp_async_fault: EXPECTATION FAILED at mm/uffd_wp_test.c:88",
    )
    assert "random: crng init done" in run.noise
    assert [" / ".join(p) for p, _ in run.failures()] == ["uffd_wp_async / uffd_wp_async_fault"]
    assert run.leaf_counts == Counts(passed=5, failed=1, skipped=1)


def test_ktap_v1_run_cut_by_a_kernel_crash() -> None:
    run = recorded("kunit-crashed")
    assert kinds(run) == [
        ProblemKind.TRUNCATED,
        ProblemKind.MISSING_RESULT,
        ProblemKind.TRUNCATED,
    ]
    inner, missing, outer = (str(p) for p in run.problems)
    assert inner.startswith("line 15 in uffd_wp_async: the plan (line 14) says 3 tests but only 1")
    assert "subtest 'uffd_wp_async' (from line 12) has no result line" in missing
    assert "says 2 tests but only 1 reported" in outer
    crashed = run.cases[1]
    assert crashed.status is Status.CRASHED and crashed.number == 0
    assert crashed.children[0].name == "uffd_wp_async_fault"
    # the oops is console noise, not a diagnostic of the test
    assert crashed.diagnostics == ()
    assert any(line.startswith("Oops: 0000 [#1]") for line in run.noise)


def test_parent_ok_over_failed_subtests_is_inconsistent() -> None:
    text = "KTAP version 1\n1..1\n  KTAP version 1\n  1..2\n  ok 1 a\n  not ok 2 b\nok 1 parent\n"
    run = parse(text)
    assert kinds(run) == [ProblemKind.INCONSISTENT]
    assert "'parent' is reported ok but its subtests failed: b" in str(run.problems[0])
    assert not run.ok


def test_subtest_without_result_followed_by_a_sibling() -> None:
    text = (
        "KTAP version 1\n1..2\n"
        "    KTAP version 1\n    # Subtest: first\n    1..1\n    ok 1 x\n"
        "    KTAP version 1\n    # Subtest: second\n    1..1\n    ok 1 y\n"
        "ok 2 second\n"
    )
    run = parse(text)
    assert [c.label for c in run.cases] == ["first", "second"]
    assert run.cases[0].status is Status.CRASHED
    assert kinds(run) == [ProblemKind.MISSING_RESULT, ProblemKind.TRUNCATED]


# -- noise


def test_console_capture_with_interleaved_kernel_messages() -> None:
    """A real 6.1 guest console: boot log, CRLF line ends, kernel messages
    between the TAP lines."""
    raw = (DATA / "console-interleaved.log").read_bytes()
    assert b"\r\n" in raw
    run = parse(raw.decode())
    assert run.ok, run.summary()
    assert run.counts == Counts(passed=15)
    assert run.totals is not None and run.totals.passed == 15
    assert "pagemap-noise: console message 34" in run.noise
    for case in run.cases:
        assert not any("pagemap-noise" in d for d in case.diagnostics)


def test_tap_line_cut_by_a_console_message() -> None:
    """A real 6.1 console: the kernel wrote its message in the middle of the
    program's ``ok 2 second`` line."""
    run = recorded("console-cut-line")
    assert [c.name for c in run.cases] == ["first", "second"]
    assert run.cases[1].line == 278  # where the line starts
    assert "pagemap-noise: console message" in run.noise
    assert run.ok, run.summary()


def test_ansi_escapes_carriage_returns_and_timestamps() -> None:
    lines = [
        "\x1b[1mTAP version 13\x1b[0m\r\n",
        "1..3\r\n",
        "progress 10%\rprogress 100%\r\n",
        "\x1b[32mok 1 first\x1b[0m\r\n",
        "[   12.345678] random: crng init done\n",
        "[   12.400000] ok 2 second\n",
        "ok 3 - third # skip: no THP\n",
    ]
    run = parse_lines(lines)
    assert [c.name for c in run.cases] == ["first", "second", "third"]
    assert run.cases[0].diagnostics == ("progress 100%",)
    assert run.cases[2].status is Status.SKIP and run.cases[2].reason == "no THP"
    assert run.noise == ("progress 100%", "random: crng init done")
    assert run.ok


def test_missing_version_line_is_only_a_note() -> None:
    run = parse("1..1\nok 1 a\n")  # KSFT_TAP_LEVEL set
    assert run.ok
    assert run.notes and "no 'TAP version'" in run.notes[0]


@pytest.mark.parametrize(
    ("line", "status", "name", "reason"),
    [
        ("ok 1 - dash name", Status.PASS, "dash name", ""),
        ("not ok 1 name # TODO not implemented", Status.XFAIL, "name", "not implemented"),
        ("ok 1 name # TODO not implemented", Status.XPASS, "name", "not implemented"),
        ("not ok 1 name # SKIP why", Status.SKIP, "name", "why"),
        ("not ok 1 name # XFAIL why", Status.FAIL, "name", "why"),
        ("not ok 1 name # TIMEOUT 45 seconds", Status.TIMEOUT, "name", "45 seconds"),
        ("ok 1 check #2 of 3", Status.PASS, "check #2 of 3", ""),
        ("ok 1 name # a comment", Status.PASS, "name", "a comment"),
    ],
)
def test_result_directives(line: str, status: Status, name: str, reason: str) -> None:
    case = parse(f"TAP version 13\n1..1\n{line}\n").cases[0]
    assert (case.status, case.name, case.reason) == (status, name, reason)


# -- exit status


@pytest.mark.parametrize(
    ("returncode", "status", "reason"),
    [
        (0, Status.PASS, None),
        (1, Status.FAIL, "exit status 1 (KSFT_FAIL) although no printed result failed"),
        (4, Status.FAIL, "exit status 4 (KSFT_SKIP) but no test was skipped"),
        (2, Status.XFAIL, None),
        (3, Status.FAIL, "exit status 3 (KSFT_XPASS): a test expected to fail passed"),
        (77, Status.FAIL, "exit status 77, which is not a kselftest exit code"),
        (-9, Status.CRASHED, "killed by SIGKILL (signal 9) after 3 results of 3 planned"),
        (134, Status.CRASHED, "killed by SIGABRT (signal 6)"),
    ],
)
def test_exit_status_against_a_passing_output(
    returncode: int, status: Status, reason: str | None
) -> None:
    run = recorded("ksft-all-passed")
    verdict = judge(run, returncode)
    assert verdict.status is status
    assert verdict.ok is (status in (Status.PASS, Status.XFAIL))
    if reason is None:
        assert verdict.reasons == ()
    else:
        assert reason in str(verdict)


def test_exit_zero_after_failures_is_a_failure() -> None:
    verdict = judge(recorded("ksft-failure"), 0)
    assert verdict.status is Status.FAIL
    assert "exit status 0 (KSFT_PASS) although results failed" in str(verdict)


def test_exit_status_conventions() -> None:
    assert ExitStatus.from_returncode(139) == ExitStatus(signal=11)
    assert ExitStatus.from_returncode(139, shell=False) == ExitStatus(code=139)
    assert ExitStatus.from_returncode(-11) == ExitStatus(signal=11)
    assert ExitStatus.from_returncode(124).timed_out
    assert not ExitStatus.from_returncode(124, shell=False).timed_out
    assert ExitStatus(code=4).describe() == "exit status 4 (KSFT_SKIP)"
    assert ExitStatus(signal=11).describe() == "killed by SIGSEGV (signal 11)"
    verdict = judge(recorded("ksft-all-passed"), ExitStatus(code=0, timed_out=True))
    assert verdict.status is Status.TIMEOUT
    assert "killed after its time limit" in str(verdict)


def test_expected_exit_code() -> None:
    assert expected_exit_code(recorded("ksft-all-passed")) is KsftExit.PASS
    assert expected_exit_code(recorded("ksft-skips")) is KsftExit.PASS
    assert expected_exit_code(recorded("ksft-failure")) is KsftExit.FAIL
    assert expected_exit_code(recorded("ksft-plan-mismatch")) is KsftExit.FAIL
    assert expected_exit_code(recorded("ksft-skip-all")) is KsftExit.SKIP


def test_results_are_immutable() -> None:
    run = recorded("ksft-all-passed")
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.cases[0].status = Status.FAIL  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.plan = None  # type: ignore[misc]
