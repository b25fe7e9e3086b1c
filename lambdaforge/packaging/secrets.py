"""Secrets never shipped: which of a user's own files are withheld from a zip, and why.

``SECRET_NAMES`` are credential files of common tools, withheld by name while a source tree
is walked (``packaging.sources``), before anything is read or keyed, each with a warning
that names the file and the rule. ``include`` overrides a rule for a file it names without
wildcards (``excludes.IncludeNames``), with a warning.
"""

from __future__ import annotations

from lambdaforge.packaging.excludes import PathRules

__all__ = ["SECRET_NAMES", "name_rule", "overridden", "withheld"]

#: (gitignore-style pattern, what it is): files withheld by name from a source tree.
#: ``.envrc`` (direnv) is in on purpose: it exports credentials into a shell and nothing
#: reads it on Lambda. SSH *public* keys (``id_rsa.pub``) are not secrets and ship.
SECRET_NAMES: tuple[tuple[str, str], ...] = (
    (".env", "dotenv file"),
    (".env.*", "dotenv file"),
    (".envrc", "direnv file"),
    (".npmrc", "npm configuration (registry tokens)"),
    (".yarnrc.yml", "Yarn configuration (registry tokens)"),
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
    ("*.pem", "PEM file (may hold a private key)"),
    ("*.key", "private key"),
    ("*.p12", "PKCS#12 key store"),
    ("*.pfx", "PKCS#12 key store"),
)

_NAMES = PathRules(p for p, _ in SECRET_NAMES)


def name_rule(relpath: str, is_dir: bool = False) -> str | None:
    """The ``SECRET_NAMES`` pattern ``relpath`` matches (on its own terms: a walk asks about
    a directory before descending), or ``None``."""
    return _NAMES.match(relpath, is_dir)


def withheld(relpath: str, reason: str) -> str:
    """The warning for a file (or directory) left out as a secret: names it and the rule,
    and says how to ship it anyway."""
    return (f"{relpath}: not packaged: looks like a secret ({reason}); to package it anyway, "
            f'name it in `include` (e.g. include = ["*", "{relpath}"])')


def overridden(relpath: str, reason: str) -> str:
    """The warning for a secret-looking file packaged because ``include`` names it."""
    return f"{relpath}: packaged although it looks like a secret ({reason}): `include` names it"
