"""Native binaries in a finished package that will not load on the target runtime.

Runs on the zip itself, not on the staging tree, so it sees exactly what ships, and reads
only what it must: the first bytes of each member not text by its name, the headers of the
binaries (``elf``), and for stable-ABI extension modules their wheel's ``WHEEL`` file; an
extension module's Python is in its name (``pyabi``). Each problem's message is complete on
its own: the file (member path), where it came from (the distribution, when the caller knows
it), what is wrong and what to do.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Literal

from msgspec import Struct, field

from lambdaforge import lambda_facts
from lambdaforge.packaging.elf import MAGIC_LENGTH, BinaryInfo, inspect_binary, looks_binary
from lambdaforge.packaging.pyabi import (
    ABI_FLAGS, ExtensionName, parse_extension_name, platform_triplet, stable_abi_minimum,
)

__all__ = ["BinaryProblem", "Provenance", "TEXT_ENDINGS", "check_native_binaries", "scan_binaries"]

_OS_NAMES = {"al2": "Amazon Linux 2", "al2023": "Amazon Linux 2023"}
#: ELF machine name → Lambda ``architecture`` value.
_LAMBDA_ARCH = {machine: arch for arch, machine in lambda_facts.ARCHITECTURES.items()}


class BinaryProblem(Struct, frozen=True):
    """A native binary in a package that will not load on the target runtime.

    ``kind`` says what is wrong: ``architecture`` (other machine or 32-bit), ``glibc`` (needs a
    newer glibc than the runtime has), ``libstdc++`` (needs newer ``GLIBCXX_``/``CXXABI_``
    versions than the runtime's C++ library defines), ``musl``, ``macho`` or ``pe`` (not a
    Linux binary), ``python-abi`` (an extension module for another Python: version, build or
    implementation) or ``python-platform`` (an extension module named for another machine).
    """

    path: str
    kind: Literal["architecture", "glibc", "libstdc++", "musl", "macho", "pe",
                  "python-abi", "python-platform"]
    owner: str | None
    message: str

    def __str__(self) -> str:
        return self.message


class Provenance(Struct, frozen=True):
    """Where a package's installed files came from: member path → its distribution
    (``numpy 2.1.0``), named by messages, and member path → the member path of that
    distribution's ``WHEEL`` file, whose tags say which Pythons a stable-ABI module needs."""

    owners: Mapping[str, str] = field(default_factory=dict)
    wheels: Mapping[str, str] = field(default_factory=dict)


#: Endings of files that are text by definition: not opened when scanning for binaries
#: (a package holds thousands of them; opening each costs more than the rest of the checks).
#: Anything else, including unknown endings, is looked at.
TEXT_ENDINGS: tuple[str, ...] = (
    ".py", ".pyi", ".txt", ".json", ".md", ".rst", ".html", ".htm", ".css", ".js", ".mjs",
    ".cjs", ".ts", ".map", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".csv", ".xml", ".svg",
    "/METADATA", "/RECORD", "/WHEEL", "/top_level.txt", "/entry_points.txt", "py.typed",
)


def scan_binaries(zip_path: Path) -> Iterator[tuple[str, BinaryInfo]]:
    """Every native binary in the zip, as (member path, what it is built for), in zip order.

    Reads only the first bytes of each member that is not text by its name
    (``TEXT_ENDINGS``); only members with a binary magic number are read further, and then
    only their headers (see ``elf.inspect_binary``).
    """
    with zipfile.ZipFile(zip_path) as zf:
        yield from _scan(zf)


def _scan(zf: zipfile.ZipFile) -> Iterator[tuple[str, BinaryInfo]]:
    for info in zf.infolist():
        if (info.is_dir() or info.file_size < MAGIC_LENGTH
                or info.filename.endswith(TEXT_ENDINGS)):
            continue
        with zf.open(info) as member:
            if not looks_binary(member.read(MAGIC_LENGTH)):
                continue
            found = inspect_binary(member)
        if found is not None:
            yield info.filename, found


