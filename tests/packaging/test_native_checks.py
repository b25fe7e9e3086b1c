"""Native-binary checks on real zips: each problem's full message."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from lambdaforge.packaging.archive import BytesEntry, write_zip
from lambdaforge.packaging.elf import inspect_binary
from lambdaforge.packaging.native import BinaryProblem, Provenance, check_native_binaries, scan_binaries
from tests.support.elf import MACHO_BYTES, PE_BYTES, make_elf


def package(tmp_path: Path, members: dict[str, bytes]) -> Path:
    zip_path = tmp_path / "fn.zip"
    write_zip(zip_path, [BytesEntry(name, data) for name, data in members.items()])
    return zip_path


def test_clean_package_has_no_problems(tmp_path: Path) -> None:
    zip_path = package(tmp_path, {
        "app.py": b"import foo\n",
        "foo/_speed.so": make_elf("aarch64", ("GLIBC_2.17", "GLIBC_2.34")),
        "foo/data.bin": b"\x7fEL",  # too short to be anything
        "foo/Sample.class": b"\xca\xfe\xba\xbe\x00\x00\x00\x34" + b"\0" * 20,
    })
    assert check_native_binaries(zip_path, "arm64", "python3.12") == []
    assert [p for p, _ in scan_binaries(zip_path)] == ["foo/_speed.so"]


def test_wrong_architecture(tmp_path: Path) -> None:
    zip_path = package(tmp_path, {"python/foo/_speed.so": make_elf("x86_64")})
    problems = check_native_binaries(
        zip_path, "arm64", "python3.12", {"python/foo/_speed.so": "foo 1.0"}, artifact="layer"
    )
    assert problems == [BinaryProblem(
        "python/foo/_speed.so", "architecture", "foo 1.0",
        "python/foo/_speed.so: built for x86_64 but the layer is arm64 (from foo 1.0); use a build "
        "for aarch64 (a wheel tagged manylinux_*_aarch64) or set architecture = \"x86_64\"",
    )]
    other_way = check_native_binaries(package(tmp_path, {"bar.so": make_elf("aarch64")}), "x86_64", "python3.12")
    assert [str(p) for p in other_way] == [
        "bar.so: built for aarch64 but the function is x86_64; use a build for x86_64 "
        "(a wheel tagged manylinux_*_x86_64) or set architecture = \"arm64\"",
    ]


def test_32bit_binary(tmp_path: Path) -> None:
    elf32 = b"\x7fELF\x01\x01\x01" + b"\0" * 11 + (3).to_bytes(2, "little") + b"\0" * 40
    problems = check_native_binaries(package(tmp_path, {"bin/tool": elf32}), "x86_64", "python3.12", {})
    assert [str(p) for p in problems] == [
        "bin/tool: built for i386 (32-bit) but the function is x86_64; use a build for x86_64 "
        "(a wheel tagged manylinux_*_x86_64)",
    ]


@pytest.mark.parametrize(
    ("runtime", "message"),
    [
        ("python3.12", "foo/_speed.so: needs glibc 2.38 but python3.12 (Amazon Linux 2023) has glibc 2.34 "
         "(from foo 1.0); use a version with a wheel tagged manylinux_2_34 or older, or build it on Amazon Linux 2023"),
        ("python3.11", "foo/_speed.so: needs glibc 2.38 but python3.11 (Amazon Linux 2) has glibc 2.26 "
         "(from foo 1.0); use a version with a wheel tagged manylinux_2_26 or older, or build it on Amazon Linux 2"),
    ],
)
def test_glibc_too_new(tmp_path: Path, runtime: str, message: str) -> None:
    zip_path = package(tmp_path, {"foo/_speed.so": make_elf("x86_64", ("GLIBC_2.17", "GLIBC_2.38"))})
    problems = check_native_binaries(zip_path, "x86_64", runtime, {"foo/_speed.so": "foo 1.0"})
    assert [(p.kind, p.message) for p in problems] == [("glibc", message)]


def test_glibc_within_the_runtime_is_fine(tmp_path: Path) -> None:
    zip_path = package(tmp_path, {"a.so": make_elf("x86_64", ("GLIBC_2.26",)), "b.so": make_elf("x86_64", ("GLIBC_2.34",))})
    assert check_native_binaries(zip_path, "x86_64", "python3.12") == []
    assert [p.path for p in check_native_binaries(zip_path, "x86_64", "python3.11")] == ["b.so"]


def test_musl_macho_and_pe(tmp_path: Path) -> None:
    zip_path = package(tmp_path, {
        "m/_c.so": make_elf("x86_64", musl=True),
        "mac/_c.dylib": MACHO_BYTES,
        "win/_c.pyd": PE_BYTES,
    })
    owners = {"m/_c.so": "m 2.0", "mac/_c.dylib": "mac 0.1", "win/_c.pyd": "win 3"}
    problems = check_native_binaries(zip_path, "x86_64", "python3.13", owners)
    assert [(p.path, p.kind, p.owner) for p in problems] == [
        ("m/_c.so", "musl", "m 2.0"), ("mac/_c.dylib", "macho", "mac 0.1"), ("win/_c.pyd", "pe", "win 3"),
    ]
    assert [p.message for p in problems] == [
        "m/_c.so: linked against musl libc (a musllinux or Alpine build), but Lambda runtimes use glibc "
        "(from m 2.0); use a manylinux wheel instead",
        "mac/_c.dylib: is a macOS (Mach-O) binary, which Lambda (Linux) cannot load (from mac 0.1); "
        "install Linux wheels (manylinux, x86_64) instead of ones built for macOS",
        "win/_c.pyd: is a Windows (PE) binary, which Lambda (Linux) cannot load (from win 3); "
        "install Linux wheels (manylinux, x86_64) instead of ones built for Windows",
    ]


# --------------------------------------------------------------------------- libstdc++


@pytest.mark.parametrize(
    ("runtime", "fails"),
    [("python3.11", True), ("provided.al2", True), ("python3.12", False), ("provided.al2023", False)],
)
def test_glibcxx_is_checked_against_the_runtimes_libstdcxx(tmp_path: Path, runtime: str, fails: bool) -> None:
    so = make_elf("x86_64", ("GLIBC_2.17",), libstdcxx_versions=("GLIBCXX_3.4.29", "CXXABI_1.3.9"))
    problems = check_native_binaries(package(tmp_path, {"fast/_core.so": so}), "x86_64", runtime)
    assert [p.kind for p in problems] == (["libstdc++"] if fails else [])


def test_libstdcxx_messages_name_file_owner_versions_and_the_way_out(tmp_path: Path) -> None:
    zip_path = package(tmp_path, {
        "fast/_core.so": make_elf("x86_64", libstdcxx_versions=("GLIBCXX_3.4.26",)),
        "fast/_new.so": make_elf("x86_64", libstdcxx_versions=("GLIBCXX_3.4.30", "CXXABI_1.3.14")),
    })
    owners = {"fast/_core.so": "fast 2.0", "fast/_new.so": "fast 2.0"}
    on_al2 = check_native_binaries(zip_path, "x86_64", "python3.11", owners)
    assert on_al2[0].message == (
        "fast/_core.so: needs libstdc++ GLIBCXX_3.4.26 but python3.11 (Amazon Linux 2) has "
        "GLIBCXX_3.4.24 at most (GCC 7.3) (from fast 2.0); use a version with a wheel tagged "
        "manylinux_2_26 or older, build it on Amazon Linux 2 or link libstdc++ statically "
        "(-static-libstdc++), or move to python3.12 (Amazon Linux 2023), whose libstdc++ has it"
    )
    on_al2023 = check_native_binaries(zip_path, "x86_64", "python3.13", owners)
    assert [str(p) for p in on_al2023] == [
        "fast/_new.so: needs libstdc++ GLIBCXX_3.4.30 and CXXABI_1.3.14 but python3.13 (Amazon "
        "Linux 2023) has GLIBCXX_3.4.29 and CXXABI_1.3.13 at most (GCC 11) (from fast 2.0); use a "
        "version with a wheel tagged manylinux_2_34 or older, build it on Amazon Linux 2023 or "
        "link libstdc++ statically (-static-libstdc++)",
    ]


def test_cxxabi_alone_and_a_private_libstdcxx_copy(tmp_path: Path) -> None:
    zip_path = package(tmp_path, {
        "a.so": make_elf("x86_64", libstdcxx_versions=("GLIBCXX_3.4.20", "CXXABI_1.3.12")),
        # auditwheel-style private copy: its needs are met by the copy, not the runtime
        "b.so": make_elf("x86_64", libstdcxx_versions=("GLIBCXX_3.4.33",),
                         libstdcxx="libstdc++-1a2b3c4d.so.6.0.33"),
    })
    problems = check_native_binaries(zip_path, "x86_64", "provided.al2")
    assert [(p.path, p.kind) for p in problems] == [("a.so", "libstdc++")]
    assert "needs libstdc++ CXXABI_1.3.12 but provided.al2 (Amazon Linux 2) has CXXABI_1.3.11" in problems[0].message
    assert problems[0].message.endswith("or move to provided.al2023 (Amazon Linux 2023), whose libstdc++ has it")


needs_gxx = pytest.mark.skipif(shutil.which("g++") is None or shutil.which("readelf") is None,
                               reason="needs g++ and readelf")


@needs_gxx
def test_real_cxx_extension_needing_gcc11s_libstdcxx(tmp_path: Path) -> None:
    """std::to_chars(double) came with GCC 11 (GLIBCXX_3.4.29): too new for Amazon Linux 2's
    libstdc++, fine on Amazon Linux 2023's, whatever newer g++ builds it."""
    src = tmp_path / "fmt.cpp"
    src.write_text(
        "#include <charconv>\n"
        'extern "C" int format_double(char* out, int size, double value) {\n'
        "    auto r = std::to_chars(out, out + size, value);\n"
        "    return r.ec == std::errc() ? int(r.ptr - out) : -1;\n"
        "}\n"
    )
    so = tmp_path / "_fmt.cpython-311-x86_64-linux-gnu.so"
    subprocess.run(["g++", "-std=c++17", "-shared", "-fPIC", "-O2", "-o", str(so), str(src)],
                   check=True, capture_output=True)
    versions = subprocess.run(["readelf", "-W", "-V", str(so)], capture_output=True, text=True,
                              check=True).stdout
    assert "File: libstdc++.so.6" in versions and "Name: GLIBCXX_3.4.29" in versions
    info = inspect_binary(so)
    assert info is not None and info.glibcxx_required == (3, 4, 29)

    zip_path = package(tmp_path, {"fmt/_fmt.cpython-311-x86_64-linux-gnu.so": so.read_bytes()})
    problems = check_native_binaries(zip_path, "x86_64", "python3.11", {
        "fmt/_fmt.cpython-311-x86_64-linux-gnu.so": "fmt 1.0"})
    assert [(p.kind, p.owner) for p in problems] == [("libstdc++", "fmt 1.0")]
    assert "needs libstdc++ GLIBCXX_3.4.29 but python3.11 (Amazon Linux 2) has GLIBCXX_3.4.24" in problems[0].message
    assert check_native_binaries(zip_path, "x86_64", "provided.al2")[0].kind == "libstdc++"
    assert check_native_binaries(zip_path, "x86_64", "provided.al2023") == []


