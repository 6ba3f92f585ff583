"""KCIDB output: a run's results as KernelCI reads them, checked with kcidb-io.

The results are written the way `targets.run_host` / `run_guest` leave them
(``<program>.out``, ``<program>.status``, ``info.txt``, ``dmesg.txt``), with
a planted failing case, a skip, a program that timed out, an unrelated
WARNING in a guest's dmesg, plain 6.1 skipping everything and a target that
cannot run here. The document must validate against the installed
kcidb-io's schema and say each of those as the schema means it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import kcidb_io
import pytest

from harness import kcidb, patches
from harness.errors import HarnessError
from harness.paths import REPO, Layout

OURS_WP = """TAP version 13
1..3
ok 1 anon: get+WP cycle
# thp: expected 512 written pages, got 511
not ok 2 thp: partial WP
ok 3 hugetlb: cycle # SKIP no hugepages
# Totals: pass:1 fail:1 xfail:0 xpass:0 skip:1 error:0
"""
OURS_VMA_CUT = """TAP version 13
1..6
ok 1 mprotect all
"""
PLAIN_WP = """TAP version 13
1..2
ok 1 anon: get+WP cycle # SKIP PAGEMAP_SCAN: ENOTTY (kernel without the series)
ok 2 thp: partial WP # SKIP PAGEMAP_SCAN: ENOTTY (kernel without the series)
# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:2 error:0
"""
PLAIN_FIXES = """TAP version 13
1..2
# the hugetlb uffd-wp bit leaked into the child
not ok 1 hugetlb: fork keeps no uffd-wp bit
not ok 2 shmem: marker survives a split
# Totals: pass:0 fail:2 xfail:0 xpass:0 skip:0 error:0
"""
HOST_WP = """TAP version 13
1..1
ok 1 anon: get+WP cycle
# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:0 error:0
"""
WARNING = ("[   12.5] WARNING: CPU: 0 PID: 1 at mm/pmscan-fault.c:1 "
           "pmscan_fault_injected+0x0/0x10\n"
           "[   12.5] ---[ end trace 0000000000000000 ]---\n")

Doc = dict[str, Any]


def _target(lay: Layout, name: str, kernel: str, programs: dict[str, tuple[str, str]],
            dmesg: str = "") -> None:
    out = lay.results(name)
    out.mkdir(parents=True)
    (out / "info.txt").write_text(f"{name} {kernel}\n")
    for prog, (text, status) in programs.items():
        (out / f"{prog}.out").write_text(text)
        (out / f"{prog}.status").write_text(status + "\n")
    if name != "host":
        (out / "dmesg.txt").write_text(dmesg or "[    0.0] Linux version ...\n")


@pytest.fixture
def lay(tmp_path: Path) -> Layout:
    lay = Layout(repo=REPO, cache=tmp_path / "cache", out=tmp_path / "out")
    _target(lay, "ours", "6.1.192", {
        "pagemap_scan_wp": (OURS_WP, "1"),
        "pagemap_scan_vma": (OURS_VMA_CUT, "timeout"),
        "userfaultfd-anon": ("userfaultfd anon: all tests passed\n", "0"),
    }, dmesg=WARNING)
    _target(lay, "plain", "6.1.0-56-amd64", {"pagemap_scan_wp": (PLAIN_WP, "4"),
                                             "uffd_wp_fixes": (PLAIN_FIXES, "1")})
    _target(lay, "host", "6.18.0", {"pagemap_scan_wp": (HOST_WP, "0")})
    unavailable = lay.results("reference")
    unavailable.mkdir(parents=True)
    (unavailable / "unavailable.txt").write_text("Debian's 6.12 is not installed\n")
    kcidb.record_series(lay)
    return lay


NAMES = ["host", "ours", "reference", "plain"]


def _tests(doc: Doc, target: str) -> dict[str, Doc]:
    builds = {b["id"] for b in doc["builds"] if b["misc"]["target"] == target}
    return {t["path"]: t for t in doc["tests"] if t["build_id"] in builds}


def test_document_validates_with_kcidb_io(lay: Layout) -> None:
    doc = kcidb.document(lay, NAMES)
    kcidb_io.schema.LATEST.validate(doc)
    assert kcidb_io.schema.LATEST.is_compatible(doc)
    ids = [t["id"] for t in doc["tests"]]
    assert len(ids) == len(set(ids))
    build_ids = {b["id"] for b in doc["builds"]}
    assert {t["build_id"] for t in doc["tests"]} <= build_ids
    assert {b["checkout_id"] for b in doc["builds"]} <= {c["id"] for c in doc["checkouts"]}
    # The same results name the same objects: a second submission merges.
    assert kcidb.document(lay, NAMES) == doc


def test_planted_failure_and_the_other_outcomes(lay: Layout) -> None:
    doc = kcidb.document(lay, NAMES)
    ours = _tests(doc, "ours")
    failed = ours["pagemap_scan_wp.thp_partial_WP"]
    assert failed["status"] == "FAIL"
    assert "expected 512 written pages, got 511" in failed["log_excerpt"]
    assert "not ok 2 thp: partial WP" in failed["log_excerpt"]
    assert ours["pagemap_scan_wp"]["status"] == "FAIL"
    assert ours["pagemap_scan_wp.anon_get_WP_cycle"]["status"] == "PASS"
    skipped = ours["pagemap_scan_wp.hugetlb_cycle"]
    assert skipped["status"] == "SKIP" and "no hugepages" in skipped["comment"]
    # Cut short by a timeout: the program could not finish.
    assert ours["pagemap_scan_vma"]["status"] == "ERROR"
    assert ours["pagemap_scan_vma.mprotect_all"]["status"] == "PASS"
    assert ours["userfaultfd-anon"]["status"] == "PASS"
    reports = ours["kernel_reports"]
    assert reports["status"] == "FAIL" and "pmscan_fault_injected" in reports["log_excerpt"]
    env = failed["environment"]
    assert env["misc"] == {"target": "ours", "kernel": "6.1.192"}
    assert "virtme-ng guest" in env["comment"]

    plain = _tests(doc, "plain")
    assert plain["pagemap_scan_wp"]["status"] == "SKIP"
    case = plain["pagemap_scan_wp.thp_partial_WP"]
    assert case["status"] == "SKIP" and "ENOTTY" in case["comment"]
    assert case["misc"]["expected"]
    assert plain["kernel_reports"]["status"] == "PASS"
    # A reproducer of a 6.1 bug fails there, as it should: FAIL, and said to be expected.
    fixes = plain["uffd_wp_fixes.hugetlb_fork_keeps_no_uffd-wp_bit"]
    assert fixes["status"] == "FAIL" and "reproduces the bug" in fixes["misc"]["expected"]
    assert plain["uffd_wp_fixes"]["status"] == "FAIL" and plain["uffd_wp_fixes"]["misc"]["expected"]

    host = _tests(doc, "host")
    assert set(host) == {"pagemap_scan_wp", "pagemap_scan_wp.anon_get_WP_cycle"}
    assert all(t["status"] == "PASS" for t in host.values())

    assert list(_tests(doc, "reference")) == [""]
    reference = _tests(doc, "reference")[""]
    assert reference["status"] == "SKIP" and "not installed" in reference["comment"]


def test_checkouts_and_builds(lay: Layout) -> None:
    doc = kcidb.document(lay, NAMES)
    by_id = {c["id"]: c for c in doc["checkouts"]}
    builds = {b["misc"]["target"]: b for b in doc["builds"]}
    ours = by_id[builds["ours"]["checkout_id"]]
    series = patches.read_series(REPO / "patches")
    # The schema's recipe, run by the shell: sha256sum *.patch | cut -c-64 | sha256sum.
    shell = subprocess.run(
        ["bash", "-c", 'sha256sum "$@" | cut -c-64 | sha256sum | cut -c-64', "-",
         *map(str, series)], check=True, capture_output=True, text=True)
    assert ours["patchset_hash"] == shell.stdout.strip()
    assert ours["misc"]["patches"] == [p.name for p in series]
    plain = by_id[builds["plain"]["checkout_id"]]
    assert plain["patchset_hash"] == "" and plain["id"] != ours["id"]
    assert builds["ours"]["config_name"] == "tinyconfig+base.config"
    assert "CONFIG_" in builds["ours"]["misc"]["fragments"]["base.config"]
    assert builds["reference"]["status"] == "SKIP"


def test_the_mainline_target_is_6_12_built_like_ours(lay: Layout) -> None:
    _target(lay, "mainline", "6.12.118", {"pagemap_scan_wp": (HOST_WP, "0")})
    doc = kcidb.document(lay, [*NAMES, "mainline"])
    kcidb_io.schema.LATEST.validate(doc)
    by_id = {c["id"]: c for c in doc["checkouts"]}
    builds = {b["misc"]["target"]: b for b in doc["builds"]}
    mainline = builds["mainline"]
    assert mainline["config_name"] == "tinyconfig+base.config+mainline.config"
    assert "CONFIG_NR_CPUS=64" in mainline["misc"]["fragments"]["mainline.config"]
    checkout = by_id[mainline["checkout_id"]]
    assert "linux-source-6.12" in checkout["id"] and checkout["patchset_hash"] == ""
    assert checkout["id"] not in {builds[n]["checkout_id"] for n in ("ours", "plain")}
    assert _tests(doc, "mainline")["pagemap_scan_wp"]["status"] == "PASS"


def test_path_parts_follow_the_schema() -> None:
    assert kcidb.path_part("anon: get+WP cycle") == "anon_get_WP_cycle"
    assert kcidb.path_part("userfaultfd-anon") == "userfaultfd-anon"
    assert kcidb.path_part("::") == "unnamed"


def test_cli_report_writes_kcidb(lay: Layout, tmp_path: Path) -> None:
    dest = tmp_path / "k" / "kcidb.json"
    env = {"PMSCAN_OUT": str(lay.out), "PMSCAN_CACHE": str(lay.cache), "PATH": "/usr/bin:/bin"}
    res = subprocess.run([sys.executable, "-m", "harness", "report", "--targets", "ours",
                          "plain", "--kcidb", str(dest)], cwd=REPO, env=env,
                         capture_output=True, text=True)
    assert res.returncode == 1, res.stdout + res.stderr  # the planted failure
    assert f"KCIDB results: {dest}" in res.stdout
    doc = json.loads(dest.read_text())
    kcidb_io.schema.LATEST.validate(doc)
    assert {t["environment"]["misc"]["target"] for t in doc["tests"]} == {"ours", "plain"}


def test_pytest_run_writes_kcidb(lay: Layout, pytester: pytest.Pytester,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMSCAN_OUT", str(lay.out))
    monkeypatch.setenv("PMSCAN_CACHE", str(lay.cache))
    pytester.makeconftest('pytest_plugins = ["harness.plugin"]\n')
    (pytester.path / "selftests.targets").write_text("ours\nplain\n")
    dest = pytester.path / "kcidb.json"
    res = pytester.runpytest("--reuse-results", "-p", "no:cacheprovider", f"--kcidb={dest}")
    assert res.ret == pytest.ExitCode.TESTS_FAILED
    # the reproducer passes on plain; ours' skipped hugetlb case fails (a skip there hides one)
    res.assert_outcomes(failed=5, passed=9, skipped=0)
    res.stdout.fnmatch_lines([f"KCIDB results: {dest}"])
    doc = json.loads(dest.read_text())
    kcidb_io.schema.LATEST.validate(doc)
    failed = {t["path"] for t in doc["tests"]
              if t["status"] == "FAIL" and "expected" not in t.get("misc", {})}
    assert failed == {"pagemap_scan_wp", "pagemap_scan_wp.thp_partial_WP",
                      "kernel_reports"}, failed


def test_origin_names_every_object(lay: Layout, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMSCAN_KCIDB_ORIGIN", "someci")
    doc = kcidb.document(lay, ["ours"])
    kcidb_io.schema.LATEST.validate(doc)
    objs = [*doc["checkouts"], *doc["builds"], *doc["tests"]]
    assert all(o["origin"] == "someci" and o["id"].startswith("someci:") for o in objs)
    monkeypatch.setenv("PMSCAN_KCIDB_ORIGIN", "Some CI")
    with pytest.raises(HarnessError, match="not a KCIDB origin name") as e:
        kcidb.document(lay, ["ours"])
    assert "lowercase letters" in e.value.hint


def test_a_session_without_the_selftests_leaves_no_stale_file(
        lay: Layout, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMSCAN_OUT", str(lay.out))
    pytester.makeconftest('pytest_plugins = ["harness.plugin"]\n')
    pytester.makepyfile(test_unit="def test_unit():\n    pass\n")
    dest = pytester.path / "kcidb.json"
    dest.write_text("{}")
    res = pytester.runpytest("-p", "no:cacheprovider", f"--kcidb={dest}", "test_unit.py")
    assert res.ret == 0
    assert not dest.exists()
