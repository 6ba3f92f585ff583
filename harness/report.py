"""Reading a target's results back, judging them, and the summary table.

A target's directory (see ``targets.py``) holds per program the output and
exit status; this module turns them into `ProgramResult` objects (the KTAP
parse judged with the exit status) and a `TargetResult` with the kernel
reports found in its dmesg. The pytest plugin and ``make run`` both use it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from . import ktap, splat, uffd_unit, upstream
from .paths import Layout

# Programs that reproduce 6.1 bugs fixed by the series' stable patches: on
# plain 6.1 every case fails (the pytest plugin and the KCIDB file say so).
REPRODUCERS = frozenset({"uffd_wp_fixes"})


@dataclass(frozen=True)
class ProgramResult:
    name: str
    status_text: str
    output: str
    verdict: ktap.Verdict | None  # None: the program did not run or ended abnormally
    problem: str = ""  # why it has no verdict (timeout, guest died, not run)

    @property
    def ok(self) -> bool:
        return self.verdict is not None and self.verdict.ok

    @property
    def counts(self) -> ktap.Counts:
        if self.verdict is None:
            return ktap.Counts()
        return self.verdict.run.leaf_counts

    def describe(self) -> str:
        if self.verdict is None:
            return self.problem
        return str(self.verdict)


def not_reproduced(prog: ProgramResult) -> str:
    """Why a reproducer run on plain 6.1 does not show its bugs, or "" when every
    planned case failed (what a kernel without the stable fixes must do)."""
    v = prog.verdict
    if v is None or v.status is not ktap.Status.FAIL:
        return f"{prog.name} did not fail cleanly without the fixes: {prog.describe()}"
    cases = [case for _, case in v.run.walk() if not case.children]
    planned = v.run.plan.count if v.run.plan else None
    if planned != len(cases):
        return f"{prog.name}: plan {planned}, {len(cases)} cases"
    shown = [case.name for case in cases if case.status is not ktap.Status.FAIL]
    if shown:
        return ("no longer reproduced without the fixes (the bug is gone, or the "
                f"reproducer is broken): {', '.join(shown)}")
    return ""


def program_ok(target: str, prog: ProgramResult) -> bool:
    """The program's result is what it must be on ``target``: a pass, except for
    the reproducers on plain 6.1, which must fail every case."""
    if target == "plain" and prog.name in REPRODUCERS:
        return not not_reproduced(prog)
    return prog.ok


@dataclass(frozen=True)
class TargetResult:
    name: str
    kernel: str
    unavailable: str  # non-empty: the target could not run here, and why
    error: str  # a guest error that ended the run early
    programs: tuple[ProgramResult, ...]
    splats: tuple[splat.Splat, ...]

    @property
    def ok(self) -> bool:
        if self.unavailable:
            return True
        return not self.error and not self.splats and all(
            program_ok(self.name, p) for p in self.programs)


def exit_status(text: str) -> ktap.ExitStatus | None:
    """The status file's content as an ExitStatus (None: it never ended normally)."""
    text = text.strip()
    if text == "timeout":
        return ktap.ExitStatus(timed_out=True)
    if text.startswith("signal "):
        return ktap.ExitStatus(signal=int(text.split()[1]))
    if text.lstrip("-").isdigit():
        return ktap.ExitStatus.from_returncode(int(text))
    return None


def plain_verdict(name: str, status: ktap.ExitStatus, output: str) -> ktap.Verdict:
    """A non-KTAP program (6.1's userfaultfd test): its exit status is the result."""
    if status.code == ktap.KsftExit.SKIP:
        result = ktap.Status.SKIP
        reason = _last_line(output) or "skipped"
    elif status.code == 0:
        result, reason = ktap.Status.PASS, ""
    else:
        result, reason = ktap.Status.FAIL, f"{status.describe()}: {_last_line(output)}"
    case = ktap.TestCase(name=name, number=1, status=result, reason=reason)
    run = ktap.TestRun(version=None, plan=ktap.Plan(count=1), cases=(case,))
    return ktap.Verdict(result, (reason,) if reason else (), run, status)


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else ""


def load_program(directory: Path, name: str, is_ktap: bool) -> ProgramResult:
    status_file = directory / f"{name}.status"
    out_file = directory / f"{name}.out"
    status_text = status_file.read_text().strip() if status_file.exists() else "not run"
    output = out_file.read_text(errors="replace") if out_file.exists() else ""
    status = exit_status(status_text)
    if status is None:
        return ProgramResult(name, status_text, output, None, problem=status_text)
    if (upstream.split_name(name) or ("",))[0] == "uffd-unit-tests":
        return ProgramResult(name, status_text, output, uffd_unit.judge(output, status))
    if not is_ktap:
        return ProgramResult(name, status_text, output, plain_verdict(name, status, output))
    return ProgramResult(name, status_text, output, ktap.judge(ktap.parse(output), status))


