"""``forge build|check|plan|explain|graph|clean|cache``: the build-side subcommands.

Thin like the rest of the CLI: parse, call ``lambdaforge.build`` / ``lambdaforge.cache``,
print, return an exit code. Heavy imports stay inside the command functions.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from lambdaforge.cli.common import EXIT_BUILD_FAILED, EXIT_OK, load, print_issue

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on the no-op path
if TYPE_CHECKING:
    from lambdaforge.graph import Target


def _session(args: argparse.Namespace, *, smoke: bool = False, scope=None, project=None,
             **extra: object):
    """The build session the arguments ask for; with an incremental ``scope``, on its cached
    project, or on a cached ``project`` (the config is not loaded again: nothing it depends
    on changed)."""
    from lambdaforge.build import BuildOptions, BuildSession

    if scope is not None:
        project = scope.project
    if project is not None:
        for warning in project.warnings:
            print_issue(warning)
    else:
        project = load(args)
    options = BuildOptions(
        names=tuple(getattr(args, "names", ()) or ()),
        jobs=getattr(args, "jobs", None) or os.cpu_count() or 2,
        force=getattr(args, "force", False),
        dry_run=getattr(args, "dry_run", False),
        smoke=smoke or getattr(args, "check", False),
        checks=not getattr(args, "no_check", False),
        remote_mode=getattr(args, "remote_mode", None),
        remote_required=getattr(args, "remote_required", False),
        shard=getattr(args, "shard", None),
        use_container=getattr(args, "use_container", False),
    )
    return BuildSession(project, options, scope=scope, **extra)


def cmd_build(args: argparse.Namespace, *, smoke: bool = False) -> int:
    """Build the selected targets; report progress, warnings and failures."""
    scope = cached = None
    if not (args.force or args.dry_run or args.json or args.verbose or args.explain_strip
            or getattr(args, "shard", None) is not None):
        # Answer a no-op build from file stats alone, before importing anything heavy.
        import time

        from lambdaforge import noop, replay

        start = time.perf_counter()
        root = replay.find_project_root(args.cwd, args.config)
        config_name = args.config.name if args.config is not None else "lambdaforge.toml"
        identity = replay.build_identity(args.names, smoke=smoke or args.check,
                                         checks=not args.no_check, config=config_name)
        argv, here = getattr(args, "argv", None), _working_directory()
        if root is not None and argv is not None and here is not None:
            # next time, ``forge`` answers these arguments before parsing them (noop.py)
            noop.remember(os.fspath(root), here, argv, identity, os.fspath(args.cwd),
                          None if args.config is None else os.fspath(args.config))
        found = None
        if root is not None:
            found = noop.take(os.fspath(root), identity) or replay.examine(root, identity)
        if found is not None and found.up_to_date:
            noop.say_up_to_date(found.summary, start)
            return EXIT_OK
        if found is not None and root is not None:
            from lambdaforge.records import import_msgspec

            import_msgspec()
            from lambdaforge import incremental

            # Only some targets' inputs changed: re-plan those, from the plan cache; or
            # only contents, dependency declarations among them: plan all, on the cached
            # project.
            scope = incremental.scope(root, identity, found)
            if scope is None:
                cached = incremental.cached_project(root, identity, found)
    from lambdaforge import report

    _stop_on_sigterm()
    reporter: Callable | None = None
    session = _session(args, smoke=smoke, on_wait=lambda msg: print(msg, file=sys.stderr),
                       scope=scope, project=cached)
    if not args.json:
        if sys.stderr.isatty() and not args.dry_run:
            reporter = report.RichReporter(len(session.graph), verbose=args.verbose)
        else:
            reporter = report.PlainReporter(verbose=args.verbose or args.dry_run)
    session.on_event = reporter
    from lambdaforge.executor import BuildInterrupted

    try:
        outcome = session.run()
    except BuildInterrupted as stop:
        if reporter is not None:
            reporter.close()
            reporter = None
        sys.stderr.write(report.interrupted_line(len(stop.results), stop.total) + "\n")
        return 130
    finally:
        if reporter is not None:
            reporter.close()
    if args.json:
        kinds = {t.id: (t.kind.value, t.name) for t in outcome.graph.targets()}
        data = report.json_report(outcome.project.name, outcome.results, outcome.seconds, kinds,
                                  warnings=session.warnings, dry_run=args.dry_run,
                                  remote_cache=session.remote_stats,
                                  cache_stats=session.cache_stats, shard=_shard_json(session))
        report.dump_json(data)
        return EXIT_OK if data["ok"] else EXIT_BUILD_FAILED
    if args.dry_run:
        # A dry run reports what would be built as "skipped": that is its answer, not a
        # failure, so it exits 0.
        report.print_dry_run([t.id for t in outcome.graph.targets()], outcome.results)
        return EXIT_OK
    listings = None
    if args.explain_strip:
        listings = {tid: session.strip_listing(r) for tid, r in sorted(outcome.results.items())
                    if tid.split(":", 1)[0] in ("function", "layer") and r.status.ok}
    report.print_outcome(outcome.results, outcome.seconds, session.warnings,
                         verbose=args.verbose, strip_listings=listings)
    if session.remote_stats is not None:
        print(report.remote_line(session.remote_stats), file=sys.stderr)
    if session.shard_units is not None:
        print(_shard_line(session), file=sys.stderr)
    return EXIT_OK if outcome.ok else EXIT_BUILD_FAILED


def _working_directory() -> str | None:
    """The process's working directory (``None`` when it was removed)."""
    try:
        return os.getcwd()
    except OSError:
        return None


