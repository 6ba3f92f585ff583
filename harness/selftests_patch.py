"""The selftests patch: the series' selftests, generated from ``selftests/``.

The C sources live once, in ``selftests/``. ``generate`` writes them into a
kernel work tree's ``tools/testing/selftests/vm/`` (6.1's name for mm/),
merges ``vm_util.add.c``/``.h`` into 6.1's vm_util.c/.h (with the rule of
``selftests/vm_util.mk``, the one the out-of-tree build uses), wires the
programs into vm/Makefile, vm/.gitignore and vm/run_vmtests.sh, and
commits the result on top of the kernel patches (amending its own commit when
run again). ``patches.export`` then turns the tree into ``patches/``.

``verify`` reads the exported patch back and lists where it and
``selftests/`` disagree, so a change to one without the other is caught.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import PatchError
from .patches import read_series
from .proc import require, run
from .source import BASELINE_TAG

VM_DIR = "tools/testing/selftests/vm"
SUBJECT = "selftests: vm: add PAGEMAP_SCAN and async uffd-wp tests"

# One line per program for the commit message. A program added to
# selftests/Makefile must be described here, or generate() refuses to run:
# the message says what the patch adds and must not silently fall behind.
DESCRIPTIONS = {
    "uffd_wp_fixes": "reproducers of the 6.1 bugs the series' first patches fix, with "
                     "synchronous uffd-wp only: a hugetlb write in a child forked "
                     "without EVENT_FORK, a read-only pin unsharing a protected "
                     "hugetlb page, un-protecting shmem under soft-dirty tracking",
    "uffd_minor_wp": "UFFDIO_CONTINUE_MODE_WP on shmem and hugetlb: the page is mapped "
                     "write-protected, the next write is a write-protect fault, and "
                     "the mode needs a range registered for write-protect",
    "uffd_wp_async": "asynchronous uffd-wp on every memory type it covers: writes are "
                     "resolved by the kernel without a message, land, and clear the "
                     "uffd-wp bit of exactly the pages written",
    "pagemap_scan_args": "argument checking of the ioctl: every error case, which error "
                         "wins when several apply, where walk_end points afterwards",
    "pagemap_scan_types": "the page categories reported for each memory type and page "
                          "state, and the masks that select and report them",
    "pagemap_scan_wp": "get-and-write-protect as a tracker of written memory uses it: "
                       "exact results, resuming from walk_end, huge pages, a write "
                       "racing with the scan",
    "pagemap_scan_security": "who may scan: the pagemap permission rules (another uid, a "
                             "non-dumpable process) hold for the ioctl, an open file keeps "
                             "its target (SCM_RIGHTS, exec, exit), no PFN is ever reported",
    "pagemap_scan_vma": "protections across VMA changes: mprotect of all or part of a "
                        "range and PROT_NONE keep them, mremap moves, grows and shrinks "
                        "behave as mainline",
    "write_watch": "a GetWriteWatch()-style API built on the ioctl (get, get and reset, "
                   "a caller's count, sub-ranges, ResetWriteWatch) and its tests on "
                   "anonymous, shmem, hugetlb and page-cache file memory",
}

_BODY_HEAD = """\
Add selftests for the PAGEMAP_SCAN ioctl on /proc/<pid>/pagemap and for
asynchronous userfaultfd write-protection (UFFD_FEATURE_WP_ASYNC together
with UFFD_FEATURE_WP_UNPOPULATED), both added earlier in this series:
"""

_BODY_TAIL = """\
The shared set-up (areas of each memory type, uffd-wp registration,
PAGEMAP_SCAN result checks, swapping pages out) extends vm_util.c and
vm_util.h, on top of their pagemap, soft-dirty and THP helpers; every
program links vm_util.c. pagemap_scan.h takes the uapi definitions from
the installed kernel headers and supplies them itself where the headers
predate them, so the programs build against any kernel's headers.

