"""The stages chained: source -> patches -> config -> build -> selftests -> targets."""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from . import accel, build, config, configdiff, kcidb, patches, selftests, source, targets, upstream
from .errors import HarnessError
from .guest import Kernel
from .paths import Layout
from .proc import activity, say

TARGETS = ("host", "ours", "reference", "plain", "mainline")
# In the object tree of a mainline build: what it was built from (see mainline_build).
MAINLINE_STAMP = ".pmscan-mainline-build"


@contextmanager
def cache_lock(lay: Layout, what: str) -> Iterator[None]:
    """Hold the cache's lock for ``what``; another process using it waits.

    Several checkouts (work trees of the project, CI, a developer's shell)
    share one cache: two of them unpacking the source or building the same
    tree at once corrupt it.
    """
    lay.cache.mkdir(parents=True, exist_ok=True)
    with open(lay.cache / f".{what}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"{what}: another process holds {lay.cache}/.{what}.lock; waiting for it")
            with activity(lambda: f"{what}: still waiting for {lay.cache}/.{what}.lock"):
                fcntl.flock(lock, fcntl.LOCK_EX)
        yield


# The trees this process has made ready, by what they were made from: a
# second call (a test file after the pipeline) skips the config and build
# checks, which take 15 to 80 seconds on an unchanged tree. Only this module
# changes a build tree, and a new series or fragment is a new key.
_READY: set[tuple[str, ...]] = set()


def _ready_key(lay: Layout, profile: str, built: bool) -> tuple[str, ...]:
    inputs = patches.read_series(lay.patches) + config.fragments_for(lay, profile)
    return (str(lay.build_tree(profile)), profile, str(built), patches.series_digest(inputs))


def kernel_tree(lay: Layout, profile: str = "base", built: bool = True) -> Path:
    """The patched, configured and (unless ``built`` is false) built tree of ``profile``."""
    key = _ready_key(lay, profile, built)
    if key in _READY or (not built and (*key[:2], "True", key[3]) in _READY):
        return lay.build_tree(profile)
    with activity(), cache_lock(lay, "source"):
        source.ensure(lay)
    with activity(), cache_lock(lay, f"build-{profile}"):
        tree = patches.ensure_worktree(lay, profile)
        patches.apply(tree, patches.read_series(lay.patches))
        config.configure(tree, config.fragments_for(lay, profile))
        if built:
            build.build(tree)
    _READY.add(key)
    return tree


def all_programs(lay: Layout, tree: Path) -> list[selftests.Program]:
    """What runs on the targets: selftests/ and 6.1's userfaultfd built against
    ``tree``, and mainline's suites built from linux-source-6.12."""
    return selftests.build(lay, tree) + upstream.build(lay, mainline_tree(lay))


def mainline_tree(lay: Layout) -> Path:
    """linux-source-6.12, unpacked into the cache once (under its own lock)."""
    with cache_lock(lay, "source-6.12"):
        return source.ensure(lay, package=source.LINUX_6_12).tree


def _mainline_fingerprint(version: str, fragments: list[Path]) -> str:
    h = hashlib.sha256(f"linux-source-6.12 {version}\0".encode())
    for p in fragments:
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def mainline_build(lay: Layout, profile: str = "base", built: bool = True) -> Path:
    """linux-source-6.12, unpatched, configured and (unless ``built`` is false)
    built like our kernel: the object tree (``make O=``, the source stays
    pristine for upstream.py).

    tinyconfig + the profile's fragments + ``kernel-config/mainline.config``;
    then its .config is compared with ours (``configdiff``), which fails on a
    difference that changes the comparison. The config and build are skipped
    when the tree was built from the same source version and fragments (a
    stamp in the object tree), as CI runs it every time.
    """
    with activity(), cache_lock(lay, "source-6.12"):
        src = source.ensure(lay, package=source.LINUX_6_12)
    objtree = lay.mainline_build_tree(profile)
    fragments = config.mainline_fragments_for(lay, profile)
    ours = lay.build_tree(profile) / ".config"
    if not ours.is_file():
        kernel_tree(lay, profile, built=False)
    with activity(), cache_lock(lay, f"build-mainline-{profile}"):
        stamp = objtree / MAINLINE_STAMP
        fingerprint = _mainline_fingerprint(src.version, fragments)
        fresh = stamp.exists() and stamp.read_text().strip() == fingerprint
        if fresh and build.bzimage(objtree).is_file():
            say(f"mainline: {objtree} is built from the same source and fragments")
            compare_configs(lay, profile)
            return objtree
        stamp.unlink(missing_ok=True)
        config.configure(src.tree, fragments, objtree=objtree)
        compare_configs(lay, profile)
        if built:
            build.build(src.tree, objtree=objtree)
            stamp.write_text(fingerprint + "\n")
    return objtree


def compare_configs(lay: Layout, profile: str) -> configdiff.Comparison:
    """Our final .config against the mainline build's; raises on a difference
    that changes the comparison. The whole list goes to ``config-diff.txt``
    in the mainline object tree."""
    objtree = lay.mainline_build_tree(profile)
    listing = objtree / "config-diff.txt"
    # Our tree's lock: another checkout reconfiguring it passes through
    # tinyconfig's .config (32-bit, nothing of ours) on the way, and a
    # comparison read then fails with differences that are not there.
    with cache_lock(lay, f"build-{profile}"):
        result = configdiff.check(lay.build_tree(profile) / ".config", objtree / ".config",
                                  listing)
    say(f"config: mainline ({profile}) matches ours where it matters: "
        f"{len(result.accepted)} accepted version differences, {len(result.listed)} "
        f"others (drivers, toolchain, renamed symbols); all listed in {listing}")
    return result


def mainline_kernel(objtree: Path, profile: str = "base") -> Kernel:
    """The same-config mainline as a guest: the same memory as ours."""
    return Kernel(name="mainline", image=str(build.bzimage(objtree)),
                  memory=_memory(profile))


def _memory(profile: str) -> str:
    return "4G" if profile == "debug" else "2G"


def our_kernel(tree: Path, profile: str = "base") -> Kernel:
    return Kernel(name="ours", image=str(build.bzimage(tree)), memory=_memory(profile))


def unavailable(name: str) -> str | None:
    """Why a target cannot run on this machine, or None."""
    if name == "host" and os.geteuid() != 0:
        return "the host selftests need root (hugepages, pagemap of other processes)"
    if name == "reference" and targets.reference_kernel() is None:
        return ("Debian's linux-image-6.12.*-amd64-unsigned is not installed "
                "(run 'make setup')")
    if name == "plain" and targets.plain_kernel() is None:
        return ("Debian's linux-image-6.1.0-*-amd64-unsigned is not installed "
                "(run 'make setup')")
    return None


def run_targets(lay: Layout, tree: Path, names: Sequence[str], profile: str = "base",
                programs: list[selftests.Program] | None = None) -> dict[str, str | None]:
    """Run the selftests on each target (guests in parallel); return errors by target."""
    progs = programs if programs is not None else all_programs(lay, tree)
    kcidb.record_series(lay)
    errors: dict[str, str | None] = {}
    guests = [n for n in names if n != "host" and unavailable(n) is None]
    crowd = accel.crowded(len(guests), Kernel.cpus)

    def boot(kernel: Kernel) -> Kernel:
        return replace(kernel, crowded=True) if crowd else kernel

    def one(name: str) -> str | None:
        with activity():
            return run_one(name)

    def run_one(name: str) -> str | None:
        outdir = lay.results(name)
        targets.clear(outdir)
        why = unavailable(name)
        if why:
            (outdir / "unavailable.txt").write_text(why + "\n")
            say(f"{name}: skipped: {why}")
            return None
        try:
            if name == "host":
                targets.run_host(lay, progs, outdir)
            elif name == "ours":
                targets.run_guest(lay, boot(our_kernel(tree, profile)), progs, outdir)
            elif name == "reference":
                ref = targets.reference_kernel()
                assert ref is not None
                targets.run_guest(lay, boot(ref), progs, outdir)
            elif name == "plain":
                plain = targets.plain_kernel()
                assert plain is not None
                targets.run_guest(lay, boot(plain), progs, outdir)
            elif name == "mainline":
                objtree = mainline_build(lay, profile)
                targets.run_guest(lay, boot(mainline_kernel(objtree, profile)), progs, outdir)
            else:
                raise HarnessError(f"unknown target {name!r}", f"use {', '.join(TARGETS)}")
        except HarnessError as e:
            outdir.mkdir(parents=True, exist_ok=True)
            (outdir / "guest-error.txt").write_text(str(e) + "\n")
            say(str(e))
            return str(e)
        return None

    with ThreadPoolExecutor(max_workers=len(names) or 1) as pool:
        for name, err in zip(names, pool.map(one, names), strict=True):
            errors[name] = err
    return errors
