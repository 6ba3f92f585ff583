"""Compiler warnings in the project's own C builds: errors, named by file and line.

A warning in our C code is something a reviewer would send back, and one
that scrolls past in a captured build log goes unseen. So the builds run
with -Werror, the way a kernel developer builds with W=e: a file that warns
is not built, and make fails. -Werror reaches the compiler through the
environment's CFLAGS, which our Makefiles take as their starting value
(``CFLAGS ?= -O2 -g``) and extend with their -W options; sub-makes inherit
it. Should a Makefile stop doing that, a warning in the output still fails
the build (``problems`` finds it).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

from .proc import run

# Our Makefiles' CFLAGS default, kept when -Werror is added to it.
DEFAULT_CFLAGS = "-O2 -g"

# gcc's and clang's "file:line[:col]: warning|error: text" lines.
_DIAGNOSTIC = re.compile(r"^(\S+?:\d+(?::\d+)?): (warning|error): (.*)$", re.MULTILINE)


def werror_env() -> dict[str, str]:
    """The environment with -Werror added to CFLAGS (or to the Makefiles' default)."""
    env = dict(os.environ)
    env["CFLAGS"] = f"{env.get('CFLAGS') or DEFAULT_CFLAGS} -Werror"
    return env


def make(cmd: Sequence[str | Path]) -> subprocess.CompletedProcess[str]:
    """Run a make command with -Werror in CFLAGS; output as ``proc.run`` gives it."""
    return run(cmd, env=werror_env())


def problems(output: str) -> list[str]:
    """The compiler's warnings and errors in ``output``, one 'file:line: text' each."""
    seen: dict[str, None] = {}  # in order, once each (-j output may repeat a header's)
    for where, kind, text in _DIAGNOSTIC.findall(output):
        seen.setdefault(f"{where}: {kind}: {text}", None)
    return list(seen)


def failure(what: str, res: subprocess.CompletedProcess[str]) -> tuple[str, str] | None:
    """(message, hint) when building ``what`` failed or warned; None when it is clean.

    The message names each warning and error by file and line before the
    end of the build's output, so they are seen even when the log is long.
    """
    found = problems(res.stdout)
    if res.returncode == 0 and not found:
        return None
    warned = any(": warning: " in p or "[-Werror" in p for p in found)
    listing = "".join(f"\n  {p}" for p in found)
    message = (f"building {what} failed"
               + (f"; the compiler reports:{listing}" if found else "")
               + f"\n--- end of the build's output ---\n{res.stdout[-3000:]}")
    hint = ("fix the code at the lines named above: the build treats compiler warnings as "
            "errors (-Werror), as a kernel developer's does" if warned
            else "fix the compiler errors above")
    return message, hint