The programs print KTAP. On a kernel without the features (the ioctl fails
with ENOTTY, or UFFDIO_API does not report UFFD_FEATURE_WP_ASYNC) the
affected cases are reported as SKIP with the reason instead of failing,
and so are cases whose resources are missing (hugetlb pages, transparent
huge pages, swap). run_vmtests.sh runs them while the hugetlb pages it
reserves are still set aside.
"""


@dataclass(frozen=True)
class Sources:
    """What ``selftests/`` holds: the programs and the files they share."""

    directory: Path
    programs: tuple[str, ...]  # each built from <name>.c
    helpers: tuple[str, ...]  # .c files linked into every program
    headers: tuple[str, ...]
    vm_util_add: tuple[str, ...] = ()  # vm_util.add.c/.h, merged into 6.1's vm_util.c/.h

    def files(self) -> tuple[str, ...]:
        """Every file the selftests patch creates in vm/, by name."""
        return tuple(f"{p}.c" for p in self.programs) + self.helpers + self.headers


def read_sources(selftests: Path) -> Sources:
    """The programs, helpers, headers and vm_util additions ``selftests/Makefile`` names."""
    require("make")
    probe = "pmscan-print-sources"
    res = run(["make", "-s", "--no-print-directory", "-C", selftests, "--eval",
               f"{probe}: ; @echo $(PROGS); echo $(HELPERS); "
               "echo $(filter-out $(VM_UTIL_ADD),$(wildcard *.h)); echo $(VM_UTIL_ADD)", probe])
    lines = res.stdout.splitlines()
    if res.returncode != 0 or len(lines) != 4:
        raise PatchError(f"cannot read PROGS/HELPERS from {selftests}/Makefile:\n{res.stdout}",
                         "selftests/Makefile must define PROGS and HELPERS")
    programs, helpers, headers, vm_util_add = (tuple(ln.split()) for ln in lines)
    if not programs:
        raise PatchError(f"{selftests}/Makefile lists no programs in PROGS",
                         "add the test programs to PROGS")
    src = Sources(selftests, programs, helpers, tuple(sorted(headers)), vm_util_add)
    missing = [n for n in (*src.files(), *vm_util_add) if not (selftests / n).is_file()]
    if missing:
        raise PatchError(f"{selftests}/Makefile names files that do not exist: "
                         f"{', '.join(missing)}", "fix PROGS/HELPERS in selftests/Makefile")
    return src


# -- the edits to 6.1's vm/ files ---------------------------------------------------------


def _insert(text: str, index: int, new: list[str]) -> str:
    lines = text.splitlines()
    return "\n".join(lines[:index] + new + lines[index:]) + "\n"


def _anchor_error(name: str, what: str) -> PatchError:
    return PatchError(f"{VM_DIR}/{name} has no {what}: it is not shaped like 6.1's",
                      f"update harness/selftests_patch.py to this tree's {name}")


# One rule links vm_util.c into every TEST_GEN_PROGS program, ours among them
# (mainline's mm/Makefile has the same rule). Below ``include ../lib.mk``,
# which has prefixed the names with $(OUTPUT)/; 6.1's programs that already
# link vm_util.c are unaffected, as make lists a prerequisite once.
LINK_RULE = "$(TEST_GEN_PROGS): vm_util.c"


def makefile_additions(src: Sources) -> dict[str, list[str]]:
    """The lines added to vm/Makefile, keyed by what they follow."""
    helpers = ([f"$(addprefix $(OUTPUT)/,{' '.join(src.programs)}): {' '.join(src.helpers)}"]
               if src.helpers else [])
    return {
        "headers": [f"LOCAL_HDRS += {' '.join(src.headers)}"] if src.headers else [],
        "progs": [f"TEST_GEN_PROGS += {p}" for p in src.programs],
        "links": [LINK_RULE, *helpers],
    }


def edit_makefile(text: str, src: Sources) -> str:
    """6.1's vm/Makefile with the programs built (TEST_GEN_PROGS) and linked.

    The programs are TEST_GEN_PROGS, so LINK_RULE links vm_util.c into them;
    the helpers, if any, are prerequisites of our programs only. The headers
    join LOCAL_HDRS, which lib.mk makes every program depend on (and filters
    out of the link line).
    """
    add = makefile_additions(src)
    lines = text.splitlines()
    gen = [i for i, ln in enumerate(lines) if re.match(r"TEST_GEN_(PROGS|FILES)\s*\+?=", ln)]
    links = [i for i, ln in enumerate(lines) if re.match(r"\$\(OUTPUT\)/\S+: vm_util\.c$", ln)]
    hdrs = [i for i, ln in enumerate(lines) if ln.startswith("LOCAL_HDRS +=")]
    lib = [i for i, ln in enumerate(lines) if ln.strip() == "include ../lib.mk"]
    if not gen:
        raise _anchor_error("Makefile", "TEST_GEN_PROGS/TEST_GEN_FILES list")
    if not links:
        raise _anchor_error("Makefile", "'$(OUTPUT)/<prog>: vm_util.c' link rules")
    if not lib or links[-1] < lib[0]:
        raise _anchor_error("Makefile", "'$(OUTPUT)/<prog>: vm_util.c' link rules after "
                            "'include ../lib.mk'")
    if add["headers"] and not hdrs:
        raise _anchor_error("Makefile", "LOCAL_HDRS line")
    end = gen[0]  # the end of the first, unconditional run of TEST_GEN_* lines
    while end + 1 in gen:
        end += 1
    at = {"links": links[-1] + 1, "progs": end + 1, "headers": hdrs[-1] + 1 if hdrs else 0}
    # Insert from the bottom up so the indices above stay valid.
    for key in sorted(at, key=lambda k: at[k], reverse=True):
        text = _insert(text, at[key], add[key])
    return text


def gitignore_additions(src: Sources) -> list[str]:
    return list(src.programs)


def edit_gitignore(text: str, src: Sources) -> str:
    return _insert(text, len(text.splitlines()), gitignore_additions(src))


def run_vmtests_additions(src: Sources) -> list[str]:
    return [
        "# PAGEMAP_SCAN and asynchronous uffd-wp: their hugetlb cases use the",
        "# huge pages reserved above, so run them before those are released",
        *(f"run_test ./{p}" for p in src.programs),
        "",
    ]


def edit_run_vmtests(text: str, src: Sources) -> str:
    """Run the programs just before run_vmtests.sh gives the hugetlb pages back."""
    lines = text.splitlines()
    try:
        at = lines.index('umount "$mnt"')
    except ValueError:
        raise _anchor_error("run_vmtests.sh", "'umount \"$mnt\"' (the hugetlb cleanup)") from None
    if at > 0 and lines[at - 1].startswith("#cleanup"):
        at -= 1
    return _insert(text, at, run_vmtests_additions(src))


Edit = Callable[[str, Sources], str]


def vm_util_additions(src: Sources, suffix: str) -> list[str]:
    """The lines vm_util.add.<suffix> adds: all but the comment before its first #include."""
    name = f"vm_util.add.{suffix}"
    if name not in src.vm_util_add:
        return []
    lines = (src.directory / name).read_text().splitlines()
    first = next((i for i, ln in enumerate(lines) if ln.startswith("#include")), len(lines))
    return lines[first:]


