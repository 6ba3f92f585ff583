"""Two processes sharing the cache never run a kernel stage at once."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.paths import Layout

HOLD = """
import sys, time
from pathlib import Path
import pytest

from harness.paths import Layout
from harness.pipeline import cache_lock
lay = Layout(repo=Path("."), cache=Path(sys.argv[1]), out=Path(sys.argv[1]))
with cache_lock(lay, "build-base"):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_a_second_process_waits_for_the_lock(tmp_path: Path) -> None:
    first = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path), "2"],
                             stdout=subprocess.PIPE, text=True)
    assert first.stdout is not None and first.stdout.readline().strip() == "locked"
    start = time.monotonic()
    second = subprocess.run([sys.executable, "-c", HOLD, str(tmp_path), "0"],
                            capture_output=True, text=True, check=True)
    waited = time.monotonic() - start
    first.wait()
    assert "waiting for it" in second.stdout + second.stderr
    assert waited > 1.0, f"the second process ran after {waited:.2f} s, with the lock held"


def test_different_stages_do_not_wait(tmp_path: Path) -> None:
    from harness.pipeline import cache_lock
    lay = Layout(repo=tmp_path, cache=tmp_path, out=tmp_path)
    with cache_lock(lay, "build-base"), cache_lock(lay, "build-debug"):
        assert (tmp_path / ".build-base.lock").exists()


def test_a_tree_is_made_ready_once_per_process_and_inputs(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The pipeline and each test file ask for the built tree: the checks run once."""
    from harness import build, config, patches, pipeline, source

    repo = tmp_path / "repo"
    (repo / "patches").mkdir(parents=True)
    (repo / "patches" / "0001-a.patch").write_text("one\n")
    (repo / "patches" / "series").write_text("0001-a.patch\n")
    (repo / "kernel-config").mkdir()
    for name in {f for fs in config.PROFILES.values() for f in fs}:
        (repo / "kernel-config" / name).write_text("CONFIG_A=y\n")
    lay = Layout(repo=repo, cache=tmp_path / "cache", out=tmp_path / "out")
    work: list[str] = []
    monkeypatch.setattr(pipeline, "_READY", set())
    monkeypatch.setattr(source, "ensure", lambda lay: work.append("source"))
    monkeypatch.setattr(patches, "ensure_worktree", lambda lay, p: lay.build_tree(p))
    monkeypatch.setattr(patches, "apply", lambda tree, files: work.append("apply"))
    monkeypatch.setattr(config, "configure", lambda tree, frags: work.append("config"))
    monkeypatch.setattr(build, "build", lambda tree: work.append("build"))

    assert pipeline.kernel_tree(lay) == lay.build_tree("base")
    assert work == ["source", "apply", "config", "build"]
    pipeline.kernel_tree(lay)
    pipeline.kernel_tree(lay, built=False)  # a built tree is also a configured one
    assert len(work) == 4
    (repo / "kernel-config" / config.PROFILES["base"][0]).write_text("CONFIG_B=y\n")
    pipeline.kernel_tree(lay)
    assert work[4:] == ["source", "apply", "config", "build"]
    (repo / "patches" / "0001-a.patch").write_text("two\n")
    pipeline.kernel_tree(lay, built=False)
    assert work[8:] == ["source", "apply", "config"]
    pipeline.kernel_tree(lay, "debug")
    assert work[11:] == ["source", "apply", "config", "build"]
