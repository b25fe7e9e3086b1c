"""Credentials in index URLs never leave the machine (except in the installer's own argv).

A project names an index with a password in the config and an extra index with a token in
its requirements file. Both are real uv arguments, but ``no-index`` + ``find-links`` keep
the install local: the URLs point at a closed loopback port and are never contacted. After
each command every file under ``.forge/`` and the cache (inside zips too) and everything
printed (``--verbose``, ``--json``, ``plan``, ``explain``, ``config``, failures) is searched
for the secrets; the installer's argv is checked to have them.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from lambdaforge.cli import main
from lambdaforge.runner import CommandResult, Runner

PASSWORD = "hunter2-Pw"
OTHER_PASSWORD = "correct-horse-Pw"
TOKEN = "pypi-AgEItok3n"
INDEX = "https://alice:{password}@127.0.0.1:9/simple"


def config(password: str) -> str:
    return f"""
[defaults]
runtime = "python3.12"
no-index = true
find-links = ["wheels"]
index-url = "{INDEX.format(password=password)}"

[functions.fn]
source = "fn"
handler = "app.handler"
requirements = "deps/fn.txt"
"""


@pytest.fixture
def secret_project(deps_project):
    deps_project.config(config(PASSWORD))
    deps_project.write("fn/app.py", "import purelib\n\ndef handler(event, context):\n    return 1\n")
    # Outside the function's source, as a team would keep it (one inside is not packaged
    # either: requirements files are default excludes).
    deps_project.write("deps/fn.txt",
                       f"--extra-index-url https://__token__:{TOKEN}@127.0.0.1:9/extra\n"
                       "purelib==1.0\n")
    return deps_project


@pytest.fixture
def argvs(monkeypatch) -> list[tuple[str, ...]]:
    """Every command lambdaforge runs, as the OS got it."""
    seen: list[tuple[str, ...]] = []
    real = Runner.run

    def run(self, argv, **kwargs):
        result = real(self, argv, **kwargs)
        seen.append(result.argv)
        return result

    monkeypatch.setattr(Runner, "run", run)
    return seen


def forge(project, capsys, *args: str) -> tuple[int, str]:
    code = main(["-C", str(project.root), *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def files_holding(root: Path, secrets: tuple[str, ...]) -> list[str]:
    """Files below ``root`` (and members of zips there) whose bytes contain a secret."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        blobs = [(str(path), path.read_bytes())]
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                blobs += [(f"{path}!{n}", zf.read(n)) for n in zf.namelist()]
        found += [where for where, data in blobs
                  if any(s.encode() in data for s in secrets)]
    return found


def assert_nowhere(project, printed: str, *secrets: str) -> None:
    secrets = secrets or (PASSWORD, TOKEN)
    for secret in secrets:
        assert secret not in printed
    assert files_holding(project.root / ".forge", secrets) == []
    assert files_holding(project.root.parent / "cache", secrets) == []


def test_a_build_and_every_report_hide_the_credentials(secret_project, capsys, argvs):
    code, printed = forge(secret_project, capsys, "--verbose", "build")
    assert code == 0, printed
    installs = [a for a in argvs if a[1:3] == ("pip", "install")]
    assert len(installs) == 1
    # The installer, and only the installer, gets them verbatim.
    assert INDEX.format(password=PASSWORD) in installs[0]
    assert f"https://__token__:{TOKEN}@127.0.0.1:9/extra" in installs[0]
    assert "purelib/__init__.py" in secret_project.zip_names("function", "fn")
    assert_nowhere(secret_project, printed)

    everything = printed
    for args in (("build", "--json"), ("plan", "--json"), ("plan",), ("explain", "fn"),
                 ("config",), ("config", "--show-origin"), ("config", "--json"),
                 ("graph", "--format", "json")):
        code, printed = forge(secret_project, capsys, *args)
        assert code == 0, (args, printed)
        everything += printed
    assert_nowhere(secret_project, everything)
    assert "index-url = \"https://alice:***@127.0.0.1:9/simple\"" in everything  # forge config


def test_a_new_password_is_a_new_install_and_the_old_one_comes_back(secret_project, capsys):
    def build() -> dict[str, dict]:
        code, printed = forge(secret_project, capsys, "build", "--json")
        assert code == 0, printed
        return {t["id"]: t for t in json.loads(printed)["targets"]}

    def install_of(targets: dict[str, dict]) -> dict:
        (install,) = [t for tid, t in targets.items() if tid.startswith("install:")]
        return install

    first = build()
    secret_project.config(config(OTHER_PASSWORD))
    second = build()
    # The same readable id (the same file and platform), another key, built: never served
    # from the other password's entry.
    assert install_of(second)["id"] == install_of(first)["id"]
    assert install_of(second)["key"] != install_of(first)["key"]
    assert install_of(second)["status"] == "built"
    assert second["function:fn"]["reasons"][0] == (
        "config changed: functions.fn.index-url: credentials changed in "
        "'https://alice:***@127.0.0.1:9/simple'")
    code, printed = forge(secret_project, capsys, "--verbose", "build", "--force")
    assert code == 0
    assert_nowhere(secret_project, printed, PASSWORD, OTHER_PASSWORD, TOKEN)

    secret_project.config(config(PASSWORD))
    third = build()
    assert install_of(third)["key"] == install_of(first)["key"]
    # its record now holds the other password's key: the first install comes from the cache
    assert install_of(third)["status"] == "cached"


def test_a_failing_install_shows_its_output_without_the_credentials(secret_project, capsys,
                                                                    monkeypatch):
    # An installer that echoes its command line into its error, as some do on a failure.
    real = Runner.run

    def chatty(self, argv, **kwargs):
        result = real(self, argv, **kwargs)
        if result.argv[1:3] != ("pip", "install"):
            return result
        failed = CommandResult(result.argv, 2, "",
                               "error: Failed to fetch: " + " ".join(result.argv) + "\n"
                               "  caused by: 401 Unauthorized")
        self.log[-1] = failed
        return failed

    monkeypatch.setattr(Runner, "run", chatty)
    code, printed = forge(secret_project, capsys, "--verbose", "build")
    assert code == 1
    assert "FAILED install:" in printed and "401 Unauthorized" in printed
    # the log of the failed command, argv included, is shown (--verbose)…
    assert "--index-url https://alice:***@127.0.0.1:9/simple" in printed
    assert "https://__token__:***@127.0.0.1:9/extra" in printed
    # …and the secrets are not, anywhere
    assert_nowhere(secret_project, printed)
    code, printed = forge(secret_project, capsys, "build", "--json")
    assert code == 1
    assert_nowhere(secret_project, printed)
