"""Credentials in URLs: hidden in everything shown or stored, still distinguishing keys.

``redact_text`` for logs and messages, ``key_form`` for cache-key material; then the places
that use them: ``KeyMaterial``, the runner's command log, errors, target results.
"""

from __future__ import annotations

import re

import pytest

from lambdaforge.errors import BuildError, ConfigIssue
from lambdaforge.executor import Status, TargetResult
from lambdaforge.fingerprint import KeyMaterial, canonical_json, diff_key_material
from lambdaforge.redact import has_secret, key_form, redact_argv, redact_text, redact_url
from lambdaforge.runner import CommandResult


@pytest.mark.parametrize("text, shown", [
    ("https://alice:s3cret@pypi.example.com/simple", "https://alice:***@pypi.example.com/simple"),
    ("https://__token__:pypi-AgEIcHlwaS5vcmc@upload.example/simple/",
     "https://__token__:***@upload.example/simple/"),
    # a lone user name is the token (GitHub, Azure DevOps): hidden, as pip does
    ("git+https://ghp_abc123@github.com/org/repo.git@v1.0",
     "git+https://***@github.com/org/repo.git@v1.0"),
    ("pkg @ https://tok3n@files.example/pkg-1.0-py3-none-any.whl --hash=sha256:abc",
     "pkg @ https://***@files.example/pkg-1.0-py3-none-any.whl --hash=sha256:abc"),
    # an unescaped "@" in the password: the host is after the last one, as urllib reads it
    ("https://u:p@ss@host/simple", "https://u:***@host/simple"),
    ("--index-url=https://alice:pw@h.example/simple", "--index-url=https://alice:***@h.example/simple"),
    ("https://wheels.s3.amazonaws.com/index.html?X-Amz-Credential=AKIA%2F2024&X-Amz-Expires=300"
     "&X-Amz-Signature=abcdef0123",
     "https://wheels.s3.amazonaws.com/index.html?X-Amz-Credential=***&X-Amz-Expires=300"
     "&X-Amz-Signature=***"),
    ("https://h.example/simple?token=abc&page=2", "https://h.example/simple?token=***&page=2"),
    ("error: 401 for https://alice:pw@h.example/simple/x/\nLooking in indexes: https://alice:****@h",
     "error: 401 for https://alice:***@h.example/simple/x/\nLooking in indexes: https://alice:***@h"),
])
def test_credentials_are_hidden(text, shown):
    assert redact_text(text) == shown
    assert redact_url(text) == shown
    assert has_secret(text)


@pytest.mark.parametrize("text", [
    "https://pypi.org/simple",
    "git+ssh://git@github.com/org/repo.git",  # PEP 610: "git" is no secret
    "requests[socks]>=2.0; python_version < \"3.13\"",
    "attrs==23.1.0 --hash=sha256:aaa",
    "https://alice:@h.example/simple",  # an empty password hides nothing
    "mail bob@example.com about https://example.com/a@b",
    "{project}/wheels",
])
def test_text_without_credentials_is_left_alone(text):
    assert redact_text(text) == text
    assert not has_secret(text)
    assert key_form(text) is text


def test_argv_is_redacted_argument_by_argument():
    argv = ("uv", "pip", "install", "--index-url", "https://alice:pw1@h/simple", "-r", "r.txt")
    assert redact_argv(argv) == ("uv", "pip", "install", "--index-url", "https://alice:***@h/simple",
                                 "-r", "r.txt")


def test_key_form_tells_passwords_apart_without_holding_them():
    one = key_form("https://alice:correct-horse@h.example/simple")
    two = key_form("https://alice:battery-staple@h.example/simple")
    assert one != two
    for form, secret in ((one, "correct-horse"), (two, "battery-staple")):
        assert secret not in form
        assert re.fullmatch(r"https://alice:\*\*\*@h\.example/simple \(credentials scrypt:[0-9a-f]{32}\)",
                            form), form
        assert key_form(form) == form  # idempotent: key material read back hashes the same
    # the same on every machine and every run (the key is shared through a remote cache)
    assert key_form("https://alice:correct-horse@h.example/simple") == one


