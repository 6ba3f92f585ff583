"""The config matrix: fragments, their '# make:' line, one configuration's run (faked)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness import config, matrix
from harness.errors import BuildError, ConfigError
from harness.kbuild import Arch
from harness.paths import layout


def _frag(d: Path, name: str, text: str) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    p = d / f"{name}.config"
    p.write_text(text)
    return p


def test_make_line_sets_the_arch(tmp_path: Path) -> None:
    p = _frag(tmp_path, "arm", "# why\n# make: ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-\n")
    assert matrix.parse_arch(p) == Arch("arm64", "aarch64-linux-gnu-")
    assert matrix.parse_arch(_frag(tmp_path, "host", "# CONFIG_A is not set\n")) == Arch()


@pytest.mark.parametrize("text", ["# make: CC=clang\n", "# make: ARCH\n",
                                  "# make: ARCH=i386\n# make: ARCH=arm64\n"])
def test_bad_make_line_is_an_error(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="make:"):
        matrix.parse_arch(_frag(tmp_path, "bad", text))


def test_load_puts_base_first_and_select_checks_names(tmp_path: Path) -> None:
    for name in ("zeta", "base", "alpha"):
        _frag(tmp_path, name, "# x\n")
    configs = matrix.load(tmp_path)
    assert [c.name for c in configs] == ["base", "alpha", "zeta"]
    assert [c.name for c in matrix.select(configs, ["zeta", "base"])] == ["zeta", "base"]
    assert matrix.select(configs, None) == configs
    with pytest.raises(ConfigError, match=r"unknown configuration.*nope"):
        matrix.select(configs, ["base", "nope"])


def test_empty_matrix_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no configurations"):
        matrix.load(tmp_path)


def test_the_project_matrix_has_the_issue_13_configurations() -> None:
    configs = {c.name: c for c in matrix.load(layout().kernel_config / "matrix")}
    assert next(iter(configs)) == "base"
    off = {name: {n for n, o in config.parse(c.fragment.read_text()).items() if o.value == "n"}
           for name, c in configs.items()}
    assert {"CONFIG_TRANSPARENT_HUGEPAGE", "CONFIG_HUGETLBFS"} <= off["no-hugepages"]
    assert "CONFIG_USERFAULTFD" in off["no-userfaultfd"]
    assert "CONFIG_PTE_MARKER_UFFD_WP" in off["no-uffd-wp-marker"]
    assert "CONFIG_MEM_SOFT_DIRTY" in off["no-soft-dirty"]
    assert configs["i386"].arch == Arch("i386")
    assert "CONFIG_64BIT" in off["i386"]
    i386_on = config.parse(configs["i386"].fragment.read_text())
    assert all(n not in off["i386"] for n in
               ("CONFIG_TRANSPARENT_HUGEPAGE", "CONFIG_HUGETLBFS", "CONFIG_USERFAULTFD"))
    assert i386_on.get("CONFIG_USERFAULTFD") is None  # kept from base.config
    assert configs["arm64"].arch == Arch("arm64", "aarch64-linux-gnu-")
    for c in configs.values():
        first = c.fragment.read_text().splitlines()[0]
        assert first.startswith("# ") and len(first) > 10, f"{c.name} says why it exists"


class FakeConfigure:
    """Writes the .config olddefconfig would, from the fragments' options."""

    def __init__(self, extra: str = "", fail: bool = False) -> None:
        self.extra = extra
        self.fail = fail
        self.calls: list[dict[str, Any]] = []

    def __call__(self, tree: Path, frags: list[Path], objtree: Path,
                 make_vars: list[str]) -> Path:
        self.calls.append({"frags": frags, "objtree": objtree, "make_vars": make_vars})
        if self.fail:
            raise ConfigError("olddefconfig dropped options the fragments ask for:\n"
                              "  CONFIG_X=y requested, got n")
        objtree.mkdir(parents=True, exist_ok=True)
        text = "CONFIG_MMU=y\n" + "".join(f.read_text() for f in frags) + self.extra
        (objtree / ".config").write_text(text)
        return objtree / ".config"


class FakeMake:
    def __init__(self, fail_on: str = "") -> None:
        self.calls: list[list[str]] = []
        self.fail_on = fail_on

    def __call__(self, cmd: list[str]) -> tuple[int, list[str]]:
        self.calls.append(cmd)
        if self.fail_on and self.fail_on in cmd:
            return 2, ["mm/hugetlb.c:5:1: warning: no previous prototype [-Wmissing-prototypes]"]
        return 0, [f"  CC      {c}" for c in cmd if c.endswith(".o")]


@pytest.fixture
def src(tmp_path: Path) -> Path:
    tree = tmp_path / "src"
    (tree / "mm").mkdir(parents=True)
    (tree / "mm" / "Makefile").write_text(
        "mmu-$(CONFIG_MMU) := memory.o\nobj-$(CONFIG_HUGETLBFS) += hugetlb.o\n")
    return tree


