"""Which file declares a Python function's or layer's dependencies: one documented
precedence when several are present (README, "Dependency declarations").

1. the file named by ``requirements`` in the config (the user said so);
2. ``requirements.txt`` in the source directory (the explicit, tool-neutral list; a
   project that also has a lock usually exports it on purpose);
3. ``uv.lock`` (with its ``pyproject.toml``), 4. ``poetry.lock``, 5. ``pylock.toml``
   (PEP 751; a ``pdm.lock`` in its place is an error: forge does not read PDM's format),
   6. ``Pipfile.lock`` (a ``Pipfile`` without one is an error): locks pin exact versions
   and hashes, so they win over ranges; uv before Poetry before the standard lock before
   Pipenv only decides the rare repository that has several;
7. ``pyproject.toml``'s ``[project] dependencies`` (PEP 621 ranges, resolved at install).

A configured ``pyproject.toml`` is read with the lock beside it by the same order. A
``pyproject.toml`` that is a member of a uv workspace (a ``pyproject.toml`` above it with
``[tool.uv.workspace]`` whose ``members`` globs name its folder) is read with the
workspace's ``uv.lock``, as ``uv`` itself does: the lock says where its workspace
dependencies and ``[tool.uv.sources]`` come from, which ``[project] dependencies`` alone
does not (a workspace member ``common`` read from there alone is PyPI's ``common``).
"""

from __future__ import annotations

import glob
import os
import tomllib
from enum import Enum
from pathlib import Path

from msgspec import Struct


class DeclarationKind(str, Enum):
    """The formats the Python builder reads, by how it reads them."""

    REQUIREMENTS = "requirements"
    UV_LOCK = "uv.lock"
    POETRY_LOCK = "poetry.lock"
    PYLOCK = "pylock.toml"  # PEP 751, or a named one: pylock.<name>.toml
    PDM_LOCK = "pdm.lock"  # not read: an error saying how to export it
    PIPFILE_LOCK = "Pipfile.lock"
    PIPFILE = "Pipfile"  # without a lock: an error
    PYPROJECT = "pyproject.toml"


class Declaration(Struct, frozen=True):
    """The file that declares the dependencies (``path``) and how to read it."""

    kind: DeclarationKind
    path: Path
    #: the ``pyproject.toml`` a ``uv.lock`` is read for, where that is not the one beside
    #: it (a uv workspace member's)
    member: Path | None = None
    #: the files whose presence or content decided it, outside the source folder (a uv
    #: workspace's root ``pyproject.toml`` and ``uv.lock``, the folders' above it): the
    #: install watches them, so a workspace or lock appearing later is seen
    probed: tuple[Path, ...] = ()


#: lock files beside a pyproject.toml, in precedence order
_PYPROJECT_LOCKS = (("uv.lock", DeclarationKind.UV_LOCK), ("poetry.lock", DeclarationKind.POETRY_LOCK),
                    ("pylock.toml", DeclarationKind.PYLOCK), ("pdm.lock", DeclarationKind.PDM_LOCK))
#: locks read on their own, in a source folder without a ``pyproject.toml``
_LONE_LOCKS = (("Pipfile.lock", DeclarationKind.PIPFILE_LOCK), ("pylock.toml", DeclarationKind.PYLOCK),
               ("pdm.lock", DeclarationKind.PDM_LOCK))


def of_file(path: Path, root: Path | None = None) -> Declaration:
    """How to read a file the config names (``requirements = "…"``), by its name; a uv
    workspace is looked for up to ``root`` (the project's)."""
    name = path.name
    if name == "pyproject.toml":
        return _of_pyproject(path, root)
    if name in ("uv.lock", "poetry.lock", "Pipfile.lock", "pylock.toml", "pdm.lock"):
        return Declaration(DeclarationKind(name), path)
    if name.startswith("pylock.") and name.endswith(".toml"):  # PEP 751's pylock.<name>.toml
        return Declaration(DeclarationKind.PYLOCK, path)
    if name == "Pipfile":
        lock = path.parent / "Pipfile.lock"
        return Declaration(*((DeclarationKind.PIPFILE_LOCK, lock) if lock.is_file()
                             else (DeclarationKind.PIPFILE, path)))
    return Declaration(DeclarationKind.REQUIREMENTS, path)


