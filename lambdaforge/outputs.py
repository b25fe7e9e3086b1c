"""Typed results of the three actions, and their JSON form for state and cache entries.

Actions return these typed records (msgspec Structs; house style 11: no loose ``outputs`` dicts between
stages); the recorder stores them as JSON in the last-build state and in cache entries, and
reads them back with ``from_json``, which checks the shape field by field. A record of the
wrong shape (hand-edited, written by another version, damaged) reads as ``None``: the
target is rebuilt, never an internal error (house style 3).
"""

from __future__ import annotations

import time

from collections.abc import Mapping
from typing import Any, Union

from msgspec import Struct, field

from lambdaforge.builders.base import Distribution
from lambdaforge.observe import Observation, is_well_formed


class Observed(Struct, frozen=True):
    """What an output looked like when it was written or last verified: ``observe``
    output observations and the moment (ns) they were taken (the racy rule's anchor)."""

    observations: tuple[Observation, ...] = ()
    reference_ns: int = 0

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        return {"observed": [list(o) for o in self.observations], "observed_ns": self.reference_ns}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Observed | None:
        """The stored form read back, ``None`` when malformed."""
        found, reference = data.get("observed"), data.get("observed_ns")
        if (not isinstance(found, list) or type(reference) is not int
                or not all(is_well_formed(o) for o in found)):
            return None
        return cls(tuple(found), reference)


