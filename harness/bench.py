"""Benchmarks of PAGEMAP_SCAN write tracking: ``python -m harness bench``.

``bench/`` builds one program, ``pagemap_bench``, that measures every way of
finding the pages a program wrote (PAGEMAP_SCAN over async uffd-wp,
mprotect + SIGSEGV, soft-dirty, synchronous uffd-wp) in one process, checks
each against the pages actually written, and prints one JSON object per line:
a ``meta`` line (kernel, machine, features), ``result`` lines, an ``end`` line.

This module builds it, runs it on the host and in guests (one after the
other, so no run's timing suffers from another's load), reads the lines back,
checks that all implementations gave the same answers, and writes what a
reader needs: a table on the terminal, ``bench.json`` with every figure and
the machine, kernel, date and commit it came from, ``summary.md``, and PNG
plots of the ratios (``plot.py``). The results' data types live in
``benchdata.py``, which both import.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import cwarnings, pagecache
from .benchab import Comparison, compare, merge_rounds
from .benchdata import BenchError, Figure, Params, Run, parse, ratios
from .errors import HarnessError
from .guest import Kernel, Session
from .paths import Layout
from .proc import require, run, say

TARGETS = ("host", "ours", "mainline", "reference")

# What each target kind is, for the reader.
TARGET_TITLE = {
    "host": "host kernel (mainline)",
    "ours": "our 6.1 (build-base guest)",
    "mainline": "mainline 6.12 built like ours (same-config guest)",
    "reference": "Debian 6.12 (reference guest, as shipped)",
}
# What ours is compared with, in this order: the first present is the primary pair.
OTHERS = ("mainline", "reference")

CLOCKSOURCE = Path("/sys/devices/system/clocksource/clocksource0/current_clocksource")


# The host: the program's own defaults (256 MiB, 5 runs of 20 cycles) or
# its quick set. Guests run under TCG, tens of times slower: less of all.
HOST_FULL = Params()
HOST_QUICK = Params(quick=True)
GUEST_FULL = Params(size="16M", huge_size="16M", runs=3, cycles=3, reps=5,
                    scan_sizes="1G,4G", dense_sizes="16M", fault_pages=1024)
GUEST_QUICK = Params(quick=True, size="8M", huge_size="8M", runs=1, cycles=2, reps=2,
                     scan_sizes="256M", dense_sizes="8M", fault_pages=256)


def params_for(target: str, quick: bool, size: str | None = None,
               guest_size: str | None = None, narrow: Params | None = None) -> Params:
    """What ``target`` runs with; ``size`` (host) or ``guest_size`` override the
    region, and the options set in ``narrow`` (``--only``, ``--fracs``,
    ``--runs``, ``--cycles``: a closer look at a few settings) the rest."""
    if target == "host":
        base = HOST_QUICK if quick else HOST_FULL
        chosen = size
    else:
        base = GUEST_QUICK if quick else GUEST_FULL
        chosen = guest_size
    if chosen is not None:
        base = replace(base, size=chosen, huge_size=chosen)
    if narrow is None:
        return base
    return replace(base, **{k: v for k, v in narrow.as_dict().items() if k != "quick"})


def _scaled(value: float | None, units: tuple[tuple[str, float], ...], base: str) -> str:
    """``value`` in the largest of ``units`` it reaches (else ``base``), 3 digits."""
    if value is None:
        return "-"
    for unit, scale in units:
        if value >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value:.3g}{base}"


def duration(ns: float | None) -> str:
    return _scaled(ns, ((" s", 1e9), (" ms", 1e6), (" us", 1e3)), " ns")


def rate(per_s: float | None) -> str:
    return _scaled(per_s, (("G", 1e9), ("M", 1e6), ("k", 1e3)), "")


def times(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g}x"


def table(rows: Sequence[Sequence[str]], indent: str = "  ") -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for r in rows:
        cells = [c.ljust(w) for c, w in zip(r, widths, strict=True)]
        lines.append(indent + "  ".join(cells).rstrip())
    return "\n".join(lines)


def _yes(meta: dict[str, Any], feature: str) -> str:
    return "yes" if meta.get(feature) else "no"


def render_run(r: Run) -> str:
    head = f"== {r.target}: {TARGET_TITLE.get(r.target, r.target)}"
    if r.status != "ok":
        return f"{head}: {r.status}: {r.reason}"
    m = r.meta
    out = [f"{head}: Linux {m.get('kernel')} ({m.get('machine')}, {m.get('cpus')} cpus), "
           f"load {' '.join(str(m.get('loadavg', '?')).split()[:3])} at start",
           f"   PAGEMAP_SCAN: {_yes(m, 'pagemap_scan')}; async uffd-wp: {_yes(m, 'wp_async')}; "
           f"soft-dirty: {_yes(m, 'soft_dirty')}; clocksource: {r.clocksource or 'unknown'}"
           + (f"; page-cache files on {m['pagecache_fs']}" if m.get("pagecache_fs") else "")
           + (f"; booted with {' '.join(r.boot_args)}" if r.boot_args else "")
           + (f"; medians over {r.rounds} rounds" if r.rounds > 1 else "")]
    rel = ratios(r.figures)
    notes: dict[str, str] = {}
    for bench, what, ref in (
        ("cycle", "write-watch cycle: time per cycle (writes + collect)", "pagemap_scan"),
        ("scan", "scan: one look at the range", "pagemap_scan_get"),
        ("fault", "fault: time per written page", "uffd_wp_async"),
    ):
        rows = [["setting", "impl", "median", "min", "max", "pages/s", f"vs {ref}"]]
        for group, figs in r.groups().items():
            if group[0] != bench:
                continue
            for i, f in enumerate(figs):
                setting = f.setting().removeprefix(bench + " ") if i == 0 else ""
                if not f.ok:
                    # The same reason recurs in every setting: give it once.
                    mark = notes.setdefault(f.reason, f"[{len(notes) + 1}]")
                    rows.append([setting, f.impl, f.status, "", "", "", mark])
                    continue
                rows.append([setting, f.impl, duration(f.median_ns), duration(f.min_ns),
                             duration(f.max_ns), rate(f.pages_per_s), times(rel.get(f.key))])
        if len(rows) > 1:
            out += ["", f"-- {what}", table(rows)]
    if notes:
        out.append("")
        out += [f"  {mark} {reason}" for reason, mark in notes.items()]
    stale = (r.end or {}).get("stale_walk_end")
    if stale:
        out += ["", f"  note: {stale} PAGEMAP_SCAN calls returned fewer regions than asked for "
                "but a walk_end short of the range's end (a kernel quirk: going on from "
                "walk_end would report regions twice; pagemap_bench stops instead)"]
    return "\n".join(out)


def _verdicts(rows: Sequence[Comparison]) -> str:
    counts: dict[str, int] = {}
    for c in rows:
        counts[c.verdict] = counts.get(c.verdict, 0) + 1
    return ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))


def render_ab(other: str, rows: Sequence[Comparison]) -> str:
    """Ours against ``other``: each ratio with its interval and what it says."""
    if not rows:
        return ""
    ours_n, their_n = len(rows[0].ours), len(rows[0].theirs)
    out = [f"== A/B: ours / {other} ({TARGET_TITLE.get(other, other)}), {ours_n} and "
           f"{their_n} rounds taken in turn; median of rounds, "
           "95% bootstrap interval over rounds"]
    times_rows = [c for c in rows if c.metric != "speed-up"
                  and (c.metric not in ("cycle", "write", "collect")
                       or c.label.endswith(" pagemap_scan"))]
    table_rows = [["measurement", "cost", "ours", other, "ours/" + other, "interval",
                   "verdict"]]
    for c in times_rows:
        label = c.label.removesuffix(" pagemap_scan") if c.metric in (
            "cycle", "write", "collect") else c.label
        table_rows.append([label, c.metric, duration(statistics.median(c.ours)),
                           duration(statistics.median(c.theirs)), times(c.ratio),
                           f"{c.lo:.2f}-{c.hi:.2f}", c.verdict])
    out += ["", "-- time (PAGEMAP_SCAN's cycle as writes + collect, scans, faults; "
            "< 1: ours faster)", table(table_rows)]
    for metric in ("cycle", "write", "collect", "scan", "fault"):
        sel = [c for c in times_rows if c.metric == metric]
        if sel:
            out.append(f"  {metric}: {_verdicts(sel)}")
    gain = [c for c in rows if c.metric == "speed-up"]
    if gain:
        g_rows = [["setting", "old way", "speed-up ours", other, "ours/" + other, "interval",
                   "verdict"]]
        for c in gain:
            setting, impl = c.label.rsplit(" ", 1)
            g_rows.append([setting, impl, times(statistics.median(c.ours)),
                           times(statistics.median(c.theirs)), times(c.ratio),
                           f"{c.lo:.2f}-{c.hi:.2f}", c.verdict])
        out += ["", "-- PAGEMAP_SCAN's speed-up over each old way (old / PAGEMAP_SCAN; "
                "target: ours at least " + other + "'s, a ratio >= 1)", table(g_rows),
                f"  {_verdicts(gain)}"]
    return "\n".join(out)


def render(runs: Sequence[Run], ab: dict[str, list[Comparison]]) -> str:
    parts = [render_run(r) for r in runs]
    parts += [text for other, rows in ab.items() if (text := render_ab(other, rows))]
    problems = [p for r in runs for p in r.problems()]
    if problems:
        parts.append("== problems\n" + "\n".join(f"  {p}" for p in problems))
    return "\n\n".join(parts) + "\n"


# -- building and running ------------------------------------------------------


def build(lay: Layout, ksrc: Path | None = None) -> Path:
    """Build bench/ (against ``ksrc``'s usr/include when given); return the binary."""
    require("make", "gcc")
    outdir = lay.out / "bench" / "build"
    cmd: list[str | Path] = ["make", "-C", lay.repo / "bench", f"O={outdir}"]
    if ksrc is not None:
        if not (ksrc / "usr" / "include" / "linux").is_dir():
            raise BenchError(f"{ksrc}/usr/include has no uapi headers",
                             "run 'make headers_install' in that tree, or leave --ksrc out")
        cmd.append(f"KSRC={ksrc}")
    if failed := cwarnings.failure("bench/", cwarnings.make(cmd)):
        raise BenchError(*failed)
    return outdir / "pagemap_bench"


class _Tail:
    """Pass the new lines of a growing file to ``say`` until stopped (guest progress)."""

    def __init__(self, path: Path, prefix: str, every: float = 5.0) -> None:
        self.path, self.prefix, self.every = path, prefix, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._pos = 0

    def _flush(self) -> None:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._pos)
                data = f.read()
        except OSError:
            return
        cut = data.rfind(b"\n") + 1
        self._pos += cut
        for line in data[:cut].decode(errors="replace").splitlines():
            say(f"{self.prefix}: {line}")

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self._flush()

    def __enter__(self) -> _Tail:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._flush()


