"""Unit tests of harness.splat on recorded and hand-written kernel logs.

tests/data/dmesg/ holds whole logs (see its README); the short reports below
follow the formats 6.1 prints.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.splat import Splat, SplatKind, format_splats, scan, scan_lines

DATA = Path(__file__).parent / "data"


def log(name: str) -> str:
    return (DATA / "dmesg" / name).read_text()


def only(splats: list[Splat]) -> Splat:
    assert len(splats) == 1, format_splats(splats)
    return splats[0]


def stamp(lines: str, start: float = 50.0) -> str:
    """Give each line of a report a printk timestamp, 1 ms apart."""
    return "\n".join(
        f"[{start + i / 1000:12.6f}] {line}" for i, line in enumerate(lines.splitlines())
    )


# -- no false positives


@pytest.mark.parametrize(
    "path",
    [
        DATA / "dmesg" / "boot-6.1.log",  # `dmesg` in a 6.1 guest
        DATA / "ktap" / "console-interleaved.log",  # its console, with test output
    ],
)
def test_clean_logs_have_no_splats(path: Path) -> None:
    assert scan(path.read_text()) == []


def test_benign_lines_are_not_splats() -> None:
    """Messages that look alarming but are not kernel bugs: firmware and
    mitigation notices, slow interrupts under TCG, a user program's
    general protection fault or segfault."""
    assert scan(log("benign-lines.log")) == []


def test_a_header_without_timestamp_is_still_reported() -> None:
    # a console capture cannot tell the kernel from a program at the start of
    # a line, and printk.time may be off: the form of the line decides
    splat = only(scan("ok 1 fine\nBUG: scheduling while atomic: uffd_wp_async/236/0x00000002\n"))
    assert splat.kind is SplatKind.BUG
    assert splat.line == 2


# -- the recorded reports


def test_warning_with_its_trace() -> None:
    splat = only(scan(log("warning.log")))
    assert splat.kind is SplatKind.WARNING
    assert splat.title == (
        "WARNING: CPU: 1 PID: 231 at mm/userfaultfd.c:812 mwriteprotect_range+0x1b4/0x1d0"
    )
    assert str(splat) == "WARNING: " + splat.title
    assert splat.line == 7
    assert splat.lines[0].endswith("------------[ cut here ]------------")
    assert splat.lines[-1].endswith("---[ end trace 0000000000000000 ]---")
    assert any("userfaultfd_ioctl+0x9b1/0x1130" in line for line in splat.lines)
    # the test program's output on the same console is not part of the report
    assert not any("ok 2 uffd" in line for line in splat.lines)
    assert len(splat.lines) == 33  # lines 6-39 but the "ok 2" line


def test_bug_with_oops() -> None:
    splat = only(scan(log("oops.log")))
    assert splat.kind is SplatKind.PAGE_FAULT
    assert splat.title == "BUG: kernel NULL pointer dereference, address: 0000000000000008"
    text = "\n".join(splat.lines)
    assert "Oops: 0000 [#1] PREEMPT SMP NOPTI" in text
    assert "---[ end trace 0000000000000000 ]---" in text
    # registers printed again after the end marker belong to the report
    assert splat.lines[-1].endswith("note: pagemap_scan[244] exited with irqs disabled")


def test_lockdep_report() -> None:
    splat = only(scan(log("lockdep.log")))
    assert splat.kind is SplatKind.LOCKDEP
    assert splat.title == "WARNING: possible circular locking dependency detected"
    assert splat.lines[0].endswith("=" * 54)
    assert any("*** DEADLOCK ***" in line for line in splat.lines)
    assert splat.lines[-1].endswith("</TASK>")


def test_kasan_report_is_one_splat() -> None:
    splat = only(scan(log("kasan.log")))  # its page dump is not a second report
    assert splat.kind is SplatKind.KASAN
    assert splat.title == "BUG: KASAN: use-after-free in pagemap_scan_output+0x1c2/0x210"
    assert splat.lines[0].endswith("=" * 66)
    assert splat.lines[-1].endswith("=" * 66)
    assert any("Freed by task 251:" in line for line in splat.lines)
    assert any("page dumped because: kasan: bad access detected" in line for line in splat.lines)


def test_panic_from_a_real_6_1_guest() -> None:
    splat = only(scan(log("panic-sysrq-6.1.log")))
    assert splat.kind is SplatKind.PANIC
    assert splat.title == "Kernel panic - not syncing: sysrq triggered crash"
    assert splat.lines[-1].endswith("Kernel Offset: disabled")
    assert any("sysrq_handle_crash" in line for line in splat.lines)


# -- other report kinds


def test_oops_then_panic_are_two_reports() -> None:
    text = log("oops.log").replace(
        "[   25.131022] virtme-ng-init: script exited with status 139",
        "[   25.124000] Kernel panic - not syncing: Fatal exception\n"
        "[   25.124500] Kernel Offset: disabled\n"
        "[   25.125000] ---[ end Kernel panic - not syncing: Fatal exception ]---",
    )
    found = scan(text)
    assert [s.kind for s in found] == [SplatKind.PAGE_FAULT, SplatKind.PANIC]
    assert found[1].lines[-1].endswith("---[ end Kernel panic - not syncing: Fatal exception ]---")


BUG_ON = """\
------------[ cut here ]------------
kernel BUG at mm/userfaultfd.c:733!
invalid opcode: 0000 [#1] PREEMPT SMP NOPTI
CPU: 0 PID: 240 Comm: uffd_wp_async Not tainted 6.1.192+ #1
RIP: 0010:mwriteprotect_range+0x1c5/0x1d0
Call Trace:
 <TASK>
 userfaultfd_ioctl+0x9b1/0x1130
 __x64_sys_ioctl+0x8a/0xc0
 </TASK>
Modules linked in:
---[ end trace 0000000000000000 ]---
RIP: 0010:mwriteprotect_range+0x1c5/0x1d0
virtme-ng-init: script exited with status 139"""

VM_BUG_ON_PAGE = """\
page:00000000e6b3a2b1 refcount:2 mapcount:1 mapping:0000000000000000 index:0x7f2a4c200 pfn:0x3b62
anon flags: 0x100000000080014(uptodate|lru|swapbacked|node=0|zone=1)
raw: 0100000000080014 ffffea00000ed8c8 ffffea00000ed848 ffff888003a4e001
raw: 00000007f2a4c200 0000000000000000 0000000200000000 0000000000000000
page dumped because: VM_BUG_ON_PAGE(!PageLocked(page))
------------[ cut here ]------------
kernel BUG at mm/rmap.c:1184!
invalid opcode: 0000 [#1] PREEMPT SMP NOPTI
CPU: 1 PID: 251 Comm: pagemap_scan Not tainted 6.1.192+ #1
Call Trace:
 <TASK>
 do_pagemap_scan+0x2c1/0x470
 </TASK>
---[ end trace 0000000000000000 ]---"""

HUNG_TASK = """\
INFO: task uffd_wp_async:236 blocked for more than 122 seconds.
      Not tainted 6.1.192+ #1
"echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.
task:uffd_wp_async   state:D stack:0     pid:236   ppid:1      flags:0x00000000
Call Trace:
 <TASK>
 __schedule+0x2f9/0x8c0
 schedule+0x5e/0xd0
 handle_userfault+0x41c/0x5d0
 </TASK>
virtme-ng-init: script exited with status 0"""

RCU_STALL = """\
rcu: INFO: rcu_preempt self-detected stall on CPU
rcu: \t0-....: (20999 ticks this GP) idle=2b4c/1/0x4000000000000000 softirq=1410/1410 fqs=5153
\t(t=21000 jiffies g=2193 q=150 ncpus=2)
CPU: 0 PID: 240 Comm: pagemap_scan Not tainted 6.1.192+ #1
RIP: 0010:pagemap_scan_pmd_entry+0x9d/0x3f0
Call Trace:
 <TASK>
 walk_pgd_range+0x3a4/0x6f0
 </TASK>"""

UBSAN = """\
================================================================================
UBSAN: shift-out-of-bounds in fs/proc/task_mmu.c:1893:25
shift exponent 64 is too large for 64-bit type 'long unsigned int'
CPU: 0 PID: 240 Comm: pagemap_scan Not tainted 6.1.192+ #1
Call Trace:
 <TASK>
 dump_stack_lvl+0x45/0x5e
 __ubsan_handle_shift_out_of_bounds+0x104/0x190
 do_pagemap_scan+0x36c/0x6a0
 </TASK>
================================================================================"""

SOFT_LOCKUP = """\
watchdog: BUG: soft lockup - CPU#1 stuck for 26s! [pagemap_scan:240]
Modules linked in:
CPU: 1 PID: 240 Comm: pagemap_scan Not tainted 6.1.192+ #1
RIP: 0010:pagemap_scan_pmd_entry+0x9d/0x3f0
Call Trace:
 <TASK>
 walk_pgd_range+0x3a4/0x6f0
 </TASK>"""

BAD_PAGE = """\
BUG: Bad page state in process pagemap_scan  pfn:03b62
page:00000000e6b3a2b1 refcount:0 mapcount:-1 mapping:0000000000000000 index:0x0 pfn:0x3b62
flags: 0x100000000000000(node=0|zone=1)
page dumped because: nonzero mapcount
Modules linked in:
CPU: 0 PID: 240 Comm: pagemap_scan Not tainted 6.1.192+ #1
Call Trace:
 <TASK>
 free_unref_page+0x31/0x190
 </TASK>
Disabling lock debugging due to kernel taint"""


@pytest.mark.parametrize(
    ("report", "kind", "title", "first", "last"),
    [
        (
            BUG_ON,
            SplatKind.KERNEL_BUG,
            "kernel BUG at mm/userfaultfd.c:733!",
            "------------[ cut here ]------------",
            "RIP: 0010:mwriteprotect_range+0x1c5/0x1d0",
        ),
        (
            VM_BUG_ON_PAGE,
            SplatKind.PAGE_DUMP,
            "page dumped because: VM_BUG_ON_PAGE(!PageLocked(page))",
            "page:00000000e6b3a2b1 refcount:2",
            "---[ end trace 0000000000000000 ]---",
        ),
        (
            HUNG_TASK,
            SplatKind.HUNG_TASK,
            "INFO: task uffd_wp_async:236 blocked for more than 122 seconds.",
            "INFO: task",
            "</TASK>",
        ),
        (
            RCU_STALL,
            SplatKind.RCU_STALL,
            "rcu: INFO: rcu_preempt self-detected stall on CPU",
            "rcu: INFO:",
            "</TASK>",
        ),
        (
            UBSAN,
            SplatKind.UBSAN,
            "UBSAN: shift-out-of-bounds in fs/proc/task_mmu.c:1893:25",
            "=" * 80,
            "=" * 80,
        ),
        (
            SOFT_LOCKUP,
            SplatKind.SOFT_LOCKUP,
            "watchdog: BUG: soft lockup - CPU#1 stuck for 26s! [pagemap_scan:240]",
            "watchdog:",
            "</TASK>",
        ),
        (
            BAD_PAGE,
            SplatKind.BAD_PAGE,
            "BUG: Bad page state in process pagemap_scan  pfn:03b62",
            "BUG: Bad page state",
            "Disabling lock debugging due to kernel taint",
        ),
    ],
)
def test_report_kinds(report: str, kind: SplatKind, title: str, first: str, last: str) -> None:
    text = "[   49.000000] virtme-ng-init: starting script\n" + stamp(report)
    splat = only(scan(text))
    assert splat.kind is kind
    assert splat.title == title
    assert splat.lines[0].split("] ", 1)[1].startswith(first)
    assert splat.lines[-1].split("] ", 1)[1].strip().startswith(last.strip())
    assert not any("virtme-ng-init" in line for line in splat.lines)


def test_one_line_reports() -> None:
    text = stamp(
        "BUG: Bad rss-counter state mm:000000001ebe5e83 type:MM_ANONPAGES val:1\n"
        "BUG: Bad rss-counter state mm:000000001ebe5e83 type:MM_SWAPENTS val:-1\n"
        "BUG: non-zero pgtables_bytes on freeing mm: 4096\n"
        "virtme-ng-init: script exited with status 0\n"
        "ACPI: PM: Preparing to enter system sleep state S5\n"
    )
    found = scan(text)
    assert [s.kind for s in found] == [SplatKind.BAD_RSS, SplatKind.BAD_RSS, SplatKind.BUG]
    assert [len(s.lines) for s in found] == [1, 1, 1]
    assert found[1].title.endswith("type:MM_SWAPENTS val:-1")


def test_two_warnings_in_a_row() -> None:
    warning = log("warning.log").splitlines()[5:39]  # cut here .. end trace
    text = "\n".join(warning + warning)
    found = scan(text)
    assert [s.kind for s in found] == [SplatKind.WARNING, SplatKind.WARNING]
    assert [s.line for s in found] == [2, 36]
    assert found[1].lines[0].endswith("[ cut here ]------------")


def test_a_report_without_end_stops_at_a_long_silence() -> None:
    text = stamp(
        "WARNING: CPU: 0 PID: 1 at mm/memory.c:100 foo+0x1/0x2\n"
        "Modules linked in:\n"
        "CPU: 0 PID: 1 Comm: init Not tainted 6.1.192+ #1\n"
        "Call Trace:\n"
        " foo+0x1/0x2\n"
    )
    text += "\n[  120.000000] virtme-ng-init: script exited with status 0\n"
    splat = only(scan(text))
    assert len(splat.lines) == 5


def test_logs_without_timestamps_and_from_the_journal() -> None:
    plain = scan(BUG_ON)  # printk.time off
    assert only(plain).kind is SplatKind.KERNEL_BUG
    assert only(plain).lines[0] == "------------[ cut here ]------------"
    journal = "\n".join(
        f"Nov 25 19:01:0{i % 10} vm kernel: {line}" for i, line in enumerate(HUNG_TASK.splitlines())
    )
    splat = only(scan(journal))
    assert splat.kind is SplatKind.HUNG_TASK
    assert splat.title.startswith("INFO: task uffd_wp_async:236")


def test_report_header_inside_a_program_line() -> None:
    # the console shows a kernel message right after a program's unfinished
    # line (as in tests/data/ktap/console-cut-line.log)
    text = log("warning.log").replace(
        "[   37.020544] WARNING", "ok 2 uffd: regi[   37.020544] WARNING"
    )
    splat = only(scan(text))
    assert splat.kind is SplatKind.WARNING
    assert splat.line == 7
    assert splat.lines[1].startswith("[   37.020544] WARNING: CPU: 1 PID: 231")


def test_console_noise_is_cleaned() -> None:
    lines = [f"\x1b[0m{line}\r\n" for line in stamp(SOFT_LOCKUP).splitlines()]
    splat = only(scan_lines(lines))
    assert splat.kind is SplatKind.SOFT_LOCKUP
    assert all("\x1b" not in line and "\r" not in line for line in splat.lines)


# -- printing


def test_format_splats() -> None:
    found = scan(log("warning.log")) + scan(log("lockdep.log"))
    text = format_splats(found, max_lines=5)
    assert text.startswith("2 kernel reports in the log:")
    assert "[1] WARNING at line 7: WARNING: CPU: 1 PID: 231 at mm/userfaultfd.c:812" in text
    assert "[2] lockdep at line 4: WARNING: possible circular locking dependency detected" in text
    assert "    ... 28 more lines" in text
    assert format_splats([]).startswith("no kernel reports")
    single = format_splats(scan(log("panic-sysrq-6.1.log")))
    assert single.startswith("1 kernel report in the log:")
    assert "    [   24.888997] Kernel Offset: disabled" in single


def test_splats_are_immutable() -> None:
    splat = only(scan(log("warning.log")))
    with pytest.raises(dataclasses.FrozenInstanceError):
        splat.title = ""  # type: ignore[misc]
