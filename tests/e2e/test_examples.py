"""The example projects: they validate and have the expected graph (hermetic), and with
``-m network`` they build from PyPI and npm into zips whose handlers import and run.

The network tests build a copy of each example with a fresh cache, then check the zips the
way Lambda would use them: each x86_64 Python handler is imported by an isolated
``python3.12 -I -S`` that sees only the extracted function and its layers' ``python/``
directories; the arm64 function's shared objects must be aarch64 ELF; the Node.js handlers
are called by ``node`` with the layer on ``NODE_PATH``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from lambdaforge import cli

REPO = Path(__file__).resolve().parents[2]
EXAMPLES_DIR = REPO / "example-projects"
EXAMPLES = sorted(p.name for p in EXAMPLES_DIR.iterdir() if (p / "lambdaforge.toml").is_file())

MONOREPO_FUNCTIONS = {"orders-api", "billing", "shipping", "thumbnail", "order-age", "order-timeout"}
MONOREPO_LAYERS = {"shared", "node-format"}

#: ELF e_machine values (System V ABI): what a native file was compiled for.
EM_X86_64, EM_AARCH64 = 62, 183


def forge(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def copy_example(name: str, dest: Path) -> Path:
    """A copy of an example without anything a local build or npm install left in it."""
    return Path(shutil.copytree(EXAMPLES_DIR / name, dest / name,
                                ignore=shutil.ignore_patterns(".forge", "node_modules", "__pycache__")))


# ---------------------------------------------------------------------------- hermetic


def test_there_are_the_four_examples() -> None:
    # custom-runtime is built by tests/command_builder/test_example.py
    assert EXAMPLES == ["custom-runtime", "monorepo", "quickstart", "team-standards"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_forge_validate_exits_0_in_each_example(capsys: pytest.CaptureFixture[str], name: str) -> None:
    code, out, err = forge(capsys, "-C", str(EXAMPLES_DIR / name), "validate")
    assert (code, err) == (0, ""), err
    assert out.startswith("lambdaforge.toml: ok (")


def test_monorepo_graph_lists_every_target(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    proj = copy_example("monorepo", tmp_path)
    code, out, err = forge(capsys, "-C", str(proj), "graph", "--format", "json")
    assert (code, err) == (0, ""), err
    graph = json.loads(out)
    nodes = {n["id"]: n for n in graph["nodes"]}
    edges = {(e["from"], e["to"]) for e in graph["edges"]}

    packages = {f"function:{f}" for f in MONOREPO_FUNCTIONS} | {f"layer:{la}" for la in MONOREPO_LAYERS}
    checks = {f"check:{p}" for p in packages}
    installs = {i for i in nodes if i.startswith("install:")}
    assert set(nodes) == packages | checks | installs
    assert {p: nodes[p]["builder"] for p in packages} == {
        "function:orders-api": "python", "function:billing": "python", "function:shipping": "python",
        "function:thumbnail": "python", "layer:shared": "python",
        "function:order-age": "node", "function:order-timeout": "node", "layer:node-format": "node",
    }

    def install_of(target: str) -> set[str]:
        return {src for src, dst in edges if dst == target and src.startswith("install:")}

    # The Python layer's requirements and Pillow (thumbnail) are one install each; the two
    # Node functions have the same dependencies and share one; the Node layer has its own.
    # The functions that use the Python layer have no requirements of their own.
    assert len(installs) == 4
    assert install_of("function:order-age") == install_of("function:order-timeout")
    assert len(install_of("function:thumbnail") | install_of("layer:shared")
               | install_of("layer:node-format") | install_of("function:order-age")) == 4
    for fn in ("orders-api", "billing", "shipping"):
        assert install_of(f"function:{fn}") == set()
        assert ("layer:shared", f"function:{fn}") in edges
    assert ("layer:node-format", "function:order-age") in edges
    assert not (tmp_path / "monorepo" / ".forge" / "build").exists(), "graph builds nothing"


# ---------------------------------------------------------------------------- network


def build(project: Path, cache: Path) -> tuple[dict, float]:
    """``forge build --json`` in a subprocess, as a user runs it: (report, wall seconds)."""
    env = {**os.environ, "FORGE_CACHE_DIR": str(cache)}
    env.pop("NODE_OPTIONS", None)
    started = datetime.now()
    result = subprocess.run([sys.executable, "-m", "lambdaforge", "-C", str(project), "build", "--json"],
                            capture_output=True, text=True, env=env, timeout=900)
    seconds = (datetime.now() - started).total_seconds()
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout), seconds


def manifest(project: Path) -> dict[str, dict]:
    """The build manifest's artifacts by ``kind:name``."""
    data = json.loads((project / ".forge/build/manifest.json").read_text())
    return {f"{a['kind']}:{a['name']}": a for a in data["artifacts"]}


