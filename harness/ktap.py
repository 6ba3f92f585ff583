"""Parse KTAP / TAP 13 output of kselftest programs into a tree of results.

What is understood:

- kselftest.h output: ``TAP version 13``, a ``1..N`` plan, ``ok N name`` /
  ``not ok N name`` results with ``# SKIP`` / ``# XFAIL`` / ``# TODO`` /
  ``# error`` / ``# TIMEOUT`` directives, ``# `` diagnostic lines, the
  ``# Totals: pass:.. fail:..`` line, ``Bail out!`` and the ``1..0 # SKIP reason``
  of a program that skips as a whole;
- kselftest_harness.h output, whose skip lines carry no name (``ok 3 # SKIP
  reason``): the name is taken from the harness's ``OK  fixture.test`` line;
- nesting: KTAP v1 subtests indented by whitespace (``    KTAP version 1``,
  ``    # Subtest: name``, as KUnit prints them) and the ``# ``-prefixed output
  of one program inside the TAP of a runner (kselftest's runner.sh);
- noise: kernel console messages interleaved with the output (lines with a
  printk timestamp), carriage returns, ANSI escape sequences; a printk
  timestamp in front of TAP lines (KUnit in dmesg) is removed.

Nothing is decided by searching the text for words: lines become a tree of
frozen `TestCase` objects, and every way the output can be incomplete or
inconsistent becomes a `Problem`. A `TestRun` with problems is never ok.

`judge` combines a parse with the program's exit status (a program killed by a
signal, or exiting non-zero after printing only passes, fails with a reason).
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from enum import Enum, IntEnum

from .consoletext import EMBEDDED_PRINTK, plain

__all__ = [
    "Counts",
    "ExitStatus",
    "KsftExit",
    "Plan",
    "Problem",
    "ProblemKind",
    "Status",
    "TestCase",
    "TestRun",
    "Totals",
    "Verdict",
    "expected_exit_code",
    "judge",
    "parse",
    "parse_lines",
]


class Status(Enum):
    """Outcome of one test case (or of a whole run)."""

    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"
    XFAIL = "xfail"  # failed, as expected: fine
    XPASS = "xpass"  # passed although expected to fail: a failure
    ERROR = "error"  # the test could not run properly ("not ok N # error")
    TIMEOUT = "timeout"
    CRASHED = "crashed"  # started but never reported a result

    @property
    def ok(self) -> bool:
        """Whether this outcome lets a run pass."""
        return self in (Status.PASS, Status.SKIP, Status.XFAIL)


class ProblemKind(Enum):
    """Ways the output of a run can be incomplete or inconsistent."""

    NO_OUTPUT = "no TAP output"
    NO_TESTS = "no tests"
    MISSING_PLAN = "missing plan"
    TRUNCATED = "fewer results than planned"
    PLAN_MISMATCH = "more results than planned"
    DUPLICATE_PLAN = "second plan"
    DUPLICATE_NUMBER = "duplicate test number"
    OUT_OF_ORDER = "out-of-order test number"
    MISSING_RESULT = "subtest without result"
    INCONSISTENT = "ok result over failed subtests"
    TOTALS_MISMATCH = "totals disagree with results"
    SECOND_HEADER = "second TAP header"
    BAIL_OUT = "bail out"


@dataclass(frozen=True)
class Problem:
    """Something wrong with the output as a whole rather than with one test."""

    kind: ProblemKind
    message: str
    line: int = 0  # 1-based line of the input, 0 when it concerns the end of the output
    path: tuple[str, ...] = ()  # names of the enclosing subtests, outermost first

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "end of output"
        if self.path:
            where += " in " + " / ".join(self.path)
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Plan:
    """A ``1..N`` line; ``skip_reason`` is set for ``1..0 # SKIP reason``."""

    count: int
    skip_reason: str | None = None
    line: int = 0


@dataclass(frozen=True)
class Totals:
    """kselftest's own ``# Totals: pass:.. fail:.. xfail:.. xpass:.. skip:.. error:..``."""

    passed: int
    failed: int
    xfailed: int
    xpassed: int
    skipped: int
    errors: int

    def __str__(self) -> str:
        return (
            f"pass:{self.passed} fail:{self.failed} xfail:{self.xfailed} "
            f"xpass:{self.xpassed} skip:{self.skipped} error:{self.errors}"
        )


