"""A local package with a C extension (setuptools, ``setup.py``) is built for the target with
the runtime's interpreter in a scratch copy, checked like a native sdist, and shipped; the
user's folder is never written; editing it rebuilds exactly its users."""

from __future__ import annotations

import shutil
import zipfile

import pytest

from lambdaforge.builders.python.smoke import find_interpreter
from lambdaforge.builders.python.target import PythonTarget
from lambdaforge.runner import Runner
from tests.e2e.conftest import LOCAL_INDEX
from tests.e2e.test_local_packages import listing
from tests.support.wheels import setuptools_wheel, write_setuptools_c_package

SO = "nativelib/_speed.cpython-312-x86_64-linux-gnu.so"


def configure(project, extra: str = "", architecture: str = "x86_64") -> None:
    project.config(LOCAL_INDEX + extra + f"""
[functions.uses]
source = "uses"
handler = "app.handler"
architecture = "{architecture}"

[functions.other]
source = "other"
handler = "app.handler"
dependencies = ["dep-a"]
""")


@pytest.fixture
def native_local(deps_project):
    if shutil.which("gcc") is None:
        pytest.skip("no C compiler")
    interpreter, why = find_interpreter(PythonTarget.of("python3.12", "x86_64"), Runner())
    if interpreter is None:
        pytest.skip(why)
    wheel = setuptools_wheel()
    if wheel is None:
        pytest.skip("no setuptools wheel on this machine to build a setuptools package offline")
    shutil.copy(wheel, deps_project.root / "wheels")
    configure(deps_project)
    deps_project.write("uses/app.py", "import nativelib\n\ndef handler(event, context):\n"
                                      "    return nativelib.answer()\n")
    deps_project.write("uses/requirements.txt", "../nativelib\n")
    deps_project.write("other/app.py", "def handler(event, context):\n    return 1\n")
    write_setuptools_c_package(deps_project.root / "nativelib", "nativelib", "1.0")
    return deps_project, interpreter


def test_a_native_local_package_is_built_for_the_target_checked_and_rebuilt_on_edit(native_local):
    project, interpreter = native_local
    before = listing(project.root / "nativelib")
    out = project.build(smoke=True)
    assert out.ok, [r.error for r in out.failures()]
    install = next(r for t, r in out.results.items()
                   if t.startswith("install:") and any("nativelib" in w for w in r.warnings))
    assert any(w.startswith(f"built nativelib 1.0 from its source folder with {interpreter} "
                            "(native checks passed for python3.12 x86_64)") for w in install.warnings)
    with zipfile.ZipFile(project.zip_path("function", "uses")) as zf:
        names = zf.namelist()
        assert SO in names and not any(n.startswith(("build/", "src/")) for n in names)
        wheel = next(n for n in names if n.endswith(".dist-info/WHEEL"))
        assert b"Tag: cp312-cp312-manylinux_2_34_x86_64" in zf.read(wheel)
        first = zf.read(SO)
    assert out.results["check:function:uses"].status.ok  # imported by python3.12
    assert listing(project.root / "nativelib") == before  # no build/, no *.egg-info there
    # editing the C source rebuilds exactly the function using it
    speed = project.root / "nativelib" / "src" / "speed.c"
    speed.write_text(speed.read_text().replace("PyLong_FromLong(42)", "PyLong_FromLong(43)"))
    again = project.build()
    assert again.ok, [r.error for r in again.failures()]
    built = sorted(t for t, r in again.results.items() if r.status.value == "built")
    assert "function:uses" in built and "function:other" not in built
    assert again.results["function:other"].status.value == "up-to-date"
    with zipfile.ZipFile(project.zip_path("function", "uses")) as zf:
        assert zf.read(SO) != first


def test_a_native_local_package_for_another_machine_gets_the_local_ways_out(native_local):
    project, _ = native_local
    configure(project, architecture="arm64")
    out = project.build()
    install = next(r for t, r in out.results.items() if r.status.value == "failed")
    assert install.error.startswith(
        "the local package nativelib 1.0 holds native code, which cannot be built for "
        "manylinux_2_34_aarch64 / cp312 here: this machine is x86_64, the function aarch64; "
        "no container build: FORGE_CONTAINER_ENGINE=")
    assert "start docker or podman" in install.error and "pin a version" not in install.error
    assert out.results["function:other"].status.ok


def test_a_native_local_package_is_built_in_the_container_from_a_scratch_copy(
        native_local, tmp_path, monkeypatch):
    from tests.e2e.test_container_builds import engine_on_path
    from tests.support.fake_engine import calls, option_values

    project, _ = native_local
    log = engine_on_path(tmp_path, monkeypatch)
    configure(project, "use-container = true\n")
    before = listing(project.root / "nativelib")
    out = project.build()
    assert out.ok, [r.error for r in out.failures()]
    (run,) = calls(log)
    (src,) = [m for m in option_values(run, "--mount") if m.endswith("target=/forge/src")]
    assert "readonly" not in src and f"{project.root / '.forge' / 'tmp'}" in src
    assert run[-1] == "/forge/src"
    assert listing(project.root / "nativelib") == before
    assert SO in project.zip_names("function", "uses")
