"""Mainline's own mm selftests, built from linux-source-6.12 and run as targets' programs.

Two programs of mainline's ``tools/testing/selftests/mm`` exercise what the
series backports: ``pagemap_ioctl`` (KTAP) and ``uffd-unit-tests`` (its own
``Testing <test> on <memory>... done`` lines, see ``uffd_unit.py``). They are
built standalone on the host against the 6.12 tree's ``tools/include/uapi``:
the few sources they need are copied from the pristine tree into
``out/upstream/src``, the patches of ``upstream/patches/`` (each one only for
a feature outside the series, documented in its README) are applied there,
and gcc links the binaries into ``out/upstream/bin``. Nothing of mainline's
code is kept in the repository.

Each program runs twice on every target: with its working directory on
tmpfs and on a page-cache filesystem (see ``Program.workdir``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from .errors import SelftestError
from .paths import Layout
from .proc import require, run, say
from .selftests import Program

PREFIX = "upstream-"
WORKDIRS = ("tmpfs", "pagecache")
# uffd-unit-tests never opens a file in its working directory (memfd, anonymous
# and hugetlb memory only): a second run on the page-cache share would repeat
# the same tests, at 5 to 10 minutes per TCG guest.
RUNS: dict[str, tuple[str, ...]] = {"pagemap_ioctl": WORKDIRS, "uffd-unit-tests": ("tmpfs",)}
# On plain 6.1 nothing of these suites counts (upstream_judge.py); pagemap_ioctl
# ends at once there, uffd-unit-tests would take minutes for nothing.
TARGETS: dict[str, tuple[str, ...]] = {
    "pagemap_ioctl": ("host", "ours", "reference", "plain", "mainline"),
    "uffd-unit-tests": ("host", "ours", "reference", "mainline"),
}
NOT_RUN = ("without the series nothing of mainline's suites counts on plain 6.1, "
           "and uffd-unit-tests would take minutes there")
SELFTESTS = Path("tools/testing/selftests")
MM = SELFTESTS / "mm"
# What the two programs are made of, relative to the tree (mm/Makefile's rules).
COMMON = (MM / "vm_util.c", MM / "thp_settings.c")
SOURCES: dict[str, tuple[Path, ...]] = {
    "pagemap_ioctl": (MM / "pagemap_ioctl.c", *COMMON),
    "uffd-unit-tests": (MM / "uffd-unit-tests.c", MM / "uffd-common.c", *COMMON),
}
HEADERS = (SELFTESTS / "kselftest.h", MM / "vm_util.h", MM / "thp_settings.h",
           MM / "uffd-common.h", Path("mm/gup_test.h"))
# mm/Makefile's CFLAGS and LDLIBS, with the tree's own uapi headers.
CFLAGS = ("-Wall", "-O2", "-U_FORTIFY_SOURCE")
LDLIBS = ("-lrt", "-lpthread", "-lm")
# uffd-unit-tests in full takes 15 to 30 minutes in a TCG guest: by default
# every target runs the tests of the series' area, those whose name has "wp"
# (wp-fork*, wp-unpopulated, minor-wp, sigbus-wp, events-wp), so that ours
# and the reference run the same set. PMSCAN_UPSTREAM_FULL=1 runs them all.
FULL_ENV = "PMSCAN_UPSTREAM_FULL"
GUEST_FILTER = ("-f", "wp")


def argv_for(base: str, binary: Path, full: bool) -> tuple[str, ...]:
    """The command line of ``base``; the guests' filter unless ``full``."""
    if base == "uffd-unit-tests" and not full:
        return (str(binary), *GUEST_FILTER)
    return (str(binary),)


# Seconds per run, for TCG guests under load: the reference guest took 15
# minutes to reach the last tests of uffd-unit-tests with the machine busy.
TIMEOUTS = {"pagemap_ioctl": 900.0, "uffd-unit-tests": 1800.0}
STAMP = ".pmscan-upstream-build"
# uffd-unit-tests' hugetlb cases need 64 free 2M pages (guests set up 64).
HUGEPAGES = 64


def program_name(base: str, workdir: str) -> str:
    """``upstream-pagemap_ioctl-tmpfs``: the name of one run of a program."""
    return f"{PREFIX}{base}-{workdir}"


