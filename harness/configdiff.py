"""Our kernel's final .config against the same-config mainline's: what differs.

The ``mainline`` target is linux-source-6.12 configured from the same
fragments as our 6.1 (tinyconfig + ``kernel-config/`` + ``mainline.config``),
so that a benchmark ratio or a differential trace compares the two
implementations, not two builds. Kconfig differs between the versions, so
the two files are compared option by option:

- an option of an area that can change a comparison (`AREAS`: code
  generation, allocator, preemption, CPUs, memory management, debugging)
  whose value differs, or which one version has and the other does not,
  blocks the comparison, unless `ACCEPTED` names it as a known difference
  between the versions (with the reason) or `EQUIVALENT` maps one
  version's value onto the other's;
- every other difference (drivers, the toolchain's capabilities, symbols
  one version renamed) is listed, never silently dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .config import Option, parse
from .errors import ConfigError

OURS, MAINLINE = "6.1", "6.12"

# Option names (without CONFIG_) whose value can change what the two kernels
# are compared on, by area.
AREAS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((area, re.compile(rx)) for area, rx in (
    ("code generation", r"^CC_OPTIMIZE_|FRAME_POINTER|^UNWINDER_|RETPOLINE|RETHUNK|MITIGATION"
                        r"|SPECULATION|^CPU_(SRSO|IBPB|IBRS|UNRET)|PAGE_TABLE_ISOLATION|^SLS$"
                        r"|CALL_DEPTH_TRACKING|^CALL_PADDING|_IBT$|STACKPROTECTOR"
                        r"|^FUNCTION_(ALIGNMENT|PADDING)|^USE_X86_SEG_SUPPORT$|^INIT_STACK"
                        r"|^INIT_ON_|ZERO_CALL_USED_REGS|FORTIFY_SOURCE|HARDENED_USERCOPY"
                        r"|^RANDOMIZE_|^LTO|^CFI"),
    ("allocator", r"^SLUB|^SLAB|^SLOB|^SHUFFLE_PAGE_ALLOCATOR$"),
    ("preemption", r"^PREEMPT|^HZ|^NO_HZ|^SCHED_(CORE|SMT|MC)$"),
    ("CPUs", r"^NR_CPUS$|^SMP$|^MAXSMP$"),
    ("memory management", r"TRANSPARENT_HUGEPAGE|HUGETLB|USERFAULTFD|PTE_MARKER|MEM_SOFT_DIRTY"
                          r"|^SWAP|^ZRAM|^ZSMALLOC|^ZSWAP|SPLIT_PTLOCK|^SPLIT_P(TE|MD)_PTLOCKS$"
                          r"|^NUMA|^COMPACTION$|^MIGRATION$|^KSM$|PER_VMA_LOCK|^MEMCG|^LRU_GEN"
                          r"|^SHMEM$|^TMPFS|^MEMFD|^PROC_PAGE_MONITOR$|^PAGE_SIZE_|^PAGE_SHIFT$"
                          r"|^PGTABLE_LEVELS$|^X86_5LEVEL$|^SPARSEMEM|^HIGHMEM|^BASE_SMALL$"
                          r"|^CMA$|^ANON_VMA_NAME$|^MMU_GATHER|^CONTIG_ALLOC$"),
    ("debugging", r"DEBUG_VM|KASAN|LOCKDEP|PROVE_LOCKING|PROVE_RCU|DEBUG_PAGEALLOC"
                  r"|DEBUG_ATOMIC_SLEEP|^LOCK_STAT$|^DEBUG_(SPINLOCK|MUTEXES|RT_MUTEXES|RWSEMS"
                  r"|LOCK_ALLOC|OBJECTS|LIST|SG|PREEMPT|KMEMLEAK|KERNEL)$|^PAGE_POISONING"
                  r"|^PAGE_OWNER|^KFENCE|^KCSAN|^KMSAN|^UBSAN|^GCOV|^KCOV|^SLUB_DEBUG"
                  r"|^SCHED_DEBUG$|^FTRACE$|^FUNCTION_TRACER$|^KPROBES$|^TRACE_IRQFLAGS"),
))

# Symbols that say what the toolchain or the architecture can do: they
# change nothing by themselves (the options they enable are compared).
CAPABILITY = re.compile(r"^(ARCH_(HAS|SUPPORTS|WANT|WANTS|ENABLE|USE|MIGHT)_|HAVE_|CC_(HAS|CAN"
                        r"|IS|VERSION)|AS_|LD_|RUSTC_|TOOLS_SUPPORT|GCC_)")

# Known differences between the versions, accepted by name, with the reason.
ACCEPTED: dict[str, str] = {
    "PER_VMA_LOCK": "6.12 only (6.4+): page faults under a per-VMA lock instead of "
                    "mmap_lock; a real mainline difference, kept",
    "FUNCTION_ALIGNMENT": "6.12 only (6.2+): x86-64 functions aligned to 16 bytes, "
                          "not an option",
    "FUNCTION_ALIGNMENT_4B": "6.12 only: part of FUNCTION_ALIGNMENT",
    "FUNCTION_ALIGNMENT_16B": "6.12 only: part of FUNCTION_ALIGNMENT",
    "FUNCTION_PADDING_BYTES": "6.12 only: used by CALL_PADDING, which both leave off",
    "FUNCTION_PADDING_CFI": "6.12 only: used by CFI_CLANG, which a gcc build has not",
    "USE_X86_SEG_SUPPORT": "6.12 only: per-CPU variables through gcc's named address "
                           "space (__seg_gs) when the compiler has it, not an option",
    "SPLIT_PTLOCK_CPUS": "6.1's threshold (4): with NR_CPUS=64 both split PTE and PMD "
                         "page-table locks, as 6.12's SPLIT_PTE_PTLOCKS/SPLIT_PMD_PTLOCKS",
    "SPLIT_PTE_PTLOCKS": "6.12's name for 6.1's SPLIT_PTLOCK_CPUS <= NR_CPUS (both on)",
    "SPLIT_PMD_PTLOCKS": "6.12's name for 6.1's split PMD locks (on with split PTE locks)",
    "HUGETLB_PMD_PAGE_TABLE_SHARING": "6.12 names what 6.1 does on x86 without an option "
                                      "(hugetlb PMD table sharing)",
    "PTE_MARKER": "6.1 only: later kernels have PTE markers without an option",
    "PAGE_SIZE_4KB": "6.12 names the page size; x86 has 4K only, as 6.1",
    "PAGE_SHIFT": "6.12 names the page size; x86 has 4K only, as 6.1",
    "ZRAM_BACKEND_LZO": "6.12 only: zram's compressors built in (lzo, which ours gets "
                        "through the crypto API)",
    "ZRAM_BACKEND_FORCE_LZO": "6.12 only: part of ZRAM_BACKEND_LZO",
    "ZSMALLOC_CHAIN_SIZE": "6.12 only: zsmalloc's pages per zspage (6.1: fixed), zram's "
                           "allocator, not an option 6.1 has",
    "SCHED_DEBUG": "6.1 only here: 6.12 makes it depend on DEBUG_FS, which neither config "
                   "enables; scheduler statistics, not on the paths compared",
}

# Values that mean the same in both versions: name -> {6.1 value: 6.12 value}.
EQUIVALENT: dict[str, dict[str, str]] = {
    # An int in 6.1 (1: small), a bool in 6.12.
    "BASE_SMALL": {"1": "y", "0": "n"},
}


@dataclass(frozen=True)
class Difference:
    name: str  # without CONFIG_
    ours: str | None  # None: 6.1 has no such option
    mainline: str | None
    area: str | None  # None: not an area that changes a comparison
    accepted: str | None  # why the difference is accepted, or None

    @property
    def kind(self) -> str:
        if self.ours is None:
            return f"{MAINLINE} only"
        if self.mainline is None:
            return f"{OURS} only"
        return "differs"

    @property
    def blocking(self) -> bool:
        return self.area is not None and self.accepted is None

    def line(self) -> str:
        text = (f"  {self.name:<34} {OURS}: {self.ours or '-':<10} "
                f"{MAINLINE}: {self.mainline or '-':<10} {self.kind}")
        if self.area is not None:
            text += f" [{self.area}]"
        if self.accepted is not None:
            text += f" accepted: {self.accepted}"
        return text


def area_of(name: str) -> str | None:
    if CAPABILITY.match(name):
        return None
    return next((area for area, rx in AREAS if rx.search(name)), None)


def _same(name: str, ours: str, mainline: str) -> bool:
    return ours == mainline or EQUIVALENT.get(name, {}).get(ours) == mainline


def compare(ours: dict[str, Option], mainline: dict[str, Option]) -> list[Difference]:
    """Every option whose effect differs, by name. An option that is "not
    set" in one file and absent from the other is the same (off)."""
    out = []
    for full in sorted(set(ours) | set(mainline)):
        name = full.removeprefix("CONFIG_")
        a, b = ours.get(full), mainline.get(full)
        va = a.value if a else None
        vb = b.value if b else None
        if _same(name, va or "n", vb or "n"):
            continue
        out.append(Difference(name, va, vb, area_of(name), ACCEPTED.get(name)))
    return out


