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
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .benchdata import (
    BenchError,
    Cross,
    Figure,
    Gain,
    Params,
    Run,
    cross_ratios,
    gains,
    parse,
    ratios,
)
from .errors import HarnessError
from .guest import Kernel
from .paths import Layout
from .proc import require, run, say

TARGETS = ("host", "ours", "reference")

# What each target kind is, for the reader.
TARGET_TITLE = {
    "host": "host kernel (mainline)",
    "ours": "our 6.1 (build-base guest)",
    "reference": "Debian 6.12 (reference guest)",
}


# The host: the program's own defaults (256 MiB, 5 runs of 20 cycles) or
# its quick set. Guests run under TCG, tens of times slower: less of all.
HOST_FULL = Params()
HOST_QUICK = Params(quick=True)
GUEST_FULL = Params(size="16M", huge_size="16M", runs=3, cycles=3, reps=5,
                    scan_sizes="1G,4G", dense_sizes="16M", fault_pages=1024)
GUEST_QUICK = Params(quick=True, size="8M", huge_size="8M", runs=1, cycles=2, reps=2,
                     scan_sizes="256M", dense_sizes="8M", fault_pages=256)


def params_for(target: str, quick: bool, size: str | None = None,
               guest_size: str | None = None) -> Params:
    """What ``target`` runs with; ``size`` (host) or ``guest_size`` override the region."""
    if target == "host":
        base = HOST_QUICK if quick else HOST_FULL
        chosen = size
    else:
        base = GUEST_QUICK if quick else GUEST_FULL
        chosen = guest_size
    if chosen is None:
        return base
    return Params(**{**base.__dict__, "size": chosen, "huge_size": chosen})


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
           f"soft-dirty: {_yes(m, 'soft_dirty')}"
           + (f"; booted with {' '.join(r.boot_args)}" if r.boot_args else "")]
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


def render_cross(cross: Sequence[Cross]) -> str:
    if not cross:
        return ""
    rows = [["measurement", "ours", "reference", "ours/reference"]]
    rows += [[c.label, duration(c.ours_ns), duration(c.reference_ns), times(c.ratio)]
             for c in cross]
    return "== our kernel / mainline (reference guest), same settings\n" + table(rows)


def render_targets(gain: Sequence[Gain], cross: Sequence[Cross]) -> str:
    """Issue 7's targets against mainline, each row marked met or missed."""
    if not gain:
        return ""
    rows = [["setting", "old way", "speed-up ours", "mainline's", "ours/mainline", ""]]
    rows += [[g.setting, g.impl, times(g.ours), times(g.reference), times(g.ratio),
              "met" if g.met else "MISSED"] for g in gain]
    cycle = [c for c in cross
             if c.label.startswith("cycle ") and c.label.endswith(" pagemap_scan")]
    lines = ["== targets against mainline: PAGEMAP_SCAN's speed-up over each old way, "
             "ours / mainline's (>= 1)", table(rows),
             f"  met in {sum(g.met for g in gain)} of {len(gain)}"]
    if cycle:
        worst = max(c.ratio for c in cycle)
        lines.append(f"  cycle time ours / mainline: {times(min(c.ratio for c in cycle))} to "
                     f"{times(worst)} (target <= 1, goal 0.9): "
                     f"{'met' if worst <= 1 else 'MISSED'}")
    return "\n".join(lines)


def render(runs: Sequence[Run], cross: Sequence[Cross]) -> str:
    parts = [render_run(r) for r in runs]
    if cross:
        parts.append(render_cross(cross))
    targets = render_targets(_gains(runs), cross)
    if targets:
        parts.append(targets)
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
    res = run(cmd)
    if res.returncode != 0:
        raise BenchError(f"building bench/ failed:\n{res.stdout[-3000:]}",
                         "fix the compiler errors above")
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


def run_host(binary: Path, params: Params, rawdir: Path) -> Run:
    """pagemap_bench on the host kernel; stderr (progress) is passed through."""
    rawdir.mkdir(parents=True, exist_ok=True)
    say(f"host: pagemap_bench {' '.join(params.argv())}")
    started = time.monotonic()
    err_lines: list[str] = []
    with subprocess.Popen([str(binary), *params.argv()], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, errors="replace") as p:
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
    return _finish("host", out, status, "\n".join(err_lines), params, started)


GUEST_SCRIPT = """\
echo 64 > /proc/sys/vm/nr_hugepages
cd /tmp
{binary} {args} > {out} 2> {err}
"""


