"""Which kernels track soft-dirty bits (CONFIG_MEM_SOFT_DIRTY).

The differential tester asks for soft-dirty only when both of its kernels
have it: the host is asked at run time (a page just written is soft-dirty in
/proc/self/pagemap on a kernel that tracks it), a guest kernel by its
configuration (the build tree's ``.config`` next to its bzImage, or
``/boot/config-<release>`` for an installed one).
"""

from __future__ import annotations

import ctypes
import mmap
from pathlib import Path

from .guest import Kernel

OPTION = "CONFIG_MEM_SOFT_DIRTY"
PAGE = 4096
PM_SOFT_DIRTY = 1 << 55


def host_soft_dirty() -> bool:
    """Does the running kernel mark a page it just saw written soft-dirty?"""
    buf = mmap.mmap(-1, PAGE)
    try:
        buf[0] = 1
        cell = ctypes.c_char.from_buffer(buf)
        addr = ctypes.addressof(cell)
        del cell
        with open("/proc/self/pagemap", "rb") as f:
            f.seek(addr // PAGE * 8)
            entry = int.from_bytes(f.read(8), "little")
    except OSError:
        return False
    finally:
        buf.close()
    return bool(entry & PM_SOFT_DIRTY)


def kernel_config(kernel: Kernel) -> Path:
    """Where the configuration of a guest kernel is."""
    if "/" in kernel.image:
        # <tree>/arch/x86/boot/bzImage
        return Path(kernel.image).resolve().parents[3] / ".config"
    return Path(f"/boot/config-{kernel.image}")


def guest_soft_dirty(kernel: Kernel) -> tuple[bool, str]:
    """Whether a guest kernel has soft-dirty, and if not, why not."""
    path = kernel_config(kernel)
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        return False, (f"{kernel.name}'s configuration {path} cannot be read "
                       f"({e.strerror}): build the kernel first")
    if f"{OPTION}=y" in lines:
        return True, ""
    return False, f"{kernel.name} is built without {OPTION} ({path})"
