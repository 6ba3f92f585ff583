"""The benchmark's pictures: what a reader looks at first.

Each function draws one PNG from the parsed runs (``benchdata.Run``) and returns
its path, or None when no run has the figures it needs:

- ``cycle_ratio.png``: how many times slower than PAGEMAP_SCAN each old way
  of tracking is, per written fraction and kind of memory;
- ``cycle_time.png``: the time per cycle itself, median with min-max bars;
- ``scan.png``: nanoseconds per page of one look at a range, by its size;
- ``fault.png``: the cost of one write fault, by the state of the page;
- ``ab_<other>.png``: our 6.1 kernel over a mainline guest (``mainline``, the
  same-config build, or ``reference``), each ratio with its bootstrap interval.

matplotlib is an optional dependency (pyproject's ``bench`` extra).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .benchab import Comparison
from .benchdata import REFERENCE_IMPL, BenchError, Figure, Run, mib, percent

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure as MplFigure

NAMES = ("cycle_ratio.png", "cycle_time.png", "scan.png", "fault.png",
         "ours_vs_reference.png", "ab_mainline.png", "ab_reference.png")
MEMS = ("anon", "shmem", "file", "thp", "hugetlb")
LAYOUTS = ("holes", "sparse", "dense")
COLORS = {
    "pagemap_scan": "#1b7837",
    "mprotect": "#d95f02",
    "soft_dirty": "#7570b3",
    "uffd_wp_sync": "#e7298a",
    "pagemap_scan_get": "#1b7837",
    "pagemap_scan_get_wp": "#66a61e",
    "pagemap_read": "#d95f02",
    "uffd_wp_async": "#1b7837",
}


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise BenchError("matplotlib is not installed",
                         "pip install matplotlib (pyproject's 'bench' extra), "
                         "or run with --no-plots") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _ok(runs: Sequence[Run], bench: str) -> list[tuple[Run, list[Figure]]]:
    out = []
    for r in runs:
        figs = [f for f in r.figures if f.bench == bench and f.ok and f.median_ns]
        if r.status == "ok" and figs:
            out.append((r, figs))
    return out


def _title(r: Run) -> str:
    return f"{r.target}: Linux {r.kernel}"


def _plain_log(ax: Axes, axis: str = "y") -> None:
    """A log axis with plain numbers (2, 10, 0.5) instead of powers of ten.

    Minor ticks at 2 and 5 get labels too when the axis spans less than a
    decade and a half, where there would otherwise be almost no labels.
    """
    import math

    from matplotlib.ticker import FuncFormatter

    def minor(v: float, _pos: int | None) -> str:
        lo, hi = ax.get_ylim() if axis == "y" else ax.get_xlim()
        if v <= 0 or lo <= 0 or hi / lo >= 30:
            return ""
        mantissa = v / 10 ** math.floor(math.log10(v))
        return f"{v:g}" if round(mantissa) in (2, 5) else ""

    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    target.set_minor_formatter(FuncFormatter(minor))


def _save(fig: MplFigure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def _grid(plt: Any, rows: int, cols: int, w: float, h: float) -> tuple[MplFigure, list[list[Axes]]]:
    fig, axes = plt.subplots(rows, cols, figsize=(w * cols, h * rows), squeeze=False)
    return fig, [list(row) for row in axes]


def _na(ax: Axes) -> None:
    ax.text(0.5, 0.5, "n/a", ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


# Draws one panel from its figures; False when they hold nothing to draw.
Panel = Callable[["Axes", list[Figure]], bool]


def _panels(data: Sequence[tuple[Run, list[Figure]]], field: str, values: Sequence[str],
            size: tuple[float, float], panel: Panel, title: str, path: Path,
            heading: Callable[[str, list[Figure]], str] = lambda value, _figs: value,
            ) -> Path | None:
    """One row of panels per run, one panel per value of ``field`` in its figures
    (no figure without a run).

    A panel's title is the run and ``heading``; a panel with nothing to draw
    says n/a.
    """
    if not data:
        return None
    fig, axes = _grid(_pyplot(), len(data), len(values), *size)
    for row, (r, figs) in zip(axes, data, strict=True):
        for ax, value in zip(row, values, strict=True):
            mine = [f for f in figs if f.data.get(field) == value]
            ax.set_title(f"{_title(r)}\n{heading(value, mine)}", fontsize=9)
            if not panel(ax, mine):
                _na(ax)
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def _ratio_panel(ax: Axes, mine: list[Figure]) -> bool:
    fracs = sorted({float(f.data["frac"]) for f in mine})
    impls = [i for i in dict.fromkeys(f.impl for f in mine) if i != "pagemap_scan"]
    if not fracs or not impls:
        return False
    width = 0.8 / len(impls)
    for k, impl in enumerate(impls):
        xs, ys = [], []
        for i, frac in enumerate(fracs):
            for f in mine:
                if f.impl == impl and float(f.data["frac"]) == frac and f.ratio:
                    xs.append(i + (k - (len(impls) - 1) / 2) * width)
                    ys.append(f.ratio)
        bars = ax.bar(xs, ys, width, label=impl, color=COLORS.get(impl))
        ax.bar_label(bars, labels=[f"{y:.2g}" if y < 100 else f"{y:.0f}" for y in ys],
                     fontsize=7)
    ax.axhline(1, color=COLORS["pagemap_scan"], lw=1.2, ls="--", label="PAGEMAP_SCAN = 1")
    ax.set_yscale("log")
    _plain_log(ax)
    lo, hi = ax.get_ylim()
    ax.set_ylim(min(lo, 0.5), hi * 4)  # room for the labels and the legend
    ax.set_xticks(range(len(fracs)), [percent(x) for x in fracs])
    ax.set_xlabel("pages written per cycle")
    ax.set_ylabel("time / PAGEMAP_SCAN's")
    ax.legend(fontsize=7, ncols=2, loc="upper left")
    return True


def cycle_ratio(runs: Sequence[Run], outdir: Path) -> Path | None:
    """Bars: cycle time of each old way over PAGEMAP_SCAN's (log scale, 1 = as fast)."""
    data = [(r, [f for f in figs if f.ratio is not None]) for r, figs in _ok(runs, "cycle")]
    data = [(r, figs) for r, figs in data if len(figs) > 1]
    return _panels(data, "mem", MEMS, (4.6, 3.4), _ratio_panel,
                   "Write-watch cycle: how many times slower than PAGEMAP_SCAN",
                   outdir / "cycle_ratio.png")


