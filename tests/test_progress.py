"""The pipeline's progress reaches the terminal, in `make run` and in `make test` alike.

The pytest run goes through a real pytest process (as `make test` starts
it), whose plugin is the harness's and whose pipeline stages are small
stand-ins (``conftest.py`` below): each says what the real stage says, one
stays silent long enough for the heartbeat to speak, and the host target's
results are written for the plugin to collect. The lines must show while
collection runs (pytest captures everything said then), with ``-q``, with
xdist workers, and leave the JUnit file whole.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET

import pytest

from harness import proc

CONFTEST = '''
import time

from harness import pipeline, proc

pytest_plugins = ["harness.plugin"]
proc.HEARTBEAT = 1.0

KTAP = """TAP version 13
1..2
ok 1 anon: first
ok 2 shmem: second # SKIP no shmem here
# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:1 error:0
"""


def fake_kernel_tree(lay, profile="base"):
    proc.say("source: unpacked 20000 records")
    count = 321
    with proc.activity(lambda: f"build: bzImage: {count} objects"):
        time.sleep(2.6)  # a silent make: only the heartbeat speaks
    proc.say("build: bzImage: done (321 objects, 3s)")
    return lay.out


def fake_all_programs(lay, tree):
    proc.say("selftests: built 1 programs")
    return []


def fake_run_targets(lay, tree, names, profile="base", programs=None):
    out = lay.results("host")
    out.mkdir(parents=True, exist_ok=True)
    proc.say("host: running demo")
    (out / "info.txt").write_text("host 6.99.0\\n")
    (out / "demo.out").write_text(KTAP)
    (out / "demo.status").write_text("0\\n")
    return {"host": None}


pipeline.kernel_tree = fake_kernel_tree
pipeline.all_programs = fake_all_programs
pipeline.run_targets = fake_run_targets
'''

STAGE_LINES = (
    "pipeline: preparing host",
    "source: unpacked 20000 records",
    "still working: build: bzImage: 321 objects",
    "build: bzImage: done (321 objects, 3s)",
    "selftests: built 1 programs",
    "host: running demo",
    "pipeline: done; collecting the results",
)


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PMSCAN_OUT", str(pytester.path / "out"))
    monkeypatch.setenv("PMSCAN_CACHE", str(pytester.path / "cache"))
    pytester.makeconftest(CONFTEST)
    (pytester.path / "selftests.targets").write_text("host\n")
    return pytester


def _check_progress(res: pytest.RunResult) -> None:
    out = res.stdout.str()
    positions = []
    for line in STAGE_LINES:
        assert line in out, f"{line!r} not shown:\n{out}\n--- stderr ---\n{res.stderr.str()}"
        positions.append(out.index(line))
    assert positions == sorted(positions), f"stage lines out of order:\n{out}"
    # Each on a line of its own, before any result is reported.
    lines = out.splitlines()
    for want in STAGE_LINES:
        assert any(ln.startswith(want) for ln in lines), f"{want!r} shares a line:\n{out}"
    assert out.index(STAGE_LINES[-1]) < out.index("passed")


@pytest.mark.parametrize("args", [(), ("-q",), ("-n", "2", "-v")],
                         ids=["default", "quiet", "xdist"])
def test_stage_progress_shows_during_collection(project: pytest.Pytester,
                                                args: tuple[str, ...]) -> None:
    junit = project.path / "junit.xml"
    res = project.runpytest_subprocess(*args, "-p", "no:cacheprovider",
                                       f"--junitxml={junit}")
    assert res.ret == 0, res.stdout.str() + res.stderr.str()
    _check_progress(res)
    if "-n" in args:
        # A test file goes to one worker whole: its module fixtures run once.
        res.stdout.fnmatch_lines(["scheduling tests via LoadFileScheduling"])
    # The program's item and its two cases, each collected and run once.
    res.assert_outcomes(passed=2, skipped=1)
    cases = ET.parse(junit).getroot().iter("testcase")
    names = sorted(c.get("name", "") for c in cases)
    assert names == ["demo", "demo/anon: first", "demo/shmem: second"]


def test_not_slow_deselects_the_selftests_without_running_the_pipeline(
        project: pytest.Pytester) -> None:
    res = project.runpytest_subprocess("-m", "not slow", "-p", "no:cacheprovider")
    assert "pipeline: preparing" not in res.stdout.str()
    assert not (project.path / "out" / "results" / "host").exists()
    assert res.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_heartbeat_names_the_step_and_the_silent_threads_last_line(
        monkeypatch: pytest.MonkeyPatch) -> None:
    said: list[str] = []
    monkeypatch.setattr(proc, "HEARTBEAT", 0.5)
    previous = proc.set_sink(said.append)
    try:
        def guest() -> None:
            with proc.activity():
                proc.say("ours: booting 6.1")
                time.sleep(2.2)

        t = threading.Thread(target=guest)
        with proc.activity(lambda: "build: bzImage: 42 objects"):
            t.start()
            t.join()
        ended = len(said)
        time.sleep(2.5)
    finally:
        proc.set_sink(previous)
    during = [s for s in said[:ended] if s.startswith("still working: ")]
    assert during, said
    assert all("build: bzImage: 42 objects" in b for b in during), during
    assert any("ours: booting 6.1 (" in b and "s ago)" in b for b in during), during
    # Once the steps end, the heartbeat stops naming them (this test's own
    # run, an activity of the plugin's, may still be named).
    after = said[ended:]
    assert not any("bzImage" in s or "booting" in s for s in after), after


def test_heartbeat_names_a_long_test(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["harness.plugin"]\n'
                          "from harness import proc\nproc.HEARTBEAT = 1.0\n")
    pytester.makepyfile(test_boot="import time\n\ndef test_boot():\n    time.sleep(2.6)\n")
    res = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert res.ret == 0
    res.stdout.re_match_lines([r"still working: test_boot.py::test_boot \(\d+s\)"])


def test_without_a_sink_progress_goes_to_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    previous = proc.set_sink(None)
    try:
        proc.say("build: bzImage: 200 objects, 31s")
    finally:
        proc.set_sink(previous)
    out, err = capfd.readouterr()
    assert err == "build: bzImage: 200 objects, 31s\n" and out == ""


def test_the_heartbeat_is_rare_enough_and_often_enough() -> None:
    # A line at least every 30 s on a fresh machine: the heartbeat speaks
    # after HEARTBEAT seconds of silence, checked once a second.
    assert 5 <= proc.HEARTBEAT <= 29


def test_workers_by_themselves_from_four_cores() -> None:
    from harness import plugin

    assert [plugin.auto_workers(n) for n in (1, 2, 3, 4, 8, 16)] == [0, 0, 0, 2, 4, 8]


def test_lines_arrive_while_the_stage_runs_through_a_pipe(project: pytest.Pytester) -> None:
    """A CI log is a pipe: each line must come when said, not when pytest ends."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    with subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                          cwd=project.path, stdout=subprocess.PIPE, text=True, env=env) as p:
        assert p.stdout is not None
        for line in p.stdout:
            if line.startswith("source: unpacked 20000 records"):
                # The stand-in build is still sleeping: the line came early.
                assert p.poll() is None, "the line arrived only after pytest ended"
                break
        else:
            pytest.fail("the stage's line never came")
        p.stdout.read()
    assert p.returncode == 0
