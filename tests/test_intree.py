"""Patch 0005 in the tree: 6.1's kselftest make runs the series' programs.

In our guest every program of the series passes; on plain 6.1 (Debian's
build of the same source, without the series) every one of them skips.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import intree, pipeline, targets
from harness.paths import layout

RUNNER_OUTPUT = """\
TAP version 13
1..4
# selftests: vm: madv_populate
ok 1 selftests: vm: madv_populate
# selftests: vm: pagemap_scan_args
# ok 1 argument checks # SKIP kernel lacks PAGEMAP_SCAN
# ok 2 walk_end # SKIP kernel lacks PAGEMAP_SCAN
ok 2 selftests: vm: pagemap_scan_args # SKIP
# selftests: vm: pagemap_scan_wp
not ok 3 selftests: vm: pagemap_scan_wp # TIMEOUT 45 seconds
# selftests: vm: uffd_wp_async
not ok 4 selftests: vm: uffd_wp_async # exit=1
"""


def test_parse_reads_the_runner_lines() -> None:
    got = intree.parse(RUNNER_OUTPUT)
    assert sorted(got) == ["madv_populate", "pagemap_scan_args", "pagemap_scan_wp",
                           "uffd_wp_async"]
    assert got["madv_populate"].passed and got["madv_populate"].inner_skips == 0
    assert got["pagemap_scan_args"].inner_skips == 2
    assert got["pagemap_scan_args"].skipped and not got["pagemap_scan_args"].passed
    timeout = got["pagemap_scan_wp"]
    assert not timeout.ok and timeout.directive == "TIMEOUT" and not timeout.passed
    assert not got["uffd_wp_async"].ok and not got["uffd_wp_async"].skipped


def test_the_run_is_restricted_to_the_programs_not_run_vmtests() -> None:
    argv = intree.make_argv(Path("/k"), "run_tests")
    assert argv[:4] == ["make", "-C", "/k/tools/testing/selftests", "TARGETS=vm"]
    assert "TEST_PROGS=" in argv and "TEST_GEN_FILES=" in argv and argv[-1] == "run_tests"


@pytest.fixture(scope="module")
def built_tree() -> Path:
    lay = layout()
    tree = pipeline.kernel_tree(lay)
    intree.build(lay, tree)
    return tree


def _describe(lines: dict[str, intree.ProgramLine], output: str) -> str:
    return "\n".join(ln.text for ln in lines.values()) or output[-3000:]


@pytest.mark.guest
@pytest.mark.slow
def test_intree_run_passes_in_our_guest(built_tree: Path) -> None:
    lay = layout()
    status, output = intree.run_in_guest(lay, built_tree, pipeline.our_kernel(built_tree),
                                         targets.GUEST_SETUP)
    lines = intree.parse(output)
    print(output)
    for prog in intree.series_programs(lay):
        assert prog in lines, f"the runner did not run {prog}:\n{output[-3000:]}"
        assert lines[prog].passed, f"{prog}: {lines[prog].text}\n{_describe(lines, output)}"
    assert status == 0 or any(not ln.passed for n, ln in lines.items()
                              if n not in intree.series_programs(lay)), output[-3000:]


@pytest.mark.guest
@pytest.mark.slow
def test_intree_run_skips_on_plain_61(built_tree: Path) -> None:
    lay = layout()
    plain = targets.plain_kernel()
    if plain is None:
        pytest.skip("Debian's linux-image-6.1.0-*-amd64-unsigned is not installed "
                    "(run 'make setup')")
    _, output = intree.run_in_guest(lay, built_tree, plain, targets.GUEST_SETUP)
    lines = intree.parse(output)
    print(output)
    for prog in intree.series_programs(lay):
        assert prog in lines, f"the runner did not run {prog}:\n{output[-3000:]}"
        ln = lines[prog]
        # Skipped as a whole, or (cases that need nothing new, such as
        # synchronous uffd-wp) passed with the rest skipped.
        assert ln.skipped or (ln.ok and ln.inner_skips > 0), (
            f"{prog}: {ln.text}\n{_describe(lines, output)}")
