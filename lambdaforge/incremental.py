"""Incremental builds: re-plan only the targets whose inputs changed.

The replay record (``lambdaforge.replay``) says, per target, which observations no longer
hold. When nothing the project or the graph depends on changed (the record's ``project``
group held: config files as parsed, discover listings, environment, tools, lambdaforge
itself) and every change is a file's content or an output (no directory gained or lost an
entry, no dependency declaration changed, no install's inputs moved), the graph is what it
was. The build then loads the project, the graph and every target's key from the plan cache
(``lambdaforge.plancache``) instead of the config, and the planner plans only the changed
targets and what depends on them; their direct inputs are taken as the last build left
them. The planner still decides each of those targets from its inputs: this only chooses
which targets to ask it about.

Anything else (a new file, a requirements edit, a config edit, no plan cache) is the full
planner's, as before.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lambdaforge import replay

#: File names whose content decides which installs exist (and so the graph's shape), in
#: any builder: a change to one is never handled incrementally.
DECLARATIONS = frozenset({
    "requirements.txt", "pyproject.toml", "uv.lock", "poetry.lock", "Pipfile", "Pipfile.lock",
    "setup.py", "setup.cfg", "package.json", "package-lock.json", "npm-shrinkwrap.json",
    "yarn.lock", "pnpm-lock.yaml", ".npmrc", "go.mod", "go.sum", "Cargo.toml", "Cargo.lock",
})


@dataclass
class Scope:
    """What an incremental build needs: the cached project and full graph, every target's
    key as of the last build, and the targets whose inputs changed."""

    project: object  # config.specs.Project (kept untyped: importing it here is not free)
    graph: object  # graph.TargetGraph
    keys: Mapping[str, str]
    stale: set[str] = field(default_factory=set)
    #: the plan cache's generation token: the build rewrites only its keys
    generation: str | None = None


def scope(root: Path, identity: Mapping[str, object], found: replay.Replayed) -> Scope | None:
    """The incremental scope of a build of ``root`` whose replay found ``found``, or
    ``None`` when the full planner must decide (see the module docstring for when)."""
    if found.up_to_date or "project" in found.failing:
        return None
    cache_dir = os.environ.get("FORGE_CACHE_DIR", "")
    if cache_dir and not os.path.isabs(cache_dir):
        return None  # relative to the directory forge was started in: may differ now
    for observations in found.failing.values():
        for obs in observations:
            if obs[0] not in ("f", "o"):
                return None  # a listing, a missing path, a tool, the environment
            if obs[0] == "f" and os.path.basename(obs[1]) in DECLARATIONS:
                return None
    from lambdaforge import plancache

    cached = plancache.load(root, identity)
    if cached is None:
        return None
    project, graph, keys, generation = cached
    stale = set(found.failing)
    for tid in stale:
        try:
            kind = graph.target(tid).kind.value
        except KeyError:
            return None
        if kind == "install":  # its inputs decide its identity (the graph's shape)
            return None
    return Scope(project, graph, keys, stale, generation)
