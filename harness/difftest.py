"""Differential testing: the same seeded workloads on an oracle and on our kernel.

``difftest/pmscan_fuzz_diff`` turns a seed into a random but fully
determined sequence of memory operations and PAGEMAP_SCAN calls, and writes a
trace in which nothing depends on where the kernel placed things. Two
kernels with the same ABI give identical traces for a seed; this module runs
a range of seeds on two kernels (the oracle: the host, or Debian's 6.12 in a
guest; the subject: our patched 6.1 in a guest), compares the traces and
reports, for every seed whose traces differ, the first operation whose result
differs, with both results.

Guests run all seeds in one boot; the program forks a process per seed and
writes ``seed-N.trace`` into a directory shared with the host (``--rwdir``).

A seed that could not run on one side for a reason outside the kernel's ABI
(hugetlb pages or a THP could not be had, swap-out did not complete, no
page-cache directory) ends with ``end env ...`` and is counted as
inconclusive, never as a difference.

Optional memory: hugetlb, swap (MADV_PAGEOUT, swap entries with and
without uffd-wp) and page-cache files (``--pagecache``: a private and a
shared mapping of files in ``$PMSCAN_PAGECACHE_DIR``, else the current
directory, never tmpfs) are used when every side has them; so is soft-dirty
(``--soft-dirty``: clear_refs, PAGE_IS_SOFT_DIRTY, pagemap's bits), which
the host lacks. Off, a seed's trace is what it was before they existed, so
old traces stay comparable.

``Options.plant`` (``PMSCAN_DIFF_PLANT`` in the subject's environment only)
makes the subject's program misreport one soft-dirty reading: a planted bug
the comparison must catch.

The first differing result may come long after the operation that parted
the kernels (a state difference shows at the next scan that covers it), so
up to ``localize`` differing seeds run again with ``--state``, a scan of the
whole arena after every operation, and the report names the operation after
which the states first differ. Traces stay in
``out/difftest/<oracle>-vs-<subject>/<seeds>/<side>/seed-N.trace``; one seed
reruns alone with ``pmscan_fuzz_diff [--state] --ops N [--hugetlb] [--swap]
[--pagecache] [--soft-dirty] SEED``, which prints its trace.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path

from . import accel, cwarnings, guest, pipeline, softdirty, splat, targets
from . import build as build_mod
from .errors import GuestError, HarnessError
from .hugepages import HUGETLB_PAGES_NEEDED, host_hugetlb_available
from .paths import Layout
from .proc import activity, require, say

PROGRAM = "pmscan_fuzz_diff"
TRACE_VERSION = 1
SIDES = ("host", "ours", "reference", "mainline")

# Program exit statuses (difftest/fuzz.h).
EXIT_UNSUPPORTED = 4

# Hugetlb pages a seed may hold at once: two set-up mappings of up to three
# pages, two more from mmap operations, with room to spare.

_OP_LINE = re.compile(r"^op (\d+) ")
_HEADER = re.compile(r"^pmscan-fuzz-diff v(\d+) seed=(\d+) ")
_SUMMARY = re.compile(r"summary seeds=(\d+) ops=(\d+) seconds=([\d.]+)")


class DiffError(HarnessError, stage="difftest"):
    """The differential tester could not build, run or read its traces."""


class FeatureMissing(DiffError):
    """A kernel of the comparison lacks PAGEMAP_SCAN or async uffd-wp."""


# ---- traces ----------------------------------------------------------------


class Status(Enum):
    OK = "ok"  # ran to the end
    ENV = "env"  # a resource outside the ABI was missing: inconclusive
    UNSUPPORTED = "unsupported"  # the kernel lacks the feature
    ERROR = "error"  # the program's own set-up failed
    CRASH = "crash"  # killed by a signal or exited oddly
    TIMEOUT = "timeout"
    MISSING = "missing"  # no trace file at all
    TRUNCATED = "truncated"  # the trace has no end line


@dataclass(frozen=True)
class Line:
    """One normalized trace line; ``op`` is None for set-up and end lines."""

    number: int  # 1-based, in the normalized trace
    op: int | None
    text: str

    @property
    def where(self) -> str:
        if self.op is not None:
            return f"op {self.op}"
        if self.text.startswith("end "):
            return "end"
        return "set-up"


@dataclass(frozen=True)
class Trace:
    seed: int
    lines: tuple[Line, ...]
    status: Status
    reason: str = ""  # the end line's text after the status word

    @property
    def ops(self) -> int:
        """Operations the trace covers (the highest op index + 1)."""
        ops = [ln.op for ln in self.lines if ln.op is not None]
        return max(ops) + 1 if ops else 0


def normalize(text: str) -> list[str]:
    """The lines of a trace that are compared.

    Carriage returns (a console or 9p may add them), trailing blanks, blank
    lines and ``#`` comments (timings, notes) are dropped; nothing else is
    touched: the program already writes addresses in a kernel-independent
    form, so any other change would hide a real difference.
    """
    out = []
    for raw in text.replace("\r", "").split("\n"):
        line = raw.rstrip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def _end_status(line: str) -> tuple[Status, str]:
    word, _, rest = line.removeprefix("end ").partition(" ")
    for st in Status:
        if word == st.value:
            return st, rest
    return Status.ERROR, line


def parse_trace(text: str, seed: int | None = None) -> Trace:
    """Parse a trace; ``seed`` is checked against the header when given."""
    lines = normalize(text)
    parsed: list[Line] = []
    status, reason = Status.TRUNCATED, "the trace has no end line"
    header_seed: int | None = None
    for i, line in enumerate(lines, 1):
        m = _OP_LINE.match(line)
        parsed.append(Line(i, int(m.group(1)) if m else None, line))
        h = _HEADER.match(line)
        if h:
            if int(h.group(1)) != TRACE_VERSION:
                raise DiffError(f"trace version {h.group(1)}, this harness reads "
                                f"version {TRACE_VERSION}", "rebuild difftest/")
            header_seed = int(h.group(2))
        if line.startswith("end "):
            status, reason = _end_status(line)
    if not lines:
        status, reason = Status.TRUNCATED, "the trace is empty"
    if seed is not None and header_seed is not None and header_seed != seed:
        raise DiffError(f"trace of seed {header_seed} where seed {seed} was expected")
    resolved = seed if seed is not None else header_seed
    if resolved is None:
        raise DiffError("a trace without a header and no seed given")
    return Trace(resolved, tuple(parsed), status, reason)


def missing_trace(seed: int) -> Trace:
    return Trace(seed, (), Status.MISSING, "no trace file")


def read_traces(directory: Path, seeds: Iterable[int]) -> dict[int, Trace]:
    out = {}
    for seed in seeds:
        path = directory / f"seed-{seed}.trace"
        if path.exists():
            out[seed] = parse_trace(path.read_text(errors="replace"), seed)
        else:
            out[seed] = missing_trace(seed)
    return out


# ---- comparing -------------------------------------------------------------


class Verdict(Enum):
    SAME = "same"
    DIFFER = "differ"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Difference:
    """The first line at which two traces of a seed part."""

    seed: int
    where: str  # "op 17", "set-up", "end"
    op: int | None
    line: int  # line number in the normalized traces
    oracle: str
    subject: str

    def render(self, oracle: str = "oracle", subject: str = "subject") -> str:
        width = max(len(oracle), len(subject))
        return (f"seed {self.seed}, {self.where} (trace line {self.line}):\n"
                f"  {oracle:<{width}}: {self.oracle}\n"
                f"  {subject:<{width}}: {self.subject}")


@dataclass(frozen=True)
class SeedResult:
    seed: int
    verdict: Verdict
    difference: Difference | None = None
    why: str = ""  # why inconclusive


def _describe_end(t: Trace) -> str:
    return f"<trace ends: {t.status.value}{' ' + t.reason if t.reason else ''}>"


def compare(oracle: Trace, subject: Trace) -> SeedResult:
    """Compare two traces of one seed."""
    seed = oracle.seed
    for side, t in (("oracle", oracle), ("subject", subject)):
        if t.status is Status.ENV:
            return SeedResult(seed, Verdict.INCONCLUSIVE, why=f"{side}: {t.reason}")
        if t.status is Status.UNSUPPORTED:
            return SeedResult(seed, Verdict.INCONCLUSIVE,
                              why=f"{side} kernel lacks the feature: {t.reason}")
    if oracle.status is not Status.OK:
        # A broken oracle says nothing about the subject.
        return SeedResult(seed, Verdict.INCONCLUSIVE,
                          why=f"oracle: {_describe_end(oracle)}")
    for a, b in zip(oracle.lines, subject.lines, strict=False):
        if a.text != b.text:
            op = a.op if a.op is not None else b.op
            where = f"op {op}" if op is not None else a.where
            return SeedResult(seed, Verdict.DIFFER,
                              Difference(seed, where, op, a.number, a.text, b.text))
    n = min(len(oracle.lines), len(subject.lines))
    if len(oracle.lines) != len(subject.lines) or subject.status is not Status.OK:
        longer = oracle.lines if len(oracle.lines) > n else subject.lines
        nxt = longer[n] if n < len(longer) else None
        a_text = oracle.lines[n].text if n < len(oracle.lines) else _describe_end(oracle)
        b_text = subject.lines[n].text if n < len(subject.lines) else _describe_end(subject)
        op = nxt.op if nxt is not None else None
        where = f"op {op}" if op is not None else (nxt.where if nxt else "end")
        return SeedResult(seed, Verdict.DIFFER,
                          Difference(seed, where, op, n + 1, a_text, b_text))
    return SeedResult(seed, Verdict.SAME)


# ---- running ---------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """What both sides run: the same flags, decided once."""

    start: int
    seeds: int
    ops: int = 60
    hugetlb: bool = True
    swap: bool = True
    pagecache: bool = False  # page-cache file mappings (off: old seeds' workloads)
    soft_dirty: bool = False  # clear_refs, PAGE_IS_SOFT_DIRTY (off: old seeds' workloads)
    seed_timeout: int = 300
    seed_list: tuple[int, ...] = ()  # these seeds instead of the range
    state: bool = False  # a snapshot after every operation (localizing)
    plant: str = ""  # PMSCAN_DIFF_PLANT for the subject only ("soft-dirty:N")

    def argv(self, binary: Path, outdir: Path) -> list[str]:
        args = [str(binary), "--ops", str(self.ops), "--timeout", str(self.seed_timeout),
                "--out", str(outdir)]
        if self.hugetlb:
            args.append("--hugetlb")
        if self.swap:
            args.append("--swap")
        if self.pagecache:
            args.append("--pagecache")
        if self.soft_dirty:
            args.append("--soft-dirty")
        if self.state:
            args.append("--state")
        if self.seed_list:
            return [*args, ",".join(str(s) for s in self.seed_list)]
        return [*args, str(self.start), str(self.seeds)]

    @property
    def seed_range(self) -> Sequence[int]:
        if self.seed_list:
            return self.seed_list
        return range(self.start, self.start + self.seeds)

    @property
    def count(self) -> int:
        return len(self.seed_range)

    def flags(self) -> str:
        """The resource flags of argv, for a command line in a message."""
        return "".join(f"--{name.replace('_', '-')} "
                       for name in ("hugetlb", "swap", "pagecache", "soft_dirty")
                       if getattr(self, name))

    def localizing(self, seeds: Sequence[int]) -> Options:
        """The same workloads for ``seeds``, with the state after every operation."""
        return replace(self, seed_list=tuple(seeds), state=True)


@dataclass
class SideRun:
    """How one side's run went."""

    name: str
    kernel: str  # the release it ran on
    traces: dict[int, Trace]
    seconds: float  # the program's own time (boot excluded)
    ops: int
    status: int
    output: str
    splats: list[splat.Splat] = field(default_factory=list)
    directory: Path | None = None  # where the traces are

    def trace_path(self, seed: int) -> str:
        name = f"seed-{seed}.trace"
        return str(self.directory / name) if self.directory else name

    @property
    def ops_per_second(self) -> float:
        return self.ops / self.seconds if self.seconds > 0 else 0.0


