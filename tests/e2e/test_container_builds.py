"""Native code built inside the runtime's build image with docker/podman: the command line
(image, platform, mounts, user, network), the same checks as host builds, and engines that do
not answer. The engine is ``tests/support/fake_engine.py``: it runs the container's command
here with the mounts mapped to their host folders."""

from __future__ import annotations

import os
import shutil
import zipfile

import pytest

from lambdaforge.builders.python.smoke import find_interpreter
from lambdaforge.builders.python.target import PythonTarget
from lambdaforge.cli import main
from lambdaforge.containers import forget_probes
from lambdaforge.runner import Runner
from tests.e2e.conftest import LOCAL_INDEX
from tests.e2e.test_native_sdists import HANDLER
from tests.support.fake_engine import calls, install_fake_engine, option_values
from tests.support.wheels import build_c_extension_sdist


@pytest.fixture(autouse=True)
def _fresh_probes():
    forget_probes()
    yield
    forget_probes()


def needs_python312() -> None:
    if shutil.which("gcc") is None:
        pytest.skip("no C compiler")
    interpreter, why = find_interpreter(PythonTarget.of("python3.12", "x86_64"), Runner())
    if interpreter is None:
        pytest.skip(why)


def engine_on_path(tmp_path, monkeypatch, *, up: bool = True, name: str = "docker"):
    log = install_fake_engine(tmp_path / "engine-bin", name=name, up=up)
    monkeypatch.setenv("PATH", f"{tmp_path / 'engine-bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("FORGE_CONTAINER_ENGINE", raising=False)
    return log


def c_project(project, architecture: str, extra: str = "") -> None:
    build_c_extension_sdist(project.root / "wheels", "cext", "1.0")
    project.config(LOCAL_INDEX + extra + f"""
[functions.fn]
source = "fn"
handler = "app.handler"
architecture = "{architecture}"
dependencies = ["cext"]
""")
    project.write("fn/app.py", HANDLER)


def install_result(out):
    return next(r for t, r in out.results.items() if t.startswith("install:"))


def test_use_container_builds_in_the_runtime_image_then_checks_and_installs(
        deps_project, tmp_path, monkeypatch):
    needs_python312()
    log = engine_on_path(tmp_path, monkeypatch)
    c_project(deps_project, "x86_64", "use-container = true\n")
    out = deps_project.build(smoke=True)
    assert out.ok, [r.error for r in out.failures()]
    assert len(calls(log, "info")) == 1
    (run,) = calls(log)
    image = "public.ecr.aws/sam/build-python3.12:latest-x86_64"
    assert run[run.index(image) + 1:run.index(image) + 6] == [
        "python3.12", "-m", "pip", "wheel", "--no-deps"]
    assert option_values(run, "--platform") == ["linux/amd64"]
    assert option_values(run, "--network") == ["none"]  # every package from local folders
    assert option_values(run, "--user") == [f"{os.getuid()}:{os.getgid()}"]
    mounts = option_values(run, "--mount")
    wheels = deps_project.root / "wheels"
    assert f"type=bind,source={wheels},target=/forge/links/0,readonly" in mounts
    out_mounts = [m for m in mounts if m.endswith("target=/forge/out")]
    assert len(out_mounts) == 1 and "readonly" not in out_mounts[0]
    assert not any(str(deps_project.root / "fn") in m for m in mounts)  # the sources stay out
    envs = option_values(run, "--env")
    assert "HOME=/tmp" in envs and "PIP_CONFIG_FILE=/dev/null" in envs
    assert not any(e.startswith(("PIP_INDEX_URL", "AWS_")) for e in envs)
    assert "PIP_FIND_LINKS" in envs  # by name: its value is in the engine's environment only
    install = install_result(out)
    assert any(w.startswith(f"built cext 1.0 from its sdist in {image} with docker 99.0-fake "
                            "(native checks passed for python3.12 x86_64)") for w in install.warnings)
    with zipfile.ZipFile(deps_project.zip_path("function", "fn")) as zf:
        assert "cext/_ext.cpython-312-x86_64-linux-gnu.so" in zf.namelist()
        wheel = next(n for n in zf.namelist() if n.endswith(".dist-info/WHEEL"))
        assert b"Tag: cp312-cp312-manylinux_2_34_x86_64" in zf.read(wheel)
    check = out.results["check:function:fn"]  # the import smoke test imported cext
    assert check.status.ok and not any("skipped" in w for w in check.warnings), check.warnings


def test_a_container_wheel_goes_through_the_native_checks(deps_project, tmp_path, monkeypatch):
    """arm64 on this x86_64 machine: the container is the only way; the fake engine builds
    x86_64 code, which the checks refuse for an arm64 function."""
    needs_python312()
    log = engine_on_path(tmp_path, monkeypatch)
    c_project(deps_project, "arm64")
    out = deps_project.build()
    (run,) = calls(log)
    assert "public.ecr.aws/sam/build-python3.12:latest-arm64" in run
    assert option_values(run, "--platform") == ["linux/arm64"]
    install = install_result(out)
    assert install.status.value == "failed"
    assert "this machine is x86_64, the function aarch64; the wheel built in " \
           "public.ecr.aws/sam/build-python3.12:latest-arm64 with docker 99.0-fake fails the " \
           "native checks:" in install.error
    assert "x86_64" in install.error.split("fails the native checks:", 1)[1]
    assert "Ways out:" in install.error


def test_a_cli_without_an_engine_is_named_in_the_ways_out(deps_project, tmp_path, monkeypatch):
    log = engine_on_path(tmp_path, monkeypatch, up=False)
    c_project(deps_project, "arm64")
    out = deps_project.build()
    install = install_result(out)
    assert install.status.value == "failed"
    assert (f"no container build: docker is on PATH ({tmp_path / 'engine-bin' / 'docker'}) but its "
            "engine is not reachable (Cannot connect to the Docker daemon at "
            "unix:///var/run/docker.sock. Is the docker daemon running?)") in install.error
    assert "Ways out:" in install.error
    assert calls(log) == []  # nothing was run in it


def test_use_container_flag_without_an_engine_fails_the_build(deps_project, tmp_path, monkeypatch,
                                                              capsys):
    """``--use-container`` on a machine that could build it itself, with the engine named by
    FORGE_CONTAINER_ENGINE down: exit 1, the install says why, nothing half-built is kept."""
    install_fake_engine(tmp_path / "elsewhere", name="podman", up=False)
    monkeypatch.setenv("FORGE_CONTAINER_ENGINE", str(tmp_path / "elsewhere" / "podman"))
    c_project(deps_project, "x86_64")
    assert main(["-C", str(deps_project.root), "build", "--use-container"]) == 1
    err = capsys.readouterr().err
    assert ("cext 1.0 must be built for manylinux_2_34_x86_64 / cp312 in a container "
            "(`use-container`), but no container engine answers: podman is on PATH") in err
    assert "but its engine is not reachable" in err
    assert not deps_project.zip_path("function", "fn").exists()


#: builds (a host wheel tagged cp311) with Python 3.11, fails to compile with 3.12
_CRASHES_ON_312 = """
import sys as _sys
if _sys.version_info[:2] == (3, 12):
    def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
        print("speedups.c:12:5: error: 'PyUnicode_AS_UNICODE' undeclared", file=_sys.stderr)
        raise SystemExit("error: command '/usr/bin/gcc' failed with exit code 1")
"""


def test_a_crashing_container_build_shows_its_own_error(deps_project, tmp_path, monkeypatch):
    from tests.support.wheels import _BACKEND, build_sdist

    needs_python312()
    engine_on_path(tmp_path, monkeypatch)
    build_sdist(deps_project.root / "wheels", "crashy", "1.0", wheel_tag="cp311-cp311-linux_x86_64",
                files={"crashy/__init__.py": b"",
                       "_backend/backend.py": (_BACKEND + _CRASHES_ON_312).encode()})
    deps_project.config(LOCAL_INDEX + """
use-container = true

[functions.fn]
source = "fn"
handler = "app.handler"
dependencies = ["crashy==1.0"]
""")
    deps_project.write("fn/app.py", "def handler(event, context):\n    return 1\n")
    install = install_result(deps_project.build())
    assert install.status.value == "failed"
    assert ("crashy 1.0 has no wheel for manylinux_2_34_x86_64 / cp312 and its sdist builds native "
            "code, which cannot be built for the target here: building it in "
            "public.ecr.aws/sam/build-python3.12:latest-x86_64 with docker 99.0-fake failed. "
            "Ways out:") in install.error
    assert "error: 'PyUnicode_AS_UNICODE' undeclared" in install.error.split("last lines", 1)[1]
    assert "Traceback" not in install.error


def test_a_host_wheel_failing_the_checks_is_built_again_in_the_container(
        deps_project, tmp_path, monkeypatch):
    """The order: this machine first; its wheel needs a newer glibc than the runtime's, so
    the build image is tried next, and its wheel goes through the same checks (the fake
    engine builds the same bytes here, so both reasons are given)."""
    from tests.support.wheels import build_sdist, elf_shared_object

    needs_python312()
    log = engine_on_path(tmp_path, monkeypatch)
    build_sdist(deps_project.root / "wheels", "newglibc", "1.0", wheel_tag="cp312-cp312-linux_x86_64",
                files={"newglibc/__init__.py": b"",
                       "newglibc/_speedups.cpython-312-x86_64-linux-gnu.so":
                           elf_shared_object("x86_64", ("GLIBC_2.17", "GLIBC_2.99"))})
    deps_project.config(LOCAL_INDEX + """
[functions.fn]
source = "fn"
handler = "app.handler"
dependencies = ["newglibc==1.0"]
""")
    deps_project.write("fn/app.py", "def handler(event, context):\n    return 1\n")
    install = install_result(deps_project.build())
    assert install.status.value == "failed"
    host, container = install.error.split("Ways out:")[0].split("; the wheel built in ")
    assert "the wheel built with " in host and "fails the native checks: " in host
    assert "needs glibc 2.99 but python3.12 (Amazon Linux 2023) has glibc 2.34" in host
    assert "needs glibc 2.99" in container
    assert container.startswith("public.ecr.aws/sam/build-python3.12:latest-x86_64 with docker "
                                "99.0-fake fails the native checks: ")
    assert len(calls(log)) == 1
