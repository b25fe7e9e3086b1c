"""Actions: one module per target kind, each turning a planned target into a typed result.

``install`` (dependencies for one distinct input set), ``package`` (sources + install output
− what layers provide → strip → zip) and ``check`` (handler, native binaries, sizes, import
smoke test). An action gets everything it may use in an ``ActionContext``: no action imports
the session, the planner or another action (design §1), so a new kind of target (a deploy
step, a container image) is a new module here and a line in the session's dispatch.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from msgspec import Struct

from lambdaforge import observe
from lambdaforge.builders import BuilderRegistry
from lambdaforge.builders.base import Builder, BuildContext
from lambdaforge.cache import Cache
from lambdaforge.config.specs import BuildSettings, Project
from lambdaforge.graph import Target, TargetGraph
from lambdaforge.outputs import Observed
from lambdaforge.packaging.sources import SourceSet
from lambdaforge.packaging.strip import StripFilter
from lambdaforge.runner import Runner

#: files inside cache entries
ARTIFACT = "artifact.zip"
#: what strip rules removed from an artifact, one line per file (``--explain-strip``)
STRIP_LISTING = "stripped.txt"
DEPS = "deps.zip"


class ActionContext(Struct):
    """What an action may use: the project, the graph (to find its upstream targets), the
    builder registry, the cache, the one runner its subprocesses go through, scratch space,
    and the few planner services it needs, as callables."""

    project: Project
    graph: TargetGraph
    registry: BuilderRegistry
    cache: Cache
    runner: Runner
    #: where scratch directories go (removed by the next build if this one is killed)
    scratch_root: Path
    #: --force: ignore cache hits and replace entries
    force: bool
    #: run the import smoke test in checks
    smoke: bool
    #: the source files a function or layer packages (walked once per build)
    sources: Callable[[Target, TargetGraph], SourceSet]
    #: the strip filter of a spec's rule sets
    strip_filter: Callable[[BuildSettings], StripFilter]
    #: a target's key as its inputs are now (a package re-keys before it stores its zip)
    rekey: Callable[[Target], str]
    #: ``deps.zip`` of an install target, installed again in this run when its cache entry
    #: is gone or turned out corrupt
    deps_zip: Callable[[str], Path]
    #: ``--use-container``: builders build native code in the runtime's build image
    use_container: bool = False

    def builder(self, t: Target) -> Builder:
        """The builder of a target."""
        assert t.spec is not None
        return self.registry.for_spec(t.spec)

    def build_context(self, scratch: Path, install_key: str | None = None,
                      source_files: tuple[str, ...] | None = None) -> BuildContext:
        """What a builder gets: this action's runner, its scratch and the tool cache (and
        the key of the install whose tree it is given, and the source files the package's
        key covers, if any)."""
        return BuildContext(runner=self.runner, scratch=scratch,
                            tool_cache=self.cache.root / "tools", project=self.project,
                            install_key=install_key, use_container=self.use_container,
                            source_files=source_files)

    def scratch(self) -> Path:
        """The scratch root, created on first use."""
        self.scratch_root.mkdir(parents=True, exist_ok=True)
        return self.scratch_root


def observe_outputs(root: Path, paths: Sequence[tuple[str, str | None]]) -> Observed:
    """Output observations of files an action wrote or relies on: ``(path, sha256)`` pairs,
    paths project-relative or absolute (a cache entry), sha256 read when ``None``."""
    reference = time.time_ns()  # before the stats: the racy rule's anchor
    base = os.fspath(root)
    found = [observe.output_obs(path, base, digest) for path, digest in paths]
    return Observed(tuple(o for o in found if o is not None), reference)
