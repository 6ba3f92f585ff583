"""The build stage: a failing make shows the compiler's first errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import build
from harness.errors import BuildError


def fake_tree(tmp_path: Path, recipe: str) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / ".config").write_text("CONFIG_64BIT=y\n")
    (tree / "Makefile").write_text(f"bzImage:\n\t{recipe}\nheaders_install:\n\t@true\n")
    return tree


def test_build_error_shows_first_errors(tmp_path: Path) -> None:
    tree = fake_tree(
        tmp_path,
        "@echo '  CC      mm/memory.o'; "
        "echo 'mm/memory.c:42:7: error: implicit declaration of function foo'; "
        "echo 'make[1]: *** [mm/memory.o] Error 1'; exit 2",
    )
    with pytest.raises(BuildError) as err:
        build.build(tree, jobs=1)
    msg = str(err.value)
    assert "mm/memory.c:42:7: error: implicit declaration of function foo" in msg
    assert "what to do" in msg


def test_missing_config_is_an_error(tmp_path: Path) -> None:
    tree = fake_tree(tmp_path, "@true")
    (tree / ".config").unlink()
    with pytest.raises(BuildError, match=r"has no \.config"):
        build.build(tree, jobs=1)


def test_success_without_image_is_an_error(tmp_path: Path) -> None:
    tree = fake_tree(tmp_path, "@true")
    with pytest.raises(BuildError, match="bzImage is missing"):
        build.build(tree, jobs=1)


def test_first_errors_without_error_lines_gives_the_tail() -> None:
    lines = [f"line {i}" for i in range(100)]
    assert build.first_errors(lines, limit=3) == "line 97\nline 98\nline 99"
