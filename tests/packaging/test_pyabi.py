"""Extension module names and wheel tags: what CPython build a compiled module is for."""

from __future__ import annotations

import pytest

from lambdaforge.packaging.pyabi import ExtensionName, parse_extension_name, platform_triplet, stable_abi_minimum


@pytest.mark.parametrize(("path", "expected"), [
    ("np/_core.cpython-312-x86_64-linux-gnu.so",
     ExtensionName("cpython", (3, 12), "", "x86_64-linux-gnu", False, "cpython-312")),
    ("ft/_x.cpython-313t-aarch64-linux-gnu.so",
     ExtensionName("cpython", (3, 13), "t", "aarch64-linux-gnu", False, "cpython-313t")),
    ("old/_x.cpython-37m-x86_64-linux-gnu.so",
     ExtensionName("cpython", (3, 7), "m", "x86_64-linux-gnu", False, "cpython-37m")),
    ("mac/_x.cpython-312-darwin.so", ExtensionName("cpython", (3, 12), "", "darwin", False, "cpython-312")),
    ("musl/_x.cpython-312-x86_64-linux-musl.so",
     ExtensionName("cpython", (3, 12), "", "x86_64-linux-musl", False, "cpython-312")),
    ("c/_rust.abi3.so", ExtensionName("cpython", None, "", None, True, "abi3")),
    ("pp/_x.pypy310-pp73-x86_64-linux-gnu.so",
     ExtensionName("pypy", (3, 10), "", "x86_64-linux-gnu", False, "pypy310-pp73")),
    ("plain/_speedups.so", None),
    ("lib/libfoo.so.1", None),
    ("dir.cpython-312-x86_64-linux-gnu.so/inner.txt", None),
])
def test_parse_extension_name(path: str, expected: ExtensionName | None) -> None:
    assert parse_extension_name(path) == expected


def test_platform_triplet_is_glibc_linux() -> None:
    assert [platform_triplet(m) for m in ("x86_64", "aarch64")] == ["x86_64-linux-gnu", "aarch64-linux-gnu"]


@pytest.mark.parametrize(("text", "minimum"), [
    ("Wheel-Version: 1.0\nTag: cp39-abi3-manylinux_2_17_x86_64\nTag: cp39-abi3-manylinux2014_x86_64\n", (3, 9)),
    ("Tag: cp38.cp37-abi3-manylinux_2_28_aarch64\n", (3, 7)),  # a compressed tag set
    ("tag:  cp311-abi3-linux_x86_64\n", (3, 11)),
    ("Tag: cp312-cp312-manylinux_2_17_x86_64\n", None),  # version-specific, not the stable ABI
    ("Tag: py3-none-any\n", None),
    ("Root-Is-Purelib: true\n", None),
])
def test_stable_abi_minimum_from_wheel_tags(text: str, minimum: tuple[int, int] | None) -> None:
    assert stable_abi_minimum(text) == minimum
