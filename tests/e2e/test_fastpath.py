"""The no-op fast path answers from stats alone, and never hides a change."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from lambdaforge.cli import main


def forge(project, *args: str) -> int:
    return main(["-C", str(project.root), *args])


def settle() -> None:
    # Files written within the racy window are never trusted by the fast path.
    time.sleep(0.15)


@pytest.fixture
def built(source_project, capsys):
    settle()
    assert forge(source_project, "build") == 0
    capsys.readouterr()
    return source_project


def test_noop_build_imports_nothing_heavy(built):
    def imports() -> set[str]:
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "lambdaforge", "-C", str(built.root),
             "build"], capture_output=True, text=True, env=dict(os.environ), timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        assert "6 up-to-date in" in proc.stderr
        return {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}

    # nor the records' msgspec, nor pathspec, argparse's command modules or subprocess:
    # answering from the replay record needs none of them
    heavy = {"pydantic", "networkx", "boto3", "rich", "msgspec", "dataclasses", "pathspec",
             "subprocess", "lambdaforge.cli.deploy_cmds", "lambdaforge.build"}
    # The first no-op after a build verifies the just-written outputs by content and
    # rewrites the record (through fsutil), against its own start, which is past the racy
    # window of those outputs; the next one is stats alone, and needs not even typing or
    # shutil (~5 and ~3 ms).
    settle()
    first = imports()
    assert heavy.isdisjoint(first), heavy & first
    second = imports()
    assert (heavy | {"typing", "shutil", "lambdaforge.fsutil"}).isdisjoint(second), (
        (heavy | {"typing", "shutil", "lambdaforge.fsutil"}) & second)


@pytest.mark.parametrize("change", ["edit", "add", "add-subdir", "remove", "config", "env",
                                    "artifact"])
def test_fast_path_never_hides_a_change(built, capsys, monkeypatch, change):
    root = built.root
    if change == "edit":
        built.write("functions/beta/app.py", "def handler(event, context):\n    return 2\n")
    elif change == "add":
        built.write("functions/beta/extra.py", "X = 1\n")
    elif change == "add-subdir":
        built.write("functions/beta/pkg/deep/mod.py", "X = 1\n")
    elif change == "remove":
        (root / "functions/alpha/helpers.py").unlink()
    elif change == "config":
        text = (root / "lambdaforge.toml").read_text()
        built.config(text.replace('[functions.beta]', '[functions.beta]\nexclude = ["nothing"]'))
    elif change == "env":
        monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    elif change == "artifact":
        built.zip_path("function", "beta").write_bytes(b"tampered")
    assert forge(built, "build") == 0
    err = capsys.readouterr().err
    assert "built" in err or "cached" in err, err
    assert "6 up-to-date in" not in err


def test_failed_build_leaves_no_fast_path_record(source_project, capsys):
    source_project.write("functions/beta/app.py", "def other(event, context):\n    return 1\n")
    settle()
    assert forge(source_project, "build") == 1
    assert not (source_project.root / ".forge/state/replay.json").exists()
    assert forge(source_project, "build") == 1  # still checked, still failing
    assert "FAILED check:function:beta" in capsys.readouterr().err


def test_selection_is_part_of_the_fast_path_identity(built, capsys):
    assert forge(built, "build", "alpha") == 0
    err = capsys.readouterr().err
    assert "4 up-to-date" in err  # answered by the planner, not by the full build's record


def _answered_by_fast_path(project) -> bool:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "lambdaforge", "-C", str(project.root), "build"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    return "pydantic" not in imported and "6 up-to-date in" in proc.stderr


def test_touched_files_with_unchanged_content_are_still_answered_from_stats(built):
    app = built.root / "functions/alpha/app.py"
    st = app.stat()
    os.utime(app, ns=(st.st_atime_ns, st.st_mtime_ns - 10_000_000_000))
    assert _answered_by_fast_path(built)
    # a git-checkout-like rewrite: same bytes, new inode, the directory's mtime moves too
    data = app.read_bytes()
    app.unlink()
    app.write_bytes(data)
    os.utime(app, ns=(st.st_atime_ns, st.st_mtime_ns - 20_000_000_000))
    assert _answered_by_fast_path(built)
    assert _answered_by_fast_path(built)  # the record now holds the new stats


def test_an_exec_bit_flip_is_never_answered_from_stats(built, capsys):
    app = built.root / "functions/alpha/app.py"
    app.chmod(0o755)
    assert forge(built, "build") == 0
    assert "built" in capsys.readouterr().err
