"""The resolved project: plain frozen records (msgspec Structs), every value decided.

What the loader produces after ``extends``, ``[defaults]`` and ``[[discover]]`` are applied
(``lambdaforge.config.resolve``): every value concrete, every path relative to the project root
(POSIX form), so later stages never re-read TOML and cache keys never see an absolute path.

Plain records on purpose: the file models (``lambdaforge.config.models``) validate with
Pydantic, but what they resolve to is data a build can load, copy, pickle and compare without
importing Pydantic (a build that re-plans one target should not pay for the validator).
``model_dump`` and ``model_copy`` keep the shape callers know from the file models.
"""

from __future__ import annotations

from pathlib import Path, PurePath
from typing import Any, Literal

from msgspec import Struct, field
from msgspec.structs import replace

from lambdaforge.errors import ConfigIssue
from lambdaforge.remote.settings import RemoteSettings

Architecture = Literal["x86_64", "arm64"]
Severity = Literal["warn", "error"]


def _jsonable(value: object) -> object:
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, Struct):
        return _jsonable({name: getattr(value, name) for name in value.__struct_fields__})
    return value


class _Spec:
    """What every resolved record offers: a dict dump and a changed copy."""

    def model_dump(self, *, mode: str = "python", exclude: set[str] | frozenset[str] = frozenset(),
                   **_: object) -> dict[str, Any]:
        """Fields by name (``exclude`` left out); ``mode="json"``: JSON-ready values."""
        out: dict[str, Any] = {}
        for name in self.__struct_fields__:  # type: ignore[attr-defined]
            if name in exclude:
                continue
            value = getattr(self, name)
            if isinstance(value, Struct):
                value = value.model_dump(mode=mode)  # type: ignore[union-attr]
            elif isinstance(value, dict):
                value = {k: v.model_dump(mode=mode) if isinstance(v, _Spec) else v
                         for k, v in value.items()}
            out[name] = _jsonable(value) if mode == "json" else value
        return out

    def model_copy(self, *, update: dict[str, Any] | None = None) -> Any:
        """A copy with ``update`` applied (the record itself is immutable)."""
        return replace(self, **(update or {}))  # type: ignore[type-var]


#: Values a setting takes when neither the table nor ``[defaults]`` sets it.
BUILT_IN_DEFAULTS: dict[str, object] = {
    "runtime": "python3.12",
    # None: the runtime's default builder, decided while resolving
    "builder": None,
    "architecture": "x86_64",
    "strip": ("standard",),
    "include": (),
    "exclude": (),
    "requirements": None,
    "dependencies": (),
    "exclude_runtime_provided": True,
    "max_size": None,
    "layer_conflicts": "warn",
}


class BuildSettings(_Spec, Struct, frozen=True, kw_only=True):
    """Resolved build settings of a function or layer (see ``models.BuildSettingsTable``).

    Paths (``requirements``, and builder options that are paths, such as the Python
    builder's local ``find-links``) are relative to the project root, POSIX.
    """

    runtime: str
    #: the builder's registry name; resolving always sets it (``None`` in a hand-made spec
    #: means the runtime's default builder)
    builder: str | None = None
    architecture: Architecture
    strip: tuple[str, ...]
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    requirements: str | None
    dependencies: tuple[str, ...]
    exclude_runtime_provided: bool
    max_size: int | None
    layer_conflicts: Severity
    #: the builder's own options (``Builder.options_model``: the Python builder's indexes,
    #: the Node.js builder's bundling, the command builder's command), validated, by TOML
    #: key, with JSON values: plain data, so keys and the effective config can show them as
    #: written; a builder reads them through its ``builders.base.OptionValues`` record
    builder_options: dict[str, Any] = field(default_factory=dict)


class FunctionDeploy(_Spec, Struct, frozen=True, kw_only=True):
    """A function's deploy-only settings (``forge deploy``; never part of a build key):
    ``None`` is Lambda's default (128 MB, 3 s, no description, 512 MiB of ``/tmp``) or, for
    ``role``, the ``[deploy]`` table's."""

    role: str | None = None
    memory: int | None = None
    timeout: int | None = None
    description: str | None = None
    #: ``/tmp`` in MiB (``None``: Lambda's 512)
    ephemeral_storage: int | None = None
    #: the function's tags (``None``: not managed, the live tags stay as they are)
    tags: dict[str, str] | None = None
    #: the alias ``forge deploy --publish`` moves to the version it publishes
    alias: str | None = None


class FunctionSpec(BuildSettings, frozen=True, kw_only=True):
    """A fully resolved function: what the graph builds one package target from."""

    name: str
    source: str
    handler: str
    layers: tuple[str, ...]
    #: the function's environment variables: ``[defaults]``'s with its own over them
    #: (validated against Lambda's limits); the import smoke test runs with them
    environment: dict[str, str] = field(default_factory=dict)
    #: what only ``forge deploy`` reads (role, memory, timeout, description)
    deploy: FunctionDeploy = field(default_factory=FunctionDeploy)


class LayerSpec(BuildSettings, frozen=True, kw_only=True):
    """A fully resolved layer: built from ``source`` and dependencies, or referenced by
    ``arn`` (then only ``check_with``, as its ``dependencies``, is built: a stand-in for
    checks, never shipped)."""

    name: str
    source: str | None
    arn: str | None = None
    check_with: tuple[str, ...] = ()
    #: what ``forge deploy`` publishes it for (``None``: derived from it and its functions);
    #: deploy settings, not in any build key
    compatible_runtimes: tuple[str, ...] | None = None
    compatible_architectures: tuple[str, ...] | None = None


