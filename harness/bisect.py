"""Each patch of the series on its own: does the series build at every step?

A worktree of the baseline gets the patches one at a time (``git am``);
after each, the objects of the files changed so far are rebuilt in the base
configuration of the matrix, W=1 and ``-Werror``, in one object directory
(incremental, through ccache). The baseline itself is built first, so a
warning the baseline already has is not blamed on the first patch. The
first step that fails names its patch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import config, matrix, patches, pipeline, source, touched
from .errors import HarnessError, PatchError
from .kbuild import ObjBuild, Runner
from .paths import Layout
from .proc import run, say

BASELINE = "(baseline)"


@dataclass
class Step:
    name: str  # the patch's file name, or BASELINE
    ok: bool
    seconds: float = 0.0
    objects: list[str] = field(default_factory=list)
    compiled: list[str] = field(default_factory=list)
    error: str = ""


@dataclass
class Outcome:
    steps: list[Step]

    @property
    def first_bad(self) -> Step | None:
        return next((s for s in self.steps if not s.ok), None)

    def render(self) -> str:
        lines = [f"{s.name:<64} {'ok' if s.ok else 'FAIL':<4} {s.seconds:5.0f}s  "
                 f"{len(s.compiled)}/{len(s.objects)} objects compiled" for s in self.steps]
        bad = self.first_bad
        if bad is not None:
            who = "the baseline" if bad.name == BASELINE else bad.name
            lines += ["", f"first step that does not build: {who}", bad.error]
        else:
            lines.append(f"every step builds ({len(self.steps) - 1} patches)")
        return "\n".join(lines) + "\n"


Applier = Callable[[Path, Path], None]


def _git(tree: Path, *args: str | Path) -> tuple[int, str]:
    res = run(["git", "-C", tree, *args])
    return res.returncode, res.stdout


def git_am(tree: Path, patch: Path) -> None:
    """Apply one patch as a commit; on failure leave no ``git am`` in progress."""
    rc, out = _git(tree, "-c", "user.name=pagemap-scan harness",
                   "-c", "user.email=harness@localhost", "am", "-q", "--keep-cr", patch)
    if rc != 0:
        _git(tree, "am", "--abort")
        raise PatchError(f"{patch.name} does not apply on the patches before it:\n{out[-1500:]}",
                         "rebase the series and re-export it")


def reset_to_baseline(tree: Path) -> None:
    _git(tree, "am", "--abort")
    rc, out = _git(tree, "reset", "-q", "--hard", source.BASELINE_TAG)
    if rc != 0:
        raise PatchError(f"cannot reset {tree} to {source.BASELINE_TAG}:\n{out}",
                         f"remove {tree} and run again")


def walk(tree: Path, series: list[Path], build: Callable[[list[str]], list[str]],
         objects_for: Callable[[list[Path]], list[str]],
         apply_one: Applier = git_am) -> Outcome:
    """Build the baseline, then apply and build each patch in turn; stop at the first failure.

    ``objects_for(applied)`` names the objects to build after the patches
    ``applied``; ``build(objects)`` compiles them, returns those compiled,
    and raises HarnessError on a failure.
    """
    steps: list[Step] = []
    # The baseline builds the objects the whole series touches that exist there.
    todo: list[tuple[str, Path | None, list[Path]]] = [(BASELINE, None, [])]
    todo += [(p.name, p, series[:i + 1]) for i, p in enumerate(series)]
    for name, patch, applied in todo:
        started = time.monotonic()
        step = Step(name, ok=False)
        try:
            if patch is not None:
                apply_one(tree, patch)
            step.objects = objects_for(applied or series)
            if patch is None:
                step.objects = [o for o in step.objects if (tree / o).with_suffix(".c").exists()]
            step.compiled = build(step.objects)
            step.ok = True
        except HarnessError as e:
            step.error = str(e)
        step.seconds = time.monotonic() - started
        say(f"bisect: {name}: {'ok' if step.ok else 'FAILED'} ({step.seconds:.0f}s)")
        steps.append(step)
        if not step.ok:
            break
    return Outcome(steps)


def bisect_root(lay: Layout) -> Path:
    return lay.cache / "bisect"


def run_bisect(lay: Layout, werror: bool, jobs: int, upto: int | None = None,
               runner: Runner | None = None) -> Outcome:
    """The walk over patches/series (its first ``upto`` patches) in the base configuration."""
    series = patches.read_series(lay.patches)
    if not series:
        raise PatchError(f"{lay.patches}/series lists no patches", "export the series first")
    if upto is not None:
        if upto < 1:
            raise PatchError(f"--upto {upto}: the number of patches must be at least 1",
                             f"pass 1 to {len(series)}, or leave it out for all")
        series = series[:upto]
    cfg = matrix.select(matrix.load(lay.kernel_config / "matrix"), [matrix.BASE])[0]
    with pipeline.cache_lock(lay, "bisect"):
        return _bisect(lay, cfg, series, werror, jobs, runner)


def _bisect(lay: Layout, cfg: matrix.MatrixConfig, series: list[Path], werror: bool, jobs: int,
            runner: Runner | None) -> Outcome:
    tree = matrix.worktree(lay, bisect_root(lay) / "src")
    objdir = bisect_root(lay) / "obj"
    reset_to_baseline(tree)
    ob = ObjBuild(tree, objdir, cfg.arch, jobs) if runner is None else \
        ObjBuild(tree, objdir, cfg.arch, jobs, runner)
    ob.check_tools()
    dotconfig = matrix.configured(tree, objdir, matrix.fragments(lay, cfg), cfg.arch)
    options = {n: o.value for n, o in config.parse(dotconfig.read_text()).items()}

    def objects_for(applied: list[Path]) -> list[str]:
        built, _ = matrix.plan(tree, touched.changed_files(applied), cfg.arch, options)
        return built

    def build(objs: list[str]) -> list[str]:
        ob.prepare()
        compiled, _ = ob.objects(objs, werror)
        return compiled

    return walk(tree, series, build, objects_for)
