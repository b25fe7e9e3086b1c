"""The Node.js import smoke test with the runtime's AWS SDK: the ``@aws-sdk/*`` packages the
code imports are installed at the runtime's version from npm's registry (here a local one
serving tiny fakes) and found where Lambda's ``/var/runtime/node_modules`` is."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from lambdaforge.builders.node import NodeBuilder
from lambdaforge.lambda_facts import NODE_SDK_VERSIONS, RUNTIMES
from tests.e2e.conftest import ProjectDir
from tests.node_builder import npmproject as npmp
from tests.node_builder.npmproject import needs_esbuild
from tests.support.npm_registry import LocalRegistry

if shutil.which("node") is None or shutil.which("npm") is None:
    pytest.skip("node and npm are needed", allow_module_level=True)
RUNTIME = f"nodejs{NodeBuilder().toolchain().node_major}.x"
if RUNTIME not in RUNTIMES:
    pytest.skip(f"the local Node.js matches no Lambda runtime ({RUNTIME})", allow_module_level=True)
#: what the runtime ships ("3" = the newest 3.x, for a runtime without a reported version)
SDK = NODE_SDK_VERSIONS[RUNTIME] or "3.462.0"

S3_CLIENT = """\
const core = require('@smithy/fake-core');
exports.S3Client = class S3Client { constructor(config) { this.config = core.resolve(config); } };
"""


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory):
    """Fakes of the SDK: client-s3 at the runtime's version and a newer one, client-dynamodb,
    and the @smithy package they require."""
    with LocalRegistry(tmp_path_factory.mktemp("registry")) as reg:
        reg.publish("@smithy/fake-core", "1.0.0", {"index.js": "exports.resolve = (c) => ({ ...c });\n"})
        for version in (SDK, "3.999.0"):
            reg.publish("@aws-sdk/client-s3", version, {"index.js": S3_CLIENT},
                        {"@smithy/fake-core": "^1.0.0"}, main="index.js")
        reg.publish("@aws-sdk/client-dynamodb", SDK,
                    {"index.js": "exports.DynamoDBClient = class DynamoDBClient {};\n"})
        yield reg


@pytest.fixture
def node_project(project: ProjectDir, registry: LocalRegistry, monkeypatch) -> ProjectDir:
    monkeypatch.setenv("npm_config_registry", registry.url)
    monkeypatch.setenv("npm_config_fetch_retries", "0")
    return project


def functions(**handlers: str) -> str:
    """Config of one function per handler file, each in its own source directory."""
    return "".join(f"""
