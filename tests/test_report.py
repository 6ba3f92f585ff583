"""Results on disk -> verdicts -> summary table; and the pytest items made of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import report
from harness.paths import Layout

PASSING = """TAP version 13
1..3
ok 1 anon: first
ok 2 thp: second
ok 3 hugetlb: third # SKIP no hugepages
# Totals: pass:2 fail:0 xfail:0 xpass:0 skip:1 error:0
"""
FAILING = """TAP version 13
1..2
ok 1 first
# expected 0x1000, got 0x2000
not ok 2 second
# Totals: pass:1 fail:1 xfail:0 xpass:0 skip:0 error:0
"""
CRASHED = """TAP version 13
1..5
ok 1 first
"""
WARNING = """[    5.0] WARNING: CPU: 1 PID: 77 at mm/memory.c:123 do_wp_page+0x10/0x20
[    5.0] Modules linked in:
[    5.0] ---[ end trace 0000000000000000 ]---
"""


def write(d: Path, name: str, out: str, status: str) -> None:
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}.out").write_text(out)
    (d / f"{name}.status").write_text(status + "\n")


@pytest.fixture
def lay(tmp_path: Path) -> Layout:
    lay = Layout(repo=tmp_path, cache=tmp_path / "cache", out=tmp_path / "out")
    host = lay.results("host")
    write(host, "good", PASSING, "0")
    (host / "info.txt").write_text("host 6.18.0\n")
    ours = lay.results("ours")
    write(ours, "good", PASSING, "0")
    write(ours, "bad", FAILING, "1")
    write(ours, "crashed", CRASHED, "signal 11")
    write(ours, "hung", "TAP version 13\n1..1\n", "timeout")
    write(ours, "later", "", "not run")
    write(ours, "userfaultfd-anon", "nr_pages: 8192\n", "0")
    (ours / "info.txt").write_text("ours 6.1.192+\n")
    (ours / "dmesg.txt").write_text("[ 1.0] Linux version 6.1\n" + WARNING)
    ref = lay.results("reference")
    ref.mkdir(parents=True)
    (ref / "unavailable.txt").write_text("not installed\n")
    return lay


def test_each_way_of_failing_is_not_ok(lay: Layout) -> None:
    s = report.Summary.load(lay, ["host", "ours", "reference"])
    host, ours, ref = s.targets
    assert host.ok and ref.ok and ref.unavailable == "not installed"
    by = {p.name: p for p in ours.programs}
    assert by["good"].ok
    assert by["userfaultfd-anon"].ok
    assert not by["bad"].ok and "second" in by["bad"].describe()
    assert not by["crashed"].ok and "SIGSEGV" in by["crashed"].describe()
    assert not by["hung"].ok
    assert not by["later"].ok and by["later"].describe() == "not run"
    assert len(ours.splats) == 1
    assert not ours.ok and not s.ok()


def test_table_has_a_row_per_program_and_a_verdict(lay: Layout) -> None:
    text = report.Summary.load(lay, ["host", "ours", "reference"]).render()
    assert "good" in text and "ok 2p 0f 1s" in text
    assert "6.1.192+" in text
    assert "1 FOUND" in text
    assert "reference: not run: not installed" in text
    assert text.rstrip().endswith("RESULT: FAIL")


def test_never_run_target_fails(tmp_path: Path) -> None:
    lay = Layout(repo=tmp_path, cache=tmp_path, out=tmp_path / "out")
    s = report.Summary.load(lay, ["ours"])
    assert not s.ok()
    assert "never run" in s.render()


REPRODUCED = """TAP version 13
1..2
not ok 1 hugetlb fork: the child's write completes
not ok 2 hugetlb unshare: the pin keeps the bit
# Totals: pass:0 fail:2 xfail:0 xpass:0 skip:0 error:0
"""


@pytest.mark.parametrize(("out", "status", "ok"), [
    (REPRODUCED, "1", True),
    (REPRODUCED.replace("not ok 2", "ok 2"), "1", False),
    ("TAP version 13\n1..2\nnot ok 1 first\n", "signal 11", False),
], ids=["every-case-fails", "one-no-longer-reproduces", "crashed"])
def test_a_reproducer_on_plain_must_fail_every_case(tmp_path: Path, out: str, status: str,
                                                     ok: bool) -> None:
    lay = Layout(repo=tmp_path, cache=tmp_path, out=tmp_path / "out")
    (name,) = report.REPRODUCERS
    write(lay.results("plain"), name, out, status)
    write(lay.results("ours"), name, out, status)
    s = report.Summary.load(lay, ["plain", "ours"])
    plain, ours = s.targets
    assert plain.ok is ok
    assert not ours.ok  # anywhere else, a failing case fails
    text = s.render()
    assert ("no longer reproduced" in text) is (not ok and status == "1")
    assert text.rstrip().endswith("RESULT: FAIL")


def test_plugin_makes_an_item_per_case(lay: Layout, pytester: pytest.Pytester,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMSCAN_OUT", str(lay.out))
    pytester.makeconftest('pytest_plugins = ["harness.plugin"]\n')
    (pytester.path / "selftests.targets").write_text("host\nours\nreference\n")
    res = pytester.runpytest("--reuse-results", "-p", "no:cacheprovider", "-rA")
    outcomes = res.parseoutcomes()
    # host: program + 3 cases; ours: 6 programs + cases + kernel-reports; reference: 1 skip.
    res.stdout.fnmatch_lines([
        "*PASSED*host::good/anon: first*",
        "*SKIPPED*target not available here: not installed*",
        "*FAILED*ours::bad/second*",
        "*FAILED*ours::kernel-reports*",
    ])
    # A skip in our guest hides a failure: it fails there, and stays a skip on the host.
    res.stdout.fnmatch_lines(["*skipped on a kernel that has every feature it needs: no hugepag*"])
    res.stdout.fnmatch_lines(["FAILED*ours::good/hugetlb: third*"])
    # bad, bad/second, crashed, hung, later, kernel-reports, good/hugetlb: third
    assert outcomes["failed"] == 7
    assert outcomes["skipped"] == 2  # host's hugetlb case and the reference target
