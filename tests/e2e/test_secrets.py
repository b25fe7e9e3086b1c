"""Real-repo packaging, end to end: secrets never shipped, default excludes, ``include``.

A Python function with the clutter real checkouts have (virtualenvs, tool caches, coverage
reports, SAM output, requirements and lockfiles, AWS and npm credentials) and a committed
layer that vendors ``certifi``: each zip is opened and its members compared, each warning
read whole, and what ``forge build`` prints searched for the secrets themselves.
"""

from __future__ import annotations

import pytest

from lambdaforge import incremental
from lambdaforge.packaging.secrets import AWS_KEY, PRIVATE_KEY, URL_PASSWORD
from tests.e2e.conftest import LOCAL_INDEX
from tests.e2e.test_credentials import files_holding, forge
from tests.support.secrets import (
    AWS_KEY_ID, AWS_SECRET, PASSWORD, PASSWORD_URL, ca_bundle, certificate, private_key,
)

CONFIG = LOCAL_INDEX + """
[layers.vendored]
source = "layers/vendored"

[functions.fn]
source = "fn"
handler = "app.handler"
layers = ["vendored"]
"""

KEY = private_key()
#: a line of the key's body: what must never be printed or stored
KEY_LINE = KEY.splitlines()[1]


def members(project, kind: str, name: str) -> set[str]:
    """The files of a built zip (directory entries left aside)."""
    return {n for n in project.zip_names(kind, name) if not n.endswith("/")}


def hint(rel: str) -> str:
    return f'to package it anyway, name it in `include` (e.g. include = ["*", "{rel}"])'


@pytest.fixture
def repo(deps_project):
    p = deps_project
    p.config(CONFIG)
    p.write("fn/app.py", "import purelib\nfrom config import SETTINGS\n\n"
                         "def handler(event, context):\n    return SETTINGS\n")
    p.write("fn/config.py", f"SETTINGS = {{}}\nSIGNING_KEY = '''{KEY}'''\n")
    p.write("fn/settings.py", f"INDEX = '{PASSWORD_URL}'\n")
    p.write("fn/boto_setup.py", f"ID = '{AWS_KEY_ID}'\nSECRET = '{AWS_SECRET}'\n")
    p.write("fn/data/ca.pem", certificate())
    p.write("fn/requirements.txt",
            "--extra-index-url https://deploy:" + PASSWORD + "@127.0.0.1:9/simple\npurelib==1.0\n")
    p.write("fn/requirements-dev.txt", "pytest\n")
    p.write("fn/uv.lock", "version = 1\n")
    p.write("fn/.aws/credentials", f"[default]\naws_access_key_id = {AWS_KEY_ID}\n")
    p.write("fn/.env", "TOKEN=x\n")
    p.write("fn/.npmrc", "//registry.npmjs.org/:_authToken=npm_t0ken\n")
    for junk in (".venv/lib/site.py", ".tox/py312/log.txt", ".nox/s/log.txt", "htmlcov/index.html",
                 ".coverage", ".pytest_cache/v/x", ".mypy_cache/x.json", ".ruff_cache/x",
                 ".aws-sam/build/template.yaml", ".serverless/state.json", "__pycache__/app.pyc",
                 "fn.egg-info/PKG-INFO", ".git/HEAD"):
        p.write(f"fn/{junk}", "junk\n")
    # A committed layer vendoring certifi: its CA bundle is what makes TLS work at run time.
    p.write("layers/vendored/python/certifi/__init__.py", "def where():\n    return 'cacert.pem'\n")
    p.write("layers/vendored/python/certifi/cacert.pem", ca_bundle())
    p.write("layers/vendored/python/certifi-2024.2.2.dist-info/METADATA", "Name: certifi\n")
    p.write("layers/vendored/requirements.txt", "")
    return p


def test_secrets_are_withheld_and_clutter_left_out(repo):
    out = repo.build()
    assert out.ok, [r.error for r in out.failures()]
    assert {n for n in members(repo, "function", "fn") if not n.startswith("purelib")} == {
        "app.py", "data/ca.pem"}
    assert members(repo, "layer", "vendored") == {
        "python/certifi/__init__.py", "python/certifi/cacert.pem",
        "python/certifi-2024.2.2.dist-info/METADATA"}
    assert out.results["layer:vendored"].warnings == []
    assert out.results["function:fn"].warnings == [
        f".aws/: not packaged: looks like a secret (matches `.aws/`); {hint('.aws/')}",
        f".env: not packaged: looks like a secret (matches `.env`); {hint('.env')}",
        f".npmrc: not packaged: looks like a secret (matches `.npmrc`); {hint('.npmrc')}",
        f"boto_setup.py: not packaged: looks like a secret ({AWS_KEY}); {hint('boto_setup.py')}",
        f"config.py: not packaged: looks like a secret ({PRIVATE_KEY}); {hint('config.py')}",
        f"settings.py: not packaged: looks like a secret ({URL_PASSWORD}); {hint('settings.py')}",
    ]