def _finish(target: str, out: str, status: int, err: str, params: Params,
            started: float) -> Run:
    """A Run from the program's stdout, exit status and stderr."""
    try:
        result = parse(out, target)
    except BenchError as e:
        tail = "\n".join(err.strip().splitlines()[-15:])
        return Run(target=target, status="error", params=params,
                   reason=f"{e.message}; exit status {status}; stderr:\n{tail}")
    result.exit_status = status
    result.params = params
    result.elapsed_s = time.monotonic() - started
    # 0: all good; 1: the program found wrong answers or failures, which
    # problems() lists from the figures. Anything else is a crash.
    if status not in (0, 1) or result.end is None:
        tail = "\n".join(err.strip().splitlines()[-15:])
        result.status = "error"
        result.reason = f"pagemap_bench ended with status {status}:\n{tail}"
    return result


def run_host(binary: Path, params: Params, rawdir: Path,
             pagecache_dir: Path | None = None) -> Run:
    """pagemap_bench on the host kernel; stderr (progress) is passed through.

    The file setting's files go to ``pagecache_dir`` (see ``pagecache.py``);
    without one, pagemap_bench picks /var/tmp or its working directory.
    """
    rawdir.mkdir(parents=True, exist_ok=True)
    say(f"host: pagemap_bench {' '.join(params.argv())}")
    started = time.monotonic()
    err_lines: list[str] = []
    env = dict(os.environ)
    if pagecache_dir is not None:
        env[pagecache.ENV] = str(pagecache_dir)
    with subprocess.Popen([str(binary), *params.argv()], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, errors="replace",
                          env=env) as p:
        assert p.stdout is not None and p.stderr is not None
        stdout = p.stdout

        # Read stdout on the side, so neither pipe fills while the other is read.
        chunks: list[str] = []
        reader = threading.Thread(target=lambda: chunks.append(stdout.read()), daemon=True)
        reader.start()
        for line in p.stderr:
            err_lines.append(line.rstrip("\n"))
            say(f"host: {line.rstrip()}")
        reader.join()
        status = p.wait()
    out = "".join(chunks)
    (rawdir / "host.jsonl").write_text(out)
    (rawdir / "host.stderr").write_text("\n".join(err_lines) + "\n")
    result = _finish("host", out, status, "\n".join(err_lines), params, started)
    try:
        result.clocksource = CLOCKSOURCE.read_text().strip()
    except OSError:
        result.clocksource = ""
    return result


