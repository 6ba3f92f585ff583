"""Reliability runs (issue 6): the lost-write stress and the PAGEMAP_SCAN fuzzer.

``reliability/`` holds two seeded C programs: ``nolostwrites`` (writers, a
get+WP scanner and background chaos race; the history is checked for lost
and phantom writes and wrong contents) and ``pmscan_fuzz`` (random
PAGEMAP_SCAN arguments checked against the spec's error table). This module
builds them and runs one of them on the host kernel or in a guest (ours or
the reference, either profile). In a guest the dmesg is scanned for kernel
reports; any report fails the run, and is printed. A failing run names its
seed and the command that replays it.

Outputs stay in ``out/reliability/<program>-<kernel>-<profile>-seed<S>/``:
the program's output, and for a guest its dmesg.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import cwarnings, difftest, guest, hugepages, splat, targets
from .errors import HarnessError
from .paths import Layout
from .proc import require, say

STRESS = "nolostwrites"
FUZZ = "pmscan_fuzz"
KERNELS = ("host", "ours", "reference", "mainline")

# Program exit statuses (kselftest's).
EXIT_SKIP = 4

_STRESS_SUMMARY = re.compile(
    r"^nolostwrites: seed (\d+) writes (\d+) lost (\d+) phantom (\d+) "
    r"content-mismatch (\d+)", re.M)
_STRESS_SECONDS = re.compile(r"seconds ([\d.]+) writes/s (\d+)")
_FUZZ_SUMMARY = re.compile(r"^pmscan_fuzz: seed (\d+) calls (\d+) ", re.M)
_FUZZ_RATE = re.compile(r"^pmscan_fuzz: ([\d.]+) seconds, (\d+) calls/s", re.M)
_FUZZ_FAIL = re.compile(r"^FAIL seed=(\d+) call=(\d+)", re.M)


class ReliabilityError(HarnessError, stage="reliability"):
    """A reliability program did not build or run, or lost a write."""


@dataclass(frozen=True)
class Job:
    """One program run: which program, its arguments, where, and how long it may take."""

    program: str
    args: tuple[str, ...]
    kernel: str = "host"
    profile: str = "base"
    seed: int = 1

    def replay(self) -> str:
        """The harness command that runs this job again."""
        verb = "stress" if self.program == STRESS else "fuzz"
        opts = [a for a in self.args if a != "--seed"]
        extra: list[str] = []
        it = iter(opts)
        for a in it:
            if a in ("--seconds", "--writes", "--calls", "--threads"):
                extra += [a, next(it, "")]
        return shlex.join(["python", "-m", "harness", verb, "--kernel", self.kernel,
                           "--profile", self.profile, "--seed", str(self.seed), *extra])

    def name(self) -> str:
        return f"{self.program}-{self.kernel}-{self.profile}-seed{self.seed}"


@dataclass
class Outcome:
    """How a run went: the program's status and output, the kernel's reports."""

    job: Job
    status: int
    output: str
    release: str
    seconds: float
    splats: list[splat.Splat] = field(default_factory=list)
    directory: Path | None = None

    @property
    def skipped(self) -> bool:
        return self.status == EXIT_SKIP

    @property
    def ok(self) -> bool:
        return self.status == 0 and not self.splats

    def figures(self) -> str:
        """The run's headline numbers (writes checked, calls per second)."""
        if self.job.program == STRESS:
            m = _STRESS_SUMMARY.search(self.output)
            if not m:
                return "no summary line"
            rate = _STRESS_SECONDS.search(self.output)
            speed = f", {rate.group(2)} writes/s" if rate else ""
            return (f"{int(m.group(2)):,} writes checked: lost {m.group(3)}, phantom "
                    f"{m.group(4)}, content-mismatch {m.group(5)}{speed}")
        m = _FUZZ_SUMMARY.search(self.output)
        rate = _FUZZ_RATE.search(self.output)
        if not m:
            return "no summary line"
        speed = f", {rate.group(2)} calls/s" if rate else ""
        return f"{int(m.group(2)):,} calls{speed}"

    def failing_call(self) -> int | None:
        m = _FUZZ_FAIL.search(self.output)
        return int(m.group(2)) if m else None

    def render(self) -> str:
        j = self.job
        verdict = ("SKIP" if self.skipped and not self.splats
                   else "ok" if self.ok else "FAILED")
        out = [f"{j.program} on {j.kernel} ({self.release}, {j.profile}) seed {j.seed}: "
               f"{verdict}: {self.figures()} [{self.seconds:.0f}s]"]
        if not self.ok:
            lines = self.output.rstrip().splitlines()
            shown = [ln for ln in lines if ln.startswith(("FAIL", "not ok", "# ", "Bail"))
                     and ("LOST" in ln or "PHANTOM" in ln or "FAIL" in ln or "not ok" in ln
                          or "Bail" in ln or "holds" in ln or "bad region" in ln
                          or "scan errors" in ln)]
            out += ["  " + ln for ln in (shown or lines[-15:])[:40]]
            if self.status not in (0, 1, EXIT_SKIP):
                out.append(f"  exit status {self.status}")
            if self.splats:
                out.append("  " + splat.format_splats(self.splats).replace("\n", "\n  "))
            call = self.failing_call()
            replay = j.replay()
            if call is not None:
                replay = re.sub(r"--calls \S+", f"--calls {call + 1}", replay)
                if "--calls" not in replay:
                    replay += f" --calls {call + 1}"
            out.append(f"  failing seed {j.seed}; replay: {replay}")
        if self.directory is not None:
            out.append(f"  output: {self.directory}")
        return "\n".join(out)


# ---- building and running ------------------------------------------------


