"""A repo that mixes Python and Node.js functions is built by one ``forge build``."""

from __future__ import annotations

import json
import os
import shutil
import zipfile

import pytest

from tests.e2e.conftest import ProjectDir
from tests.node_builder import npmproject as npmp

pytestmark = pytest.mark.skipif(shutil.which("npm") is None, reason="node and npm are needed")


@pytest.fixture(scope="module")
def node_template(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("node-e2e") / "proj"
    npmp.write_package(root / "libs/greet", {"name": "greet", "version": "1.2.3", "main": "index.js"},
                       {"index.js": "exports.greet = (n) => 'hi ' + n;\n", "README.md": "# greet\n",
                        "index.d.ts": "export {};\n"})
    npmp.write_package(root / "libs/devtool", {"name": "devtool", "version": "9.9.9"},
                       {"index.js": "module.exports = 'dev';\n"})
    npmp.write_package(
        root / "functions/api",
        {"name": "api", "version": "1.0.0", "dependencies": {"greet": "file:../../libs/greet"},
         "devDependencies": {"devtool": "file:../../libs/devtool"}},
        {"index.js": "const { greet } = require('greet');\n"
                     "exports.handler = async (event) => greet(event.name);\n"},
    )
    npmp.lock(root / "functions/api", root.parent / "npm-cache")
    return root


@pytest.fixture
def mixed(node_template, project: ProjectDir, monkeypatch) -> ProjectDir:
    monkeypatch.setenv("npm_config_registry", npmp.UNREACHABLE_REGISTRY)
    monkeypatch.setenv("npm_config_fetch_retries", "0")
    shutil.copytree(node_template, project.root, dirs_exist_ok=True)
    project.config("""
[functions.api]
source = "functions/api"
handler = "index.handler"
runtime = "nodejs22.x"

[functions.py]
source = "functions/py"
handler = "app.handler"
runtime = "python3.12"
""")
    project.write("functions/py/app.py", "def handler(event, context):\n    return 1\n")
    # A developer's local node_modules must neither ship nor count.
    project.write("functions/api/node_modules/stray/index.js", "x\n")
    return project


def test_python_and_node_functions_build_in_one_graph(mixed):
    out = mixed.build()
    assert out.ok, [r.error for r in out.failures()]
    names = mixed.zip_names("function", "api")
    assert "index.js" in names
    assert "node_modules/greet/index.js" in names
    assert not any("devtool" in n for n in names), "devDependencies never ship"
    assert not any("stray" in n for n in names), "the local node_modules is not packaged"
    # the Node flavour of the standard strip rules
    assert "node_modules/greet/README.md" not in names
    assert "node_modules/greet/index.d.ts" not in names
    assert mixed.zip_path("function", "py").exists()


def test_lockfile_change_rebuilds_and_node_modules_touch_does_not(mixed, tmp_path):
    assert mixed.build().ok
    mixed.write("functions/api/node_modules/stray/index.js", "changed\n")
    out = mixed.build()
    assert set(mixed.statuses(out).values()) == {"up-to-date"}
    # Reformatting the lockfile changes neither the install inputs nor the zip (a lockfile
    # is not packaged).
    lock = mixed.root / "functions/api/package-lock.json"
    lock.write_text(lock.read_text().replace('"lockfileVersion": 3', '"lockfileVersion":   3'))
    out = mixed.build()
    install = next(t for t in out.results if t.startswith("install:"))
    assert install == "install:functions/api/package-lock.json@nodejs22.x-x86_64"
    assert mixed.statuses(out)[install] == "up-to-date"
    assert mixed.statuses(out)["function:api"] == "up-to-date"
    # A real dependency change re-installs.
    pkg = mixed.root / "libs/greet/package.json"
    pkg.write_text(pkg.read_text().replace("1.2.3", "1.2.4"))
    npmp.lock(mixed.root / "functions/api", tmp_path / "npm-cache")
    out = mixed.build()
    assert out.ok, [r.error for r in out.failures()]
    new_install = next(t for t in out.results if t.startswith("install:"))
    assert mixed.statuses(out)[new_install] == "built"
    assert mixed.statuses(out)["function:api"] == "built"


def bundled(project: ProjectDir, extra: str = "") -> None:
    """Configure ``functions/api`` bundled with esbuild (skips the test without esbuild)."""
    import os

    if not os.environ.get("FORGE_ESBUILD"):
        pytest.skip("set FORGE_ESBUILD to an esbuild 0.28.2 binary (.ci/run installs one)")
    project.config(f"""
[functions.api]
source = "functions/api"
handler = "index.handler"
runtime = "nodejs22.x"
bundle = "esbuild"
{extra}""")


def test_bundled_function_ships_one_file_that_node_can_call(mixed, monkeypatch):
    import subprocess

    bundled(mixed)
    out = mixed.build()
    assert out.ok, [r.error for r in out.failures()]
    zp = mixed.zip_path("function", "api")
    with zipfile.ZipFile(zp) as zf:
        names = [n for n in zf.namelist() if not n.endswith("/")]
        zf.extractall(mixed.root / "unzipped")
    assert names == ["index.js"], names
    script = ("require('./index.js').handler({name: 'forge'})"
              ".then(r => process.stdout.write(r))")
    result = subprocess.run(["node", "-e", script], cwd=mixed.root / "unzipped",
                            capture_output=True, text=True, timeout=60)
    assert result.stdout == "hi forge", result.stderr


def test_a_bundled_function_rebuilds_against_its_install_tree_kept_in_the_tool_cache(mixed, tmp_path):
    bundled(mixed)
    out = mixed.build()
    assert out.ok, [r.error for r in out.failures()]
    [install_key] = [r.key for tid, r in out.results.items() if tid.startswith("install:")]
    tree = tmp_path / "cache" / "tools" / "node-trees" / install_key
    assert (tree / "node_modules/greet/index.js").is_file()
    inode = tree.stat().st_ino

    mixed.write("functions/api/index.js", "const { greet } = require('greet');\n"
                "exports.handler = async (event) => greet(event.name) + '!';\n")
    out = mixed.build()
    assert mixed.statuses(out)["function:api"] == "built"
    assert out.results["function:api"].warnings == []
    assert tree.stat().st_ino == inode  # the same tree: nothing extracted again

    # A damaged tree is a miss the build recovers from, saying so.
    (tree / "node_modules/greet/stray.js").write_text("x\n")
    mixed.write("functions/api/index.js", "const { greet } = require('greet');\n"
                "exports.handler = async (event) => greet(event.name) + '?';\n")
    out = mixed.build()
    assert out.ok, [r.error for r in out.failures()]
    assert out.results["function:api"].warnings == [
        f"the extracted dependencies of install {install_key[:12]} changed "
        "(node_modules/greet was modified); extracting them again"]
    assert not (tree / "node_modules/greet/stray.js").exists()
    with zipfile.ZipFile(mixed.zip_path("function", "api")) as zf:
        assert '"hi " + n' in zf.read("index.js").decode()


def test_esbuild_options_from_defaults_reach_the_zip_and_its_checks(mixed):
    if not os.environ.get("FORGE_ESBUILD"):
        pytest.skip("set FORGE_ESBUILD to an esbuild 0.28.2 binary (.ci/run installs one)")
    mixed.config("""
[defaults]
bundle = "esbuild"
out-extension = { ".js" = ".cjs" }
banner = "/* built by forge */"
define = { "process.env.STAGE" = '"prod"' }

[functions.api]
source = "functions/api"
handler = "index.handler"
runtime = "nodejs22.x"

[functions.py]
source = "functions/py"
handler = "app.handler"
""")
    mixed.write("functions/api/index.js", "const { greet } = require('greet');\n"
                "exports.handler = async (event) => greet(process.env.STAGE);\n")
    out = mixed.build(smoke=True)
    assert out.ok, [r.error for r in out.failures()]
    assert mixed.statuses(out)["check:function:api"] == "built"  # found index.cjs
    with zipfile.ZipFile(mixed.zip_path("function", "api")) as zf:
        assert [n for n in zf.namelist() if not n.endswith("/")] == ["index.cjs"]
        text = zf.read("index.cjs").decode()
    assert text.startswith("/* built by forge */\n") and '"prod"' in text
    assert mixed.zip_names("function", "py") == {"app.py"}  # Node options do not apply to it


def test_node_zips_are_byte_identical_from_two_checkouts(mixed, tmp_path, monkeypatch):
    assert mixed.build().ok
    other = ProjectDir(tmp_path / "second" / "checkout")
    shutil.copytree(mixed.root, other.root, ignore=shutil.ignore_patterns(".forge", "node_modules"))
    monkeypatch.setenv("FORGE_CACHE_DIR", str(tmp_path / "second-cache"))
    out = other.build()
    assert out.ok, [r.error for r in out.failures()]
    assert other.zip_path("function", "api").read_bytes() == mixed.zip_path("function", "api").read_bytes()


def test_a_node_layer_with_its_own_package_is_laid_out_under_node_modules(project, monkeypatch):
    monkeypatch.setenv("npm_config_registry", npmp.UNREACHABLE_REGISTRY)
    project.config("""
[layers.fmt]
source = "layers/fmt"
runtime = "nodejs22.x"
exclude = ["fixtures/"]
""")
    npmp.write_package(project.root / "layers/fmt", {"name": "orders-format", "version": "1.0.0"},
                       {"index.js": "exports.fmt = (x) => String(x);\n",
                        "fixtures/big.json": "{}\n"})
    out = project.build()
    assert out.ok, [r.error for r in out.failures()]
    names = project.zip_names("layer", "fmt")
    assert "nodejs/node_modules/orders-format/index.js" in names
    assert "nodejs/node_modules/orders-format/package.json" in names
    assert not any("fixtures" in n for n in names)  # the user's exclude still applies


def test_node_function_ships_package_json_but_not_lockfile_npmrc_or_secrets(mixed):
    """Node reads ``"type"`` and ``"main"`` from package.json at run time: it ships. The
    lockfile was the install's input, and ``.npmrc`` (used by the install, auth and all) and
    a key in the code are secrets: none of them is in the zip."""
    from lambdaforge.packaging.secrets import PRIVATE_KEY
    from tests.support.secrets import private_key

    mixed.write("functions/api/.npmrc", "//registry.acme.invalid/:_authToken=${NPM_TOKEN}\n")
    mixed.write("functions/api/signing.js", f"module.exports = `{private_key('EC')}`;\n")
    mixed.write("functions/api/.env.local", "TOKEN=x\n")
    mixed.write("functions/api/.serverless/state.json", "{}\n")
    out = mixed.build()
    assert out.ok, [r.error for r in out.failures()]
    own = {n for n in mixed.zip_names("function", "api")
           if not n.startswith("node_modules/") and not n.endswith("/")}
    assert own == {"index.js", "package.json"}
    warnings = out.results["function:api"].warnings
    assert [w.split(":")[0] for w in warnings] == [".env.local", ".npmrc", "signing.js"]
    assert f"signing.js: not packaged: looks like a secret ({PRIVATE_KEY})" in warnings[2]


def test_a_bundle_is_screened_but_the_externals_copied_into_it_are_not(mixed):
    """A bundle is the user's code (and a key it imports ends up inside: withheld, so the
    check fails loudly); the ``external`` packages beside it are installed ones, not
    screened, as a function's installed dependencies are not."""
    from lambdaforge.packaging.secrets import PRIVATE_KEY
    from tests.support.secrets import private_key

    bundled(mixed, 'external = ["greet"]\n')
    mixed.write("libs/greet/testkey.js", f"module.exports = `{private_key()}`;\n")
    out = mixed.build()
    assert out.ok, [r.error for r in out.failures()]
    assert "node_modules/greet/testkey.js" in mixed.zip_names("function", "api")
    assert out.results["function:api"].warnings == []

    mixed.write("functions/api/index.js",
                "const { greet } = require('greet');\nconst KEY = require('./signing.js');\n"
                "exports.handler = async (event) => greet(event.name) + KEY.length;\n")
    mixed.write("functions/api/signing.js", f"module.exports = `{private_key('EC')}`;\n")
    out = mixed.build()
    assert not out.ok
    assert out.results["function:api"].warnings[0].startswith(
        f"index.js: not packaged: looks like a secret ({PRIVATE_KEY})")
    assert "no index.js, index.mjs or index.cjs at the root" in out.results["check:function:api"].error
    assert not mixed.zip_path("function", "api").exists()  # a zip that fails its check is removed


def test_a_files_list_in_package_json_decides_the_function_zip_with_its_dependencies(mixed):
    package = mixed.root / "functions/api/package.json"
    manifest = json.loads(package.read_text())
    package.write_text(json.dumps({**manifest, "files": ["index.js"]}))
    mixed.write("functions/api/notes.txt", "not for Lambda\n")
    mixed.write("functions/api/scripts/seed.js", "x\n")
    out = mixed.build()
    assert out.ok, [r.error for r in out.failures()]
    names = {n for n in mixed.zip_names("function", "api") if not n.endswith("/")}
    assert names == {"index.js", "package.json", "node_modules/greet/index.js",
                     "node_modules/greet/package.json"}


def test_a_bundle_sees_only_the_files_its_key_covers(mixed):
    """esbuild bundles a copy of the files the package's key covers: a file `exclude` leaves
    out cannot be inlined (an edit to it would be no change to the key, and another checkout
    would get this one's bundle from the cache); the import fails saying so."""
    bundled(mixed, 'exclude = ["config/"]\n')
    mixed.write("functions/api/config/settings.json", '{"stage": "v1"}\n')
    mixed.write("functions/api/index.js", "const settings = require('./config/settings.json');\n"
                "exports.handler = async () => settings.stage;\n")
    out = mixed.build()
    assert not out.ok
    error = out.results["function:api"].error
    assert 'Could not resolve "./config/settings.json"' in error
    assert ('\nnote: "./config/settings.json" in index.js names a file of functions/api/ that the '
            "function's `include`/`exclude` (or a strip rule or default exclude) leaves out, and "
            "esbuild sees only the files they keep: change `include`/`exclude` to keep it (the "
            "bundle ships either way; the file itself does not)") in error

    bundled(mixed)  # kept: in the key, so an edit rebuilds the bundle
    assert mixed.build().ok
    mixed.write("functions/api/config/settings.json", '{"stage": "v2"}\n')
    out = mixed.build()
    assert mixed.statuses(out)["function:api"] == "built"
    with zipfile.ZipFile(mixed.zip_path("function", "api")) as zf:
        assert '"v2"' in zf.read("index.js").decode()


def test_a_bundled_handler_left_out_by_include_is_named(mixed):
    bundled(mixed, 'include = ["lib/*"]\n')
    out = mixed.build()
    assert not out.ok
    assert out.results["function:api"].error == (
        "handler `index.handler`: none of index.js, index.mjs, index.cjs, index.ts, index.mts, "
        "index.cts exists in api/ to bundle (it is there, but the function's `include`/`exclude` "
        "leaves it out)")


def test_include_selects_what_a_bundle_is_made_of_and_the_bundle_always_ships(mixed):
    """For a bundled function `include`/`exclude` choose the sources esbuild sees; the
    bundle made of them (and its source map) ships although no pattern names it."""
    bundled(mixed, 'include = ["*.ts", "package.json"]\nsourcemap = true\n')
    (mixed.root / "functions/api/index.js").unlink()
    mixed.write("functions/api/index.ts", "import { v } from './lib';\n"
                "export const handler = async () => v;\n")
    mixed.write("functions/api/lib.ts", "export const v = 42;\n")
    mixed.write("functions/api/NOTES.txt", "notes\n")
    out = mixed.build()
    assert out.ok, [r.error for r in out.failures()]
    assert mixed.statuses(out)["check:function:api"] == "built"
    assert {n for n in mixed.zip_names("function", "api") if not n.endswith("/")} == {
        "index.js", "index.js.map"}


def test_an_npmrc_setting_that_changes_the_tree_reinstalls_and_a_token_does_not(mixed):
    """The .npmrc beside the lockfile is staged with `npm ci`: a setting there that changes
    the tree (`include=dev` beats `--omit=dev`) re-installs; a new token does not."""
    assert mixed.build().ok
    mixed.write("functions/api/.npmrc", "//registry.acme.invalid/:_authToken=one\n")
    out = mixed.build()
    assert set(mixed.statuses(out).values()) == {"up-to-date"}
    mixed.write("functions/api/.npmrc", "//registry.acme.invalid/:_authToken=one\ninclude=dev\n")
    out = mixed.build()
    assert out.ok, [r.error for r in out.failures()]
    install = next(t for t in out.results if t.startswith("install:"))
    assert mixed.statuses(out)[install] == "built"
    assert "node_modules/devtool/index.js" in mixed.zip_names("function", "api")
