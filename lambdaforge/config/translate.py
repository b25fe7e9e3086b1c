"""Turn Pydantic validation errors into ``ConfigIssue``s a user can act on.

Pydantic's own messages ("Input should be a valid tuple", "Extra inputs are not
permitted") talk about Python, not TOML. Each error here becomes
``FILE:LINE: dotted.key: what is wrong (what was expected; did you mean …?)``, with the file
and line of whichever config file set the offending key.
"""

from __future__ import annotations

import datetime
import difflib
import types
import typing
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Literal, Union

from pydantic import BaseModel, ValidationError

from lambdaforge.config.loader import Merged
from lambdaforge.config.locate import KeyPath
from lambdaforge.config.models import (
    CREDENTIAL_KEY,
    CacheTable,
    BuildSettingsTable,
    ConfigFile,
    DefaultsTable,
    DiscoverTable,
    FunctionTable,
    LayerTable,
    ProjectTable,
    StripRuleTable,
)
from lambdaforge.errors import ConfigIssue

#: Names people type for an architecture, mapped to Lambda's.
ARCHITECTURE_ALIASES = {"amd64": "x86_64", "x86-64": "x86_64", "x64": "x86_64", "aarch64": "arm64"}


def suggest(word: str, choices: Iterable[str], aliases: dict[str, str] | None = None) -> str:
    """`` (did you mean 'x'?)`` for the one closest choice, or ``""`` when none stands out."""
    choices = sorted(choices)
    if aliases and word in aliases and aliases[word] in choices:
        return f" (did you mean '{aliases[word]}'?)"
    kebab = word.replace("_", "-")
    if kebab != word and kebab in choices:
        return f" (did you mean '{kebab}'? keys are kebab-case)"
    scores = sorted(
        ((difflib.SequenceMatcher(None, word, c).ratio(), c) for c in choices), reverse=True
    )
    # Only a clear winner helps: 'python3.21' is as close to python3.10 as to python3.14.
    if not scores or scores[0][0] < 0.7 or (len(scores) > 1 and scores[1][0] == scores[0][0]):
        return ""
    return f" (did you mean '{scores[0][1]}'?)"


def describe_value(value: Any) -> str:
    """A short TOML-flavoured description of a value a user wrote."""
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return repr(text)
    if isinstance(value, (datetime.date, datetime.time)):
        return f"a date/time ({value.isoformat()})"
    kind = {int: "integer", float: "float"}.get(type(value), type(value).__name__)
    return f"{kind} {value!r}"


#: Where each table model appears, for "that key belongs elsewhere" messages.
_TABLES: dict[str, type[BaseModel]] = {
    "[project]": ProjectTable,
    "[defaults]": DefaultsTable,
    "[functions.NAME]": FunctionTable,
    "[layers.NAME]": LayerTable,
    "[[discover]]": DiscoverTable,
    "[strip-rules.NAME]": StripRuleTable,
}


