"""Compiling chosen objects of a kernel tree out of tree (``make O=``), W=1.

Used by the config matrix, the per-patch build and the newest-6.1 check:
``make prepare``, then ``make W=1 [KCFLAGS=-Werror] <objects>``, through
ccache, for the native or a cross architecture. A failure shows the
compiler's first error or warning with the lines around it.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .build import first_errors, make_env
from .errors import BuildError
from .proc import require, say, stream

_PROBLEM = re.compile(r"(error:|warning:|Error \d+|undefined reference|\*\*\*)")
_OBJ = re.compile(r"^\s+CC\s+(\S+\.o)$")


@dataclass(frozen=True)
class Arch:
    """The ``make`` variables that pick the architecture and its compiler."""

    arch: str = ""  # '' is the host's
    cross_compile: str = ""

    @property
    def srcarch(self) -> str:
        """The arch/ directory: i386 and x86_64 are both x86."""
        if self.arch in ("", "i386", "x86_64"):
            return "x86"
        return self.arch

    def compiler(self) -> str:
        return f"{self.cross_compile}gcc"

    def make_vars(self) -> list[str]:
        out = []
        if self.arch:
            out.append(f"ARCH={self.arch}")
        if self.cross_compile:
            out.append(f"CROSS_COMPILE={self.cross_compile}")
        return out


def first_problem(lines: list[str], limit: int = 20) -> str:
    """The compiler's first error or warning, with the lines that lead into it."""
    return first_errors(lines, limit, _PROBLEM, before=3)


# A runner takes the command and returns (status, output lines); tests fake it.
Runner = Callable[[list[str]], tuple[int, list[str]]]


def _stream(cmd: list[str]) -> tuple[int, list[str]]:
    return stream(cmd, env=make_env())


@dataclass
class ObjBuild:
    """One source tree built into one object directory for one architecture."""

    src: Path
    objdir: Path
    arch: Arch
    jobs: int = 2
    runner: Runner = _stream

    def _base(self) -> list[str]:
        cc = self.arch.compiler()
        if shutil.which("ccache") is not None:
            cc = f"ccache {cc}"
        return ["make", "-C", str(self.src), f"O={self.objdir}", f"-j{self.jobs}",
                *self.arch.make_vars(), f"CC={cc}"]

    def check_tools(self) -> None:
        require("make", "flex", "bison", "bc")
        if shutil.which(self.arch.compiler()) is None:
            hint = ("install gcc-aarch64-linux-gnu (ci/setup.sh does)"
                    if self.arch.cross_compile.startswith("aarch64") else
                    f"install a compiler named {self.arch.compiler()}")
            raise BuildError(f"the compiler {self.arch.compiler()} is not on PATH", hint)

    def prepare(self) -> None:
        status, lines = self.runner([*self._base(), "-s", "prepare"])
        if status != 0:
            raise BuildError(f"make prepare failed in {self.objdir}:\n{first_problem(lines)}",
                             "check the configuration and the toolchain")

    def objects(self, objs: list[str], werror: bool) -> tuple[list[str], list[str]]:
        """Compile ``objs`` with W=1; return (objects compiled now, warning lines).

        With ``werror`` a warning stops the build and raises, like an error.
        """
        if not objs:
            return [], []
        cmd = [*self._base(), "W=1"]
        if werror:
            cmd.append("KCFLAGS=-Werror")
        started = time.monotonic()
        status, lines = self.runner([*cmd, *objs])
        wanted = set(objs)
        compiled = [m.group(1) for ln in lines if (m := _OBJ.match(ln)) and m.group(1) in wanted]
        warnings = [ln for ln in lines if "warning:" in ln]
        if status != 0:
            raise BuildError(
                f"make W=1{' KCFLAGS=-Werror' if werror else ''} failed in {self.objdir}:\n"
                f"{first_problem(lines)}",
                "fix the warning or error above in the patch that introduced it")
        say(f"kbuild: {len(objs)} objects built ({len(compiled)} compiled, the rest up to date), "
            f"{time.monotonic() - started:.0f}s")
        return compiled, warnings
