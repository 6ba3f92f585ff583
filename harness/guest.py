"""Stage 5: booting a kernel under virtme-ng and running commands in it.

Two ways in:

- ``run()``: one boot, one shell script, its output and exit status back.
- ``Session``: one boot driven through its console with pexpect, for a
  sequence of commands that share the boot (the selftests, then dmesg).

The exit status never depends on virtme-ng's script I/O ports alone: every
command is wrapped so that it prints a sentinel carrying its status, which
the harness reads back from whatever channel the output came through.

Every boot has a timeout. A guest that hangs is killed, and the error shows
the last console lines; a kernel panic is reported as such.

Every boot also gets a page-cache directory of its own: a host directory
shared writable with the guest, named in the guest's environment as
``PMSCAN_PAGECACHE_DIR`` (see ``pagecache.py``) and removed after the boot.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pexpect

from . import pagecache
from .accel import TCG_ONE_THREAD, kvm_usable
from .errors import GuestError, GuestPanic, GuestTimeout
from .proc import require

PANIC = re.compile(r"Kernel panic - not syncing[^\n]*")
TAIL_LINES = 30


@dataclass(frozen=True)
class Kernel:
    """A kernel to boot: a bzImage path, or the release of an installed one."""

    name: str
    image: str
    memory: str = "2G"
    cpus: int = 2
    append: tuple[str, ...] = ()
    # Booted beside other guests that need the host's CPUs: under TCG its
    # vCPUs take turns in one host thread (see accel.py for why).
    crowded: bool = False

    def exists(self) -> bool:
        if "/" in self.image:
            return Path(self.image).is_file()
        return Path(f"/boot/vmlinuz-{self.image}").is_file()


@dataclass
class Result:
    """What a command in the guest gave back."""

    status: int
    output: str
    console: str = ""
    elapsed: float = 0.0
    extra: dict[str, str] = field(default_factory=dict)


# The process groups of the guests running now (vng and the QEMU under it).
# A harness stopped by a signal kills them: a TCG guest left behind would run
# on for its whole timeout with nobody reading it, taking the host's CPUs.
_LIVE: set[int] = set()


def kill_all() -> int:
    """Kill every guest of this process that still runs; return how many."""
    groups = _LIVE.copy()  # atomic under the GIL, safe in a signal handler
    _LIVE.clear()
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    return len(groups)


atexit.register(kill_all)


def stop_guests_on_signals() -> None:
    """SIGTERM and SIGINT kill the running guests, then raise KeyboardInterrupt.

    Call it from the main thread. Without it a stopped harness leaves its
    guests running: they are in sessions of their own (so that a timeout can
    kill a guest's whole process group), which the terminal's SIGINT does not
    reach, and SIGTERM ends Python without unwinding anything.
    """
    def stop(signum: int, frame: object) -> None:
        kill_all()
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers belong to the main thread
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)


def vng_path() -> str:
    """vng from the running interpreter's virtualenv, else from PATH."""
    beside = Path(sys.executable).parent / "vng"
    if beside.is_file():
        return str(beside)
    require("vng")
    return "vng"


def vng_env() -> dict[str, str]:
    """The environment for vng: it runs virtme-run from PATH, so put its bin first."""
    env = dict(os.environ)
    bindir = str(Path(vng_path()).parent) if "/" in vng_path() else ""
    if bindir:
        env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    return env


def vng_command(kernel: Kernel, cache: Path, rwdirs: tuple[Path, ...] = (),
                command: str | None = None) -> list[str]:
    require("qemu-system-x86_64")
    cmd = [vng_path(), "--run", kernel.image, "--memory", kernel.memory,
           "--cpus", str(kernel.cpus), "--verbose"]
    image = Path(kernel.image) if "/" in kernel.image else None
    if not kvm_usable(cache, image):
        cmd.append("--disable-kvm")
        if kernel.crowded:
            cmd.append(f"--qemu-opts={TCG_ONE_THREAD}")
    for d in rwdirs:
        cmd += ["--rwdir", str(d)]
    # Oops and warnings end the boot at once, so a test never runs on a
    # kernel that is already broken; the panic is detected and reported.
    # random.trust_cpu: tinyconfig leaves 6.1's RANDOM_TRUST_CPU off, so its
    # CRNG waited for jitter entropy and the guest's first getrandom() (the
    # login shell's start-up) blocked for 70 s of every boot under TCG; with
    # RDRAND credited it is ready at once, as it is in Debian's kernels and
    # in 6.12 (which trusts the CPU by default).
    for arg in ("panic=-1", "oops=panic", "random.trust_cpu=on", *kernel.append):
        cmd += ["--append", arg]
    if command is not None:
        cmd += ["--", command]
    return cmd


# The script guest.run() runs, in the boot's share directory.
SCRIPT_FILE = ".pmscan-guest-script"


def _sentinel() -> str:
    return f"PMSCAN-{uuid.uuid4().hex[:12]}"


def wrap(script: str, tag: str, share: Path | None = None) -> str:
    """Run ``script`` in bash (``share`` its page-cache directory); print
    ``<tag>-STATUS=<n>`` afterwards."""
    quoted = shlex.quote(script)
    if share is None:
        return f"bash -c {quoted}; s=$?; echo; echo {tag}-STATUS=$s"
    mount = shlex.quote(pagecache.guest_mount_script(share))
    return (f"bash -c {mount} || echo 'PMSCAN: the page-cache share was not remounted' >&2; "
            f"{pagecache.ENV}={shlex.quote(str(share))} bash -c {quoted}; "
            f"s=$?; echo; echo {tag}-STATUS=$s")


def parse_status(text: str, tag: str) -> int | None:
    m = re.search(rf"{re.escape(tag)}-STATUS=(\d+)", text)
    return int(m.group(1)) if m else None


def _strip_tag(text: str, tag: str) -> str:
    return re.sub(rf"\n?{re.escape(tag)}-STATUS=\d+\s*", "", text).rstrip("\n") + "\n"


def tail(text: str, n: int = TAIL_LINES) -> str:
    return "\n".join("  | " + ln for ln in text.rstrip().splitlines()[-n:])


def check_panic(kernel: Kernel, console: str) -> None:
    m = PANIC.search(console)
    if m:
        raise GuestPanic(f"{kernel.name} kernel panicked: {m.group(0)}\n{tail(console)}",
                         "the console above shows the report that led to the panic")


def run(kernel: Kernel, script: str, cache: Path, timeout: float = 600,
        rwdirs: tuple[Path, ...] = ()) -> Result:
    """Boot ``kernel``, run ``script`` with bash, power off; return its status and output."""
    if not kernel.exists():
        raise GuestError(f"kernel image {kernel.image} ({kernel.name}) does not exist",
                         "build it first ('python -m harness build') or install the package")
    tag = _sentinel()
    share = pagecache.guest_share(cache)
    # virtme-ng hands the command to the guest on the kernel command line,
    # which 6.1 cuts at 2048 bytes (a cut one loses root= and the boot
    # panics): the script goes in a file of the boot's share instead.
    script_file = share / SCRIPT_FILE
    script_file.write_text(script)
    cmd = vng_command(kernel, cache, (*rwdirs, share),
                      wrap(f"bash {shlex.quote(str(script_file))}", tag, share))
    started = time.monotonic()
    try:
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, start_new_session=True,
                              env=vng_env()) as p:
            _LIVE.add(p.pid)
            try:
                out_b, err_b = p.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                out_b, err_b = p.communicate()
                console = (err_b + out_b).decode(errors="replace")
                raise GuestTimeout(
                    f"{kernel.name} guest did not finish within {timeout:.0f}s and was "
                    f"killed; last console lines:\n{tail(console)}",
                    "a hung boot or a hung command: see the console above",
                ) from None
            finally:
                _LIVE.discard(p.pid)
    finally:
        pagecache.remove_share(share)
    out = out_b.decode(errors="replace")
    err = err_b.decode(errors="replace")
    console = err + out
    check_panic(kernel, console)
    status = parse_status(out, tag)
    if status is None:
        status = parse_status(console, tag)
    if status is None:
        raise GuestError(
            f"{kernel.name} guest ended (vng exit {p.returncode}) without the command's "
            f"exit status; last console lines:\n{tail(console)}",
            "the guest died or never ran the command: see the console above",
        )
    output = out if tag in out else _console_output(console, tag)
    return Result(status=status, output=_strip_tag(output, tag), console=console,
                  elapsed=time.monotonic() - started)