@dataclass(frozen=True)
class TestCase:
    """One result line, with the subtests that were printed before it.

    ``number`` is 0 for a subtest whose result line never came (status
    CRASHED). ``reason`` is the text of the directive (``# SKIP reason``,
    ``# TIMEOUT 45 seconds``, ``# exit=1``). ``diagnostics`` are the ``# ``
    lines (without the ``# ``) and other non-TAP program output printed since
    the previous result; kernel console lines are not included.
    """

    __test__ = False  # not a pytest test class

    name: str
    number: int
    status: Status
    reason: str = ""
    diagnostics: tuple[str, ...] = ()
    children: tuple[TestCase, ...] = ()
    planned: int | None = None  # the subtests' plan, when there are subtests
    line: int = 0

    @property
    def ok(self) -> bool:
        return self.status.ok

    @property
    def label(self) -> str:
        """``name``, or ``test N`` for a result line without a name."""
        if self.name:
            return self.name
        return f"test {self.number}" if self.number else "unnamed test"

    def walk(self, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], TestCase]]:
        """Yield (path, case) for this case and all its subtests, depth first."""
        here = (*path, self.label)
        yield here, self
        for child in self.children:
            yield from child.walk(here)


@dataclass(frozen=True)
class Counts:
    """How many cases ended in each status."""

    passed: int = 0
    failed: int = 0
    skipped: int = 0
    xfailed: int = 0
    xpassed: int = 0
    errors: int = 0
    timeouts: int = 0
    crashed: int = 0

    @classmethod
    def of(cls, cases: Iterable[TestCase]) -> Counts:
        tally = dict.fromkeys(Status, 0)
        for case in cases:
            tally[case.status] += 1
        return cls(
            passed=tally[Status.PASS],
            failed=tally[Status.FAIL],
            skipped=tally[Status.SKIP],
            xfailed=tally[Status.XFAIL],
            xpassed=tally[Status.XPASS],
            errors=tally[Status.ERROR],
            timeouts=tally[Status.TIMEOUT],
            crashed=tally[Status.CRASHED],
        )

    @property
    def total(self) -> int:
        return (
            self.passed
            + self.failed
            + self.skipped
            + self.xfailed
            + self.xpassed
            + self.errors
            + self.timeouts
            + self.crashed
        )

    def __str__(self) -> str:
        parts = [
            f"{n} {word}"
            for n, word in (
                (self.passed, "passed"),
                (self.failed, "failed"),
                (self.skipped, "skipped"),
                (self.xfailed, "xfailed"),
                (self.xpassed, "xpassed"),
                (self.errors, "errors"),
                (self.timeouts, "timed out"),
                (self.crashed, "crashed"),
            )
            if n
        ]
        return ", ".join(parts) if parts else "no results"


@dataclass(frozen=True)
class TestRun:
    """The parse of one program's (or one runner's) output."""

    __test__ = False  # not a pytest test class

    version: str | None  # the header line, e.g. "TAP version 13"
    plan: Plan | None
    cases: tuple[TestCase, ...]
    problems: tuple[Problem, ...] = ()
    totals: Totals | None = None
    diagnostics: tuple[str, ...] = ()  # printed after the last result
    noise: tuple[str, ...] = ()  # lines with no TAP meaning (console messages, ...)
    notes: tuple[str, ...] = ()  # oddities that do not make the run fail

    @property
    def counts(self) -> Counts:
        """Counts of the top-level cases (what the plan and ``# Totals`` count)."""
        return Counts.of(self.cases)

    @property
    def leaf_counts(self) -> Counts:
        """Counts of the cases without subtests, at any depth."""
        return Counts.of(case for _, case in self.walk() if not case.children)

    @property
    def bailed_out(self) -> bool:
        return any(p.kind is ProblemKind.BAIL_OUT for p in self.problems)

    @property
    def status(self) -> Status:
        """FAIL if a case failed; else ERROR if the output has problems; else
        SKIP for a run that skipped everything, XFAIL if nothing passed but
        something failed as expected, PASS otherwise."""
        if any(not case.ok for case in self.cases):
            return Status.FAIL
        if self.problems:
            return Status.ERROR
        counts = self.counts
        if counts.passed:
            return Status.PASS
        if counts.xfailed:
            return Status.XFAIL
        return Status.SKIP

    @property
    def ok(self) -> bool:
        """All cases PASS, SKIP or XFAIL, and nothing wrong with the output."""
        return not self.problems and all(case.ok for case in self.cases)

    def walk(self) -> Iterator[tuple[tuple[str, ...], TestCase]]:
        """Yield (path, case) for every case at every depth."""
        for case in self.cases:
            yield from case.walk()

    def failures(self) -> list[tuple[tuple[str, ...], TestCase]]:
        """The innermost cases that are not ok, with their paths."""
        found: list[tuple[tuple[str, ...], TestCase]] = []

        def visit(case: TestCase, path: tuple[str, ...]) -> None:
            here = (*path, case.label)
            bad_children = [c for c in case.children if not c.ok]
            if bad_children:
                for child in bad_children:
                    visit(child, here)
            elif not case.ok:
                found.append((here, case))

        for case in self.cases:
            visit(case, ())
        return found

    def summary(self) -> str:
        """A few lines saying how the run went and, if it failed, why."""
        head = f"{self.status.name}: "
        if self.plan is not None and self.plan.skip_reason is not None and not self.cases:
            head += f"skipped as a whole: {self.plan.skip_reason or 'no reason given'}"
        else:
            planned = f"{self.plan.count} planned" if self.plan is not None else "no plan"
            reported = sum(1 for c in self.cases if c.number)
            head += f"{planned}, {reported} reported: {self.counts}"
            leaves = self.leaf_counts
            if any(c.children for c in self.cases):
                head += f" (subtests: {leaves})"
        lines = [head]
        failures = self.failures()
        for path, case in failures[:_SUMMARY_LIMIT]:
            text = f"  {case.status.name} {' / '.join(path)}"
            if case.reason:
                text += f" ({case.reason})"
            lines.append(text)
        if len(failures) > _SUMMARY_LIMIT:
            lines.append(f"  ... and {len(failures) - _SUMMARY_LIMIT} more failures")
        lines.extend(f"  problem: {p}" for p in self.problems)
        return "\n".join(lines)


