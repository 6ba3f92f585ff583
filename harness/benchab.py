"""The benchmark as an A/B: our kernel against a mainline guest, round by round.

``bench`` runs pagemap_bench several times in each guest, the guests taking
turns (ours, mainline, ours, mainline, ...), so that drift on a shared machine
reaches both sides. Each run is a *round*: a ``Run`` whose figures are that
run's medians. This module turns the rounds into:

- ``merge_rounds``: one ``Run`` per target for the per-target tables and plots
  (each figure's median over the rounds, min and max over all of them);
- ``compare``: for every measurement both kernels made, ours / theirs as the
  ratio of the two medians over rounds, with a bootstrap interval (rounds
  drawn with replacement, each side on its own) and a verdict: "faster",
  "slower" or "no difference measurable" (the interval holds 1);
- the same for PAGEMAP_SCAN's speed-up over each old way (old / PAGEMAP_SCAN
  per round; ours / theirs >= 1 is issue 7's target).

A write-watch cycle is two costs, the writes (faults: the kernels' fault
paths, mostly outside the series) and the collect (the ioctl, the series'
own code): each is compared on its own as well as the whole cycle.

Timings taken through different clocks are not comparable: ``check_clocks``
refuses rounds whose clocksources differ, and every comparison calls it.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .benchdata import REFERENCE_IMPL, BenchError, Figure, Run, ratios

Key = tuple[str | int | float, ...]

RESAMPLES = 2000
LEVEL = 0.95
# Fewer rounds than this on a side give an interval too coarse to judge by:
# with two values a side, the bootstrap only tells which values are smaller.
MIN_ROUNDS = 3
SEED = 20261207

# The measurements of one figure: its name in the table, and the field it reads.
METRICS: dict[str, tuple[tuple[str, str], ...]] = {
    "cycle": (("cycle", "median_ns"), ("write", "write_median_ns"),
              ("collect", "collect_median_ns")),
    "scan": (("scan", "median_ns"),),
    "fault": (("fault", "median_ns"),),
}


def check_clocks(runs: Sequence[Run]) -> str:
    """The one clocksource all ``runs`` measured with; a BenchError if they differ."""
    unknown = sorted({r.target for r in runs if not r.clocksource})
    if unknown:
        raise BenchError(f"no clocksource recorded for {', '.join(unknown)}: its timings "
                         "cannot be shown to come from the same clock as the others",
                         "re-run the benchmark with this harness (it records each "
                         "kernel's current_clocksource)")
    seen: dict[tuple[str, str], None] = {}
    for r in runs:
        seen[(r.target, r.clocksource)] = None
    found = sorted({clock for _, clock in seen})
    if len(found) > 1:
        detail = ", ".join(f"{target} on {clock}" for target, clock in seen)
        raise BenchError(f"the runs were timed with different clocksources ({detail}): "
                         "their timings are not comparable",
                         "boot every kernel compared with the same clocksource (bench "
                         "adds tsc=reliable to each guest's command line)")
    return found[0]


def _value(f: Figure, field: str) -> float | None:
    v = f.data.get(field)
    return float(v) if f.ok and isinstance(v, int | float) and v > 0 else None


def per_round(rounds: Sequence[Run], field: str) -> dict[Key, list[float]]:
    """Each figure's ``field`` in every round that has it."""
    out: dict[Key, list[float]] = {}
    for r in rounds:
        for f in r.figures:
            v = _value(f, field)
            if v is not None:
                out.setdefault(f.key, []).append(v)
    return out


def speedups(rounds: Sequence[Run]) -> dict[Key, list[float]]:
    """Old way / PAGEMAP_SCAN cycle time, per round, for every cycle figure."""
    out: dict[Key, list[float]] = {}
    for r in rounds:
        for key, ratio in ratios(r.figures).items():
            if key[0] == "cycle" and key[-1] != REFERENCE_IMPL["cycle"] and ratio:
                out.setdefault(key, []).append(ratio)
    return out


def _median(values: list[float]) -> float:
    values.sort()
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def interval(a: Sequence[float], b: Sequence[float], rng: random.Random,
             resamples: int = RESAMPLES, level: float = LEVEL) -> tuple[float, float]:
    """Bootstrap interval of median(a) / median(b), each side resampled on its own."""
    stats = sorted(_median(rng.choices(a, k=len(a))) / _median(rng.choices(b, k=len(b)))
                   for _ in range(resamples))
    tail = (1 - level) / 2
    lo = stats[int(tail * (resamples - 1))]
    hi = stats[int((1 - tail) * (resamples - 1) + 0.5)]
    return lo, hi


