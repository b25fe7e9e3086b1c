"""The builder plugin interface: one builder per ecosystem (Python, Node.js, a command).

A builder knows how to turn a function's or layer's declared dependencies into an installed
tree for the *target* platform, where that tree and the sources go inside the zip, and how
to check a handler. It declares which runtimes it serves and, optionally, a model of its own
options (keys of ``lambdaforge.toml`` only it reads). It knows nothing of scheduling,
caching or zips: the graph and the executor drive it, and the packaging modules write the
archive.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from msgspec import Struct, field

from lambdaforge.config.specs import BuildSettings, Project, StripRules
from lambdaforge.lambda_facts import RUNTIMES
from lambdaforge.runner import Runner

if TYPE_CHECKING:
    from lambdaforge.config.models import BuilderOptions
    from lambdaforge.errors import ConfigIssue
    from lambdaforge.packaging.writers import ArtifactWriter

ArtifactKind = Literal["function", "layer"]

_Values = TypeVar("_Values", bound="OptionValues")


def _frozen(value: Any) -> Any:
    """A JSON option value as a record holds it: arrays as tuples (nested too)."""
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return {k: _frozen(v) for k, v in value.items()}
    return value


class OptionValues:
    """Base of a builder's plain view of its own options: a frozen ``kw_only`` Struct
    whose fields are its options model's (snake_case, the same defaults).

    The options model (``Builder.options_model``, Pydantic) validates what users write; the
    resolved spec carries the result as plain JSON data (``spec.builder_options``, by TOML
    key), and builders read it back through this record while planning and building, which
    must not import Pydantic (an incremental build re-plans without it). A key the spec
    does not hold takes the field's default: a spec of another builder (the command builder
    delegating a smoke test) or one made by hand reads as the defaults.
    """

    @classmethod
    def of(cls: type[_Values], spec: BuildSettings) -> _Values:
        """The options of a resolved function or layer."""
        values = spec.builder_options
        found = {}
        for name in cls.__struct_fields__:
            key = name.replace("_", "-")
            if key in values:
                found[name] = _frozen(values[key])
        return cls(**found)


class DependencyInputs(Struct, frozen=True):
    """Everything an install depends on, in canonical form (the install target's identity).

    Two functions whose ``DependencyInputs`` are equal share one install target.
    ``canonical`` must contain no absolute path, no machine-specific value and no credential
    (see ``secrets``).
    """

    builder: str
    runtime: str
    architecture: str
    #: canonical, sorted description of what to install (requirement lines, options…)
    canonical: tuple[tuple[str, str], ...]
    #: project-relative files whose content changes the install (requirements, locks, …)
    files: tuple[str, ...] = ()
    #: project-relative directories whose listing and content change it (local wheelhouses)
    directories: tuple[str, ...] = ()
    #: project-relative files read to compute ``canonical`` (requirements and what they
    #: include): not part of the identity, but watched by the no-op fast path
    watched: tuple[str, ...] = ()
    #: environment variables the declaration files expand (``${NAME}`` in a requirements
    #: file): not part of the identity (``canonical`` holds what they expand to), but
    #: watched by digest, so a changed value is planned again
    variables: tuple[str, ...] = ()
    #: ``(path, size, mtime_ns)`` of each of ``files`` when they were listed: a builder that
    #: reads ``files`` itself at install time (the command builder copies them) checks them
    #: against it, so a file edited after planning is never stored under the planned key
    file_stats: tuple[tuple[str, int, int], ...] = ()
    #: value in ``canonical`` → the text it stands for, where that text holds a credential
    #: (an index URL with a password): ``canonical`` keeps only ``redact.key_form``s, which
    #: keys, state and logs may see; the installer's argv alone gets these. No part of the
    #: identity (each key form already differs per credential) and never in a repr.
    secrets: tuple[tuple[str, str], ...] = ()
    #: project-relative file the dependencies were read from (``requirements.txt``, a lock):
    #: what ``plan`` and ``explain`` name and the install target's id is made of; no part of
    #: the identity (two files with the same lines share one install)
    declared_by: str = ""

    def _identity(self) -> tuple[object, ...]:
        return (self.builder, self.runtime, self.architecture, self.canonical, self.files,
                self.directories)

    def __eq__(self, other: object) -> bool:
        """Equal when the identity fields are (``watched`` … ``declared_by`` are not)."""
        if type(other) is not type(self):
            return NotImplemented
        return self._identity() == other._identity()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._identity())

    def __repr__(self) -> str:
        # ``secrets`` holds credentials verbatim: never in a repr (assertion messages, logs)
        return (f"DependencyInputs(builder={self.builder!r}, runtime={self.runtime!r}, "
                f"architecture={self.architecture!r}, canonical={self.canonical!r}, "
                f"files={self.files!r}, directories={self.directories!r}, "
                f"declared_by={self.declared_by!r})")

    def reveal(self, value: str) -> str:
        """The real text of a ``canonical`` value (itself unless it hides a credential)."""
        for shown, real in self.secrets:
            if shown == value:
                return real
        return value


class Distribution(Struct, frozen=True):
    """One installed distribution: its normalized name, version and the files it owns."""

    name: str
    version: str
    #: paths relative to the install root, POSIX
    files: tuple[str, ...]
    #: normalized names of the distributions it requires (markers evaluated for the target)
    requires: tuple[str, ...] = ()
    #: built from a directory of the project (an npm workspace member or ``file:`` directory,
    #: a Python path requirement): the user's own code, whose files the package action
    #: screens for secrets like a source's (``secrets.screen_listed``); registry ones it does not
    local: bool = False


class InstallResult(Struct):
    """What an install produced besides the tree itself."""

    distributions: list[Distribution] = field(default_factory=list)
    #: user-facing remarks ("built pure-Python wheel for foo from its sdist", …)
    notes: list[str] = field(default_factory=list)


class BuildContext(Struct):
    """What a builder may use while running: a runner for subprocesses, scratch space and
    a tool cache directory shared across builds (for installers' own caches, esbuild…)."""

    runner: Runner
    #: this action's own scratch directory; it may not exist yet (create it on first use:
    #: ``scratch.mkdir(parents=True, exist_ok=True)``); removed after the action
    scratch: Path
    tool_cache: Path
    project: Project
    offline: bool = False
    #: ``forge build --use-container``: native code is built in the runtime's build image
    #: (how, not what: not in any key; the ``use-container`` option is)
    use_container: bool = False
    #: the key of the install target whose tree ``prepare_sources`` gets as ``installed``:
    #: what a builder keeps derived from that tree in ``tool_cache`` is keyed by it (the
    #: Node.js builder's extracted tree a bundle resolves against); ``None`` otherwise
    install_key: str | None = None
    #: the files of the function's or layer's source its package key covers (POSIX, relative
    #: to ``source``: ``include``/``exclude``, the default excludes, secret names and strip
    #: rules applied), set by the package action: a builder that reads its sources itself
    #: (a bundler) must read only these, or an edit to another file would be no change to
    #: the key; ``None`` (a builder called directly): the whole source
    source_files: tuple[str, ...] | None = None
    #: problems the builder recovered from (a damaged tree in its tool cache, rebuilt),
    #: for the action to report with the target's warnings
    warnings: list[str] = field(default_factory=list)


class SmokeResult(Struct, frozen=True):
    """Outcome of importing a built handler in an isolated interpreter."""

    ok: bool
    import_ms: float | None = None
    #: the real Python/Node error, for a failed import
    error: str | None = None
    #: why the test could not run here (no matching interpreter, other architecture…)
    skipped: str | None = None
    #: worth a word although the import passed (it ran without the runtime's packages…)
    warnings: tuple[str, ...] = ()
    #: the import passed without something Lambda would have given it (the runtime's own
    #: packages could not be installed): not a final verdict, tried again next build
    partial: bool = False


class Builder(ABC):
    """Base of ecosystem builders; see the module docstring.

    Registered by name in ``lambdaforge.builders`` (built-ins) or through the
    ``lambdaforge.builders`` entry-point group (third party; the entry point's name is the
    builder's ``NAME``). A function or layer picks one with ``builder = "NAME"``, or gets the
    default builder of its runtime.
    """

    #: registry name, e.g. "python"; what ``builder = "…"`` names
    NAME: ClassVar[str]
    #: bump whenever a change to the builder changes its output: it is part of every key
    VERSION: ClassVar[str]
    #: the runtime families it builds (``lambda_facts.Runtime.family``), for ``serves``
    FAMILIES: ClassVar[frozenset[str]] = frozenset()
    #: option keys (TOML spelling) that change only what the import smoke test does, not the
    #: artifact (Python's ``interpreter``): keyed into the check target when it runs the
    #: smoke test, and left out of the package key, so choosing another interpreter rebuilds
    #: no zip
    CHECK_OPTIONS: ClassVar[tuple[str, ...]] = ()
    #: option keys (TOML spelling) whose value is a table of environment variables (the
    #: command builder's ``env``): shown and keyed as a function's ``environment`` is, a
    #: variable whose name or value says secret (``redact.secret_variable``) as ``***``
    #: and a digest, never its value
    ENV_OPTIONS: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def serves(cls, runtime: str) -> bool:
        """Whether this builder can build for the Lambda runtime id ``runtime``. The default:
        a known runtime of one of ``FAMILIES``."""
        rt = RUNTIMES.get(runtime)
        return rt is not None and rt.family in cls.FAMILIES

    def artifact_writer(self, spec: BuildSettings) -> ArtifactWriter:
        """What writes this function's or layer's artifact (``packaging.writers``). The
        default, and today the only one: the deterministic zip."""
        from lambdaforge.packaging.writers import ZIP

        return ZIP

    @classmethod
    def default_requirements(cls, source: str, root: Path) -> str | None:
        """The dependency declaration a function or layer with this ``source``
        (project-relative) uses when its table names none: a project-relative path, or
        ``None`` (the default: the builder finds its inputs itself, as Node.js finds
        ``package.json``). The builder decides, not the config loader."""
        return None

    @classmethod
    def handler_files(cls, handler: str) -> tuple[str, ...] | None:
        """Files, relative to a function's source directory, one of which holds the code
        of ``handler``: a ``[[discover]]`` match without any of them is no function (a
        state-machine folder, a shared-code folder). ``None`` (the default): the builder
        cannot tell, and every match counts."""
        return None

    @classmethod
    def options_model(cls) -> type[BuilderOptions] | None:
        """The Pydantic model of the builder's own keys in a function, layer, ``[defaults]``
        or ``[[discover]]`` table (a ``config.models.BuilderOptions`` subclass), or ``None``
        when it has none (the default). Validated with the rest of the config; the resolved
        values reach the builder as ``spec.builder_options`` (by TOML key, JSON values), which
        an ``OptionValues`` record reads back without Pydantic. Every option is part of the
        package key (``CHECK_OPTIONS`` are the check's instead). Import the model inside this
        method: a no-op build never asks for it."""
        return None

    @abstractmethod
    def dependency_inputs(
        self, settings: BuildSettings, source: str | None, project: Project
    ) -> DependencyInputs | None:
        """The install this function or layer needs, or ``None`` when it has no dependencies."""

    def validate_inputs(self, spec: BuildSettings, project: Project) -> list[ConfigIssue]:
        """Every problem in the files this builder will read for ``spec`` that can be found
        without installing (a missing or stale lockfile, a requirement that does not parse,
        a handler module that does not exist), each located in its file (``ConfigIssue``;
        warnings have ``severity="warning"``). ``forge validate`` asks every function and
        layer (``lambdaforge.validation``), so a project's problems are reported at once
        rather than one build at a time. The default: the problems ``dependency_inputs``
        raises."""
        from lambdaforge.errors import ConfigError

        try:
            self.dependency_inputs(spec, spec.source, project)
        except ConfigError as exc:
            return list(exc.issues)
        return []

    @abstractmethod
    def tool_versions(self, settings: BuildSettings) -> Mapping[str, str]:
        """Name → version of every external tool whose version can change the output."""

    @abstractmethod
    def install(self, inputs: DependencyInputs, dest: Path, ctx: BuildContext) -> InstallResult:
        """Install into the empty directory ``dest`` the tree that goes under the package's
        dependency root (Python: site-packages; Node.js: node_modules)."""

    @abstractmethod
    def dependency_prefix(self, kind: ArtifactKind) -> str:
        """Where installed dependencies go inside the zip (``""``, ``python/``, …)."""

    def runtime_provided(
        self, inputs: DependencyInputs, dists: list[Distribution], settings: BuildSettings,
        runtime_packages: Sequence[str] = (),
    ) -> RuntimeProvidedChoice:
        """Which installed distributions to leave out because the runtime ships them, and
        why each other one the runtime ships stays (decided by the same rule, so the reason
        given is the one that decided). ``runtime_packages`` is ``[check] runtime-packages``:
        what the runtime ships where the user said so. The default: none is left out, none
        noted."""
        return RuntimeProvidedChoice()

    def package_material(self, spec: BuildSettings, project: Project,
                         inputs: DependencyInputs | None = None) -> Mapping[str, Any]:
        """What a package reads besides its settings, sources and install (``inputs``: the
        install's dependency inputs, ``None`` without one): keyed into the package by
        TOML-like key (``runtime-packages``: the runtime's own packages as configured, when
        they decide what the zip leaves out). The default: nothing."""
        return {}

    def package_tool_versions(self, settings: BuildSettings) -> Mapping[str, str]:
        """Tools that change a package's bytes but not its install (a bundler): part of the
        package key only, so functions sharing an install share its key. Default: none."""
        return {}

    def prepare_sources(self, spec: BuildSettings, project: Project, ctx: BuildContext,
                        out_dir: Path, installed: Path | None = None) -> Path | None:
        """A directory whose content replaces the source directory in the zip (a bundle,
        a layer laid out), or ``None`` to package the sources as they are (the default).
        ``installed`` is the install target's ``deps.zip``, when there is one."""
        return None

    def ships_install(self, spec: BuildSettings) -> bool:
        """Whether the install's tree goes into the zip (not for a bundled function, whose
        dependencies are inside the bundle). Default: yes."""
        return True

    def tool_paths(self) -> set[str]:
        """Absolute paths of the executables the builder runs, so the no-op fast path notices
        when one is replaced (an upgraded installer can change every output)."""
        return set()

    def source_excludes(self, spec: BuildSettings | None = None,
                        source_dir: Path | None = None) -> tuple[str, ...]:
        """gitignore-style patterns never taken from a source directory because the builder
        provides that part itself (Node.js: ``node_modules/`` comes from the install), for
        ``spec`` whose source is ``source_dir`` when given (a layer that installs nothing
        may ship what such a pattern would leave out)."""
        return ()

    def install_only_paths(self, inputs: DependencyInputs) -> tuple[str, ...]:
        """Project-relative files and folders the install reads that nothing reads at run
        time (a ``find-links`` wheel folder): left out of a package's own files where they
        lie inside its source, as its dependency declarations are. Default: none."""
        return ()

    def extra_strip_rules(self, settings: BuildSettings) -> list[StripRules]:
        """Rule sets the builder adds to the ``standard`` preset for its ecosystem (Node.js:
        ``*.d.ts``, ``__tests__/``…). The default: none."""
        return []

    def keyed_variables(self, names: Sequence[str]) -> tuple[str, ...]:
        """Of the environment variables an install watches (``DependencyInputs.variables``),
        those whose value changes what it installs, so the install's key holds their values
        (not only a watch): a version given to a local package's build. The default: none
        (``${NAME}`` in a requirements file names an index's credentials: a rotated token
        re-plans but installs the same)."""
        return ()

    def spared_from_strip(self, names: Collection[str],
                          removed_directory: Callable[[str], str | None],
                          read: Callable[[str], bytes]) -> dict[str, list[str]]:
        """Files of an installed tree (``names``: its files; ``read``: a file's bytes) under
        directories that ``removed_directory`` says a strip rule removes, which the code
        shipped needs, by that directory: no strip rule removes them (Python: the modules of
        a ``tests/`` package that the library imports). The default: none."""
        return {}

    def check_handler(
        self, artifact: Path, layer_zips: list[Path], handler: str, runtime: str,
        ctx: BuildContext | None = None,
    ) -> list[str]:
        """Problems with the handler of a built function zip (module missing at the root,
        function not defined…); empty when it looks right. A subprocess it needs goes
        through ``ctx.runner`` (the one door to the outside world; tests record it). The
        default checks nothing."""
        return []

    def check_layout(self, artifact: Path, kind: ArtifactKind, spec: BuildSettings) -> list[str]:
        """Problems with where a built zip puts its files for its runtime (a layer's
        packages in a directory the runtime does not search…), read from the zip alone;
        empty when it looks right. The default checks nothing."""
        return []

    def check_reads_layers(self, spec: BuildSettings, packaged: Collection[str], *,
                           smoke: bool) -> bool:
        """Whether the verdict of a function's check (``check_handler``, and with
        ``smoke`` the import) depends on its layers' content, given which of the files that
        could hold its handler (``handler_files``) its zip holds (``packaged``, relative to
        the source: among its sources and not withheld as secrets). When not, the check
        is keyed without the layers' keys: a layer code change re-evaluates only the size
        budget of the functions using it (pure arithmetic), not their checks. The default,
        ``True``, is always right; a builder answers ``False`` only when it knows."""
        return True

    def smoke_material(self, spec: BuildSettings, project: Project) -> Mapping[str, Any]:
        """What the import smoke test reads besides the artifact, its layers, the
        ``CHECK_OPTIONS`` and the environment variables (the runtime's own packages it
        installs: their list, as configured): keyed into the check when the smoke test
        runs, by TOML-like key (``runtime-packages``). The default: nothing."""
        return {}

    def smoke_test(
        self, artifact: Path, layer_zips: list[Path], spec: BuildSettings, ctx: BuildContext
    ) -> SmokeResult:
        """Import the handler from the artifact (and its layers) in isolation.
        The default: skipped."""
        return SmokeResult(ok=True, skipped=f"no import smoke test for the {self.NAME} builder")

    @abstractmethod
    def source_prefix(self, kind: ArtifactKind, source_names: frozenset[str]) -> str:
        """Where the sources go inside the zip, given the names at the top of the source
        directory (a layer whose source already starts with ``python/`` is used as laid out)."""


class LayerConflict(Struct, frozen=True):
    """A distribution a function bundles at another version than one of its layers."""

    name: str
    function_version: str
    layer: str
    layer_version: str

    def message(self, function: str) -> str:
        """The user-facing text: names both sides and which copy wins at runtime."""
        return (
            f"{self.name}: function {function} bundles {self.function_version} but layer "
            f"{self.layer} provides {self.layer_version}; the function's copy wins at runtime "
            "(/var/task precedes /opt on the import path)"
        )


class LayersConflict(Struct, frozen=True):
    """A distribution two layers of one function provide at different versions."""

    name: str
    layer: str
    version: str
    other_layer: str
    other_version: str

    def message(self, function: str) -> str:
        """The user-facing text: names both layers and versions, and what it does."""
        return (
            f"{self.name}: layer {self.layer} provides {self.version} but layer "
            f"{self.other_layer} provides {self.other_version}; function {function} uses both, "
            "and Lambda merges its layers into /opt in the order they are listed, so it may "
            "import a mix of the two versions: give both layers the same version"
        )


def layers_conflicts(layers: Sequence[tuple[str, Mapping[str, str]]],
                     shipped: Collection[str] = ()) -> list[LayersConflict]:
    """Distributions that two of a function's ``layers`` (``(layer name, {distribution:
    version})`` in layer order) provide at different versions, one per distribution and
    pair of layers, in layer order. A distribution the function ships itself (``shipped``)
    is left out: its copy in ``/var/task`` wins over both."""
    found: list[LayersConflict] = []
    for i, (layer, provides) in enumerate(layers):
        for other_layer, other in layers[i + 1:]:
            for name in sorted(provides):
                if name in other and other[name] != provides[name] and name not in shipped:
                    found.append(LayersConflict(name, layer, provides[name], other_layer, other[name]))
    return found


class RuntimeProvidedChoice(Struct, frozen=True):
    """A builder's decision on the distributions its runtime provides (``Builder.runtime_provided``)."""

    #: normalized names to leave out: the runtime's copy serves them
    excluded: frozenset[str] = frozenset()
    #: normalized name of each other runtime-provided distribution installed → why it stays
    #: (``pinned with == in its requirements``, ``required by requests 2.32.3``)
    kept: Mapping[str, str] = field(default_factory=dict)


class DependencySelection(Struct):
    """Which installed distributions a package leaves out, and why."""

    #: normalized names left out because the runtime provides them
    runtime_provided: set[str] = field(default_factory=set)
    #: normalized name of a runtime-provided distribution the package keeps → why
    kept: dict[str, str] = field(default_factory=dict)
    #: normalized names left out because a layer provides the same version
    from_layers: set[str] = field(default_factory=set)
    conflicts: list[LayerConflict] = field(default_factory=list)

    @property
    def dropped(self) -> set[str]:
        """Every distribution left out."""
        return self.runtime_provided | self.from_layers


def select_dependencies(
    builder: Builder,
    inputs: DependencyInputs,
    dists: list[Distribution],
    settings: BuildSettings,
    layer_dists: Mapping[str, tuple[str, str]],
    runtime_packages: Sequence[str] = (),
) -> DependencySelection:
    """Decide which installed distributions a package ships.

    ``layer_dists`` maps a distribution name to ``(version, layer name)`` for everything the
    function's layers provide. Same version in a layer → left out; another version → a
    conflict (the function keeps its copy). Runtime-provided ones go when the settings say
    so, and those that stay carry the builder's reason (``runtime_packages``: ``[check]
    runtime-packages``, what the runtime ships where the user said so).
    """
    selection = DependencySelection()
    if settings.exclude_runtime_provided:
        choice = builder.runtime_provided(inputs, dists, settings, runtime_packages)
        selection.runtime_provided = set(choice.excluded)
        selection.kept = dict(choice.kept)
    for d in dists:
        if d.name in selection.runtime_provided or d.name not in layer_dists:
            continue
        version, layer = layer_dists[d.name]
        if version == d.version:
            selection.from_layers.add(d.name)
        else:
            selection.conflicts.append(LayerConflict(d.name, d.version, layer, version))
    return selection


def handler_issue(spec: BuildSettings, project: Project, message: str) -> ConfigIssue:
    """A problem with a function's ``handler``, located where the config sets it."""
    from lambdaforge.errors import ConfigIssue

    origin = project.origins.get(f"functions.{spec.name}.handler")
    return ConfigIssue(file=origin.file if origin else "", line=origin.line if origin else None,
                       key=f"functions.{spec.name}.handler", message=message)
