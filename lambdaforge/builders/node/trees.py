"""Persistent extracted install trees: what a bundle resolves against, extracted once per install.

A bundled function's imports resolve against its install target's tree, which the cache
stores as a zip (``deps.zip``). Extracting its 27,000 files on every build is what made a
one-line change take a minute (issue 12). So each install's tree is extracted once into the
tool cache, keyed by the install key, and every later bundle of every function sharing that
install (in any project using the cache) resolves against it::

    <tool_cache>/node-trees/
        <install key>/           a published tree: never written to again
            node_modules/…       the zip's files (read-only), what esbuild sees
            tree.json            format, key, seal, its directories and resolution files
        <install key>.lock       shared by the builds using the tree; exclusive to make,
                                 replace or remove it
        .tmp-<key>-…/            a tree being extracted
        .trash-…/                a tree being removed

**Published like a cache entry.** A tree is extracted into a temporary directory, sealed,
and renamed into place under the exclusive lock, so it is complete or absent; two builds
needing the same missing tree take turns, and the second uses the first's.

**Verified by stat, not by reading** (design §3). Every change to a file or a directory
moves its ctime (a write, a truncation, a chmod, and for a directory an entry added, removed
or renamed), and no tool can set a ctime back. Sealing records the tree's newest ctime after
the last write and publishes only once the file system's clock has moved past it, so any
later change leaves a newer ctime behind. A build checks, before bundling, every directory
(which covers every file added, removed or renamed) and every file that steers module
resolution (``package.json``, ``tsconfig``/``jsconfig``, Yarn PnP files); after bundling,
every file the job read (esbuild's metafile inputs, the externals it copied). A tree that
fails, or whose ``tree.json`` is missing or malformed (a partial tree), is a cache miss with
a warning: it is removed, extracted again, and the job runs again on the fresh tree.

Trees unused for ``MAX_AGE_SECONDS`` are removed when another one is published.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import TypeVar

from msgspec import Struct

from lambdaforge.errors import BuildError
from lambdaforge.fsutil import write_atomic, writing

STORE = "node-trees"
#: the format of ``tree.json``; a tree of another format is a miss (extracted again)
TREE_FORMAT = 1
TREE_FILE = "tree.json"
NODE_MODULES = "node_modules"
#: files whose content changes how imports resolve, checked before every bundle
RESOLUTION_FILES = re.compile(
    r"(?:^|/)(?:package\.json|[tj]sconfig(?:\.[^/]*)?\.json|\.pnp\.(?:c?js|data\.json|loader\.mjs))$")
#: a tree nobody used for this long is removed when another one is published
MAX_AGE_SECONDS = 14 * 24 * 3600
#: temporary and trash directories older than this belong to a dead process
STALE_TEMP_SECONDS = 15 * 60
#: how long sealing waits for the file system's clock to move past the tree's newest ctime
SEAL_WAIT_SECONDS = 5.0
_KEY = re.compile(r"^[0-9a-f]{16,128}$")
_TMP_PREFIX = ".tmp-"
_TRASH_PREFIX = ".trash-"
_CHUNK = 1 << 20
#: a miss, a tree found changed after a job, and the job again on a fresh tree, plus one
_ATTEMPTS = 4

T = TypeVar("T")


class TreeChangedError(BuildError):
    """An install tree kept changing under the builds using it (something edits the tool
    cache): no bundle made from it can be trusted."""


class _Seal(Struct, frozen=True):
    """What ``tree.json`` says of a published tree."""

    sealed_ns: int
    dirs: tuple[str, ...]
    resolution: tuple[str, ...]


def run_with_tree(store: Path, deps_zip: Path, key: str,
                  job: Callable[[Path], tuple[T, Iterable[str]]], warn: Callable[[str], None]) -> T:
    """Run ``job`` on the extracted tree of ``deps_zip`` (the install of ``key``) and
    return its value.

    ``job`` gets the tree's ``node_modules`` directory, which it must only read, and
    returns its value with the paths (relative to that directory, POSIX) of the files it
    read. The tree is extracted when missing, and extracted again (``warn`` says why) when
    it turns out changed, before the job or after it; the job then runs again, so it must
    start from scratch each time. The tree is held with a shared lock while the job runs.
    """
    if not _KEY.match(key):
        raise ValueError(f"not an install key: {key!r}")
    store.mkdir(parents=True, exist_ok=True)
    root = store / key
    nm = root / NODE_MODULES
    lock_path = store / f"{key}.lock"
    for _attempt in range(_ATTEMPTS):
        condemned: _Seal | None = None
        with _locked(lock_path, exclusive=False):
            seal = _read_seal(root, key)
            problem = _tree_problem(root, seal)
            if seal is not None and problem is None:
                _touch(root)
                value, read = job(nm)
                problem = _files_problem(nm, seal, read)
                if problem is None:
                    return value
                condemned = seal
        if problem is not None:
            warn(f"the extracted dependencies of install {key[:12]} changed ({problem}); "
                 "extracting them again")
        _replace(store, root, lock_path, deps_zip, key, condemned)
    raise TreeChangedError(
        f"the extracted dependencies of install {key[:12]} in {root} keep changing while "
        "they are used; stop whatever edits them (they are read-only by design)")


def _replace(store: Path, root: Path, lock_path: Path, deps_zip: Path, key: str,
             condemned: _Seal | None) -> None:
    """Under the exclusive lock: unless another build did it meanwhile, move the tree at
    ``root`` (missing, failing its checks, or ``condemned``: one a job found changed) away
    and publish a fresh extraction of ``deps_zip``."""
    with _locked(lock_path, exclusive=True):
        seal = _read_seal(root, key)
        if seal is not None and _tree_problem(root, seal) is None and (
                condemned is None or seal.sealed_ns != condemned.sealed_ns):
            return  # another build extracted it while we waited (a new seal is newer)
        if root.exists():
            _remove(store, root)
        tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{key[:16]}-", dir=store))
        try:
            _extract(deps_zip, tmp, key)
            os.chmod(tmp, 0o755)  # mkdtemp's 0700 would hide a shared cache from other users
            os.rename(tmp, root)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    sweep(store, keep=key)


def _extract(deps_zip: Path, dest: Path, key: str) -> None:
    """Write the zip's files under ``dest/node_modules`` (read-only), then ``tree.json``
    with the seal, and wait until the file system's clock has passed it."""
    nm = dest / NODE_MODULES
    nm.mkdir()
    newest = 0
    resolution: list[str] = []
    dirs: set[str] = {""}
    try:
        archive = zipfile.ZipFile(deps_zip)
    except (OSError, zipfile.BadZipFile) as exc:
        raise BuildError(f"cannot read the install's {deps_zip.name} ({deps_zip}): {exc}") from exc
    with writing(dest), archive as zf:
        for info in zf.infolist():
            name = info.filename
            if info.is_dir():
                continue
            if not _safe_member(name):
                raise BuildError(f"{deps_zip} holds a file outside its tree: {name!r}")
            parent = PurePosixPath(name).parent.as_posix()
            if parent not in dirs:
                (nm / parent).mkdir(parents=True, exist_ok=True)
                while parent not in dirs:
                    dirs.add(parent)
                    parent = PurePosixPath(parent).parent.as_posix()
                    parent = "" if parent == "." else parent
            # Read-only: an editor refuses to save into the tree by accident.
            fd = os.open(nm / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
            with zf.open(info) as src, os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(src, out, _CHUNK)
                out.flush()
                newest = max(newest, _newest(os.fstat(out.fileno())))
            if RESOLUTION_FILES.search(name):
                resolution.append(name)
    for d in dirs:  # each directory's ctime moved with its last entry
        newest = max(newest, _newest(os.lstat(nm / d)))
    seal = {"format": TREE_FORMAT, "key": key, "sealed_ns": newest,
            "dirs": sorted(dirs), "resolution": sorted(resolution)}
    write_atomic(dest / TREE_FILE, json.dumps(seal).encode(), durable=False)
    _wait_past(dest, newest)


def _wait_past(dest: Path, newest: int) -> None:
    """Return once a file changed now gets a ctime newer than ``newest``: file systems
    stamp with a coarse clock (a few ms, or whole seconds), and a change within the tick of
    the seal would otherwise leave a ctime it cannot tell apart."""
    probe = dest / ".seal-probe"
    probe.touch()
    deadline = time.monotonic() + SEAL_WAIT_SECONDS
    try:
        while _newest(os.lstat(probe)) <= newest and time.monotonic() < deadline:
            time.sleep(0.001)  # waiting for the file system's clock to tick; nothing to poll
            os.utime(probe)
    finally:
        probe.unlink()


def _safe_member(name: str) -> bool:
    parts = name.split("/")
    return bool(name) and not name.startswith("/") and "\\" not in name and not any(
        p in ("", ".", "..") for p in parts)


def _read_seal(root: Path, key: str) -> _Seal | None:
    """The seal of the tree at ``root``; ``None`` when it is absent, partial or of another
    format."""
    try:
        data = json.loads((root / TREE_FILE).read_bytes())
        if data.get("format") != TREE_FORMAT or data.get("key") != key:
            return None
        seal = _Seal(int(data["sealed_ns"]), tuple(data["dirs"]), tuple(data["resolution"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if not all(isinstance(p, str) for p in (*seal.dirs, *seal.resolution)):
        return None
    return seal


def _tree_problem(root: Path, seal: _Seal | None) -> str | None:
    """What changed in the tree since it was sealed, of what a bundle depends on before it
    reads any module: its directories and its resolution files. ``None`` when nothing or
    when there is no tree at all (a plain miss)."""
    if seal is None:
        return f"its {TREE_FILE} is missing or unreadable" if root.exists() else None
    nm = root / NODE_MODULES
    for rel in seal.dirs:
        problem = _entry_problem(nm, rel, seal.sealed_ns, directory=True)
        if problem:
            return problem
    return _files_problem(nm, seal, seal.resolution)


def _files_problem(nm: Path, seal: _Seal, paths: Iterable[str]) -> str | None:
    """The first of ``paths`` (files, relative to ``nm``) changed since the seal."""
    for rel in paths:
        problem = _entry_problem(nm, rel, seal.sealed_ns, directory=False)
        if problem:
            return problem
    return None


def _entry_problem(nm: Path, rel: str, sealed_ns: int, *, directory: bool) -> str | None:
    shown = f"{NODE_MODULES}/{rel}".rstrip("/")
    try:
        st = os.lstat(nm / rel)
    except OSError:
        return f"{shown} is missing"
    if not (stat.S_ISDIR if directory else stat.S_ISREG)(st.st_mode):
        return f"{shown} is no longer a {'directory' if directory else 'file'}"
    if _newest(st) > sealed_ns:
        return f"{shown} was modified"
    return None


def _newest(st: os.stat_result) -> int:
    return max(st.st_mtime_ns, st.st_ctime_ns)


def _touch(root: Path) -> None:
    """Record a use (the tree directory's mtime: it is not part of what is verified)."""
    try:
        os.utime(root)
    except OSError:
        pass  # a read-only shared cache still serves trees


def _remove(store: Path, path: Path) -> None:
    """Take a tree out of use at once (a rename), then delete it."""
    trash = Path(tempfile.mkdtemp(prefix=_TRASH_PREFIX, dir=store))
    try:
        os.rename(path, trash / "tree")
    except FileNotFoundError:
        pass
    shutil.rmtree(trash, ignore_errors=True)


def sweep(store: Path, *, keep: str | None = None, now: float | None = None) -> list[str]:
    """Remove trees unused for ``MAX_AGE_SECONDS`` (and no build holding them), and
    leftovers of dead processes; returns the keys removed. ``keep`` is never removed."""
    now = time.time() if now is None else now
    removed = []
    try:
        entries = list(os.scandir(store))
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if name.startswith((_TMP_PREFIX, _TRASH_PREFIX)):
            if age > STALE_TEMP_SECONDS:
                shutil.rmtree(entry.path, ignore_errors=True)
            continue
        if name == keep or not _KEY.match(name) or age <= MAX_AGE_SECONDS:
            continue
        lock_path = store / f"{name}.lock"
        with _locked(lock_path, exclusive=True, blocking=False) as held:
            if not held:
                continue  # in use right now
            _remove(store, Path(entry.path))
            lock_path.unlink(missing_ok=True)
            removed.append(name)
    return removed


@contextmanager
def _locked(path: Path, *, exclusive: bool, blocking: bool = True) -> Iterator[bool]:
    """Hold a shared or exclusive lock on ``path`` (created when missing); yields False
    when ``blocking`` is off and the lock is taken. The kernel releases it when its holder
    dies. Without ``fcntl`` (Windows) every lock is exclusive."""
    try:
        import fcntl
    except ImportError:  # Windows
        with _exclusive_filelock(path, blocking) as held:
            yield held
        return
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            flags = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
            fcntl.flock(fd, flags if blocking else flags | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            yield False
            return
        except BaseException:
            os.close(fd)
            raise
        # A sweep may have removed the lock file while we waited: lock the current one.
        try:
            current = os.stat(path)
            mine = os.fstat(fd)
            if (current.st_ino, current.st_dev) == (mine.st_ino, mine.st_dev):
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        yield True
    finally:
        os.close(fd)  # closing the descriptor releases the flock


@contextmanager
def _exclusive_filelock(path: Path, blocking: bool) -> Iterator[bool]:
    from filelock import FileLock, Timeout

    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=-1 if blocking else 0)
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()