def _merge_vm_util(suffix: str) -> Edit:
    def edit(text: str, src: Sources) -> str:
        """6.1's vm_util.<suffix> with the additions merged in by selftests/vm_util.mk."""
        if f"vm_util.add.{suffix}" not in src.vm_util_add:
            return text
        with tempfile.TemporaryDirectory() as tmp:
            base, out = Path(tmp) / "base", Path(tmp) / "out"
            base.mkdir()
            (base / f"vm_util.{suffix}").write_text(text)
            res = run(["make", "-s", "--no-print-directory", "-C", src.directory,
                       f"O={out}", f"VM_BASE={base}", f"{out}/vm_util.{suffix}"])
            if res.returncode != 0:
                raise PatchError(f"merging vm_util.add.{suffix} into vm_util.{suffix} "
                                 f"failed:\n{res.stdout}",
                                 "fix the vm_util_src rule in selftests/vm_util.mk")
            return (out / f"vm_util.{suffix}").read_text()
    return edit


EDITS: dict[str, Edit] = {
    "Makefile": edit_makefile,
    ".gitignore": edit_gitignore,
    "run_vmtests.sh": edit_run_vmtests,
    "vm_util.c": _merge_vm_util("c"),
    "vm_util.h": _merge_vm_util("h"),
}


def commit_message(src: Sources, signoff: str) -> str:
    undescribed = [p for p in src.programs if p not in DESCRIPTIONS]
    if undescribed:
        raise PatchError(f"no commit message text for {', '.join(undescribed)}",
                         "describe the program in DESCRIPTIONS in harness/selftests_patch.py")
    items = []
    for p in src.programs:
        words = f"- {p}: {DESCRIPTIONS[p]}.".split()
        line = ""
        for w in words:  # wrap at 72 columns, continuation indented under the text
            if line and len(line) + 1 + len(w) > 72:
                items.append(line)
                line = "  " + w
            else:
                line = f"{line} {w}" if line else w
        items.append(line)
    return (f"{SUBJECT}\n\n{_BODY_HEAD}\n" + "\n".join(items) + f"\n\n{_BODY_TAIL}\n"
            f"Signed-off-by: {signoff}\n")


# -- generating the commit ----------------------------------------------------------------


def _git(tree: Path, *args: str | Path, stdin: str | None = None) -> str:
    """git's standard output; its messages go into the error when it fails."""
    res = subprocess.run(["git", "-C", str(tree), *map(str, args)], input=stdin, text=True,
                         capture_output=True)
    if res.returncode != 0:
        raise PatchError(f"git {' '.join(map(str, args))} in {tree} failed:\n"
                         f"{res.stderr}{res.stdout}", "check the kernel work tree")
    return res.stdout


