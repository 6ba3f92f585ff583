"""selftests/vm_util.mk: 6.1's vm_util plus the series' additions, merged once."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

SELFTESTS = Path(__file__).resolve().parent.parent / "selftests"


def merge(base: Path, out: Path) -> tuple[str, str]:
    subprocess.run(["make", "-s", "-C", str(SELFTESTS), f"O={out}", f"VM_BASE={base}",
                    "vm_util_src"], check=True, capture_output=True, text=True)
    return (out / "vm_util.c").read_text(), (out / "vm_util.h").read_text()


def test_merging_into_an_already_merged_tree_changes_nothing(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (base / "vm_util.c").write_text('#include <stdio.h>\n#include "vm_util.h"\n\n'
                                    "int pristine(void)\n{\n\treturn 0;\n}\n")
    (base / "vm_util.h").write_text("#include <stdint.h>\n\nint pristine(void);\n")
    once_c, once_h = merge(base, tmp_path / "once")
    assert once_c.startswith('#include <stdio.h>\n#include "vm_util.h"\n')
    assert "int pristine(void)" in once_c and len(once_c) > len((base / "vm_util.c").read_text())
    patched = tmp_path / "patched"
    patched.mkdir()
    shutil.copy(tmp_path / "once" / "vm_util.c", patched)
    shutil.copy(tmp_path / "once" / "vm_util.h", patched)
    twice_c, twice_h = merge(patched, tmp_path / "twice")
    assert (twice_c, twice_h) == (once_c, once_h)
