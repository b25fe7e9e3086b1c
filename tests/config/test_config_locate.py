"""The key locator: TOML key paths → lines, on every construct TOML has."""

from __future__ import annotations

import textwrap

from hypothesis import example, given, settings
from toml_strategies import documents

from lambdaforge.config.loader import tomllib
from lambdaforge.config.locate import dotted, key_lines
from lambdaforge.config.tomlwrite import dumps

DOC = textwrap.dedent("""\
    #:schema ./schemas/lambdaforge.schema.json
    [project]
    name = "x"  # a comment with [brackets] and = signs
    [defaults]
    strip = [
      "standard",  # first
      'no-docs',
    ]
    description = \"\"\"
    [functions.fake]
    a = 1
    \"\"\"
    [functions."create.order"]
    handler.kind = "python"
    limits = {memory = 128, tags = ["a", "b"], nested = {deep = true}}
    when = 1979-05-27 07:32:00
    [functions.'literal key']
    "quoted key" = '''multi
    line'''
    [[discover]]
    path = "a/*"
    [[discover]]
    path = "b/*"
    [discover.extra]
    x = 1
    [[discover.inner]]
    y = 2
    [ spaced . header ]
    z = 3
""")


def test_every_construct_maps_to_its_line() -> None:
    lines = key_lines(DOC)
    expected = {
        ("project",): 2,
        ("project", "name"): 3,
        ("defaults", "strip"): 5,
        ("defaults", "strip", 0): 6,
        ("defaults", "strip", 1): 7,
        ("defaults", "description"): 9,
        ("functions",): 13,
        ("functions", "create.order"): 13,
        ("functions", "create.order", "handler"): 14,
        ("functions", "create.order", "handler", "kind"): 14,
        ("functions", "create.order", "limits", "tags", 1): 15,
        ("functions", "create.order", "limits", "nested", "deep"): 15,
        ("functions", "create.order", "when"): 16,
        ("functions", "literal key", "quoted key"): 18,
        ("discover",): 20,
        ("discover", 0): 20,
        ("discover", 0, "path"): 21,
        ("discover", 1): 22,
        ("discover", 1, "path"): 23,
        ("discover", 1, "extra", "x"): 25,
        ("discover", 1, "inner", 0, "y"): 27,
        ("spaced", "header", "z"): 29,
    }
    assert {k: lines.get(k) for k in expected} == expected
    assert ("functions", "fake") not in lines  # it is inside a string


def test_escaped_quoted_keys() -> None:
    assert key_lines('"a\\u0041\\"b" = 1\n') == {('aA"b',): 1}


def test_dotted_rendering() -> None:
    assert dotted(("functions", "create-order", "layers", 1)) == "functions.create-order.layers[1]"
    assert dotted(("discover", 0, "path")) == "discover[0].path"
    assert dotted(("functions", "create.order")) == 'functions."create.order"'


def _paths(value, prefix=()):
    if isinstance(value, dict):
        for k, v in value.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


@settings(max_examples=150, deadline=None)
@given(documents())
@example(document={"project": {"": [{}]}})  # [[project.""]] implies [project]: it has a line too
def test_every_parsed_key_has_a_line(document) -> None:
    text = dumps(document)
    parsed = tomllib.loads(text)
    lines = key_lines(text)
    count = text.count("\n") + 1
    for path in _paths(parsed):
        assert 1 <= lines[path] <= count, path
