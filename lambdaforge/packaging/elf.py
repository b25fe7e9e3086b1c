"""Recognise native binaries (ELF, Mach-O, PE) and read what Lambda compatibility depends on.

No third-party parser: the checks need a few facts — format, machine, the highest
``GLIBC_x.y`` symbol version an ELF object needs (and ``GLIBCXX_``/``CXXABI_`` from the
system's ``libstdc++.so.6``), and whether it is linked against musl — and reading them takes
a few ``struct`` calls. The ELF part follows what the dynamic loader
does: program headers → ``PT_INTERP`` and ``PT_DYNAMIC`` → ``DT_NEEDED``, ``DT_STRTAB`` and
``DT_VERNEED`` (addresses mapped to file offsets through the ``PT_LOAD`` segments). That works
on stripped objects, whose section headers may be gone, and reads a handful of small pieces
by seeking instead of slurping the file: a 30 MB ``.so`` costs a few kilobytes of reads.
"""

from __future__ import annotations

import os
import re
import struct
from typing import BinaryIO, Literal, Union

from msgspec import Struct

__all__ = ["BinaryInfo", "BinaryFormat", "inspect_binary", "looks_binary", "MAGIC_LENGTH"]

BinaryFormat = Literal["elf", "macho", "pe"]

#: Bytes of a file's beginning that decide whether it can be a binary at all.
MAGIC_LENGTH = 4

_ELF_MAGIC = b"\x7fELF"
_MACHO_MAGICS = {
    b"\xfe\xed\xfa\xce": (">", 32),
    b"\xce\xfa\xed\xfe": ("<", 32),
    b"\xfe\xed\xfa\xcf": (">", 64),
    b"\xcf\xfa\xed\xfe": ("<", 64),
}
_FAT_MAGIC = b"\xca\xfe\xba\xbe"  # shared with Java class files: told apart by the next word
_PE_MAGIC = b"MZ"

_ELF_MACHINES = {
    3: "i386", 8: "mips", 20: "ppc", 21: "ppc64", 22: "s390", 40: "arm",
    62: "x86_64", 183: "aarch64", 243: "riscv", 258: "loongarch",
}
_MACHO_CPUS = {7: "i386", 0x01000007: "x86_64", 12: "arm", 0x0100000C: "arm64", 18: "ppc", 0x01000012: "ppc64"}
_PE_MACHINES = {0x14C: "i386", 0x8664: "x86_64", 0xAA64: "arm64", 0x1C0: "arm", 0x1C4: "arm"}

_PT_LOAD, _PT_DYNAMIC, _PT_INTERP = 1, 2, 3
_DT_NULL, _DT_NEEDED, _DT_STRTAB = 0, 1, 5
_DT_VERNEED, _DT_VERNEEDNUM = 0x6FFFFFFE, 0x6FFFFFFF
_GLIBC_VERSION = re.compile(rb"^GLIBC_(\d+)\.(\d+)")
# Only plain numbered versions: libstdc++ also defines CXXABI_TM_1, GLIBCXX_LDBL_3.4 and the
# like, which are not points on the GCC release line.
_LIBSTDCXX_VERSION = re.compile(rb"^(GLIBCXX|CXXABI)_(\d+(?:\.\d+)+)$")
#: The system C++ library's soname. Needs on a private copy (auditwheel names a bundled one
#: ``libstdc++-<hash>.so.6``) are met by that copy, not by the runtime's.
LIBSTDCXX_SONAME = b"libstdc++.so.6"

# Guards against malformed or hostile files: real objects are far below these.
_MAX_PHDRS = 4096
_MAX_DYN_ENTRIES = 65536
_MAX_VERNEED = 4096
_MAX_STRING = 4096
# Loader metadata (.dynsym, .dynstr, .gnu.version_r) sits at the start of the file; caching
# this much of it turns most reads into memory slices, which matters for compressed zip
# members where every backward seek means decompressing from the start again.
_HEAD_CACHE = 256 * 1024

