"""File digests memoised by stat data, like git's index.

A no-op build must not re-read every source file, so the sha256 of each file is remembered
together with the stat tuple it was computed for: (size, mtime_ns, inode, ctime_ns). When the
tuple still matches, the remembered digest is returned without opening the file.

This is a pure speed-up, never a source of truth: a missing, corrupt or older-format cache
file is an empty cache, and any doubt (stat mismatch, a file modified while being hashed, a
"racily clean" entry) means the file is hashed again.

Racy timestamps (git's ``Documentation/technical/racy-git.txt``): a file modified twice within
one tick of the file system's clock keeps its mtime, so a digest taken between the two writes
would be trusted forever. The rule is ``observe.racy``, the same one the no-op replay uses:

- an entry is only memoised when the file's mtime is older than the moment hashing started
  by more than the clock's granularity; a freshly written file is simply hashed every time
  until it ages past the window;
- as git does, entries that are racy against the cache file's own write time are not
  trusted after a load (they are hashed again).

A file that is not a regular file (a FIFO, a socket, a device) is never opened: reading a
FIFO would block the build forever. Asking for its digest raises ``OSError``.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat as stat_module
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from lambdaforge.fsutil import write_atomic
from lambdaforge.observe import Observation, file_obs, is_executable_mode, newest, racy, stat_tuple

#: bump when the file format or the meaning of an entry changes; other versions are ignored
STATCACHE_VERSION = 2

_CHUNK = 1 << 20
_DIGEST_LEN = 64


class FileDigest(NamedTuple):
    """A file's content digest (sha256 hex) and whether it is executable."""

    digest: str
    executable: bool


def is_executable(mode: int) -> bool:
    """Whether a file mode counts as executable for keys and zips (the owner's x bit, as git)."""
    return is_executable_mode(mode)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """sha256 hex of a file's content, read in chunks (memory stays flat for big files)."""
    with open(path, "rb") as f:
        return _sha256_fileobj(f)


def _sha256_fileobj(f) -> str:  # type: ignore[no-untyped-def]
    if hasattr(hashlib, "file_digest"):  # 3.11+: reads into a reused buffer, no GIL per chunk
        return hashlib.file_digest(f, "sha256").hexdigest()
    h = hashlib.sha256()
    for chunk in iter(lambda: f.read(_CHUNK), b""):
        h.update(chunk)
    return h.hexdigest()


def _check_relpath(relpath: str) -> None:
    # Keys are built from these paths: an absolute or escaping path would make them
    # machine-specific, so refuse it loudly (a programming error, not a user error).
    if not relpath or relpath.startswith("/") or "\\" in relpath or ".." in relpath.split("/"):
        raise ValueError(f"not a normalized project-relative POSIX path: {relpath!r}")


def _stat_prefix(st: os.stat_result) -> str:
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}:{st.st_ctime_ns}:"