def run_guest(lay: Layout, kernel: Kernel, binary: Path, params: Params, rawdir: Path,
              timeout: float) -> Run:
    """Boot ``kernel`` and run pagemap_bench in it; its output comes back through out/."""
    from .guest import run as guest_run

    rawdir.mkdir(parents=True, exist_ok=True)
    out, err = rawdir / f"{kernel.name}.jsonl", rawdir / f"{kernel.name}.stderr"
    for stale in (out, err):
        stale.unlink(missing_ok=True)
    script = GUEST_SCRIPT.format(binary=shlex.quote(str(binary)),
                                 args=" ".join(shlex.quote(a) for a in params.argv()),
                                 out=shlex.quote(str(out)), err=shlex.quote(str(err)))
    say(f"{kernel.name}: booting {kernel.image} (TCG: slow), pagemap_bench "
        f"{' '.join(params.argv())}")
    started = time.monotonic()
    try:
        with _Tail(err, kernel.name):
            res = guest_run(kernel, script, lay.cache, timeout=timeout, rwdirs=(lay.out,))
    except HarnessError as e:
        return Run(target=kernel.name, status="error", reason=str(e), params=params)
    text = out.read_text() if out.exists() else ""
    errtext = err.read_text(errors="replace") if err.exists() else res.output
    return _finish(kernel.name, text, res.status, errtext, params, started)


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
    if target == "ours":
        from .pipeline import our_kernel

        ours = our_kernel(lay.build_tree("base"))
        if not ours.exists():
            return None, (f"{ours.image} is not built (run 'python -m harness build'); "
                          "the benchmark does not build kernels")
        return ours, ""
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


def document(lay: Layout, runs: Sequence[Run], cross: Sequence[Cross],
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
        "ours_vs_reference": [c.as_dict() for c in cross],
        "gains_vs_reference": [g.as_dict() for g in _gains(runs)],
    }


def _gains(runs: Sequence[Run]) -> list[Gain]:
    by_name = {r.target: r for r in runs}
    if "ours" in by_name and "reference" in by_name:
        return gains(by_name["ours"], by_name["reference"])
    return []


def summary_markdown(doc: dict[str, Any], text: str, pngs: Sequence[Path]) -> str:
    m = doc["machine"]
    kernels = ", ".join(f"{name} {t['kernel'] or t['status']}"
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
    cross: list[Cross]
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


def bench(lay: Layout, targets: Sequence[str], quick: bool, outdir: Path,
          size: str | None = None, guest_size: str | None = None,
          ksrc: Path | None = None, timeout: float | None = None,
          plots: bool = True, as_shipped: bool = False) -> Outcome:
    """Build, run every target in turn, and write the record into ``outdir``."""
    started = datetime.now(UTC)
    load_before = _loadavg()
    binary = build(lay, ksrc)
    rawdir = lay.out / "bench" / "raw"
    runs: list[Run] = []
    for target in targets:
        params = params_for(target, quick, size, guest_size)
        kernel, why = unavailable(lay, target)
        if why:
            say(f"{target}: not run: {why}")
            runs.append(Run(target=target, status="n/a", reason=why, params=params))
            continue
        if kernel is None:
            r = run_host(binary, params, rawdir)
        else:
            added = () if as_shipped else SAME_FOOTING
            kernel = replace(kernel, append=(*kernel.append, *added))
            provenance = kernel_provenance(lay, kernel) if target == "ours" else {}
            r = run_guest(lay, kernel, binary, params, rawdir,
                          timeout or (1200 if quick else 5400))
            r.provenance = provenance
            r.boot_args = added
        say(f"{target}: {r.status}{': ' + r.reason.splitlines()[0] if r.reason else ''}")
        runs.append(r)
    by_name = {r.target: r for r in runs}
    cross = (cross_ratios(by_name["ours"], by_name["reference"])
             if "ours" in by_name and "reference" in by_name else [])
    doc = document(lay, runs, cross, started, load_before)
    text = render(runs, cross)
    files = write(outdir, doc, runs, cross, text, plots)
    return Outcome(runs, cross, doc, files, text)


def write(outdir: Path, doc: dict[str, Any], runs: Sequence[Run], cross: Sequence[Cross],
          text: str, plots: bool = True) -> list[Path]:
    """bench.json, the PNGs and summary.md in ``outdir``; returns the files written."""
    outdir.mkdir(parents=True, exist_ok=True)
    files = []
    path = outdir / "bench.json"
    path.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
    files.append(path)
    pngs: list[Path] = []
    if plots:
        from . import plot

        pngs = plot.plot_all(runs, cross, outdir)
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