[functions.{name}]
source = "{name}"
handler = "index.handler"
runtime = "{RUNTIME}"
""" for name in handlers)


VERSION_OF = "require('@aws-sdk/client-s3/package.json').version"


def test_sdk_handlers_are_imported_and_the_real_failure_is_named(node_project) -> None:
    files = {
        "cjs": "const { S3Client } = require('@aws-sdk/client-s3');\nconst s3 = new S3Client({});\n"
               f"if ({VERSION_OF} !== '{SDK}') throw new Error('not the runtime version');\n"
               "exports.handler = async () => s3.config;\n",
        "esm": "import { S3Client } from '@aws-sdk/client-s3';\n"
               "export const handler = async () => new S3Client({});\n",
        "computed": "const name = 'client-' + 'dynamodb';\nconst sdk = require('@aws-sdk/' + name);\n"
                    "exports.handler = async () => new sdk.DynamoDBClient();\n",
        # the SDK first used to hide this: the check stopped at the SDK and called it skipped
        "missing": "const { S3Client } = require('@aws-sdk/client-s3');\nconst x = require('left-pad');\n"
                   "exports.handler = async () => x;\n",
    }
    node_project.config(functions(**files))
    for name, text in files.items():
        node_project.write(f"{name}/{'index.mjs' if name == 'esm' else 'index.js'}", text)
    out = node_project.build(smoke=True)
    for name in ("cjs", "esm", "computed"):
        check = out.results[f"check:function:{name}"]
        assert check.status.value == "built" and check.warnings == [], (name, check.error, check.warnings)
    assert node_project.zip_names("function", "cjs") == {"index.js"}  # the SDK is not shipped
    missing = out.results["check:function:missing"]
    assert missing.status.value == "failed"
    assert missing.error == (
        "import smoke test failed: Error: Cannot find module 'left-pad'\n"
        "Require stack:\n"
        "- /var/task/index.js\n"
        "    at Object.<anonymous> (/var/task/index.js:2:11)")


def test_a_copy_the_function_pins_wins_and_the_runtimes_version_can_be_replaced(
        node_project, registry, tmp_path: Path) -> None:
    registry.publish("@aws-sdk/client-s3", "3.0.1", {"index.js": ""})
    node_project.config(functions(own="", plain="")
                        + '\n[check]\nruntime-packages = ["@aws-sdk/client-s3@3.999.0"]\n')
    # an exact version keeps a runtime-provided package in the zip (Lambda then loads it)
    npmp.write_package(node_project.root / "own", {"name": "own", "version": "1.0.0",
                                                    "dependencies": {"@aws-sdk/client-s3": "3.0.1"}},
                       {"index.js": f"const v = {VERSION_OF};\n"
                                    "if (v !== '3.0.1') throw new Error(v);\nexports.handler = async () => 1;\n"})
    subprocess.run(["npm", "install", "--package-lock-only", "--ignore-scripts", "--no-audit",
                    "--no-fund", f"--cache={tmp_path / 'npm-cache'}"],
                   cwd=node_project.root / "own", check=True, capture_output=True, timeout=120)
    node_project.write("plain/index.js", f"const v = {VERSION_OF};\n"
                                         "if (v !== '3.999.0') throw new Error(v);\nexports.handler = async () => 1;\n")
    fetched = registry.requests["/-/aws-sdk-client-s3-3.999.0.tgz"]
    out = node_project.build(smoke=True)
    for name in ("own", "plain"):
        check = out.results[f"check:function:{name}"]
        assert check.status.value == "built", (name, check.error)
    assert "node_modules/@aws-sdk/client-s3/package.json" in node_project.zip_names("function", "own")
    # installed once (for "plain" only: "own" ships its own), into the tool cache
    assert registry.requests["/-/aws-sdk-client-s3-3.999.0.tgz"] == fetched + 1


def test_without_a_registry_an_sdk_handler_is_skipped_with_the_reason(project, monkeypatch) -> None:
    monkeypatch.setenv("npm_config_registry", npmp.UNREACHABLE_REGISTRY)
    monkeypatch.setenv("npm_config_fetch_retries", "0")
    project.config(functions(sdk="", plain=""))
    project.write("sdk/index.js", "require('@aws-sdk/client-s3');\nexports.handler = async () => 1;\n")
    project.write("plain/index.js", "exports.handler = async () => 1;\n")
    out = project.build(smoke=True)
    sdk = out.results["check:function:sdk"]
    assert sdk.output.smoke_skipped
    assert sdk.warnings == [
        "import smoke test skipped: the handler imports @aws-sdk/client-s3, which the Lambda "
        f"runtime provides, and it could not be had here: installing @aws-sdk/client-s3@{SDK} "
        f"for {RUNTIME} x86_64 failed (request to {npmp.UNREACHABLE_REGISTRY}@aws-sdk%2fclient-s3 "
        "failed, reason: connect ECONNREFUSED 127.0.0.1:9); it is fetched with npm's registry "
        "configuration (npm_config_registry, ~/.npmrc, the .npmrc next to package.json): point "
        "it at a registry that has it, or pick the version with `[check] runtime-packages`"]
    plain = out.results["check:function:plain"]
    assert plain.status.value == "built" and not plain.output.smoke_skipped and plain.warnings == []


def test_the_import_runs_with_lambdas_environment_and_none_of_the_developers(
        node_project, monkeypatch) -> None:
    monkeypatch.setenv("NODE_OPTIONS", "--title=developer")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIADEVELOPERKEY")
    monkeypatch.setenv("AWS_PROFILE", "dev")
    node_project.config(functions(probe="", unset="").replace(
        'source = "probe"', 'source = "probe"\nenvironment = { TABLE_NAME = "orders" }'))
    probe = """\