def extract(zip_path: Path, dest: Path) -> Path:
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(dest)
    return dest


def python312() -> str:
    """An x86_64 Linux Python 3.12, found as ``forge check`` finds it; else the test skips."""
    from lambdaforge.builders.python.smoke import find_interpreter
    from lambdaforge.builders.python.target import PythonTarget
    from lambdaforge.runner import Runner

    found, why = find_interpreter(PythonTarget.of("python3.12", "x86_64"), Runner())
    if found is None:
        pytest.skip(why)
    return found


#: Run in ``python3.12 -I -S``: sys.path = the given directories (then the standard library),
#: import the handler's module, call it when an event is given, and report which files every
#: non-standard-library module came from.
IMPORT_SCRIPT = """
import importlib, json, sys, sysconfig
paths, handler, event = json.loads(sys.argv[1])
sys.path[:0] = paths
module_name, _, function = handler.rpartition(".")
module = importlib.import_module(module_name)
result = getattr(module, function)(event, None) if event is not None else None
stdlib = (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])
files = sorted({m.__file__ for m in list(sys.modules.values())
                if getattr(m, "__file__", None) and not m.__file__.startswith(stdlib)})
print(json.dumps({"result": result, "files": files}))
"""


def import_python_handler(python: str, function_dir: Path, layer_dirs: list[Path], handler: str,
                          event: object = None) -> dict:
    paths = [str(function_dir), *(str(d / "python") for d in layer_dirs)]
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(function_dir.parent)}
    result = subprocess.run([python, "-I", "-S", "-c", IMPORT_SCRIPT, json.dumps([paths, handler, event])],
                            capture_output=True, text=True, env=env, cwd=function_dir, timeout=120)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    outside = [f for f in out["files"] if not f.startswith(tuple(paths))]
    assert not outside, f"imported from outside the artifact: {outside}"
    return out


