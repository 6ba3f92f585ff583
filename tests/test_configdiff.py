"""Our .config against the same-config mainline's (harness/configdiff.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import config, configdiff
from harness.errors import ConfigError
from harness.paths import layout

OURS = """\
CONFIG_CC_OPTIMIZE_FOR_PERFORMANCE=y
CONFIG_SLUB=y
CONFIG_SLUB_CPU_PARTIAL=y
CONFIG_NR_CPUS=64
CONFIG_BASE_SMALL=1
CONFIG_PTE_MARKER=y
CONFIG_SPLIT_PTLOCK_CPUS=4
# CONFIG_X86_KERNEL_IBT is not set
CONFIG_DEVPORT=y
CONFIG_HAVE_FAST_GUP=y
"""
MAINLINE = """\
CONFIG_CC_OPTIMIZE_FOR_PERFORMANCE=y
CONFIG_SLUB=y
CONFIG_SLUB_CPU_PARTIAL=y
CONFIG_NR_CPUS=64
CONFIG_BASE_SMALL=y
CONFIG_PER_VMA_LOCK=y
CONFIG_SPLIT_PTE_PTLOCKS=y
CONFIG_SPLIT_PMD_PTLOCKS=y
# CONFIG_DEVPORT is not set
CONFIG_HAVE_GUP_FAST=y
"""


def compare(ours: str, mainline: str) -> configdiff.Comparison:
    return configdiff.Comparison(tuple(configdiff.compare(config.parse(ours),
                                                          config.parse(mainline))))


def names(diffs: list[configdiff.Difference]) -> set[str]:
    return {d.name for d in diffs}


def test_known_version_differences_are_accepted_and_the_rest_listed() -> None:
    result = compare(OURS, MAINLINE)
    assert result.blocking == []
    assert names(result.accepted) == {"PER_VMA_LOCK", "PTE_MARKER", "SPLIT_PTLOCK_CPUS",
                                      "SPLIT_PTE_PTLOCKS", "SPLIT_PMD_PTLOCKS"}
    # Outside the compared areas, but listed: a driver and a renamed capability.
    assert names(result.listed) == {"DEVPORT", "HAVE_FAST_GUP", "HAVE_GUP_FAST"}
    text = result.render()
    assert "PER_VMA_LOCK" in text and "a real mainline difference" in text
    assert "DEVPORT" in text


def test_base_small_int_and_bool_are_the_same_setting() -> None:
    assert compare("CONFIG_BASE_SMALL=1\n", "CONFIG_BASE_SMALL=y\n").differences == ()
    assert compare("CONFIG_BASE_SMALL=0\n", "# CONFIG_BASE_SMALL is not set\n").differences == ()
    result = compare("CONFIG_BASE_SMALL=1\n", "# CONFIG_BASE_SMALL is not set\n")
    assert names(result.blocking) == {"BASE_SMALL"}


def test_not_set_and_absent_are_the_same() -> None:
    assert compare("# CONFIG_KASAN is not set\n", "").differences == ()


@pytest.mark.parametrize(("name", "ours", "theirs"), [
    ("SLUB_TINY", "n", "y"),                      # allocator
    ("NR_CPUS", "64", "2"),                       # CPUs (and split page-table locks)
    ("X86_KERNEL_IBT", "n", "y"),                 # code generation
    ("CC_OPTIMIZE_FOR_SIZE", "n", "y"),
    ("RETPOLINE", "n", "y"),
    ("PREEMPT_VOLUNTARY", "n", "y"),              # preemption
    ("HZ", "250", "1000"),
    ("TRANSPARENT_HUGEPAGE_ALWAYS", "n", "y"),    # mm
    ("MEM_SOFT_DIRTY", "y", "n"),
    ("NUMA", "n", "y"),
    ("DEBUG_VM", "y", "n"),                       # debugging
    ("KASAN", "n", "y"),
    ("PROVE_LOCKING", "y", "n"),
])
def test_a_difference_that_changes_the_comparison_blocks(name: str, ours: str,
                                                         theirs: str) -> None:
    def line(value: str) -> str:
        return config.Option(f"CONFIG_{name}", value).line() + "\n"

    result = compare(OURS + line(ours), MAINLINE + line(theirs))
    assert names(result.blocking) == {name}


def test_an_option_only_one_version_has_blocks_in_a_compared_area() -> None:
    result = compare(OURS + "CONFIG_SLUB_CPU_PARTIAL_NEW=y\n", MAINLINE)
    assert names(result.blocking) == {"SLUB_CPU_PARTIAL_NEW"}
    assert result.blocking[0].kind == "6.1 only"


def test_capabilities_are_listed_not_compared() -> None:
    assert configdiff.area_of("ARCH_SUPPORTS_PER_VMA_LOCK") is None
    assert configdiff.area_of("CC_HAS_IBT") is None
    assert configdiff.area_of("CC_OPTIMIZE_FOR_PERFORMANCE") == "code generation"
    assert configdiff.area_of("PER_VMA_LOCK") == "memory management"


def test_check_raises_with_the_difference_and_writes_the_list(tmp_path: Path) -> None:
    ours, theirs, listing = tmp_path / "ours", tmp_path / "mainline", tmp_path / "diff.txt"
    ours.write_text(OURS)
    theirs.write_text(MAINLINE.replace("CONFIG_NR_CPUS=64", "CONFIG_NR_CPUS=2")
                      + "CONFIG_SLUB_TINY=y\n")
    with pytest.raises(ConfigError) as err:
        configdiff.check(ours, theirs, listing)
    text = str(err.value)
    assert "NR_CPUS" in text and "SLUB_TINY" in text and "mainline.config" in text
    assert "DEVPORT" in listing.read_text()
    theirs.write_text(MAINLINE)
    assert configdiff.check(ours, theirs, listing).blocking == []


def test_a_missing_config_says_which_stage_to_run(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config stage"):
        configdiff.compare_files(tmp_path / "nope", tmp_path / "nope2")


def test_the_mainline_fragment_sets_the_measured_differences() -> None:
    frag = config.parse((layout().kernel_config / config.MAINLINE_FRAGMENT).read_text())
    assert frag["CONFIG_SLUB_TINY"].value == "n"
    assert frag["CONFIG_SLUB_CPU_PARTIAL"].value == "y"
    assert frag["CONFIG_NR_CPUS"].value == "64"
    assert frag["CONFIG_X86_KERNEL_IBT"].value == "n"
    assert frag["CONFIG_BASE_SMALL"].value == "y"
    assert frag["CONFIG_SLUB_RCU_DEBUG"].value == "n"


@pytest.mark.slow
def test_the_real_configs_agree_where_it_matters() -> None:
    """Ours (build-base) against the mainline build's, as the config stage
    checks; mainline.config only brings 6.12 back to our values."""
    lay = layout()
    ours = lay.build_tree("base") / ".config"
    theirs = lay.mainline_build_tree("base") / ".config"
    for path in (ours, theirs):
        if not path.is_file():
            pytest.skip(f"{path} does not exist: run 'python -m harness build' and "
                        "'python -m harness config --kernel mainline' first")
    result = configdiff.check(ours, theirs)
    assert "PER_VMA_LOCK" in names(result.accepted)
    assert result.blocking == []
    have = config.parse(ours.read_text())
    frag = config.parse((lay.kernel_config / config.MAINLINE_FRAGMENT).read_text())
    for name, opt in frag.items():
        want = have.get(name, config.Option(name, "n")).value
        assert configdiff.EQUIVALENT.get(name.removeprefix("CONFIG_"), {}).get(want, want) \
            == opt.value, f"mainline.config sets {opt.line()}, ours has {want}"