# --------------------------------------------------------------------------- CPython ABI


def test_extension_for_another_python_names_file_and_distribution(tmp_path: Path) -> None:
    member = "numpy/_core/_multiarray_umath.cpython-312-x86_64-linux-gnu.so"
    zip_path = package(tmp_path, {member: make_elf("x86_64")})
    problems = check_native_binaries(zip_path, "x86_64", "python3.13", {member: "numpy 2.1.0"})
    assert problems == [BinaryProblem(member, "python-abi", "numpy 2.1.0", (
        f"{member}: is an extension module for CPython 3.12 (cp312), which python3.13 cannot "
        "import (from numpy 2.1.0); rebuild for python3.13: pin a version with cp313 wheels, "
        'or set runtime = "python3.12"'
    ))]
    # the same file is right for python3.12; an own (unowned) file gets the build advice
    assert check_native_binaries(zip_path, "x86_64", "python3.12") == []
    assert str(check_native_binaries(zip_path, "x86_64", "python3.14")[0]) == (
        f"{member}: is an extension module for CPython 3.12 (cp312), which python3.14 cannot "
        'import; rebuild for python3.14: build it with Python 3.14, or set runtime = "python3.12"'
    )


def test_free_threaded_pypy_and_deprecated_alternatives(tmp_path: Path) -> None:
    zip_path = package(tmp_path, {
        "ft/_x.cpython-313t-x86_64-linux-gnu.so": make_elf("x86_64"),
        "pp/_x.pypy310-pp73-x86_64-linux-gnu.so": make_elf("x86_64"),
        "old/_x.cpython-310-x86_64-linux-gnu.so": make_elf("x86_64"),
    })
    messages = [str(p) for p in check_native_binaries(zip_path, "x86_64", "python3.13")]
    assert messages == [
        "ft/_x.cpython-313t-x86_64-linux-gnu.so: is an extension module for a free-threaded build "
        "of CPython 3.13 (cp313t), which Lambda's python3.13 is not, so it cannot import it; "
        "install the regular cp313 build",
        # python3.10 is deprecated: not offered as a way out
        "old/_x.cpython-310-x86_64-linux-gnu.so: is an extension module for CPython 3.10 (cp310), "
        "which python3.13 cannot import; rebuild for python3.13: build it with Python 3.13",
        "pp/_x.pypy310-pp73-x86_64-linux-gnu.so: is an extension module for PyPy (pypy310-pp73), "
        "which python3.13 (CPython) cannot import; install the CPython build (cp313 wheels)",
    ]  # in zip order (sorted)


