"""Where things live: the repository, the cache, the output directory.

The cache (kernel source, build trees, downloaded packages) defaults to
``~/.cache/pagemap-scan`` and moves with ``PMSCAN_CACHE``; results go to
``out/`` in the repository unless ``PMSCAN_OUT`` says otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Layout:
    repo: Path
    cache: Path
    out: Path

    @property
    def debs(self) -> Path:
        return self.cache / "debs"

    @property
    def source(self) -> Path:
        """The pristine kernel source, a git repository tagged ``baseline``."""
        return self.cache / "linux"

    def build_tree(self, profile: str) -> Path:
        """The worktree a profile's patched kernel is built in."""
        return self.cache / f"build-{profile}"

    def mainline_build_tree(self, profile: str) -> Path:
        """The object tree (``make O=``) of a profile's same-config mainline kernel."""
        return self.cache / f"build-mainline-{profile}"

    @property
    def patches(self) -> Path:
        return self.repo / "patches"

    @property
    def kernel_config(self) -> Path:
        return self.repo / "kernel-config"

    @property
    def selftests(self) -> Path:
        return self.repo / "selftests"

    def results(self, target: str) -> Path:
        return self.out / "results" / target


def layout() -> Layout:
    cache = Path(os.environ.get("PMSCAN_CACHE", Path.home() / ".cache" / "pagemap-scan"))
    out = Path(os.environ.get("PMSCAN_OUT", REPO / "out"))
    return Layout(repo=REPO, cache=cache.expanduser(), out=out.expanduser())
