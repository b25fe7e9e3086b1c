"""npm ci for the Lambda platform: what lands in the node_modules tree, and that it is
the same tree wherever the project is checked out."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdaforge.builders.node import NodeBuilder
from lambdaforge.builders.node.install import NPM_DROPPINGS, npm_ci_argv
from tests.node_builder import npmproject as npmp
from tests.support.elf import MACHO_BYTES, PE_BYTES, make_elf


def install(root: Path, make_ctx, dest: Path, **settings):
    spec = npmp.function_spec("api", "functions/api", **settings)
    project = npmp.project(root, [spec])
    builder = NodeBuilder()
    inputs = builder.dependency_inputs(spec, spec.source, project)
    return builder.install(inputs, dest, make_ctx(project))


def test_production_tree_without_dev_dependencies_or_npm_droppings(proj_dir: Path, make_ctx, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    result = install(proj_dir, make_ctx, dest)
    assert sorted(p.name for p in dest.iterdir()) == ["greet", "leftpad-local", "plat-x64", "tarpkg"]
    assert not (dest / "devtool").exists()
    for name in NPM_DROPPINGS:  # hidden lockfile and the .bin symlinks of tarpkg's CLI
        assert not list(dest.rglob(name))
    assert not [p for p in dest.rglob("*") if p.is_symlink()]
    assert [(d.name, d.version, d.files, d.requires) for d in result.distributions] == [
        ("greet", "1.2.3", ("greet/README.md", "greet/index.js", "greet/package.json"), ("leftpad-local",)),
        ("leftpad-local", "0.1.0", ("leftpad-local/index.js", "leftpad-local/package.json"), ()),
        ("plat-x64", "1.0.0", ("plat-x64/index.js", "plat-x64/package.json"), ()),
        ("tarpkg", "1.0.0", ("tarpkg/cli.js", "tarpkg/index.js", "tarpkg/package.json"), ()),
    ]
    assert result.notes == ["installed for linux/x64 (glibc): plat-x64"]


def test_optional_platform_packages_follow_the_target_architecture(proj_dir: Path, make_ctx, tmp_path: Path) -> None:
    """--cpu=arm64 on an x64 host installs the arm64 variant only (npm 11 honours it)."""
    dest = tmp_path / "arm"
    result = install(proj_dir, make_ctx, dest, architecture="arm64")
    assert sorted(p.name for p in dest.iterdir()) == ["greet", "leftpad-local", "plat-arm64", "tarpkg"]
    assert (dest / "plat-arm64/index.js").read_text() == "module.exports = 'arm64';\n"
    assert result.notes == ["installed for linux/arm64 (glibc): plat-arm64"]


def test_two_checkouts_install_identical_trees(template: Path, make_ctx, tmp_path: Path) -> None:
    a = npmp.copy_project(template, tmp_path / "a" / "proj")
    b = npmp.copy_project(template, tmp_path / "b" / "deeper" / "clone")
    install(a, make_ctx, tmp_path / "tree-a")
    install(b, make_ctx, tmp_path / "tree-b")
    digest_a = npmp.tree_digest(tmp_path / "tree-a")
    assert digest_a == npmp.tree_digest(tmp_path / "tree-b")
    # npm sets modes itself: files 0644, and a package's bin targets executable.
    assert digest_a["tarpkg/index.js"][0] == 0o644
    assert digest_a["tarpkg/cli.js"][0] == 0o755


def test_the_source_directory_is_left_alone(proj_dir: Path, make_ctx, tmp_path: Path) -> None:
    """npm runs in scratch: a developer's own node_modules is neither used nor deleted."""
    own = proj_dir / "functions/api/node_modules/devtool"
    own.mkdir(parents=True)
    (own / "marker").write_text("mine")
    install(proj_dir, make_ctx, tmp_path / "out")
    assert (own / "marker").read_text() == "mine"
    assert not (tmp_path / "out/devtool").exists()


def test_install_scripts_are_skipped_and_reported(proj_dir: Path, make_ctx, tmp_path: Path) -> None:
    fn = proj_dir / "functions/scripted"
    npmp.write_package(proj_dir / "libs/scripted", {
        "name": "scripted", "version": "1.0.0",
        "scripts": {"install": "node -e \"require('fs').writeFileSync('built.txt', 'x')\""},
    }, {"index.js": "module.exports = 1;\n"})
    npmp.write_package(fn, {"name": "s", "version": "1.0.0",
                            "dependencies": {"scripted": "file:../../libs/scripted"}}, {})
    npmp.lock(fn, tmp_path / "npm-cache")
    builder = NodeBuilder()
    for allow, built in ((False, False), (True, True)):
        spec = npmp.function_spec("s", "functions/scripted", allow_scripts=allow)
        project = npmp.project(proj_dir, [spec])
        dest = tmp_path / f"out-{allow}"
        result = builder.install(builder.dependency_inputs(spec, spec.source, project), dest, make_ctx(project))
        assert (dest / "scripted/built.txt").exists() is built
        expected = [] if allow else [
            "install scripts not run for scripted (allow-scripts = true runs them; a native addon "
            "they build is built for this machine, not for Lambda)"
        ]
        assert result.notes == expected


