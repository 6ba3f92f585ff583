"""Stage 3: the kernel configuration.

``make tinyconfig``, the profile's fragments merged on top, ``olddefconfig``,
then a check that every option a fragment asks for survived: Kconfig drops
an option silently when its dependencies are not met, and a kernel without
the feature under test would make every test SKIP instead of failing.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError
from .paths import Layout
from .proc import require, run, say

# Profiles and the fragments they stack, in order.
PROFILES: dict[str, tuple[str, ...]] = {
    "base": ("base.config",),
    "debug": ("base.config", "debug.config"),
}

# What the same-config mainline (linux-source-6.12) adds to a profile's
# fragments: the options where its tinyconfig lands elsewhere than 6.1's.
MAINLINE_FRAGMENT = "mainline.config"

_SET = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
_UNSET = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$")


@dataclass(frozen=True)
class Option:
    name: str
    value: str  # 'y', 'm', a number or string, or 'n' for "is not set"

    def line(self) -> str:
        return f"# {self.name} is not set" if self.value == "n" else f"{self.name}={self.value}"


def parse(text: str) -> dict[str, Option]:
    """The options a .config or fragment sets, by name (later lines win)."""
    opts: dict[str, Option] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if m := _SET.match(line):
            opts[m.group(1)] = Option(m.group(1), m.group(2))
        elif m := _UNSET.match(line):
            opts[m.group(1)] = Option(m.group(1), "n")
    return opts


def merge(fragments: list[dict[str, Option]]) -> dict[str, Option]:
    merged: dict[str, Option] = {}
    for frag in fragments:
        merged.update(frag)
    return merged


def missing(requested: dict[str, Option], actual: dict[str, Option]) -> list[tuple[Option, str]]:
    """Requested options the final config does not have, with what it has instead."""
    out = []
    for name, want in requested.items():
        have = actual.get(name, Option(name, "n"))
        if have.value != want.value:
            out.append((want, have.value))
    return out


def depends_on(tree: Path, name: str) -> list[str]:
    """The ``depends on`` lines of a Kconfig symbol, to explain why it was dropped."""
    sym = name.removeprefix("CONFIG_")
    head = re.compile(rf"^\s*(menu)?config {re.escape(sym)}\s*$")
    other = re.compile(r"^\s*(menu)?config \w+|^\s*(endmenu|endif|choice|menu |if )")
    deps: list[str] = []
    for kconfig in tree.rglob("Kconfig*"):
        inside = False
        text = kconfig.read_text(errors="replace").replace("\\\n", " ")
        for line in text.splitlines():
            if head.match(line):
                inside = True
            elif inside and other.match(line):
                inside = False
            elif inside and (m := re.match(r"^\s*depends on (.*)$", line)):
                deps.append(m.group(1).strip())
    return deps


def fragments_for(lay: Layout, profile: str) -> list[Path]:
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}",
                          f"use one of: {', '.join(sorted(PROFILES))}")
    paths = [lay.kernel_config / f for f in PROFILES[profile]]
    for p in paths:
        if not p.exists():
            raise ConfigError(f"config fragment {p} does not exist", "restore it from git")
    return paths


def mainline_fragments_for(lay: Layout, profile: str) -> list[Path]:
    """The fragments of ``profile`` for linux-source-6.12: the same, then mainline's own."""
    extra = lay.kernel_config / MAINLINE_FRAGMENT
    if not extra.exists():
        raise ConfigError(f"config fragment {extra} does not exist", "restore it from git")
    return [*fragments_for(lay, profile), extra]


def configure(tree: Path, fragments: list[Path], objtree: Path | None = None,
              make_vars: Sequence[str] = ()) -> Path:
    """Write ``.config`` from tinyconfig plus ``fragments``; verify it.

    The config goes into ``tree`` itself, or into ``objtree`` for an
    out-of-tree (``O=``) build of a clean source tree; ``make_vars`` (such
    as ``ARCH=i386``) go on every make command line. An unchanged result
    keeps the old file and its timestamp, so the next build is incremental.
    """
    require("make", "flex", "bison")
    out = objtree or tree
    out.mkdir(parents=True, exist_ok=True)
    config = out / ".config"
    previous = out / ".config.pmscan-prev"
    if config.exists():
        shutil.copy2(config, previous)
    merge_script = tree / "scripts" / "kconfig" / "merge_config.sh"
    make: list[str | Path] = ["make", "-C", tree, "-s"]
    if objtree is not None:
        make.append(f"O={objtree}")
    make += make_vars
    steps: list[list[str | Path]] = [
        [*make, "tinyconfig"],
        ["bash", merge_script, "-m", "-O", out, config, *fragments],
        [*make, "olddefconfig"],
    ]
    for cmd in steps:
        res = run(cmd)
        if res.returncode != 0:
            raise ConfigError(f"{' '.join(map(str, cmd))} failed:\n{res.stdout[-2000:]}",
                              "check that flex, bison and a C compiler are installed")
    requested = merge([parse(p.read_text()) for p in fragments])
    actual = parse(config.read_text())
    dropped = missing(requested, actual)
    if dropped:
        lines = []
        for want, have in dropped:
            deps = depends_on(tree, want.name)
            why = f"; depends on: {' && '.join(deps)}" if deps else ""
            lines.append(f"  {want.line()} requested, got {have}{why}")
        raise ConfigError(
            "olddefconfig dropped options the fragments ask for:\n" + "\n".join(lines),
            "enable the dependencies in the fragment (kernel-config/*.config) too",
        )
    if previous.exists():
        if previous.read_bytes() == config.read_bytes():
            shutil.copy2(previous, config)
        previous.unlink()
    say(f"config: {len(requested)} requested options present in {config}")
    return config
