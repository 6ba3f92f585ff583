"""Where the selftests run: the host kernel, our patched guest, the reference guest,
and plain 6.1 (Debian's build of the same source, without the series).

Running a target writes, per program, ``<name>.out`` (what it printed) and
``<name>.status`` (its exit status, or ``timeout``/``signal N``) under
``out/results/<target>/``, plus ``dmesg.txt`` and ``info.txt``. The pytest
plugin and the summary table read those files, so a result can be looked
at long after the run.
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import GuestError, GuestTimeout
from .guest import Kernel, Session
from .paths import Layout
from .proc import say
from .selftests import Program

# Guest set-up: hugepages for the hugetlb cases, zram swap for MADV_PAGEOUT.
GUEST_SETUP = """\
echo 64 > /proc/sys/vm/nr_hugepages
modprobe zram 2>/dev/null
if [ -e /sys/block/zram0 ] || [ -e /sys/class/zram-control ]; then
  [ -e /sys/block/zram0 ] || cat /sys/class/zram-control/hot_add >/dev/null
  echo 256M > /sys/block/zram0/disksize && mkswap /dev/zram0 >/dev/null && swapon /dev/zram0
fi
true
"""

REFERENCE_RELEASE_GLOB = "vmlinuz-6.12.*-amd64"
# Debian 12's own 6.1 kernels are named 6.1.0-<abi>-amd64.
PLAIN_RELEASE_GLOB = "vmlinuz-6.1.0-*-amd64"


@dataclass(frozen=True)
class Target:
    name: str  # "host", "ours", "reference", "plain"
    kernel: Kernel | None  # None: the host itself


def _installed(name: str, pattern: str) -> Kernel | None:
    images = sorted(Path("/boot").glob(pattern),
                    key=lambda p: [int(x) if x.isdigit() else x
                                   for x in re.split(r"(\d+)", p.name)])
    if not images:
        return None
    release = images[-1].name.removeprefix("vmlinuz-")
    return Kernel(name=name, image=release, memory="2G")


def reference_kernel() -> Kernel | None:
    """Debian's 6.12 generic kernel if installed (the mainline oracle in a guest)."""
    return _installed("reference", REFERENCE_RELEASE_GLOB)


def plain_kernel() -> Kernel | None:
    """Debian's 6.1 generic kernel if installed: 6.1 without the series.

    The new selftests must skip there, with the reason, and fail nothing.
    """
    return _installed("plain", PLAIN_RELEASE_GLOB)


def status_text(returncode: int) -> str:
    if returncode < 0:
        return f"signal {-returncode}"
    return str(returncode)


def clear(outdir: Path) -> None:
    """Remove a target's previous results, so none of them is read as new."""
    outdir.mkdir(parents=True, exist_ok=True)
    for stale in outdir.iterdir():
        if stale.is_file():
            stale.unlink()


def run_host(lay: Layout, programs: list[Program], outdir: Path) -> None:
    """Run the programs on the host kernel (root, as in the guest)."""
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "info.txt").write_text(f"host {platform.release()}\n")
    for prog in (p for p in programs if "host" in p.targets):
        say(f"host: running {prog.name}")
        out = outdir / f"{prog.name}.out"
        try:
            res = subprocess.run(prog.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 timeout=prog.timeout, cwd=lay.out)
            out.write_bytes(res.stdout)
            status = status_text(res.returncode)
        except subprocess.TimeoutExpired as e:
            out.write_bytes(e.stdout or b"")
            status = "timeout"
        (outdir / f"{prog.name}.status").write_text(status + "\n")


def run_guest(lay: Layout, kernel: Kernel, programs: list[Program], outdir: Path,
              boot_timeout: float = 300) -> None:
    """Boot ``kernel`` once and run every program in it, then save dmesg.

    A program that hangs ends the boot: it is recorded as ``timeout`` and
    the programs after it as ``not run``; the console log is kept.
    """
    outdir.mkdir(parents=True, exist_ok=True)
    console = outdir / "console.log"
    say(f"{kernel.name}: booting {kernel.image}")
    with Session(kernel, lay.cache, boot_timeout=boot_timeout,
                 rwdirs=(lay.out,), log=console) as s:
        info = s.cmd("uname -r")
        (outdir / "info.txt").write_text(f"{kernel.name} {info.output.strip()}\n")
        s.cmd(GUEST_SETUP)
        programs = [p for p in programs if kernel.name in p.targets]
        for i, prog in enumerate(programs):
            say(f"{kernel.name}: running {prog.name}")
            out = outdir / f"{prog.name}.out"
            argv = " ".join(shlex.quote(a) for a in prog.argv)
            try:
                res = s.cmd(f"cd {shlex.quote(str(lay.out))} && {argv} > {out} 2>&1",
                            timeout=prog.timeout)
                status = str(res.status)
                if res.status > 128:
                    status = f"signal {res.status - 128}"
            except GuestError as e:
                why = "timeout" if isinstance(e, GuestTimeout) else "guest died"
                (outdir / f"{prog.name}.status").write_text(why + "\n")
                for rest in programs[i + 1:]:
                    (outdir / f"{rest.name}.status").write_text("not run\n")
                (outdir / "guest-error.txt").write_text(str(e) + "\n")
                (outdir / "dmesg.txt").write_text(s.console)
                return
            (outdir / f"{prog.name}.status").write_text(status + "\n")
        dmesg = s.cmd("dmesg --color=never", timeout=120)
        (outdir / "dmesg.txt").write_text(dmesg.output)


def host_has_root() -> bool:
    return os.geteuid() == 0
