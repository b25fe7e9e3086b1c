"""Builders as the config sees them: which keys are a builder's own options, which builder
each function and layer gets, and whether that builder serves its runtime.

The config sits below the builders (design §1) and imports none of them: it asks a
``BuilderCatalog`` (in practice ``lambdaforge.builders.BuilderRegistry``, which
``load_project`` makes when its caller passes none) about names, defaults, runtimes served
and options models.

Three steps, each reporting ``FILE:LINE: key: message`` like every other config problem:

1. ``split_options``, before ``ConfigFile`` validation: keys of function, layer,
   ``[defaults]`` and ``[[discover]]`` tables that are some builder's options (a built-in's,
   or a plugin's the config names) are set aside. The core models stay closed: a key nobody
   knows is still "unknown key (did you mean …?)", with builder options among the guesses.
2. ``check_values``, with ``ConfigFile`` validation: every option value, wherever written,
   against the models of the builders that declare it, so wrong values are type errors
   reported with the others (a wrong one in ``[defaults]`` too, used or not).
3. ``resolve_builder``, once a function's or layer's settings are decided: its builder (its
   own ``builder``, else ``[defaults]``', else its runtime's default), whether that builder
   serves the runtime, and its options (the table's own, else ``[defaults]``', else the
   model's defaults) validated with the builder's model. A key only another builder knows is
   an error in the table that wrote it; in ``[defaults]`` it simply does not apply.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from msgspec import Struct, field
from pydantic import BaseModel, ValidationError

from lambdaforge import lambda_facts
from lambdaforge.config.locate import KeyPath, dotted
from lambdaforge.config.models import (
    BuilderOptions,
    DefaultsTable,
    DiscoverTable,
    FunctionTable,
    LayerTable,
)
from lambdaforge.config.translate import describe_error, suggest
from lambdaforge.config.validate import Resolved
from lambdaforge.errors import ConfigIssue, PluginError

#: Makes a located issue: (key path where the value was written, message, severity).
IssueAt = Callable[..., ConfigIssue]


class BuilderInfo(Protocol):
    """What the config needs of a builder class (``builders.base.Builder``'s classmethods)."""

    NAME: str

    def serves(self, runtime: str) -> bool:
        """Whether it builds for this Lambda runtime id."""

    def options_model(self) -> type[BuilderOptions] | None:
        """Its options model, if it has options."""

    def default_requirements(self, source: str, root: Path) -> str | None:
        """The dependency file a target uses when its table names none."""

    def handler_files(self, handler: str) -> tuple[str, ...] | None:
        """Source files one of which holds the handler's code (``None``: cannot tell)."""


class BuilderCatalog(Protocol):
    """The builders that exist (``lambdaforge.builders.BuilderRegistry`` implements it)."""

    def built_in_names(self) -> list[str]:
        """Names of the built-in builders."""

    def names(self) -> list[str]:
        """Every name, plugins included (for "did you mean")."""

    def has(self, name: str) -> bool:
        """Whether a builder of this name exists."""

    def default_name(self, runtime: str) -> str | None:
        """The builder a runtime gets when none is named (``None``: it must be named)."""

    def builder_class(self, name: str) -> BuilderInfo:
        """The builder class, imported on first use."""


def option_keys(model: type[BaseModel] | None) -> list[str]:
    """The TOML keys of an options model, in declaration order."""
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


#: Keys of the core tables: a builder option may not reuse one (it would be unreachable).
_CORE_TABLES: dict[str, type[BaseModel]] = {
    "functions": FunctionTable, "layers": LayerTable, "defaults": DefaultsTable,
    "discover": DiscoverTable,
}
CORE_KEYS: frozenset[str] = frozenset(
    k for model in _CORE_TABLES.values() for k in option_keys(model)
)


class OptionTables(Struct):
    """Builder options as written, taken out of the tables before ``ConfigFile`` validation."""

    #: table key path (``("functions", "api")``, ``("defaults",)``, ``("discover", 0)``) →
    #: option key → value as merged
    tables: dict[KeyPath, dict[str, Any]] = field(default_factory=dict)
    #: option key → names of the builders that declare it (the builders looked at)
    owners: dict[str, list[str]] = field(default_factory=dict)


def _named_builders(data: Mapping[str, Any]) -> set[str]:
    """Every ``builder = "…"`` string in the tables that may hold one."""
    discovered = data.get("discover")
    tables: list[Any] = [data.get("defaults"),
                         *(discovered if isinstance(discovered, (list, tuple)) else ())]
    for section in ("functions", "layers"):
        found = data.get(section)
        if isinstance(found, Mapping):
            tables.extend(found.values())
    return {t["builder"] for t in tables if isinstance(t, Mapping) and isinstance(t.get("builder"), str)}


def split_options(
    data: Mapping[str, Any], catalog: BuilderCatalog
) -> tuple[dict[str, Any], OptionTables]:
    """``data`` without builder options (what ``ConfigFile`` validates) and the options.

    The builders looked at are the built-ins and the plugins the config names, so a plugin
    nobody uses is never imported. ``data`` is not modified. A plugin option that reuses a
    core key is a ``PluginError``.
    """
    result = OptionTables()
    built_in = catalog.built_in_names()
    named = sorted(n for n in _named_builders(data) if n not in built_in and catalog.has(n))
    for name in (*built_in, *named):
        for key in option_keys(catalog.builder_class(name).options_model()):
            if key in CORE_KEYS:
                raise PluginError(f"the {name} builder declares an option '{key}', which is a "
                                  "lambdaforge setting: a builder option needs a name of its own")
            result.owners.setdefault(key, []).append(name)
    if not result.owners:
        return dict(data), result

    def split(table: Any, path: KeyPath, model: type[BaseModel]) -> Any:
        """The table without its builder options, which go to ``result.tables[path]``."""
        if not isinstance(table, Mapping):
            return table  # not a table: the models report it
        core = set(option_keys(model))
        options = {k: v for k, v in table.items() if k not in core and k in result.owners}
        if not options:
            return table
        result.tables[path] = options
        return {k: v for k, v in table.items() if k not in options}

    out = dict(data)
    for section in ("functions", "layers"):
        found = data.get(section)
        if isinstance(found, Mapping):
            out[section] = {name: split(t, (section, name), _CORE_TABLES[section])
                            for name, t in found.items()}
    if "defaults" in data:
        out["defaults"] = split(data["defaults"], ("defaults",), DefaultsTable)
    if isinstance(data.get("discover"), (list, tuple)):
        out["discover"] = tuple(split(t, ("discover", i), DiscoverTable)
                                for i, t in enumerate(data["discover"]))
    return out, result


def check_values(options: OptionTables, catalog: BuilderCatalog) -> list[tuple[KeyPath, str]]:
    """Wrong option values, wherever they are written, as (key path, message): checked with
    the rest of the file's types, before any function or layer is resolved. So a bad value
    is reported with the other type errors, and one in ``[defaults]`` even when nothing
    uses the builder it belongs to. A key several builders declare is wrong when every one
    of them rejects it (the first one's words are shown). Which builder a table gets, missing
    required options and checks across options come later (``resolve_builder``)."""
    problems: list[tuple[KeyPath, str]] = []
    for path, table in options.tables.items():
        # option key → the first owner's problems with its value; a key another owner
        # accepts is fine
        rejected: dict[str, list[tuple[KeyPath, str]]] = {}
        accepted: set[str] = set()
        for name in dict.fromkeys(n for key in table for n in options.owners[key]):
            model = catalog.builder_class(name).options_model()
            assert model is not None  # it declares a key, so it has a model
            mine = {k: v for k, v in table.items() if name in options.owners[k]}
            found: dict[str, list[tuple[KeyPath, str]]] = {}
            try:
                model.model_validate(mine, strict=True)
            except ValidationError as exc:
                for err in exc.errors(include_url=False):
                    loc: KeyPath = tuple(err["loc"])
                    if err["type"] != "missing" and loc and loc[0] in mine:
                        found.setdefault(str(loc[0]), []).append(
                            ((*path, *loc), describe_error(dict(err), model)))
            accepted.update(k for k in mine if k not in found)
            for key, issues in found.items():
                rejected.setdefault(key, issues)
        problems += [p for key, issues in rejected.items() if key not in accepted for p in issues]
    return problems


def _owner_words(owners: list[str]) -> str:
    names = " and ".join(f"the {n}" for n in owners)
    return f"{names} builder{'s' if len(owners) > 1 else ''}"


def resolve_builder(
    target: Resolved,
    own_key: KeyPath,
    options: OptionTables,
    catalog: BuilderCatalog,
    issue_at: IssueAt,
) -> None:
    """Decide ``target``'s builder and options, in place: ``values["builder"]``,
    ``values["builder_options"]`` (by TOML key, JSON values) and ``options_written`` (option
    key → where it was written, ``None`` for the model's default). ``own_key`` is the table
    the target's own options were written in. Problems go to ``issue_at``."""
    values = target.values
    values["builder_options"] = {}
    runtime = values["runtime"]
    known_runtime = runtime in lambda_facts.RUNTIMES
    name = values.get("builder")
    if name is None:
        name = catalog.default_name(runtime)
        if name is None:
            if known_runtime:
                issue_at(target.at("runtime"), f"runtime '{runtime}' has no default builder: set "
                         'builder = "command" (or a builder plugin\'s name) to say how its '
                         f"{lambda_facts.BOOTSTRAP} is made")
            return  # an unknown runtime is reported by the runtime check
        values["builder"] = name
    elif not catalog.has(name):
        names = catalog.names()
        issue_at(target.at("builder"), f"unknown builder '{name}' (expected one of "
                 f"{', '.join(names)}){suggest(name, names)}")
        return
    info = catalog.builder_class(name)
    if known_runtime and not info.serves(runtime):
        served = [r for r in lambda_facts.RUNTIMES if info.serves(r)]
        issue_at(target.at("builder"), f"the {name} builder does not build runtime '{runtime}' "
                 f"(it builds {', '.join(served) or 'no known runtime'})")
        return
    model = info.options_model()
    keys = option_keys(model)
    own = options.tables.get(own_key, {})
    for key in own:
        if key not in keys:
            issue_at((*own_key, key), f"unknown key for builder = \"{name}\" ('{key}' is an "
                     f"option of {_owner_words(options.owners[key])})")
    inherited = options.tables.get(("defaults",), {})
    written: dict[str, KeyPath] = {k: ("defaults", k) for k in inherited if k in keys}
    written.update({k: (*own_key, k) for k in own if k in keys})
    chosen = {k: (own if path[0] != "defaults" else inherited)[k] for k, path in written.items()}
    if model is None:
        return
    try:
        parsed = model.model_validate(chosen, strict=True)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            loc: KeyPath = tuple(err["loc"])
            if err["type"] == "missing":
                issue_at(own_key, f"missing required key '{loc[0]}' (builder = \"{name}\" needs it)")
            elif not loc or loc[0] not in written:
                issue_at(own_key, describe_error(dict(err), model))
            else:
                issue_at((*written[str(loc[0])], *loc[1:]), describe_error(dict(err), model))
        return
    values["builder_options"] = parsed.model_dump(mode="json", by_alias=True)
    target.options_written = {k: written.get(k) for k in keys}


def option_origins(target: Resolved) -> dict[str, KeyPath | None]:
    """Effective dotted key (``functions.api.env``, and ``functions.api.env.GOOS`` for each
    entry of a table value) → where it was written, for ``Project.origins``."""
    out: dict[str, KeyPath | None] = {}
    for key, written in target.options_written.items():
        shown = target.effective_key(key)
        out[shown] = written
        value = target.values["builder_options"].get(key)
        if isinstance(value, dict):
            for sub in value:
                out[f"{shown}.{dotted((sub,))}"] = (*written, sub) if written else None
    return out
