"""A build session: keys, statuses and actions for every target of a graph.

``BuildSession`` is the library entry point behind ``forge build``, ``forge plan`` and
``forge explain``. It computes each target's key from its inputs (design §3), decides whether
the target is up to date, restorable from the cache or must be built, and runs the
ecosystem builder and the packaging steps for it. Scheduling is the executor's job;
presentation is the reporter's.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambdaforge import fastpath
from lambdaforge.builders import BuilderRegistry
from lambdaforge.builders.base import Builder, BuildContext, Distribution, select_dependencies
from lambdaforge.cache import Cache
from lambdaforge.config.models import FunctionSpec, LayerSpec, Project, StripRules
from lambdaforge.errors import BuildError, ConfigError, ForgeError
from lambdaforge.executor import Event, Status, TargetResult, run_graph
from lambdaforge.fingerprint import KeyMaterial, config_slice, diff_key_material
from lambdaforge.locking import project_build_lock
from lambdaforge.graph import Target, TargetGraph, TargetKind, build_graph
from lambdaforge.manifest import ArtifactRecord, read_manifest, render_manifest, write_if_changed
from lambdaforge.packaging.archive import Entry, FileEntry, MemberEntry, compressor_identity, write_zip
from lambdaforge.packaging.sources import SKIPPED_DIRS, SourceSet, collect_sources
from lambdaforge.packaging.strip import StripFilter, StripReport
from lambdaforge.runner import Runner
from lambdaforge.state import BuildState
from lambdaforge.statcache import StatCache, digest_files

#: files inside a cache entry
ARTIFACT = "artifact.zip"
#: what strip rules removed from an artifact, one line per file (``--explain-strip``)
STRIP_LISTING = "stripped.txt"
DEPS = "deps.zip"

#: bump when the meaning of a key's material changes without its fields changing
PIPELINE_VERSION = "4"


@dataclass(frozen=True)
class BuildOptions:
    """What the user asked ``forge build`` for."""

    names: tuple[str, ...] = ()
    jobs: int = os.cpu_count() or 2
    force: bool = False
    dry_run: bool = False
    #: run the import smoke test as part of the checks
    smoke: bool = False
    checks: bool = True


@dataclass
class PlannedTarget:
    """A target's key and what a build would do with it, and why."""

    target: Target
    key: str
    material: KeyMaterial
    action: Status  # UP_TO_DATE, CACHED or BUILT (= would build)
    reasons: list[str] = field(default_factory=list)


