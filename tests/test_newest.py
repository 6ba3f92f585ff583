"""Trying the series on the newest 6.1: version choice and the trial's answers (faked)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import matrix, newest, patches, source
from harness.errors import PatchError, SourceError
from harness.paths import Layout


def test_pick_the_newest_or_the_asked_version() -> None:
    served = ["6.1.192-3", "6.1.192-2", "6.1.190-1"]
    assert newest.pick(served, None) == "6.1.192-3"
    assert newest.pick(served, "6.1.190-1") == "6.1.190-1"
    with pytest.raises(SourceError, match=r"6\.1\.1-1 is not served"):
        newest.pick(served, "6.1.1-1")
    with pytest.raises(SourceError, match="serves no"):
        newest.pick([], None)


@pytest.fixture
def lay(tmp_path: Path) -> Layout:
    repo = tmp_path / "repo"
    (repo / "patches").mkdir(parents=True)
    (repo / "patches" / "0001-a.patch").write_text("diff --git a/mm/memory.c b/mm/memory.c\n")
    (repo / "patches" / "series").write_text("0001-a.patch\n")
    return Layout(repo=repo, cache=tmp_path / "cache", out=tmp_path / "out")


def test_sublayout_has_its_own_source_and_shares_the_downloads(lay: Layout) -> None:
    sub = newest.sublayout(lay, "6.1.192-3")
    assert sub.source == lay.cache / "newest" / "6.1.192-3" / "linux"
    assert sub.source != lay.source
    assert sub.debs.resolve() == lay.debs.resolve()
    assert newest.sublayout(lay, "6.1.192-3") == sub  # again: no error


@pytest.fixture
def fake_tree(lay: Layout, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    monkeypatch.setattr(newest, "_tree", lambda lay, v: (tree, tmp_path / "obj"))
    return tree


def test_series_that_does_not_apply(lay: Layout, fake_tree: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def apply(tree: Path, series: list[Path]) -> bool:
        raise PatchError("0001-a.patch does not apply:\n  mm/memory.c:10", "rebase")

    monkeypatch.setattr(patches, "apply", apply)

    def never(*a: object) -> matrix.Result:
        raise AssertionError("a series that does not apply is not built")

    trial = newest.try_version(lay, "6.1.192-3", build=never)
    assert not trial.ok and not trial.applies and trial.builds is None
    text = trial.render()
    assert "6.1.192-3 (pinned: " in text and "series applies: NO" in text
    assert "0001-a.patch does not apply" in text and "builds: not tried" in text


@pytest.mark.parametrize("ok", [True, False])
def test_series_that_applies_is_built(lay: Layout, fake_tree: Path,
                                      monkeypatch: pytest.MonkeyPatch, ok: bool) -> None:
    monkeypatch.setattr(patches, "apply", lambda tree, series: True)
    seen: list[tuple[Path, list[str]]] = []

    def build(lay: Layout, tree: Path, objdir: Path, files: list[str]) -> matrix.Result:
        seen.append((tree, files))
        return matrix.Result("base", ok=ok, error="" if ok else "mm/memory.c: error: x")

    trial = newest.try_version(lay, source.PINNED_VERSION, build=build)
    assert seen == [(fake_tree, ["mm/memory.c"])]
    assert trial.ok is ok and trial.applies
    text = trial.render()
    assert "is the pinned version" in text
    assert ("builds: yes" in text) is ok
    assert ("mm/memory.c: error: x" in text) is not ok
