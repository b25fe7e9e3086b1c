"""The planner: the one place that decides whether a target is up to date (design §1).

For each target, in topological order, it computes the key from everything that can change
the output (design §3), compares it with the last build's record, checks that the recorded
output is still intact, and says what a build would do (``UP_TO_DATE``, ``CACHED``,
``BUILT``; ``FAILED`` when an input cannot be read) and why (house style 2). While doing so
it records, per target, exactly what it read (``lambdaforge.observe``): that list is the
target's share of the replay record that answers the next no-op build, so there is no
second list of inputs anywhere.

It runs nothing: no install, no zip is opened. Actions do the work (``lambdaforge.actions``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence

from msgspec import Struct, field
from msgspec.structs import replace

from lambdaforge import observe
from lambdaforge.builders import BuilderRegistry
from lambdaforge.builders.base import Builder
from lambdaforge.cache import Cache
from lambdaforge.config.specs import BuildSettings, Project, StripRules
from lambdaforge.executor import Status
from lambdaforge.fingerprint import KeyMaterial, config_slice, diff_key_material
from lambdaforge.graph import Target, TargetGraph, TargetKind
from lambdaforge.lambda_env import check_variables
from lambdaforge.outputs import (
    CheckOutput,
    InstallOutput,
    Observed,
    TargetOutput,
    observations_of,
    output_from_json,
)
from lambdaforge.packaging.archive import compressor_identity
from lambdaforge.packaging.excludes import anchored_inside
from lambdaforge.packaging.sources import SourceError, SourceSet, check_zip_name, collect_sources
from lambdaforge.packaging.strip import StripFilter
from lambdaforge.redact import variable_key_form
from lambdaforge.state import BuildState
from lambdaforge.statcache import StatCache

#: bump when the meaning of a key's material changes without its fields changing
PIPELINE_VERSION = "8"

#: what a function check's key takes of a layer whose content its verdict does not read
UNREAD_LAYER = "unread: only its size counts, applied after it is built"


class PlannedTarget(Struct):
    """A target's key and what a build would do with it, and why."""

    target: Target
    key: str
    #: ``None`` only for an input an incremental build seeds from its record (``packaged``)
    material: KeyMaterial | None
    action: Status  # UP_TO_DATE, CACHED, BUILT (= would build) or FAILED (cannot plan)
    reasons: list[str] = field(default_factory=list)
    #: what the planner read to key it (``observe``): the target's share of the replay record
    observed: list[observe.Observation] = field(default_factory=list)
    #: why it cannot be planned (an unreadable input), for ``action`` FAILED
    error: str | None = None
    #: the last build's output, for ``action`` UP_TO_DATE
    previous: TargetOutput | None = None
    #: the paths of the input files its key covers, for a target seeded from its record
    #: without its material (``BuildRecord.file_paths``)
    packaged: frozenset[str] | None = None

    def file_paths(self) -> frozenset[str] | None:
        """The paths of the input files its key covers (``None``: unknown)."""
        if self.packaged is not None:
            return self.packaged
        return None if self.material is None else frozenset(f.path for f in self.material.files)


