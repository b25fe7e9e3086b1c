"""The ``forge`` command line: parse arguments, call the library, print, return an exit code.

Thin on purpose (design §1, §5). Each subcommand is one ``cmd_*`` function plus one
``add_*`` function registering its parser in ``SUBCOMMANDS``; heavy modules (pydantic,
networkx, rich) are imported inside the ``cmd_*`` functions so ``forge --version`` and
``--help`` stay fast.

Exit codes: 0 success, 1 a build failed (or a bug), 2 bad config or usage. Errors lambdaforge
raises on purpose (``ForgeError``) are printed without a traceback; anything else is a bug
and shows its traceback only with ``--verbose``.

Commands must use ``args.cwd`` (from ``-C``), never ``Path.cwd()``: ``-C`` does not change the
process's directory, so ``main()`` can be called in-process by tests.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lambdaforge import __version__

if TYPE_CHECKING:
    from lambdaforge.config.models import Project
    from lambdaforge.errors import ConfigIssue

#: Exit codes (design §5).
EXIT_OK, EXIT_BUILD_FAILED, EXIT_USAGE = 0, 1, 2


def _print_issue(issue: ConfigIssue) -> None:
    print(str(issue) if issue.file else issue.message, file=sys.stderr)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def load(args: argparse.Namespace) -> Project:
    """The project named by ``-C``/``-c``; prints its warnings on stderr."""
    from lambdaforge.config import load_project

    project = load_project(args.config, cwd=args.cwd)
    for warning in project.warnings:
        _print_issue(warning)
    return project


# --------------------------------------------------------------------------- validate


def cmd_validate(args: argparse.Namespace) -> int:
    """Check the config; one summary line (plus any warnings) and exit 0 when it is valid."""
    import os

    project = load(args)
    shown = Path(os.path.relpath(project.config_file, os.path.realpath(args.cwd))).as_posix()
    print(
        f"{shown}: ok ({_count(len(project.functions), 'function')}, "
        f"{_count(len(project.layers), 'layer')})"
    )
    return EXIT_OK


def add_validate(sub: argparse._SubParsersAction) -> None:
    """Register ``forge validate``."""
    p = sub.add_parser("validate", help="check lambdaforge.toml; exit 0 or list every error")
    p.set_defaults(run=cmd_validate)


# --------------------------------------------------------------------------- config


def cmd_config(args: argparse.Namespace) -> int:
    """Print the effective merged config, optionally with where each value was set.

    Credentials in URLs (``index-url = "https://user:pass@…"``) are shown as ``***``: this
    output is pasted into issues and CI logs.
    """
    import json

    from lambdaforge.config.effective import effective_config, flatten
    from lambdaforge.config.tomlwrite import dumps, value
    from lambdaforge.redact import redact_text

    project = load(args)
    if args.json:
        document = effective_config(project, keep_none=True)
        if args.show_origin:
            document["origins"] = {k: o.model_dump() for k, o in project.origins.items()}
        print(redact_text(json.dumps(document, indent=2, default=str)))
    elif args.show_origin:
        for key, item in flatten(effective_config(project)):
            origin = project.origins.get(key)
            where = "" if origin is None else (
                origin.file if origin.line is None else f"{origin.file}:{origin.line}"
            )
            print(redact_text(f"{where}\t{key} = {value(item)}"))
    else:
        print(redact_text(dumps(effective_config(project))), end="")
    return EXIT_OK


def add_config(sub: argparse._SubParsersAction) -> None:
    """Register ``forge config``."""
    p = sub.add_parser("config", help="print the effective merged config")
    p.add_argument(
        "--show-origin", action="store_true", help="show the file and line each value came from"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of TOML")
    p.set_defaults(run=cmd_config)


# --------------------------------------------------------------------------- schema


def cmd_schema(args: argparse.Namespace) -> int:
    """Print the JSON Schema of ``lambdaforge.toml`` (needs no project)."""
    from lambdaforge.config.schema import schema_json

    sys.stdout.write(schema_json())
    return EXIT_OK


def add_schema(sub: argparse._SubParsersAction) -> None:
    """Register ``forge schema``."""
    p = sub.add_parser("schema", help="print the JSON Schema of lambdaforge.toml")
    p.set_defaults(run=cmd_schema)


# --------------------------------------------------------------------------- wiring

#: One entry per subcommand, in ``--help`` order.
SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    add_validate,
    add_config,
    add_schema,
)


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
    from lambdaforge.cli_build import BUILD_SUBCOMMANDS  # cheap: argparse only

    for add in (*BUILD_SUBCOMMANDS[:1], *SUBCOMMANDS, *BUILD_SUBCOMMANDS[1:]):
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
    # Imported here, not at the top: dataclasses alone costs --version 10 ms.
    from lambdaforge.errors import ConfigError, ForgeError, UsageError

    try:
        args.cwd = (args.directory or Path(".")).absolute()
        if not args.cwd.is_dir():
            raise UsageError(f"-C {args.directory}: not a directory")
        return args.run(args)
    except ConfigError as exc:
        for issue in exc.issues:
            _print_issue(issue)
        return exc.exit_code
    except ForgeError as exc:
        print(f"forge: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `forge config | head`: the reader left; say nothing more
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BUILD_FAILED
    except Exception as exc:  # a bug (or a full disk): say so, and how to see more
        from lambdaforge.fsutil import is_disk_full, write_failure

        if is_disk_full(exc):  # not a bug: the user's to fix, whatever was writing
            print(f"forge: error: {write_failure(exc)}", file=sys.stderr)  # type: ignore[arg-type]
            return EXIT_BUILD_FAILED
        from lambdaforge.redact import redact_text

        if args.verbose:
            import traceback

            print(redact_text(traceback.format_exc()), end="", file=sys.stderr)
        print(
            redact_text(f"forge: internal error: {type(exc).__name__}: {exc}")
            + ("" if args.verbose else " (run with --verbose for a traceback)"),
            file=sys.stderr,
        )
        return EXIT_BUILD_FAILED


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
