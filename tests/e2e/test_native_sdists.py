"""A native sdist is built with the target's interpreter when this machine matches the
target, checked like auditwheel checks, and refused with the ways out when it cannot."""

from __future__ import annotations

import zipfile

import pytest

from lambdaforge.builders.python.smoke import find_interpreter
from lambdaforge.builders.python.target import PythonTarget
from lambdaforge.runner import Runner
from tests.e2e.conftest import LOCAL_INDEX
from tests.support.wheels import build_c_extension_sdist

HANDLER = "import cext\n\ndef handler(event, context):\n    return cext.answer()\n"


def project_with_c_sdist(project, architecture: str, installer: str) -> None:
    build_c_extension_sdist(project.root / "wheels", "cext", "1.0")
    project.config(LOCAL_INDEX + f"""
installer = "{installer}"

[functions.fn]
source = "fn"
handler = "app.handler"
architecture = "{architecture}"
dependencies = ["cext"]
""")
    project.write("fn/app.py", HANDLER)


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_native_sdist_is_built_with_the_targets_python_and_checked(deps_project, installer):
    interpreter, why = find_interpreter(PythonTarget.of("python3.12", "x86_64"), Runner())
    if interpreter is None:
        pytest.skip(why)
    project_with_c_sdist(deps_project, "x86_64", installer)
    out = deps_project.build(smoke=True)
    assert out.ok, [r.error for r in out.failures()]
    install = next(r for t, r in out.results.items() if t.startswith("install:"))
    assert any(w.startswith("built cext 1.0 from its sdist with ") and "python3.12" in w
               and "native checks passed for python3.12 x86_64" in w for w in install.warnings)
    with zipfile.ZipFile(deps_project.zip_path("function", "fn")) as zf:
        names = zf.namelist()
        assert "cext/_ext.cpython-312-x86_64-linux-gnu.so" in names
        assert [n for n in names if n.endswith("/WHEEL")] and b"manylinux_2_34_x86_64" in zf.read(
            next(n for n in names if n.endswith("/WHEEL")))


def test_native_sdist_for_another_architecture_is_refused_with_the_ways_out(deps_project):
    project_with_c_sdist(deps_project, "arm64", "uv")
    out = deps_project.build()
    install = next(r for t, r in out.results.items() if t.startswith("install:"))
    assert install.status.value == "failed"
    assert "cext 1.0 has no wheel for manylinux_2_34_aarch64 / cp312" in install.error
    assert "this machine is x86_64, the function aarch64" in install.error
    assert "Ways out:" in install.error and "find-links" in install.error


CRASHING_BACKEND = b'''
import sys

def get_requires_for_build_wheel(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    print("gcc: error: src/speedups.c: No such file or directory", file=sys.stderr)
    raise SystemExit("error: command 'gcc' failed with exit code 1")

prepare_metadata_for_build_wheel = build_wheel
'''


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_a_crashing_sdist_build_shows_its_own_error_and_the_ways_out(deps_project, installer):
    from tests.support.wheels import build_sdist

    build_sdist(deps_project.root / "wheels", "crashy", "1.0",
                files={"crashy/__init__.py": b"", "_backend/backend.py": CRASHING_BACKEND})
    deps_project.config(LOCAL_INDEX + f"""
installer = "{installer}"

[functions.fn]
source = "fn"
handler = "app.handler"
dependencies = ["crashy==1.0"]
""")
    deps_project.write("fn/app.py", "def handler(event, context):\n    return 1\n")
    out = deps_project.build()
    install = next(r for t, r in out.results.items() if t.startswith("install:"))
    assert install.status.value == "failed"
    assert install.error.startswith(
        "crashy 1.0 has no wheel for manylinux_2_34_x86_64 / cp312 and its sdist could not be "
        "built: its build failed. Ways out:")
    assert "gcc: error: src/speedups.c: No such file or directory" in install.error
    assert "Traceback" not in install.error
