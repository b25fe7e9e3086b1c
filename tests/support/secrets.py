"""Fake credentials for the secret rules' tests: the right shape, no real key.

The markers are put together at run time so this file does not itself look like it holds a
private key or an AWS key to the scanners a repository may run (gitleaks, push protection).
"""

from __future__ import annotations

import base64
import hashlib

__all__ = ["AWS_KEY_ID", "AWS_SECRET", "PASSWORD_URL", "PASSWORD", "ca_bundle", "certificate", "pem",
           "private_key"]

_DASHES = "-" * 5


def _body(seed: str, lines: int = 12) -> str:
    """Base64 lines of 64 characters, deterministic for ``seed``."""
    raw = b"".join(hashlib.sha256(f"{seed}{i}".encode()).digest() for i in range(lines * 2))
    text = base64.b64encode(raw[: lines * 48]).decode()
    return "\n".join(text[i:i + 64] for i in range(0, len(text), 64))


def pem(label: str, seed: str = "key") -> str:
    """A PEM block ``-----BEGIN <label>-----`` … ``-----END <label>-----`` with a base64 body."""
    return (f"{_DASHES}BEGIN {label}{_DASHES}\n{_body(seed + label)}\n"
            f"{_DASHES}END {label}{_DASHES}\n")


def private_key(kind: str = "RSA") -> str:
    """A PEM private key block: ``kind`` RSA, EC, OPENSSH, ENCRYPTED, "" (PKCS#8) or PGP."""
    label = "PGP PRIVATE KEY BLOCK" if kind == "PGP" else f"{kind} PRIVATE KEY".strip()
    return pem(label)


def certificate(seed: str = "cert") -> str:
    """A PEM certificate block (public: never a secret)."""
    return pem("CERTIFICATE", seed)


def ca_bundle(count: int = 3) -> str:
    """A CA bundle as certifi ships it: commented certificates, one after another."""
    return "".join(f"# Issuer: CN=Root {i}\n{certificate(str(i))}\n" for i in range(count))


#: an access key id of the real shape (not AWS's documented EXAMPLE one) and a secret
AWS_KEY_ID = "AK" + "IA" + "Q3EGXYZB7KLMN2OP"
AWS_SECRET = "wJalrXUtnFEMIK7MDENG" + "bPxRfiCY9xAmPLeKq2Zs"
#: a password, and an index URL holding it
PASSWORD = "hunter2-Zq9"
PASSWORD_URL = f"https://deploy:{PASSWORD}@pypi.acme-corp.io/simple"
