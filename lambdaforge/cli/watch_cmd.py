"""``forge watch``: rebuild on every change of what the build reads; ``--deploy`` ships code.

Thin: parse, call ``lambdaforge.watcher``, return its exit code. watchfiles (and, with
``--deploy``, boto3) are imported only when this command runs.
"""

from __future__ import annotations

import argparse
import os
import sys


def cmd_watch(args: argparse.Namespace) -> int:
    """Build, then rebuild whenever an input changes, until Ctrl-C or SIGTERM."""
    from importlib.util import find_spec

    from lambdaforge.errors import UsageError

    if find_spec("watchfiles") is None:
        raise UsageError("forge watch needs watchfiles: pip install 'lambdaforge[watch]'")
    if args.deploy and find_spec("boto3") is None:
        raise UsageError("forge watch --deploy needs boto3: pip install 'lambdaforge[aws]'")
    from lambdaforge.cli.build_cmds import _stop_on_sigterm
    from lambdaforge.watcher import WatchOptions, watch

    _stop_on_sigterm()
    options = WatchOptions(cwd=args.cwd, config=args.config, names=tuple(args.names),
                           deploy=args.deploy, stage=args.stage,
                           jobs=args.jobs or os.cpu_count() or 2, verbose=args.verbose)
    return watch(options, out=sys.stdout)


def add_watch(p: argparse.ArgumentParser) -> None:
    """Register ``forge watch``."""
    from lambdaforge.cli.build_cmds import _jobs

    p.add_argument("names", nargs="*", metavar="NAME", help="function or layer names (default: all)")
    p.add_argument("--deploy", action="store_true",
                   help="after each successful rebuild, update the code of the functions whose "
                        "zip changed (code only, as sam sync --watch --code)")
    p.add_argument("--stage", metavar="S", help="with --deploy: the {stage} of [deploy] name")
    p.add_argument("-j", "--jobs", type=_jobs, metavar="N", help="parallel targets (default: CPU count)")
    p.set_defaults(run=cmd_watch)
