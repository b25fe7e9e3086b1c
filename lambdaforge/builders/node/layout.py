"""Where a Node.js function's or layer's files go inside its zip.

- Function: sources at the root (the handler file must be there), dependencies under
  ``node_modules/``.
- Layer: dependencies under ``nodejs/node_modules/`` (on ``NODE_PATH`` as
  ``/opt/nodejs/node_modules``). A layer's own code:
  - a source that already starts with ``nodejs/`` is used as laid out (what AWS's layer
    guide builds with ``npm install --prefix nodejs``);
  - a source that is a package (has a ``package.json``) goes to
    ``nodejs/node_modules/<package name>/``, so functions ``require('<package name>')``;
  - loose files go to ``nodejs/node_modules/``, so ``util.js`` is ``require('util')``… as
    design §4 says for Node layers.

The ``node_modules`` a developer has in the source directory never ships: it was installed
for the host, with dev dependencies; the install target provides the real one.

A function's sources, a package layer's package and a layer's loose files that say what they
publish (``files`` in package.json, ``.npmignore``) ship what ``npm pack`` would
(``packlist``): the builder passes that list as ``packed``.
"""

from __future__ import annotations

import shutil
from collections.abc import Collection
from pathlib import Path

from lambdaforge.builders.base import ArtifactKind
from lambdaforge.builders.node.lockfile import ALL_LOCKFILE_NAMES, read_json

FUNCTION_DEPENDENCY_PREFIX = "node_modules/"
LAYER_PREFIX = "nodejs/node_modules/"


def dependency_prefix(kind: ArtifactKind) -> str:
    """Where installed packages go in the zip."""
    return FUNCTION_DEPENDENCY_PREFIX if kind == "function" else LAYER_PREFIX


def source_prefix(kind: ArtifactKind, source_names: frozenset[str]) -> str:
    """Where the (prepared) sources go in the zip; see the module docstring."""
    if kind == "function" or "nodejs" in source_names:
        return ""
    return LAYER_PREFIX


def vendored_layer(source_dir: Path) -> bool:
    """A layer source laid out the AWS way (``nodejs/``) with no ``nodejs/package.json``:
    nothing installs, so the modules it holds under ``nodejs/node_modules/`` or
    ``nodejs/nodeNN/node_modules/`` (your own shared code, or a vendored tree) are what the
    layer ships."""
    nodejs = source_dir / "nodejs"
    return nodejs.is_dir() and not (nodejs / "package.json").is_file() and not (
        source_dir / "package.json").is_file()


def package_dir_of_layer(source_dir: Path) -> Path:
    """The directory whose package.json defines a layer's dependencies: the source itself,
    or ``nodejs/`` in a source laid out the AWS way."""
    if not (source_dir / "package.json").is_file() and (source_dir / "nodejs" / "package.json").is_file():
        return source_dir / "nodejs"
    return source_dir


def copy_without(src: Path, dest: Path, drop: frozenset[str]) -> Path:
    """Copy ``src`` to ``dest`` leaving out the ``drop`` paths (relative, POSIX) and ``.git``."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        rel = Path(directory).relative_to(src).as_posix()
        prefix = "" if rel == "." else rel + "/"
        return {n for n in names if prefix + n in drop or n == ".git"}

    shutil.copytree(src, dest, ignore=ignore, dirs_exist_ok=True)
    return dest


def copy_listed(src: Path, dest: Path, files: Collection[str]) -> Path:
    """Copy the ``files`` (POSIX paths relative to ``src``) to the same places under ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for rel in sorted(files):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, target)
    return dest


def prepare_function_sources(source_dir: Path, out_dir: Path,
                             packed: Collection[str] | None = None) -> Path | None:
    """The unbundled function's sources: the ``packed`` files when npm's rules decide
    (``packlist``), else the source directory minus its ``node_modules`` (copied only when
    there is one to leave out)."""
    if packed is not None:
        return copy_listed(source_dir, out_dir, packed)
    if not (source_dir / "node_modules").exists():
        return None
    return copy_without(source_dir, out_dir, frozenset({"node_modules"}))


def prepare_layer_sources(source_dir: Path, layer_name: str, out_dir: Path,
                          packed: Collection[str] | None = None) -> Path | None:
    """A layer's own code, laid out so ``source_prefix`` places it right (module docstring);
    ``packed``, for a package or loose files, is what npm's rules let through."""
    if (source_dir / "nodejs").is_dir():
        drop = frozenset({"nodejs/node_modules"}) if (source_dir / "nodejs/package.json").is_file() else frozenset()
        drop |= {"node_modules"} if (source_dir / "node_modules").exists() else frozenset()
        if vendored_layer(source_dir) or any((source_dir / d).exists() for d in drop):
            # A copy: the packaged tree then goes without the builder's node_modules/ exclude
            # (a vendored layer's nodejs/node_modules/ is its content)
            return copy_without(source_dir, out_dir, drop)
        return None
    if (source_dir / "package.json").is_file():
        name = read_json(source_dir / "package.json", "package.json").get("name") or layer_name
        # The lockfile describes how to install the package's dependencies, which the install
        # target has done; it is no part of the package.
        drop = frozenset({"node_modules", *ALL_LOCKFILE_NAMES})
        dest = out_dir / LAYER_PREFIX / name
        if packed is not None:
            copy_listed(source_dir, dest, [f for f in packed if f not in drop])
        else:
            copy_without(source_dir, dest, drop)
        return out_dir
    return prepare_function_sources(source_dir, out_dir, packed)
