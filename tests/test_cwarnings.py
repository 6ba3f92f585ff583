"""Compiler warnings in our C builds fail the build and are named by file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import cwarnings, selftests
from harness.errors import SelftestError
from harness.paths import Layout

# The shape of selftests/Makefile that matters here: CFLAGS's default, then -W options.
MAKEFILE = """\
O ?= $(CURDIR)/build
PROGS := {progs}
CFLAGS {assign} -O2 -g
CFLAGS += -Wall -Wextra -Wno-unused-parameter

all: $(addprefix $(O)/,$(PROGS))

$(O)/%: %.c | $(O)
\t$(CC) $(CFLAGS) -o $@ $<

$(O):
\tmkdir -p $@

list:
\t@echo $(PROGS)
"""

CLEAN = "int main(void)\n{\n\treturn 0;\n}\n"

# The kind of warning that went unseen: a table row that leaves a field out.
WARNS = """\
struct row {
\tint a;
\tint b;
};

static const struct row rows[] = {
\t{ 1 },
};

int main(void)
{
\treturn rows[0].a - 1;
}
"""


def write_project(d: Path, progs: dict[str, str], assign: str = "?=") -> Path:
    d.mkdir(parents=True)
    (d / "Makefile").write_text(MAKEFILE.format(progs=" ".join(progs), assign=assign))
    for name, code in progs.items():
        (d / f"{name}.c").write_text(code)
    return d


def fake_layout(tmp_path: Path, progs: dict[str, str]) -> tuple[Layout, Path]:
    """A repository whose selftests/ holds ``progs``, and a tree with uapi headers."""
    write_project(tmp_path / "repo" / "selftests", progs)
    tree = tmp_path / "tree"
    (tree / "usr" / "include" / "linux").mkdir(parents=True)
    return Layout(repo=tmp_path / "repo", cache=tmp_path / "cache", out=tmp_path / "out"), tree


def test_selftests_build_fails_on_a_warning_and_names_it(tmp_path: Path) -> None:
    lay, tree = fake_layout(tmp_path, {"clean": CLEAN, "table": WARNS})
    with pytest.raises(SelftestError) as err:
        selftests.build(lay, tree)
    text = str(err.value)
    assert "table.c:7:" in text.split("--- end of the build's output ---")[0]
    assert "-Werror=missing-field-initializers" in text
    assert "-Werror" in err.value.hint
    # Not built, so the next build tries again instead of finding it up to date.
    assert not (selftests.build_dir(lay) / "table").exists()
    assert (selftests.build_dir(lay) / "clean").exists()


def test_a_warning_fails_even_when_the_makefile_ignores_cflags(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", {"table": WARNS}, assign=":=")
    res = cwarnings.make(["make", "-C", project])
    assert res.returncode == 0  # -Werror did not reach the compiler
    failed = cwarnings.failure("p/", res)
    assert failed is not None
    message, hint = failed
    assert "table.c:7:" in message and "warning: missing initializer" in message
    assert "-Werror" in hint


def test_a_clean_build_passes(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", {"clean": CLEAN})
    res = cwarnings.make(["make", "-C", project])
    assert cwarnings.failure("p/", res) is None
    assert (project / "build" / "clean").exists()


def test_werror_env_keeps_the_callers_cflags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CFLAGS", "-O0 -g3")
    assert cwarnings.werror_env()["CFLAGS"] == "-O0 -g3 -Werror"
    monkeypatch.delenv("CFLAGS")
    assert cwarnings.werror_env()["CFLAGS"] == "-O2 -g -Werror"


def test_problems_lists_each_diagnostic_once() -> None:
    out = ("make: Entering directory '/x'\n"
           "a.h:3:5: warning: unused variable 'v' [-Wunused-variable]\n"
           "In file included from b.c:1:\n"
           "a.h:3:5: warning: unused variable 'v' [-Wunused-variable]\n"
           "b.c:9: error: expected ';'\n"
           "note: not a diagnostic: b.c:9\n")
    assert cwarnings.problems(out) == [
        "a.h:3:5: warning: unused variable 'v' [-Wunused-variable]",
        "b.c:9: error: expected ';'"]
