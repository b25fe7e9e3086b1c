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

A dependency declaration edited in place (``requirements.txt``, a lockfile) may change which
installs exist, so the graph is built again and every target planned; but the project
cannot have changed (resolving it reads no declaration's content, only whether a default
one exists, and a file appearing or going is a listing change), so ``cached_project`` hands
the full planner the cached project instead of loading the config: no TOML, no Pydantic.

Anything else (a new file, a config edit, no plan cache) is the full planner's, as before.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from msgspec import Struct, field

from lambdaforge import replay

if TYPE_CHECKING:
    from lambdaforge.config.specs import Project

#: File names whose content decides which installs exist (and so the graph's shape), in
#: any builder: a change to one is never handled incrementally.
DECLARATIONS = frozenset({
    "requirements.txt", "pyproject.toml", "uv.lock", "poetry.lock", "Pipfile", "Pipfile.lock",
    "setup.py", "setup.cfg", "package.json", "package-lock.json", "npm-shrinkwrap.json",
    "yarn.lock", "pnpm-lock.yaml", ".npmrc", "go.mod", "go.sum", "Cargo.toml", "Cargo.lock",
})


class Scope(Struct):
    """What an incremental build needs: the cached project and full graph, every target's
    key as of the last build, and the targets whose inputs changed."""

    project: object  # config.specs.Project (kept untyped: importing it here is not free)
    graph: object  # graph.TargetGraph
    keys: Mapping[str, str]
    stale: set[str] = field(default_factory=set)
    #: the plan cache's generation token: the build rewrites only its keys
    generation: str | None = None
    #: the replay that found this scope (``replay.Replayed``): its record is the one the build
    #: carries unchanged targets' groups over from, while the file is still the one it read
    replayed: object = None


def _contents_only(found: replay.Replayed) -> bool:
    """True when what changed since the last build is files' content and outputs only (the
    project group held, no listing, missing path, tool or environment changed) and the
    cache directory means what it meant then."""
    if found.up_to_date or "project" in found.failing:
        return False
    cache_dir = os.environ.get("FORGE_CACHE_DIR", "")
    if cache_dir and not os.path.isabs(cache_dir):
        return False  # relative to the directory forge was started in: may differ now
    return all(obs[0] in ("f", "o") for observations in found.failing.values()
               for obs in observations)


def _declarations(found: replay.Replayed) -> list[str]:
    """The project-relative dependency declarations among the changed files."""
    return [obs[1] for observations in found.failing.values() for obs in observations
            if obs[0] == "f" and os.path.basename(obs[1]) in DECLARATIONS]


def cached_project(root: Path, identity: Mapping[str, object],
                   found: replay.Replayed) -> Project | None:
    """The last build's project, for a full plan after dependency declarations were edited
    in place (and nothing else but contents changed); ``None`` when the config must be
    loaded. A declaration that is gone now is left to the loader, whose error names the
    config line that points at it."""
    if not _contents_only(found):
        return None
    changed = _declarations(found)
    if not changed or not all(os.path.isfile(os.path.join(root, rel)) for rel in changed):
        return None
    from lambdaforge import plancache

    cached = plancache.load(root, identity)
    return cached[0] if cached is not None else None  # type: ignore[return-value]


def scope(root: Path, identity: Mapping[str, object], found: replay.Replayed) -> Scope | None:
    """The incremental scope of a build of ``root`` whose replay found ``found``, or
    ``None`` when the full planner must decide (see the module docstring for when)."""
    if not _contents_only(found) or _declarations(found):
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
    return Scope(project, graph, keys, stale, generation, replayed=found)
