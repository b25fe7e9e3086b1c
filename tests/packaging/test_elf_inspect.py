"""Binary inspection: the hand-written fixtures are valid ELF (readelf agrees) and the parser
reads them, a real cc-built shared object, Mach-O and PE headers correctly."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from lambdaforge.packaging.elf import BinaryInfo, inspect_binary, looks_binary
from tests.support.elf import MACHO_BYTES, PE_BYTES, make_elf

needs_readelf = pytest.mark.skipif(shutil.which("readelf") is None, reason="readelf not installed")
needs_cc = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")


def readelf(path: Path, *flags: str) -> str:
    done = subprocess.run(["readelf", "-W", *flags, str(path)], capture_output=True, text=True, check=True)
    assert done.stderr == "", done.stderr  # readelf warns on stderr about anything malformed
    return done.stdout


@needs_readelf
def test_fixture_parses_cleanly_with_readelf(tmp_path: Path) -> None:
    so = tmp_path / "libdemo.so"
    so.write_bytes(make_elf("x86_64", ("GLIBC_2.17", "GLIBC_2.38")))
    out = readelf(so, "-h", "-d", "-V")
    assert "DYN (Shared object file)" in out
    assert "Advanced Micro Devices X86-64" in out
    assert "Shared library: [libc.so.6]" in out
    assert "Library soname: [libdemo.so]" in out
    assert "File: libc.so.6  Cnt: 2" in out
    assert "Name: GLIBC_2.17" in out and "Name: GLIBC_2.38" in out


@needs_readelf
def test_musl_fixture_has_interpreter_and_no_version_needs(tmp_path: Path) -> None:
    so = tmp_path / "libmusl.so"
    so.write_bytes(make_elf("aarch64", musl=True, soname="libmusl.so"))
    out = readelf(so, "-h", "-l", "-d", "-V")
    assert "AArch64" in out
    assert "[Requesting program interpreter: /lib/ld-musl-aarch64.so.1]" in out
    assert "Shared library: [libc.musl-aarch64.so.1]" in out
    assert "No version information found in this file." in out


def test_parser_reads_fixtures() -> None:
    assert inspect_binary(make_elf("x86_64", ("GLIBC_2.17", "GLIBC_2.38", "GLIBC_2.2.5"))) == BinaryInfo(
        "elf", "x86_64", 64, glibc_required=(2, 38), needed=("libc.so.6",)
    )
    assert inspect_binary(make_elf("aarch64")) == BinaryInfo(
        "elf", "aarch64", 64, glibc_required=(2, 17), needed=("libc.so.6",)
    )
    assert inspect_binary(make_elf("aarch64", ())) == BinaryInfo("elf", "aarch64", 64, needed=("libc.so.6",))
    assert inspect_binary(make_elf("x86_64", musl=True)) == BinaryInfo(
        "elf", "x86_64", 64, musl=True, interpreter="/lib/ld-musl-x86_64.so.1",
        needed=("libc.musl-x86_64.so.1",),
    )


def test_versions_compare_numerically_not_as_text() -> None:
    info = inspect_binary(make_elf("x86_64", ("GLIBC_2.9", "GLIBC_2.17", "GLIBC_PRIVATE")))
    assert info is not None and info.glibc_required == (2, 17)


def test_macho_pe_and_non_binaries() -> None:
    assert inspect_binary(MACHO_BYTES) == BinaryInfo("macho", "x86_64", 64)
    assert inspect_binary(PE_BYTES) == BinaryInfo("pe", "x86_64", 64)
    assert inspect_binary(b"MZ is how this text file starts") is None
    assert inspect_binary(b"\xca\xfe\xba\xbe\x00\x00\x00\x34") is None  # a Java class file
    assert inspect_binary(b"\xca\xfe\xba\xbe\x00\x00\x00\x02") == BinaryInfo("macho", "universal", 64)
    assert inspect_binary(b"print('hello')\n") is None
    assert not looks_binary(b"#!/b") and looks_binary(b"\x7fELF")


def test_truncated_elf_is_still_reported() -> None:
    info = inspect_binary(make_elf("aarch64")[:40])
    assert info == BinaryInfo("elf", "aarch64", 64)


def test_32bit_elf_is_flagged() -> None:
    # e_ident[EI_CLASS] = 1 (32-bit) and e_machine = 3 (i386); the rest is not needed.
    header = b"\x7fELF\x01\x01\x01" + b"\0" * 11 + (3).to_bytes(2, "little")
    info = inspect_binary(header)
    assert info is not None and info.machine == "i386" and info.is_32bit


def test_reads_from_path_and_from_zip_member(tmp_path: Path) -> None:
    data = make_elf("aarch64", ("GLIBC_2.28",))
    (tmp_path / "x.so").write_bytes(data)
    (tmp_path / "notes.txt").write_text("not a binary")
    assert inspect_binary(tmp_path / "x.so").glibc_required == (2, 28)  # type: ignore[union-attr]
    assert inspect_binary(tmp_path / "notes.txt") is None
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("pkg/x.so", data + b"\0" * 100_000)
    with zipfile.ZipFile(buf) as zf, zf.open("pkg/x.so") as member:
        assert inspect_binary(member) == inspect_binary(data)


def test_large_file_is_not_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "big.so"
    path.write_bytes(make_elf("x86_64", ("GLIBC_2.34",)) + b"\0" * (8 * 1024 * 1024))

    class CountingFile(io.FileIO):
        read_bytes = 0

        def read(self, size: int = -1) -> bytes:  # type: ignore[override]
            data = super().read(size)
            CountingFile.read_bytes += len(data)
            return data

    with CountingFile(path) as f:
        assert inspect_binary(f).glibc_required == (2, 34)  # type: ignore[union-attr]
    assert CountingFile.read_bytes <= 300 * 1024


@needs_cc
@needs_readelf
def test_real_shared_object_built_with_cc(tmp_path: Path) -> None:
    src = tmp_path / "speed.c"
    src.write_text("#include <math.h>\ndouble speed(double x) { return pow(x, 2.5); }\n")
    so = tmp_path / "_speed.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(so), str(src), "-lm"], check=True, capture_output=True)
    info = inspect_binary(so)
    assert info is not None and info.format == "elf" and info.machine == "x86_64" and not info.musl
    # The parser must agree with readelf on the highest GLIBC_x.y needed.
    versions = [
        tuple(int(p) for p in word[len("GLIBC_"):].split(".")[:2])
        for word in readelf(so, "-V").split()
        if word.startswith("GLIBC_") and word[6:7].isdigit()
    ]
    assert info.glibc_required == (max(versions) if versions else None)
    assert "libm.so.6" in info.needed


def test_libstdcxx_needs_are_read_from_the_system_library_only() -> None:
    info = inspect_binary(make_elf("x86_64", ("GLIBC_2.17",), libstdcxx_versions=(
        "GLIBCXX_3.4", "GLIBCXX_3.4.9", "GLIBCXX_3.4.21", "CXXABI_1.3.13", "CXXABI_1.3", "CXXABI_TM_1")))
    assert info is not None
    assert (info.glibc_required, info.glibcxx_required, info.cxxabi_required) == ((2, 17), (3, 4, 21), (1, 3, 13))
    assert info.needed == ("libc.so.6", "libstdc++.so.6")
    # a private, renamed copy (auditwheel's libstdc++-<hash>.so.6) meets its own needs
    private = inspect_binary(make_elf("x86_64", libstdcxx_versions=("GLIBCXX_3.4.33",),
                                      libstdcxx="libstdc++-1a2b3c4d.so.6.0.33"))
    assert private is not None and private.glibcxx_required is None


@needs_readelf
def test_libstdcxx_fixture_parses_cleanly_with_readelf(tmp_path: Path) -> None:
    so = tmp_path / "libcxx.so"
    so.write_bytes(make_elf("aarch64", ("GLIBC_2.17",), libstdcxx_versions=("GLIBCXX_3.4.30", "CXXABI_1.3.13")))
    out = readelf(so, "-d", "-V")
    assert "Shared library: [libstdc++.so.6]" in out
    assert "File: libstdc++.so.6  Cnt: 2" in out and "Name: GLIBCXX_3.4.30" in out
