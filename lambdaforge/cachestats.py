"""What the caches did for one build: ``forge cache stats`` and the build's ``--json`` report.

Per build: targets served by the local cache and by the remote one, targets that had to be
built (misses), bytes down and up, and the time saved: the recorded build time of every
target served from a cache (the entry carries how long it took to build, wherever it was
built). Up-to-date targets are not counted as hits: no cache was asked. The last build's
figures are kept in ``.forge/state/cache-stats.json`` for ``forge cache stats``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lambdaforge.executor import Status, TargetResult
from lambdaforge.fsutil import write_atomic

FILE_NAME = "cache-stats.json"
_FORMAT = 1


def compute(results: Mapping[str, TargetResult], remote: Mapping[str, Any] | None,
            seconds: float) -> dict[str, Any]:
    """The figures of one build from its results and the remote cache's own counts."""
    local_hits = remote_hits = misses = up_to_date = 0
    saved = 0.0
    for r in results.values():
        if r.status is Status.CACHED:
            saved += r.saved
            if r.remote:
                remote_hits += 1
            else:
                local_hits += 1
        elif r.status is Status.BUILT:
            misses += 1
        elif r.status is Status.UP_TO_DATE:
            up_to_date += 1
    return {
        "format": _FORMAT,
        "seconds": round(seconds, 4),
        "targets": len(results),
        "up_to_date": up_to_date,
        "local_hits": local_hits,
        "remote_hits": remote_hits,
        "misses": misses,
        "time_saved": round(saved, 4),
        "bytes_down": int(remote["bytes_down"]) if remote else 0,
        "bytes_up": int(remote["bytes_up"]) if remote else 0,
        "remote": dict(remote) if remote is not None else None,
    }


def save(state_dir: Path, stats: Mapping[str, Any]) -> None:
    """Keep the last build's figures for ``forge cache stats``."""
    state_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(state_dir / FILE_NAME, json.dumps(dict(stats), indent=1, sort_keys=True).encode(),
                 durable=False)


def load(state_dir: Path) -> dict[str, Any] | None:
    """The last build's figures, or ``None`` when no build recorded any."""
    try:
        data = json.loads((state_dir / FILE_NAME).read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == _FORMAT else None


def text(stats: Mapping[str, Any]) -> str:
    """The figures for a person (``forge cache stats``)."""
    from lambdaforge.report import human_size

    lines = [
        f"last build: {stats['targets']} targets in {stats['seconds']:.2f}s",
        f"  up to date:   {stats['up_to_date']}",
        f"  local hits:   {stats['local_hits']}",
        f"  remote hits:  {stats['remote_hits']}",
        f"  misses:       {stats['misses']} (built)",
        f"  time saved:   {stats['time_saved']:.2f}s (recorded build time of the hits)",
        f"  transferred:  {human_size(stats['bytes_down'])} down, "
        f"{human_size(stats['bytes_up'])} up",
    ]
    remote = stats.get("remote")
    if remote:
        state = f"unavailable: {remote['unavailable']}" if remote.get("unavailable") else remote["mode"]
        lines.append(f"  remote cache: {remote['url']} ({state}): {remote['hits']} hits, "
                     f"{remote['misses']} misses, {remote['refused']} refused, "
                     f"{remote['corrupt']} corrupt, {remote['uploaded']} uploaded")
    else:
        lines.append("  remote cache: none configured")
    return "\n".join(lines)