def run_node(cwd: Path, script: str, node_path: list[Path] = ()) -> object:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(cwd.parent)}
    if node_path:
        env["NODE_PATH"] = os.pathsep.join(str(p) for p in node_path)
    result = subprocess.run(["node", "-e", script], capture_output=True, text=True, env=env, cwd=cwd, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def elf_machine(data: bytes) -> int:
    """e_machine of a 64-bit little-endian ELF header."""
    assert data[:4] == b"\x7fELF", "not an ELF file"
    assert data[4] == 2 and data[5] == 1, "not a 64-bit little-endian ELF file"
    return int.from_bytes(data[18:20], "little")


@pytest.fixture(scope="module")
def built_monorepo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict]:
    """The monorepo example built from PyPI and npm with a fresh cache, then again (warm)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed for the monorepo's Node.js functions")
    root = tmp_path_factory.mktemp("example-monorepo")
    proj = copy_example("monorepo", root)
    cold, _ = build(proj, root / "cache")
    warm, _ = build(proj, root / "cache")
    return proj, cold, warm


@pytest.mark.network
def test_monorepo_builds_and_a_second_build_does_nothing(built_monorepo) -> None:
    proj, cold, warm = built_monorepo
    assert cold["ok"] and warm["ok"]
    assert {t["status"] for t in cold["targets"]} == {"built"}
    assert {t["status"] for t in warm["targets"]} == {"up-to-date"}
    artifacts = manifest(proj)
    assert set(artifacts) == ({f"function:{f}" for f in MONOREPO_FUNCTIONS}
                              | {f"layer:{la}" for la in MONOREPO_LAYERS})
    for art in artifacts.values():
        assert (proj / art["path"]).is_file()


@pytest.mark.network
@pytest.mark.parametrize(("name", "event", "expected"), [
    ("orders-api", {"pathParameters": {"id": "o-42"}}, {"statusCode": 200, "body": '{"id": "o-42"}'}),
    ("billing", {"Records": [{}, {}]}, {"statusCode": 200, "body": '{"service": "billing", "processed": 2}'}),
    ("shipping", {"Records": [{}]}, {"statusCode": 200, "body": '{"service": "shipping", "processed": 1}'}),
])
def test_monorepo_python_handlers_run_with_only_their_layer(built_monorepo, tmp_path: Path, name: str,
                                                            event: dict, expected: dict) -> None:
    proj, _, _ = built_monorepo
    artifacts = manifest(proj)
    fn = artifacts[f"function:{name}"]
    assert fn["architecture"] == "x86_64" and fn["layers"] == ["shared"]
    fn_dir = extract(proj / fn["path"], tmp_path / "task")
    layer_dir = extract(proj / artifacts["layer:shared"]["path"], tmp_path / "opt")
    out = import_python_handler(python312(), fn_dir, [layer_dir], fn["handler"], event)
    assert out["result"] == expected
    # attrs (the layer's requirement) and orders_common (its own code) came from the layer.
    assert any(f.startswith(str(layer_dir / "python" / "attr")) for f in out["files"])
    assert str(layer_dir / "python" / "orders_common" / "__init__.py") in out["files"]


@pytest.mark.network
def test_monorepo_arm64_function_ships_aarch64_native_code(built_monorepo) -> None:
    proj, _, _ = built_monorepo
    fn = manifest(proj)["function:thumbnail"]
    assert fn["architecture"] == "arm64"
    machines: dict[str, int] = {}
    with zipfile.ZipFile(proj / fn["path"]) as zf:
        names = zf.namelist()
        for info in zf.infolist():
            base = info.filename.rsplit("/", 1)[-1]
            if not info.is_dir() and (base.endswith(".so") or ".so." in base):
                machines[info.filename] = elf_machine(zf.open(info).read(20))
    assert "app.py" in names and "PIL/Image.py" in names
    assert any(n.startswith("PIL/_imaging.") for n in machines), sorted(machines)
    assert set(machines.values()) == {EM_AARCH64}, {n: m for n, m in machines.items() if m != EM_AARCH64}


@pytest.mark.network
def test_monorepo_unbundled_node_function_runs_with_its_layer(built_monorepo, tmp_path: Path) -> None:
    proj, _, _ = built_monorepo
    artifacts = manifest(proj)
    fn, layer = artifacts["function:order-age"], artifacts["layer:node-format"]
    task = extract(proj / fn["path"], tmp_path / "task")
    opt = extract(proj / layer["path"], tmp_path / "opt")
    assert (task / "index.js").is_file() and (task / "node_modules/ms/index.js").is_file()
    assert not (task / "node_modules/bytes").exists(), "bytes comes from the layer"
    assert (opt / "nodejs/node_modules/orders-format/index.js").is_file()
    assert (opt / "nodejs/node_modules/bytes/index.js").is_file()
    placed_at = (datetime.now(timezone.utc) - timedelta(hours=3)).isoformat()
    event = json.dumps({"placedAt": placed_at})
    script = (f"require('./index.js').handler({event})"
              ".then(r => process.stdout.write(JSON.stringify(r)))")
    result = run_node(task, script, [opt / "nodejs" / "node_modules"])
    assert result["age"] == "3 hours"
    assert result["eventSize"].endswith("B")


@pytest.mark.network
def test_monorepo_bundled_node_function_is_one_file_that_runs(built_monorepo, tmp_path: Path) -> None:
    proj, _, _ = built_monorepo
    fn = manifest(proj)["function:order-timeout"]
    with zipfile.ZipFile(proj / fn["path"]) as zf:
        files = [n for n in zf.namelist() if not n.endswith("/")]
    assert files == ["index.mjs"], files   # an ES module (package.json says "type": "module")
    task = extract(proj / fn["path"], tmp_path / "task")
    script = ("import(require('url').pathToFileURL(require('path').resolve('index.mjs')).href)"
              ".then(m => m.handler({timeout: '2 days'}))"
              ".then(r => process.stdout.write(JSON.stringify(r)))")
    assert run_node(task, script) == {"timeoutMs": 2 * 24 * 3600 * 1000}


@pytest.mark.network
def test_quickstart_builds_and_its_handler_imports_requests_from_the_zip(tmp_path: Path) -> None:
    proj = copy_example("quickstart", tmp_path)
    report, _ = build(proj, tmp_path / "cache")
    assert report["ok"]
    fn = manifest(proj)["function:hello"]
    task = extract(proj / fn["path"], tmp_path / "task")
    # Imported only: calling it would fetch a URL.
    out = import_python_handler(python312(), task, [], fn["handler"])
    assert str(task / "requests" / "__init__.py") in out["files"]
    assert not any(n.endswith(".pyc") for n in zipfile.ZipFile(proj / fn["path"]).namelist())