class Planner:
    """Plans the targets of one graph against one checkout's last-build state."""

    def __init__(self, project: Project, registry: BuilderRegistry, cache: Cache,
                 state: BuildState, stat_cache: StatCache, *, force: bool = False,
                 smoke: bool = False) -> None:
        self.project = project
        self.registry = registry
        self.cache = cache
        self.state = state
        self.stat_cache = stat_cache
        self.force = force
        self.smoke = smoke
        self.planned: dict[str, PlannedTarget] = {}
        #: keys of targets this plan does not re-plan (an incremental build's others)
        self.known_keys: Mapping[str, str] = {}
        #: problems with the state on disk, each worth one line to the user
        self.warnings: list[str] = []
        self._sources: dict[str, SourceSet] = {}
        self._strip_filters: dict[tuple[StripRules, ...], StripFilter] = {}
        self._lock = threading.Lock()

    def plan(self, graph: TargetGraph, only: set[str] | None = None) -> list[PlannedTarget]:
        """Keys and intended actions for every target of ``graph`` (or of ``only``, keys of
        the others coming from ``known_keys``), in topological order."""
        for t in graph.targets():
            if t.id not in self.planned and (only is None or t.id in only):
                self.planned[t.id] = self._plan_target(graph, t)
        return [self.planned[t.id] for t in graph.targets() if t.id in self.planned]

    def builder(self, t: Target) -> Builder:
        """The builder of a target."""
        assert t.spec is not None
        return self.registry.for_spec(t.spec)

    # ------------------------------------------------------------------ status

    def _plan_target(self, graph: TargetGraph, t: Target) -> PlannedTarget:
        observed: list[observe.Observation] = []
        try:
            material = self.material(graph, t, observed)
        except (OSError, SourceError) as exc:
            # One unreadable or unpackageable input fails its own target, not the build.
            error = input_error(exc)
            empty = KeyMaterial(kind=t.kind.value, builder=t.builder, builder_version="")
            return PlannedTarget(t, "", empty, Status.FAILED, [error], observed, error=error)
        key = material.key
        record = self.state.get(t.id)
        previous = None
        if record is not None:
            previous = output_from_json(t.kind.value, record.outputs)
            if previous is None:
                self.warnings.append(f"{t.id}: the record of its last build is unreadable "
                                     f"({self.state.file_for(t.id)}); it is rebuilt")
        if self.force:
            return PlannedTarget(t, key, material, Status.BUILT, ["--force"], observed)
        if record is not None and previous is not None and record.key == key:
            stale, current = self._output_problem(t, previous)
            if stale is None:
                if current is not previous:
                    self.state.set(t.id, material, current.to_json())
                observed += observations_of(current)
                self._warn_what_is_new(t, current)
                return PlannedTarget(t, key, material, Status.UP_TO_DATE, [], observed,
                                     previous=current)
            reasons = [stale]
        else:
            reasons = diff_key_material(record.material if previous is not None else None,
                                        material)
        action = Status.CACHED if self.cache.contains(key) else Status.BUILT
        return PlannedTarget(t, key, material, action, reasons or ["output missing"], observed)

    def _warn_what_is_new(self, t: Target, kept: TargetOutput) -> None:
        """A package kept as it is whose sources now hold something its last build did not
        warn about: a ``.env`` dropped into a function folder is left out, so neither the
        key nor the zip changes, and without this the warning would wait for the next
        rebuild. Said now, as a warning of the run (the kept output's own are not repeated)."""
        with self._lock:
            walked = self._sources.get(t.id) if t.is_package else None
        if walked is None:
            return
        known = set(getattr(kept, "warnings", ()))
        self.warnings += [f"{t.id}: {w}" for w in walked.warnings if w not in known]

    def _output_problem(self, t: Target, output: TargetOutput
                        ) -> tuple[str | None, TargetOutput]:
        """Why the last build's output can no longer be used (``None`` when it is intact:
        every output observation it recorded still holds, by ``observe.check``, the check
        the no-op replay uses), and the output to keep: with refreshed observations when
        one held only by content, so the next plan is stats alone again."""
        if isinstance(output, CheckOutput):
            if not output.passed:
                return "output missing", output
            if output.smoke_skipped:
                return ("the import smoke test was skipped last time or ran without the runtime's "
                        "packages: trying again"), output
            return None, output
        if isinstance(output, InstallOutput) and output.remote_only:
            return None, output  # nothing here to check: its consumers fetch it if built
        seen = output.observed
        if not seen.observations:
            return "output missing", output
        root = os.fspath(self.project.root)
        now = time.time_ns()  # before the checks: what they verify is at least this recent
        fresh = []
        for obs in seen.observations:
            result = observe.check(obs, root, seen.reference_ns)
            if result is None:
                gone = not os.path.exists(observe.absolute(root, obs[1]))
                return ("output missing" if gone else f"output changed: {obs[1]}"), output
            fresh.append(result)
        if any(r is not o for r, o in zip(fresh, seen.observations)):
            return None, replace(output, observed=Observed(tuple(fresh), now))
        return None, output

    # ------------------------------------------------------------------ keys

    def key_of(self, target_id: str) -> str:
        """The key of a target planned already, or (an incremental build) left as the last
        build keyed it."""
        planned = self.planned.get(target_id)
        return planned.key if planned is not None else self.known_keys[target_id]

    def material(self, graph: TargetGraph, t: Target,
                 observed: list[observe.Observation] | None = None) -> KeyMaterial:
        """Everything that can change ``t``'s output (design §3), and nothing else; what
        was read for it is appended to ``observed``. Upstream targets must be planned."""
        observed = [] if observed is None else observed
        builder = self.builder(t)
        unread_layers = self._layers_unread(builder, graph, t)
        upstream = {
            u.id: (self._layer_interface(graph, u) if not keys_through(t, u)
                   else UNREAD_LAYER if u.id in unread_layers else self.key_of(u.id))
            for u in graph.upstream(t.id)
        }
        common = dict(
            kind=t.kind.value,
            builder=builder.NAME,
            builder_version=f"{builder.VERSION}+{PIPELINE_VERSION}",
            upstream=upstream,
            cache_salt=self.project.cache_salt,
        )
        spec = t.spec
        assert spec is not None
        if t.kind is TargetKind.INSTALL:
            deps = t.deps
            assert deps is not None
            files = list(deps.files)
            for d in deps.directories:
                files += self._walk_directory(d, observed)
            files_material: dict[str, tuple[str, bool]] = {}
            for rel in files:
                st = os.stat(self.project.path(rel))
                obs = self.stat_cache.observe(self.project.root, rel, st)
                observed.append(obs)
                files_material[rel] = (obs[3], observe.is_executable_mode(st.st_mode))
            # Read to compute the inputs (a requirements file's -r includes): watched, not keyed.
            observed += [observe.observe_path(rel, os.fspath(self.project.root))
                         for rel in deps.watched if rel not in files_material]
            observed += [observe.env_digest_obs(name) for name in deps.variables]
            config = group_pairs("install", deps.canonical)
            for name in builder.keyed_variables(deps.variables):
                if name in os.environ:  # what the build reads: by value, not only watched
                    config[f"install.env.{name}"] = [variable_key_form(name, os.environ[name])]
            return KeyMaterial(
                config=config,
                # deps.zip members are copied raw into packages: its compressor counts too
                platform={"runtime": deps.runtime, "architecture": deps.architecture,
                          "tools": {**builder.tool_versions(spec), **archive_tools()}},
                files=files_material,
                **common,
            )
        if t.kind is TargetKind.CHECK:
            prefix = f"check.{t.name}"
            config = {
                f"{prefix}.max-size": spec.max_size,
                f"{prefix}.handler": getattr(spec, "handler", None),
                f"{prefix}.smoke": self.smoke,
                # what only the smoke test reads (the Python interpreter): keyed when it runs
                **{f"{prefix}.{k}": spec.builder_options.get(k) if self.smoke else None
                   for k in builder.CHECK_OPTIONS},
            }
            if self.smoke:  # the import runs with the function's variables and the runtime's packages
                config[f"{prefix}.environment"] = {
                    name: variable_key_form(name, value)
                    for name, value in check_variables(spec, self.project).items()}
                config.update({f"{prefix}.{k}": v
                               for k, v in builder.smoke_material(spec, self.project).items()})
            return KeyMaterial(config=config, platform=_platform(spec), **common)
        prefix = f"{t.kind.value}s.{t.name}"
        # The builder's options by their TOML keys, next to the common settings, so that
        # `forge explain` names the key a user edits (`functions.api.minify`).
        options = {k: ({n: variable_key_form(n, x) for n, x in v.items()} if k in builder.ENV_OPTIONS
                       and isinstance(v, dict) else v)
                   for k, v in spec.builder_options.items() if k not in builder.CHECK_OPTIONS}
        config = dict(config_slice(
            prefix, {**spec.model_dump(mode="json",
                                       exclude={"max_size", "builder_options", "environment", "deploy",
                                                "compatible_runtimes", "compatible_architectures"}),
                     **options}))
        for rules in self.strip_rules(spec):
            config[f"strip-rules.{rules.name}"] = {"exclude": list(rules.exclude), "keep": list(rules.keep)}
        install = next((u for u in graph.upstream(t.id) if u.kind is TargetKind.INSTALL), None)
        config.update({f"{prefix}.{k}": v for k, v in builder.package_material(
            spec, self.project, install.deps if install is not None else None).items()})
        try:
            sources = self.sources(t, graph)
        except SourceError as exc:
            # The folders listed until the walk stopped: the fix (the bad entry removed or
            # renamed) changes one, so a watcher waiting on this failure sees it.
            observed += [observe.dir_obs(_join(spec.source or ".", rel), st, listing)
                         for rel, st, listing in exc.listings]
            raise
        if spec.source is not None:
            observed += [observe.dir_obs(_join(spec.source, rel), st, listing)
                         for rel, st, listing in sources.listings]
        files = {}
        for f in sources.files:
            obs = self.stat_cache.observe(self.project.root, f"{spec.source}/{f.relpath}")
            observed.append(obs)
            files[f.relpath] = (obs[3], f.executable)
        tools = {**archive_tools(), **builder.package_tool_versions(spec),
                 "artifact-writer": builder.artifact_writer(spec).NAME}
        return KeyMaterial(config=config, platform={**_platform(spec), "tools": tools},
                           files=files, **common)

    def rekey(self, graph: TargetGraph, t: Target) -> str:
        """``t``'s key as its inputs are now (walked and digested again): a package whose
        sources changed while it was built must not be stored under its planned key."""
        with self._lock:
            self._sources.pop(t.id, None)  # walk again: files may also have come or gone
        return self.material(graph, t).key

    def _walk_directory(self, top: str, observed: list[observe.Observation]) -> list[str]:
        """Project-relative paths of the regular files under directory ``top`` (a local
        wheelhouse), sorted; its listings go into ``observed``. Not a directory: no files,
        and its absence (or whatever is there) is observed."""
        root = os.fspath(self.project.root)
        if not os.path.isdir(os.path.join(root, top)):
            observed.append(observe.observe_path(top, root))
            return []
        files: list[str] = []
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            rel = os.path.relpath(dirpath, root).replace(os.sep, "/")
            observed.append(observe.observe_path(rel, root))
            dirnames.sort()
            for name in filenames:
                if os.path.isfile(os.path.join(dirpath, name)):  # not a FIFO or socket
                    check_zip_name(f"{rel}/{name}")  # its path goes into keys as text
                    files.append(f"{rel}/{name}")
        return sorted(files)

    def _layers_unread(self, builder: Builder, graph: TargetGraph, t: Target) -> frozenset[str]:
        """For a function's check whose verdict does not depend on its layers' content
        (``Builder.check_reads_layers``): every layer; else none. Such a check is keyed
        without the layers' keys; their sizes, which the budget needs, are applied to the
        verdict after each build of a layer (``actions.check.apply_budget``)."""
        if t.kind is not TargetKind.CHECK or t.checks is None or not t.checks.startswith("function:"):
            return frozenset()
        package = self.planned.get(t.checks)
        if package is None or package.action is Status.FAILED or package.file_paths() is None:
            return frozenset()
        assert t.spec is not None
        if builder.check_reads_layers(t.spec, self._packaged_handler_files(builder, t, package),
                                      smoke=self.smoke):
            return frozenset()
        return frozenset(u.id for u in graph.upstream(t.id) if u.kind is TargetKind.LAYER)

    def _packaged_handler_files(self, builder: Builder, t: Target,
                                package: PlannedTarget) -> list[str]:
        """Which of the files that could hold a function's handler (``handler_files``) its
        zip gets: among its packaged sources, and not withheld as a secret by content (the
        same ``secrets.screen`` the package action applies; their content is in the key)."""
        from lambdaforge.packaging.secrets import screen
        from lambdaforge.packaging.sources import SourceFile

        spec = t.spec
        assert spec is not None and spec.source is not None
        handler = getattr(spec, "handler", None)
        candidates = builder.handler_files(handler) if isinstance(handler, str) else None
        present = (package.file_paths() or frozenset()) & set(candidates or ())
        files = []
        for rel in sorted(present):
            path = self.project.path(f"{spec.source}/{rel}")
            try:
                files.append(SourceFile(rel, path, path.stat().st_size, False))
            except OSError:
                continue  # gone since it was keyed: not packaged then either
        kept, _ = screen(files, spec.include)
        return [f.relpath for f in kept]

    def _layer_interface(self, graph: TargetGraph, layer: Target) -> str:
        """What a function's zip can see of one of its layers: only which distributions the
        layer provides (they are left out of the function). That follows from the layer's
        install and its runtime-provided setting, not from its own code, so editing a
        layer's code re-checks its functions but does not repackage them (early cutoff)."""
        spec = layer.spec
        assert spec is not None
        installs = [u for u in graph.upstream(layer.id) if u.kind is TargetKind.INSTALL]
        install_key = self.key_of(installs[0].id) if installs else "no-dependencies"
        return f"provides:{install_key}:{spec.exclude_runtime_provided}"

    # ------------------------------------------------------------------ sources

    def sources(self, t: Target, graph: TargetGraph) -> SourceSet:
        """The source files a function or layer packages (include/exclude/strip applied,
        and what its install alone reads left out: ``Builder.install_only_paths``); walked
        once per plan (their digests come from the stat cache)."""
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
            builder = self.builder(t)
            install = next((u for u in graph.upstream(t.id) if u.kind is TargetKind.INSTALL), None)
            only = builder.install_only_paths(install.deps) if install and install.deps else ()
            result = collect_sources(
                root,
                include=(*spec.include,),
                exclude=(*builder.source_excludes(spec, root),
                         *anchored_inside(spec.source, (*only, *self.project.own_folders())),
                         *spec.exclude),
                strip=self.strip_filter(spec),
            )
        with self._lock:
            self._sources[t.id] = result
        return result

    def strip_rules(self, spec: BuildSettings) -> list[StripRules]:
        """A spec's strip rule sets in order, plus what its builder adds to ``standard``."""
        rules = [self.project.strip_rules[name] for name in spec.strip]
        return rules + self.registry.for_spec(spec).extra_strip_rules(spec)

    def strip_filter(self, spec: BuildSettings) -> StripFilter:
        """The strip filter of a spec's rule sets, in order; one per distinct list of rule
        sets (compiling patterns is the costly part, and most functions share their rules)."""
        rules = self.strip_rules(spec)
        key = tuple(rules)
        with self._lock:
            found = self._strip_filters.get(key)
            if found is None:
                found = self._strip_filters[key] = StripFilter(rules)
        return found


def keys_through(consumer: Target, producer: Target) -> bool:
    """Whether ``consumer``'s key takes ``producer``'s key. Everything does, but a function's
    package, which takes only what its layer provides (``Planner._layer_interface``: which
    distributions, decided by the layer's install and settings, not its code). So a change
    that re-keys a layer but none of the installs re-keys nothing of its functions' packages;
    an incremental build need not re-plan them (early cutoff)."""
    return not (consumer.kind is TargetKind.FUNCTION and producer.kind is TargetKind.LAYER)


def _join(base: str, rel: str) -> str:
    """``base/rel`` as a project-relative POSIX path (``rel`` ``"."`` is ``base`` itself)."""
    return base if rel == "." else f"{base}/{rel}"


def input_error(exc: OSError | SourceError) -> str:
    """A user-facing line for an input that cannot be read: names the file and why."""
    if not isinstance(exc, OSError):
        return str(exc)
    what = exc.filename or "an input file"
    why = exc.strerror or str(exc)
    return f"cannot read {what}: {why}"


def group_pairs(prefix: str, pairs: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
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


def _platform(spec: BuildSettings) -> dict[str, str]:
    return {"runtime": spec.runtime, "architecture": spec.architecture}