# Once per boot: huge pages for the hugetlb settings, and the clock every
# timing in this guest goes through.
GUEST_SETUP = ("echo 64 > /proc/sys/vm/nr_hugepages; "
               f"echo clocksource=$(cat {CLOCKSOURCE})")
GUEST_ROUND = "cd /tmp && {binary} {args} > {out} 2> {err}"


@dataclass
class _Guest:
    name: str
    kernel: Kernel
    params: Params
    session: Session | None = None
    clocksource: str = ""


def _boot(lay: Layout, g: _Guest, rawdir: Path, timeout: float) -> Run | None:
    """Boot ``g`` and prepare it; a Run with the error if it cannot."""
    say(f"{g.name}: booting {g.kernel.image} (TCG: slow), booted with "
        f"{' '.join(g.kernel.append)}")
    try:
        g.session = Session(g.kernel, lay.cache, boot_timeout=timeout, rwdirs=(lay.out,),
                            log=rawdir / f"{g.name}.console")
        res = g.session.cmd(GUEST_SETUP, timeout=120)
    except HarnessError as e:
        return Run(target=g.name, status="error", reason=str(e), params=g.params)
    found = [ln.split("=", 1)[1].strip() for ln in res.output.splitlines()
             if ln.startswith("clocksource=")]
    g.clocksource = found[-1] if found else ""
    say(f"{g.name}: clocksource {g.clocksource or 'unknown'}")
    return None


