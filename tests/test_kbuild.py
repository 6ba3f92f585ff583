"""Out-of-tree object builds: the make command lines, and a warning's report."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import BuildError
from harness.kbuild import Arch, ObjBuild, first_problem


class FakeMake:
    def __init__(self, status: int = 0, lines: list[str] | None = None) -> None:
        self.calls: list[list[str]] = []
        self.status = status
        self.lines = lines or []

    def __call__(self, cmd: list[str]) -> tuple[int, list[str]]:
        self.calls.append(cmd)
        return self.status, self.lines


def test_arch_variables_and_srcarch() -> None:
    assert Arch().make_vars() == []
    assert Arch("i386").make_vars() == ["ARCH=i386"]
    assert Arch("i386").srcarch == "x86"
    arm = Arch("arm64", "aarch64-linux-gnu-")
    assert arm.make_vars() == ["ARCH=arm64", "CROSS_COMPILE=aarch64-linux-gnu-"]
    assert arm.srcarch == "arm64"
    assert arm.compiler() == "aarch64-linux-gnu-gcc"


def test_object_build_command(tmp_path: Path) -> None:
    fake = FakeMake(lines=["  CC      mm/memory.o", "  CC      fs/proc/task_mmu.o"])
    ob = ObjBuild(tmp_path / "src", tmp_path / "obj", Arch("arm64", "aarch64-linux-gnu-"),
                  jobs=2, runner=fake)
    compiled, warnings = ob.objects(["mm/memory.o", "fs/proc/task_mmu.o"], werror=True)
    cmd = fake.calls[0]
    assert cmd[:3] == ["make", "-C", str(tmp_path / "src")]
    assert f"O={tmp_path / 'obj'}" in cmd and "-j2" in cmd
    assert "ARCH=arm64" in cmd and "CROSS_COMPILE=aarch64-linux-gnu-" in cmd
    assert any(c.startswith("CC=") and c.endswith("aarch64-linux-gnu-gcc") for c in cmd)
    assert "W=1" in cmd and "KCFLAGS=-Werror" in cmd
    assert cmd[-2:] == ["mm/memory.o", "fs/proc/task_mmu.o"]
    assert compiled == ["mm/memory.o", "fs/proc/task_mmu.o"] and warnings == []


def test_without_werror_warnings_are_returned(tmp_path: Path) -> None:
    warn = "fs/proc/task_mmu.c:10:13: warning: 'f' defined but not used [-Wunused-function]"
    fake = FakeMake(lines=["  CC      fs/proc/task_mmu.o", warn])
    ob = ObjBuild(tmp_path, tmp_path / "obj", Arch(), runner=fake)
    _, warnings = ob.objects(["fs/proc/task_mmu.o"], werror=False)
    assert "KCFLAGS=-Werror" not in fake.calls[0]
    assert warnings == [warn]


def test_no_objects_runs_nothing(tmp_path: Path) -> None:
    fake = FakeMake()
    assert ObjBuild(tmp_path, tmp_path, Arch(), runner=fake).objects([], True) == ([], [])
    assert fake.calls == []


def test_failure_shows_the_first_warning(tmp_path: Path) -> None:
    lines = [f"  CC      mm/x{i}.o" for i in range(30)] + [
        "fs/proc/task_mmu.c: In function 'pm_scan_backout':",
        "fs/proc/task_mmu.c:10:13: error: 'pm_scan_backout' defined but not used "
        "[-Werror=unused-function]",
        "cc1: all warnings being treated as errors",
        "make[3]: *** [scripts/Makefile.build:250: fs/proc/task_mmu.o] Error 1"]
    ob = ObjBuild(tmp_path, tmp_path / "obj", Arch(), runner=FakeMake(2, lines))
    with pytest.raises(BuildError) as err:
        ob.objects(["fs/proc/task_mmu.o"], werror=True)
    msg = str(err.value)
    assert "pm_scan_backout' defined but not used" in msg
    assert "In function 'pm_scan_backout'" in msg
    assert "mm/x0.o" not in msg
    assert "what to do" in msg


def test_first_problem_without_a_match_shows_the_tail() -> None:
    lines = [f"line {i}" for i in range(50)]
    assert first_problem(lines, limit=3) == "line 47\nline 48\nline 49"


def test_prepare_failure_is_an_error(tmp_path: Path) -> None:
    ob = ObjBuild(tmp_path, tmp_path / "obj", Arch(), runner=FakeMake(2, ["*** No rule"]))
    with pytest.raises(BuildError, match="make prepare failed"):
        ob.prepare()


def test_missing_cross_compiler_names_the_package(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    for tool in ("make", "flex", "bison", "bc"):
        exe = tmp_path / tool
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
    ob = ObjBuild(tmp_path, tmp_path, Arch("arm64", "aarch64-linux-gnu-"))
    with pytest.raises(BuildError, match="gcc-aarch64-linux-gnu"):
        ob.check_tools()