_SUMMARY_LIMIT = 20


def parse(text: str) -> TestRun:
    """Parse the whole output of a run."""
    return parse_lines(text.split("\n"))


def parse_lines(lines: Iterable[str]) -> TestRun:
    """Parse the output of a run given as lines (with or without line endings)."""
    return _Parser([line for line in _clean_all(lines) if line.text]).run()


# --------------------------------------------------------------------------
# Line cleaning

# "[   12.345678] ", optionally with the printk caller id "[  T123]" or a
# syslog level "<6>" in front; the one space after it separates the message
# (KUnit's indentation follows it).
_PRINTK_PREFIX = re.compile(r"^(?:<\d+>)?\[\s*\d+\.\d+\](?:\[\s*[TC]\d+\])? ?")
_LEADING_TABS = re.compile(r"^[ \t]+")
# The start of a TAP line a printk prefix inside it may have cut.
_INTERRUPTED = re.compile(r"^[ \t]*(?:# ?)*[ \t]*(?:ok\b|not ok\b|1\.\.|K?TAP version|Bail out)")


@dataclass(frozen=True)
class _Line:
    number: int
    text: str
    kernel: bool  # carried a printk timestamp: a console message


def _clean_all(lines: Iterable[str]) -> Iterator[_Line]:
    """Clean lines of terminal noise, and mend TAP lines that a console
    message interrupted: ``ok 3 na[   37.020189] random: ...`` then ``me``
    become the console line and ``ok 3 name``."""
    partial: tuple[int, str] | None = None
    for number, raw in enumerate(lines, start=1):
        text = _tidy(raw)
        cut = EMBEDDED_PRINTK.search(text, 1)
        if cut and _INTERRUPTED.match(text[: cut.start()]):
            head = text[: cut.start()]
            partial = (number, head) if partial is None else (partial[0], partial[1] + head)
            text = text[cut.start() :]
        line = _clean(number, text)
        if partial is not None and not line.kernel:
            line = _clean(partial[0], partial[1] + text)
            partial = None
        yield line
    if partial is not None:
        yield _clean(*partial)


def _tidy(raw: str) -> str:
    text = raw.rstrip("\r\n")
    if "\r" in text:  # a carriage return restarts the line on a terminal
        text = text.rstrip("\r").rsplit("\r", 1)[-1]
    return plain(text)


def _clean(number: int, text: str) -> _Line:
    match = _PRINTK_PREFIX.match(text)
    kernel = match is not None
    if match:
        text = text[match.end() :]
    text = _LEADING_TABS.sub(lambda m: m.group().replace("\t", "    "), text)
    return _Line(number, text, kernel)


# --------------------------------------------------------------------------
# Line classification (on the text after the current block's prefix)

