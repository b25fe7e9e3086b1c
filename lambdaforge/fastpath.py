"""The no-op fast path: answer "everything is up to date" from file metadata alone.

A full ``forge build`` that finds nothing to do still imports pydantic and networkx, loads
the config and plans every target: a few hundred milliseconds. After a build in which every
target succeeded, ``record`` writes a snapshot of what that build depended on: the stat of
every config file, of every file and directory under the sources it read, of the files its
installs read, of the tools it ran, and of the artifacts it wrote. The next ``forge build``
with the same options calls ``is_up_to_date`` first; when every stat still matches, nothing
can have changed, and it stops there (ninja's trick: stat, don't read).

Any difference, a missing or foreign record, or a file modified so recently that its
timestamp cannot be trusted means "don't know": the normal build runs and decides.
This module imports nothing heavy on purpose.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from lambdaforge import __version__

RECORD_VERSION = 2
RECORD_NAME = "noop.json"
#: Environment variables that change what a build produces or where it looks.
WATCHED_ENV = ("FORGE_CACHE_DIR", "SOURCE_DATE_EPOCH", "PATH", "FORGE_ESBUILD")
#: A file modified less than this before the snapshot may change again within the same
#: timestamp tick without its stat changing ("racy git"): such a snapshot is not recorded.
RACY_NS = 100_000_000

Stat = list[int]


def build_identity(names: Iterable[str], *, smoke: bool, checks: bool,
                   config: str) -> dict[str, object]:
    """What must match for a recorded build to answer for this one: the targets chosen, the
    checks asked for, and the config file (several may share one directory)."""
    return {"names": sorted(names), "smoke": smoke, "checks": checks, "config": config}


def _stat(path: str) -> Stat | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns, st.st_mode]


def glob_dirs(root: Path, globs: Iterable[tuple[str, str]]) -> list[str]:
    """The directories whose listings decide what each ``(base, pattern)`` glob matches:
    for ``services/*/handler``, the base itself and every ``services/*``. A directory added
    anywhere a glob could match it changes one of these listings."""
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


def snapshot(root: Path, trees: Iterable[str], files: Iterable[str],
             skip_dirs: frozenset[str] = frozenset(),
             dirs: Iterable[str] = ()) -> dict[str, Stat | None]:
    """Stat of every file and directory under each of ``trees``, of each of ``files``
    (paths relative to ``root``; absolute paths allowed for tools) and of each of ``dirs``
    (not walked). A directory's own stat changes when an entry is added, removed or renamed
    in it, so new files are noticed."""
    out: dict[str, Stat | None] = {}
    base = os.fspath(root)
    for d in dirs:
        out[d.rstrip("/") + "/"] = _stat(os.path.join(base, d))
    for tree in sorted(set(trees)):
        top = os.path.join(base, tree)
        out[tree + "/"] = _stat(top)
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(d for d in dirnames if d not in skip_dirs)
            rel = os.path.relpath(dirpath, base)
            for name in dirnames:
                out[f"{rel}/{name}/"] = _stat(os.path.join(dirpath, name))
            for name in filenames:
                out[f"{rel}/{name}"] = _stat(os.path.join(dirpath, name))
    for f in sorted(set(files)):
        out[f] = _stat(f if os.path.isabs(f) else os.path.join(base, f))
    return out


def _racy(stats: Mapping[str, Stat | None], now_ns: int) -> bool:
    return any(s is not None and now_ns - s[1] < RACY_NS for s in stats.values())


def _env() -> dict[str, str]:
    return {name: os.environ.get(name, "") for name in WATCHED_ENV}


def listing_digest(directory: str) -> str | None:
    """Digest of a directory's sorted entry names: what its mtime stands for."""
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return None
    return hashlib.sha256("\0".join(names).encode()).hexdigest()


def record(state_dir: Path, selection: Mapping[str, object], inputs: Mapping[str, Stat | None],
           outputs: Mapping[str, Stat | None], summary: str,
           contents: Mapping[str, str | None] | None = None) -> bool:
    """Write the snapshot of a fully successful build; False (nothing written) when an input
    was modified too recently to be trusted.

    ``contents`` maps inputs to a content digest (files: sha256; directories: their
    ``listing_digest``): an input whose stat moved but whose content did not (``touch``, a
    ``git checkout`` that rewrote a file with the same bytes) then still counts as unchanged.
    """
    path = state_dir / RECORD_NAME
    if _racy(inputs, time.time_ns()):
        path.unlink(missing_ok=True)
        return False
    data = {
        "version": RECORD_VERSION,
        "lambdaforge": __version__,
        "selection": dict(selection),
        "env": _env(),
        "inputs": dict(inputs),
        "contents": dict(contents or {}),
        "outputs": dict(outputs),
        "summary": summary,
    }
    _write_record(path, data)
    return True


def _write_record(path: Path, data: Mapping[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{RECORD_NAME}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")))
    os.replace(tmp, path)


def _same_content(path: str, stat: Stat | None, recorded: Stat | None, digest: str | None) -> bool:
    """Whether an input whose stat differs from the record still has the recorded content."""
    if digest is None or stat is None or recorded is None:
        return False
    if stat[4] != recorded[4]:  # file type or permissions (the exec bit is in keys)
        return False
    if path.endswith("/"):
        return listing_digest(path.rstrip("/")) == digest
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest() == digest  # type: ignore[attr-defined]
    except AttributeError:  # Python 3.10: no file_digest
        with open(path, "rb") as f:
            h = hashlib.sha256()
            while chunk := f.read(1 << 20):
                h.update(chunk)
            return h.hexdigest() == digest
    except OSError:
        return False


def forget(state_dir: Path) -> None:
    """Drop the snapshot (a build that failed, or one that changed something)."""
    (state_dir / RECORD_NAME).unlink(missing_ok=True)


def is_up_to_date(root: Path, selection: Mapping[str, object],
                  config_name: str = "lambdaforge.toml") -> str | None:
    """The summary of the recorded build when nothing it depended on changed, else None.

    ``config_name`` is the config file (in ``root``) this build would load: config files in
    one directory share ``.forge/``, so a record of a build that did not read it (``-c
    other.toml``) is someone else's."""
    try:
        data = json.loads((root / ".forge" / "state" / RECORD_NAME).read_text())
    except (OSError, ValueError):
        return None
    if (not isinstance(data, dict) or data.get("version") != RECORD_VERSION
            or data.get("lambdaforge") != __version__
            or data.get("selection") != json.loads(json.dumps(dict(selection)))
            or data.get("env") != _env()
            or config_name not in (data.get("inputs") or {})):
        return None
    base = os.fspath(root)
    inputs, outputs, contents = data.get("inputs"), data.get("outputs"), data.get("contents", {})
    if not (isinstance(inputs, dict) and isinstance(outputs, dict) and isinstance(contents, dict)):
        return None
    for rel, stat in outputs.items():
        if _stat(rel if os.path.isabs(rel) else os.path.join(base, rel)) != stat:
            return None
    # A file added to a directory changes the directory's stat (and its listing); so does
    # one removed or renamed.
    moved: dict[str, Stat | None] = {}
    for rel, stat in inputs.items():
        path = rel if os.path.isabs(rel) else os.path.join(base, rel)
        now = _stat(path.rstrip("/"))
        if now == stat:
            continue
        if not _same_content(path, now, stat, contents.get(rel)):
            return None
        moved[rel] = now
    if moved and not _racy(moved, time.time_ns()):
        # Only timestamps moved: remember the new ones, so the next run is stats alone again.
        # An optimisation only: a read-only state directory must not fail a no-op build.
        inputs.update(moved)
        try:
            _write_record(root / ".forge" / "state" / RECORD_NAME, data)
        except OSError:
            pass
    return str(data.get("summary", ""))


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
