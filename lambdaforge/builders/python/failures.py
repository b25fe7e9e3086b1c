"""Why an install failed, in a line a user can act on, and the full log kept on disk.

An installer's last words are often about the package it gave up on ("No matching
distribution found for requests==2.32.3") while the cause is earlier in its output: the
index's certificate was not trusted, its name did not resolve, it answered 404. ``cause``
finds that cause by the words uv and pip (and Python's ``ssl``/``urllib3`` under pip) use,
and ``cause_lines`` the lines that say it, so the message shows them however long the
output. ``write_log`` keeps every command of the failed install (credentials hidden) in
``.forge/logs/``, whose path the message names.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

from lambdaforge.fsutil import write_atomic
from lambdaforge.redact import redact_text

#: (cause, what it is, the words that show it), first match wins: network causes before
#: resolution, since a resolver that could not reach the index reports "no match" too.
CAUSES: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("tls", "TLS failure talking to the index (is its certificate trusted? set SSL_CERT_FILE "
     "or pip's `cert` to your CA bundle)", re.compile(
         r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|invalid peer certificate|"
         r"UnknownIssuer|SSLError|SSL: |tls handshake|TLS handshake|WRONG_VERSION_NUMBER|"
         r"record layer failure|InvalidContentType|invalid TLS|received corrupt message", re.I)),
    ("dns", "the index's host name does not resolve (DNS)", re.compile(
        r"Name or service not known|Temporary failure in name resolution|failed to lookup "
        r"address|dns error|nodename nor servname|NameResolutionError|getaddrinfo failed", re.I)),
    ("refused", "the index refused the connection (nothing listening there?)", re.compile(
        r"Connection refused|ConnectionRefusedError|connection refused|"
        r"NewConnectionError", re.I)),
    ("http", "the index answered with an HTTP error", re.compile(
        r"HTTP status (?:client|server) error \(\d{3}|\b(?:40[0-9]|41[0-9]|5\d\d) Client Error|"
        r"\b(?:40[0-9]|5\d\d) (?:Not Found|Forbidden|Unauthorized|Server Error)|"
        r"status code:? \d{3}|HTTP error \d{3}", re.I)),
    ("timeout", "the index did not answer in time", re.compile(
        r"timed out|ReadTimeoutError|operation timed out", re.I)),
    ("hashes", "hash-checking mode (a requirement has `--hash`, or a requirements file says "
     "`--require-hashes`): every package installed, dependencies included, must be pinned with "
     "`==` and have its `--hash` (add the missing lines, e.g. with `uv pip compile "
     "--generate-hashes`)", re.compile(
         r"Hash-checking is required, but no trusted hash|In `?--require-hashes`? mode|"
         r"Hashes are required in --require-hashes mode", re.I)),
    ("missing", "the index has no such package or version", re.compile(
        r"was not found in the package registry|\(from versions: none\)", re.I)),
    ("conflict", "the requirements conflict: no set of versions satisfies them all", re.compile(
        r"No solution found when resolving|ResolutionImpossible|conflicting dependencies|"
        r"requirements are unsatisfiable", re.I)),
)


def cause(output: str) -> tuple[str, str] | None:
    """``(cause id, description)`` of the first ``CAUSES`` entry the output shows, or ``None``."""
    for name, description, pattern in CAUSES:
        if pattern.search(output):
            return name, description
    return None


def cause_lines(output: str, name: str, limit: int = 4) -> list[str]:
    """The first ``limit`` distinct lines of ``output`` that show cause ``name``."""
    pattern = next(p for n, _, p in CAUSES if n == name)
    seen: list[str] = []
    for line in output.splitlines():
        text = line.strip()
        if text and pattern.search(text) and text not in seen:
            seen.append(text)
    return seen[:limit]


def write_log(project_root: Path, identity: str, commands: Iterable[str]) -> Path:
    """Write the described ``commands`` of a failed install to
    ``.forge/logs/install-<digest of identity>.log`` (credentials hidden) and return its path."""
    digest = hashlib.sha256(identity.encode()).hexdigest()[:12]
    path = project_root / ".forge" / "logs" / f"install-{digest}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, redact_text("\n\n".join(commands) + "\n").encode(), durable=False)
    return path
