"""The reliability programs (issue 6): nolostwrites and pmscan_fuzz.

Fast tests run the programs on the host kernel (mainline, which has
PAGEMAP_SCAN): the fuzzer's arguments are a function of the seed, short
runs pass, and the stress checker can fail (a planted lost write and a
planted missing write-protect are caught). The guest tests run both in our
kernel and fail on any kernel report in its dmesg.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from harness import difftest, reliability, splat
from harness.paths import layout
from harness.reliability import Job, Outcome


@pytest.fixture(scope="module")
def bindir() -> Path:
    return reliability.build(layout())


def _host(job: Job, timeout: float = 120) -> Outcome:
    out = reliability.execute(layout(), job, timeout)
    if out.skipped:
        pytest.skip(f"the host kernel cannot run {job.program}: "
                    f"{out.output.strip().splitlines()[-1]}")
    return out


def _print_args(binary: Path, seed: int, calls: int) -> list[str]:
    res = subprocess.run([str(binary), "--seed", str(seed), "--calls", str(calls),
                          "--print-args"], capture_output=True, text=True, check=True)
    return res.stdout.splitlines()


# ---- the fuzzer -------------------------------------------------------------


def test_fuzzer_arguments_are_a_function_of_the_seed(bindir: Path) -> None:
    binary = bindir / reliability.FUZZ
    first = _print_args(binary, 42, 3000)
    assert len(first) == 3000
    assert first == _print_args(binary, 42, 3000)
    # A shorter run is a prefix: call K depends on the seed and K only.
    assert _print_args(binary, 42, 500) == first[:500]
    assert _print_args(binary, 43, 3000) != first
    text = "\n".join(first)
    # The draws cover the argument space the issue asks for.
    for needle in ("size=96", "size=0 ", "vec=NULL", "vec=hole", "vec=ro", "vec=async",
                   "vec=ufbuf", "vec=0xffff888000000000", "argp=NULL", "argp=ro",
                   "target=reaped", "target=dying", "start=window", "start=hole",
                   "start=0xffff888000", "flags=0x3 "):
        assert needle in text, needle
    assert re.search(r"mask=0x[0-9a-f]{3,}", text), "no unknown category bit drawn"


@pytest.mark.host
def test_short_fuzz_run_passes_on_the_host() -> None:
    out = _host(reliability.fuzz_job("host", seed=7, calls=20_000))
    assert out.ok, out.render()
    m = re.search(r"calls 20000 ok (\d+) EINVAL (\d+) EFAULT (\d+) EPERM (\d+) ESRCH (\d+)",
                  out.output)
    assert m, out.output
    # Every kind of answer the table has was seen, successes included.
    assert all(int(n) > 0 for n in m.groups()), out.output
    assert "calls/s" in out.render()


@pytest.mark.host
def test_planted_bad_result_is_caught_and_pinpointed() -> None:
    # Test-only flag: call 57's answer is replaced by EBADF, which no call
    # may get; the checker must stop there and say how to replay it.
    job = Job(reliability.FUZZ, ("--seed", "3", "--calls", "200", "--plant-bad-result", "57"),
              seed=3)
    out = _host(job)
    assert out.status == 1, out.output
    assert re.search(r"^FAIL seed=3 call=57: ", out.output, re.M), out.output
    assert "replay: pmscan_fuzz --seed 3 --calls 58" in out.output
    assert out.failing_call() == 57
    assert "FAIL seed=3 call=56" not in out.output


# ---- the stress -------------------------------------------------------------


@pytest.mark.host
def test_short_stress_run_passes_on_the_host() -> None:
    out = _host(reliability.stress_job("host", seed=3, seconds=3))
    assert out.ok, out.render()
    m = re.search(r"writes (\d+) lost 0 phantom 0 content-mismatch 0 bad-regions 0 "
                  r"scan-errors 0", out.output)
    assert m and int(m.group(1)) > 10_000, out.output
    assert re.search(r"^ok 1 anon ", out.output, re.M), out.output
    assert re.search(r"^ok 3 shmem ", out.output, re.M), out.output


@pytest.mark.host
def test_page_cache_files_lose_no_write_on_the_host() -> None:
    # The host's directory is the one the program finds: $PMSCAN_PAGECACHE_DIR,
    # else the current directory; on tmpfs there is no page cache to test.
    where, why = difftest.host_pagecache_dir()
    if where is None:
        pytest.skip(f"no page-cache directory: {why}")
    job = Job(reliability.STRESS, ("--seed", "7", "--seconds", "3", "--types",
                                   "pagecache,pagecache-shared"), seed=7)
    out = _host(job)
    assert out.ok, out.render()
    for number, name in ((5, "pagecache"), (6, "pagecache-shared")):
        m = re.search(rf"^ok {number} {name} # writes (\d+) lost 0 phantom 0 "
                      r"content-mismatch 0 bad-regions 0$", out.output, re.M)
        assert m and int(m.group(1)) > 1000, out.output


@pytest.mark.host
def test_planted_lost_write_is_caught() -> None:
    # Test-only flag: the final scan's first reported page is dropped from
    # the record, after one write made sure there is one.
    job = Job(reliability.STRESS, ("--seed", "5", "--writes", "30000", "--plant-lost-write"),
              seed=5)
    out = _host(job)
    assert out.status == 1, out.output
    assert re.search(r"^nolostwrites: seed 5 writes \d+ lost 1 phantom 0 ", out.output,
                     re.M), out.output
    assert "LOST write to page 0" in out.output
    text = out.render()
    assert "FAILED" in text and "failing seed 5; replay: python -m harness stress" in text


@pytest.mark.host
def test_planted_missing_write_protect_is_caught() -> None:
    # Test-only flag: the scanner reports without write-protecting, so the
    # same pages come back without a new write: phantoms.
    job = Job(reliability.STRESS, ("--seed", "6", "--writes", "20000", "--plant-no-wp",
                                   "--types", "anon"), seed=6)
    out = _host(job)
    assert out.status == 1, out.output
    m = re.search(r"lost \d+ phantom (\d+) ", out.output)
    assert m and int(m.group(1)) > 0, out.output


# ---- the harness side, without running anything ---------------------------


def test_render_names_the_failing_call_and_replay() -> None:
    job = reliability.fuzz_job("ours", "debug", seed=9, calls=5000)
    out = Outcome(job, 1, "FAIL seed=9 call=1234: wrong errno: got -1 EINVAL\n", "6.1", 3.0)
    assert not out.ok
    assert out.failing_call() == 1234
    text = out.render()
    assert ("replay: python -m harness fuzz --kernel ours --profile debug --seed 9 "
            "--calls 1235") in text


def test_a_kernel_report_fails_a_passing_run() -> None:
    job = reliability.stress_job("ours", seed=2, seconds=5)
    log = ("[   12.000000] WARNING: CPU: 1 PID: 77 at mm/memory.c:100 do_wp_page+0x1/0x2\n"
           "[   12.000001] Call Trace:\n[   12.000002]  <TASK>\n"
           "[   12.000003] ---[ end trace 0000000000000000 ]---\n")
    summary = ("nolostwrites: seed 2 writes 5 lost 0 phantom 0 content-mismatch 0 "
               "bad-regions 0 scan-errors 0\n")
    out = Outcome(job, 0, summary, "6.1", 1.0, splat.scan(log))
    assert not out.ok
    text = out.render()
    assert "do_wp_page" in text and "--seconds 5" in text


def test_timeouts_grow_with_the_work() -> None:
    host = reliability.fuzz_job("host", calls=100_000)
    guest = reliability.fuzz_job("ours", calls=100_000)
    debug = reliability.fuzz_job("ours", "debug", calls=100_000)
    assert (reliability.fuzz_timeout(host) < reliability.fuzz_timeout(guest)
            < reliability.fuzz_timeout(debug))
    assert (reliability.stress_timeout(reliability.stress_job(seconds=10))
            < reliability.stress_timeout(reliability.stress_job("ours", seconds=10)))


# ---- in our kernel ----------------------------------------------------------


@pytest.mark.guest
@pytest.mark.slow
def test_stress_and_fuzz_in_our_kernel() -> None:
    """Both programs in one boot of our kernel (a boot is most of their cost)."""
    lay = layout()
    try:
        reliability.kernel_for(lay, "ours", "base")
    except reliability.ReliabilityError as e:
        pytest.skip(f"our kernel is not built: {e.message}")
    stress, fuzz = reliability.execute_together(lay, [
        (reliability.stress_job("ours", seed=11, seconds=10), 180),
        (reliability.fuzz_job("ours", seed=12, calls=2000), 180)])
    for out in (stress, fuzz):
        print(out.render())
        assert not out.splats, out.render()
        assert out.ok, out.render()
    assert re.search(r"writes \d{5,} lost 0 phantom 0 content-mismatch 0", stress.output)
    assert "pmscan_fuzz: seed 12 calls 2000 " in fuzz.output, fuzz.render()
    assert stress.directory != fuzz.directory
