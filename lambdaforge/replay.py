"""The replay record: the planner's observations, kept so a no-op build is answered from stats.

A full ``forge build`` that finds nothing to do still imports pydantic and networkx, loads
the config and plans every target. After a build in which every target succeeded, the
session writes the *replay record*: exactly what the planner observed while deciding each
target's status (``lambdaforge.observe``: input stats with their digests, directory
listings, tools, environment, and the outputs it found or wrote), grouped per target, plus
what the whole project depends on (config files, ``[[discover]]`` listings, lambdaforge's own
modules). There is no second list of inputs: the record is what the planner read.

The next ``forge build`` with the same options replays it before importing anything heavy:
every observation goes through ``observe.check``, the same check the planner uses for
outputs, with the same racy-timestamp rule. All hold → nothing can have changed, and the
build stops there (ninja's "stat, don't read"). Any that fails, a missing, foreign or
malformed record → "don't know": the planner runs and decides. When everything held but
some observations had to be verified by content (a ``touch``, a ``git checkout`` that
rewrote equal bytes, a file too recent to trust its stat), the record is refreshed so the
next replay is stats alone again.

This module imports nothing heavy on purpose.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from lambdaforge import __version__
from lambdaforge.observe import Observation, check_many

RECORD_VERSION = 3
RECORD_NAME = "replay.json"
#: where the record lives, relative to the project root
RECORD_PATH = (".forge", "state", RECORD_NAME)


def build_identity(names: Iterable[str], *, smoke: bool, checks: bool,
                   config: str) -> dict[str, object]:
    """What must match for a recorded build to answer for this one: the targets chosen, the
    checks asked for, and the config file (several may share one directory)."""
    return {"names": sorted(names), "smoke": smoke, "checks": checks, "config": config}


def glob_dirs(root: Path, globs: Iterable[tuple[str, str]]) -> list[str]:
    """The directories whose listings decide what each ``(base, pattern)`` glob matches:
    for ``services/*/handler``, the base itself and every ``services/*``. A directory added,
    removed or replaced by a file anywhere a glob could match changes one of these listings."""
    import glob

    out: set[str] = set()
    for base, pattern in globs:
        parts = pattern.split("/")
        top = os.path.join(os.fspath(root), base)
        for depth in range(len(parts)):
            prefix = "/".join(parts[:depth])
            found = glob.glob(prefix, root_dir=top, recursive=True) if prefix else ["."]
            for d in found:
                if os.path.isdir(os.path.join(top, d)):
                    out.add(os.path.normpath(os.path.join(base, d)).replace(os.sep, "/"))
    return sorted(out)


def record(state_dir: Path, identity: Mapping[str, object], reference_ns: int,
           project: list[Observation], targets: Mapping[str, list[Observation]],
           summary: str) -> None:
    """Write the record of a fully successful build. ``reference_ns`` is a moment no later
    than the first observation was taken (the build's start): the racy rule is judged
    against it."""
    data = {
        "version": RECORD_VERSION,
        "lambdaforge": __version__,
        "identity": dict(identity),
        "reference_ns": reference_ns,
        "project": project,
        "targets": dict(targets),
        "summary": summary,
    }
    _write(state_dir / RECORD_NAME, data)


def _write(path: Path, data: Mapping[str, object]) -> None:
    from lambdaforge.fsutil import write_atomic

    write_atomic(path, json.dumps(data, separators=(",", ":")).encode(), durable=False)


def forget(state_dir: Path) -> None:
    """Drop the record (a build that failed, or one whose outputs cannot be trusted)."""
    (state_dir / RECORD_NAME).unlink(missing_ok=True)


def load(root: Path, identity: Mapping[str, object]) -> dict | None:
    """The record of ``root`` when it is well-formed, of this version and for this build
    identity; else ``None`` (a record of another shape is simply not there)."""
    try:
        data = json.loads(Path(root, *RECORD_PATH).read_bytes())
    except (OSError, ValueError):
        return None
    if (not isinstance(data, dict) or data.get("version") != RECORD_VERSION
            or data.get("lambdaforge") != __version__
            or data.get("identity") != json.loads(json.dumps(dict(identity)))
            or type(data.get("reference_ns")) is not int
            or not isinstance(data.get("project"), list)
            or not isinstance(data.get("targets"), dict)):
        return None
    # Each observation's shape is checked where it is used: ``observe.check`` finds a
    # malformed one false (checking them all here first cost a third of a no-op's time).
    if not all(isinstance(g, list) for g in (data["project"], *data["targets"].values())):
        return None
    return data


class Replayed:
    """What replaying a record found: the record, and per group (``"project"`` or a target
    id) the observations that no longer hold. (A plain class: a msgspec ``Struct`` would cost the
    no-op build its import.)"""

    def __init__(self, data: dict) -> None:
        self.data = data
        self.failing: dict[str, list[Observation]] = {}

    @property
    def up_to_date(self) -> bool:
        """Every observation held: nothing can have changed."""
        return not self.failing


def examine(root: Path, identity: Mapping[str, object]) -> Replayed | None:
    """Check every observation of the record (each once); ``None`` when there is no usable
    record. When everything held, some of it only by content, the record is refreshed with
    the current stats against this run's start, so the next replay is stats alone (an
    optimisation only: a read-only state directory must not fail a no-op build)."""
    started_ns = time.time_ns()
    data = load(root, identity)
    if data is None:
        return None
    base, reference = os.fspath(root), data["reference_ns"]
    groups = {"project": data["project"], **data["targets"]}
    found = Replayed(data)
    checked: dict[str, list[Observation]] = {}
    for name, group in groups.items():
        results = check_many(group, base, reference)
        failing = [o for o, r in zip(group, results) if r is None]
        if failing:
            found.failing[name] = failing
        checked[name] = results  # type: ignore[assignment]
    if found.up_to_date and any(r is not o for name, group in groups.items()
                                for r, o in zip(checked[name], group)):
        project = checked.pop("project")
        try:
            record(Path(root, *RECORD_PATH[:-1]), identity, started_ns, project, checked,
                   str(data.get("summary", "")))
        except OSError:
            pass
    return found


def replay(root: Path, identity: Mapping[str, object]) -> str | None:
    """The summary of the recorded build when every observation still holds, else None."""
    found = examine(root, identity)
    if found is None or not found.up_to_date:
        return None
    return str(found.data.get("summary", ""))


def find_project_root(cwd: Path, config: Path | None) -> Path | None:
    """The directory of the config file ``forge`` would use, without loading it."""
    if config is not None:
        path = config if config.is_absolute() else cwd / config
        return path.parent if path.is_file() else None
    here = cwd.absolute()
    for d in (here, *here.parents):
        if (d / "lambdaforge.toml").is_file():
            return d
    return None
