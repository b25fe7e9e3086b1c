"""Pydantic models of ``lambdaforge.toml`` (the file format) and of the resolved project.

Two layers, on purpose:

- ``ConfigFile`` and the ``*Table`` models describe one TOML file exactly as written: every
  setting is optional (``None`` = inherit), keys are kebab-case, unknown keys are errors.
  The JSON Schema in ``schemas/`` is generated from them.
- ``Project``, ``FunctionSpec`` and ``LayerSpec`` are what the loader produces after
  ``extends``, ``[defaults]`` and ``[[discover]]`` are applied: every value concrete, every
  path relative to the project root (POSIX form), so later stages never re-read TOML and
  cache keys never see an absolute path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ByteSize, ConfigDict, Field

from lambdaforge.errors import ConfigIssue


def kebab(name: str) -> str:
    """``exclude_runtime_provided`` → ``exclude-runtime-provided`` (TOML key style)."""
    return name.replace("_", "-")


class _FileModel(BaseModel):
    # populate_by_name stays off: it would silently accept snake_case keys.
    model_config = ConfigDict(alias_generator=kebab, extra="forbid", frozen=True)


class BuilderOptions(_FileModel):
    """Base of a builder's own options model (``Builder.options_model``): keys that only
    that builder reads, written in function, layer, ``[defaults]`` and ``[[discover]]``
    tables next to the common settings. Kebab-case keys, unknown keys rejected, every field
    with a ``description`` (it is shown in editors through the JSON Schema). A field
    without a default is required of every function or layer using the builder."""


Architecture = Literal["x86_64", "arm64"]
Installer = Literal["uv", "pip"]
Severity = Literal["warn", "error"]
Bundler = Literal["none", "esbuild"]


class BuildSettingsTable(_FileModel):
    """Settings any function or layer may set, and ``[defaults]`` may set for all of them."""

    runtime: str | None = Field(
        None,
        description="Lambda runtime id, e.g. `python3.12`, `nodejs22.x` or `provided.al2023`. "
        "Default: `python3.12`.",
    )
    builder: str | None = Field(
        None,
        description="What builds it: `python` (the default for `python3.x`), `node` (the "
        "default for `nodejs*`), `command` (your own command, for any runtime; required for "
        "`provided.*`) or an installed builder plugin's name.",
    )
    architecture: Architecture | None = Field(
        None, description="Instruction set: `x86_64` or `arm64`. Default: `x86_64`."
    )
    strip: tuple[str, ...] | None = Field(
        None,
        description="Strip rule sets applied in order: built-in `standard`, `aggressive`, "
        "or a `[strip-rules.NAME]` table. Default: `[\"standard\"]`.",
    )
    include: tuple[str, ...] | None = Field(
        None,
        description="gitignore-style patterns of source files to package, relative to `source`. "
        "Default: everything.",
    )
    exclude: tuple[str, ...] | None = Field(
        None,
        description="gitignore-style patterns of source files never to package, relative to `source`.",
    )
    requirements: str | None = Field(
        None,
        description="A requirements.txt or pyproject.toml with the dependencies, relative to this "
        "file. Default: `<source>/requirements.txt` (or `pyproject.toml`, `uv.lock`, "
        "`package.json`) when present.",
    )
    dependencies: tuple[str, ...] | None = Field(
        None, description="Inline requirement specifiers, e.g. `[\"requests>=2.31\"]`."
    )
    exclude_runtime_provided: bool | None = Field(
        None,
        description="Leave out packages the runtime ships (boto3 & co.) unless pinned with `==`. "
        "Default: true.",
    )
    installer: Installer | None = Field(
        None, description="Python dependency installer: `uv` (default) or `pip`."
    )
    index_url: str | None = Field(None, description="Package index URL replacing PyPI.")
    extra_index_urls: tuple[str, ...] | None = Field(
        None, description="Additional package index URLs."
    )
    find_links: tuple[str, ...] | None = Field(
        None,
        description="Local wheel folders (relative to this file) or URLs to look for packages in.",
    )
    no_index: bool | None = Field(
        None, description="Use only `find-links`, never an index. Default: false."
    )
    max_size: ByteSize | None = Field(
        None,
        description="Size budget of the unzipped function plus its layers, e.g. `\"40MB\"`. "
        "Default: Lambda's 250 MB limit.",
    )
    layer_conflicts: Severity | None = Field(
        None,
        description="A dependency version that differs between a function and its layer: "
        "`warn` (default) or `error`.",
    )
    interpreter: str | None = Field(
        None,
        description="Python interpreter for the import smoke test. Default: `pythonX.Y` of the "
        "runtime found on PATH or in pyenv.",
    )
    bundle: Bundler | None = Field(
        None, description="Node.js: bundle the handler with `esbuild`, or `none` (default)."
    )
    minify: bool | None = Field(None, description="Node.js bundling: minify. Default: false.")
    sourcemap: bool | None = Field(
        None, description="Node.js bundling: emit and ship a source map. Default: false."
    )
    external: tuple[str, ...] | None = Field(
        None,
        description="Node.js bundling: modules left out of the bundle. `@aws-sdk/*` is always external.",
    )
    allow_scripts: bool | None = Field(
        None, description="Node.js: run npm install scripts. Default: false."
    )


class FunctionTable(BuildSettingsTable):
    """A ``[functions.NAME]`` table: one Lambda function."""

    source: str = Field(description="Directory with the function's code, relative to this file.")
    handler: str | None = Field(
        None,
        description="Entry point: `module.function` (Python, `app.handler` → app.py), "
        "`file.export` (Node.js, `index.handler` → index.js/.mjs/.cjs), or any name for "
        "`provided.*` (your `bootstrap` reads it from `_HANDLER`).",
    )
    layers: tuple[str, ...] | None = Field(
        None, description="Names of `[layers.NAME]` this function uses (at most 5)."
    )


class LayerTable(BuildSettingsTable):
    """A ``[layers.NAME]`` table: one Lambda layer shared by functions."""

    source: str | None = Field(
        None,
        description="Directory with the layer's own code, relative to this file; placed under "
        "`python/` (or `nodejs/node_modules/`) unless it already starts there.",
    )


class DefaultsTable(BuildSettingsTable):
    """The ``[defaults]`` table: settings every function and layer inherits."""

    handler: str | None = Field(None, description="Default handler of functions.")
    layers: tuple[str, ...] | None = Field(None, description="Default layers of functions.")


class DiscoverTable(BuildSettingsTable):
    """A ``[[discover]]`` entry: one function per directory matching ``path``."""

    path: str = Field(
        description="Glob of function directories relative to this file, e.g. `services/*/handlers/*`."
    )
    name: str = Field(
        "{dir}",
        description="Function name template: `{dir}` (directory name), `{parent}` (its parent's "
        "name), `{path}` (relative path with `/` → `-`).",
    )
    handler: str | None = Field(None, description="Handler of discovered functions.")
    layers: tuple[str, ...] | None = Field(None, description="Layers of discovered functions.")


class StripRuleTable(_FileModel):
    """A ``[strip-rules.NAME]`` table: a named set of gitignore-style patterns."""

    exclude: tuple[str, ...] = Field((), description="Patterns of files to leave out.")
    keep: tuple[str, ...] = Field((), description="Patterns always kept; keep wins over exclude.")


class ProjectTable(_FileModel):
    """The ``[project]`` table."""

    name: str | None = Field(None, description="Project name. Default: the directory name.")
    extends: tuple[str, ...] = Field(
        (),
        description="Team standard configs to inherit: paths relative to this file, or "
        "`pkg:NAME` from an installed package's `lambdaforge.standards` entry point. Later "
        "entries override earlier ones; this file overrides all.",
    )
    cache_dir: str | None = Field(
        None,
        description="Local cache directory, relative to this file. Default: `.forge/cache`; "
        "`FORGE_CACHE_DIR` overrides.",
    )
    cache_salt: str | None = Field(
        None, description="Any string; changing it disowns every cache entry (e.g. a poisoned set)."
    )


class ConfigFile(_FileModel):
    """One ``lambdaforge.toml`` (or a team standards file it extends), as written."""

    project: ProjectTable = Field(
        default_factory=ProjectTable,
        title="Project",
        description="The project: name, team standards, cache.",
    )
    defaults: DefaultsTable = Field(
        default_factory=DefaultsTable,
        title="Defaults",
        description="Settings every function and layer inherits unless it sets its own.",
    )
    strip_rules: dict[str, StripRuleTable] = Field(
        default_factory=dict, description="Named strip rule sets."
    )
    layers: dict[str, LayerTable] = Field(default_factory=dict, description="Lambda layers by name.")
    functions: dict[str, FunctionTable] = Field(
        default_factory=dict, description="Lambda functions by name."
    )
    discover: tuple[DiscoverTable, ...] = Field(
        (), description="Directory globs that each yield one function per match."
    )


# --------------------------------------------------------------------------- resolved


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


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
    "installer": "uv",
    "index_url": None,
    "extra_index_urls": (),
    "find_links": (),
    "no_index": False,
    "max_size": None,
    "layer_conflicts": "warn",
    "interpreter": None,
    "bundle": "none",
    "minify": False,
    "sourcemap": False,
    "external": (),
    "allow_scripts": False,
}


class BuildSettings(_Spec):
    """Resolved build settings of a function or layer (see ``BuildSettingsTable``).

    Paths (``requirements``, local ``find_links``) are relative to the project root, POSIX.
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
    installer: Installer
    index_url: str | None
    extra_index_urls: tuple[str, ...]
    find_links: tuple[str, ...]
    no_index: bool
    max_size: int | None
    layer_conflicts: Severity
    interpreter: str | None
    bundle: Bundler
    minify: bool
    sourcemap: bool
    external: tuple[str, ...]
    allow_scripts: bool
    #: the builder's own options (``Builder.options_model``), validated, by TOML key, with
    #: JSON values: plain data, so keys and the effective config can show them as written
    builder_options: dict[str, Any] = Field(default_factory=dict)


