"""Import smoke test with a real python3.12 (pyenv) importing the handler in isolation."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from lambdaforge.builders.python.smoke import SmokeStatus, find_interpreter, smoke_test
from lambdaforge.builders.python.target import PythonTarget
from lambdaforge.runner import Runner

HOST_ARCH = "arm64" if os.uname().machine in ("aarch64", "arm64") else "x86_64"
OTHER_ARCH = "x86_64" if HOST_ARCH == "arm64" else "arm64"
TARGET = PythonTarget.of("python3.12", HOST_ARCH)


def make_zip(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in sorted(files.items()):
            zf.writestr(name, text)
    return path


@pytest.fixture(scope="module")
def python312() -> str:
    found, reason = find_interpreter(TARGET, Runner())
    if found is None:
        pytest.skip(reason)
    return found


def test_handler_importing_a_layer_module_passes(tmp_path: Path, python312: str) -> None:
    fn = make_zip(tmp_path / "fn.zip", {"app.py": "import shared.util\ndef handler(e, c):\n    return 1\n"})
    layer = make_zip(tmp_path / "layer.zip", {"python/shared/__init__.py": "", "python/shared/util.py": "X = 1\n"})
    result = smoke_test("app.handler", fn, [layer], TARGET, Runner(), scratch=tmp_path)
    assert result.status is SmokeStatus.OK, result.message
    assert result.import_ms is not None and result.import_ms >= 0
    assert result.interpreter == python312


def test_missing_dependency_fails_with_the_real_python_error(tmp_path: Path, python312: str) -> None:
    fn = make_zip(tmp_path / "fn.zip", {"app.py": "import requests\ndef handler(e, c):\n    return 1\n"})
    result = smoke_test("app.handler", fn, [], TARGET, Runner(), scratch=tmp_path)
    assert result.status is SmokeStatus.FAILED
    first, *rest = result.message.splitlines()
    assert first == "Unable to import module 'app': No module named 'requests'"
    assert rest[-1] == "ModuleNotFoundError: No module named 'requests'"


def test_host_site_packages_are_invisible(tmp_path: Path, python312: str) -> None:
    # pip is in every host site-packages; Lambda has no such thing next to the handler.
    fn = make_zip(tmp_path / "fn.zip", {"app.py": "import pip\ndef handler(e, c):\n    return 1\n"})
    result = smoke_test("app.handler", fn, [], TARGET, Runner(), scratch=tmp_path)
    assert result.message.splitlines()[0] == "Unable to import module 'app': No module named 'pip'"


def test_network_is_blocked_and_missing_handler_is_reported(tmp_path: Path, python312: str) -> None:
    fn = make_zip(
        tmp_path / "fn.zip",
        {"app.py": "import socket\nsocket.create_connection(('example.com', 443))\n", "other.py": "x = 1\n"},
    )
    result = smoke_test("app.handler", fn, [], TARGET, Runner(), scratch=tmp_path)
    assert result.message.splitlines()[0] == (
        "Unable to import module 'app': network access is blocked during the lambdaforge import smoke test"
    )
    result = smoke_test("other.handler", fn, [], TARGET, Runner(), scratch=tmp_path)
    assert (result.status, result.message) == (SmokeStatus.FAILED, "Handler 'handler' missing on module 'other'")


def test_no_interpreter_for_the_architecture_skips_with_the_reason(tmp_path: Path, python312: str) -> None:
    fn = make_zip(tmp_path / "fn.zip", {"app.py": "def handler(e, c): pass\n"})
    other = PythonTarget.of("python3.12", OTHER_ARCH)
    result = smoke_test("app.handler", fn, [], other, Runner(), scratch=tmp_path)
    assert result.status is SmokeStatus.SKIPPED
    assert result.message.startswith(f"no Python 3.12 interpreter for {other.machine} Linux: ")
    assert f"runs on {TARGET.machine}, the function on {other.machine}" in result.message


def test_pth_files_are_processed_as_lambdas_bootstrap_does(tmp_path: Path, python312: str) -> None:
    # Lambda's /var/runtime/bootstrap.py calls site.addsitedir() on the task root, then on
    # the layers' python/lib/python3.X/site-packages and python/: a package that needs its
    # .pth (a path line, an import line) imports there, so it must import here too.
    fn = make_zip(tmp_path / "fn.zip", {
        "app.py": "import fromtask, fromlayer, builtins\n"
                  "assert builtins.PTH_HOOK == 'ran'\n"
                  "def handler(e, c):\n    return 1\n",
        "pthpkg.pth": "# a comment\npthpkg_lib\nimport builtins; builtins.PTH_HOOK = 'ran'\n",
        "pthpkg_lib/fromtask.py": "X = 1\n",
    })
    layer = make_zip(tmp_path / "layer.zip", {
        "python/lib/python3.12/site-packages/extra.pth": "extra_lib\n",
        "python/lib/python3.12/site-packages/extra_lib/fromlayer.py": "Y = 2\n",
    })
    result = smoke_test("app.handler", fn, [layer], TARGET, Runner(), scratch=tmp_path)
    assert result.status is SmokeStatus.OK, result.message
    # A path is a path on Lambda: /opt/... is the layers' (mapped to the sandbox's /opt); one
    # of this machine's (an old `setup.py develop` of a local library) is not there.
    host_lib = tmp_path / "host-lib"
    host_lib.mkdir()
    (host_lib / "onlyhere.py").write_text("Z = 3\n")
    fn2 = make_zip(tmp_path / "fn2.zip", {
        "app.py": "import fromopt\ndef handler(e, c):\n    return 1\n",
        "paths.pth": "/opt/extra_lib\n",
        "dev.pth": f"{host_lib}\n",
    })
    layer2 = make_zip(tmp_path / "layer2.zip", {"extra_lib/fromopt.py": "Y = 2\n"})
    result = smoke_test("app.handler", fn2, [layer2], TARGET, Runner(), scratch=tmp_path)
    assert result.status is SmokeStatus.OK, result.message
    fn3 = make_zip(tmp_path / "fn3.zip", {"app.py": "import onlyhere\ndef handler(e, c):\n    return 1\n",
                                          "dev.pth": f"{host_lib}\n"})
    result = smoke_test("app.handler", fn3, [], TARGET, Runner(), scratch=tmp_path)
    assert result.message.splitlines()[0] == "Unable to import module 'app': No module named 'onlyhere'"
    # Without the .pth the directory is not on sys.path: the import fails as on Lambda.
    bare = make_zip(tmp_path / "bare.zip", {"app.py": "import fromtask\ndef handler(e, c):\n    return 1\n",
                                            "pthpkg_lib/fromtask.py": "X = 1\n"})
    result = smoke_test("app.handler", bare, [], TARGET, Runner(), scratch=tmp_path)
    assert result.message.splitlines()[0] == "Unable to import module 'app': No module named 'fromtask'"