@dataclass
class Each:
    """One command of ``run_each``: its output and exit status, from its directory."""

    output: str
    status: int


@dataclass
class EachRun:
    """What ``run_each`` gave back: the boot's result, the kernel's release and
    log (read after the last command), and each command's own result."""

    result: Result
    release: str
    log: str
    each: list[Each]


def run_each(kernel: Kernel, setup: str, commands: Sequence[tuple[str, Path]], cache: Path,
             timeout: float) -> EachRun:
    """Boot ``kernel`` once, run ``setup``, then each (command, directory) in
    turn, its output and exit status kept in that directory (shared read-write).

    The script's status is the last non-zero one; the kernel log is read after
    the last command, so a kernel report counts against every command of the boot.
    """
    first = commands[0][1]
    lines = [setup, f"uname -r > {shlex.quote(str(first / 'release'))}", "st=0"]
    for command, outdir in commands:
        out, code = (shlex.quote(str(outdir / n)) for n in ("output.txt", "status"))
        lines.append(f"( {command} ) > {out} 2>&1\ns=$?; echo $s > {code}; cat {out}\n"
                     "[ $s -ne 0 ] && st=$s")
    dmesg = first / "dmesg.txt"
    lines.append(f"dmesg > {shlex.quote(str(dmesg))} 2>&1\nexit $st\n")
    res = run(kernel, "\n".join(lines), cache, timeout=timeout,
              rwdirs=tuple(outdir for _, outdir in commands))

    def read(path: Path, default: str) -> str:
        return path.read_text(errors="replace") if path.exists() else default

    each = [Each(read(outdir / "output.txt", res.output),
                 int(read(outdir / "status", str(res.status)).strip() or res.status))
            for _, outdir in commands]
    return EachRun(res, read(first / "release", kernel.image).strip(),
                   read(dmesg, res.console), each)


