"""Which package manager installs a Node.js function or layer, and where its tool is.

The lockfile decides, because it is what the install must follow: ``package-lock.json`` or
``npm-shrinkwrap.json`` → npm, ``pnpm-lock.yaml`` → pnpm, ``yarn.lock`` → Yarn, classic
(1.x, ``# yarn lockfile v1``) or berry (2+, a YAML file with ``__metadata``). Each is
installed by its own tool: another tool would re-resolve the dependencies. With several
lockfiles beside one package.json, its ``packageManager`` field (Corepack's
``"pnpm@10.34.8"``) chooses; without one that names a present lockfile's tool, it is an
error listing them. Without any lockfile, ``packageManager`` still names the tool whose
lock command the error gives.

Tools are found on PATH (``pnpm``, ``yarn``), or through ``FORGE_PNPM``, ``FORGE_YARN`` and
the kind-specific ``FORGE_YARN_CLASSIC`` / ``FORGE_YARN_BERRY`` (which win over
``FORGE_YARN``), like ``FORGE_ESBUILD``. A yarn of the wrong major for the lockfile is an
error: Yarn 1 cannot read a berry lockfile, and berry rewrites a classic one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from msgspec import Struct

from lambdaforge.errors import BuildError
from lambdaforge.runner import Runner


class Manager(Struct, frozen=True):
    """One package manager: its lockfile, its tool, and the commands a user runs."""

    #: ``npm``, ``pnpm``, ``yarn-classic``, ``yarn-berry``
    name: str
    #: the executable's name on PATH
    tool: str
    lockfile: str
    #: what writes or refreshes the lockfile (run in the package's directory)
    relock: str
    #: how a user gets the tool
    install_hint: str
    #: environment variables naming the tool, most specific first
    env: tuple[str, ...]

    @property
    def shown(self) -> str:
        """The name users know (``Yarn 1``, ``Yarn 4``-style berry, ``pnpm``, ``npm``)."""
        return {"yarn-classic": "Yarn classic (1.x)", "yarn-berry": "Yarn berry (2+)"}.get(self.name, self.name)


NPM = Manager("npm", "npm", "package-lock.json", "npm install --package-lock-only",
              "it comes with Node.js", ())
PNPM = Manager("pnpm", "pnpm", "pnpm-lock.yaml", "pnpm install --lockfile-only",
               "`npm install -g pnpm@10` or `corepack enable pnpm`", ("FORGE_PNPM",))
YARN_CLASSIC = Manager("yarn-classic", "yarn", "yarn.lock", "yarn install",
                       "`npm install -g yarn@1`", ("FORGE_YARN_CLASSIC", "FORGE_YARN"))
YARN_BERRY = Manager("yarn-berry", "yarn", "yarn.lock", "yarn install --mode=update-lockfile",
                     "`corepack enable yarn` or `npm install -g @yarnpkg/cli-dist@4`",
                     ("FORGE_YARN_BERRY", "FORGE_YARN"))
MANAGERS = {m.name: m for m in (NPM, PNPM, YARN_CLASSIC, YARN_BERRY)}
#: lockfiles npm installs from, in npm's own order of preference
NPM_LOCKFILES = ("npm-shrinkwrap.json", "package-lock.json")
#: lockfiles of tools lambdaforge does not drive (named in the error)
UNSUPPORTED_LOCKFILES = {"bun.lock": "Bun", "bun.lockb": "Bun"}


def yarn_kind(lock_text: str) -> Manager:
    """Classic or berry, from the lockfile's text: berry's is YAML with ``__metadata``."""
    return YARN_BERRY if re.search(r"^__metadata:", lock_text, re.MULTILINE) else YARN_CLASSIC


def lockfiles_in(package_dir: Path) -> list[tuple[Manager, Path]]:
    """Every lockfile beside a package.json with the manager it belongs to (npm's first;
    ``npm-shrinkwrap.json`` wins over ``package-lock.json``, as in npm)."""
    found: list[tuple[Manager, Path]] = []
    for name in NPM_LOCKFILES:
        if (package_dir / name).is_file():
            found.append((NPM, package_dir / name))
            break
    if (package_dir / PNPM.lockfile).is_file():
        found.append((PNPM, package_dir / PNPM.lockfile))
    yarn = package_dir / "yarn.lock"
    if yarn.is_file():
        try:
            text = yarn.read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        found.append((yarn_kind(text), yarn))
    return found


def declared_manager(package: dict) -> str | None:
    """The tool ``packageManager`` names (``"pnpm@10.34.8+sha512…"`` → ``pnpm``), if any."""
    value = package.get("packageManager")
    if not isinstance(value, str):
        return None
    name = value.split("@", 1)[0].strip()
    return name if name in ("npm", "pnpm", "yarn") else None


def choose(found: list[tuple[Manager, Path]], package: dict) -> tuple[Manager, Path] | str:
    """The lockfile to install from, or why there is no single one (several lockfiles and
    no ``packageManager`` naming one of their tools)."""
    if len(found) <= 1:
        return found[0] if found else "no lockfile"
    wanted = declared_manager(package)
    matching = [(m, p) for m, p in found if m.tool == wanted]
    if len(matching) == 1:
        return matching[0]
    names = ", ".join(p.name for _, p in found)
    return (f"several lockfiles beside it ({names}), so which package manager installs is "
            "unclear: delete the ones your project does not use, or name it in package.json's "
            '`"packageManager"` (e.g. "pnpm@10.34.8")')


def find_tool(manager: Manager) -> str:
    """The executable of ``manager``: its ``FORGE_*`` override, else PATH; an error naming
    the tool and how to get it when there is none."""
    for var in manager.env:
        value = os.environ.get(var)
        if value:
            if not Path(value).is_file():
                raise BuildError(f"{var}={value} names no file: point it at a {manager.shown} "
                                 f"executable, or unset it to use `{manager.tool}` on PATH")
            return str(Path(value).absolute())
    found = shutil.which(manager.tool)
    if found is None:
        override = f" (or set {manager.env[0]} to one)" if manager.env else ""
        raise BuildError(
            f"{manager.shown} is needed to install from {manager.lockfile}, but `{manager.tool}` "
            f"is not on PATH{override}: install it with {manager.install_hint}")
    return found


#: the npm packages whose ``bin`` the tools are: their package.json says the version
_TOOL_PACKAGES = {"pnpm": ("pnpm",), "yarn": ("yarn", "@yarnpkg/cli-dist")}


def version_on_disk(manager: Manager, executable: str) -> str | None:
    """The version in the package.json of the npm package the executable belongs to
    (``…/pnpm/bin/pnpm.cjs`` → ``…/pnpm/package.json``), ``None`` when it is laid out
    otherwise (a Corepack shim, a standalone binary). ``--version`` costs a Node start
    (~0.6 s of CPU), paid by every plan of a pnpm or Yarn package."""
    real = Path(os.path.realpath(executable))
    try:
        manifest = json.loads((real.parent.parent / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("name") not in _TOOL_PACKAGES[manager.tool]:
        return None
    version = manifest.get("version")
    return version if isinstance(version, str) and re.fullmatch(r"\d+\.\d+\.\d+", version) else None


def tool_version(manager: Manager, executable: str, runner: Runner) -> str:
    """The tool's version (``10.34.8``), part of the install key; for Yarn, an error when
    its major does not match the lockfile's kind."""
    version = version_on_disk(manager, executable)
    if version is None:
        result = runner.run([executable, "--version"], timeout=60)
        match = re.search(r"(\d+\.\d+\.\d+)", result.stdout) if result.ok else None
        if match is None:
            raise BuildError(f"`{executable} --version` failed: {manager.shown} is needed to install "
                             f"from {manager.lockfile}\n{result.describe()}")
        version = match.group(1)
    major = int(version.split(".")[0])
    if manager is YARN_CLASSIC and major != 1:
        raise BuildError(
            f"{executable} is Yarn {version}, but yarn.lock is a Yarn 1 (classic) lockfile, which "
            f"Yarn {major} would rewrite: use Yarn 1 ({YARN_CLASSIC.install_hint}, or set "
            "FORGE_YARN_CLASSIC), or migrate the project with `yarn set version berry && yarn install`")
    if manager is YARN_BERRY and major < 2:
        raise BuildError(
            f"{executable} is Yarn {version}, which cannot read a Yarn berry (2+) yarn.lock: "
            f"install berry with {YARN_BERRY.install_hint}, or set FORGE_YARN_BERRY")
    return version
