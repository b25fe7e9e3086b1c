"""CPython extension modules: which interpreter a compiled module's file name says it is for.

CPython imports an extension module only when its file name ends in one of the running
interpreter's ``importlib.machinery.EXTENSION_SUFFIXES``: for Lambda's python3.13 on x86_64
those are ``.cpython-313-x86_64-linux-gnu.so``, ``.abi3.so`` and ``.so``. A module named for
another version, a free-threaded (``cp313t``) or debug build, PyPy or another machine is
simply not found (``No module named …``). The name tells all of it, so these checks read
nothing. The exception is the stable ABI: an ``.abi3.so`` names no version, the wheel it came
from does (``Tag: cp39-abi3-manylinux_2_17_x86_64`` in its ``WHEEL`` file: CPython 3.9 or
later).
"""

from __future__ import annotations

import re
from typing import Literal

from msgspec import Struct

__all__ = ["ExtensionName", "parse_extension_name", "platform_triplet", "stable_abi_minimum"]

_CPYTHON = re.compile(
    r"\.(?P<tag>cpython-(?P<major>\d)(?P<minor>\d+)(?P<flags>[a-z]*))(?:-(?P<platform>[^./]+))?\.so$")
_PYPY = re.compile(r"\.(?P<tag>pypy(?P<major>\d)(?P<minor>\d+)-pp\d+)(?:-(?P<platform>[^./]+))?\.so$")
_ABI3 = re.compile(r"\.abi3\.so$")
_ABI3_TAG = re.compile(r"^cp(?P<major>\d)(?P<minor>\d+)$")

#: What an ABI flag in a CPython tag means (``cpython-313t``): builds Lambda does not run.
ABI_FLAGS = {"t": "free-threaded", "d": "debug"}


class ExtensionName(Struct, frozen=True):
    """What an extension module's file name says it needs.

    ``implementation`` is ``cpython`` or ``pypy``; ``version`` the ``(major, minor)`` it was
    built for (``None`` for the stable ABI, ``stable_abi``); ``flags`` CPython's ABI flags
    (``t`` free-threaded, ``d`` debug; empty for a regular build); ``platform`` the triplet
    in the name (``x86_64-linux-gnu``), ``None`` when it has none; ``tag`` the interpreter
    part of the name as written (``cpython-313t``, ``abi3``, ``pypy310-pp73``).
    """

    implementation: Literal["cpython", "pypy"]
    version: tuple[int, int] | None
    flags: str
    platform: str | None
    stable_abi: bool
    tag: str


def parse_extension_name(path: str) -> ExtensionName | None:
    """The interpreter an extension module's path names, or ``None`` when its name says
    nothing (a plain ``_speedups.so``, a ``libfoo.so.1``, not a module at all)."""
    name = path.rsplit("/", 1)[-1]
    m = _CPYTHON.search(name)
    if m:
        return ExtensionName("cpython", (int(m["major"]), int(m["minor"])), m["flags"],
                             m["platform"], False, m["tag"])
    if _ABI3.search(name):
        return ExtensionName("cpython", None, "", None, True, "abi3")
    m = _PYPY.search(name)
    if m:
        return ExtensionName("pypy", (int(m["major"]), int(m["minor"])), "", m["platform"],
                             False, m["tag"])
    return None


def platform_triplet(machine: str) -> str:
    """The platform part of extension names CPython on Lambda imports, for an ELF machine
    name (``aarch64`` → ``aarch64-linux-gnu``): Lambda's Linux is glibc-based."""
    return f"{machine}-linux-gnu"


def stable_abi_minimum(wheel_text: str) -> tuple[int, int] | None:
    """The oldest CPython a wheel's stable-ABI tags allow, from its ``WHEEL`` file's text
    (``Tag: cp39-abi3-…`` → ``(3, 9)``), or ``None`` when it has no ``cpXY-abi3`` tag."""
    found: list[tuple[int, int]] = []
    for line in wheel_text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() != "tag":
            continue
        parts = value.strip().split("-")
        if len(parts) != 3 or "abi3" not in parts[1].split("."):
            continue
        for python in parts[0].split("."):
            m = _ABI3_TAG.match(python)
            if m:
                found.append((int(m["major"]), int(m["minor"])))
    return min(found) if found else None
