"""The ``forge`` command line: parse arguments, call the library, print, return an exit code.

Thin on purpose (design §1, §5). Each subcommand is one ``cmd_*`` function plus one
``add_*`` function registering its parser, in ``config_cmds`` (validate, config, schema) or
``build_cmds`` (build, check, plan, explain, graph, clean, cache), ``invoke_cmd``
(invoke), ``deploy_cmds`` (deploy), ``watch_cmd`` (watch) or ``export_cmd`` (export);
``common`` holds what they share; heavy modules (pydantic, networkx, rich) are imported
inside the ``cmd_*`` functions so ``forge --version`` and ``--help`` stay fast.

Exit codes: 0 success, 1 a build failed (or a bug), 2 bad config or usage. Errors lambdaforge
raises on purpose (``ForgeError``) are printed without a traceback; anything else is a bug
and shows its traceback only with ``--verbose``.

Commands must use ``args.cwd`` (from ``-C``), never ``Path.cwd()``: ``-C`` does not change the
process's directory, so ``main()`` can be called in-process by tests.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from lambdaforge import __version__
from lambdaforge.cli.build_cmds import BUILD_SUBCOMMANDS
from lambdaforge.cli.common import EXIT_BUILD_FAILED, EXIT_OK, EXIT_USAGE, load, print_issue
from lambdaforge.cli.config_cmds import CONFIG_SUBCOMMANDS
from lambdaforge.cli.deploy_cmds import add_deploy
from lambdaforge.cli.export_cmd import add_export
from lambdaforge.cli.invoke_cmd import add_invoke
from lambdaforge.cli.watch_cmd import add_watch

__all__ = ["EXIT_BUILD_FAILED", "EXIT_OK", "EXIT_USAGE", "build_parser", "load", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with global options and every subcommand."""
    parser = argparse.ArgumentParser(
        prog="forge", description="Build AWS Lambda functions and layers from lambdaforge.toml."
    )
    parser.add_argument("--version", action="version", version=f"forge {__version__}")
    parser.add_argument(
        "-C", dest="directory", metavar="DIR", type=Path, help="run as if started in DIR"
    )
    parser.add_argument(
        "-c", dest="config", metavar="FILE", type=Path,
        help="the config file (default: lambdaforge.toml here or in a parent directory)",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="say more; show a traceback for internal errors"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (*BUILD_SUBCOMMANDS[:1], *CONFIG_SUBCOMMANDS, *BUILD_SUBCOMMANDS[1:], add_invoke,
                add_deploy, add_watch, add_export):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``forge`` with ``argv`` (default: ``sys.argv[1:]``) and return its exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) and usage errors (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    args.cwd = (args.directory or Path(".")).absolute()
    try:
        if not args.cwd.is_dir():
            from lambdaforge.errors import UsageError

            raise UsageError(f"-C {args.directory}: not a directory")
        return args.run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `forge config | head`: the reader left; say nothing more
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BUILD_FAILED
    except Exception as exc:
        return _failed(exc, verbose=args.verbose)


def _failed(exc: Exception, *, verbose: bool) -> int:
    """Report what stopped a command and return its exit code: a ``ForgeError`` as its
    message (every issue of a ``ConfigError``), anything else as an internal error.
    (Imported only now: ``lambdaforge.errors`` needs ``dataclasses``, which a no-op build
    answered from its replay record never pays for.)"""
    from lambdaforge.errors import ConfigError, ForgeError

    if isinstance(exc, ConfigError):
        for issue in exc.issues:
            print_issue(issue)
        return exc.exit_code
    if isinstance(exc, ForgeError):
        print(f"forge: error: {exc}", file=sys.stderr)
        return exc.exit_code
    # A bug (or a full disk): say so, and how to see more.
    from lambdaforge.fsutil import is_disk_full, write_failure

    if is_disk_full(exc):  # not a bug: the user's to fix, whatever was writing
        print(f"forge: error: {write_failure(exc)}", file=sys.stderr)  # type: ignore[arg-type]
        return EXIT_BUILD_FAILED
    from lambdaforge.redact import redact_text

    if verbose:
        import traceback

        print(redact_text(traceback.format_exc()), end="", file=sys.stderr)
    print(
        redact_text(f"forge: internal error: {type(exc).__name__}: {exc}")
        + ("" if verbose else " (run with --verbose for a traceback)"),
        file=sys.stderr,
    )
    return EXIT_BUILD_FAILED

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
