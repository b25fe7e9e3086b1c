"""The S3 client of the remote cache: the one module that imports boto3.

Every call is bounded: connect and read timeouts, and botocore's ``standard`` retry mode
(exponential backoff with jitter on throttling, ``SlowDown``, 5xx and connection errors) for
a few attempts (``MAX_ATTEMPTS`` in all, the first included), so a dead or throttling endpoint
costs at most ``MAX_ATTEMPTS`` times the timeouts, never a hung build. Anything that still
fails is a ``RemoteUnavailable``; the caller turns it into one warning.

A read answered ``AccessDenied`` is a miss, counted (``denied``): S3 answers so for a key
that does not exist when the credentials lack ``s3:ListBucket`` on the bucket, which is what
a reader granted ``s3:GetObject`` alone gets for every miss.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TypeVar

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from lambdaforge.remote.settings import RemoteSettings
from lambdaforge.remote.tiered import MAX_CONCURRENCY, RemoteUnavailable

#: files above this go up and down in parts, several at once
MULTIPART_THRESHOLD = 16 * 1024 * 1024
#: seconds to connect and to wait for the next bytes of a response (per read, not per
#: download); attempts in total, the first one included
CONNECT_TIMEOUT = 3
READ_TIMEOUT = 10
MAX_ATTEMPTS = 3

T = TypeVar("T")

_MISSING = {"404", "NoSuchKey", "NotFound"}
#: what a read of a missing key gets without ``s3:ListBucket`` (a HEAD has no body: "403")
_DENIED = {"403", "AccessDenied"}
#: a conditional write lost to an existing object (or to a writer in flight): it is there
_EXISTS = {"412", "PreconditionFailed", "409", "ConditionalRequestConflict"}


class S3Store:
    """Objects of one bucket, through boto3's real client."""

    def __init__(self, settings: RemoteSettings) -> None:
        self.bucket = settings.bucket
        #: reads answered ``AccessDenied`` (taken as misses)
        self.denied = 0
        self._denied_lock = threading.Lock()
        try:
            session = boto3.session.Session(profile_name=settings.profile,
                                            region_name=settings.region)
            self.client = session.client(
                "s3", endpoint_url=settings.endpoint_url,
                config=Config(connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT,
                              retries=_retries(),
                              max_pool_connections=MAX_CONCURRENCY * 2))
        except BotoCoreError as exc:  # an unknown profile, a malformed config
            raise RemoteUnavailable(str(exc)) from exc
        self.transfer = TransferConfig(multipart_threshold=MULTIPART_THRESHOLD,
                                       multipart_chunksize=MULTIPART_THRESHOLD,
                                       max_concurrency=4, use_threads=True)

    def _read(self, call: Callable[[], T], absent_value: T) -> T:
        """``call()``, a read: ``absent_value`` for a missing key, or for ``AccessDenied``
        (counted in ``denied``)."""
        try:
            return _request(call, _MISSING, absent_value)
        except _Denied:
            with self._denied_lock:
                self.denied += 1
            return absent_value

    def get_bytes(self, name: str) -> bytes | None:
        """The object's bytes, or ``None`` when it does not exist (or reading it is denied)."""
        return self._read(lambda: self.client.get_object(Bucket=self.bucket, Key=name)["Body"].read(),
                          None)

    def exists(self, name: str) -> bool:
        """Whether the object exists (a HEAD; False when reading it is denied)."""
        return self._read(lambda: bool(self.client.head_object(Bucket=self.bucket, Key=name)),
                          False)

    def download(self, name: str, dest: Path, size: int) -> tuple[str, int] | None:
        """Write the object to ``dest``, hashing as it arrives; its (sha256, size) as
        downloaded, or ``None`` when it does not exist. ``size`` is what the entry says:
        above ``MULTIPART_THRESHOLD`` the object comes down in ranged parts, several at
        once (and is hashed afterwards); below, in one streamed GET."""
        h = hashlib.sha256()

        def stream() -> bool:
            body = self.client.get_object(Bucket=self.bucket, Key=name)["Body"]
            with open(dest, "wb") as f:
                for chunk in iter(lambda: body.read(1 << 20), b""):
                    h.update(chunk)
                    f.write(chunk)
            return True

        def ranged() -> bool:
            with open(dest, "wb") as f:
                self.client.download_fileobj(self.bucket, name, f, Config=self.transfer)
            with open(dest, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            return True

        try:
            found = self._read(stream if size <= MULTIPART_THRESHOLD else ranged, False)
        except RemoteUnavailable:
            dest.unlink(missing_ok=True)
            raise
        if not found:
            dest.unlink(missing_ok=True)
            return None
        return h.hexdigest(), os.path.getsize(dest)

    def put_new(self, name: str, data: bytes, *, replace: bool = False) -> bool:
        """Create the object unless it exists (``If-None-Match: *``); True when this call
        created it, False when it was there already (never an overwrite). With ``replace``
        (an object this build found corrupt or refused), write it whatever is there."""
        if replace:
            return _request(lambda: bool(self.client.put_object(Bucket=self.bucket, Key=name,
                                                                Body=data)), (), False)
        return _request(lambda: bool(self.client.put_object(Bucket=self.bucket, Key=name,
                                                            Body=data, IfNoneMatch="*")),
                        _EXISTS, False)

    def upload_new(self, name: str, path: Path, *, replace: bool = False) -> bool:
        """Upload a file unless the object exists (or whatever is there, with ``replace``);
        True when this call uploaded it.

        Small files are one conditional PUT. Above ``MULTIPART_THRESHOLD`` the upload is
        multipart through s3transfer, which does not pass ``If-None-Match`` through, so it
        is HEAD-then-upload: blobs are named by their content, so a writer racing us in
        between writes the very same bytes.
        """
        size = os.path.getsize(path)
        if size <= MULTIPART_THRESHOLD:
            return self.put_new(name, path.read_bytes(), replace=replace)
        if not replace and self.exists(name):
            return False
        return _request(lambda: self.client.upload_file(os.fspath(path), self.bucket, name,
                                                        Config=self.transfer) or True, (), False)


class _Denied(RemoteUnavailable):
    """A request answered ``AccessDenied``: the remote is unavailable to a write, and a read
    takes it as a miss (``S3Store._read``)."""


def _request(call: Callable[[], T], absent: Collection[str], absent_value: T) -> T:
    """``call()``; ``absent_value`` when S3 answers with one of the ``absent`` error codes
    (no such key, an existing object), ``RemoteUnavailable`` for any other failure (for
    ``AccessDenied`` a ``_Denied`` one, which a read takes as a miss)."""
    try:
        return call()
    except ClientError as exc:
        code = _code(exc)
        if code in absent:
            return absent_value
        if code in _DENIED:
            raise _Denied(str(_unavailable(exc))) from exc
        raise _unavailable(exc) from exc
    except BotoCoreError as exc:
        raise _unavailable(exc) from exc


def _retries() -> dict[str, object]:
    """botocore's retry settings: the standard mode's backoff, ``MAX_ATTEMPTS`` attempts in
    all, unless the user's ``AWS_MAX_ATTEMPTS`` / ``AWS_RETRY_MODE`` (the SDKs' own
    variables, attempts in all too) say otherwise. (botocore's ``max_attempts`` key counts
    retries after the first request; ``total_max_attempts`` is the SDKs' meaning.)"""
    try:
        attempts = max(1, int(os.environ.get("AWS_MAX_ATTEMPTS", MAX_ATTEMPTS)))
    except ValueError:
        attempts = MAX_ATTEMPTS
    mode = os.environ.get("AWS_RETRY_MODE", "standard")
    return {"total_max_attempts": attempts,
            "mode": mode if mode in ("standard", "adaptive", "legacy") else "standard"}


def _code(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    code = str(error.get("Code", ""))
    return code if code and code not in ("", "None") else str(status)


def _unavailable(exc: Exception) -> RemoteUnavailable:
    if isinstance(exc, ClientError):
        return RemoteUnavailable(f"{_code(exc)}: {exc.response.get('Error', {}).get('Message', exc)}")
    return RemoteUnavailable(str(exc) or type(exc).__name__)