def _shard_json(session) -> dict[str, object] | None:
    """The ``shard`` part of the JSON report: which part, its functions and layers, and
    what balanced the partition."""
    shard = session.options.shard
    if shard is None:
        return None
    return {"index": shard.index, "count": shard.count, "units": session.shard_units,
            "balanced_by": "recorded build times" if session.shard_by_times else "target count"}


def _shard_line(session) -> str:
    """``shard 2/4: 50 functions and layers (balanced by target count)``."""
    info = _shard_json(session)
    assert info is not None
    return (f"shard {info['index']}/{info['count']}: {len(info['units'])} functions and layers "
            f"(balanced by {info['balanced_by']})")


def _shard(text: str):
    """``--shard I/N``: part I of N (``lambdaforge.shard.parse_shard``); a malformed value
    is a usage error (exit 2)."""
    from lambdaforge.shard import parse_shard

    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _stop_on_sigterm() -> None:
    """Treat SIGTERM (a cancelled CI job, ``kill``) like Ctrl-C: stop starting targets, let
    running ones remove their temp files, exit 130."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return  # called in-process from a worker thread (tests): signals are not ours

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _jobs(text: str) -> int:
    """``--jobs N``: at least 1. ``-j 0`` used to mean "CPU count" and ``-j -4`` one job,
    silently; a typo should be a usage error instead (exit 2)."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a number of jobs, 1 or more, not {text!r}")
    return n


def add_build(p: argparse.ArgumentParser) -> None:
    """The arguments of ``forge build``."""
    p.add_argument("names", nargs="*", metavar="NAME", help="function or layer names")
    p.add_argument("-j", "--jobs", type=_jobs, metavar="N", help="parallel targets (default: CPU count)")
    p.add_argument("--force", action="store_true", help="rebuild even when up to date or cached")
    p.add_argument("--dry-run", action="store_true", help="say what would be built, build nothing")
    p.add_argument("--json", action="store_true", help="print a machine-readable report on stdout")
    p.add_argument("--check", action="store_true", help="also import each handler in isolation (smoke test)")
    p.add_argument("--no-check", action="store_true", help="skip the artifact checks")
    p.add_argument("--explain-strip", action="store_true",
                   help="list every file strip rules removed, and the rule that removed it")
    _add_use_container(p)
    p.add_argument("--remote-mode", choices=("read", "read-write"),
                   help="use the remote cache read-only, or also upload what this build makes")
    p.add_argument("--remote-required", action="store_true",
                   help="fail (exit 1) when the remote cache cannot be used, instead of one "
                        "warning and a local build")
    p.add_argument("--shard", type=_shard, metavar="I/N",
                   help="build only part I of N of the functions and layers (CI matrices; "
                        "a final forge build assembles everything from the remote cache)")
    p.set_defaults(run=cmd_build)


def cmd_check(args: argparse.Namespace) -> int:
    """Build what is needed, then check every artifact including the import smoke test."""
    args.force = args.dry_run = args.no_check = args.explain_strip = False
    return cmd_build(args, smoke=True)


def _add_use_container(p: argparse.ArgumentParser) -> None:
    p.add_argument("--use-container", action="store_true",
                   help="build native code (sdists, local packages with C extensions) inside the "
                        "runtime's build image with docker or podman (FORGE_CONTAINER_ENGINE); "
                        "installs already cached are kept: add --force to rebuild them")


def add_check(p: argparse.ArgumentParser) -> None:
    """The arguments of ``forge check``."""
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("-j", "--jobs", type=_jobs, metavar="N")
    p.add_argument("--json", action="store_true")
    _add_use_container(p)
    p.set_defaults(run=cmd_check)


def cmd_plan(args: argparse.Namespace) -> int:
    """Print what a build would do with every target, and why."""
    import json

    session = _session(args)
    plan = session.plan()
    if args.json:
        print(json.dumps([{"id": p.target.id, "action": p.action.value, "key": p.key,
                           "reasons": p.reasons} for p in plan], indent=2))
        return EXIT_OK
    verbs = {"up-to-date": "up to date", "cached": "restore from cache", "built": "build"}
    for p in plan:
        why = f"  ({'; '.join(p.reasons)})" if p.reasons and p.action.value != "up-to-date" else ""
        origin = _declared(p.target)
        print(f"{verbs[p.action.value]:>18}  {p.target.id}{f'  [{origin}]' if origin else ''}{why}")
    return EXIT_OK


