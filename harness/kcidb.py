"""The selftests' results in KernelCI's KCIDB I/O format (schema v5.3).

KCIDB is where the kernel community's CI systems pool their results: a CI
that submits there joins the existing distributed testing. One document
holds, for the targets of a run:

- a **checkout** per kernel source and series state: the pinned
  ``linux-source-6.1`` with ``patches/`` applied (``ours``), the same source
  without them (``plain``: Debian's build), Debian's 6.12 (``reference``),
  ``linux-source-6.12`` built like ours (``mainline``) and the machine's own
  kernel (``host``). Ours carries ``patchset_hash``, the
  schema's sha256 over the sha256 of each patch in series order;
- a **build** per target kernel, with its configuration
  (``tinyconfig`` + ``kernel-config/`` fragments for ours and mainline,
  Debian's for the others);
- a **test** per program (``pagemap_scan_wp``) and per KTAP case
  (``pagemap_scan_wp.anon_get_WP_cycle``: each part of the path reduced to
  the schema's ``[a-zA-Z0-9_-]``), with its status, a log excerpt and the
  target's environment, plus ``kernel_reports`` for a guest's dmesg.

Statuses follow the schema: a failed case is FAIL, a skipped one SKIP (on
plain 6.1 the expected outcome: ``misc.expected`` says so, as it does for
the reproducers of 6.1's bugs, which fail there as they should), a case or
program that could not finish (timeout, crash) ERROR, a program that never
ran MISS; a target this machine cannot run gives one SKIP test with why.
IDs are derived from the results' content, so submitting the same results
twice names the same objects.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import config, ktap, patches, source, splat
from .errors import HarnessError
from .paths import Layout
from .report import REPRODUCERS, ProgramResult, Summary, TargetResult

DEFAULT_ORIGIN = "pmscan"  # KCIDB assigns a submitting CI its own: PMSCAN_KCIDB_ORIGIN
VERSION = {"major": 5, "minor": 3}
EXCERPT = 16384  # the schema's maxLength of a log excerpt
SERIES_FILE = "checkout.json"  # in out/results/: the series state a run used
REPRODUCER_FAILS = "fails on 6.1 without the series' fixes: it reproduces the bug"

Json = dict[str, Any]

_STATUS = {
    ktap.Status.PASS: "PASS",
    ktap.Status.XFAIL: "PASS",  # failed as the test expects: fine
    ktap.Status.XPASS: "FAIL",
    ktap.Status.FAIL: "FAIL",
    ktap.Status.SKIP: "SKIP",
    ktap.Status.ERROR: "ERROR",
    ktap.Status.TIMEOUT: "ERROR",
    ktap.Status.CRASHED: "ERROR",
}


def origin_name() -> str:
    """The submitting CI's name, which prefixes every ID (``PMSCAN_KCIDB_ORIGIN``)."""
    name = os.environ.get("PMSCAN_KCIDB_ORIGIN", DEFAULT_ORIGIN)
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise HarnessError(f"PMSCAN_KCIDB_ORIGIN={name!r} is not a KCIDB origin name",
                           "use lowercase letters, digits and '_' only (the name KCIDB "
                           "gave your CI), or unset it for 'pmscan'")
    return name


def patchset_hash(files: list[Path]) -> str:
    """The schema's patchset hash: sha256 of the patches' sha256s, one a line."""
    if not files:
        return ""
    lines = "".join(hashlib.sha256(f.read_bytes()).hexdigest() + "\n" for f in files)
    return hashlib.sha256(lines.encode()).hexdigest()


def series_state(lay: Layout) -> Json:
    """The source version and the series as they are now."""
    stamp = lay.source / ".git" / source.STAMP
    version = stamp.read_text().strip() if stamp.exists() else source.PINNED_VERSION
    files = patches.read_series(lay.patches)
    return {"package": source.PACKAGE, "version": version,
            "patches": [f.name for f in files], "patchset_hash": patchset_hash(files)}


def record_series(lay: Layout) -> None:
    """Keep the series state a run tests beside its results (read by `document`)."""
    dest = lay.out / "results" / SERIES_FILE
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(series_state(lay), indent=1) + "\n")


def _recorded_series(lay: Layout) -> Json:
    recorded = lay.out / "results" / SERIES_FILE
    if recorded.exists():
        return dict(json.loads(recorded.read_text()), recorded=True)
    # Results from before the state was recorded: the working tree's now.
    return dict(series_state(lay), recorded=False)


def path_part(text: str) -> str:
    """One part of a KCIDB test path: letters, digits, ``_`` and ``-`` only."""
    return re.sub(r"[^a-zA-Z0-9_-]+", "_", text).strip("_") or "unnamed"


def _excerpt(text: str) -> str:
    """The end of ``text`` (where a failure shows), within the schema's limit."""
    text = text.replace("\0", "")
    return text if len(text) <= EXCERPT else text[-EXCERPT:]


