"""Two processes sharing the cache never run a kernel stage at once."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from harness.paths import Layout

HOLD = """
import sys, time
from pathlib import Path
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
