"""What every ``forge`` subcommand shares: exit codes, loading the project, printing issues.

Both command modules import this one, and ``lambdaforge.cli`` imports them: no module of the
command line imports another that imports it back.
"""

from __future__ import annotations

import argparse
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~5 ms of a no-op)
if TYPE_CHECKING:
    from lambdaforge.config.specs import Project
    from lambdaforge.errors import ConfigIssue

#: Exit codes (design §5).
EXIT_OK, EXIT_BUILD_FAILED, EXIT_USAGE = 0, 1, 2


def print_issue(issue: ConfigIssue) -> None:
    """One config problem or warning on stderr, ``FILE:LINE: key: message`` when located."""
    print(str(issue) if issue.file else issue.message, file=sys.stderr)


def count(n: int, noun: str) -> str:
    """``1 function``, ``2 functions``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def load(args: argparse.Namespace) -> Project:
    """The project named by ``-C``/``-c``; prints its warnings on stderr."""
    from lambdaforge.config import load_project

    project = load_project(args.config, cwd=args.cwd)
    for warning in project.warnings:
        print_issue(warning)
    return project
