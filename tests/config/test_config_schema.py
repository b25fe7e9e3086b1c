"""The committed JSON Schema is current, helpful in editors, and accepts the examples."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from lambdaforge.config.loader import tomllib
from lambdaforge.config.schema import SCHEMA_PATH, config_schema, schema_json

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(
    [REPO / "lambdaforge.toml.example", *REPO.glob("example-projects/*/*.toml")], key=str
)


def test_committed_schema_is_up_to_date() -> None:
    assert (REPO / SCHEMA_PATH).read_text() == schema_json(), (
        "schemas/lambdaforge.schema.json is stale: run `forge schema > schemas/lambdaforge.schema.json`"
    )


def test_every_field_has_a_title_and_a_description() -> None:
    schema = config_schema()
    tables = [("lambdaforge.toml", schema), *schema["$defs"].items()]
    for name, table in tables:
        assert table.get("description"), name
        for key, field in table["properties"].items():
            assert field.get("title") and field.get("description"), f"{name}.{key}"


def test_no_nulls_in_a_toml_schema() -> None:
    assert '"null"' not in schema_json()


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_examples_satisfy_the_schema(path: Path) -> None:
    jsonschema.validate(tomllib.loads(path.read_text()), json.loads(schema_json()))


def test_the_schema_rejects_an_unknown_key() -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"functions": {"api": {"source": "x", "handlr": "a.b"}}}, config_schema())