def _signoff(tree: Path) -> str:
    """'Name <email>' of git's committer identity in ``tree``."""
    try:
        ident = _git(tree, "var", "GIT_COMMITTER_IDENT").strip()
    except PatchError as e:
        raise PatchError(f"git has no identity in {tree} for the Signed-off-by:\n{e.message}",
                         "set user.name and user.email ('git config --global ...')") from None
    return ident.rsplit(" ", 2)[0]  # drop the timestamp and time zone


def generate(tree: Path, selftests: Path) -> str:
    """Write the selftests into ``tree`` and commit them; return the commit id.

    When HEAD already is the selftests commit it is amended (rebuilt from
    its parent's vm/ files), and left untouched when nothing changed.
    """
    require("git", "make")
    src = read_sources(selftests)
    vm = tree / VM_DIR
    if not (vm / "Makefile").is_file():
        raise PatchError(f"{tree} has no {VM_DIR}/Makefile: is it a 6.1 kernel work tree?",
                         "pass --tree pointing at the kernel work tree")
    amend = _git(tree, "log", "-1", "--format=%s", "HEAD").strip() == SUBJECT
    if not amend and SUBJECT in _series_subjects(tree):
        raise PatchError(f"{tree} has the selftests commit, but not at HEAD",
                         "move it last ('git rebase -i'), so that it is amended, not repeated")
    base = "HEAD~1" if amend else "HEAD"
    ours = [f"{VM_DIR}/{n}" for n in (*src.files(), *EDITS)]
    before = (_git(tree, "diff", "--name-only", "--diff-filter=A", base, "HEAD", "--",
                   VM_DIR).split() if amend else [])
    paths = sorted(set(ours) | set(before))
    dirty = _git(tree, "status", "--porcelain", "--", *paths)
    if dirty.strip():
        raise PatchError(f"{tree} has uncommitted changes in the files the selftests "
                         "patch writes:\n"
                         f"{dirty.rstrip()}",
                         "commit or discard them; the C sources belong in selftests/")
    message = commit_message(src, _signoff(tree))
    try:
        return _write_and_commit(tree, src, base, amend, before, paths, message)
    except BaseException:
        _restore(tree, paths)
        raise


def _series_subjects(tree: Path) -> list[str]:
    """Subjects of the commits since the baseline tag (none when there is no such tag)."""
    res = subprocess.run(["git", "-C", str(tree), "log", "--format=%s", f"{BASELINE_TAG}..HEAD"],
                         capture_output=True, text=True)
    return res.stdout.splitlines() if res.returncode == 0 else []


def _write_and_commit(tree: Path, src: Sources, base: str, amend: bool, before: list[str],
                      paths: list[str], message: str) -> str:
    vm = tree / VM_DIR
    for path in before:
        (tree / path).unlink(missing_ok=True)
    for name in src.files():
        (vm / name).write_bytes((src.directory / name).read_bytes())
    for name, edit in EDITS.items():
        (vm / name).write_text(edit(_git(tree, "show", f"{base}:{VM_DIR}/{name}"), src))
    # -f: Debian's linux-source .gitignore ignores everything at the top level.
    _git(tree, "add", "-f", "-A", "--", *paths)
    unchanged = not _git(tree, "diff", "--cached", "--name-only", "HEAD", "--", *paths).strip()
    if amend and unchanged and _git(tree, "log", "-1", "--format=%B", "HEAD") \
            .strip() == message.strip():
        return _git(tree, "rev-parse", "HEAD").strip()
    _git(tree, "commit", "-q", *(["--amend"] if amend else []), "-F", "-", "--", *paths,
         stdin=message)
    return _git(tree, "rev-parse", "HEAD").strip()


def _restore(tree: Path, paths: list[str]) -> None:
    """Put ``paths`` back as HEAD has them, after a failed generate()."""
    subprocess.run(["git", "-C", str(tree), "reset", "-q", "HEAD", "--", *paths],
                   capture_output=True)
    tracked = set(_git(tree, "ls-tree", "--name-only", "HEAD", "--", *paths).split())
    for path in paths:
        if path in tracked:
            subprocess.run(["git", "-C", str(tree), "checkout", "-q", "HEAD", "--", path],
                           capture_output=True)
        else:
            (tree / path).unlink(missing_ok=True)


# -- reading the patch back ---------------------------------------------------------------


@dataclass
class FileDiff:
    """One file's part of a patch: what it adds and, for a new file, its content."""

    path: str
    new_file: bool = False
    added: list[bytes] = field(default_factory=list)
    new_lines: list[bytes] = field(default_factory=list)
    no_newline_at_end: bool = False

    def content(self) -> bytes:
        if not self.new_lines:
            return b""
        return b"\n".join(self.new_lines) + (b"" if self.no_newline_at_end else b"\n")


