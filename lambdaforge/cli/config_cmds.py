"""``forge validate|config|schema``: the config-side subcommands.

Thin like the rest of the CLI: parse, call ``lambdaforge.config``, print, return an exit
code. Heavy imports stay inside the command functions.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lambdaforge.cli.common import EXIT_OK, count, load, print_issue


# --------------------------------------------------------------------------- validate


def cmd_validate(args: argparse.Namespace) -> int:
    """Check the config and the files builders will read (requirement and lock files,
    handler modules); one summary line (plus any warnings) and exit 0 when all is valid,
    else every problem at once (exit 2)."""
    import os

    from lambdaforge.errors import ConfigError
    from lambdaforge.validation import dependency_issues

    project = load(args)
    issues = dependency_issues(project)
    errors = [i for i in issues if i.severity == "error"]
    for warning in (i for i in issues if i.severity != "error"):
        print_issue(warning)
    if errors:
        raise ConfigError(errors)
    shown = Path(os.path.relpath(project.config_file, os.path.realpath(args.cwd))).as_posix()
    print(
        f"{shown}: ok ({count(len(project.functions), 'function')}, "
        f"{count(len(project.layers), 'layer')})"
    )
    return EXIT_OK


def add_validate(p: argparse.ArgumentParser) -> None:
    """The arguments of ``forge validate``."""
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


def add_config(p: argparse.ArgumentParser) -> None:
    """The arguments of ``forge config``."""
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


def add_schema(p: argparse.ArgumentParser) -> None:
    """The arguments of ``forge schema``."""
    p.set_defaults(run=cmd_schema)


#: Registered by ``lambdaforge.cli``, in ``--help`` order.


# --------------------------------------------------------------------------- import sam


def cmd_import_sam(args: argparse.Namespace) -> int:
    """Write a lambdaforge.toml from a SAM template, list what was not translated, and
    validate the result (exit 2 when it does not validate: the comments say what to fix)."""
    from lambdaforge.cli.common import EXIT_USAGE
    from lambdaforge.samimport import import_sam

    cwd = Path(args.cwd)
    template = args.template
    if template is None:
        found = [cwd / n for n in ("template.yaml", "template.yml", "template.json")
                 if (cwd / n).is_file()]
        if not found:
            print("forge: no template.yaml here: name the template", file=sys.stderr)
            return EXIT_USAGE
        template = found[0]
    template = template if template.is_absolute() else cwd / template
    output = args.output or template.parent / "lambdaforge.toml"
    output = output if output.is_absolute() else cwd / output
    result = import_sam(template, output, force=args.force)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"wrote {output}", file=sys.stderr)
    args.config = output
    return cmd_validate(args)


def add_import(p: argparse.ArgumentParser) -> None:
    """The arguments of ``forge import sam``."""
    kinds = p.add_subparsers(dest="import_kind", metavar="KIND", required=True)
    sam = kinds.add_parser("sam", help="from an AWS SAM template (template.yaml)",
                           formatter_class=p.formatter_class)
    sam.add_argument("template", nargs="?", type=Path, help="the template (default: template.yaml here)")
    sam.add_argument("-o", "--output", type=Path, help="where to write (default: lambdaforge.toml next to the template)")
    sam.add_argument("--force", action="store_true", help="replace an existing file")
    sam.set_defaults(run=cmd_import_sam)
