"""The local Node.js toolchain: which ``node`` and ``npm`` run, at which versions.

Their versions are part of every Node install key (npm's resolver and tarball handling
change between releases), and the handler import check needs the local Node major.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lambdaforge.errors import BuildError
from lambdaforge.runner import Runner

#: ``npm ci --os/--cpu/--libc`` decide platform-specific optional dependencies for the
#: *target*; ``--libc`` arrived in npm 10 (npm/cli#6914). An older npm warns "Unknown cli
#: config" and silently installs for the host, so it is refused.
MIN_NPM = (10, 4)


@dataclass(frozen=True)
class NodeToolchain:
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


def detect_toolchain(runner: Runner) -> NodeToolchain:
    """Ask the local ``node`` and ``npm`` for their versions; an npm too old to install for
    another platform is an error rather than a silently wrong tree."""
    toolchain = NodeToolchain(node=_version(runner, ["node", "--version"]),
                              npm=_version(runner, ["npm", "--version"]))
    npm = tuple(int(p) for p in toolchain.npm.split(".")[:2])
    if npm < MIN_NPM:
        need = ".".join(map(str, MIN_NPM))
        raise BuildError(
            f"npm {toolchain.npm} cannot install for the Lambda platform (needs --os, --cpu and "
            f"--libc, npm {need}+): run `npm install -g npm@11`"
        )
    return toolchain
