"""Fixtures of the Node builder tests: a template npm project with only local packages,
npm pointed at an unreachable registry, and build contexts under ``tmp_path``."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from lambdaforge.builders.base import BuildContext
from lambdaforge.config.models import Project
from lambdaforge.runner import Runner
from tests.node_builder import npmproject as npmp

if shutil.which("node") is None or shutil.which("npm") is None:
    pytest.skip("node and npm are needed for the Node builder tests", allow_module_level=True)

CJS_HANDLER = """\
const { greet } = require('greet');
exports.handler = async (event) => greet(event.name);
"""
ESM_HANDLER = """\
import { greet } from 'greet';
export const handler = async (event) => greet(event.name);
"""


@pytest.fixture(autouse=True)
def _npm_without_registry(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """npm (a subprocess, beyond the socket guard) fails fast on any registry request."""
    if request.node.get_closest_marker("network"):
        return
    monkeypatch.setenv("npm_config_registry", npmp.UNREACHABLE_REGISTRY)
    monkeypatch.setenv("npm_config_fetch_retries", "0")


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with two Node functions and local packages (directories and tarballs):

    - ``functions/api`` (CommonJS): greet (dir, requires leftpad-local), tarpkg (tarball
      with a bin), optional plat-x64/plat-arm64 (tarballs with ``cpu``), dev: devtool;
    - ``functions/esm`` (``"type": "module"``): greet.
    """
    root = tmp_path_factory.mktemp("node-template") / "proj"
    cache = root.parent / "npm-cache"
    npmp.write_package(root / "libs/leftpad", {"name": "leftpad-local", "version": "0.1.0"},
                       {"index.js": "module.exports = (s) => '> ' + s;\n"})
    npmp.write_package(
        root / "libs/greet",
        {"name": "greet", "version": "1.2.3", "main": "index.js",
         "dependencies": {"leftpad-local": "file:../leftpad"}},
        {"index.js": "const pad = require('leftpad-local');\nexports.greet = (n) => pad('hi ' + n);\n",
         "README.md": "# greet\n"},
    )
    npmp.write_package(root / "libs/devtool", {"name": "devtool", "version": "9.9.9"},
                       {"index.js": "module.exports = 'dev';\n"})
    npmp.write_tarball(root / "vendor/tarpkg-1.0.0.tgz",
                       {"name": "tarpkg", "version": "1.0.0", "bin": {"tarpkg": "cli.js"}},
                       {"index.js": "module.exports = 'tar';\n", "cli.js": "#!/usr/bin/env node\n"})
    for cpu in ("x64", "arm64"):
        npmp.write_tarball(root / f"vendor/plat-{cpu}-1.0.0.tgz",
                           {"name": f"plat-{cpu}", "version": "1.0.0", "os": ["linux"], "cpu": [cpu]},
                           {"index.js": f"module.exports = '{cpu}';\n"})
    npmp.write_package(
        root / "functions/api",
        {"name": "api", "version": "1.0.0",
         "dependencies": {"greet": "file:../../libs/greet", "tarpkg": "file:../../vendor/tarpkg-1.0.0.tgz"},
         "optionalDependencies": {"plat-x64": "file:../../vendor/plat-x64-1.0.0.tgz",
                                  "plat-arm64": "file:../../vendor/plat-arm64-1.0.0.tgz"},
         "devDependencies": {"devtool": "file:../../libs/devtool"}},
        {"index.js": CJS_HANDLER},
    )
    npmp.write_package(
        root / "functions/esm",
        {"name": "esm", "version": "1.0.0", "type": "module",
         "dependencies": {"greet": "file:../../libs/greet"}},
        {"index.js": ESM_HANDLER},
    )
    npmp.lock(root / "functions/api", cache)
    npmp.lock(root / "functions/esm", cache)
    return root


@pytest.fixture
def proj_dir(template: Path, tmp_path: Path) -> Path:
    """This test's own copy of the template project."""
    return npmp.copy_project(template, tmp_path / "checkout")


@pytest.fixture
def make_ctx(tmp_path: Path) -> Callable[[Project], BuildContext]:
    """Build contexts sharing one tool cache under ``tmp_path``; offline, as CI is."""

    def make(project: Project, offline: bool = True) -> BuildContext:
        return BuildContext(runner=Runner(), scratch=tmp_path / "scratch", tool_cache=tmp_path / "tools",
                            project=project, offline=offline)

    return make