def build(lay: Layout) -> Path:
    """Build difftest/ into out/difftest/bin; return the program."""
    require("make", "gcc")
    bindir = lay.out / "difftest" / "bin"
    res = cwarnings.make(["make", "-C", lay.repo / "difftest", f"O={bindir}"])
    if failed := cwarnings.failure("difftest/", res):
        raise DiffError(*failed)
    return bindir / PROGRAM


def host_swap_on() -> bool:
    try:
        return len(Path("/proc/swaps").read_text().splitlines()) > 1
    except OSError:
        return False


def decide_resources(sides: Sequence[str], hugetlb: bool | None,
                     swap: bool | None) -> tuple[bool, bool, list[str]]:
    """hugetlb and swap for both sides, and notes saying why one is off.

    Guests get hugetlb pages and zram swap in their set-up; the host has
    what it has. A resource is used only when every side has it, so its
    absence never shows up as a difference.
    """
    notes: list[str] = []
    if hugetlb is None:
        hugetlb = "host" not in sides or host_hugetlb_available()
        if not hugetlb:
            notes.append(f"hugetlb off: the host has fewer than {HUGETLB_PAGES_NEEDED} "
                         "unreserved 2M hugetlb pages (raise /proc/sys/vm/nr_hugepages)")
    if swap is None:
        swap = "host" not in sides or host_swap_on()
        if not swap:
            notes.append("MADV_PAGEOUT off: the host has no swap")
    if "host" in sides and os.geteuid() != 0 and swap:
        swap = False
        notes.append("MADV_PAGEOUT off: checking swap-out needs the PFNs in "
                     "/proc/self/pagemap (root)")
    return hugetlb, swap, notes


