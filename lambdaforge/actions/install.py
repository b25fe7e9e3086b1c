"""The install action: dependencies for one distinct input set, into a cached ``deps.zip``.

The builder installs into an empty scratch tree for the target platform; the tree is zipped
(deterministically, so packages can copy its compressed members raw) and stored in the cache
under the install's key. Nothing of the tree stays outside the cache, and no absolute path
goes into the result: the checkout or the cache may move, consumers ask the cache.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

from msgspec.structs import replace

from lambdaforge.actions import DEPS, ActionContext, observe_outputs
from lambdaforge.cache import ENTRY_FILE
from lambdaforge.errors import BuildError
from lambdaforge.executor import Status, TargetResult
from lambdaforge.graph import Target
from lambdaforge.outputs import InstallOutput, build_seconds, cache_meta
from lambdaforge.packaging.archive import FileEntry, write_zip


def run(t: Target, key: str, reasons: list[str], ctx: ActionContext,
        cancel: threading.Event) -> TargetResult:
    """Restore the install from the cache, or run it and store it there."""
    started = time.perf_counter()
    meta = None if ctx.force else ctx.cache.remote_meta(key)
    remembered = InstallOutput.from_json({**meta, "key": key}) if meta is not None else None
    if remembered is not None and meta is not None:
        # Every consumer came from the cache: what was installed is known, the deps.zip is
        # not needed (``ctx.deps_zip`` fetches it should that change).
        return TargetResult(t.id, Status.CACHED, key=key, reasons=reasons,
                            output=replace(remembered, remote_only=True),
                            saved=build_seconds(meta))
    entry = None if ctx.force else ctx.cache.get(key, what=t.id)
    if entry is not None:
        output = InstallOutput.from_json({**entry.meta, "key": key})
        if output is not None:
            return TargetResult(t.id, Status.CACHED, key=key, reasons=reasons,
                                output=_observed(output, ctx), saved=build_seconds(entry.meta))
        ctx.cache.discard(key)  # a well-formed entry with a meta of the wrong shape
    builder = ctx.builder(t)
    assert t.deps is not None
    with tempfile.TemporaryDirectory(dir=ctx.scratch(), prefix="install-") as tmp:
        tmp_path = Path(tmp)
        tree = tmp_path / "tree"
        tree.mkdir()
        result = builder.install(t.deps, tree, ctx.build_context(tmp_path))
        if cancel.is_set():
            raise BuildError("interrupted")
        files = sorted(p for p in tree.rglob("*") if p.is_file())
        entries = [FileEntry(p.relative_to(tree).as_posix(), p, bool(p.stat().st_mode & 0o111))
                   for p in files]
        deps_zip = tmp_path / DEPS
        write_zip(deps_zip, entries)
        output = InstallOutput(key, tuple(result.distributions), tuple(result.notes))
        meta = cache_meta(output, started)
        if ctx.force:
            ctx.cache.discard(key)
        ctx.cache.put(key, {DEPS: deps_zip}, meta)
    return TargetResult(t.id, Status.BUILT, key=key, reasons=reasons,
                        output=_observed(output, ctx), warnings=list(result.notes))


def _observed(output: InstallOutput, ctx: ActionContext) -> InstallOutput:
    """The output with its cache entry observed: pruned or replaced, the install is gone."""
    entry_file = os.fspath(ctx.cache.entry_dir(output.key) / ENTRY_FILE)
    return replace(output, observed=observe_outputs(ctx.project.root, [(entry_file, None)]))
