"""Progress and summaries of a build: rich on a TTY, plain lines otherwise, JSON on request.

The executor emits events; a reporter turns them into output. Nothing here decides anything
about the build itself.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterable, Mapping
from typing import IO, Any

from lambdaforge.executor import Event, Status, TargetResult
from lambdaforge.sizes import format_size

REPORT_VERSION = 1

_MARK = {
    Status.BUILT: "built",
    Status.CACHED: "cached",
    Status.UP_TO_DATE: "up-to-date",
    Status.FAILED: "FAILED",
    Status.SKIPPED: "skipped",
}


def human_size(n: int | None) -> str:
    """A size as every forge output prints it: ``1572864`` → ``1.5 MiB`` (``sizes.format_size``)."""
    return format_size(n)


def describe(result: TargetResult) -> str:
    """One plain line for a finished target."""
    mark = "cached (remote)" if result.remote else _MARK[result.status]
    parts = [f"{mark:>10}  {result.target_id}"]
    size = getattr(result.output, "size", None)
    if size is not None:
        parts.append(f"{human_size(size)} zipped, {human_size(result.output.unzipped_size)} unzipped")
    import_ms = getattr(result.output, "import_ms", None)
    if import_ms is not None:
        parts.append(f"handler imports in {import_ms:.0f} ms")
    if result.status in (Status.BUILT, Status.FAILED):
        parts.append(f"{result.seconds:.2f}s")
    return "  ".join(parts)


class PlainReporter:
    """One line per finished target: for logs, CI and pipes."""

    def __init__(self, stream: IO[str] | None = None, *, verbose: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.verbose = verbose
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        if event.kind != "finished" or event.result is None:
            return
        r = event.result
        if r.status is Status.UP_TO_DATE and not self.verbose:
            return
        lines = [describe(r)]
        if self.verbose:
            lines += [f"{'':>12}because {reason}" for reason in r.reasons]
        with self._lock:
            # One write, its newline included: print() writes the text and the newline in
            # two calls, and a Ctrl-C (or another thread's message) between them ran the
            # next line onto this one ("… 0.13sforge: interrupted: …").
            self.stream.write("".join(f"{line}\n" for line in lines))
            self.stream.flush()

    def close(self) -> None:
        """Nothing to tear down for plain output."""


class RichReporter:
    """A live progress display on a terminal (rich is imported only here, only on a TTY)."""

    def __init__(self, total: int, stream: IO[str] | None = None, *, verbose: bool = False) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(file=stream or sys.stderr)
        self.verbose = verbose
        self.progress = Progress(
            TextColumn("[bold]forge build"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=self.console,
            transient=True,
        )
        self.task = self.progress.add_task("", total=total)
        self.running: set[str] = set()
        self._lock = threading.Lock()
        self.progress.start()

    def __call__(self, event: Event) -> None:
        with self._lock:
            if event.kind == "started":
                self.running.add(event.target_id)
            else:
                self.running.discard(event.target_id)
                self.progress.advance(self.task)
                r = event.result
                if r is not None and (r.status is not Status.UP_TO_DATE or self.verbose):
                    style = {"FAILED": "red", "built": "green", "cached": "cyan"}.get(_MARK[r.status], "")
                    line = describe(r)
                    self.progress.console.print(f"[{style}]{line}[/]" if style else line, highlight=False)
            self.progress.update(self.task, description=", ".join(sorted(self.running)[:3]))

    def close(self) -> None:
        """Stop the live display."""
        self.progress.stop()


def json_report(project: str, results: Mapping[str, TargetResult], seconds: float,
                kinds: Mapping[str, tuple[str, str]], *, warnings: Iterable[str] = (),
                dry_run: bool = False,
                remote_cache: Mapping[str, Any] | None = None,
                cache_stats: Mapping[str, Any] | None = None,
                shard: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The machine-readable build report (``forge build --json``); its shape is documented
    in ``schemas/build-report.schema.json``. ``kinds`` maps target id → (kind, name);
    ``warnings`` are the run's own (a corrupt cache entry), not any one target's;
    ``remote_cache`` the remote cache's figures, when the build used one; ``cache_stats``
    what the caches did (``lambdaforge.cachestats``); ``shard`` the part of a ``--shard``
    build.

    In a dry run every target that would be built is ``skipped``: that is no failure, so
    ``ok`` then only says that nothing failed."""
    targets = []
    for tid in sorted(results):
        r = results[tid]
        kind, name = kinds[tid]
        targets.append({
            "id": tid,
            "kind": kind,
            "name": name,
            "status": r.status.value,
            "seconds": round(r.seconds, 4),
            "key": r.key,
            "size": getattr(r.output, "size", None),
            "unzipped_size": getattr(r.output, "unzipped_size", None),
            "path": getattr(r.output, "path", None),
            "import_ms": getattr(r.output, "import_ms", None),
            "reasons": list(r.reasons),
            "warnings": list(r.warnings),
            "notes": list(r.notes),
            "error": r.error,
            "remote": r.remote,
        })
    return {
        "remote_cache": dict(remote_cache) if remote_cache is not None else None,
        "cache_stats": dict(cache_stats) if cache_stats is not None else None,
        "shard": dict(shard) if shard is not None else None,
        "version": REPORT_VERSION,
        "project": project,
        "ok": (all(r.status is not Status.FAILED for r in results.values()) if dry_run
               else all(r.status.ok for r in results.values())),
        "dry_run": dry_run,
        "seconds": round(seconds, 4),
        "warnings": list(warnings),
        "targets": targets,
    }


