"""Packaging as npm would: a Node.js source with a ``files`` list or ``.npmignore`` ships
what ``npm pack`` (the real npm, run offline) would put in its tarball."""

from __future__ import annotations

import json
from pathlib import Path

from lambdaforge.builders.node import NodeBuilder
from lambdaforge.builders.node.packlist import declares_contents
from tests.node_builder import npmproject as npmp

BUILDER = NodeBuilder()
#: what a real function directory holds besides its code
CLUTTER = {
    "README.md": "# f\n", "LICENSE": "MIT\n", "CHANGELOG.md": "1.0\n", "docs/guide.md": "",
    "test/app.test.js": "", ".npmrc": "//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n",
    "package-lock.json": "{}\n", "node_modules/dev/index.js": "", ".DS_Store": "", "app.js.orig": "",
}


def files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def prepared(root: Path, make_ctx, tmp_path: Path, *, layer: bool = False) -> list[str]:
    spec = npmp.layer_spec("l", "src") if layer else npmp.function_spec("f", "src")
    project = npmp.project(root, *(([], [spec]) if layer else ([spec],)))
    out = BUILDER.prepare_sources(spec, project, make_ctx(project), tmp_path / "out")
    assert out is not None
    return files(out)


def test_a_files_list_ships_what_it_names_and_what_npm_always_includes(tmp_path: Path, make_ctx) -> None:
    root = tmp_path / "proj"
    npmp.write_package(root / "src", {"name": "f", "version": "1.0.0", "main": "main.js",
                                      "files": ["index.js", "lib/", "!lib/*.test.js"]},
                       {**CLUTTER, "index.js": "", "main.js": "", "lib/a.js": "", "lib/a.test.js": "",
                        "lib/deep/b.js": "", "scripts/build.sh": ""})
    assert prepared(root, make_ctx, tmp_path) == [
        "LICENSE", "README.md", "index.js", "lib/a.js", "lib/deep/b.js", "main.js", "package.json"]
    assert (tmp_path / "out/package.json").read_bytes() == (root / "src/package.json").read_bytes()


def test_npmignore_files_exclude_at_every_level_and_replace_gitignore(tmp_path: Path, make_ctx) -> None:
    root = tmp_path / "proj"
    npmp.write_package(root / "src", {"name": "f", "version": "1.0.0"},
                       {**CLUTTER, "index.js": "", "util.js": "", "debug.log": "",
                        ".npmignore": "test/\ndocs/\n*.log\n", ".gitignore": "util.js\n",
                        "lib/a.js": "", "lib/fixtures/big.json": "", "lib/.npmignore": "fixtures/\n"})
    # .gitignore counts only where there is no .npmignore: util.js ships.
    assert prepared(root, make_ctx, tmp_path) == [
        "CHANGELOG.md", "LICENSE", "README.md", "index.js", "lib/a.js", "package.json", "util.js"]


def test_a_nested_npmignore_overrides_files_but_a_root_one_does_not(tmp_path: Path, make_ctx) -> None:
    root = tmp_path / "proj"
    npmp.write_package(root / "src", {"name": "f", "version": "1.0.0", "files": ["index.js", "lib"]},
                       {"index.js": "", ".npmignore": "index.js\n", "lib/a.js": "", "lib/b.js": "",
                        "lib/.npmignore": "b.js\n"})
    assert prepared(root, make_ctx, tmp_path) == ["index.js", "lib/a.js", "package.json"]


def test_a_package_json_without_name_or_version_is_packed_all_the_same(tmp_path: Path, make_ctx) -> None:
    root = tmp_path / "proj"
    npmp.write_package(root / "src", {"files": ["index.js"]}, {"index.js": "", "other.js": ""})
    assert prepared(root, make_ctx, tmp_path) == ["index.js", "package.json"]
    assert json.loads((tmp_path / "out/package.json").read_text()) == {"files": ["index.js"]}


def test_loose_layer_files_with_an_npmignore_and_no_package_json(tmp_path: Path, make_ctx) -> None:
    root = tmp_path / "proj"
    (root / "src/fixtures").mkdir(parents=True)
    for name, text in {"util.js": "", "fixtures/a.json": "", ".npmignore": "fixtures/\n"}.items():
        (root / "src" / name).write_text(text)
    # npm's stand-in package.json is not the user's: it does not ship.
    assert prepared(root, make_ctx, tmp_path, layer=True) == ["util.js"]


def test_a_package_layer_ships_its_files_list_under_its_name(tmp_path: Path, make_ctx) -> None:
    root = tmp_path / "proj"
    npmp.write_package(root / "src", {"name": "@acme/fmt", "version": "1.0.0", "files": ["dist/"]},
                       {"dist/index.js": "", "src/index.ts": "", "tsconfig.json": "{}", "README.md": ""})
    assert prepared(root, make_ctx, tmp_path, layer=True) == [
        "nodejs/node_modules/@acme/fmt/README.md", "nodejs/node_modules/@acme/fmt/dist/index.js",
        "nodejs/node_modules/@acme/fmt/package.json"]


def test_a_source_that_declares_nothing_ships_as_before_without_asking_npm(tmp_path: Path, make_ctx) -> None:
    root = tmp_path / "proj"
    npmp.write_package(root / "src", {"name": "f", "version": "1.0.0"},
                       {"index.js": "", "test/t.js": "", "package-lock.json": "{}\n",
                        "node_modules/x/.npmignore": "*\n"})  # a developer's install says nothing
    assert not declares_contents(root / "src")
    spec = npmp.function_spec("f", "src")
    project = npmp.project(root, [spec])
    ctx = make_ctx(project)
    out = BUILDER.prepare_sources(spec, project, ctx, tmp_path / "out")
    assert files(out) == ["index.js", "package-lock.json", "package.json", "test/t.js"]
    assert ctx.runner.log == []


def test_layers_are_never_bundled_so_npm_is_their_package_tool() -> None:
    layer = npmp.layer_spec("l", "src", bundle="esbuild")
    assert BUILDER.package_tool_versions(layer) == {"npm": BUILDER.toolchain().npm}
