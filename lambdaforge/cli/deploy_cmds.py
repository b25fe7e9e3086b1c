"""``forge deploy``: build, plan against the live state, print the plan, then apply it.

Thin: parse, call ``lambdaforge.build`` and ``lambdaforge.deploy``, print, return an exit
code. boto3 is imported only when this command runs.
"""

from __future__ import annotations

import argparse
import sys

from lambdaforge.cli.common import EXIT_BUILD_FAILED, EXIT_OK, load


#: Functions and layers deployed at once by default: Lambda's control plane throttles
#: bursts per account (botocore retries those), and each write waits for its function.
DEFAULT_JOBS = 4


def cmd_deploy(args: argparse.Namespace) -> int:
    """Build what is needed (checks included), plan, print the plan; unless ``--dry-run``,
    publish changed layers and create or update changed functions, ``--jobs`` at a time,
    then write the deploy record and a summary."""
    import time

    from lambdaforge import report
    from lambdaforge.build import BuildOptions, BuildSession
    from lambdaforge.deploy.apply import apply_plan
    from lambdaforge.deploy.aws import make_clients
    from lambdaforge.deploy.plan import make_plan, resolve_stage, select
    from lambdaforge.deploy.record import load_record
    from lambdaforge.manifest import read_manifest

    project = load(args)
    functions, layers = select(project, args.names)
    stage = resolve_stage(project, args.stage, functions, layers)
    session = BuildSession(project, BuildOptions(names=(*functions, *layers)))
    outcome = session.run()
    report.print_outcome(outcome.results, outcome.seconds, session.warnings, verbose=args.verbose)
    if not outcome.ok:
        print("forge: error: the build failed: nothing was deployed", file=sys.stderr)
        return EXIT_BUILD_FAILED
    jobs = args.jobs or DEFAULT_JOBS
    clients = make_clients(project.deploy.region, project.deploy.profile, pool=jobs)
    record = load_record(project.root, stage)
    plan = make_plan(project, read_manifest(outcome.manifest_path), clients,
                     names=args.names, stage=stage, publish=args.publish, record=record,
                     jobs=jobs)
    if not args.json:
        for line in plan.lines():
            print(line)
    if args.dry_run:
        if args.json:
            report.dump_json({"plan": plan.to_json(), "applied": None})
        return EXIT_OK

    def progress(o) -> None:
        if o.status != "unchanged":
            print(o.line(), file=sys.stderr)

    start = time.perf_counter()
    # nothing to change still runs: no call is made, and the record learns the live state
    outcomes = apply_plan(plan, clients, jobs=jobs, on_outcome=None if args.json else progress)
    seconds = time.perf_counter() - start
    record.update(plan, outcomes)
    record.save()
    if args.json:
        report.dump_json({"plan": plan.to_json(),
                          "applied": [{"kind": o.kind, "name": o.name, "status": o.status,
                                       "did": o.did, "published": o.published,
                                       "version": o.version, "alias": o.alias,
                                       "error": o.error, "seconds": round(o.seconds, 3)}
                                      for o in outcomes],
                          "seconds": round(seconds, 3)})
    elif plan.changes:
        print(summary_line(outcomes, seconds), file=sys.stderr)
    failed = [o for o in outcomes if not o.ok]
    if failed and not args.json:
        print(f"forge: error: {len(failed)} of {len(outcomes)} failed or skipped: "
              + ", ".join(f"{o.kind} {o.name}" for o in failed), file=sys.stderr)
    return EXIT_BUILD_FAILED if failed else EXIT_OK


def summary_line(outcomes: list, seconds: float) -> str:
    """``deploy: 1 layer published, 1 created, 2 updated, 197 unchanged, 1 failed in 2.31s``
    (functions, by status; layers counted apart)."""
    layers = sum(o.kind == "layer" and o.status == "published" for o in outcomes)
    counts: dict[str, int] = {}
    for o in outcomes:
        if o.kind == "function" or o.status in ("failed", "skipped"):
            counts[o.status] = counts.get(o.status, 0) + 1
    order = ("created", "updated", "published", "unchanged", "failed", "skipped")
    parts = ([f"{layers} layer version{'s' if layers != 1 else ''} published"] if layers else [])
    parts += [f"{counts[s]} {s}" for s in order if counts.get(s)]
    return f"deploy: {', '.join(parts) or 'nothing'} in {seconds:.2f}s"


def add_deploy(p: argparse.ArgumentParser) -> None:
    """The arguments of ``forge deploy``."""
    from lambdaforge.cli.build_cmds import _jobs

    p.add_argument("names", nargs="*", metavar="NAME", help="functions or layers (default: all)")
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    p.add_argument("--stage", metavar="S", help="the {stage} of [deploy] name (default: [deploy] stage)")
    p.add_argument("--publish", action="store_true",
                   help="publish a version of each changed function (pinned to its CodeSha256) "
                        "and move its alias to it")
    p.add_argument("-j", "--jobs", type=_jobs, metavar="N",
                   help=f"functions deployed at once (default {DEFAULT_JOBS})")
    p.add_argument("--json", action="store_true", help="the plan (and outcomes) as JSON on stdout")
    p.set_defaults(run=cmd_deploy)