_VERSION = re.compile(r"^(K?TAP) version (\d+)$")
_PLAN = re.compile(r"^1\.\.(\d+)(?:\s*#\s*(.*))?$")
_RESULT = re.compile(r"^(not ok|ok)(?=\s|$)\s*(\d+)?\s*(.*)$")
_SUBTEST = re.compile(r"^#\s*Subtest:\s*(.*)$")
_TOTALS = re.compile(
    r"^#\s*Totals:\s*pass:(\d+)\s+fail:(\d+)\s+xfail:(\d+)\s+xpass:(\d+)\s+"
    r"skip:(\d+)\s+error:(\d+)"
)
_BAIL_OUT = re.compile(r"^Bail out!\s*(.*)$")
_DIAGNOSTIC = re.compile(r"^#(?:[ \t](.*))?$")  # not "#PF: ..." from an oops
# Where a nested block starts: more indentation, or "# " (runner.sh) in
# front of a line that only a TAP producer prints.
_NESTED_BY_INDENT = re.compile(
    r"^( +)(?=(?:K?TAP version \d+|# ?Subtest:|(?:not )?ok(?:\s|$)|1\.\.\d))"
)
_NESTED_BY_HASH = re.compile(r"^(# ?)(?= *K?TAP version \d+$)")
_DIRECTIVE = re.compile(
    r"(?:^|\s)#\s*(SKIP\S*|TODO|XFAIL|XPASS|TIMEOUT|ERROR|exit=\d+)(?=[\s:]|$)[:\s]*(.*)$",
    re.IGNORECASE,
)
_COMMENT = re.compile(r"(?:^|\s)#\s(.*)$")
# kselftest_harness.h prints "#            OK  fixture.variant.test" before
# the result line, whose skip form has no name.
_HARNESS_NAME = re.compile(r"^\s*(?:OK|FAIL)\s+(\S+)$")

_VERSIONS = {"TAP": (13, 14), "KTAP": (1,)}


def _structural(rest: str) -> bool:
    """A line that belongs to the TAP structure of the level it is at."""
    return any(
        regex.match(rest) for regex in (_RESULT, _PLAN, _VERSION, _SUBTEST, _BAIL_OUT, _DIAGNOSTIC)
    )


def _nested_prefix(rest: str) -> str | None:
    for regex in (_NESTED_BY_INDENT, _NESTED_BY_HASH):
        match = regex.match(rest)
        if match:
            return match.group(1)
    return None


def _split_directive(body: str) -> tuple[str, str | None, str]:
    """Split the text after ``ok N`` into (name, directive keyword, reason)."""
    body = body.strip()
    if body.startswith("- "):
        body = body[2:]
    elif body == "-":
        body = ""
    match = _DIRECTIVE.search(body)
    if match:
        keyword, reason = match.group(1), match.group(2).strip()
        if keyword.lower().startswith("exit="):  # kselftest's runner.sh: the exit code
            reason = f"{keyword} {reason}".strip()
        return body[: match.start()].strip(), keyword.upper(), reason
    match = _COMMENT.search(body)
    if match:
        return body[: match.start()].strip(), None, match.group(1).strip()
    return body, None, ""


def _status(ok: bool, directive: str | None) -> Status:
    if directive is not None:
        if directive.startswith("SKIP"):
            return Status.SKIP
        if directive == "TODO":  # TAP: an expected failure
            return Status.XPASS if ok else Status.XFAIL
        if directive == "XFAIL":
            return Status.XFAIL if ok else Status.FAIL
        if directive == "XPASS":
            return Status.XPASS
        if directive == "TIMEOUT":
            return Status.TIMEOUT
        if directive == "ERROR":
            return Status.ERROR
    return Status.PASS if ok else Status.FAIL


# --------------------------------------------------------------------------
# The parser


@dataclass
class _Block:
    """A level of nesting being parsed; paths in its problems are relative."""

    prefix: str
    first_line: int
    version: str | None = None
    name: str = ""
    plan: Plan | None = None
    cases: list[TestCase] = field(default_factory=list)
    totals: Totals | None = None
    totals_line: int = 0
    trailing: list[str] = field(default_factory=list)  # diagnostics after the last result
    problems: list[Problem] = field(default_factory=list)
    bail_out_line: int = 0
    last_line: int = 0

    @property
    def started(self) -> bool:
        return self.plan is not None or bool(self.cases)

    def problem(self, kind: ProblemKind, message: str, line: int) -> None:
        self.problems.append(Problem(kind, message, line))


