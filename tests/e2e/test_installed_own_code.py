"""The user's own code that arrives through an install, end to end: an npm workspace member
and a local Python package (a path requirement) are packaged as their packagers would lay
them out, and screened for secrets like the function's own files (left out with the
standard warning, ``include`` naming one back in, the warnings restored with a cached zip);
a registry dependency is not screened."""

from __future__ import annotations

import shutil
import zipfile

import pytest

from lambdaforge.packaging.secrets import AWS_KEY, overridden, withheld
from tests.e2e.conftest import LOCAL_INDEX, ProjectDir
from tests.e2e.test_credentials import files_holding, forge
from tests.node_builder import npmproject as npmp
from tests.support.secrets import AWS_KEY_ID, AWS_SECRET
from tests.support.wheels import build_wheel, write_source_tree

#: what a checkout's ``.env`` holds: an AWS key pair
DOTENV = f"AWS_ACCESS_KEY_ID={AWS_KEY_ID}\nAWS_SECRET_ACCESS_KEY={AWS_SECRET}\n"
#: code holding the same pair (a secret by content, not by name)
KEYS_IN_CODE = f"module.exports = {{ id: '{AWS_KEY_ID}', secret: '{AWS_SECRET}' }};\n"

needs_npm = pytest.mark.skipif(shutil.which("npm") is None, reason="node and npm are needed")


def members(project: ProjectDir, kind: str, name: str) -> set[str]:
    """The files of a built zip (directory entries left aside)."""
    return {n for n in project.zip_names(kind, name) if not n.endswith("/")}


def below(names: set[str], prefix: str) -> set[str]:
    return {n[len(prefix):] for n in names if n.startswith(prefix)}


# --------------------------------------------------------------------------- npm workspace

NODE_CONFIG = """
[functions.api]
source = "functions/api"
runtime = "nodejs22.x"
handler = "handler.handler"
"""


@pytest.fixture(scope="module")
def workspace_template(tmp_path_factory: pytest.TempPathFactory):
    """An npm workspace: ``@acme/common`` publishes ``dist`` only (``files``), ``@acme/util``
    says nothing (everything but npm's always-excluded files) and holds a ``.env`` and code
    with an AWS key pair; the function ``api`` depends on both."""
    root = tmp_path_factory.mktemp("workspace") / "proj"
    npmp.write_json(root / "package.json", {"name": "mono", "private": True,
                                            "workspaces": ["packages/*", "functions/*"]})
    npmp.write_package(root / "packages/common",
                       {"name": "@acme/common", "version": "1.0.0", "main": "dist/index.js",
                        "files": ["dist"]},
                       {"dist/index.js": "module.exports = { v: () => 1 };\n",
                        "src/index.ts": "export const v = (): number => 1;\n",
                        "LICENSE": "MIT\n", ".env": DOTENV})
    npmp.write_package(root / "packages/util",
                       {"name": "@acme/util", "version": "1.0.0", "main": "index.js"},
                       {"index.js": "module.exports = 'util';\n", "keys.js": KEYS_IN_CODE,
                        ".env": DOTENV, ".npmrc": "//registry.example/:_authToken=t0ken\n"})
    npmp.write_package(root / "functions/api",
                       {"name": "api", "version": "1.0.0",
                        "dependencies": {"@acme/common": "1.0.0", "@acme/util": "1.0.0"}},
                       {"handler.js": "const c = require('@acme/common'), u = require('@acme/util');\n"
                                      "exports.handler = async () => [c.v(), u];\n"})
    npmp.lock(root, root.parent / "npm-cache")
    # outside the workspace: a function with a `file:` directory dependency
    npmp.write_package(root / "standalone/lib", {"name": "lib", "version": "1.0.0", "main": "index.js"},
                       {"index.js": "module.exports = 'lib';\n", ".env": DOTENV})
    npmp.write_package(root / "standalone/solo",
                       {"name": "solo", "version": "1.0.0", "dependencies": {"lib": "file:../lib"}},
                       {"handler.js": "exports.handler = async () => require('lib');\n"})
    npmp.lock(root / "standalone/solo", root.parent / "npm-cache")
    return root


@pytest.fixture
def workspace(workspace_template, project: ProjectDir, monkeypatch) -> ProjectDir:
    monkeypatch.setenv("npm_config_registry", npmp.UNREACHABLE_REGISTRY)
    monkeypatch.setenv("npm_config_fetch_retries", "0")
    shutil.copytree(workspace_template, project.root, dirs_exist_ok=True)
    project.config(NODE_CONFIG)
    return project


def _call(project: ProjectDir, tmp_path) -> object:
    """The handler of the built zip, called by node from the unzipped files."""
    out = tmp_path / "unzipped"
    with zipfile.ZipFile(project.zip_path("function", "api")) as zf:
        zf.extractall(out)
    return npmp.call(out / "handler.js", {})


@needs_npm
def test_a_workspace_member_ships_what_npm_pack_would_and_its_secrets_are_withheld(workspace, tmp_path):
    out = workspace.build()
    assert out.ok, [r.error for r in out.failures()]
    names = members(workspace, "function", "api")
    # `files: ["dist"]`: the dist, package.json and LICENSE (npm always packs them), not src/
    assert below(names, "node_modules/@acme/common/") == {"package.json", "LICENSE", "dist/index.js"}
    # no `files`: everything npm packs (never .npmrc), less the secrets
    assert below(names, "node_modules/@acme/util/") == {"package.json", "index.js"}
    assert out.results["function:api"].warnings == [
        withheld("node_modules/@acme/util/.env", "matches `.env`"),
        withheld("node_modules/@acme/util/keys.js", AWS_KEY),
    ]
    assert _call(workspace, tmp_path) == [1, "util"]
    assert files_holding(workspace.root / ".forge", (AWS_SECRET,)) == []


