"""The series' selftests the way a maintainer runs them: 6.1's kselftest make.

The selftests patch adds the programs to ``tools/testing/selftests/vm``. This module
builds them with ``make -C tools/testing/selftests TARGETS=vm`` in the
patched build tree (on the host, against the tree's installed uapi headers)
and runs ``make ... run_tests`` in a guest, where 6.1's kselftest runner
prints one TAP line per program (``ok 4 selftests: vm: pagemap_scan_wp``).

Only the series' programs and 6.1's own TEST_GEN_PROGS run:
``TEST_GEN_FILES=`` and ``TEST_PROGS=`` on the command line leave out
run_vmtests.sh and the programs only it starts (the whole 6.1 vm suite,
which needs more than a tinyconfig kernel has and hours under TCG).
"""

from __future__ import annotations

import shlex
from pathlib import Path

from . import ktap
from .errors import SelftestError
from .guest import Kernel, Session
from .paths import Layout
from .proc import require, run, say
from .selftests_patch import read_sources

SELFTESTS = Path("tools/testing/selftests")
# Restrict the run to the TEST_GEN_PROGS (see the module docstring).
RESTRICT = ("TEST_GEN_FILES=", "TEST_PROGS=")
# The runner's name for a program's result line.
PREFIX = "selftests: vm: "


def make_argv(tree: Path, goal: str) -> list[str]:
    return ["make", "-C", str(tree / SELFTESTS), "TARGETS=vm", *RESTRICT, goal]


def series_programs(lay: Layout) -> tuple[str, ...]:
    return read_sources(lay.selftests).programs


def build(lay: Layout, tree: Path) -> None:
    """Build the vm selftests of the patched tree on the host."""
    require("make", "gcc")
    if not (tree / "usr" / "include" / "linux").is_dir():
        raise SelftestError(f"{tree}/usr/include has no uapi headers",
                            "run 'python -m harness build' first")
    missing = [p for p in series_programs(lay)
               if not (tree / SELFTESTS / "vm" / f"{p}.c").is_file()]
    if missing:
        raise SelftestError(f"{tree} lacks {', '.join(missing)} in {SELFTESTS}/vm",
                            "the selftests patch is not applied: run 'python -m harness build'")
    res = run(make_argv(tree, "all"))
    if res.returncode != 0:
        raise SelftestError(f"building 6.1's vm selftests failed:\n{res.stdout[-3000:]}",
                            "fix the build errors above")
    say(f"intree: built {SELFTESTS}/vm in {tree}")


def parse(output: str) -> dict[str, ktap.TestCase]:
    """The runner's result per program, by program name, with its cases as children.

    The runner's output is nested KTAP (each program's own lines indented
    with ``# ``), which the project's parser reads like any other.
    """
    run = ktap.parse(output)
    return {c.name.removeprefix(PREFIX): c for c in run.cases if c.name.startswith(PREFIX)}


def describe(case: ktap.TestCase) -> str:
    """One line: the runner's verdict and the program's own counts."""
    return (f"{case.label}: {case.status.name}{' ' + case.reason if case.reason else ''} "
            f"({ktap.Counts.of(case.children)})")


def run_in_guest(lay: Layout, tree: Path, kernel: Kernel, setup: str,
                 timeout: float = 1800) -> tuple[int, str]:
    """``make run_tests`` in a guest booted from ``kernel``; (status, output)."""
    log = lay.out / f"intree-{kernel.name}.console.log"
    out = lay.out / f"intree-{kernel.name}.out"
    with Session(kernel, lay.cache, rwdirs=(lay.out,), log=log) as s:
        s.cmd(setup)
        cmd = " ".join(shlex.quote(a) for a in make_argv(tree, "run_tests"))
        res = s.cmd(f"{cmd} > {shlex.quote(str(out))} 2>&1", timeout=timeout)
    return res.status, out.read_text(errors="replace")