def test_machine_in_the_extension_name_must_match_the_architecture(tmp_path: Path) -> None:
    # An x86_64 object misnamed for aarch64: CPython on x86_64 never looks for that name.
    member = "fast/_c.cpython-312-aarch64-linux-gnu.so"
    zip_path = package(tmp_path, {member: make_elf("x86_64")})
    problems = check_native_binaries(zip_path, "x86_64", "python3.12", {member: "fast 1.0"})
    assert [(p.kind, p.message) for p in problems] == [("python-platform", (
        f"{member}: is named for aarch64-linux-gnu, but python3.12 on x86_64 imports only "
        "*.cpython-312-x86_64-linux-gnu.so (and *.abi3.so) extension modules, so it is never "
        "found (from fast 1.0); install the build for x86_64 (a wheel tagged manylinux_*_x86_64)"
    ))]
    # a real aarch64 object is the more fundamental problem: one message per file
    arm = package(tmp_path, {member: make_elf("aarch64")})
    assert [p.kind for p in check_native_binaries(arm, "x86_64", "python3.12")] == ["architecture"]
    assert check_native_binaries(arm, "arm64", "python3.12") == []


def test_stable_abi_module_needs_its_wheels_minimum_at_most_the_runtime(tmp_path: Path) -> None:
    wheel = "fast-1.0.dist-info/WHEEL"
    zip_path = package(tmp_path, {
        "fast/_c.abi3.so": make_elf("x86_64"),
        wheel: b"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp314-abi3-manylinux_2_17_x86_64\n",
        "old/_c.abi3.so": make_elf("x86_64"),
        "old-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nTag: cp39-abi3-manylinux_2_17_x86_64\n",
        "plain/_c.so": make_elf("x86_64"),  # a name that says nothing: nothing to check
    })
    owners = {"fast/_c.abi3.so": "fast 1.0", "old/_c.abi3.so": "old 1.0"}
    wheels = {"fast/_c.abi3.so": wheel, "old/_c.abi3.so": "old-1.0.dist-info/WHEEL"}
    problems = check_native_binaries(zip_path, "x86_64", "python3.13", owners, wheels=wheels)
    assert [str(p) for p in problems] == [
        "fast/_c.abi3.so: uses CPython's stable ABI from 3.14 on (its wheel is tagged "
        "cp314-abi3), newer than python3.13 (from fast 1.0); pin a version whose wheel supports "
        '3.13, or set runtime = "python3.14"',
    ]
    assert check_native_binaries(zip_path, "x86_64", "python3.14", owners, wheels=wheels) == []
    # without its wheel the minimum is unknown, and an abi3 name alone is fine
    assert check_native_binaries(zip_path, "x86_64", "python3.13") == []