class _Parser:
    def __init__(self, lines: list[_Line]) -> None:
        self.lines = lines
        self.pos = 0
        self.prefixes: list[str] = []
        self.noise: list[str] = []
        self.notes: list[str] = []

    def run(self) -> TestRun:
        top = self.block("")
        if top.version is None and top.started:
            self.notes.append("no 'TAP version' / 'KTAP version' line (was KSFT_TAP_LEVEL set?)")
        if not top.started and not top.version:
            top.problems.append(
                Problem(
                    ProblemKind.NO_OUTPUT,
                    f"no KTAP/TAP output found in {len(self.lines)} non-empty lines "
                    "(no version line, plan or result): the program did not run, "
                    "or its output was lost",
                )
            )
        return TestRun(
            version=top.version,
            plan=top.plan,
            cases=tuple(top.cases),
            problems=tuple(top.problems),
            totals=top.totals,
            diagnostics=tuple(top.trailing),
            noise=tuple(self.noise),
            notes=tuple(self.notes),
        )

    # -- one level of nesting

    def block(self, prefix: str) -> _Block:
        self.prefixes.append(prefix)
        block = _Block(prefix, self.lines[self.pos].number if self.pos < len(self.lines) else 0)
        pending: list[str] = []  # diagnostics for the next result
        child: _Block | None = None  # a subtest block waiting for its result line
        expected = 1
        seen: dict[int, int] = {}  # test number -> line
        while self.pos < len(self.lines):
            line = self.lines[self.pos]
            rest = self.rest(line.text, prefix)
            if rest is None:
                if self.belongs_outside(line.text):
                    break
                self.keep_noise(line, pending)
                self.pos += 1
                continue
            if not rest:
                self.pos += 1
                continue
            extra = _nested_prefix(rest)
            if extra is not None:
                if child is not None:
                    self.orphan(block, child, pending)
                    expected += 1  # its result line, if it had one, had that number
                start = self.pos
                child = self.block(prefix + extra)
                if self.pos == start:  # cannot happen, but never loop forever
                    self.keep_noise(line, pending)
                    self.pos += 1
                    child = None
                block.last_line = self.lines[self.pos - 1].number
                continue
            if (_VERSION.match(rest) or _SUBTEST.match(rest)) and block.started and prefix:
                break  # a sibling subtest starts: this block is over
            self.pos += 1
            block.last_line = line.number
            expected = self.line_in_block(block, line, rest, pending, child, expected, seen)
            if _RESULT.match(rest):
                child = None
                pending = []
        if child is not None:
            self.orphan(block, child, pending)
            pending = []
        block.trailing.extend(pending)
        self.check_block(block)
        self.prefixes.pop()
        return block

    def rest(self, text: str, prefix: str) -> str | None:
        """The text after the block's prefix, or None if not in the block."""
        if text.startswith(prefix):
            return text[len(prefix) :]
        if prefix and text == prefix.rstrip():
            return ""
        return None

    def belongs_outside(self, text: str) -> bool:
        """Whether a line outside the current prefix is TAP of an enclosing level."""
        for prefix in reversed(self.prefixes[:-1]):
            rest = self.rest(text, prefix)
            if rest is not None and (_structural(rest) or _nested_prefix(rest) is not None):
                return True
        return False

    def keep_noise(self, line: _Line, pending: list[str]) -> None:
        self.noise.append(line.text)
        if not line.kernel:  # program output without "# ": worth keeping with its test
            pending.append(line.text.strip())

    def line_in_block(
        self,
        block: _Block,
        line: _Line,
        rest: str,
        pending: list[str],
        child: _Block | None,
        expected: int,
        seen: dict[int, int],
    ) -> int:
        """Take one line of this block; return the next expected test number."""
        if match := _VERSION.match(rest):
            self.version_line(block, line, rest, match)
        elif match := _SUBTEST.match(rest):
            if not block.started and not block.name:
                block.name = match.group(1).strip()
            else:
                pending.append(rest[1:].strip())
        elif match := _PLAN.match(rest):
            self.plan_line(block, line, match)
        elif match := _RESULT.match(rest):
            return self.result_line(block, line, match, pending, child, expected, seen)
        elif match := _BAIL_OUT.match(rest):
            reason = match.group(1).strip()
            block.bail_out_line = block.bail_out_line or line.number
            block.problem(
                ProblemKind.BAIL_OUT,
                f"the program bailed out: {reason or 'no reason given'}",
                line.number,
            )
        elif match := _TOTALS.match(rest):
            block.totals = Totals(*(int(n) for n in match.groups()))
            block.totals_line = line.number
        elif match := _DIAGNOSTIC.match(rest):
            pending.append(match.group(1) or "")
        else:
            self.keep_noise(line, pending)
        return expected

    def version_line(self, block: _Block, line: _Line, rest: str, match: re.Match[str]) -> None:
        if block.version is None and not block.started:
            block.version = rest
            kind, number = match.group(1), int(match.group(2))
            if number not in _VERSIONS[kind]:
                self.notes.append(f"line {line.number}: unknown {kind} version {number}")
            return
        block.problem(
            ProblemKind.SECOND_HEADER,
            f"a second '{rest}' line after the run started: the output of two runs is "
            "mixed, or the program started over",
            line.number,
        )

    def plan_line(self, block: _Block, line: _Line, match: re.Match[str]) -> None:
        count = int(match.group(1))
        comment = match.group(2)
        skip_reason = None
        if comment is not None:
            skip = re.match(r"SKIP\S*[:\s]*(.*)$", comment, re.IGNORECASE)
            if skip:
                skip_reason = skip.group(1).strip()
        if block.plan is not None:
            block.problem(
                ProblemKind.DUPLICATE_PLAN,
                f"a second plan '1..{count}' (the first, '1..{block.plan.count}', "
                f"was on line {block.plan.line})",
                line.number,
            )
            return
        block.plan = Plan(count, skip_reason, line.number)

    def result_line(
        self,
        block: _Block,
        line: _Line,
        match: re.Match[str],
        pending: list[str],
        child: _Block | None,
        expected: int,
        seen: dict[int, int],
    ) -> int:
        ok = match.group(1) == "ok"
        number = int(match.group(2)) if match.group(2) else expected
        name, directive, reason = _split_directive(match.group(3))
        if not name and child is not None:
            name = child.name
        if not name:
            name = _harness_name(pending)
        if number in seen:
            block.problem(
                ProblemKind.DUPLICATE_NUMBER,
                f"test number {number} ('{name}') was already reported on line {seen[number]}",
                line.number,
            )
        elif number != expected:
            block.problem(
                ProblemKind.OUT_OF_ORDER,
                f"expected test number {expected} next, found {number} ('{name}')",
                line.number,
            )
        seen.setdefault(number, line.number)
        case = TestCase(
            name=name,
            number=number,
            status=_status(ok, directive),
            reason=reason,
            diagnostics=tuple(pending),
            line=line.number,
        )
        if child is not None:
            case = self.adopt(block, case, child)
        block.cases.append(case)
        return number + 1

    def adopt(self, block: _Block, case: TestCase, child: _Block) -> TestCase:
        """Attach a finished subtest block to the result line that closes it."""
        if child.name and case.name and child.name != case.name:
            self.notes.append(
                f"line {case.line}: result '{case.name}' closes subtest '{child.name}'"
            )
        for problem in child.problems:
            block.problems.append(replace(problem, path=(case.label, *problem.path)))
        bad = [c.label for c in child.cases if not c.ok]
        if case.status is Status.PASS and bad:
            block.problem(
                ProblemKind.INCONSISTENT,
                f"'{case.label}' is reported ok but its subtests failed: {', '.join(bad)}",
                case.line,
            )
        return replace(
            case,
            diagnostics=case.diagnostics + tuple(child.trailing),
            children=tuple(child.cases),
            planned=child.plan.count if child.plan is not None else None,
        )

    def orphan(self, block: _Block, child: _Block, pending: list[str]) -> None:
        """A subtest block that no result line closed: record it as crashed."""
        name = child.name or "unnamed subtest"
        case = TestCase(
            name=child.name,
            number=0,
            status=Status.CRASHED,
            reason="no result line",
            diagnostics=tuple(pending) + tuple(child.trailing),
            children=tuple(child.cases),
            planned=child.plan.count if child.plan is not None else None,
            line=child.first_line,
        )
        pending.clear()
        for problem in child.problems:
            block.problems.append(replace(problem, path=(name, *problem.path)))
        block.problem(
            ProblemKind.MISSING_RESULT,
            f"subtest '{name}' (from line {child.first_line}) has no result line: "
            "it crashed or its output was cut short",
            child.first_line,
        )
        block.cases.append(case)

    # -- checks once a block is complete

    def check_block(self, block: _Block) -> None:
        reported = [c for c in block.cases if c.number]
        plan = block.plan
        if plan is None:
            # KTAP lets a subtest omit its plan (KUnit does for parameterised
            # tests): the parent's result line closes it. At the top nothing
            # else tells whether the run finished.
            if not block.cases:
                if block.version is not None:
                    block.problem(
                        ProblemKind.NO_TESTS,
                        f"'{block.version}' but no plan and no results: the program stopped "
                        "before running any test",
                        block.first_line,
                    )
            elif not block.prefix:
                block.problem(
                    ProblemKind.MISSING_PLAN,
                    f"no plan line ('1..N') before or after the {len(reported)} results: "
                    "cannot tell whether all tests ran",
                    block.cases[0].line,
                )
        elif plan.count == 0 and not block.cases:
            if plan.skip_reason is None:
                block.problem(
                    ProblemKind.NO_TESTS,
                    "plan '1..0' without a SKIP reason: the program ran no tests",
                    plan.line,
                )
        elif len(reported) < plan.count:
            block.problem(ProblemKind.TRUNCATED, _shortfall(block, reported), block.last_line)
        elif len(reported) > plan.count:
            block.problem(
                ProblemKind.PLAN_MISMATCH,
                f"{len(reported)} results but the plan (line {plan.line}) says {plan.count}",
                plan.line,
            )
        if block.totals is not None:
            self.check_totals(block)

    def check_totals(self, block: _Block) -> None:
        assert block.totals is not None
        counts = Counts.of(block.cases)
        parsed = Totals(
            passed=counts.passed,
            failed=counts.failed + counts.timeouts + counts.crashed,
            xfailed=counts.xfailed,
            xpassed=counts.xpassed,
            skipped=counts.skipped,
            errors=counts.errors,
        )
        if parsed != block.totals:
            block.problem(
                ProblemKind.TOTALS_MISMATCH,
                f"'# Totals: {block.totals}' but the result lines give {parsed}: "
                "result lines were lost or garbled",
                block.totals_line,
            )


