"""The config matrix: the series' objects built in several configurations.

Each configuration is tinyconfig + ``kernel-config/base.config`` + one
fragment of ``kernel-config/matrix/``; a fragment's ``# make:`` comment line
names the architecture (``ARCH=``, ``CROSS_COMPILE=``). Every configuration
builds out of tree in its own directory of the cache, through ccache, from
one source tree with the series applied: only the objects of the files the
series changes, with W=1 (and ``-Werror`` unless asked otherwise).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import config, patches, pipeline, source, touched
from .errors import ConfigError, HarnessError, PatchError
from .kbuild import Arch, ObjBuild, Runner
from .paths import Layout
from .proc import run, say

BASE = "base"
_MAKE_LINE = re.compile(r"^#\s*make:(.*)$", re.M)
_MAKE_VARS = {"ARCH", "CROSS_COMPILE"}


@dataclass(frozen=True)
class MatrixConfig:
    name: str
    fragment: Path
    arch: Arch


@dataclass
class Result:
    name: str
    ok: bool
    seconds: float = 0.0
    built: list[str] = field(default_factory=list)
    compiled: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # only without -Werror
    error: str = ""


def parse_arch(fragment: Path) -> Arch:
    """The ``# make: ARCH=... CROSS_COMPILE=...`` line of a fragment (none: the host's)."""
    lines = _MAKE_LINE.findall(fragment.read_text())
    if len(lines) > 1:
        raise ConfigError(f"{fragment} has {len(lines)} '# make:' lines", "keep one")
    values: dict[str, str] = {}
    for word in lines[0].split() if lines else []:
        key, sep, value = word.partition("=")
        if not sep or key not in _MAKE_VARS:
            raise ConfigError(f"{fragment}: '# make:' accepts only {', '.join(sorted(_MAKE_VARS))}"
                              f"=VALUE, not {word!r}",
                              "fix the comment line; other options belong in CONFIG_ lines")
        values[key] = value
    return Arch(values.get("ARCH", ""), values.get("CROSS_COMPILE", ""))


def load(directory: Path) -> list[MatrixConfig]:
    """The configurations in ``directory`` (``NAME.config``), base first, then by name."""
    files = sorted(directory.glob("*.config"), key=lambda p: (p.stem != BASE, p.stem))
    if not files:
        raise ConfigError(f"no configurations (*.config) in {directory}",
                          "restore kernel-config/matrix/ from git")
    return [MatrixConfig(p.stem, p, parse_arch(p)) for p in files]


def select(configs: list[MatrixConfig], names: list[str] | None) -> list[MatrixConfig]:
    if not names:
        return configs
    known = {c.name: c for c in configs}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"unknown configuration(s): {', '.join(unknown)}",
                          f"use some of: {', '.join(known)}")
    return [known[n] for n in names]


def fragments(lay: Layout, cfg: MatrixConfig) -> list[Path]:
    return [*config.fragments_for(lay, BASE), cfg.fragment]


def plan(src: Path, files: list[str], arch: Arch,
         options: dict[str, str]) -> tuple[list[str], list[tuple[str, str]]]:
    """The series' objects this configuration builds, and those it does not (with why)."""
    built, skipped = [], []
    for obj in touched.objects(files, arch.srcarch):
        why = touched.why_not_built(src, obj, options)
        if why is None:
            built.append(obj)
        else:
            skipped.append((obj, why))
    return built, skipped


Configure = Callable[..., Path]
STAMP = ".pmscan-matrix-config"


def _config_key(src: Path, frags: list[Path], arch: Arch) -> str:
    h = hashlib.sha256(" ".join([str(src), *arch.make_vars()]).encode())
    for f in frags:
        h.update(b"\0" + f.read_bytes())
    return h.hexdigest()


def configured(src: Path, objdir: Path, frags: list[Path], arch: Arch,
               configure: Configure = config.configure) -> Path:
    """``objdir``'s checked .config; made again only when the fragments or the arch change.

    tinyconfig and olddefconfig take tens of seconds a configuration; the
    stamp records the inputs of the last configuration that passed the check.
    """
    key = _config_key(src, frags, arch)
    stamp, dotconfig = objdir / STAMP, objdir / ".config"
    if dotconfig.exists() and stamp.exists() and stamp.read_text().strip() == key:
        return dotconfig
    stamp.unlink(missing_ok=True)
    dotconfig = configure(src, frags, objtree=objdir, make_vars=arch.make_vars())
    stamp.write_text(key + "\n")
    return dotconfig


