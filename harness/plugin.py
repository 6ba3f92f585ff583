"""pytest plugin: the selftests on each target become pytest items.

``tests/selftests.targets`` is collected by this plugin. Collecting it runs
the pipeline once (build the patched kernel, build the selftests, run them on
the host, in our guest and in the reference guest) and yields, per target:

- one item per KTAP test case (``host/pagemap_scan_args/<case>``),
- one item per program, for how it ended (exit status, plan, crashes),
- one item for the kernel reports (BUG/WARNING/Oops/lockdep/KASAN) in dmesg;
- for mainline's suites (``upstream-*`` runs), the items upstream_judge.py
  judged: ours against the reference of the same run (else the same-config
  mainline), plain never passed.

On ``plain`` (6.1 without the series) a skip is the expected outcome: a case
that skips with a reason passes there, one that fails still fails, and each
program must have skipped something (it noticed the missing feature). The
reproducers of the 6.1 bugs the series fixes (``REPRODUCERS``) are the
exception: there every case must fail, cleanly, or the reproducer no longer
shows the bug.

A target this machine cannot run gives one item that skips with the reason.
The items are marked ``slow`` and ``host`` or ``guest``: ``-m 'not slow'``
deselects them before the pipeline would run, ``-m guest`` runs the guests only.

The pipeline's progress lines (`proc.say`) reach the terminal while it runs,
through the terminal reporter and past pytest's output capture. With
pytest-xdist (``-n N``; automatic on 4 or more cores) the controller runs
the pipeline before the workers start, where its progress can be seen, and
every worker collects the same items from its results; the test files are
spread over the workers a file at a time (``--dist loadfile``), so a
module's fixtures (a guest boot, a build) run once.

``--kcidb FILE`` (``make test``: ``out/kcidb.json``) writes the selftests'
results in KernelCI's KCIDB format at the end of the session (`kcidb`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import guest, kcidb, ktap, pagecache, pipeline, proc, report, splat, upstream, upstream_judge
from .errors import HarnessError
from .paths import REPO, Layout, layout
from .report import REPRODUCERS

TARGETS_FILE = "selftests.targets"
# Cores from which `make test` spreads over xdist workers by itself: one
# worker per two cores, as a TCG guest keeps two busy.
AUTO_PARALLEL_CORES = 4


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pagemap-scan")
    group.addoption("--targets", default=None,
                    help="comma-separated targets (default: those in tests/selftests.targets)")
    group.addoption("--profile", default="base", help="kernel profile (base or debug)")
    group.addoption("--reuse-results", action="store_true",
                    help="do not build or boot: collect the results of the last run in out/")
    group.addoption("--kcidb", default=None, metavar="FILE",
                    help="write the selftests' results to FILE in KernelCI's KCIDB format")


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _is_controller(config: pytest.Config) -> bool:
    """The xdist process that hands out the tests (it collects nothing itself)."""
    return (not _is_worker(config) and bool(getattr(config.option, "tx", None))
            and getattr(config.option, "dist", "no") != "no"
            and not config.getoption("collectonly"))


def auto_workers(cores: int) -> int:
    """How many xdist workers ``make test`` starts by itself (0: none)."""
    return cores // 2 if cores >= AUTO_PARALLEL_CORES else 0


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """xdist: a file per worker at a time by default, and workers on 4+ cores.

    Only the project's own runs go parallel by themselves (not a pytest the
    tests start on a small project); ``PMSCAN_PARALLEL=0`` or ``-n 0`` keeps
    one process.
    """
    if not config.pluginmanager.hasplugin("xdist") or _is_worker(config):
        return
    if (config.option.numprocesses is None and config.inipath == REPO / "pyproject.toml"
            and not config.getoption("collectonly") and not config.option.usepdb
            and os.environ.get("PMSCAN_PARALLEL", "1") != "0"):
        config.option.numprocesses = auto_workers(os.cpu_count() or 1) or None
    if config.option.numprocesses and config.option.dist == "no":
        config.option.dist = "loadfile"


def pytest_configure(config: pytest.Config) -> None:
    # Every program a test starts on the host finds its page-cache directory.
    pagecache.export_host(layout())
    # Interrupted or terminated, the session takes its guests with it.
    guest.stop_guests_on_signals()
    for line in ("slow: takes tens of seconds (a real kernel config, build or boot)",
                 "guest: boots a kernel under QEMU (slow)",
                 "host: runs selftests on the host kernel"):
        config.addinivalue_line("markers", line)
    config.stash[_SINK] = proc.set_sink(_sink_for(config))
    if config.getoption("--kcidb"):
        try:
            kcidb.origin_name()
        except HarnessError as e:
            raise pytest.UsageError(str(e)) from e
        if not _is_worker(config):
            # Written again at the end if this session collects the selftests:
            # never a previous run's results under this run's name.
            Path(config.getoption("--kcidb")).unlink(missing_ok=True)
    if _is_controller(config) and config.option.testrunuid is None:
        # The workers get this id too: the pipeline's results are this run's.
        config.option.testrunuid = uuid.uuid4().hex


def pytest_unconfigure(config: pytest.Config) -> None:
    if _SINK in config.stash:
        proc.set_sink(config.stash[_SINK])


_SINK = pytest.StashKey[proc.Sink | None]()
_COLLECTING = pytest.StashKey[bool]()
_REPORTED = pytest.StashKey[list[str]]()
_WROTE = pytest.StashKey[Path]()


def _sink_for(config: pytest.Config) -> proc.Sink | None:
    """Progress lines to the terminal, past pytest's capture of the pipeline's output."""
    if config.option.verbose <= -2:
        return lambda line: None
    worker = getattr(config, "workerinput", None)

    def sink(line: str) -> None:
        capman = config.pluginmanager.getplugin("capturemanager")
        tr = config.pluginmanager.getplugin("terminalreporter")
        with capman.global_and_fixture_disabled() if capman else contextlib.nullcontext():
            if worker is not None or tr is None:
                # A worker's terminal is not shown; its stderr is the controller's.
                prefix = f"[{worker['workerid']}] " if worker is not None else ""
                os.write(2, f"{prefix}{line}\n".encode(errors="replace"))
                return
            if config.stash.get(_COLLECTING, False) and tr.isatty():
                tr.rewrite("", erase=True)  # over the "collecting ..." line
                tr.write("\r")
            tr.write_line(line)
            tr.flush()  # a CI log is a pipe: show the line now, not at the end
    return sink


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session) -> Any:
    session.config.stash[_COLLECTING] = True
    try:
        return (yield)
    finally:
        session.config.stash[_COLLECTING] = False


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """A test that boots a guest runs for minutes: the heartbeat names it meanwhile."""
    with proc.activity(label=item.nodeid):
        return (yield)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config: pytest.Config) -> None:
    """On an xdist controller, run the pipeline before the workers start collecting."""
    file = targets_file(config)
    if file is None or config.getoption("--reuse-results"):
        return
    names = selected_targets(config, file)
    if names:
        prepare(config, layout(), names)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write the KCIDB file for the targets this session collected (never on a worker)."""
    config = session.config
    dest = config.getoption("--kcidb")
    if not dest or _is_worker(config):
        return
    names = config.stash.get(_REPORTED, None)
    if names is None and _is_controller(config):
        file = targets_file(config)
        names = selected_targets(config, file) if file is not None else None
    if not names:
        return
    path = Path(dest)
    kcidb.write(layout(), names, path, config.getoption("--profile"))
    config.stash[_WROTE] = path


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    path = config.stash.get(_WROTE, None)
    if path is not None and config.option.verbose > -2:
        terminalreporter.write_line(f"KCIDB results: {path}")


