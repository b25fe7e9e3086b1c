"""Local packages (a path requirement naming a source folder) built to wheels, off the user's tree.

An installer given ``./pkg`` builds it in place: setuptools writes ``build/`` and
``*.egg-info`` into the user's folder (pip then fails with "sources changed while being
built", and a later build ships them), and uv refuses outright under ``--only-binary``.
Instead each local package is copied into scratch space without what building leaves
behind (``packaging.excludes.BUILD_LEFTOVERS``), built there to a wheel, and the requirement
is rewritten to that wheel, which the installer then installs like any other.

Wheels are cached in the tool cache under a digest of the package's files (paths, exec
bits, contents), the installer and the target: an unchanged package is built once. The same
walk (``package_files``) lists the files the install target is keyed by, so editing the
package rebuilds exactly the installs (and so the functions) that use it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from msgspec import Struct

from lambdaforge.packaging.excludes import BUILD_LEFTOVERS, PathRules

_LEFTOVERS = PathRules(BUILD_LEFTOVERS)

#: Bumped when the way local wheels are built changes (it is part of their cache digest).
_FORMAT = "1"

#: What build backends read, instead of the repository's history, for the version of a
#: package whose version comes from version control (setuptools-scm, hatch-vcs through
#: it, pdm-backend's scm source): the copy a local package is built from has no ``.git``,
#: so these are the way to give it one, and they change the wheel.
VERSION_VARIABLES = ("SETUPTOOLS_SCM_PRETEND_VERSION", "SETUPTOOLS_SCM_PRETEND_METADATA",
                     "PDM_BUILD_SCM_VERSION")
#: the per-package forms (``…_FOR_`` and the normalised distribution name)
_NAMED_VERSION_VARIABLES = ("SETUPTOOLS_SCM_PRETEND_VERSION_FOR_", "SETUPTOOLS_SCM_PRETEND_METADATA_FOR_")


def version_variables(top: Path) -> tuple[str, ...]:
    """The environment variables that give the package folder ``top`` a version its build
    would otherwise take from version control (``VERSION_VARIABLES``, and setuptools-scm's
    ``…_FOR_<NAME>`` forms for the ``[project] name`` its ``pyproject.toml`` declares)."""
    import re

    names = list(VERSION_VARIABLES)
    try:
        import tomllib

        name = tomllib.loads((top / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"]
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        name = None
    if isinstance(name, str) and name:
        normalized = re.sub(r"[-_.]+", "_", name).upper()
        names += [prefix + normalized for prefix in _NAMED_VERSION_VARIABLES]
    return tuple(names)


def is_version_variable(name: str) -> bool:
    """Whether ``name`` is one of ``version_variables``' names (for any package)."""
    return name in VERSION_VARIABLES or name.startswith(_NAMED_VERSION_VARIABLES)


def package_files(top: Path) -> tuple[list[str], list[str]]:
    """The regular files and the directories of the package folder ``top``, relative to it
    (POSIX, sorted), without ``BUILD_LEFTOVERS``; symlinks are followed as files only."""
    files: list[str] = []
    dirs: list[str] = [""]
    for dirpath, dirnames, filenames in os.walk(top):
        rel = os.path.relpath(dirpath, top).replace(os.sep, "/")
        rel = "" if rel == "." else rel + "/"
        dirnames[:] = sorted(d for d in dirnames if _LEFTOVERS.match(rel + d, is_dir=True) is None)
        dirs += [rel + d for d in dirnames]
        for name in filenames:
            if _LEFTOVERS.match(rel + name) is None and os.path.isfile(os.path.join(dirpath, name)):
                files.append(rel + name)
    return sorted(files), sorted(dirs)


def package_digest(top: Path, salt: str) -> str:
    """sha256 hex over ``salt`` and every file of the package: path, exec bit, content."""
    h = hashlib.sha256(f"{_FORMAT}\0{salt}\0".encode())
    files, _ = package_files(top)
    for rel in files:
        path = top / rel
        executable = os.access(path, os.X_OK)
        h.update(f"{rel}\0{int(executable)}\0".encode())
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def copy_package(top: Path, dest: Path) -> None:
    """Copy the package's files (``package_files``) into the new directory ``dest``."""
    files, dirs = package_files(top)
    for rel in dirs:
        (dest / rel).mkdir(parents=True, exist_ok=True)
    for rel in files:
        shutil.copy2(top / rel, dest / rel)


class LocalWheel(Struct, frozen=True):
    """A local package's wheel: where it is and whether it was built now or cached."""

    path: Path
    built_now: bool


def local_wheel(
    top: Path, cache: Path, scratch: Path, salt: str, build: Callable[[Path, Path], Path]
) -> LocalWheel:
    """The wheel of the package folder ``top``, from ``cache`` or built now.

    ``build(tree, out_dir)`` builds the copied ``tree`` into ``out_dir`` and returns the
    wheel's path (raising ``InstallError`` when it cannot); the wheel is moved into
    ``cache/<digest>/`` by a rename, so a half-written entry is never found.
    """
    digest = package_digest(top, salt)
    entry = cache / digest[:32]
    found = sorted(entry.glob("*.whl")) if entry.is_dir() else []
    if len(found) == 1:
        return LocalWheel(found[0], built_now=False)
    scratch.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="local-", dir=scratch))
    tree, out = work / top.name, work / "out"
    copy_package(top, tree)
    out.mkdir()
    wheel = build(tree, out)
    cache.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=".tmp-", dir=cache))
    shutil.move(str(wheel), staged / wheel.name)
    if entry.exists():
        shutil.rmtree(entry, ignore_errors=True)  # a broken entry: replaced
    try:
        os.rename(staged, entry)
    except OSError:  # another build stored it meanwhile: theirs is as good
        shutil.rmtree(staged, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    return LocalWheel(next(entry.glob("*.whl")), built_now=True)
