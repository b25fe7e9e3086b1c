"""Which CA bundle the installers get: SSL_CERT_FILE, else pip's `cert` setting."""

from __future__ import annotations

import os
from pathlib import Path

from lambdaforge.builders.python.trust import ca_bundle, pip_cert, pip_trust_flags, uv_trust


def test_pip_cert_is_read_from_pip_config(tmp_path: Path) -> None:
    bundle = tmp_path / "corp-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\ncert = {bundle}\n")
    env = {"HOME": str(tmp_path / "home"), "XDG_CONFIG_DIRS": str(tmp_path / "none"),
           "PIP_CONFIG_FILE": str(conf)}
    assert pip_cert(env) == str(bundle)
    assert pip_trust_flags(env) == ["--cert", str(bundle)]
    assert uv_trust(env) == (["--system-certs"], {"SSL_CERT_FILE": str(bundle)})


def test_ssl_cert_file_wins_and_dev_null_config_means_none(tmp_path: Path) -> None:
    other = tmp_path / "other.pem"
    other.write_text("x")
    assert pip_cert({"PIP_CONFIG_FILE": os.devnull, "HOME": str(tmp_path)}) is None
    assert ca_bundle({"PIP_CONFIG_FILE": os.devnull, "SSL_CERT_FILE": str(other)}) == str(other)
    assert uv_trust({"PIP_CONFIG_FILE": os.devnull, "HOME": str(tmp_path)}) == (["--system-certs"], {})


def test_network_plumbing_variables_reach_the_isolated_installers(monkeypatch) -> None:
    """pip runs ``--isolated`` (every ``PIP_*`` ignored) and forge clears ``UV_*``: the
    retry and timeout settings a user tuned for a flaky network are passed on, nothing else."""
    from lambdaforge.runner import isolated_installer_env, pip_network_flags

    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "7")
    monkeypatch.setenv("PIP_DEFAULT_TIMEOUT", "99")  # the older spelling: PIP_TIMEOUT wins
    monkeypatch.setenv("PIP_PRE", "1")  # changes what is installed: not passed
    assert pip_network_flags() == ["--retries", "0", "--timeout", "7"]
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    monkeypatch.setenv("UV_PRERELEASE", "allow")
    env = isolated_installer_env()
    assert "UV_HTTP_RETRIES" not in env  # kept: not overridden
    assert env["UV_PRERELEASE"] is None  # removed