def load_target(directory: Path, name: str, programs: list[tuple[str, bool]]) -> TargetResult:
    unavailable_file = directory / "unavailable.txt"
    if unavailable_file.exists():
        why = unavailable_file.read_text().strip()
        return TargetResult(name, "", why, "", (), ())
    info = directory / "info.txt"
    kernel = info.read_text().split(maxsplit=1)[-1].strip() if info.exists() else "?"
    error_file = directory / "guest-error.txt"
    error = error_file.read_text().strip() if error_file.exists() else ""
    dmesg_file = directory / "dmesg.txt"
    splats = tuple(splat.scan(dmesg_file.read_text(errors="replace"))) \
        if dmesg_file.exists() else ()
    progs = tuple(load_program(directory, n, k) for n, k in programs)
    if name == "plain":
        # Mainline's suites count for nothing without the series: never a pass.
        progs = tuple(not_counted(p) if upstream.split_name(p.name) else p
                      for p in progs)
    return TargetResult(name, kernel, "", error, progs, splats)


def not_counted(prog: ProgramResult) -> ProgramResult:
    """Plain 6.1: the run as one skipped case that says what happened, whatever it was."""
    if prog.verdict is None:
        said = prog.output.strip().splitlines()
        what = f"{prog.problem}: {said[0]}" if said else prog.problem
    else:
        run = prog.verdict.run
        what = f"{prog.verdict.exit.describe()}, " + (
            "no plan (its uffd set-up failed)" if run.plan is None
            else str(run.leaf_counts))
    why = f"not counted on plain 6.1, which lacks the series (it ended: {what})"
    case = ktap.TestCase(name="not counted", number=1, status=ktap.Status.SKIP, reason=why)
    run = ktap.TestRun(version=None, plan=ktap.Plan(count=1), cases=(case,))
    exit_status = prog.verdict.exit if prog.verdict is not None else ktap.ExitStatus()
    return replace(prog, verdict=ktap.Verdict(ktap.Status.SKIP, (why,), run, exit_status),
                   problem="")


def program_list(directory: Path) -> list[tuple[str, bool]]:
    """The programs a results directory holds, and whether each prints KTAP."""
    names = sorted(p.stem for p in directory.glob("*.status"))
    return [(n, not n.startswith("userfaultfd-")) for n in names]


@dataclass(frozen=True)
class Summary:
    targets: tuple[TargetResult, ...]

    @classmethod
    def load(cls, lay: Layout, names: list[str]) -> Summary:
        results = []
        for name in names:
            d = lay.results(name)
            if not d.exists():
                results.append(TargetResult(name, "", "", "no results: it was never run", (), ()))
                continue
            results.append(load_target(d, name, program_list(d)))
        return cls(tuple(results))

    def ok(self) -> bool:
        return all(t.ok for t in self.targets)

    def render(self) -> str:
        """One row per program, one column per target: pass/fail/skip counts."""
        names = sorted({p.name for t in self.targets for p in t.programs})
        cols = [t.name for t in self.targets]
        width = max([len(n) for n in names] + [len("program"), len("kernel reports")])
        header = f"{'program':<{width}}  " + "  ".join(f"{c:<24}" for c in cols)
        lines = [header, "-" * len(header)]
        kernels = f"{'kernel':<{width}}  " + "  ".join(
            f"{(t.kernel or '-')[:24]:<24}" for t in self.targets)
        lines.append(kernels)
        for n in names:
            cells = []
            for t in self.targets:
                prog = next((p for p in t.programs if p.name == n), None)
                cells.append(f"{_cell(t, prog):<24}")
            lines.append(f"{n:<{width}}  " + "  ".join(cells))
        lines.append(f"{'kernel reports':<{width}}  " + "  ".join(
            f"{_splat_cell(t):<24}" for t in self.targets))
        lines.append("")
        for t in self.targets:
            if t.unavailable:
                lines.append(f"{t.name}: not run: {t.unavailable}")
            if t.error:
                lines.append(f"{t.name}: {t.error}")
            for p in t.programs:
                if not program_ok(t.name, p):
                    why = not_reproduced(p) if p.name in REPRODUCERS else p.describe()
                    lines.append(f"{t.name} / {p.name}: {why or p.describe()}")
            for s in t.splats:
                lines.append(f"{t.name}: kernel report:\n{splat.format_splats([s])}")
        lines.append("RESULT: " + ("PASS" if self.ok() else "FAIL"))
        return "\n".join(lines)


def _cell(t: TargetResult, prog: ProgramResult | None) -> str:
    if t.unavailable:
        return "n/a"
    if prog is None:
        return "-"
    if prog.verdict is None:
        return prog.problem.upper()
    c = prog.counts
    mark = "ok" if program_ok(t.name, prog) else "FAIL"
    return f"{mark} {c.passed}p {c.failed + c.errors + c.crashed + c.timeouts}f {c.skipped}s"


def _splat_cell(t: TargetResult) -> str:
    if t.unavailable or t.name == "host":
        return "n/a" if t.unavailable else "not checked"
    return "none" if not t.splats else f"{len(t.splats)} FOUND"