def _round(g: _Guest, binary: Path, rawdir: Path, number: int, timeout: float) -> Run:
    """One run of pagemap_bench in ``g``'s booted guest."""
    assert g.session is not None
    out = rawdir / f"{g.name}-{number}.jsonl"
    err = rawdir / f"{g.name}-{number}.stderr"
    for stale in (out, err):
        stale.unlink(missing_ok=True)
    cmd = GUEST_ROUND.format(binary=shlex.quote(str(binary)),
                             args=" ".join(shlex.quote(a) for a in g.params.argv()),
                             out=shlex.quote(str(out)), err=shlex.quote(str(err)))
    say(f"{g.name}: round {number + 1}: pagemap_bench {' '.join(g.params.argv())}")
    started = time.monotonic()
    try:
        with _Tail(err, f"{g.name} round {number + 1}"):
            res = g.session.cmd(cmd, timeout=timeout)
    except HarnessError as e:
        g.session = None  # it was closed on the way out
        return Run(target=g.name, status="error", reason=str(e), params=g.params)
    text = out.read_text() if out.exists() else ""
    errtext = err.read_text(errors="replace") if err.exists() else res.output
    r = _finish(g.name, text, res.status, errtext, g.params, started)
    r.clocksource = g.clocksource
    r.boot_args = g.kernel.append
    return r


def run_guests(lay: Layout, guests: Sequence[_Guest], binary: Path, rawdir: Path,
               rounds: int, timeout: float) -> dict[str, list[Run]]:
    """Boot every guest, then run pagemap_bench in each in turn, ``rounds`` times.

    The guests stay booted side by side and take turns (ours, mainline, ours,
    mainline, ...): one is idle while the other measures, and whatever else
    the machine does reaches both alike.
    """
    rawdir.mkdir(parents=True, exist_ok=True)
    out: dict[str, list[Run]] = {g.name: [] for g in guests}
    try:
        for g in guests:
            failed = _boot(lay, g, rawdir, timeout)
            if failed is not None:
                out[g.name].append(failed)
        for number in range(rounds):
            for g in guests:
                if g.session is not None:
                    out[g.name].append(_round(g, binary, rawdir, number, timeout))
    finally:
        for g in guests:
            if g.session is not None:
                g.session.close()
    return out


def unavailable(lay: Layout, target: str) -> tuple[Kernel | None, str]:
    """The kernel a target boots (None for the host), or why it cannot run."""
    if target == "host":
        if os.geteuid() != 0:
            return None, "the host benchmark needs root (clear_refs, hugepages)"
        return None, ""
    if target == "reference":
        from .targets import reference_kernel

        ref = reference_kernel()
        if ref is None:
            return None, ("Debian's linux-image-6.12.*-amd64-unsigned is not installed "
                          "(run 'make setup')")
        return ref, ""
    if target in ("ours", "mainline"):
        from .pipeline import mainline_kernel, our_kernel

        if target == "ours":
            built, build = our_kernel(lay.build_tree("base")), "python -m harness build"
        else:
            built = mainline_kernel(lay.mainline_build_tree("base"))
            build = "python -m harness build --kernel mainline"
        if not built.exists():
            return None, (f"{built.image} is not built (run '{build}'); "
                          "the benchmark does not build kernels")
        return built, ""
    raise BenchError(f"unknown target {target!r}", f"use {', '.join(TARGETS)}")


