"""Running external commands (captured, or streamed line by line), and progress.

Progress lines go through `say`. They go to stderr, unless a sink takes them
(the pytest plugin hands them to its terminal reporter, past pytest's
capture). While a long step runs inside `activity`, a heartbeat thread says
how far it is whenever nothing was said for `HEARTBEAT` seconds, so a user
never watches a silent terminal for long.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import ToolMissing

# Which Debian package provides a command, for the "what to do" of errors.
PACKAGES = {
    "git": "git",
    "make": "make",
    "gcc": "gcc",
    "ccache": "ccache",
    "flex": "flex",
    "bison": "bison",
    "bc": "bc",
    "rsync": "rsync",
    "dpkg-deb": "dpkg",
    "apt-get": "apt",
    "qemu-system-x86_64": "qemu-system-x86",
    "udevadm": "udev",
    "vng": "virtme-ng (pip, installed into .venv by 'make setup')",
    "xz": "xz-utils",
}


def require(*tools: str) -> None:
    """Fail with the package to install when a command is not on PATH."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pkgs = sorted({PACKAGES.get(t, t) for t in missing})
        raise ToolMissing(
            f"missing command(s): {', '.join(missing)}",
            f"install {', '.join(pkgs)} (or run 'make setup', which installs everything)",
        )


def run(
    cmd: Sequence[str | Path],
    cwd: Path | None = None,
    check: bool = False,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing stdout and stderr together as text."""
    return subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        check=check,
        env=env,
        timeout=timeout,
        text=True,
        errors="replace",
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def stream(
    cmd: Sequence[str | Path],
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    on_line: Callable[[str], None] | None = None,
) -> tuple[int, list[str]]:
    """Run a command, handing each output line to ``on_line``; return (status, lines)."""
    lines: list[str] = []
    with subprocess.Popen(
        [str(c) for c in cmd],
        cwd=cwd,
        env=env,
        text=True,
        errors="replace",
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    ) as p:
        assert p.stdout is not None
        for line in p.stdout:
            line = line.rstrip("\n")
            lines.append(line)
            if on_line is not None:
                on_line(line)
    return p.returncode, lines


Sink = Callable[[str], None]

# Seconds without a progress line before the heartbeat speaks.
HEARTBEAT = 15.0


@dataclass
class _Activity:
    status: Callable[[], str] | None
    since: float
    label: str = ""
    last: str = ""  # the last line its thread said
    said: float = 0.0  # when


class _Progress:
    """Where progress lines go, and what the long steps running now last said."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.sink: Sink | None = None
        self.last_line = time.monotonic()
        self.activities: dict[int, list[_Activity]] = {}
        self.beating = False

    def emit(self, msg: str) -> None:
        with self.lock:
            self.last_line = time.monotonic()
            for act in self.activities.get(threading.get_ident(), []):
                act.last, act.said = msg, self.last_line
            if self.sink is not None:
                self.sink(msg)
            else:
                print(msg, file=sys.stderr, flush=True)

    def beat(self) -> str | None:
        """The heartbeat's line, if one is due."""
        with self.lock:
            now = time.monotonic()
            if now - self.last_line < HEARTBEAT:
                return None
            parts = []
            for stack in self.activities.values():
                act = stack[-1]
                if act.status is not None:
                    parts.append(act.status())
                    continue
                last = f"{act.last} ({now - act.said:.0f}s ago)" if act.last else ""
                if act.label:
                    # What it said since it began, if anything.
                    part = f"{act.label} ({now - act.since:.0f}s)"
                    if act.last and act.said >= act.since:
                        part += f", last: {last}"
                    parts.append(part)
                else:
                    parts.append(last or f"working ({now - act.since:.0f}s)")
            if not parts:
                return None
            return "still working: " + "; ".join(parts)

    def heartbeat(self) -> None:
        while True:
            time.sleep(1.0)
            line = self.beat()
            if line is not None:
                self.emit(line)


_progress = _Progress()


def say(msg: str) -> None:
    """Progress for humans, on stderr so stdout stays machine-readable (or to the sink)."""
    _progress.emit(msg)


def set_sink(sink: Sink | None) -> Sink | None:
    """Send progress lines to ``sink`` (None: stderr); return the previous sink."""
    with _progress.lock:
        previous, _progress.sink = _progress.sink, sink
        return previous


@contextmanager
def activity(status: Callable[[], str] | None = None, label: str = "") -> Iterator[None]:
    """Mark a long step of this thread: the heartbeat reports on it while it runs.

    ``status`` says how far the step is ("812 objects", "57 of 200 seeds");
    without it the heartbeat names ``label`` and how long it has run, and
    repeats the thread's last line and its age.
    """
    ident = threading.get_ident()
    act = _Activity(status, time.monotonic(), label)
    with _progress.lock:
        stack = _progress.activities.setdefault(ident, [])
        if stack:  # a step inside a step: what the thread said last still holds
            act.last, act.said = stack[-1].last, stack[-1].said
        stack.append(act)
        if not _progress.beating:
            _progress.beating = True
            threading.Thread(target=_progress.heartbeat, name="pmscan-heartbeat",
                             daemon=True).start()
    try:
        yield
    finally:
        with _progress.lock:
            stack = _progress.activities[ident]
            stack.remove(act)
            if not stack:
                del _progress.activities[ident]