def _console_output(console: str, tag: str) -> str:
    """The command's output when it came over the serial console."""
    end = console.find(f"{tag}-STATUS=")
    start = console.rfind("starting script", 0, end)
    start = console.find("\n", start) + 1 if start >= 0 else 0
    return console[start:end]


class Session:
    """One interactive boot; ``cmd()`` runs a command and returns a Result."""

    PROMPT = "PMSCAN-PROMPT# "

    def __init__(self, kernel: Kernel, cache: Path, boot_timeout: float = 300,
                 rwdirs: tuple[Path, ...] = (), log: Path | None = None) -> None:
        if not kernel.exists():
            raise GuestError(f"kernel image {kernel.image} ({kernel.name}) does not exist",
                             "build it first or install the package")
        self.kernel = kernel
        self.console = ""
        self.share = pagecache.guest_share(cache)
        argv = vng_command(kernel, cache, (*rwdirs, self.share))
        self._log = open(log, "w") if log else None  # noqa: SIM115 (closed in close())
        self.child = pexpect.spawn(argv[0], argv[1:], encoding="utf-8",
                                   codec_errors="replace", timeout=boot_timeout,
                                   dimensions=(50, 250), env=vng_env(), echo=False)
        _LIVE.add(self.child.pid)  # a session of its own: its pid is the group
        if self._log:
            self.child.logfile_read = self._log
            self._log.reconfigure(line_buffering=True)
        self._boot(boot_timeout)

    def _expect(self, pattern: str, timeout: float) -> None:
        try:
            self.child.expect(pattern, timeout=timeout)
        except pexpect.TIMEOUT:
            self.console += self.child.before or ""
            self.close(graceful=False)
            raise GuestTimeout(
                f"{self.kernel.name} guest: no answer within {timeout:.0f}s; "
                f"last console lines:\n{tail(self.console)}",
                "a hung boot or a hung command: see the console above",
            ) from None
        except pexpect.EOF:
            self.console += self.child.before or ""
            self.close()
            check_panic(self.kernel, self.console)
            raise GuestError(
                f"{self.kernel.name} guest exited unexpectedly; last console lines:\n"
                f"{tail(self.console)}",
                "see the console above",
            ) from None
        self.console += (self.child.before or "") + (self.child.after or "")
        check_panic(self.kernel, self.console)

    def _boot(self, timeout: float) -> None:
        # The shell's first prompt; then a plain shell (no line editing,
        # whose escape sequences and echo would mix with the output) with a
        # prompt of our own that no output can be mistaken for.
        self._expect(r"[#$] ", timeout)
        share = shlex.quote(str(self.share))
        self.child.sendline(f"exec env PS1='{self.PROMPT}' PS2='' {pagecache.ENV}={share} "
                            "bash --norc --noprofile --noediting")
        self._expect(re.escape(self.PROMPT), 60)
        self.child.sendline("stty -echo")
        self._expect(re.escape(self.PROMPT), 60)
        res = self.cmd(pagecache.guest_mount_script(self.share), timeout=60)
        if res.status != 0:
            self.close()
            raise GuestError(f"{self.kernel.name} guest: mounting the page-cache share "
                             f"{self.share} failed:\n{res.output}",
                             "the kernel needs CONFIG_9P_FS (or virtio-fs) for --rwdir")

    def cmd(self, command: str, timeout: float = 600) -> Result:
        tag = _sentinel()
        started = time.monotonic()
        # A group, so a multi-line command runs whole in this shell.
        line = f"{{ {command}\n}}; echo {tag}-STATUS=$?"
        self.child.sendline(line)
        self._expect(rf"{tag}-STATUS=(\d+)[\r\n]", timeout)
        before = self.console.rsplit(f"{tag}-STATUS=", 1)[0]
        text = before.rsplit(self.PROMPT, 1)[-1].replace("\r", "")
        # The serial line may echo what was typed: drop that echo.
        if text.startswith(line):
            text = text[len(line):].removeprefix("\n")
        status = int(self.child.match.group(1)) if self.child.match else -1
        self._expect(re.escape(self.PROMPT), 60)
        return Result(status=status, output=text, elapsed=time.monotonic() - started)

    def close(self, graceful: bool = True) -> None:
        """Power the guest off (or, not ``graceful``, kill it at once)."""
        if graceful and self.child.isalive():
            try:
                self.child.sendline("poweroff -f")
                self.child.expect(pexpect.EOF, timeout=30)
            except (pexpect.TIMEOUT, pexpect.EOF, OSError):
                pass
        if self.child.isalive() or not self.child.closed:
            self.child.close(force=True)
        _LIVE.discard(self.child.pid)
        if self._log:
            self._log.close()
            self._log = None
        pagecache.remove_share(self.share)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
