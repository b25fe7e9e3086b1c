"""``forge`` answers a remembered no-op build before parsing its command line (``noop``).

The first ``forge build`` in a directory is parsed by argparse and remembers what those
arguments meant; the next one with the same arguments is answered from the replay record
without importing argparse, pathlib or any command module. Anything that could make the
memo wrong sends it back to the command line, which answers as it always did.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from lambdaforge import noop

from .conftest import ProjectDir

#: the command line: none of it is imported by a remembered no-op
CLI = {"argparse", "lambdaforge.cli", "lambdaforge.cli.build_cmds"}


def run(cwd, *args: str) -> tuple[int, str, set[str]]:
    """``python -m lambdaforge ARGS`` in ``cwd``: exit code, stderr without the import
    times, and the modules it imported."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "lambdaforge", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ))
    lines = proc.stderr.splitlines()
    imported = {line.split("|")[-1].strip() for line in lines if line.startswith("import time:")}
    err = "\n".join(line for line in lines if not line.startswith("import time:"))
    return proc.returncode, err, imported


@pytest.fixture
def remembered(source_project: ProjectDir) -> ProjectDir:
    """A project built, then no-op'ed once through the command line (which remembers)."""
    code, err, _ = run(source_project.root, "build")
    assert code == 0, err
    time.sleep(0.15)  # past the racy window: the record's stats are trusted from now on
    code, err, imported = run(source_project.root, "build")
    assert code == 0 and "6 up-to-date in" in err, err
    return source_project


def test_a_remembered_noop_is_answered_without_parsing_the_command_line(
        remembered: ProjectDir) -> None:
    code, err, imported = run(remembered.root, "build")
    assert code == 0 and "6 up-to-date in" in err, err
    # nor pathlib (~8 ms): the record, refreshed by the last no-op, is stats alone now
    assert (CLI | {"pathlib"}).isdisjoint(imported), (CLI | {"pathlib"}) & imported
    memo = json.loads((remembered.root / ".forge/state" / noop.MEMO_NAME).read_text())
    assert list(memo["entries"]) == [json.dumps([str(remembered.root), ["build"]],
                                                separators=(",", ":"))]


def test_each_directory_and_argument_list_is_remembered_on_its_own(
        remembered: ProjectDir) -> None:
    sub = remembered.root / "functions" / "alpha"
    code, err, imported = run(sub, "build")
    assert code == 0 and "6 up-to-date in" in err, err
    assert "lambdaforge.cli" in imported  # first time from here: parsed
    code, err, imported = run(sub, "build")
    assert code == 0 and "6 up-to-date in" in err and CLI.isdisjoint(imported), err
    code, err, imported = run(remembered.root, "build", "--no-check")
    assert code == 0 and "lambdaforge.cli" in imported, err
    time.sleep(0.15)  # the record of this identity was just written
    code, err, imported = run(remembered.root, "build", "--no-check")
    assert code == 0 and "up-to-date in" in err and CLI.isdisjoint(imported), err


@pytest.mark.parametrize("args", [["build", "--force"], ["build", "--json"], ["plan"],
                                  ["build", "alpha"]])
def test_other_arguments_are_parsed_and_answered_as_ever(remembered: ProjectDir,
                                                         args: list[str]) -> None:
    code, err, imported = run(remembered.root, *args)
    assert code == 0, err
    assert "lambdaforge.cli" in imported
    if args == ["build", "--force"]:
        assert "built" in err and "up-to-date in" not in err


def test_a_change_is_built_by_the_command_line(remembered: ProjectDir) -> None:
    remembered.write("functions/beta/app.py", "def handler(event, context):\n    return 'B2'\n")
    code, err, imported = run(remembered.root, "build")
    assert code == 0 and "built  function:beta" in err, err
    assert "lambdaforge.cli" in imported
    assert "6 up-to-date in" not in err


def test_a_nearer_project_is_the_one_answered(remembered: ProjectDir) -> None:
    """A ``lambdaforge.toml`` created between the working directory and the remembered
    project: argparse would find it, and so does the memo lookup (it has no memo)."""
    sub = remembered.root / "functions" / "alpha"
    for _ in range(2):
        assert run(sub, "build")[0] == 0
    (sub / "lambdaforge.toml").write_text("[project]\nname = 'inner'\n")
    code, err, imported = run(sub, "build")
    assert "lambdaforge.cli" in imported
    assert "6 up-to-date" not in err


def test_a_directory_given_with_dash_c_is_found_again_each_time(remembered: ProjectDir) -> None:
    """``forge -C functions/alpha build`` from the project root builds the project above
    ``functions/alpha``: remembered, then answered before parsing. Once that directory has a
    ``lambdaforge.toml`` of its own, the arguments name another project: parsed again."""
    root, sub = remembered.root, remembered.root / "functions" / "alpha"
    for args in (["-C", ".", "build"], ["-C", "functions/alpha", "build"]):
        code, err, imported = run(root, *args)
        assert code == 0 and "6 up-to-date in" in err and "lambdaforge.cli" in imported, err
        code, err, imported = run(root, *args)
        assert code == 0 and "6 up-to-date in" in err and CLI.isdisjoint(imported), (args, err)
    (sub / "lambdaforge.toml").write_text("[project]\nname = 'inner'\n")
    code, err, imported = run(root, "-C", "functions/alpha", "build")
    assert "lambdaforge.cli" in imported and "6 up-to-date" not in err, err
    code, err, imported = run(root, "-C", ".", "build")  # the outer project: alpha has a new file
    assert code == 0 and "built  function:alpha" in err, err


@pytest.mark.parametrize("damage", ["garbage", "other modules", "another version", "not a dict"])
def test_a_damaged_or_stale_memo_is_not_used(remembered: ProjectDir, damage: str) -> None:
    path = remembered.root / ".forge/state" / noop.MEMO_NAME
    memo = json.loads(path.read_text())
    if damage == "garbage":
        path.write_bytes(b"\x00{not json")
    elif damage == "other modules":  # the command-line code changed since it was written
        memo["modules"][0][2][1] += 1
        path.write_text(json.dumps(memo))
    elif damage == "another version":
        memo["lambdaforge"] = "0.0.0"
        path.write_text(json.dumps(memo))
    else:
        memo["entries"] = {key: "build" for key in memo["entries"]}
        path.write_text(json.dumps(memo))
    code, err, imported = run(remembered.root, "build")
    assert code == 0 and "6 up-to-date in" in err, err
    assert "lambdaforge.cli" in imported and "internal error" not in err
    code, err, imported = run(remembered.root, "build")  # written again, whole
    assert code == 0 and CLI.isdisjoint(imported)


def test_a_replay_made_before_parsing_is_taken_over_once(remembered: ProjectDir) -> None:
    found = object()
    root = str(remembered.root)
    identity = {"names": [], "smoke": False, "checks": True, "config": "lambdaforge.toml"}
    noop._examined = (root, json.dumps(identity, sort_keys=True), found)  # type: ignore
    assert noop.take(root, {**identity, "smoke": True}) is None  # another identity: not it
    noop._examined = (root, json.dumps(identity, sort_keys=True), found)  # type: ignore
    assert noop.take(root + "/functions", identity) is None
    noop._examined = (root, json.dumps(identity, sort_keys=True), found)  # type: ignore
    assert noop.take(root, identity) is found
    assert noop.take(root, identity) is None