@dataclass(frozen=True)
class Comparison:
    differences: tuple[Difference, ...]

    @property
    def blocking(self) -> list[Difference]:
        return [d for d in self.differences if d.blocking]

    @property
    def accepted(self) -> list[Difference]:
        return [d for d in self.differences if d.area is not None and d.accepted is not None]

    @property
    def listed(self) -> list[Difference]:
        """The differences outside the compared areas."""
        return [d for d in self.differences if d.area is None]

    def render(self) -> str:
        parts = []
        for title, diffs in (("differences that change the comparison", self.blocking),
                             ("accepted version differences", self.accepted),
                             ("other differences (drivers, toolchain, renamed symbols)",
                              self.listed)):
            if diffs:
                parts.append(f"{title} ({len(diffs)}):\n" + "\n".join(d.line() for d in diffs))
        return "\n".join(parts) + "\n" if parts else "the two configs agree\n"


def compare_files(ours: Path, mainline: Path) -> Comparison:
    for path, what in ((ours, "our kernel's"), (mainline, "the mainline kernel's")):
        if not path.is_file():
            raise ConfigError(f"{what} .config {path} does not exist",
                              "run the config stage of both first "
                              "('python -m harness config' and 'build --kernel mainline')")
    return Comparison(tuple(compare(parse(ours.read_text()), parse(mainline.read_text()))))


def check(ours: Path, mainline: Path, report: Path | None = None) -> Comparison:
    """Compare the two .configs; write the whole list to ``report``; raise
    on a difference that changes the comparison."""
    result = compare_files(ours, mainline)
    if report is not None:
        report.write_text(f"# {ours} ({OURS}) against {mainline} ({MAINLINE})\n"
                          + result.render())
    if result.blocking:
        raise ConfigError(
            f"the mainline kernel's config ({mainline}) differs from ours ({ours}) where "
            f"it changes the comparison:\n" + "\n".join(d.line() for d in result.blocking),
            "set the option in kernel-config/mainline.config (mainline only) to match ours, "
            "or, for a real difference between the versions, name it in "
            "harness/configdiff.py's ACCEPTED with the reason")
    return result