def _series(figs: list[Figure], x: str) -> Iterator[tuple[str, list[tuple[float, Figure]]]]:
    """Per implementation, in order of appearance: its figures sorted by ``x``."""
    for impl in dict.fromkeys(f.impl for f in figs):
        yield impl, sorted(((float(f.data[x]), f) for f in figs if f.impl == impl),
                           key=lambda p: p[0])


def _time_panel(ax: Axes, mine: list[Figure]) -> bool:
    if not mine:
        return False
    for impl, pts in _series(mine, "frac"):
        xs = [p[0] * 100 for p in pts]
        med = [(p[1].median_ns or 0) / 1e3 for p in pts]
        lo = [m - (p[1].min_ns or 0) / 1e3 for m, p in zip(med, pts, strict=True)]
        hi = [(p[1].max_ns or 0) / 1e3 - m for m, p in zip(med, pts, strict=True)]
        ax.errorbar(xs, med, yerr=[lo, hi], marker="o", ms=3, capsize=2,
                    label=impl, color=COLORS.get(impl))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("pages written per cycle (%)")
    ax.set_ylabel("time per cycle (us)")
    ax.legend(fontsize=7)
    return True


def _mem_and_size(mem: str, mine: list[Figure]) -> str:
    size = int(mine[0].data.get("size", 0)) if mine else 0
    return f"{mem} {mib(size) if size else ''}"


def cycle_time(runs: Sequence[Run], outdir: Path) -> Path | None:
    """Lines: median time per cycle against the written fraction, min-max as error bars."""
    return _panels(_ok(runs, "cycle"), "mem", MEMS, (4.6, 3.4), _time_panel,
                   "Write-watch cycle: time per cycle (median, min-max)",
                   outdir / "cycle_time.png", heading=_mem_and_size)


