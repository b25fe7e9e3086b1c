"""Secrets never shipped: which of a user's own files are withheld from a zip, and why.

Two kinds of rules, each leaving a file out with a warning that names the file and the rule
(never the secret itself):

- **by name** (``SECRET_NAMES``): credential files of common tools. Applied while a source
  tree is walked (``packaging.sources``), before anything is read or keyed.
- **by content** (``scan_bytes``): a PEM private key block, an AWS access key id together
  with a secret access key, a URL with a password. Applied by the package action to the
  files it is about to zip (``screen``): a file's content is in its target's key already, so
  a file that becomes (or stops being) a secret changes the key and is decided again, and a
  build that restores a zip from the cache restores the same decision and its warnings.

A public certificate or a CA bundle is no secret: ``certifi``'s ``cacert.pem`` ships, and so
does any ``.pem`` holding only ``CERTIFICATE`` blocks. ``include`` overrides either kind for
a file it names without wildcards (``excludes.IncludeNames``), with a warning.

Only the user's own files are screened (a function's or layer's source, what a builder
prepares from it, a bundle, and the project-local packages an install brings in: an npm
workspace member or ``file:`` directory, a Python path requirement; ``screen_listed``):
installed dependencies are not (they ship test keys and example URLs on purpose, and are not
the user's to edit), neither the rest of an install target's tree nor a distribution
vendored into a committed layer (the files its ``RECORD`` lists) nor the packages a bundler
copies in beside its bundle. Scanning is bounded: the first
``MAX_SCAN_BYTES`` of a file, and nothing of a binary one (a NUL byte in its first 8000
bytes, git's test). The patterns follow gitleaks' ``private-key`` and ``aws-access-token``
rules and detect-secrets' ``BasicAuthDetector``, narrowed against false positives that
would break a function: a PEM marker needs a base64 body and an END line, an AWS key id
(``EXAMPLE`` ones from AWS's documentation aside) needs a 40-character secret beside it, and
a URL's password must not be a placeholder (``{password}``, ``${PW}``, ``%s``, ``***``) nor
its host a loopback or documentation one (``localhost``, ``127.0.0.1``, ``example.com``).
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol, TypeVar

from lambdaforge.packaging.excludes import IncludeNames, PathRules

__all__ = [
    "AWS_KEY",
    "MAX_SCAN_BYTES",
    "PRIVATE_KEY",
    "SECRET_NAMES",
    "URL_PASSWORD",
    "installed_files",
    "listed_name_rule",
    "name_rule",
    "overridden",
    "scan_bytes",
    "scan_file",
    "screen",
    "screen_listed",
    "withheld",
]

#: (gitignore-style pattern, what it is): files withheld by name from a source tree.
#: ``.envrc`` (direnv) is in on purpose: it exports credentials into a shell and nothing
#: reads it on Lambda. SSH *public* keys (``id_rsa.pub``) are not secrets and ship.
SECRET_NAMES: tuple[tuple[str, str], ...] = (
    (".env", "dotenv file"),
    (".env.*", "dotenv file"),
    (".envrc", "direnv file"),
    (".npmrc", "npm configuration (registry tokens)"),
    (".yarnrc.yml", "Yarn configuration (registry tokens)"),
    (".yarnrc", "Yarn 1 configuration (registry tokens)"),
    (".netrc", "netrc login file"),
    ("_netrc", "netrc login file"),
    (".pypirc", "PyPI upload credentials"),
    (".git-credentials", "git credential store"),
    (".aws/", "AWS CLI credentials and config"),
    ("**/.docker/config.json", "Docker registry credentials"),
    ("*.tfstate", "Terraform state"),
    ("*.tfstate.*", "Terraform state backup"),
    ("id_rsa", "SSH private key"),
    ("id_dsa", "SSH private key"),
    ("id_ecdsa", "SSH private key"),
    ("id_ecdsa_sk", "SSH private key"),
    ("id_ed25519", "SSH private key"),
    ("id_ed25519_sk", "SSH private key"),
    ("*.key", "private key"),
    ("*.p12", "PKCS#12 key store"),
    ("*.pfx", "PKCS#12 key store"),
)

_NAMES = PathRules(p for p, _ in SECRET_NAMES)

#: what each content rule says in a warning
PRIVATE_KEY = "holds a private key (a PEM `PRIVATE KEY` block)"
AWS_KEY = "holds an AWS access key id and a secret access key"
URL_PASSWORD = "holds a URL with a user name and password"

#: bytes of a file that are scanned (a source file is far smaller; a data file is not code)
MAX_SCAN_BYTES = 1 << 20
_BINARY_PROBE = 8000

_PEM_BEGIN = re.compile(rb"-----BEGIN[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(rb"-----END[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----")
#: a PEM body line (64 characters in the standard, 70 in OpenSSH's); code has none
_BASE64_RUN = re.compile(rb"[A-Za-z0-9+/]{40,}")
#: the longest PEM block looked for (an RSA 8192 key is ~6.5 KB)
_PEM_WINDOW = 1 << 15

# Literal first: a leading look-behind would make the engine try every offset (20x slower);
# the character before a match is checked by hand.
_AWS_KEY_ID = re.compile(rb"(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}(?![A-Z0-9])")
_UPPER_OR_DIGIT = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_AWS_SECRET = re.compile(rb"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_RANDOM_CLASSES = (re.compile(rb"[a-z]"), re.compile(rb"[A-Z]"), re.compile(rb"[0-9/+]"))

# After "://": userinfo "user:password" then "@" then the host. Neither part holds what a
# template or a surrounding string would ("{", "$", quotes, whitespace…), nor the password
# a "," or ";" (a list of hosts, "a.com:1,b:c@d.com", is not one).
_URL_USERINFO = re.compile(
    rb"://([^\s:/?#\[\]@${}\"'<>`\\]*):([^\s/?#\[\]@${}\"'<>`\\,;]+)@(\[[0-9A-Fa-f:.]*\]|[^\s:/?#@\"'<>`\\]+)")
_PLACEHOLDERS = frozenset({"password", "passwd", "pass", "pwd", "secret", "changeme",
                           "foo", "bar", "baz", "qux"})
_PLACEHOLDER = re.compile(rb"(?:[*xX.]|\xe2\x80\xa6)+|%(?:\([^)]*\))?s")  # \xe2\x80\xa6: "…"
_LOCAL_HOSTS = frozenset({"localhost", "0.0.0.0", "[::1]", "example.com", "example.org", "example.net"})
_LOCAL_SUFFIXES = (".localhost", ".example", ".test", ".invalid",
                   ".example.com", ".example.org", ".example.net")


def name_rule(relpath: str, is_dir: bool = False) -> str | None:
    """The ``SECRET_NAMES`` pattern ``relpath`` matches (on its own terms: a walk asks about
    a directory before descending), or ``None``."""
    return _NAMES.match(relpath, is_dir)


def listed_name_rule(relpath: str) -> str | None:
    """The ``SECRET_NAMES`` pattern a file known only by its path matches, itself or through
    a directory above it (``x/.aws/credentials``), or ``None``: ``name_rule`` for a list of
    files rather than a walk, which asks about each directory on its way down."""
    parts = relpath.split("/")
    for depth in range(1, len(parts)):
        pattern = _NAMES.match("/".join(parts[:depth]), True)
        if pattern is not None:
            return pattern
    return _NAMES.match(relpath)


def scan_bytes(data: bytes) -> str | None:
    """The content rule ``data`` breaks (``PRIVATE_KEY``, ``AWS_KEY``, ``URL_PASSWORD``), or
    ``None``: also for binary data, which is not scanned. Cheap substring tests come first,
    so a file with no marker costs three scans at memory speed."""
    if b"\0" in data[:_BINARY_PROBE]:
        return None
    if b"PRIVATE KEY" in data and _has_private_key(data):
        return PRIVATE_KEY
    if (b"AKIA" in data or b"ASIA" in data or b"ABIA" in data or b"ACCA" in data) and _has_aws_key(data):
        return AWS_KEY
    if b"://" in data and b"@" in data and _has_url_password(data):
        return URL_PASSWORD
    return None


def scan_file(path: str | Path, size: int = MAX_SCAN_BYTES) -> str | None:
    """``scan_bytes`` of the first ``MAX_SCAN_BYTES`` of a file (``size``: what its stat
    said, to size the read; a file that grew since is still read to the bound)."""
    # os.read: a third cheaper than a buffered file object for the small files code is.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        chunks, left = [], MAX_SCAN_BYTES
        while left > 0 and (chunk := os.read(fd, min(left, max(size + 1, 1 << 16)))):
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    return scan_bytes(b"".join(chunks)[:MAX_SCAN_BYTES])


def _has_private_key(data: bytes) -> bool:
    for begin in _PEM_BEGIN.finditer(data):
        end = _PEM_END.search(data, begin.end(), begin.end() + _PEM_WINDOW)
        if end is not None and _BASE64_RUN.search(data, begin.end(), end.start()):
            return True
    return False


def _has_aws_key(data: bytes) -> bool:
    if not any(not m[0].endswith(b"EXAMPLE") and (m.start() == 0 or data[m.start() - 1] not in _UPPER_OR_DIGIT)
               for m in _AWS_KEY_ID.finditer(data)):
        return False
    return any(_looks_random(m[0]) for m in _AWS_SECRET.finditer(data))


def _looks_random(value: bytes) -> bool:
    """Mixed case and a digit or symbol: a secret access key, not a hex digest or a word."""
    return all(r.search(value) is not None for r in _RANDOM_CLASSES)


def _has_url_password(data: bytes) -> bool:
    for m in _URL_USERINFO.finditer(data):
        password, host = m[2], m[3].decode("ascii", "replace").lower().rstrip(".")
        if password.decode("ascii", "replace").lower() in _PLACEHOLDERS or _PLACEHOLDER.fullmatch(password):
            continue
        if host in _LOCAL_HOSTS or host.endswith(_LOCAL_SUFFIXES) or host.startswith("127."):
            continue
        return True
    return False


def withheld(relpath: str, reason: str) -> str:
    """The warning for a file (or directory) left out as a secret: names it and the rule,
    and says how to ship it anyway."""
    return (f"{relpath}: not packaged: looks like a secret ({reason}); to package it anyway, "
            f'name it in `include` (e.g. include = ["*", "{relpath}"])')


def overridden(relpath: str, reason: str) -> str:
    """The warning for a secret-looking file packaged because ``include`` names it."""
    return f"{relpath}: packaged although it looks like a secret ({reason}): `include` names it"


class _File(Protocol):
    relpath: str
    path: Path
    size: int


F = TypeVar("F", bound=_File)


def screen(files: Sequence[F], include: Sequence[str], *,
           exempt: str | None = None) -> tuple[list[F], list[str]]:
    """The content rules over files about to be packaged: those to keep (in order) and a
    warning per secret withheld or, when ``include`` names it, packaged anyway.

    Not scanned: files under ``exempt`` (a path prefix: installed packages a builder copied
    in) and files an installed distribution's ``RECORD`` lists (a committed layer that
    vendors packages: they are not the user's code, and their docs are full of example URLs).
    """
    names = IncludeNames(include)
    installed = installed_files(files)
    kept: list[F] = []
    warnings: list[str] = []
    for f in files:
        skip = f.relpath in installed or (exempt is not None and f.relpath.startswith(exempt))
        reason = None if skip else scan_file(f.path, f.size)
        if _ships(f.relpath, reason, names, warnings):
            kept.append(f)
    return kept, warnings


def screen_listed(paths: Iterable[str], read: Callable[[str], bytes], include: Sequence[str], *,
                  prefix: str = "") -> tuple[set[str], list[str]]:
    """Both kinds of rules, by name (``listed_name_rule``) and by content, over files known
    by path rather than walked: the project-local packages in an install tree, which are the
    user's own code (an npm workspace member, a Python path requirement built to a wheel).

    ``read(path)`` returns at least the first ``MAX_SCAN_BYTES`` of a file; ``prefix`` (the
    tree's place in the zip, ``node_modules/``) is put before each path in warnings and for
    ``include``, so a file is named as the zip would hold it. Returns the paths withheld
    and a warning per secret withheld or, when ``include`` names it, packaged anyway."""
    names = IncludeNames(include)
    left_out: set[str] = set()
    warnings: list[str] = []
    for path in paths:
        pattern = listed_name_rule(path)
        reason = f"matches `{pattern}`" if pattern is not None else scan_bytes(read(path)[:MAX_SCAN_BYTES])
        if not _ships(prefix + path, reason, names, warnings):
            left_out.add(path)
    return left_out, warnings


def _ships(relpath: str, reason: str | None, names: IncludeNames, warnings: list[str]) -> bool:
    """Whether a file the rules judged (``reason``: the rule it breaks, or ``None``) ships,
    adding its warning: a secret ships only when ``include`` names it."""
    if reason is None:
        return True
    if names.names(relpath):
        warnings.append(overridden(relpath, reason))
        return True
    warnings.append(withheld(relpath, reason))
    return False


def installed_files(files: Sequence[F]) -> set[str]:
    """Relative paths of the files that the ``*.dist-info/RECORD`` files among ``files``
    list (RECORD paths are relative to the directory holding the ``.dist-info``); paths
    leaving that directory (``../../bin/x``) are not followed."""
    found: set[str] = set()
    for f in files:
        head, _, name = f.relpath.rpartition("/")
        if name != "RECORD" or not head.endswith(".dist-info"):
            continue
        base = head.rpartition("/")[0]
        prefix = base + "/" if base else ""
        with open(f.path, newline="", encoding="utf-8", errors="replace") as record:
            for row in csv.reader(record):
                path = row[0] if row else ""
                if path and not path.startswith("/") and ".." not in path.split("/"):
                    found.add(prefix + path)
    return found
