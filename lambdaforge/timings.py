"""Recorded build times: how long each target took the last time it was really built.

One small file, ``.forge/state/timings.json`` (target id → seconds). ``forge build --shard``
balances its partition by these times, and ``forge cache stats`` reports the time a cache
hit saved from them (or from the build time a cache entry carries, for an entry another
machine built). A lost or damaged file costs only balance: it is read as empty.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from lambdaforge.fsutil import write_atomic

FILE_NAME = "timings.json"
_FORMAT = 1


def load(state_dir: Path) -> dict[str, float]:
    """Target id → seconds of its last real build (empty when none is recorded)."""
    try:
        data = json.loads((state_dir / FILE_NAME).read_bytes())
        if data.get("format") != _FORMAT:
            return {}
        return {str(k): float(v) for k, v in data["seconds"].items()
                if isinstance(v, (int, float)) and v >= 0}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def save(state_dir: Path, seconds: Mapping[str, float]) -> None:
    """Merge ``seconds`` into the recorded times (rewritten only when something changed)."""
    current = load(state_dir)
    merged = {**current, **{k: round(float(v), 4) for k, v in seconds.items()}}
    if merged == current:
        return
    payload = {"format": _FORMAT, "seconds": dict(sorted(merged.items()))}
    write_atomic(state_dir / FILE_NAME, json.dumps(payload, indent=1).encode(), durable=False)
