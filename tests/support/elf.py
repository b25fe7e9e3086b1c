"""Hand-written binaries for tests: minimal but valid ELF shared objects, Mach-O and PE headers.

Why by hand: tests need an ``aarch64`` object, a glibc-2.38 one and a musl one on an x86_64
machine with only ``cc``. The ELF files written here parse cleanly with ``readelf -h -d -V``
(checked by a test) and carry what the native-binary checks look at: ``e_machine``, the
``.dynamic`` section (``DT_NEEDED``, ``DT_SONAME``), the ``.gnu.version_r`` needs on
``libc.so.6`` and, for musl, a ``PT_INTERP`` naming ``/lib/ld-musl-<arch>.so.1``.
Nothing here is loadable code: there is no ``.text``.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Literal

__all__ = ["MACHO_BYTES", "PE_BYTES", "make_elf", "elf_hash"]

EM_X86_64 = 62
EM_AARCH64 = 183
_MACHINES = {"x86_64": EM_X86_64, "aarch64": EM_AARCH64}

# Section types and dynamic tags used below (values from the System V ABI / GNU extensions).
_SHT_STRTAB, _SHT_DYNAMIC, _SHT_DYNSYM, _SHT_PROGBITS = 3, 6, 11, 1
_SHT_GNU_VERNEED = 0x6FFFFFFE
_SHF_ALLOC = 0x2
_PT_LOAD, _PT_DYNAMIC, _PT_INTERP = 1, 2, 3
_DT_NULL, _DT_NEEDED, _DT_STRTAB, _DT_SYMTAB, _DT_STRSZ, _DT_SYMENT, _DT_SONAME = 0, 1, 5, 6, 10, 11, 14
_DT_VERNEED, _DT_VERNEEDNUM = 0x6FFFFFFE, 0x6FFFFFFF

_EHDR_SIZE, _PHDR_SIZE, _SHDR_SIZE = 64, 56, 64

#: A 64-bit little-endian Mach-O header (``MH_MAGIC_64``, x86_64, ``MH_DYLIB``), no load commands.
MACHO_BYTES = struct.pack("<IiiIIIII", 0xFEEDFACF, 0x01000007, 3, 6, 0, 0, 0, 0)

#: A DOS stub whose ``e_lfanew`` points at a ``PE\0\0`` signature and an AMD64 COFF header.
PE_BYTES = (
    b"MZ" + b"\0" * 58 + struct.pack("<I", 64) + b"PE\0\0" + struct.pack("<HHIIIHH", 0x8664, 0, 0, 0, 0, 0, 0x2022)
)


def elf_hash(name: bytes) -> int:
    """The System V ELF hash, which ``vna_hash`` in a version-needed entry must hold."""
    h = 0
    for byte in name:
        h = ((h << 4) + byte) & 0xFFFFFFFF
        g = h & 0xF0000000
        if g:
            h ^= g >> 24
        h &= ~g & 0xFFFFFFFF
    return h


class _StrTab:
    """A string table being built: offset 0 is the empty string, as the ELF spec requires."""

    def __init__(self) -> None:
        self.data = bytearray(b"\0")
        self._offsets: dict[bytes, int] = {b"": 0}

    def add(self, s: str | bytes) -> int:
        raw = s.encode() if isinstance(s, str) else s
        if raw not in self._offsets:
            self._offsets[raw] = len(self.data)
            self.data += raw + b"\0"
        return self._offsets[raw]


def _align(buf: bytearray, n: int) -> None:
    buf += b"\0" * (-len(buf) % n)


def make_elf(
    machine: Literal["x86_64", "aarch64"],
    glibc_versions: Sequence[str] = ("GLIBC_2.17",),
    *,
    musl: bool = False,
    soname: str = "libdemo.so",
    libstdcxx_versions: Sequence[str] = (),
    libstdcxx: str = "libstdc++.so.6",
) -> bytes:
    """A minimal valid 64-bit little-endian ELF shared object (``ET_DYN``) for ``machine``.

    ``glibc_versions`` (e.g. ``("GLIBC_2.17", "GLIBC_2.38")``) become ``.gnu.version_r`` needs
    on ``libc.so.6``; an empty sequence writes no version section. With ``musl=True`` the
    object needs ``libc.musl-<arch>.so.1``, has a ``PT_INTERP`` of ``/lib/ld-musl-<arch>.so.1``
    and no version needs (musl has no symbol versioning), whatever ``glibc_versions`` says.
    ``libstdcxx_versions`` (``("GLIBCXX_3.4.30", "CXXABI_1.3.13")``) become needs on the C++
    library ``libstdc++`` (named ``libstdc++.so.6`` unless told), a second needed library.
    """
    if machine not in _MACHINES:
        raise ValueError(f"machine must be one of {sorted(_MACHINES)}, not {machine!r}")
    versions = () if musl else tuple(glibc_versions)
    libc = f"libc.musl-{machine}.so.1" if musl else "libc.so.6"
    interp = f"/lib/ld-musl-{machine}.so.1".encode() + b"\0" if musl else None

    cxx_versions = () if musl else tuple(libstdcxx_versions)
    dynstr = _StrTab()
    needed_off, soname_off = dynstr.add(libc), dynstr.add(soname)
    version_offs = [dynstr.add(v) for v in versions]
    cxx_off = dynstr.add(libstdcxx) if cxx_versions else 0
    cxx_version_offs = [dynstr.add(v) for v in cxx_versions]

    n_phdrs = 3 if interp else 2
    body = bytearray(_EHDR_SIZE + _PHDR_SIZE * n_phdrs)  # headers are patched in at the end
    # (name, type, flags, offset, size, link-name, info, align, entsize) per section, in order.
    sections: list[tuple[str, int, int, int, int, str | None, int, int, int]] = []

    def place(name: str, data: bytes, sh_type: int, align: int, link: str | None = None,
              info: int = 0, entsize: int = 0) -> int:
        _align(body, align)
        off = len(body)
        body.extend(data)
        sections.append((name, sh_type, _SHF_ALLOC, off, len(data), link, info, align, entsize))
        return off

    interp_off = place(".interp", interp, _SHT_PROGBITS, 1) if interp else 0
    dynsym_off = place(".dynsym", b"\0" * 24, _SHT_DYNSYM, 8, ".dynstr", info=1, entsize=24)
    dynstr_off = place(".dynstr", bytes(dynstr.data), _SHT_STRTAB, 1)

    # One Elf_Verneed (16 bytes) per library, each followed by its Elf_Vernaux (16 bytes each).
    libraries = [(off, vs, offs) for off, vs, offs in (
        (needed_off, versions, version_offs), (cxx_off, cxx_versions, cxx_version_offs)) if vs]
    verneed_off = 0
    if libraries:
        vn = bytearray()
        index = 2
        for n, (file_off, names, name_offs) in enumerate(libraries):
            size = 16 + 16 * len(names)
            nxt = size if n + 1 < len(libraries) else 0
            vn += struct.pack("<HHIII", 1, len(names), file_off, 16, nxt)
            for i, (v, name_off) in enumerate(zip(names, name_offs)):
                aux_next = 16 if i + 1 < len(names) else 0
                vn += struct.pack("<IHHII", elf_hash(v.encode()), 0, index, name_off, aux_next)
                index += 1
        verneed_off = place(".gnu.version_r", bytes(vn), _SHT_GNU_VERNEED, 8, ".dynstr",
                            info=len(libraries))

    dyn = [(_DT_NEEDED, needed_off)]
    if cxx_versions:
        dyn.append((_DT_NEEDED, cxx_off))
    dyn += [(_DT_SONAME, soname_off), (_DT_STRTAB, dynstr_off),
            (_DT_STRSZ, len(dynstr.data)), (_DT_SYMTAB, dynsym_off), (_DT_SYMENT, 24)]
    if libraries:
        dyn += [(_DT_VERNEED, verneed_off), (_DT_VERNEEDNUM, len(libraries))]
    dyn.append((_DT_NULL, 0))
    dynamic = b"".join(struct.pack("<qQ", tag, val) for tag, val in dyn)
    dynamic_off = place(".dynamic", dynamic, _SHT_DYNAMIC, 8, ".dynstr", entsize=16)

    shstr = _StrTab()
    shstr_names = {name: shstr.add(name) for name, *_ in sections}
    shstr_names[".shstrtab"] = shstr.add(".shstrtab")
    shstrtab_off = len(body)
    body.extend(shstr.data)
    load_end = len(body)

    _align(body, 8)
    shoff = len(body)
    index = {name: i + 1 for i, (name, *_) in enumerate(sections)}
    shdrs = bytearray(_SHDR_SIZE)  # section 0 is the null section
    for name, sh_type, flags, off, size, link, info, align, entsize in sections:
        shdrs += struct.pack("<IIQQQQIIQQ", shstr_names[name], sh_type, flags, off, off, size,
                             index[link] if link else 0, info, align, entsize)
    shdrs += struct.pack("<IIQQQQIIQQ", shstr_names[".shstrtab"], _SHT_STRTAB, 0, 0, shstrtab_off,
                         len(shstr.data), 0, 0, 1, 0)
    body += shdrs
    n_sections = len(sections) + 2

    # Program headers: PT_INTERP must precede any PT_LOAD (System V ABI).
    phdrs = bytearray()
    if interp:
        phdrs += struct.pack("<IIQQQQQQ", _PT_INTERP, 4, interp_off, interp_off, interp_off,
                             len(interp), len(interp), 1)
    phdrs += struct.pack("<IIQQQQQQ", _PT_LOAD, 6, 0, 0, 0, load_end, load_end, 0x1000)
    phdrs += struct.pack("<IIQQQQQQ", _PT_DYNAMIC, 6, dynamic_off, dynamic_off, dynamic_off,
                         len(dynamic), len(dynamic), 8)

    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8  # 64-bit, little-endian, version 1, SysV
    ehdr = ident + struct.pack(
        "<HHIQQQIHHHHHH", 3, _MACHINES[machine], 1, 0, _EHDR_SIZE, shoff, 0,
        _EHDR_SIZE, _PHDR_SIZE, n_phdrs, _SHDR_SIZE, n_sections, n_sections - 1,
    )
    body[0:_EHDR_SIZE] = ehdr
    body[_EHDR_SIZE:_EHDR_SIZE + len(phdrs)] = phdrs
    return bytes(body)
