"""Credentials in URLs never leave the machine: the one place that finds and hides them.

Users write index URLs with credentials in them, in requirement files and in the config
(``--index-url https://user:pass@host/simple``, ``https://__token__:pypi-…@host``,
``git+https://TOKEN@github.com/…``, a presigned ``…?X-Amz-Signature=…`` find-links page).
The installer needs them verbatim in its argv; nothing else may hold them: not cache-key
material (the key is shared through a remote cache), not ``.forge/state``, not logs, not
error messages.

- ``redact_text`` hides every credential in a text: ``user:pass@`` becomes ``user:***@``, a
  lone ``token@`` becomes ``***@`` (as pip does: a user name without a password usually *is*
  the token; ``git@`` stays, as PEP 610 allows), and the value of a query parameter whose
  name says secret (``token``, ``password``, ``signature``, ``credential``, ``api_key``,
  ``sig``…) becomes ``***``. For anything shown or stored.
- ``key_form`` is the redacted text plus a digest of the original, for cache keys: a changed
  password still changes the key (two passwords never share an entry), while the readable
  material holds no secret. Idempotent, so key material read back from disk hashes the same.
- Environment variables (``environment = {…}``) may hold secrets without any URL around
  them. A variable is taken for one when its name says so (``…_TOKEN``, ``…SECRET…``,
  ``…PASSWORD…``, ``API_KEY``, ``…_KEY``, ``AUTH…``, ``PRIVATE…``, ``CREDENTIAL…``) or its
  value holds a URL credential: ``shown_variables`` masks it as ``***`` for anything shown,
  ``variable_key_form`` gives keys its digest instead of the value.

The digest is scrypt (n=2**14, r=8, p=1: ~90 ms and 16 MiB per distinct credential, once per
process) salted with a fixed domain separator and the redacted URL. Keys are shared across
machines, so the digest must be the same everywhere: a per-machine salt would break sharing,
and whoever holds a key can test guesses offline whatever we do (the key is itself a function
of the secret). The memory-hard, slow digest makes each guess cost what a password-hashing
function costs instead of one sha256, and salting by URL rules out one precomputed table for
all users. Long random tokens are safe; a short human password is only as safe as a password
hash of it, so the docs recommend tokens, or credentials from the environment (keyring,
netrc, ``UV_INDEX_<NAME>_PASSWORD``), which never enter a key at all.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from functools import lru_cache

#: what stands for a hidden secret
MASK = "***"
#: user names that are no secret (PEP 610 keeps ``git`` in ``direct_url.json``)
PUBLIC_USERS = frozenset({"git"})

# scheme://userinfo@ — userinfo runs to the *last* "@" before the host (what urllib does with
# an unescaped "@" in a password), never across "/", "?", "#", whitespace or quotes.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/?#\s'\"<>`]+)@")
_SECRET_PARAM = re.compile(
    r"(?P<name>[?&;](?:[^=&#\s'\"<>`]*?(?:token|secret|passw|pwd|signature|credential|"
    r"api[-_]?key|access[-_]?key)[^=&#\s'\"<>`]*|sig|key|auth)=)(?P<value>[^&#\s'\"<>`]+)",
    re.IGNORECASE,
)

#: scrypt parameters of ``key_form``'s digest (RFC 7914's interactive-login cost)
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 16}
_DOMAIN = b"lambdaforge credential digest v1\0"


def _hide_userinfo(match: re.Match[str]) -> str:
    user, sep, password = match["userinfo"].partition(":")
    if sep:
        return f"{match['scheme']}{user}:{MASK}@" if password else match[0]
    return match[0] if user in PUBLIC_USERS or user == MASK else f"{match['scheme']}{MASK}@"


def _hide_param(match: re.Match[str]) -> str:
    return f"{match['name']}{MASK}"


def redact_text(text: str) -> str:
    """``text`` with every credential in a URL replaced by ``***`` (see the module doc)."""
    if "://" not in text and "=" not in text:  # the common case: nothing to look at
        return text
    return _SECRET_PARAM.sub(_hide_param, _USERINFO.sub(_hide_userinfo, text))


#: the same function under the name that reads best at a call site holding one URL
redact_url = redact_text


def redact_argv(argv: Iterable[str]) -> tuple[str, ...]:
    """A command line safe to log: each argument through ``redact_text``."""
    return tuple(redact_text(a) for a in argv)


def has_secret(text: str) -> bool:
    """True when ``text`` holds a credential ``redact_text`` would hide."""
    return redact_text(text) != text


def key_form(text: str) -> str:
    """``text`` as cache-key material: redacted, followed by a digest of the original when it
    held a credential, e.g. ``https://alice:***@host/simple (credentials scrypt:1f2e…)``.

    Different credentials give different key forms; the key form holds none of them; a
    key form is its own key form (no credential left to hide).
    """
    redacted = redact_text(text)
    if redacted == text:
        return text
    return _key_form(text, redacted)


def strip_digest(text: str) -> str:
    """A key form without its credential digest, for showing: ``key_form(url)`` → the same as
    ``redact_text(url)``; any other text unchanged."""
    return _DIGEST.sub("", text)


_DIGEST = re.compile(r" \(credentials scrypt:[0-9a-f]+\)")


@lru_cache(maxsize=256)
def _key_form(text: str, redacted: str) -> str:
    digest = hashlib.scrypt(text.encode("utf-8"), salt=_DOMAIN + redacted.encode("utf-8"),
                            **_SCRYPT)  # type: ignore[arg-type]
    return f"{redacted} (credentials scrypt:{digest.hex()})"


_SECRET_NAME = re.compile(
    r"secret|passw|pwd|token|credential|private|signature|auth|api_?key|access_?key"
    r"|(?:^|_)key(?:$|_)",
    re.IGNORECASE,
)


def secret_variable(name: str, value: str) -> bool:
    """Whether an environment variable is taken for a secret (see the module doc)."""
    return _SECRET_NAME.search(name) is not None or has_secret(value)


def variable_key_form(name: str, value: str) -> str:
    """An environment variable's value as cache-key material: itself, or for a secret
    ``*** (secret scrypt:…)``, which changes with the value and shows none of it."""
    if not secret_variable(name, value):
        return value
    return _secret_digest(name, value)


@lru_cache(maxsize=256)
def _secret_digest(name: str, value: str) -> str:
    digest = hashlib.scrypt(value.encode("utf-8"), salt=_DOMAIN + name.encode("utf-8"),
                            **_SCRYPT)  # type: ignore[arg-type]
    return f"{MASK} (secret scrypt:{digest.hex()})"


def shown_variables(variables: dict[str, str]) -> dict[str, str]:
    """Environment variables safe to print: each secret's value replaced by ``***``."""
    return {n: MASK if secret_variable(n, v) else v for n, v in variables.items()}
