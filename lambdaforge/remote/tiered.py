"""The remote cache behind the local one: fetch on a local miss, upload after a put.

``RemoteCache`` is what ``lambdaforge.cache.Cache`` calls. A fetch reads the action entry,
checks it (its envelope, its key, its signature when ``FORGE_CACHE_SIGNING_KEY`` is set),
downloads every blob it lists into the local cache's staging area, verifies each one's sha256
and size, and only then stores the entry locally: nothing unverified is ever served. An
upload (read-write mode only) sends the blobs first and the action entry last, each with a
conditional write, on a bounded pool of threads; ``close`` waits for them.

A remote that fails (unreachable, timing out, throttling after the client's retries, no
credentials) is switched off for the rest of the build with one warning: the build goes on
from the local cache and local work. An entry that cannot be used (refused signature, a
missing or corrupt blob) is a miss with one warning of its own; a read-write build that
builds that target replaces the objects it could not use (blobs are named by their content
and entries by their key, so the overwrite is what any writer would write), instead of
leaving one bad object to cost every later reader the target.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msgspec import Struct
from msgspec.structs import asdict

from lambdaforge.remote.layout import (INLINE_MAX, EntryRefused, RemoteEntry, blob_name,
                                       bundle_name, decode, decode_bundle, encode,
                                       encode_bundle, entry_name)
from lambdaforge.remote.settings import SIGNING_KEY_VARIABLE, RemoteSettings

if TYPE_CHECKING:
    from lambdaforge.cache import Cache, CacheEntry
    from lambdaforge.remote.s3 import S3Store

#: transfers in flight at once, per build
MAX_CONCURRENCY = 8
#: the digest of no bytes: such a blob is never downloaded
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#: staging directories of fetches live in the local cache's ``tmp/`` under the prefix its
#: cleanup removes when a killed process leaves one behind
STAGING_PREFIX = "put-remote-"


class RemoteUnavailable(Exception):
    """The remote cache cannot be used now (unreachable, throttling after retries, no
    credentials, access denied, boto3 not installed)."""


class RemoteStats(Struct):
    """What the remote cache did in one build (``forge build --json``, the summary line)."""

    hits: int = 0
    misses: int = 0
    #: entries refused for their signature (with the signing key set)
    refused: int = 0
    #: entries whose envelope, or a blob, was missing or did not match its digest
    corrupt: int = 0
    uploaded: int = 0
    #: of those, objects written over one this build found corrupt, missing or refused
    replaced: int = 0
    #: lookups answered ``AccessDenied``, counted as misses (a reader without
    #: ``s3:ListBucket`` gets that for a missing key)
    denied: int = 0
    bytes_down: int = 0
    bytes_up: int = 0
    #: why the remote was switched off for this build, if it was
    unavailable: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain data for the JSON report."""
        return asdict(self)