Source = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]", BinaryIO]


class BinaryInfo(Struct, frozen=True):
    """What a native binary is built for.

    ``machine`` is the ELF name (``x86_64``, ``aarch64``, ``i386``, ``arm``…, ``em_<n>`` when
    unknown); Mach-O and PE use their own names (``arm64``) and a fat Mach-O is
    ``universal``. ``glibc_required`` is the highest ``GLIBC_x.y`` the object's symbol-version
    needs name (any glibc library, not only ``libc.so.6``: ``libm`` needs count too).
    ``glibcxx_required`` and ``cxxabi_required`` are the highest ``GLIBCXX_x.y.z`` and
    ``CXXABI_x.y.z`` it needs from the system's ``libstdc++.so.6`` (``(3, 4, 29)``), for C++
    code built by a newer GCC than the runtime's.
    """

    format: BinaryFormat
    machine: str
    bits: int
    glibc_required: tuple[int, int] | None = None
    musl: bool = False
    interpreter: str | None = None
    needed: tuple[str, ...] = ()
    glibcxx_required: tuple[int, ...] | None = None
    cxxabi_required: tuple[int, ...] | None = None

    @property
    def is_32bit(self) -> bool:
        """True for 32-bit objects, which no Lambda architecture runs."""
        return self.bits == 32


def looks_binary(head: bytes) -> bool:
    """Whether a file starting with ``head`` (its first ``MAGIC_LENGTH`` bytes) may be a binary.

    Cheap enough to run on every file: only files passing it are parsed further.
    """
    return (
        head.startswith(_ELF_MAGIC)
        or head[:4] in _MACHO_MAGICS
        or head.startswith(_FAT_MAGIC)
        or head.startswith(_PE_MAGIC)
    )