# -- the record ------------------------------------------------------------


def _git(lay: Layout, *args: str) -> str:
    res = run(["git", "-C", lay.repo, *args])
    return res.stdout.strip() if res.returncode == 0 else ""


def kernel_provenance(lay: Layout, kernel: Kernel) -> dict[str, Any]:
    """Our kernel's tree, its commits over the pristine source, and when it was built."""
    from .source import BASELINE_TAG

    tree = lay.build_tree("base")
    res = run(["git", "-C", tree, "log", "--oneline", f"{BASELINE_TAG}..HEAD"])
    image = Path(kernel.image)
    built = (datetime.fromtimestamp(image.stat().st_mtime, UTC).isoformat(timespec="seconds")
             if image.exists() else "")
    return {"tree": str(tree), "image": kernel.image, "built": built,
            "commits": res.stdout.splitlines() if res.returncode == 0 else []}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return ""


def document(lay: Layout, runs: Sequence[Run], ab: dict[str, list[Comparison]],
             started: datetime, load_before: str) -> dict[str, Any]:
    """Every figure, and where it came from: machine, kernels, date, commit."""
    dirty = _git(lay, "status", "--porcelain", "--", "bench", "harness/bench.py",
                 "harness/plot.py")
    targets: dict[str, Any] = {}
    for r in runs:
        rel = ratios(r.figures)
        targets[r.target] = {
            "title": TARGET_TITLE.get(r.target, r.target),
            "status": r.status,
            "reason": r.reason,
            "kernel": r.kernel,
            "params": r.params.as_dict() if r.params else {},
            "argv": r.params.argv() if r.params else [],
            "provenance": r.provenance,
            "boot_args": list(r.boot_args),
            "clocksource": r.clocksource,
            "rounds": r.rounds,
            "exit_status": r.exit_status,
            "elapsed_s": round(r.elapsed_s, 1),
            "meta": r.meta,
            "end": r.end,
            "problems": r.problems(),
            "figures": [{**f.data, "ratio_recomputed": rel.get(f.key)} for f in r.figures],
        }
    return {
        "generated": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _git(lay, "rev-parse", "HEAD"),
        "bench_sources_modified": bool(dirty),
        "machine": {
            "hostname": platform.node(),
            "cpu": _cpu_model(),
            "cpus": os.cpu_count(),
            "host_kernel": platform.release(),
            "loadavg_before": load_before,
            "loadavg_after": _loadavg(),
        },
        "targets": targets,
        "ab": {other: [c.as_dict() for c in rows] for other, rows in ab.items()},
    }


def summary_markdown(doc: dict[str, Any], text: str, pngs: Sequence[Path]) -> str:
    m = doc["machine"]
    kernels = ", ".join(f"{name} {t['kernel'] or t['status']}"
                        + (f" ({t['clocksource']})" if t.get("clocksource") else "")
                        for name, t in doc["targets"].items())
    lines = [
        "# PAGEMAP_SCAN write-tracking benchmark",
        "",
        *[f"![{p.stem}]({p.name})" for p in pngs],
        "",
        f"- date: {doc['generated']}",
        f"- commit: {doc['commit']}" + (" (bench sources modified)"
                                        if doc["bench_sources_modified"] else ""),
        f"- machine: {m['cpu']}, {m['cpus']} cpus; load average {m['loadavg_before']} "
        f"before, {m['loadavg_after']} after",
        f"- kernels: {kernels}",
        "",
        "```",
        text.rstrip(),
        "```",
        "",
    ]
    return "\n".join(lines)


# -- the verb --------------------------------------------------------------


def split_targets(values: Sequence[str]) -> list[str]:
    """``host,ours`` or ``host ours``: the targets in order, each once."""
    out: list[str] = []
    for v in values:
        for name in v.split(","):
            name = name.strip()
            if not name:
                continue
            if name not in TARGETS:
                raise BenchError(f"unknown target {name!r}", f"use {', '.join(TARGETS)}")
            if name not in out:
                out.append(name)
    return out