class StripRules(_Spec, Struct, frozen=True, kw_only=True):
    """A resolved strip rule set (built-in or from ``[strip-rules.NAME]``)."""

    name: str
    exclude: tuple[str, ...]
    keep: tuple[str, ...] = ()


class CheckSettings(_Spec, Struct, frozen=True, kw_only=True):
    """The resolved ``[check]`` table: what the import smoke test runs with besides the
    artifact and its layers."""

    #: the user's replacement for a runtime's own package list (``lambda_facts``): Python
    #: requirement lines and ``@aws-sdk/NAME@VERSION`` specs, as written; empty: the table's
    runtime_packages: tuple[str, ...] = ()
    #: variables for checks only, over each function's own ``environment``
    environment: dict[str, str] = field(default_factory=dict)


class DeploySettings(_Spec, Struct, frozen=True, kw_only=True):
    """The resolved ``[deploy]`` table (``forge deploy``'s account, region and naming)."""

    region: str | None = None
    profile: str | None = None
    bucket: str | None = None
    #: Lambda name template: ``{project}``, ``{function}``, ``{stage}``
    name: str = "{function}"
    stage: str | None = None
    role: str | None = None


class Origin(_Spec, Struct, frozen=True, kw_only=True):
    """Where an effective value was set: file (relative to the project root when inside it) and line."""

    file: str
    line: int | None
    #: the dotted key as written there (``defaults.runtime``, ``discover[0].handler``)
    key: str = ""


class Project(_Spec, Struct, frozen=True, kw_only=True):
    """The validated, merged, resolved configuration of one project."""

    root: Path
    config_file: Path
    name: str
    cache_dir: Path
    cache_salt: str
    functions: dict[str, FunctionSpec]
    layers: dict[str, LayerSpec]
    strip_rules: dict[str, StripRules]
    #: dotted key (``functions.api.runtime``; TOML spelling, so ``functions.api.max-size``)
    #: → where its effective value was set; ``<built-in>`` for built-in defaults
    origins: dict[str, Origin] = field(default_factory=dict)
    #: files the configuration was read from (this file, then everything it extends)
    config_files: tuple[Path, ...] = ()
    #: ``[[discover]]`` globs as (directory they are relative to, project-relative POSIX,
    #: pattern): a new matching directory is a new function, so builds watch them
    discover_globs: tuple[tuple[str, str], ...] = ()
    #: what loading read (``lambdaforge.observe``): each config file's bytes and the
    #: listings ``[[discover]]`` globbed, taken before use; the project's share of a build's
    #: replay record
    observed: tuple[list, ...] = ()
    #: problems worth a word that do not stop a build (deprecated runtime, …)
    warnings: tuple[ConfigIssue, ...] = ()
    #: the ``[check]`` table
    check: CheckSettings = field(default_factory=CheckSettings)
    #: the ``[cache]`` table's remote (``lambdaforge.remote.settings``); the environment and
    #: the command line may still change it for one build
    remote_cache: RemoteSettings | None = None
    #: the ``[deploy]`` table
    deploy: DeploySettings = field(default_factory=DeploySettings)

    @property
    def build_dir(self) -> Path:
        """Where artifacts and the manifest are written."""
        return self.root / ".forge" / "build"

    def artifact_path(self, kind: str, name: str) -> Path:
        """Where a function's or layer's zip goes: ``.forge/build/{functions,layers}/``,
        and ``.forge/build/stand-ins/`` for the check-only stand-in of a layer referenced by
        ARN (kept apart so nothing globbing the layers to deploy picks it up)."""
        layer = self.layers.get(name) if kind == "layer" else None
        folder = "stand-ins" if layer is not None and layer.arn is not None else f"{kind}s"
        return self.build_dir / folder / f"{name}.zip"

    def own_folders(self) -> tuple[str, ...]:
        """Project-relative folders lambdaforge writes inside the project besides
        ``.forge/`` (which every walk leaves out by name): the cache directory, when
        ``cache-dir`` or ``FORGE_CACHE_DIR`` puts it there. No source ships them (a
        ``source = "."`` zipped the cache into itself, growing on every build)."""
        import os

        relative = os.path.relpath(self.cache_dir, self.root)
        if relative == "." or relative.startswith("..") or os.path.isabs(relative):
            return ()
        return (Path(relative).as_posix(),)

    @property
    def state_dir(self) -> Path:
        """Where per-checkout state (stat cache, last-build records, locks) lives."""
        return self.root / ".forge" / "state"

    def path(self, relative: str) -> Path:
        """Absolute path of a project-relative POSIX path from a spec."""
        return self.root / relative


def layer_compatibility(project: Project, name: str) -> tuple[list[str], list[str]]:
    """A built layer's compatible runtimes and architectures (sorted), what ``forge deploy``
    publishes it with and ``forge export`` writes: as configured
    (``compatible-runtimes``/``-architectures``), else its own and those of the functions
    using it."""
    spec = project.layers[name]
    users = [f for f in project.functions.values() if name in f.layers]
    return (sorted(spec.compatible_runtimes or {spec.runtime, *(f.runtime for f in users)}),
            sorted(spec.compatible_architectures
                   or {spec.architecture, *(f.architecture for f in users)}))