def _time(path: Path) -> str | None:
    if not path.exists():
        return None
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC).isoformat()


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _results_digest(directory: Path) -> str:
    h = hashlib.sha256()
    if directory.is_dir():
        for f in sorted(p for p in directory.iterdir() if p.is_file()):
            h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _checkout(t: TargetResult, series: Json, origin: str) -> Json:
    version = series["version"]
    if t.name == "ours":
        state = series["patchset_hash"]
        obj: Json = {
            "id": f"{origin}:{series['package']}-{version}+{state[:16] or 'none'}",
            "tree_name": "linux-6.1.y-debian",
            "patchset_hash": state,
            "comment": f"{series['package']} {version} with patches/ "
                       f"({len(series['patches'])} patches)",
            "misc": {"package": series["package"], "version": version,
                     "patches": series["patches"],
                     "series_state": "recorded by the run" if series["recorded"]
                     else "the working tree's at report time"},
        }
    elif t.name == "plain":
        obj = {"id": f"{origin}:debian-{t.kernel or 'unknown'}",
               "tree_name": "linux-6.1.y-debian", "patchset_hash": "",
               "comment": f"Debian's build of {series['package']} {version}, "
                          "without the series",
               "misc": {"package": series["package"], "version": version}}
    elif t.name == "reference":
        obj = {"id": f"{origin}:debian-{t.kernel or 'unknown'}", "patchset_hash": "",
               "comment": "Debian's 6.12 kernel (mainline's PAGEMAP_SCAN), as packaged"}
    elif t.name == "mainline":
        pkg = source.LINUX_6_12
        obj = {"id": f"{origin}:{pkg.name}-{pkg.pinned}", "tree_name": "linux-6.12.y-debian",
               "patchset_hash": "",
               "comment": f"{pkg.name} {pkg.pinned} (mainline's PAGEMAP_SCAN), unpatched",
               "misc": {"package": pkg.name, "version": pkg.pinned}}
    else:
        obj = {"id": f"{origin}:{t.name}-{t.kernel or 'unknown'}", "patchset_hash": "",
               "comment": f"the {t.name} machine's own kernel"}
    obj.update(origin=origin, valid=True)
    return obj


def _build(lay: Layout, t: TargetResult, checkout_id: str, profile: str,
           origin: str) -> Json:
    misc: Json = {"target": t.name}
    obj: Json = {"checkout_id": checkout_id, "origin": origin, "architecture": "x86_64",
                 "misc": misc}
    if t.unavailable:
        obj.update(id=f"{origin}:{t.name}-unavailable", status="SKIP",
                   comment=f"{t.name}: not run here: {t.unavailable}")
        return obj
    if t.name in ("ours", "mainline"):
        mainline = t.name == "mainline"
        frags = (config.mainline_fragments_for(lay, profile) if mainline
                 else config.fragments_for(lay, profile))
        tree = lay.mainline_build_tree(profile) if mainline else lay.build_tree(profile)
        texts = {f.name: f.read_text() for f in frags}
        misc.update(profile=profile, fragments=texts)
        dot = tree / ".config"
        if dot.exists():
            misc["config_sha256"] = hashlib.sha256(dot.read_bytes()).hexdigest()
        compiler = _compiler(tree)
        if compiler:
            obj["compiler"] = compiler
        obj.update(
            id=f"{origin}:{t.name}-{t.kernel}-{_digest(checkout_id, *texts.values())}",
            config_name="tinyconfig+" + "+".join(texts),
            command="make tinyconfig; merge_config.sh " + " ".join(
                f"kernel-config/{n}" for n in texts) + "; make olddefconfig; make bzImage",
            comment=(f"linux-source-6.12 configured like ours, {t.kernel}" if mainline
                     else f"our patched kernel {t.kernel}"))
    elif t.name == "host":
        obj.update(id=f"{origin}:host-{t.kernel}", config_name="host",
                   comment=f"the host's kernel {t.kernel}, as installed")
    else:
        obj.update(id=f"{origin}:debian-{t.kernel}", config_name="debian-amd64",
                   comment=f"Debian's linux-image-{t.kernel}, as packaged")
        misc["config_file"] = f"/boot/config-{t.kernel}"
    obj["status"] = "PASS"  # it booted or ran: the tests below say the rest
    return obj


def _compiler(tree: Path) -> str:
    header = tree / "include" / "generated" / "compile.h"
    if not header.exists():
        return ""
    m = re.search(r'#define LINUX_COMPILER "([^"]*)"', header.read_text(errors="replace"))
    return m.group(1) if m else ""


def _environment(t: TargetResult) -> Json:
    where = ("the machine itself" if t.name == "host"
             else "a virtme-ng guest under QEMU")
    return {"comment": f"{t.name}: kernel {t.kernel or '?'} in {where}",
            "misc": {"target": t.name, "kernel": t.kernel}}


