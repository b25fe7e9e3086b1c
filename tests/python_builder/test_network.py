"""Installs from PyPI (``-m network``): real wheels for the target, then imported by python3.12."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from lambdaforge.builders.python import PythonBuilder
from lambdaforge.builders.python.smoke import SmokeStatus, smoke_test
from lambdaforge.builders.python.target import PythonTarget
from lambdaforge.runner import Runner
from tests.python_builder.conftest import context, make_project, settings

pytestmark = pytest.mark.network


def test_real_package_from_pypi_installs_and_imports(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "requirements.txt").write_text("attrs==23.2.0\ntomli==2.0.1; python_version < '3.12'\n")
    (tmp_path / "fn" / "app.py").write_text("import attrs\ndef handler(event, context):\n    return attrs.__version__\n")
    builder = PythonBuilder()
    inputs = builder.dependency_inputs(settings(), "fn", project)
    dest = tmp_path / "out"
    result = builder.install(inputs, dest, context(project, tmp_path / "tools", tmp_path / "scratch"))
    assert [(d.name, d.version) for d in result.distributions] == [("attrs", "23.2.0")]
    fn_zip = tmp_path / "fn.zip"
    with zipfile.ZipFile(fn_zip, "w") as zf:
        zf.write(tmp_path / "fn" / "app.py", "app.py")
        for p in sorted(dest.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(dest).as_posix())
    smoke = smoke_test("app.handler", fn_zip, [], PythonTarget.of("python3.12", "x86_64"), Runner(), scratch=tmp_path)
    assert smoke.status in (SmokeStatus.OK, SmokeStatus.SKIPPED), smoke.message


def test_the_runtimes_real_boto3_is_installed_and_imported(tmp_path: Path) -> None:
    """python3.12's own packages at lambda_facts' versions, from PyPI, under a handler that
    creates a client at import: the check passes, and its boto3 is that version."""
    from lambdaforge.builders.python.smoke import find_interpreter
    from lambdaforge.config.models import BUILT_IN_DEFAULTS, FunctionSpec
    from lambdaforge.lambda_facts import PYTHON_RUNTIME_PACKAGES

    if find_interpreter(PythonTarget.of("python3.12", "x86_64"), Runner())[0] is None:
        pytest.skip("no python3.12 interpreter here")
    boto3 = PYTHON_RUNTIME_PACKAGES["python3.12"][0].partition("==")[2]
    fn_zip = tmp_path / "fn.zip"
    with zipfile.ZipFile(fn_zip, "w") as zf:
        zf.writestr("app.py", f"import boto3\nassert boto3.__version__ == {boto3!r}\n"
                              "s3 = boto3.client('s3')\ndef handler(event, context):\n    return 1\n")
    spec = FunctionSpec(**BUILT_IN_DEFAULTS, name="fn", source="fn", handler="app.handler", layers=())
    ctx = context(make_project(tmp_path / "p"), tmp_path / "tools", tmp_path / "scratch")
    smoke = PythonBuilder().smoke_test(fn_zip, [], spec, ctx)
    assert (smoke.ok, smoke.skipped, smoke.warnings) == (True, None, ()), smoke.error
