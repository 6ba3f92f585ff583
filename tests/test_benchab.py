"""The benchmark as an A/B: clocks, rounds, intervals, verdicts, interleaving.

The rounds are built from the recorded quick runs of tests/data/bench/ (our
6.1 guest with the series, Debian's 6.12 guest), with their times scaled, so
each test knows what the answer must be.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

from harness import bench, benchab, benchdata
from harness.guest import Result

DATA = Path(__file__).parent / "data" / "bench"
TIMES = ("median_ns", "min_ns", "max_ns", "write_median_ns", "collect_median_ns")


def recorded(name: str, target: str, clock: str = "tsc") -> benchdata.Run:
    r = benchdata.parse((DATA / name).read_text(), target)
    r.clocksource = clock
    return r


def scaled(r: benchdata.Run, factor: float, impl: str | None = None) -> benchdata.Run:
    """A copy of ``r`` with every time (or only ``impl``'s) multiplied by ``factor``."""
    figs = []
    for f in r.figures:
        data: dict[str, Any] = dict(f.data)
        if impl is None or f.impl == impl:
            for k in TIMES:
                if isinstance(data.get(k), int | float):
                    data[k] = data[k] * factor
        figs.append(benchdata.Figure(data))
    return benchdata.Run(target=r.target, meta=r.meta, figures=figs, end=r.end,
                         clocksource=r.clocksource)


def rounds(r: benchdata.Run, factor: float = 1.0,
           jitter: tuple[float, ...] = (0.97, 1.0, 1.03, 0.99, 1.02)) -> list[benchdata.Run]:
    return [scaled(r, factor * j) for j in jitter]


def compare(ours: list[benchdata.Run], theirs: list[benchdata.Run]) -> list[benchab.Comparison]:
    """benchab.compare with fewer resamples: the verdicts here are clear-cut."""
    return benchab.compare(ours, theirs, resamples=300)


def by(rows: list[benchab.Comparison], metric: str, suffix: str) -> benchab.Comparison:
    return next(c for c in rows if c.metric == metric and c.label.endswith(suffix))


# -- the clock ---------------------------------------------------------------------


def test_runs_on_different_clocksources_are_not_compared() -> None:
    ours = recorded("ours-series-quick.jsonl", "ours", "hpet")
    mainline = recorded("reference-quick.jsonl", "mainline", "tsc")
    with pytest.raises(benchdata.BenchError, match=r"different clocksources \(ours on hpet, "
                       r"mainline on tsc\)") as e:
        compare([ours], [mainline])
    assert "tsc=reliable" in e.value.hint
    # The same clock on both sides: compared.
    mainline.clocksource = "hpet"
    assert compare([ours], [mainline])


def test_a_run_without_a_recorded_clocksource_is_not_compared() -> None:
    ours = recorded("ours-series-quick.jsonl", "ours", "")
    mainline = recorded("reference-quick.jsonl", "mainline")
    with pytest.raises(benchdata.BenchError, match="no clocksource recorded for ours"):
        compare([ours], [mainline])


def test_rounds_of_one_kernel_on_two_clocks_are_not_merged() -> None:
    a = recorded("ours-series-quick.jsonl", "ours", "tsc")
    b = recorded("ours-series-quick.jsonl", "ours", "hpet")
    with pytest.raises(benchdata.BenchError, match="different clocksources"):
        benchab.merge_rounds([a, b])


# -- intervals and verdicts ---------------------------------------------------------


def test_twice_as_fast_is_faster_and_the_same_is_no_difference() -> None:
    ours = recorded("ours-series-quick.jsonl", "ours")
    rows = compare(rounds(ours), rounds(ours, 2.0))
    cycle = by(rows, "cycle", "anon 8 MiB 1% pagemap_scan")
    assert cycle.ratio == pytest.approx(0.5)
    assert cycle.lo < 0.5 < cycle.hi < 1 and cycle.verdict == "faster"
    assert {c.verdict for c in rows if c.metric != "speed-up"} == {"faster"}
    # Everything scaled alike: the speed-ups over the old ways are the same.
    assert {c.verdict for c in rows if c.metric == "speed-up"} == {"no difference measurable"}

    same = compare(rounds(ours), rounds(ours, 1.0, (1.01, 0.98, 1.0, 1.02, 0.99)))
    assert same and {c.verdict for c in same} == {"no difference measurable"}
    assert all(c.lo <= 1 <= c.hi for c in same)


def test_shmem_and_file_settings_are_compared_like_the_others() -> None:
    host = recorded("host-quick.jsonl", "ours")
    rows = compare(rounds(host), rounds(host, 2.0))
    for setting in ("shmem 32 MiB 10% pagemap_scan", "file 32 MiB 10% pagemap_scan"):
        for metric in ("cycle", "write", "collect"):
            c = by(rows, metric, setting)
            assert c.ratio == pytest.approx(0.5) and c.verdict == "faster"
    gains = {c.label for c in rows if c.metric == "speed-up"}
    assert {"cycle shmem 32 MiB 1% mprotect", "cycle shmem 32 MiB 1% uffd_wp_sync",
            "cycle file 32 MiB 1% mprotect"} <= gains
    # Sync uffd-wp cannot track a file: n/a on both sides, so no speed-up row.
    assert not any(g.startswith("cycle file ") and g.endswith("uffd_wp_sync") for g in gains)
    text = bench.render_ab("mainline", rows)
    assert "shmem 32 MiB 50%" in text and "file 32 MiB 0.1%" in text


def test_write_and_collect_are_compared_apart() -> None:
    ours = recorded("ours-series-quick.jsonl", "ours")
    # Only the collect of mainline is slower: the writes are level.
    slow_collect = []
    for r in rounds(ours):
        figs = [benchdata.Figure({**f.data, "collect_median_ns": f.data["collect_median_ns"] * 3})
                if f.bench == "cycle" and f.ok else f for f in r.figures]
        slow_collect.append(benchdata.Run(target="mainline", meta=r.meta, figures=figs,
                                          end=r.end, clocksource="tsc"))
    rows = compare(rounds(ours), slow_collect)
    setting = "anon 8 MiB 10% pagemap_scan"
    assert by(rows, "collect", setting).verdict == "faster"
    assert by(rows, "collect", setting).ratio == pytest.approx(1 / 3)
    assert by(rows, "write", setting).verdict == "no difference measurable"


def test_a_slower_pagemap_scan_loses_its_speed_up() -> None:
    ours = recorded("ours-series-quick.jsonl", "ours")
    slow = [scaled(r, 1000, "pagemap_scan") for r in rounds(ours)]
    rows = compare(slow, rounds(ours))
    gains = [c for c in rows if c.metric == "speed-up"]
    assert gains and {c.verdict for c in gains} == {"smaller"}
    assert by(rows, "cycle", "1% pagemap_scan").verdict == "slower"
    text = bench.render_ab("mainline", rows)
    assert "speed-up" in text and "smaller" in text and "slower" in text


def test_two_rounds_give_no_verdict() -> None:
    ours = recorded("ours-series-quick.jsonl", "ours")
    rows = compare(rounds(ours, 1.0, (1.0, 1.01)), rounds(ours, 2.0, (1.0, 1.01)))
    assert rows and {c.verdict for c in rows} == {"too few rounds (< 3)"}


def test_the_interval_is_reproducible() -> None:
    ours = recorded("ours-series-quick.jsonl", "ours")
    a = compare(rounds(ours), rounds(ours, 1.5))
    b = compare(rounds(ours), rounds(ours, 1.5))
    assert [(c.lo, c.hi) for c in a] == [(c.lo, c.hi) for c in b]


def test_a_failed_side_gives_no_comparison() -> None:
    ours = recorded("ours-series-quick.jsonl", "ours")
    failed = benchdata.Run(target="mainline", status="error", reason="did not boot")
    assert compare(rounds(ours), [failed]) == []


def test_merge_takes_medians_over_rounds_and_the_whole_range() -> None:
    ours = recorded("ours-series-quick.jsonl", "ours")
    merged = benchab.merge_rounds(rounds(ours, 1.0, (1.0, 2.0, 4.0)))
    assert merged.rounds == 3 and merged.clocksource == "tsc"
    for f, g in zip(ours.figures, merged.figures, strict=True):
        if f.ok and f.median_ns and f.min_ns and f.max_ns:
            assert g.median_ns == pytest.approx(2 * f.median_ns)
            assert g.min_ns == pytest.approx(f.min_ns)
            assert g.max_ns == pytest.approx(4 * f.max_ns)
        else:
            assert g.data == f.data


# -- interleaving ------------------------------------------------------------------------


class FakeSession:
    """Stands in for a booted guest: records the commands, writes a recorded run."""

    log: ClassVar[list[tuple[str, str]]] = []

    def __init__(self, kernel: Any, cache: Path, **kw: Any) -> None:
        self.kernel = kernel

    def cmd(self, command: str, timeout: float = 600) -> Result:
        FakeSession.log.append((self.kernel.name, command.split()[0]))
        if "clocksource" in command:
            return Result(status=0, output="clocksource=tsc\n")
        out = command.split(" > ")[1].split()[0]
        Path(out).write_text((DATA / "ours-series-quick.jsonl").read_text())
        return Result(status=0, output="")

    def close(self) -> None:
        FakeSession.log.append((self.kernel.name, "close"))


def test_guests_take_turns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.guest import Kernel
    from harness.paths import layout

    monkeypatch.setattr(bench, "Session", FakeSession)
    FakeSession.log = []
    guests = [bench._Guest(name, Kernel(name=name, image="/nonexistent"), bench.GUEST_QUICK)
              for name in ("ours", "mainline")]
    got = bench.run_guests(layout(), guests, Path("/bin/true"), tmp_path, 3, 60)
    runs = [c for c in FakeSession.log if c[1] == "cd"]
    assert [name for name, _ in runs] == ["ours", "mainline"] * 3
    assert FakeSession.log[-2:] == [("ours", "close"), ("mainline", "close")]
    assert [len(v) for v in got.values()] == [3, 3]
    assert all(r.status == "ok" and r.clocksource == "tsc" for v in got.values() for r in v)


def test_every_guest_boots_on_the_tsc() -> None:
    assert "tsc=reliable" in bench.SAME_CLOCK


def test_an_unbuilt_mainline_is_not_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.paths import layout

    monkeypatch.setenv("PMSCAN_CACHE", str(tmp_path))
    kernel, why = bench.unavailable(layout(), "mainline")
    assert kernel is None and "build --kernel mainline" in why