class FunctionSpec(BuildSettings):
    """A fully resolved function: what the graph builds one package target from."""

    name: str
    source: str
    handler: str
    layers: tuple[str, ...]


class LayerSpec(BuildSettings):
    """A fully resolved layer."""

    name: str
    source: str | None


class StripRules(_Spec):
    """A resolved strip rule set (built-in or from ``[strip-rules.NAME]``)."""

    name: str
    exclude: tuple[str, ...]
    keep: tuple[str, ...] = ()


class Origin(_Spec):
    """Where an effective value was set: file (relative to the project root when inside it) and line."""

    file: str
    line: int | None
    #: the dotted key as written there (``defaults.runtime``, ``discover[0].handler``)
    key: str = ""


class Project(_Spec):
    """The validated, merged, resolved configuration of one project."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

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
    origins: dict[str, Origin] = Field(default_factory=dict)
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

    @property
    def build_dir(self) -> Path:
        """Where artifacts and the manifest are written."""
        return self.root / ".forge" / "build"

    @property
    def state_dir(self) -> Path:
        """Where per-checkout state (stat cache, last-build records, locks) lives."""
        return self.root / ".forge" / "state"

    def path(self, relative: str) -> Path:
        """Absolute path of a project-relative POSIX path from a spec."""
        return self.root / relative
