"""The selftests patch: generating it from selftests/ and checking that the two agree."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness import __main__ as cli
from harness import patches
from harness import selftests_patch as sp
from harness.errors import PatchError
from harness.paths import Layout, layout
from tests.gitrepo import git, make_repo

VM = sp.VM_DIR

# The shapes of 6.1's vm/ files that the edits rely on, cut down.
MAKEFILE = """\
# SPDX-License-Identifier: GPL-2.0
# Makefile for vm selftests

LOCAL_HDRS += $(top_srcdir)/mm/gup_test.h

CFLAGS = -Wall -I $(top_srcdir) $(EXTRA_CFLAGS) $(KHDR_INCLUDES)
LDLIBS = -lrt -lpthread
TEST_GEN_FILES = compaction_test
TEST_GEN_PROGS = madv_populate
TEST_GEN_FILES += userfaultfd
TEST_GEN_PROGS += soft-dirty
TEST_GEN_FILES += ksm_tests

ifeq ($(MACHINE),x86_64)
TEST_GEN_FILES += protection_keys_64
endif

TEST_PROGS := run_vmtests.sh

include ../lib.mk

$(OUTPUT)/madv_populate: vm_util.c
$(OUTPUT)/soft-dirty: vm_util.c
$(OUTPUT)/userfaultfd: vm_util.c

$(OUTPUT)/ksm_tests: LDLIBS += -lnuma
"""

GITIGNORE = """\
# SPDX-License-Identifier: GPL-2.0-only
compaction_test
soft-dirty
ksm_tests
"""

RUN_VMTESTS = """\
#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
ksft_skip=4
mnt=./huge
exitcode=0

run_test() {
\t"$@" || exitcode=1
}

mkdir "$mnt"
mount -t hugetlbfs none "$mnt"

run_test ./hugepage-mmap
run_test ./userfaultfd anon 20 16

#cleanup
umount "$mnt"
rm -rf "$mnt"
echo "$nr_hugepgs" > /proc/sys/vm/nr_hugepages

run_test ./soft-dirty

exit $exitcode
"""

SELFTESTS_MAKEFILE = """\
PROGS := {progs}
HELPERS := vm_helpers.c
VM_UTIL_ADD := vm_util.add.c vm_util.add.h
include {vm_util_mk}

list:
\t@echo $(PROGS)
"""

PROGRAM = """\
// SPDX-License-Identifier: GPL-2.0
#include "../kselftest.h"
#include "vm_helpers.h"

int main(void)
{{
\tksft_print_header();
\treturn {value};
}}
"""


# 6.1's vm_util.c and what the series adds to it, cut down.
VM_UTIL_C = """\
// SPDX-License-Identifier: GPL-2.0
#include <string.h>
#include "vm_util.h"

int pagemap_get_entry(void)
{
\treturn 0;
}
"""

VM_UTIL_ADD_C = """\
/*
 * What the series adds: this comment is dropped.
 */
#include <errno.h>
#include "pagemap_scan.h"

