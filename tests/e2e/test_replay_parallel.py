"""A large replay record is parsed and checked by two processes; the answer is the same.

``replay.examine`` splits a record of ``PARALLEL_MIN_OBSERVATIONS`` or more at half its
observations and forks a helper for the second half (git's preload-index, with a process since Python's
threads share one lock). These tests run ``examine`` in a fresh, single-threaded interpreter
with the threshold at one observation, so even a small project's record is split, and compare it with
the one-process answer: the same verdict, the same failing targets, the same refresh; and a
helper that dies, or cannot be forked, or a malformed observation in its half, never changes it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import types

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
replay.PARALLEL_MIN_OBSERVATIONS = 10**12 if mode == "serial" else 1
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
    parent, real_check = os.getpid(), replay._check_groups
    def dying(*args):
        if os.getpid() != parent:
            os._exit(3)
        return real_check(*args)
    replay._check_groups = dying
if mode == "interrupted":
    parent, real_check = os.getpid(), replay._check_groups
    def interrupted(*args):
        if os.getpid() == parent:
            raise KeyboardInterrupt
        return real_check(*args)
    replay._check_groups = interrupted
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
read = replay._read(root, identity)
second = [] if read is None else read[1].names[replay._split(read[1]):]
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


def _rewrite(path, header: dict, body: bytes) -> None:
    path.write_bytes(json.dumps(header).encode() + b"\n" + body)


def test_a_malformed_observation_in_the_helpers_half_means_no_record(built: ProjectDir) -> None:
    """An observation stored whole (as JSON) that does not parse, in the groups the helper
    checks: the helper says so, and the record is not there, as for one process."""
    data = replay.load(built.root, IDENTITY)
    assert data is not None
    last = list(data["targets"])[-1]
    data["targets"][last] = [*data["targets"][last], ["m", "nothere"]]
    replay.record(built.root / ".forge/state", IDENTITY, data["reference_ns"], data["project"],
                  data["targets"], data["summary"])
    path = built.root / ".forge/state/replay.json"
    raw = path.read_bytes()
    assert raw.count(b'["m","nothere"]') == 1
    path.write_bytes(raw.replace(b'["m","nothere"]', b'{"m","nothere"]'))  # same length
    parallel = examine(built, "parallel")
    assert parallel["none"] and parallel["forks"] == 1
    assert examine(built, "serial")["none"]


@pytest.mark.parametrize("damage", ["a group twice", "counts off by one", "sections short",
                                    "another byte order", "no groups"])
def test_a_record_whose_layout_does_not_add_up_is_not_there(built: ProjectDir, damage: str) -> None:
    path = built.root / ".forge/state/replay.json"
    head, _, body = path.read_bytes().partition(b"\n")
    header = json.loads(head)
    if damage == "a group twice":
        header["groups"][-1][0] = "project"
    elif damage == "counts off by one":
        header["groups"][-1][1] += 1
    elif damage == "sections short":
        body = body[:-8]
    elif damage == "another byte order":
        header["byteorder"] = "big" if sys.byteorder == "little" else "little"
    else:
        header["groups"] = []
    _rewrite(path, header, body)
    assert examine(built, "parallel")["none"] and examine(built, "serial")["none"]
    assert main(["-C", str(built.root), "build"]) == 0  # planned again, not an error


def test_a_record_round_trips_every_kind_of_observation(tmp_path) -> None:
    """What ``record`` writes, ``load`` gives back as written: observations that fit the
    columns and those stored whole (an environment variable, a missing path, a stat that
    could not be taken, a path that is not UTF-8, an inode past int64, a malformed one)."""
    state = tmp_path / ".forge" / "state"
    state.mkdir(parents=True)
    odd = os.fsdecode(b"caf\xe9.py")
    project = [["e", "PATH", "/bin"], ["m", "gone.txt"], ["t", "/usr/bin/env", [1, 2, 3, 4, 5]]]
    targets = {
        "function:a": [["f", "a/app.py", [10, 2, 3, 4, 33188], "ab" * 32],
                       ["d", "a", [4096, 2, 3, 4, 16877], "cd" * 32],
                       ["o", ".forge/build/a.zip", [9, 2, 3, 4, 33188, 2], "ef" * 32],
                       ["f", odd, None, ""], ["f", "big", [1, 2, 1 << 64, 4, 5], "x"]],
        "check:function:a": [],
        "function:b": [["f", "b/app.py", "not a stat", "x"], ["f", "nul\0name", [1, 2, 3, 4, 5], "y"],
                       ["f", odd, [1, 2, 3, 4, 33188], "z"]],
    }
    replay.record(state, IDENTITY, 123, project, targets, "3 up-to-date")
    data = replay.load(tmp_path, IDENTITY)
    assert data is not None
    assert data["project"] == project and data["targets"] == targets
    assert data["summary"] == "3 up-to-date" and data["reference_ns"] == 123
    assert list(data["targets"]) == list(targets)


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
        many = types.SimpleNamespace(names=["project", "a", "b"],
                                     starts=[0, 1, replay.PARALLEL_MIN_OBSERVATIONS, 2 * replay.PARALLEL_MIN_OBSERVATIONS])
        assert replay._split(many) == 3
    finally:
        stop.set()
        thread.join()


def _columns_of(groups, fast: bool):
    columns = replay._Columns()
    for _, group in groups:
        if fast:
            assert columns.add_fast(group), group
        else:
            columns.add_rows(group)
    return bytes(columns.kinds), columns.paths, columns.lasts, columns.stats.tobytes()


def test_the_one_pass_encoding_is_the_row_by_row_one(built: ProjectDir) -> None:
    """A real record's groups take the one-pass encoder (its checks made in bulk), and what
    that writes is byte for byte what encoding row by row writes; a group it cannot take (a
    bool where a stat field belongs, a NUL in a path) falls back to rows, stored whole."""
    data = replay.load(built.root, IDENTITY)
    assert data is not None
    groups = [("project", data["project"]), *data["targets"].items()]
    assert _columns_of(groups, fast=True) == _columns_of(groups, fast=False)
    for odd in (["f", "a.py", [1, 2, 3, True, 5], "x"], ["f", "a\0b", [1, 2, 3, 4, 5], "x"]):
        columns = replay._Columns()
        assert not columns.add_fast([odd]) and not columns.kinds  # nothing half-appended
        replay.record(built.root / ".forge/state", IDENTITY, 1, data["project"],
                      {**data["targets"], "function:odd": [odd]}, "x")
        back = replay.load(built.root, IDENTITY)
        assert back is not None and back["targets"]["function:odd"] == [odd]


def test_groups_carried_over_undecoded_are_written_as_they_were(built: ProjectDir) -> None:
    """An incremental build writes the groups it did not re-plan straight from the record it
    read (``_Groups.raw``): the same bytes as decoding and encoding them again, mixed with
    groups it did re-plan."""
    path = built.root / ".forge/state/replay.json"
    data = replay.load(built.root, IDENTITY)
    assert data is not None
    found = replay.examine(built.root, IDENTITY)
    assert found is not None and found.up_to_date
    lazy = found.data["targets"]
    names = list(lazy)
    assert names == list(data["targets"]) and len(lazy) == len(names)
    replanned = names[0]
    mixed = {name: (data["targets"][name] if name == replanned else lazy.raw(name))
             for name in names}
    assert [len(g) for g in mixed.values()] == [len(data["targets"][n]) for n in names]
    replay.record(path.parent, IDENTITY, data["reference_ns"], data["project"], mixed,
                  data["summary"])
    carried = path.read_bytes()
    replay.record(path.parent, IDENTITY, data["reference_ns"], data["project"],
                  data["targets"], data["summary"])
    assert carried == path.read_bytes()
    assert list(mixed[names[-1]]) == data["targets"][names[-1]]  # iterating decodes