def _declared(target: Target) -> str:
    """``declared in fn/poetry.lock, used by 3``: where an install target's dependencies
    come from (the declaration chosen by the builder's precedence) and how many share it."""
    deps = target.deps
    if deps is None or not deps.declared_by or target.kind.value != "install":
        return ""  # inline dependencies, or a builder that names no declaring file
    users = f", used by {target.shared_by}" if target.shared_by > 1 else ""
    return f"declared in {deps.declared_by}{users}"


def add_plan(p: argparse.ArgumentParser) -> None:
    """The arguments of ``forge plan``."""
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_plan)


def cmd_explain(args: argparse.Namespace) -> int:
    """Which inputs of NAME (and what it needs) changed since its last build."""
    session = _session(args)
    for tid, reasons in session.explain(args.name).items():
        origin = _declared(session.graph.target(tid))
        if not reasons:
            print(f"{tid}: up to date{f' [{origin}]' if origin else ''}")
        else:
            print(f"{tid}:{f' [{origin}]' if origin else ''}")
            for r in reasons:
                print(f"  {r}")
    return EXIT_OK


def add_explain(p: argparse.ArgumentParser) -> None:
    """The arguments of ``forge explain``."""
    p.add_argument("name", metavar="NAME")
    p.set_defaults(run=cmd_explain)


def cmd_graph(args: argparse.Namespace) -> int:
    """Print the target graph as Graphviz dot, Mermaid or JSON."""
    import json

    from lambdaforge.graph import build_graph

    graph = build_graph(load(args)).select(args.names)
    if args.format == "json":
        print(json.dumps(graph.to_json(), indent=2))
    else:
        sys.stdout.write(graph.to_dot() if args.format == "dot" else graph.to_mermaid())
    return EXIT_OK


def add_graph(p: argparse.ArgumentParser) -> None:
    """The arguments of ``forge graph``."""
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--format", choices=("dot", "mermaid", "json"), default="dot")
    p.set_defaults(run=cmd_graph)


def cmd_clean(args: argparse.Namespace) -> int:
    """Remove build output (and with ``--cache`` the local cache)."""
    import shutil

    from lambdaforge.cache import Cache

    from lambdaforge.locking import LOCK_FILE, PID_FILE, project_build_lock

    project = load(args)
    forge_dir = project.root / ".forge"
    # Not from under a running build: wait for it like a second build would.
    with project_build_lock(project.state_dir, on_wait=lambda msg: print(msg, file=sys.stderr)):
        for d in (project.build_dir, forge_dir / "tmp"):
            shutil.rmtree(d, ignore_errors=True)
        for f in project.state_dir.iterdir():
            if f.name not in (LOCK_FILE, PID_FILE):
                shutil.rmtree(f) if f.is_dir() else f.unlink(missing_ok=True)
    print(f"removed {project.build_dir}")
    if args.cache:
        Cache(project.cache_dir).clear()
        print(f"cleared cache {project.cache_dir}")
    return EXIT_OK


def add_clean(p: argparse.ArgumentParser) -> None:
    """The arguments of ``forge clean``."""
    p.add_argument("--cache", action="store_true", help="also clear the local cache")
    p.set_defaults(run=cmd_clean)


def cmd_cache(args: argparse.Namespace) -> int:
    """``forge cache size``, ``forge cache prune --max-size SIZE`` and ``forge cache stats``."""
    from lambdaforge.cache import Cache
    from lambdaforge.report import human_size

    project = load(args)
    if args.action == "stats":
        import json

        from lambdaforge import cachestats

        stats = cachestats.load(project.state_dir)
        if args.json:
            print(json.dumps(stats, indent=2, sort_keys=True))
        elif stats is None:
            print(f"no build recorded cache figures in {project.state_dir} yet: run forge build")
        else:
            print(cachestats.text(stats))
        return EXIT_OK
    cache = Cache(project.cache_dir)
    if args.action == "prune":
        result = cache.prune(args.max_size)
        print(f"removed {len(result.removed)} entries ({human_size(result.freed)}); "
              f"{human_size(result.remaining)} remain in {cache.root}")
    else:
        entries = cache.entries()
        print(f"{human_size(sum(e.size for e in entries))} in {len(entries)} entries at {cache.root}")
    return EXIT_OK


def add_cache(p: argparse.ArgumentParser) -> None:
    """The arguments of ``forge cache``."""
    p.add_argument("action", choices=("size", "prune", "stats"))
    p.add_argument("--json", action="store_true", help="stats: print them as JSON")
    p.add_argument("--max-size", default="5GiB",
                   help="prune least recently used entries down to this size: bytes, or e.g. "
                        "5GiB (5 * 2^30 bytes) or 5GB (5 * 10^9 bytes); default 5GiB")
    p.set_defaults(run=cmd_cache)

