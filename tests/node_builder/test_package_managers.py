"""npm workspaces, pnpm and Yarn (classic and berry): each project built by ``forge build``
with its own tool from the local npm registry, the zip opened, the handler imported by node;
stale and missing lockfiles reported by ``forge validate`` with the command that fixes them.

The tools come from ``FORGE_PNPM``, ``FORGE_YARN_CLASSIC`` and ``FORGE_YARN_BERRY`` (``.ci/run``
installs pinned ones); a test needing one that is absent is skipped, saying how to get it.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from lambdaforge import cli
from lambdaforge.builders.node import NodeBuilder, otherinstall
from tests.node_builder import npmproject as npmp
from tests.support.npm_registry import LocalRegistry

TOOLS = {"pnpm": "FORGE_PNPM", "yarn-classic": "FORGE_YARN_CLASSIC", "yarn-berry": "FORGE_YARN_BERRY"}
HOW = {"pnpm": "npm install --prefix DIR pnpm@10.34.8",
       "yarn-classic": "npm install --prefix DIR yarn@1.22.22",
       "yarn-berry": "npm install --prefix DIR @yarnpkg/cli-dist@4.18.1"}
HANDLER = """\
const leftpad = require('leftpad');
exports.handler = async () => ({ leftpad, ms: require('ms') });
"""
CONFIG = """\
[defaults]
runtime = "nodejs22.x"

[functions.fn]
source = "{source}"
handler = "index.handler"
"""
#: a workspace member whose ms cannot be hoisted (another version is, at the root)
OLD = """
[functions.old]
source = "functions/old"
handler = "index.handler"
"""
#: the same function for arm64 (not with Yarn 1: it installs the build machine's platform)
ARM = """
[functions.fn-arm]
source = "{source}"
handler = "index.handler"
architecture = "arm64"
"""


def tool(kind: str) -> str:
    """The tool's executable for ``kind``, or skip the test saying how to get one."""
    value = os.environ.get(TOOLS[kind], "")
    if not value or not Path(value).is_file():
        pytest.skip(f"{kind} is not available: set {TOOLS[kind]} to its executable "
                    f"(`{HOW[kind]}`, then DIR/node_modules/.bin/...)")
    return value


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory):
    """ms@2.0.0 and 2.1.3, leftpad@1.0.0 (requires ms ^2.1.0), devonly@1.0.0, and native@1.0.0 with
    optional plat-x64/plat-arm64 (``cpu`` fields) on loopback."""
    with LocalRegistry(tmp_path_factory.mktemp("registry")) as reg:
        for version in ("2.0.0", "2.1.3"):
            reg.publish("ms", version, {"index.js": f"module.exports = 'ms {version}';\n"}, main="index.js")
        reg.publish("leftpad", "1.0.0", {"index.js": "module.exports = 'leftpad ' + require('ms');\n"},
                    {"ms": "^2.1.0"}, main="index.js")
        reg.publish("devonly", "1.0.0", {"index.js": "module.exports = 'dev';\n"}, main="index.js")
        for cpu in ("x64", "arm64"):
            reg.publish(f"plat-{cpu}", "1.0.0", {"index.js": f"module.exports = '{cpu}';\n"},
                        os=["linux"], cpu=[cpu])
        reg.publish("native", "1.0.0", {"index.js": "module.exports = 1;\n"},
                    optionalDependencies={"plat-x64": "1.0.0", "plat-arm64": "1.0.0"})
        yield reg


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> None:
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{argv}: {result.stdout}\n{result.stderr}"


