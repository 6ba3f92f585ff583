"""The selftest programs: building them and naming what to run.

The series' own programs (``selftests/``) print KTAP. 6.1's own
``tools/testing/selftests/vm/userfaultfd`` is run too, as a regression test
of synchronous uffd-wp and the other modes; it prints no KTAP, so its exit
status is the result (0 pass, 4 skip, anything else fail).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import cwarnings
from .errors import SelftestError
from .paths import Layout
from .proc import activity, require, run, say


@dataclass(frozen=True)
class Program:
    name: str
    argv: tuple[str, ...]
    ktap: bool = True
    timeout: float = 600.0
    needs: tuple[str, ...] = ()  # guest set-up it wants: "hugepages", "swap"
    targets: tuple[str, ...] = ("host", "ours", "reference", "plain", "mainline")
    # The working directory's filesystem: "" the output directory, "tmpfs" a
    # fresh tmpfs directory, "pagecache" a fresh directory under
    # PMSCAN_PAGECACHE_DIR (a page-cache filesystem; see pagecache.py).
    workdir: str = ""
    hugepages: int = 0  # free 2M hugetlb pages it needs on the host (guests have 64)
    # Set: on a target outside ``targets`` it is recorded as not run, with this reason.
    not_run_reason: str = ""


def build_dir(lay: Layout) -> Path:
    return lay.out / "selftests"


def build(lay: Layout, tree: Path) -> list[Program]:
    """Build ``selftests/`` against ``tree``'s uapi headers, and 6.1's userfaultfd test.

    Ours build with -Werror (see cwarnings); 6.1's userfaultfd.c as 6.1 has it.
    """
    require("make", "gcc")
    if not (tree / "usr" / "include" / "linux").is_dir():
        raise SelftestError(f"{tree}/usr/include has no uapi headers",
                            "run the build stage first (it runs 'make headers_install')")
    out = build_dir(lay)
    say(f"selftests: building {lay.selftests} against {tree}/usr/include")
    with activity():
        res = cwarnings.make(["make", "-C", lay.selftests, f"KSRC={tree}", f"O={out}", "-j2"])
    if failed := cwarnings.failure("selftests/", res):
        raise SelftestError(*failed)
    names = run(["make", "-s", "-C", lay.selftests, "list"]).stdout.split()
    programs = [Program(n, (str(out / n),), needs=("hugepages", "swap")) for n in names]
    with activity(lambda: "selftests: building 6.1's vm/userfaultfd"):
        programs += _upstream_userfaultfd(tree, out)
    say(f"selftests: built {len(programs)} programs into {out}")
    return programs


def _upstream_userfaultfd(tree: Path, out: Path) -> list[Program]:
    vm = tree / "tools" / "testing" / "selftests" / "vm"
    binary = out / "upstream-userfaultfd"
    res = run(["gcc", "-O2", "-isystem", tree / "usr" / "include", "-I", vm,
               "-o", binary, vm / "userfaultfd.c", vm / "vm_util.c", "-lpthread"])
    if res.returncode != 0:
        raise SelftestError(f"building 6.1's vm/userfaultfd failed:\n{res.stdout[-3000:]}",
                            "the series broke the 6.1 selftest's build: fix the uapi change")
    return [
        # A regression test of the 6.1 tree: it runs on our kernel only
        # (6.1's test does not know mainline's newer features). 16 MiB and
        # 4 bounces (run_vmtests.sh: 20 MiB, 16 bounces) keep it within a
        # minute or two under TCG; it is the longest part of our guest's run.
        Program(f"userfaultfd-{mode}", (str(binary), mode, "16", "4"), ktap=False,
                timeout=300, needs=("hugepages",) if mode == "hugetlb" else (),
                targets=("ours",))
        for mode in ("anon", "shmem", "hugetlb")
    ]
