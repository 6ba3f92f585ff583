"""What a patch series touches: its files, and the kernel objects built from them.

The matrix and bisect builds compile only these objects (with W=1), not
the whole kernel: a series' new warnings and errors are in the files it
changes. Headers the series changes are checked through the touched ``.c``
files that include them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

# Directories whose .c files are not kernel objects (host tools, docs, tests).
_NOT_KERNEL = ("tools/", "Documentation/", "scripts/", "samples/", "usr/")
_DIFF = re.compile(r"^diff --git a/(\S+) b/(\S+)$")
_ASSIGN = re.compile(r"^([A-Za-z0-9_-]+?)-(y|\$\((CONFIG_[A-Za-z0-9_]+)\))\s*[:+]?=(.*)$")


def changed_files(patch_files: list[Path]) -> list[str]:
    """The paths (after the change) that the patches add or modify, in order, once each."""
    seen: dict[str, None] = {}
    for patch in patch_files:
        deleted = False
        path = ""
        for line in patch.read_text(errors="replace").splitlines():
            if m := _DIFF.match(line):
                path, deleted = m.group(2), False
                seen.setdefault(path, None)
            elif line.startswith("deleted file mode") and path:
                deleted = True
                seen.pop(path, None)
            elif line.startswith("+++ /dev/null") and path and not deleted:
                seen.pop(path, None)
    return list(seen)


def objects(files: list[str], srcarch: str) -> list[str]:
    """The kernel objects built from ``files``: ``.c`` outside tools/docs, this arch only."""
    out = []
    for f in files:
        if not f.endswith(".c") or f.startswith(_NOT_KERNEL):
            continue
        if f.startswith("arch/") and not f.startswith(f"arch/{srcarch}/"):
            continue
        out.append(f[:-2] + ".o")
    return out


def _logical_lines(text: str) -> list[str]:
    return text.replace("\\\n", " ").splitlines()


def why_not_built(tree: Path, obj: str, config: Mapping[str, str]) -> str | None:
    """Why ``config`` does not build ``obj`` (per its directory's Makefile), or None.

    Reads the Kbuild assignment that names the object, ``obj-$(CONFIG_X) +=
    name.o`` or a list such as ``mmu-$(CONFIG_MMU) := ... name.o``, and
    checks the option. An object the Makefile does not name conditionally
    counts as built: compiling it is what finds its errors.
    """
    directory, name = obj.rsplit("/", 1) if "/" in obj else ("", obj)
    for makefile in ("Kbuild", "Makefile"):
        path = tree / directory / makefile
        if path.exists():
            break
    else:
        return None
    for line in _logical_lines(path.read_text(errors="replace")):
        m = _ASSIGN.match(line.strip())
        if not m or name not in m.group(4).split():
            continue
        option = m.group(3)
        if option is None:
            return None
        if config.get(option, "n") not in ("y", "m"):
            return f"{option} is not set"
        return None
    return None
