"""Find kernel reports that must fail a run ("splats") in a kernel log.

The input is dmesg output or a serial console capture (kernel messages with
printk timestamps, possibly interleaved with the output of programs, with
carriage returns and ANSI escapes). Each report found becomes a `Splat`: its
kind, a title (the header line without timestamp) and the whole report block,
from its lead-in ("------------[ cut here ]------------", a "====" separator,
a page dump) through its trace to the "---[ end trace ... ]---" line or the
end its kind implies.

Headers are recognised by the exact forms 6.1 prints (WARN, BUG, BUG_ON,
oops/die, panic, lockdep, KASAN/KFENCE/KCSAN/KMSAN, UBSAN, hung task, RCU
stall, soft/hard lockup, bad page state, VM_BUG_ON_PAGE dumps, bad rss
counters), never by a bare word: boot messages such as "RETBleed: WARNING:
..." or "[Firmware Bug]: ..." and a user program's "traps: ... general
protection fault" or "segfault at" lines are not kernel bugs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

from .consoletext import EMBEDDED_PRINTK, plain

__all__ = ["Splat", "SplatKind", "format_splats", "scan", "scan_lines"]


class SplatKind(Enum):
    """What kind of report a splat is."""

    WARNING = "WARNING"  # WARN_ON()
    BUG = "BUG"  # a "BUG: ..." report not classified below
    KERNEL_BUG = "kernel BUG"  # BUG_ON()
    PAGE_FAULT = "page fault"  # "BUG: unable to handle page fault", NULL dereference
    GENERAL_PROTECTION = "general protection fault"
    OOPS = "Oops"  # any die() header: "Oops: 0000 [#1]", "invalid opcode: 0000 [#1]"
    PANIC = "panic"
    LOCKDEP = "lockdep"
    KASAN = "KASAN"
    KFENCE = "KFENCE"
    KCSAN = "KCSAN"
    KMSAN = "KMSAN"
    UBSAN = "UBSAN"
    HUNG_TASK = "hung task"
    RCU_STALL = "RCU stall"
    SOFT_LOCKUP = "soft lockup"
    HARD_LOCKUP = "hard lockup"
    BAD_PAGE = "bad page state"
    PAGE_DUMP = "page dump"  # VM_BUG_ON_PAGE() and friends: "page dumped because: ..."
    BAD_RSS = "bad rss-counter"


@dataclass(frozen=True)
class Splat:
    """One kernel report: ``lines`` is the whole block as it appears in the log."""

    kind: SplatKind
    title: str  # the header line, without timestamp
    lines: tuple[str, ...]
    line: int = 0  # 1-based line of the header in the scanned text

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.title}"


# Ordered: the first match classifies a header.
_HEADERS: tuple[tuple[SplatKind, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern))
    for kind, pattern in (
        (SplatKind.PANIC, r"^Kernel panic - not syncing"),
        (SplatKind.KASAN, r"^BUG: KASAN: "),
        (SplatKind.KFENCE, r"^BUG: KFENCE: "),
        (SplatKind.KCSAN, r"^BUG: KCSAN: "),
        (SplatKind.KMSAN, r"^BUG: KMSAN: "),
        (SplatKind.UBSAN, r"^UBSAN: "),
        (SplatKind.BAD_RSS, r"^BUG: Bad rss-counter state"),
        (SplatKind.BAD_PAGE, r"^BUG: Bad page (?:state|map)"),
        (SplatKind.PAGE_DUMP, r"^page dumped because: "),
        (SplatKind.SOFT_LOCKUP, r"^(?:watchdog: )?BUG: soft lockup"),
        (SplatKind.HARD_LOCKUP, r"^(?:NMI watchdog: )?Watchdog detected hard LOCKUP"),
        (
            SplatKind.PAGE_FAULT,
            r"^BUG: (?:unable to handle|kernel NULL pointer dereference)"
            r"|^Unable to handle kernel ",
        ),
        (SplatKind.KERNEL_BUG, r"^kernel BUG at "),
        (SplatKind.WARNING, r"^WARNING: CPU: \d+ PID: \d+ at "),
        (
            SplatKind.LOCKDEP,
            r"^WARNING: (?:possible circular locking|possible recursive locking"
            r"|inconsistent lock state|possible irq lock inversion"
            r"|\S+-safe -> \S+-unsafe lock order|suspicious RCU usage|bad unlock balance"
            r"|held lock freed|lock held when returning|Nested lock was not taken"
            r"|bad contention|chain_key collision|\S+/\d+ still has locks held)"
            r"|^INFO: trying to register non-static key"
            r"|^BUG: (?:MAX_\w+ too low|looking up invalid subclass"
            r"|key \S+ has not been registered)",
        ),
        (SplatKind.HUNG_TASK, r"^INFO: task \S.* blocked for more than \d+ seconds"),
        (SplatKind.RCU_STALL, r"^(?:rcu: )?INFO: \S+ (?:self-)?detected stalls?\b"),
        (SplatKind.GENERAL_PROTECTION, r"^general protection fault"),
        # die(): "<what>: <error code> [#<count>]", e.g. "invalid opcode: 0000 [#1]"
        (SplatKind.OOPS, r"^(?:Internal error: )?[\w ,.()/-]+: [0-9a-f]{4,} \[#\d+\]"),
        (SplatKind.BUG, r"^(?:[\w.-]+: )?BUG: "),
    )
)

# Reports that end with a "====" line rather than a stack trace.
_SEPARATED = frozenset(
    {SplatKind.KASAN, SplatKind.KFENCE, SplatKind.KCSAN, SplatKind.KMSAN, SplatKind.UBSAN}
)
_SINGLE_LINE = frozenset({SplatKind.BAD_RSS})

_SEPARATOR = re.compile(r"^=+$")
_CUT_HERE = re.compile(r"^-+\[ cut here \]-+$")
_END_TRACE = re.compile(r"^-+\[ end trace [0-9a-f]* ?\]-+")
_END_PANIC = re.compile(r"^-+\[ end Kernel panic")
_TRACE_START = re.compile(r"^\s*(?:Call [Tt]race:|<TASK>|<IRQ>)")
_TASK_END = re.compile(r"^\s*</TASK>")
# Lines printed after a trace that still belong to the report.
_TRAILER = re.compile(
    r"^(?:-+\[ end (?:trace|Kernel panic)|Modules linked in:|CR2: |irq event stamp:"
    r"|hardirqs last|softirqs last|Disabling lock debugging|Kernel Offset:|Rebooting in"
    r"|note: \S+\[\d+\] exited with)"
)
_REGISTERS = re.compile(r"^(?:RIP|RSP|R[A-D]X|RSI|RDI|RBP|R\d{1,2}|[CFG]S|CR\d|DR\d|PKRU|Code):")
# Lead-in printed just before a header.
_LEAD_IN = re.compile(
    r"^(?:-+\[ cut here \]-+|=+"
    r"|page:|head:|flags: |raw: |page_type: |memcg:|anon |aops:|ino:|compound_\w+:)"
)
# Signs that a header starts a multi-line report (else it is taken alone).
_STRUCTURE = re.compile(
    r"^(?:CPU: \d+ PID: |Hardware name:|\s*Call [Tt]race:|\s*<TASK>|\s*<IRQ>|Modules linked in"
    r"|RIP: |Workqueue: |#PF: |PGD |in_atomic\(\)|preempt_count:|Read of size|Write of size"
    r"|page:|task:\S+ +state:|Kernel Offset|-+\[ end |-+\[ cut here|=+$|-+$|rcu: |Sending NMI"
    r"|Mem abort info|\s+\S+\+0x[0-9a-f]+/0x[0-9a-f]+)"
    r"|\bNot tainted\b|\bTainted: "
)
_LOOKAHEAD = 8
_MAX_LINES = 400  # a report with no recognisable end stops here
_MAX_GAP = 10.0  # seconds between two lines of one report

_PREFIX = re.compile(
    r"^(?:<\d+>)?"
    r"(?:\[\s*(?P<secs>\d+\.\d+)\]|\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d [\d:]{8} \d{4}\]"
    r"|[A-Z][a-z]{2} [ \d]\d [\d:]{8} \S+ kernel: (?:\[\s*(?P<jsecs>\d+\.\d+)\] )?)"
    r"(?:\[\s*[TC]\d+\])? ?"
)


@dataclass(frozen=True)
class _LogLine:
    number: int
    raw: str  # cleaned of terminal noise, timestamp kept
    text: str  # the message
    time: float | None  # seconds since boot, None if the line has no timestamp
    stamped: bool  # had a kernel prefix at all (else: program output on the console)


def scan(text: str) -> list[Splat]:
    """All kernel reports in a log, in order."""
    return scan_lines(text.split("\n"))


def scan_lines(lines: Iterable[str]) -> list[Splat]:
    """All kernel reports in a log given as lines."""
    log = [_parse_line(number, raw) for number, raw in enumerate(lines, start=1)]
    splats: list[Splat] = []
    floor = 0  # lines before this index belong to an earlier report
    i = 0
    while i < len(log):
        kind = _header_kind(log[i].text)
        if kind is None:
            i += 1
            continue
        start = _lead_in(log, i, floor)
        end = _block_end(log, i, kind)
        stamped = log[i].stamped
        kept = [ln for ln in log[start:end] if ln.stamped or not stamped]
        while kept and not kept[-1].text.strip():
            kept.pop()
        block = tuple(ln.raw for ln in kept)
        splats.append(Splat(kind, log[i].text.strip(), block, log[i].number))
        i = floor = end
    return splats


def format_splats(splats: Sequence[Splat], *, max_lines: int = 80) -> str:
    """A printable account of the reports, each block cut to ``max_lines``."""
    if not splats:
        return "no kernel reports (BUG, WARNING, Oops, panic, lockdep, KASAN, ...) in the log"
    count = len(splats)
    out = [f"{count} kernel report{'s' if count > 1 else ''} in the log:"]
    for index, splat in enumerate(splats, start=1):
        out.append("")
        out.append(f"[{index}] {splat.kind.value} at line {splat.line}: {splat.title}")
        shown = splat.lines[:max_lines]
        out.extend(f"    {line}" for line in shown)
        if len(splat.lines) > len(shown):
            out.append(f"    ... {len(splat.lines) - len(shown)} more lines")
    return "\n".join(out)


def _parse_line(number: int, raw: str) -> _LogLine:
    line = raw.rstrip("\r\n")
    if "\r" in line:  # a carriage return restarts the line on a terminal
        line = line.rstrip("\r").rsplit("\r", 1)[-1]
    line = plain(line.expandtabs(8))
    match = _PREFIX.match(line)
    if match is None:
        # a console message that interrupted a program's line: "ok 3 na[  37.0] ..."
        embedded = EMBEDDED_PRINTK.search(line, 1)
        if embedded is None:
            return _LogLine(number, line, line, None, False)
        line = line[embedded.start() :]
        match = _PREFIX.match(line)
        assert match is not None
    secs = match.group("secs") or match.group("jsecs")
    return _LogLine(number, line, line[match.end() :], float(secs) if secs else None, True)


def _header_kind(text: str) -> SplatKind | None:
    for kind, pattern in _HEADERS:
        if pattern.search(text):
            return kind
    return None


def _lead_in(log: list[_LogLine], header: int, floor: int) -> int:
    """Index of the first line of the report whose header is at ``header``."""
    start = header
    while start - 1 >= max(floor, header - 16) and _LEAD_IN.match(log[start - 1].text):
        start -= 1
    return start


def _has_structure(log: list[_LogLine], header: int) -> bool:
    following = [ln for ln in log[header + 1 :] if ln.text.strip()][:_LOOKAHEAD]
    return any(_STRUCTURE.search(ln.text) for ln in following)


def _block_end(log: list[_LogLine], header: int, kind: SplatKind) -> int:
    """Index just past the last line of the report starting at ``header``."""
    if kind in _SINGLE_LINE or not _has_structure(log, header):
        return header + 1
    stamped = log[header].stamped
    last_time = log[header].time
    seen_trace = False
    trailing = False  # the trace is over; only trailer lines may follow
    after_end = False  # past "---[ end trace ]---": registers may be repeated
    j = header + 1
    while j < len(log) and j - header < _MAX_LINES:
        line = log[j]
        text = line.text
        if stamped and not line.stamped:  # a program's output on the console
            j += 1
            continue
        if line.time is not None and last_time is not None and line.time - last_time > _MAX_GAP:
            return j
        last_time = line.time if line.time is not None else last_time
        if trailing:
            if _END_PANIC.match(text):
                return j + 1
            if _TRAILER.match(text) or (after_end and _REGISTERS.match(text)) or not text:
                after_end = after_end or bool(_END_TRACE.match(text))
                j += 1
                continue
            return j
        if _END_PANIC.match(text) or (kind in _SEPARATED and _SEPARATOR.match(text)):
            return j + 1
        if _END_TRACE.match(text):
            trailing = after_end = True
        elif (
            seen_trace
            and kind not in _SEPARATED  # a sanitizer report dumps pages, ends with "===="
            and (_CUT_HERE.match(text) or _header_kind(text) is not None)
        ):
            return j  # the next report starts
        elif _TRACE_START.match(text):
            seen_trace = True
        elif _TASK_END.match(text) and kind not in _SEPARATED:
            trailing = True
        j += 1
    return j
