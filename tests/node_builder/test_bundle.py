"""Bundling with esbuild: one importable file per handler, deterministic, externals shipped.

esbuild comes from the npm registry. Offline, these tests need ``FORGE_ESBUILD`` to name
an esbuild binary of the pinned version (CI installs one once; see DESIGN.md); otherwise
they are skipped. The ``network`` test installs esbuild itself, as a first build would.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest

from lambdaforge.builders.node import NodeBuilder
from lambdaforge.builders.node.bundle import ESBUILD_ENV, ESBUILD_VERSION, EsbuildUnavailableError, ensure_esbuild
from lambdaforge.errors import BuildError
from tests.node_builder import npmproject as npmp
from tests.node_builder.npmproject import call, needs_esbuild

BUILDER = NodeBuilder()


def bundle(root: Path, make_ctx, out: Path, source: str = "functions/api", **settings) -> list[str]:
    spec = npmp.function_spec("f", source, bundle="esbuild", **settings)
    project = npmp.project(root, [spec])
    assert BUILDER.prepare_sources(spec, project, make_ctx(project), out) == out
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())


@needs_esbuild
def test_cjs_function_bundles_to_one_importable_file(proj_dir: Path, make_ctx, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert bundle(proj_dir, make_ctx, out) == ["index.js"]
    assert call(out / "index.js", {"name": "ada"}) == "> hi ada"
    artifact = tmp_path / "f.zip"
    with zipfile.ZipFile(artifact, "w") as zf:
        zf.write(out / "index.js", "index.js")
    assert BUILDER.check_handler(artifact, [], "index.handler", "nodejs22.x") == []


@needs_esbuild
def test_esm_function_bundles_to_mjs(proj_dir: Path, make_ctx, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert bundle(proj_dir, make_ctx, out, source="functions/esm") == ["index.mjs"]
    assert call(out / "index.mjs", {"name": "bo"}) == "> hi bo"


@needs_esbuild
def test_bundles_are_identical_from_two_checkouts_and_hold_no_absolute_path(
    template: Path, make_ctx, tmp_path: Path
) -> None:
    results = []
    for n, where in enumerate(("a/proj", "b/deeper/other")):
        root = npmp.copy_project(template, tmp_path / where)
        out = tmp_path / f"out{n}"
        assert bundle(root, make_ctx, out, minify=True, sourcemap=True) == ["index.js", "index.js.map"]
        results.append({p.name: p.read_bytes() for p in out.iterdir()})
        for data in results[-1].values():
            assert str(tmp_path).encode() not in data
    assert results[0] == results[1]
    sourcemap = json.loads(results[0]["index.js.map"])
    assert sorted(sourcemap["sources"]) == [
        "../src/index.js", "../src/node_modules/greet/index.js", "../src/node_modules/leftpad-local/index.js"]
    assert all(sourcemap["sourcesContent"])


@needs_esbuild
def test_externals_ship_in_node_modules_and_the_aws_sdk_stays_out(proj_dir: Path, make_ctx, tmp_path: Path) -> None:
    (proj_dir / "functions/api/index.js").write_text(
        "const { greet } = require('greet');\nconst tar = require('tarpkg');\n"
        "exports.handler = async (e) => greet(e.name) + ' ' + tar;\n"
        "exports.sdk = () => require('@aws-sdk/client-s3');\n")
    out = tmp_path / "out"
    assert bundle(proj_dir, make_ctx, out, external=("tarpkg",)) == [
        "index.js", "node_modules/tarpkg/cli.js", "node_modules/tarpkg/index.js", "node_modules/tarpkg/package.json"]
    text = (out / "index.js").read_text()
    assert 'require("tarpkg")' in text and 'require("@aws-sdk/client-s3")' in text
    assert call(out / "index.js", {"name": "cy"}) == "> hi cy tar"


def fake_esbuild(tmp_path: Path, version: str) -> Path:
    path = tmp_path / "esbuild"
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_forge_esbuild_must_be_the_pinned_version(tmp_path: Path, make_ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = fake_esbuild(tmp_path, "0.1.0")
    monkeypatch.setenv(ESBUILD_ENV, str(fake))
    with pytest.raises(BuildError) as err:
        ensure_esbuild(make_ctx(npmp.project(tmp_path)))
    assert str(err.value) == (
        f"{ESBUILD_ENV}={fake} is esbuild 0.1.0; lambdaforge pins {ESBUILD_VERSION} "
        "(it is part of every bundle's cache key)"
    )
    monkeypatch.setenv(ESBUILD_ENV, str(fake_esbuild(tmp_path, ESBUILD_VERSION)))
    assert ensure_esbuild(make_ctx(npmp.project(tmp_path))) == fake


def test_offline_without_esbuild_says_how_to_get_it(tmp_path: Path, make_ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ESBUILD_ENV, raising=False)
    ctx = make_ctx(npmp.project(tmp_path))
    with pytest.raises(EsbuildUnavailableError) as err:
        ensure_esbuild(ctx)
    assert str(err.value).startswith(
        f"cannot install esbuild {ESBUILD_VERSION} from npm into {ctx.tool_cache / f'esbuild-{ESBUILD_VERSION}'}; "
        f"run once online, or set {ESBUILD_ENV} to an esbuild {ESBUILD_VERSION} binary\n$ npm install"
    )
    # No half install left behind, neither in place nor as a temporary directory.
    assert [p.name for p in ctx.tool_cache.iterdir() if p.is_dir()] == ["npm-cache"]


@pytest.mark.network
def test_bundle_a_function_with_a_real_npm_package(tmp_path: Path, make_ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    """First use installs esbuild from npm into the tool cache; the dependency comes from npm."""
    monkeypatch.delenv(ESBUILD_ENV, raising=False)
    root = tmp_path / "proj"
    fn = npmp.write_package(root / "functions/ms", {
        "name": "ms-fn", "version": "1.0.0", "type": "module", "dependencies": {"ms": "2.1.3"}},
        {"index.js": "import ms from 'ms';\nexport const handler = async (e) => ms(e.ms, { long: true });\n"})
    subprocess.run(["npm", "install", "--package-lock-only", "--no-audit", "--no-fund"], cwd=fn,
                   check=True, capture_output=True, env={**os.environ, "npm_config_cache": str(tmp_path / "c")})
    spec = npmp.function_spec("ms", "functions/ms", bundle="esbuild", architecture="arm64")
    project = npmp.project(root, [spec])
    ctx = make_ctx(project, offline=False)
    out = tmp_path / "out"
    assert BUILDER.prepare_sources(spec, project, ctx, out) == out
    assert sorted(p.name for p in out.iterdir()) == ["index.mjs"]
    assert call(out / "index.mjs", {"ms": 120000}) == "2 minutes"
    assert (ctx.tool_cache / f"esbuild-{ESBUILD_VERSION}").is_dir()


@needs_esbuild
def test_bundling_reuses_the_install_target_tree_given_as_a_zip(proj_dir: Path, make_ctx, tmp_path: Path) -> None:
    spec = npmp.function_spec("f", "functions/api", bundle="esbuild", external=("tarpkg",))
    project = npmp.project(proj_dir, [spec])
    ctx = make_ctx(project)
    tree = tmp_path / "tree"
    BUILDER.install(BUILDER.dependency_inputs(spec, spec.source, project), tree, ctx)
    deps_zip = tmp_path / "deps.zip"
    with zipfile.ZipFile(deps_zip, "w") as zf:
        for path in sorted(tree.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(tree).as_posix())
    ctx.runner.log.clear()
    out = tmp_path / "out"
    assert BUILDER.prepare_sources(spec, project, ctx, out, installed=deps_zip) == out
    assert [r.argv[1] for r in ctx.runner.log] == ["--version", "src/index.js"]  # esbuild only, no npm
    assert (out / "node_modules/tarpkg/index.js").is_file()
    assert call(out / "index.js", {"name": "di"}) == "> hi di"


def install_zip(root: Path, make_ctx, tmp_path: Path, source: str = "functions/api") -> tuple[Path, Path]:
    """The function's install as the pipeline stores it (deps.zip), and its tree."""
    spec = npmp.function_spec("f", source)
    project = npmp.project(root, [spec])
    tree = tmp_path / "tree"
    BUILDER.install(BUILDER.dependency_inputs(spec, source, project), tree, make_ctx(project))
    deps_zip = tmp_path / "deps.zip"
    with zipfile.ZipFile(deps_zip, "w") as zf:
        for path in sorted(tree.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(tree).as_posix())
    return deps_zip, tree