int vmh_ok(void)
{
\treturn 1;
}
"""


def write_selftests(d: Path, progs: list[str]) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "Makefile").write_text(SELFTESTS_MAKEFILE.format(
        progs=" ".join(progs), vm_util_mk=layout().selftests / "vm_util.mk"))
    for n, p in enumerate(progs):
        (d / f"{p}.c").write_text(PROGRAM.format(value=n))
    (d / "vm_helpers.c").write_text('#include "vm_helpers.h"\n\nint vmh_ready;\n')
    (d / "vm_helpers.h").write_text('#include "pagemap_scan.h"\nextern int vmh_ready;\n')
    (d / "vm_util.add.c").write_text(VM_UTIL_ADD_C)
    (d / "vm_util.add.h").write_text("/* dropped */\n#include <stddef.h>\n\nint vmh_ok(void);\n")
    # No newline at the end: the patch says so, and verify must round-trip it.
    (d / "pagemap_scan.h").write_text("#ifndef PAGEMAP_SCAN\n#define PAGEMAP_SCAN 1\n#endif")
    return d


@pytest.fixture
def selftests(tmp_path: Path) -> Path:
    return write_selftests(tmp_path / "selftests", ["uffd_wp_async", "pagemap_scan_args"])


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A kernel-like work tree: baseline with 6.1-shaped vm/ files, one patch on top."""
    repo = make_repo(tmp_path / "linux")
    vm = repo / VM
    vm.mkdir(parents=True)
    (vm / "Makefile").write_text(MAKEFILE)
    (vm / ".gitignore").write_text(GITIGNORE)
    (vm / "run_vmtests.sh").write_text(RUN_VMTESTS)
    (vm / "vm_util.c").write_text(VM_UTIL_C)
    (vm / "vm_util.h").write_text("#include <stdint.h>\n\nint pagemap_get_entry(void);\n")
    git(repo, "add", VM)
    git(repo, "commit", "-q", "-m", "vm selftests as in 6.1")
    git(repo, "tag", "-f", "baseline")
    (repo / "mm.c").write_text("int a;\nint b;\nint c;\nint wp_async;\n")
    git(repo, "commit", "-q", "-s", "-am", "mm: the feature", "-m", "Why.")
    return repo


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def export(tree: Path, tmp_path: Path) -> Path:
    out = tmp_path / "patches"
    patches.export(tree, out)
    found = sp.find_patch(out)
    assert found is not None
    return found


# -- generate -------------------------------------------------------------------------------


def test_generate_commits_the_sources_byte_for_byte(tree: Path, selftests: Path) -> None:
    parent = head(tree)
    sp.generate(tree, selftests)
    assert git(tree, "rev-parse", "HEAD~1").strip() == parent
    assert git(tree, "status", "--porcelain") == ""
    for name in ("uffd_wp_async.c", "pagemap_scan_args.c", "vm_helpers.c", "vm_helpers.h",
                 "pagemap_scan.h"):
        assert (tree / VM / name).read_bytes() == (selftests / name).read_bytes(), name
    created = git(tree, "diff", "--name-only", "--diff-filter=A", "HEAD~1", "HEAD").split()
    assert len(created) == 5


def test_generate_wires_programs_into_makefile_gitignore_and_run_vmtests(
        tree: Path, selftests: Path) -> None:
    sp.generate(tree, selftests)
    mk = (tree / VM / "Makefile").read_text().splitlines()
    # After the unconditional TEST_GEN_* list, not inside the ifeq block.
    at = mk.index("TEST_GEN_FILES += ksm_tests")
    assert mk[at + 1:at + 3] == ["TEST_GEN_PROGS += uffd_wp_async",
                                 "TEST_GEN_PROGS += pagemap_scan_args"]
    # One rule links vm_util.c into every TEST_GEN_PROGS program, after lib.mk has
    # prefixed them with $(OUTPUT)/; the helpers go into ours only.
    at = mk.index("$(OUTPUT)/userfaultfd: vm_util.c")
    assert mk[at + 1:at + 3] == [
        "$(TEST_GEN_PROGS): vm_util.c",
        "$(addprefix $(OUTPUT)/,uffd_wp_async pagemap_scan_args): vm_helpers.c"]
    assert mk.index("include ../lib.mk") < at
    assert "LOCAL_HDRS += pagemap_scan.h vm_helpers.h" in mk
    ignore = (tree / VM / ".gitignore").read_text().splitlines()
    assert ignore[-2:] == ["uffd_wp_async", "pagemap_scan_args"]
    sh = (tree / VM / "run_vmtests.sh").read_text().splitlines()
    # While the hugetlb pages reserved by the script are still there.
    assert sh.index('mount -t hugetlbfs none "$mnt"') < sh.index("run_test ./uffd_wp_async") \
        < sh.index("run_test ./pagemap_scan_args") < sh.index("#cleanup")
    assert (tree / VM / "run_vmtests.sh").read_text().count("run_test ./uffd_wp_async") == 1