def dump_json(data: Mapping[str, Any], stream: IO[str] | None = None) -> None:
    """Print a JSON document, stable and readable."""
    print(json.dumps(data, indent=2, sort_keys=True), file=stream or sys.stdout)


def summary_line(results: Mapping[str, TargetResult], seconds: float) -> str:
    """The last line of a build: ``2 built, 5 up-to-date in 0.31s``."""
    counts = {s: 0 for s in Status}
    for r in results.values():
        counts[r.status] += 1
    parts = [f"{counts[s]} {s.value}" for s in Status if counts[s]]
    return f"{', '.join(parts) or 'nothing to do'} in {seconds:.2f}s"


def remote_line(stats: Mapping[str, Any]) -> str:
    """What the remote cache did, after a build's summary: ``remote cache s3://b/p (read):
    3 hits, 1 miss, 0 refused, 0 corrupt, 1.2 MiB down, 0 uploaded (0 B)``."""
    state = "unavailable" if stats.get("unavailable") else stats["mode"]
    return (f"remote cache {stats['url']} ({state}): {stats['hits']} hits, "
            f"{stats['misses']} misses, {stats['refused']} refused, {stats['corrupt']} corrupt, "
            f"{human_size(stats['bytes_down'])} down, {stats['uploaded']} uploaded "
            f"({human_size(stats['bytes_up'])})")


def interrupted_line(kept: int, total: int) -> str:
    """What Ctrl-C or SIGTERM says: how much of the build was kept."""
    return (f"forge: interrupted: {kept} of {total} targets finished and were kept "
            "(complete zips and cache entries); nothing half-written was left; run forge "
            "build again to finish")


def print_dry_run(order: Iterable[str], results: Mapping[str, TargetResult],
                  stream: IO[str] | None = None, err: IO[str] | None = None) -> None:
    """``forge build --dry-run``: what would be built and why, in build order, then a
    summary in words (not "6 skipped": a dry run skips on purpose)."""
    out, err = stream or sys.stdout, err or sys.stderr
    counts = {"skipped": 0, "cached": 0, "up-to-date": 0}
    for tid in order:
        r = results[tid]
        counts[r.status.value] = counts.get(r.status.value, 0) + 1
        if r.status is Status.SKIPPED:
            print(f"would build {tid}: {'; '.join(r.reasons)}", file=out)
        elif r.status is Status.CACHED:
            print(f"would restore {tid} from the cache", file=out)
    print(f"dry run: {counts['skipped']} to build, {counts['cached']} to restore from the "
          f"cache, {counts['up-to-date']} up to date; nothing built", file=err)


def print_outcome(results: Mapping[str, TargetResult], seconds: float, warnings: Iterable[str],
                  *, verbose: bool = False,
                  strip_listings: Mapping[str, list[str] | None] | None = None,
                  stream: IO[str] | None = None, err: IO[str] | None = None) -> None:
    """After a build: each target's warnings and notes (once, not for targets left as they
    were), the run's own warnings, ``--explain-strip`` listings, every failure with its
    error (and log with ``verbose``), and the summary line."""
    out, err = stream or sys.stdout, err or sys.stderr
    seen: set[tuple[str, str, str]] = set()
    for tid, r in sorted(results.items()):
        if r.status is Status.UP_TO_DATE:
            continue
        for label, texts in (("warning", r.warnings), ("note", r.notes)):
            for text in texts:
                if (label, tid, text) not in seen:
                    seen.add((label, tid, text))
                    print(f"{label}: {tid}: {text}", file=err)
    for w in warnings:
        print(f"warning: {w}", file=err)
    for tid, listing in (strip_listings or {}).items():
        print(f"{tid}:", file=out)
        for line in listing if listing is not None else [
                "(not in the cache any more: build with --force)"]:
            print(f"  {line}", file=out)
    for r in sorted((r for r in results.values() if r.status is Status.FAILED),
                    key=lambda r: r.target_id):
        print(f"\nFAILED {r.target_id}:\n{r.error}", file=err)
        if r.log and verbose:
            print(r.log, file=err)
    print(summary_line(results, seconds), file=err)
