"""The ``PythonBuilder`` interface: identity, tool versions, and the registry entry."""

from __future__ import annotations

import re

from lambdaforge.builders import BuilderRegistry
from lambdaforge.builders.python import PythonBuilder
from lambdaforge.runner import Runner
from tests.python_builder.conftest import settings


def test_registry_builds_the_python_builder() -> None:
    builder = BuilderRegistry().for_runtime("python3.12")
    assert isinstance(builder, PythonBuilder)
    assert (builder.NAME, builder.FAMILY) == ("python", "python")


def test_tool_versions_name_the_installer_and_are_memoised() -> None:
    runner = Runner()
    builder = PythonBuilder(runner)
    uv = builder.tool_versions(settings())
    assert list(uv) == ["uv"] and re.fullmatch(r"\d+\.\d+\.\d+", uv["uv"])
    pip = builder.tool_versions(settings(installer="pip"))
    assert list(pip) == ["pip"] and re.match(r"\d+\.\d+", pip["pip"])
    ran = len(runner.log)
    builder.tool_versions(settings())
    builder.tool_versions(settings(installer="pip"))
    assert len(runner.log) == ran
