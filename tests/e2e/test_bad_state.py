"""Bad state on disk and bad input in a tree: a cache miss or a clear error, never a lie.

- state files of the right version but the wrong shape are a rebuild with one warning;
- a damaged install entry is installed again in the same run;
- an artifact that fails a blocking check leaves ``.forge/build`` and the manifest;
- zips of functions renamed away are removed;
- file names a zip cannot carry fail their own function, with a message naming them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lambdaforge import replay
from lambdaforge.cache import Cache
from lambdaforge.cli import main
from lambdaforge.state import BuildState

from .conftest import LOCAL_INDEX, SOURCE_ONLY, ProjectDir


def forge(project: ProjectDir, *args: str) -> int:
    return main(["-C", str(project.root), *args])


def manifest(project: ProjectDir) -> dict[str, dict]:
    data = json.loads((project.root / ".forge/build/manifest.json").read_text())
    return {f"{a['kind']}:{a['name']}": a for a in data["artifacts"]}


def edit_state(project: ProjectDir, target: str, change) -> None:  # type: ignore[no-untyped-def]
    path = BuildState(project.root / ".forge/state").file_for(target)
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("damage", [
    lambda d: d.update(outputs={}),
    lambda d: d["outputs"].update(path=None),
    lambda d: d["outputs"].update(size="big"),
    lambda d: d["outputs"].update(observed={"not": "a list"}),
    lambda d: d["outputs"].update(observed=[["o", None, None, 3]]),
    lambda d: d["outputs"].update(provides=["x"]),
], ids=["empty-outputs", "null-path", "size-text", "observed-dict", "observed-garbage",
        "provides-list"])
def test_shape_corrupt_state_is_a_rebuild_with_one_warning(
        source_project: ProjectDir, capsys: pytest.CaptureFixture[str], damage) -> None:
    assert forge(source_project, "build") == 0
    edit_state(source_project, "function:beta", damage)
    capsys.readouterr()
    assert forge(source_project, "build") == 0
    err = capsys.readouterr().err
    assert "internal error" not in err
    warnings = [line for line in err.splitlines() if "function:beta: the record" in line]
    assert len(warnings) == 1 and "unreadable" in warnings[0], err
    assert "cached  function:beta" in err
    assert forge(source_project, "build") == 0  # and the record is whole again
    assert "function:beta" not in capsys.readouterr().err


@pytest.mark.parametrize("record", ['{"version": 3, "project": "x"}', "[1, 2]",
                                    '{"version": 3, "lambdaforge": "0", "targets": []}'])
def test_a_shape_corrupt_replay_record_means_plan_again(
        source_project: ProjectDir, capsys: pytest.CaptureFixture[str], record: str) -> None:
    assert forge(source_project, "build") == 0
    (source_project.root / ".forge/state/replay.json").write_text(record)
    capsys.readouterr()
    assert forge(source_project, "build") == 0
    err = capsys.readouterr().err
    assert "6 up-to-date" in err and "internal error" not in err


def test_a_replay_record_with_malformed_observations_is_not_trusted(
        source_project: ProjectDir) -> None:
    assert forge(source_project, "build") == 0
    identity = replay.build_identity((), smoke=False, checks=True, config="lambdaforge.toml")
    data = replay.load(source_project.root, identity)
    assert data is not None
    data["targets"]["function:beta"] = [["f", "functions/beta/app.py", "not a stat", "x"]]
    replay.record(source_project.root / ".forge/state", identity, data["reference_ns"],
                  data["project"], data["targets"], data["summary"])
    assert replay.replay(source_project.root, identity) is None


def test_a_corrupt_install_entry_is_installed_again_in_the_same_run(
        deps_project: ProjectDir, capsys: pytest.CaptureFixture[str]) -> None:
    deps_project.config(LOCAL_INDEX + '[functions.fn]\nsource = "fn"\nhandler = "app.handler"\n')
    deps_project.write("fn/app.py", "def handler(event, context):\n    return 1\n")
    deps_project.write("fn/requirements.txt", "dep-a\n")
    assert forge(deps_project, "build") == 0
    cache = Cache(Path(os.environ["FORGE_CACHE_DIR"]))
    deps = [p for p in cache.root.rglob("deps.zip")]
    assert len(deps) == 1
    data = bytearray(deps[0].read_bytes())
    data[len(data) // 2] ^= 0xFF
    deps[0].write_bytes(data)
    deps_project.write("fn/app.py", "def handler(event, context):\n    return 2\n")
    capsys.readouterr()
    assert forge(deps_project, "build") == 0
    err = capsys.readouterr().err
    assert "corrupt" in err
    assert "dep_a/__init__.py" in deps_project.zip_names("function", "fn")


def test_an_artifact_failing_a_blocking_check_leaves_the_build_folder(
        source_project: ProjectDir, capsys: pytest.CaptureFixture[str]) -> None:
    assert forge(source_project, "build") == 0
    assert "function:beta" in manifest(source_project)
    text = (source_project.root / "lambdaforge.toml").read_text()
    source_project.config(text.replace('[functions.beta]\n', '[functions.beta]\nmax-size = "10B"\n'))
    capsys.readouterr()
    assert forge(source_project, "build") == 1
    err = capsys.readouterr().err
    assert "FAILED check:function:beta" in err
    assert "removed .forge/build/functions/beta.zip: it failed its checks" in err
    assert not source_project.zip_path("function", "beta").exists()
    assert "function:beta" not in manifest(source_project)
    assert source_project.zip_path("function", "alpha").exists()
    # A build without checks does not call the removed zip up to date.
    outcome = source_project.build(checks=False)
    assert source_project.statuses(outcome)["function:beta"] in ("cached", "built")
    assert source_project.zip_path("function", "beta").exists()


def test_zips_of_functions_renamed_away_are_removed(
        source_project: ProjectDir, capsys: pytest.CaptureFixture[str]) -> None:
    assert forge(source_project, "build") == 0
    text = (source_project.root / "lambdaforge.toml").read_text()
    source_project.config(text.replace("[functions.beta]", "[functions.gamma]"))
    capsys.readouterr()
    assert forge(source_project, "build") == 0
    err = capsys.readouterr().err
    assert "removed .forge/build/functions/beta.zip: no function named beta in lambdaforge.toml" in err
    assert not source_project.zip_path("function", "beta").exists()
    assert source_project.zip_path("function", "gamma").exists()
    assert set(manifest(source_project)) == {"function:alpha", "function:gamma", "layer:shared"}


@pytest.mark.parametrize("name, message", [
    ("we\\ird.py", "we\\ird.py: cannot be packaged: a backslash in a file name is a directory "
                   "separator to many unzip tools, and zip names allow only '/'"),
    (b"\xff.py", "\\xff.py: cannot be packaged: the file name is not valid UTF-8"),
], ids=["backslash", "not-utf8"])
def test_a_file_name_a_zip_cannot_carry_fails_only_its_function(
        source_project: ProjectDir, capsys: pytest.CaptureFixture[str],
        name: str | bytes, message: str) -> None:
    folder = os.fsencode(source_project.root / "functions/beta")
    with open(os.path.join(folder, os.fsencode(name)), "wb") as f:
        f.write(b"X = 1\n")
    assert forge(source_project, "build") == 1
    err = capsys.readouterr().err
    assert f"FAILED function:beta:\n{message}" in err
    assert "internal error" not in err
    assert source_project.zip_path("function", "alpha").exists()
    # excluded, it is no problem at all
    text = (source_project.root / "lambdaforge.toml").read_text()
    source_project.config(text.replace('[functions.beta]\n', '[functions.beta]\nexclude = ["*.py", "!app.py"]\n'))
    assert forge(source_project, "build") == 0


def test_config_unchanged_source_only_fixture_is_valid() -> None:
    assert "[functions.beta]" in SOURCE_ONLY