class RemoteCache:
    """One build's use of the remote cache described by ``settings``.

    ``store`` is made on first use (importing boto3 then, not before); tests and callers
    may pass one. Thread-safe: the executor's workers fetch and upload concurrently.
    """

    def __init__(self, settings: RemoteSettings, *, signing_key: bytes | None = None,
                 store: S3Store | None = None, workers: int | None = None) -> None:
        self.settings = settings
        self.signing_key = signing_key
        self.stats = RemoteStats()
        self.warnings: list[str] = []
        #: keys this build got from the remote (the report says "cached (remote)")
        self.fetched: set[str] = set()
        #: keys looked up in vain in this build (a miss is asked once, not by the prefetch
        #: and again by the action)
        self._missed: set[str] = set()
        #: entries read and checked, whose blobs were not downloaded (``prefetch``'s
        #: ``lazy`` keys): key → entry, until ``download_deferred`` or ``take_deferred``
        self._deferred: dict[str, RemoteEntry] = {}
        #: entries read from an action bundle, used instead of reading their ``ac/`` objects
        self._bundled: dict[str, RemoteEntry] = {}
        #: the envelope bytes of every entry this build read and accepted (for its bundle)
        self._envelopes: dict[str, bytes] = {}
        #: object names this build found unusable (a corrupt or missing blob, the entry
        #: pointing to it, a refused entry): an upload writes over them
        self._repair: set[str] = set()
        #: the action bundle read lacked or refused an entry it should carry
        self._repair_bundle = False
        self._store = store
        self._lock = threading.Lock()
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[Future] = []

    # ------------------------------------------------------------------ plumbing

    @property
    def store(self) -> S3Store:
        """The S3 client (created, and boto3 imported, on first use)."""
        with self._lock:
            if self._store is None:
                try:
                    from lambdaforge.remote.s3 import S3Store
                except ImportError as exc:
                    raise RemoteUnavailable(f"{exc.name or 'boto3'} is not installed: "
                                            "pip install 'lambdaforge[aws]'") from None
                self._store = S3Store(self.settings)
            return self._store

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._workers or MAX_CONCURRENCY,
                                                thread_name_prefix="forge-remote")
            return self._pool

    @property
    def available(self) -> bool:
        """False once the remote failed in this build."""
        return self.stats.unavailable is None

    def _down(self, exc: Exception) -> None:
        with self._lock:
            if self.stats.unavailable is None:
                self.stats.unavailable = str(exc)
                self.warnings.append(f"remote cache {self.settings.url} unavailable ({exc}); "
                                     "building locally")

    def _warn(self, message: str, *, refused: bool = False) -> None:
        with self._lock:
            self.warnings.append(message)
            if refused:
                self.stats.refused += 1
            else:
                self.stats.corrupt += 1

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self.stats, name, getattr(self.stats, name) + delta)

    # ------------------------------------------------------------------ reading

    def fetch(self, key: str, local: Cache, what: str | None = None) -> bool:
        """Bring the entry of ``key`` into ``local`` from the remote; True when it is there
        now, verified. False on a miss, a refused or corrupt entry (one warning), or an
        unavailable remote."""
        return self._fetch(key, local, what, lazy=False)

    def _fetch(self, key: str, local: Cache, what: str | None, *, lazy: bool) -> bool:
        """``fetch``; with ``lazy``, only read and check the action entry and keep it for
        ``download_deferred`` / ``take_deferred`` (True when it is usable)."""
        if not self.available or key in self._missed:
            return False
        label = what or "a target"
        prefix = self.settings.prefix
        deferred = False
        try:
            with self._lock:
                entry = self._deferred.pop(key, None) or self._bundled.pop(key, None)
            if entry is None:
                entry = self._read_entry(key, label)
            if entry is None:
                return False
            if lazy:
                with self._lock:
                    self._deferred[key] = entry
                deferred = True
                return True
            return self._download(entry, local, label)
        except RemoteUnavailable as exc:
            self._down(exc)
            return False
        finally:
            if key not in self.fetched and not deferred:
                with self._lock:
                    self._missed.add(key)

    def _read_entry(self, key: str, label: str) -> RemoteEntry | None:
        """The checked action entry of ``key``; ``None`` on a miss or a refused entry."""
        raw = self.store.get_bytes(entry_name(self.settings.prefix, key))
        if raw is None:
            self._count(misses=1)
            return None
        try:
            entry = decode(raw, key, self.signing_key)
        except EntryRefused as exc:
            self._mark(entry_name(self.settings.prefix, key))
            if exc.signature:
                self._warn(f"remote cache entry {key[:12]} for {label} refused: {exc} "
                           f"(${SIGNING_KEY_VARIABLE} is set); building it locally",
                           refused=True)
            else:
                self._warn(f"remote cache entry {key[:12]} for {label} is unusable ({exc}); "
                           "building it locally")
            return None
        with self._lock:
            self._envelopes[key] = raw
        return entry

    def download_deferred(self, wanted: Iterable[tuple[str, str]], local: Cache) -> set[str]:
        """Download the blobs of entries ``prefetch`` only read (``lazy``) after all, for
        the (key, target id) pairs given, on the bounded pool; the keys now in ``local``."""
        with self._lock:
            todo = [(k, w) for k, w in wanted if k in self._deferred]
        return self._batch(todo, local, lazy=False)

    def take_deferred(self, key: str) -> dict[str, Any] | None:
        """The meta of an entry read but not downloaded (an install whose consumers were
        all hits: its ``deps.zip`` is not needed), counted as a hit; ``None`` if there is
        none. Should the blobs be needed later, ``fetch`` reads the entry again."""
        with self._lock:
            entry = self._deferred.pop(key, None)
            if entry is None:
                return None
            self.stats.hits += 1
            self.fetched.add(key)
        return dict(entry.meta)

    def _download(self, entry: RemoteEntry, local: Cache, label: str) -> bool:
        if not entry.files:  # a check's verdict: the entry is all there is
            local.put(entry.key, {}, entry.meta, upload=False, durable=False)
            self._count(hits=1)
            with self._lock:
                self.fetched.add(entry.key)
            return True
        staging = local.staging_dir(STAGING_PREFIX)
        try:
            files: dict[str, Path] = {}
            digests: dict[str, str] = {}
            got_bytes = 0
            for name, (digest, size) in sorted(entry.files.items()):
                dest = staging / name
                carried = entry.inline.get(name, b"" if digest == EMPTY_SHA256 else None)
                if carried is not None:  # in the entry: nothing to download
                    dest.write_bytes(carried)
                    got: tuple[str, int] | None = (hashlib.sha256(carried).hexdigest(),
                                                   len(carried))
                else:
                    got = self.store.download(blob_name(self.settings.prefix, digest), dest, size)
                if got is None or got != (digest, size):
                    self._mark(entry_name(self.settings.prefix, entry.key),
                               *(() if got is None else (blob_name(self.settings.prefix, digest),)))
                if got is None:
                    self._warn(f"remote cache entry {entry.key[:12]} for {label} lists a blob that "
                               f"is missing ({digest[:12]}); building it locally")
                    return False
                if got != (digest, size):
                    self._warn(f"remote cache blob {digest[:12]} of {label} does not match its "
                               "digest (corrupt); not used, building it locally")
                    return False
                files[name] = dest
                digests[name] = digest
                got_bytes += size
            # Not durable: a copy of the remote's, cheaper to fetch again than to fsync; after
            # a power loss a torn entry is caught by ``get`` and evicted.
            local.put(entry.key, files, entry.meta, move=True, sha256=digests, upload=False,
                      durable=False)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self._count(hits=1, bytes_down=got_bytes)
        with self._lock:
            self.fetched.add(entry.key)
        return True

    def prefetch(self, wanted: Iterable[tuple[str, str]], local: Cache,
                 lazy: Iterable[str] = (), every: Iterable[str] = ()) -> set[str]:
        """Fetch the entries of several (key, target id) pairs at once, on the bounded pool:
        a fully cached build is bound by download bandwidth, not by round trips. Returns
        the keys now in ``local``; for the ``lazy`` keys only the action entry is read and
        checked (their blobs may not be needed) and they are returned when usable.
        ``every``: the keys of the whole build, whose action bundle (one request) stands
        in for the wanted keys' entries when a finished build had exactly those keys."""
        wanted = list(wanted)
        every = sorted(set(every))
        if len(wanted) > 1 and every and self.available:
            self._read_bundle(every, {key for key, _ in wanted})
        return self._batch(wanted, local, lazy=set(lazy))

    def _read_bundle(self, every: list[str], wanted: set[str]) -> None:
        try:
            raw = self.store.get_bytes(bundle_name(self.settings.prefix, every))
        except RemoteUnavailable as exc:
            self._down(exc)
            return
        if raw is not None:
            entries = decode_bundle(raw, wanted, self.signing_key)
            with self._lock:
                self._repair_bundle = self._repair_bundle or len(entries) < len(wanted)
                self._bundled.update({k: entry for k, (entry, _) in entries.items()})
                self._envelopes.update({k: envelope for k, (_, envelope) in entries.items()})

    def publish_bundle(self, every: Iterable[str], local: Cache) -> bool:
        """In read-write mode, after a build whose every target is in ``local``: write the
        action bundle of ``every`` key (their envelopes, signed as their entries are), so
        the next build with exactly these keys reads one object instead of one per target.
        Call after ``close`` (the blobs it points to are uploaded by then). True when this
        call created it."""
        if not self.settings.writes or not self.available:
            return False
        every = sorted(set(every))
        if len(every) < 2:
            return False
        envelopes: dict[str, bytes] = {}
        for key in every:
            # Local entries (``contains`` first: ``get`` would fetch a miss from the remote),
            # else the envelope this build read there and accepted (an install it did not
            # need to download); neither: no bundle (it would only be partial).
            entry = local.get(key) if local.contains(key) else None
            if entry is not None:
                envelopes[key] = encode(_remote_entry(entry), self.signing_key)
            elif key in self._envelopes:
                envelopes[key] = self._envelopes[key]
            else:
                return False
        with self._lock:
            replace = self._repair_bundle or bool(self._repair)
        try:
            return self.store.put_new(bundle_name(self.settings.prefix, every),
                                      encode_bundle(envelopes), replace=replace)
        except RemoteUnavailable as exc:
            self._down(exc)
            return False

    def _batch(self, wanted: list[tuple[str, str]], local: Cache, *,
               lazy: set[str] | bool) -> set[str]:
        if not wanted or not self.available:
            return set()
        pool = self._executor()
        futures = {key: pool.submit(self._fetch, key, local, what,
                                    lazy=key in lazy if isinstance(lazy, set) else lazy)
                   for key, what in wanted}
        return {key for key, f in futures.items() if f.result()}

    # ------------------------------------------------------------------ writing

    def upload(self, entry: CacheEntry) -> None:
        """In read-write mode, send a locally stored entry to the remote in the background
        (blobs first, the action entry last). ``close`` waits for it."""
        if not self.settings.writes or not self.available:
            return
        future = self._executor().submit(self._upload, entry)
        with self._lock:
            self._pending.append(future)

    def _upload(self, entry: CacheEntry) -> None:
        prefix = self.settings.prefix
        try:
            sent = replaced = 0
            for f in sorted(entry.files.values(), key=lambda f: f.name):
                name = blob_name(prefix, f.sha256)
                if self.store.upload_new(name, f.path, replace=self._repairs(name)):
                    sent += f.size
            name = entry_name(prefix, entry.key)
            replace = self._repairs(name)
            created = self.store.put_new(name, encode(_remote_entry(entry), self.signing_key),
                                         replace=replace)
            self._count(bytes_up=sent, uploaded=1 if created else 0,
                        replaced=1 if created and replace else 0)
        except RemoteUnavailable as exc:
            self._down(exc)
        except FileNotFoundError:
            pass  # the local entry was evicted meanwhile: nothing to send

    def _mark(self, *names: str) -> None:
        with self._lock:
            self._repair.update(names)

    def _repairs(self, name: str) -> bool:
        """Whether an upload of ``name`` writes over what is there (this build found it
        unusable); once: a later upload of the same object is conditional again."""
        with self._lock:
            if name in self._repair:
                self._repair.discard(name)
                return True
            return False

    def close(self) -> None:
        """Wait for the uploads in flight, then stop the pool; then count the lookups that
        were denied, with one warning when nothing was served (credentials that cannot
        read the bucket look exactly like misses then)."""
        with self._lock:
            pending, self._pending = self._pending, []
            pool, self._pool = self._pool, None
        for future in pending:
            future.result()
        if pool is not None:
            pool.shutdown(wait=True)
        denied = 0 if self._store is None else getattr(self._store, "denied", 0)
        with self._lock:
            if denied > self.stats.denied:
                if self.stats.denied == 0 and self.stats.hits == 0:
                    self.warnings.append(
                        f"remote cache {self.settings.url}: {denied} lookup(s) answered "
                        "AccessDenied, taken as misses, and nothing was served from it. S3 "
                        "answers a missing key so when the credentials lack s3:ListBucket; "
                        "grant s3:ListBucket with s3:GetObject to tell a miss from a denial, "
                        "and check that these credentials may read the bucket")
                self.stats.denied = denied


def _remote_entry(entry: CacheEntry) -> RemoteEntry:
    """The action entry of a local cache entry (small files carried inline)."""
    return RemoteEntry(entry.key, {f.name: (f.sha256, f.size) for f in entry.files.values()},
                       entry.meta, {f.name: f.path.read_bytes() for f in entry.files.values()
                                    if f.size <= INLINE_MAX})