def decide_soft_dirty(sides: Sequence[str], soft_dirty: bool | None,
                      kernels: Mapping[str, guest.Kernel]) -> tuple[bool, list[str]]:
    """Soft-dirty operations on or off for both sides, and a note saying why off.

    ``kernels`` are the guest sides' kernels; the host is asked at run time.
    """
    if soft_dirty is not None:
        return soft_dirty, []
    for side in sides:
        if side == "host":
            if not softdirty.host_soft_dirty():
                return False, [f"soft-dirty off: the host ({os.uname().release}) does not "
                               f"track it ({softdirty.OPTION})"]
            continue
        has, why = softdirty.guest_soft_dirty(kernels[side])
        if not has:
            return False, [f"soft-dirty off: {why}"]
    return True, []


PAGECACHE_ENV = "PMSCAN_PAGECACHE_DIR"
PLANT_ENV = "PMSCAN_DIFF_PLANT"


def filesystem_type(path: Path) -> str | None:
    """The type of the filesystem ``path`` is on (/proc/self/mounts), or None."""
    try:
        mounts = Path("/proc/self/mounts").read_text()
        real = path.resolve()
    except OSError:
        return None
    best, kind = -1, None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = Path(fields[1].replace("\\040", " "))
        if (real == point or point in real.parents) and len(point.parts) > best:
            best, kind = len(point.parts), fields[2]
    return kind


