"""The mainline target: linux-source-6.12 built like ours, cached by a stamp,
its config compared with ours before it is built, booted like ours."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness import build, config, pipeline, source, targets
from harness.errors import ConfigError
from harness.guest import Kernel
from harness.paths import REPO, Layout
from harness.selftests import Program

OURS_CONFIG = "CONFIG_SLUB=y\nCONFIG_NR_CPUS=64\nCONFIG_BASE_SMALL=1\n"


@pytest.fixture
def lay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Layout:
    """A layout with its own kernel-config/ copy, a fake 6.12 source and our
    configured tree; configure and build record what they are asked to do."""
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "kernel-config", repo / "kernel-config")
    lay = Layout(repo=repo, cache=tmp_path / "cache", out=tmp_path / "out")
    ours = lay.build_tree("base")
    ours.mkdir(parents=True)
    (ours / ".config").write_text(OURS_CONFIG)
    monkeypatch.setattr(source, "ensure", lambda lay, pinned=None, package=source.LINUX_6_1:
                        source.Source(package.tree(lay), package.pinned))
    return lay


class Fake:
    """configure and build of the 6.12 tree: what they were asked to do, and
    the .config the mainline configure writes."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.mainline_config = "CONFIG_SLUB=y\nCONFIG_NR_CPUS=64\nCONFIG_BASE_SMALL=y\n"

    def configure(self, tree: Path, fragments: list[Path], objtree: Path | None = None) -> Path:
        assert objtree is not None and tree.name == "linux-6.12"
        assert [f.name for f in fragments] == ["base.config", config.MAINLINE_FRAGMENT]
        objtree.mkdir(parents=True, exist_ok=True)
        (objtree / ".config").write_text(self.mainline_config)
        self.calls.append("configure")
        return objtree / ".config"

    def build(self, tree: Path, jobs: int | None = None, objtree: Path | None = None) -> Path:
        assert objtree is not None
        image = build.bzimage(objtree)
        image.parent.mkdir(parents=True, exist_ok=True)
        image.write_text("bzImage")
        self.calls.append("build")
        return image


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Fake:
    f = Fake()
    monkeypatch.setattr(config, "configure", f.configure)
    monkeypatch.setattr(build, "build", f.build)
    return f


def test_built_once_then_reused_until_a_fragment_changes(lay: Layout, fake: Fake) -> None:
    objtree = pipeline.mainline_build(lay)
    assert objtree == lay.cache / "build-mainline-base"
    assert fake.calls == ["configure", "build"]
    assert (objtree / "config-diff.txt").is_file()
    pipeline.mainline_build(lay)
    assert fake.calls == ["configure", "build"]  # the stamp: nothing changed
    frag = lay.kernel_config / config.MAINLINE_FRAGMENT
    frag.write_text(frag.read_text() + "# a comment changes the fingerprint\n")
    pipeline.mainline_build(lay)
    assert fake.calls == ["configure", "build"] * 2


def test_a_config_difference_stops_before_the_build(lay: Layout, fake: Fake) -> None:
    fake.mainline_config = fake.mainline_config.replace("NR_CPUS=64", "NR_CPUS=2")
    with pytest.raises(ConfigError, match="NR_CPUS"):
        pipeline.mainline_build(lay)
    assert fake.calls == ["configure"]
    assert not (lay.mainline_build_tree("base") / pipeline.MAINLINE_STAMP).exists()


def test_config_only_does_not_build(lay: Layout, fake: Fake) -> None:
    pipeline.mainline_build(lay, built=False)
    assert fake.calls == ["configure"]
    pipeline.mainline_build(lay)
    assert fake.calls == ["configure", "configure", "build"]


def test_the_guest_is_booted_like_ours(tmp_path: Path) -> None:
    base = pipeline.mainline_kernel(tmp_path / "build-mainline-base")
    ours = pipeline.our_kernel(tmp_path / "build-base")
    assert (base.name, base.memory, base.cpus, base.append) == \
        ("mainline", ours.memory, ours.cpus, ours.append)
    assert base.image == str(tmp_path / "build-mainline-base/arch/x86/boot/bzImage")
    debug = pipeline.mainline_kernel(tmp_path / "d", "debug")
    assert debug.memory == pipeline.our_kernel(tmp_path / "o", "debug").memory


def test_run_targets_boots_the_mainline_build(lay: Layout, fake: Fake,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    booted: list[Kernel] = []

    def run_guest(lay: Layout, kernel: Kernel, progs: list[Program], outdir: Path) -> None:
        booted.append(kernel)

    monkeypatch.setattr(targets, "run_guest", run_guest)
    monkeypatch.setattr(pipeline.kcidb, "record_series", lambda lay: None)
    errors = pipeline.run_targets(lay, lay.build_tree("base"), ["mainline"], programs=[])
    assert errors == {"mainline": None}
    assert [k.name for k in booted] == ["mainline"]
    assert booted[0].image == str(build.bzimage(lay.mainline_build_tree("base")))
    assert "mainline" in pipeline.TARGETS
    assert "mainline" in Program("p", ("true",)).targets  # our selftests run there too


def test_guests_booted_side_by_side_are_crowded_and_one_alone_is_not(
        lay: Layout, fake: Fake, monkeypatch: pytest.MonkeyPatch) -> None:
    booted: dict[str, Kernel] = {}

    def run_guest(lay: Layout, kernel: Kernel, progs: list[Program], outdir: Path) -> None:
        booted[kernel.name] = kernel

    monkeypatch.setattr(targets, "run_guest", run_guest)
    monkeypatch.setattr(pipeline.kcidb, "record_series", lambda lay: None)
    monkeypatch.setattr(pipeline.accel.os, "cpu_count", lambda: 2)
    ours = lay.build_tree("base")
    pipeline.run_targets(lay, ours, ["ours", "mainline"], programs=[])
    assert booted["ours"].crowded and booted["mainline"].crowded
    booted.clear()
    # The host target is no guest: ours alone beside it has the CPUs to itself.
    monkeypatch.setattr(pipeline.targets, "run_host", lambda lay, progs, outdir: None)
    pipeline.run_targets(lay, ours, ["host", "ours"], programs=[])
    assert not booted["ours"].crowded
