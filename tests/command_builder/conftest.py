"""Fixtures for command-builder scenarios: the e2e ``project`` fixture, and a project whose
one function is built by a shell script that writes ``bootstrap``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import ProjectDir, project  # noqa: F401  (the fixture, re-exported)

#: A provided.al2023 function whose build.sh writes an executable bootstrap, and records
#: each run in $RUNS (a file outside the project: how tests count runs).
CONFIG = """
[functions.hello]
source = "fn"
runtime = "provided.al2023"
builder = "command"
handler = "bootstrap"
command = "sh build.sh"
inputs = ["build.sh", "src/"]
output = "out"
env = {{ GREETING = "hello", RUNS = "{runs}" }}
"""

BUILD_SH = """\
echo run >> "$RUNS"
cat src/*.txt > "$FORGE_OUTPUT/message.txt"
printf '#!/bin/sh\\necho %s\\n' "$GREETING" > "$FORGE_OUTPUT/bootstrap"
chmod +x "$FORGE_OUTPUT/bootstrap"
"""


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """The file each run of the command appends a line to."""
    return tmp_path / "runs.txt"


@pytest.fixture
def script_project(project: ProjectDir, runs: Path) -> ProjectDir:  # noqa: F811
    """``fn/build.sh`` makes ``out/bootstrap`` and ``out/message.txt`` from ``fn/src/``;
    ``fn/README.md`` is not an input."""
    project.config(CONFIG.format(runs=runs))
    project.write("fn/build.sh", BUILD_SH)
    project.write("fn/src/a.txt", "A\n")
    project.write("fn/README.md", "not an input\n")
    return project


def run_count(runs: Path) -> int:
    """How many times the command ran."""
    return len(runs.read_text().splitlines()) if runs.exists() else 0
