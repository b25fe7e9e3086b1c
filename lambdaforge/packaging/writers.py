"""Artifact writers: how a package's entries become the file Lambda receives.

The package action hands its entries (sources, dependencies, what the builder prepared) to
the builder's ``ArtifactWriter``. Today there is one, ``ZipWriter``: the deterministic zip
of ``archive``. A container image (``PackageType: Image``) is another writer behind the same
interface; nothing in the action changes for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar, Protocol

from lambdaforge.packaging import archive


class ArtifactWriter(Protocol):
    """Writes a package's entries to ``dest`` atomically and says what it wrote."""

    #: short name, part of the package's key (``zip``)
    NAME: ClassVar[str]

    def write(self, dest: Path, entries: Iterable[archive.Entry]) -> archive.ZipStats:
        """Write ``entries`` to ``dest`` (complete or not at all); sizes and digests."""
        ...


class ZipWriter:
    """The deterministic Lambda zip (``archive.write_zip``): sorted entries, fixed times,
    normalised modes, the pinned compressor."""

    NAME: ClassVar[str] = "zip"

    def write(self, dest: Path, entries: Iterable[archive.Entry]) -> archive.ZipStats:
        """``archive.write_zip`` with its defaults (looked up when called, so one patch of
        ``archive.write_zip`` reaches every writer)."""
        return archive.write_zip(dest, entries)


#: the writer every built-in builder uses
ZIP = ZipWriter()