def _shortfall(block: _Block, reported: list[TestCase]) -> str:
    assert block.plan is not None
    planned = block.plan.count
    if reported:
        last = reported[-1]
        after = f"the last is test {last.number} ('{last.label}', line {last.line})"
    else:
        after = "none at all"
    message = f"the plan (line {block.plan.line}) says {planned} tests but only {len(reported)} "
    message += f"reported, {after}: "
    if block.bail_out_line:
        return message + f"the program bailed out on line {block.bail_out_line}"
    if block.totals_line > (reported[-1].line if reported else 0):
        return message + "the program finished (it printed its totals) without running them all"
    return message + "the run crashed or was killed, or its output was cut short"


def _harness_name(pending: list[str]) -> str:
    for text in reversed(pending):
        match = _HARNESS_NAME.match(text)
        if match:
            return match.group(1)
    return ""


# --------------------------------------------------------------------------
# Exit status


class KsftExit(IntEnum):
    """kselftest.h's exit codes."""

    PASS = 0
    FAIL = 1
    XFAIL = 2
    XPASS = 3
    SKIP = 4


@dataclass(frozen=True)
class ExitStatus:
    """How a program ended: an exit code, a signal, or killed for a timeout."""

    code: int | None = None
    signal: int | None = None
    timed_out: bool = False

    @classmethod
    def from_returncode(cls, returncode: int, *, shell: bool = True) -> ExitStatus:
        """From subprocess's returncode (negative: killed by that signal).

        With ``shell`` (the default), 129..192 are read as 128 + signal, the
        way a shell reports a child killed by a signal, and 124 as a timeout,
        the way timeout(1) and kselftest's runner report one; kselftest
        programs never exit with such codes on purpose.
        """
        if returncode < 0:
            return cls(signal=-returncode)
        if shell and 128 < returncode <= 128 + 64:
            return cls(signal=returncode - 128)
        if shell and returncode == _TIMEOUT_CODE:
            return cls(code=returncode, timed_out=True)
        return cls(code=returncode)

    def describe(self) -> str:
        if self.timed_out:
            if self.code == _TIMEOUT_CODE:
                return f"timed out (exit status {self.code}, as timeout(1) reports it)"
            return "killed after its time limit"
        if self.signal is not None:
            return f"killed by {_signal_name(self.signal)}"
        assert self.code is not None
        try:
            return f"exit status {self.code} (KSFT_{KsftExit(self.code).name})"
        except ValueError:
            return f"exit status {self.code}"