def split_name(name: str) -> tuple[str, str] | None:
    """(program, workdir) of an upstream run's name, None for any other program."""
    if not name.startswith(PREFIX):
        return None
    for base in SOURCES:
        for workdir in WORKDIRS:
            if name == program_name(base, workdir):
                return base, workdir
    return None


def patch_dir(lay: Layout) -> Path:
    return lay.repo / "upstream" / "patches"


def patch_files(lay: Layout) -> list[Path]:
    """The adaptation patches, in the order they apply (their names sort)."""
    return sorted(patch_dir(lay).glob("*.patch"))


def build_dir(lay: Layout) -> Path:
    return lay.out / "upstream"


def _fingerprint(tree: Path, patches: list[Path]) -> str:
    h = hashlib.sha256()
    for rel in sorted({*HEADERS, *(f for files in SOURCES.values() for f in files)}):
        h.update(str(rel).encode() + b"\0" + (tree / rel).read_bytes())
    for p in patches:
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    # The recipe: flags, and compiled in mm/ under relative names.
    h.update(" ".join(("mm/", *CFLAGS, *LDLIBS)).encode())
    return h.hexdigest()


def _prepare_sources(tree: Path, src: Path, patches: list[Path]) -> None:
    """Copy the needed files out of the pristine tree and apply the patches there."""
    if src.exists():
        shutil.rmtree(src)
    for rel in {*HEADERS, *(f for files in SOURCES.values() for f in files)}:
        if not (tree / rel).is_file():
            raise SelftestError(f"{tree} has no {rel}",
                                f"remove {tree} so that it is unpacked again")
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(tree / rel, src / rel)
    for p in patches:
        res = run(["patch", "-p1", "--forward", "--batch", "-d", src, "-i", p])
        if res.returncode != 0:
            raise SelftestError(
                f"upstream patch {p.name} does not apply to {tree.name}:\n{res.stdout[-2000:]}",
                f"refresh {p} against the pinned linux-source-6.12 "
                "(see upstream/patches/README.md)")


def build(lay: Layout, tree: Path) -> list[Program]:
    """Build both programs from the 6.12 ``tree`` (once per change of the tree or
    the patches); their runs. ``pipeline.mainline_tree()`` gives the tree."""
    require("gcc", "patch")
    uapi = tree / "tools" / "include" / "uapi"
    if not (uapi / "linux" / "userfaultfd.h").is_file():
        raise SelftestError(f"{uapi} has no linux/userfaultfd.h",
                            f"{tree} is not a whole linux-source-6.12 tree: remove it and retry")
    out = build_dir(lay)
    src, bindir = out / "src", out / "bin"
    patches = patch_files(lay)
    stamp = out / STAMP
    fingerprint = _fingerprint(tree, patches)
    binaries = {base: bindir / base for base in SOURCES}
    fresh = stamp.exists() and stamp.read_text().strip() == fingerprint
    if not (fresh and all(b.is_file() for b in binaries.values())):
        _prepare_sources(tree, src, patches)
        bindir.mkdir(parents=True, exist_ok=True)
        for base, files in SOURCES.items():
            # Compiled from their directory under their own names, as mm/Makefile
            # does: pagemap_ioctl makes its files at __FILE__ ".tmp0", which must
            # be relative for them to land in the working directory.
            res = run(["gcc", *CFLAGS, "-I", src, "-isystem", uapi, "-o", binaries[base],
                       *(f.relative_to(MM) for f in files), *LDLIBS], cwd=src / MM)
            if res.returncode != 0:
                raise SelftestError(f"building mainline's {base} failed:\n{res.stdout[-3000:]}",
                                    "see the compiler errors above; a missing uapi constant "
                                    "means the tree is not the pinned 6.12")
        stamp.write_text(fingerprint + "\n")
        say(f"upstream: built {', '.join(SOURCES)} from {tree} "
            f"with {len(patches)} adaptation patch(es) into {bindir}")
    full = os.environ.get(FULL_ENV) == "1"
    return [Program(program_name(base, workdir), argv_for(base, binary, full),
                    ktap=base == "pagemap_ioctl",
                    timeout=TIMEOUTS[base], needs=("hugepages",), workdir=workdir,
                    hugepages=HUGEPAGES, targets=TARGETS[base], not_run_reason=NOT_RUN)
            for base, binary in binaries.items() for workdir in RUNS[base]]