def host_pagecache_dir() -> tuple[Path | None, str]:
    """Where the host's page-cache files go, as the program finds it, or why nowhere."""
    env = os.environ.get(PAGECACHE_ENV)
    where = Path(env) if env else Path.cwd()
    named = f"{PAGECACHE_ENV}={env}" if env else f"the current directory {where}"
    if not where.is_dir():
        return None, f"{named} is not a directory"
    kind = filesystem_type(where)
    if kind in ("tmpfs", "hugetlbfs"):  # as the program refuses (reliability/pagecache.h)
        return None, (f"{named} is on {kind} (set {PAGECACHE_ENV} to a directory "
                      "on a disk filesystem)")
    return where, ""


def decide_pagecache(sides: Sequence[str], pagecache: bool | None) -> tuple[bool, list[str]]:
    """Page-cache file mappings on or off, and a note saying why off.

    Guests find their directory in the environment their set-up gives
    them; a guest without one ends every seed with ``end env`` (inconclusive).
    """
    if pagecache is not None:
        return pagecache, []
    if "host" not in sides:
        return True, []
    where, why = host_pagecache_dir()
    if where is None:
        return False, [f"page-cache files off: {why}"]
    return True, []


def _fresh(directory: Path) -> Path:
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    return directory


def _summary(output: str) -> tuple[int, float]:
    m = _SUMMARY.search(output)
    return (int(m.group(2)), float(m.group(3))) if m else (0, 0.0)