def test_provenance_is_computed_only_when_needed(tmp_path: Path) -> None:
    calls: list[str] = []

    def provenance() -> Provenance:
        calls.append("called")
        return Provenance({"bad/_c.cpython-311-x86_64-linux-gnu.so": "bad 1.0"})

    clean = package(tmp_path, {"ok/_c.cpython-312-x86_64-linux-gnu.so": make_elf("x86_64")})
    assert check_native_binaries(clean, "x86_64", "python3.12", provenance=provenance) == []
    assert calls == []
    bad = package(tmp_path, {"bad/_c.cpython-311-x86_64-linux-gnu.so": make_elf("x86_64")})
    problems = check_native_binaries(bad, "x86_64", "python3.12", provenance=provenance)
    assert [p.owner for p in problems] == ["bad 1.0"] and calls == ["called"]


def test_extension_names_matter_only_on_python_runtimes(tmp_path: Path) -> None:
    zip_path = package(tmp_path, {"lib/_c.cpython-39-x86_64-linux-gnu.so": make_elf("x86_64")})
    assert check_native_binaries(zip_path, "x86_64", "provided.al2023") == []
    assert check_native_binaries(zip_path, "x86_64", "nodejs22.x") == []


def test_node_messages_give_npm_advice_not_python_wheels(tmp_path: Path) -> None:
    """The same problems in a Node.js function say what a Node user can do: no wheels."""
    m = "node_modules/addon/"
    zip_path = package(tmp_path, {
        f"{m}mac.node": MACHO_BYTES,
        f"{m}arm.node": make_elf("aarch64"),
        f"{m}musl.node": make_elf("x86_64", musl=True),
        f"{m}new.node": make_elf("x86_64", ("GLIBC_2.17", "GLIBC_2.38")),
        f"{m}cxx.node": make_elf("x86_64", libstdcxx_versions=("GLIBCXX_3.4.33",)),
    })
    problems = check_native_binaries(zip_path, "x86_64", "nodejs22.x",
                                     {f"{m}arm.node": "addon 1.0.0"})
    assert sorted(p.message for p in problems) == [
        f"{m}arm.node: built for aarch64 but the function is x86_64 (from addon 1.0.0); use a "
        "build for linux-x64 (the package's prebuild or platform package for it; one an install "
        'script compiled is for this machine) or set architecture = "arm64"',
        f"{m}cxx.node: needs libstdc++ GLIBCXX_3.4.33 but nodejs22.x (Amazon Linux 2023) has "
        "GLIBCXX_3.4.29 at most (GCC 11); use a version whose prebuilt binary is built for glibc "
        "2.34 or older, build it on Amazon Linux 2023 or link libstdc++ statically "
        "(-static-libstdc++)",
        f"{m}mac.node: is a macOS (Mach-O) binary, which Lambda (Linux) cannot load; use its "
        "Linux build (linux-x64: the package's prebuild or platform package for it) instead of "
        "the one built for macOS",
        f"{m}musl.node: linked against musl libc (a musllinux or Alpine build), but Lambda "
        "runtimes use glibc; use its glibc build (linux-x64-gnu, not -musl)",
        f"{m}new.node: needs glibc 2.38 but nodejs22.x (Amazon Linux 2023) has glibc 2.34; use a "
        "version whose prebuilt binary is built for glibc 2.34 or older, or build it on Amazon "
        "Linux 2023",
    ]
    assert not any("wheel" in p.message or "manylinux" in p.message for p in problems)
