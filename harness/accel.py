"""Whether QEMU can use KVM here, decided by a probe and remembered.

``/dev/kvm`` can exist while a KVM guest hangs at boot (nested
virtualization without the features the guest needs). So the probe boots a
kernel with KVM for a few seconds and checks that it printed its banner; the
answer is cached per host kernel, so only the first run pays for it.

Under TCG, QEMU gives each vCPU a host thread of its own (MTTCG). When the
guests running at the same time have more vCPUs than the host has CPUs, the
host deschedules vCPUs that another vCPU is waiting for (an IPI, a TLB
shootdown, a wake-up): every such wait costs a host time slice. Measured on
this 2-CPU machine with mainline's ``uffd-unit-tests -f events-wp`` in
2-vCPU guests: 16 s in one guest alone; 351 s in each of two guests side by
side (a uffd round trip took 13 ms); 15 s in each of the two when each guest
ran its vCPUs in one host thread, taking turns (``thread=single``). Alone the
two modes are as fast (``-f wp``: 30 s in one thread, 33 s in threads of
their own), so a guest uses one thread only when it is crowded (``crowded``).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path

from .proc import say

PROBE_SECONDS = 20
# The QEMU option for a crowded TCG guest: all its vCPUs in one host thread.
TCG_ONE_THREAD = "-accel tcg,thread=single"


def crowded(guests: int, vcpus_each: int) -> bool:
    """True when ``guests`` guests started together outnumber the host's CPUs
    with their vCPUs (each should then run its vCPUs in one host thread)."""
    return guests * vcpus_each > (os.cpu_count() or 1)


def _probe(kernel: Path, qemu: str = "qemu-system-x86_64") -> bool:
    cmd = [
        qemu, "-accel", "kvm", "-m", "256M", "-nographic", "-no-reboot",
        "-kernel", str(kernel),
        "-append", "console=ttyS0 panic=-1 rdinit=/nonexistent init=/nonexistent",
    ]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, errors="replace",
                             timeout=PROBE_SECONDS)
        out = res.stdout + res.stderr
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) \
            else (e.stdout or "")
    return "Linux version" in out


def kvm_usable(cache: Path, kernel: Path | None) -> bool:
    """True when a KVM guest boots here. ``PMSCAN_ACCEL=kvm|tcg`` overrides."""
    forced = os.environ.get("PMSCAN_ACCEL")
    if forced in ("kvm", "tcg"):
        return forced == "kvm"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    memo = cache / "accel.json"
    key = platform.release()
    known: dict[str, bool] = {}
    if memo.exists():
        try:
            known = json.loads(memo.read_text())
        except ValueError:
            known = {}
    if key in known:
        return known[key]
    if kernel is None or not kernel.exists():
        return False
    say(f"guest: probing whether KVM boots a guest here (up to {PROBE_SECONDS}s, once)")
    ok = _probe(kernel)
    say(f"guest: KVM {'works' if ok else 'does not boot a guest: using TCG'}")
    known[key] = ok
    memo.parent.mkdir(parents=True, exist_ok=True)
    memo.write_text(json.dumps(known))
    return ok
