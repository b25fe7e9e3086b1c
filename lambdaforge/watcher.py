"""``forge watch``: rebuild when an input changes; with ``deploy``, ship the changed code.

One cycle is what ``forge build`` does: replay the last build's record (nothing changed →
"up to date", from stats alone, which is what a ``touch`` or a save of identical bytes gets),
else re-plan incrementally or fully and build; the build's planner is the one decider. After
every cycle the watched paths are derived again from what that build read
(``lambdaforge.watchset``), so a new file in a source directory, an edited config or
requirements file, a newly discovered function are all watched from then on.

File system events come from ``watchfiles``' Rust backend (the ``notify`` crate: inotify on
Linux, FSEvents on macOS, ReadDirectoryChangesW on Windows), imported only here. Its
``RustNotify`` is used directly rather than ``watchfiles.watch`` because the watcher must be
re-aimed after a build and must know the moment the new watches exist: anything that changed
between the build reading an input and that moment is found by re-checking the observations
(``WatchSet.changed``), so no edit falls into the gap. Events are coalesced: a cycle starts
once a ``quiet_ms`` step passed without a new event (at most ``max_delay_ms`` after the
first of a burst).

Stopping: ``stop_event`` (a ``threading.Event``), ``max_cycles``, or Ctrl-C / SIGTERM. A stop
while waiting is a normal end (0); one that interrupts a build stops it as ``forge build``
would (finished targets kept, temp files removed) and returns 130.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from msgspec import Struct

from lambdaforge import incremental, replay
from lambdaforge.errors import ConfigError, ForgeError, UsageError
from lambdaforge.watchset import WatchSet, input_observations, recorded_observations

#: exit codes of ``watch``: stopped while waiting / interrupted during a build
STOPPED, INTERRUPTED = 0, 130
#: how many changed paths a "changed:" line names before "and N more"
SHOWN_CHANGES = 5


class WatchOptions(Struct, frozen=True):
    """What to watch and build: the project (``cwd`` and optional ``config``, as ``-C`` and
    ``-c``), the selected ``names``, and whether to ship changed code to Lambda."""

    cwd: Path
    config: Path | None = None
    names: tuple[str, ...] = ()
    deploy: bool = False
    stage: str | None = None
    jobs: int = os.cpu_count() or 2
    #: a cycle starts once no new event arrived for this long (the debounce)
    quiet_ms: int = 250
    #: ... or at most this long after the first event of a burst
    max_delay_ms: int = 1600
    verbose: bool = False


class CycleResult(Struct):
    """One cycle: ``built`` when a build ran (``ok`` whether it succeeded), else the replay
    answered up to date (or the config failed to load: ``ok`` False)."""

    built: bool
    ok: bool


class Watcher:
    """Builds, watches what the build read, rebuilds on changes; see the module docstring."""

    def __init__(self, options: WatchOptions, out: IO[str] | None = None,
                 stop_event: threading.Event | None = None) -> None:
        self.options = options
        self.out = out or sys.stdout
        self.stop_event = stop_event or threading.Event()
        self.watchset: WatchSet | None = None
        #: a moment no later than the last build's first observation (the racy rule's anchor)
        self.reference_ns = 0
        #: builds that ran (not the up-to-date answers), for callers and tests
        self.builds = 0
        self._clients: Any = None
        #: function → the code_sha256 last synced to Lambda (``deploy``)
        self._synced: dict[str, str] = {}
        self._layers: dict[str, str] = {}

    # ------------------------------------------------------------------ output

    def say(self, text: str) -> None:
        """One line of the watcher's output, flushed (a log or a test reads it live)."""
        print(text, file=self.out, flush=True)

    # ------------------------------------------------------------------ one cycle

    @property
    def _config_name(self) -> str:
        return self.options.config.name if self.options.config is not None else "lambdaforge.toml"

    def _config_path(self, root: Path) -> Path:
        config = self.options.config
        if config is None:
            return root / "lambdaforge.toml"
        return config if config.is_absolute() else self.options.cwd / config

    def cycle(self) -> CycleResult:
        """Build as ``forge build`` would, print its result lines, derive the watch set
        again and, with ``deploy``, ship what changed. Config errors and failed builds are
        printed; only a bad selection at the very start (unknown NAME, no config) raises."""
        from lambdaforge.report import PlainReporter, print_outcome

        reference_ns, start = time.time_ns(), time.perf_counter()
        opts = self.options
        first = self.watchset is None
        root = replay.find_project_root(opts.cwd, opts.config)
        if root is None:
            problem = f"no {self._config_name} in {opts.cwd} or its parents"
            if first:
                raise UsageError(problem)
            self.say(f"forge: error: {problem}")  # removed meanwhile: wait for it to return
            return CycleResult(built=False, ok=False)
        identity = replay.build_identity(opts.names, smoke=False, checks=True,
                                         config=self._config_name)
        found = replay.examine(root, identity)
        if found is not None and found.up_to_date:
            self.say(f"nothing to rebuild: {found.summary} in "
                     f"{time.perf_counter() - start:.2f}s")
            if first:  # watch what the record says; ship what Lambda lacks
                self._rewatch(root, identity, reference_ns, [])
                if opts.deploy:
                    self._deploy(None)
            return CycleResult(built=False, ok=True)
        scope = incremental.scope(root, identity, found) if found is not None else None
        from lambdaforge.build import BuildOptions, BuildSession
        from lambdaforge.config import load_project

        try:
            project = scope.project if scope is not None else load_project(opts.config, cwd=opts.cwd)
        except ConfigError as exc:
            for issue in exc.issues:
                self.say(str(issue) if issue.file else issue.message)
            self._rewatch(root, identity, reference_ns, [])
            return CycleResult(built=False, ok=False)
        for warning in project.warnings:  # type: ignore[attr-defined]
            self.say(str(warning))
        session = None
        try:
            session = BuildSession(project, BuildOptions(names=opts.names, jobs=opts.jobs),  # type: ignore[arg-type]
                                   scope=scope, on_wait=self.say,  # type: ignore[arg-type]
                                   on_event=PlainReporter(self.out, verbose=opts.verbose))
            outcome = session.run()
        except UsageError as exc:
            if first:
                raise  # the command line asked for something this project does not have
            self.say(f"forge: error: {exc}")  # e.g. a NAME since removed from the config
            self._rewatch(root, identity, reference_ns, [*project.observed])  # type: ignore[attr-defined]
            return CycleResult(built=False, ok=False)
        except ForgeError as exc:
            self.say(f"forge: error: {exc}")
            self._rewatch(root, identity, reference_ns, self._session_observations(session))
            return CycleResult(built=True, ok=False)
        self.builds += 1
        print_outcome(outcome.results, outcome.seconds, session.warnings, verbose=opts.verbose,
                      stream=self.out, err=self.out)
        self.out.flush()
        self._rewatch(root, identity, reference_ns, self._session_observations(session))
        if outcome.ok and opts.deploy:
            self._deploy(outcome.manifest_path)
        return CycleResult(built=True, ok=outcome.ok)

    @staticmethod
    def _session_observations(session: Any) -> list:
        """What a session's planner and config loading read (a failed build's record)."""
        if session is None:
            return []
        groups = [session.project.observed]
        groups += [p.observed for p in session.planner.planned.values()]
        return [o for group in groups for o in group]

    def _rewatch(self, root: Path, identity: dict[str, object], reference_ns: int,
                 fallback: list) -> None:
        """The watch set after a cycle: the replay record's inputs when the build left one,
        else the last set with what this cycle read over it; the config file always."""
        recorded = recorded_observations(root, identity)
        if recorded is not None:
            observations, reference_ns = recorded
        else:  # judged against this cycle's start: no later than anything it read
            previous = self.watchset
            observations = (previous.union(fallback) if previous is not None
                            else input_observations([fallback]))
        self.watchset = WatchSet(root, observations, [self._config_path(root)])
        self.reference_ns = reference_ns

    # ------------------------------------------------------------------ deploy

    def _deploy(self, manifest_path: Path | None = None) -> None:
        """Ship the code of the selected functions whose zip changed since the last sync
        (at the start: every selected function, against its live ``CodeSha256``). The
        config is loaded afresh: an incremental build's cached project carries only what
        builds read, not ``[deploy]``."""
        from lambdaforge.config import load_project
        from lambdaforge.deploy.aws import DeployError, make_clients
        from lambdaforge.deploy.plan import select
        from lambdaforge.deploy.sync import sync_code
        from lambdaforge.manifest import read_manifest

        opts = self.options
        try:
            project = load_project(opts.config, cwd=opts.cwd)
            functions, layers = select(project, opts.names)
            artifacts = read_manifest(manifest_path or project.build_dir / "manifest.json")
            changed = [n for n in functions if f"function:{n}" in artifacts
                       and self._synced.get(n) != artifacts[f"function:{n}"].code_sha256]
            layer_shas = {n: artifacts[f"layer:{n}"].code_sha256 for n in layers
                          if f"layer:{n}" in artifacts}
            moved = sorted(n for n, sha in layer_shas.items()
                           if n in self._layers and self._layers[n] != sha)
            self._layers.update(layer_shas)
            for name in moved:
                self.say(f"layer {name}: changed; watch --deploy ships function code only: "
                         "run forge deploy to publish it")
            if not changed:
                return
            if self._clients is None:
                self._clients = make_clients(project.deploy.region, project.deploy.profile)
            outcomes = sync_code(project, artifacts, self._clients, changed, opts.stage,
                                 on_outcome=lambda o: self.say(o.line()))
        except (ConfigError, DeployError, UsageError) as exc:
            self.say(f"forge: error: deploy: {exc}")
            return
        for o in outcomes:
            if o.ok:
                self._synced[o.name] = artifacts[f"function:{o.name}"].code_sha256

    # ------------------------------------------------------------------ the loop

    def run(self, max_cycles: int | None = None) -> int:
        """Build, then watch and rebuild until stopped; ``max_cycles`` bounds the rebuild
        cycles after the first build (for callers and tests). Returns ``STOPPED`` (0) or
        ``INTERRUPTED`` (130)."""
        from watchfiles import Change, DefaultFilter

        from lambdaforge.executor import BuildInterrupted

        #: editors' swap and backup files, bytecode, VCS directories: an event on one of
        #: those in a watched directory is no reason for a cycle (one on an input file is)
        noise = DefaultFilter()

        notify: Any = None
        watched: WatchSet | None = None
        cycles = 0
        building = True  # a stop now interrupts a cycle (130), not the waiting (0)
        try:
            self.cycle()
            while not self.stop_event.is_set() and (max_cycles is None or cycles < max_cycles):
                ws = self.watchset
                assert ws is not None
                changes: list[str] = []
                if not ws.same_watch(watched):
                    if notify is not None:
                        notify.close()
                    notify = _notifier(ws)
                    watched = ws
                    changes = ws.changed(self.reference_ns)  # what the gap saw
                building = False
                self.say(f"watching {_count(len(ws), 'input')} in "
                         f"{_count(len(ws.dirs), 'directory', 'directories')} (Ctrl-C to stop)")
                while not changes:
                    answer = notify.watch(self.options.max_delay_ms, self.options.quiet_ms, 0,
                                          self.stop_event)
                    if isinstance(answer, str):  # "signal" (Ctrl-C, SIGTERM), "stop"
                        return STOPPED
                    changes = sorted({p for change, p in answer
                                      if ws.concerns(p, Change(change) is Change.modified) and (
                                          p in ws.files or noise(Change(change), p))})
                building = True
                cycles += 1
                self.say(f"changed: {_listed(ws.shown(p) for p in changes)}")
                self.cycle()
                if max_cycles is not None and cycles >= max_cycles:
                    break
            return STOPPED
        except BuildInterrupted as stop:
            from lambdaforge.report import interrupted_line

            self.say(interrupted_line(len(stop.results), stop.total))
            return INTERRUPTED
        except KeyboardInterrupt:  # outside the executor: while planning, or while waiting
            return INTERRUPTED if building else STOPPED
        finally:
            if notify is not None:
                notify.close()


def _notifier(ws: WatchSet) -> Any:
    """A ``RustNotify`` watching ``ws.dirs`` (each non-recursively); its watches exist
    when this returns. A directory removed meanwhile is left out (it is no input now)."""
    from watchfiles._rust_notify import RustNotify

    dirs = ws.dirs
    while True:
        try:
            return RustNotify(dirs, False, False, 300, False, True)
        except FileNotFoundError:
            existing = [d for d in dirs if os.path.isdir(d)]
            if existing == dirs:
                raise
            dirs = existing


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def _listed(paths: Iterable[str]) -> str:
    items = list(paths)
    shown = ", ".join(items[:SHOWN_CHANGES])
    more = len(items) - SHOWN_CHANGES
    return shown + (f" and {more} more" if more > 0 else "")


def watch(options: WatchOptions, *, stop_event: threading.Event | None = None,
          max_cycles: int | None = None, out: IO[str] | None = None) -> int:
    """Run a ``Watcher`` until ``stop_event`` is set, ``max_cycles`` rebuild cycles have
    run, or Ctrl-C/SIGTERM; the exit code (see ``Watcher.run``)."""
    return Watcher(options, out=out, stop_event=stop_event).run(max_cycles)
