"""The ``forge`` command line: parse arguments, call the library, print, return an exit code.

Thin on purpose (design §1, §5). Each subcommand is one ``cmd_*`` function plus one
``add_*`` function adding its arguments (listed in ``COMMANDS``), in ``config_cmds``
(validate, config, schema, import) or ``build_cmds`` (build, check, plan, explain, graph, clean, cache), ``invoke_cmd``
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
import gc
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from lambdaforge import __version__
from lambdaforge.cli.common import EXIT_BUILD_FAILED, EXIT_OK, EXIT_USAGE, load, print_issue

__all__ = ["COMMANDS", "EXIT_BUILD_FAILED", "EXIT_OK", "EXIT_USAGE", "build_parser", "entry", "load",
           "main"]

#: Every subcommand, in ``--help`` order: name -> (module in ``lambdaforge.cli``, the
#: function in it that adds the command's arguments to its parser, one-line help). Only the
#: command being run has its module imported and its arguments added: building all fifteen
#: parsers costs more than an incremental build's own planning.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "build": ("build_cmds", "add_build",
              "build functions and layers (all, or the NAMEs and what they need)"),
    "validate": ("config_cmds", "add_validate",
                 "check lambdaforge.toml; exit 0 or list every error"),
    "config": ("config_cmds", "add_config", "print the effective merged config"),
    "schema": ("config_cmds", "add_schema", "print the JSON Schema of lambdaforge.toml"),
    "import": ("config_cmds", "add_import", "write lambdaforge.toml from another tool's config"),
    "check": ("build_cmds", "add_check",
              "build if needed and run every check, import smoke test included"),
    "plan": ("build_cmds", "add_plan", "what would be built and why, without building"),
    "explain": ("build_cmds", "add_explain", "which inputs changed since NAME was last built"),
    "graph": ("build_cmds", "add_graph", "print the target graph"),
    "clean": ("build_cmds", "add_clean", "remove build output; --cache the cache too"),
    "cache": ("build_cmds", "add_cache",
              "cache size, pruning, and what the caches did in the last build"),
    "invoke": ("invoke_cmd", "add_invoke",
               "build a function and call its handler once, as Lambda would"),
    "deploy": ("deploy_cmds", "add_deploy", "build, then publish changed layers and update "
               "changed functions on Lambda (plan printed first)"),
    "watch": ("watch_cmd", "add_watch", "build, then rebuild whenever an input changes "
              "(--deploy: update the changed functions' code on Lambda)"),
    "export": ("export_cmd", "add_export", "describe the built zips for Terraform (JSON) or "
               "SAM (template), building first if needed"),
}

#: Global options that take a value (the next argument, or attached: ``-Cdir``).
_VALUED = ("-C", "-c")


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help formatter, as wide as the terminal as argparse makes it, without
    importing ``shutil`` for that: argparse creates a formatter for every argument it adds
    (to check its metavar), and ``shutil`` with the compression modules it loads was ~3 ms
    of a no-op build."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        if width is None:
            width = terminal_columns() - 2
        super().__init__(prog, indent_increment, max_help_position, width)


def terminal_columns(fallback: int = 80) -> int:
    """``shutil.get_terminal_size().columns``: ``$COLUMNS``, else the terminal's width, else
    ``fallback``."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else fallback


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser: global options and every subcommand. With ``argv`` naming a
    command, only that command (each parser costs ~1 ms, mostly gettext's look-ups); naming
    none or an unknown one, every command is listed without its arguments (for ``--help``
    and argparse's "invalid choice" message); without ``argv``, all of them, complete."""
    parser = argparse.ArgumentParser(
        prog="forge", description="Build AWS Lambda functions and layers from lambdaforge.toml.",
        formatter_class=HelpFormatter,
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
    wanted = None if argv is None else _command_in(argv)
    for name, (module, adder, help_text) in COMMANDS.items():
        if wanted in COMMANDS and name != wanted:
            continue
        command = sub.add_parser(name, help=help_text, formatter_class=HelpFormatter)
        if argv is None or name == wanted:
            add = getattr(importlib.import_module(f"lambdaforge.cli.{module}"), adder)
            add(command)
    return parser


def _command_in(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` names: its first argument that is neither a global option
    nor the value of one, as argparse will read it."""
    args = iter(argv)
    for arg in args:
        if arg == "--":
            return next(args, None)
        if arg in _VALUED:
            next(args, None)
        elif not arg.startswith("-"):
            return arg
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``forge`` with ``argv`` (default: ``sys.argv[1:]``) and return its exit code."""
    _collect_garbage_less_often()
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) and usage errors (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    args.cwd = (args.directory or Path(".")).absolute()
    args.argv = argv  # what was parsed, for what a command remembers of it (``noop``)
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


def entry() -> int:
    """The ``forge`` executable (and ``python -m lambdaforge``): ``main`` on this process's
    arguments. The objects left when it returns are frozen out of the collector's reach
    first: at exit it would otherwise walk every one of them (~25 ms of an incremental
    build at 200 functions); they are freed as before. (Not in ``main``, which tests call
    in their own long-lived process.)"""
    code = main()
    gc.freeze()
    return code


def _collect_garbage_less_often() -> None:
    """Run the cyclic garbage collector's young generation every 50,000 allocations, not
    700: a short-lived process that loads records and plans allocates many objects that
    all live to its end, and re-scanning them was ~15 ms of an incremental build at 200
    functions. What cycles there are (exceptions, frames) wait a little longer; nothing is
    collected later than that."""
    young, *older = gc.get_threshold()
    if 0 < young < 50_000:
        gc.set_threshold(50_000, *older)


def _failed(exc: Exception, *, verbose: bool) -> int:
    """Report what stopped a command and return its exit code: a ``ForgeError`` as its
    message (every issue of a ``ConfigError``), anything else as an internal error.
    (Imported only now: a no-op build answered from its replay record imports no more
    than it needs.)"""
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
    raise SystemExit(entry())
