"""Parse the output of mainline's ``uffd-unit-tests`` into a KTAP-like `TestRun`.

The program prints no TAP. Per test and memory type it prints
``Testing <test> on <memory>... `` (flushed), then ``done``, ``skipped
[reason: ...]`` or ``failed [reason: ...]``; the API tests have no memory
type (``Testing UFFDIO_API (with syscall)... done``). Its last line is
``Userfaults unit tests: pass=P, skip=S, fail=F (total=T)``. When a check
calls ``err()`` it prints ``ERROR: ... (errno=N, @file:line)`` on stderr and
exits 1 at once: the test it was in never gets a result, and the tests after
it never run. A kernel without userfaultfd gets one line, ``Userfaultfd not
supported or unprivileged, skip all tests``, and exit status 4.

The result is a `ktap.TestRun` so the rest of the harness (verdicts, pytest
items, the summary table) treats it like a KTAP program: one case per test,
with one subtest per memory type. The final line plays the part of the plan
and of kselftest's ``# Totals``:

- a test that started but got no result is CRASHED, with what was printed
  after it (the ``ERROR:`` line) as its reason;
- no final line: MISSING_PLAN (the program ended early);
- a final line whose counts disagree with the parsed results: TOTALS_MISMATCH;
- a result word with no ``Testing`` line before it, or a line the format
  does not have, is kept as noise and noted, never read as a result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import ktap

START = re.compile(r"Testing (?P<name>.+?)\.\.\. ?")
RESULT = re.compile(r"(?P<word>done|skipped|failed)(?: \[reason: (?P<reason>.*)\])?\s*$")
FINAL = re.compile(r"Userfaults unit tests: pass=(?P<pass>\d+), skip=(?P<skip>\d+), "
                   r"fail=(?P<fail>\d+) \(total=(?P<total>\d+)\)")
NO_UFFD = "Userfaultfd not supported or unprivileged, skip all tests"
STATUS = {"done": ktap.Status.PASS, "skipped": ktap.Status.SKIP, "failed": ktap.Status.FAIL}


def split_name(name: str) -> tuple[str, str]:
    """``("minor-wp", "shmem")`` from ``minor-wp on shmem``; ("UFFDIO_API ...", "")."""
    test, sep, memory = name.rpartition(" on ")
    if sep and memory and " " not in memory:
        return test, memory
    return name, ""


@dataclass
class _Open:
    name: str
    line: int
    after: list[str] = field(default_factory=list)


@dataclass
class _Parser:
    leaves: list[tuple[str, ktap.TestCase]] = field(default_factory=list)
    problems: list[ktap.Problem] = field(default_factory=list)
    noise: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    final: re.Match[str] | None = None
    final_line: int = 0
    skipped_all: bool = False
    current: _Open | None = None

    def close(self, word: str, reason: str, line: int) -> None:
        assert self.current is not None
        name = self.current.name
        number = len(self.leaves) + 1
        case = ktap.TestCase(name=split_name(name)[1] or name, number=number,
                             status=STATUS[word], reason=reason,
                             diagnostics=tuple(self.current.after), line=line)
        self.leaves.append((name, case))
        self.current = None

    def crash(self) -> None:
        """The open test never got a result: the program ended inside it."""
        assert self.current is not None
        why = next((ln for ln in self.current.after if ln.startswith("ERROR:")), "")
        reason = why or "the program ended before this test reported a result"
        case = ktap.TestCase(name=split_name(self.current.name)[1] or self.current.name,
                             number=0, status=ktap.Status.CRASHED, reason=reason,
                             diagnostics=tuple(self.current.after), line=self.current.line)
        self.leaves.append((self.current.name, case))
        self.current = None

    def feed(self, text: str, lineno: int) -> None:
        while text:
            if self.current is not None:
                m = RESULT.match(text)
                if m:
                    self.close(m.group("word"), m.group("reason") or "", lineno)
                    return
                start = START.search(text)
                if start:
                    # Output of the test (or of a child) in front of the next test.
                    if start.start():
                        self.current.after.append(text[:start.start()].strip())
                    self.crash()
                    text = text[start.start():]
                    continue
                self.current.after.append(text.strip())
                return
            m = START.match(text)
            if m:
                self.current = _Open(m.group("name"), lineno)
                text = text[m.end():]
                continue
            final = FINAL.match(text)
            if final:
                if self.final is not None:
                    self.problems.append(ktap.Problem(ktap.ProblemKind.DUPLICATE_PLAN,
                                                      "second final report line", lineno))
                self.final, self.final_line = final, lineno
            elif text.strip() == NO_UFFD:
                self.skipped_all = True
            else:
                self.noise.append(text)
                self.notes.append(f"line {lineno}: not part of the format: {text.strip()!r}")
            return


def _group(leaves: list[tuple[str, ktap.TestCase]]) -> tuple[ktap.TestCase, ...]:
    """One case per test, its memory types as subtests, in the order printed."""
    order: list[str] = []
    by_test: dict[str, list[ktap.TestCase]] = {}
    for name, case in leaves:
        test, memory = split_name(name)
        key = test if memory else name
        if key not in by_test:
            order.append(key)
            by_test[key] = []
        by_test[key].append(case)
    cases = []
    for number, key in enumerate(order, 1):
        children = by_test[key]
        if len(children) == 1 and children[0].name == key:
            cases.append(ktap.TestCase(name=key, number=number, status=children[0].status,
                                       reason=children[0].reason,
                                       diagnostics=children[0].diagnostics,
                                       line=children[0].line))
            continue
        statuses = [c.status for c in children]
        if any(not s.ok for s in statuses):
            status = next(s for s in statuses if not s.ok)
        elif ktap.Status.PASS in statuses:
            status = ktap.Status.PASS
        else:
            status = ktap.Status.SKIP
        cases.append(ktap.TestCase(name=key, number=number, status=status,
                                   children=tuple(children), planned=len(children),
                                   line=children[0].line))
    return tuple(cases)


def parse(text: str) -> ktap.TestRun:
    """Parse uffd-unit-tests' whole output (stdout and stderr together)."""
    p = _Parser()
    for lineno, raw in enumerate(text.replace("\r", "").split("\n"), 1):
        if raw.strip():
            p.feed(raw, lineno)
    if p.current is not None:
        p.crash()
    cases = _group(p.leaves)
    leaves = [case for _, case in p.leaves]
    plan: ktap.Plan | None = None
    totals: ktap.Totals | None = None
    if p.skipped_all and not leaves:
        plan = ktap.Plan(count=0, skip_reason=NO_UFFD)
    elif p.final is not None:
        f = p.final
        plan = ktap.Plan(count=len(cases), line=p.final_line)
        totals = ktap.Totals(passed=int(f.group("pass")), failed=int(f.group("fail")),
                             xfailed=0, xpassed=0, skipped=int(f.group("skip")), errors=0)
        got = ktap.Counts.of(leaves)
        if (got.passed, got.skipped, got.failed, got.total) != (
                totals.passed, totals.skipped, totals.failed, int(f.group("total"))):
            p.problems.append(ktap.Problem(
                ktap.ProblemKind.TOTALS_MISMATCH,
                f"the final line says pass={totals.passed} skip={totals.skipped} "
                f"fail={totals.failed} total={f.group('total')}, the results are "
                f"pass={got.passed} skip={got.skipped} fail={got.failed} total={got.total}",
                p.final_line))
    else:
        kind = ktap.ProblemKind.NO_OUTPUT if not leaves else ktap.ProblemKind.MISSING_PLAN
        p.problems.append(ktap.Problem(
            kind, "no 'Userfaults unit tests:' line: the program ended before its report"))
    return ktap.TestRun(version=None, plan=plan, cases=cases, problems=tuple(p.problems),
                        totals=totals, noise=tuple(p.noise), notes=tuple(p.notes))


def judge(text: str, status: ktap.ExitStatus) -> ktap.Verdict:
    return ktap.judge(parse(text), status)
