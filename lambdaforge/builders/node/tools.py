"""The local Node.js toolchain: which ``node`` and ``npm`` run, at which versions.

Their versions are part of every Node install key (npm's resolver and tarball handling
change between releases), and the handler import check needs the local Node major.
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

#: ``npm ci --os/--cpu/--libc`` decide platform-specific optional dependencies for the
#: *target*; ``--libc`` arrived in npm 10 (npm/cli#6914). An older npm warns "Unknown cli
#: config" and silently installs for the host, so it is refused.
MIN_NPM = (10, 4)


class NodeToolchain(Struct, frozen=True):
    """Versions of the local ``node`` and ``npm`` (``"20.20.2"``, ``"11.19.1"``)."""

    node: str
    npm: str

    @property
    def node_major(self) -> int:
        """Major version of the local Node.js, compared with the runtime's."""
        return int(self.node.split(".")[0])


def _version(runner: Runner, argv: list[str]) -> str:
    result = runner.run(argv, timeout=60)
    if not result.ok:
        raise BuildError(
            f"`{' '.join(argv)}` failed: Node.js and npm are needed to build Node.js functions\n"
            + result.describe()
        )
    match = re.search(r"(\d+\.\d+\.\d+)", result.stdout)
    if match is None:
        raise BuildError(f"cannot read a version from `{' '.join(argv)}`: {result.stdout!r}")
    return match.group(1)


def npm_version_on_disk() -> str | None:
    """npm's version from the ``package.json`` of the npm installation that ``npm`` on PATH
    runs (``…/npm/bin/npm-cli.js`` → ``…/npm/package.json``), or ``None`` where npm is laid
    out otherwise (a Windows ``npm.cmd``). ``npm --version`` starts Node and loads npm
    (~0.3 s); every plan of a Node.js package needs the version (``packlist``)."""
    found = shutil.which("npm")
    if found is None:
        return None
    cli = Path(os.path.realpath(found))
    try:
        manifest = json.loads((cli.parent.parent / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if cli.name != "npm-cli.js" or not isinstance(manifest, dict) or manifest.get("name") != "npm":
        return None
    version = manifest.get("version")
    if not isinstance(version, str):
        return None
    return version if re.fullmatch(r"\d+\.\d+\.\d+", version) else None


#: Lambda architecture → Node's ``process.arch``
NODE_ARCH = {"x86_64": "x64", "arm64": "arm64"}

_PROBE = "console.log(JSON.stringify([process.platform, process.arch, process.versions.node]))"
_probed: dict[str, tuple[str, str, str] | None] = {}


def _probe(node: str, runner: Runner) -> tuple[str, str, str] | None:
    """(``process.platform``, ``process.arch``, version) of a ``node``, once per process."""
    if node not in _probed:
        result = runner.run([node, "-e", _PROBE], timeout=30)
        try:
            platform, arch, version = json.loads(result.stdout.strip().splitlines()[-1])
            _probed[node] = (str(platform), str(arch), str(version))
        except (ValueError, IndexError, TypeError):
            _probed[node] = None
    return _probed[node]


def find_node(runtime_major: str, architecture: str, runner: Runner) -> tuple[str | None, str]:
    """The local ``node`` that can import a function of Node.js ``runtime_major`` on the
    Lambda ``architecture`` (``x86_64``/``arm64``): (path, "") or (None, why none fits).
    As the Python builder's ``find_interpreter``: the version and the CPU architecture must
    both be the function's, or native addons built for Lambda cannot load here."""
    want = NODE_ARCH[architecture]
    head = f"no Node.js {runtime_major} for {architecture} Linux here"
    node = shutil.which("node")
    if node is None:
        return None, f"{head}: no node on PATH"
    probed = _probe(node, runner)
    if probed is None:
        return None, f"{head}: {node} does not run"
    platform, arch, version = probed
    if platform != "linux":
        return None, f"{head}: {node} is not a Linux node ({platform})"
    if version.split(".")[0] != runtime_major:
        return None, f"{head}: {node} is Node.js {version}"
    if arch != want:
        shown = {v: k for k, v in NODE_ARCH.items()}.get(arch, arch)
        return None, f"{head}: {node} runs on {shown}, the function on {architecture}"
    return node, ""


def detect_toolchain(runner: Runner) -> NodeToolchain:
    """Ask the local ``node`` and ``npm`` for their versions (npm's read from its own
    package.json when it can be); an npm too old to install for another platform is an
    error rather than a silently wrong tree."""
    npm = npm_version_on_disk() or _version(runner, ["npm", "--version"])
    toolchain = NodeToolchain(node=_version(runner, ["node", "--version"]), npm=npm)
    npm = tuple(int(p) for p in toolchain.npm.split(".")[:2])
    if npm < MIN_NPM:
        need = ".".join(map(str, MIN_NPM))
        raise BuildError(
            f"npm {toolchain.npm} cannot install for the Lambda platform (needs --os, --cpu and "
            f"--libc, npm {need}+): run `npm install -g npm@11`"
        )
    return toolchain
