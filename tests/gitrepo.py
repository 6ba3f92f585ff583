"""A tiny git repository with a ``baseline`` tag, for the patch stage's tests."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git(repo: Path, *args: str) -> str:
    res = subprocess.run(["git", "-C", str(repo), *args], check=True, text=True,
                         capture_output=True)
    return res.stdout


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "pristine")
    git(path, "config", "user.name", "Test Author")
    git(path, "config", "user.email", "test@example.org")
    (path / "mm.c").write_text("int a;\nint b;\nint c;\n")
    git(path, "add", "mm.c")
    git(path, "commit", "-q", "-m", "pristine")
    git(path, "tag", "baseline")
    return path


def commit(repo: Path, name: str, text: str, subject: str) -> None:
    (repo / name).write_text(text)
    git(repo, "add", name)
    git(repo, "commit", "-q", "-s", "-m", subject, "-m", "Why this change is needed.")
