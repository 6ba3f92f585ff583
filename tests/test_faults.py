"""The harness under faults: it never reports a pass it did not see.

Each case runs a small selftest that goes wrong on purpose
(``tests/data/faulty_selftest.c``) through the path the real selftests take:
``targets.run_host`` / ``targets.run_guest`` write ``<name>.out`` and
``<name>.status``, ``report`` judges them with the KTAP parser, and the
pytest plugin turns them into items. A complete passing run of the same
program goes alongside as the control, so a harness that simply failed
everything would be caught too.

- on the host (real processes, no guest): a crash by a signal in the middle
  of the plan, with and without its output flushed, no plan, a plan cut
  short;
- in a real guest (``guest``, ``slow``): the same programs, plus a WARNING
  from an unrelated place in dmesg; and a guest whose QEMU is killed while a
  program runs;
- a kernel panic while a program runs in ``run_guest``, with a stand-in for
  vng (the panic of a real guest is ``test_guest_real``'s
  ``test_kernel_panic_is_reported``).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import build, guest, ktap, report, splat, targets
from harness.paths import Layout, layout
from harness.selftests import Program

SOURCE = Path(__file__).parent / "data" / "faulty_selftest.c"
BROKEN = ("crash", "crash-buffered", "no-plan", "truncated")
WARNING_TITLE = "mm/pmscan-fault.c:1 pmscan_fault_injected"


def compile_faulty(dest: Path) -> Path:
    binary = dest / "faulty_selftest"
    subprocess.run(["gcc", "-O1", "-Wall", "-Werror", "-o", str(binary), str(SOURCE)],
                   check=True, capture_output=True)
    return binary


def program(binary: Path, mode: str, *args: str, timeout: float = 120) -> Program:
    return Program(f"faulty-{mode}", (str(binary), mode, *args), timeout=timeout)


def out_layout(out: Path) -> Layout:
    """The real cache (for the guest), results under ``out``."""
    real = layout()
    return Layout(repo=real.repo, cache=real.cache, out=out)


def plugin_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, out: Path,
               target: str) -> pytest.RunResult:
    """The pytest plugin over the results in ``out``, as ``make test`` reports them."""
    monkeypatch.setenv("PMSCAN_OUT", str(out))
    pytester.makeconftest('pytest_plugins = ["harness.plugin"]\n')
    (pytester.path / "selftests.targets").write_text(f"{target}\n")
    return pytester.runpytest("--reuse-results", "-p", "no:cacheprovider", "-rA")


def failure_of(res: pytest.RunResult, item: str) -> str:
    """The report of the failed pytest item ``item`` (``<target>::<name>``)."""
    text = res.stdout.str()
    header = re.search(rf"^_+ \S*::{re.escape(item)} _+$", text, re.MULTILINE)
    assert header, f"no failure report for {item}:\n{text}"
    return text[header.end():].split("\n_", 1)[0].split("\n===", 1)[0]


def by_name(t: report.TargetResult) -> dict[str, report.ProgramResult]:
    return {p.name.removeprefix("faulty-"): p for p in t.programs}


def check_broken_programs(progs: dict[str, report.ProgramResult]) -> None:
    """The verdicts of the control and of each BROKEN program, wherever they ran."""
    good = progs["good"]
    assert good.ok and good.counts.passed == 3, good.describe()

    crash = progs["crash"]
    assert not crash.ok
    assert crash.verdict is not None and crash.verdict.status is ktap.Status.CRASHED
    assert "killed by SIGSEGV" in crash.describe()
    assert "after 2 results of 5 planned" in crash.describe()

    # The two results died in stdio's buffer: nothing was seen, nothing passed.
    lost = progs["crash-buffered"]
    assert not lost.ok and lost.counts.passed == 0
    assert "SIGSEGV" in lost.describe() and "before reporting any result" in lost.describe()

    no_plan = progs["no-plan"]
    assert not no_plan.ok and "no plan line" in no_plan.describe()

    cut = progs["truncated"]
    assert not cut.ok and "says 5 tests but only 2 reported" in cut.describe()


# -- the host: real processes ---------------------------------------------------------------


@pytest.fixture
def host_results(tmp_path: Path) -> Layout:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed: cannot build the faulty selftest")
    lay = Layout(repo=tmp_path, cache=tmp_path / "cache", out=tmp_path / "out")
    binary = compile_faulty(tmp_path)
    progs = [program(binary, "good"), *(program(binary, m) for m in BROKEN)]
    outdir = lay.results("host")
    targets.clear(outdir)
    targets.run_host(lay, progs, outdir)
    return lay


def test_broken_programs_on_the_host_fail_and_say_why(host_results: Layout) -> None:
    summary = report.Summary.load(host_results, ["host"])
    (host,) = summary.targets
    check_broken_programs(by_name(host))
    assert not summary.ok()
    table = summary.render()
    assert table.endswith("RESULT: FAIL")
    for mode in BROKEN:
        assert f"host / faulty-{mode}: " in table


def test_broken_programs_fail_as_pytest_items(host_results: Layout, pytester: pytest.Pytester,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    res = plugin_run(pytester, monkeypatch, host_results.out, "host")
    assert res.ret == pytest.ExitCode.TESTS_FAILED
    assert "CRASHED: killed by SIGSEGV" in failure_of(res, "host::faulty-crash")
    assert "before reporting any result" in failure_of(res, "host::faulty-crash-buffered")
    assert "no plan line" in failure_of(res, "host::faulty-no-plan")
    assert "says 5 tests but only 2" in failure_of(res, "host::faulty-truncated")
    outcomes = res.parseoutcomes()
    # Passed: the control's program and its 3 cases, and the 2 results each of
    # crash, no-plan and truncated did print (they are real passes; their
    # programs fail). Nothing else.
    assert outcomes == {"passed": 4 + 3 * 2, "failed": 4}


# -- a panic in the middle of run_guest, with a stand-in for vng -----------------------------


def test_panic_while_a_program_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The panic ends the run: reported, the rest not run, nothing passed after it."""
    vng = tmp_path / "vng"
    vng.write_text('#!/bin/bash\necho "[ 1.0] up"; PS1="# " exec bash --norc -i\n')
    vng.chmod(vng.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(guest, "vng_path", lambda: str(vng))
    monkeypatch.setenv("PMSCAN_ACCEL", "tcg")
    # The stand-in runs on the host: set nothing up there.
    monkeypatch.setattr(targets, "GUEST_SETUP", "true")
    image = tmp_path / "bzImage"
    image.write_bytes(b"not a kernel")
    kernel = guest.Kernel(name="ours", image=str(image))
    # The "program" prints the panic on the console and the console dies.
    panic = Program("faulty-panic", ("sh", "-c", "echo 'TAP version 13'; echo 1..2; "
                                     "echo 'ok 1 first'; echo '[ 9.9] Kernel panic - not "
                                     "syncing: injected' >/dev/tty; kill -9 $PPID"))
    after = Program("faulty-after", ("true",))
    lay = Layout(repo=tmp_path, cache=tmp_path, out=tmp_path / "out")
    targets.run_guest(lay, kernel, [panic, after], lay.results("ours"), boot_timeout=30)

    (ours,) = report.Summary.load(lay, ["ours"]).targets
    assert "Kernel panic - not syncing: injected" in ours.error
    progs = by_name(ours)
    assert progs["panic"].problem == "guest died" and progs["panic"].counts.passed == 0
    assert progs["after"].problem == "not run"
    assert not ours.ok


# -- a real guest -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def any_kernel() -> guest.Kernel:
    """Our built kernel, else the reference one: the faults are the harness's, not theirs."""
    lay = layout()
    image = build.bzimage(lay.build_tree("base"))
    if image.is_file():
        return guest.Kernel(name="ours", image=str(image))
    ref = targets.reference_kernel()
    if ref is None:
        pytest.skip(f"no kernel to boot: {image} is not built and the reference "
                    "kernel is not installed")
    return ref


@pytest.fixture(scope="module")
def guest_out() -> Iterator[Path]:
    """A results directory the guest can write (the real out/, shared over 9p)."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed: cannot build the faulty selftest")
    base = layout().out
    base.mkdir(parents=True, exist_ok=True)
    out = Path(tempfile.mkdtemp(prefix="faults-", dir=base))
    yield out
    shutil.rmtree(out, ignore_errors=True)


@pytest.fixture(scope="module")
def guest_run(any_kernel: guest.Kernel, guest_out: Path) -> Layout:
    """One boot: the control, the broken programs and one that logs a WARNING."""
    lay = out_layout(guest_out / "broken")
    lay.out.mkdir()
    binary = compile_faulty(lay.out)
    progs = [program(binary, "good"), *(program(binary, m) for m in BROKEN),
             program(binary, "warn")]
    outdir = lay.results(any_kernel.name)
    targets.clear(outdir)
    targets.run_guest(lay, any_kernel, progs, outdir)
    return lay


@pytest.mark.guest
@pytest.mark.slow
def test_broken_programs_in_a_guest(guest_run: Layout, any_kernel: guest.Kernel) -> None:
    (t,) = report.Summary.load(guest_run, [any_kernel.name]).targets
    assert not t.error
    check_broken_programs(by_name(t))


@pytest.mark.guest
@pytest.mark.slow
def test_unrelated_warning_in_dmesg_fails_the_run_and_is_named(
        guest_run: Layout, any_kernel: guest.Kernel, pytester: pytest.Pytester,
        monkeypatch: pytest.MonkeyPatch) -> None:
    summary = report.Summary.load(guest_run, [any_kernel.name])
    (t,) = summary.targets
    # Every program that logged nothing and the one that did pass on their own...
    assert by_name(t)["warn"].ok
    # ...but the kernel log holds the warning: the target fails, naming it.
    assert [s.kind for s in t.splats] == [splat.SplatKind.WARNING]
    assert WARNING_TITLE in t.splats[0].title
    assert not t.ok and not summary.ok()
    assert WARNING_TITLE in summary.render()

    res = plugin_run(pytester, monkeypatch, guest_run.out, any_kernel.name)
    assert res.ret == pytest.ExitCode.TESTS_FAILED
    assert WARNING_TITLE in failure_of(res, f"{any_kernel.name}::kernel-reports")


def _descendants(root: int) -> list[int]:
    """The processes below ``root``, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat_line = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat_line.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _our_qemu() -> list[int]:
    """The QEMU processes this test process started (through vng)."""
    pids = []
    for pid in _descendants(os.getpid()):
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if comm.startswith("qemu-system"):
            pids.append(pid)
    return pids


@pytest.mark.guest
@pytest.mark.slow
def test_guest_killed_mid_run(any_kernel: guest.Kernel, guest_out: Path,
                              pytester: pytest.Pytester,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    """QEMU is killed while a program runs: reported, nothing of it passed, the rest not run."""
    lay = out_layout(guest_out / "killed")
    lay.out.mkdir()
    binary = compile_faulty(lay.out)
    started = lay.out / "hold-started"
    progs = [program(binary, "good"), program(binary, "hold", str(started), timeout=900),
             Program("faulty-after", (str(binary), "good"))]
    outdir = lay.results(any_kernel.name)
    targets.clear(outdir)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            targets.run_guest(lay, any_kernel, progs, outdir)
        except BaseException as e:  # handed to the test thread below
            failure.append(e)

    runner = threading.Thread(target=run)
    runner.start()
    deadline = time.monotonic() + 600
    while not started.exists() and runner.is_alive() and time.monotonic() < deadline:
        time.sleep(1)
    qemu = _our_qemu()
    try:
        assert started.exists(), f"the program never started: {failure or 'no error'}"
        assert len(qemu) == 1, f"expected one QEMU below this process, found {qemu}"
    finally:
        for pid in qemu:
            os.kill(pid, signal.SIGKILL)
        runner.join(120)
    assert not runner.is_alive(), "run_guest did not return after QEMU was killed"
    assert not failure, failure

    summary = report.Summary.load(lay, [any_kernel.name])
    (t,) = summary.targets
    assert "guest exited unexpectedly" in t.error
    progs_by = by_name(t)
    assert progs_by["good"].ok
    hold = progs_by["hold"]
    # It printed "ok 1" before the kill; that is not counted as a pass.
    assert "ok 1 first" in hold.output
    assert hold.problem == "guest died" and hold.counts.passed == 0 and not hold.ok
    assert progs_by["after"].problem == "not run"
    assert not summary.ok() and summary.render().endswith("RESULT: FAIL")

    res = plugin_run(pytester, monkeypatch, lay.out, any_kernel.name)
    assert res.ret == pytest.ExitCode.TESTS_FAILED
    assert "guest died" in failure_of(res, f"{any_kernel.name}::faulty-hold")
    assert "not run" in failure_of(res, f"{any_kernel.name}::faulty-after")
    passed = [ln for ln in res.outlines if ln.startswith("PASSED")]
    assert not [ln for ln in passed if "faulty-hold" in ln or "faulty-after" in ln], passed
    assert len([ln for ln in passed if "faulty-good" in ln]) == 4  # the program, 3 cases
