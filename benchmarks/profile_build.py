"""Where a ``forge build`` spends its time, phase by phase, in one process.

    cd GENERATED_REPO && python /path/to/benchmarks/profile_build.py [--touch F | --edit F] [--top 25]

Runs what ``forge build`` runs (fast-path check, imports, config loading, graph, state,
planning, executor, bookkeeping) with a wall-clock timer around each phase, by wrapping the
functions named in ``PHASES`` (any that no longer exist are skipped, so the script survives
refactors). ``--touch FILE`` bumps a file's mtime first, which defeats the stat-only fast
path without changing any content: the full no-op. ``--edit FILE`` appends a comment to
a file: an incremental build. ``--top N`` adds a cProfile listing by
own time (cProfile roughly doubles the wall time; the phase timers run without it).

For import costs use ``python -X importtime -m lambdaforge build``; for system calls
``strace -c -f``. Both are described in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import importlib
import io
import os
import pstats
import sys
import time
from pathlib import Path

#: (label, "module:qualified.name") of the functions timed, in pipeline order
PHASES = [
    ("replay check", "lambdaforge.replay:examine"),
    ("incremental scope (plan cache load)", "lambdaforge.incremental:scope"),
    ("config: load_project", "lambdaforge.config:load_project"),
    ("graph: build_graph", "lambdaforge.build:build_graph"),
    ("graph: select", "lambdaforge.graph:TargetGraph.select"),
    ("state: BuildState.load", "lambdaforge.build:BuildState.load"),
    ("state: StatCache.load", "lambdaforge.build:StatCache.load"),
    ("plan: Planner.plan", "lambdaforge.planner:Planner.plan"),
    ("plan:   key material", "lambdaforge.planner:Planner.material"),
    ("plan:   collect sources", "lambdaforge.planner:Planner.sources"),
    ("plan:   state.get", "lambdaforge.state:BuildState.get"),
    ("remote: lookups and downloads (prefetch)", "lambdaforge.build:BuildSession._prefetch"),
    ("remote:   entry GETs (summed over threads)", "lambdaforge.remote.tiered:RemoteCache._read_entry"),
    ("remote:   blob GETs (summed over threads)", "lambdaforge.remote.s3:S3Store.download"),
    ("remote:   local put (summed over threads)", "lambdaforge.cache:Cache.put"),
    ("executor: run_graph", "lambdaforge.build:run_graph"),
    ("  install actions", "lambdaforge.actions.install:run"),
    ("  package actions", "lambdaforge.actions.package:run"),
    ("    write_zip", "lambdaforge.packaging.archive:write_zip"),
    ("    cache put", "lambdaforge.cache:Cache.put"),
    ("    place in .forge/build", "lambdaforge.actions.package:place_artifact"),
    ("  check actions", "lambdaforge.actions.check:run"),
    ("record state", "lambdaforge.recorder:Recorder.record_state"),
    ("write manifest", "lambdaforge.recorder:Recorder.write_manifest"),
    ("replay record", "lambdaforge.recorder:Recorder.write_replay"),
    ("plan cache write", "lambdaforge.plancache:write"),
]


def _wrap(spec: str, totals: dict[str, list[float]], label: str) -> bool:
    """Replace ``module:Class.attr`` by a timing wrapper; False when it does not exist.
    Nested calls of the same function are timed once (the outermost)."""
    module_name, qual = spec.split(":")
    try:
        owner = importlib.import_module(module_name)
    except ImportError:
        return False
    *path, attr = qual.split(".")
    for p in path:
        owner = getattr(owner, p, None)
        if owner is None:
            return False
    raw = owner.__dict__.get(attr) if isinstance(owner, type) else getattr(owner, attr, None)
    if raw is None:
        return False
    is_static = isinstance(raw, (staticmethod, classmethod))
    fn = raw.__func__ if is_static else raw
    depth = [0]
    slot = totals.setdefault(label, [0.0, 0])

    @functools.wraps(fn)
    def timed(*args, **kwargs):
        depth[0] += 1
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            depth[0] -= 1
            if depth[0] == 0:
                slot[0] += time.perf_counter() - start
                slot[1] += 1

    setattr(owner, attr, type(raw)(timed) if is_static else timed)
    return True


def main(argv: list[str] | None = None) -> int:
    """Time one build of the project in the current directory; print the phases."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--touch", type=Path, help="bump this file's mtime first (defeats the fast path)")
    p.add_argument("--edit", type=Path, help="append a comment to this file first")
    p.add_argument("--top", type=int, default=0, help="also print the cProfile top N by own time")
    p.add_argument("--jobs", type=int, default=2, help="forge build --jobs (1: cProfile sees the actions too)")
    a = p.parse_args(argv)
    if a.edit:
        with open(a.edit, "a") as f:
            f.write(f"\n# profile edit {time.time_ns()}\n")
    if a.touch:
        os.utime(a.touch)
    if a.touch or a.edit:
        time.sleep(0.2)  # past the fast path's "racy timestamp" window, as a human would be

    t0 = time.perf_counter()
    import lambdaforge.cli
    t_cli = time.perf_counter() - t0
    t0 = time.perf_counter()
    import lambdaforge.build
    import lambdaforge.report  # noqa: F401
    t_heavy = time.perf_counter() - t0

    totals: dict[str, list[float]] = {}
    labels = [label for label, spec in PHASES if _wrap(spec, totals, label)]
    from lambdaforge.cli import main as forge_main

    profiler = cProfile.Profile() if a.top else None
    start = time.perf_counter()
    if profiler:
        profiler.enable()
    code = forge_main(["build", "--jobs", str(a.jobs)])
    if profiler:
        profiler.disable()
    total = time.perf_counter() - start

    print(f"\nimport lambdaforge.cli                {t_cli * 1000:8.1f} ms")
    print(f"import lambdaforge.build + report     {t_heavy * 1000:8.1f} ms  (pydantic, networkx, builders)")
    print(f"forge build (after imports)           {total * 1000:8.1f} ms  exit {code}")
    for label in labels:
        seconds, calls = totals[label]
        if calls:
            print(f"  {label:<35} {seconds * 1000:8.1f} ms  ({calls} calls)")
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(a.top)
        print(out.getvalue())
    return code


if __name__ == "__main__":
    sys.exit(main())
