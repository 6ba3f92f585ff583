"""Judging mainline's suites per target: expected skips on 6.1, the reference, plain 6.1.

Every upstream run (program x working directory) becomes one outcome for how
the program ended and one per test case (per test and memory type for
uffd-unit-tests). How a case is judged depends on the target:

- host, reference, mainline (6.12 built like ours): by its own result (pass,
  skip with the program's reason, or fail);
- ours: against the reference guest of the same run (mainline 6.12; without
  Debian's 6.12 in the run, the same-config mainline, see `BASELINES`). A
  failure fails. A skip passes only when `EXPECTED_SKIPS` names it (a feature
  6.1 or our config does not have), with the reason the program printed;
  any other skip of a case that passes on the reference fails, as does a
  case the reference passes and ours never reported (the program ended
  early). A listed case that passes fails too, so the list stays true;
- plain (6.1 without the series): nothing counts, whatever the programs
  printed (pagemap_ioctl exits 0 without a plan when its uffd set-up fails):
  each run is one skipped outcome that says what happened. Never a pass.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from . import ktap, upstream

if TYPE_CHECKING:
    from .report import ProgramResult

# The suffix leaves() gives a repeated name.
REPEAT = re.compile(r" \(\d+\)$")


@dataclass(frozen=True)
class ExpectedSkip:
    """A case that skips on 6.1 for a feature outside the series."""

    program: str  # "uffd-unit-tests" or "pagemap_ioctl"
    pattern: str  # fnmatch pattern over the case's name, e.g. "move/anon"
    printed: str  # what the program's skip reason must contain
    why: str  # for the README and the messages


EXPECTED_SKIPS: tuple[ExpectedSkip, ...] = (
    ExpectedSkip("uffd-unit-tests", "move*/*", "feature missing",
                 "UFFDIO_MOVE is mainline 6.8 (UFFD_FEATURE_MOVE)"),
    ExpectedSkip("uffd-unit-tests", "poison/*", "feature missing",
                 "UFFDIO_POISON is mainline 6.6 (UFFD_FEATURE_POISON)"),
    ExpectedSkip("uffd-unit-tests", "minor-collapse/shmem", "MADV_COLLAPSE failed",
                 "MADV_COLLAPSE of shmem fails (EINVAL) under our config on 6.1 and on "
                 "the same-config 6.12 alike (measured); the program allows it"),
    ExpectedSkip("uffd-unit-tests", "wp-fork-pin*/*", "CONFIG_GUP_TEST",
                 "the tests pin through debugfs gup_test's PIN_LONGTERM_TEST_START "
                 "(mainline 6.5); 6.1's gup_test has no such command, so they skip "
                 "even with CONFIG_GUP_TEST=y (measured), and our config has none"),
)


# The targets ours is judged against, in order: Debian's 6.12 when it ran,
# else the same-config mainline (both are mainline's implementation).
BASELINES = ("reference", "mainline")


def baseline(results: dict[str, tuple[ProgramResult, ...]]
             ) -> tuple[ProgramResult, ...] | None:
    """The programs of the first target of `BASELINES` that ran (None: neither)."""
    return next((results[name] for name in BASELINES if results.get(name)), None)


@dataclass(frozen=True)
class Outcome:
    """One pytest item: its name and how it ends (pass, fail or skip, and why)."""

    name: str
    result: str  # "pass", "fail" or "skip"
    message: str = ""


MEASURED = re.compile(r"\d+(?:\.\d+)?")


def expected_skip(program: str, case: str) -> ExpectedSkip | None:
    for e in EXPECTED_SKIPS:
        if e.program == program and fnmatch.fnmatchcase(case, e.pattern):
            return e
    return None


def case_key(name: str) -> str:
    """A case's name with the numbers it measured taken out.

    pagemap_ioctl prints results into some names ("transact_test Extra pages
    25 (0.1%), extra thread faults 25."): ours and the reference must still
    pair up by name.
    """
    return MEASURED.sub("N", name)


def leaves(prog: ProgramResult | None) -> dict[str, ktap.TestCase]:
    """The program's innermost cases by name (numbers taken out, see
    case_key()), in order; a name printed again (pagemap_ioctl repeats a few)
    gets `` (2)``, `` (3)``... by occurrence."""
    found: dict[str, ktap.TestCase] = {}
    if prog is None or prog.verdict is None:
        return found
    seen: dict[str, int] = {}
    for path, case in prog.verdict.run.walk():
        if case.children:
            continue
        name = case_key("/".join(path))
        seen[name] = seen.get(name, 0) + 1
        found[name if seen[name] == 1 else f"{name} ({seen[name]})"] = case
    return found


def _diag(case: ktap.TestCase) -> str:
    text = f"{case.status.name} {case.reason}".rstrip()
    if case.diagnostics:
        text += "\n" + "\n".join(case.diagnostics[-20:])
    return text


def program_outcome(prog: ProgramResult) -> Outcome:
    if not prog.ok:
        tail = "\n".join(prog.output.rstrip().splitlines()[-30:])
        return Outcome(prog.name, "fail", f"{prog.describe()}\n--- output (last lines) ---\n{tail}")
    v = prog.verdict
    if v is not None and v.run.status is ktap.Status.SKIP:
        return Outcome(prog.name, "skip", f"the program skipped as a whole: {v.run.summary()}")
    return Outcome(prog.name, "pass")


def own_outcome(name: str, case: ktap.TestCase) -> Outcome:
    """A case judged by its own result (host, reference, mainline)."""
    if case.status is ktap.Status.SKIP:
        return Outcome(name, "skip", case.reason or "skipped without a reason")
    if not case.ok:
        return Outcome(name, "fail", _diag(case))
    return Outcome(name, "pass")


def ours_outcome(program: str, name: str, case: ktap.TestCase | None,
                 ref: ktap.TestCase | None, ref_ran: bool, prog: ProgramResult) -> Outcome:
    """A case of our kernel, judged against the reference's result for it."""
    listed = expected_skip(program, REPEAT.sub("", name))
    if case is None:
        if ref is not None and ref.status is ktap.Status.PASS and listed is None:
            return Outcome(name, "fail", f"never reported on ours ({prog.describe()}); "
                           "it passes on the reference")
        return Outcome(name, "skip", f"not reported on ours; {ref.status.name if ref else '-'} "
                       "on the reference")
    if not case.ok:
        return Outcome(name, "fail", _diag(case))
    if case.status is ktap.Status.SKIP:
        if listed is not None and listed.printed in case.reason:
            return Outcome(name, "pass", f"expected skip on 6.1: {listed.why}")
        if listed is not None:
            return Outcome(name, "fail", f"expected to skip with '{listed.printed}' "
                           f"({listed.why}) but skipped with: {case.reason}")
        if ref is not None and ref.status is ktap.Status.PASS:
            return Outcome(name, "fail", f"skipped on ours ({case.reason}) but passes on the "
                           "reference, and no EXPECTED_SKIPS entry names it")
        if not ref_ran:
            return Outcome(name, "skip", f"{case.reason} (the reference did not run: "
                           "nothing to compare with)")
        return Outcome(name, "skip", f"{case.reason} (on the reference: "
                       f"{ref.status.name if ref else 'not reported'})")
    if listed is not None:
        return Outcome(name, "fail", f"passes on ours although EXPECTED_SKIPS lists it "
                       f"({listed.why}): remove the entry from harness/upstream_judge.py "
                       "and the README")
    return Outcome(name, "pass")


def outcomes(target: str, prog: ProgramResult,
             reference: tuple[ProgramResult, ...] | None) -> list[Outcome]:
    """The outcomes of one upstream run on ``target``; ``reference``: the reference
    guest's programs in this run (None: it did not run)."""
    parts = upstream.split_name(prog.name)
    assert parts is not None, prog.name
    program = parts[0]
    if target == "plain":
        # report.load_target() has already made the run one skipped case
        # (report.not_counted()); whatever it is, it never counts as a pass.
        why = "; ".join(prog.verdict.reasons) if prog.verdict is not None else prog.problem
        return [Outcome(prog.name, "skip", why or "not counted on plain 6.1")]
    found = [program_outcome(prog)]
    mine = leaves(prog)
    if target != "ours":
        return found + [own_outcome(f"{prog.name}/{n}", c) for n, c in mine.items()]
    ref_prog = next((p for p in reference or () if p.name == prog.name), None)
    theirs = leaves(ref_prog)
    names = list(mine) + [n for n in theirs if n not in mine]
    return found + [replace(ours_outcome(program, n, mine.get(n), theirs.get(n),
                                         reference is not None, prog), name=f"{prog.name}/{n}")
                    for n in names]