def test_generate_merges_the_additions_into_vm_util(tree: Path, selftests: Path) -> None:
    sp.generate(tree, selftests)
    assert (tree / VM / "vm_util.c").read_text() == (
        "// SPDX-License-Identifier: GPL-2.0\n#include <string.h>\n#include \"vm_util.h\"\n"
        "#include <errno.h>\n#include \"pagemap_scan.h\"\n\nint pagemap_get_entry(void)\n{\n"
        "\treturn 0;\n}\n\nint vmh_ok(void)\n{\n\treturn 1;\n}\n")
    assert (tree / VM / "vm_util.h").read_text() == (
        "#include <stdint.h>\n#include <stddef.h>\n\nint pagemap_get_entry(void);\n\n"
        "int vmh_ok(void);\n")
    # The additions are not files of their own in vm/.
    assert not (tree / VM / "vm_util.add.c").exists()
    # Amending rebuilds from 6.1's vm_util.c: nothing is added twice.
    (selftests / "vm_util.add.c").write_text(VM_UTIL_ADD_C + "\nint vmh_two;\n")
    sp.generate(tree, selftests)
    text = (tree / VM / "vm_util.c").read_text()
    assert text.count("int vmh_ok(void)") == 1 and text.endswith("int vmh_two;\n")


def test_verify_catches_a_changed_vm_util_addition(
        tree: Path, selftests: Path, tmp_path: Path) -> None:
    sp.generate(tree, selftests)
    patch = export(tree, tmp_path)
    assert sp.verify(patch, selftests) == []
    (selftests / "vm_util.add.c").write_text(VM_UTIL_ADD_C.replace("return 1;", "return 2;"))
    assert sp.verify(patch, selftests) == [
        f"{VM}/vm_util.c: the patch does not add '\\treturn 2;'"]


def test_generate_commit_message(tree: Path, selftests: Path) -> None:
    sp.generate(tree, selftests)
    msg = git(tree, "log", "-1", "--format=%B")
    assert msg.splitlines()[0] == sp.SUBJECT
    assert "- uffd_wp_async:" in msg and "- pagemap_scan_args:" in msg
    assert "SKIP" in msg and "ENOTTY" in msg
    assert msg.rstrip().endswith("Signed-off-by: Test Author <test@example.org>")
    assert max(len(ln) for ln in msg.splitlines()) <= 75


def test_regenerate_unchanged_is_a_no_op(tree: Path, selftests: Path) -> None:
    first = sp.generate(tree, selftests)
    assert sp.generate(tree, selftests) == first == head(tree)


def test_regenerate_amends_its_own_commit(tree: Path, selftests: Path) -> None:
    parent = head(tree)
    first = sp.generate(tree, selftests)
    (selftests / "vm_helpers.c").write_text("int vmh_ready = 1;\n")
    second = sp.generate(tree, selftests)
    assert second != first
    assert git(tree, "rev-parse", "HEAD~1").strip() == parent
    assert (tree / VM / "vm_helpers.c").read_text() == "int vmh_ready = 1;\n"
    # The 6.1 files are rebuilt from the parent, so nothing is added twice.
    assert (tree / VM / "Makefile").read_text().count("TEST_GEN_PROGS += uffd_wp_async") == 1
    assert git(tree, "status", "--porcelain") == ""


def test_regenerate_drops_a_removed_program(tree: Path, tmp_path: Path) -> None:
    src = write_selftests(tmp_path / "st", ["uffd_wp_async", "pagemap_scan_args"])
    sp.generate(tree, src)
    (src / "pagemap_scan_args.c").unlink()
    write_selftests(src, ["uffd_wp_async"])
    sp.generate(tree, src)
    assert not (tree / VM / "pagemap_scan_args.c").exists()
    assert "pagemap_scan_args" not in (tree / VM / "Makefile").read_text()
    assert "pagemap_scan_args" not in git(tree, "show", "--stat", "HEAD")


