"""The benchmark: parsing pagemap_bench's output, ratios, agreement, the record, the plots.

Recorded outputs (tests/data/bench/) are real quick runs: ``host-quick.jsonl``
on the mainline host (with the shmem and page-cache file settings),
``ours-quick.jsonl`` on our 6.1 guest before the series (no PAGEMAP_SCAN),
``ours-series-quick.jsonl`` on it with the series, and ``reference-quick.jsonl``
on Debian's 6.12 guest. The last test runs the quick
benchmark on the host for real.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import bench, benchab, benchdata, pagecache
from harness.__main__ import main

DATA = Path(__file__).parent / "data" / "bench"


def recorded(name: str) -> str:
    return (DATA / name).read_text()


def host_run() -> benchdata.Run:
    r = benchdata.parse(recorded("host-quick.jsonl"), "host")
    r.params = bench.HOST_QUICK
    return r


def with_figure(r: benchdata.Run, index: int, **changes: object) -> benchdata.Run:
    """A copy of ``r`` whose figure ``index`` has some fields changed."""
    figs = list(r.figures)
    figs[index] = benchdata.Figure({**figs[index].data, **changes})
    return benchdata.Run(target=r.target, meta=r.meta, figures=figs, end=r.end)


# -- parsing ------------------------------------------------------------------


def test_parse_recorded_host_run() -> None:
    r = host_run()
    assert r.meta["kernel"] and r.meta["pagemap_scan"] is True
    assert r.end is not None and r.end["errors"] == 0
    benches = {f.bench for f in r.figures}
    assert benches == {"cycle", "scan", "fault"}
    # Every cycle group has one figure per tracker, in the program's order.
    for group, figs in r.groups().items():
        if group[0] == "cycle":
            assert [f.impl for f in figs] == ["pagemap_scan", "mprotect", "soft_dirty",
                                              "uffd_wp_sync"]
    assert r.problems() == []


def test_every_kind_of_memory_has_its_settings() -> None:
    r = host_run()
    settings = {f.setting() for f in r.figures if f.bench == "cycle"}
    for mem in ("anon", "shmem", "file", "thp", "hugetlb"):
        for frac in ("0.1%", "1%", "10%", "50%"):
            assert f"cycle {mem} 32 MiB {frac}" in settings
    assert r.meta["pagecache_fs"] == "ext4" and r.meta["pagecache_reason"] == ""
    # shmem and the file are tracked in base pages, checked against the writes.
    for f in r.figures:
        if f.bench == "cycle" and f.data["mem"] in ("shmem", "file"):
            assert f.data["unit"] == 4096 and f.data["units"] == 8192
            if f.impl in ("pagemap_scan", "mprotect"):
                assert f.ok and f.data["mismatches"] == 0 and f.data["answers_agree"]


def test_sync_uffd_wp_on_a_file_is_na_with_the_kernels_reason() -> None:
    r = host_run()
    sync = [f for f in r.figures if f.bench == "cycle" and f.impl == "uffd_wp_sync"]
    on_file = [f for f in sync if f.data["mem"] == "file"]
    assert len(on_file) == 4
    for f in on_file:
        assert f.status == "n/a" and "Invalid argument" in f.reason
        assert "anonymous, shmem and hugetlb memory only" in f.reason
    # shmem has it (UFFD_FEATURE_WP_HUGETLBFS_SHMEM).
    assert all(f.ok for f in sync if f.data["mem"] == "shmem")
    # n/a is not a problem, and the table gives the reason once.
    assert r.problems() == []
    text = bench.render([r], {})
    assert text.count("anonymous, shmem and hugetlb memory only") == 1
    assert "shmem 32 MiB 10%" in text and "file 32 MiB 50%" in text
    assert "page-cache files on ext4" in text


def test_parse_ignores_console_noise_but_not_broken_json() -> None:
    text = "[   12.3] random: crng init done\n" + recorded("host-quick.jsonl")
    assert len(benchdata.parse(text).figures) == len(host_run().figures)
    with pytest.raises(benchdata.BenchError, match=r"line 2 .* not JSON"):
        benchdata.parse(recorded("host-quick.jsonl").splitlines()[0] + '\n{"type": "res')


def test_parse_without_meta_is_an_error() -> None:
    with pytest.raises(benchdata.BenchError, match="no 'meta' line"):
        benchdata.parse('{"type": "end", "errors": 0}\n', "ours")


def test_na_figures_carry_their_reason() -> None:
    sd = [f for f in host_run().figures if f.impl == "soft_dirty"]
    assert sd and all(f.status == "n/a" and "CONFIG_MEM_SOFT_DIRTY" in f.reason for f in sd)
    assert all(f.median_ns is None and f.ratio is None for f in sd)


# -- ratios and agreement -------------------------------------------------------


def test_recomputed_ratios_match_the_programs() -> None:
    r = host_run()
    rel = benchdata.ratios(r.figures)
    checked = 0
    for f in r.figures:
        if f.ok and f.ratio is not None:
            got = rel[f.key]
            assert got is not None
            assert got == pytest.approx(f.ratio, rel=1e-4), f.label()
            checked += 1
    assert checked > 20
    # The reference implementation of every group is 1 against itself.
    for f in r.figures:
        if f.ok and f.impl == benchdata.REFERENCE_IMPL[f.bench]:
            assert rel[f.key] == pytest.approx(1.0)


def test_ratios_without_a_reference_are_none() -> None:
    r = host_run()
    # PAGEMAP_SCAN n/a, as on a kernel without the series.
    figs = [benchdata.Figure({**f.data, "status": "n/a", "reason": "ENOTTY"})
            if f.impl == "pagemap_scan" else f for f in r.figures]
    rel = benchdata.ratios(figs)
    assert all(rel[f.key] is None for f in figs if f.bench == "cycle")


def test_answers_that_differ_are_a_problem() -> None:
    r = host_run()
    i = next(i for i, f in enumerate(r.figures) if f.impl == "mprotect")
    bad = with_figure(r, i, answers="0000000000000000")
    problems = bad.problems()
    assert len(problems) == 1 and "answers differ" in problems[0]
    assert "mprotect 0000000000000000" in problems[0]


def test_wrong_answers_are_a_problem() -> None:
    r = host_run()
    i = next(i for i, f in enumerate(r.figures) if f.impl == "uffd_wp_sync")
    bad = with_figure(r, i, status="wrong", mismatches=1,
                      first_mismatch="cycle 0: 7 units reported, 8 written")
    assert any("wrong answers: cycle 0: 7 units" in p for p in bad.problems())


def test_a_run_without_its_end_line_is_a_problem() -> None:
    r = host_run()
    r.end = None
    assert any("did not finish" in p for p in r.problems())


def test_finish_judges_exit_status_and_output() -> None:
    out = recorded("host-quick.jsonl")
    assert bench._finish("host", out, 0, "", bench.HOST_QUICK, 0).status == "ok"
    # 1: wrong answers somewhere, the figures are still read and judged.
    assert bench._finish("host", out, 1, "", bench.HOST_QUICK, 0).status == "ok"
    crashed = bench._finish("host", out, 139, "Segmentation fault", bench.HOST_QUICK, 0)
    assert crashed.status == "error" and "Segmentation fault" in crashed.reason
    cut = "\n".join(out.splitlines()[:10])
    assert bench._finish("host", cut, 0, "", bench.HOST_QUICK, 0).status == "error"
    empty = bench._finish("ours", "", 2, "usage: ...", bench.GUEST_QUICK, 0)
    assert empty.status == "error" and "usage" in empty.reason


# -- our kernel against the reference kernel ---------------------------------------


def guest_runs() -> tuple[benchdata.Run, benchdata.Run]:
    ours = benchdata.parse(recorded("ours-series-quick.jsonl"), "ours")
    ref = benchdata.parse(recorded("reference-quick.jsonl"), "reference")
    ours.clocksource = ref.clocksource = "tsc"
    return ours, ref


def test_a_kernel_without_the_series_is_na_not_an_error() -> None:
    r = benchdata.parse(recorded("ours-quick.jsonl"), "ours")
    assert r.meta["pagemap_scan"] is False and "ENOTTY" in r.meta["pagemap_scan_reason"]
    pms = [f for f in r.figures if f.impl.startswith("pagemap_scan")]
    assert pms and all(f.status == "n/a" and "ENOTTY" in f.reason for f in pms)
    # The old ways still ran, agreed with each other and have no ratio.
    assert any(f.ok and f.impl == "mprotect" for f in r.figures)
    assert all(v is None for k, v in benchdata.ratios(r.figures).items() if k[0] == "cycle")
    assert r.problems() == []


# -- options -------------------------------------------------------------------


def test_split_targets() -> None:
    assert bench.split_targets(["host,ours", "reference", "host"]) == ["host", "ours",
                                                                     "reference"]
    with pytest.raises(benchdata.BenchError, match="unknown target 'guest'"):
        bench.split_targets(["host,guest"])


def test_params() -> None:
    assert bench.HOST_FULL.argv() == []
    assert bench.HOST_QUICK.argv() == ["--quick"]
    p = bench.params_for("ours", quick=False, guest_size="64M")
    assert p.argv()[:4] == ["--size", "64M", "--huge-size", "64M"]
    assert "--scan-sizes" in p.argv()
    assert bench.params_for("host", quick=True, size="16M").argv() == [
        "--quick", "--size", "16M", "--huge-size", "16M"]
    # A closer look at a few settings: only what is set replaces the defaults.
    narrow = benchdata.Params(only="file,cycle", fracs="0.01", cycles=9)
    p = bench.params_for("mainline", quick=True, narrow=narrow)
    assert p.argv() == ["--quick", "--only", "file,cycle", "--size", "8M", "--huge-size", "8M",
                        "--fracs", "0.01", "--runs", "1", "--cycles", "9", "--reps", "2",
                        "--scan-sizes", "256M", "--dense-sizes", "8M", "--fault-pages", "256"]


# -- the record ------------------------------------------------------------------


def test_render_gives_each_reason_once() -> None:
    text = bench.render([host_run()], {})
    assert "vs pagemap_scan" in text and "vs uffd_wp_async" in text
    assert text.count("CONFIG_MEM_SOFT_DIRTY") == 1
    # Mainline's stale walk_end (see bench/bench.h) is reported, not hidden.
    assert "48 PAGEMAP_SCAN calls returned fewer regions" in text
    na = benchdata.Run(target="reference", status="n/a", reason="not installed")
    text = bench.render([na], {})
    assert "reference: Debian 6.12 (reference guest, as shipped): n/a: not installed" in text


def test_write_makes_json_summary_and_plots(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from datetime import UTC, datetime

    from harness.paths import layout

    host = host_run()
    ours, ref = guest_runs()
    ab = {"reference": benchab.compare([ours, ours], [ref, ref], resamples=100)}
    runs = [host, ours, ref]
    doc = bench.document(layout(), runs, ab, datetime.now(UTC), "1.00 1.00 1.00")
    files = bench.write(tmp_path, doc, runs, ab, bench.render(runs, ab))
    names = {f.name for f in files}
    assert {"bench.json", "summary.md", "cycle_ratio.png", "cycle_time.png", "scan.png",
            "fault.png", "ab_reference.png"} <= names
    for f in files:
        assert f.stat().st_size > 0
    saved = json.loads((tmp_path / "bench.json").read_text())
    assert saved["commit"] and saved["machine"]["cpus"]
    assert saved["targets"]["host"]["kernel"] == host.kernel
    assert saved["targets"]["host"]["provenance"] == {}  # filled in for our kernel only
    assert len(saved["ab"]["reference"]) == len(ab["reference"])
    assert saved["targets"]["ours"]["clocksource"] == "tsc"
    assert "![cycle_ratio](cycle_ratio.png)" in (tmp_path / "summary.md").read_text()


# -- the real thing, on the host ----------------------------------------------------


@pytest.mark.host
def test_quick_benchmark_on_the_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() != 0:
        pytest.skip("the benchmark needs root")
    if shutil.which("gcc") is None or shutil.which("make") is None:
        pytest.skip("no gcc/make to build bench/")
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("PMSCAN_OUT", str(tmp_path / "out"))
    outdir = tmp_path / "record"

    assert main(["bench", "--quick", "--targets", "host", "--out", str(outdir)]) == 0

    doc = json.loads((outdir / "bench.json").read_text())
    for key in ("generated", "commit", "machine", "targets"):
        assert doc[key]
    host = doc["targets"]["host"]
    assert host["status"] == "ok" and host["problems"] == []
    assert host["kernel"] == os.uname().release
    assert host["end"]["errors"] == 0
    figs = [benchdata.Figure(d) for d in host["figures"]]
    # Every implementation that could run gave the answers that were written,
    # and the same answers as the others.
    assert all(f.status in ("ok", "n/a") for f in figs)
    assert benchdata.disagreements(figs) == []
    ran = {f.impl for f in figs if f.ok and f.bench == "cycle"}
    assert {"mprotect", "uffd_wp_sync"} <= ran
    if host["meta"]["pagemap_scan"] and host["meta"]["wp_async"]:
        assert "pagemap_scan" in ran
    # shmem and the page-cache file (in the harness's directory) ran too.
    assert host["meta"]["pagecache_dir"] and not host["meta"]["pagecache_reason"]
    assert host["meta"]["pagecache_fs"] not in ("tmpfs", "ramfs", "hugetlbfs")
    for mem in ("shmem", "file"):
        assert {f.impl for f in figs if f.ok and f.data.get("mem") == mem} >= {"mprotect"}
    for f in figs:
        if f.ok:
            for field in ("median_ns", "min_ns", "max_ns", "pages_per_s", "ratio"):
                assert field in f.data, (f.label(), field)
            assert f.min_ns is not None and f.median_ns is not None
            assert f.max_ns is not None and f.min_ns <= f.median_ns <= f.max_ns
    for name in ("cycle_ratio.png", "cycle_time.png", "scan.png", "fault.png"):
        assert (outdir / name).stat().st_size > 1000, name


@pytest.mark.host
def test_a_tmpfs_page_cache_directory_makes_the_file_setting_na(tmp_path: Path) -> None:
    if shutil.which("gcc") is None or shutil.which("make") is None:
        pytest.skip("no gcc/make to build bench/")
    from harness.paths import layout

    shm = Path("/dev/shm")
    if not shm.is_dir() or pagecache.fs_type(shm) != "tmpfs":
        pytest.skip("no tmpfs at /dev/shm to point PMSCAN_PAGECACHE_DIR at")
    binary = bench.build(layout())
    res = subprocess.run([str(binary), "--only", "file", "--fracs", "0.5", "--size", "1M",
                          "--runs", "1", "--cycles", "1"], capture_output=True, text=True,
                         env={**os.environ, pagecache.ENV: str(shm)}, check=False)
    assert res.returncode == 0, res.stderr
    r = benchdata.parse(res.stdout, "host")
    assert r.meta["pagecache_fs"] == "tmpfs" and not r.meta["pagecache_dir"]
    assert len(r.figures) == 4
    for f in r.figures:
        assert f.status == "n/a" and "not a writable directory on a page-cache" in f.reason
    assert r.problems() == []
    # An unknown part of --only is a usage error, not an empty run.
    bad = subprocess.run([str(binary), "--only", "cycle,shm"], capture_output=True,
                         text=True, check=False)
    assert bad.returncode == 2 and "unknown part 'shm'" in bad.stderr
