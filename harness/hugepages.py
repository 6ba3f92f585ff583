"""The host's hugetlb pool: enough free pages for a run, given back after it.

The differential tester, the stress and mainline's suites all need hugetlb
pages on the host; a machine (CI's) may have none reserved.
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from .proc import say

# What one differential-test seed can map at once.
HUGETLB_PAGES_NEEDED = 16
NR_HUGEPAGES = Path("/proc/sys/vm/nr_hugepages")


def _meminfo(field_name: str) -> int | None:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    m = re.search(rf"^{re.escape(field_name)}:\s+(\d+)", text, re.M)
    return int(m.group(1)) if m else None


def host_hugetlb_available(needed: int = HUGETLB_PAGES_NEEDED) -> bool:
    """Enough unreserved hugetlb pages on the host for every seed (or ``needed``)."""
    free, rsvd = _meminfo("HugePages_Free"), _meminfo("HugePages_Rsvd")
    size = _meminfo("Hugepagesize")
    if free is None or rsvd is None or size != 2048:
        return False
    return free - rsvd >= needed


NR_HUGEPAGES = Path("/proc/sys/vm/nr_hugepages")


HOST_HUGEPAGES_LOCK = Path(tempfile.gettempdir()) / "pmscan-host-hugepages.lock"


@contextmanager
def host_hugepages(sides: Sequence[str], needed: int = HUGETLB_PAGES_NEEDED) -> Iterator[None]:
    """Reserve the host's hugetlb pages for the run (as root), then give them back.

    Without them the hugetlb mappings would be left out of every seed on a
    machine that has none reserved, as CI's has not. One run at a time on
    the machine holds them (test files run in parallel under xdist): one
    giving the pages back must not take them from another in the middle.
    """
    if "host" not in sides:
        yield
        return
    with open(HOST_HUGEPAGES_LOCK, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("host: waiting for another run using the host's hugetlb pages")
            fcntl.flock(lock, fcntl.LOCK_EX)
        with _reserved_hugepages(needed):
            yield


@contextmanager
def _reserved_hugepages(needed: int) -> Iterator[None]:
    old: int | None = None
    if os.geteuid() == 0 and not host_hugetlb_available(needed):
        free, rsvd = _meminfo("HugePages_Free") or 0, _meminfo("HugePages_Rsvd") or 0
        try:
            old = int(NR_HUGEPAGES.read_text())
            NR_HUGEPAGES.write_text(f"{old + needed - (free - rsvd)}\n")
        except OSError:
            old = None
    try:
        yield
    finally:
        if old is not None:
            NR_HUGEPAGES.write_text(f"{old}\n")