_TIMEOUT_CODE = 124


def _signal_name(number: int) -> str:
    try:
        return f"{signal.Signals(number).name} (signal {number})"
    except ValueError:
        return f"signal {number}"


def expected_exit_code(run: TestRun) -> KsftExit:
    """The exit code a kselftest.h program printing this output should have.

    ``1..0 # SKIP`` is KSFT_SKIP; a complete run of passes, skips and expected
    failures is KSFT_PASS (what ``ksft_finished()`` does); anything else is
    KSFT_FAIL.
    """
    if (
        run.plan is not None
        and run.plan.count == 0
        and run.plan.skip_reason is not None
        and not run.cases
    ):
        return KsftExit.SKIP
    return KsftExit.PASS if run.ok else KsftExit.FAIL


@dataclass(frozen=True)
class Verdict:
    """A run's parse and its exit status, judged together."""

    status: Status
    reasons: tuple[str, ...]
    run: TestRun
    exit: ExitStatus

    @property
    def ok(self) -> bool:
        return self.status.ok

    def __str__(self) -> str:
        if not self.reasons:
            return self.status.name
        return f"{self.status.name}: " + "; ".join(self.reasons)


def judge(run: TestRun, exit_status: ExitStatus | int) -> Verdict:
    """Combine a parse with how the program ended.

    An int is taken as a subprocess returncode (see
    `ExitStatus.from_returncode`). The result is ok only when both agree that
    the run passed (or skipped, or failed as expected): a program killed by a
    signal or a timeout fails whatever it printed, and an exit code that
    contradicts the printed results (1 after only passes, 0 after failures, 4
    without anything skipped) fails with a reason saying so.
    """
    status = exit_status
    if isinstance(status, int):
        status = ExitStatus.from_returncode(status)
    failures = run.failures()
    reasons: list[str] = []
    progress = _progress(run)
    if status.timed_out:
        verdict = Status.TIMEOUT
        reasons.append(f"{status.describe()} {progress}")
    elif status.signal is not None:
        verdict = Status.CRASHED
        reasons.append(f"{status.describe()} {progress}")
    else:
        verdict, why = _judge_code(run, status, bool(failures))
        if why:
            reasons.append(why)
    if failures:
        names = ", ".join(" / ".join(path) for path, _ in failures[:_SUMMARY_LIMIT])
        more = (
            f" and {len(failures) - _SUMMARY_LIMIT} more" if len(failures) > _SUMMARY_LIMIT else ""
        )
        reasons.append(f"{len(failures)} tests failed: {names}{more}")
    reasons.extend(str(p) for p in run.problems)
    return Verdict(verdict, tuple(reasons), run, status)