def _unsupported_reason(traces: dict[int, Trace], output: str) -> str | None:
    for t in traces.values():
        if t.status is Status.UNSUPPORTED:
            return t.reason
    m = re.search(r"^unsupported (.*)$", output, re.M)
    return m.group(1) if m else None


def seeds_run(side: str, opts: Options, outdir: Path) -> Callable[[], str]:
    """How far a side is, for the progress heartbeat: its traces written so far."""
    started = time.monotonic()

    def status() -> str:
        done = sum(1 for _ in outdir.glob("seed-*.trace"))
        return (f"difftest: {side}: {done} of {opts.count} seeds run, "
                f"{time.monotonic() - started:.0f}s")
    return status


def run_host(binary: Path, opts: Options, outdir: Path, plant: str = "") -> SideRun:
    """Run the seeds on the host kernel (``plant``: PMSCAN_DIFF_PLANT)."""
    _fresh(outdir)
    argv = opts.argv(binary, outdir)
    timeout = 60 + opts.count * opts.seed_timeout
    env = {k: v for k, v in os.environ.items() if k != PLANT_ENV}
    if plant:
        env[PLANT_ENV] = plant
    try:
        with activity(seeds_run("host", opts, outdir)):
            res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, errors="replace", timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        raise DiffError(f"host: {PROGRAM} did not finish within {timeout}s",
                        "a hung seed: its trace in " + str(outdir) + " shows how far it got") \
            from e
    ops, seconds = _summary(res.stdout)
    traces = read_traces(outdir, opts.seed_range)
    return SideRun("host", os.uname().release, traces, seconds, ops, res.returncode,
                   res.stdout, directory=outdir)


def kernel_built(lay: Layout, profile: str = "base", side: str = "ours") -> bool:
    """Whether a side's kernel image exists: ours (built by 'python -m harness
    build') or the same-config mainline (built by the pipeline)."""
    tree = lay.mainline_build_tree(profile) if side == "mainline" else lay.build_tree(profile)
    return build_mod.bzimage(tree).exists()


def guest_kernel(name: str, lay: Layout, profile: str = "base",
                 build_kernel: bool = True) -> guest.Kernel:
    """The kernel a guest side boots."""
    if name == "reference":
        ref = targets.reference_kernel()
        if ref is None:
            raise DiffError("the reference kernel (Debian's 6.12) is not installed",
                            "run 'make setup'")
        return ref
    if name == "ours":
        tree = (pipeline.kernel_tree(lay, profile) if build_kernel
                else lay.build_tree(profile))
        return pipeline.our_kernel(tree, profile)
    if name == "mainline":
        objtree = (pipeline.mainline_build(lay, profile) if build_kernel
                   else lay.mainline_build_tree(profile))
        return pipeline.mainline_kernel(objtree, profile)
    raise DiffError(f"unknown side {name!r}", f"use one of {', '.join(SIDES)}")


