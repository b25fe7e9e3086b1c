"""The ``PythonBuilder`` interface: identity, tool versions, and the registry entry."""

from __future__ import annotations

import re

import pytest

from lambdaforge.builders import BuilderRegistry
from lambdaforge.builders.python import PythonBuilder
from lambdaforge.builders.python.smoke import find_interpreter
from lambdaforge.builders.python.target import PythonTarget
from lambdaforge.config.models import BUILT_IN_DEFAULTS, FunctionSpec
from lambdaforge.runner import Runner
from tests.python_builder.conftest import settings


def test_registry_builds_the_python_builder() -> None:
    builder = BuilderRegistry().for_runtime("python3.12")
    assert isinstance(builder, PythonBuilder)
    assert (builder.NAME, builder.FAMILIES) == ("python", {"python"})


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


def test_builder_hooks_check_handler_smoke_test_and_runtime_provided(tmp_path) -> None:
    import zipfile

    from lambdaforge.builders.base import BuildContext, DependencyInputs, Distribution
    from tests.python_builder.conftest import make_project

    fn = tmp_path / "fn.zip"
    with zipfile.ZipFile(fn, "w") as zf:
        zf.writestr("app.py", "import boto3\nimport shared\ndef handler(e, c):\n    return 1\n")
    layer = tmp_path / "layer.zip"
    with zipfile.ZipFile(layer, "w") as zf:
        zf.writestr("python/shared/__init__.py", "")
    builder = PythonBuilder()
    assert builder.check_handler(fn, [layer], "app.handler", "python3.12") == []
    assert builder.check_handler(fn, [], "app.main", "python3.12") == [
        "handler 'app.main': app.py defines no `main` at module level"
    ]

    spec = FunctionSpec(**BUILT_IN_DEFAULTS, name="api", source="fn", handler="app.handler", layers=())
    ctx = BuildContext(Runner(), tmp_path, tmp_path / "tools", make_project(tmp_path / "p"))
    if find_interpreter(PythonTarget.of("python3.12", spec.architecture), Runner())[0] is None:
        pytest.skip("no python3.12 interpreter here")
    smoke = builder.smoke_test(fn, [layer], spec, ctx)
    # boto3 is left out of zips (the runtime ships it): its absence here is no failure.
    assert (smoke.ok, smoke.skipped) == (True, "the handler imports boto3, which only the Lambda runtime provides here")

    inputs = DependencyInputs("python", "python3.12", "x86_64", (("requirement", "boto3==1.0"), ("pinned", "boto3")))
    dists = [Distribution("boto3", "1.0", (), ("botocore",)), Distribution("botocore", "1.0", ())]
    pinned = builder.runtime_provided(inputs, dists, spec)
    assert pinned.excluded == set()
    assert pinned.kept == {"boto3": "pinned with == in its requirements", "botocore": "required by boto3 1.0"}
    unpinned = DependencyInputs("python", "python3.12", "x86_64", (("requirement", "boto3"),))
    assert builder.runtime_provided(unpinned, dists, spec).excluded == {"boto3", "botocore"}


def test_the_builder_decides_the_default_dependency_file(tmp_path) -> None:
    from lambdaforge.builders.base import Builder
    from lambdaforge.builders.python import PythonBuilder

    (tmp_path / "fn").mkdir()
    assert PythonBuilder.default_requirements("fn", tmp_path) is None
    (tmp_path / "fn/requirements.txt").write_text("requests\n")
    assert PythonBuilder.default_requirements("fn", tmp_path) == "fn/requirements.txt"
    assert PythonBuilder.default_requirements(".", tmp_path) is None  # none at the root
    assert Builder.default_requirements("fn", tmp_path) is None  # others find their own