_HUNK = re.compile(rb"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")


def parse_patch(data: bytes) -> dict[str, FileDiff]:
    """The files of a ``git format-patch`` patch, by path (the b/ side)."""
    lines = data.split(b"\n")
    files: dict[str, FileDiff] = {}
    cur: FileDiff | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if line.startswith(b"diff --git "):
            cur = FileDiff(path=line.split(b" b/", 1)[-1].decode(errors="replace"))
            files[cur.path] = cur
        elif cur is None:
            continue
        elif line.startswith(b"new file mode"):
            cur.new_file = True
        elif line.startswith(b"+++ b/"):
            del files[cur.path]
            cur.path = line[6:].decode(errors="replace")
            files[cur.path] = cur
        elif m := _HUNK.match(line):
            old = int(m.group(1) or b"1")
            new = int(m.group(2) or b"1")
            last = b""
            while i < len(lines):
                body, tag = lines[i], lines[i][:1]
                if tag == b"\\":  # "\ No newline at end of file", for the line before
                    cur.no_newline_at_end = cur.no_newline_at_end or last in (b"+", b" ")
                    i += 1
                    continue
                if old <= 0 and new <= 0:
                    break
                i += 1
                if tag in (b" ", b""):  # context (an empty line once trailing space is lost)
                    old, new = old - 1, new - 1
                    cur.new_lines.append(body[1:])
                elif tag == b"-":
                    old -= 1
                elif tag == b"+":
                    new -= 1
                    cur.added.append(body[1:])
                    cur.new_lines.append(body[1:])
                else:
                    break
                last = tag
    return files


def _first_difference(got: bytes, want: bytes) -> str:
    a, b = got.split(b"\n"), want.split(b"\n")
    for n, (x, y) in enumerate(zip(a, b, strict=False), start=1):
        if x != y:
            return (f"line {n}: patch has {x.decode(errors='replace')!r}, "
                    f"selftests/ has {y.decode(errors='replace')!r}")
    return (f"the patch has {len(a)} lines, selftests/ has {len(b)}" if len(a) != len(b)
            else "they differ in the newline at the end")


def verify(patch_file: Path, selftests: Path) -> list[str]:
    """Where ``patch_file``, the selftests patch, and ``selftests/`` disagree;
    empty when they agree.

    Every file the patch creates in vm/ must equal its selftests/ source
    byte for byte, every program and helper must be created, and the
    programs must be added to vm/Makefile, .gitignore and run_vmtests.sh.
    """
    src = read_sources(selftests)
    diffs = parse_patch(patch_file.read_bytes())
    created = {p[len(VM_DIR) + 1:]: d for p, d in diffs.items()
               if d.new_file and p.startswith(VM_DIR + "/")}
    problems = []
    for name in src.files():
        d = created.get(name)
        if d is None:
            problems.append(f"{VM_DIR}/{name}: not created by the patch "
                            f"(selftests/{name} is not in it)")
        elif (got := d.content()) != (want := (selftests / name).read_bytes()):
            problems.append(f"{VM_DIR}/{name}: differs from selftests/{name}, "
                            + _first_difference(got, want))
    for name in sorted(set(created) - set(src.files())):
        problems.append(f"{VM_DIR}/{name}: created by the patch but selftests/ has no such "
                        "program or helper")
    wanted = {
        "Makefile": [ln for block in makefile_additions(src).values() for ln in block],
        ".gitignore": gitignore_additions(src),
        "run_vmtests.sh": [ln for ln in run_vmtests_additions(src) if ln.startswith("run_test")],
        "vm_util.c": vm_util_additions(src, "c"),
        "vm_util.h": vm_util_additions(src, "h"),
    }
    for name, lines in wanted.items():
        added = {a.decode(errors="replace") for a in
                 (diffs[f"{VM_DIR}/{name}"].added if f"{VM_DIR}/{name}" in diffs else [])}
        problems += [f"{VM_DIR}/{name}: the patch does not add {ln!r}"
                     for ln in lines if ln not in added]
    return problems


def find_patch(patches: Path) -> Path | None:
    """The selftests patch of ``patches/series``, or None when it has none yet."""
    found = [p for p in read_series(patches) if re.match(r"\d{4}-selftests-", p.name)]
    if len(found) > 1:
        raise PatchError(f"patches/series has several selftests patches: "
                         f"{', '.join(p.name for p in found)}",
                         "the series has one selftests patch; fold them together")
    return found[0] if found else None
