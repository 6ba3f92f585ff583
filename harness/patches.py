"""Stage 2: the patch series.

``apply`` turns ``patches/`` into commits on a build tree (a git worktree of
the baseline); ``export`` turns a work tree's commits since the baseline
back into ``patches/``, with the cover letter and the ``series`` file.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from .errors import PatchError
from .paths import Layout
from .proc import require, run, say
from .source import BASELINE_TAG

COVER = "0000-cover-letter.patch"
STAMP = "pmscan-series"


def read_series(patches: Path) -> list[Path]:
    """The patches named by ``patches/series``, in order; blank and # lines ignored."""
    series = patches / "series"
    if not series.exists():
        return []
    names = []
    for raw in series.read_text().splitlines():
        name = raw.strip()
        if not name or name.startswith("#"):
            continue
        path = patches / name
        if not path.is_file():
            raise PatchError(f"patches/series names {name}, which is not in {patches}",
                             "fix the series file or regenerate it with 'python -m harness export'")
        names.append(path)
    return names


def series_digest(patch_files: list[Path]) -> str:
    h = hashlib.sha256()
    for p in patch_files:
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def _git(tree: Path, *args: str | Path) -> tuple[int, str]:
    res = run(["git", "-C", tree, *args])
    return res.returncode, res.stdout


def ensure_worktree(lay: Layout, profile: str) -> Path:
    """A worktree of the baseline for ``profile``, created on first use."""
    tree = lay.build_tree(profile)
    if (tree / ".git").exists():
        return tree
    if tree.exists():
        raise PatchError(f"{tree} exists but is not a git worktree",
                         f"remove it ('rm -rf {tree}') and run again")
    say(f"patches: creating build tree {tree}")
    rc, out = _git(lay.source, "worktree", "add", "-q", "--detach", tree, BASELINE_TAG)
    if rc != 0:
        raise PatchError(f"git worktree add {tree} failed:\n{out}",
                         f"run 'git -C {lay.source} worktree prune' and retry")
    return tree


def _stamp_path(tree: Path) -> Path:
    rc, gitdir = _git(tree, "rev-parse", "--git-dir")
    # --git-dir may be relative to the tree (".git"), not to our working directory.
    return tree / gitdir.strip() / STAMP if rc == 0 else tree / f".{STAMP}"


def _scratch(tree: Path) -> Path:
    """A worktree beside ``tree`` where the series is applied with ``git am``.

    Applying there and then moving ``tree`` to the result with ``git reset
    --hard`` rewrites only the files whose content changes, so a new
    version of one patch rebuilds what depends on that patch, not on all.
    """
    scratch = tree.parent / f".{tree.name}-am"
    if not (scratch / ".git").exists():
        if scratch.exists():
            raise PatchError(f"{scratch} exists but is not a git worktree",
                             f"remove it ('rm -rf {scratch}') and run again")
        _git(tree, "worktree", "prune")
        rc, out = _git(tree, "worktree", "add", "-q", "--detach", scratch, BASELINE_TAG)
        if rc != 0:
            raise PatchError(f"git worktree add {scratch} failed:\n{out}",
                             f"run 'git -C {tree} worktree prune' and retry")
    return scratch


def apply(tree: Path, patch_files: list[Path]) -> bool:
    """Make ``tree`` the baseline with the series applied (``git am``).

    Skipped when the tree already holds exactly this series (so build
    products stay fresh). A patch that does not apply leaves ``tree`` as it
    was. Returns whether the tree changed.
    """
    require("git")
    digest = series_digest(patch_files)
    stamp = _stamp_path(tree)
    rc, head = _git(tree, "rev-parse", "HEAD")
    if stamp.exists() and stamp.read_text().split() == [digest, head.strip()]:
        return False
    scratch = _scratch(tree)
    _git(scratch, "am", "--abort")
    rc, out = _git(scratch, "reset", "-q", "--hard", BASELINE_TAG)
    if rc != 0:
        raise PatchError(f"cannot reset {scratch} to {BASELINE_TAG}:\n{out}",
                         f"remove {scratch} and run again")
    for patch in patch_files:
        rc, out = _git(scratch, "-c", "user.name=pagemap-scan harness",
                       "-c", "user.email=harness@localhost", "am", "-q", "--keep-cr", patch)
        if rc != 0:
            _git(scratch, "am", "--abort")
            _git(scratch, "reset", "-q", "--hard", BASELINE_TAG)
            raise PatchError(
                f"{patch.name} does not apply:\n{_hunk_lines(out)}",
                "rebase the series in your kernel work tree and re-export it "
                f"('python -m harness export --tree <tree>'); {tree} was left as it was",
            )
        say(f"patches: applied {patch.name}")
    rc, new_head = _git(scratch, "rev-parse", "HEAD")
    _git(tree, "am", "--abort")
    rc, out = _git(tree, "reset", "-q", "--hard", new_head.strip())
    if rc != 0:
        raise PatchError(f"cannot move {tree} to the patched commit:\n{out}",
                         f"remove {tree} and run again")
    stamp.write_text(f"{digest} {new_head.strip()}\n")
    return True


