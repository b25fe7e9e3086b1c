"""``forge deploy``: build, plan against the live state, print the plan, then apply it.

Thin: parse, call ``lambdaforge.build`` and ``lambdaforge.deploy``, print, return an exit
code. boto3 is imported only when this command runs.
"""

from __future__ import annotations

import argparse
import sys

from lambdaforge.cli.common import EXIT_BUILD_FAILED, EXIT_OK, load


def cmd_deploy(args: argparse.Namespace) -> int:
    """Build what is needed (checks included), plan, print the plan; unless ``--dry-run``,
    publish changed layers and create or update changed functions."""
    from lambdaforge import report
    from lambdaforge.build import BuildOptions, BuildSession
    from lambdaforge.deploy.apply import apply_plan
    from lambdaforge.deploy.aws import make_clients
    from lambdaforge.deploy.plan import make_plan, select
    from lambdaforge.manifest import read_manifest

    project = load(args)
    functions, layers = select(project, args.names)
    session = BuildSession(project, BuildOptions(names=(*functions, *layers)))
    outcome = session.run()
    report.print_outcome(outcome.results, outcome.seconds, session.warnings, verbose=args.verbose)
    if not outcome.ok:
        print("forge: error: the build failed: nothing was deployed", file=sys.stderr)
        return EXIT_BUILD_FAILED
    clients = make_clients(project.deploy.region, project.deploy.profile)
    plan = make_plan(project, read_manifest(outcome.manifest_path), clients,
                     names=args.names, stage=args.stage)
    if args.json and (args.dry_run or not plan.changes):
        report.dump_json({"plan": plan.to_json(), "applied": None if args.dry_run else []})
        return EXIT_OK
    if not args.json:
        for line in plan.lines():
            print(line)
    if args.dry_run or not plan.changes:
        return EXIT_OK
    outcomes = apply_plan(plan, clients, on_outcome=None if args.json else
                          (lambda o: print(o.line(), file=sys.stderr)))
    if args.json:
        report.dump_json({"plan": plan.to_json(),
                          "applied": [{"kind": o.kind, "name": o.name, "status": o.status,
                                       "did": o.did, "error": o.error,
                                       "seconds": round(o.seconds, 3)} for o in outcomes]})
    failed = [o for o in outcomes if not o.ok]
    if failed and not args.json:
        print(f"forge: error: {len(failed)} of {len(outcomes)} failed or skipped",
              file=sys.stderr)
    return EXIT_BUILD_FAILED if failed else EXIT_OK


def add_deploy(sub: argparse._SubParsersAction) -> None:
    """Register ``forge deploy``."""
    p = sub.add_parser("deploy", help="build, then publish changed layers and update changed "
                                      "functions on Lambda (plan printed first)")
    p.add_argument("names", nargs="*", metavar="NAME", help="functions or layers (default: all)")
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    p.add_argument("--stage", metavar="S", help="the {stage} of [deploy] name (default: [deploy] stage)")
    p.add_argument("--json", action="store_true", help="the plan (and outcomes) as JSON on stdout")
    p.set_defaults(run=cmd_deploy)