def _scan_panel(ax: Axes, mine: list[Figure]) -> bool:
    from matplotlib.ticker import NullLocator

    if not mine:
        return False
    sizes = sorted({int(f.data["size"]) for f in mine})
    for impl, pts in _series(mine, "size"):
        xs = [p[0] for p in pts]
        ys = [float(p[1].data.get("ns_per_page", 0)) for p in pts]
        ax.plot(xs, ys, marker="o", ms=3, label=impl, color=COLORS.get(impl))
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    _plain_log(ax)
    ax.set_xticks(sizes, [mib(s) for s in sizes])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("range")
    ax.set_ylabel("ns per page")
    ax.legend(fontsize=7)
    return True


def scan(runs: Sequence[Run], outdir: Path) -> Path | None:
    """Lines: ns per page of one look, against the range's size, per layout."""
    return _panels(_ok(runs, "scan"), "layout", LAYOUTS, (4.4, 3.3), _scan_panel,
                   "One look at a range: PAGEMAP_SCAN vs reading /proc/self/pagemap",
                   outdir / "scan.png")


def fault(runs: Sequence[Run], outdir: Path) -> Path | None:
    """Horizontal bars: ns per write fault by the state of the page."""
    data = _ok(runs, "fault")
    if not data:
        return None
    plt = _pyplot()
    fig, axes = _grid(plt, 1, len(data), 5.5, 3.4)
    for ax, (r, figs) in zip(axes[0], data, strict=True):
        names = [f.impl for f in figs]
        med = [f.median_ns or 0 for f in figs]
        lo = [m - (f.min_ns or 0) for m, f in zip(med, figs, strict=True)]
        hi = [(f.max_ns or 0) - m for m, f in zip(med, figs, strict=True)]
        colors = [COLORS.get(n, "#999999") for n in names]
        bars = ax.barh(names, med, xerr=[lo, hi], color=colors, capsize=2)
        ax.bar_label(bars, labels=[f"{m:.0f}" if m >= 100 else f"{m:.2g}" for m in med],
                     fontsize=7, padding=3)
        ax.set_xscale("log")
        ax.invert_yaxis()
        ax.set_xlabel("ns per written page (median, min-max)")
        ax.set_title(_title(r), fontsize=9)
    fig.suptitle(f"Write fault cost ({REFERENCE_IMPL['fault']} is the async uffd-wp fault)",
                 fontsize=11)
    return _save(fig, outdir / "fault.png")


def ab(other: str, rows: Sequence[Comparison], outdir: Path) -> Path | None:
    """Horizontal bars: ours / ``other`` per measurement, the interval as error bars.

    PAGEMAP_SCAN's cycle (with its write and collect parts), the scans and the
    faults; green where ours is faster, orange where slower, grey where the
    interval holds 1.
    """
    shown = [c for c in rows if c.metric != "speed-up"
             and (c.metric not in ("cycle", "write", "collect")
                  or c.label.endswith(" pagemap_scan"))]
    if not shown:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.2 * len(shown) + 1.4))
    labels = [f"{c.label.removesuffix(' pagemap_scan')} [{c.metric}]"
              if c.metric in ("cycle", "write", "collect") else c.label for c in shown]
    values = [c.ratio for c in shown]
    err = [[max(v - c.lo, 0) for v, c in zip(values, shown, strict=True)],
           [max(c.hi - v, 0) for v, c in zip(values, shown, strict=True)]]
    colors = ["#1b7837" if c.verdict == "faster" else
              "#d95f02" if c.verdict == "slower" else "#999999" for c in shown]
    ax.barh(labels, values, xerr=err, color=colors, capsize=2, error_kw={"lw": 0.8})
    ax.axvline(1, color="black", lw=1)
    ax.set_xscale("log")
    _plain_log(ax, "x")
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=6)
    ax.set_xlabel(f"our 6.1 / {other} (time, median of rounds, 95% interval; "
                  "< 1: ours faster)")
    ax.set_title(f"Our kernel against {other}: green faster, orange slower, "
                 "grey no difference measurable", fontsize=9)
    return _save(fig, outdir / f"ab_{other}.png")


def plot_all(runs: Sequence[Run], comparisons: dict[str, list[Comparison]],
             outdir: Path) -> list[Path]:
    """Every picture the runs allow, in the order a reader should see them."""
    outdir.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        (outdir / name).unlink(missing_ok=True)
    made = [cycle_ratio(runs, outdir), cycle_time(runs, outdir), scan(runs, outdir),
            fault(runs, outdir)]
    made += [ab(other, rows, outdir) for other, rows in comparisons.items()]
    return [p for p in made if p is not None]
