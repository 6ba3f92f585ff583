"""The per-patch build: a walk over the series that names the first patch that fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import bisect, patches
from harness.errors import BuildError, PatchError
from tests.gitrepo import commit, git, make_repo


def _series(tmp_path: Path, n: int) -> list[Path]:
    out = []
    for i in range(n):
        p = tmp_path / f"{i + 1:04d}-p{i + 1}.patch"
        p.write_text(f"diff --git a/f{i}.c b/f{i}.c\n")
        out.append(p)
    return out


def _objects(applied: list[Path]) -> list[str]:
    return [f"f{i}.o" for i in range(len(applied))]


def test_every_step_builds(tmp_path: Path) -> None:
    series = _series(tmp_path, 3)
    applied: list[str] = []
    built: list[list[str]] = []

    def build(objs: list[str]) -> list[str]:
        built.append(objs)
        return objs[-1:]

    outcome = bisect.walk(tmp_path, series, build, _objects,
                          apply_one=lambda tree, p: applied.append(p.name))
    assert outcome.first_bad is None
    assert [s.name for s in outcome.steps] == [bisect.BASELINE] + [p.name for p in series]
    assert applied == [p.name for p in series]
    # after patch k the objects of patches 1..k; the baseline builds those that exist there
    assert built[1:] == [["f0.o"], ["f0.o", "f1.o"], ["f0.o", "f1.o", "f2.o"]]
    assert "every step builds (3 patches)" in outcome.render()


def test_names_the_first_patch_that_does_not_build(tmp_path: Path) -> None:
    series = _series(tmp_path, 4)
    steps: list[int] = []

    def build(objs: list[str]) -> list[str]:
        steps.append(len(objs))
        if "f1.o" in objs:
            raise BuildError("f1.c:3:1: error: unused variable 'x'", "fix it")
        return objs

    outcome = bisect.walk(tmp_path, series, build, _objects, apply_one=lambda t, p: None)
    bad = outcome.first_bad
    assert bad is not None and bad.name == "0002-p2.patch"
    assert len(outcome.steps) == 3  # baseline, 0001, 0002: it stops there
    text = outcome.render()
    assert "first step that does not build: 0002-p2.patch" in text
    assert "unused variable 'x'" in text


def test_a_failing_baseline_is_not_blamed_on_a_patch(tmp_path: Path) -> None:
    (tmp_path / "f0.c").write_text("int a;\n")

    def build(objs: list[str]) -> list[str]:
        raise BuildError("f0.c:1:1: warning: old warning", "not the series")

    outcome = bisect.walk(tmp_path, _series(tmp_path, 2), build, _objects,
                          apply_one=lambda t, p: None)
    assert outcome.first_bad is not None and outcome.first_bad.name == bisect.BASELINE
    assert "does not build: the baseline" in outcome.render()


def test_a_patch_that_does_not_apply_stops_the_walk(tmp_path: Path) -> None:
    def apply_one(tree: Path, patch: Path) -> None:
        if patch.name.startswith("0002"):
            raise PatchError("0002-p2.patch does not apply on the patches before it", "rebase")

    outcome = bisect.walk(tmp_path, _series(tmp_path, 3), lambda objs: objs, _objects,
                          apply_one=apply_one)
    assert outcome.first_bad is not None and outcome.first_bad.name == "0002-p2.patch"
    assert "does not apply" in outcome.first_bad.error


def test_git_am_one_patch_at_a_time_and_reset(tmp_path: Path) -> None:
    work = make_repo(tmp_path / "work")
    commit(work, "mm.c", "int a;\nint b2;\nint c;\n", "mm: change b")
    commit(work, "fs.c", "int f;\n", "fs: add f")
    series = patches.export(work, tmp_path / "patches")
    tree = make_repo(tmp_path / "tree")
    bisect.git_am(tree, series[0])
    assert not (tree / "fs.c").exists() and "b2" in (tree / "mm.c").read_text()
    bisect.git_am(tree, series[1])
    assert (tree / "fs.c").exists()
    bisect.reset_to_baseline(tree)
    assert git(tree, "rev-parse", "HEAD") == git(tree, "rev-parse", "baseline")
    # Applying the second patch twice fails cleanly: no git am left in progress.
    bisect.git_am(tree, series[1])
    with pytest.raises(PatchError, match=r"0002-fs-add-f\.patch does not apply"):
        bisect.git_am(tree, series[1])
    assert not (tree / ".git" / "rebase-apply").exists()