def _judge_code(run: TestRun, status: ExitStatus, failed: bool) -> tuple[Status, str]:
    code = status.code
    describe = status.describe()
    skipped = run.leaf_counts.skipped > 0 or (
        run.plan is not None and run.plan.skip_reason is not None
    )
    if code == KsftExit.PASS:
        if failed:
            return Status.FAIL, f"{describe} although results failed"
        if run.problems:
            return Status.ERROR, ""
        return run.status, ""
    if code == KsftExit.FAIL:
        if failed or run.problems:
            return Status.FAIL, describe
        return Status.FAIL, (
            f"{describe} although no printed result failed "
            "(an error reported outside TAP? see the program's output)"
        )
    if code == KsftExit.SKIP:
        if failed:
            return Status.FAIL, f"{describe} although results failed"
        if run.problems:
            return Status.ERROR, describe
        if not skipped:
            return Status.FAIL, f"{describe} but no test was skipped"
        reason = run.plan.skip_reason if run.plan is not None else None
        return Status.SKIP, f"skipped: {reason}" if reason else ""
    if code == KsftExit.XFAIL:
        if failed:
            return Status.FAIL, f"{describe} although results failed"
        if run.problems:
            return Status.ERROR, describe
        return Status.XFAIL, ""
    if code == KsftExit.XPASS:
        return Status.FAIL, f"{describe}: a test expected to fail passed"
    return Status.FAIL, f"{describe}, which is not a kselftest exit code (0 pass, 1 fail, 4 skip)"


def _progress(run: TestRun) -> str:
    reported = [c for c in run.cases if c.number]
    planned = f" of {run.plan.count} planned" if run.plan is not None else ""
    if not reported:
        return f"before reporting any result{planned}"
    last = reported[-1]
    return f"after {len(reported)} results{planned} (last: test {last.number} '{last.label}')"
