"""Whether QEMU can use KVM here, decided by a probe and remembered.

``/dev/kvm`` can exist while a KVM guest hangs at boot (nested
virtualization without the features the guest needs). So the probe boots a
kernel with KVM for a few seconds and checks that it printed its banner; the
answer is cached per host kernel, so only the first run pays for it.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path

from .proc import say

PROBE_SECONDS = 20


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