def test_generate_refuses_a_selftests_commit_not_at_head(tree: Path, selftests: Path) -> None:
    sp.generate(tree, selftests)
    (tree / "mm.c").write_text("int a;\n")
    git(tree, "commit", "-q", "-am", "mm: a fix after the selftests")
    with pytest.raises(PatchError, match="not at HEAD"):
        sp.generate(tree, selftests)


def test_generate_refuses_uncommitted_changes_it_would_overwrite(
        tree: Path, selftests: Path) -> None:
    (tree / VM / "Makefile").write_text(MAKEFILE + "# local edit\n")
    before = head(tree)
    with pytest.raises(PatchError, match="uncommitted changes"):
        sp.generate(tree, selftests)
    assert head(tree) == before
    assert (tree / VM / "Makefile").read_text().endswith("# local edit\n")


def test_generate_restores_the_tree_when_it_fails(tree: Path, tmp_path: Path) -> None:
    src = write_selftests(tmp_path / "st", ["uffd_wp_async", "undescribed_prog"])
    before = head(tree)
    with pytest.raises(PatchError, match="no commit message text for undescribed_prog"):
        sp.generate(tree, src)
    assert head(tree) == before
    assert git(tree, "status", "--porcelain", "--untracked-files=all") == ""


def test_generate_fails_on_a_tree_not_shaped_like_61(tree: Path, selftests: Path) -> None:
    (tree / VM / "run_vmtests.sh").write_text("#!/bin/bash\nrun_test ./soft-dirty\n")
    git(tree, "commit", "-q", "-am", "reshaped")
    with pytest.raises(PatchError, match=r"run_vmtests\.sh has no"):
        sp.generate(tree, selftests)
    assert git(tree, "status", "--porcelain", "--untracked-files=all") == ""


def test_generate_needs_the_link_rules_after_lib_mk(tree: Path, selftests: Path) -> None:
    # Before lib.mk, TEST_GEN_PROGS lacks the $(OUTPUT)/ prefix: a rule over it would
    # name targets that are never built, and vm_util.c would not be linked.
    mk = MAKEFILE.replace("include ../lib.mk\n", "").replace(
        "$(OUTPUT)/ksm_tests", "include ../lib.mk\n$(OUTPUT)/ksm_tests")
    (tree / VM / "Makefile").write_text(mk)
    git(tree, "commit", "-q", "-am", "reshaped")
    with pytest.raises(PatchError, match=r"vm_util\.c' link rules after 'include \.\./lib\.mk'"):
        sp.generate(tree, selftests)
    assert (tree / VM / "Makefile").read_text() == mk


def test_generate_needs_a_kernel_tree(tmp_path: Path, selftests: Path) -> None:
    with pytest.raises(PatchError, match=r"is it a 6\.1 kernel work tree"):
        sp.generate(make_repo(tmp_path / "other"), selftests)


# -- verify ---------------------------------------------------------------------------------


def test_verify_agrees_with_a_fresh_export(tree: Path, selftests: Path, tmp_path: Path) -> None:
    sp.generate(tree, selftests)
    patch = export(tree, tmp_path)
    assert patch.name.startswith("0002-selftests-vm-add-PAGEMAP_SCAN")
    assert sp.verify(patch, selftests) == []


def test_verify_catches_a_changed_line(tree: Path, selftests: Path, tmp_path: Path) -> None:
    sp.generate(tree, selftests)
    patch = export(tree, tmp_path)
    src = selftests / "pagemap_scan_args.c"
    src.write_text(src.read_text().replace("ksft_print_header();", "ksft_set_plan(3);"))
    problems = sp.verify(patch, selftests)
    assert len(problems) == 1
    assert problems[0].startswith(f"{VM}/pagemap_scan_args.c: differs from selftests/")
    assert "line 7" in problems[0] and "ksft_set_plan(3);" in problems[0]


