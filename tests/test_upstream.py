"""Mainline's suites: the uffd-unit-tests parser on recorded output, the per-target
judgement (expected skips, the reference, plain 6.1), names, patches, working directories."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from harness import ktap, pagecache, report, source, targets, uffd_unit, upstream, upstream_judge
from harness.errors import HarnessError
from harness.paths import REPO, Layout, layout
from harness.selftests import Program

DATA = Path(__file__).parent / "data" / "upstream"
UFFD_HOST = (DATA / "uffd-unit-tests-host-6.18.out").read_text()
PAGEMAP_HOST = (DATA / "pagemap_ioctl-host-6.18.out").read_text()
# How uffd-unit-tests ends on a kernel without UFFDIO_CONTINUE_MODE_WP: err()
# prints on stderr right after the flushed "Testing ..." and exits 1.
MINOR_WP_ABORT = UFFD_HOST.split("Testing minor-wp on shmem")[0] + (
    "Testing minor-wp on shmem... ERROR: UFFDIO_CONTINUE failed (errno=22, "
    "@uffd-common.c:402)\n")


# --- the uffd-unit-tests parser --------------------------------------------------

def test_recorded_host_run_parses_whole() -> None:
    run = uffd_unit.parse(UFFD_HOST)
    assert not run.problems and not run.notes
    assert run.leaf_counts == ktap.Counts(passed=56, skipped=10)
    assert run.totals is not None and (run.totals.passed, run.totals.skipped) == (56, 10)
    names = ["/".join(p) for p, c in run.walk() if not c.children]
    assert names[:3] == ["UFFDIO_API (with syscall)", "UFFDIO_API (with /dev/userfaultfd)",
                         "register-ioctls/anon"]
    assert "minor-wp/hugetlb" in names and len(names) == len(set(names)) == 66
    pin = dict((("/".join(p)), c) for p, c in run.walk())["wp-fork-pin/anon"]
    assert pin.status is ktap.Status.SKIP and "CONFIG_GUP_TEST" in pin.reason
    assert uffd_unit.judge(UFFD_HOST, ktap.ExitStatus(code=0)).status is ktap.Status.PASS


def test_abort_inside_a_test_is_a_crash_with_the_error() -> None:
    verdict = uffd_unit.judge(MINOR_WP_ABORT, ktap.ExitStatus(code=1))
    assert verdict.status is ktap.Status.FAIL
    case = dict(("/".join(p), c) for p, c in verdict.run.walk())["minor-wp/shmem"]
    assert case.status is ktap.Status.CRASHED
    assert case.reason.startswith("ERROR: UFFDIO_CONTINUE failed (errno=22")
    assert [p.kind for p in verdict.run.problems] == [ktap.ProblemKind.MISSING_PLAN]


def test_a_failed_test_fails_with_its_reason() -> None:
    text = UFFD_HOST.replace("Testing sigbus on shmem... done",
                             "Testing sigbus on shmem... failed [reason: Signal test failed, "
                             "userfaults: 3]").replace("pass=56, skip=10, fail=0",
                                                       "pass=55, skip=10, fail=1")
    verdict = uffd_unit.judge(text, ktap.ExitStatus(code=1))
    assert verdict.status is ktap.Status.FAIL and not verdict.run.problems
    case = dict(("/".join(p), c) for p, c in verdict.run.walk())["sigbus/shmem"]
    assert (case.status, case.reason) == (ktap.Status.FAIL, "Signal test failed, userfaults: 3")


def test_final_counts_must_agree() -> None:
    text = UFFD_HOST.replace("pass=56, skip=10", "pass=57, skip=9")
    run = uffd_unit.parse(text)
    assert [p.kind for p in run.problems] == [ktap.ProblemKind.TOTALS_MISMATCH]
    assert not uffd_unit.judge(text, ktap.ExitStatus(code=0)).ok


def test_exit_zero_without_the_final_line_is_not_a_pass() -> None:
    cut = UFFD_HOST.split("Testing events on anon")[0]
    assert uffd_unit.judge(cut, ktap.ExitStatus(code=0)).status is ktap.Status.ERROR


def test_no_userfaultfd_is_a_whole_skip() -> None:
    verdict = uffd_unit.judge(uffd_unit.NO_UFFD + "\n", ktap.ExitStatus(code=4))
    assert verdict.status is ktap.Status.SKIP


def test_stray_result_words_are_noise_not_results() -> None:
    text = "done\n" + UFFD_HOST.replace(
        "Testing zeropage on anon... done",
        "Testing zeropage on anon... child says hi\ndone")
    run = uffd_unit.parse(text)
    assert run.noise == ("done",) and run.notes
    case = dict(("/".join(p), c) for p, c in run.walk())["zeropage/anon"]
    assert case.status is ktap.Status.PASS and case.diagnostics == ("child says hi",)


def test_name_split() -> None:
    assert uffd_unit.split_name("minor-wp on shmem-private") == ("minor-wp", "shmem-private")
    assert uffd_unit.split_name("UFFDIO_API (with syscall)") == ("UFFDIO_API (with syscall)", "")


# --- judging per target ----------------------------------------------------------

def load(tmp_path: Path, name: str, output: str, status: str, target: str = "ours"
         ) -> report.ProgramResult:
    d = tmp_path / target
    d.mkdir(exist_ok=True)
    (d / f"{name}.out").write_text(output)
    (d / f"{name}.status").write_text(status + "\n")
    res = report.load_target(d, target, report.program_list(d))
    return next(p for p in res.programs if p.name == name)


UFFD = upstream.program_name("uffd-unit-tests", "tmpfs")
PAGEMAP = upstream.program_name("pagemap_ioctl", "pagecache")


def by_name(outcomes: list[upstream_judge.Outcome]) -> dict[str, upstream_judge.Outcome]:
    return {o.name.split("/", 1)[1] if "/" in o.name else "": o for o in outcomes}


def on_61(text: str) -> str:
    """The recorded run as our 6.1 prints it: move and poison skip, and so does
    minor-collapse (MADV_COLLAPSE fails under our config)."""
    for test in ("move", "move-pmd", "move-pmd-split"):
        text = text.replace(f"Testing {test} on anon... done",
                            f"Testing {test} on anon... skipped [reason: feature missing]")
    for mem in ("anon", "shmem", "shmem-private", "hugetlb", "hugetlb-private"):
        text = text.replace(f"Testing poison on {mem}... done",
                            f"Testing poison on {mem}... skipped [reason: feature missing]")
    text = text.replace("Testing minor-collapse on shmem... done",
                        "Testing minor-collapse on shmem... skipped [reason: MADV_COLLAPSE failed]")
    return text.replace("pass=56, skip=10", "pass=47, skip=19")


def test_expected_skips_on_ours_pass(tmp_path: Path) -> None:
    ref = load(tmp_path, UFFD, UFFD_HOST, "0", "reference")
    ours = load(tmp_path, UFFD, on_61(UFFD_HOST), "0")
    got = by_name(upstream_judge.outcomes("ours", ours, (ref,)))
    assert {o.result for o in got.values()} == {"pass"}
    assert "UFFDIO_MOVE" in got["move-pmd/anon"].message
    assert got["poison/hugetlb"].message.startswith("expected skip on 6.1")


def test_a_skip_the_reference_passes_fails_on_ours(tmp_path: Path) -> None:
    ref = load(tmp_path, UFFD, UFFD_HOST, "0", "reference")
    text = on_61(UFFD_HOST).replace("Testing minor-wp on hugetlb... done",
                                    "Testing minor-wp on hugetlb... skipped "
                                    "[reason: feature missing]")
    ours = load(tmp_path, UFFD, text.replace("pass=48, skip=18", "pass=47, skip=19"), "0")
    got = by_name(upstream_judge.outcomes("ours", ours, (ref,)))
    assert got["minor-wp/hugetlb"].result == "fail"
    assert "passes on the reference" in got["minor-wp/hugetlb"].message
    # Without the reference in the run there is nothing to compare with: a skip.
    alone = by_name(upstream_judge.outcomes("ours", ours, None))
    assert alone["minor-wp/hugetlb"].result == "skip"


def test_an_abort_fails_the_rest_the_reference_passes(tmp_path: Path) -> None:
    ref = load(tmp_path, UFFD, UFFD_HOST, "0", "reference")
    ours = load(tmp_path, UFFD, on_61(MINOR_WP_ABORT), "1")
    got = by_name(upstream_judge.outcomes("ours", ours, (ref,)))
    assert got[""].result == "fail"
    assert got["minor-wp/shmem"].result == "fail"
    assert "UFFDIO_CONTINUE failed" in got["minor-wp/shmem"].message
    assert got["events-wp/anon"].result == "fail"
    assert "never reported on ours" in got["events-wp/anon"].message
    # Tests after the abort that 6.1 would skip anyway are not failures.
    assert got["poison/anon"].result == "skip"


def test_a_listed_skip_that_passes_fails(tmp_path: Path) -> None:
    ref = load(tmp_path, UFFD, UFFD_HOST, "0", "reference")
    ours = load(tmp_path, UFFD, UFFD_HOST, "0")
    got = by_name(upstream_judge.outcomes("ours", ours, (ref,)))
    assert got["move/anon"].result == "fail"
    assert "remove the entry" in got["move/anon"].message


def test_a_listed_skip_for_another_reason_fails(tmp_path: Path) -> None:
    text = on_61(UFFD_HOST).replace(
        "Testing poison on anon... skipped [reason: feature missing]",
        "Testing poison on anon... skipped [reason: memory allocation failed]")
    ours = load(tmp_path, UFFD, text, "0")
    got = by_name(upstream_judge.outcomes("ours", ours, None))
    assert got["poison/anon"].result == "fail"


def test_host_and_reference_are_judged_by_their_own_results(tmp_path: Path) -> None:
    host = load(tmp_path, UFFD, UFFD_HOST, "0", "host")
    got = by_name(upstream_judge.outcomes("host", host, None))
    assert got["wp-fork-pin/shmem"].result == "skip"
    assert sum(o.result == "pass" for o in got.values()) == 57  # 56 tests and the program


def test_mainline_is_judged_like_the_reference(tmp_path: Path) -> None:
    """The same-config 6.12 runs every test with its own result: a failure
    fails there, and the expected skips of 6.1 do not apply to it."""
    assert set(upstream.TARGETS["uffd-unit-tests"]) >= {"ours", "reference", "mainline"}
    assert "mainline" in upstream.TARGETS["pagemap_ioctl"]
    ok = load(tmp_path, UFFD, UFFD_HOST, "0", "mainline")
    got = by_name(upstream_judge.outcomes("mainline", ok, None))
    assert got["move/anon"].result == "pass"
    assert got["wp-fork-pin/anon"].result == "skip"
    text = UFFD_HOST.replace("Testing move on anon... done",
                             "Testing move on anon... skipped [reason: feature missing]")
    (tmp_path / "2").mkdir()
    (tmp_path / "3").mkdir()
    skipped = load(tmp_path / "2", UFFD, text.replace("pass=56, skip=10", "pass=55, skip=11"),
                   "0", "mainline")
    got = by_name(upstream_judge.outcomes("mainline", skipped, None))
    assert got["move/anon"].result == "skip"  # said, not passed as an expected skip
    failed = load(tmp_path / "3", UFFD, MINOR_WP_ABORT, "1", "mainline")
    got = by_name(upstream_judge.outcomes("mainline", failed, None))
    assert got[""].result == "fail" and got["minor-wp/shmem"].result == "fail"


def test_ours_is_judged_against_the_reference_else_the_mainline(tmp_path: Path) -> None:
    ref = load(tmp_path, UFFD, UFFD_HOST, "0", "reference")
    mainline = load(tmp_path, UFFD, UFFD_HOST, "0", "mainline")
    assert upstream_judge.baseline({"reference": (ref,), "mainline": (mainline,)}) == (ref,)
    assert upstream_judge.baseline({"reference": (), "mainline": (mainline,)}) == (mainline,)
    assert upstream_judge.baseline({"ours": (ref,)}) is None
    text = on_61(UFFD_HOST).replace("Testing minor-wp on hugetlb... done",
                                    "Testing minor-wp on hugetlb... skipped "
                                    "[reason: feature missing]")
    ours = load(tmp_path, UFFD, text.replace("pass=48, skip=18", "pass=47, skip=19"), "0")
    got = by_name(upstream_judge.outcomes(
        "ours", ours, upstream_judge.baseline({"mainline": (mainline,)})))
    assert got["minor-wp/hugetlb"].result == "fail"


def test_plain_never_passes(tmp_path: Path) -> None:
    # pagemap_ioctl when its uffd set-up fails: a header, no plan, exit 0.
    prog = load(tmp_path, PAGEMAP, "TAP version 13\n", "0", "plain")
    got = upstream_judge.outcomes("plain", prog, None)
    assert [o.result for o in got] == ["skip"]
    assert "no plan" in got[0].message and "not counted" in got[0].message
    assert prog.ok  # the summary table's cell: skipped, not failed
    assert prog.counts == ktap.Counts(skipped=1)
    # Even a program that passes everything is not counted there.
    uffd = load(tmp_path, UFFD, UFFD_HOST, "0", "plain")
    assert [o.result for o in upstream_judge.outcomes("plain", uffd, None)] == ["skip"]
    assert uffd.counts.passed == 0


def test_repeated_ktap_names_get_their_occurrence(tmp_path: Path) -> None:
    prog = load(tmp_path, PAGEMAP, PAGEMAP_HOST, "0", "host")
    names = list(upstream_judge.leaves(prog))
    assert len(names) == len(set(names)) == 115
    assert "sanity_tests_sd output buffer can be N (2)" in names
    outcomes = upstream_judge.outcomes("host", prog, None)
    assert len(outcomes) == 116 and {o.result for o in outcomes} == {"pass"}


def test_measured_numbers_in_a_name_do_not_break_the_pairing(tmp_path: Path) -> None:
    ref = load(tmp_path, PAGEMAP, PAGEMAP_HOST, "0", "reference")
    line = "transact_test Extra pages 7 (0.0%), extra thread faults 7."
    assert line in PAGEMAP_HOST
    mine = PAGEMAP_HOST.replace(
        line, "transact_test Extra pages 25 (0.1%), extra thread faults 25.")
    ours = load(tmp_path, PAGEMAP, mine, "0")
    got = upstream_judge.outcomes("ours", ours, (ref,))
    assert {o.result for o in got} == {"pass"}, [o for o in got if o.result != "pass"]


def test_the_bail_out_on_a_file_fails_the_cases_after_it(tmp_path: Path) -> None:
    ref = load(tmp_path, PAGEMAP, PAGEMAP_HOST, "0", "reference")
    lines = PAGEMAP_HOST.splitlines()
    cut = "\n".join(lines[:73]) + "\nBail out! ioctl(UFFDIO_REGISTER) 22 Invalid argument\n"
    ours = load(tmp_path, PAGEMAP, cut, "1")
    got = upstream_judge.outcomes("ours", ours, (ref,))
    results = [o.result for o in got]
    assert results[0] == "fail"
    assert results.count("pass") == 71 and results.count("fail") == 1 + 115 - 71


# --- names, patches, sources -----------------------------------------------------

def test_program_names_round_trip() -> None:
    for base in upstream.SOURCES:
        for workdir in upstream.WORKDIRS:
            assert upstream.split_name(upstream.program_name(base, workdir)) == (base, workdir)
    assert upstream.split_name("pagemap_scan_wp") is None
    assert upstream.split_name("upstream-something-else") is None


def test_every_patch_is_documented_and_touches_no_check() -> None:
    patches = upstream.patch_files(layout())
    readme = (REPO / "upstream" / "patches" / "README.md").read_text()
    assert patches, "upstream/patches/ has no patch"
    for p in patches:
        assert p.name in readme, f"{p.name} is not explained in upstream/patches/README.md"
        text = p.read_text()
        # Adaptations add code; a removed line would change what a test checks.
        removed = [ln for ln in text.splitlines() if ln.startswith("-") and
                   not ln.startswith("---")]
        assert not removed, f"{p.name} removes lines: {removed}"


def test_both_pins_are_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text()
    for pkg in (source.LINUX_6_1, source.LINUX_6_12):
        assert pkg.pinned in readme and pkg.name in readme


def test_each_package_has_its_own_tree(tmp_path: Path) -> None:
    lay = Layout(repo=tmp_path, cache=tmp_path, out=tmp_path)
    assert source.LINUX_6_1.tree(lay) == lay.source
    assert source.LINUX_6_12.tree(lay) != lay.source


def test_fallback_warning_names_the_package() -> None:
    version, warning = source.choose_version("6.12.118-1~deb12u1", ["6.12.120-1~deb12u1"],
                                             source.LINUX_6_12)
    assert version == "6.12.120-1~deb12u1"
    assert warning is not None and "linux-source-6.12" in warning and "newest 6.12" in warning


# --- working directories ---------------------------------------------------------

def test_tmpfs_is_not_a_pagecache_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    if pagecache.fs_type(Path("/dev/shm")) != "tmpfs":
        pytest.skip("/dev/shm is not tmpfs on this machine")
    monkeypatch.setenv(pagecache.ENV, "/dev/shm")
    with pytest.raises(HarnessError, match="not a page-cache filesystem"):
        pagecache.host_dir(layout())


def test_missing_pagecache_dir_says_what_to_do(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(pagecache.ENV, str(tmp_path / "nope"))
    with pytest.raises(HarnessError, match="not a writable directory"):
        pagecache.host_dir(layout())


def test_workdir_kinds_are_checked() -> None:
    assert targets.check_workdir("tmpfs", "tmpfs") == ""
    assert "on ext2/ext3" in targets.check_workdir("tmpfs", "ext2/ext3")
    assert targets.check_workdir("pagecache", "v9fs") == ""
    assert "on tmpfs" in targets.check_workdir("pagecache", "tmpfs")


def test_guest_pagecache_workdir_script(tmp_path: Path) -> None:
    # The same shell as in the guest, run here against a directory on disk.
    env = {**os.environ, pagecache.ENV: str(tmp_path)}
    res = subprocess.run(["bash", "-c", targets.guest_workdir_script("pagecache")],
                         capture_output=True, text=True, env=env, check=True)
    fs, path = res.stdout.split()
    assert Path(path).parent == tmp_path and Path(path).is_dir()
    assert fs == pagecache.fs_type(tmp_path)


def test_guest_mount_script_leaves_other_filesystems_alone(tmp_path: Path) -> None:
    # Here the directory is no 9p mount point: the script must do nothing and succeed.
    script = pagecache.guest_mount_script(tmp_path)
    assert "cache=loose" in script
    res = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_a_program_not_meant_for_plain_is_reported_not_run(tmp_path: Path) -> None:
    prog = upstream.program_name("uffd-unit-tests", "tmpfs")
    stand_in = Program(prog, ("true",), targets=upstream.TARGETS["uffd-unit-tests"],
                       not_run_reason=upstream.NOT_RUN)
    outdir = tmp_path / "plain"
    outdir.mkdir()
    targets.record_not_run([stand_in], "plain", outdir)
    (res,) = report.load_target(outdir, "plain", report.program_list(outdir)).programs
    (o,) = upstream_judge.outcomes("plain", res, None)
    assert o.result == "skip" and "not run" in o.message and upstream.NOT_RUN in o.message
    assert res.ok and res.counts.passed == 0
    targets.record_not_run([stand_in], "ours", tmp_path)  # meant for ours: nothing recorded
    assert not list(tmp_path.glob("*.status"))


def test_recorded_abort_in_the_reference_guest() -> None:
    # 6.12 under TCG, a busy machine: err() in the fault handler ended the run.
    text = (DATA / "uffd-unit-tests-reference-6.12-events-abort.out").read_text()
    verdict = uffd_unit.judge(text, ktap.ExitStatus(code=1))
    assert verdict.status is ktap.Status.FAIL
    crashed = [("/".join(p), c) for p, c in verdict.run.walk()
               if c.status is ktap.Status.CRASHED and not c.children]
    assert [name for name, _ in crashed] == ["events/anon"]
    assert crashed[0][1].reason.startswith("ERROR: UFFDIO_COPY error: -2")
    assert verdict.run.leaf_counts.skipped == 10


def test_recorded_timeout_in_the_reference_guest() -> None:
    # Killed at its time limit inside the poison test: never a pass.
    text = (DATA / "uffd-unit-tests-reference-6.12-timeout.out").read_text()
    verdict = uffd_unit.judge(text, ktap.ExitStatus(timed_out=True))
    assert verdict.status is ktap.Status.TIMEOUT
    last = list(verdict.run.walk())[-1]
    assert "/".join(last[0]) == "poison/shmem-private"
    assert last[1].status is ktap.Status.CRASHED


def test_uffd_unit_tests_run_the_wp_tests_unless_asked_for_all() -> None:
    binary = Path("/x/uffd-unit-tests")
    assert upstream.argv_for("uffd-unit-tests", binary, full=False) == (str(binary), "-f", "wp")
    assert upstream.argv_for("uffd-unit-tests", binary, full=True) == (str(binary),)
    assert upstream.argv_for("pagemap_ioctl", Path("/x/p"), full=False) == ("/x/p",)