def _tool_env(home: Path) -> dict[str, str]:
    """The environment the tests' own lock commands run with: no registry from the
    environment (the projects' own config files name the local one), caches under ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith(("npm_config_", "yarn_"))}
    env.update(HOME=str(home), npm_config_cache=str(home / "npm-cache"), YARN_IGNORE_PATH="1",
               YARN_ENABLE_TELEMETRY="0", YARN_CACHE_FOLDER=str(home / "yarn-cache"))
    return env


def _function(directory: Path, manifest: dict) -> None:
    npmp.write_package(directory, {"name": "fn", "version": "1.0.0", **manifest}, {"index.js": HANDLER})


def make_project(kind: str, root: Path, url: str) -> str:
    """Write and lock the project of ``kind``; returns the function's source directory."""
    env = _tool_env(root.parent / "home")
    deps = {"dependencies": {"leftpad": "1.0.0", "native": "1.0.0"}, "devDependencies": {"devonly": "1.0.0"}}
    fn = root / "functions/fn"
    if kind == "npm-workspace":
        # the root's own ms claims node_modules/ms for 2.1.3 (root dependencies are not
        # installed for a member: include-workspace-root is off)
        npmp.write_json(root / "package.json", {"name": "mono", "private": True,
                                                "workspaces": ["functions/*", "libs/*"],
                                                "dependencies": {"ms": "2.1.3"}})
        (root / ".npmrc").write_text(f"registry={url}\n")
        _function(fn, {"dependencies": {"leftpad": "1.0.0", "native": "1.0.0", "shared": "*"},
                       "devDependencies": {"devonly": "1.0.0"}})
        (fn / "index.js").write_text("const shared = require('shared');\n"
                                     "exports.handler = async () => ({ shared, ms: require('ms') });\n")
        npmp.write_package(root / "libs/shared", {"name": "shared", "version": "1.0.0", "main": "index.js",
                                                  "dependencies": {"leftpad": "1.0.0"}},
                           {"index.js": "module.exports = 'shared+' + require('leftpad');\n",
                            ".npmrc": "//registry.example/:_authToken=secret\n"})
        npmp.write_package(root / "functions/other", {"name": "other", "version": "1.0.0",
                                                      "dependencies": {"devonly": "1.0.0"}}, {})
        # another version of ms than the one hoisted for leftpad: npm nests it in the member
        npmp.write_package(root / "functions/old", {"name": "old", "version": "1.0.0",
                                                    "dependencies": {"ms": "2.0.0"}},
                           {"index.js": "exports.handler = async () => require('ms');\n"})
        _run(["npm", "install", "--package-lock-only", "--no-audit", "--no-fund"], root, env)
        return "functions/fn"
    _function(fn, deps)
    if kind == "pnpm":
        (fn / ".npmrc").write_text(f"registry={url}\n")
        _run([tool(kind), "install", "--lockfile-only", f"--store-dir={root.parent / 'home/store'}"], fn, env)
    elif kind == "yarn-classic":
        (fn / ".yarnrc").write_text(f'registry "{url}"\n')
        _run([tool(kind), "install", "--ignore-scripts", "--non-interactive"], fn, env)
    else:
        (fn / ".yarnrc.yml").write_text(
            f'npmRegistryServer: "{url}"\nunsafeHttpWhitelist: ["127.0.0.1"]\n'
            'npmAuthToken: "not-a-real-token"\n'
            # a pinned release that is not there: the builder runs the yarn it finds
            "yarnPath: .yarn/releases/yarn-0.0.0.cjs\n"
            "nodeLinker: pnp\n")
        _run([tool(kind), "install", "--mode=update-lockfile"], fn, env)
    return "functions/fn"


