"""The handler check: the file Lambda loads exists at the zip root and exports the name,
statically and by importing it with the local node when its major matches the runtime."""

from __future__ import annotations

import platform
import shutil
import zipfile
from pathlib import Path

import pytest

from lambdaforge.builders.node import NodeBuilder
from lambdaforge.builders.node.handler import (
    ModuleSystem,
    folder_main_problem,
    module_system_problem,
    split_handler,
    static_exports,
)
from lambdaforge.lambda_facts import RUNTIMES
from lambdaforge.runner import Runner
from tests.support.elf import make_elf

BUILDER = NodeBuilder()
LOCAL_MAJOR = BUILDER.toolchain().node_major
#: a runtime this machine's node can import for, and one it cannot (→ static check only)
SAME_RUNTIME = f"nodejs{LOCAL_MAJOR}.x"
OTHER_RUNTIME = next(r for r, rt in RUNTIMES.items() if rt.family == "nodejs" and rt.version != str(LOCAL_MAJOR))
needs_same_node = pytest.mark.skipif(SAME_RUNTIME not in RUNTIMES,
                                     reason=f"local Node.js {LOCAL_MAJOR} matches no Lambda runtime")

ESM = "export const handler = async (event) => ({ ok: true, event });\n"
CJS = "exports.handler = async (event) => ({ ok: true, event });\n"
ESM_WRONG = "export const handle = async () => 1;\nexport default 2;\n"
CJS_WRONG = "module.exports = { handle() {}, other: 1 };\n"


