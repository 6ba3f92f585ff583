"""The config stage: the Kconfig model, and a dropped option is an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import config
from harness.errors import ConfigError
from harness.paths import layout


def test_parse_set_unset_and_later_wins() -> None:
    opts = config.parse("CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"x\"\n"
                        "# comment\nCONFIG_A=m\n")
    assert opts["CONFIG_A"] == config.Option("CONFIG_A", "m")
    assert opts["CONFIG_B"].value == "n"
    assert opts["CONFIG_C"].line() == 'CONFIG_C="x"'
    assert opts["CONFIG_B"].line() == "# CONFIG_B is not set"


def test_missing_reports_dropped_and_changed() -> None:
    want = config.parse("CONFIG_A=y\nCONFIG_B=y\n# CONFIG_C is not set\nCONFIG_D=4\n")
    have = config.parse("CONFIG_A=y\nCONFIG_D=8\n")
    got = {(o.name, v) for o, v in config.missing(want, have)}
    assert got == {("CONFIG_B", "n"), ("CONFIG_D", "8")}


def test_depends_on_reads_kconfig(tmp_path: Path) -> None:
    (tmp_path / "Kconfig").write_text(
        "config FOO\n\tbool \"foo\"\n\tdepends on BAR && !BAZ\n\tdepends on QUX\n"
        "config OTHER\n\tdepends on NOPE\n")
    assert config.depends_on(tmp_path, "CONFIG_FOO") == ["BAR && !BAZ", "QUX"]


def test_unknown_profile() -> None:
    with pytest.raises(ConfigError, match="unknown profile"):
        config.fragments_for(layout(), "nonsense")


def test_base_profile_asks_for_the_features_under_test() -> None:
    frag = config.parse((layout().kernel_config / "base.config").read_text())
    for name in ("USERFAULTFD", "PTE_MARKER_UFFD_WP", "PROC_PAGE_MONITOR", "MEM_SOFT_DIRTY",
                 "TRANSPARENT_HUGEPAGE", "HUGETLBFS", "SHMEM", "TMPFS", "SWAP", "ZRAM",
                 "DEBUG_VM", "ADVISE_SYSCALLS", "MEMBARRIER", "VIRTIO_CONSOLE", "9P_FS"):
        assert frag[f"CONFIG_{name}"].value == "y", name


@pytest.mark.slow
def test_dropped_option_is_an_error_naming_the_dependency(tmp_path: Path) -> None:
    """A real tinyconfig + olddefconfig run in a scratch object directory."""
    src = layout().source
    if not (src / "Makefile").exists():
        pytest.skip(f"the kernel source is not unpacked at {src} (run 'python -m harness source')")
    frag = tmp_path / "bad.config"
    # PTE_MARKER_UFFD_WP depends on USERFAULTFD, which tinyconfig leaves off.
    frag.write_text("CONFIG_64BIT=y\nCONFIG_PTE_MARKER_UFFD_WP=y\n")
    with pytest.raises(ConfigError) as err:
        config.configure(src, [frag], objtree=tmp_path / "obj")
    msg = str(err.value)
    assert "CONFIG_PTE_MARKER_UFFD_WP=y requested, got n" in msg
    assert "HAVE_ARCH_USERFAULTFD_WP" in msg
    assert "what to do" in msg
