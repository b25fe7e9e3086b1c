"""Object names in the remote cache and the action entry's signed envelope.

Layout under the configured prefix (Bazel's split, bazel-remote's sharding)::

    cas/<hh>/<sha256>         a blob: the bytes of one file of an entry, named by its digest
    ac/<hh>/<key>.json        an action entry: the envelope below, named by the target key
    ab/<hh>/<digest>.json     an action bundle: the envelopes of every target of one build,
                              named by the digest of their sorted keys

An action entry is the local cache's ``entry.json`` minus what only one machine needs: the
key, each file's name, size and sha256, and the meta the local cache keeps. Its envelope is
``{"format": 1, "entry": "<the entry's JSON text>", "hmac-sha256": "<hex>"}``; the entry is
carried as text so the signed bytes are exactly the bytes read back (no re-serialisation).
A file of at most ``INLINE_MAX`` bytes (a strip listing) is also carried inline, base64 in
its ``inline`` field, so a reader needs no request for it (Bazel's inlined outputs); its blob
is uploaded all the same, for readers that do not look inline. Inline bytes are checked
against the file's sha256 and size like a downloaded blob.
An action bundle saves a build whose every key matches a finished build's (a fresh CI
runner, a new checkout) one request per target: it carries the same envelopes, each decoded
and verified exactly as if read from ``ac/`` (so the bundle itself needs no signature); a
bundle that is missing, malformed, or lacks or refuses an entry costs nothing but the
per-target reads it would have saved.
The signature is HMAC-SHA256 with ``FORGE_CACHE_SIGNING_KEY`` over a domain tag, the target
key and those bytes: an entry cannot be moved to another key, and without the signing key
nobody (a pull request's CI job included) can write an entry a signing reader accepts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from msgspec import Struct, field

#: version of the envelope and of the entry inside it
FORMAT = 1
_DOMAIN = b"lambdaforge-remote-ac-v1\0"
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
#: files up to this size travel inside the action entry too
INLINE_MAX = 4096


class EntryRefused(Exception):
    """An action entry that must not be used: malformed, for another key, or (with a
    signing key) unsigned or mis-signed. ``signature`` says it was the signature."""

    def __init__(self, message: str, *, signature: bool = False) -> None:
        super().__init__(message)
        self.signature = signature


class RemoteEntry(Struct, frozen=True):
    """An action entry: the files (name → (sha256, size)), the local cache's meta, and the
    bytes of the small files carried inline (name → bytes, not yet verified)."""

    key: str
    files: Mapping[str, tuple[str, int]]
    meta: Mapping[str, Any]
    inline: Mapping[str, bytes] = field(default_factory=dict)


def blob_name(prefix: str, sha256: str) -> str:
    """The object name of a blob."""
    return _join(prefix, f"cas/{sha256[:2]}/{sha256}")


def entry_name(prefix: str, key: str) -> str:
    """The object name of an action entry."""
    return _join(prefix, f"ac/{key[:2]}/{key}.json")


def bundle_name(prefix: str, keys: Iterable[str]) -> str:
    """The object name of the action bundle of exactly ``keys``."""
    digest = hashlib.sha256("\n".join(sorted(set(keys))).encode()).hexdigest()
    return _join(prefix, f"ab/{digest[:2]}/{digest}.json")


def encode_bundle(envelopes: Mapping[str, bytes]) -> bytes:
    """An action bundle: each key's envelope (as ``encode`` made it), carried as text."""
    return json.dumps({"format": FORMAT, "entries": {k: v.decode() for k, v in envelopes.items()}},
                      sort_keys=True, separators=(",", ":")).encode()


def decode_bundle(data: bytes, keys: Iterable[str],
                  signing_key: bytes | None) -> dict[str, tuple[RemoteEntry, bytes]]:
    """The entries of a bundle for ``keys`` with their envelopes' bytes, each checked by
    ``decode`` (a refused or malformed one is simply left out: its ``ac/`` object is read
    instead)."""
    try:
        bundle = json.loads(data)
        entries = bundle["entries"] if bundle.get("format") == FORMAT else {}
        if not isinstance(entries, dict):
            return {}
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}
    out: dict[str, tuple[RemoteEntry, bytes]] = {}
    for key in keys:
        text = entries.get(key)
        if not isinstance(text, str):
            continue
        raw = text.encode()
        try:
            out[key] = (decode(raw, key, signing_key), raw)
        except EntryRefused:
            continue
    return out


def _join(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


def signature(signing_key: bytes, key: str, entry_bytes: bytes) -> str:
    """HMAC-SHA256 of an entry's bytes for ``key`` (hex)."""
    return hmac.new(signing_key, _DOMAIN + key.encode() + b"\0" + entry_bytes,
                    hashlib.sha256).hexdigest()


def encode(entry: RemoteEntry, signing_key: bytes | None) -> bytes:
    """The envelope of ``entry``, signed when a signing key is given."""
    files: dict[str, dict[str, Any]] = {}
    for name, (digest, size) in entry.files.items():
        files[name] = {"sha256": digest, "size": size}
        if name in entry.inline:
            files[name]["inline"] = base64.b64encode(entry.inline[name]).decode()
    text = json.dumps({"format": FORMAT, "key": entry.key, "files": files,
                       "meta": dict(entry.meta)}, sort_keys=True, separators=(",", ":"))
    envelope: dict[str, Any] = {"format": FORMAT, "entry": text}
    if signing_key is not None:
        envelope["hmac-sha256"] = signature(signing_key, entry.key, text.encode())
    return json.dumps(envelope, sort_keys=True).encode()


def decode(data: bytes, key: str, signing_key: bytes | None) -> RemoteEntry:
    """The entry of an envelope read for ``key``; ``EntryRefused`` when it is malformed,
    names another key, or a signing key is set and its signature is missing or wrong."""
    try:
        envelope = json.loads(data)
        if not isinstance(envelope, dict) or envelope.get("format") != FORMAT:
            raise EntryRefused("not an action entry of this format")
        text = envelope["entry"]
        if not isinstance(text, str):
            raise EntryRefused("malformed envelope")
    except (ValueError, KeyError, TypeError):
        raise EntryRefused("not JSON or not an envelope") from None
    if signing_key is not None:
        given = envelope.get("hmac-sha256")
        if not isinstance(given, str):
            raise EntryRefused("unsigned", signature=True)
        if not hmac.compare_digest(given, signature(signing_key, key, text.encode())):
            raise EntryRefused("signature does not match", signature=True)
    try:
        body = json.loads(text)
        if body["format"] != FORMAT or body["key"] != key:
            raise EntryRefused("entry names another key or format")
        files = {}
        inline = {}
        for name, info in body["files"].items():
            digest, size = str(info["sha256"]), int(info["size"])
            if not _NAME.match(name) or not _DIGEST.match(digest) or size < 0:
                raise EntryRefused(f"malformed file {name!r}")
            files[name] = (digest, size)
            if "inline" in info:
                inline[name] = base64.b64decode(info["inline"], validate=True)
        meta = body["meta"]
        if not isinstance(meta, dict):
            raise EntryRefused("malformed meta")
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        raise EntryRefused("malformed entry") from None
    return RemoteEntry(key, files, meta, inline)