def results_of_this_session(config: pytest.Config, target: str) -> Path | None:
    """Where this session's pipeline left ``target``'s results; None when the
    session did not collect that target (a test file run on its own)."""
    names = config.stash.get(_REPORTED, None)
    if not names or target not in names:
        return None
    return layout().results(target)


def targets_file(config: pytest.Config) -> Path | None:
    """The targets file this session collects, judged from its arguments."""
    for arg in config.args:
        path = Path(config.invocation_params.dir, arg.split("::")[0]).resolve()
        for candidate in (path, path / TARGETS_FILE, path / "tests" / TARGETS_FILE):
            if candidate.name == TARGETS_FILE and candidate.is_file():
                return candidate
    return None


def _marks(target: str) -> set[str]:
    return {"slow", "host" if target == "host" else "guest"}


def _chosen(config: pytest.Config, marks: set[str]) -> bool:
    """Whether ``-m`` keeps items with these marks."""
    expr = config.option.markexpr
    if not expr:
        return True
    try:
        from _pytest.mark.expression import Expression
    except ImportError:  # another pytest: run the pipeline, -m decides later
        return True
    return Expression.compile(expr).evaluate(lambda name, /, **kw: name in marks and not kw)


def selected_targets(config: pytest.Config, file: Path) -> list[str]:
    """The targets of ``file`` (or ``--targets``) whose items ``-m`` keeps."""
    wanted = config.getoption("--targets")
    listed = [ln.strip() for ln in file.read_text().splitlines()
              if ln.strip() and not ln.startswith("#")]
    names = wanted.split(",") if wanted else listed
    return [n for n in names if _chosen(config, _marks(n))]


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.name == TARGETS_FILE:
        return TargetsFile.from_parent(parent, path=file_path)
    return None


