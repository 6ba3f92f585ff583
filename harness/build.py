"""Stage 4: building the kernel and installing its uapi headers.

``make bzImage`` through ccache, then ``make headers_install`` into the
tree's ``usr/include``, which the selftests compile against. Progress is the
count of objects built; a failure shows the compiler's first errors.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

from .errors import BuildError
from .proc import activity, require, say, stream

_OBJ = re.compile(r"^\s+(CC|AS|LD|AR|HOSTCC|OBJCOPY)\s")
_ERROR = re.compile(r"(error:|Error \d+|undefined reference|\*\*\*)")


def bzimage(tree: Path) -> Path:
    """The image of a tree built in place, or of an object tree (``O=``)."""
    return tree / "arch" / "x86" / "boot" / "bzImage"


def first_errors(lines: list[str], limit: int = 25, pattern: re.Pattern[str] = _ERROR,
                 before: int = 5) -> str:
    """The first compiler errors (lines matching ``pattern``), with ``before`` lines ahead."""
    hits = [i for i, ln in enumerate(lines) if pattern.search(ln)]
    if not hits:
        return "\n".join(lines[-limit:])
    start = max(0, hits[0] - before)
    return "\n".join(lines[start:start + limit])


def make_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CCACHE_DIR", str(Path.home() / ".cache" / "ccache"))
    # Several worktrees of one source hit the same cache entries.
    env.setdefault("CCACHE_BASEDIR", str(Path.home()))
    env.setdefault("CCACHE_MAXSIZE", "5G")
    return env


def _make(tree: Path, targets: list[str], what: str, jobs: int,
          objtree: Path | None = None) -> None:
    use_ccache = shutil.which("ccache") is not None
    cmd: list[str | Path] = ["make", "-C", tree, f"-j{jobs}"]
    if objtree is not None:
        cmd.append(f"O={objtree}")
    if use_ccache:
        cmd.append("CC=ccache gcc")
    cmd += targets
    count = 0
    started = time.monotonic()

    def status_line() -> str:
        return f"build: {what}: {count} objects, {time.monotonic() - started:.0f}s"

    def progress(line: str) -> None:
        nonlocal count
        if _OBJ.match(line):
            count += 1
            if count % 200 == 0:
                say(status_line())

    with activity(status_line):
        status, lines = stream(cmd, env=make_env(), on_line=progress)
    if status != 0:
        raise BuildError(
            f"make {' '.join(targets)} failed in {objtree or tree}:\n{first_errors(lines)}",
            "fix the error above in the patch that introduced it, re-export, run again",
        )
    say(f"build: {what}: done ({count} objects, {time.monotonic() - started:.0f}s)")


def build(tree: Path, jobs: int | None = None, objtree: Path | None = None) -> Path:
    """Build ``bzImage`` and install the uapi headers; return the image.

    With ``objtree`` the clean source ``tree`` is built out of tree
    (``make O=``): the objects, the image and the headers go there.
    """
    require("make", "gcc", "flex", "bison", "bc", "rsync")
    out = objtree or tree
    if not (out / ".config").exists():
        raise BuildError(f"{out} has no .config", "run the config stage first")
    n = jobs or os.cpu_count() or 1
    _make(tree, ["bzImage"], "bzImage", n, objtree)
    _make(tree, ["headers_install"], "uapi headers", n, objtree)
    image = bzimage(out)
    if not image.exists():
        raise BuildError(f"make succeeded but {image} is missing", "report this")
    return image