def test_forge_build_prints_the_warnings_and_never_the_secrets(repo, capsys):
    code, printed = forge(repo, capsys, "build")
    assert code == 0, printed
    assert (f"warning: function:fn: config.py: not packaged: looks like a secret ({PRIVATE_KEY}); "
            f"{hint('config.py')}") in printed.splitlines()
    assert "warning: function:fn: settings.py: not packaged" in printed
    secrets = (KEY_LINE, PASSWORD, AWS_SECRET, AWS_KEY_ID)
    assert not any(s in printed for s in secrets)
    # …nor do they end up in a zip, the state or the cache
    assert files_holding(repo.root / ".forge", secrets) == []
    assert files_holding(repo.root.parent / "cache", secrets) == []
    code, printed = forge(repo, capsys, "build", "--json")
    assert code == 0 and not any(s in printed for s in secrets)
    assert "config.py: not packaged" in printed


def test_include_naming_files_ships_them_and_a_secret_with_a_warning(repo):
    repo.config(CONFIG.replace('layers = ["vendored"]\n',
                               'layers = ["vendored"]\ninclude = ["*", "config.py", "requirements.txt"]\n'))
    out = repo.build()
    assert out.ok, [r.error for r in out.failures()]
    names = repo.zip_names("function", "fn")
    assert {"config.py", "requirements.txt", "app.py"} <= names
    assert not {"settings.py", "requirements-dev.txt", ".env"} & names
    warnings = out.results["function:fn"].warnings
    assert f"config.py: packaged although it looks like a secret ({PRIVATE_KEY}): `include` names it" in warnings
    assert not any(w.startswith("requirements.txt") for w in warnings)  # not a secret by name


def test_a_file_that_becomes_a_secret_leaves_the_zip_and_comes_back(source_project, capsys,
                                                                     monkeypatch):
    """Content decides, and the content is in the key: the no-op replay, the incremental
    re-plan and the cache all give the decision a clean build would."""
    scopes = []
    real_scope = incremental.scope
    monkeypatch.setattr(incremental, "scope", lambda *a: scopes.append(real_scope(*a)) or scopes[-1])
    p = source_project
    helpers = "functions/alpha/helpers.py"
    code, printed = forge(p, capsys, "build")
    assert code == 0, printed
    assert "helpers.py" in p.zip_names("function", "alpha")

    p.write(helpers, f"X = 1\nKEY = '''{KEY}'''\n")
    code, printed = forge(p, capsys, "build")
    assert code == 0, printed
    assert scopes[-1] is not None and scopes[-1].stale == {"function:alpha"}  # incremental
    assert "helpers.py" not in p.zip_names("function", "alpha")
    assert (f"warning: function:alpha: helpers.py: not packaged: looks like a secret "
            f"({PRIVATE_KEY}); {hint('helpers.py')}") in printed.splitlines()
    assert KEY_LINE not in printed
    code, printed = forge(p, capsys, "build")
    assert code == 0 and "6 up-to-date" in printed and "helpers.py" not in printed

    p.write(helpers, "X = 1\n")
    code, printed = forge(p, capsys, "build")
    assert code == 0, printed
    assert "helpers.py" in p.zip_names("function", "alpha")
    assert "warning" not in printed

    # Back to the secret: restored from the cache, with its warning.
    p.write(helpers, f"X = 1\nKEY = '''{KEY}'''\n")
    code, printed = forge(p, capsys, "build")
    assert code == 0, printed
    assert "helpers.py" not in p.zip_names("function", "alpha")
    assert "warning: function:alpha: helpers.py: not packaged" in printed
    out = p.build(force=True)
    assert out.results["function:alpha"].warnings == [
        f"helpers.py: not packaged: looks like a secret ({PRIVATE_KEY}); {hint('helpers.py')}"]


def test_a_secret_file_added_beside_the_code_is_warned_about_at_once(source_project, capsys):
    """A ``.env`` dropped into a function folder is left out, so neither the key nor the zip
    changes: the build keeps the package as it is, and says so now (once per build that
    looks, not only at the next rebuild), without the secret's value."""
    p = source_project
    code, printed = forge(p, capsys, "build")
    assert code == 0, printed
    before = p.zip_path("function", "beta").read_bytes()
    p.write("functions/beta/.env", f"DB_PASSWORD={PASSWORD}\n")
    code, printed = forge(p, capsys, "build")
    assert code == 0, printed
    assert "6 up-to-date" in printed
    assert (f"warning: function:beta: .env: not packaged: looks like a secret (matches "
            f"`.env`); {hint('.env')}") in printed.splitlines()
    assert PASSWORD not in printed and p.zip_path("function", "beta").read_bytes() == before
    # rebuilt for another reason: the package's own warning, once
    p.write("functions/beta/app.py", "def handler(event, context):\n    return 'again'\n")
    code, printed = forge(p, capsys, "build")
    assert code == 0 and printed.count(".env: not packaged") == 1, printed
