"""Running external commands: captured, or streamed line by line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
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


def say(msg: str) -> None:
    """Progress for humans, on stderr so stdout stays machine-readable."""
    print(msg, file=sys.stderr, flush=True)
