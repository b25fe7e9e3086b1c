"""``forge invoke NAME``: build the function, call its handler once, answer as Lambda does.

stdout gets the result as JSON (or Lambda's error object); stderr the function's logs
between Lambda's START and END lines, then the REPORT line. ``--json`` prints one object
instead (result or error, logs, durations, memory). Exit 0 when the handler returned, 1
when it raised, timed out or the build failed, 2 for bad usage (an event that is no JSON).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lambdaforge.cli.common import EXIT_BUILD_FAILED, EXIT_OK, load


def read_event(spec: str | None, cwd: Path) -> object:
    """The event ``--event`` names: ``-`` (stdin), a JSON file, or a built-in sample;
    ``{}`` without one. The JSON may be UTF-8 (with or without a BOM), UTF-16 or UTF-32, as
    ``json.loads`` detects them (Windows PowerShell's ``>`` writes UTF-16)."""
    from lambdaforge.errors import UsageError
    from lambdaforge.invoke.samples import SAMPLES, sample_event

    if spec is None:
        return {}
    if spec == "-":
        stream = getattr(sys.stdin, "buffer", sys.stdin)  # bytes, unless stdin was replaced
        text, where = stream.read(), "stdin"
    else:
        path = cwd / spec
        if path.is_file():
            text, where = path.read_bytes(), spec
        elif spec in SAMPLES:
            return sample_event(spec)
        else:
            raise UsageError(f"--event {spec}: no such file, nor a sample event "
                             f"({', '.join(SAMPLES)}; see --list-events)")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--event {spec}: {where} is not JSON: {exc}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"--event {spec}: {where} is not JSON text in UTF-8, UTF-16 or UTF-32 "
                         f"({exc.reason} at byte {exc.start})") from None


def cmd_invoke(args: argparse.Namespace) -> int:
    """Build and invoke one function (see the module doc)."""
    from lambdaforge.errors import UsageError
    from lambdaforge.invoke.samples import SAMPLES

    if args.list_events:
        for name, what in SAMPLES.items():
            print(f"{name:<12} {what}")
        return EXIT_OK
    if args.name is None:
        raise UsageError("forge invoke: name the function to invoke")
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError(f"--timeout {args.timeout}: expected a number of seconds above 0")
    from lambdaforge.invoke.session import InvokeBuildFailed, invoke

    event = read_event(args.event, args.cwd)
    project = load(args)

    def started(invocation, warnings: list[str]) -> None:
        if not args.json:
            for warning in warnings:
                print(f"warning: {warning}", file=sys.stderr)
            print(f"START RequestId: {invocation.request_id} Version: $LATEST",
                  file=sys.stderr, flush=True)

    def log(text: str) -> None:
        sys.stderr.write(text)
        sys.stderr.flush()

    try:
        outcome = invoke(project, args.name, event, timeout_s=args.timeout,
                         on_start=started, on_log=None if args.json else log)
    except InvokeBuildFailed as failed:
        for result in failed.outcome.failures():
            print(f"FAILED {result.target_id}:\n{result.error}", file=sys.stderr)
        print(f"forge: error: {args.name} was not invoked: its build failed", file=sys.stderr)
        return EXIT_BUILD_FAILED
    if args.json:
        print(json.dumps(outcome.to_json(), indent=2, sort_keys=True))
        return EXIT_OK if outcome.ok else EXIT_BUILD_FAILED
    if outcome.timeout_line is not None:
        print(outcome.timeout_line, file=sys.stderr)
    print(f"END RequestId: {outcome.invocation.request_id}", file=sys.stderr)
    print(outcome.report_line(), file=sys.stderr, flush=True)
    print(json.dumps(outcome.result if outcome.ok else outcome.error))
    return EXIT_OK if outcome.ok else EXIT_BUILD_FAILED


def add_invoke(p: argparse.ArgumentParser) -> None:
    """The arguments of ``forge invoke``."""
    p.add_argument("name", nargs="?", metavar="NAME", help="the function")
    p.add_argument("--event", metavar="FILE|-|SAMPLE",
                   help="the event: a JSON file, - for stdin, or a sample (--list-events); default {}")
    p.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="seconds before the invocation is killed (default: the function's "
                   "`timeout`, else 3, as Lambda's)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: result or error, logs, duration, memory")
    p.add_argument("--list-events", action="store_true", help="list the sample events")
    p.set_defaults(run=cmd_invoke)
