"""pnpm and Yarn installs for the Lambda platform: their command lines and configuration.

Each runs in the scratch directory ``install`` stages (package.json, the lockfile, the
tool's registry configuration), never in the source directory, and must leave a plain
node_modules tree Lambda loads without a loader:

- pnpm: ``pnpm install --frozen-lockfile --prod`` with ``node-linker=hoisted`` (a flat,
  npm-like tree; the default isolated linker is a forest of symlinks into
  ``node_modules/.pnpm``), ``package-import-method=copy`` (no hard links into the store),
  the store in the tool cache, and ``--os/--cpu/--libc`` (pnpm 10.14+) for the target's
  optional platform packages.
- Yarn classic: ``yarn install --frozen-lockfile --production --no-bin-links``, its cache
  in the tool cache. Yarn 1 picks optional platform packages for the machine it runs on
  (it has no setting for another platform), which the install notes say for arm64.
- Yarn berry: ``yarn workspaces focus --production`` (berry's ``install`` has no
  production mode; ``focus`` installs one workspace without its devDependencies) with
  ``nodeLinker: node-modules`` and ``nmMode: classic`` (copies, no hard links) and the
  target's ``supportedArchitectures``, written into the staged ``.yarnrc.yml`` over the
  user's own settings (whose registry and auth settings stay). Plug'n'Play is never used:
  Lambda's Node.js cannot load a PnP tree without its loader. ``focus`` has no
  ``--immutable`` (yarnpkg/berry#6277) and, measured, neither fails on nor writes a stale
  lockfile, so ``yarn install --mode=update-lockfile`` runs first in scratch: it only
  resolves (no link step, no fetch of locked packages), and a lockfile it rewrote is out
  of date (``--immutable`` cannot go with that mode).

``yarnPath`` (a project's pinned Yarn release, not staged) is ignored through
``YARN_IGNORE_PATH``: the tool found (``managers.find_tool``) runs, and its version is
part of the install key.
"""

from __future__ import annotations

import re
from pathlib import Path

from lambdaforge.builders.node import managers
from lambdaforge.builders.node.install import NPM_CPU, NPM_LIBC, NPM_OS

#: top-level ``.yarnrc.yml`` settings replaced by the builder's (tree shape, scripts, release)
BERRY_FORCED = ("nodeLinker", "nmMode", "supportedArchitectures", "yarnPath", "enableScripts",
                "pnpMode", "enableImmutableInstalls", "enableGlobalCache", "globalFolder", "cacheFolder")


def pnpm_argv(executable: str, architecture: str, allow_scripts: bool, tool_cache: Path,
              offline: bool) -> list[str]:
    """The ``pnpm install`` command line; every setting that shapes the tree is explicit."""
    argv = [executable, "install", "--frozen-lockfile", "--prod",
            "--config.node-linker=hoisted", "--config.package-import-method=copy",
            "--config.confirm-modules-purge=false", "--reporter=append-only",
            f"--store-dir={tool_cache / 'pnpm-store'}",
            f"--os={NPM_OS}", f"--cpu={NPM_CPU[architecture]}", f"--libc={NPM_LIBC}"]
    if not allow_scripts:
        argv.append("--ignore-scripts")
    if offline:
        argv.append("--offline")
    return argv


#: Yarn 1's cache folder in the tool cache, shared by every Yarn 1 install
YARN_CLASSIC_CACHE = "yarn-classic-cache"


def yarn_classic_cache_lock(tool_cache: Path) -> Path:
    """The lock file Yarn 1 installs hold while they use ``YARN_CLASSIC_CACHE``, beside it."""
    return tool_cache / f"{YARN_CLASSIC_CACHE}.lock"


def yarn_classic_argv(executable: str, allow_scripts: bool, tool_cache: Path, offline: bool) -> list[str]:
    """The Yarn 1 command line: frozen lockfile, production only, no ``.bin`` links."""
    argv = [executable, "install", "--frozen-lockfile", "--production", "--non-interactive",
            "--no-bin-links", "--no-progress", f"--cache-folder={tool_cache / YARN_CLASSIC_CACHE}"]
    if not allow_scripts:
        argv.append("--ignore-scripts")
    if offline:
        argv.append("--offline")
    return argv


def yarn_berry_argv(executable: str) -> list[str]:
    """Berry's production install of the staged package (its root workspace)."""
    return [executable, "workspaces", "focus", "--production"]


def yarn_berry_check_argv(executable: str) -> list[str]:
    """Berry's lockfile check: resolve only, writing the lockfile where it would change."""
    return [executable, "install", "--mode=update-lockfile"]


def yarn_env(manager: managers.Manager, allow_scripts: bool, tool_cache: Path, offline: bool) -> dict[str, str]:
    """Environment of a Yarn run: the project's pinned release ignored, berry's cache in
    the tool cache, no telemetry or progress output."""
    env = {"YARN_IGNORE_PATH": "1", "YARN_ENABLE_TELEMETRY": "0", "YARN_ENABLE_PROGRESS_BARS": "0"}
    if manager is managers.YARN_BERRY:
        env.update({"YARN_ENABLE_GLOBAL_CACHE": "1", "YARN_GLOBAL_FOLDER": str(tool_cache / "yarn-berry"),
                    "YARN_ENABLE_SCRIPTS": "1" if allow_scripts else "0"})
        if offline:
            env["YARN_ENABLE_OFFLINE_MODE"] = "1"
    return env


def berry_rc(user_rc: str | None, architecture: str) -> str:
    """The staged ``.yarnrc.yml``: the user's settings less the ones the builder decides
    (``BERRY_FORCED``, each top-level key with its indented block), then the builder's."""
    kept: list[str] = []
    skipping = False
    for line in (user_rc or "").splitlines():
        top = re.match(r"^([A-Za-z][\w-]*)\s*:", line)
        if top:
            skipping = top.group(1) in BERRY_FORCED
        elif line and not line[0].isspace() and not line.startswith(("#", "-")):
            skipping = False
        if not skipping:
            kept.append(line)
    ours = [
        "nodeLinker: node-modules",
        "nmMode: classic",
        "supportedArchitectures:",
        f"  os: [{NPM_OS}]",
        f"  cpu: [{NPM_CPU[architecture]}]",
        f"  libc: [{NPM_LIBC}]",
    ]
    return "\n".join([*kept, *ours]) + "\n"
