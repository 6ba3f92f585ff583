"""The differential tester: its generator, its trace reader and its differ.

The generator must be deterministic (else every difference is noise), the
differ must find a planted bug and say where, and the whole loop runs once
against our kernel in a guest (slow).
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from harness import difftest, guest, hugepages, softdirty
from harness.difftest import (
    FeatureMissing,
    Options,
    SideRun,
    Status,
    Verdict,
    compare,
    normalize,
    parse_trace,
)
from harness.errors import GuestPanic
from harness.paths import layout

HEADER = "pmscan-fuzz-diff v1 seed={seed} ops=3 hugetlb=0 swap=0"

SAMPLE = """\
pmscan-fuzz-diff v1 seed=5 ops=3 hugetlb=0 swap=0
uffd features=async
map 0 anon pages=16
register 0 -> ok
op 0 write 0:3-0:5 v=7 -> ok
op 0 seen 0:3-0:5 f=0 inv=0 m=0 any=0 ret=0x7f len=512 max=0 -> 1 we=0:5 [0:3-0:5 0xb]
op 1 getwp 0:0-0:16 f=1 inv=0 m=0x2 any=0 ret=0x2 len=4 max=0 -> 1 we=0:16 [0:3-0:5 0x2]
op 2 snap 0:0-12:0 f=0 inv=0 m=0 any=0 ret=0x7f len=512 max=0 -> 2 we=12:0 [0:0-0:3 0x1 0:3-0:5 0x9]
end ok
"""


def trace_text(body: str, seed: int = 5, end: str = "end ok") -> str:
    return "\n".join([HEADER.format(seed=seed), *body.strip().splitlines(), end]) + "\n"


# ---- (c) parsing and normalizing ------------------------------------------


def test_normalize_drops_only_noise() -> None:
    text = "a 1\r\n\n# timing: 3.2s\nb  2   \r\n  \nend ok\r\n"
    assert normalize(text) == ["a 1", "b  2", "end ok"]


def test_parse_sample() -> None:
    t = parse_trace(SAMPLE, 5)
    assert t.seed == 5 and t.status is Status.OK and t.reason == ""
    assert t.ops == 3
    ops = [ln.op for ln in t.lines]
    assert ops == [None, None, None, None, 0, 0, 1, 2, None]
    assert [ln.where for ln in t.lines][:5] == ["set-up"] * 4 + ["op 0"]
    assert t.lines[-1].where == "end"
    assert [ln.number for ln in t.lines] == list(range(1, 10))


def test_parse_seed_from_header_and_mismatch() -> None:
    assert parse_trace(SAMPLE).seed == 5
    with pytest.raises(difftest.DiffError, match="seed 5 where seed 6"):
        parse_trace(SAMPLE, 6)


def test_parse_rejects_another_trace_version() -> None:
    with pytest.raises(difftest.DiffError, match="version 2"):
        parse_trace(SAMPLE.replace("v1", "v2", 1))


@pytest.mark.parametrize(("end", "status", "reason"), [
    ("end ok", Status.OK, ""),
    ("end env THP not allocated (AnonHugePages 0 kB of 4096)", Status.ENV,
     "THP not allocated (AnonHugePages 0 kB of 4096)"),
    ("end unsupported PAGEMAP_SCAN (ENOTTY)", Status.UNSUPPORTED, "PAGEMAP_SCAN (ENOTTY)"),
    ("end error shmem: File exists", Status.ERROR, "shmem: File exists"),
    ("end crash signal 11", Status.CRASH, "signal 11"),
    ("end timeout signal 14", Status.TIMEOUT, "signal 14"),
    ("end something-new", Status.ERROR, "end something-new"),
])
def test_end_lines(end: str, status: Status, reason: str) -> None:
    t = parse_trace(trace_text("op 0 read 0:1-0:2 -> 0", end=end), 5)
    assert (t.status, t.reason) == (status, reason)


def test_trace_without_end_is_truncated() -> None:
    t = parse_trace(HEADER.format(seed=1) + "\nop 0 read 0:1-0:2 -> 0\n", 1)
    assert t.status is Status.TRUNCATED
    assert parse_trace("", 4).status is Status.TRUNCATED


def test_read_traces_marks_missing_files(tmp_path: Path) -> None:
    (tmp_path / "seed-5.trace").write_text(SAMPLE)
    traces = difftest.read_traces(tmp_path, [5, 6])
    assert traces[5].status is Status.OK
    assert traces[6].status is Status.MISSING and traces[6].lines == ()


# ---- comparing -------------------------------------------------------------


def test_same_traces_compare_same() -> None:
    a = parse_trace(SAMPLE, 5)
    b = parse_trace(SAMPLE.replace("\n", "\r\n"), 5)
    assert compare(a, b).verdict is Verdict.SAME


def test_first_differing_operation_is_reported() -> None:
    a = parse_trace(SAMPLE, 5)
    b = parse_trace(SAMPLE.replace("[0:3-0:5 0x2]", "[0:3-0:4 0x2]")
                    .replace("0:3-0:5 0x9", "0:3-0:5 0xb"), 5)
    r = compare(a, b)
    assert r.verdict is Verdict.DIFFER and r.difference is not None
    d = r.difference
    assert (d.seed, d.op, d.where, d.line) == (5, 1, "op 1", 7)
    assert d.oracle.endswith("[0:3-0:5 0x2]") and d.subject.endswith("[0:3-0:4 0x2]")


def test_setup_difference_has_no_op() -> None:
    a = parse_trace(SAMPLE, 5)
    b = parse_trace(SAMPLE.replace("register 0 -> ok", "register 0 -> EINVAL"), 5)
    d = compare(a, b).difference
    assert d is not None and d.op is None and d.where == "set-up"


def test_crashed_subject_differs_at_the_missing_line() -> None:
    a = parse_trace(SAMPLE, 5)
    cut = SAMPLE.split("op 1 getwp")[0] + "end crash signal 11\n"
    d = compare(a, parse_trace(cut, 5)).difference
    assert d is not None and d.op == 1
    assert d.oracle.startswith("op 1 getwp")
    assert d.subject == "end crash signal 11"
    missing = compare(a, difftest.missing_trace(5)).difference
    assert missing is not None and missing.where == "set-up"
    assert missing.subject == "<trace ends: missing no trace file>"


def test_environment_failures_are_inconclusive() -> None:
    a = parse_trace(SAMPLE, 5)
    env = parse_trace(trace_text("", end="end env mmap hugetlb of 2 hugetlb pages"), 5)
    for r in (compare(a, env), compare(env, a)):
        assert r.verdict is Verdict.INCONCLUSIVE and "mmap hugetlb" in r.why
    broken_oracle = parse_trace(trace_text("op 0 read 0:1-0:2 -> 0", end="end crash signal 6"), 5)
    assert compare(broken_oracle, a).verdict is Verdict.INCONCLUSIVE


def _side(name: str, traces: dict[int, difftest.Trace], status: int = 0,
          output: str = "") -> SideRun:
    return SideRun(name, "test", traces, 1.0, 10, status, output)


def test_subject_without_the_feature_is_one_clear_error() -> None:
    t = parse_trace(trace_text("", seed=0, end="end unsupported PAGEMAP_SCAN (ENOTTY)"), 0)
    run = _side("ours", {0: t, 1: difftest.missing_trace(1)}, status=4)
    with pytest.raises(FeatureMissing, match="our kernel lacks PAGEMAP_SCAN: PAGEMAP_SCAN "
                                             r"\(ENOTTY\)") as e:
        difftest.check_supported(run)
    assert "patches/" in str(e.value)
    difftest.check_supported(_side("ours", {5: parse_trace(SAMPLE, 5)}))


def test_report_counts_and_renders() -> None:
    opts = Options(start=5, seeds=1, ops=3, hugetlb=False, swap=False)
    same = difftest.diff_runs(_side("host", {5: parse_trace(SAMPLE, 5)}),
                              _side("ours", {5: parse_trace(SAMPLE, 5)}), opts)
    assert same.ok() and "1 same, 0 differ, 0 inconclusive" in same.render()
    assert "10 ops in 1.0s = 10 ops/s" in same.render()


def test_resources_are_decided_once_for_both_sides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(difftest, "host_hugetlb_available", lambda: False)
    monkeypatch.setattr(difftest, "host_swap_on", lambda: True)
    hugetlb, swap, notes = difftest.decide_resources(("host", "ours"), None, None)
    assert not hugetlb and any("hugetlb off" in n for n in notes)
    hugetlb, swap, notes = difftest.decide_resources(("reference", "ours"), None, None)
    assert hugetlb and swap and not notes
    assert difftest.decide_resources(("host", "ours"), True, False)[:2] == (True, False)


def test_page_cache_files_are_a_switch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    opts = Options(start=3, seeds=1, ops=5, hugetlb=False, swap=False, pagecache=True)
    argv = opts.argv(Path("/bin/prog"), tmp_path)
    assert "--pagecache" in argv and opts.flags() == "--pagecache "
    off = Options(start=3, seeds=1, ops=5, hugetlb=False, swap=False)
    assert "--pagecache" not in off.argv(Path("/bin/prog"), tmp_path)
    # Traces with and without the type never share a directory.
    assert difftest.run_name(opts) != difftest.run_name(off)

    monkeypatch.setenv(difftest.PAGECACHE_ENV, str(tmp_path))
    monkeypatch.setattr(difftest, "filesystem_type", lambda path: "tmpfs")
    on, notes = difftest.decide_pagecache(("host", "ours"), None)
    assert not on and "is on tmpfs" in notes[0] and difftest.PAGECACHE_ENV in notes[0]
    assert difftest.decide_pagecache(("reference", "ours"), None) == (True, [])
    assert difftest.decide_pagecache(("host", "ours"), False) == (False, [])
    monkeypatch.setattr(difftest, "filesystem_type", lambda path: "ext4")
    assert difftest.decide_pagecache(("host", "ours"), None) == (True, [])
    monkeypatch.setenv(difftest.PAGECACHE_ENV, str(tmp_path / "nowhere"))
    on, notes = difftest.decide_pagecache(("host", "ours"), None)
    assert not on and "is not a directory" in notes[0]


def test_soft_dirty_is_a_switch(tmp_path: Path) -> None:
    opts = Options(start=3, seeds=1, ops=5, hugetlb=False, swap=True, soft_dirty=True)
    assert "--soft-dirty" in opts.argv(Path("/bin/prog"), tmp_path)
    assert opts.flags() == "--swap --soft-dirty "
    off = replace(opts, soft_dirty=False)
    assert "--soft-dirty" not in off.argv(Path("/bin/prog"), tmp_path)
    assert difftest.run_name(opts) != difftest.run_name(off)
    # The plant is the subject's environment, never an argument of both sides.
    planted = replace(opts, plant="soft-dirty:2")
    assert planted.argv(Path("/bin/prog"), tmp_path) == opts.argv(Path("/bin/prog"), tmp_path)


def _built_kernel(tree: Path, name: str, config: str) -> guest.Kernel:
    image = tree / "arch" / "x86" / "boot" / "bzImage"
    image.parent.mkdir(parents=True)
    image.write_text("")
    (tree / ".config").write_text(config)
    return guest.Kernel(name=name, image=str(image))


def test_soft_dirty_only_when_both_kernels_have_it(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    with_sd = _built_kernel(tmp_path / "a", "ours", "CONFIG_SWAP=y\nCONFIG_MEM_SOFT_DIRTY=y\n")
    without = _built_kernel(tmp_path / "b", "mainline",
                            "# CONFIG_MEM_SOFT_DIRTY is not set\n")
    kernels = {"ours": with_sd, "mainline": without, "reference": with_sd}
    assert difftest.decide_soft_dirty(("reference", "ours"), None, kernels) == (True, [])
    on, notes = difftest.decide_soft_dirty(("mainline", "ours"), None, kernels)
    assert not on and "mainline is built without CONFIG_MEM_SOFT_DIRTY" in notes[0]
    monkeypatch.setattr(softdirty, "host_soft_dirty", lambda: False)
    on, notes = difftest.decide_soft_dirty(("host", "ours"), None, kernels)
    assert not on and "the host" in notes[0]
    assert difftest.decide_soft_dirty(("host", "ours"), True, kernels) == (True, [])
    missing = guest.Kernel(name="ours", image=str(tmp_path / "c" / "arch/x86/boot/bzImage"))
    on, notes = difftest.decide_soft_dirty(("reference", "ours"), None,
                                           {**kernels, "ours": missing})
    assert not on and "build the kernel first" in notes[0]
    # An installed kernel: its configuration is in /boot.
    assert softdirty.kernel_config(guest.Kernel(name="reference", image="6.12.1-amd64")) == \
        Path("/boot/config-6.12.1-amd64")


def test_host_soft_dirty_reads_pagemap() -> None:
    """The host's answer is what its configuration says."""
    boot = Path(f"/boot/config-{os.uname().release}")
    proc = Path("/proc/config.gz")
    if boot.exists():
        config = boot.read_text()
    elif proc.exists():
        config = gzip.decompress(proc.read_bytes()).decode()
    else:
        pytest.skip("the host's kernel configuration is neither in /boot nor /proc/config.gz")
    assert softdirty.host_soft_dirty() == ("CONFIG_MEM_SOFT_DIRTY=y" in config.splitlines())