class _Reader:
    """Positional reads over bytes or a seekable stream, with the file's head cached."""

    def __init__(self, data: bytes | memoryview | None = None, stream: BinaryIO | None = None):
        self._data = memoryview(data) if data is not None else None
        self._stream = stream
        self._head = b""
        if stream is not None:
            stream.seek(0)
            self._head = stream.read(_HEAD_CACHE)

    def read(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes at ``offset`` (fewer at the end of the file)."""
        if offset < 0 or size < 0:
            return b""
        if self._data is not None:
            return bytes(self._data[offset:offset + size])
        if offset + size <= len(self._head):
            return self._head[offset:offset + size]
        assert self._stream is not None
        self._stream.seek(offset)
        return self._stream.read(size)

    def exact(self, offset: int, size: int) -> bytes:
        """Exactly ``size`` bytes at ``offset``, or ``_Malformed``."""
        data = self.read(offset, size)
        if len(data) != size:
            raise _Malformed
        return data

    def cstring(self, offset: int) -> bytes:
        """The NUL-terminated string at ``offset`` (bounded by ``_MAX_STRING``)."""
        out = b""
        while len(out) < _MAX_STRING:
            chunk = self.read(offset + len(out), 128)
            if not chunk:
                break
            end = chunk.find(b"\0")
            if end >= 0:
                return out + chunk[:end]
            out += chunk
        return out


class _Malformed(Exception):
    """Raised inside the parser when a structure points outside the file."""


def inspect_binary(source: Source) -> BinaryInfo | None:
    """Identify a native binary; ``None`` when ``source`` is not one.

    ``source`` is the file's bytes (all of them, or at least enough for the headers), a path,
    or a seekable binary stream (e.g. ``ZipFile.open(member)``) positioned anywhere. A file is
    opened only long enough to read its headers. A binary whose headers are truncated or
    inconsistent is still reported (as far as it could be read) rather than ignored: shipping
    it is suspicious either way.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _inspect(_Reader(data=bytes(source) if isinstance(source, bytearray) else source))
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            if not looks_binary(f.read(MAGIC_LENGTH)):
                return None
            return _inspect(_Reader(stream=f))
    return _inspect(_Reader(stream=source))


def _inspect(r: _Reader) -> BinaryInfo | None:
    head = r.read(0, MAGIC_LENGTH)
    if head.startswith(_ELF_MAGIC):
        return _inspect_elf(r)
    if head in _MACHO_MAGICS or head.startswith(_FAT_MAGIC):
        return _inspect_macho(r, head)
    if head.startswith(_PE_MAGIC):
        return _inspect_pe(r)
    return None


def _inspect_macho(r: _Reader, head: bytes) -> BinaryInfo | None:
    if head == _FAT_MAGIC:
        # Java class files start with CAFEBABE too, followed by their version (major >= 45);
        # a fat Mach-O has its architecture count there, which is small.
        nfat = struct.unpack(">I", r.read(4, 4).rjust(4, b"\0"))[0]
        if not 0 < nfat < 45:
            return None
        return BinaryInfo("macho", "universal", 64)
    endian, bits = _MACHO_MAGICS[head]
    raw = r.read(4, 4)
    cpu = struct.unpack(endian + "I", raw)[0] if len(raw) == 4 else -1
    return BinaryInfo("macho", _MACHO_CPUS.get(cpu, f"cpu_{cpu:#x}"), bits)


def _inspect_pe(r: _Reader) -> BinaryInfo | None:
    raw = r.read(0x3C, 4)
    if len(raw) != 4:
        return None
    pe_off = struct.unpack("<I", raw)[0]
    sig = r.read(pe_off, 6)
    if len(sig) != 6 or sig[:4] != b"PE\0\0":
        return None  # an "MZ" text file, or a DOS-only executable: nothing Lambda would load
    machine = struct.unpack("<H", sig[4:6])[0]
    opt_magic = r.read(pe_off + 24, 2)
    bits = 64 if opt_magic == b"\x0b\x02" or machine in (0x8664, 0xAA64) else 32
    return BinaryInfo("pe", _PE_MACHINES.get(machine, f"pe_{machine:#x}"), bits)


def _inspect_elf(r: _Reader) -> BinaryInfo:
    ident = r.read(0, 16)
    bits = 64 if len(ident) > 4 and ident[4] == 2 else 32
    endian = ">" if len(ident) > 5 and ident[5] == 2 else "<"
    raw_machine = r.read(18, 2)
    if len(raw_machine) != 2:
        return BinaryInfo("elf", "unknown", bits)
    em = struct.unpack(endian + "H", raw_machine)[0]
    info = BinaryInfo("elf", _ELF_MACHINES.get(em, f"em_{em}"), bits)
    try:
        return _read_dynamic(r, info, endian)
    except (_Malformed, struct.error):
        return info


def _read_dynamic(r: _Reader, info: BinaryInfo, endian: str) -> BinaryInfo:
    """Fill in interpreter, needed libraries and glibc needs from the loader's view of the file."""
    wide = info.bits == 64

    if wide:
        phoff, = struct.unpack(endian + "Q", r.exact(32, 8))
        phentsize, phnum = struct.unpack(endian + "HH", r.exact(54, 4))
    else:
        phoff, = struct.unpack(endian + "I", r.exact(28, 4))
        phentsize, phnum = struct.unpack(endian + "HH", r.exact(42, 4))
    if phnum > _MAX_PHDRS:
        raise _Malformed

    # (type, offset, vaddr, filesz) of each program header; the two layouts order fields differently.
    phdrs: list[tuple[int, int, int, int]] = []
    table = r.exact(phoff, phentsize * phnum)
    for i in range(phnum):
        entry = table[i * phentsize:(i + 1) * phentsize]
        if wide:
            p_type, _flags, off, vaddr, _paddr, filesz = struct.unpack_from(endian + "IIQQQQ", entry)
        else:
            p_type, off, vaddr, _paddr, filesz = struct.unpack_from(endian + "IIIII", entry)
        phdrs.append((p_type, off, vaddr, filesz))

    interpreter = None
    for p_type, off, _vaddr, filesz in phdrs:
        if p_type == _PT_INTERP:
            interpreter = r.exact(off, min(filesz, _MAX_STRING)).split(b"\0", 1)[0].decode("utf-8", "replace")

    def to_offset(addr: int) -> int:
        for p_type, off, vaddr, filesz in phdrs:
            if p_type == _PT_LOAD and vaddr <= addr < vaddr + filesz:
                return addr - vaddr + off
        raise _Malformed

    entries: list[tuple[int, int]] = []
    entry_fmt = endian + ("qQ" if wide else "iI")
    entry_size = struct.calcsize(entry_fmt)
    for p_type, off, _vaddr, filesz in phdrs:
        if p_type == _PT_DYNAMIC:
            blob = r.read(off, min(filesz, _MAX_DYN_ENTRIES * entry_size))
            for i in range(len(blob) // entry_size):
                tag, val = struct.unpack_from(entry_fmt, blob, i * entry_size)
                if tag == _DT_NULL:
                    break
                entries.append((tag, val))
            break

    strtab = next((to_offset(v) for t, v in entries if t == _DT_STRTAB), None)
    needed: tuple[str, ...] = ()
    needs = _VersionNeeds()
    if strtab is not None:
        needed = tuple(
            r.cstring(strtab + v).decode("utf-8", "replace") for t, v in entries if t == _DT_NEEDED
        )
        verneed = next((to_offset(v) for t, v in entries if t == _DT_VERNEED), None)
        count = next((v for t, v in entries if t == _DT_VERNEEDNUM), 0)
        if verneed is not None:
            _read_version_needs(r, endian, verneed, min(count, _MAX_VERNEED), strtab, needs)

    musl = (interpreter is not None and "ld-musl" in interpreter) or any(
        n.startswith("libc.musl") for n in needed
    )
    return BinaryInfo(info.format, info.machine, info.bits, needs.glibc, musl, interpreter, needed,
                      needs.versions.get(b"GLIBCXX"), needs.versions.get(b"CXXABI"))


class _VersionNeeds:
    """The highest version of each kind among an object's symbol-version needs."""

    def __init__(self) -> None:
        self.glibc: tuple[int, int] | None = None
        #: b"GLIBCXX" / b"CXXABI" → highest version needed from the system libstdc++
        self.versions: dict[bytes, tuple[int, ...]] = {}

    def add(self, library: bytes, name: bytes) -> None:
        """Count one needed version ``name`` of ``library`` (a soname)."""
        m = _GLIBC_VERSION.match(name)
        if m:
            version = (int(m.group(1)), int(m.group(2)))
            self.glibc = version if self.glibc is None or version > self.glibc else self.glibc
            return
        m = _LIBSTDCXX_VERSION.match(name)
        if m and library == LIBSTDCXX_SONAME:
            found = tuple(int(p) for p in m.group(2).split(b"."))
            kind = m.group(1)
            if found > self.versions.get(kind, ()):
                self.versions[kind] = found


def _read_version_needs(r: _Reader, endian: str, offset: int, count: int, strtab: int,
                        needs: _VersionNeeds) -> None:
    """Walk ``Elf_Verneed``/``Elf_Vernaux`` chains (same layout for 32 and 64 bits)."""
    seen = 0
    for _ in range(count):
        _version, cnt, file, aux, nxt = struct.unpack(endian + "HHIII", r.exact(offset, 16))
        library = r.cstring(strtab + file)
        aux_off = offset + aux
        for _ in range(cnt):
            seen += 1
            if seen > _MAX_VERNEED:
                return
            _hash, _flags, _other, name, aux_next = struct.unpack(endian + "IHHII", r.exact(aux_off, 16))
            needs.add(library, r.cstring(strtab + name))
            if not aux_next:
                break
            aux_off += aux_next
        if not nxt:
            break
        offset += nxt

