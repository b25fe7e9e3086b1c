"""Per-checkout build state: what each target's last successful build was made of.

For every target the last successful build leaves a ``BuildRecord``: its key, the full
``KeyMaterial`` (so ``forge explain`` and the build report can say *why* a target is stale,
house style 2) and the outputs the executor wants to find again (artifact path, size,
mtime_ns…).

Layout: one small JSON file per target under ``<state_dir>/targets/``. With 200+ targets a
build that changes one function rewrites one small file, not a big shared one; files are
read lazily, so ``forge explain NAME`` reads only what it needs. Every file is versioned
(house style 3): a corrupt file, one from another format version or one for another target
is simply absent ("no previous build"), never an error.

``write_atomic`` and ``fsync_dir`` are re-exported from ``lambdaforge.fsutil``, where the one
atomic writer lives, for code that still imports them from here.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lambdaforge.fingerprint import KeyMaterial, canonical_json
from lambdaforge.fsutil import fsync_dir, write_atomic

__all__ = ["STATE_VERSION", "BuildRecord", "BuildState", "fsync_dir", "write_atomic"]

#: bump when the record layout changes; records of other versions are ignored
STATE_VERSION = 1

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class BuildRecord:
    """One target's last successful build: its key, the key material and the outputs it left.

    Read back from disk, the material stays JSON until something asks for it: deciding
    "up to date" needs the key only, and a build that plans hundreds of unchanged targets
    should not rebuild and re-hash hundreds of materials. The key is then the one recorded;
    the material, wanted only to say *why* a target rebuilds, is ``None`` when it does not
    parse (a later build simply names no reasons from it).
    """

    def __init__(self, target: str, material: KeyMaterial | None, outputs: Mapping[str, Any]
                 | None = None, recorded_at: float = 0.0, *, key: str | None = None,
                 material_data: Mapping[str, Any] | None = None) -> None:
        assert material is not None or (key is not None and material_data is not None)
        self.target = target
        self._material = material
        self._material_data = material_data
        #: the key of that build
        self.key: str = key if key is not None else material.key  # type: ignore[union-attr]
        #: free-form, JSON-serialisable: whatever the executor needs to find its output again
        self.outputs: Mapping[str, Any] = outputs if outputs is not None else {}
        #: wall-clock seconds since the epoch when it was recorded (for "last built 2 h ago")
        self.recorded_at = recorded_at

    def file_paths(self) -> frozenset[str] | None:
        """The paths of the input files that build keyed, without parsing the whole material
        (an incremental build seeds hundreds of unchanged inputs and needs only these);
        ``None`` when the record does not say."""
        if self._material is not None:
            return frozenset(f.path for f in self._material.files)
        files = self._material_data.get("files") if self._material_data is not None else None
        if not isinstance(files, list):
            return None
        try:
            paths = frozenset(entry[0] for entry in files)
        except (TypeError, IndexError, KeyError):
            return None
        return paths if all(isinstance(p, str) for p in paths) else None

    def upstream_key(self, target_id: str) -> str | None:
        """What that build keyed for upstream ``target_id`` (its key, or a stand-in such as
        ``planner.UNREAD_LAYER``), without parsing the whole material; ``None`` when the
        record does not say."""
        if self._material is not None:
            return dict(self._material.upstream).get(target_id)
        upstream = self._material_data.get("upstream") if self._material_data is not None else None
        value = upstream.get(target_id) if isinstance(upstream, dict) else None
        return value if isinstance(value, str) else None

    @property
    def material(self) -> KeyMaterial | None:
        """The key material of that build (parsed on first use; ``None`` if malformed)."""
        if self._material is None and self._material_data is not None:
            try:
                self._material = KeyMaterial.from_dict(self._material_data)
            except ValueError:
                pass
            self._material_data = None
        return self._material


class BuildState:
    """Last-build records of one checkout, by target name; thread-safe.

    ``get`` reads lazily and memoises; ``set`` changes memory only; ``save`` writes the
    records that changed (a no-op build writes nothing).
    """

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir / "targets"
        self._records: dict[str, BuildRecord | None] = {}
        self._dirty: set[str] = set()
        self._lock = threading.Lock()

    @classmethod
    def load(cls, state_dir: Path) -> BuildState:
        """The state kept under ``state_dir`` (records are read on first ``get``)."""
        return cls(state_dir)

    def file_for(self, target: str) -> Path:
        """The record file of a target: a readable, file-system-safe name plus a short hash
        of the exact name (``function:a/b`` and ``function:a_b`` must not collide)."""
        safe = _UNSAFE.sub("_", target)[:80]
        tag = hashlib.sha256(target.encode()).hexdigest()[:12]
        return self.dir / f"{safe}.{tag}.json"

    def get(self, target: str) -> BuildRecord | None:
        """The target's last successful build, or ``None`` (never built, or a record this
        version cannot read)."""
        with self._lock:
            if target in self._records:
                return self._records[target]
        record = self._read(target)
        with self._lock:
            return self._records.setdefault(target, record)

    def _read(self, target: str) -> BuildRecord | None:
        try:
            data = json.loads(self.file_for(target).read_bytes())
            if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
                return None
            if data.get("target") != target:
                return None
            key, material = data.get("key"), data.get("material")
            if not isinstance(key, str) or not isinstance(material, dict):
                return None
            outputs = data.get("outputs", {})
            if not isinstance(outputs, dict):
                return None
            # The key is compared, not recomputed: one that another lambdaforge computed
            # differently simply differs from this build's.
            return BuildRecord(target, None, outputs, float(data.get("recorded_at", 0)),
                               key=key, material_data=material)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def set(
        self, target: str, material: KeyMaterial, outputs: Mapping[str, Any] | None = None
    ) -> None:
        """Remember a successful build of ``target`` (written by ``save``). Recording the
        same key and outputs again is free: nothing is rewritten."""
        # Round-trip through JSON so the comparison below sees what a later read would
        # (tuples become lists) and an unserialisable output fails here, not in save().
        outputs = json.loads(canonical_json(outputs or {}))
        previous = self.get(target)
        if previous is not None and previous.key == material.key and previous.outputs == outputs:
            return
        with self._lock:
            self._records[target] = BuildRecord(target, material, outputs, time.time())
            self._dirty.add(target)

    def forget(self, target: str) -> None:
        """Drop a target's record (``forge clean``, a target removed from the config)."""
        with self._lock:
            self._records[target] = None
            self._dirty.add(target)

    def save(self) -> None:
        """Write every changed record atomically (one file each)."""
        with self._lock:
            dirty = {t: self._records.get(t) for t in self._dirty}
            self._dirty.clear()
        for target, record in sorted(dirty.items()):
            path = self.file_for(target)
            if record is None:
                path.unlink(missing_ok=True)
                continue
            payload = {
                "version": STATE_VERSION,
                "target": target,
                "key": record.key,
                "recorded_at": record.recorded_at,
                "material": record.material.to_dict(),  # type: ignore[union-attr]
                "outputs": dict(record.outputs),
            }
            # Not durable: losing a record costs one rebuild, and fsync per target would
            # dominate a build of 200 small functions.
            write_atomic(path, _dumps(payload), durable=False)

    def targets(self) -> list[str]:
        """Names of every target with a readable record on disk or in memory."""
        names: set[str] = set()
        if self.dir.is_dir():
            for p in self.dir.glob("*.json"):
                try:
                    name = json.loads(p.read_bytes()).get("target")
                except (OSError, ValueError, AttributeError):
                    continue
                if isinstance(name, str):
                    names.add(name)
        with self._lock:
            for name, rec in self._records.items():
                if rec is None:
                    names.discard(name)
                else:
                    names.add(name)
        return sorted(n for n in names if self.get(n) is not None)


def _dumps(payload: Mapping[str, Any]) -> bytes:
    return canonical_json(payload).encode("utf-8")
