"""Which certificates the installers trust: the system's store, ``SSL_CERT_FILE``, pip's ``cert``.

pip verifies TLS with certifi's bundle unless told otherwise, and many machines tell it in
their pip configuration (``cert = /etc/ssl/corp-ca.pem``, a company proxy's CA).
lambdaforge runs both installers isolated from that configuration (``PIP_CONFIG_FILE`` is
``/dev/null``: indexes come from ``lambdaforge.toml``), so the ``cert`` setting alone is read
back here and handed on explicitly: to pip as ``--cert``, to uv as ``SSL_CERT_FILE``. uv also loads
the platform's trust store (``--system-certs``, formerly ``--native-tls``), where pip would
have found the machine's CAs; ``SSL_CERT_FILE``, when set, wins over pip's setting (both
installers read it as OpenSSL does). How a package is fetched never changes which one is
installed, so none of this is in any key.
"""

from __future__ import annotations

import configparser
import os
from pathlib import Path


def pip_config_files(environ: dict[str, str] | os._Environ = os.environ) -> list[Path]:
    """pip's configuration files in the order pip reads them (later ones win), as of pip 23+:
    site-wide, then the user's, then ``PIP_CONFIG_FILE`` (``/dev/null`` disables them all)."""
    named = environ.get("PIP_CONFIG_FILE")
    if named == os.devnull:
        return []
    xdg_dirs = environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(":")
    home = Path(environ.get("HOME", str(Path.home())))
    xdg_home = Path(environ.get("XDG_CONFIG_HOME", str(home / ".config")))
    files = [Path(d) / "pip" / "pip.conf" for d in xdg_dirs if d] + [Path("/etc/pip.conf")]
    files += [home / ".pip" / "pip.conf", xdg_home / "pip" / "pip.conf"]
    if named:
        files.append(Path(named))
    return files


def pip_cert(environ: dict[str, str] | os._Environ = os.environ) -> str | None:
    """pip's ``cert`` setting (``PIP_CERT``, else ``[install]``/``[global]`` of its config
    files, the last file that sets it winning), or ``None``."""
    if environ.get("PIP_CERT"):
        return environ["PIP_CERT"]
    found: str | None = None
    for path in pip_config_files(environ):
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (OSError, configparser.Error, UnicodeDecodeError):
            continue
        for section in ("global", "install"):
            if parser.has_option(section, "cert"):
                found = parser.get(section, "cert").strip() or found
    return found


def ca_bundle(environ: dict[str, str] | os._Environ = os.environ) -> str | None:
    """The CA bundle both installers are given: ``SSL_CERT_FILE``, else pip's ``cert``, else
    ``None`` (then uv uses the system store and its own roots, pip certifi's)."""
    chosen = environ.get("SSL_CERT_FILE") or pip_cert(environ)
    return chosen if chosen and Path(chosen).is_file() else None


def uv_trust(environ: dict[str, str] | os._Environ = os.environ) -> tuple[list[str], dict[str, str]]:
    """uv's flags and environment: the platform's trust store (``--system-certs``), and the
    bundle as ``SSL_CERT_FILE`` (which uv reads; its ``--cert`` is a pip-compatibility no-op)."""
    bundle = ca_bundle(environ)
    return ["--system-certs"], ({"SSL_CERT_FILE": bundle} if bundle else {})


def pip_trust_flags(environ: dict[str, str] | os._Environ = os.environ) -> list[str]:
    """pip's flag: ``--cert`` with the bundle when there is one."""
    bundle = ca_bundle(environ)
    return ["--cert", bundle] if bundle else []