@dataclass
class Outcome:
    runs: list[Run]
    ab: dict[str, list[Comparison]]
    document: dict[str, Any]
    files: list[Path]
    text: str

    @property
    def ok(self) -> bool:
        return not any(r.problems() for r in self.runs)


# Our tinyconfig kernel has no CPU mitigations compiled in; Debian's 6.12
# turns them on at boot (PTI and friends make every syscall, fault and
# signal dearer, under TCG above all). Booting the guests with this makes
# both pay the same, so the old ways, which enter the kernel once per page,
# are not favoured on ours; --as-shipped keeps Debian's defaults.
SAME_FOOTING = ("mitigations=off",)
# Every guest, as shipped or not, times with the TSC: our 6.1 finds the
# emulated TSCs unsynchronized and falls back to the HPET, an emulated
# device that the vDSO cannot read (clock_gettime becomes a system call),
# while 6.12 keeps the TSC. Timings through two clocks are not comparable.
SAME_CLOCK = ("tsc=reliable",)
ROUNDS_FULL = 5
ROUNDS_QUICK = 3


def bench(lay: Layout, targets: Sequence[str], quick: bool, outdir: Path,
          size: str | None = None, guest_size: str | None = None,
          ksrc: Path | None = None, timeout: float | None = None,
          plots: bool = True, as_shipped: bool = False,
          rounds: int | None = None, narrow: Params | None = None) -> Outcome:
    """Build, run the host, then the guests in interleaved rounds; write the record."""
    started = datetime.now(UTC)
    load_before = _loadavg()
    binary = build(lay, ksrc)
    rawdir = lay.out / "bench" / "raw"
    rounds = rounds or (ROUNDS_QUICK if quick else ROUNDS_FULL)
    if rounds < 1:
        raise BenchError(f"--rounds {rounds}: at least one round is needed",
                         "give --rounds 2 or more for intervals")
    done: dict[str, Run] = {}
    guests: list[_Guest] = []
    added = (*(() if as_shipped else SAME_FOOTING), *SAME_CLOCK)
    for target in targets:
        params = params_for(target, quick, size, guest_size, narrow)
        kernel, why = unavailable(lay, target)
        if why:
            say(f"{target}: not run: {why}")
            done[target] = Run(target=target, status="n/a", reason=why, params=params)
        elif kernel is None:
            done[target] = run_host(binary, params, rawdir, pagecache.host_dir(lay))
        else:
            guests.append(_Guest(target, replace(kernel, append=(*kernel.append, *added)),
                                 params))
    per_round = run_guests(lay, guests, binary, rawdir, rounds,
                           timeout or (1200 if quick else 5400))
    ab: dict[str, list[Comparison]] = {}
    if "ours" in per_round:
        for other in OTHERS:
            if other in per_round:
                ab[other] = compare(per_round["ours"], per_round[other])
    for name, got in per_round.items():
        merged = merge_rounds(got)
        if name == "ours":
            merged.provenance = kernel_provenance(lay, next(
                g.kernel for g in guests if g.name == name))
        done[name] = merged
    runs = [done[t] for t in targets]
    for r in runs:
        say(f"{r.target}: {r.status}{': ' + r.reason.splitlines()[0] if r.reason else ''}")
    doc = document(lay, runs, ab, started, load_before)
    text = render(runs, ab)
    files = write(outdir, doc, runs, ab, text, plots)
    return Outcome(runs, ab, doc, files, text)


def write(outdir: Path, doc: dict[str, Any], runs: Sequence[Run],
          ab: dict[str, list[Comparison]], text: str, plots: bool = True) -> list[Path]:
    """bench.json, the PNGs and summary.md in ``outdir``; returns the files written."""
    outdir.mkdir(parents=True, exist_ok=True)
    files = []
    path = outdir / "bench.json"
    path.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
    files.append(path)
    pngs: list[Path] = []
    if plots:
        from . import plot

        pngs = plot.plot_all(runs, ab, outdir)
        files += pngs
    path = outdir / "summary.md"
    path.write_text(summary_markdown(doc, text, pngs))
    files.append(path)
    return files


def iter_figures(doc: dict[str, Any]) -> Iterator[tuple[str, Figure]]:
    """The figures of a written bench.json, with their target."""
    for name, t in doc.get("targets", {}).items():
        for data in t.get("figures", []):
            yield name, Figure(data)