def test_npm_command_line_pins_every_tree_setting(tmp_path: Path) -> None:
    argv = npm_ci_argv("arm64", allow_scripts=False, cache=tmp_path, offline=True)
    assert argv[:2] == ["npm", "ci"]
    for flag in ("--omit=dev", "--install-links", "--install-strategy=hoisted", "--ignore-scripts",
                 "--os=linux", "--cpu=arm64", "--libc=glibc", "--offline", "--no-audit", "--no-fund"):
        assert flag in argv
    assert "--ignore-scripts" not in npm_ci_argv("x86_64", True, tmp_path, False)


def _prebuilt_project(root: Path, prebuilds: dict[str, bytes]) -> Path:
    """functions/api depending on `addon`, a tarball laid out as prebuildify packs one."""
    npmp.write_tarball(root / "vendor/addon-1.0.0.tgz", {"name": "addon", "version": "1.0.0"},
                       {"index.js": "module.exports = require('node-gyp-build')(__dirname);\n",
                        **{f"prebuilds/{rel}": data for rel, data in prebuilds.items()}})
    npmp.write_package(root / "functions/api",
                       {"name": "api", "version": "1.0.0",
                        "dependencies": {"addon": "file:../../vendor/addon-1.0.0.tgz"}},
                       {"index.js": "exports.handler = async () => require('addon');\n"})
    npmp.lock(root / "functions/api", root / "npm-cache")
    return root


#: what bcrypt 6 ships, in node-gyp-build's layout (one fake addon per platform)
BCRYPT_LIKE = {
    "darwin-x64+arm64/addon.node": MACHO_BYTES,
    "win32-x64/addon.node": PE_BYTES,
    "linux-arm/addon.armv7.node": make_elf("aarch64"),  # (its bytes are not looked at)
    "linux-arm64/addon.armv8.node": make_elf("aarch64"),
    "linux-arm64/addon.musl.node": make_elf("aarch64", musl=True),
    "linux-x64/addon.glibc.node": make_elf("x86_64"),
    "linux-x64/addon.musl.node": make_elf("x86_64", musl=True),
    "linux-x64/addon.electron.napi.node": make_elf("x86_64"),
    "linux-x64/README.txt": b"not an addon: left alone\n",
}


@pytest.mark.parametrize(("architecture", "kept"), [
    ("x86_64", ["linux-x64/README.txt", "linux-x64/addon.glibc.node"]),
    ("arm64", ["linux-arm64/addon.armv8.node"]),
])
def test_prebuilds_for_other_platforms_are_left_out(tmp_path: Path, make_ctx, architecture: str,
                                                    kept: list[str]) -> None:
    """node-gyp-build loads linux-<arch>, glibc, Node.js prebuilds on Lambda and nothing else:
    the rest goes, with a note, so the zip holds (and the native check sees) what can load."""
    root = _prebuilt_project(tmp_path / "proj", BCRYPT_LIKE)
    dest = tmp_path / "out"
    result = install(root, make_ctx, dest, architecture=architecture)
    prebuilds = dest / "addon/prebuilds"
    assert sorted(p.relative_to(prebuilds).as_posix() for p in prebuilds.rglob("*")
                  if p.is_file()) == kept
    cpu = "x64" if architecture == "x86_64" else "arm64"
    removed = len(BCRYPT_LIKE) - 1 - sum(k.endswith(".node") for k in kept)  # README.txt: no addon
    assert result.notes == [f"left out {removed} prebuilt addons for other platforms "
                            f"(node-gyp-build loads only linux-{cpu} glibc ones on Lambda) from addon"]
    assert [d.files for d in result.distributions if d.name == "addon"] == [tuple(sorted(
        ["addon/index.js", "addon/package.json", *(f"addon/prebuilds/{k}" for k in kept)]))]


def test_a_package_with_no_prebuild_for_the_target_is_a_warning(tmp_path: Path, make_ctx) -> None:
    """bufferutil ships no linux-arm64 prebuild and falls back to JavaScript without one, so
    the install goes on (it failed, calling require('bufferutil') doomed); the note says
    what node-gyp-build will not find and the ways out."""
    root = _prebuilt_project(tmp_path / "proj", {"darwin-arm64/addon.node": MACHO_BYTES,
                                                 "linux-x64/addon.glibc.node": make_elf("x86_64")})
    dest = tmp_path / "out"
    result = install(root, make_ctx, dest, architecture="arm64")
    assert not (dest / "addon/prebuilds").exists() or not list((dest / "addon/prebuilds").rglob("*.node"))
    assert result.notes[-1] == (
        "node_modules/addon/prebuilds/ has no addon for linux-arm64 (glibc), only for "
        "darwin-arm64, linux-x64: node-gyp-build finds none on Lambda, so require('addon') "
        "works there only if the package falls back without it (bufferutil and utf-8-validate "
        "do) or nothing needs it; otherwise use a version that ships a linux-arm64 prebuild, "
        'or set architecture = "x86_64" (it has linux-x64)')
