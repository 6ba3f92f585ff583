"""pagemap_bench's results as data: what the table, the record and the plots read.

``parse`` turns the program's JSON lines into a ``Run`` of ``Figure``s;
``ratios`` compares the figures within a run (``benchab`` compares kernels).
``bench`` (running, the table, the record) and ``plot`` (the PNGs) build on
this module, and it on neither.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .errors import HarnessError

# The implementation every other one in a group is compared with.
REFERENCE_IMPL = {
    "cycle": "pagemap_scan",
    "scan": "pagemap_scan_get",
    "fault": "uffd_wp_async",
}

class BenchError(HarnessError, stage="bench"):
    """A benchmark could not be built, run or read."""


@dataclass(frozen=True)
class Params:
    """The options pagemap_bench runs with; None keeps the program's default."""

    quick: bool = False
    only: str | None = None
    size: str | None = None
    huge_size: str | None = None
    fracs: str | None = None
    runs: int | None = None
    cycles: int | None = None
    reps: int | None = None
    scan_sizes: str | None = None
    dense_sizes: str | None = None
    fault_pages: int | None = None

    def argv(self) -> list[str]:
        args = ["--quick"] if self.quick else []
        for name in ("only", "size", "huge_size", "fracs", "runs", "cycles", "reps", "scan_sizes",
                     "dense_sizes", "fault_pages"):
            value = getattr(self, name)
            if value is not None:
                args += [f"--{name.replace('_', '-')}", str(value)]
        return args

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


# -- the program's output -------------------------------------------------


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


@dataclass(frozen=True)
class Figure:
    """One ``result`` line: one implementation measured in one setting."""

    data: dict[str, Any]

    @property
    def bench(self) -> str:
        return str(self.data.get("bench", "?"))

    @property
    def impl(self) -> str:
        return str(self.data.get("impl", "?"))

    @property
    def status(self) -> str:
        return str(self.data.get("status", "?"))

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def reason(self) -> str:
        return str(self.data.get("reason", self.data.get("first_mismatch", "")))

    @property
    def median_ns(self) -> float | None:
        return _num(self.data.get("median_ns"))

    @property
    def min_ns(self) -> float | None:
        return _num(self.data.get("min_ns"))

    @property
    def max_ns(self) -> float | None:
        return _num(self.data.get("max_ns"))

    @property
    def pages_per_s(self) -> float | None:
        return _num(self.data.get("pages_per_s"))

    @property
    def ratio(self) -> float | None:
        """The program's own ratio to the group's reference implementation."""
        return _num(self.data.get("ratio"))

    @property
    def group(self) -> tuple[str | int | float, ...]:
        """The setting: figures of one group are compared with each other."""
        d = self.data
        if self.bench == "cycle":
            return ("cycle", str(d.get("mem")), int(d.get("size", 0)), float(d.get("frac", 0)))
        if self.bench == "scan":
            return ("scan", str(d.get("layout")), int(d.get("size", 0)))
        if self.bench == "fault":
            return ("fault", int(d.get("pages", 0)))
        return (self.bench,)

    @property
    def key(self) -> tuple[str | int | float, ...]:
        return (*self.group, self.impl)

    def setting(self) -> str:
        """The group in words: 'cycle anon 256 MiB 1%'."""
        d = self.data
        if self.bench == "cycle":
            return (f"cycle {d.get('mem')} {mib(int(d.get('size', 0)))} "
                    f"{percent(float(d.get('frac', 0)))}")
        if self.bench == "scan":
            return f"scan {d.get('layout')} {mib(int(d.get('size', 0)))}"
        if self.bench == "fault":
            return f"fault {d.get('pages')} pages"
        return self.bench

    def label(self) -> str:
        return f"{self.setting()} {self.impl}"