class InstallOutput(Struct, frozen=True):
    """An install: its cache key (``deps.zip`` lives in that entry), what it installed,
    notes for the user, and its cache entry as observed. ``remote_only``: served from its
    remote action entry alone (its consumers were all hits, so its ``deps.zip`` was never
    downloaded): nothing local to observe, and up to date all the same while its key holds;
    a consumer built later fetches or reinstalls it then (``BuildSession._deps_zip``)."""

    key: str
    distributions: tuple[Distribution, ...] = ()
    notes: tuple[str, ...] = ()
    observed: Observed = field(default_factory=Observed)
    remote_only: bool = False

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the user is told when it ran (its notes)."""
        return self.notes

    def to_json(self) -> dict[str, Any]:
        """The stored form (cache meta without ``observed``; state with it)."""
        return {"key": self.key, "distributions": [dist_to_json(d) for d in self.distributions],
                "notes": list(self.notes), **self.observed.to_json(),
                **({"remote_only": True} if self.remote_only else {})}

    @classmethod
    def from_json(cls, data: object) -> InstallOutput | None:
        """The stored form read back, ``None`` when malformed."""
        try:
            assert isinstance(data, Mapping)
            dists = tuple(dist_from_json(d) for d in data["distributions"])
            notes = _strings(data.get("notes", []))
            observed = _observed(data)
            remote_only = data.get("remote_only", False)
            assert type(remote_only) is bool
            return cls(_string(data["key"]), dists, notes, observed, remote_only)
        except (AssertionError, KeyError, TypeError, ValueError):
            return None


class PackageOutput(Struct, frozen=True):
    """A function or layer zip: where it is, its sizes and digests, what it provides to
    the functions using it (a layer's distributions), what it left out and why, and notes
    (runtime-provided distributions it kept, and why)."""

    kind: str
    name: str
    path: str
    size: int
    unzipped_size: int
    sha256: str
    code_sha256: str
    provides: Mapping[str, str] = field(default_factory=dict)
    excluded_runtime_provided: tuple[str, ...] = ()
    install_key: str | None = None
    #: strip rule → {"files": n, "bytes": n}
    stripped: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    observed: Observed = field(default_factory=Observed)

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        data = {name: getattr(self, name) for name in self.__struct_fields__ if name != "observed"}
        data.update(provides=dict(self.provides), stripped={k: dict(v) for k, v in self.stripped.items()},
                    excluded_runtime_provided=list(self.excluded_runtime_provided),
                    warnings=list(self.warnings), notes=list(self.notes))
        return {**data, **self.observed.to_json()}

    @classmethod
    def from_json(cls, data: object) -> PackageOutput | None:
        """The stored form read back, ``None`` when malformed."""
        try:
            assert isinstance(data, Mapping)
            provides = data.get("provides", {})
            stripped = data.get("stripped", {})
            assert isinstance(provides, Mapping) and isinstance(stripped, Mapping)
            install_key = data.get("install_key")
            return cls(
                kind=_string(data["kind"]), name=_string(data["name"]), path=_string(data["path"]),
                size=_int(data["size"]), unzipped_size=_int(data["unzipped_size"]),
                sha256=_string(data["sha256"]), code_sha256=_string(data["code_sha256"]),
                provides={_string(k): _string(v) for k, v in provides.items()},
                excluded_runtime_provided=_strings(data.get("excluded_runtime_provided", [])),
                install_key=None if install_key is None else _string(install_key),
                stripped={_string(k): {"files": _int(v["files"]), "bytes": _int(v["bytes"])}
                          for k, v in stripped.items()},
                warnings=_strings(data.get("warnings", [])),
                notes=_strings(data.get("notes", [])),
                observed=_observed(data),
            )
        except (AssertionError, KeyError, TypeError, ValueError):
            return None


class CheckOutput(Struct, frozen=True):
    """A check verdict: passed (failed checks are not recorded), warnings, and what the
    import smoke test did."""

    passed: bool = True
    warnings: tuple[str, ...] = ()
    #: the smoke test could not run here (or ran without the runtime's own packages): the
    #: verdict is not final, it is tried again
    smoke_skipped: bool = False
    import_ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        return {"passed": self.passed, "warnings": list(self.warnings),
                "smoke_skipped": self.smoke_skipped, "import_ms": self.import_ms}

    @classmethod
    def from_json(cls, data: object) -> CheckOutput | None:
        """The stored form read back, ``None`` when malformed."""
        try:
            assert isinstance(data, Mapping)
            passed, skipped = data.get("passed"), data.get("smoke_skipped", False)
            import_ms = data.get("import_ms")
            assert type(passed) is bool and type(skipped) is bool
            assert import_ms is None or (isinstance(import_ms, (int, float))
                                         and not isinstance(import_ms, bool))
            return cls(passed, _strings(data.get("warnings", [])), skipped, import_ms)
        except (AssertionError, TypeError):
            return None


TargetOutput = Union[InstallOutput, PackageOutput, CheckOutput]


#: the cache entry's meta key for how long the target took to build (seconds)
BUILD_SECONDS = "build_seconds"


def cache_meta(output: InstallOutput | PackageOutput | CheckOutput,
               started: float | None = None) -> dict[str, Any]:
    """What a cache entry keeps of an output: everything but its observations, which belong
    to one checkout and are taken anew wherever the entry is used; with ``started`` (a
    ``time.perf_counter()`` reading), how long building it took, so that a hit on any
    machine knows the time it saved (``forge cache stats``)."""
    meta = {k: v for k, v in output.to_json().items() if k not in ("observed", "observed_ns")}
    if started is not None:
        meta[BUILD_SECONDS] = round(time.perf_counter() - started, 4)
    return meta


def build_seconds(meta: Mapping[str, Any]) -> float:
    """The build time a cache entry's meta records (0 for an entry without one)."""
    value = meta.get(BUILD_SECONDS)
    return float(value) if isinstance(value, (int, float)) and value >= 0 else 0.0


def observations_of(output: object) -> list[Observation]:
    """An output's observations as stored lists (none for a check verdict or no output)."""
    observed = getattr(output, "observed", None)
    return [list(o) for o in observed.observations] if isinstance(observed, Observed) else []

#: target kind → its output type
OUTPUT_TYPES: dict[str, type] = {"install": InstallOutput, "function": PackageOutput,
                                 "layer": PackageOutput, "check": CheckOutput}


def output_from_json(kind: str, data: object) -> TargetOutput | None:
    """A stored output of a target of ``kind``, ``None`` when malformed."""
    cls = OUTPUT_TYPES.get(kind)
    return None if cls is None else cls.from_json(data)


def dist_to_json(d: Distribution) -> dict[str, Any]:
    """A distribution's stored form."""
    out = {"name": d.name, "version": d.version, "files": list(d.files), "requires": list(d.requires)}
    if d.local:
        out["local"] = True
    return out


def dist_from_json(d: object) -> Distribution:
    """A distribution read back; raises ``TypeError``/``KeyError`` when malformed."""
    if not isinstance(d, Mapping):
        raise TypeError("distribution is not a mapping")
    local = d.get("local", False)
    if not isinstance(local, bool):
        raise TypeError("distribution's `local` is not a boolean")
    return Distribution(_string(d["name"]), _string(d["version"]), _strings(d["files"]),
                        _strings(d.get("requires", [])), local)


def _observed(data: Mapping[str, Any]) -> Observed:
    """The stored observations of an output; none in a cache entry's meta (they are taken
    when the entry is used); raises ``ValueError`` when present but malformed."""
    if "observed" not in data and "observed_ns" not in data:
        return Observed()
    observed = Observed.from_json(data)
    if observed is None:
        raise ValueError("malformed output observations")
    return observed


def _string(v: object) -> str:
    if not isinstance(v, str):
        raise TypeError(f"expected a string, got {type(v).__name__}")
    return v


def _int(v: object) -> int:
    if type(v) is not int:
        raise TypeError(f"expected an integer, got {type(v).__name__}")
    return v


def _strings(v: object) -> tuple[str, ...]:
    if not isinstance(v, (list, tuple)):
        raise TypeError(f"expected a list, got {type(v).__name__}")
    return tuple(_string(x) for x in v)