def make_zip(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in sorted(files.items()):
            zf.writestr(name, text)
    return path


@pytest.mark.parametrize("runtime", [SAME_RUNTIME, OTHER_RUNTIME])
@pytest.mark.parametrize("files", [
    {"index.mjs": ESM},
    {"index.js": ESM, "package.json": '{"type": "module"}'},
    {"index.js": CJS},
    {"index.cjs": CJS},
], ids=["esm-mjs", "esm-type-module", "cjs-js", "cjs-cjs"])
def test_esm_and_cjs_handlers_pass(tmp_path: Path, files: dict[str, str], runtime: str) -> None:
    if runtime not in RUNTIMES:
        pytest.skip(f"no Lambda runtime for local Node.js {LOCAL_MAJOR}")
    assert BUILDER.check_handler(make_zip(tmp_path / "f.zip", files), [], "index.handler", runtime) == []


@pytest.mark.parametrize(("runtime", "how"), [
    (OTHER_RUNTIME, "static check; it exports"),
    pytest.param(SAME_RUNTIME, "it exports", marks=needs_same_node),
], ids=["static", "import"])
def test_missing_export_fails(tmp_path: Path, runtime: str, how: str) -> None:
    esm = make_zip(tmp_path / "esm.zip", {"index.mjs": ESM_WRONG})
    cjs = make_zip(tmp_path / "cjs.zip", {"index.js": CJS_WRONG})
    assert BUILDER.check_handler(esm, [], "index.handler", runtime) == [
        f"handler `index.handler`: index.mjs does not export `handler` ({how}: default, handle)"
    ]
    assert BUILDER.check_handler(cjs, [], "index.handler", runtime) == [
        f"handler `index.handler`: index.js does not export `handler` ({how}: handle, other)"
    ]


@pytest.mark.parametrize(("files", "handler", "message"), [
    ({"index.js": CJS, "package.json": '{"type": "module"}'}, "index.handler",
     'index.js is loaded as an ES module (package.json has "type": "module") but exports with '
     "CommonJS (`exports`, `module.exports`), which an ES module does not have: export it with "
     "`export`, or rename the file index.cjs"),
    ({"index.mjs": "module.exports = { handler: async () => 1 };\n"}, "index.handler",
     "index.mjs is loaded as an ES module (a .mjs file) but exports with CommonJS (`exports`, "
     "`module.exports`), which an ES module does not have: export it with `export`, or rename "
     "the file index.cjs"),
    ({"index.cjs": ESM}, "index.handler",
     "index.cjs is loaded as CommonJS (a .cjs file) but uses ES module syntax (`export`, "
     "`import`), which CommonJS cannot parse: rename it index.mjs (a .cjs file is CommonJS "
     "whatever package.json says)"),
    ({"index.js": ESM, "package.json": '{"type": "commonjs"}'}, "index.handler",
     'index.js is loaded as CommonJS (package.json has "type": "commonjs") but uses ES module '
     'syntax (`export`, `import`), which CommonJS cannot parse: rename it index.mjs or change '
     '"type" to "module" in package.json'),
    # the nearest package.json above the file decides, as in Lambda's runtime
    ({"src/api.js": CJS, "src/package.json": '{"type": "module"}', "package.json": "{}"}, "src/api.handler",
     'src/api.js is loaded as an ES module (src/package.json has "type": "module") but exports '
     "with CommonJS (`exports`, `module.exports`), which an ES module does not have: export it "
     "with `export`, or rename the file src/api.cjs"),
], ids=["cjs-under-type-module", "cjs-in-mjs", "esm-in-cjs", "esm-under-type-commonjs", "nearest-package-json"])
def test_a_file_in_the_wrong_module_system_fails(tmp_path: Path, files, handler, message) -> None:
    """Lambda loads ``.mjs`` and a ``.js`` under ``"type": "module"`` with ``import()``, where
    ``exports`` is not defined, and ``.cjs`` or a ``.js`` under ``"type": "commonjs"`` with
    ``require``, which cannot parse ``export``: these passed the check and failed on Lambda."""
    artifact = make_zip(tmp_path / "f.zip", files)
    assert BUILDER.check_handler(artifact, [], handler, OTHER_RUNTIME) == [f"handler `{handler}`: {message}"]


def test_es_module_syntax_in_a_typeless_js_loads_from_node_24_on() -> None:
    """A ``.js`` with ``export`` and no ``"type"``: Node.js 24's ``require`` detects ES module
    syntax and loads it; Node.js 20's throws a SyntaxError, and so does Lambda's Node.js 22,
    which runs with ``--no-experimental-detect-module`` (the check passed it there). An ES
    module bundle whose CommonJS dependencies use ``module.exports`` inside their wrappers
    is fine."""
    typeless = ModuleSystem("cjs", 'package.json has no "type": "module"')
    assert module_system_problem("index.handler", "index.js", ESM, typeless, 24) is None
    assert module_system_problem("index.handler", "index.js", ESM, typeless, 22) == (
        'handler `index.handler`: index.js is loaded as CommonJS (package.json has no "type": '
        '"module", and Lambda runs Node.js 22 with --no-experimental-detect-module '
        "(NODE_OPTIONS=--experimental-detect-module turns it back on)) but uses ES module syntax "
        '(`export`, `import`), which CommonJS cannot parse: rename it index.mjs or add "type": '
        '"module" to package.json')
    assert module_system_problem("index.handler", "index.js", ESM, typeless, 20) == (
        'handler `index.handler`: index.js is loaded as CommonJS (package.json has no "type": '
        '"module", and Node.js 20 does not detect ES module syntax) but uses ES module syntax '
        '(`export`, `import`), which CommonJS cannot parse: rename it index.mjs or add "type": '
        '"module" to package.json')
    assert module_system_problem("index.handler", "index.js", "import x from 'y';\nexports.handler = x;\n",
                                 typeless, 20) is not None
    # a statement after `;` on one line (it was missed: green, then a SyntaxError on Lambda)
    assert module_system_problem("index.handler", "index.js", "const handler = async () => 1; "
                                 "export { handler };\n", typeless, 20) is not None
    assert module_system_problem("index.handler", "index.js", "const s = 'a;b'; exports.handler = "
                                 "async () => s;\n", typeless, 20) is None
    assert module_system_problem("index.handler", "index.js", "const x = await import('y');\n"
                                 "exports.handler = x;\n", typeless, 20) is None
    bundle = ("var require_dep = __commonJS({ 'dep.js'(exports, module) { module.exports = 1; } });\n"
              "var handler = async () => require_dep();\nexport { handler };\n")
    esm = ModuleSystem("esm", "a .mjs file")
    assert module_system_problem("index.handler", "index.mjs", bundle, esm, 20) is None


def test_a_folder_named_like_the_handler_file_is_what_lambda_requires_first(tmp_path: Path) -> None:
    """Lambda's runtime (Node.js 20, 22) requires ``/var/task/app`` before it tries
    ``app.mjs``: a folder ``app/`` makes that fail, or load the folder's ``index.js``
    (aws-lambda-nodejs-runtime-interface-client issue 93). ``app.js`` is found first."""
    runtime = "nodejs22.x" if LOCAL_MAJOR != 22 else "nodejs20.x"
    helpers = make_zip(tmp_path / "a.zip", {"app.mjs": ESM, "app/greet.mjs": ESM})
    assert BUILDER.check_handler(helpers, [], "app.handler", runtime) == [
        "handler `app.handler`: the folder app/ beside app.mjs fails it on Lambda: the runtime "
        "requires 'app' without an extension before it tries app.mjs, and the folder has no "
        "index.js (Cannot find module '/var/task/app'); rename the folder or the handler file"
    ]
    indexed = make_zip(tmp_path / "b.zip", {"app.cjs": CJS, "app/index.js": "exports.other = 1;\n"})
    assert BUILDER.check_handler(indexed, [], "app.handler", runtime) == [
        "handler `app.handler`: Lambda's runtime loads app/index.js, not app.cjs: it requires "
        "'app' without an extension first, and the folder app/ resolves to that file; rename "
        "the folder or the handler file"
    ]
    js_first = make_zip(tmp_path / "c.zip", {"app.js": CJS, "app/util.js": ""})
    assert BUILDER.check_handler(js_first, [], "app.handler", runtime) == []


def test_a_folder_named_like_the_handler_serves_it_up_to_node_22(tmp_path: Path) -> None:
    """``app.handler`` with ``app/index.js`` (or the folder's package.json ``main``) and no
    ``app.js``: the runtime's extensionless ``require('/var/task/app')`` loads the folder, so
    it is a handler, checked in the folder's main; from Node.js 24 the runtime no longer
    requires the bare path."""
    indexed = make_zip(tmp_path / "a.zip", {"app/index.js": CJS, "package.json": "{}"})
    mained = make_zip(tmp_path / "b.zip", {"app/package.json": '{"main": "lib/main"}',
                                           "app/lib/main.js": CJS})
    wrong = make_zip(tmp_path / "c.zip", {"app/index.js": CJS_WRONG})
    for runtime in ("nodejs20.x", "nodejs22.x"):
        assert BUILDER.check_handler(indexed, [], "app.handler", runtime) == []
        assert BUILDER.check_handler(mained, [], "app.handler", runtime) == []
        problems = BUILDER.check_handler(wrong, [], "app.handler", runtime)
        assert len(problems) == 1 and "app/index.js" in problems[0], problems
    assert BUILDER.check_handler(indexed, [], "app.handler", "nodejs24.x") == [
        "handler `app.handler`: no app.js, app.mjs or app.cjs at the root of the artifact"]
    # An ES module main: require() of it fails on Node.js 20 (ERR_REQUIRE_ESM), 22 loads it.
    esm = make_zip(tmp_path / "d.zip", {"app/index.js": ESM, "app/package.json": '{"type": "module"}'})
    problems = BUILDER.check_handler(esm, [], "app.handler", "nodejs20.x")
    # (statically; or, where the local Node.js is 20, in Node's own words: it has the last word)
    assert len(problems) == 1 and "ERR_REQUIRE_ESM" in problems[0], problems
    system = ModuleSystem("esm", 'app/package.json has "type": "module"', "module")
    assert folder_main_problem("app.handler", "app", "app/index.js", system, 20) == (
        "handler `app.handler`: Lambda's runtime loads the folder app/ with require(), and "
        "app/index.js is an ES module (app/package.json has \"type\": \"module\"), which "
        "require() cannot load on Node.js 20 (ERR_REQUIRE_ESM); name the file in the handler "
        "(`app/index.handler`)")
    assert BUILDER.check_handler(esm, [], "app.handler", "nodejs22.x") == []


@needs_same_node
def test_a_folder_handler_imports_and_runs_as_on_lambda(tmp_path: Path) -> None:
    if LOCAL_MAJOR >= 24:
        pytest.skip("from Node.js 24 the runtime no longer requires the bare path")
    spec = _spec(SAME_RUNTIME, handler="app.handler")
    artifact = make_zip(tmp_path / "f.zip", {"app/index.js": CJS})
    result = BUILDER.smoke_test(artifact, [], spec, _ctx(tmp_path))
    assert result.ok, result.error
    esm = make_zip(tmp_path / "e.zip", {"app/index.mjs": ESM})  # not a main require() finds
    result = BUILDER.smoke_test(esm, [], spec, _ctx(tmp_path))
    assert not result.ok and "no app.js, app.mjs or app.cjs" in result.error, result.error


@needs_same_node
def test_the_import_requires_the_extensionless_path_first_as_lambda_does(tmp_path: Path) -> None:
    helpers = make_zip(tmp_path / "a.zip", {"app.mjs": ESM, "app/greet.mjs": ESM})
    problems = BUILDER.check_handler(helpers, [], "app.handler", SAME_RUNTIME)
    if LOCAL_MAJOR >= 24:
        assert problems == []
    else:
        assert len(problems) == 1 and "Cannot find module" in problems[0]


@needs_same_node
def test_export_that_is_not_a_function_fails_the_import(tmp_path: Path) -> None:
    not_function = make_zip(tmp_path / "nf.zip", {"index.js": "exports.handler = 42;\n"})
    assert BUILDER.check_handler(not_function, [], "index.handler", SAME_RUNTIME) == []  # static says yes
    result = BUILDER.smoke_test(not_function, [], _spec(SAME_RUNTIME), _ctx(tmp_path))
    assert not result.ok
    assert result.error == "handler `index.handler`: `handler` exported by index.js is a number, not a function"


def test_missing_file_fails(tmp_path: Path) -> None:
    artifact = make_zip(tmp_path / "f.zip", {"src/index.js": CJS, "app.ts": ""})
    assert BUILDER.check_handler(artifact, [], "index.handler", OTHER_RUNTIME) == [
        "handler `index.handler`: no index.js, index.mjs or index.cjs at the root of the artifact"
    ]
    assert BUILDER.check_handler(artifact, [], "src/index.handler", OTHER_RUNTIME) == []


@needs_same_node
def test_generated_exports_the_patterns_miss_are_settled_by_import(tmp_path: Path) -> None:
    artifact = make_zip(tmp_path / "f.zip", {"index.js": "const n = 'hand' + 'ler';\nexports[n] = () => 1;\n"})
    assert BUILDER.check_handler(artifact, [], "index.handler", SAME_RUNTIME) == []
    assert BUILDER.check_handler(artifact, [], "index.handler", OTHER_RUNTIME) == [
        "handler `index.handler`: index.js does not export `handler` (static check; it exports: nothing)"
    ]


def _spec(runtime: str, handler: str = "index.handler", **settings: str):
    from tests.node_builder.npmproject import function_spec

    return function_spec("f", "f", handler, runtime=runtime, **settings)


def _ctx(tmp_path: Path):
    from lambdaforge.builders.base import BuildContext
    from tests.node_builder.npmproject import project

    return BuildContext(Runner(), tmp_path / "scratch", tmp_path / "tools", project(tmp_path))


@needs_same_node
def test_import_sees_layers_as_lambda_does_and_nothing_else(tmp_path: Path) -> None:
    """Layers are merged under /opt and reached through NODE_PATH; the import error is Node's."""
    artifact = make_zip(tmp_path / "f.zip", {
        "index.js": "const lib = require('shared-lib');\nexports.handler = async () => lib.value;\n"})
    layer = make_zip(tmp_path / "layer.zip", {
        "nodejs/node_modules/shared-lib/package.json": '{"name": "shared-lib", "main": "main.js"}',
        "nodejs/node_modules/shared-lib/main.js": "exports.value = 42;\n"})
    ctx = _ctx(tmp_path)
    ok = BUILDER.smoke_test(artifact, [layer], _spec(SAME_RUNTIME), ctx)
    assert ok.ok and ok.error is None and ok.import_ms is not None
    failed = BUILDER.smoke_test(artifact, [], _spec(SAME_RUNTIME), ctx)
    assert not failed.ok
    assert failed.error.startswith("Error: Cannot find module 'shared-lib'")


@needs_same_node
def test_import_has_no_network_and_runtime_sdk_imports_are_skipped(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    net = make_zip(tmp_path / "net.zip", {
        "index.js": "require('node:net').connect(443, 'example.com');\nexports.handler = () => 1;\n"})
    result = BUILDER.smoke_test(net, [], _spec(SAME_RUNTIME), ctx)
    assert not result.ok
    assert "network access is disabled during the lambdaforge handler check" in result.error
    sdk = make_zip(tmp_path / "sdk.zip", {
        "index.mjs": "import { S3Client } from '@aws-sdk/client-s3';\nexport const handler = () => S3Client;\n"})
    skipped = BUILDER.smoke_test(sdk, [], _spec(SAME_RUNTIME), ctx)
    assert skipped.ok
    assert skipped.skipped.startswith(  # no registry here (conftest): the runtime's SDK cannot be had
        "the handler imports @aws-sdk/client-s3, which the Lambda runtime provides, and it could "
        "not be had here: installing @aws-sdk/client-s3@")
    assert BUILDER.check_handler(sdk, [], "index.handler", SAME_RUNTIME) == []


def test_smoke_test_is_skipped_for_another_node_major(tmp_path: Path) -> None:
    artifact = make_zip(tmp_path / "f.zip", {"index.js": CJS})
    result = BUILDER.smoke_test(artifact, [], _spec(OTHER_RUNTIME), _ctx(tmp_path))
    assert result.ok
    node = shutil.which("node")
    assert result.skipped == (
        f"no Node.js {RUNTIMES[OTHER_RUNTIME].version} for x86_64 Linux here: {node} is "
        f"Node.js {BUILDER.toolchain().node}"
    )


@needs_same_node
def test_smoke_test_of_another_architecture_is_skipped_not_run_on_this_machines_node(
        tmp_path: Path) -> None:
    """An arm64 zip's native addon cannot load in an x86_64 node (and the other way round):
    the import is skipped with the reason, as the Python builder's is, never failed."""
    here = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[
        platform.machine().lower()]
    other = "arm64" if here == "x86_64" else "x86_64"
    artifact = make_zip(tmp_path / "f.zip", {
        "index.js": "const addon = require('./addon.node');\nexports.handler = () => addon;\n"})
    with zipfile.ZipFile(artifact, "a") as zf:
        zf.writestr("addon.node", make_elf("aarch64" if other == "arm64" else "x86_64"))
    ctx = _ctx(tmp_path)
    result = BUILDER.smoke_test(artifact, [], _spec(SAME_RUNTIME, architecture=other), ctx)
    assert result.ok and result.error is None
    assert result.skipped == (f"no Node.js {LOCAL_MAJOR} for {other} Linux here: "
                              f"{shutil.which('node')} runs on {here}, the function on {other}")
    # the same function for this machine's architecture is imported (and its fake addon fails)
    native = BUILDER.smoke_test(artifact, [], _spec(SAME_RUNTIME, architecture=here), ctx)
    assert not native.ok and native.skipped is None


@pytest.mark.parametrize(("source", "names", "opaque"), [
    ("exports.handler = 1; module.exports.b = 2; exports['c'] = 3;", {"handler", "b", "c"}, False),
    ("module.exports = { handler, b: 1, async c() {}, 'd': 2 };", {"handler", "b", "c", "d"}, False),
    ("Object.defineProperty(exports, \"handler\", { enumerable: true });", {"handler"}, False),
    ("export const handler = 1; export let b; export var c; export class D {}", {"handler", "b", "c", "D"}, False),
    ("export async function handler() {} export function* gen() {}", {"handler", "gen"}, False),
    ("const a = 1; export { a as handler, a, x as 'y' }; export default a;", {"handler", "a", "y", "default"}, False),
    ("var o={};__export(o,{handler:()=>h,other:()=>x});module.exports=__toCommonJS(o);", {"handler", "other"}, True),
    ("export{o as handler};", {"handler"}, False),
    ("export * from './impl.js';", set(), True),
    ("module.exports = require('./impl');", set(), True),
    ("// exports.handler = 1\n/* export const handler = 2 */ const url = 'http://x//y';", set(), False),
])
def test_static_export_patterns(source: str, names: set[str], opaque: bool) -> None:
    found = static_exports(source)
    assert (found.names, found.opaque) == (names, opaque)


def test_handler_strings_split_as_the_runtime_does() -> None:
    assert split_handler("index.handler") == ("index", "handler")
    assert split_handler("src/app.v1.handler") == ("src/app", "v1.handler")
    assert split_handler("a.b/c.d") == ("a.b/c", "d")
    with pytest.raises(ValueError, match="not of the form `file.export`"):
        split_handler("index")


@needs_same_node
def test_the_import_goes_through_the_build_contexts_runner(tmp_path: Path) -> None:
    """The one door to the outside world: the check's node process is the context's."""
    artifact = make_zip(tmp_path / "f.zip", {"index.js": "const n = 'hand' + 'ler';\nexports[n] = () => 1;\n"})
    ctx = _ctx(tmp_path)
    assert BUILDER.check_handler(artifact, [], "index.handler", SAME_RUNTIME, ctx) == []
    assert any("node" in " ".join(map(str, c.argv)) for c in ctx.runner.log), ctx.runner.log