def check_native_binaries(
    zip_path: Path,
    architecture: str,
    runtime: str,
    owners: Mapping[str, str] | None = None,
    *,
    artifact: str = "function",
    wheels: Mapping[str, str] | None = None,
    provenance: Callable[[], Provenance] | None = None,
) -> list[BinaryProblem]:
    """Native binaries in ``zip_path`` that cannot load on ``runtime`` and ``architecture``.

    Every ELF object must be built for the architecture's machine (``arm64`` → ``aarch64``),
    64-bit, against glibc (not musl), needing no newer ``GLIBC_x.y`` than the runtime's OS
    provides, nor newer ``GLIBCXX_``/``CXXABI_`` versions than its libstdc++ defines
    (``lambda_facts.LIBSTDCXX``); Mach-O and PE files are always problems. On a Python
    runtime an extension module's file name must be one the runtime's CPython imports
    (``pyabi``): its version (``cp312`` in a python3.13 function is not), a regular build
    (not ``cp313t``), its machine; a stable-ABI module's wheel must allow the runtime's
    version. One problem per file, the most fundamental one (fixing the architecture usually
    fixes the rest).

    ``owners`` maps member paths to where they came from (``"numpy 2.1.0"``), which the
    messages name, and ``wheels`` member paths to their distribution's ``WHEEL`` member;
    ``provenance``, instead, computes both, and is called only when a problem or a
    stable-ABI module needs them (it costs). ``artifact`` (``function`` or ``layer``) is how
    messages refer to the package. The zip is read once, headers only, and the ``WHEEL``
    files of stable-ABI modules.
    """
    rules = _Rules(lambda_facts.RUNTIMES[runtime], architecture, artifact)
    known = Provenance(owners or {}, wheels or {})
    with zipfile.ZipFile(zip_path) as zf:
        binaries = list(_scan(zf))
        names = {path: parse_extension_name(path) for path, info in binaries
                 if rules.python is not None and info.format == "elf"}
        stable = [path for path, name in names.items() if name is not None and name.stable_abi]
        if provenance is not None and (stable or any(
                rules.problem(path, info, None, names.get(path), None) for path, info in binaries)):
            known = provenance()
        minimums = _stable_abi_minimums(zf, stable, known.wheels)
    found = (rules.problem(path, info, known.owners.get(path), names.get(path), minimums.get(path))
             for path, info in binaries)
    return [p for p in found if p is not None]


def _stable_abi_minimums(zf: zipfile.ZipFile, paths: Sequence[str],
                         wheels: Mapping[str, str]) -> dict[str, tuple[int, int]]:
    """Member path of a stable-ABI module → the oldest Python its wheel allows (each
    ``WHEEL`` file read once; a module whose wheel is unknown or untagged is left out)."""
    by_wheel: dict[str, tuple[int, int] | None] = {}
    found: dict[str, tuple[int, int]] = {}
    names = set(zf.namelist()) if paths else set()
    for path in paths:
        wheel = wheels.get(path)
        if wheel is None or wheel not in names:
            continue
        if wheel not in by_wheel:
            by_wheel[wheel] = stable_abi_minimum(zf.read(wheel).decode("utf-8", "replace"))
        minimum = by_wheel[wheel]
        if minimum is not None:
            found[path] = minimum
    return found


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _dotted(version: Sequence[int]) -> str:
    return ".".join(str(part) for part in version)


