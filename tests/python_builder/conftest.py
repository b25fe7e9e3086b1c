"""Shared fixtures of the Python builder tests: one wheelhouse per session, project helpers.

Every install here uses only the session wheelhouse (``no-index`` + ``find-links``), so the
machine's pip configuration and PyPI play no part.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdaforge.builders.base import BuildContext
from lambdaforge.builders.python.settings import PythonSettings
from lambdaforge.config.models import BuildSettings, Project
from lambdaforge.runner import Runner
from tests.support.specs import spec_values
from tests.support.wheels import build_wheelhouse


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The standard test distributions (see ``build_wheelhouse``)."""
    return build_wheelhouse(tmp_path_factory.mktemp("wheelhouse"))


@pytest.fixture(scope="session")
def tool_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One installer cache for the session: later installs are warm, as on a dev machine."""
    return tmp_path_factory.mktemp("tool-cache")


def make_project(root: Path) -> Project:
    """A minimal resolved project rooted at ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    return Project(
        root=root,
        config_file=root / "lambdaforge.toml",
        name="test",
        cache_dir=root / ".forge" / "cache",
        cache_salt="",
        functions={},
        layers={},
        strip_rules={},
    )


def settings(**overrides: object) -> BuildSettings:
    """Build settings: the built-in defaults with ``overrides`` (Python options included)."""
    return BuildSettings(**spec_values(PythonSettings, overrides))


def link_wheelhouse(root: Path, wheelhouse: Path) -> str:
    """Copy the wheelhouse into the project (find-links must stay inside it); return its path."""
    import shutil

    dest = root / "wheels"
    if not dest.exists():
        shutil.copytree(wheelhouse, dest)
    return "wheels"


def context(project: Project, tool_cache: Path, scratch: Path) -> BuildContext:
    """A build context with a fresh runner."""
    return BuildContext(runner=Runner(), scratch=scratch, tool_cache=tool_cache, project=project)