def _run_id(config: pytest.Config) -> str:
    worker: dict[str, Any] | None = getattr(config, "workerinput", None)
    if worker is not None:
        return str(worker["testrunuid"])
    if _is_controller(config):
        return str(config.option.testrunuid)
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
        proc.say(f"pipeline: preparing {', '.join(names)} (the kernel, the selftests, "
                 "then the targets' runs; progress follows)")
        try:
            tree = pipeline.kernel_tree(lay, profile)
            programs = pipeline.all_programs(lay, tree)
        except HarnessError as e:
            raise pytest.UsageError(f"the pipeline failed before any test ran:\n{e}") from e
        errs = pipeline.run_targets(lay, tree, names, profile, programs)
        proc.say("pipeline: done; collecting the results")
        body = "".join(f"{k}\t{(v or '').replace(chr(10), ' ')}\n" for k, v in errs.items())
        stamp.write_text(f"{run_id}\n{body}")
        return errs


class TargetsFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item | pytest.Collector]:
        names = selected_targets(self.config, self.path)
        if not names:
            return  # -m left none of them: no need to build or boot
        lay = layout()
        if not self.config.getoption("--reuse-results"):
            prepare(self.config, lay, names)
        self.config.stash[_REPORTED] = names
        summary = report.Summary.load(lay, names)
        reference = upstream_judge.baseline({t.name: t.programs for t in summary.targets})
        for target in summary.targets:
            collector = TargetCollector.from_parent(self, name=target.name, result=target,
                                                    reference=reference)
            for mark in sorted(_marks(target.name)):
                collector.add_marker(mark)
            yield collector


class TargetCollector(pytest.Collector):
    def __init__(self, *, result: report.TargetResult,
                 reference: tuple[report.ProgramResult, ...] | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.result = result
        self.reference = reference  # the reference guest's results, for mainline's suites

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
            if upstream.split_name(prog.name):
                for o in upstream_judge.outcomes(t.name, prog, self.reference):
                    yield OutcomeItem.from_parent(self, name=o.name, outcome=o)
                continue
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
                                           case=case, expect_skips=plain,
                                           skips_fail=t.name in COMPLETE_GUESTS)
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


class OutcomeItem(_Item):
    """An item judged beforehand (mainline's suites: upstream_judge.py)."""

    def __init__(self, *, outcome: upstream_judge.Outcome, **kw: Any) -> None:
        super().__init__(**kw)
        self.outcome = outcome

    def runtest(self) -> None:
        if self.outcome.result == "fail":
            pytest.fail(self.outcome.message, pytrace=False)
        if self.outcome.result == "skip":
            pytest.skip(self.outcome.message)


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
        why = report.not_reproduced(self.prog)
        assert not why, why


# Guests that have everything our selftests look for (the series or mainline's
# implementation, swap, hugetlb pages, soft-dirty, ENOTTY for unknown pagemap
# ioctls): a case that skips there hides a failure, so it fails.
COMPLETE_GUESTS = frozenset({"ours", "mainline"})


class CaseItem(_Item):
    """One KTAP test case."""

    def __init__(self, *, case: ktap.TestCase, expect_skips: bool = False,
                 skips_fail: bool = False, **kw: Any) -> None:
        super().__init__(**kw)
        self.case = case
        self.expect_skips = expect_skips
        self.skips_fail = skips_fail

    def runtest(self) -> None:
        c = self.case
        if c.status is ktap.Status.SKIP:
            if self.expect_skips:
                # The expected outcome without the series, if it says why.
                assert c.reason, "skipped without a reason"
                return
            if self.skips_fail:
                pytest.fail(f"skipped on a kernel that has every feature it needs: "
                            f"{c.reason or 'no reason given'}", pytrace=False)
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
