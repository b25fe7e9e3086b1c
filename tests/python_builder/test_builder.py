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
from lambdaforge.lambda_facts import PYTHON_RUNTIME_PACKAGES
from tests.python_builder.conftest import settings
from tests.support.wheels import build_runtime_wheelhouse


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

    spec = FunctionSpec(**BUILT_IN_DEFAULTS, name="api", source="fn", handler="app.handler", layers=(),
                        builder_options={"no-index": True, "find-links": ["wheels"]})
    project = make_project(tmp_path / "p")
    ctx = BuildContext(Runner(), tmp_path, tmp_path / "tools", project)
    if find_interpreter(PythonTarget.of("python3.12", spec.architecture), Runner())[0] is None:
        pytest.skip("no python3.12 interpreter here")
    (project.root / "wheels").mkdir()
    smoke = builder.smoke_test(fn, [layer], spec, ctx)
    # boto3 is left out of zips (the runtime ships it): without the runtime's copy the
    # import cannot be tested, and the check says why instead of passing.
    assert (smoke.ok, smoke.skipped) == (True, (
        "the handler imports boto3, which the Lambda runtime provides, and the runtime's own "
        "packages could not be installed here: installing boto3==1.38.36, botocore==1.38.36, "
        "s3transfer, jmespath, python-dateutil, six, urllib3 for python3.12 x86_64 failed "
        "(Because boto3 was not found in the provided package locations and you require "
        "boto3==1.38.36, we can conclude that your requirements are unsatisfiable.); they are "
        "fetched with the function's index settings (`index-url`, `find-links`, `no-index`): "
        "point them at an index or wheel folder that has them, or change the list with "
        "`[check] runtime-packages`"))
    build_runtime_wheelhouse(project.root / "wheels", PYTHON_RUNTIME_PACKAGES["python3.12"])
    ctx = BuildContext(Runner(), tmp_path, tmp_path / "tools2", project)
    assert builder.smoke_test(fn, [layer], spec, ctx).ok  # with the runtime's boto3: imported

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


@pytest.mark.parametrize("runtime", ["python3.12", "python3.13"])
def test_a_handler_this_hosts_python_cannot_parse_is_judged_by_the_targets(tmp_path, runtime) -> None:
    """On a host whose Python is older than the runtime's, a module this host cannot parse
    may use newer syntax: the runtime's own Python decides (a syntax error used to pass)."""
    import sys
    import zipfile

    from lambdaforge.builders.base import BuildContext
    from lambdaforge.lambda_facts import RUNTIMES
    from tests.python_builder.conftest import make_project

    version = tuple(int(p) for p in RUNTIMES[runtime].version.split("."))
    if version <= sys.version_info[:2]:
        pytest.skip(f"this host's Python parses {runtime}'s grammar itself")
    if find_interpreter(PythonTarget.of(runtime, "x86_64"), Runner())[0] is None:
        pytest.skip(f"no {runtime} interpreter here")
    ctx = BuildContext(Runner(), tmp_path, tmp_path / "tools", make_project(tmp_path / "p"))
    builder = PythonBuilder()

    def check(source: str) -> list[str]:
        path = tmp_path / "fn.zip"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("app.py", source)
        return builder.check_handler(path, [], "app.handler", runtime, ctx)

    assert check("def handler(:\n    return 1\n") == [
        f"handler 'app.handler': app.py does not parse with Python {RUNTIMES[runtime].version}: "
        "invalid syntax (line 1)"]
    # 3.12 syntax (a `type` statement): fine for the runtime, whatever this host says
    assert check("type Point = tuple[int, int]\n\ndef handler(e, c):\n    return 1\n") == []
    # without a runner (no build context) there is no one to ask: the smoke test decides
    check("def handler(:\n    return 1\n")
    assert builder.check_handler(tmp_path / "fn.zip", [], "app.handler", runtime) == []