def in_directory(src: Path, root: Path | None = None) -> Declaration | None:
    """The declaration found in a source directory by the precedence above, or ``None``;
    a uv workspace is looked for up to ``root`` (the project's)."""
    if (src / "requirements.txt").is_file():
        return Declaration(DeclarationKind.REQUIREMENTS, src / "requirements.txt")
    pyproject = src / "pyproject.toml"
    declared = _of_pyproject(pyproject, root) if pyproject.is_file() else None
    if declared is not None and declared.kind is not DeclarationKind.PYPROJECT:
        return declared
    for lock, kind in _LONE_LOCKS:
        if (src / lock).is_file():
            return Declaration(kind, src / lock)
    if (src / "Pipfile").is_file():
        return Declaration(DeclarationKind.PIPFILE, src / "Pipfile")
    return declared


def _of_pyproject(path: Path, root: Path | None) -> Declaration:
    """A ``pyproject.toml`` with the lock beside it, else its uv workspace's ``uv.lock``,
    else on its own."""
    for lock, kind in _PYPROJECT_LOCKS:
        if (path.parent / lock).is_file():
            return Declaration(kind, path.parent / lock)
    probed: list[Path] = []
    workspace = uv_workspace_root(path.parent, root, probed)
    if workspace is not None:
        probed.append(workspace / "uv.lock")
        if (workspace / "uv.lock").is_file():
            return Declaration(DeclarationKind.UV_LOCK, workspace / "uv.lock", member=path,
                               probed=tuple(probed))
    return Declaration(DeclarationKind.PYPROJECT, path, probed=tuple(probed))


def uv_workspace_root(member: Path, root: Path | None, probed: list[Path] | None = None) -> Path | None:
    """The folder above ``member`` (up to ``root``, or to the file system's root) whose
    ``pyproject.toml`` declares a ``[tool.uv.workspace]`` that has ``member`` among its
    ``members`` and not among its ``exclude`` (globs relative to it, as uv reads them);
    ``None`` when there is none. The nearest workspace decides, as in uv. Each
    ``pyproject.toml`` looked at is appended to ``probed``."""
    here = Path(os.path.realpath(member))
    stop = Path(os.path.realpath(root)) if root is not None else None
    for folder in here.parents:
        if stop is not None and folder != stop and stop not in folder.parents:
            return None
        if probed is not None:
            probed.append(folder / "pyproject.toml")
        workspace = _uv_workspace_table(folder / "pyproject.toml")
        if workspace is not None:
            members = _expanded(folder, workspace.get("members"))
            return folder if here in members and here not in _expanded(
                folder, workspace.get("exclude")) else None
    return None


def _uv_workspace_table(path: Path) -> dict | None:
    """``[tool.uv.workspace]`` of a ``pyproject.toml``, or ``None`` (no file, none there,
    or not TOML: the file is then no workspace root uv could use either)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    workspace = _uv_table(data).get("workspace")
    return workspace if isinstance(workspace, dict) else None


def uv_sources(data: dict) -> dict:
    """``[tool.uv.sources]`` of a parsed ``pyproject.toml`` (empty when there is none)."""
    sources = _uv_table(data).get("sources")
    return sources if isinstance(sources, dict) else {}


def _uv_table(data: dict) -> dict:
    tool = data.get("tool")
    uv = tool.get("uv") if isinstance(tool, dict) else None
    return uv if isinstance(uv, dict) else {}


def _expanded(folder: Path, patterns: object) -> set[Path]:
    """The directories that ``patterns`` (globs relative to ``folder``) match, resolved."""
    found: set[Path] = set()
    for pattern in patterns if isinstance(patterns, list) else ():
        if isinstance(pattern, str):
            for match in glob.glob(os.path.join(glob.escape(str(folder)), pattern), recursive=True):
                if os.path.isdir(match):
                    found.add(Path(os.path.realpath(match)))
    return found
