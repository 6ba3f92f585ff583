"""The patch series itself: it applies in order and checkpatch --strict finds no errors."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from harness import patches, source
from harness.paths import layout

SERIES = patches.read_series(layout().patches)


@pytest.fixture(scope="module")
def src() -> Path:
    return source.ensure(layout()).tree


def test_the_series_is_not_empty() -> None:
    assert SERIES, "patches/series lists no patch"


def test_series_applies_in_order_to_the_baseline(src: Path, tmp_path: Path) -> None:
    # A scratch index: the patches are applied without touching any tree.
    env = dict(os.environ, GIT_INDEX_FILE=str(tmp_path / "index"))
    subprocess.run(["git", "-C", str(src), "read-tree", source.BASELINE_TAG], env=env,
                   check=True)
    for patch in SERIES:
        res = subprocess.run(["git", "-C", str(src), "apply", "--cached", str(patch)],
                             env=env, capture_output=True, text=True)
        assert res.returncode == 0, f"{patch.name} does not apply:\n{res.stderr}"


# The tree is Debian's source without mainline's history, so checkpatch
# cannot look up the mainline commits the messages name (Fixes:, "follows
# commit ..."): that one check is left out.
CHECKPATCH = ["perl", "scripts/checkpatch.pl", "--strict", "--ignore", "UNKNOWN_COMMIT_ID"]


def is_selftests_patch(patch: Path) -> bool:
    return "selftests" in patch.name


@pytest.mark.parametrize("patch", SERIES, ids=[p.name[:40] for p in SERIES])
def test_checkpatch_strict(src: Path, patch: Path) -> None:
    """No errors anywhere; no warnings in the kernel patches (test code may have some)."""
    res = subprocess.run([*CHECKPATCH, str(patch)], cwd=src, capture_output=True, text=True)
    m = re.search(r"total: (\d+) errors, (\d+) warnings", res.stdout)
    assert m, res.stdout[-2000:]
    found = [ln for ln in res.stdout.splitlines() if ln.startswith(("ERROR:", "WARNING:"))]
    assert int(m.group(1)) == 0, "\n".join(found)
    if not is_selftests_patch(patch):
        assert int(m.group(2)) == 0, "\n".join(found)


def test_every_patch_is_signed_off_by_its_author() -> None:
    for patch in SERIES:
        text = patch.read_text()
        author = re.search(r"^From: (.+)$", text, re.M)
        assert author, f"{patch.name}: no From: line"
        assert "harness@localhost" not in author.group(1), f"{patch.name}: placeholder author"
        assert f"Signed-off-by: {author.group(1)}" in text, (
            f"{patch.name}: not signed off by its author {author.group(1)}")


def test_the_fixes_come_first_and_name_what_they_fix() -> None:
    """Stable fixes before the features, each with Fixes: and Cc: stable."""
    fixes = [p for p in SERIES if "Cc: stable@vger.kernel.org" in p.read_text()]
    assert fixes, "no stable fix in the series"
    assert SERIES[:len(fixes)] == fixes, "the stable fixes must precede the feature patches"
    for patch in fixes:
        assert re.search(r"^Fixes: [0-9a-f]{12} \(\".+\"\)$", patch.read_text(), re.M), (
            f"{patch.name}: no Fixes: tag")


@pytest.mark.parametrize("patch", SERIES, ids=[p.name[:40] for p in SERIES])
def test_each_patch_explains_itself(patch: Path) -> None:
    text = patch.read_text()
    subject = re.search(r"^Subject: \[PATCH[^\]]*\] (.+)$", text, re.M)
    assert subject and ":" in subject.group(1), "subject needs a 'subsystem: ' prefix"
    body = text.split("\n\n", 1)[1].split("\n---\n", 1)[0]
    assert len(body.split()) >= 40, "the commit message must say why, at some length"
    assert "Signed-off-by:" in body


DOCS = ("Documentation/admin-guide/mm/pagemap.rst",
        "Documentation/admin-guide/mm/userfaultfd.rst")
# Sphinx adds roles and directives docutils does not know; those are not errors.
SPHINX_ONLY = ("Unknown interpreted text role", "Unknown directive type",
               "No role entry for", "No directive entry for")


def patched_file(src: Path, index: Path, path: str) -> str:
    env = dict(os.environ, GIT_INDEX_FILE=str(index))
    subprocess.run(["git", "-C", str(src), "read-tree", source.BASELINE_TAG], env=env,
                   check=True)
    for patch in SERIES:
        subprocess.run(["git", "-C", str(src), "apply", "--cached", str(patch)], env=env,
                       check=True, capture_output=True)
    return subprocess.run(["git", "-C", str(src), "show", f":{path}"], env=env, check=True,
                          capture_output=True, text=True).stdout


@pytest.mark.parametrize("doc", DOCS)
def test_documentation_is_valid_rst(src: Path, tmp_path: Path, doc: str) -> None:
    import docutils.frontend
    import docutils.nodes
    import docutils.utils
    from docutils.parsers.rst import Parser

    text = patched_file(src, tmp_path / "index", doc)
    found: list[str] = []

    def observe(msg: docutils.nodes.system_message) -> None:
        line = msg.astext()
        if msg["level"] >= 2 and not any(s in line for s in SPHINX_ONLY):
            found.append(line)

    settings = docutils.frontend.get_default_settings(Parser)
    settings.report_level = 5
    settings.warning_stream = False
    document = docutils.utils.new_document(doc, settings)
    document.reporter.attach_observer(observe)
    Parser().parse(text, document)
    assert not found, "\n".join(found)
    if doc.endswith("pagemap.rst"):
        assert "PAGEMAP_SCAN" in text and "PM_SCAN_WP_MATCHING" in text
    else:
        assert "UFFD_FEATURE_WP_ASYNC" in text and "UFFD_FEATURE_WP_UNPOPULATED" in text
