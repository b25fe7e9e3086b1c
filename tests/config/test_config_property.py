"""Whatever TOML a user writes, the loader returns a valid ``Project`` or a ``ConfigError``:
never another exception (which would print a traceback instead of a message)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from toml_strategies import config_documents, documents, near_valid_documents

from lambdaforge.config import load_project
from lambdaforge.config.loader import tomllib
from lambdaforge.config.models import Project
from lambdaforge.config.tomlwrite import dumps
from lambdaforge.errors import ConfigError

_SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _load(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "src" / "api").mkdir(parents=True)
        (root / "src" / "api" / "requirements.txt").write_text("attrs\n")
        (root / "lambdaforge.toml").write_text(text, encoding="utf-8")
        try:
            project = load_project(cwd=root, env={})
        except ConfigError as exc:
            assert exc.issues
            for issue in exc.issues:
                assert str(issue)
        else:
            assert isinstance(project, Project)


@_SETTINGS
@given(config_documents())
def test_config_shaped_documents(document) -> None:
    _load(dumps(document))


@_SETTINGS
@given(near_valid_documents())
def test_nearly_valid_documents(document) -> None:
    _load(dumps(document))


@_SETTINGS
@given(documents())
def test_arbitrary_documents(document) -> None:
    _load(dumps(document))


@_SETTINGS
@given(st.text(max_size=200))
def test_arbitrary_text(text: str) -> None:
    _load(text)


@_SETTINGS
@given(documents())
def test_the_writer_round_trips(document) -> None:
    assert tomllib.loads(dumps(document)) == document
