"""Helpers for config tests: write a project under ``tmp_path``, load it, read its errors."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from lambdaforge.config import load_project
from lambdaforge.config.models import Project
from lambdaforge.errors import ConfigError

#: A function table that is valid on its own (its source directory is created by ``write``).
API = """
[functions.api]
source = "src/api"
handler = "app.handler"
"""


def write(root: Path, files: dict[str, str]) -> Path:
    """Create ``files`` (path → text, dedented) under ``root``; a path ending in ``/`` is a
    directory. ``src/api/`` always exists, for ``API``."""
    (root / "src" / "api").mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = root / name
        if name.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def issues_of(root: Path, config: str = "lambdaforge.toml") -> list[str]:
    """The rendered issues of loading ``root/config``; fails if it loads."""
    with pytest.raises(ConfigError) as info:
        load_project(Path(config), cwd=root, env={})
    return [str(i) for i in info.value.issues]


@pytest.fixture
def project(tmp_path: Path) -> Callable[..., Project]:
    """``project(toml, **other_files)``: write ``lambdaforge.toml`` (and more) and load it."""

    def make(toml: str, files: dict[str, str] | None = None, env: dict[str, str] | None = None) -> Project:
        write(tmp_path, {"lambdaforge.toml": toml, **(files or {})})
        return load_project(cwd=tmp_path, env=env or {})

    return make


@pytest.fixture
def errors(tmp_path: Path) -> Callable[..., list[str]]:
    """``errors(toml, **other_files)``: write a project and return its rendered issues."""

    def make(toml: str, files: dict[str, str] | None = None) -> list[str]:
        write(tmp_path, {"lambdaforge.toml": toml, **(files or {})})
        return issues_of(tmp_path)

    return make