def guest_timeout(opts: Options) -> float:
    """A boot under TCG plus a generous 20 ms per operation (120 with swap-out).

    Debian's 6.12 took more than 345 s to boot on this 2-core machine at a
    load of 17, and ran the seeds at a fifth of our kernel's speed there.
    """
    factor = 3 if opts.state else 1  # a scan of the arena after each operation
    per_op = 0.12 if opts.swap else 0.02
    return 600 + opts.count * (opts.ops + 10) * per_op * factor


def run_guest(kernel: guest.Kernel, binary: Path, opts: Options, outdir: Path,
              lay: Layout, plant: str = "") -> SideRun:
    """Boot ``kernel`` once and run every seed in it (``plant``: PMSCAN_DIFF_PLANT)."""
    return run_guest_many(kernel, binary, [(opts, outdir, plant)], lay)[0]


def run_guest_many(kernel: guest.Kernel, binary: Path,
                   runs: Sequence[tuple[Options, Path, str]], lay: Layout) -> list[SideRun]:
    """Boot ``kernel`` once and run each (options, directory, plant) in turn; a
    kernel report counts against every run of the boot."""
    commands = []
    for opts, outdir, plant in runs:
        _fresh(outdir)
        argv = " ".join(shlex.quote(a) for a in opts.argv(binary, outdir))
        commands.append((f"{PLANT_ENV}={shlex.quote(plant)} {argv}" if plant else argv, outdir))
    say(f"difftest: {kernel.name}: booting {kernel.image} for "
        f"{sum(opts.count for opts, _, _ in runs)} seeds")
    timeout = guest_timeout(runs[0][0]) + sum(guest_timeout(o) - 600 for o, _, _ in runs[1:])
    try:
        with activity(seeds_run(kernel.name, runs[0][0], runs[0][1])):
            got = guest.run_each(kernel, targets.GUEST_SETUP, commands, lay.cache, timeout)
    except GuestError as e:
        # Name the seed that was running: the first one without a trace.
        running = next(((opts, seed) for opts, outdir, _ in runs for seed in opts.seed_range
                        if not (outdir / f"seed-{seed}.trace").exists()), None)
        where = (f"while seed {running[1]} ran (reproduce: {PROGRAM} --ops {running[0].ops} "
                 f"{running[0].flags()}{running[1]})" if running is not None
                 else "after the last seed")
        raise type(e)(f"{e.message}\n{kernel.name}: the guest failed {where}", e.hint) from e
    splats = splat.scan(got.log)
    sides = []
    for (opts, outdir, _), each in zip(runs, got.each, strict=True):
        ops, seconds = _summary(each.output)
        sides.append(SideRun(kernel.name, got.release, read_traces(outdir, opts.seed_range),
                             seconds, ops, each.status, each.output, splats,
                             directory=outdir))
    return sides


# ---- the report ------------------------------------------------------------