@pytest.fixture(scope="module")
def built(registry: LocalRegistry, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """kind → the root of its project, locked and built once per module."""
    done: dict[str, Path] = {}

    def build(kind: str) -> Path:
        if kind in TOOLS:
            tool(kind)
        if kind not in done:
            root = tmp_path_factory.mktemp(kind) / "proj"
            root.mkdir()
            source = make_project(kind, root, registry.url)
            config = CONFIG + (ARM if kind != "yarn-classic" else "") + (OLD if kind == "npm-workspace" else "")
            (root / "lambdaforge.toml").write_text(config.format(source=source))
            with pytest.MonkeyPatch.context() as mp:
                for name in [n for n in os.environ if n.lower().startswith("npm_config_registry")]:
                    mp.delenv(name)  # the project's own registry configuration must do
                mp.setenv("FORGE_CACHE_DIR", str(root.parent / "cache"))
                mp.setenv("HOME", str(root.parent / "home"))
                assert cli.main(["-C", str(root), "build"]) == 0
            done[kind] = root
        return done[kind]

    return build


KINDS = ["npm-workspace", "pnpm", "yarn-classic", "yarn-berry"]


def _members(root: Path, name: str = "fn") -> dict[str, zipfile.ZipInfo]:
    with zipfile.ZipFile(root / f".forge/build/functions/{name}.zip") as zf:
        return {i.filename: i for i in zf.infolist()}


def _call(root: Path, tmp_path: Path, name: str = "fn") -> object:
    out = tmp_path / "unzipped"
    with zipfile.ZipFile(root / f".forge/build/functions/{name}.zip") as zf:
        zf.extractall(out)
    script = "require('./index.js').handler().then(r => console.log(JSON.stringify(r)))"
    env = {k: v for k, v in os.environ.items() if k not in ("NODE_PATH", "NODE_OPTIONS")}
    result = subprocess.run(["node", "-e", script], cwd=out, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("kind", KINDS)
def test_each_manager_ships_production_dependencies_as_plain_files(kind: str, built, tmp_path: Path,
                                                                    capsys) -> None:
    root = built(kind)
    capsys.readouterr()
    members = _members(root)
    names = set(members)
    assert {"index.js", "node_modules/leftpad/index.js", "node_modules/leftpad/package.json",
            "node_modules/ms/index.js"} <= names
    assert not [n for n in names if n.startswith("node_modules/devonly/")]  # a devDependency
    # no tool's droppings (.bin, .modules.yaml, .pnpm, .yarn-state.yml…), no config, no links
    assert not [n for n in names if any(p.startswith(".") for p in n.split("/"))], sorted(names)
    assert not [n for n, i in members.items() if stat.S_ISLNK(i.external_attr >> 16)]
    expected = {"leftpad": "leftpad ms 2.1.3", "ms": "ms 2.1.3"}
    if kind == "npm-workspace":
        # the member it depends on is a copy of its files, not a link out of the zip; the
        # function's own link and the other member's dependencies are not there
        assert {"node_modules/shared/index.js", "node_modules/shared/package.json"} <= names
        assert not [n for n in names if n.startswith(("node_modules/fn/", "node_modules/other/", "functions/"))]
        expected = {"shared": "shared+leftpad ms 2.1.3", "ms": "ms 2.1.3"}
    assert _call(root, tmp_path) == expected
    assert {"node_modules/native/index.js", "node_modules/plat-x64/index.js"} <= names
    assert not [n for n in names if n.startswith("node_modules/plat-arm64/")]


def test_a_workspace_members_nested_dependencies_are_its_node_modules(built, tmp_path: Path) -> None:
    root = built("npm-workspace")
    lock = json.loads((root / "package-lock.json").read_text())
    assert lock["packages"]["functions/old/node_modules/ms"]["version"] == "2.0.0"  # nested by npm
    assert lock["packages"]["node_modules/ms"]["version"] == "2.1.3"
    names = set(_members(root, "old"))
    assert "node_modules/ms/index.js" in names
    assert not [n for n in names if n.startswith(("node_modules/leftpad/", "functions/"))]
    assert _call(root, tmp_path, "old") == "ms 2.0.0"


@pytest.mark.parametrize("kind", ["npm-workspace", "pnpm", "yarn-berry"])
def test_optional_platform_packages_follow_the_target_architecture(kind: str, built) -> None:
    names = set(_members(built(kind), "fn-arm"))
    assert {"node_modules/native/index.js", "node_modules/plat-arm64/index.js"} <= names
    assert not [n for n in names if n.startswith("node_modules/plat-x64/")]


def test_the_install_key_names_the_tool_and_the_workspace_inputs(built) -> None:
    builder = NodeBuilder()
    ws = built("npm-workspace")
    spec = npmp.function_spec("fn", "functions/fn")
    inputs = builder.dependency_inputs(spec, spec.source, npmp.project(ws, [spec]))
    canonical = dict(inputs.canonical)
    assert (canonical["installer"], canonical["member"]) == ("npm-workspace", "functions/fn")
    assert json.loads(canonical["member-package.json"])["dependencies"] == {
        "leftpad": "1.0.0", "native": "1.0.0", "shared": "*"}
    assert inputs.directories == ("libs/shared",)  # its content is in the key
    assert inputs.declared_by == "package-lock.json"
    assert {"package.json", "package-lock.json", ".npmrc", "functions/fn/package.json"} <= set(inputs.watched)
    for kind, name in (("pnpm", "pnpm"), ("yarn-classic", "yarn"), ("yarn-berry", "yarn")):
        root = built(kind)
        with pytest.MonkeyPatch.context() as mp:
            mp.delenv("FORGE_YARN", raising=False)
            inputs = builder.dependency_inputs(spec, spec.source, npmp.project(root, [spec]))
        # the npm package the executable belongs to says its version (`--version` costs a second)
        version = json.loads((Path(os.path.realpath(tool(kind))).parent.parent / "package.json")
                             .read_text())["version"]
        assert dict(inputs.canonical)["tool"] == f"{name} {version}"
        assert dict(inputs.canonical)["installer"] == kind


def forge_validate(capsys, root: Path) -> tuple[int, str]:
    capsys.readouterr()  # what building the shared project printed
    code = cli.main(["-C", str(root), "validate"])
    return code, capsys.readouterr().err


def add_dependency(package_dir: Path, name: str, spec: str) -> None:
    path = package_dir / "package.json"
    manifest = json.loads(path.read_text())
    manifest["dependencies"][name] = spec
    path.write_text(json.dumps(manifest, indent=2) + "\n")


FIXES = {
    "npm-workspace": ("package-lock.json is out of date: `dependencies.ms` is not in it (npm ci would "
                      "refuse it): run `npm install --package-lock-only` in ."),
    "pnpm": ("pnpm-lock.yaml is out of date: `ms@^2.1.3` is not in it (pnpm install --frozen-lockfile "
             "would refuse it): run `pnpm install --lockfile-only` in functions/fn"),
    "yarn-classic": ("yarn.lock is out of date: `ms@^2.1.3` is not in it (yarn install --frozen-lockfile "
                     "would refuse it): run `yarn install` in functions/fn"),
    "yarn-berry": ("yarn.lock is out of date: `ms@^2.1.3` is not in it (yarn would have to change it): "
                   "run `yarn install --mode=update-lockfile` in functions/fn"),
}


@pytest.mark.parametrize("kind", KINDS)
def test_validate_names_a_stale_lockfile_and_the_command_that_fixes_it(kind: str, built, tmp_path: Path,
                                                                       capsys) -> None:
    root = npmp.copy_project(built(kind), tmp_path / "copy")
    assert forge_validate(capsys, root) == (0, "")
    add_dependency(root / "functions/fn", "ms", "^2.1.3")
    code, err = forge_validate(capsys, root)
    assert code == 2
    line = 8 if kind == "npm-workspace" else 7  # "ms" in the package.json as written
    assert err == f"functions/fn/package.json:{line}: {FIXES[kind]}\n"


def test_yarn_berry_lockfile_changed_by_the_install_fails_the_build(built, tmp_path: Path, capsys) -> None:
    """``focus`` has no --immutable: a lockfile yarn would rewrite is caught before it."""
    root = npmp.copy_project(built("yarn-berry"), tmp_path / "copy")
    lock = root / "functions/fn/yarn.lock"
    # The root workspace's entry out of step with package.json (every pattern is still
    # there, so validate cannot tell): yarn rewrites the entry.
    text = lock.read_text()
    assert '    devonly: "npm:1.0.0"\n' in text
    lock.write_text(text.replace('    devonly: "npm:1.0.0"\n', "", 1))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FORGE_CACHE_DIR", str(tmp_path / "cache"))
        mp.delenv("npm_config_registry")
        capsys.readouterr()
        code = cli.main(["-C", str(root), "build"])
    err = capsys.readouterr().err
    assert code != 0
    assert "yarn.lock is out of date: yarn would have to change it (run `yarn install " \
        "--mode=update-lockfile`" in err
    assert not (root / ".forge/build/functions/fn.zip").exists()


def test_a_missing_tool_is_named_with_how_to_install_it(built, tmp_path: Path, capsys, monkeypatch) -> None:
    root = built("pnpm")
    bare = tmp_path / "bin"
    bare.mkdir()
    for name in ("node", "npm"):
        (bare / name).symlink_to(shutil.which(name))
    monkeypatch.setenv("PATH", str(bare))
    monkeypatch.delenv("FORGE_PNPM")
    code, err = forge_validate(capsys, root)
    assert code == 2
    assert err == ("functions/fn/pnpm-lock.yaml: pnpm is needed to install from pnpm-lock.yaml, but "
                   "`pnpm` is not on PATH (or set FORGE_PNPM to one): install it with "
                   "`npm install -g pnpm@10` or `corepack enable pnpm`\n")
    monkeypatch.setenv("FORGE_CACHE_DIR", str(tmp_path / "cache"))
    capsys.readouterr()
    code = cli.main(["-C", str(root), "build"])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err
    assert "pnpm is needed to install from pnpm-lock.yaml, but `pnpm` is not on PATH" in err


def test_a_yarn_of_the_wrong_major_is_refused(built, capsys, monkeypatch) -> None:
    root = built("yarn-berry")
    monkeypatch.setenv("FORGE_YARN_BERRY", tool("yarn-classic"))
    code, err = forge_validate(capsys, root)
    assert code == 2
    assert "which cannot read a Yarn berry (2+) yarn.lock: install berry with" in err


def test_several_lockfiles_need_package_manager_to_choose(built, tmp_path: Path, capsys) -> None:
    root = npmp.copy_project(built("yarn-classic"), tmp_path / "copy")
    fn = root / "functions/fn"
    (fn / "package-lock.json").write_text("{}\n")
    code, err = forge_validate(capsys, root)
    assert code == 2
    assert err == ("functions/fn/package.json: several lockfiles beside it (package-lock.json, yarn.lock), "
                   "so which package manager installs is unclear: delete the ones your project does not "
                   'use, or name it in package.json\'s `"packageManager"` (e.g. "pnpm@10.34.8")\n')
    manifest = json.loads((fn / "package.json").read_text())
    (fn / "package.json").write_text(json.dumps({**manifest, "packageManager": "yarn@1.22.22"}))
    assert forge_validate(capsys, root) == (0, "")


def test_berry_settings_are_the_builders_and_the_registry_the_users() -> None:
    rc = otherinstall.berry_rc(
        'npmRegistryServer: "https://npm.example"\nnodeLinker: pnp\nsupportedArchitectures:\n'
        '  os: [darwin]\npackageExtensions:\n  "a@*":\n    dependencies: {b: "*"}\n', "arm64")
    assert rc == (
        'npmRegistryServer: "https://npm.example"\npackageExtensions:\n  "a@*":\n'
        '    dependencies: {b: "*"}\nnodeLinker: node-modules\nnmMode: classic\n'
        "supportedArchitectures:\n  os: [linux]\n  cpu: [arm64]\n  libc: [glibc]\n")


def test_parallel_yarn1_installs_take_turns_with_its_cache(built, tmp_path: Path, monkeypatch) -> None:
    """Yarn 1's cache is not safe for concurrent installs ("Integrity check failed"): the
    x86_64 and arm64 installs of one yarn.lock, started together on a cold cache, both
    succeed, and each runs yarn holding the cache's lock (another opener cannot take it).
    The race itself is timing-dependent, so what is asserted is that the lock is held."""
    fcntl = pytest.importorskip("fcntl")
    from lambdaforge.builders.base import BuildContext
    from lambdaforge.runner import Runner

    root = npmp.copy_project(built("yarn-classic"), tmp_path / "proj")
    for name in [n for n in os.environ if n.lower().startswith("npm_config_registry")]:
        monkeypatch.delenv(name)  # the project's .yarnrc names the local registry
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    tools = tmp_path / "tools"  # cold: yarn fetches every package into its cache
    lock = tools / "yarn-classic-cache.lock"  # beside the cache folder
    held: list[bool] = []

    class Probing(Runner):
        def run(self, argv, **kwargs):  # type: ignore[no-untyped-def]
            if any(str(a).startswith("--cache-folder=") for a in argv):
                fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    held.append(False)
                except BlockingIOError:
                    held.append(True)
                finally:
                    os.close(fd)
            return super().run(argv, **kwargs)

    start = threading.Barrier(2)
    results: dict[str, object] = {}

    def install(architecture: str) -> None:
        spec = npmp.function_spec("fn", "functions/fn", architecture=architecture)
        project = npmp.project(root, [spec])
        builder = NodeBuilder()
        inputs = builder.dependency_inputs(spec, spec.source, project)
        ctx = BuildContext(runner=Probing(), scratch=tmp_path / f"scratch-{architecture}",
                           tool_cache=tools, project=project)
        start.wait()
        try:
            results[architecture] = builder.install(inputs, tmp_path / f"out-{architecture}", ctx)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            results[architecture] = exc

    threads = [threading.Thread(target=install, args=(a,)) for a in ("x86_64", "arm64")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {a: type(r).__name__ for a, r in results.items()} == {
        "x86_64": "InstallResult", "arm64": "InstallResult"}, results
    assert held == [True, True]
    for architecture in ("x86_64", "arm64"):
        assert (tmp_path / f"out-{architecture}/leftpad/index.js").is_file()
