"""``forge validate`` reports every missing or stale Node.js lockfile at once, each located
and with the command that fixes it; ``forge build`` refuses a stale one before npm runs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from lambdaforge import cli
from lambdaforge.builders.node import lockfile
from lambdaforge.errors import ConfigError
from tests.node_builder import npmproject as npmp

CONFIG = """\
[defaults]
runtime = "nodejs22.x"

[layers.fmt]
source = "layers/fmt"

[functions.api]
source = "functions/api"
handler = "index.handler"

[functions.esm]
source = "functions/esm"
handler = "index.handler"

[functions.orders]
source = "functions/orders"
handler = "index.handler"

[functions.tar]
source = "functions/tar"
handler = "index.handler"
"""


def forge(capsys: pytest.CaptureFixture[str], root: Path, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["-C", str(root), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def add_dependency(package_dir: Path, field: str, name: str, spec: str) -> None:
    """Edit package.json as a person does, without locking again."""
    path = package_dir / "package.json"
    manifest = json.loads(path.read_text())
    manifest.setdefault(field, {})[name] = spec
    path.write_text(json.dumps(manifest, indent=2) + "\n")


@pytest.fixture
def project(proj_dir: Path) -> Path:
    """Four Node.js functions and a layer: two locked, two never locked, one layer unlocked."""
    (proj_dir / "lambdaforge.toml").write_text(CONFIG)
    npmp.write_package(proj_dir / "functions/orders", {"name": "orders", "version": "1.0.0",
                                                       "dependencies": {"greet": "file:../../libs/greet"}},
                       {"index.js": "exports.handler = async () => 1;\n"})
    npmp.write_package(proj_dir / "functions/tar", {"name": "tar", "version": "1.0.0",
                                                    "dependencies": {"tarpkg": "file:../../vendor/tarpkg-1.0.0.tgz"}},
                       {"index.js": "exports.handler = async () => 1;\n"})
    npmp.write_package(proj_dir / "layers/fmt", {"name": "fmt", "version": "1.0.0",
                                                 "dependencies": {"tarpkg": "file:../../vendor/tarpkg-1.0.0.tgz"}},
                       {"index.js": "exports.fmt = String;\n"})
    return proj_dir


def test_validate_reports_every_missing_and_stale_lockfile_at_once(capsys, project: Path) -> None:
    add_dependency(project / "functions/esm", "dependencies", "leftpad-local", "file:../../libs/leftpad")
    add_dependency(project / "functions/esm", "devDependencies", "devtool", "file:../../libs/devtool")
    code, out, err = forge(capsys, project, "validate")
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "functions/esm/package.json:7: package-lock.json is out of date: "
        "`dependencies.leftpad-local`, `devDependencies.devtool` are not in it (npm ci would refuse it): "
        "run `npm install --package-lock-only --install-links` in functions/esm",
        "functions/orders/package.json: no package-lock.json beside it; a lockfile is required for a "
        "reproducible install: run `npm install --package-lock-only --install-links` in functions/orders",
        "functions/tar/package.json: no package-lock.json beside it; a lockfile is required for a "
        "reproducible install: run `npm install --package-lock-only` in functions/tar",
        "layers/fmt/package.json: no package-lock.json beside it; a lockfile is required for a "
        "reproducible install: run `npm install --package-lock-only` in layers/fmt",
    ]


def test_running_the_commands_it_names_makes_the_project_valid(capsys, project: Path, tmp_path: Path) -> None:
    add_dependency(project / "functions/esm", "dependencies", "leftpad-local", "file:../../libs/leftpad")
    forge(capsys, project, "validate")
    for where in ("functions/esm", "functions/orders", "functions/tar", "layers/fmt"):
        npmp.lock(project / where, tmp_path / "npm-cache")  # --package-lock-only --install-links
    code, out, err = forge(capsys, project, "validate")
    assert (code, err) == (0, "")
    assert out == "lambdaforge.toml: ok (4 functions, 1 layer)\n"


def test_a_changed_spec_the_lock_may_still_satisfy_is_a_warning(capsys, project: Path, tmp_path: Path) -> None:
    for where in ("functions/orders", "functions/tar", "layers/fmt"):
        npmp.lock(project / where, tmp_path / "npm-cache")
    add_dependency(project / "functions/tar", "dependencies", "tarpkg", "file:../../vendor/tarpkg-1.0.1.tgz")
    code, out, err = forge(capsys, project, "validate")
    assert code == 0
    assert err == (
        "functions/tar/package.json:5: dependencies.tarpkg: warning: declared as "
        '"file:../../vendor/tarpkg-1.0.1.tgz" but package-lock.json was made for '
        '"file:../../vendor/tarpkg-1.0.0.tgz"; npm installs the locked version while it still '
        "satisfies: run `npm install --package-lock-only` in functions/tar\n")


def test_the_locks_npm_writes_have_no_issues(proj_dir: Path) -> None:
    for where in ("functions/api", "functions/esm"):
        assert lockfile.manifest_issues(proj_dir, f"{where}/package.json") == []


def test_a_dependency_missing_from_the_lock_stops_the_build_before_npm_runs(proj_dir: Path) -> None:
    add_dependency(proj_dir / "functions/api", "optionalDependencies", "leftpad-local", "file:../../libs/leftpad")
    with pytest.raises(ConfigError) as err:
        lockfile.load_manifest(proj_dir, "functions/api/package.json")
    assert [str(i) for i in err.value.issues] == [
        "functions/api/package.json:11: package-lock.json is out of date: "
        "`optionalDependencies.leftpad-local` is not in it (npm ci would refuse it): "
        "run `npm install --package-lock-only --install-links` in functions/api"]


def test_build_reports_every_function_without_a_lockfile_at_once(project: Path, monkeypatch) -> None:
    from lambdaforge.build import BuildOptions, BuildSession
    from lambdaforge.config import load_project

    monkeypatch.setenv("FORGE_CACHE_DIR", str(project.parent / "cache"))
    loaded = load_project(project / "lambdaforge.toml")
    with pytest.raises(ConfigError) as err:
        BuildSession(loaded, BuildOptions(jobs=1)).run()
    assert [i.file for i in err.value.issues] == [
        "layers/fmt/package.json", "functions/orders/package.json", "functions/tar/package.json"]


def tar_unlocked(capsys, project: Path, tmp_path: Path, then=lambda: None) -> str:
    """Lock everything but ``functions/tar``, do ``then``; what ``forge validate`` (exit 2)
    says of it."""
    for where in ("functions/orders", "layers/fmt"):
        npmp.lock(project / where, tmp_path / "npm-cache")
    then()
    code, _, err = forge(capsys, project, "validate")
    assert code == 2
    return err


def test_a_lockfile_of_an_unsupported_tool_is_named_with_what_to_run(capsys, project: Path, tmp_path: Path) -> None:
    (project / "functions/tar/bun.lock").write_text("{}\n")
    assert tar_unlocked(capsys, project, tmp_path) == (
        "functions/tar/package.json: no lockfile lambdaforge installs from beside it, but a bun.lock: "
        "Bun is not supported; lock it with npm, pnpm or Yarn: run "
        "`npm install --package-lock-only` in functions/tar\n")


def test_package_manager_field_names_the_tool_to_lock_with(capsys, project: Path, tmp_path: Path) -> None:
    def declare_pnpm() -> None:
        manifest = json.loads((project / "functions/tar/package.json").read_text())
        (project / "functions/tar/package.json").write_text(json.dumps({**manifest, "packageManager": "pnpm@10.34.8"}))

    assert tar_unlocked(capsys, project, tmp_path, declare_pnpm) == (
        "functions/tar/package.json: no lockfile beside it (package.json's packageManager names pnpm); "
        "a lockfile is required for a reproducible install: run `pnpm install --lockfile-only` in "
        "functions/tar\n")


def test_a_workspace_member_without_any_lockfile_is_told_to_lock_the_workspace(capsys, project: Path,
                                                                              tmp_path: Path) -> None:
    def make_a_workspace() -> None:
        (project / "package.json").write_text(json.dumps({"name": "mono", "private": True,
                                                          "workspaces": ["./functions/tar"]}))

    assert tar_unlocked(capsys, project, tmp_path, make_a_workspace) == (
        "functions/tar/package.json: no lockfile beside it or at the root of its npm workspace (`.`), "
        "and a lockfile is required for a reproducible install: run `npm install --package-lock-only` "
        "in .\n")
    # What it says to run works: the workspace gets a lockfile, which installs the member.
    subprocess.run(["npm", "install", "--package-lock-only", "--offline", "--no-audit", "--no-fund"],
                   cwd=project, env=npmp.npm_env(tmp_path / "npm-cache"), check=True, capture_output=True)
    assert forge(capsys, project, "validate")[0] == 0


def test_validate_reports_a_missing_node_handler_file(capsys, tmp_path: Path) -> None:
    """``forge validate`` said ok, and ``forge build`` then failed: no handler file, or only
    a TypeScript one without bundling (Lambda runs JavaScript)."""
    (tmp_path / "none").mkdir()
    (tmp_path / "ts").mkdir()
    (tmp_path / "ts" / "index.ts").write_text("export const handler = async (): Promise<number> => 1;\n")
    (tmp_path / "bundled").mkdir()
    (tmp_path / "bundled" / "index.ts").write_text("export const handler = async () => 1;\n")
    (tmp_path / "lambdaforge.toml").write_text(
        '[defaults]\nruntime = "nodejs22.x"\nhandler = "index.handler"\n\n'
        '[functions.none]\nsource = "none"\n\n[functions.ts]\nsource = "ts"\n\n'
        '[functions.bundled]\nsource = "bundled"\nbundle = "esbuild"\n')
    code, out, err = forge(capsys, tmp_path, "validate")
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "lambdaforge.toml:3: functions.none.handler: `index.handler`: no index.js, index.mjs, "
        "index.cjs, index/index.js or index/package.json in `none`",
        "lambdaforge.toml:3: functions.ts.handler: `index.handler`: index.ts is TypeScript, which "
        'Lambda does not run: set `bundle = "esbuild"` to compile it, or build it to JavaScript first',
    ]


def test_a_stale_lock_for_a_workspace_member_the_function_depends_on_is_named(
        capsys, tmp_path: Path) -> None:
    """npm ci --workspace refuses a lock made before a member the function depends on gained
    a dependency: validate (and the build, before npm runs) names that member's package.json
    and line, as for the function's own; a member the function does not reach is not its
    concern."""
    root = tmp_path / "mono"
    npmp.write_json(root / "package.json", {"name": "mono", "private": True,
                                            "workspaces": ["packages/*", "functions/*"]})
    npmp.write_package(root / "packages/shared", {"name": "@acme/shared", "version": "1.0.0",
                                                  "main": "index.js"},
                       {"index.js": "exports.ttl = () => 3600;\n"})
    npmp.write_package(root / "packages/unused", {"name": "unused", "version": "1.0.0"}, {})
    npmp.write_package(root / "functions/api", {"name": "api", "version": "1.0.0",
                                                "dependencies": {"@acme/shared": "*"}},
                       {"index.js": "exports.handler = async () => require('@acme/shared').ttl();\n"})
    subprocess.run(["npm", "install", "--package-lock-only", "--offline", "--ignore-scripts",
                    "--no-audit", "--no-fund"], cwd=root, env=npmp.npm_env(tmp_path / "npm-cache"),
                   check=True, capture_output=True, text=True)
    (root / "lambdaforge.toml").write_text(
        '[functions.api]\nsource = "functions/api"\nruntime = "nodejs22.x"\nhandler = "index.handler"\n')
    assert forge(capsys, root, "validate")[0] == 0
    add_dependency(root / "packages/unused", "dependencies", "ms", "^2.1.3")
    assert forge(capsys, root, "validate")[0] == 0
    add_dependency(root / "packages/shared", "dependencies", "ms", "^2.1.3")
    expected = ("packages/shared/package.json:6: package-lock.json is out of date: "
                "`dependencies.ms` is not in it (npm ci would refuse it): "
                "run `npm install --package-lock-only` in .")
    assert forge(capsys, root, "validate") == (2, "", expected + "\n")
    with pytest.raises(ConfigError) as err:
        lockfile.load_manifest(root, "functions/api/package.json")
    assert [str(i) for i in err.value.issues] == [expected]


def test_npms_usage_text_after_an_npm_ci_error_is_left_out() -> None:
    """npm ci prints ~100 lines of its options after a usage error: only what went wrong stays."""
    from lambdaforge.builders.node.install import without_npm_usage

    head = ("$ npm ci --omit=dev\n(exit 1)\nnpm error code EUSAGE\nnpm error\n"
            "npm error `npm ci` can only install packages when your package.json and "
            "package-lock.json or npm-shrinkwrap.json are in sync. Please update your lock file "
            "with `npm install` before continuing.\nnpm error\n"
            "npm error Missing: bytes@3.1.2 from lock file")
    usage = ("\nnpm error\nnpm error Clean install a project\nnpm error\nnpm error Usage:\n"
             "npm error npm ci\nnpm error\nnpm error Options:\n"
             + "npm error [--install-strategy <hoisted|nested|shallow|linked>]\n" * 90
             + "npm error A complete log of this run can be found in: /tmp/x/_logs/debug-0.log")
    assert without_npm_usage(head + usage) == head + "\n(npm's usage text left out)"
    other = "$ npm ci\n(exit 1)\nnpm error code E404\nnpm error 404 Not Found - GET http://x/ms"
    assert without_npm_usage(other) == other
