"""A large replay record is parsed and checked by two processes; the answer is the same.

``replay.examine`` splits a record of ``PARALLEL_MIN_BYTES`` or more at half its bytes and
forks a helper for the second half (git's preload-index, with a process since Python's
threads share one lock). These tests run ``examine`` in a fresh, single-threaded interpreter
with the threshold at one byte, so even a small project's record is split, and compare it with
the one-process answer: the same verdict, the same failing targets, the same refresh; and a
helper that dies, or cannot be forked, or a malformed line in its half, never changes it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

from lambdaforge import replay
from lambdaforge.cli import main

from .conftest import ProjectDir

IDENTITY = replay.build_identity((), smoke=False, checks=True, config="lambdaforge.toml")

SCRIPT = r"""
import json, os, sys
from pathlib import Path
from lambdaforge import replay

root, mode = Path(sys.argv[1]), sys.argv[2]
replay.PARALLEL_MIN_BYTES = 10**12 if mode == "serial" else 1
identity = replay.build_identity((), smoke=False, checks=True, config="lambdaforge.toml")
forks = []
real_fork = os.fork
def counting_fork():
    forks.append(1)
    if mode == "no-fork":
        raise OSError(11, "Resource temporarily unavailable")
    return real_fork()
os.fork = counting_fork
if mode == "helper-dies":
    parent, real_check = os.getpid(), replay._check_lines
    def dying(*args):
        if os.getpid() != parent:
            os._exit(3)
        return real_check(*args)
    replay._check_lines = dying
if mode == "interrupted":
    parent, real_check = os.getpid(), replay._check_lines
    def interrupted(*args):
        if os.getpid() == parent:
            raise KeyboardInterrupt
        return real_check(*args)
    replay._check_lines = interrupted
    try:
        replay.examine(root, identity)
    except KeyboardInterrupt:
        pass
    try:
        os.waitpid(-1, os.WNOHANG)
        print(json.dumps({"reaped": False}))
    except ChildProcessError:  # no child left: the helper was waited for
        print(json.dumps({"reaped": True, "forks": len(forks)}))
    sys.exit(0)
header, lines, _ = replay._read(root, identity)
second = [json.loads(line)[0] for line in lines[replay._split(lines):]]
found = replay.examine(root, identity)
print(json.dumps({
    "none": found is None, "forks": len(forks), "second_half": second,
    "up_to_date": found is not None and found.up_to_date,
    "failing": None if found is None else sorted(found.failing),
    "groups": None if found is None else sorted(found.groups),
}))
"""


def examine(project: ProjectDir, mode: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(project.root), mode],
                          capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def built(source_project: ProjectDir) -> ProjectDir:
    assert main(["-C", str(source_project.root), "build"]) == 0
    return source_project


def test_a_split_record_answers_as_one_process_does(built: ProjectDir) -> None:
    first = examine(built, "parallel")
    assert first["forks"] == 1 and first["second_half"], first
    assert first["up_to_date"] and first["failing"] == []
    assert first["groups"] == examine(built, "serial")["groups"]
    # a change to a target the helper checks is found, as by one process
    assert "function:beta" in first["second_half"] or "check:function:beta" in first["second_half"]
    built.write("functions/beta/app.py", "def handler(event, context):\n    return 'B2'\n")
    parallel, serial = examine(built, "parallel"), examine(built, "serial")
    assert serial["forks"] == 0 and not serial["up_to_date"]
    assert parallel["failing"] == serial["failing"] and "function:beta" in parallel["failing"]


@pytest.mark.parametrize("mode", ["helper-dies", "no-fork"])
def test_a_helper_that_fails_costs_time_never_the_answer(built: ProjectDir, mode: str) -> None:
    assert examine(built, mode)["up_to_date"]
    built.write("functions/beta/app.py", "def handler(event, context):\n    return 'B3'\n")
    answer = examine(built, mode)
    assert answer["forks"] == 1 and not answer["up_to_date"]
    assert answer["failing"] == examine(built, "serial")["failing"]


def test_an_interrupted_replay_reaps_its_helper(built: ProjectDir) -> None:
    """Ctrl-C while this process checks its half: the interrupt propagates, and the helper
    is waited for (no zombie, no second read of a closed pipe masking the interrupt)."""
    answer = examine(built, "interrupted")
    assert answer == {"reaped": True, "forks": 1}


def test_a_malformed_line_in_the_helpers_half_means_no_record(built: ProjectDir) -> None:
    path = built.root / ".forge/state/replay.json"
    lines = path.read_bytes().split(b"\n")
    lines[-1] = b'["check:function:beta", {"not": "a list"}]'
    path.write_bytes(b"\n".join(lines))
    assert examine(built, "parallel")["none"] and examine(built, "serial")["none"]
    lines[-1] = lines[1]  # the project group twice, once in each half
    path.write_bytes(b"\n".join(lines))
    assert examine(built, "parallel")["none"]


def test_content_verified_observations_of_the_helpers_half_are_refreshed(built: ProjectDir) -> None:
    """A file whose stat moved but whose content did not (a ``touch``) holds by content; the
    record is rewritten with its current stat, whichever process checked it."""
    app = built.root / "functions/beta/app.py"
    os.utime(app)
    answer = examine(built, "parallel")
    assert answer["up_to_date"] and answer["forks"] == 1
    data = replay.load(built.root, IDENTITY)
    assert data is not None
    st = app.stat()
    recorded = [o[2] for g in data["targets"].values() for o in g
                if o[0] == "f" and o[1] == "functions/beta/app.py"]
    assert recorded and all(r[1] == st.st_mtime_ns and r[3] == st.st_ctime_ns for r in recorded)


def test_no_fork_while_another_thread_runs() -> None:
    """A thread holding a lock at the fork would leave it held in the child."""
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not replay._may_fork()
        assert replay._split([b"x" * replay.PARALLEL_MIN_BYTES] * 4) == 4
    finally:
        stop.set()
        thread.join()
