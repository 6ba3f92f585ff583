"""The series on the newest 6.1 Debian serves: does it apply, does it build?

So a maintainer learns of a needed rebase before the pinned version stops
being served. The newer source gets its own cache directory
(``newest/<version>/``: its pristine baseline, a worktree with the series
applied, an object directory), reusing the source and patch stages with a
different version. The build is the matrix's base configuration: the
series' objects, W=1 and ``-Werror``. CI stays on the pinned version.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import matrix, patches, pipeline, source, touched
from .errors import PatchError, SourceError
from .paths import Layout
from .proc import say


@dataclass
class Trial:
    version: str
    pinned: str
    applies: bool = False
    builds: bool | None = None  # None: not tried (the series did not apply)
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.applies and bool(self.builds)

    def render(self) -> str:
        if self.version == self.pinned:
            head = f"{source.PACKAGE} {self.version} is the pinned version"
        else:
            head = f"{source.PACKAGE} {self.version} (pinned: {self.pinned})"
        build = {None: "not tried", True: "yes", False: "NO"}[self.builds]
        text = f"{head}\n  series applies: {'yes' if self.applies else 'NO'}\n  builds: {build}\n"
        return text + (f"\n{self.message}\n" if self.message else "")


def pick(served: list[str], wanted: str | None) -> str:
    """The version to try: ``wanted`` if served, else the newest served."""
    if not served:
        raise SourceError(f"apt serves no {source.PACKAGE} package",
                          "run 'apt-get update' and check the bookworm(-security) sources")
    if wanted is None:
        return served[0]
    if wanted not in served:
        raise SourceError(f"{source.PACKAGE} {wanted} is not served",
                          f"pick one of: {', '.join(served)}")
    return wanted


def sublayout(lay: Layout, version: str) -> Layout:
    """A cache of its own for ``version``; downloaded packages are shared."""
    root = lay.cache / "newest" / version.replace(":", "_")
    root.mkdir(parents=True, exist_ok=True)
    sub = Layout(repo=lay.repo, cache=root, out=lay.out)
    lay.debs.mkdir(parents=True, exist_ok=True)
    if not sub.debs.exists():
        sub.debs.symlink_to(lay.debs.resolve())
    return sub


Builder = Callable[[Layout, Path, Path, list[str]], matrix.Result]


def _build_base(lay: Layout, tree: Path, objdir: Path, files: list[str]) -> matrix.Result:
    cfg = matrix.select(matrix.load(lay.kernel_config / "matrix"), [matrix.BASE])[0]
    return matrix.run_config(tree, objdir, cfg, matrix.fragments(lay, cfg), files)


def _tree(lay: Layout, version: str) -> tuple[Path, Path]:
    """A clean worktree of ``version``'s baseline, and the object directory to build it in.

    The pinned version is the matrix's own source tree and base directory.
    """
    if version == source.PINNED_VERSION:
        root = matrix.matrix_root(lay)
        return matrix.worktree(lay, root / "src"), root / matrix.BASE
    sub = sublayout(lay, version)
    with pipeline.cache_lock(sub, "source"):
        source.ensure(sub, pinned=version)
        return patches.ensure_worktree(sub, matrix.BASE), sub.cache / "obj-base"


def try_version(lay: Layout, version: str, build: Builder = _build_base) -> Trial:
    trial = Trial(version, source.PINNED_VERSION)
    series = patches.read_series(lay.patches)
    if not series:
        raise PatchError(f"{lay.patches}/series lists no patches", "export the series first")
    with pipeline.cache_lock(lay, "matrix" if version == source.PINNED_VERSION else
                             f"newest-{version}"):
        return _try(lay, version, series, trial, build)


def _try(lay: Layout, version: str, series: list[Path], trial: Trial, build: Builder) -> Trial:
    tree, objdir = _tree(lay, version)
    try:
        patches.apply(tree, series)
    except PatchError as e:
        trial.message = str(e)
        return trial
    trial.applies = True
    say(f"newest: the series applies on {version}; building its objects")
    res = build(lay, tree, objdir, touched.changed_files(series))
    trial.builds = res.ok
    trial.message = res.error
    return trial


def run_newest(lay: Layout, wanted: str | None) -> Trial:
    return try_version(lay, pick(source.available_versions(), wanted))