@dataclass(frozen=True)
class Comparison:
    """One measurement, ours against theirs over the rounds."""

    label: str  # 'cycle anon 16 MiB 1% pagemap_scan'
    metric: str  # cycle | write | collect | scan | fault | speed-up
    ours: tuple[float, ...]  # per round
    theirs: tuple[float, ...]
    lo: float
    hi: float
    higher_is_better: bool = False  # a speed-up, not a time

    @property
    def ratio(self) -> float:
        return statistics.median(self.ours) / statistics.median(self.theirs)

    @property
    def verdict(self) -> str:
        """For a time, "faster" when the whole interval is below 1."""
        if min(len(self.ours), len(self.theirs)) < MIN_ROUNDS:
            return f"too few rounds (< {MIN_ROUNDS})"
        if self.lo <= 1 <= self.hi:
            return "no difference measurable"
        better = self.lo > 1 if self.higher_is_better else self.hi < 1
        if self.higher_is_better:
            return "larger" if better else "smaller"
        return "faster" if better else "slower"

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "metric": self.metric, "ours": list(self.ours),
                "theirs": list(self.theirs), "ratio": self.ratio, "lo": self.lo,
                "hi": self.hi, "verdict": self.verdict}


def _label(rounds: Sequence[Run], key: Key) -> str:
    for r in rounds:
        for f in r.figures:
            if f.key == key:
                return f.label()
    return " ".join(str(k) for k in key)


def compare(ours: Sequence[Run], theirs: Sequence[Run], seed: int = SEED,
            resamples: int = RESAMPLES) -> list[Comparison]:
    """Every measurement both kernels made in all their rounds, ours / theirs."""
    good = [r for r in ours if r.status == "ok"], [r for r in theirs if r.status == "ok"]
    if not good[0] or not good[1]:
        return []
    check_clocks([*good[0], *good[1]])
    rng = random.Random(seed)
    out: list[Comparison] = []

    def add(metric: str, a: dict[Key, list[float]], b: dict[Key, list[float]],
            bench: str | None = None, higher: bool = False) -> None:
        for key, va in a.items():
            vb = b.get(key)
            if (bench is not None and key[0] != bench) or not vb:
                continue
            lo, hi = interval(va, vb, rng, resamples)
            out.append(Comparison(_label(good[0], key), metric, tuple(va), tuple(vb),
                                  lo, hi, higher))

    for bench, metrics in METRICS.items():
        for metric, field in metrics:
            add(metric, per_round(good[0], field), per_round(good[1], field), bench)
    add("speed-up", speedups(good[0]), speedups(good[1]), higher=True)
    return out


def merge_rounds(rounds: Sequence[Run]) -> Run:
    """One Run for the tables and plots: medians over the rounds, min and max over all."""
    ok = [r for r in rounds if r.status == "ok"]
    if not ok:
        return rounds[0]
    if len(ok) == 1:
        return ok[0]
    check_clocks(ok)
    first = ok[0]
    fields = ("median_ns", "write_median_ns", "collect_median_ns")
    values = {field: per_round(ok, field) for field in fields}
    lows, highs = per_round(ok, "min_ns"), per_round(ok, "max_ns")
    figures = []
    for f in first.figures:
        data = dict(f.data)
        if f.ok:
            for field in fields:
                if f.key in values[field]:
                    data[field] = statistics.median(values[field][f.key])
            if f.key in lows:
                data["min_ns"] = min(lows[f.key])
            if f.key in highs:
                data["max_ns"] = max(highs[f.key])
            median = data.get("median_ns")
            written = data.get("written")
            if isinstance(median, float) and isinstance(written, int) and median > 0:
                data["pages_per_s"] = written / (median * 1e-9)
            data["rounds"] = len(values["median_ns"].get(f.key, []))
        figures.append(Figure(data))
    # A figure that is not ok in some round stays as that round reported it.
    for r in ok[1:]:
        for f in r.figures:
            if not f.ok and f.status != "n/a":
                figures = [f if g.key == f.key else g for g in figures]
    end = dict(first.end or {})
    for key in ("errors", "stale_walk_end"):
        total = sum(int((r.end or {}).get(key, 0) or 0) for r in ok)
        if first.end is not None:
            end[key] = total
    return Run(target=first.target, meta=first.meta, figures=figures,
               end=end if first.end is not None else None,
               exit_status=max((r.exit_status or 0) for r in ok),
               elapsed_s=sum(r.elapsed_s for r in ok), params=first.params,
               provenance=first.provenance, boot_args=first.boot_args,
               clocksource=first.clocksource, rounds=len(ok))
