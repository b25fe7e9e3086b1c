"""esbuild's options (SAM's ``BuildProperties`` names) change the bundle as esbuild documents:
each test bundles a small dependency-free function with the pinned esbuild, reads the output
and runs it with node."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from lambdaforge.builders.node import NodeBuilder
from lambdaforge.builders.node.bundle import ESM_REQUIRE_BANNER
from lambdaforge.errors import BuildError
from tests.node_builder import npmproject as npmp
from tests.node_builder.npmproject import call, needs_esbuild

BUILDER = NodeBuilder()
pytestmark = needs_esbuild

CJS = "exports.handler = async (event) => 'cjs';\n"


def bundled(tmp_path: Path, make_ctx, files: dict[str, str], handler: str = "index.handler",
            installed: Path | None = None, **options: object) -> Path:
    """Bundle a function made of ``files`` (with ``options``) as a build does; the output dir."""
    root = tmp_path / "proj"
    for rel, text in files.items():
        (root / "fn" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "fn" / rel).write_text(text)
    spec = npmp.function_spec("f", "fn", handler, bundle="esbuild", **options)
    project = npmp.project(root, [spec])
    out = tmp_path / "out"
    assert BUILDER.prepare_sources(spec, project, make_ctx(project), out, installed=installed) == out
    return out


def names(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())


def test_banner_starts_the_bundle(tmp_path: Path, make_ctx) -> None:
    out = bundled(tmp_path, make_ctx, {"index.js": CJS}, banner="/* (c) Example Corp */")
    assert (out / "index.js").read_text().startswith("/* (c) Example Corp */\n")
    assert call(out / "index.js", {}) == "cjs"


def test_an_es_module_gets_the_banner_first_then_the_require_shim(tmp_path: Path, make_ctx) -> None:
    files = {"index.mjs": "export const handler = async () => typeof require;\n"}
    text = (bundled(tmp_path, make_ctx, files, banner="// hello") / "index.mjs").read_text()
    assert text.startswith(f"// hello\n{ESM_REQUIRE_BANNER}")
    # SAM users write the shim themselves: declared twice, `require` would not even parse.
    own = "import { createRequire } from 'module'; const require = createRequire(import.meta.url);"
    out = bundled(tmp_path / "own", make_ctx, files, banner=own)
    text = (out / "index.mjs").read_text()
    assert text.startswith(own) and "__forgeCreateRequire" not in text
    assert call(out / "index.mjs", {}) == "function"


def test_define_replaces_the_expression(tmp_path: Path, make_ctx) -> None:
    files = {"index.js": "exports.handler = async () => [process.env.STAGE, DEBUG];\n"}
    out = bundled(tmp_path, make_ctx, files, define={"process.env.STAGE": '"prod"', "DEBUG": "false"})
    text = (out / "index.js").read_text()
    assert "process.env.STAGE" not in text and "DEBUG" not in text
    assert call(out / "index.js", {}) == ["prod", False]


def test_format_esm_makes_an_es_module_of_a_commonjs_looking_source(tmp_path: Path, make_ctx) -> None:
    files = {"index.js": "export const handler = async () => 'esm';\n"}
    default = bundled(tmp_path / "a", make_ctx, files)
    assert names(default) == ["index.js"] and "module.exports" in (default / "index.js").read_text()
    out = bundled(tmp_path / "b", make_ctx, files, format="esm")
    assert names(out) == ["index.mjs"]
    assert "export {" in (out / "index.mjs").read_text()
    assert call(out / "index.mjs", {}) == "esm"


def test_format_cjs_makes_commonjs_of_an_mjs_handler(tmp_path: Path, make_ctx) -> None:
    out = bundled(tmp_path, make_ctx, {"index.mjs": "export const handler = async () => 1;\n"},
                  format="cjs")
    assert names(out) == ["index.js"]
    text = (out / "index.js").read_text()
    assert "module.exports" in text and "export {" not in text


def test_out_extension_names_the_bundle_and_the_handler_check_finds_it(tmp_path: Path, make_ctx) -> None:
    out = bundled(tmp_path, make_ctx, {"index.js": CJS}, out_extension={".js": ".cjs"}, sourcemap=True)
    assert names(out) == ["index.cjs", "index.cjs.map"]
    artifact = tmp_path / "f.zip"
    with zipfile.ZipFile(artifact, "w") as zf:
        zf.write(out / "index.cjs", "index.cjs")
    assert BUILDER.check_handler(artifact, [], "index.handler", "nodejs22.x") == []
    assert call(out / "index.cjs", {}) == "cjs"


def test_an_es_module_named_js_is_refused_when_the_handler_decides_the_format(
        tmp_path: Path, make_ctx) -> None:
    with pytest.raises(BuildError) as err:
        bundled(tmp_path, make_ctx, {"index.mjs": "export const handler = 1;\n"},
                out_extension={".js": ".js"})
    assert str(err.value) == (
        "handler `index.handler`: an ES module bundle must end in .mjs, not .js: Lambda loads .js "
        'files as CommonJS unless a package.json says "type": "module", and a bundle ships none '
        "(see `out-extension`)")


def test_loader_json_lets_a_reference_file_be_imported(tmp_path: Path, make_ctx) -> None:
    files = {"index.js": "const data = require('./data.reference');\n"
                         "exports.handler = async () => data.greeting;\n",
             "data.reference": '{"greeting": "hello"}\n'}
    out = bundled(tmp_path, make_ctx, files, loader={".reference": "json"})
    assert names(out) == ["index.js"]  # the data is inside the bundle
    assert call(out / "index.js", {}) == "hello"


def test_main_fields_choose_which_entry_of_a_package_is_bundled(tmp_path: Path, make_ctx) -> None:
    installed = tmp_path / "installed"
    npmp.write_package(installed / "dual", {"name": "dual", "version": "1.0.0", "main": "main.js",
                                            "module": "module.js"},
                       {"main.js": "exports.which = 'main';\n", "module.js": "export const which = 'module';\n"})
    files = {"index.js": "const { which } = require('dual');\nexports.handler = async () => which;\n"}
    out = bundled(tmp_path / "a", make_ctx, files, installed=installed)
    assert call(out / "index.js", {}) == "main"  # esbuild's default for node: main, then module
    out = bundled(tmp_path / "b", make_ctx, files, installed=installed, main_fields=("module", "main"))
    assert call(out / "index.js", {}) == "module"


def test_keep_names_keeps_function_names_through_minify(tmp_path: Path, make_ctx) -> None:
    files = {"index.js": "function greetUser() {}\nexports.handler = async () => greetUser.name;\n"}
    out = bundled(tmp_path / "a", make_ctx, files, minify=True)
    assert call(out / "index.js", {}) != "greetUser"  # minified away
    out = bundled(tmp_path / "b", make_ctx, files, minify=True, keep_names=True)
    assert call(out / "index.js", {}) == "greetUser"


def test_target_lowers_newer_syntax(tmp_path: Path, make_ctx) -> None:
    files = {"index.js": "exports.handler = async (e) => e.name ?? 'nobody';\n"}
    default = bundled(tmp_path / "a", make_ctx, files)  # node22, from the runtime
    assert "??" in (default / "index.js").read_text()
    out = bundled(tmp_path / "b", make_ctx, files, target="es2019")
    assert "??" not in (out / "index.js").read_text()
    assert call(out / "index.js", {}) == "nobody"


def test_a_typescript_handler_is_compiled(tmp_path: Path, make_ctx) -> None:
    files = {"index.ts": "interface Event { name?: string }\n"
                         "export const handler = async (e: Event): Promise<string> => `hi ${e.name}`;\n",
             "lib/util.ts": "export const twice = (s: string): string => s + s;\n"}
    out = bundled(tmp_path, make_ctx, files)
    assert names(out) == ["index.js"]
    assert call(out / "index.js", {"name": "ts"}) == "hi ts"
    out = bundled(tmp_path / "nested", make_ctx, {**files, "lib/api.ts":
                  "import { twice } from './util';\nexport const handler = async () => twice('x');\n"},
                  handler="lib/api.handler")
    assert names(out) == ["lib/api.js"]
    assert call(out / "lib/api.js", {}) == "xx"