def build(lay: Layout) -> Path:
    """Build reliability/ into out/reliability/build; return that directory."""
    require("make", "gcc")
    bindir = lay.out / "reliability" / "build"
    res = cwarnings.make(["make", "-C", lay.repo / "reliability", f"O={bindir}",
                          f"KSRC={lay.source}"])
    if failed := cwarnings.failure("reliability/", res):
        raise ReliabilityError(*failed)
    return bindir


def kernel_for(lay: Layout, name: str, profile: str) -> guest.Kernel:
    """The guest kernel to boot, as built (this verb never builds a kernel)."""
    try:
        kernel = difftest.guest_kernel(name, lay, profile, build_kernel=False)
    except HarnessError as e:
        raise ReliabilityError(e.message, e.hint) from e
    if not kernel.exists():
        which = " --kernel mainline" if name == "mainline" else ""
        raise ReliabilityError(f"{kernel.image} does not exist",
                               f"build it first: python -m harness build{which} "
                               f"--profile {profile}")
    return kernel


def run_host(job: Job, binary: Path, outdir: Path, timeout: float) -> Outcome:
    """Run the program on the host kernel."""
    say(f"{job.program}: host: {' '.join(job.args)}")
    started = time.monotonic()
    try:
        # hugetlb pages for the run (as difftest reserves them), given back after.
        with hugepages.host_hugepages(("host",)):
            res = subprocess.run([str(binary), *job.args], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, errors="replace",
                                 timeout=timeout)
        status, output = res.returncode, res.stdout
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else ""
        status, output = -1, out + f"\n{job.program} did not finish within {timeout:.0f}s\n"
    (outdir / "output.txt").write_text(output)
    return Outcome(job, status, output, os.uname().release, time.monotonic() - started,
                   directory=outdir)


def run_guest(lay: Layout, jobs: Sequence[tuple[Job, Path, Path]], kernel: guest.Kernel,
              timeout: float) -> list[Outcome]:
    """Boot ``kernel`` once and run each (job, binary, outdir) in turn, bringing
    back each one's output; a kernel report counts against every job of the boot."""
    for job, _, _ in jobs:
        say(f"{job.program}: {kernel.name}: booting {kernel.image} (TCG: slow): "
            f"{' '.join(job.args)}")
    started = time.monotonic()
    got = guest.run_each(kernel, f"{targets.GUEST_SETUP}\ncd /tmp",
                         [(shlex.join([str(binary), *job.args]), outdir)
                          for job, binary, outdir in jobs], lay.cache, timeout)
    splats = splat.scan(got.log)
    return [Outcome(job, each.status, each.output, got.release, time.monotonic() - started,
                    splats, directory=outdir)
            for (job, _, outdir), each in zip(jobs, got.each, strict=True)]


def execute(lay: Layout, job: Job, timeout: float) -> Outcome:
    """Build, then run ``job`` where it says; guests get ``timeout`` plus a boot."""
    return execute_together(lay, [(job, timeout)])[0]


def execute_together(lay: Layout, jobs: Sequence[tuple[Job, float]]) -> list[Outcome]:
    """Run guest jobs on the same kernel and profile in one boot (the timeouts
    add up); a host job runs on its own."""
    kinds = {(job.kernel, job.profile) for job, _ in jobs}
    if not jobs or len(kinds) > 1:
        raise ReliabilityError(f"{len(kinds)} kernels for one run", "one kernel and profile")
    name, profile = kinds.pop()
    if name not in KERNELS:
        raise ReliabilityError(f"unknown kernel {name!r}", f"use {', '.join(KERNELS)}")
    kernel = None if name == "host" else kernel_for(lay, name, profile)
    bindir = build(lay)
    runs = []
    for job, _ in jobs:
        outdir = lay.out / "reliability" / job.name()
        targets.clear(outdir)
        runs.append((job, bindir / job.program, outdir))
    if kernel is None:
        return [run_host(job, binary, outdir, timeout)
                for (job, binary, outdir), (_, timeout) in zip(runs, jobs, strict=True)]
    boot = 600 if profile == "debug" else 300
    return run_guest(lay, runs, kernel, boot + sum(t for _, t in jobs))


def stress_job(kernel: str = "host", profile: str = "base", seed: int = 1,
               seconds: float | None = None, writes: int | None = None,
               threads: int | None = None) -> Job:
    """nolostwrites for ``seconds``, or ``writes`` writes (default: one million)."""
    args = ["--seed", str(seed)]
    if seconds is not None:
        args += ["--seconds", f"{seconds:g}"]
    else:
        args += ["--writes", str(writes if writes is not None else 1_000_000)]
    if threads is not None:
        args += ["--threads", str(threads)]
    return Job(STRESS, tuple(args), kernel, profile, seed)


def fuzz_job(kernel: str = "host", profile: str = "base", seed: int = 1,
             calls: int = 100_000) -> Job:
    return Job(FUZZ, ("--seed", str(seed), "--calls", str(calls)), kernel, profile, seed)


def stress_timeout(job: Job) -> float:
    """Generous: the run itself, the offline check, and TCG's slowness in a guest."""
    args = dict(zip(job.args[::2], job.args[1::2], strict=False))
    slow = 1 if job.kernel == "host" else (40 if job.profile == "debug" else 15)
    if "--seconds" in args:
        return float(args["--seconds"]) * 2 + 60 * slow
    return 60 + int(args.get("--writes", "1000000")) / 100_000 * 10 * slow


def fuzz_timeout(job: Job) -> float:
    args = dict(zip(job.args[::2], job.args[1::2], strict=False))
    slow = 1 if job.kernel == "host" else (200 if job.profile == "debug" else 50)
    return 60 + int(args.get("--calls", "100000")) / 100_000 * 30 * slow
