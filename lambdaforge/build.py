"""A build session: the wiring of planner, executor, actions and recorder for one project.

``BuildSession`` is the library entry point behind ``forge build``, ``forge plan`` and
``forge explain``. It holds the project lock, asks the planner (the one decider) what each
target needs, lets the executor run the actions in topological order and in parallel, and
has the recorder write state, manifest and replay record. What a target *does* lives in
``lambdaforge.actions``; whether it is up to date, in ``lambdaforge.planner``; presentation
is the reporter's.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from msgspec import Struct

from lambdaforge import plancache, replay
from lambdaforge.actions import DEPS, STRIP_LISTING, ActionContext
from lambdaforge.actions import check as check_action
from lambdaforge.actions import install as install_action
from lambdaforge.actions import package as package_action
from lambdaforge.builders import BuilderRegistry
from lambdaforge.cache import Cache
from lambdaforge.config.specs import Project
from lambdaforge.errors import BuildError, ForgeError, UsageError
from lambdaforge.fsutil import TEMP_SUFFIX
from lambdaforge.executor import BuildInterrupted, Event, Status, TargetResult, run_graph
from lambdaforge.graph import TargetGraph, TargetKind, build_graph
from lambdaforge.incremental import Scope
from lambdaforge.locking import project_build_lock
from lambdaforge.outputs import InstallOutput
from lambdaforge.outputs import output_from_json
from lambdaforge.planner import (
    PIPELINE_VERSION,
    UNREAD_LAYER,
    PlannedTarget,
    Planner,
    archive_tools,
    keys_through,
)
from lambdaforge.recorder import Recorder
from lambdaforge.runner import Runner
from lambdaforge.shard import Shard
from lambdaforge.state import BuildState
from lambdaforge.statcache import StatCache


class RemoteRequiredError(BuildError):
    """``--remote-required`` and the remote cache could not be used."""


__all__ = ["BuildOptions", "BuildOutcome", "BuildSession", "PIPELINE_VERSION", "PlannedTarget",
           "archive_tools"]


class BuildOptions(Struct, frozen=True):
    """What the user asked ``forge build`` for."""

    names: tuple[str, ...] = ()
    jobs: int = os.cpu_count() or 2
    force: bool = False
    dry_run: bool = False
    #: run the import smoke test as part of the checks
    smoke: bool = False
    checks: bool = True
    #: ``--remote-mode``: ``read`` or ``read-write``, over the config's ``[cache] mode``
    remote_mode: str | None = None
    #: ``--remote-required``: an unavailable remote cache fails the build instead of a
    #: warning and a local build
    remote_required: bool = False
    #: ``--shard I/N``: build only part I of N of the selection (``lambdaforge.shard``)
    shard: Shard | None = None
    #: ``--use-container``: native code is built in the runtime's build image (docker/podman)
    use_container: bool = False


class BuildOutcome(Struct):
    """Everything a build produced, for the CLI or a Python caller."""

    project: Project
    results: dict[str, TargetResult]
    graph: TargetGraph
    seconds: float
    manifest_path: Path

    @property
    def ok(self) -> bool:
        """True when every target succeeded."""
        return all(r.status.ok for r in self.results.values())

    def failures(self) -> list[TargetResult]:
        """Failed targets, in id order."""
        return [r for _, r in sorted(self.results.items()) if r.status is Status.FAILED]


def _remote_cache(project: Project, options: BuildOptions):
    """The remote cache a build of ``project`` uses (``None`` without one): the config's,
    changed by ``FORGE_REMOTE_CACHE`` and ``--remote-mode``. boto3 is not imported here."""
    from lambdaforge.remote.settings import SIGNING_KEY_VARIABLE, effective

    try:
        settings = effective(project.remote_cache, os.environ, options.remote_mode)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if settings is None:
        if options.remote_required:
            raise UsageError("--remote-required: no remote cache is configured (set [cache] "
                             "remote in lambdaforge.toml or $FORGE_REMOTE_CACHE)")
        return None
    from lambdaforge.remote.tiered import RemoteCache

    key = os.environ.get(SIGNING_KEY_VARIABLE)
    return RemoteCache(settings, signing_key=key.encode() if key else None)


class BuildSession:
    """Builds (or plans, or explains) the targets of one project."""

    def __init__(
        self,
        project: Project,
        options: BuildOptions | None = None,
        *,
        registry: BuilderRegistry | None = None,
        runner_factory: Callable[[], Runner] = Runner,
        on_event: Callable[[Event], None] | None = None,
        on_wait: Callable[[str], None] | None = None,
        scope: Scope | None = None,
    ) -> None:
        self.project = project
        self.options = options or BuildOptions()
        self.registry = registry or BuilderRegistry()
        #: makes the runner each target's subprocesses go through (tests record or fake them)
        self.runner_factory = runner_factory
        self.on_event = on_event
        self.on_wait = on_wait
        #: an incremental build (``lambdaforge.incremental``): the cached graph and keys,
        #: and the targets whose inputs changed; ``None`` plans every target
        self.scope = scope
        self.full_graph = scope.graph if scope is not None else build_graph(project, self.registry)
        graph = self.full_graph if self.options.checks else self.full_graph.without_checks()
        self.graph = graph.select(self.options.names, with_checks=self.options.checks)
        #: with ``--shard``: the functions and layers this shard was given, and whether the
        #: partition was balanced by recorded build times (else by target count)
        self.shard_units: list[str] | None = None
        self.shard_by_times = False
        if self.options.shard is not None:
            self._select_shard(self.options.shard)
        #: what the caches did in the last ``run`` (``lambdaforge.cachestats``)
        self.cache_stats: dict[str, object] | None = None
        self.cache = Cache(project.cache_dir, remote=_remote_cache(project, self.options))
        self.state = BuildState.load(project.state_dir)
        self.stat_cache = StatCache.load(project.state_dir / "statcache")
        self.planner = self._new_planner()
        self._replanned: set[str] = set()
        self.warnings: list[str] = []
        self._install_lock = threading.Lock()

    def _select_shard(self, shard: Shard) -> None:
        """Narrow the selection to this shard's functions and layers and what they need."""
        from lambdaforge import timings
        from lambdaforge.shard import partition, unit_weights

        graph = self.graph
        units: dict[str, list[tuple[str, float]]] = {}
        for t in graph.targets():
            if not t.is_package:
                continue
            pairs = [(t.id, 1.0)]
            pairs += [(s, 1.0) for s in graph.successors(t.id)
                      if graph.target(s).kind is TargetKind.CHECK and graph.target(s).checks == t.id]
            for u in graph.predecessors(t.id):
                if graph.target(u).kind is TargetKind.INSTALL:
                    consumers = [c for c in graph.successors(u) if graph.target(c).is_package]
                    pairs.append((u, 1.0 / max(1, len(consumers))))
            units[t.id] = pairs
        weights, self.shard_by_times = unit_weights(units, timings.load(self.project.state_dir))
        assigned = partition(weights, shard.count)
        self.shard_units = sorted(u for u, s in assigned.items() if s == shard.index)
        self.graph = graph.select(self.shard_units, with_checks=self.options.checks) \
            if self.shard_units else graph.subgraph(())

    def _new_planner(self) -> Planner:
        return Planner(self.project, self.registry, self.cache, self.state, self.stat_cache,
                       force=self.options.force, smoke=self.options.smoke)

    @property
    def _planned(self) -> dict[str, PlannedTarget]:
        return self.planner.planned

    @property
    def replanned(self) -> frozenset[str]:
        """The targets this build's planner decided from their inputs: every selected one in
        a full build; in an incremental one, the changed targets and what takes their keys
        (the others kept the last build's decision)."""
        if self.scope is not None:
            return frozenset(self._replanned)
        return frozenset(tid for tid in self._planned if tid in self.graph.nodes)

    # ------------------------------------------------------------------ planning

    def plan(self) -> list[PlannedTarget]:
        """Keys and intended actions for every selected target, in topological order.

        Reads only file metadata (and contents the stat cache has not seen): no install,
        no zip is opened.
        """
        planned = self.planner.plan(self.graph)
        self.stat_cache.save()
        return planned

    def explain(self, name: str) -> dict[str, list[str]]:
        """Why each target that builds ``name`` would rebuild: target id → reasons
        (empty list = up to date)."""
        self.graph = self.full_graph.select([name], with_checks=False)
        self.planner = self._new_planner()
        return {p.target.id: ([] if p.action is Status.UP_TO_DATE else p.reasons)
                for p in self.plan()}

    def selection(self) -> dict[str, object]:
        """What identifies this build for the no-op replay (``replay.build_identity``)."""
        o = self.options
        return replay.build_identity(o.names, smoke=o.smoke, checks=o.checks,
                                     config=self.project.config_file.name)

    # ------------------------------------------------------------------ running

    def run(self) -> BuildOutcome:
        """Build every selected target that is not up to date; write state, manifest and
        the replay record."""
        start = time.perf_counter()
        if self.options.dry_run:
            self.plan()
            results = {
                p.target.id: TargetResult(p.target.id, p.action if p.action is not Status.BUILT
                                          else Status.SKIPPED, key=p.key, reasons=p.reasons)
                for p in self._planned.values()
            }
            return BuildOutcome(self.project, results, self.graph, time.perf_counter() - start,
                                self.project.build_dir / "manifest.json")
        if self.options.smoke:  # runtime packages that failed to install: try them again
            from lambdaforge.toolcache import forget_failures

            forget_failures()
        with project_build_lock(self.project.state_dir, on_wait=self.on_wait):
            self._remove_leftovers()
            # An incremental build keeps the groups of the targets it leaves alone.
            previous_record = self._previous_record() if self.scope is not None else None
            if previous_record is None:
                self.scope = None  # the record went away meanwhile: plan everything
            replay.forget(self.project.state_dir)
            reference_ns = time.time_ns()  # before anything is read: the racy rule's anchor
            self.state = BuildState.load(self.project.state_dir)  # as the last build left it
            self.planner = self._new_planner()
            graph = (self._scoped_graph(previous_record) if self.scope is not None
                     and previous_record is not None else None)
            if graph is None:
                self.scope = None
                graph = self.graph
                self.planner.plan(graph)
            else:
                # Structure from the whole graph (a layer's install keys its functions), but
                # only the changed targets and what depends on them are planned.
                self.planner.known_keys = self.scope.keys  # type: ignore[union-attr]
                self.planner.plan(self.graph, only=self._replanned)
            self.stat_cache.save()
            recorder = Recorder(self.project, self.state)
            self._prefetch(graph)
            self._require_remote()
            try:
                results = run_graph(graph, self._run_target, jobs=self.options.jobs,
                                    on_event=self.on_event, inline=self._is_kept)
            except BuildInterrupted as stop:
                # What finished is complete: remember it, so the next build restores it.
                recorder.record_state(self._planned, stop.results)
                self.stat_cache.save()
                raise
            finally:
                if self.cache.remote is not None:
                    self.cache.remote.close()  # the uploads in flight finish before we return
            recorder.record_state(self._planned, results)
            manifest_path = recorder.write_manifest(self._planned, results)
            outcome = BuildOutcome(self.project, results, graph,
                                   time.perf_counter() - start, manifest_path)
            self._record_figures(results, outcome.seconds)
            self._publish_bundle(outcome)
            smoke_skipped = any(getattr(r.output, "smoke_skipped", False) for r in results.values())
            if self.options.shard is not None:
                # Part of a selection chosen by recorded times: no replay record (the fast
                # path could not tell when the partition changes) and no plan cache.
                replay.forget(self.project.state_dir)
                plancache.forget(self.project.state_dir)
                groups = {}
            elif outcome.ok and not smoke_skipped:
                # The next identical build may be answered by replaying what this one saw.
                # (A skipped smoke test is tried again: no record.)
                builders = list({t.builder: self.planner.builder(t)
                                 for t in self.graph.targets() if t.spec}.values())
                kept = self._kept_groups(previous_record)
                groups = recorder.write_replay(
                    self.selection(), reference_ns, self._planned, results, builders,
                    manifest_path, kept=kept,
                    kept_project=previous_record["project"] if kept is not None else None)
                keys = {**(self.scope.keys if self.scope else {}),
                        **{tid: p.key for tid, p in self._planned.items()}}
                plancache.write(self.project.state_dir, self.selection(), self.project,
                                self.graph, keys,
                                generation=self.scope.generation if self.scope else None)
            else:
                plancache.forget(self.project.state_dir)
                groups = {tid: list(p.observed) for tid, p in self._planned.items()}
            if not self.options.names and self.scope is None and self.options.shard is None:
                # A whole-project build saw every input: forget digests of deleted files.
                self.stat_cache.retain(o[1] for group in groups.values() for o in group
                                       if o[0] == "f")
            self.stat_cache.save()
        self.warnings += self.planner.warnings + recorder.notes
        self.warnings += [str(w) for w in self.cache.warnings]
        if self.cache.remote is not None:
            self.warnings += self.cache.remote.warnings
        self._require_remote()
        return outcome

    def _require_remote(self) -> None:
        """With ``--remote-required``, a remote cache that became unavailable fails the
        build (before any local work when it failed during the lookups)."""
        remote = self.cache.remote
        if self.options.remote_required and remote is not None and not remote.available:
            raise RemoteRequiredError(
                f"remote cache {remote.settings.url} unavailable ({remote.stats.unavailable}) "
                "and --remote-required is set")

    def _record_figures(self, results: Mapping[str, TargetResult], seconds: float) -> None:
        """Keep the build times of what this build ran (the next ``--shard`` balances by
        them) and the caches' figures (``forge cache stats``)."""
        from lambdaforge import cachestats, timings

        times = {tid: r.seconds for tid, r in results.items() if r.status is Status.BUILT}
        times.update({tid: r.saved for tid, r in results.items()
                      if r.status is Status.CACHED and r.saved > 0})
        timings.save(self.project.state_dir, times)
        self.cache_stats = cachestats.compute(results, self.remote_stats, seconds)
        cachestats.save(self.project.state_dir, self.cache_stats)

    def _publish_bundle(self, outcome: BuildOutcome) -> None:
        """After a successful read-write build that made or fetched something, the action
        bundle of every key of its graph (``RemoteCache.publish_bundle``): a fresh checkout
        of the same commit then reads one object, not one per target."""
        remote = self.cache.remote
        if (remote is None or not outcome.ok or self.options.shard is not None
                or not any(r.status in (Status.BUILT, Status.CACHED)
                           for r in outcome.results.values())):
            return
        keys = {**(self.scope.keys if self.scope else {}),
                **{tid: p.key for tid, p in self._planned.items()}}
        nodes = set(self.graph.nodes)
        remote.publish_bundle([k for tid, k in keys.items() if k and tid in nodes], self.cache)

    def _prefetch(self, graph: TargetGraph) -> None:
        """Look up, in parallel and before any local work starts, every target to run that
        the local cache lacks, downloading what the remote cache has (nothing without a
        remote, or with ``--force``)."""
        remote = self.cache.remote
        if remote is None or self.options.force:
            return
        nodes = set(graph.nodes)
        wanted = [(p.key, tid) for tid, p in self._planned.items()
                  if tid in nodes and p.key and p.action in (Status.BUILT, Status.CACHED)
                  and not self.cache.contains(p.key)]
        installs = {tid for _, tid in wanted if graph.target(tid).kind is TargetKind.INSTALL}
        # An install's deps.zip is needed only by consumers that are built here: for the
        # others, the action entry (what it installed) is enough.
        every = [p.key for tid, p in self._planned.items()
                 if tid in nodes and p.key and p.action is not Status.FAILED]
        remote.prefetch(wanted, self.cache, lazy={self._planned[tid].key for tid in installs},
                        every=every)
        needed = []
        for tid in sorted(installs):
            for succ in graph.successors(tid):
                p = self._planned.get(succ)
                if (p is not None and p.target.is_package and p.action is not Status.UP_TO_DATE
                        and not self.cache.contains(p.key)):
                    needed.append((self._planned[tid].key, tid))
                    break
        remote.download_deferred(needed, self.cache)

    @property
    def remote_stats(self) -> dict[str, object] | None:
        """What the remote cache did in this build (``None`` without one)."""
        remote = self.cache.remote
        if remote is None:
            return None
        return {"url": remote.settings.url, "mode": remote.settings.mode,
                **remote.stats.to_json()}

    def _scoped_graph(self, previous: dict) -> TargetGraph | None:
        """The part of the graph an incremental build runs: the changed targets, what
        takes their keys (``planner.keys_through``: a layer's code change re-checks its
        functions but leaves their packages alone), and their direct inputs, seeded as the
        last build left them.
        ``None`` (then every target is planned) when the last build's record of an input is
        not what the plan cache says, or the replay record does not cover every target left
        alone (its observations are what will notice their next change)."""
        assert self.scope is not None
        graph = self.graph
        nodes = set(graph.nodes)
        replan = self.scope.stale & nodes
        budget_only: set[str] = set()
        todo = list(replan)
        while todo:
            tid = todo.pop()
            for succ in graph.successors(tid):
                if succ in replan or not keys_through(graph.target(succ), graph.target(tid)):
                    continue
                if self._keyed_without(succ, tid):
                    budget_only.add(succ)
                    continue
                replan.add(succ)
                todo.append(succ)
        budget_only -= replan  # reached through another input too: planned after all
        inputs = {u for t in replan | budget_only for u in graph.predecessors(t)} - replan
        if not nodes - replan <= set(previous["targets"]):
            return None
        seeded: dict[str, PlannedTarget] = {}
        for tid in sorted(inputs | budget_only):
            record = self.state.get(tid)
            t = graph.target(tid)
            output = output_from_json(t.kind.value, record.outputs) if record else None
            paths = record.file_paths() if record is not None else None
            if (record is None or output is None or record.key != self.scope.keys.get(tid)
                    or paths is None):
                return None  # nothing seeded: the full plan decides every target itself
            # The material stays unparsed: a seeded input is not planned, only its key and
            # its files' paths (a check asks which of them hold the handler) are read.
            seeded[tid] = PlannedTarget(t, record.key, None, Status.UP_TO_DATE,
                                        previous=output, packaged=paths)
        self._planned.update(seeded)
        self._replanned = replan
        return graph.subgraph(replan | inputs | budget_only)

    def _keyed_without(self, check_id: str, layer_id: str) -> bool:
        """Whether a function's check was keyed without the layer's key last time
        (``planner.UNREAD_LAYER``: its verdict reads only the layer's size): a layer code
        change then leaves its key as it was, so it is not planned again; it runs with its
        last verdict, to which the executor applies the budget with the layer's new size
        (``actions.check.apply_budget``)."""
        assert self.scope is not None
        graph = self.graph
        if (graph.target(check_id).kind is not TargetKind.CHECK
                or graph.target(layer_id).kind is not TargetKind.LAYER):
            return False
        record = self.state.get(check_id)
        return (record is not None and record.key == self.scope.keys.get(check_id)
                and record.upstream_key(layer_id) == UNREAD_LAYER
                # a verdict the planner would take again as it is (not one to retry)
                and record.outputs.get("passed") is True
                and not record.outputs.get("smoke_skipped"))

    def _previous_record(self) -> dict | None:
        """The replay record an incremental build carries groups over from, read under the
        build lock: the one its replay examined when the file is still that one (no second
        parse of a record that is megabytes at 2,000 functions), else read again."""
        assert self.scope is not None
        found = self.scope.replayed
        if isinstance(found, replay.Replayed) and found.current(self.project.root):
            return found.data
        return replay.load(self.project.root, self.selection())

    def _kept_groups(self, previous: dict | None) -> dict[str, list] | None:
        """Replay groups of the targets an incremental build did not re-plan (inputs it
        took as they were included): as the last record has them, all of which held.
        ``None`` for a full build."""
        if self.scope is None or previous is None:
            return None
        targets = previous["targets"]
        # rows the record read holds, written again undecoded (``replay._Groups.raw``)
        raw = getattr(targets, "raw", None)
        return {tid: raw(tid) if raw is not None else targets[tid] for tid in targets
                if tid not in self._replanned}

    def _is_kept(self, tid: str) -> bool:
        """Whether ``_run_target`` only hands back what the plan decided (an up-to-date
        output, kept; a target that cannot be planned, failed): no work for a worker."""
        planned = self._planned[tid]
        return planned.action is Status.FAILED or (
            planned.action is Status.UP_TO_DATE and planned.previous is not None)

    def _run_target(self, tid: str, upstream: Mapping[str, TargetResult],
                    cancel: threading.Event) -> TargetResult:
        planned = self._planned[tid]
        t = planned.target
        if planned.action is Status.FAILED:
            return TargetResult(tid, Status.FAILED, error=planned.error, reasons=planned.reasons)
        if planned.action is Status.UP_TO_DATE and planned.previous is not None:
            kept = TargetResult(tid, Status.UP_TO_DATE, key=planned.key, output=planned.previous,
                                warnings=list(planned.previous.warnings),
                                notes=list(getattr(planned.previous, "notes", ())))
            if t.kind is TargetKind.CHECK:  # its layers may have changed size since
                return check_action.apply_budget(t, kept, upstream, self._action_context())
            self.cache.touch(planned.key)  # still in use: keep it from LRU pruning
            return kept
        ctx = self._action_context()
        try:
            if t.kind is TargetKind.INSTALL:
                result = install_action.run(t, planned.key, planned.reasons, ctx, cancel)
            elif t.kind is TargetKind.CHECK:
                result = check_action.run(t, planned.key, planned.reasons, upstream, ctx)
            else:
                result = package_action.run(t, planned.key, planned.reasons, upstream, ctx,
                                            cancel)
            remote = self.cache.remote
            if result.status is Status.CACHED and remote is not None and result.key in remote.fetched:
                result.remote = True
            return result
        except ForgeError as exc:
            log = "\n\n".join(c.describe() for c in ctx.runner.log)
            return TargetResult(tid, Status.FAILED, key=planned.key, error=str(exc), log=log,
                                reasons=planned.reasons)

    def _action_context(self) -> ActionContext:
        """A context for one action, with a runner of its own."""
        return ActionContext(
            project=self.project, graph=self.graph, registry=self.registry, cache=self.cache,
            runner=self.runner_factory(), scratch_root=self.project.root / ".forge" / "tmp",
            force=self.options.force, smoke=self.options.smoke,
            sources=self.planner.sources, strip_filter=self.planner.strip_filter,
            rekey=lambda t: self.planner.rekey(self.graph, t), deps_zip=self._deps_zip,
            use_container=self.options.use_container,
        )

    def _deps_zip(self, install_id: str) -> Path:
        """The install's ``deps.zip`` from the cache, integrity-checked. An entry that has
        gone (pruned, cleared from a shared cache meanwhile) or turned out corrupt is
        installed again now, once, so its consumers still build in this run."""
        key = self._planned[install_id].key
        entry = self.cache.get(key, what=install_id)
        if entry is not None:
            return entry.path(DEPS)
        with self._install_lock:  # one reinstall, whatever number of consumers ask
            entry = self.cache.get(key, what=install_id)
            if entry is None:
                t = self.graph.target(install_id)
                result = install_action.run(t, key, ["its cache entry was missing or corrupt"],
                                            self._action_context(), threading.Event())
                if result.status is Status.FAILED or not isinstance(result.output, InstallOutput):
                    raise BuildError(f"the dependencies of {install_id} had to be installed "
                                     f"again and that failed: {result.error}")
                entry = self.cache.get(key, what=install_id)
        if entry is None:
            raise BuildError(f"the dependencies of {install_id} are not in the cache "
                             f"({self.cache.root}) even after installing them again")
        return entry.path(DEPS)

    def _remove_leftovers(self) -> None:
        """Scratch directories and half-copied artifacts of a build that was killed.
        Safe because the project lock is held: no other build of this project is running."""
        shutil.rmtree(self.project.root / ".forge" / "tmp", ignore_errors=True)
        # Every atomic write here goes through a ".NAME.*.tmp" sibling of its target (fsutil).
        for top in (self.project.build_dir, self.project.state_dir):
            for tmp in top.rglob(f".*{TEMP_SUFFIX}"):
                tmp.unlink(missing_ok=True)

    def strip_listing(self, result: TargetResult) -> list[str] | None:
        """What strip rules removed from a built artifact, file by file then per rule set
        (``forge build --explain-strip``); None when the cache no longer holds it."""
        entry = self.cache.get(result.key) if result.key else None
        if entry is None:
            return None
        try:
            return entry.path(STRIP_LISTING).read_text().splitlines()
        except (OSError, KeyError):
            return None

