"""The source stage: version choice, adopting a baseline, refusing a half-made one."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import source
from harness.errors import SourceError
from harness.paths import Layout
from tests.gitrepo import make_repo


def test_pinned_version_is_used_when_served() -> None:
    assert source.choose_version("6.1.192-2", ["6.1.193-1", "6.1.192-2"]) == ("6.1.192-2", None)


def test_fallback_to_newest_warns() -> None:
    version, warning = source.choose_version("6.1.192-2", ["6.1.200-1", "6.1.199-1"])
    assert version == "6.1.200-1"
    assert warning is not None and "no longer served" in warning and "6.1.200-1" in warning


def test_nothing_served_is_an_error() -> None:
    with pytest.raises(SourceError, match=r"apt serves no linux-source-6\.1"):
        source.choose_version("6.1.192-2", [])


def test_kernel_version_from_makefile(tmp_path: Path) -> None:
    (tmp_path / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 192\n")
    assert source.kernel_version(tmp_path) == "6.1.192"


def test_existing_baseline_is_adopted(tmp_path: Path) -> None:
    lay = Layout(repo=tmp_path, cache=tmp_path / "cache", out=tmp_path / "out")
    repo = make_repo(lay.source)
    (repo / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 7\n")
    assert source.ensure(lay) == source.Source(repo, "6.1.7")


def test_half_made_tree_is_refused(tmp_path: Path) -> None:
    lay = Layout(repo=tmp_path, cache=tmp_path / "cache", out=tmp_path / "out")
    lay.source.mkdir(parents=True)
    with pytest.raises(SourceError, match="not a baseline the harness made"):
        source.ensure(lay)


def test_pinned_version_is_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert source.PINNED_VERSION in readme
