"""What a series touches: changed files from patch text, objects, Kbuild conditions."""

from __future__ import annotations

from pathlib import Path

from harness import touched


def _patch(path: Path, *diffs: str) -> Path:
    path.write_text("From x\nSubject: [PATCH] t\n\n---\n" + "".join(diffs) + "-- \n2.39\n")
    return path


def _modify(name: str) -> str:
    return (f"diff --git a/{name} b/{name}\nindex 1..2 100644\n--- a/{name}\n+++ b/{name}\n"
            "@@ -1 +1 @@\n-a\n+b\n")


def _delete(name: str) -> str:
    return (f"diff --git a/{name} b/{name}\ndeleted file mode 100644\nindex 1..0\n"
            f"--- a/{name}\n+++ /dev/null\n@@ -1 +0,0 @@\n-a\n")


def test_changed_files_in_order_once_without_deleted(tmp_path: Path) -> None:
    p1 = _patch(tmp_path / "1.patch", _modify("mm/memory.c"), _modify("include/linux/a.h"))
    p2 = _patch(tmp_path / "2.patch", _modify("fs/proc/task_mmu.c"), _modify("mm/memory.c"),
                _delete("mm/gone.c"))
    assert touched.changed_files([p1, p2]) == [
        "mm/memory.c", "include/linux/a.h", "fs/proc/task_mmu.c"]


def test_a_file_deleted_by_a_later_patch_is_gone(tmp_path: Path) -> None:
    p1 = _patch(tmp_path / "1.patch", _modify("mm/old.c"))
    p2 = _patch(tmp_path / "2.patch", _delete("mm/old.c"))
    assert touched.changed_files([p1]) == ["mm/old.c"]
    assert touched.changed_files([p1, p2]) == []


def test_objects_skip_tools_docs_headers_and_other_arches() -> None:
    files = ["mm/memory.c", "include/linux/a.h", "tools/testing/selftests/vm/x.c",
             "Documentation/a.rst", "arch/x86/mm/pgtable.c", "arch/arm64/mm/mmu.c"]
    assert touched.objects(files, "x86") == ["mm/memory.o", "arch/x86/mm/pgtable.o"]
    assert touched.objects(files, "arm64") == ["mm/memory.o", "arch/arm64/mm/mmu.o"]


def _kbuild(tmp_path: Path) -> Path:
    (tmp_path / "mm").mkdir()
    (tmp_path / "mm" / "Makefile").write_text(
        "obj-y := filemap.o\n"
        "mmu-$(CONFIG_MMU)\t:= highmem.o memory.o \\\n\t\t   mprotect.o mremap.o\n"
        "obj-$(CONFIG_HUGETLBFS)\t+= hugetlb.o\n"
        "obj-$(CONFIG_TRANSPARENT_HUGEPAGE) += huge_memory.o khugepaged.o\n")
    return tmp_path


def test_why_not_built_reads_the_condition(tmp_path: Path) -> None:
    tree = _kbuild(tmp_path)
    cfg = {"CONFIG_MMU": "y", "CONFIG_HUGETLBFS": "y"}
    assert touched.why_not_built(tree, "mm/hugetlb.o", cfg) is None
    assert touched.why_not_built(tree, "mm/memory.o", cfg) is None
    # on a continuation line of a conditional list
    assert touched.why_not_built(tree, "mm/mprotect.o", {}) == "CONFIG_MMU is not set"
    assert touched.why_not_built(tree, "mm/khugepaged.o", cfg) == \
        "CONFIG_TRANSPARENT_HUGEPAGE is not set"
    assert touched.why_not_built(tree, "mm/filemap.o", {}) is None
    # not named by the Makefile, or no Makefile: built (compiling it finds its errors)
    assert touched.why_not_built(tree, "mm/unknown.o", {}) is None
    assert touched.why_not_built(tree, "fs/none.o", {}) is None


def test_modules_count_as_built(tmp_path: Path) -> None:
    tree = _kbuild(tmp_path)
    assert touched.why_not_built(tree, "mm/hugetlb.o", {"CONFIG_HUGETLBFS": "m"}) is None
