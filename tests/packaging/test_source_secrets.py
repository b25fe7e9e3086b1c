"""The source walk's default excludes and secret names, and ``include`` naming a file back in."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from lambdaforge.packaging.excludes import DEFAULT_EXCLUDES, IncludeNames, PathRules
from lambdaforge.packaging.secrets import SECRET_NAMES
from lambdaforge.packaging.sources import SourceError, collect_sources
from tests.packaging.test_source_collection import write


def relpaths(root: Path, **options: object) -> list[str]:
    return [f.relpath for f in collect_sources(root, **options).files]


def hint(rel: str) -> str:
    return f'to package it anyway, name it in `include` (e.g. include = ["*", "{rel}"])'


# (path written, pattern expected to withhold it, what the warning names)
SECRETS = [
    (".env", ".env", ".env"),
    ("conf/.env.production", ".env.*", "conf/.env.production"),
    (".envrc", ".envrc", ".envrc"),
    (".npmrc", ".npmrc", ".npmrc"),
    (".yarnrc.yml", ".yarnrc.yml", ".yarnrc.yml"),
    ("app/.yarnrc", ".yarnrc", "app/.yarnrc"),
    (".netrc", ".netrc", ".netrc"),
    ("_netrc", "_netrc", "_netrc"),
    (".pypirc", ".pypirc", ".pypirc"),
    (".git-credentials", ".git-credentials", ".git-credentials"),
    (".aws/credentials", ".aws/", ".aws/"),
    ("home/.docker/config.json", "**/.docker/config.json", "home/.docker/config.json"),
    ("infra/terraform.tfstate", "*.tfstate", "infra/terraform.tfstate"),
    ("infra/terraform.tfstate.backup", "*.tfstate.*", "infra/terraform.tfstate.backup"),
    ("keys/id_rsa", "id_rsa", "keys/id_rsa"),
    ("id_dsa", "id_dsa", "id_dsa"),
    ("id_ecdsa", "id_ecdsa", "id_ecdsa"),
    ("id_ecdsa_sk", "id_ecdsa_sk", "id_ecdsa_sk"),
    ("id_ed25519", "id_ed25519", "id_ed25519"),
    ("id_ed25519_sk", "id_ed25519_sk", "id_ed25519_sk"),
    ("tls/server.key", "*.key", "tls/server.key"),
    ("cert.p12", "*.p12", "cert.p12"),
    ("cert.pfx", "*.pfx", "cert.pfx"),
]


def test_every_secret_name_rule_is_tested() -> None:
    assert {pattern for _, pattern, _ in SECRETS} == {p for p, _ in SECRET_NAMES}


@pytest.mark.parametrize(("rel", "pattern", "shown"), SECRETS, ids=[s[0] for s in SECRETS])
def test_credential_files_are_withheld_with_a_warning_naming_file_and_rule(
        tmp_path: Path, rel: str, pattern: str, shown: str) -> None:
    write(tmp_path, {"app.py": "", rel: "credential"})
    found = collect_sources(tmp_path)
    assert [f.relpath for f in found.files] == ["app.py"]
    assert found.warnings == [
        f"{shown}: not packaged: looks like a secret (matches `{pattern}`); {hint(shown)}"]


def test_look_alikes_of_secret_names_ship(tmp_path: Path) -> None:
    shipped = ["environment.py", "env/settings.py", ".envoy.yaml", "keys/id_rsa.pub",
               "keys/id_ed25519.pub", "docker/config.json", "config.json", "keys.py",
               "aws/credentials.py", "certs/ca.pem", "credentials"]
    write(tmp_path, {rel: "x" for rel in shipped})
    found = collect_sources(tmp_path)
    assert [f.relpath for f in found.files] == sorted(shipped)
    assert found.warnings == []


def test_a_virtualenv_named_env_is_withheld_whole_with_one_warning(tmp_path: Path) -> None:
    write(tmp_path, {"app.py": "", "svc/.env/lib/site.py": "", "svc/.env/pyvenv.cfg": ""})
    found = collect_sources(tmp_path)
    assert [f.relpath for f in found.files] == ["app.py"]
    assert found.warnings == [
        f"svc/.env/: not packaged: looks like a secret (matches `.env`); {hint('svc/.env/')}"]


DEFAULT_EXCLUDED = {
    ".git/HEAD": ".git", ".hg/store/data": ".hg/", ".svn/entries": ".svn/",
    ".venv/lib/site.py": ".venv/", "venv/bin/python": "venv/",
    ".tox/py312/log.txt": ".tox/", ".nox/tests/log.txt": ".nox/",
    "lib/__pycache__/util.cpython-312.pyc": "__pycache__/",
    "fn.egg-info/PKG-INFO": "/*.egg-info/",
    ".pytest_cache/v/cache": ".pytest_cache/", ".mypy_cache/3.12/x.json": ".mypy_cache/",
    ".ruff_cache/content": ".ruff_cache/", ".hypothesis/examples/x": ".hypothesis/",
    "htmlcov/index.html": "htmlcov/", ".coverage": ".coverage", ".coverage.host.123": ".coverage.*",
    "lib/.#app.py": ".#*", "#app.py#": "#*#", "app.py~": "*~", ".app.py.swp": "*.swp",
    "lib/.app.py.swo": "*.swo", "4913": "4913",
    ".aws-sam/build/template.yaml": ".aws-sam/", ".serverless/state.json": ".serverless/",
    ".terraform/providers/x": ".terraform/",
    "requirements.txt": "requirements*.txt", "requirements-dev.txt": "requirements*.txt",
    "requirements.in": "requirements*.in", "uv.lock": "uv.lock", "poetry.lock": "poetry.lock",
    "pdm.lock": "pdm.lock", "Pipfile": "Pipfile", "Pipfile.lock": "Pipfile.lock",
    "pylock.toml": "pylock.toml", "pylock.prod.toml": "pylock.*.toml", ".pdm-python": ".pdm-python",
    "package-lock.json": "package-lock.json", "npm-shrinkwrap.json": "npm-shrinkwrap.json",
    "yarn.lock": "yarn.lock", "pnpm-lock.yaml": "pnpm-lock.yaml",
}


def test_every_default_exclude_is_tested() -> None:
    assert set(DEFAULT_EXCLUDED.values()) == {p for p, _ in DEFAULT_EXCLUDES}
    rules = PathRules(p for p, _ in DEFAULT_EXCLUDES)
    for rel, pattern in DEFAULT_EXCLUDED.items():
        # the outermost part that the rule leaves out is the one it names
        parts = rel.split("/")
        hits = [rules.match("/".join(parts[:i]), is_dir=i < len(parts)) for i in range(1, len(parts) + 1)]
        assert next(h for h in hits if h) == pattern, rel


def test_an_editors_dangling_lock_link_is_left_out_not_an_error(tmp_path: Path) -> None:
    """Emacs keeps ``.#app.py`` as a symlink to nowhere while a buffer has unsaved changes:
    it failed the function ("broken symlink"). A dangling link that is excluded anyway is
    skipped; one that would be packaged is still an error."""
    (tmp_path / "app.py").write_text("x = 1\n")
    (tmp_path / ".#app.py").symlink_to("root@host.1234:1700000000")
    (tmp_path / "#app.py#").write_text("autosave\n")
    assert [f.relpath for f in collect_sources(tmp_path).files] == ["app.py"]
    (tmp_path / "data.txt").symlink_to("nowhere")
    with pytest.raises(SourceError, match="data.txt: broken symlink to nowhere"):
        collect_sources(tmp_path)
    assert [f.relpath for f in collect_sources(tmp_path, exclude=("data.txt",)).files] == ["app.py"]


def test_default_excludes_leave_out_silently_and_unlisted(tmp_path: Path) -> None:
    kept = ["app.py", "package.json", "pyproject.toml", "lib/util.py",
            "python/dep-1.0.egg-info/PKG-INFO", "certifi/cacert.pem", "docs/requirements.md"]
    write(tmp_path, {**{rel: "x" for rel in DEFAULT_EXCLUDED}, **{rel: "x" for rel in kept},
                     "lib/sub/.git": "gitdir: ../../.git/modules/sub\n"})  # a submodule's .git file
    found = collect_sources(tmp_path)
    assert sorted(f.relpath for f in found.files) == sorted(kept)
    assert found.warnings == [] and found.strip_report.total_files == 0
    # left-out directories are not even listed: nothing in them can rebuild anything
    listed = {rel for rel, _, _ in found.listings}
    assert listed == {".", "lib", "lib/sub", "python", "python/dep-1.0.egg-info", "certifi", "docs"}


def test_a_virtual_environment_by_any_name_is_left_out(tmp_path: Path) -> None:
    """``python -m venv env`` in a function's folder: its host-built packages shipped (or
    its interpreter symlink failed the build: "leads outside the source directory"). A
    directory holding pyvenv.cfg is left out like .venv/; its listing is kept, nothing
    below it is listed; a package of the function named ``env`` still ships."""
    write(tmp_path, {"app.py": "x", "env/pyvenv.cfg": "home = /usr/bin\n",
                     "env/lib/python3.12/site-packages/requests/__init__.py": "x",
                     "venvs/py312/pyvenv.cfg": "x", "venvs/py312/bin/activate": "x",
                     "config/env/__init__.py": "x"})
    os.symlink(sys.executable, tmp_path / "env" / "python")
    found = collect_sources(tmp_path)
    assert sorted(f.relpath for f in found.files) == ["app.py", "config/env/__init__.py"]
    listed = {rel for rel, _, _ in found.listings}
    assert listed == {".", "env", "venvs", "venvs/py312", "config", "config/env"}


def test_a_tree_read_not_packaged_keeps_everything(tmp_path: Path) -> None:
    write(tmp_path, {"requirements.txt": "x", ".npmrc": "x", ".venv/x": "x", "a.key": "x"})
    assert relpaths(tmp_path, skip_secrets=False, default_excludes=False) == [
        ".npmrc", ".venv/x", "a.key", "requirements.txt"]


def test_include_naming_a_file_brings_it_back_and_a_secret_with_a_warning(tmp_path: Path) -> None:
    write(tmp_path, {"app.py": "", "requirements.txt": "x", "tls/dev.key": "k", "other.key": "k",
                     ".aws/config": "c", ".aws/credentials": "c"})
    found = collect_sources(tmp_path, include=["*", "requirements.txt", "tls/dev.key", ".aws/"])
    assert [f.relpath for f in found.files] == [
        ".aws/config", ".aws/credentials", "app.py", "requirements.txt", "tls/dev.key"]
    assert found.warnings == [
        ".aws/: packaged although it looks like a secret (matches `.aws/`): `include` names it",
        f"other.key: not packaged: looks like a secret (matches `*.key`); {hint('other.key')}",
        "tls/dev.key: packaged although it looks like a secret (matches `*.key`): `include` names it",
    ]


def test_a_wildcard_include_names_nothing(tmp_path: Path) -> None:
    write(tmp_path, {"app.py": "", "requirements.txt": "x", "tls.key": "k", ".venv/lib/x.py": ""})
    found = collect_sources(tmp_path, include=["*.py", "*.txt", "*.key", "**"])
    assert [f.relpath for f in found.files] == ["app.py"]
    assert [w.split(":")[0] for w in found.warnings] == ["tls.key"]


def test_include_naming_a_file_inside_a_left_out_directory_takes_just_that(tmp_path: Path) -> None:
    write(tmp_path, {"app.py": "", ".tox/keep/me.txt": "x", ".tox/other.txt": "x",
                     ".aws/config": "c", ".aws/credentials": "c"})
    found = collect_sources(tmp_path, include=["*", ".tox/keep/me.txt", ".aws/config"])
    assert [f.relpath for f in found.files] == [".aws/config", ".tox/keep/me.txt", "app.py"]
    assert found.warnings == [
        ".aws/config: packaged although it looks like a secret (matches `.aws/`): `include` names it",
        f".aws/credentials: not packaged: looks like a secret (matches `.aws/`); {hint('.aws/credentials')}",
    ]


def test_include_names_literal_paths_names_and_directories() -> None:
    names = IncludeNames(["*.py", "certs/dev.key", "local.env", ".aws/", "!x.key", "# c", ""])
    assert names.names("certs/dev.key") and not names.names("other/certs/dev.key")
    assert names.names("local.env") and names.names("deep/local.env")
    assert names.names(".aws", is_dir=True) and names.names(".aws/credentials")
    assert not names.names("app.py") and not names.names("x.key")
    assert names.names_below("certs") and not names.names_below("tls")
    assert not IncludeNames(["*"]) and not IncludeNames([]).names("a")


def test_the_readme_lists_every_rule() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## What is packaged", 1)[1].split("\n## ", 1)[0]
    missing = [p for p, _ in (*DEFAULT_EXCLUDES, *SECRET_NAMES) if f"`{p}`" not in section]
    assert missing == [], f"README's 'What is packaged' does not list {missing}"
