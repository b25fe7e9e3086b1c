"""Which file declares a Python function's or layer's dependencies: one documented
precedence when several are present (README, "Dependency declarations").

1. the file named by ``requirements`` in the config (the user said so);
2. ``requirements.txt`` in the source directory (the explicit, tool-neutral list; a
   project that also has a lock usually exports it on purpose);
3. ``uv.lock`` (with its ``pyproject.toml``), 4. ``poetry.lock``, 5. ``Pipfile.lock``
   (a ``Pipfile`` without one is an error): locks pin exact versions and hashes, so they
   win over ranges; uv before Poetry before Pipenv only decides the rare repository that
   has several, newest tool first;
6. ``pyproject.toml``'s ``[project] dependencies`` (PEP 621 ranges, resolved at install).

A configured ``pyproject.toml`` is read with the lock beside it by the same order.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

from msgspec import Struct


class DeclarationKind(str, Enum):
    """The formats the Python builder reads, by how it reads them."""

    REQUIREMENTS = "requirements"
    UV_LOCK = "uv.lock"
    POETRY_LOCK = "poetry.lock"
    PIPFILE_LOCK = "Pipfile.lock"
    PIPFILE = "Pipfile"  # without a lock: an error
    PYPROJECT = "pyproject.toml"


class Declaration(Struct, frozen=True):
    """The file that declares the dependencies (``path``) and how to read it."""

    kind: DeclarationKind
    path: Path


#: lock files beside a pyproject.toml, in precedence order
_PYPROJECT_LOCKS = (("uv.lock", DeclarationKind.UV_LOCK), ("poetry.lock", DeclarationKind.POETRY_LOCK))


def of_file(path: Path) -> Declaration:
    """How to read a file the config names (``requirements = "…"``), by its name."""
    name = path.name
    if name == "pyproject.toml":
        for lock, kind in _PYPROJECT_LOCKS:
            if (path.parent / lock).is_file():
                return Declaration(kind, path.parent / lock)
        return Declaration(DeclarationKind.PYPROJECT, path)
    if name in ("uv.lock", "poetry.lock", "Pipfile.lock"):
        return Declaration(DeclarationKind(name), path)
    if name == "Pipfile":
        lock = path.parent / "Pipfile.lock"
        return Declaration(*((DeclarationKind.PIPFILE_LOCK, lock) if lock.is_file()
                             else (DeclarationKind.PIPFILE, path)))
    return Declaration(DeclarationKind.REQUIREMENTS, path)


def in_directory(src: Path) -> Declaration | None:
    """The declaration found in a source directory by the precedence above, or ``None``."""
    if (src / "requirements.txt").is_file():
        return Declaration(DeclarationKind.REQUIREMENTS, src / "requirements.txt")
    has_pyproject = (src / "pyproject.toml").is_file()
    if has_pyproject:
        for lock, kind in _PYPROJECT_LOCKS:
            if (src / lock).is_file():
                return Declaration(kind, src / lock)
    if (src / "Pipfile.lock").is_file():
        return Declaration(DeclarationKind.PIPFILE_LOCK, src / "Pipfile.lock")
    if (src / "Pipfile").is_file():
        return Declaration(DeclarationKind.PIPFILE, src / "Pipfile")
    if has_pyproject:
        return Declaration(DeclarationKind.PYPROJECT, src / "pyproject.toml")
    return None
