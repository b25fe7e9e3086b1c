"""Which files of a package directory npm would pack: ``package.json`` ``files`` and ``.npmignore``.

A Node.js source that says what it publishes (a ``files`` list in ``package.json``, or
``.npmignore`` files) ships in its zip what ``npm pack`` would put in its tarball, so the
zip and the package agree. npm's rules (npm-packlist 10, in npm 11) are subtle enough that
lambdaforge asks npm rather than imitating it:

- ``files`` lists what is included (globs, directories with their content, ``!`` negations),
  and a root ``.npmignore`` does not override it, while one in a subdirectory does; without
  ``files``, ``.npmignore`` (else ``.gitignore``) in each directory excludes;
- always included: ``package.json``, the root ``README``/``LICENSE``/``LICENCE``/``COPYING``
  (any extension, any case), the ``main``, ``browser`` and ``bin`` files;
- always excluded: ``.npmrc``, ``.git``, ``.npmignore``, ``.gitignore``, ``node_modules`` (no
  bundled dependency ships: they come from the install), ``package-lock.json``,
  ``yarn.lock``, ``pnpm-lock.yaml``, ``bun.lockb``, editor and OS droppings (``.*.swp``,
  ``.DS_Store``, ``*.orig``, ``npm-debug.log``).

``npm pack --dry-run --json --ignore-scripts`` runs in a scratch copy of the directory (no
``node_modules``, no ``.npmrc``; a ``name`` and ``version`` filled in when missing, which
npm insists on), so no script runs and nothing of the source changes. Sources that say
nothing (no ``files``, no ``.npmignore``) are not passed through npm: they ship as before.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from lambdaforge.builders.base import BuildContext
from lambdaforge.errors import BuildError

#: what npm is told the package is called when its package.json has no name or version
STAND_IN_NAME = "lambdaforge-packlist"
STAND_IN_VERSION = "0.0.0"
#: left out of the scratch copy: a developer's install, npm's settings (never packed)
_NOT_STAGED = ("node_modules", ".git", ".npmrc")


def declares_contents(package_dir: Path) -> bool:
    """Whether the directory says what it publishes: ``files`` in its package.json, or a
    ``.npmignore`` anywhere in it (outside ``node_modules``)."""
    manifest = _manifest(package_dir)
    if manifest is not None and "files" in manifest:
        return True
    for dirpath, dirnames, filenames in os.walk(package_dir):
        dirnames[:] = [d for d in dirnames if d not in _NOT_STAGED]
        if ".npmignore" in filenames:
            return True
    return False


def packed_files(package_dir: Path, ctx: BuildContext) -> list[str]:
    """The files (POSIX paths relative to ``package_dir``, sorted) ``npm pack`` would put in
    the package, ``node_modules`` aside."""
    ctx.scratch.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="packlist-", dir=ctx.scratch))
    try:
        stage = work / "package"
        shutil.copytree(package_dir, stage, ignore=shutil.ignore_patterns(*_NOT_STAGED))
        manifest = _manifest(package_dir)
        stand_in = dict(manifest or {})
        stand_in.setdefault("name", STAND_IN_NAME)
        stand_in.setdefault("version", STAND_IN_VERSION)
        if stand_in != manifest:
            (stage / "package.json").write_text(json.dumps(stand_in), encoding="utf-8")
        argv = ["npm", "pack", "--dry-run", "--json", "--ignore-scripts", "--no-update-notifier"]
        result = ctx.runner.run(argv, cwd=stage, timeout=300,
                                env={"npm_config_logs_dir": str(work / "logs")})
        if not result.ok:
            raise BuildError(f"npm could not list the files of {package_dir.name}/ "
                             f"(package.json `files`, .npmignore)\n{result.describe()}")
        try:
            listed = [f["path"] for f in json.loads(result.stdout)[0]["files"]]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise BuildError(f"npm pack --dry-run --json gave no file list ({exc})\n"
                             f"{result.describe()}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    files = {p for p in listed if not (p == "node_modules" or p.startswith("node_modules/"))}
    if manifest is None:
        files.discard("package.json")  # npm's stand-in, not the user's
    return sorted(files)


def _manifest(package_dir: Path) -> dict | None:
    """The directory's package.json as an object, or ``None`` without a readable one."""
    try:
        data = json.loads((package_dir / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