const e = process.env;
const problems = ['AWS_ACCESS_KEY_ID', 'AWS_PROFILE'].filter((k) => k in e);
const want = { AWS_LAMBDA_FUNCTION_NAME: 'probe', AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '128',
  AWS_LAMBDA_FUNCTION_VERSION: '$LATEST', AWS_REGION: 'us-east-1', _HANDLER: 'index.handler',
  TZ: ':UTC', LANG: 'en_US.UTF-8', TABLE_NAME: 'orders' };
for (const [k, v] of Object.entries(want)) if (e[k] !== v) problems.push(k + '=' + e[k]);
if (process.cwd() !== e.LAMBDA_TASK_ROOT) problems.push('cwd');
if (process.title === 'developer') problems.push('NODE_OPTIONS');
if (!e.NODE_PATH.endsWith(':' + e.LAMBDA_TASK_ROOT)) problems.push('NODE_PATH');
if (problems.length) throw new Error('leaked or missing: ' + problems.join(', '));
exports.handler = async () => 1;
"""
    node_project.write("probe/index.js", probe)
    node_project.write("unset/index.js", "if (!process.env.TABLE_NAME) throw new Error('TABLE_NAME is not set');\n"
                                         "exports.handler = async () => 1;\n")
    out = node_project.build(smoke=True)
    assert out.results["check:function:probe"].status.value == "built", out.results["check:function:probe"].error
    assert out.results["check:function:unset"].error == (
        "import smoke test failed: Error: TABLE_NAME is not set\n"
        "    at Object.<anonymous> (/var/task/index.js:1:36)")


@needs_esbuild
def test_a_range_the_runtime_sdk_is_outside_of_ships_or_bundles_the_sdk(
        node_project, tmp_path: Path) -> None:
    """``"@aws-sdk/client-s3": "^3.999.0"`` where the runtime ships an older SDK: the
    function's client is what Lambda must load. It was left out (unbundled) or external
    (bundled), so the runtime's older copy loaded, or none for a client newer than it."""
    if NODE_SDK_VERSIONS[RUNTIME] is None:
        pytest.skip(f"no SDK version is known for {RUNTIME}")
    node_project.config(functions(shipped="", bundled="").replace(
        'source = "bundled"', 'source = "bundled"\nbundle = "esbuild"'))
    for name in ("shipped", "bundled"):
        npmp.write_package(node_project.root / name,
                           {"name": name, "version": "1.0.0", "dependencies": {"@aws-sdk/client-s3": "^3.999.0"}},
                           {"index.js": f"const v = {VERSION_OF};\nif (v !== '3.999.0') throw new Error(v);\n"
                                        "exports.handler = async () => require('@aws-sdk/client-s3').S3Client.name;\n"})
        subprocess.run(["npm", "install", "--package-lock-only", "--ignore-scripts", "--no-audit",
                        "--no-fund", f"--cache={tmp_path / 'npm-cache'}"],
                       cwd=node_project.root / name, check=True, capture_output=True, timeout=120)
    out = node_project.build(smoke=True)
    for name in ("shipped", "bundled"):
        check = out.results[f"check:function:{name}"]
        assert check.status.value == "built", (name, check.error)
    assert "node_modules/@aws-sdk/client-s3/package.json" in node_project.zip_names("function", "shipped")
    assert out.results["function:shipped"].notes == [
        f"@aws-sdk/client-s3 3.999.0 kept: package.json requires ^3.999.0; the {RUNTIME} runtime "
        f"has {SDK} (with the 1 SDK packages it requires)"]
    assert node_project.zip_names("function", "bundled") == {"index.js"}
    with zipfile.ZipFile(node_project.zip_path("function", "bundled")) as zf:
        assert 'require("@aws-sdk/client-s3")' not in zf.read("index.js").decode()
    assert out.results["function:bundled"].warnings == [
        f"the AWS SDK is bundled, not left to the runtime: @aws-sdk/client-s3: package.json "
        f"requires ^3.999.0; the {RUNTIME} runtime has {SDK}"]