@dataclass
class BuildOutcome:
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
    ) -> None:
        self.project = project
        self.options = options or BuildOptions()
        self.registry = registry or BuilderRegistry()
        #: makes the runner each target's subprocesses go through (tests record or fake them)
        self.runner_factory = runner_factory
        self._local = threading.local()
        self.on_event = on_event
        self.on_wait = on_wait
        self.full_graph = build_graph(project, self.registry)
        graph = self.full_graph if self.options.checks else self.full_graph.without_checks()
        self.graph = graph.select(self.options.names, with_checks=self.options.checks)
        self.cache = Cache(project.cache_dir)
        self.state = BuildState.load(project.state_dir)
        self.stat_cache = StatCache.load(project.state_dir / "statcache")
        self._sources: dict[str, SourceSet] = {}
        self._strip_filters: dict[tuple[StripRules, ...], StripFilter] = {}
        self._planned: dict[str, PlannedTarget] = {}
        self._lock = threading.Lock()
        self.warnings: list[str] = []

    # ------------------------------------------------------------------ keys and plans

    def plan(self) -> list[PlannedTarget]:
        """Keys and intended actions for every selected target, in topological order.

        Reads only file metadata (and contents the stat cache has not seen): no install,
        no zip is opened.
        """
        if not self._planned:
            for t in self.graph.targets():
                self._planned[t.id] = self._plan_target(t)
            self.stat_cache.save()
        return [self._planned[t.id] for t in self.graph.targets()]

    def _plan_target(self, t: Target) -> PlannedTarget:
        material = self._material(t)
        key = material.key
        previous = self.state.get(t.id)
        reasons = diff_key_material(previous.material if previous else None, material)
        if self.options.force:
            return PlannedTarget(t, key, material, Status.BUILT, ["--force"])
        if previous is not None and previous.key == key and self._output_intact(t, previous.outputs):
            return PlannedTarget(t, key, material, Status.UP_TO_DATE, [])
        if self.cache.contains(key):
            return PlannedTarget(t, key, material, Status.CACHED, reasons or ["output missing"])
        return PlannedTarget(t, key, material, Status.BUILT, reasons or ["output missing"])

    def _output_intact(self, t: Target, outputs: Mapping[str, Any]) -> bool:
        """Is the recorded output of the last build still there, untouched?"""
        if t.kind is TargetKind.INSTALL:
            return self.cache.contains(outputs.get("key", ""))
        if t.kind is TargetKind.CHECK:
            return bool(outputs.get("passed"))
        try:
            st = os.stat(self.project.path(outputs["path"]))
        except (OSError, KeyError):
            return False
        return st.st_size == outputs.get("size") and st.st_mtime_ns == outputs.get("mtime_ns")

    def _material(self, t: Target) -> KeyMaterial:
        """Everything that can change ``t``'s output (design §3), and nothing else."""
        upstream = {
            u.id: (self._layer_interface(u) if t.kind is TargetKind.FUNCTION and
                   u.kind is TargetKind.LAYER else self._planned[u.id].key)
            for u in self.graph.upstream(t.id)
        }
        builder = self._builder(t)
        common = dict(
            kind=t.kind.value,
            builder=builder.NAME,
            builder_version=f"{builder.VERSION}+{PIPELINE_VERSION}",
            upstream=upstream,
            cache_salt=self.project.cache_salt,
        )
        if t.kind is TargetKind.INSTALL:
            deps = t.deps
            assert deps is not None and t.spec is not None
            files = list(deps.files)
            for d in deps.directories:
                root = self.project.path(d)
                if root.is_dir():
                    files += sorted(
                        f"{d}/{p.relative_to(root).as_posix()}" for p in root.rglob("*") if p.is_file()
                    )
            try:
                digests = digest_files(self.project.root, files, self.stat_cache)
            except OSError as exc:
                raise ConfigError(f"{t.id}: cannot read {exc.filename or 'an input'}, which its "
                                  f"dependencies name ({exc.strerror})") from exc
            return KeyMaterial(
                config=_group_pairs("install", deps.canonical),
                # deps.zip members are copied raw into packages: its zlib counts too
                platform={"runtime": deps.runtime, "architecture": deps.architecture,
                          "tools": {**builder.tool_versions(t.spec), **archive_tools()}},
                files={rel: tuple(d) for rel, d in digests.items()},
                **common,
            )
        spec = t.spec
        assert spec is not None
        prefix = f"{t.kind.value}s.{t.name}" if t.kind is not TargetKind.CHECK else f"check.{t.name}"
        if t.kind is TargetKind.CHECK:
            config = {
                f"{prefix}.max-size": spec.max_size,
                f"{prefix}.handler": getattr(spec, "handler", None),
                f"{prefix}.smoke": self.options.smoke,
                f"{prefix}.interpreter": spec.interpreter if self.options.smoke else None,
            }
            return KeyMaterial(config=config, platform=_platform(spec), **common)
        config = dict(config_slice(
            prefix, spec.model_dump(mode="json", exclude={"max_size", "interpreter"})))
        for rules in self.strip_rules(spec):
            config[f"strip-rules.{rules.name}"] = {"exclude": list(rules.exclude), "keep": list(rules.keep)}
        root = self.project.root
        files = {
            f.relpath: (self.stat_cache.digest(root, f"{spec.source}/{f.relpath}"), f.executable)
            for f in self.sources(t).files
        }
        tools = {**archive_tools(), **builder.package_tool_versions(spec)}
        return KeyMaterial(config=config, platform={**_platform(spec), "tools": tools},
                           files=files, **common)

    def _layer_interface(self, layer: Target) -> str:
        """What a function's zip can see of one of its layers: only which distributions the
        layer provides (they are left out of the function). That follows from the layer's
        install and its runtime-provided setting, not from its own code, so editing a
        layer's code re-checks its functions but does not repackage them (early cutoff)."""
        spec = layer.spec
        assert spec is not None
        installs = [u for u in self.graph.upstream(layer.id) if u.kind is TargetKind.INSTALL]
        install_key = self._planned[installs[0].id].key if installs else "no-dependencies"
        return f"provides:{install_key}:{spec.exclude_runtime_provided}"

    def sources(self, t: Target) -> SourceSet:
        """The source files a function or layer packages (include/exclude/strip applied);
        walked once per session (their digests come from the stat cache)."""
        with self._lock:
            cached = self._sources.get(t.id)
        if cached is not None:
            return cached
        spec = t.spec
        assert spec is not None
        if spec.source is None:
            result = SourceSet()
        else:
            root = self.project.path(spec.source)
            result = collect_sources(
                root,
                include=(*spec.include,),
                exclude=(*self._builder(t).source_excludes(), *spec.exclude),
                strip=self.strip_filter(spec),
            )
        with self._lock:
            self._sources[t.id] = result
        return result

    def strip_rules(self, spec: FunctionSpec | LayerSpec) -> list[StripRules]:
        """A spec's strip rule sets in order, plus what its builder adds to ``standard``."""
        rules = [self.project.strip_rules[name] for name in spec.strip]
        return rules + self.registry.for_runtime(spec.runtime).extra_strip_rules(spec)

    def strip_filter(self, spec: FunctionSpec | LayerSpec) -> StripFilter:
        """The strip filter of a spec's rule sets, in order; one per distinct list of rule
        sets (compiling patterns is the costly part, and most functions share their rules)."""
        rules = self.strip_rules(spec)
        key = tuple(rules)
        with self._lock:
            found = self._strip_filters.get(key)
            if found is None:
                found = self._strip_filters[key] = StripFilter(rules)
        return found

    # ------------------------------------------------------------------ running

    def run(self) -> BuildOutcome:
        """Build every selected target that is not up to date; write the manifest."""
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
        with project_build_lock(self.project.state_dir, on_wait=self.on_wait):
            self._remove_leftovers()
            fastpath.forget(self.project.state_dir)
            # Stats first, contents after: a file edited while we read it then shows as a
            # changed stat, and the fast path record below is not written.
            inputs_before = self._input_snapshot()
            self.state = BuildState.load(self.project.state_dir)  # as the last build left it
            self._planned.clear()
            self.plan()
            results = run_graph(self.graph.graph, self._run_target, jobs=self.options.jobs,
                                on_event=self.on_event)
            self._record(results)
            manifest_path = self._write_manifest(results)
            outcome = BuildOutcome(self.project, results, self.graph,
                                   time.perf_counter() - start, manifest_path)
            # Contents first, then the check that no stat moved: a file edited in between
            # shows as a moved stat and no record is written.
            contents = self._input_contents(inputs_before) if outcome.ok else {}
            if not self.options.names:
                # A whole-project build saw every input: forget digests of deleted files.
                self.stat_cache.retain(r for r in inputs_before
                                       if not os.path.isabs(r) and not r.endswith("/"))
            if outcome.ok and self._input_snapshot() == inputs_before:
                # Nothing changed under our feet: the next identical build may be answered
                # from stats alone (see fastpath).
                outputs = fastpath.snapshot(self.project.root, (), [
                    *(r.outputs["path"] for r in results.values() if "path" in r.outputs),
                    manifest_path.relative_to(self.project.root).as_posix()])
                fastpath.record(self.project.state_dir, self.selection(), inputs_before,
                                outputs, f"{len(results)} up-to-date", contents)
            self.stat_cache.save()
        self.warnings += [str(w) for w in self.cache.warnings]
        return outcome

    def selection(self) -> dict[str, object]:
        """What identifies this build for the no-op fast path (``fastpath.build_identity``)."""
        o = self.options
        return fastpath.build_identity(o.names, smoke=o.smoke, checks=o.checks,
                                       config=self.project.config_file.name)

    def _input_snapshot(self) -> dict[str, list[int] | None]:
        """Stats of everything the selected targets read (for the no-op fast path)."""
        root = self.project.root
        files: set[str] = {os.path.relpath(p, root) for p in self.project.config_files}
        tools: set[str] = {os.path.realpath(sys.executable)}
        # Source trees per builder: each skips only what its own builder never packages.
        trees: dict[str, set[str]] = {}
        builders: dict[str, Builder] = {}
        for t in self.graph.targets():
            spec = t.spec
            if spec is None:
                continue
            builders.setdefault(t.builder, self._builder(t))
            if t.is_package and spec.source is not None:
                trees.setdefault(t.builder, set()).add(spec.source)
            if spec.requirements:
                files.add(spec.requirements)
            if t.deps is not None:
                files.update(t.deps.files)
                files.update(t.deps.watched)
                trees.setdefault("", set()).update(t.deps.directories)
        out = fastpath.snapshot(root, (), files, dirs=fastpath.glob_dirs(
            root, self.project.discover_globs))
        for name, group in trees.items():
            builder = builders.get(name)
            skip = {p.strip("/") for p in builder.source_excludes()} if builder else set()
            out.update(fastpath.snapshot(root, group, (), frozenset(skip | SKIPPED_DIRS)))
        for builder in builders.values():  # once per builder: tool_paths scans PATH
            tools.update(builder.tool_paths())
        # lambdaforge's own code: an upgrade (or an edit to an editable install) may change
        # what a build produces without changing its version string.
        package_dir = Path(__file__).resolve().parent
        tools.update(str(p) for p in package_dir.rglob("*.py"))
        out.update(fastpath.snapshot(root, (), tools))
        return out

    def _input_contents(self, inputs: Mapping[str, list[int] | None]) -> dict[str, str | None]:
        """Content digests of the snapshot's project files and directory listings (through
        the stat cache: mostly known already), so a later ``touch`` alone does not defeat the
        fast path. Tools (absolute paths) have none: a moved tool binary means a full check."""
        root = self.project.root
        contents: dict[str, str | None] = {}
        for rel, stat in inputs.items():
            if stat is None or os.path.isabs(rel):
                contents[rel] = None
            elif rel.endswith("/"):
                contents[rel] = fastpath.listing_digest(os.path.join(root, rel.rstrip("/")))
            else:
                try:
                    contents[rel] = self.stat_cache.digest(root, rel)
                except (OSError, ValueError):  # gone, or outside the root (`extends`)
                    contents[rel] = None
        return contents

    def _run_target(self, tid: str, upstream: Mapping[str, TargetResult],
                    cancel: threading.Event) -> TargetResult:
        planned = self._planned[tid]
        t = planned.target
        previous = self.state.get(tid)
        if planned.action is Status.UP_TO_DATE and previous is not None:
            if t.kind is not TargetKind.CHECK:
                self.cache.touch(planned.key)  # still in use: keep it from LRU pruning
            return TargetResult(tid, Status.UP_TO_DATE, key=planned.key,
                                outputs=dict(previous.outputs),
                                warnings=list(previous.outputs.get("warnings", [])))
        runner = self._local.runner = self.runner_factory()
        try:
            if t.kind is TargetKind.INSTALL:
                return self._install(planned, cancel)
            if t.kind is TargetKind.CHECK:
                return self._check(planned, upstream)
            return self._package(planned, upstream, cancel)
        except ForgeError as exc:
            log = "\n\n".join(c.describe() for c in runner.log)
            return TargetResult(tid, Status.FAILED, key=planned.key, error=str(exc), log=log,
                                reasons=planned.reasons)

    def _context(self, scratch: Path) -> BuildContext:
        """What a builder gets for the current target: its runner, scratch and tool cache."""
        return BuildContext(runner=self._local.runner, scratch=scratch,
                            tool_cache=self.cache.root / "tools", project=self.project)

    # -- install -----------------------------------------------------------------------

    def _install(self, planned: PlannedTarget, cancel: threading.Event) -> TargetResult:
        t, key = planned.target, planned.key
        entry = None if self.options.force else self.cache.get(key, what=t.id)
        if entry is not None:
            return TargetResult(t.id, Status.CACHED, key=key, reasons=planned.reasons,
                                outputs=self._install_outputs(key, entry.meta))
        builder = self._builder(t)
        assert t.deps is not None
        with tempfile.TemporaryDirectory(dir=self._scratch_root(), prefix="install-") as tmp:
            tmp_path = Path(tmp)
            tree = tmp_path / "tree"
            tree.mkdir()
            ctx = self._context(tmp_path)
            result = builder.install(t.deps, tree, ctx)
            if cancel.is_set():
                raise BuildError("interrupted")
            files = sorted(p for p in tree.rglob("*") if p.is_file())
            entries = [FileEntry(p.relative_to(tree).as_posix(), p, bool(p.stat().st_mode & 0o111))
                       for p in files]
            deps_zip = tmp_path / DEPS
            write_zip(deps_zip, entries)
            meta = {
                "distributions": [_dist_to_json(d) for d in result.distributions],
                "notes": list(result.notes),
            }
            if self.options.force:
                self.cache.discard(key)
            entry = self.cache.put(key, {DEPS: deps_zip}, meta)
        return TargetResult(t.id, Status.BUILT, key=key, reasons=planned.reasons,
                            outputs=self._install_outputs(key, entry.meta),
                            warnings=list(result.notes))

    @staticmethod
    def _install_outputs(key: str, meta: Mapping[str, Any]) -> dict[str, Any]:
        # No path to deps.zip: the checkout or the cache may move; consumers ask the cache.
        return {"key": key, "distributions": meta.get("distributions", []),
                "notes": meta.get("notes", [])}

    def _deps_zip(self, install: TargetResult) -> Path:
        """The install's ``deps.zip`` from the cache, integrity-checked; an entry that has
        gone (pruned or cleared from a shared cache meanwhile) fails this target clearly."""
        entry = self.cache.get(install.key, what=install.target_id) if install.key else None
        if entry is None:
            raise BuildError(f"the dependencies of {install.target_id} are no longer in the "
                             f"cache ({self.cache.root}); run forge build again to reinstall")
        return entry.path(DEPS)

    def _scratch_root(self) -> Path:
        root = self.project.root / ".forge" / "tmp"
        root.mkdir(parents=True, exist_ok=True)
        return root

    def _remove_leftovers(self) -> None:
        """Scratch directories and half-copied artifacts of a build that was killed.
        Safe because the project lock is held: no other build of this project is running."""
        shutil.rmtree(self.project.root / ".forge" / "tmp", ignore_errors=True)
        # Every atomic write here goes through a ".NAME.*.tmp" sibling of its target.
        for top in (self.project.build_dir, self.project.state_dir):
            for tmp in top.rglob(".*.tmp"):
                tmp.unlink(missing_ok=True)

    def _builder(self, t: Target) -> Builder:
        assert t.spec is not None
        return self.registry.for_runtime(t.spec.runtime)

    # -- package -----------------------------------------------------------------------

    def _package(self, planned: PlannedTarget, upstream: Mapping[str, TargetResult],
                 cancel: threading.Event) -> TargetResult:
        t, key = planned.target, planned.key
        spec = t.spec
        assert spec is not None
        kind = "function" if t.kind is TargetKind.FUNCTION else "layer"
        dest = self.project.build_dir / f"{kind}s" / f"{t.name}.zip"
        entry = None if self.options.force else self.cache.get(key, what=t.id)
        if entry is not None:
            _place_artifact(entry.path(ARTIFACT), dest)
            outputs = {**entry.meta, **self._artifact_file_outputs(dest)}
            return TargetResult(t.id, Status.CACHED, key=key, outputs=outputs,
                                reasons=planned.reasons, warnings=list(outputs.get("warnings", [])))

        installs = [u for u in self.graph.upstream(t.id) if u.kind is TargetKind.INSTALL]
        install = upstream[installs[0].id] if installs else None
        with tempfile.TemporaryDirectory(dir=self._scratch_root(), prefix="package-") as tmp:
            tmp_path = Path(tmp)
            stripped = StripReport()
            entries, warnings = self._source_entries(t, kind, install, tmp_path, stripped)
            provides: dict[str, str] = {}
            excluded: list[str] = []
            if install is not None and self._builder(t).ships_install(spec):
                dep_entries, provides, excluded, dep_warnings = self._dependency_entries(
                    t, kind, installs[0], install, upstream, stripped)
                entries += dep_entries
                warnings += dep_warnings
            if cancel.is_set():
                raise BuildError("interrupted")
            built = tmp_path / ARTIFACT
            stats = write_zip(built, entries)
            listing = tmp_path / STRIP_LISTING
            listing.write_text("".join(f"{line}\n" for line in stripped.lines()))
            self._check_sources_unchanged(planned)
            meta = {
                "kind": kind,
                "name": t.name,
                "path": dest.relative_to(self.project.root).as_posix(),
                "size": stats.size,
                "unzipped_size": stats.unzipped_size,
                "sha256": stats.sha256,
                "code_sha256": stats.code_sha256,
                "provides": provides,
                "excluded_runtime_provided": excluded,
                "install_key": install.key if install else None,
                "stripped": {rule: {"files": tally.files, "bytes": tally.bytes}
                             for rule, tally in sorted(stripped.by_rule.items())},
                "warnings": warnings,
            }
            if self.options.force:
                self.cache.discard(key)
            entry = self.cache.put(key, {ARTIFACT: built, STRIP_LISTING: listing}, meta)
        _place_artifact(entry.path(ARTIFACT), dest)
        outputs = {**meta, **self._artifact_file_outputs(dest)}
        return TargetResult(t.id, Status.BUILT, key=key, outputs=outputs,
                            reasons=planned.reasons, warnings=warnings)

    def _source_entries(self, t: Target, kind: str, install: TargetResult | None,
                        tmp_path: Path, stripped: StripReport) -> tuple[list[Entry], list[str]]:
        """Zip entries of a package's own code: its source tree, or what the builder makes
        of it (a Node.js bundle, a layer's layout), under the builder's prefix."""
        spec = t.spec
        assert spec is not None
        builder = self._builder(t)
        sources = self.sources(t)
        warnings = list(sources.warnings)
        installed = self._deps_zip(install) if install else None
        prepared = builder.prepare_sources(spec, self.project, self._context(tmp_path),
                                           tmp_path / "prepared", installed=installed)
        if prepared is not None:
            # The user's include/exclude still hold; the builder's own source excludes do
            # not (a layer's prepared tree is under nodejs/node_modules/ by design).
            sources = collect_sources(prepared, include=(*spec.include,),
                                      exclude=(*spec.exclude,), strip=self.strip_filter(spec))
        top = frozenset(f.relpath.split("/", 1)[0] for f in sources.files)
        prefix = builder.source_prefix(kind, top)
        stripped.merge(sources.strip_report, prefix)
        return [FileEntry(prefix + f.relpath, f.path, f.executable) for f in sources.files], warnings

    def _dependency_entries(
        self, t: Target, kind: str, install_target: Target, install: TargetResult,
        upstream: Mapping[str, TargetResult], stripped: StripReport,
    ) -> tuple[list[Entry], dict[str, str], list[str], list[str]]:
        """Zip entries of the installed dependencies a package ships (raw copies of the
        install's compressed members), the distributions it provides, those left out because
        the runtime ships them, and warnings. Raises on a layer conflict the config forbids."""
        spec = t.spec
        assert spec is not None and install_target.deps is not None
        builder = self._builder(t)
        warnings: list[str] = []
        dists = [_dist_from_json(d) for d in install.outputs["distributions"]]
        selection = select_dependencies(builder, install_target.deps, dists, spec,
                                        self._layer_dists(t, upstream))
        for conflict in selection.conflicts:
            message = conflict.message(t.name)
            if spec.layer_conflicts == "error":
                raise BuildError(f'layer conflict: {message} (layer-conflicts = "error")')
            warnings.append(f"layer conflict: {message}")
        dropped_files: set[str] = set()
        provides: dict[str, str] = {}
        for d in dists:
            if d.name in selection.dropped:
                dropped_files.update(d.files)
            else:
                provides[d.name] = d.version
        excluded = sorted(selection.runtime_provided)
        if excluded:
            warnings.append("left out (provided by the runtime): " + ", ".join(excluded))
        prefix = builder.dependency_prefix(kind)
        strip = self.strip_filter(spec)
        deps_zip = self._deps_zip(install)
        entries: list[Entry] = []
        with zipfile.ZipFile(deps_zip) as zf:
            for info in zf.infolist():
                name = info.filename
                if info.is_dir() or name in dropped_files:
                    continue
                hit = strip.explain(name)
                if hit is not None:
                    stripped.add(prefix + name, hit, info.file_size)
                    continue
                entries.append(MemberEntry(prefix + name, deps_zip, name))
        return entries, provides, excluded, warnings

    def _check_sources_unchanged(self, planned: PlannedTarget) -> None:
        """Refuse to store a zip under a key its sources no longer match: a file saved while
        the build read it would otherwise poison the cache entry of its old content."""
        t = planned.target
        with self._lock:
            self._sources.pop(t.id, None)  # walk again: files may also have come or gone
        if self._material(t).key != planned.key:
            raise BuildError(f"the sources of {t.id} changed while it was being built; "
                             "nothing was stored: run forge build again")

    def _artifact_file_outputs(self, dest: Path) -> dict[str, Any]:
        st = dest.stat()
        return {"mtime_ns": st.st_mtime_ns, "size": st.st_size}

    def _layer_dists(self, t: Target, upstream: Mapping[str, TargetResult]) -> dict[str, tuple[str, str]]:
        found: dict[str, tuple[str, str]] = {}
        for u in self.graph.upstream(t.id):
            if u.kind is TargetKind.LAYER:
                for name, version in upstream[u.id].outputs.get("provides", {}).items():
                    found.setdefault(name, (version, u.name))
        return found

    # -- check -------------------------------------------------------------------------

    def _check(self, planned: PlannedTarget, upstream: Mapping[str, TargetResult]) -> TargetResult:
        from lambdaforge.packaging.checks import (
            check_native_binaries,
            contributors_from_zip,
            size_report,
        )

        t, key = planned.target, planned.key
        spec = t.spec
        assert spec is not None and t.checks is not None
        # A passed check is cached by its key (which covers the artifact's key): restoring
        # a build from the cache does not re-run its checks.
        entry = None if self.options.force else self.cache.get(key, what=t.id)
        if entry is not None and entry.meta.get("passed"):
            outputs = dict(entry.meta)
            return TargetResult(t.id, Status.CACHED, key=key, outputs=outputs,
                                warnings=list(outputs.get("warnings", [])), reasons=planned.reasons)
        builder = self._builder(t)
        package = upstream[t.checks]
        artifact = self.project.path(package.outputs["path"])
        layers = [
            (u.name, upstream[u.id]) for u in self.graph.upstream(t.id) if u.kind is TargetKind.LAYER
        ]
        errors: list[str] = []
        warnings: list[str] = []
        kind = "function" if isinstance(spec, FunctionSpec) else "layer"
        problems = check_native_binaries(artifact, spec.architecture, spec.runtime, artifact=kind)
        if problems:  # name the distribution each bad binary came from (only now: it costs)
            owners = self._owners(package.outputs.get("install_key"), builder.dependency_prefix(kind))
            problems = check_native_binaries(artifact, spec.architecture, spec.runtime,
                                             owners, artifact=kind)
        errors += [str(p) for p in problems]
        def sizes_of(explain: bool):
            return size_report(
                t.name,
                zipped_size=package.outputs["size"],
                unzipped_size=package.outputs["unzipped_size"],
                layer_sizes={name: r.outputs["unzipped_size"] for name, r in layers},
                max_size=spec.max_size,
                contributors=contributors_from_zip(artifact) if explain else (),
                savings=self._strip_savings(artifact, spec) if explain else None,
                artifact=kind,
            )

        sizes = sizes_of(explain=False)
        if sizes.errors or sizes.warnings:
            # Only now is it worth reading the zip again: list the biggest parts and name
            # the built-in rule set that would save most.
            sizes = sizes_of(explain=True)
        errors += [str(p) for p in sizes.errors]
        warnings += [str(p) for p in sizes.warnings]
        outputs: dict[str, Any] = {}
        layer_zips = [self.project.path(r.outputs["path"]) for _, r in layers]
        if isinstance(spec, FunctionSpec):
            errors += builder.check_handler(artifact, layer_zips, spec.handler, spec.runtime)
            if self.options.smoke and not errors:
                with tempfile.TemporaryDirectory(dir=self._scratch_root(), prefix="smoke-") as tmp:
                    smoke = builder.smoke_test(artifact, layer_zips, spec, self._context(Path(tmp)))
                if smoke.skipped:
                    warnings.append(f"import smoke test skipped: {smoke.skipped}")
                    outputs["smoke_skipped"] = True
                elif not smoke.ok:
                    errors.append(f"import smoke test failed: {smoke.error}")
                else:
                    outputs["import_ms"] = smoke.import_ms
        if errors:
            return TargetResult(t.id, Status.FAILED, key=key, warnings=warnings,
                                error="\n".join(errors), reasons=planned.reasons)
        outputs.update({"passed": True, "warnings": warnings})
        if not outputs.get("smoke_skipped"):
            # A verdict: cheap to recompute, so no fsync. A skipped smoke test is not
            # cached: the interpreter it lacked may be installed by the next build.
            self.cache.put(key, {}, outputs, durable=False)
        return TargetResult(t.id, Status.BUILT, key=key, outputs=outputs, warnings=warnings,
                            reasons=planned.reasons)

    def _strip_savings(self, artifact: Path, spec: FunctionSpec | LayerSpec) -> dict[str, int]:
        """Bytes each built-in rule set the spec does not use yet would remove from it."""
        from lambdaforge.packaging.strip import BUILT_IN_RULE_SETS

        savings: dict[str, int] = {}
        with zipfile.ZipFile(artifact) as zf:
            members = [(i.filename, i.file_size) for i in zf.infolist() if not i.is_dir()]
        for name, rules in BUILT_IN_RULE_SETS.items():
            if name in spec.strip or name == "node-standard":
                continue
            strip = StripFilter([rules])
            saved = sum(size for path, size in members
                        if strip.match(path.removeprefix("python/")) is not None)
            if saved:
                savings[name] = saved
        return savings

    def _owners(self, install_key: str | None, prefix: str) -> dict[str, str]:
        """Zip member path → ``"name version"`` of the distribution that installed it."""
        entry = self.cache.get(install_key) if install_key else None
        if entry is None:
            return {}
        return {
            prefix + f: f"{d['name']} {d['version']}"
            for d in entry.meta.get("distributions", [])
            for f in d["files"]
        }

    # ------------------------------------------------------------------ bookkeeping

    def _record(self, results: Mapping[str, TargetResult]) -> None:
        """Remember what this build made, for the next build's up-to-date decisions and
        for ``forge explain``."""
        for tid, r in results.items():
            if r.status in (Status.BUILT, Status.CACHED):
                self.state.set(tid, self._planned[tid].material, r.outputs)
        self.state.save()
        self.stat_cache.save()

    def _write_manifest(self, results: Mapping[str, TargetResult]) -> Path:
        """Update ``manifest.json`` with this build's artifacts (keeping those of functions
        and layers not selected this time); rewritten only when its content changes."""
        path = self.project.build_dir / "manifest.json"
        artifacts = read_manifest(path)
        # Drop records of functions and layers no longer in the config.
        known = {f"function:{n}" for n in self.project.functions} | {f"layer:{n}" for n in self.project.layers}
        artifacts = {k: v for k, v in artifacts.items() if k in known}
        for tid, r in results.items():
            t = self._planned[tid].target
            if not t.is_package or not r.status.ok:
                continue
            spec = t.spec
            o = r.outputs
            artifacts[tid] = ArtifactRecord(
                name=t.name,
                kind=t.kind.value,
                runtime=spec.runtime,
                architecture=spec.architecture,
                handler=getattr(spec, "handler", None),
                layers=list(getattr(spec, "layers", ())),
                path=o["path"],
                size=o["size"],
                unzipped_size=o["unzipped_size"],
                sha256=o["sha256"],
                code_sha256=o["code_sha256"],
                key=r.key or "",
            )
        write_if_changed(path, render_manifest(self.project.name, artifacts))
        return path

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

    # ------------------------------------------------------------------ explain

    def explain(self, name: str) -> dict[str, list[str]]:
        """Why each target that builds ``name`` would rebuild: target id → reasons
        (empty list = up to date)."""
        sub = self.full_graph.select([name], with_checks=False)
        self.graph = sub
        self._planned.clear()
        return {p.target.id: ([] if p.action is Status.UP_TO_DATE else p.reasons) for p in self.plan()}




