"""Native checks end to end: real uv installs from a local wheel folder, real zips, real checks.

A C++ extension built here with g++ needs GCC 11's libstdc++ (too new for Amazon Linux 2); an
extension module built for another Python, or named for another machine, fails its check
naming the file and the distribution; a stable-ABI wheel passes.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.e2e.conftest import LOCAL_INDEX
from tests.support.elf import make_elf
from tests.support.wheels import build_wheel

HANDLER = "def handler(event, context):\n    return 'ok'\n"
CXX_SOURCE = """\
#include <charconv>
extern "C" int format_double(char* out, int size, double value) {
    auto r = std::to_chars(out, out + size, value);  // GCC 11's libstdc++: GLIBCXX_3.4.29
    return r.ec == std::errc() ? int(r.ptr - out) : -1;
}
"""


def function(runtime: str, requirements: str) -> str:
    return LOCAL_INDEX + f"""
[functions.fn]
source = "fn"
handler = "app.handler"
runtime = "{runtime}"
dependencies = {json.dumps(requirements.split())}
"""


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")
@pytest.mark.parametrize("runtime, fails", [("python3.11", True), ("python3.12", False)])
def test_cxx_extension_too_new_for_amazon_linux_2(deps_project, tmp_path, runtime, fails):
    src = tmp_path / "fmt.cpp"
    src.write_text(CXX_SOURCE)
    so = tmp_path / "_fmt.so"
    subprocess.run(["g++", "-std=c++17", "-shared", "-fPIC", "-O2", "-o", str(so), str(src)],
                   check=True, capture_output=True)
    build_wheel(deps_project.root / "wheels", "cxxfmt", "1.0", tag="py3-none-manylinux_2_17_x86_64",
                files={"cxxfmt/__init__.py": b"", "cxxfmt/_fmt.so": so.read_bytes()})
    deps_project.config(function(runtime, "cxxfmt==1.0"))
    deps_project.write("fn/app.py", HANDLER)
    out = deps_project.build()
    check = out.results["check:function:fn"]
    if not fails:
        assert out.ok, [r.error for r in out.failures()]
        return
    assert check.status.value == "failed"
    assert check.error == (
        "cxxfmt/_fmt.so: needs libstdc++ GLIBCXX_3.4.29 but python3.11 (Amazon Linux 2) has "
        "GLIBCXX_3.4.24 at most (GCC 7.3) (from cxxfmt 1.0); use a version with a wheel tagged "
        "manylinux_2_26 or older, build it on Amazon Linux 2 or link libstdc++ statically "
        "(-static-libstdc++), or move to python3.12 (Amazon Linux 2023), whose libstdc++ has it"
    )


def test_extension_for_another_python_fails_naming_file_and_distribution(deps_project):
    # A wheel that claims to be pure but carries a module built for CPython 3.12.
    member = "misbuilt/_core.cpython-312-x86_64-linux-gnu.so"
    build_wheel(deps_project.root / "wheels", "misbuilt", "1.0",
                files={"misbuilt/__init__.py": b"", member: make_elf("x86_64")})
    deps_project.config(function("python3.13", "misbuilt==1.0"))
    deps_project.write("fn/app.py", HANDLER)
    out = deps_project.build()
    check = out.results["check:function:fn"]
    assert check.status.value == "failed"
    assert check.error == (
        f"{member}: is an extension module for CPython 3.12 (cp312), which python3.13 cannot "
        "import (from misbuilt 1.0); rebuild for python3.13: pin a version with cp313 wheels, "
        'or set runtime = "python3.12"'
    )


def test_a_layer_built_for_another_python_fails_the_functions_check(deps_project):
    """The layer's own check judges it for its runtime (3.12: fine); a python3.13 function
    importing it gets ``No module named …`` on Lambda. Before, only validate's "may not
    import" warning said anything and the function's check passed."""
    member = "py312only/_core.cpython-312-x86_64-linux-gnu.so"
    build_wheel(deps_project.root / "wheels", "py312only", "1.0", tag="cp312-cp312-manylinux_2_17_x86_64",
                files={"py312only/__init__.py": b"", member: make_elf("x86_64")})
    deps_project.config(LOCAL_INDEX + """
[layers.deps]
source = "layer"
dependencies = ["py312only==1.0"]

[functions.new]
source = "fn"
handler = "app.handler"
runtime = "python3.13"
layers = ["deps"]

[functions.same]
source = "fn"
handler = "app.handler"
layers = ["deps"]
""")
    deps_project.write("fn/app.py", HANDLER)
    deps_project.write("layer/.keep", "")
    out = deps_project.build()
    assert out.results["check:layer:deps"].status.value == "built"
    assert out.results["check:function:same"].status.value == "built"  # python3.12, as the layer
    check = out.results["check:function:new"]
    assert check.status.value == "failed"
    assert check.error.startswith(
        "layer 'deps', built for python3.12 x86_64, cannot load in this python3.13 x86_64 "
        f"function: python/{member}: is an extension module for CPython 3.12 (cp312), which "
        "python3.13 cannot import (from py312only 1.0)"), check.error
    assert check.error.endswith("(build the layer for python3.13 x86_64, or give the function "
                                "a layer of its own that is)")


def test_stable_abi_wheel_passes_and_a_misnamed_machine_is_caught(deps_project):
    # `native` is a cp39-abi3 wheel: its WHEEL tags are read and 3.9 <= 3.13.
    deps_project.config(function("python3.13", "native==1.0"))
    deps_project.write("fn/app.py", HANDLER)
    out = deps_project.build()
    assert out.ok, [r.error for r in out.failures()]

    (deps_project.root / "fn/_own.cpython-313-aarch64-linux-gnu.so").write_bytes(make_elf("x86_64"))
    out = deps_project.build()
    check = out.results["check:function:fn"]
    assert check.status.value == "failed"
    assert check.error.startswith(
        "_own.cpython-313-aarch64-linux-gnu.so: is named for aarch64-linux-gnu, but python3.13 "
        "on x86_64 imports only *.cpython-313-x86_64-linux-gnu.so")
