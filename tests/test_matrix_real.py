"""The matrix and the per-patch build for real: one configuration, the first patch.

Each compiles the series' objects out of tree in the cache (ccache makes a
second run take seconds; the README's timings say how long a cold one takes).
"""

from __future__ import annotations

import pytest

from harness import bisect, matrix, patches
from harness.paths import layout

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def source_present() -> None:
    src = layout().source
    if not (src / ".git").exists():
        pytest.skip(f"no kernel source baseline at {src} (run 'python -m harness source')")


def test_base_configuration_builds_the_series_objects() -> None:
    lay = layout()
    [res] = matrix.run_matrix(lay, [matrix.BASE], werror=True, jobs=2)
    assert res.ok, res.error
    assert "fs/proc/task_mmu.o" in res.built and "mm/memory.o" in res.built
    assert res.skipped == []  # the base config builds every object the series touches
    for obj in res.built:
        assert (matrix.matrix_root(lay) / matrix.BASE / obj).exists(), obj


def test_the_first_patch_builds_on_its_own() -> None:
    lay = layout()
    first = patches.read_series(lay.patches)[0]
    outcome = bisect.run_bisect(lay, werror=True, jobs=2, upto=1)
    assert [s.name for s in outcome.steps] == [bisect.BASELINE, first.name]
    assert outcome.first_bad is None, outcome.render()
    # The tree holds the baseline plus exactly that patch.
    assert outcome.steps[1].objects