def bundle_from_a_copied_tree(source_dir: Path, tree: Path, settings: dict, work: Path) -> dict[str, bytes]:
    """What bundling did before install trees were kept: sources and a copy of the whole
    installed tree in src/, esbuild's command line without the link flags."""
    from lambdaforge.builders.node.bundle import esbuild_argv, is_esm
    from lambdaforge.builders.node.settings import NodeSettings, bundle_extension

    spec = npmp.function_spec("f", "x", bundle="esbuild", **settings)
    options = NodeSettings.of(spec)
    shutil.copytree(source_dir, work / "src", ignore=shutil.ignore_patterns("node_modules"))
    shutil.copytree(tree, work / "src/node_modules")
    esm = options.format == "esm" if options.format else is_esm(source_dir, source_dir / "index.js")
    argv = [a for a in esbuild_argv(Path(os.environ[ESBUILD_ENV]), "src/index.js", "nodejs22.x", options,
                                    esm, bundle_extension(esm, options.out_extension))
            if a not in ("--preserve-symlinks", "--metafile=meta.json")]
    subprocess.run(argv, cwd=work, check=True, capture_output=True)
    return {p.relative_to(work / "out").as_posix(): p.read_bytes() for p in (work / "out").rglob("*")}


@needs_esbuild
@pytest.mark.parametrize(("source", "settings"), [
    ("functions/api", {"minify": True, "sourcemap": True}),
    ("functions/api", {}),  # unminified: esbuild names every module's path in a comment
    ("functions/esm", {"sourcemap": True, "banner": "/* b */"}),
])
def test_a_bundle_through_the_kept_tree_has_the_bytes_a_copied_tree_gives(
        proj_dir: Path, make_ctx, tmp_path: Path, source: str, settings: dict) -> None:
    deps_zip, tree = install_zip(proj_dir, make_ctx, tmp_path, source)
    expected = bundle_from_a_copied_tree(proj_dir / source, tree, settings, tmp_path / "old")
    spec = npmp.function_spec("f", source, bundle="esbuild", **settings)
    project = npmp.project(proj_dir, [spec])
    ctx = make_ctx(project)
    out = tmp_path / "out"
    assert BUILDER.prepare_sources(spec, project, ctx, out, installed=deps_zip) == out
    assert {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*")} == expected
    assert ctx.warnings == []


@needs_esbuild
def test_functions_sharing_an_install_bundle_against_one_kept_tree(template: Path, make_ctx, tmp_path: Path) -> None:
    root = npmp.copy_project(template, tmp_path / "proj")
    shutil.copytree(root / "functions/api", root / "functions/api2")
    deps_zip, _ = install_zip(root, make_ctx, tmp_path)
    key = "9f" * 32
    for n, source in enumerate(("functions/api", "functions/api2")):
        spec = npmp.function_spec(f"f{n}", source, bundle="esbuild")
        project = npmp.project(root, [spec])
        ctx = make_ctx(project)
        ctx.install_key = key
        out = tmp_path / f"out{n}"
        assert BUILDER.prepare_sources(spec, project, ctx, out, installed=deps_zip) == out
        assert [r.argv[1] for r in ctx.runner.log] == ["--version", "src/index.js"]  # no npm, no unzip
        assert call(out / "index.js", {"name": "ed"}) == "> hi ed"
    store = tmp_path / "tools" / "node-trees"
    assert sorted(p.name for p in store.iterdir()) == [key, f"{key}.lock"]


@needs_esbuild
def test_a_module_edited_in_the_kept_tree_is_caught_and_the_bundle_made_again(
        proj_dir: Path, make_ctx, tmp_path: Path) -> None:
    deps_zip, _ = install_zip(proj_dir, make_ctx, tmp_path)
    spec = npmp.function_spec("f", "functions/api", bundle="esbuild")
    project = npmp.project(proj_dir, [spec])
    key = "9f" * 32
    for attempt in ("first", "after the edit"):
        ctx = make_ctx(project)
        ctx.install_key = key
        out = tmp_path / "out"
        assert BUILDER.prepare_sources(spec, project, ctx, out, installed=deps_zip) == out
        assert call(out / "index.js", {"name": "fa"}) == "> hi fa", attempt
        # Someone debugging edits the extracted copy of a dependency the bundle holds.
        greet = tmp_path / "tools/node-trees" / key / "node_modules/greet/index.js"
        greet.chmod(0o644)
        greet.write_text("exports.greet = () => 'patched';\n")
    assert ctx.warnings == [f"the extracted dependencies of install {key[:12]} changed "
                            "(node_modules/greet/index.js was modified); extracting them again"]


@needs_esbuild
def test_an_import_leaving_the_source_is_named_with_the_way_out(tmp_path: Path, make_ctx) -> None:
    """esbuild names the scratch copy's paths (``src/src/index.ts``) and only says "Could
    not resolve"; the error says the import leaves the source, which is all that is copied."""
    root = tmp_path / "proj"
    (root / "fn" / "src").mkdir(parents=True)
    (root / "shared").mkdir()
    (root / "fn" / "package.json").write_text('{"name": "a", "version": "1.0.0"}\n')
    (root / "fn" / "src" / "index.ts").write_text(
        'import {y} from "../../shared/c";\nimport {z} from "./missing";\n'
        "export const handler = async () => y + z;\n")
    (root / "shared" / "c.ts").write_text("export const y = 5;\n")
    with pytest.raises(BuildError) as err:
        bundle(root, make_ctx, tmp_path / "out", source="fn", handler="src/index.handler")
    message = str(err.value)
    assert 'Could not resolve "../../shared/c"' in message
    assert ('note: "../../shared/c" in src/index.ts leaves the function\'s source (fn/), and only '
            "the source is bundled") in message
    assert '"./missing"' not in message.split("note:")[1]  # inside the source: no such note


@needs_esbuild
def test_a_tsconfig_extending_a_base_outside_the_source_fails_naming_it(tmp_path: Path, make_ctx) -> None:
    """esbuild only warns that it cannot find the base (it sees the source's copy alone) and
    bundles without its compilerOptions (here legacy decorators): refused, not silent."""
    root = tmp_path / "proj"
    (root / "services/orders/src").mkdir(parents=True)
    (root / "tsconfig.base.json").write_text('{"compilerOptions": {"experimentalDecorators": true}}\n')
    (root / "services/orders/tsconfig.json").write_text('{"extends": "../../tsconfig.base.json"}\n')
    (root / "services/orders/package.json").write_text('{"name": "orders", "version": "1.0.0"}\n')
    (root / "services/orders/src/index.ts").write_text("export const handler = async () => 1;\n")
    with pytest.raises(BuildError) as err:
        bundle(root, make_ctx, tmp_path / "out", source="services/orders", handler="src/index.handler")
    assert str(err.value) == (
        "esbuild could not bundle handler `src/index.handler`: `services/orders/tsconfig.json` "
        "extends `../../tsconfig.base.json`, outside the function's source (services/orders/), "
        "which is all esbuild sees: its compilerOptions would be ignored; copy the ones the "
        "function needs into `services/orders/tsconfig.json`, or set `source` to a folder that "
        "holds the base too")


@needs_esbuild
def test_esbuild_warnings_of_a_bundle_that_succeeds_are_the_targets_warnings(
        tmp_path: Path, make_ctx) -> None:
    root = tmp_path / "proj"
    (root / "fn").mkdir(parents=True)
    (root / "fn/package.json").write_text('{"name": "a", "version": "1.0.0"}\n')
    (root / "fn/index.js").write_text("exports.handler = async () => ({a: 1, a: 2});\n")
    spec = npmp.function_spec("f", "fn", bundle="esbuild")
    project = npmp.project(root, [spec])
    ctx = make_ctx(project)
    assert BUILDER.prepare_sources(spec, project, ctx, tmp_path / "out") == tmp_path / "out"
    assert ctx.warnings == ['esbuild: Duplicate key "a" in object literal [duplicate-object-key] '
                            "(index.js:1:38)"]
