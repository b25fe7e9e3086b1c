"""The local content-addressed cache: target key → directory of artifact files.

Layout (``LAYOUT`` is the on-disk format; a new one gets a new directory, so old and new
lambdaforge versions can share a cache without reading each other's entries)::

    <root>/v1/ab/abcdef…/           one entry, named by its key
        artifact.zip                named files the caller put
        entry.json                  format, key, each file's size and sha256, meta, created
        verified.json               stat tuples of files whose sha256 was checked (optional)
    <root>/tmp/put-…/               an entry being staged
    <root>/tmp/trash-…/             an entry being deleted

The cache may be shared by several checkouts and CI jobs (``FORGE_CACHE_DIR``), so every
operation is safe between processes without a global lock, using only atomic renames:

- ``put`` stages the entry in a temp directory inside the cache root, writes ``entry.json``
  last, fsyncs, then renames the directory into place. If another process got there first,
  its entry wins and ours is discarded. An entry is therefore complete or absent.
- eviction renames the entry into ``tmp/`` before deleting it, so a reader never sees half
  of a deleted entry; a reader whose entry vanishes under it gets a miss.
- temp directories left by a killed process are removed by a later run once they are older
  than ``STALE_TEMP_SECONDS``.

``get`` checks integrity before serving anything (design §3): every file's size always, its
sha256 unless that exact file (same size, mtime, inode, ctime) was verified before. A corrupt
entry is evicted and a ``CacheWarning`` recorded; the caller rebuilds.
"""

from __future__ import annotations

import enum
import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msgspec import Struct

from lambdaforge.errors import CacheError
from lambdaforge.fsutil import fsync_dir, is_disk_full, write_atomic, write_failure
from lambdaforge.observe import racy
from lambdaforge.sizes import parse_size
from lambdaforge.statcache import sha256_file

if TYPE_CHECKING:
    from lambdaforge.remote.tiered import RemoteCache

__all__ = ["Cache", "CacheEntry", "CacheWarning", "CachedFile", "EntryInfo", "PruneResult",
           "Verify", "parse_size"]

#: version of ``entry.json``; an entry of another version is a miss, not an error
ENTRY_FORMAT = 1
#: the entries' directory is named by the format, so two versions sharing a cache never meet
LAYOUT = f"v{ENTRY_FORMAT}"
ENTRY_FILE = "entry.json"
STAMP_FILE = "verified.json"
#: staging/trash directories older than this belong to a dead process
STALE_TEMP_SECONDS = 15 * 60