FILES = ["mm/memory.c", "mm/hugetlb.c", "include/linux/hugetlb.h"]


@pytest.fixture(autouse=True)
def tools_present(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(matrix.ObjBuild, "check_tools", lambda self: None)


def test_run_config_builds_what_the_config_enables(tmp_path: Path, src: Path) -> None:
    cfg = matrix.MatrixConfig("nohuge", _frag(tmp_path / "m", "nohuge",
                                              "# CONFIG_HUGETLBFS is not set\n"), Arch("i386"))
    base = _frag(tmp_path, "base", "CONFIG_HUGETLBFS=y\n")
    fake_cfg, fake_make = FakeConfigure(), FakeMake()
    res = matrix.run_config(src, tmp_path / "obj", cfg, [base, cfg.fragment], FILES,
                            runner=fake_make, configure=fake_cfg)
    assert res.ok, res.error
    assert res.built == ["mm/memory.o"]
    assert res.skipped == [("mm/hugetlb.o", "CONFIG_HUGETLBFS is not set")]
    assert fake_cfg.calls[0]["make_vars"] == ["ARCH=i386"]
    assert fake_cfg.calls[0]["objtree"] == tmp_path / "obj"
    prepare, build = fake_make.calls
    assert "prepare" in prepare and "ARCH=i386" in prepare
    assert build[-1] == "mm/memory.o" and "KCFLAGS=-Werror" in build
    out = matrix.render([res])
    assert "nohuge" in out and "ok" in out and "mm/hugetlb.o (CONFIG_HUGETLBFS is not set)" in out


def test_run_config_reports_a_build_failure(tmp_path: Path, src: Path) -> None:
    cfg = matrix.MatrixConfig("base", _frag(tmp_path / "m", "base", "# x\n"), Arch())
    base = _frag(tmp_path, "b", "CONFIG_HUGETLBFS=y\n")
    res = matrix.run_config(src, tmp_path / "obj", cfg, [base, cfg.fragment], FILES,
                            runner=FakeMake(fail_on="mm/hugetlb.o"), configure=FakeConfigure())
    assert not res.ok
    assert res.built == ["mm/memory.o", "mm/hugetlb.o"]
    assert "no previous prototype" in res.error
    assert "FAIL" in matrix.render([res]) and "no previous prototype" in matrix.render([res])


def test_run_config_reports_a_dropped_option(tmp_path: Path, src: Path) -> None:
    cfg = matrix.MatrixConfig("base", _frag(tmp_path / "m", "base", "# x\n"), Arch())
    fake_make = FakeMake()
    res = matrix.run_config(src, tmp_path / "obj", cfg, [cfg.fragment], FILES,
                            runner=fake_make, configure=FakeConfigure(fail=True))
    assert not res.ok and "CONFIG_X=y requested, got n" in res.error
    assert fake_make.calls == []


def test_run_config_keeps_going_when_a_tool_is_missing(tmp_path: Path, src: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(self: matrix.ObjBuild) -> None:
        raise BuildError("the compiler aarch64-linux-gnu-gcc is not on PATH", "install it")

    monkeypatch.setattr(matrix.ObjBuild, "check_tools", missing)
    cfg = matrix.MatrixConfig("arm64", _frag(tmp_path / "m", "arm64", "# x\n"),
                              Arch("arm64", "aarch64-linux-gnu-"))
    res = matrix.run_config(src, tmp_path / "obj", cfg, [cfg.fragment], FILES,
                            runner=FakeMake(), configure=FakeConfigure())
    assert not res.ok and "not on PATH" in res.error


def test_render_lists_warnings_without_werror() -> None:
    res = matrix.Result("base", ok=True, built=["a.o"], compiled=["a.o"],
                        warnings=["a.c:1:1: warning: unused"])
    out = matrix.render([res])
    assert "WARN" in out and "a.c:1:1: warning: unused" in out


def test_configuration_is_made_again_only_when_its_inputs_change(tmp_path: Path,
                                                                 src: Path) -> None:
    frag = _frag(tmp_path / "m", "base", "CONFIG_HUGETLBFS=y\n")
    fake = FakeConfigure()
    obj = tmp_path / "obj"
    matrix.configured(src, obj, [frag], Arch(), fake)
    matrix.configured(src, obj, [frag], Arch(), fake)
    assert len(fake.calls) == 1
    matrix.configured(src, obj, [frag], Arch("i386"), fake)
    assert len(fake.calls) == 2
    frag.write_text("# CONFIG_HUGETLBFS is not set\n")
    matrix.configured(src, obj, [frag], Arch("i386"), fake)
    assert len(fake.calls) == 3
    # A configuration that failed its check leaves no stamp: the next run checks again.
    frag.write_text("CONFIG_X=y\n")
    with pytest.raises(ConfigError):
        matrix.configured(src, obj, [frag], Arch(), FakeConfigure(fail=True))
    again = FakeConfigure()
    matrix.configured(src, obj, [frag], Arch(), again)
    assert len(again.calls) == 1