def _hunk_lines(git_output: str) -> str:
    """git am's message, trimmed to what says which file and hunk failed."""
    keep = [ln for ln in git_output.splitlines()
            if ln.strip() and not ln.startswith(("hint:", "When you have resolved",
                                                  "If you prefer", "To restore"))]
    return "\n".join("  " + ln for ln in keep[:20])


PLACEHOLDER_EMAIL = "harness@localhost"
FIX_AUTHORS = ("git rebase --exec 'git commit --amend --no-edit --reset-author' "
               "<base>, and give each commit your Signed-off-by")


def identity(tree: Path) -> str:
    """The developer's ``Name <email>`` from git's configuration, as format-patch uses it."""
    fields = []
    for key in ("user.name", "user.email"):
        rc, out = _git(tree, "config", key)
        fields.append(out.strip() if rc == 0 else "")
    name, email = fields
    if not name or not email or email == PLACEHOLDER_EMAIL:
        raise PatchError(
            "no author identity in git's configuration: a series is sent as someone",
            "git config --global user.name 'Your Name' && "
            "git config --global user.email you@example.org")
    return f"{name} <{email}>"


def check_authorship(tree: Path, base: str) -> None:
    """Every commit to export has a real author who signed it off."""
    rc, out = _git(tree, "log", "--format=%H%x00%an <%ae>%x00%B%x01", f"{base}..HEAD")
    if rc != 0:
        raise PatchError(f"git log {base}..HEAD failed in {tree}:\n{out}", "check the work tree")
    for record in filter(str.strip, out.split("\x01")):
        sha, author, body = record.strip().split("\x00", 2)
        subject = body.splitlines()[0] if body.strip() else sha[:12]
        if PLACEHOLDER_EMAIL in author:
            raise PatchError(f"'{subject}' is authored by the placeholder {author}",
                             FIX_AUTHORS.replace("<base>", base))
        if f"Signed-off-by: {author}" not in body:
            raise PatchError(f"'{subject}' has no Signed-off-by: {author}",
                             FIX_AUTHORS.replace("<base>", base))


def export(tree: Path, patches: Path, base: str = BASELINE_TAG) -> list[Path]:
    """``git format-patch`` the commits ``base..HEAD`` of ``tree`` into ``patches``.

    The cover letter keeps the subject and text of the existing one; the
    series file is rewritten; patch files no longer in the series are removed.
    Refused without a git identity, or when a commit's author is the
    placeholder identity or did not sign it off.
    """
    require("git")
    rc, out = _git(tree, "rev-list", "--count", f"{base}..HEAD")
    if rc != 0:
        raise PatchError(f"{tree} has no {base}: is it a worktree of the harness's source?\n{out}",
                         "pass --tree pointing at your kernel work tree and --base at its baseline")
    if int(out.strip()) == 0:
        raise PatchError(f"{tree} has no commits since {base}: nothing to export",
                         "commit your patches in the work tree first")
    identity(tree)
    check_authorship(tree, base)
    old_cover = _cover_text(patches / COVER)
    patches.mkdir(parents=True, exist_ok=True)
    before = {p.name for p in patches.glob("*.patch")}
    # format-patch prints the name of each file it writes: the new series.
    rc, out = _git(tree, "format-patch", "--cover-letter", "--no-signature",
                   "--zero-commit", "--base", base, "-o", patches, f"{base}..HEAD")
    if rc != 0:
        raise PatchError(f"git format-patch failed:\n{out}", "check the work tree")
    files = sorted(Path(line.strip()) for line in out.splitlines()
                   if line.strip().endswith(".patch"))
    if old_cover is not None:
        _restore_cover(patches / COVER, *old_cover)
    written = {p.name for p in files}
    for stale in before - written:
        (patches / stale).unlink()
    order = [p.name for p in files if p.name != COVER]
    (patches / "series").write_text("".join(n + "\n" for n in order))
    say(f"patches: exported {len(order)} patches to {patches}")
    return [patches / n for n in order]


def _cover_text(cover: Path) -> tuple[str, str] | None:
    """(subject, blurb) of a cover letter, unless it is still git's template."""
    if not cover.exists():
        return None
    text = cover.read_text()
    m = re.search(r"^Subject: \[PATCH[^\]]*\] (.*)$", text, re.M)
    subject = m.group(1) if m else ""
    body = text.partition("\n\n")[2]
    # The blurb is what precedes the shortlog ("Author (N):" line).
    blurb = re.split(r"^\S.* \(\d+\):$", body, maxsplit=1, flags=re.M)[0].rstrip()
    if "*** SUBJECT HERE ***" in subject or not subject:
        return None
    return subject, blurb


def _restore_cover(cover: Path, subject: str, blurb: str) -> None:
    text = cover.read_text()
    text = text.replace("*** SUBJECT HERE ***", subject, 1)
    text = text.replace("*** BLURB HERE ***", blurb, 1)
    cover.write_text(text)