@dataclass
class Run:
    """What one target gave: its figures, or why there are none."""

    target: str
    status: str = "ok"  # ok | n/a | error
    reason: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    end: dict[str, Any] | None = None
    exit_status: int | None = None
    elapsed_s: float = 0.0
    params: Params | None = None
    provenance: dict[str, Any] = field(default_factory=dict)  # what the kernel was built from
    boot_args: tuple[str, ...] = ()  # what a guest's command line had added
    clocksource: str = ""  # the kernel's current_clocksource while it ran
    rounds: int = 1  # how many runs of pagemap_bench the figures merge (see merge_rounds)

    @property
    def kernel(self) -> str:
        return str(self.meta.get("kernel", ""))

    def groups(self) -> dict[tuple[str | int | float, ...], list[Figure]]:
        out: dict[tuple[str | int | float, ...], list[Figure]] = {}
        for f in self.figures:
            out.setdefault(f.group, []).append(f)
        return out

    def problems(self) -> list[str]:
        """Everything that makes the figures untrustworthy, in words."""
        if self.status != "ok":
            return [f"{self.target}: {self.reason}"] if self.status == "error" else []
        out: list[str] = []
        if self.end is None:
            out.append(f"{self.target}: pagemap_bench did not finish (no 'end' line)")
        for f in self.figures:
            if f.status == "wrong":
                out.append(f"{self.target}: {f.label()}: wrong answers: {f.reason}")
            elif f.status == "error":
                out.append(f"{self.target}: {f.label()}: failed: {f.reason}")
        out += [f"{self.target}: {p}" for p in disagreements(self.figures)]
        return out


def parse(text: str, target: str = "host") -> Run:
    """pagemap_bench's stdout as a Run. Lines that are not JSON objects are ignored."""
    result = Run(target=target)
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise BenchError(f"{target}: line {number} of pagemap_bench's output is not "
                             f"JSON ({e.msg}): {line[:120]}",
                             "a truncated run: see its stderr") from None
        if not isinstance(obj, dict):
            continue
        kind = obj.get("type")
        if kind == "meta":
            result.meta = obj
        elif kind == "result":
            result.figures.append(Figure(obj))
        elif kind == "end":
            result.end = obj
    if not result.meta:
        raise BenchError(f"{target}: pagemap_bench printed no 'meta' line",
                         "it failed before measuring anything: see its stderr")
    return result


def disagreements(figures: Iterable[Figure]) -> list[str]:
    """Cycle groups whose implementations did not all give the same answers."""
    out = []
    by_group: dict[tuple[str | int | float, ...], dict[str, str]] = {}
    for f in figures:
        if f.bench == "cycle" and f.ok and "answers" in f.data:
            by_group.setdefault(f.group, {})[f.impl] = str(f.data["answers"])
    for group, answers in by_group.items():
        if len(set(answers.values())) > 1:
            detail = ", ".join(f"{impl} {h}" for impl, h in sorted(answers.items()))
            out.append(f"{' '.join(str(g) for g in group)}: answers differ ({detail})")
    return out


def ratios(figures: Iterable[Figure]) -> dict[tuple[str | int | float, ...], float | None]:
    """Each figure's median over its group's reference implementation's median."""
    figs = list(figures)
    ref: dict[tuple[str | int | float, ...], float] = {}
    for f in figs:
        m = f.median_ns
        if f.ok and f.impl == REFERENCE_IMPL.get(f.bench) and m:
            ref[f.group] = m
    out: dict[tuple[str | int | float, ...], float | None] = {}
    for f in figs:
        m, r = f.median_ns, ref.get(f.group)
        out[f.key] = m / r if f.ok and m is not None and r else None
    return out


# -- formatting ------------------------------------------------------------


def mib(size: int) -> str:
    if size >= 1 << 30 and size % (1 << 30) == 0:
        return f"{size >> 30} GiB"
    return f"{size / (1 << 20):g} MiB"


def percent(frac: float) -> str:
    return f"{frac * 100:g}%"
