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
