"""What a Node install depends on: package.json + lockfile, canonical, and nothing else."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lambdaforge.builders.node import NodeBuilder
from lambdaforge.errors import ConfigError
from tests.node_builder import npmproject as npmp


def inputs(root: Path, source: str = "functions/api", **settings):
    spec = npmp.function_spec("api", source, **settings)
    return NodeBuilder().dependency_inputs(spec, spec.source, npmp.project(root, [spec]))


def test_same_inputs_in_two_checkouts_are_equal(template: Path, tmp_path: Path) -> None:
    a = npmp.copy_project(template, tmp_path / "a" / "checkout")
    b = npmp.copy_project(template, tmp_path / "elsewhere" / "other-name")
    ia, ib = inputs(a), inputs(b)
    assert ia == ib
    # Local file: packages are inputs by project-relative path; no absolute path anywhere.
    assert ia.directories == ("libs/devtool", "libs/greet", "libs/leftpad")
    assert ia.files == ("vendor/plat-arm64-1.0.0.tgz", "vendor/plat-x64-1.0.0.tgz", "vendor/tarpkg-1.0.0.tgz")
    assert str(tmp_path) not in repr(ia)
    assert dict(ia.canonical)["base"] == "functions/api"


def test_lockfile_change_changes_inputs_but_reformatting_does_not(proj_dir: Path, tmp_path: Path) -> None:
    before = inputs(proj_dir)
    lock = proj_dir / "functions/api/package-lock.json"
    lock.write_text(json.dumps(json.loads(lock.read_text()), indent=8), encoding="utf-8")
    assert inputs(proj_dir) == before

    # A new version of a local dependency, re-locked: a different install. (npm keeps a
    # satisfied file: entry as locked, hence the fresh lock; the directory's content is an
    # input of its own, see `directories`.)
    manifest = json.loads((proj_dir / "libs/leftpad/package.json").read_text())
    npmp.write_json(proj_dir / "libs/leftpad/package.json", {**manifest, "version": "0.2.0"})
    lock.unlink()
    npmp.lock(proj_dir / "functions/api", tmp_path / "npm-cache")
    after = inputs(proj_dir)
    assert after != before
    assert '"version":"0.2.0"' in dict(after.canonical)["package-lock.json"]


def test_package_name_and_scripts_do_not_change_inputs(proj_dir: Path) -> None:
    """Only the fields that change what npm installs count, so functions share installs."""
    before = inputs(proj_dir)
    path = proj_dir / "functions/api/package.json"
    manifest = json.loads(path.read_text())
    npmp.write_json(path, {**manifest, "description": "x", "scripts": {"test": "jest"}, "main": "a.js"})
    assert inputs(proj_dir) == before


def test_settings_that_change_the_tree_change_inputs(proj_dir: Path) -> None:
    base = inputs(proj_dir)
    assert inputs(proj_dir, architecture="arm64") != base
    assert dict(inputs(proj_dir, architecture="arm64").canonical)["platform"] == "--os=linux --cpu=arm64 --libc=glibc"
    assert dict(inputs(proj_dir, allow_scripts=True).canonical)["scripts"] == "allow"
    assert dict(base.canonical)["scripts"] == "ignore"


def test_npmrc_settings_that_change_the_tree_are_keyed_and_its_tokens_are_not(proj_dir: Path) -> None:
    """`npm ci` in scratch reads the .npmrc beside the lockfile: `legacy-peer-deps` leaves
    peers out, `include=dev` beats `--omit=dev`. Those are in the install's identity,
    normalised; auth and registry settings are not, nor anything of their values."""
    base = inputs(proj_dir)
    npmrc = proj_dir / "functions/api/.npmrc"
    npmrc.write_text("//registry.acme.invalid/:_authToken=s3cr3t-token\n"
                     "@acme:registry=https://registry.acme.invalid/\n")
    assert inputs(proj_dir) == base
    npmrc.write_text("# peers as npm 6 did\n//registry.acme.invalid/:_authToken=s3cr3t-token\n"
                     "Legacy_Peer_Deps = TRUE\ninclude[]=dev\ninclude[]=optional\n"
                     "public-hoist-pattern[]=*eslint*\nengine-strict=false\nengine-strict=true\n")
    keyed = inputs(proj_dir)
    assert keyed != base
    assert dict(keyed.canonical)["npmrc"] == (
        "engine-strict=true\ninclude[]=dev,optional\nlegacy-peer-deps=true\n"
        "public-hoist-pattern[]=*eslint*")
    assert "s3cr3t" not in repr(keyed) and "acme" not in repr(keyed)
    npmrc.write_text("legacy-peer-deps=true\n")
    assert inputs(proj_dir) != keyed
    assert dict(inputs(proj_dir).canonical)["npmrc"] == "legacy-peer-deps=true"


def test_missing_lockfile_names_the_fix(proj_dir: Path) -> None:
    (proj_dir / "functions/api/package-lock.json").unlink()
    with pytest.raises(ConfigError) as err:
        inputs(proj_dir)
    # its local directory packages must be locked in install form (not links)
    assert str(err.value) == (
        "functions/api/package.json: no package-lock.json beside it; a lockfile is required for a "
        "reproducible install: run `npm install --package-lock-only --install-links` in functions/api"
    )


def test_linked_local_package_is_refused(proj_dir: Path, tmp_path: Path) -> None:
    """npm's default for file: directories is a symlink (and no install of its dependencies)."""
    fn = proj_dir / "functions/esm"
    (fn / "package-lock.json").unlink()
    env = npmp.npm_env(tmp_path / "npm-cache")
    import subprocess

    subprocess.run(["npm", "install", "--package-lock-only", "--offline", "--no-audit", "--no-fund"],
                   cwd=fn, env=env, check=True, capture_output=True)
    with pytest.raises(ConfigError) as err:
        inputs(proj_dir, source="functions/esm")
    assert str(err.value) == (
        "functions/esm/package-lock.json: `node_modules/greet` is a link to `../../libs/greet`, which "
        "a Lambda zip cannot hold: regenerate the lockfile with "
        "`npm install --package-lock-only --install-links` in functions/esm"
    )


