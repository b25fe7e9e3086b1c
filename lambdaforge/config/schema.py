"""The JSON Schema of ``lambdaforge.toml``, generated from the file models.

Editors (taplo / Even Better TOML, via ``#:schema ./schemas/lambdaforge.schema.json``) use it
for completion and hover help, so every field carries a title and a description. TOML has
no null, so Pydantic's ``anyOf [..., null]`` for "not set" is folded away. Builders' own
options (``Builder.options_model``) appear in every table that may set them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel

#: Where the generated schema is committed, relative to the repository root.
SCHEMA_PATH = "schemas/lambdaforge.schema.json"
_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _without_null(node: Any) -> Any:
    if isinstance(node, list):
        return [_without_null(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _without_null(v) for k, v in node.items()}
    if node.get("default", 0) is None:
        del node["default"]
    options = node.get("anyOf")
    if options is not None:
        options = [o for o in options if o != {"type": "null"}]
        if len(options) == 1:
            del node["anyOf"]
            node = {**options[0], **node}
        else:
            node["anyOf"] = options
    return node


#: The tables that hold build settings, and so builder options too.
_SETTINGS_TABLES = ("FunctionTable", "LayerTable", "DefaultsTable", "DiscoverTable")


def _built_in_options() -> dict[str, type[BaseModel]]:
    """Builder name → options model of every built-in builder that has options."""
    from lambdaforge.builders import BuilderRegistry  # config meets the builders here too

    registry = BuilderRegistry()
    found = {}
    for name in registry.built_in_names():
        model = registry.builder_class(name).options_model()
        if model is not None:
            found[name] = model
    return found


def _add_options(schema: dict[str, Any], models: Mapping[str, type[BaseModel]]) -> None:
    """Put each builder's option keys into every settings table, none of them required
    there (a table may inherit one from ``[defaults]``)."""
    for model in models.values():
        part = _without_null(model.model_json_schema(by_alias=True))
        schema.setdefault("$defs", {}).update(part.get("$defs", {}))
        for table in _SETTINGS_TABLES:
            schema["$defs"][table]["properties"].update(part["properties"])


def config_schema(option_models: Mapping[str, type[BaseModel]] | None = None) -> dict[str, Any]:
    """The schema as a dict (draft 2020-12). ``option_models`` (builder name → options
    model, default: the built-in builders') add their keys to the function, layer,
    ``[defaults]`` and ``[[discover]]`` tables; plugins' options are not in the committed
    schema, which must not depend on what is installed."""
    from lambdaforge.config.models import ConfigFile

    schema = _without_null(ConfigFile.model_json_schema(by_alias=True))
    _add_options(schema, _built_in_options() if option_models is None else option_models)
    schema["title"] = "lambdaforge.toml"
    schema["description"] = (
        "Configuration of lambdaforge, a build tool for AWS Lambda functions and layers."
    )
    return {"$schema": _DIALECT, **schema}


def schema_json() -> str:
    """The schema as the exact text committed in ``schemas/`` (sorted keys, stable)."""
    return json.dumps(config_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