@needs_npm
def test_forge_build_warns_about_a_members_secret_and_again_from_the_cache(workspace, capsys):
    code, printed = forge(workspace, capsys, "build")
    assert code == 0, printed
    line = ("warning: function:api: "
            + withheld("node_modules/@acme/util/keys.js", AWS_KEY))
    assert line in printed.splitlines()
    assert AWS_SECRET not in printed
    shutil.rmtree(workspace.root / ".forge")
    code, printed = forge(workspace, capsys, "build")
    assert code == 0 and "cached" in printed, printed
    assert line in printed.splitlines()
    assert "node_modules/@acme/util/keys.js" not in workspace.zip_names("function", "api")


@needs_npm
def test_include_names_a_members_file_back_in(workspace):
    workspace.config(NODE_CONFIG + 'include = ["*", "node_modules/@acme/util/keys.js"]\n')
    out = workspace.build()
    assert out.ok, [r.error for r in out.failures()]
    names = members(workspace, "function", "api")
    assert "node_modules/@acme/util/keys.js" in names
    assert "node_modules/@acme/util/.env" not in names
    assert out.results["function:api"].warnings == [
        withheld("node_modules/@acme/util/.env", "matches `.env`"),
        overridden("node_modules/@acme/util/keys.js", AWS_KEY),
    ]


@needs_npm
def test_a_file_directory_dependency_is_screened_too(workspace):
    workspace.config(NODE_CONFIG + """
[functions.solo]
source = "standalone/solo"
runtime = "nodejs22.x"
handler = "handler.handler"
""")
    out = workspace.build("solo")
    assert out.ok, [r.error for r in out.failures()]
    assert below(members(workspace, "function", "solo"), "node_modules/lib/") == {"package.json", "index.js"}
    assert out.results["function:solo"].warnings == [withheld("node_modules/lib/.env", "matches `.env`")]


# --------------------------------------------------------------------------- local Python package

PY_CONFIG = LOCAL_INDEX + """
[functions.uses]
source = "uses"
handler = "app.handler"
"""


@pytest.fixture
def local_package(deps_project: ProjectDir) -> ProjectDir:
    """A function whose requirements name a local package (``-e ../libs/common``) holding a
    ``.env`` and a module with an AWS key pair, and a registry wheel holding the same."""
    p = deps_project
    p.config(PY_CONFIG)
    p.write("uses/app.py", "import common\n\ndef handler(event, context):\n    return common.V\n")
    p.write("uses/requirements.txt", "-e ../libs/common\nvendored==1.0\n")
    write_source_tree(p.root / "libs/common", "common", "0.1", files={
        "common/__init__.py": b"V = 1\n",
        "common/.env": DOTENV.encode(),
        "common/aws.py": f"ID = '{AWS_KEY_ID}'\nSECRET = '{AWS_SECRET}'\n".encode(),
    })
    build_wheel(p.root / "wheels", "vendored", "1.0", files={
        "vendored/__init__.py": b"",
        "vendored/.env": DOTENV.encode(),
        "vendored/aws.py": f"ID = '{AWS_KEY_ID}'\nSECRET = '{AWS_SECRET}'\n".encode(),
    })
    return p


def test_a_local_packages_secrets_are_withheld_with_a_warning(local_package):
    out = local_package.build()
    assert out.ok, [r.error for r in out.failures()]
    names = members(local_package, "function", "uses")
    assert "common/__init__.py" in names
    assert not {"common/.env", "common/aws.py"} & names
    # a registry dependency is not the user's code: not screened
    assert {"vendored/.env", "vendored/aws.py"} <= names
    assert out.results["function:uses"].warnings == [
        withheld("common/.env", "matches `.env`"),
        withheld("common/aws.py", AWS_KEY),
    ]


def test_a_local_packages_secret_warning_comes_back_with_the_cached_zip(local_package, capsys):
    code, printed = forge(local_package, capsys, "build")
    assert code == 0, printed
    line = "warning: function:uses: " + withheld("common/.env", "matches `.env`")
    assert line in printed.splitlines()
    first = local_package.zip_path("function", "uses").read_bytes()
    shutil.rmtree(local_package.root / ".forge")
    code, printed = forge(local_package, capsys, "build")
    assert code == 0 and "cached" in printed, printed
    assert line in printed.splitlines()
    assert local_package.zip_path("function", "uses").read_bytes() == first
    # the function repackaged over the install it had (read back from the state): the same
    local_package.write("uses/app.py", "import common\n\ndef handler(event, context):\n    return 2\n")
    out = local_package.build()
    assert out.results["function:uses"].status.value == "built"
    assert not [t for t, r in out.results.items() if t.startswith("install:") and r.status.value == "built"]
    assert "common/.env" not in local_package.zip_names("function", "uses")
    assert withheld("common/.env", "matches `.env`") in out.results["function:uses"].warnings


def test_include_names_a_local_packages_file_back_in(local_package):
    local_package.config(PY_CONFIG + 'include = ["*", "common/aws.py"]\n')
    out = local_package.build()
    assert out.ok, [r.error for r in out.failures()]
    names = members(local_package, "function", "uses")
    assert "common/aws.py" in names and "common/.env" not in names
    assert overridden("common/aws.py", AWS_KEY) in out.results["function:uses"].warnings