def _group_pairs(prefix: str, pairs: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """``(("requirement", "a"), ("requirement", "b"))`` → ``{"install.requirement": ["a", "b"]}``:
    every value of a repeated name is kept, in order (a dict of the pairs would keep only the
    last requirement, and two different requirement sets could share a key)."""
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(f"{prefix}.{name}", []).append(value)
    return grouped


def archive_tools() -> dict[str, str]:
    """What changes zip bytes besides the entries: the writer's format, the pinned compressor
    and its level (``compressor_identity()``), and ``SOURCE_DATE_EPOCH``."""
    return {
        **compressor_identity(),
        "source-date-epoch": os.environ.get("SOURCE_DATE_EPOCH", ""),
    }


def _platform(spec: FunctionSpec | LayerSpec) -> dict[str, str]:
    return {"runtime": spec.runtime, "architecture": spec.architecture}


def _place_artifact(src: Path, dest: Path) -> None:
    """Put a cached artifact at ``dest``, atomically: a hard link when the cache and the
    project share a file system (no copy of a 100 MB zip; the cache verifies its files, so
    an in-place edit through the link is caught and evicted there), else a copy. ``dest`` is
    left alone, mtime included, when it already holds these bytes."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and (os.path.samefile(src, dest) or (
            dest.stat().st_size == src.stat().st_size and _same_bytes(src, dest))):
        return
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    try:
        os.unlink(tmp)
        try:
            os.link(src, tmp)  # the cached file is 0644 already; a chmod would move its
            # ctime and make the cache re-verify it in full
        except OSError:  # another file system, or links not allowed
            shutil.copyfile(src, tmp)
            os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _same_bytes(a: Path, b: Path) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            ca, cb = fa.read(1 << 20), fb.read(1 << 20)
            if ca != cb:
                return False
            if not ca:
                return True


def _dist_to_json(d: Distribution) -> dict[str, Any]:
    return {"name": d.name, "version": d.version, "files": list(d.files), "requires": list(d.requires)}


def _dist_from_json(d: Mapping[str, Any]) -> Distribution:
    return Distribution(d["name"], d["version"], tuple(d["files"]), tuple(d.get("requires", ())))