def test_the_digest_depends_on_the_whole_url():
    # the same password for two hosts does not give one recognisable digest
    a = key_form("https://alice:pw@a.example/simple").rsplit(":", 1)[1]
    b = key_form("https://alice:pw@b.example/simple").rsplit(":", 1)[1]
    assert a != b


def material(index_url: str) -> KeyMaterial:
    return KeyMaterial(kind="install", builder="python", builder_version="1",
                       config={"install.index-url": [index_url],
                               "functions.api.index-url": index_url})


def test_key_material_holds_no_password_but_the_key_changes_with_it():
    one, two = material("https://alice:pw-one@h/simple"), material("https://alice:pw-two@h/simple")
    assert one.key != two.key
    for m, secret in ((one, "pw-one"), (two, "pw-two")):
        assert secret not in m.canonical
        assert secret not in canonical_json(m.to_dict())
        assert KeyMaterial.from_dict(m.to_dict()).key == m.key  # state files read back
    assert diff_key_material(one, two) == [
        "config changed: functions.api.index-url: credentials changed in 'https://alice:***@h/simple'",
        "config changed: install.index-url: credentials changed in ['https://alice:***@h/simple']",
    ]
    other_host = material("https://alice:pw-one@other/simple")
    assert diff_key_material(one, other_host)[0] == (
        "config changed: functions.api.index-url: 'https://alice:***@h/simple' → "
        "'https://alice:***@other/simple'")


def test_the_command_log_hides_credentials_but_keeps_the_real_argv():
    result = CommandResult(("uv", "--index-url", "https://alice:pw1@h/simple"), 1, "",
                           "error: cannot fetch https://alice:pw1@h/simple/x/")
    assert result.argv[2] == "https://alice:pw1@h/simple"  # what the installer ran with
    for shown in (result.describe(), repr(result)):
        assert "pw1" not in shown
        assert "https://alice:***@h/simple" in shown


def test_errors_and_results_never_show_credentials():
    error = BuildError("installing failed:\n  https://alice:pw1@h/simple: 401")
    assert str(error) == "installing failed:\n  https://alice:***@h/simple: 401"
    issue = ConfigIssue("fn/requirements.txt", 3, "", "`--index-url https://a:pw1@h`: bad")
    assert str(issue) == "fn/requirements.txt:3: `--index-url https://a:***@h`: bad"
    result = TargetResult("install:x", Status.FAILED, error="https://a:pw1@h", log="$ uv https://a:pw1@h",
                          warnings=["https://a:pw1@h"], reasons=["https://a:pw1@h"])
    assert "pw1" not in repr(result)


@pytest.mark.parametrize(("name", "value", "secret"), [
    ("API_TOKEN", "abc", True), ("DB_PASSWORD", "x", True), ("STRIPE_SECRET_KEY", "x", True),
    ("SIGNING_KEY", "x", True), ("AUTH_HEADER", "x", True), ("PRIVATE_PEM", "x", True),
    ("TABLE_NAME", "orders", False), ("LOG_LEVEL", "debug", False), ("MONKEY", "x", False),
    ("INDEX", "https://user:pass@host/simple", True),  # the value holds a URL credential
])
def test_environment_variables_taken_for_secrets(name: str, value: str, secret: bool) -> None:
    from lambdaforge.redact import secret_variable, shown_variables, variable_key_form

    assert secret_variable(name, value) is secret
    assert shown_variables({name: value}) == {name: "***" if secret else value}
    key = variable_key_form(name, value)
    assert (value not in key) is secret
    if secret:  # a digest: stable, and another value gives another key
        assert key == variable_key_form(name, value) != variable_key_form(name, value + "!")
        assert key.startswith("*** (secret scrypt:")