def test_no_production_dependencies_means_no_install(proj_dir: Path) -> None:
    fn = proj_dir / "functions/devonly"
    npmp.write_package(fn, {"name": "d", "version": "1.0.0", "devDependencies": {"devtool": "*"}},
                       {"index.js": "exports.handler = () => 1;\n"})
    assert inputs(proj_dir, source="functions/devonly") is None
    shutil.rmtree(fn / "package.json", ignore_errors=True)
    (fn / "package.json").unlink()
    assert inputs(proj_dir, source="functions/devonly") is None


def test_local_package_outside_the_project_is_refused(proj_dir: Path) -> None:
    lock = proj_dir / "functions/esm/package-lock.json"
    data = json.loads(lock.read_text())
    data["packages"]["node_modules/greet"]["resolved"] = "file:../../../outside/greet"
    lock.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as err:
        inputs(proj_dir, source="functions/esm")
    assert str(err.value) == (
        "functions/esm/package-lock.json: `node_modules/greet` comes from `file:../../../outside/greet`, "
        "outside the project root; local packages must live inside the project"
    )


def test_requirements_may_name_another_package_json(proj_dir: Path) -> None:
    assert inputs(proj_dir, source="functions/esm", requirements="functions/api") == inputs(proj_dir)
    with pytest.raises(ConfigError, match="must name a package.json"):
        inputs(proj_dir, requirements="functions/api/index.js")


def test_esbuild_is_a_package_tool_only_when_bundling() -> None:
    builder = NodeBuilder()
    plain = npmp.function_spec("f", "f")
    bundled = npmp.function_spec("f", "f", bundle="esbuild")
    # the install runs node and npm whatever its consumers do with it: one install key
    assert builder.tool_versions(plain) == builder.tool_versions(bundled)
    assert set(builder.tool_versions(plain)) == {"node", "npm"}
    assert builder.tool_versions(plain)["npm"].count(".") == 2
    # an unbundled package's files may be chosen by npm (package.json `files`, .npmignore)
    assert builder.package_tool_versions(plain) == {"npm": builder.tool_versions(plain)["npm"]}
    assert set(builder.package_tool_versions(bundled)) == {"esbuild"}