class StatCache:
    """Project-relative path → (size, mtime_ns, inode, ctime_ns, sha256) memo.

    One instance per project root. ``digest`` may be called from several threads at once;
    ``load`` and ``save`` belong to the one thread that owns the build.

    An entry is one string, ``"size:mtime_ns:ino:ctime_ns:digest"``: a lookup compares it
    with the same text made from a fresh ``stat`` (no parsing), and the file on disk is a
    flat JSON object of strings, which ``json`` reads about three times faster than lists
    of numbers (20,000 entries: ~10 ms). Entries read from disk are checked lazily.
    """

    def __init__(self, path: Path | None = None) -> None:
        #: where ``save`` writes; ``None`` keeps the cache in memory only
        self.path = path
        #: entries read from disk, trusted only for files older than ``_written_ns``
        self._loaded: dict[str, object] = {}
        self._written_ns = 0
        #: entries hashed by this process (shadow ``_loaded``)
        self._fresh: dict[str, str] = {}
        self._lock = threading.Lock()
        self._dirty = False
        #: digests answered from the memo / computed by reading the file (for tests, stats)
        self.hits = 0
        self.hashed = 0

    # ------------------------------------------------------------------ persistence

    @classmethod
    def load(cls, path: Path) -> StatCache:
        """Read the cache at ``path``; a missing, corrupt or other-version file gives an
        empty cache (the next build re-hashes, nothing worse)."""
        cache = cls(path)
        try:
            with open(path, "rb") as f:
                written_ns = os.fstat(f.fileno()).st_mtime_ns
                data = json.loads(f.read())
        except (OSError, ValueError):
            return cache
        if not isinstance(data, dict) or data.get("version") != STATCACHE_VERSION:
            return cache
        entries = data.get("entries")
        if isinstance(entries, dict):
            cache._loaded = entries
            cache._written_ns = written_ns
        return cache

    def save(self) -> None:
        """Write the cache atomically (temp file + rename) if anything changed."""
        if self.path is None:
            return
        with self._lock:
            if not self._dirty:
                return
            entries = {**self._loaded, **self._fresh}
            self._dirty = False
        data = json.dumps(
            {"version": STATCACHE_VERSION, "entries": entries}, separators=(",", ":")
        ).encode()
        try:
            # No fsync: losing the cache in a crash only costs a re-hash.
            write_atomic(self.path, data, durable=False)
        except OSError:
            # A read-only checkout still builds, only slower next time.
            with self._lock:
                self._dirty = True

    # ------------------------------------------------------------------ lookups

    def __len__(self) -> int:
        return len(self._loaded.keys() | self._fresh.keys())

    def __contains__(self, relpath: object) -> bool:
        return relpath in self._fresh or relpath in self._loaded

    def digest(self, root: Path, relpath: str, st: os.stat_result | None = None) -> str:
        """sha256 hex of ``root/relpath``, read from disk only when its stat data changed.

        ``st`` may be passed when the caller already has it (a directory walk); it must be
        the ``os.stat`` of that file (symlinks followed).
        """
        return self.observe(root, relpath, st)[3]

    def observe(self, root: Path, relpath: str, st: os.stat_result | None = None) -> Observation:
        """The file input observation of ``root/relpath`` (``observe.file_obs``): its digest
        and the stat that digest is known to belong to (``None`` when the file changed while
        it was read), so a later build can trust the pair or re-verify it."""
        _check_relpath(relpath)
        path = os.path.join(root, relpath)
        if st is None:
            st = os.stat(path)
        entry = self._fresh.get(relpath)
        if entry is None:
            entry = self._loaded.get(relpath)
            # Racily clean (git): modified so close to the cache file's write that a later
            # same-tick modification could hide behind an unchanged stat tuple.
            if racy(newest(st), self._written_ns):
                entry = None
        if type(entry) is str:
            prefix = _stat_prefix(st)
            if len(entry) == len(prefix) + _DIGEST_LEN and entry.startswith(prefix):
                with self._lock:
                    self.hits += 1
                return file_obs(relpath, stat_tuple(st), entry[len(prefix) :])
        if not stat_module.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        return self._hash(relpath, path)

    def _hash(self, relpath: str, path: str) -> Observation:
        started_ns = time.time_ns()
        # O_NONBLOCK: a regular file replaced by a FIFO since the stat must not hang us.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            before = os.fstat(f.fileno())
            if not stat_module.S_ISREG(before.st_mode):
                raise OSError(errno.EINVAL, "not a regular file", path)
            digest = _sha256_fileobj(f)
            after = os.fstat(f.fileno())
        prefix = _stat_prefix(after)
        stable = prefix == _stat_prefix(before)
        with self._lock:
            self.hashed += 1
            if stable and not racy(newest(after), started_ns):
                self._fresh[relpath] = prefix + digest
                self._dirty = True
            elif relpath in self:
                # the old entry is certainly stale; don't let it linger on disk
                self._fresh.pop(relpath, None)
                self._loaded.pop(relpath, None)
                self._dirty = True
        return file_obs(relpath, stat_tuple(after) if stable else None, digest)

    def retain(self, relpaths: Iterable[str]) -> None:
        """Keep only the entries of ``relpaths`` (call after a walk of the whole project so
        deleted files do not accumulate)."""
        keep = set(relpaths)
        with self._lock:
            before = len(self._loaded) + len(self._fresh)
            self._loaded = {k: v for k, v in self._loaded.items() if k in keep}
            self._fresh = {k: v for k, v in self._fresh.items() if k in keep}
            self._dirty |= len(self._loaded) + len(self._fresh) != before


def digest_files(
    root: Path, relpaths: Iterable[str], cache: StatCache | None = None
) -> dict[str, FileDigest]:
    """Digest and exec bit of each project-relative file, through ``cache`` when given.

    Symlinks are followed (the zip holds the target's content). Raises ``OSError`` for a
    missing file: the caller decided it is an input, so its absence is an error.
    """
    memo = cache if cache is not None else StatCache()
    out: dict[str, FileDigest] = {}
    for rel in relpaths:
        st = os.stat(os.path.join(root, rel))
        out[rel] = FileDigest(memo.digest(root, rel, st), is_executable(st.st_mode))
    return out
