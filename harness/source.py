"""Stage 1: the kernel sources.

Downloads a Debian ``linux-source-*`` package (pinned below), unpacks it into
the cache and records it as a git repository whose ``baseline`` tag is the
pristine source; the download and unpack happen once. Two packages are used:

- ``linux-source-6.1`` (`LINUX_6_1`, in ``<cache>/linux``): the tree the
  series applies to; every later stage of the pipeline starts from its tag;
- ``linux-source-6.12`` (`LINUX_6_12`, in ``<cache>/linux-6.12``): mainline's
  tree, whose own selftests run as the upstream suites (``upstream.py``).
  It is a whole tree, so a mainline kernel can be built from it too.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import SourceError
from .paths import Layout
from .proc import activity, require, run, say, stream

BASELINE_TAG = "baseline"
STAMP = ".pmscan-source-version"


@dataclass(frozen=True)
class Package:
    """A Debian kernel source package: its name, pinned version, cache directory."""

    name: str
    pinned: str
    directory: str  # under the cache
    series: str  # what "newest" means in the fallback warning, e.g. "6.1"

    def tree(self, lay: Layout) -> Path:
        return lay.cache / self.directory


# The one place each kernel version is pinned (README.md names them too).
LINUX_6_1 = Package("linux-source-6.1", "6.1.192-2", "linux", "6.1")
LINUX_6_12 = Package("linux-source-6.12", "6.12.118-1~deb12u1", "linux-6.12", "6.12")
PACKAGE = LINUX_6_1.name
PINNED_VERSION = LINUX_6_1.pinned


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


def choose_version(pinned: str, served: list[str],
                   package: Package = LINUX_6_1) -> tuple[str, str | None]:
    """The version to use, and a warning when it is not the pinned one."""
    if pinned in served:
        return pinned, None
    if not served:
        raise SourceError(
            f"apt serves no {package.name} package",
            "run 'apt-get update' and check that bookworm and bookworm-security are in "
            "/etc/apt/sources.list",
        )
    newest = served[0]
    return newest, (
        f"WARNING: {package.name} {pinned} (the pinned version) is no longer served; "
        f"using the newest {package.series}, {newest}. Update its pin in "
        "harness/source.py and the README once the series is checked against it."
    )


def download(lay: Layout, version: str, package: Package = LINUX_6_1) -> Path:
    """``apt-get download`` the source package into the cache (once)."""
    lay.debs.mkdir(parents=True, exist_ok=True)
    fname = f"{package.name}_{version.replace(':', '%3a')}_all.deb"
    deb = lay.debs / fname
    if deb.exists():
        return deb
    require("apt-get")
    say(f"source: downloading {package.name}={version} (about 150 MB)")
    with activity(lambda: f"source: downloading: {_megabytes(lay.debs)} MB so far"):
        status, lines = stream(["apt-get", "download", f"{package.name}={version}"],
                               cwd=lay.debs)
    if status != 0 or not deb.exists():
        raise SourceError(
            f"apt-get download {package.name}={version} failed:\n  " + "\n  ".join(lines[-10:]),
            "run 'apt-get update' and retry; check network access to the Debian mirror",
        )
    return deb


def _megabytes(directory: Path) -> int:
    """What a download has written so far (apt may keep it under partial/)."""
    total = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
    return total // 1_000_000


def unpack(deb: Path, dest: Path) -> None:
    """Extract the source tarball from the .deb and unpack it as ``dest``."""
    require("dpkg-deb", "tar", "xz")
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        tmpdir = Path(tmp)
        say(f"source: unpacking {deb.name}")
        with activity(lambda: f"source: extracting the tarball from {deb.name}: "
                              f"{_megabytes(tmpdir)} MB so far"):
            res = run(["dpkg-deb", "-x", deb, tmpdir / "pkg"])
        if res.returncode != 0:
            raise SourceError(f"dpkg-deb -x {deb} failed: {res.stdout}", f"delete {deb} and retry")
        tarballs = list((tmpdir / "pkg" / "usr" / "src").glob("linux-source-*.tar.*"))
        if len(tarballs) != 1:
            raise SourceError(f"no source tarball in {deb}", f"delete {deb} and retry")
        # --checkpoint shows the unpack's progress: a line per 20000 records
        # (about 130000 in all for 6.1, 150000 for 6.12).
        status, _ = stream(
            ["tar", "xf", tarballs[0], "-C", tmpdir, "--checkpoint=20000",
             "--checkpoint-action=echo=source: unpacked %u records"],
            on_line=lambda line: say(line.removeprefix("tar: ")),
        )
        if status != 0:
            raise SourceError(f"unpacking {tarballs[0].name} failed", f"delete {deb} and retry")
        unpacked = [p for p in tmpdir.iterdir() if p.name.startswith("linux-source")]
        if len(unpacked) != 1:
            raise SourceError(f"unexpected layout in {tarballs[0].name}", "report this")
        unpacked[0].rename(dest)


def make_baseline(tree: Path, version: str, package: Package = LINUX_6_1) -> None:
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
         "commit", "-q", "-m", f"{package.name} {version} (pristine)"],
        [*git, "tag", BASELINE_TAG],
    ]
    for cmd in steps:
        with activity(label=f"source: git {cmd[3]} of the pristine tree"):
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


def ensure(lay: Layout, pinned: str | None = None, package: Package = LINUX_6_1) -> Source:
    """The pristine source tree of ``package``, downloaded and recorded on first use."""
    tree = package.tree(lay)
    pinned = pinned or package.pinned
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
    version, warning = choose_version(pinned, available_versions(package.name), package)
    if warning:
        say(warning)
    lay.cache.mkdir(parents=True, exist_ok=True)
    deb = download(lay, version, package)
    unpack(deb, tree)
    make_baseline(tree, version, package)
    return Source(tree, version)
