"""A writable directory on a page-cache filesystem, for every program the harness runs.

Programs that test file-backed memory (mainline's pagemap_ioctl, and any of
ours with a page-cache file memory type) find it in the environment
variable ``PMSCAN_PAGECACHE_DIR``: a writable directory on a filesystem
whose files live in the page cache, never tmpfs, ramfs or hugetlbfs (their
pages are shmem or hugetlb, which the other memory types cover).

- On the host it is ``out/pagecache`` (the output directory is on the root
  filesystem), or what the caller already set, checked.
- In a guest it is a host directory shared writable (``vng --rwdir``: 9p or
  virtio-fs, whichever virtme-ng picks), one per boot, made and removed by
  ``guest.py``. virtme-ng mounts a 9p share without a cache, and 9p then
  maps files read-only when shared (``generic_file_readonly_mmap``): the
  guest mounts it again with ``cache=loose``, so that reads, writes and
  every kind of mapping go through the page cache, as on a disk filesystem.
"""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
from pathlib import Path

from .errors import HarnessError
from .paths import Layout
from .proc import run

ENV = "PMSCAN_PAGECACHE_DIR"
# Filesystems whose files are not page-cache files.
NOT_PAGECACHE = frozenset({"tmpfs", "ramfs", "hugetlbfs", "proc", "sysfs", "devtmpfs"})


def fs_type(path: Path) -> str:
    """The type of the filesystem mounted at or above ``path`` (``ext4``, ``tmpfs``, ``9p``).

    From the mount table, not statfs(): 9p passes the host's statfs through.
    """
    res = run(["findmnt", "-n", "-o", "FSTYPE", "-T", path])
    if res.returncode != 0 or not res.stdout.strip():
        raise HarnessError(f"cannot tell the filesystem of {path}: {res.stdout.strip()}",
                           "check that the directory exists")
    # The last line is the mount on top when several are stacked.
    return res.stdout.strip().splitlines()[-1].strip()


def check(path: Path) -> Path:
    """``path`` if it is a writable directory on a page-cache filesystem, else an error."""
    if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
        raise HarnessError(f"{ENV}={path} is not a writable directory",
                           f"create it, or unset {ENV} to use the output directory")
    kind = fs_type(path)
    if kind in NOT_PAGECACHE:
        raise HarnessError(f"{ENV}={path} is on {kind}, not a page-cache filesystem",
                           f"point {ENV} at a directory on ext4, xfs, btrfs, ... "
                           "(or move the output directory, PMSCAN_OUT, off tmpfs)")
    return path


def host_dir(lay: Layout) -> Path:
    """The host's directory: ``$PMSCAN_PAGECACHE_DIR`` if set, else ``out/pagecache``."""
    given = os.environ.get(ENV)
    if given:
        return check(Path(given))
    path = lay.out / "pagecache"
    path.mkdir(parents=True, exist_ok=True)
    return check(path)


def export_host(lay: Layout) -> Path:
    """Set ``PMSCAN_PAGECACHE_DIR`` for this process and every program it starts."""
    path = host_dir(lay)
    os.environ[ENV] = str(path)
    return path


# 9p's options as virtme-ng gives them, plus the page cache.
NINEP_OPTIONS = "trans=virtio,version=9p2000.L,access=any,msize=524288,cache=loose"


def guest_mount_script(share: Path) -> str:
    """Shell for the guest: mount the share again with a page cache if it came as 9p."""
    d = shlex.quote(str(share))
    return (f"set -- $(awk -v d={d} '$2 == d {{print $1, $3}}' /proc/mounts); "
            f'if [ "$2" = 9p ]; then umount {d} && '
            f'mount -t 9p -o {NINEP_OPTIONS} "$1" {d}; fi')


def guest_share(cache: Path) -> Path:
    """A fresh host directory to share with one guest boot as its page-cache directory."""
    parent = cache / "pagecache"
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="guest-", dir=parent))


def remove_share(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