@dataclass
class Report:
    oracle: SideRun
    subject: SideRun
    opts: Options
    results: list[SeedResult]
    notes: list[str] = field(default_factory=list)
    # The differing seeds run again with the state after every operation.
    localized: list[SeedResult] = field(default_factory=list)

    def by(self, verdict: Verdict) -> list[SeedResult]:
        return [r for r in self.results if r.verdict is verdict]

    @property
    def differences(self) -> list[Difference]:
        return [r.difference for r in self.results if r.difference is not None]

    def ok(self) -> bool:
        """No difference, no kernel report, and at least one seed compared."""
        return (not self.differences and not self.subject.splats
                and bool(self.by(Verdict.SAME)))

    def render(self, limit: int = 20) -> str:
        o, s = self.oracle, self.subject
        out = [f"difftest: seeds {_seed_span(self.opts.seed_range)}, "
               f"{self.opts.ops} ops each, hugetlb {'on' if self.opts.hugetlb else 'off'}, "
               f"swap {'on' if self.opts.swap else 'off'}, "
               f"page-cache files {'on' if self.opts.pagecache else 'off'}, "
               f"soft-dirty {'on' if self.opts.soft_dirty else 'off'}"]
        if self.opts.plant:
            out.append(f"  planted in the subject: {PLANT_ENV}={self.opts.plant}")
        out += [f"  note: {n}" for n in self.notes]
        for side, role in ((o, "oracle"), (s, "subject")):
            out.append(f"  {role:<7} {side.name:<9} {side.kernel}: {side.ops} ops in "
                       f"{side.seconds:.1f}s = {side.ops_per_second:.0f} ops/s")
        same, differ = len(self.by(Verdict.SAME)), len(self.by(Verdict.DIFFER))
        inconclusive = self.by(Verdict.INCONCLUSIVE)
        out.append(f"  {same} same, {differ} differ, {len(inconclusive)} inconclusive")
        for r in inconclusive[:limit]:
            out.append(f"  inconclusive seed {r.seed}: {r.why}")
        for d in self.differences[:limit]:
            out.append("  DIFFERENCE " + d.render(o.name, s.name).replace("\n", "\n  "))
            out.append(f"    traces: {o.trace_path(d.seed)} {s.trace_path(d.seed)}")
        if differ > limit:
            out.append(f"  ... and {differ - limit} more differences")
        for r in self.localized:
            if r.difference is None:
                why = r.why or "the runs with the state after every operation agree"
                out.append(f"  localized seed {r.seed}: not reproduced ({why})")
                continue
            out.append("  LOCALIZED " + r.difference.render(o.name, s.name)
                       .replace("\n", "\n  "))
        for sp in s.splats:
            out.append(f"  KERNEL REPORT in {s.name}: {sp}")
        return "\n".join(out)


def _seed_span(seeds: Sequence[int]) -> str:
    if isinstance(seeds, range) and len(seeds) > 1:
        return f"{seeds.start}..{seeds.stop - 1}"
    return ",".join(str(s) for s in seeds)


def diff_runs(oracle: SideRun, subject: SideRun, opts: Options,
              notes: Sequence[str] = ()) -> Report:
    results = [compare(oracle.traces[seed], subject.traces[seed]) for seed in opts.seed_range]
    return Report(oracle, subject, opts, results, list(notes))


def check_supported(side: SideRun) -> None:
    """Refuse to compare a kernel without the feature (one clear message)."""
    why = _unsupported_reason(side.traces, side.output)
    if why is None and side.status != EXIT_UNSUPPORTED:
        return
    who = "our kernel" if side.name == "ours" else f"the {side.name} kernel ({side.kernel})"
    hint = ("patches/ does not hold the series yet, or the kernel was built without it"
            if side.name == "ours" else "this kernel cannot serve as the oracle")
    raise FeatureMissing(f"{who} lacks PAGEMAP_SCAN: {why or 'ENOTTY'}", hint)


def run_name(opts: Options) -> str:
    """The directory of a run's traces: runs of other seeds do not overwrite it."""
    seeds = opts.seed_range
    kinds = ("-pagecache" if opts.pagecache else "") + ("-softdirty" if opts.soft_dirty else "")
    if isinstance(seeds, range):
        return f"seeds-{seeds.start}-{seeds.stop - 1}-ops-{opts.ops}{kinds}"
    shown = "_".join(str(x) for x in seeds[:4]) + ("_etc" if len(seeds) > 4 else "")
    return f"list-{shown}-ops-{opts.ops}{kinds}"


def check_plant(opts: Options) -> None:
    """A planted bug the program understands, in a run where it can show."""
    if not opts.plant:
        return
    if not re.fullmatch(r"soft-dirty:[1-9]\d*", opts.plant):
        raise DiffError(f"unknown plant {opts.plant!r}",
                        "use soft-dirty:N, N >= 1: the Nth scan returning PAGE_IS_SOFT_DIRTY")
    if not opts.soft_dirty:
        raise DiffError("a soft-dirty plant in a run without soft-dirty operations",
                        "add --soft-dirty")


