"""pytest plugin: the selftests on each target become pytest items.

``tests/selftests.targets`` is collected by this plugin. Collecting it runs
the pipeline once (build the patched kernel, build the selftests, run them on
the host, in our guest and in the reference guest) and yields, per target:

- one item per KTAP test case (``host/pagemap_scan_args/<case>``),
- one item per program, for how it ended (exit status, plan, crashes),
- one item for the kernel reports (BUG/WARNING/Oops/lockdep/KASAN) in dmesg.

On ``plain`` (6.1 without the series) a skip is the expected outcome: a case
that skips with a reason passes there, one that fails still fails, and each
program must have skipped something (it noticed the missing feature). The
reproducers of the 6.1 bugs the series fixes (``REPRODUCERS``) are the
exception: there every case must fail, cleanly, or the reproducer no longer
shows the bug.

A target this machine cannot run gives one item that skips with the reason.
With pytest-xdist every worker collects the same items: the first worker to
get the lock runs the pipeline, the others read its results.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import ktap, pipeline, report, selftests, splat
from .errors import HarnessError
from .paths import Layout, layout

TARGETS_FILE = "selftests.targets"
# Programs that reproduce 6.1 bugs fixed by the series' stable patches.
REPRODUCERS = frozenset({"uffd_wp_fixes"})


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pagemap-scan")
    group.addoption("--targets", default=None,
                    help="comma-separated targets (default: those in tests/selftests.targets)")
    group.addoption("--profile", default="base", help="kernel profile (base or debug)")
    group.addoption("--reuse-results", action="store_true",
                    help="do not build or boot: collect the results of the last run in out/")


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.name == TARGETS_FILE:
        return TargetsFile.from_parent(parent, path=file_path)
    return None


def _run_id(config: pytest.Config) -> str:
    worker: dict[str, Any] | None = getattr(config, "workerinput", None)
    if worker is not None:
        return str(worker["testrunuid"])
    return f"{os.getpid()}"


def prepare(config: pytest.Config, lay: Layout, names: list[str]) -> dict[str, str | None]:
    """Run the pipeline once per test run, whichever process asks first."""
    stamp_dir = lay.out / "results"
    stamp_dir.mkdir(parents=True, exist_ok=True)
    stamp = stamp_dir / "run-id"
    run_id = _run_id(config)
    with open(stamp_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text().split("\n", 1)[0] == run_id:
            errors = stamp.read_text().split("\n", 1)[1]
            return {line.split("\t")[0]: line.split("\t")[1] or None
                    for line in errors.splitlines() if "\t" in line}
        profile = config.getoption("--profile")
        try:
            tree = pipeline.kernel_tree(lay, profile)
            programs = selftests.build(lay, tree)
        except HarnessError as e:
            raise pytest.UsageError(f"the pipeline failed before any test ran:\n{e}") from e
        errs = pipeline.run_targets(lay, tree, names, profile, programs)
        body = "".join(f"{k}\t{(v or '').replace(chr(10), ' ')}\n" for k, v in errs.items())
        stamp.write_text(f"{run_id}\n{body}")
        return errs


class TargetsFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item | pytest.Collector]:
        wanted = self.config.getoption("--targets")
        listed = [ln.strip() for ln in self.path.read_text().splitlines()
                  if ln.strip() and not ln.startswith("#")]
        names = wanted.split(",") if wanted else listed
        lay = layout()
        if not self.config.getoption("--reuse-results"):
            prepare(self.config, lay, names)
        summary = report.Summary.load(lay, names)
        for target in summary.targets:
            yield TargetCollector.from_parent(self, name=target.name, result=target)


class TargetCollector(pytest.Collector):
    def __init__(self, *, result: report.TargetResult, **kw: Any) -> None:
        super().__init__(**kw)
        self.result = result

    def collect(self) -> Iterator[pytest.Item]:
        t = self.result
        if t.unavailable:
            yield Unavailable.from_parent(self, name="unavailable", reason=t.unavailable)
            return
        if t.error and not t.programs:
            yield Failure.from_parent(self, name="guest", message=t.error)
            return
        plain = t.name == "plain"
        for prog in t.programs:
            if plain and prog.name in REPRODUCERS:
                yield ReproducerItem.from_parent(self, name=prog.name, prog=prog)
                continue
            yield ProgramItem.from_parent(self, name=prog.name, prog=prog,
                                          expect_skips=plain)
            if prog.verdict is None:
                continue
            for path, case in prog.verdict.run.walk():
                if case.children:
                    continue
                yield CaseItem.from_parent(self, name=f"{prog.name}/{'/'.join(path)}",
                                           case=case, expect_skips=plain)
        if t.name != "host":
            yield SplatItem.from_parent(self, name="kernel-reports", splats=t.splats)


class _Item(pytest.Item):
    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, self.nodeid


class Unavailable(_Item):
    def __init__(self, *, reason: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.reason = reason

    def runtest(self) -> None:
        pytest.skip(f"target not available here: {self.reason}")


class Failure(_Item):
    def __init__(self, *, message: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.message = message

    def runtest(self) -> None:
        pytest.fail(self.message, pytrace=False)


class ProgramItem(_Item):
    """How the program ended: exit status, plan, crash or timeout."""

    def __init__(self, *, prog: report.ProgramResult, expect_skips: bool = False,
                 **kw: Any) -> None:
        super().__init__(**kw)
        self.prog = prog
        self.expect_skips = expect_skips

    def runtest(self) -> None:
        if not self.prog.ok:
            tail = "\n".join(self.prog.output.rstrip().splitlines()[-40:])
            pytest.fail(f"{self.prog.describe()}\n--- output (last lines) ---\n{tail}",
                        pytrace=False)
        v = self.prog.verdict
        if self.expect_skips:
            assert v is not None and self.prog.counts.skipped > 0, (
                f"{self.prog.name} skipped nothing on a kernel without the series: "
                f"{self.prog.describe()}")
            return
        if v is not None and v.run.status is ktap.Status.SKIP:
            reason = v.run.plan.skip_reason if v.run.plan and v.run.plan.skip_reason else ""
            pytest.skip(f"the program skipped as a whole: {reason or v.run.summary()}")


class ReproducerItem(_Item):
    """A reproducer of 6.1 bugs on a kernel without the fixes: every case fails."""

    def __init__(self, *, prog: report.ProgramResult, **kw: Any) -> None:
        super().__init__(**kw)
        self.prog = prog

    def runtest(self) -> None:
        v = self.prog.verdict
        assert v is not None and v.status is ktap.Status.FAIL, (
            f"{self.prog.name} did not fail cleanly without the fixes: "
            f"{self.prog.describe()}")
        cases = [case for _, case in v.run.walk() if not case.children]
        planned = v.run.plan.count if v.run.plan else None
        assert planned == len(cases), f"{self.prog.name}: plan {planned}, {len(cases)} cases"
        shown = [case.name for case in cases if case.status is not ktap.Status.FAIL]
        assert not shown, ("no longer reproduced without the fixes (the bug is gone, or "
                           f"the reproducer is broken): {', '.join(shown)}")


class CaseItem(_Item):
    """One KTAP test case."""

    def __init__(self, *, case: ktap.TestCase, expect_skips: bool = False,
                 **kw: Any) -> None:
        super().__init__(**kw)
        self.case = case
        self.expect_skips = expect_skips

    def runtest(self) -> None:
        c = self.case
        if c.status is ktap.Status.SKIP:
            if self.expect_skips:
                # The expected outcome without the series, if it says why.
                assert c.reason, "skipped without a reason"
                return
            pytest.skip(c.reason or "skipped without a reason")
        if not c.ok:
            diag = "\n".join(c.diagnostics[-30:])
            pytest.fail(f"{c.status.name} {c.reason}\n{diag}".rstrip(), pytrace=False)


class SplatItem(_Item):
    """The guest's dmesg holds no BUG/WARNING/Oops/lockdep/KASAN report."""

    def __init__(self, *, splats: tuple[splat.Splat, ...], **kw: Any) -> None:
        super().__init__(**kw)
        self.splats = splats

    def runtest(self) -> None:
        if self.splats:
            pytest.fail(splat.format_splats(list(self.splats)), pytrace=False)