def program_status(prog: ProgramResult, expect_skips: bool) -> tuple[str, str]:
    """The program's KCIDB status and why, as the pytest item judges it."""
    v = prog.verdict
    if v is None:
        if prog.problem == "not run":
            return "MISS", "not run: the guest ended before it"
        if prog.problem == "timeout":
            return "ERROR", "timed out"
        return "FAIL", prog.problem
    if not v.ok:
        status = _STATUS[v.status]
        return ("FAIL" if status in ("PASS", "SKIP") else status), str(v)
    if expect_skips and prog.counts.skipped == 0:
        return "FAIL", f"skipped nothing on a kernel without the series: {v}"
    return _STATUS[v.status], str(v)


def case_status(case: ktap.TestCase, expect_skips: bool) -> str:
    if case.status is ktap.Status.SKIP and expect_skips and not case.reason:
        return "FAIL"  # an expected skip must say why
    return _STATUS[case.status]


def _case_excerpt(case: ktap.TestCase) -> str:
    result = f"{'ok' if case.ok else 'not ok'} {case.number} {case.label}"
    if case.reason:
        result += f" # {case.reason}"
    return _excerpt("\n".join([*case.diagnostics, result]) + "\n")


def _tests(t: TargetResult, build_id: str, lay: Layout, origin: str) -> Iterator[Json]:
    run = _results_digest(lay.results(t.name))
    env = _environment(t)

    def test(path: str, status: str, comment: str, excerpt: str = "",
             when: str | None = None, **misc: Any) -> Json:
        obj: Json = {"id": f"{origin}:{build_id.split(':', 1)[1]}:{run}:{path or 'all'}",
                     "build_id": build_id, "origin": origin, "path": path,
                     "status": status, "comment": comment, "environment": env}
        if excerpt:
            obj["log_excerpt"] = _excerpt(excerpt)
        if when:
            obj["start_time"] = when
        if misc:
            obj["misc"] = misc
        return obj

    if t.unavailable:
        yield test("", "SKIP", f"not run here: {t.unavailable}")
        return
    if t.error and not t.programs:
        yield test("", "FAIL", t.error.splitlines()[0], t.error)
        return
    plain = t.name == "plain"
    for prog in t.programs:
        base = path_part(prog.name)
        out_file = lay.results(t.name) / f"{prog.name}.out"
        when = _time(out_file)
        reproducer = plain and prog.name in REPRODUCERS
        expect_skips = plain and not reproducer
        status, why = program_status(prog, expect_skips)
        notes: Json = {"exit": prog.status_text, "log_file": str(out_file)}
        if reproducer:
            notes["expected"] = REPRODUCER_FAILS
        tail = "\n".join(prog.output.rstrip().splitlines()[-60:])
        yield test(base, status, f"{prog.name}: {why}", tail, when, **notes)
        if prog.verdict is None:
            continue
        seen: set[str] = set()
        for parts, case in prog.verdict.run.walk():
            if case.children:
                continue
            path = ".".join([base, *(path_part(p) for p in parts)])
            unique, n = path, 2
            while unique in seen:
                unique, n = f"{path}_{n}", n + 1
            seen.add(unique)
            comment = f"{case.status.name} {case.reason}".strip()
            extra: Json = {"ktap_name": "/".join(parts)}
            if expect_skips and case.status is ktap.Status.SKIP:
                extra["expected"] = "skips without the series"
            elif reproducer:
                extra["expected"] = REPRODUCER_FAILS
            yield test(unique, case_status(case, expect_skips), comment,
                       _case_excerpt(case), when, **extra)
    if t.name != "host":
        dmesg = lay.results(t.name) / "dmesg.txt"
        if t.splats:
            yield test("kernel_reports", "FAIL",
                       "; ".join(str(s) for s in t.splats)[:500],
                       splat.format_splats(list(t.splats)), _time(dmesg))
        else:
            yield test("kernel_reports", "PASS", "no BUG/WARNING/Oops/lockdep/KASAN in dmesg",
                       when=_time(dmesg))


def document(lay: Layout, names: list[str], profile: str = "base") -> Json:
    """The KCIDB document of the results in ``out/results/`` for ``names``."""
    summary = Summary.load(lay, names)
    series = _recorded_series(lay)
    origin = origin_name()
    checkouts: dict[str, Json] = {}
    builds: dict[str, Json] = {}
    tests: list[Json] = []
    for t in summary.targets:
        co = _checkout(t, series, origin)
        checkouts.setdefault(co["id"], co)
        b = _build(lay, t, co["id"], profile, origin)
        builds.setdefault(b["id"], b)
        tests.extend(_tests(t, b["id"], lay, origin))
    return {"version": dict(VERSION), "checkouts": list(checkouts.values()),
            "builds": list(builds.values()), "tests": tests}


def write(lay: Layout, names: list[str], dest: Path, profile: str = "base") -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(document(lay, names, profile), indent=1) + "\n")
    return dest