def _aliases(model: type[BaseModel]) -> set[str]:
    return {f.alias or name for name, f in model.model_fields.items()}


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def annotation_at(loc: KeyPath, root: type[BaseModel] = ConfigFile) -> Any:
    """The type the models expect at ``loc`` below ``root`` (``None`` when ``loc`` is not a
    known place)."""
    current: Any = root
    for part in loc:
        current = _strip_optional(current)
        origin = typing.get_origin(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = {f.alias or name: f for name, f in current.model_fields.items()}
            field = fields.get(part) if isinstance(part, str) else None
            if field is None:
                return None
            current = field.annotation
        elif origin is dict:
            current = typing.get_args(current)[1]
        elif origin is tuple:
            current = typing.get_args(current)[0]
        else:
            return None
    return _strip_optional(current)


def _expected(annotation: Any) -> str:
    """Plain-English name of what a TOML value of this type looks like."""
    origin = typing.get_origin(annotation)
    if annotation is str:
        return "a string"
    if annotation is bool:
        return "true or false"
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(annotation))
    if origin is tuple:
        item = typing.get_args(annotation)[0]
        if isinstance(item, type) and issubclass(item, BaseModel):
            return "an array of tables"
        return "an array of strings" if item is str else "an array"
    if origin is dict or (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return "a table"
    if annotation is not None and getattr(annotation, "__name__", "") == "ByteSize":
        return ("a number of bytes or a size such as \"40MiB\" (2^20 bytes each) or \"40MB\" "
                "(10^6 bytes each)")
    return ""


#: Pydantic's constraint errors, in TOML words (``{n}``: the value's length)
_CONSTRAINTS = {
    "string_too_long": "{n} characters, over the limit of {max_length}",
    "string_too_short": "{n} characters, under the minimum of {min_length}",
    "too_long": "{n} entries, over the limit of {max_length}",
    "too_short": "{n} entries, under the minimum of {min_length}",
}


def _length(value: object) -> int | str:
    try:
        return len(value)  # type: ignore[arg-type]
    except TypeError:
        return "?"


def describe_error(
    error: Mapping[str, Any],
    root: type[BaseModel] = ConfigFile,
    option_keys: Collection[str] = (),
) -> str:
    """What is wrong, in TOML words, for one Pydantic error of a model validated from a
    config table (``root``: ``ConfigFile``, or a builder's options model). ``option_keys``
    are builder option keys a function or layer table may also hold, offered as "did you
    mean" for an unknown key there."""
    loc: KeyPath = tuple(error["loc"])
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        parent = _strip_optional(annotation_at(loc[:-1], root))
        known = (
            _aliases(parent) if isinstance(parent, type) and issubclass(parent, BaseModel) else set()
        )
        if isinstance(parent, type) and issubclass(parent, BuildSettingsTable):
            known |= set(option_keys)
        if parent is CacheTable and CREDENTIAL_KEY.search(str(loc[-1])):
            return ("credentials never go in the config: remove it; lambdaforge takes them "
                    "from the standard AWS chain (environment, profile, SSO, OIDC web identity)")
        elsewhere = [t for t, model in _TABLES.items() if _aliases(model) & {loc[-1]}]
        if elsewhere:
            return f"unknown key ('{loc[-1]}' may be set in {', '.join(elsewhere)})"
        return "unknown key" + suggest(str(loc[-1]), known)
    if kind == "value_error":
        # A validator's own sentence (a builder option's check): already in TOML words.
        return str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    annotation = annotation_at(loc, root)
    expected = _expected(annotation)
    if kind in _CONSTRAINTS:
        # The right type, out of bounds (a description over Lambda's 256 characters): the
        # type sentence ("expected a string") would call it the wrong type.
        return _CONSTRAINTS[kind].format(**(error.get("ctx") or {}), n=_length(value))
    if not expected:
        # Constraint errors (sizes out of range, …): Pydantic's sentence, in our words.
        text = str(error.get("msg", "invalid value"))
        return text.replace("Input should be", "expected").replace("Value error, ", "")
    hint = ""
    if typing.get_origin(annotation) is Literal and isinstance(value, str):
        choices = [str(a) for a in typing.get_args(annotation)]
        hint = suggest(value, choices, ARCHITECTURE_ALIASES)
    return f"expected {expected}, got {describe_value(value)}{hint}"


def translate(
    error: ValidationError, merged: Merged, option_keys: Collection[str] = ()
) -> list[ConfigIssue]:
    """Every error of a ``ConfigFile`` validation as a located, readable ``ConfigIssue``
    (``option_keys``: see ``describe_error``)."""
    issues = []
    for err in error.errors(include_url=False):
        loc: KeyPath = tuple(err["loc"])
        if err["type"] == "missing":
            issues.append(merged.issue(loc[:-1], f"missing required key '{loc[-1]}'"))
        else:
            issues.append(merged.issue(loc, describe_error(dict(err), option_keys=option_keys)))
    return issues