def test_verify_catches_a_missing_newline_change(
        tree: Path, selftests: Path, tmp_path: Path) -> None:
    sp.generate(tree, selftests)
    patch = export(tree, tmp_path)
    header = selftests / "pagemap_scan.h"
    header.write_bytes(header.read_bytes() + b"\n")
    assert sp.verify(patch, selftests) == [
        f"{VM}/pagemap_scan.h: differs from selftests/pagemap_scan.h, "
        "the patch has 3 lines, selftests/ has 4"]


def test_verify_catches_a_missing_program(tree: Path, selftests: Path, tmp_path: Path) -> None:
    sp.generate(tree, selftests)
    patch = export(tree, tmp_path)
    write_selftests(selftests, ["uffd_wp_async", "pagemap_scan_args", "pagemap_scan_wp"])
    problems = sp.verify(patch, selftests)
    assert f"{VM}/pagemap_scan_wp.c: not created by the patch " \
           "(selftests/pagemap_scan_wp.c is not in it)" in problems
    assert f"{VM}/Makefile: the patch does not add 'TEST_GEN_PROGS += pagemap_scan_wp'" \
        in problems
    assert f"{VM}/run_vmtests.sh: the patch does not add 'run_test ./pagemap_scan_wp'" \
        in problems
    assert f"{VM}/.gitignore: the patch does not add 'pagemap_scan_wp'" in problems


def test_verify_catches_a_program_no_longer_in_selftests(
        tree: Path, selftests: Path, tmp_path: Path) -> None:
    sp.generate(tree, selftests)
    patch = export(tree, tmp_path)
    (selftests / "pagemap_scan_args.c").unlink()
    write_selftests(selftests, ["uffd_wp_async"])
    assert sp.verify(patch, selftests) == [
        f"{VM}/pagemap_scan_args.c: created by the patch but selftests/ has no such "
        "program or helper",
        # The rule linking the helpers names the programs, so it changes too.
        f"{VM}/Makefile: the patch does not add "
        "'$(addprefix $(OUTPUT)/,uffd_wp_async): vm_helpers.c'"]


def test_parse_patch_rebuilds_new_files_and_collects_additions() -> None:
    patch = (
        b"Subject: [PATCH] x\n\n---\n"
        b"diff --git a/d/new.c b/d/new.c\nnew file mode 100644\nindex 0000000..1111111\n"
        b"--- /dev/null\n+++ b/d/new.c\n@@ -0,0 +1,3 @@\n+a\n+\n+-- not a trailer\n"
        b"diff --git a/d/Makefile b/d/Makefile\nindex 1..2 100644\n--- a/d/Makefile\n"
        b"+++ b/d/Makefile\n@@ -1,2 +1,3 @@\n x\n-y\n+y2\n+z\n"
        b"diff --git a/d/raw b/d/raw\nnew file mode 100644\n--- /dev/null\n+++ b/d/raw\n"
        b"@@ -0,0 +1 @@\n+no newline\n\\ No newline at end of file\n"
        b"-- \n2.39.5\n"
    )
    files = sp.parse_patch(patch)
    assert files["d/new.c"].new_file and files["d/new.c"].content() == b"a\n\n-- not a trailer\n"
    assert not files["d/Makefile"].new_file and files["d/Makefile"].added == [b"y2", b"z"]
    assert files["d/raw"].content() == b"no newline"


def test_find_patch_without_a_series(tmp_path: Path) -> None:
    assert sp.find_patch(tmp_path) is None


# -- the CLI --------------------------------------------------------------------------------