_KEY = re.compile(r"^[0-9a-f]{16,128}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_RESERVED = {ENTRY_FILE, STAMP_FILE}
_STAGING_PREFIX = "put-"
_TRASH_PREFIX = "trash-"
_CHUNK = 1 << 20


class Verify(enum.Enum):
    """How much ``Cache.get`` checks before serving an entry."""

    #: sha256 of every file, every time
    FULL = "full"
    #: sha256 of a file unless it was verified before with the same (size, mtime_ns, inode,
    #: ctime_ns): repeated no-op builds don't re-read 50 MiB zips
    ONCE = "once"
    #: sizes only
    SIZE = "size"


class CachedFile(Struct, frozen=True):
    """One file of an entry, as ``entry.json`` describes it."""

    name: str
    path: Path
    size: int
    sha256: str


class CacheEntry(Struct, frozen=True):
    """A complete, verified cache entry."""

    key: str
    dir: Path
    files: Mapping[str, CachedFile]
    #: what the caller passed to ``put`` (JSON round-tripped)
    meta: Mapping[str, Any]
    #: seconds since the epoch when it was put
    created: float

    def path(self, name: str) -> Path:
        """Path of the named file inside the entry (``KeyError`` for an unknown name).

        The entry may be evicted by another process at any time: a caller that gets
        ``FileNotFoundError`` reading it should treat it as a cache miss.
        """
        return self.files[name].path

    @property
    def size(self) -> int:
        """Total bytes of the entry's files."""
        return sum(f.size for f in self.files.values())


class EntryInfo(Struct, frozen=True):
    """An entry as ``Cache.entries`` lists it (not verified)."""

    key: str
    dir: Path
    size: int
    #: seconds since the epoch of the last put/get/touch
    last_used: float


class PruneResult(Struct, frozen=True):
    """What ``Cache.prune`` did."""

    removed: tuple[str, ...]
    freed: int
    remaining: int
    kept: int


class CacheWarning(Struct, frozen=True):
    """A problem the cache recovered from, for the caller to show the user."""

    key: str
    what: str
    detail: str

    def __str__(self) -> str:
        return f"cache entry {self.key[:12]} for {self.what} was corrupt; rebuilding"


class _Corrupt(Exception):
    pass


class Cache:
    """A content-addressed store of build outputs under ``root``; see the module docstring.

    Safe to use from several threads and processes at once. ``warnings`` collects the
    corrupt entries found (and evicted) by ``get``.
    """

    def __init__(self, root: Path, remote: RemoteCache | None = None) -> None:
        self.root = Path(root)
        #: the team's remote cache behind this one (``lambdaforge.remote.tiered``): asked on
        #: a local miss, and given every entry put here (it uploads in read-write mode)
        self.remote = remote
        self.warnings: list[CacheWarning] = []
        self._lock = threading.Lock()
        self._cleaned = False

    # ------------------------------------------------------------------ paths

    @property
    def _entries_root(self) -> Path:
        return self.root / LAYOUT

    @property
    def _tmp(self) -> Path:
        return self.root / "tmp"

    def entry_dir(self, key: str) -> Path:
        """Where the entry of ``key`` lives (whether or not it exists)."""
        if not _KEY.match(key):
            raise ValueError(f"not a cache key: {key!r}")
        return self._entries_root / key[:2] / key

    # ------------------------------------------------------------------ reading

    def contains(self, key: str) -> bool:
        """Cheap existence check (no verification): for plans and dry runs."""
        return (self.entry_dir(key) / ENTRY_FILE).is_file()

    def get(
        self, key: str, verify: Verify = Verify.ONCE, *, what: str | None = None
    ) -> CacheEntry | None:
        """The entry of ``key`` after an integrity check, or ``None`` on a miss.

        A corrupt entry (missing or resized file, wrong sha256, unreadable ``entry.json``)
        is evicted and recorded in ``warnings`` as "cache entry … for ``what`` was corrupt"
        (``what`` defaults to the entry's ``meta["name"]``). An entry of another format
        version is a miss. A hit counts as a use for LRU pruning.

        With a remote cache, a local miss is looked up there: an entry found is downloaded,
        verified blob by blob and stored locally before it is served.
        """
        entry = self._get_local(key, verify, what)
        if entry is None and self.remote is not None and not self.contains(key):
            if self.remote.fetch(key, self, what):
                entry = self._get_local(key, verify, what)
        return entry

    def remote_meta(self, key: str) -> dict[str, Any] | None:
        """The meta of an entry the remote cache has and this build chose not to download
        (an install whose consumers were all hits), counted as a remote hit; ``None`` when
        there is no such entry (then ``get`` as usual)."""
        if self.remote is None or self.contains(key):
            return None
        return self.remote.take_deferred(key)

    def _get_local(self, key: str, verify: Verify, what: str | None) -> CacheEntry | None:
        d = self.entry_dir(key)
        try:
            raw = (d / ENTRY_FILE).read_bytes()
        except FileNotFoundError:
            # A directory without entry.json cannot come from put (it renames complete
            # entries), but a hand-made or half-deleted one must not linger. Checked in
            # this order so an entry published by another process just now is left alone.
            if d.is_dir() and not (d / ENTRY_FILE).exists():
                self._corrupt(key, d, what or "unknown target", f"{ENTRY_FILE} missing")
            return None
        except OSError:
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            self._corrupt(key, d, what or "unknown target", f"{ENTRY_FILE} is not JSON")
            return None
        if not isinstance(data, dict) or data.get("format") != ENTRY_FORMAT:
            return None
        meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
        label = what or str(meta.get("name") or meta.get("target") or "unknown target")
        try:
            entry = self._check(key, d, data, verify)
        except _Corrupt as exc:
            if (d / ENTRY_FILE).exists():
                self._corrupt(key, d, label, str(exc))
            # else: evicted by someone else while we looked; a plain miss
            return None
        self.touch(key)
        return entry

    def _check(self, key: str, d: Path, data: dict[str, Any], verify: Verify) -> CacheEntry:
        try:
            if data["key"] != key:
                raise _Corrupt(f"{ENTRY_FILE} names key {data['key']!r}")
            listed = data["files"]
            created = float(data["created"])
            meta = data["meta"]
            files = {
                name: CachedFile(name, d / name, int(info["size"]), str(info["sha256"]))
                for name, info in listed.items()
            }
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise _Corrupt(f"{ENTRY_FILE} malformed: {exc}") from None
        stamps = self._read_stamps(d) if verify is Verify.ONCE else {}
        new_stamps = dict(stamps)
        for f in files.values():
            try:
                st = os.stat(f.path)
            except OSError:
                raise _Corrupt(f"{f.name} missing") from None
            if st.st_size != f.size:
                raise _Corrupt(f"{f.name}: {st.st_size} bytes, expected {f.size}")
            if verify is Verify.SIZE:
                continue
            stamp = _stamp(st)
            if verify is Verify.ONCE and _trusted(stamps.get(f.name), stamp):
                continue
            hashed_at = time.time_ns()
            if sha256_file(f.path) != f.sha256:
                raise _Corrupt(f"{f.name}: sha256 mismatch")
            new_stamps[f.name] = [*stamp, hashed_at]
        if verify is Verify.ONCE and new_stamps != stamps:
            try:
                _write_stamps(d, new_stamps)
            except OSError:
                pass  # a read-only shared cache: verify again next time
        return CacheEntry(key, d, files, meta, created)

    @staticmethod
    def _read_stamps(d: Path) -> dict[str, list[int]]:
        try:
            data = json.loads((d / STAMP_FILE).read_bytes())
            if data.get("format") == ENTRY_FORMAT and isinstance(data.get("files"), dict):
                return data["files"]
        except (OSError, ValueError, AttributeError):
            pass
        return {}

    def _corrupt(self, key: str, d: Path, what: str, detail: str) -> None:
        self._evict(key, d)
        with self._lock:
            self.warnings.append(CacheWarning(key, what, detail))

    def touch(self, key: str) -> bool:
        """Mark an entry as used now (for LRU pruning); False if it does not exist.

        The entry directory's mtime is the last-use time: one ``utime`` call, and it works
        on file systems mounted ``noatime``.
        """
        try:
            os.utime(self.entry_dir(key))
            return True
        except FileNotFoundError:
            return False
        except OSError:
            return True  # a read-only shared cache still serves hits

    # ------------------------------------------------------------------ writing

    def put(
        self,
        key: str,
        files: Mapping[str, Path],
        meta: Mapping[str, Any],
        *,
        move: bool = True,
        sha256: Mapping[str, str] | None = None,
        durable: bool = True,
        upload: bool = True,
    ) -> CacheEntry:
        """Store ``files`` (entry name → path) with ``meta`` under ``key``; return the entry.

        ``move`` renames the files into the cache when they are on the same file system
        (the caller's copies are gone afterwards, or left behind if another process stored
        the key first); otherwise they are copied. ``sha256`` may give digests the caller
        already computed while writing, which saves a re-read. ``durable=False`` skips the
        fsyncs, for small entries that are cheap to recompute (check verdicts): after a power
        loss such an entry may be torn, which ``get`` detects and evicts like any corruption.

        If the key is already stored (by us earlier, or by another process racing us), the
        existing entry wins and is returned. Interrupted at any point (Ctrl-C included),
        nothing partial is left in the cache.

        A newly stored entry goes to the remote cache too, when there is one and ``upload``
        (an entry that came from there is stored with ``upload=False``).
        """
        d = self.entry_dir(key)
        for name in files:
            if not _NAME.match(name) or name in _RESERVED:
                raise ValueError(f"invalid cache entry file name: {name!r}")
        meta = json.loads(json.dumps(dict(meta)))  # fail now on unserialisable meta
        self._cleanup_once()
        existing = self._existing(key)
        if existing is not None:
            return existing
        try:
            staging = self.staging_dir(f"{_STAGING_PREFIX}{key[:16]}-")
        except OSError as exc:
            if is_disk_full(exc):
                raise write_failure(exc, self._tmp, hint=self._full_hint()) from exc
            raise CacheError(f"cannot write to the cache in {self.root}: {exc}") from exc
        current = staging  # what is being written, for the message when that fails
        try:
            listed: dict[str, dict[str, Any]] = {}
            stamps: dict[str, list[int]] = {}
            for name, src in sorted(files.items()):
                dest = current = staging / name
                hashed_at = time.time_ns()
                digest = _place(Path(src), dest, move=move)
                if sha256 and name in sha256:
                    digest = sha256[name]
                elif digest is None:
                    digest = sha256_file(dest)
                with open(dest, "rb+") as f:
                    if durable:
                        os.fsync(f.fileno())
                    st = os.fstat(f.fileno())
                listed[name] = {"size": st.st_size, "sha256": digest}
                if not sha256 or name not in sha256:
                    # we hashed these very bytes: the first get need not read them again
                    stamps[name] = [*_stamp(st), hashed_at]
            entry_data = {
                "format": ENTRY_FORMAT,
                "key": key,
                "files": listed,
                "meta": meta,
                "created": time.time(),
            }
            if stamps:
                current = staging / STAMP_FILE
                _write_stamps(staging, stamps)
            # entry.json last: its presence is what marks an entry complete
            entry_json = json.dumps(entry_data, sort_keys=True).encode()
            current = staging / ENTRY_FILE
            write_atomic(current, entry_json, durable=durable)
            stored = {n: CachedFile(n, d / n, i["size"], i["sha256"]) for n, i in listed.items()}
            current = d
            for attempt in range(3):
                if self._publish(staging, d, durable=durable):
                    entry = CacheEntry(key, d, stored, meta, entry_data["created"])
                    if self.remote is not None and upload:
                        self.remote.upload(entry)
                    return entry
                existing = self._existing(key)
                if existing is not None:
                    return existing  # another process stored it first: theirs wins
                if attempt:
                    # the place is taken by something get() will not serve (an entry of
                    # another format): make room instead of failing the build
                    self._evict(key, d)
            raise CacheError(f"cannot store cache entry {key[:12]} in {self.root}")
        except OSError as exc:
            # A user's problem (a full disk, a read-only cache), never a bug: say which file.
            hint = self._full_hint() if is_disk_full(exc) else ""
            raise write_failure(exc, current, hint=hint) from exc
        finally:
            # ours, unless it was renamed into place
            shutil.rmtree(staging, ignore_errors=True)

    def staging_dir(self, prefix: str) -> Path:
        """A new directory in the cache's ``tmp/`` (on the cache's file system, so its files
        can be renamed into an entry); ``tmp/`` is created on first use, or again if it was
        removed meanwhile, rather than checked on every put."""
        try:
            return Path(tempfile.mkdtemp(dir=self._tmp, prefix=prefix))
        except FileNotFoundError:
            self._tmp.mkdir(parents=True, exist_ok=True)
            return Path(tempfile.mkdtemp(dir=self._tmp, prefix=prefix))

    def _full_hint(self) -> str:
        return (f"the cache is in `{self.root}`: free some space there, or prune the cache "
                "(`forge cache prune --max-size SIZE`)")

    def _existing(self, key: str) -> CacheEntry | None:
        # Sizes only: the entry was either just published by a put (which hashed it) or
        # will be verified in full by the next get.
        return self.get(key, Verify.SIZE) if self.contains(key) else None

    def _publish(self, staging: Path, d: Path, *, durable: bool = True) -> bool:
        """Rename the staged entry into place; False when another put got there first."""
        for attempt in range(4):
            try:
                if attempt:  # the shard directory is new, or was removed under us (clear/prune)
                    d.parent.mkdir(parents=True, exist_ok=True)
                os.rename(staging, d)
            except FileNotFoundError:
                continue
            except OSError as exc:
                if exc.errno in (errno.EEXIST, errno.ENOTEMPTY) or isinstance(exc, FileExistsError):
                    return False
                raise
            if durable:
                fsync_dir(d.parent)
            return True
        raise CacheError(f"cannot publish cache entry {d.name[:12]}: its directory keeps vanishing")

    # ------------------------------------------------------------------ housekeeping

    def entries(self) -> list[EntryInfo]:
        """Every entry (complete or not) with its size and last-use time, oldest use first."""
        out: list[EntryInfo] = []
        try:
            shards = list(os.scandir(self._entries_root))
        except OSError:
            return out
        for shard in shards:
            if not shard.is_dir(follow_symlinks=False):
                continue
            try:
                dirs = list(os.scandir(shard.path))
            except OSError:
                continue
            for d in dirs:
                if not _KEY.match(d.name):
                    continue
                try:
                    last_used = d.stat(follow_symlinks=False).st_mtime
                    size = sum(
                        f.stat(follow_symlinks=False).st_size
                        for f in os.scandir(d.path)
                        if f.is_file(follow_symlinks=False)
                    )
                except OSError:
                    continue  # evicted while we looked
                out.append(EntryInfo(d.name, Path(d.path), size, last_used))
        out.sort(key=lambda e: (e.last_used, e.key))
        return out

    def size(self) -> int:
        """Total bytes of all entries."""
        return sum(e.size for e in self.entries())

    def prune(self, max_size: int | str) -> PruneResult:
        """Remove least-recently-used entries until the cache holds at most ``max_size``
        bytes (an int or a human size such as ``"5GB"``); also removes stale temp dirs."""
        limit = parse_size(max_size)
        self.cleanup()
        entries = self.entries()
        total = sum(e.size for e in entries)
        removed: list[str] = []
        freed = 0
        for e in entries:
            if total <= limit:
                break
            self._evict(e.key, e.dir)
            total -= e.size
            freed += e.size
            removed.append(e.key)
        return PruneResult(tuple(removed), freed, total, len(entries) - len(removed))

    def clear(self) -> None:
        """Remove every entry (``forge clean --cache``) and stale temp dirs. Puts running
        concurrently in other processes still complete."""
        self._remove_tree(self._entries_root)
        self.cleanup()

    def cleanup(self, max_age: float = STALE_TEMP_SECONDS) -> int:
        """Remove staging directories of puts that died (older than ``max_age`` seconds)
        and leftovers of interrupted deletions; returns how many were removed."""
        removed = 0
        try:
            items = list(os.scandir(self._tmp))
        except OSError:
            return 0
        now = time.time()
        for item in items:
            name = item.name
            if not name.startswith((_STAGING_PREFIX, _TRASH_PREFIX)):
                continue  # not ours (a builder's scratch space may live here too)
            try:
                age = now - item.stat(follow_symlinks=False).st_mtime
            except OSError:
                continue
            if name.startswith(_TRASH_PREFIX) and age < 60:
                continue  # probably still being deleted by its owner
            if age >= max_age or name.startswith(_TRASH_PREFIX):
                shutil.rmtree(item.path, ignore_errors=True)
                removed += 1
        return removed

    def _cleanup_once(self) -> None:
        with self._lock:
            if self._cleaned:
                return
            self._cleaned = True
        self.cleanup()

    def discard(self, key: str) -> None:
        """Remove the entry of ``key`` if there is one (``forge build --force`` replaces
        entries rather than letting the existing one win)."""
        d = self.entry_dir(key)
        if d.exists():
            self._evict(key, d)

    def _evict(self, key: str, d: Path) -> None:
        self._remove_tree(d, tag=key[:16])

    def _remove_tree(self, path: Path, tag: str = "all") -> None:
        # Rename first (atomic): no reader ever sees a half-deleted entry.
        try:
            self._tmp.mkdir(parents=True, exist_ok=True)
            trash = tempfile.mkdtemp(dir=self._tmp, prefix=f"{_TRASH_PREFIX}{tag}-")
        except OSError:
            shutil.rmtree(path, ignore_errors=True)
            return
        try:
            os.rename(path, os.path.join(trash, "x"))
        except FileNotFoundError:
            pass  # already gone (another process evicted it)
        except OSError:
            shutil.rmtree(path, ignore_errors=True)
        shutil.rmtree(trash, ignore_errors=True)


def _write_stamps(d: Path, stamps: Mapping[str, list[int]]) -> None:
    payload = {"format": ENTRY_FORMAT, "files": dict(stamps)}
    write_atomic(d / STAMP_FILE, json.dumps(payload).encode(), durable=False)


def _stamp(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]


def _trusted(recorded: object, stamp: list[int]) -> bool:
    """Whether a file verified at ``recorded`` (its stamp and the moment hashing began) is
    still proven by its current ``stamp``: identical, and not racy (``observe.racy``, the
    rule every stat comparison uses) — a same-tick edit that puts the mtime back would
    otherwise be served from a hard-linked artifact on a 1-second file system."""
    return (isinstance(recorded, list) and len(recorded) == 5 and recorded[:4] == stamp
            and type(recorded[4]) is int and not racy(max(stamp[1], stamp[3]), recorded[4]))


def _place(src: Path, dest: Path, *, move: bool) -> str | None:
    """Put ``src`` at ``dest``; return its sha256 when copying computed it anyway."""
    if move:
        try:
            os.replace(src, dest)
            return None
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
    h = hashlib.sha256()
    with open(src, "rb") as fi, open(dest, "wb") as fo:
        for chunk in iter(lambda: fi.read(_CHUNK), b""):
            h.update(chunk)
            fo.write(chunk)
    shutil.copymode(src, dest)
    if move:
        src.unlink()
    return h.hexdigest()