def run_config(src: Path, objdir: Path, cfg: MatrixConfig, frags: list[Path], files: list[str],
               *, werror: bool = True, jobs: int = 2, runner: Runner | None = None,
               configure: Configure = config.configure) -> Result:
    """Configure, check and build one configuration; a failure is the result, not raised."""
    started = time.monotonic()
    result = Result(cfg.name, ok=False)
    ob = ObjBuild(src, objdir, cfg.arch, jobs) if runner is None else \
        ObjBuild(src, objdir, cfg.arch, jobs, runner)
    try:
        ob.check_tools()
        dotconfig = configured(src, objdir, frags, cfg.arch, configure)
        options = {n: o.value for n, o in config.parse(dotconfig.read_text()).items()}
        result.built, result.skipped = plan(src, files, cfg.arch, options)
        say(f"matrix: {cfg.name}: make prepare, then W=1 on {' '.join(result.built)}")
        ob.prepare()
        result.compiled, result.warnings = ob.objects(result.built, werror)
        result.ok = True
    except HarnessError as e:
        result.error = str(e)
    result.seconds = time.monotonic() - started
    return result


def _git(tree: Path, *args: str | Path) -> tuple[int, str]:
    res = run(["git", "-C", tree, *args])
    return res.returncode, res.stdout


def worktree(lay: Layout, path: Path) -> Path:
    """A clean git worktree of the baseline at ``path`` (created on first use).

    The source is made first if need be; both under the cache's source lock,
    as other checkouts may be unpacking it or adding their worktrees.
    """
    with pipeline.cache_lock(lay, "source"):
        source.ensure(lay)
        if (path / ".git").exists():
            return path
        if path.exists():
            raise PatchError(f"{path} exists but is not a git worktree",
                             f"remove it ('rm -rf {path}') and run again")
        path.parent.mkdir(parents=True, exist_ok=True)
        _git(lay.source, "worktree", "prune")
        rc, out = _git(lay.source, "worktree", "add", "-q", "--detach", path,
                       source.BASELINE_TAG)
    if rc != 0:
        raise PatchError(f"git worktree add {path} failed:\n{out}",
                         f"run 'git -C {lay.source} worktree prune' and retry")
    return path


def matrix_root(lay: Layout) -> Path:
    return lay.cache / "matrix"


def patched_tree(lay: Layout) -> Path:
    """The series applied on a worktree of the baseline that is only built out of tree."""
    tree = worktree(lay, matrix_root(lay) / "src")
    patches.apply(tree, patches.read_series(lay.patches))
    return tree


def run_matrix(lay: Layout, names: list[str] | None, werror: bool, jobs: int) -> list[Result]:
    """Every configuration (or those ``names``); a failing one does not stop the others."""
    configs = select(load(lay.kernel_config / "matrix"), names)
    series = patches.read_series(lay.patches)
    if not series:
        raise PatchError(f"{lay.patches}/series lists no patches", "export the series first")
    files = touched.changed_files(series)
    results = []
    with pipeline.cache_lock(lay, "matrix"):
        src = patched_tree(lay)
        for cfg in configs:
            say(f"matrix: {cfg.name}")
            res = run_config(src, matrix_root(lay) / cfg.name, cfg, fragments(lay, cfg), files,
                             werror=werror, jobs=jobs)
            say(f"matrix: {cfg.name}: {'ok' if res.ok else 'FAILED'} ({res.seconds:.0f}s)")
            results.append(res)
    return results


def render(results: list[Result]) -> str:
    """One line per configuration, then each failure's message."""
    lines = []
    for r in results:
        skipped = f"; not in this config: {', '.join(f'{o} ({w})' for o, w in r.skipped)}" \
            if r.skipped else ""
        state = "FAIL" if not r.ok else "WARN" if r.warnings else "ok"
        lines.append(f"{r.name:<20} {state:<4} {r.seconds:6.0f}s  {len(r.built)} objects "
                     f"({len(r.compiled)} compiled){skipped}")
    for r in results:
        if not r.ok:
            lines += ["", f"== {r.name}", r.error]
        elif r.warnings:
            lines += ["", f"== {r.name}: {len(r.warnings)} warnings", *r.warnings]
    return "\n".join(lines) + "\n"
