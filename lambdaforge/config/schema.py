"""The JSON Schema of ``lambdaforge.toml``, generated from the file models.

Editors (taplo / Even Better TOML, via ``#:schema ./schemas/lambdaforge.schema.json``) use it
for completion and hover help, so every field carries a title and a description. TOML has
no null, so Pydantic's ``anyOf [..., null]`` for "not set" is folded away.
"""

from __future__ import annotations

import json
from typing import Any

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


def config_schema() -> dict[str, Any]:
    """The schema as a dict (draft 2020-12)."""
    from lambdaforge.config.models import ConfigFile

    schema = _without_null(ConfigFile.model_json_schema(by_alias=True))
    schema["title"] = "lambdaforge.toml"
    schema["description"] = (
        "Configuration of lambdaforge, a build tool for AWS Lambda functions and layers."
    )
    return {"$schema": _DIALECT, **schema}


def schema_json() -> str:
    """The schema as the exact text committed in ``schemas/`` (sorted keys, stable)."""
    return json.dumps(config_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
