"""Native-binary checks on real zips: each problem's full message."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdaforge.packaging.archive import BytesEntry, write_zip
from lambdaforge.packaging.checks import BinaryProblem, check_native_binaries, scan_binaries
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
