"""A change to some files' content re-plans only those targets, without loading the config.

When the replay record shows that only file contents (or outputs) changed, and nothing the
project or graph depends on, ``forge build`` loads the plan cache instead of the config and
plans only the changed targets and what depends on them: no Pydantic, no networkx. A
dependency declaration edited in place plans every target, on the cached project. Anything
else is the full planner's. Either way the zips are those of a clean build.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lambdaforge import replay
from lambdaforge.cli import main

from .conftest import LOCAL_INDEX, SOURCE_ONLY, ProjectDir


def build(project: ProjectDir) -> tuple[int, str, set[str]]:
    """``forge build`` in a fresh process: exit code, stderr, modules it imported."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "lambdaforge", "-C", str(project.root), "build"],
        capture_output=True, text=True, timeout=120, env=dict(os.environ))
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    err = "\n".join(line for line in proc.stderr.splitlines() if "import time:" not in line)
    return proc.returncode, err, imported


def zips(root: Path) -> dict[str, bytes]:
    folder = root / ".forge" / "build"
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*.zip"))}


def assert_clean_build_agrees(project: ProjectDir, tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    shutil.rmtree(clean, ignore_errors=True)
    shutil.copytree(project.root, clean, ignore=shutil.ignore_patterns(".forge"))
    env = dict(os.environ, FORGE_CACHE_DIR=str(tmp_path / "clean-cache"))
    subprocess.run([sys.executable, "-m", "lambdaforge", "-C", str(clean), "build"],
                   check=True, capture_output=True, env=env, timeout=120)
    assert zips(project.root) == zips(clean)


HEAVY = {"pydantic", "networkx"}


@pytest.fixture
def built(source_project: ProjectDir) -> ProjectDir:
    code, err, _ = build(source_project)
    assert code == 0, err
    assert (source_project.root / ".forge/state/plan.json").exists()
    return source_project


def test_one_source_file_changed_replans_only_its_function(built: ProjectDir, tmp_path: Path) -> None:
    built.write("functions/beta/app.py", "def handler(event, context):\n    return 'BETA'\n")
    code, err, imported = build(built)
    assert code == 0, err
    assert HEAVY.isdisjoint(imported), HEAVY & imported
    # nor pathspec (the strip rules come compiled from the plan cache)
    assert "pathspec" not in imported
    assert "built  function:beta" in err and "built  check:function:beta" in err
    assert "alpha" not in err and "layer:shared" not in err
    assert_clean_build_agrees(built, tmp_path)
    # The record it left answers the next build for every target, not just the re-planned.
    assert replay.replay(built.root, replay.build_identity(
        (), smoke=False, checks=True, config="lambdaforge.toml")) == "6 up-to-date"


def test_an_incremental_build_loads_neither_pathspec_nor_typing_extensions(
        built: ProjectDir) -> None:
    """The strip rules come compiled from the plan cache, and msgspec is imported without
    typing_extensions (``lambdaforge.records``): ~35 ms of a one-file rebuild on a slow core.
    (Loaded modules, not ``-X importtime``'s lines, which list a refused import too.)"""
    built.write("functions/beta/app.py", "def handler(event, context):\n    return 'MODS'\n")
    code = ("import sys\nfrom lambdaforge.cli import main\n"
            "rc = main(['-C', sys.argv[1], 'build'])\nprint(' '.join(sorted(sys.modules)))\n"
            "sys.exit(rc)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(built.root)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and "built  function:beta" in proc.stderr, proc.stderr
    loaded = set(proc.stdout.split())
    assert "msgspec" in loaded and "lambdaforge.incremental" in loaded
    assert {"pathspec", "typing_extensions", "pydantic"}.isdisjoint(loaded)


def test_a_layer_code_change_repackages_the_layer_only(
        built: ProjectDir, tmp_path: Path) -> None:
    built.write("layers/shared/shared_util.py", "def util():\n    return 43\n")
    code, err, imported = build(built)
    assert code == 0, err
    assert HEAVY.isdisjoint(imported)
    assert "built  layer:shared" in err
    # Neither its zip nor its check's verdict can change (early cutoff): only the budget,
    # which takes the layer's new size, is applied again.
    assert "built  function:alpha" not in err and "built  check:function:alpha" not in err
    assert_clean_build_agrees(built, tmp_path)


def test_a_layer_code_change_does_not_replan_its_functions_packages(built: ProjectDir) -> None:
    """Early cutoff in the plan: a function's package takes only what its layer provides
    (its install), and its check, whose verdict does not read the layer, was keyed without
    the layer's key; so a layer code change re-plans the layer and its own check only (no
    walk of the functions' sources). The function's check still runs, with its last
    verdict and the budget applied to the layer's new size."""
    from lambdaforge import incremental
    from lambdaforge.build import BuildOptions, BuildSession

    built.write("layers/shared/shared_util.py", "def util():\n    return 44\n")
    identity = replay.build_identity((), smoke=False, checks=True, config="lambdaforge.toml")
    found = replay.examine(built.root, identity)
    assert found is not None and set(found.failing) == {"layer:shared"}
    scope = incremental.scope(built.root, identity, found)
    assert scope is not None
    session = BuildSession(scope.project, BuildOptions(jobs=2), scope=scope)
    outcome = session.run()
    assert outcome.ok
    assert session.replanned == {"layer:shared", "check:layer:shared"}
    assert outcome.results["check:function:alpha"].status.value == "up-to-date"
    assert "function:beta" not in outcome.results  # no layer: not in this build at all


@pytest.mark.parametrize("change", ["new file", "config", "plan cache damaged", "no plan cache",
                                    "keys of another plan"])
def test_anything_else_is_the_full_planners(built: ProjectDir, tmp_path: Path, change: str) -> None:
    built.write("functions/beta/app.py", "def handler(event, context):\n    return 'B2'\n")
    if change == "new file":
        built.write("functions/beta/extra.py", "X = 1\n")
    elif change == "config":
        text = (built.root / "lambdaforge.toml").read_text()
        built.config(text.replace("[functions.beta]\n", '[functions.beta]\nexclude = ["x"]\n'))
    elif change == "plan cache damaged":
        (built.root / ".forge/state/plan.json").write_text('{"version": 1, "targets": 3}')
    elif change == "keys of another plan":
        keys = built.root / ".forge/state/plan-keys.json"
        data = json.loads(keys.read_text())
        keys.write_text(json.dumps({**data, "generation": "0" * 16}))
    else:
        (built.root / ".forge/state/plan.json").unlink()
    code, err, imported = build(built)
    assert code == 0, err
    assert "pydantic" in imported  # the config was loaded and every target planned
    assert_clean_build_agrees(built, tmp_path)


def test_a_requirements_change_plans_every_target_on_the_cached_project(
        deps_project: ProjectDir, tmp_path: Path) -> None:
    """A declaration edited in place may change which installs exist: the graph is built
    again and every target planned, but the project is the cached one (no config load)."""
    deps_project.config(LOCAL_INDEX + "".join(
        f'[functions.{n}]\nsource = "{n}"\nhandler = "app.handler"\n\n' for n in ("fn", "other")))
    for n in ("fn", "other"):
        deps_project.write(f"{n}/app.py", "def handler(event, context):\n    return 1\n")
    deps_project.write("fn/requirements.txt", "dep-a\n")
    deps_project.write("other/requirements.txt", "dep-b\n")
    assert build(deps_project)[0] == 0
    deps_project.write("fn/requirements.txt", "dep-b\n")  # same size; now shares other's install
    code, err, imported = build(deps_project)
    assert code == 0, err
    assert HEAVY.isdisjoint(imported), HEAVY & imported
    names = deps_project.zip_names("function", "fn")
    assert "dep_b/__init__.py" in names and "dep_a/__init__.py" not in names
    assert_clean_build_agrees(deps_project, tmp_path)
    # the graph that build wrote is the new one: one install for both functions
    plan = json.loads((deps_project.root / ".forge/state/plan.json").read_text())
    installs = [t for t in plan["targets"] if t["kind"] == "install"]
    assert len(installs) == 1 and installs[0]["shared_by"] == 2
    # and the next source edit is incremental on it
    deps_project.write("fn/app.py", "def handler(event, context):\n    return 2\n")
    code, err, imported = build(deps_project)
    assert code == 0 and HEAVY.isdisjoint(imported) and "built  function:fn" in err, err
    assert_clean_build_agrees(deps_project, tmp_path)


def test_a_removed_requirements_file_the_config_names_is_the_loaders_error(
        deps_project: ProjectDir) -> None:
    deps_project.config(LOCAL_INDEX + '[functions.fn]\nsource = "fn"\nhandler = "app.handler"\n'
                        'requirements = "reqs/fn.txt"\n')
    deps_project.write("fn/app.py", "def handler(event, context):\n    return 1\n")
    deps_project.write("reqs/fn.txt", "dep-a\n")
    assert build(deps_project)[0] == 0
    (deps_project.root / "reqs/fn.txt").unlink()
    fresh = subprocess.run([sys.executable, "-m", "lambdaforge", "-C", str(deps_project.root),
                            "validate"], capture_output=True, text=True, timeout=120)
    code, err, imported = build(deps_project)
    assert code == 2 and "pydantic" in imported, err
    assert "lambdaforge.toml:" in err and "reqs/fn.txt" in err, err
    assert fresh.returncode == 2 and fresh.stderr.strip() in err, (fresh.stderr, err)


def test_no_plan_cache_for_a_project_with_credentials(deps_project: ProjectDir) -> None:
    deps_project.config(LOCAL_INDEX.replace(
        "no-index = true", 'no-index = true\nindex-url = "https://user:s3cret@pypi.example/simple"')
        + '[functions.fn]\nsource = "fn"\nhandler = "app.handler"\n')
    deps_project.write("fn/app.py", "def handler(event, context):\n    return 1\n")
    deps_project.write("fn/requirements.txt", "dep-a\n")
    assert main(["-C", str(deps_project.root), "build"]) == 0
    assert not (deps_project.root / ".forge/state/plan.json").exists()
    for path in (deps_project.root / ".forge").rglob("*"):
        if path.is_file() and path.suffix == ".json":
            assert "s3cret" not in path.read_text(errors="replace"), path


def test_the_plan_cache_is_plain_json(built: ProjectDir) -> None:
    data = json.loads((built.root / ".forge/state/plan.json").read_text())
    keys = json.loads((built.root / ".forge/state/plan-keys.json").read_text())
    assert data["version"] == 4 and set(keys["keys"]) == {t["id"] for t in data["targets"]}
    assert keys["generation"] == data["generation"]


def test_an_incremental_build_rewrites_only_the_keys(built: ProjectDir) -> None:
    """The project and graph an incremental build ran are the cached ones: plan.json stays
    as it was (its bookkeeping does not grow with the project), the keys move on."""
    plan = built.root / ".forge/state/plan.json"
    keys = built.root / ".forge/state/plan-keys.json"
    plan_before, keys_before = plan.read_bytes(), json.loads(keys.read_text())
    built.write("functions/beta/app.py", "def handler(event, context):\n    return 'KEYS'\n")
    code, err, imported = build(built)
    assert code == 0, err
    assert HEAVY.isdisjoint(imported)
    assert plan.read_bytes() == plan_before
    keys_after = json.loads(keys.read_text())
    assert keys_after["generation"] == keys_before["generation"]
    changed = {t for t in keys_after["keys"] if keys_after["keys"][t] != keys_before["keys"][t]}
    assert changed == {"function:beta", "check:function:beta"}
    # and the next edit is incremental again, from the keys this build wrote
    built.write("functions/beta/app.py", "def handler(event, context):\n    return 'KEYS2'\n")
    code, err, imported = build(built)
    assert code == 0, err
    assert HEAVY.isdisjoint(imported) and "built  function:beta" in err


def test_a_build_without_checks_or_of_one_function_is_incremental_too(built: ProjectDir) -> None:
    for args in (["--no-check"], ["beta"]):
        assert main(["-C", str(built.root), "build", *args]) == 0
        built.write("functions/beta/app.py", f"def handler(event, context):\n    return {args!r}\n")
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "lambdaforge", "-C", str(built.root),
             "build", *args], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert "pydantic" not in proc.stderr and "built  function:beta" in proc.stderr


@pytest.mark.parametrize("which", ["first", "second"])
def test_an_edit_to_a_shared_requirements_file_is_seen_whichever_function_has_it(
        deps_project: ProjectDir, which: str) -> None:
    """Two functions with equal requirements share one install, named after the first.
    Editing the other one's file once gave "up-to-date": only the first's was watched."""
    deps_project.config(LOCAL_INDEX + "".join(
        f'[functions.{n}]\nsource = "{n}"\nhandler = "app.handler"\n\n' for n in ("fa", "fb")))
    for n in ("fa", "fb"):
        deps_project.write(f"{n}/app.py", "def handler(event, context):\n    return 1\n")
        deps_project.write(f"{n}/requirements.txt", "dep-a\n")
    code, err, _ = build(deps_project)
    assert code == 0, err
    assert err.count("built  install:") == 1, err  # one install for both
    edited = "fa" if which == "first" else "fb"
    deps_project.write(f"{edited}/requirements.txt", "dep-b\n")
    code, err, _ = build(deps_project)
    assert code == 0, err
    assert f"built  function:{edited}" in err, err
    names = deps_project.zip_names("function", edited)
    assert "dep_b/__init__.py" in names and "dep_a/__init__.py" not in names
    other = "fb" if edited == "fa" else "fa"
    assert "dep_a/__init__.py" in deps_project.zip_names("function", other)
    # and a touch of the other file (same content) rebuilds nothing
    os.utime(deps_project.root / other / "requirements.txt")
    code, err, _ = build(deps_project)
    assert code == 0 and "built" not in err.replace("up-to-date", ""), err


def test_a_layer_growing_past_a_functions_budget_fails_its_check_incrementally(
        project: ProjectDir, tmp_path: Path) -> None:
    """A function's check is keyed without its layers' content (its verdict does not read
    them), so a layer code edit does not re-plan it; but the budget (max-size, with the
    layers) is applied again with the layer's new size, and the zip goes when it fails."""
    project.config(SOURCE_ONLY.replace('layers = ["shared"]\n', 'layers = ["shared"]\nmax-size = "20kB"\n'))
    project.write("layers/shared/shared_util.py", "def util():\n    return 42\n")
    project.write("functions/alpha/app.py", "def handler(event, context):\n    return 'alpha'\n")
    project.write("functions/beta/app.py", "def handler(event, context):\n    return 'beta'\n")
    code, err, _ = build(project)
    assert code == 0, err
    alpha_zip = project.zip_path("function", "alpha")
    assert alpha_zip.exists()
    padding = "".join(f"# {i:06d} {'x' * 70}\n" for i in range(400))  # ~32 kB unzipped
    project.write("layers/shared/shared_util.py", "def util():\n    return 42\n" + padding)
    code, err, imported = build(project)
    assert code == 1, err
    assert HEAVY.isdisjoint(imported), HEAVY & imported  # incremental, not a full plan
    assert "check:function:alpha" in err and "max-size" in err, err
    assert not alpha_zip.exists()
    manifest = json.loads((project.root / ".forge/build/manifest.json").read_text())
    assert "alpha" not in {a["name"] for a in manifest["artifacts"] if a["kind"] == "function"}
    assert project.zip_path("function", "beta").exists()
    # the next build does not call it up to date, and shrinking the layer brings it back
    code, err, _ = build(project)
    assert code == 1 and "max-size" in err, err
    project.write("layers/shared/shared_util.py", "def util():\n    return 43\n")
    code, err, _ = build(project)
    assert code == 0, err
    assert alpha_zip.exists()
    assert_clean_build_agrees(project, tmp_path)


def test_the_replay_record_observes_pathspec_whose_compiled_patterns_the_plan_cache_keeps(
        built: ProjectDir) -> None:
    """An upgraded pathspec could compile the strip rules differently: the plan cache's
    compiled patterns are used only while the project group holds, and it observes
    pathspec's modules (an upgrade re-plans, as one of lambdaforge does)."""
    import importlib.util

    record = replay.load(built.root, replay.build_identity(
        (), smoke=False, checks=True, config="lambdaforge.toml"))
    assert record is not None
    package = Path(importlib.util.find_spec("pathspec").origin).resolve().parent
    tools = {o[1] for o in record["project"] if o[0] == "t"}
    assert str(package / "__init__.py") in tools and str(package / "_version.py") in tools
    plan = json.loads((built.root / ".forge/state/plan.json").read_text())
    assert ["__pycache__/", "*.py[cod]", "tests/", "test/", ".pytest_cache/", ".mypy_cache/",
            ".ruff_cache/", ".git/", ".svn/", ".hg/", ".idea/", ".vscode/", ".gitignore",
            ".gitattributes", "*.swp", "*.swo", "*~", ".DS_Store"] in [k for k, _ in plan["patterns"]]


def test_the_build_reuses_the_record_its_replay_read_unless_the_file_changed(
        built: ProjectDir, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Under the build lock, an incremental build carries the unchanged targets' groups over
    from the record its replay examined, when the file is still that one; a record replaced
    meanwhile (another build) is read again."""
    import time

    from lambdaforge import incremental
    from lambdaforge.build import BuildOptions, BuildSession

    identity = replay.build_identity((), smoke=False, checks=True, config="lambdaforge.toml")
    loads: list[Path] = []
    real_load = replay.load
    monkeypatch.setattr(replay, "load", lambda root, ident: loads.append(root) or real_load(root, ident))
    time.sleep(0.15)  # past the racy window of the record the fixture's build just wrote
    for i, replaced in enumerate((False, True)):
        built.write("functions/beta/app.py", f"def handler(event, context):\n    return {i}\n")
        found = replay.examine(built.root, identity)
        assert found is not None and found.failing
        scope = incremental.scope(built.root, identity, found)
        assert scope is not None
        if replaced:  # the same content under a new inode: not the file the replay read
            data = real_load(built.root, identity)
            replay.record(built.root / ".forge/state", identity, data["reference_ns"],
                          data["project"], data["targets"], data["summary"])
        assert found.current(built.root) is not replaced
        loads.clear()
        outcome = BuildSession(scope.project, BuildOptions(jobs=2), scope=scope).run()
        assert outcome.ok
        assert len(loads) == (1 if replaced else 0)
        time.sleep(0.15)
    assert_clean_build_agrees(built, tmp_path)
    assert replay.replay(built.root, identity) == "6 up-to-date"


def test_a_record_written_just_before_it_was_read_is_read_again(built: ProjectDir) -> None:
    """A record file modified within the racy window of the replay's read could have changed
    again in the same timestamp tick without its stat showing it: not reused."""
    identity = replay.build_identity((), smoke=False, checks=True, config="lambdaforge.toml")
    data = replay.load(built.root, identity)
    assert data is not None
    replay.record(built.root / ".forge/state", identity, data["reference_ns"],
                  data["project"], data["targets"], data["summary"])
    built.write("functions/beta/app.py", "def handler(event, context):\n    return 'R'\n")
    found = replay.examine(built.root, identity)
    assert found is not None and found.failing and not found.current(built.root)