def test_a_plant_must_be_understood_and_able_to_show() -> None:
    opts = Options(start=0, seeds=1, ops=5, hugetlb=False, swap=False, soft_dirty=True)
    difftest.check_plant(opts)
    difftest.check_plant(replace(opts, plant="soft-dirty:4"))
    with pytest.raises(difftest.DiffError, match="unknown plant 'soft-dirty:0'"):
        difftest.check_plant(replace(opts, plant="soft-dirty:0"))
    with pytest.raises(difftest.DiffError, match="unknown plant 'written:1'"):
        difftest.check_plant(replace(opts, plant="written:1"))
    with pytest.raises(difftest.DiffError, match="without soft-dirty"):
        difftest.check_plant(replace(opts, plant="soft-dirty:1", soft_dirty=False))


def test_the_plant_goes_into_the_guest_script(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    scripts: list[str] = []

    def booting(kernel: guest.Kernel, script: str, cache: Path, timeout: float = 600,
                rwdirs: tuple[Path, ...] = ()) -> guest.Result:
        scripts.append(script)
        raise GuestPanic("stop here")

    monkeypatch.setattr(guest, "run", booting)
    opts = Options(start=1, seeds=1, ops=9, hugetlb=False, swap=False, soft_dirty=True)
    kernel = guest.Kernel(name="ours", image="/nonexistent/bzImage")
    for plant in ("soft-dirty:3", ""):
        with pytest.raises(GuestPanic):
            difftest.run_guest(kernel, Path("/x/prog"), opts, tmp_path / "o", layout(), plant)
    assert "PMSCAN_DIFF_PLANT=soft-dirty:3 /x/prog --ops 9" in scripts[0]
    assert "PMSCAN_DIFF_PLANT" not in scripts[1]


def test_filesystem_type_reads_the_mount_table() -> None:
    assert difftest.filesystem_type(Path("/proc/self")) == "proc"
    assert difftest.filesystem_type(Path("/")) not in (None, "proc")


def test_a_guest_that_dies_names_the_running_seed(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def panicking(kernel: guest.Kernel, script: str, cache: Path, timeout: float = 600,
                  rwdirs: tuple[Path, ...] = ()) -> guest.Result:
        (rwdirs[0] / "seed-7.trace").write_text(trace_text("", seed=7))
        raise GuestPanic("ours kernel panicked: Kernel panic - not syncing: Fatal exception")

    monkeypatch.setattr(guest, "run", panicking)
    opts = Options(start=7, seeds=3, ops=9, hugetlb=False, swap=True)
    kernel = guest.Kernel(name="ours", image="/nonexistent/bzImage")
    with pytest.raises(GuestPanic, match=r"(?s)Fatal exception.*failed while seed 8 ran "
                                         r"\(reproduce: pmscan_fuzz_diff --ops 9 --swap 8\)"):
        difftest.run_guest(kernel, Path("/x/prog"), opts, tmp_path / "out", layout())


def test_a_run_where_nothing_compared_is_not_ok() -> None:
    opts = Options(start=5, seeds=1, ops=3, hugetlb=False, swap=False)
    env = parse_trace(trace_text("", end="end env mmap hugetlb"), 5)
    rep = difftest.diff_runs(_side("host", {5: env}), _side("ours", {5: env}), opts)
    assert not rep.differences and not rep.ok()


def test_localizing_options_and_report() -> None:
    opts = Options(start=0, seeds=100, ops=7, hugetlb=False, swap=False, seed_timeout=30)
    lo = opts.localizing([5, 9])
    assert lo.argv(Path("/p"), Path("/o"))[-2:] == ["--state", "5,9"]
    assert list(lo.seed_range) == [5, 9] and lo.count == 2 and opts.count == 100
    assert opts.localizing([4]).argv(Path("/p"), Path("/o"))[-1] == "4"

    state = "op 1 state 0:0-12:0 f=0 inv=0 m=0 any=0 ret=0x7f len=512 max=0 -> 1 we=12:0 "
    good = parse_trace(SAMPLE.replace("op 2 snap", state + "[0:0-0:3 0x1]\nop 2 snap"), 5)
    bad = parse_trace(SAMPLE.replace("op 2 snap", state + "[0:0-0:3 0x3]\nop 2 snap"), 5)
    rep = difftest.diff_runs(_side("host", {5: parse_trace(SAMPLE, 5)}),
                             _side("ours", {5: parse_trace(SAMPLE, 5)}), opts.localizing([5]))
    rep.localized = [compare(good, bad), compare(good, good)]
    text = rep.render()
    assert "difftest: seeds 5, 7 ops" in text
    assert "LOCALIZED seed 5, op 1 (trace line 8):" in text and "[0:0-0:3 0x3]" in text
    assert "localized seed 5: not reproduced" in text


def test_options_argv() -> None:
    opts = Options(start=10, seeds=5, ops=7, hugetlb=True, swap=False, seed_timeout=30)
    argv = opts.argv(Path("/x/prog"), Path("/o"))
    assert argv == ["/x/prog", "--ops", "7", "--timeout", "30", "--out", "/o", "--hugetlb",
                    "10", "5"]
    assert list(opts.seed_range) == [10, 11, 12, 13, 14]


# ---- on the host: (a) determinism, (b) a planted bug ----------------------


@pytest.fixture(scope="module")
def host_opts() -> Options:
    hugetlb, swap, _ = difftest.decide_resources(("host",), None, None)
    pagecache, _ = difftest.decide_pagecache(("host",), None)
    return Options(start=0, seeds=40, ops=80, hugetlb=hugetlb, swap=swap, pagecache=pagecache)


@pytest.fixture(scope="module")
def host_run(tmp_path_factory: pytest.TempPathFactory, host_opts: Options) -> SideRun:
    binary = difftest.build(layout())
    run = difftest.run_host(binary, host_opts, tmp_path_factory.mktemp("difftest") / "a")
    try:
        difftest.check_supported(run)
    except FeatureMissing as e:
        pytest.skip(f"the host cannot be the oracle: {e}")
    return run


@pytest.mark.host
def test_generator_is_deterministic(tmp_path: Path, host_opts: Options,
                                    host_run: SideRun) -> None:
    binary = difftest.build(layout())
    again = difftest.run_host(binary, host_opts, tmp_path / "b")
    rep = difftest.diff_runs(host_run, again, host_opts)
    assert not rep.differences, rep.render()
    done = rep.by(Verdict.SAME)
    # Resources other helpers use on this machine (hugetlb pages) may make
    # a seed inconclusive, but most seeds must run to the end.
    assert len(done) >= host_opts.seeds * 3 // 4, rep.render()
    assert host_run.ops >= len(done) * host_opts.ops
    # Different seeds are different workloads.
    texts = {tuple(ln.text for ln in t.lines[1:]) for t in host_run.traces.values()}
    assert len(texts) == host_opts.seeds


_REGION = re.compile(r"(\d+:\d+-\d+:\d+ )(0x[0-9a-f]+|0)(?=[ \]])")


@pytest.mark.host
def test_planted_bug_is_pinpointed(host_run: SideRun, host_opts: Options) -> None:
    # A real oracle trace; the fifth scan result that reports regions gets
    # one category bit flipped in its second region (or its first).
    seed = next(s for s, t in host_run.traces.items() if t.status is Status.OK)
    oracle = host_run.traces[seed]
    scans = [ln for ln in oracle.lines if ln.op is not None and _REGION.search(ln.text)]
    assert len(scans) >= 5, "the trace has too few scan results to plant a bug in"
    victim = scans[4]
    matches = list(_REGION.finditer(victim.text))
    m = matches[1] if len(matches) > 1 else matches[0]
    value = int(m.group(2), 16)
    flipped = value ^ 0x2  # PAGE_IS_WRITTEN
    bad_line = victim.text[:m.start(2)] + hex(flipped) + victim.text[m.end(2):]
    lines = [ln.text for ln in oracle.lines]
    lines[victim.number - 1] = bad_line
    subject = parse_trace("\n".join(lines) + "\n", seed)

    rep = difftest.diff_runs(
        host_run,
        _side("ours", {**host_run.traces, seed: subject}),
        host_opts)
    assert len(rep.differences) == 1
    d = rep.differences[0]
    assert (d.seed, d.op, d.line) == (seed, victim.op, victim.number)
    assert d.oracle == victim.text and d.subject == bad_line
    text = rep.render()
    assert f"seed {seed}, op {victim.op} " in text
    assert victim.text in text and bad_line in text
    assert f"traces: {host_run.trace_path(seed)} seed-{seed}.trace" in text
    assert not rep.ok()


_SCAN_RESULT = re.compile(r" ret=(0x[0-9a-f]+|0) len=.* -> (\d+) we=\S+ "
                          r"\[(\S+-\S+) (0x[0-9a-f]+|0)")
PLANTED_SCAN = 3


def planted_line(trace: difftest.Trace, n: int) -> tuple[difftest.Line, str] | None:
    """Where PMSCAN_DIFF_PLANT=soft-dirty:n lands in a good trace, and what it writes.

    Worked out from the trace alone: the nth scan whose return mask has
    PAGE_IS_SOFT_DIRTY and that returned regions, its first region's
    categories with that bit flipped.
    """
    seen = 0
    for ln in trace.lines:
        m = _SCAN_RESULT.search(ln.text)
        if not m or not int(m.group(1), 16) & 0x80 or int(m.group(2)) < 1:
            continue
        seen += 1
        if seen == n:
            flipped = hex(int(m.group(4), 16) ^ 0x80)
            return ln, ln.text[:m.start(4)] + flipped + ln.text[m.end(4):]
    return None


@pytest.mark.host
def test_planted_soft_dirty_bug_is_caught(tmp_path: Path) -> None:
    """A subject that misreads one soft-dirty bit differs there, and only there.

    The host has no soft-dirty tracking, but with --soft-dirty the seeds ask
    for and return PAGE_IS_SOFT_DIRTY all the same (always clear there), so
    the subject's wrong reading is a real difference the comparison must
    find, at the operation the plant picked.
    """
    binary = difftest.build(layout())
    opts = Options(start=0, seeds=30, ops=60, hugetlb=False, swap=False, soft_dirty=True,
                   plant=f"soft-dirty:{PLANTED_SCAN}")
    oracle = difftest.run_host(binary, opts, tmp_path / "oracle")
    try:
        difftest.check_supported(oracle)
    except FeatureMissing as e:
        pytest.skip(f"the host cannot run the seeds: {e}")
    subject = difftest.run_host(binary, opts, tmp_path / "subject", plant=opts.plant)
    rep = difftest.diff_runs(oracle, replace(subject, name="ours"), opts)
    expected = {seed: planted_line(t, PLANTED_SCAN) for seed, t in oracle.traces.items()
                if t.status is Status.OK}
    expected = {seed: where for seed, where in expected.items() if where is not None}
    assert len(expected) >= opts.seeds // 2, "too few seeds scan soft-dirty three times"
    assert {d.seed for d in rep.differences} == set(expected), rep.render()
    for d in rep.differences:
        line, wrong = expected[d.seed]
        assert (d.op, d.line, d.where) == (line.op, line.number, f"op {line.op}")
        assert (d.oracle, d.subject) == (line.text, wrong)
    assert "planted in the subject: PMSCAN_DIFF_PLANT=soft-dirty:3" in rep.render()
    assert not rep.ok()


# ---- (d) the real thing: oracle vs our kernel in a guest ------------------


@pytest.mark.guest
@pytest.mark.slow
def test_host_and_our_kernel_agree() -> None:
    """200 seeds as before the page-cache type existed, and 200 with it (one boot)."""
    lay = layout()
    if not difftest.kernel_built(lay):
        pytest.skip("our kernel is not built: run 'python -m harness build'")
    # Without a page-cache directory the run without page-cache files still runs.
    where, why = difftest.host_pagecache_dir()
    kinds = (False, True) if where is not None else (False,)
    with hugepages.host_hugepages(("host", "ours")):
        hugetlb, swap, notes = difftest.decide_resources(("host", "ours"), None, None)
        # Short seeds: 200 of them take about a minute under TCG after the boot.
        runs = [Options(start=0, seeds=200, ops=25, hugetlb=hugetlb, swap=swap,
                        pagecache=pagecache) for pagecache in kinds]
        try:
            reps = difftest.differentials_against_host(lay, runs, "ours", notes)
        except FeatureMissing as e:
            assert str(e).startswith("[difftest] our kernel lacks PAGEMAP_SCAN"), str(e)
            pytest.skip(str(e).removeprefix("[difftest] ").split("\n")[0])
    for rep in reps:
        print(rep.render())
    for rep in reps:
        assert len(rep.by(Verdict.SAME)) >= rep.opts.seeds * 3 // 4, rep.render()
        assert rep.ok(), rep.render()
    # The second run really had page-cache files in its workloads; the first none.
    assert [any(ln.text.startswith("map ") and " pagecache" in ln.text
                for t in r.subject.traces.values() for ln in t.lines) for r in reps] \
        == list(kinds)
    if where is None:
        pytest.skip(f"the 200 seeds without page-cache files agree; the run with them needs "
                    f"a page-cache directory on the host: {why}")


def reports(line: str, category: int) -> bool:
    """Does a scan's trace line return a region with ``category``?"""
    return any(int(m.group(2), 16) & category for m in _REGION.finditer(line))


def test_reports_reads_the_regions_of_a_scan() -> None:
    line = "op 3 swapped 2:1-2:5 f=0 inv=0 m=0 any=0 ret=0xff len=512 max=0 -> 2 we=2:5 " \
           "[2:1-2:2 0x13 2:2-2:5 0x8a]"
    assert reports(line, 0x10) and reports(line, 0x80) and not reports(line, 0x40)
    assert not reports("op 3 swapped 2:1-2:5 f=0 inv=0 m=0 any=0 ret=0x10 len=0 max=0 -> 0", 0x10)


@pytest.mark.guest
@pytest.mark.slow
def test_mainline_and_our_kernel_agree_on_soft_dirty_and_swap() -> None:
    """200 seeds against 6.12 built like ours, with what the host cannot answer.

    Soft-dirty (clear_refs, PAGE_IS_SOFT_DIRTY, pagemap's bits) and swap
    (MADV_PAGEOUT on zram, swap entries with and without uffd-wp) on, next
    to hugetlb and page-cache files; one boot per side, side by side.
    """
    lay = layout()
    sides = ("mainline", "ours")
    for side in sides:
        if not difftest.kernel_built(lay, side=side):
            pytest.skip(f"the {side} kernel is not built: run 'python -m harness run' "
                        "(or 'build' for ours)")
    kernels = {n: difftest.guest_kernel(n, lay, build_kernel=False) for n in sides}
    soft_dirty, notes = difftest.decide_soft_dirty(sides, None, kernels)
    hugetlb, swap, more = difftest.decide_resources(sides, None, None)
    assert soft_dirty and swap, notes + more
    opts = Options(start=0, seeds=200, ops=25, hugetlb=hugetlb, swap=swap, pagecache=True,
                   soft_dirty=True)
    rep = difftest.differential(lay, opts, "mainline", "ours", notes + more,
                                build_kernel=False, localize=3)
    print(rep.render())
    assert len(rep.by(Verdict.SAME)) >= opts.seeds * 3 // 4, rep.render()
    assert rep.ok(), rep.render()
    # The agreement is about the new operations: they ran, and showed something.
    lines = [ln.text for t in rep.oracle.traces.values() for ln in t.lines]
    cleared = sum(" clear-refs -> ok" in ln for ln in lines)
    soft = sum(reports(ln, 0x80) for ln in lines)
    swapped = sum(reports(ln, 0x10) for ln in lines if " swapped " in ln)
    assert cleared >= 50 and soft >= 200 and swapped >= 20, (cleared, soft, swapped)


def test_one_run_at_a_time_holds_the_host_hugepages(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    """Parallel test files: one giving the pages back must not take another's."""
    events: list[str] = []

    @contextlib.contextmanager
    def reserve(needed: int) -> Iterator[None]:
        events.append("reserve")
        yield
        events.append("give back")

    monkeypatch.setattr(hugepages, "_reserved_hugepages", reserve)
    monkeypatch.setattr(hugepages, "HOST_HUGEPAGES_LOCK", tmp_path / "lock")

    def second() -> None:
        with hugepages.host_hugepages(("host", "ours")):
            events.append("second runs")

    with hugepages.host_hugepages(("host",)):
        t = threading.Thread(target=second)
        t.start()
        time.sleep(0.5)
        events.append("first runs")
    t.join(10)
    assert events == ["reserve", "first runs", "give back", "reserve", "second runs",
                      "give back"]
    with hugepages.host_hugepages(("reference", "ours")):
        events.append("no host: nothing reserved")
    assert events[-1] == "no host: nothing reserved"
