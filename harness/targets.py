"""Where the selftests run: the host kernel, our patched guest, the reference guest,
and plain 6.1 (Debian's build of the same source, without the series).

Running a target writes, per program, ``<name>.out`` (what it printed) and
``<name>.status`` (its exit status, or ``timeout``/``signal N``) under
``out/results/<target>/``, plus ``dmesg.txt`` and ``info.txt``. The pytest
plugin and the summary table read those files, so a result can be looked
at long after the run.

A program with a ``workdir`` runs in a fresh directory on that kind of
filesystem (``<name>.fs`` records which one it was): tmpfs, or a page-cache
filesystem under ``PMSCAN_PAGECACHE_DIR`` (ext4 on the host, the 9p or
virtio-fs share in a guest). Every program gets ``PMSCAN_PAGECACHE_DIR``.
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from . import pagecache
from .errors import GuestError, GuestTimeout, HarnessError
from .guest import Kernel, Session
from .hugepages import host_hugepages
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
    name: str  # "host", "ours", "reference", "plain", "mainline"
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


def check_workdir(kind: str, fs: str) -> str:
    """Why a ``kind`` working directory on filesystem ``fs`` is wrong, or ""."""
    if kind == "tmpfs" and fs != "tmpfs":
        return f"the tmpfs working directory is on {fs}"
    if kind == "pagecache" and fs in pagecache.NOT_PAGECACHE:
        return f"the page-cache working directory is on {fs}"
    return ""


@contextmanager
def host_workdir(lay: Layout, kind: str) -> Iterator[Path]:
    """A fresh working directory of ``kind`` on the host, removed afterwards."""
    if not kind:
        yield lay.out
        return
    if kind == "tmpfs":
        parent = Path("/dev/shm")
    elif kind == "pagecache":
        parent = pagecache.host_dir(lay)
    else:
        raise HarnessError(f"unknown working directory kind {kind!r}", "use tmpfs or pagecache")
    path = Path(tempfile.mkdtemp(prefix="pmscan-run.", dir=parent))
    try:
        why = check_workdir(kind, pagecache.fs_type(path))
        if why:
            raise HarnessError(f"host: {why} ({path})",
                               "mount a tmpfs on /dev/shm" if kind == "tmpfs"
                               else f"set {pagecache.ENV} to a directory on ext4, xfs, ...")
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run_host(lay: Layout, programs: list[Program], outdir: Path) -> None:
    """Run the programs on the host kernel (root, as in the guest)."""
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "info.txt").write_text(f"host {platform.release()}\n")

    env = {**os.environ, pagecache.ENV: str(pagecache.host_dir(lay))}
    record_not_run(programs, "host", outdir)
    for prog in (p for p in programs if "host" in p.targets):
        say(f"host: running {prog.name}")
        out = outdir / f"{prog.name}.out"
        pages = host_hugepages(("host",), prog.hugepages) if prog.hugepages else nullcontext()
        with host_workdir(lay, prog.workdir) as cwd, pages:
            if prog.workdir:
                (outdir / f"{prog.name}.fs").write_text(pagecache.fs_type(cwd) + "\n")
            try:
                res = subprocess.run(prog.argv, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, timeout=prog.timeout,
                                     cwd=cwd, env=env)
                out.write_bytes(res.stdout)
                status = status_text(res.returncode)
            except subprocess.TimeoutExpired as e:
                out.write_bytes(e.stdout or b"")
                status = "timeout"
        (outdir / f"{prog.name}.status").write_text(status + "\n")


def guest_workdir_script(kind: str) -> str:
    """Shell that makes a fresh ``kind`` directory in the guest and prints its
    filesystem type and path; tmpfs is mounted for the run, so it is tmpfs
    whatever the guest's /tmp is."""
    if kind == "tmpfs":
        make = ('d=$(mktemp -d /tmp/pmscan-tmpfs.XXXXXX) && '
                'mount -t tmpfs pmscan-tmpfs "$d"')
    else:
        make = f'd=$(mktemp -d -p "${pagecache.ENV}" pmscan-run.XXXXXX)'
    return f'{make} && findmnt -n -o FSTYPE -T "$d" | tail -n 1 && echo "$d"'


def _guest_workdir(s: Session, kind: str) -> tuple[str, str, str]:
    """(path, filesystem type, problem) of a fresh ``kind`` directory in the guest."""
    res = s.cmd(guest_workdir_script(kind), timeout=60)
    lines = res.output.strip().splitlines()
    if res.status != 0 or len(lines) < 2:
        return "", "", f"making the {kind} working directory failed: {res.output.strip()}"
    fs, path = lines[-2].strip(), lines[-1].strip()
    return path, fs, check_workdir(kind, fs)


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
        record_not_run(programs, kernel.name, outdir)
        programs = [p for p in programs if kernel.name in p.targets]
        for i, prog in enumerate(programs):
            say(f"{kernel.name}: running {prog.name}")
            out = outdir / f"{prog.name}.out"
            argv = " ".join(shlex.quote(a) for a in prog.argv)
            try:
                cwd = str(lay.out)
                if prog.workdir:
                    cwd, fs, problem = _guest_workdir(s, prog.workdir)
                    if problem:
                        out.write_text(problem + "\n")
                        (outdir / f"{prog.name}.status").write_text("not run\n")
                        continue
                    (outdir / f"{prog.name}.fs").write_text(fs + "\n")
                res = s.cmd(f"cd {shlex.quote(cwd)} && {argv} > {out} 2>&1",
                            timeout=prog.timeout)
                status = str(res.status)
                if res.status > 128:
                    status = f"signal {res.status - 128}"
                if prog.workdir:
                    q = shlex.quote(cwd)
                    s.cmd(f"cd /; umount {q} 2>/dev/null; rm -rf {q}", timeout=120)
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


def record_not_run(programs: list[Program], target: str, outdir: Path) -> None:
    """Programs that say why they do not run on ``target``: recorded as not run."""
    for prog in programs:
        if target not in prog.targets and prog.not_run_reason:
            (outdir / f"{prog.name}.out").write_text(prog.not_run_reason + "\n")
            (outdir / f"{prog.name}.status").write_text("not run\n")


def host_has_root() -> bool:
    return os.geteuid() == 0