def differential(lay: Layout, opts: Options, oracle: str = "host", subject: str = "ours",
                 notes: Sequence[str] = (), build_kernel: bool = True,
                 profile: str = "base", localize: int = 0) -> Report:
    """Run the seeds on both sides (in parallel) and compare.

    With ``localize``, up to that many differing seeds run again on both
    sides with a scan of the whole arena after every operation: the first
    difference of that run names the operation after which the kernels'
    states part, which may come well before the first result that differs.
    """
    if oracle == subject:
        raise DiffError(f"oracle and subject are both {oracle!r}", "pick two different sides")
    check_plant(opts)
    for name in (oracle, subject):
        if name not in SIDES:
            raise DiffError(f"unknown side {name!r}", f"use one of {', '.join(SIDES)}")
    binary = build(lay)
    base = lay.out / "difftest" / f"{oracle}-vs-{subject}" / run_name(opts)
    kernels = {n: guest_kernel(n, lay, profile, build_kernel) for n in (oracle, subject)
               if n != "host"}
    if accel.crowded(len(kernels), guest.Kernel.cpus):
        # Two guests side by side (the host side runs on its own, first).
        kernels = {n: replace(k, crowded=True) for n, k in kernels.items()}

    def both(o: Options, where: Path) -> tuple[SideRun, SideRun]:
        def side(name: str) -> SideRun:
            plant = o.plant if name == subject else ""
            if name == "host":
                return run_host(binary, o, where / name, plant)
            return run_guest(kernels[name], binary, o, where / name, lay, plant)

        started = time.monotonic()
        if "host" in (oracle, subject):
            # The host first, on its own: a guest starting beside it makes
            # the host compact and migrate memory, and a scan that meets a
            # page in migration sees a swap entry.
            first = side("host")
            other = side(subject if oracle == "host" else oracle)
            runs = (first, other) if oracle == "host" else (other, first)
        else:
            with ThreadPoolExecutor(max_workers=2) as pool:
                o_f, s_f = pool.submit(side, oracle), pool.submit(side, subject)
                runs = o_f.result(), s_f.result()
        say(f"difftest: both sides done in {time.monotonic() - started:.0f}s")
        return runs

    o_run, s_run = both(opts, base)
    check_supported(s_run)
    check_supported(o_run)
    rep = diff_runs(o_run, s_run, opts, notes)
    seeds = [d.seed for d in rep.differences][:localize]
    if seeds:
        say(f"difftest: localizing seeds {', '.join(map(str, seeds))}")
        lo = opts.localizing(seeds)
        lo_o, lo_s = both(lo, base / "localize")
        rep.localized = diff_runs(lo_o, lo_s, lo).results
    return rep


def differentials_against_host(lay: Layout, runs: Sequence[Options], subject: str = "ours",
                               notes: Sequence[str] = ()) -> list[Report]:
    """Several runs against the host, with one boot of ``subject`` for all of
    them (the boot is a third of a short run's cost under TCG). The host runs
    first, on its own, as in ``differential``; the kernel is not built here."""
    for opts in runs:
        check_plant(opts)
    binary = build(lay)
    kernel = guest_kernel(subject, lay, build_kernel=False)
    bases = [lay.out / "difftest" / f"host-vs-{subject}" / run_name(o) for o in runs]
    oracles = [run_host(binary, o, base / "host") for o, base in zip(runs, bases, strict=True)]
    started = time.monotonic()
    subjects = run_guest_many(kernel, binary, [(o, base / subject, o.plant)
                                               for o, base in zip(runs, bases, strict=True)],
                              lay)
    say(f"difftest: {subject}: {len(runs)} runs in one boot, {time.monotonic() - started:.0f}s")
    reports = []
    for opts, o_run, s_run in zip(runs, oracles, subjects, strict=True):
        check_supported(s_run)
        check_supported(o_run)
        reports.append(diff_runs(o_run, s_run, opts, notes))
    return reports
