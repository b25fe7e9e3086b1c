"""``forge export terraform|sam``: describe forge's zips for Terraform or SAM.

Thin: build what is needed (as ``forge build`` would; nothing when up to date), then call
``lambdaforge.export`` on the fresh manifest and print or write the document.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lambdaforge.cli.common import EXIT_BUILD_FAILED, EXIT_OK, load


def cmd_export(args: argparse.Namespace) -> int:
    """Build the selected functions if needed, then write the Terraform JSON or the SAM
    template on stdout or to ``-o FILE`` (zip paths relative to FILE's directory, absolute
    on stdout)."""
    from lambdaforge import export, report
    from lambdaforge.build import BuildOptions, BuildSession
    from lambdaforge.errors import UsageError
    from lambdaforge.fsutil import write_atomic
    from lambdaforge.manifest import read_manifest

    project = load(args)
    unknown = [n for n in args.names if n not in project.functions]
    if unknown:
        raise UsageError(f"no function named {', '.join(repr(n) for n in unknown)} "
                         f"(export takes function names; their layers come with them)")
    functions = tuple(args.names) or tuple(project.functions)
    # No names: the whole project, as `forge build` (whose no-op record this keeps valid).
    session = BuildSession(project, BuildOptions(names=tuple(args.names)),
                           on_event=report.PlainReporter(sys.stderr))
    outcome = session.run()
    if not outcome.ok or any(r.status.value != "up-to-date" for r in outcome.results.values()):
        report.print_outcome(outcome.results, outcome.seconds, session.warnings)
    if not outcome.ok:
        print("forge: error: the build failed: nothing was exported", file=sys.stderr)
        return EXIT_BUILD_FAILED
    artifacts = read_manifest(outcome.manifest_path)
    output: Path | None = None
    if args.output is not None:
        output = args.output if args.output.is_absolute() else args.cwd / args.output
    base = output.parent if output is not None else None
    if args.format == "terraform":
        text = export.render_terraform(export.terraform_data(project, artifacts, functions, base))
    else:
        text = export.sam_template(project, artifacts, functions, base)
    if output is None:
        sys.stdout.write(text)
    else:
        write_atomic(output, text.encode("utf-8"), durable=False, mode=0o644)
        print(f"wrote {args.output}", file=sys.stderr)
    return EXIT_OK


def add_export(p: argparse.ArgumentParser) -> None:
    """Register ``forge export``."""
    p.add_argument("format", choices=("terraform", "sam"))
    p.add_argument("names", nargs="*", metavar="NAME", help="functions (default: all)")
    p.add_argument("-o", "--output", type=Path, metavar="FILE",
                   help="write FILE (zip paths relative to its directory) instead of stdout "
                        "(zip paths absolute)")
    p.set_defaults(run=cmd_export)
