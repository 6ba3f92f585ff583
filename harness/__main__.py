"""``python -m harness <verb>``: the pipeline's stages, one verb each."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import (
    build,
    config,
    guest,
    hugepages,
    kcidb,
    pagecache,
    patches,
    pipeline,
    report,
    selftests_patch,
    source,
)
from .errors import HarnessError, PatchError
from .paths import layout


def _tree(args: argparse.Namespace) -> Path:
    return layout().build_tree(args.profile)


def cmd_source(args: argparse.Namespace) -> int:
    lay = layout()
    with pipeline.cache_lock(lay, "source"):
        src = source.ensure(lay)
    print(f"{src.tree} ({source.PACKAGE} {src.version})")
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    lay = layout()
    with pipeline.cache_lock(lay, "source"):
        source.ensure(lay)
    with pipeline.cache_lock(lay, f"build-{args.profile}"):
        tree = patches.ensure_worktree(lay, args.profile)
        applied = patches.apply(tree, patches.read_series(lay.patches))
    print(f"{tree}: {'series applied' if applied else 'already up to date'}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    lay = layout()
    written = patches.export(Path(args.tree).resolve(), lay.patches, args.base)
    for p in written:
        print(p.relative_to(lay.repo))
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    lay = layout()
    if args.kernel == "mainline":
        objtree = pipeline.mainline_build(lay, args.profile, built=False)
        print(objtree / ".config")
        return 0
    tree = _tree(args)
    with pipeline.cache_lock(lay, f"build-{args.profile}"):
        print(config.configure(tree, config.fragments_for(lay, args.profile)))
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    lay = layout()
    if args.kernel == "mainline":
        print(build.bzimage(pipeline.mainline_build(lay, args.profile)))
        return 0
    tree = pipeline.kernel_tree(lay, args.profile)
    print(build.bzimage(tree))
    return 0


def cmd_boot(args: argparse.Namespace) -> int:
    lay = layout()
    if args.kernel == "ours":
        kernel = pipeline.our_kernel(_tree(args), args.profile)
    elif args.kernel == "mainline":
        kernel = pipeline.mainline_kernel(lay.mainline_build_tree(args.profile), args.profile)
        if not kernel.exists():
            raise HarnessError(f"the mainline kernel {kernel.image} is not built",
                               "build it: python -m harness build --kernel mainline "
                               f"--profile {args.profile}")
    elif args.kernel in ("reference", "plain"):
        from .targets import plain_kernel, reference_kernel

        found = reference_kernel() if args.kernel == "reference" else plain_kernel()
        if found is None:
            raise HarnessError(f"the {args.kernel} kernel is not installed", "run 'make setup'")
        kernel = found
    else:
        kernel = guest.Kernel(name=args.kernel, image=args.kernel)
    res = guest.run(kernel, " ".join(args.command) or "uname -a", lay.cache,
                    timeout=args.timeout)
    sys.stdout.write(res.output)
    return res.status


def cmd_selftests(args: argparse.Namespace) -> int:
    lay = layout()
    for prog in pipeline.all_programs(lay, _tree(args)):
        print(prog.name, " ".join(prog.argv))
    return 0


def cmd_upstream(args: argparse.Namespace) -> int:
    from . import upstream

    lay = layout()
    for prog in upstream.build(lay, pipeline.mainline_tree(lay)):
        print(prog.name, prog.workdir, " ".join(prog.argv))
    return 0


def cmd_selftests_patch(args: argparse.Namespace) -> int:
    lay = layout()
    if args.tree is not None:
        tree = Path(args.tree).resolve()
        commit = selftests_patch.generate(tree, lay.selftests)
        print(f"{tree}: {commit[:12]} {selftests_patch.SUBJECT}")
        print(f"now export the series: python -m harness export --tree {tree}")
        return 0
    patch = selftests_patch.find_patch(lay.patches)
    if patch is None:
        raise PatchError(
            f"{lay.patches}/series has no selftests patch yet: nothing to check",
            "generate it ('python -m harness selftests-patch --tree <kernel work tree>'), "
            "then export the series ('python -m harness export --tree <kernel work tree>')")
    problems = selftests_patch.verify(patch, lay.selftests)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{patch.name} and selftests/ disagree ({len(problems)} differences): "
              "regenerate it with 'python -m harness selftests-patch --tree <tree>' and export",
              file=sys.stderr)
        return 1
    print(f"{patch.name} agrees with selftests/")
    return 0


def cmd_matrix(args: argparse.Namespace) -> int:
    from . import matrix

    names = [n for n in args.configs.split(",") if n] if args.configs else None
    results = matrix.run_matrix(layout(), names, args.werror, args.jobs)
    print(matrix.render(results), end="")
    return 0 if all(r.ok and not r.warnings for r in results) else 1


def cmd_bisect(args: argparse.Namespace) -> int:
    from . import bisect

    outcome = bisect.run_bisect(layout(), args.werror, args.jobs, upto=args.upto)
    print(outcome.render(), end="")
    return 0 if outcome.first_bad is None else 1


def cmd_newest(args: argparse.Namespace) -> int:
    from . import newest

    trial = newest.run_newest(layout(), args.version)
    print(trial.render(), end="")
    return 0 if trial.ok else 1


def cmd_run(args: argparse.Namespace) -> int:
    lay = layout()
    tree = pipeline.kernel_tree(lay, args.profile)
    errors = pipeline.run_targets(lay, tree, args.targets, args.profile)
    table = report.Summary.load(lay, args.targets)
    print(table.render())
    return 0 if table.ok() and not any(errors.values()) else 1


def cmd_report(args: argparse.Namespace) -> int:
    lay = layout()
    table = report.Summary.load(lay, args.targets)
    print(table.render())
    if args.kcidb:
        dest = kcidb.write(lay, args.targets, Path(args.kcidb), args.profile)
        print(f"KCIDB results: {dest} (submit with kcidb-submit, see the README)")
    return 0 if table.ok() else 1


def cmd_bench(args: argparse.Namespace) -> int:
    from . import bench, benchdata

    lay = layout()
    targets = bench.split_targets(args.targets)
    outdir = Path(args.out).resolve() if args.out else lay.out / "bench"
    res = bench.bench(lay, targets, args.quick, outdir, size=args.size,
                      guest_size=args.guest_size,
                      ksrc=Path(args.ksrc).resolve() if args.ksrc else None,
                      timeout=args.timeout, plots=not args.no_plots,
                      as_shipped=args.as_shipped, rounds=args.rounds,
                      narrow=benchdata.Params(only=args.only, fracs=args.fracs, runs=args.runs,
                                          cycles=args.cycles))
    print(res.text, end="")
    for f in res.files:
        print(f)
    return 0 if res.ok else 1


def cmd_diff(args: argparse.Namespace) -> int:
    from . import difftest

    lay = layout()
    sides = (args.against, args.subject)
    listed = tuple(int(x) for x in args.seed_list.split(",")) if args.seed_list else ()
    with hugepages.host_hugepages(sides):
        hugetlb, swap, notes = difftest.decide_resources(sides, args.hugetlb, args.swap)
        pagecache, more = difftest.decide_pagecache(sides, args.pagecache)
        notes += more
        kernels = {n: difftest.guest_kernel(n, lay, args.profile, build_kernel=False)
                   for n in sides if n != "host"}
        soft_dirty, more = difftest.decide_soft_dirty(sides, args.soft_dirty, kernels)
        notes += more
        opts = difftest.Options(start=args.start, seeds=args.seeds, ops=args.ops,
                                hugetlb=hugetlb, swap=swap, pagecache=pagecache,
                                soft_dirty=soft_dirty, seed_list=listed, plant=args.plant)
        try:
            rep = difftest.differential(lay, opts, args.against, args.subject, notes,
                                        build_kernel=not args.no_build,
                                        profile=args.profile, localize=args.localize)
        except difftest.FeatureMissing as e:
            print(e)
            return 4
    print(rep.render(limit=args.limit))
    return 0 if rep.ok() else 1


def cmd_stress(args: argparse.Namespace) -> int:
    from . import reliability

    job = reliability.stress_job(args.kernel, args.profile, args.seed, args.seconds,
                                 args.writes, args.threads)
    out = reliability.execute(layout(), job, args.timeout or reliability.stress_timeout(job))
    print(out.render())
    return 0 if out.ok else 4 if out.skipped and not out.splats else 1


def cmd_fuzz(args: argparse.Namespace) -> int:
    from . import reliability

    job = reliability.fuzz_job(args.kernel, args.profile, args.seed, args.calls)
    out = reliability.execute(layout(), job, args.timeout or reliability.fuzz_timeout(job))
    print(out.render())
    return 0 if out.ok else 4 if out.skipped and not out.splats else 1


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m harness", description=__doc__)
    sub = ap.add_subparsers(dest="verb", required=True)

    def verb(name: str, fn: object, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help)
        p.set_defaults(fn=fn)
        p.add_argument("--profile", default="base", choices=sorted(config.PROFILES),
                       help="kernel profile (default: base)")
        return p

    verb("source", cmd_source, "download and unpack linux-source-6.1, record the baseline")
    verb("apply", cmd_apply, "apply patches/series onto the profile's build tree")
    p = verb("export", cmd_export, "turn a kernel work tree's commits into patches/")
    p.add_argument("--tree", required=True, help="the kernel work tree")
    p.add_argument("--base", default=source.BASELINE_TAG, help="the commit the series sits on")
    p = verb("config", cmd_config, "configure the build tree (tinyconfig + fragments), verify "
             "it; for mainline, compare it with ours")
    p.add_argument("--kernel", default="ours", choices=("ours", "mainline"),
                   help="ours (the default) or mainline (linux-source-6.12 configured like "
                   "ours, then compared with ours' .config)")
    p = verb("build", cmd_build, "source + apply + config + build bzImage and uapi headers")
    p.add_argument("--kernel", default="ours", choices=("ours", "mainline"),
                   help="ours (6.1 + the series, the default) or mainline "
                   "(linux-source-6.12 configured like ours, no patches)")
    p = verb("boot", cmd_boot, "boot a kernel and run a command in it")
    p.add_argument("--kernel", default="ours",
                   help="ours, mainline (6.12 built like ours), reference (Debian's "
                   "6.12), plain (Debian's 6.1), a bzImage path or an installed release")
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("command", nargs="*", help="shell command (default: uname -a)")
    verb("selftests", cmd_selftests, "build the selftests against the build tree")
    verb("upstream", cmd_upstream, "download linux-source-6.12 and build mainline's "
         "pagemap_ioctl and uffd-unit-tests from it (upstream/patches applied)")
    p = verb("selftests-patch", cmd_selftests_patch,
             "write selftests/ into a kernel work tree as the selftests patch, "
             "or check patches/ against it")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--tree", help="the kernel work tree to commit the selftests in")
    how.add_argument("--check", action="store_true",
                     help="check that patches/'s selftests patch agrees with selftests/")
    p = verb("bench", cmd_bench,
             "benchmark PAGEMAP_SCAN write tracking against the old ways (issue 7)")
    p.add_argument("--quick", action="store_true",
                   help="small regions, few cycles: under two minutes on the host")
    p.add_argument("--targets", nargs="+", default=["host,ours,mainline"],
                   help="comma-separated: host, ours, mainline (6.12 built like ours), "
                   "reference (Debian's 6.12) (default: host,ours,mainline)")
    p.add_argument("--rounds", type=int, default=None,
                   help="runs of pagemap_bench in each guest, the guests taking turns "
                   "(default 5, quick 3): the A/B's intervals are over these")
    p.add_argument("--out", default=None,
                   help="where bench.json, summary.md and the PNGs go (default: out/bench)")
    p.add_argument("--size", default=None, help="host region size (default 256M, quick 32M)")
    p.add_argument("--guest-size", default=None,
                   help="guest region size (default 16M, quick 8M: guests run under TCG)")
    p.add_argument("--ksrc", default=None,
                   help="build bench/ against this kernel tree's usr/include")
    p.add_argument("--as-shipped", action="store_true",
                   help="boot the guests with their default CPU mitigations (default: "
                   "mitigations=off on both, as our tinyconfig kernel has none)")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds a guest may take (default 1200 quick, 5400 full)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNGs (no matplotlib)")
    p.add_argument("--only", default=None, metavar="PARTS",
                   help="pagemap_bench's parts to run, e.g. cycle,file (default: all)")
    p.add_argument("--fracs", default=None, metavar="F,...",
                   help="written fractions of the cycle settings, e.g. 0.01,0.1")
    p.add_argument("--runs", type=int, default=None, help="runs per setting and round")
    p.add_argument("--cycles", type=int, default=None, help="timed cycles per run")
    p = verb("diff", cmd_diff, "differential test: seeded workloads on an oracle and on us")
    p.add_argument("--seeds", type=int, default=200, help="how many seeds (default: 200)")
    p.add_argument("--start", type=int, default=0, help="the first seed (default: 0)")
    p.add_argument("--seed-list", default="", metavar="S1,S2,...",
                   help="run these seeds instead of --start/--seeds")
    p.add_argument("--ops", type=int, default=60, help="operations per seed (default: 60)")
    p.add_argument("--against", default="host", choices=("host", "reference", "mainline"),
                   help="the oracle: the host kernel, Debian's 6.12 or the same-config "
                        "mainline (6.12 built like ours) in a guest")
    p.add_argument("--subject", default="ours",
                   choices=("ours", "host", "reference", "mainline"),
                   help="the kernel under test (default: ours; host or reference "
                        "checks that the two oracles agree)")
    p.add_argument("--hugetlb", action=argparse.BooleanOptionalAction, default=None,
                   help="use hugetlb mappings (default: when every side has the pages)")
    p.add_argument("--swap", action=argparse.BooleanOptionalAction, default=None,
                   help="use MADV_PAGEOUT (default: when every side has swap)")
    p.add_argument("--pagecache", action=argparse.BooleanOptionalAction, default=None,
                   help="map files in $PMSCAN_PAGECACHE_DIR or the current directory "
                        "(not tmpfs) privately and shared (default: when the host has "
                        "such a directory; off, old seeds' traces stay comparable)")
    p.add_argument("--soft-dirty", action=argparse.BooleanOptionalAction, default=None,
                   help="clear_refs, PAGE_IS_SOFT_DIRTY and pagemap's bits (default: when "
                        "both kernels have CONFIG_MEM_SOFT_DIRTY; the host has not)")
    p.add_argument("--plant", default="", metavar="soft-dirty:N",
                   help="a planted bug in the subject only: its Nth scan returning "
                        "soft-dirty misreports it (shows the comparison catches one)")
    p.add_argument("--no-build", action="store_true",
                   help="boot our kernel and the same-config mainline as built, without "
                        "building them first")
    p.add_argument("--limit", type=int, default=20, help="differences to show (default: 20)")
    p.add_argument("--localize", type=int, default=5,
                   help="run up to this many differing seeds again with the state after "
                        "every operation, to name the operation that parts the kernels "
                        "(default: 5)")
    for name, fn, text in (
            ("stress", cmd_stress, "nolostwrites: get+WP under racing writers and chaos "
                                   "loses no write (issue 6)"),
            ("fuzz", cmd_fuzz, "pmscan_fuzz: seeded PAGEMAP_SCAN arguments against the "
                               "spec's error table (issue 6)")):
        p = verb(name, fn, text)
        p.add_argument("--kernel", default="host",
                       choices=("host", "ours", "reference", "mainline"),
                       help="where to run: the host kernel or a guest (default: host)")
        p.add_argument("--seed", type=int, default=1, help="the seed (default: 1)")
        p.add_argument("--timeout", type=float, default=None,
                       help="seconds the program may take (default: from its size)")
        if name == "stress":
            how = p.add_mutually_exclusive_group()
            how.add_argument("--seconds", type=float, default=None,
                             help="run this long instead of a number of writes")
            how.add_argument("--writes", type=int, default=None,
                             help="writes in all (default: 1,000,000)")
            p.add_argument("--threads", type=int, default=None,
                           help="writer threads (default: 3)")
        else:
            p.add_argument("--calls", type=int, default=100_000,
                           help="PAGEMAP_SCAN calls (default: 100,000)")
    for name, fn, text in (
            ("matrix", cmd_matrix, "build the series' objects in each configuration of "
                                   "kernel-config/matrix/ (W=1)"),
            ("bisect", cmd_bisect, "build the series one patch at a time (base config, W=1); "
                                   "name the first patch that does not build"),
            ("newest", cmd_newest, "apply and build the series on the newest linux-source-6.1 "
                                   "Debian serves")):
        p = sub.add_parser(name, help=text)
        p.set_defaults(fn=fn)
        if name == "newest":
            p.add_argument("--version", default=None,
                           help="try this served version instead of the newest")
            continue
        if name == "matrix":
            p.add_argument("--configs", default=None, metavar="A,B,...",
                           help="only these configurations (default: all)")
        else:
            p.add_argument("--upto", type=int, default=None, metavar="N",
                           help="stop after the first N patches (default: all)")
        p.add_argument("--werror", action=argparse.BooleanOptionalAction, default=True,
                       help="fail on the first warning (KCFLAGS=-Werror; default: on)")
        p.add_argument("-j", "--jobs", type=int, default=2,
                       help="parallel compile jobs (default: 2)")
    for name, fn, text in (("run", cmd_run, "the whole validation, with a summary table"),
                           ("report", cmd_report, "the summary table of the last run")):
        p = verb(name, fn, text)
        p.add_argument("--targets", nargs="+", default=list(pipeline.TARGETS),
                       choices=pipeline.TARGETS)
    p.add_argument("--kcidb", metavar="FILE", default=None,
                   help="also write the results to FILE in KernelCI's KCIDB format")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    guest.stop_guests_on_signals()
    try:
        # Every program the harness starts on the host finds its page-cache directory.
        pagecache.export_host(layout())
        return int(args.fn(args))
    except HarnessError as e:
        print(e, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
