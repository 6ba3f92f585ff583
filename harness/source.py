"""Stage 1: the kernel source.

Downloads Debian's ``linux-source-6.1`` (pinned below), unpacks it into the
cache and records it as a git repository whose ``baseline`` tag is the
pristine source. Every later stage starts from that tag; the download and
unpack happen once.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import SourceError
from .paths import Layout
from .proc import require, run, say, stream

PACKAGE = "linux-source-6.1"
# The one place the kernel version is pinned (README.md names it too).
PINNED_VERSION = "6.1.192-2"
BASELINE_TAG = "baseline"
STAMP = ".pmscan-source-version"


@dataclass(frozen=True)
class Source:
    tree: Path
    version: str


def available_versions(package: str = PACKAGE) -> list[str]:
    """Versions of ``package`` the configured apt sources serve, newest first."""
    res = run(["apt-cache", "madison", package])
    versions = []
    for line in res.stdout.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) >= 2 and parts[0] == package:
            versions.append(parts[1])
    return versions


def choose_version(pinned: str, served: list[str]) -> tuple[str, str | None]:
    """The version to use, and a warning when it is not the pinned one."""
    if pinned in served:
        return pinned, None
    if not served:
        raise SourceError(
            f"apt serves no {PACKAGE} package",
            "run 'apt-get update' and check that bookworm and bookworm-security are in "
            "/etc/apt/sources.list",
        )
    newest = served[0]
    return newest, (
        f"WARNING: {PACKAGE} {pinned} (the pinned version) is no longer served; "
        f"using the newest 6.1, {newest}. Update PINNED_VERSION in harness/source.py "
        "and the README once the series is checked against it."
    )


def download(lay: Layout, version: str) -> Path:
    """``apt-get download`` the source package into the cache (once)."""
    lay.debs.mkdir(parents=True, exist_ok=True)
    fname = f"{PACKAGE}_{version.replace(':', '%3a')}_all.deb"
    deb = lay.debs / fname
    if deb.exists():
        return deb
    require("apt-get")
    say(f"source: downloading {PACKAGE}={version} (about 140 MB)")
    status, lines = stream(["apt-get", "download", f"{PACKAGE}={version}"], cwd=lay.debs)
    if status != 0 or not deb.exists():
        raise SourceError(
            f"apt-get download {PACKAGE}={version} failed:\n  " + "\n  ".join(lines[-10:]),
            "run 'apt-get update' and retry; check network access to the Debian mirror",
        )
    return deb


def unpack(deb: Path, dest: Path) -> None:
    """Extract the source tarball from the .deb and unpack it as ``dest``."""
    require("dpkg-deb", "tar", "xz")
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        tmpdir = Path(tmp)
        say(f"source: unpacking {deb.name}")
        res = run(["dpkg-deb", "-x", deb, tmpdir / "pkg"])
        if res.returncode != 0:
            raise SourceError(f"dpkg-deb -x {deb} failed: {res.stdout}", f"delete {deb} and retry")
        tarballs = list((tmpdir / "pkg" / "usr" / "src").glob("linux-source-*.tar.*"))
        if len(tarballs) != 1:
            raise SourceError(f"no source tarball in {deb}", f"delete {deb} and retry")
        # --checkpoint shows the unpack's progress: a line per 20000 records
        # (about 130000 in all).
        status, _ = stream(
            ["tar", "xf", tarballs[0], "-C", tmpdir, "--checkpoint=20000",
             "--checkpoint-action=echo=source: unpacked %u records"],
            on_line=say,
        )
        if status != 0:
            raise SourceError(f"unpacking {tarballs[0].name} failed", f"delete {deb} and retry")
        unpacked = [p for p in tmpdir.iterdir() if p.name.startswith("linux-source")]
        if len(unpacked) != 1:
            raise SourceError(f"unexpected layout in {tarballs[0].name}", "report this")
        unpacked[0].rename(dest)


def make_baseline(tree: Path, version: str) -> None:
    """Commit the pristine tree and tag it ``baseline``."""
    say("source: recording the pristine tree in git (baseline)")
    git: list[str | Path] = ["git", "-C", tree]
    steps: list[list[str | Path]] = [
        [*git, "init", "-q", "-b", "pristine"],
        # Debian's tarball ignores everything at the top level: force.
        [*git, "add", "-f", "-A"],
        # The baseline's own identity is given for this commit only: work
        # trees of this repository commit as the developer.
        [*git, "-c", "user.name=pagemap-scan harness", "-c", "user.email=harness@localhost",
         "commit", "-q", "-m", f"{PACKAGE} {version} (pristine)"],
        [*git, "tag", BASELINE_TAG],
    ]
    for cmd in steps:
        res = run(cmd)
        if res.returncode != 0:
            raise SourceError(f"{' '.join(map(str, cmd))} failed: {res.stdout}",
                              f"delete {tree} and retry")
    (tree / ".git" / STAMP).write_text(version + "\n")


def kernel_version(tree: Path) -> str:
    """``6.1.192`` from the top-level Makefile."""
    text = (tree / "Makefile").read_text(errors="replace")
    fields = dict(re.findall(r"^(VERSION|PATCHLEVEL|SUBLEVEL) = (\d+)", text, re.M))
    return f"{fields.get('VERSION')}.{fields.get('PATCHLEVEL')}.{fields.get('SUBLEVEL')}"


def ensure(lay: Layout, pinned: str = PINNED_VERSION) -> Source:
    """The pristine source tree, downloaded and recorded on first use."""
    tree = lay.source
    stamp = tree / ".git" / STAMP
    if stamp.exists():
        return Source(tree, stamp.read_text().strip())
    has_tag = run(["git", "-C", tree, "rev-parse", BASELINE_TAG]).returncode == 0
    if (tree / ".git").exists() and has_tag:
        # A baseline made by hand or by an older harness: adopt it.
        return Source(tree, kernel_version(tree))
    if tree.exists():
        raise SourceError(
            f"{tree} exists but is not a baseline the harness made (an interrupted unpack?)",
            f"remove it ('rm -rf {tree}') and run again",
        )
    require("git", "apt-cache")
    version, warning = choose_version(pinned, available_versions())
    if warning:
        say(warning)
    lay.cache.mkdir(parents=True, exist_ok=True)
    deb = download(lay, version)
    unpack(deb, tree)
    make_baseline(tree, version)
    return Source(tree, version)
