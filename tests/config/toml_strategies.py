"""Hypothesis strategies for TOML documents: arbitrary ones and config-shaped ones."""

from __future__ import annotations

import datetime

from hypothesis import strategies as st

from lambdaforge.config.models import BuildSettingsTable

# Strings that mean something to the loader, so generated configs reach deep code paths.
MEANINGFUL = [
    "", ".", "..", "../x", "/etc", "src", "src/api", "app.handler", "index.handler", "app",
    "python3.12", "python3.10", "nodejs22.x", "python2.7", "x86_64", "arm64", "standard",
    "aggressive", "shared", "api", "*", "**", "src/*", "{dir}", "{parent}-{dir}", "{path}",
    "{nope}", "{", "pkg:none", "lambdaforge.toml", "40MB", "uv", "pip", "warn", "esbuild",
    "requirements.txt", "https://example.com/simple", "a\x00b",
]
SETTING_KEYS = [f.alias for f in BuildSettingsTable.model_fields.values() if f.alias]
TABLE_KEYS = SETTING_KEYS + ["source", "handler", "layers", "path", "name", "handlr", "x_y"]

keys = st.one_of(st.sampled_from(MEANINGFUL + TABLE_KEYS), st.text(max_size=6))
scalars = st.one_of(
    st.sampled_from(MEANINGFUL),
    st.text(max_size=10),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.dates(),
    st.times(),
    st.datetimes(),
    st.datetimes(timezones=st.just(datetime.timezone.utc)),
)


def values(depth: int = 2) -> st.SearchStrategy:
    """Scalars, arrays and tables nested up to ``depth``."""
    if depth == 0:
        return scalars
    inner = values(depth - 1)
    return st.one_of(
        scalars,
        st.lists(st.sampled_from(MEANINGFUL), max_size=6),
        st.lists(inner, max_size=3),
        st.dictionaries(keys, inner, max_size=3),
    )


def documents() -> st.SearchStrategy:
    """Any TOML document (as a dict tree), with a bias towards lambdaforge's own keys."""
    top = st.one_of(st.sampled_from(["project", "defaults", "functions", "layers", "discover", "strip-rules"]), keys)
    return st.dictionaries(top, values(3), max_size=5)


def table(keys_: list[str]) -> st.SearchStrategy:
    return st.dictionaries(st.sampled_from(keys_), values(1), max_size=5)


def config_documents() -> st.SearchStrategy:
    """Documents shaped like ``lambdaforge.toml``: right tables, mostly right keys."""
    names = st.one_of(st.sampled_from(["api", "shared", "standard", "a b", "x" * 70]), st.text(max_size=5))
    settings = table(TABLE_KEYS)
    return st.fixed_dictionaries(
        {},
        optional={
            "project": table(["name", "extends", "cache-dir", "cache-salt", "nmae"]),
            "defaults": settings,
            "strip-rules": st.dictionaries(names, table(["exclude", "keep", "kep"]), max_size=2),
            "layers": st.dictionaries(names, settings, max_size=2),
            "functions": st.dictionaries(names, settings, max_size=3),
            "discover": st.lists(settings, max_size=2),
        },
    )


def _good_values() -> st.SearchStrategy:
    return st.one_of(
        st.sampled_from(MEANINGFUL),
        st.booleans(),
        st.lists(st.sampled_from(MEANINGFUL), max_size=3),
    )


@st.composite
def near_valid_documents(draw: st.DrawFn) -> dict:
    """A valid project with one to three settings changed: reaches resolution and the
    semantic checks, where the arbitrary documents mostly stop at the models."""
    document = {
        "defaults": {"handler": "app.handler"},
        "layers": {"shared": {}},
        "functions": {"api": {"source": "src/api", "layers": ["shared"]}},
        "discover": [{"path": "src/*", "name": "d-{dir}"}],
    }
    for _ in range(draw(st.integers(0, 3))):
        where = draw(st.sampled_from([("defaults",), ("layers", "shared"), ("functions", "api"),
                                      ("project",), ("strip-rules", "mine")]))
        table = document
        for part in where:
            table = table.setdefault(part, {})
        table[draw(st.sampled_from(TABLE_KEYS))] = draw(_good_values())
    if draw(st.booleans()):
        document["discover"][0][draw(st.sampled_from(TABLE_KEYS))] = draw(_good_values())
    return document