class _Rules(Struct, frozen=True):
    """What a package's binaries must be for one runtime and architecture, and the message
    of each way they can fail."""

    rt: lambda_facts.Runtime
    architecture: str
    artifact: str

    @property
    def machine(self) -> str:
        """The ELF machine name of the architecture."""
        return lambda_facts.ARCHITECTURES[self.architecture]

    @property
    def python(self) -> tuple[int, int] | None:
        """The runtime's Python version, ``None`` for other runtimes."""
        if self.rt.family != "python":
            return None
        major, minor = _version(self.rt.version)
        return major, minor

    @property
    def node(self) -> bool:
        """A Node.js runtime: advice names npm's builds, not Python's wheels."""
        return self.rt.family == "nodejs"

    @property
    def npm_cpu(self) -> str:
        """The architecture as npm and Node name it (``x64``, ``arm64``)."""
        return "x64" if self.architecture == "x86_64" else self.architecture

    @property
    def _built_for_glibc(self) -> str:
        """``with a wheel tagged manylinux_2_34`` (Python), ``whose prebuilt binary is built
        for glibc 2.34`` (Node.js): what a fitting build of the runtime's glibc is."""
        glibc = self.rt.glibc
        if self.node:
            return f"whose prebuilt binary is built for glibc {_dotted(glibc)}"
        return f"with a wheel tagged manylinux_{glibc[0]}_{glibc[1]}"

    @property
    def os_name(self) -> str:
        """``Amazon Linux 2023``."""
        return _OS_NAMES.get(self.rt.os, self.rt.os)

    def problem(self, path: str, info: BinaryInfo, owner: str | None,
                name: ExtensionName | None, minimum: tuple[int, int] | None) -> BinaryProblem | None:
        """The most fundamental reason the binary at ``path`` will not load, or ``None``."""
        origin = f" (from {owner})" if owner else ""
        machine = self.machine
        if info.format in ("macho", "pe"):
            system, fmt = ("macOS", "Mach-O") if info.format == "macho" else ("Windows", "PE")
            fix = (f"use its Linux build (linux-{self.npm_cpu}: the package's prebuild or "
                   f"platform package for it) instead of the one built for {system}" if self.node
                   else f"install Linux wheels (manylinux, {machine}) instead of ones built for {system}")
            return BinaryProblem(path, info.format, owner, (
                f"{path}: is a {system} ({fmt}) binary, which Lambda (Linux) cannot load{origin}; {fix}"
            ))
        if info.machine != machine or info.is_32bit:
            built = info.machine + (" (32-bit)" if info.is_32bit else "")
            fix = (f"use a build for linux-{self.npm_cpu} (the package's prebuild or platform "
                   f"package for it; one an install script compiled is for this machine)"
                   if self.node else f"use a build for {machine} (a wheel tagged manylinux_*_{machine})")
            other_arch = _LAMBDA_ARCH.get(info.machine)
            if other_arch and not info.is_32bit:
                fix += f" or set architecture = \"{other_arch}\""
            return BinaryProblem(path, "architecture", owner, (
                f"{path}: built for {built} but the {self.artifact} is {self.architecture}{origin}; {fix}"
            ))
        if info.musl:
            fix = (f"use its glibc build (linux-{self.npm_cpu}-gnu, not -musl)" if self.node
                   else "use a manylinux wheel instead")
            return BinaryProblem(path, "musl", owner, (
                f"{path}: linked against musl libc (a musllinux or Alpine build), but Lambda "
                f"runtimes use glibc{origin}; {fix}"
            ))
        if name is not None:
            found = self._python_problem(path, name, minimum, owner, origin)
            if found is not None:
                return found
        rt = self.rt
        if info.glibc_required is not None and info.glibc_required > rt.glibc:
            return BinaryProblem(path, "glibc", owner, (
                f"{path}: needs glibc {_dotted(info.glibc_required)} but {rt.id} ({self.os_name}) "
                f"has glibc {_dotted(rt.glibc)}{origin}; use a version {self._built_for_glibc} "
                f"or older, or build it on {self.os_name}"
            ))
        return self._libstdcxx_problem(path, info, owner, origin)

    def _python_problem(self, path: str, name: ExtensionName, minimum: tuple[int, int] | None,
                        owner: str | None, origin: str) -> BinaryProblem | None:
        """An extension module whose name the runtime's CPython does not import."""
        want = self.python
        assert want is not None
        rt = self.rt
        cp = f"cp{want[0]}{want[1]}"
        if name.implementation == "pypy":
            return BinaryProblem(path, "python-abi", owner, (
                f"{path}: is an extension module for PyPy ({name.tag}), which {rt.id} (CPython) "
                f"cannot import{origin}; install the CPython build ({cp} wheels)"
            ))
        if name.stable_abi:
            if minimum is None or minimum <= want:
                return None
            return BinaryProblem(path, "python-abi", owner, (
                f"{path}: uses CPython's stable ABI from {_dotted(minimum)} on (its wheel is "
                f"tagged cp{minimum[0]}{minimum[1]}-abi3), newer than {rt.id}{origin}; pin a "
                f"version whose wheel supports {_dotted(want)}{self._other_python(minimum)}"
            ))
        assert name.version is not None
        if name.version != want:
            fix = f"pin a version with {cp} wheels" if owner else f"build it with Python {_dotted(want)}"
            return BinaryProblem(path, "python-abi", owner, (
                f"{path}: is an extension module for CPython {_dotted(name.version)} "
                f"(cp{name.version[0]}{name.version[1]}), which {rt.id} cannot import{origin}; "
                f"rebuild for {rt.id}: {fix}{self._other_python(name.version)}"
            ))
        if name.flags:
            build = " and ".join(ABI_FLAGS.get(flag, f"'{flag}'") for flag in name.flags)
            return BinaryProblem(path, "python-abi", owner, (
                f"{path}: is an extension module for a {build} build of CPython "
                f"{_dotted(want)} ({cp}{name.flags}), which Lambda's {rt.id} is not, so it "
                f"cannot import it{origin}; install the regular {cp} build"
            ))
        expected = platform_triplet(self.machine)
        if name.platform is not None and name.platform != expected:
            return BinaryProblem(path, "python-platform", owner, (
                f"{path}: is named for {name.platform}, but {rt.id} on {self.architecture} "
                f"imports only *.cpython-{want[0]}{want[1]}-{expected}.so (and *.abi3.so) "
                f"extension modules, so it is never found{origin}; install the build for "
                f"{self.machine} (a wheel tagged manylinux_*_{self.machine})"
            ))
        return None

    def _other_python(self, version: tuple[int, int]) -> str:
        """``, or set runtime = "python3.12"`` when that runtime is current, else nothing."""
        other = lambda_facts.RUNTIMES.get(f"python{_dotted(version)}")
        if other is None or other.deprecated():
            return ""
        return f', or set runtime = "{other.id}"'

    def _libstdcxx_problem(self, path: str, info: BinaryInfo, owner: str | None,
                           origin: str) -> BinaryProblem | None:
        """A C++ binary needing newer ``GLIBCXX_``/``CXXABI_`` versions than the runtime's
        libstdc++ defines."""
        rt = self.rt
        over = [(label, need, have) for label, need, have in (
            ("GLIBCXX", info.glibcxx_required, rt.glibcxx),
            ("CXXABI", info.cxxabi_required, rt.cxxabi),
        ) if need is not None and need > have]
        if not over:
            return None
        needs = " and ".join(f"{label}_{_dotted(need)}" for label, need, _ in over)
        has = " and ".join(f"{label}_{_dotted(have)}" for label, _, have in over)
        gcc = lambda_facts.LIBSTDCXX[rt.os].gcc
        fix = (f"use a version {self._built_for_glibc} or older, build it on {self.os_name} or "
               f"link libstdc++ statically (-static-libstdc++)")
        newer = self._runtime_with(info)
        if newer is not None:
            fix += f", or move to {newer.id} ({_OS_NAMES.get(newer.os, newer.os)}), whose libstdc++ has it"
        return BinaryProblem(path, "libstdc++", owner, (
            f"{path}: needs libstdc++ {needs} but {rt.id} ({self.os_name}) has {has} at most "
            f"(GCC {gcc}){origin}; {fix}"
        ))

    def _runtime_with(self, info: BinaryInfo) -> lambda_facts.Runtime | None:
        """The first current runtime of the same family on another OS whose glibc and
        libstdc++ meet the binary's needs (python3.12 for a python3.11 function)."""
        for other in lambda_facts.RUNTIMES.values():
            if (other.family != self.rt.family or other.os == self.rt.os or other.deprecated()
                    or (info.glibc_required or (0, 0)) > other.glibc
                    or (info.glibcxx_required or ()) > other.glibcxx
                    or (info.cxxabi_required or ()) > other.cxxabi):
                continue
            if self.python is not None and _version(other.version) < self.python:
                continue  # never suggest going back a Python version
            return other
        return None
