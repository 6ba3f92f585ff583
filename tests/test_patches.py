"""The patch stage: apply a series, fail clearly on a bad patch, export back."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import patches
from harness.errors import PatchError
from tests.gitrepo import commit, git, make_repo


@pytest.fixture
def work(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "work")
    commit(repo, "mm.c", "int a;\nint b2;\nint c;\n", "mm: change b")
    commit(repo, "fs.c", "int f;\n", "fs: add f")
    return repo


def test_export_writes_series_and_cover(work: Path, tmp_path: Path) -> None:
    out = tmp_path / "patches"
    written = patches.export(work, out)
    assert [p.name for p in written] == ["0001-mm-change-b.patch", "0002-fs-add-f.patch"]
    assert (out / "series").read_text().split() == [p.name for p in written]
    assert (out / patches.COVER).exists()
    assert patches.read_series(out) == written


def test_export_keeps_cover_letter_text(work: Path, tmp_path: Path) -> None:
    out = tmp_path / "patches"
    patches.export(work, out)
    cover = out / patches.COVER
    text = cover.read_text().replace("*** SUBJECT HERE ***", "mm: the series")
    cover.write_text(text.replace("*** BLURB HERE ***", "Why the series exists."))
    commit(work, "fs.c", "int f;\nint g;\n", "fs: add g")
    patches.export(work, out)
    again = cover.read_text()
    assert "[PATCH 0/3] mm: the series" in again
    assert "Why the series exists." in again
    assert "fs: add g" in again


def test_export_without_commits_fails(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "empty")
    with pytest.raises(PatchError, match="no commits since baseline"):
        patches.export(repo, tmp_path / "patches")


def test_apply_then_reapply_is_a_no_op(work: Path, tmp_path: Path) -> None:
    out = tmp_path / "patches"
    series = patches.export(work, out)
    tree = make_repo(tmp_path / "tree")
    assert patches.apply(tree, series) is True
    assert (tree / "fs.c").read_text() == "int f;\n"
    assert "fs: add f" in git(tree, "log", "--oneline")
    assert patches.apply(tree, series) is False


def test_patch_that_does_not_apply_names_it(work: Path, tmp_path: Path) -> None:
    out = tmp_path / "patches"
    series = patches.export(work, out)
    tree = make_repo(tmp_path / "tree")
    # The tree's baseline differs where the first patch needs context.
    (tree / "mm.c").write_text("int x;\nint y;\nint z;\n")
    git(tree, "commit", "-q", "-am", "diverge")
    git(tree, "tag", "-f", "baseline")
    with pytest.raises(PatchError) as err:
        patches.apply(tree, series)
    msg = str(err.value)
    assert "0001-mm-change-b.patch does not apply" in msg
    assert "mm.c" in msg
    assert "what to do" in msg
    # The tree is left clean at the baseline, not in the middle of git am.
    assert git(tree, "status", "--porcelain") == ""
    assert not (tree / ".git" / "rebase-apply").exists()


def test_series_naming_a_missing_patch(tmp_path: Path) -> None:
    (tmp_path / "series").write_text("# comment\n\n0001-missing.patch\n")
    with pytest.raises(PatchError, match=r"0001-missing\.patch, which is not in"):
        patches.read_series(tmp_path)


def test_no_series_file_means_no_patches(tmp_path: Path) -> None:
    assert patches.read_series(tmp_path) == []


def test_export_refuses_a_commit_without_signoff(work: Path, tmp_path: Path) -> None:
    (work / "fs.c").write_text("int g;\n")
    git(work, "commit", "-q", "-am", "fs: unsigned")
    with pytest.raises(PatchError, match="'fs: unsigned' has no Signed-off-by: Test Author"):
        patches.export(work, tmp_path / "patches")
    assert not (tmp_path / "patches").exists()


def test_export_refuses_the_placeholder_author(work: Path, tmp_path: Path) -> None:
    (work / "fs.c").write_text("int g;\n")
    git(work, "-c", "user.name=harness", "-c", "user.email=harness@localhost",
        "commit", "-q", "-s", "-am", "fs: placeholder")
    with pytest.raises(PatchError, match="placeholder") as e:
        patches.export(work, tmp_path / "patches")
    assert "--reset-author" in str(e.value)


def test_export_needs_a_git_identity(work: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    git(work, "config", "--unset", "user.email")
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.gitconfig either
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    with pytest.raises(PatchError, match="no author identity") as e:
        patches.export(work, tmp_path / "patches")
    assert "git config --global user.email" in str(e.value)
