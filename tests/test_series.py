"""The patch series itself: it applies in order and checkpatch --strict finds no errors."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from harness import patches, source
from harness.paths import layout

SERIES = patches.read_series(layout().patches)


@pytest.fixture(scope="module")
def src() -> Path:
    return source.ensure(layout()).tree


def test_the_series_is_not_empty() -> None:
    assert SERIES, "patches/series lists no patch"


def test_series_applies_in_order_to_the_baseline(src: Path, tmp_path: Path) -> None:
    # A scratch index: the patches are applied without touching any tree.
    env = dict(os.environ, GIT_INDEX_FILE=str(tmp_path / "index"))
    subprocess.run(["git", "-C", str(src), "read-tree", source.BASELINE_TAG], env=env,
                   check=True)
    for patch in SERIES:
        res = subprocess.run(["git", "-C", str(src), "apply", "--cached", str(patch)],
                             env=env, capture_output=True, text=True)
        assert res.returncode == 0, f"{patch.name} does not apply:\n{res.stderr}"


@pytest.mark.parametrize("patch", SERIES, ids=[p.name[:40] for p in SERIES])
def test_checkpatch_strict_has_no_errors(src: Path, patch: Path) -> None:
    res = subprocess.run(["perl", "scripts/checkpatch.pl", "--strict", "--no-signoff",
                          str(patch)], cwd=src, capture_output=True, text=True)
    m = re.search(r"total: (\d+) errors, (\d+) warnings", res.stdout)
    assert m, res.stdout[-2000:]
    errors = [ln for ln in res.stdout.splitlines() if ln.startswith("ERROR:")]
    assert int(m.group(1)) == 0, "\n".join(errors)


@pytest.mark.parametrize("patch", SERIES, ids=[p.name[:40] for p in SERIES])
def test_each_patch_explains_itself(patch: Path) -> None:
    text = patch.read_text()
    subject = re.search(r"^Subject: \[PATCH[^\]]*\] (.+)$", text, re.M)
    assert subject and ":" in subject.group(1), "subject needs a 'subsystem: ' prefix"
    body = text.split("\n\n", 1)[1].split("\n---\n", 1)[0]
    assert len(body.split()) >= 40, "the commit message must say why, at some length"
    assert "Signed-off-by:" in body