@pytest.fixture
def repo_layout(tmp_path: Path, selftests: Path, monkeypatch: pytest.MonkeyPatch) -> Layout:
    lay = Layout(repo=tmp_path, cache=tmp_path / "cache", out=tmp_path / "out")
    monkeypatch.setattr(cli, "layout", lambda: lay)
    return lay


def test_cli_check_without_a_selftests_patch(repo_layout: Layout,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["selftests-patch", "--check"]) == 2
    err = capsys.readouterr().err
    assert "no selftests patch yet" in err and "--tree" in err


def test_cli_generate_then_check(repo_layout: Layout, tree: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["selftests-patch", "--tree", str(tree)]) == 0
    assert sp.SUBJECT in capsys.readouterr().out
    patches.export(tree, repo_layout.patches)
    assert cli.main(["selftests-patch", "--check"]) == 0
    assert "agrees with selftests/" in capsys.readouterr().out
    (repo_layout.selftests / "vm_helpers.c").write_text("int vmh_ready = 2;\n")
    assert cli.main(["selftests-patch", "--check"]) == 1
    out = capsys.readouterr()
    assert f"{VM}/vm_helpers.c: differs from selftests/vm_helpers.c" in out.out
    assert "disagree (1 differences)" in out.err


def test_cli_needs_tree_or_check(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["selftests-patch"])


# -- the project's own series ---------------------------------------------------------------


def test_series_selftests_patch_agrees_with_selftests() -> None:
    """The two agree: patches/'s selftests patch is exactly selftests/."""
    lay = layout()
    patch = sp.find_patch(lay.patches)
    if patch is None:
        pytest.skip("the selftests patch is not in patches/series yet: generate it with "
                    "'python -m harness selftests-patch --tree <tree>' and export the series")
    assert sp.verify(patch, lay.selftests) == []


@pytest.mark.slow
def test_generated_programs_build_in_tree_without_warnings(tmp_path: Path) -> None:
    """6.1's own vm/Makefile builds the generated programs against plain 6.1 headers.

    The uapi headers come from 'make O=<tmp> headers_install' of the pristine
    source (which leaves the source untouched); the kernel tree is a git repo
    holding the baseline's selftests/ and mm/gup_test.h (what vm/Makefile
    reads), so the test needs no checkout of the whole kernel.
    """
    lay = layout()
    if not (lay.source / "Makefile").exists():
        pytest.skip(f"the kernel source is not unpacked at {lay.source} "
                    "(run 'python -m harness source')")

    def ok(cmd: list[str], stdin: bytes | None = None) -> str:
        res = subprocess.run(cmd, input=stdin, capture_output=True)
        out, err = res.stdout.decode(errors="replace"), res.stderr.decode(errors="replace")
        assert res.returncode == 0, f"{cmd}:\n{out}{err}"
        return err

    obj = tmp_path / "obj"
    ok(["make", "-s", "-C", str(lay.source), f"O={obj}", "headers_install"])
    work = tmp_path / "linux"
    work.mkdir()
    archive = subprocess.run(["git", "-C", str(lay.source), "archive", "baseline",
                              "tools/testing/selftests", "mm/gup_test.h"],
                             capture_output=True, check=True).stdout
    ok(["tar", "-x", "-C", str(work)], stdin=archive)
    git(work, "init", "-q")
    git(work, "add", ".")
    git(work, "-c", "user.name=T", "-c", "user.email=t@example.org", "commit", "-q", "-m", "6.1")
    git(work, "config", "user.name", "Test Author")
    git(work, "config", "user.email", "test@example.org")
    sp.generate(work, lay.selftests)

    vm = work / VM
    progs = sp.read_sources(lay.selftests).programs
    err = ok(["make", "-C", str(vm), f"KHDR_INCLUDES=-isystem {obj}/usr/include",
              "EXTRA_CFLAGS=-Werror", *(str(vm / p) for p in progs)])
    assert "warning:" not in err, err
    assert all((vm / p).is_file() for p in progs)
