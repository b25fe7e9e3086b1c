"""Fixtures for build scenarios: small real projects under tmp_path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from lambdaforge.build import BuildOptions, BuildSession
from lambdaforge.config import load_project


class ProjectDir:
    """A project on disk that a test edits and builds, ninja-BuildWithLogTest style."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, rel: str, text: str, *, mode: int | None = None) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        if mode is not None:
            path.chmod(mode)
        return path

    def config(self, text: str) -> None:
        self.write("lambdaforge.toml", text)

    def build(self, *names: str, **options: object):
        project = load_project(self.root / "lambdaforge.toml")
        session = BuildSession(project, BuildOptions(names=names, jobs=2, **options))
        return session.run()

    def statuses(self, outcome) -> dict[str, str]:
        return {tid: r.status.value for tid, r in outcome.results.items()}

    def zip_path(self, kind: str, name: str) -> Path:
        return self.root / ".forge" / "build" / f"{kind}s" / f"{name}.zip"

    def zip_names(self, kind: str, name: str) -> set[str]:
        """The member names of a built function's or layer's zip."""
        import zipfile

        with zipfile.ZipFile(self.zip_path(kind, name)) as zf:
            return set(zf.namelist())


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ProjectDir:
    root = tmp_path / "proj"
    root.mkdir()
    # Each test gets its own cache unless it shares one on purpose.
    monkeypatch.setenv("FORGE_CACHE_DIR", str(tmp_path / "cache"))
    return ProjectDir(root)


SOURCE_ONLY = """
[defaults]
runtime = "python3.12"

[layers.shared]
source = "layers/shared"

[functions.alpha]
source = "functions/alpha"
handler = "app.handler"
layers = ["shared"]

[functions.beta]
source = "functions/beta"
handler = "app.handler"
"""


@pytest.fixture
def source_project(project: ProjectDir) -> ProjectDir:
    """Two functions (one using a layer) made of source files only."""
    project.config(SOURCE_ONLY)
    project.write("layers/shared/shared_util.py", "def util():\n    return 42\n")
    project.write("functions/alpha/app.py", "def handler(event, context):\n    return 'alpha'\n")
    project.write("functions/alpha/helpers.py", "X = 1\n")
    project.write("functions/alpha/tests/test_app.py", "def test():\n    pass\n")
    project.write("functions/beta/app.py", "def handler(event, context):\n    return 'beta'\n")
    return project


@pytest.fixture(scope="session")
def session_wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The standard test distributions (tests/support/wheels.py), built once per session."""
    from tests.support.wheels import build_wheelhouse

    return build_wheelhouse(tmp_path_factory.mktemp("wheelhouse"))


@pytest.fixture
def deps_project(project: ProjectDir, session_wheelhouse: Path) -> ProjectDir:
    """A project whose installs come only from a local wheel folder inside it."""
    import shutil

    shutil.copytree(session_wheelhouse, project.root / "wheels")
    return project


LOCAL_INDEX = """
[defaults]
runtime = "python3.12"
no-index = true
find-links = ["wheels"]
"""
