"""The watch set comes from what the build read: its files, listings and missing paths
(never lambdaforge's own state), and it re-checks them by the build's own rule."""

from __future__ import annotations

import io
import os
from contextlib import redirect_stderr
from pathlib import Path

import pytest

from lambdaforge.replay import build_identity
from lambdaforge.watchset import WatchSet, recorded_observations


@pytest.fixture
def built_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from lambdaforge.cli import main

    monkeypatch.setenv("FORGE_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "proj"
    (root / "fn").mkdir(parents=True)
    (root / "lambdaforge.toml").write_text(
        '[project]\nname = "w"\n[functions.api]\nsource = "fn"\nhandler = "app.handler"\n'
        'runtime = "python3.12"\n')
    (root / "fn" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    with redirect_stderr(io.StringIO()):
        assert main(["-C", str(root), "build"]) == 0
    return root


def test_the_set_is_the_recorded_inputs(built_project: Path) -> None:
    identity = build_identity((), smoke=False, checks=True, config="lambdaforge.toml")
    observations, reference = recorded_observations(built_project, identity)
    ws = WatchSet(built_project, observations)
    root = os.fspath(built_project)
    assert {os.path.join(root, "lambdaforge.toml"), os.path.join(root, "fn", "app.py")} <= ws.files
    assert os.path.join(root, "fn") in ws.listings
    assert not any(".forge" in p for p in ws.files | ws.listings)
    assert ws.dirs == sorted({root, os.path.join(root, "fn")})
    assert ws.concerns(os.path.join(root, "fn", "new.py"))  # an entry added to a listing
    # the content of an entry no listing records: a log the watcher's output goes to
    assert not ws.concerns(os.path.join(root, "fn", "watch.log"), modified=True)
    assert ws.concerns(os.path.join(root, "fn", "app.py"), modified=True)  # an input
    assert not ws.concerns(os.path.join(root, "other.txt"))  # nothing the build read
    assert not ws.concerns(os.path.join(root, ".forge", "state", "replay.json"))

    assert ws.changed(reference) == []
    app = built_project / "fn" / "app.py"
    st = app.stat()
    os.utime(app, ns=(st.st_atime_ns, st.st_mtime_ns + 3_000_000_000))
    assert ws.changed(reference) == []  # a touch: the content proves nothing changed
    app.write_text("def handler(event, context):\n    return 2\n")
    assert ws.changed(reference) == ["fn/app.py"]
    (built_project / "fn" / "new.py").write_text("")
    assert "fn" in ws.changed(reference)


def test_a_missing_path_is_watched_from_its_nearest_ancestor(tmp_path: Path) -> None:
    ws = WatchSet(tmp_path, [["m", "a/b/requirements.txt"]])
    assert ws.dirs == [os.fspath(tmp_path)]
    assert ws.concerns(os.path.join(tmp_path, "a"))
    assert ws.concerns(os.path.join(tmp_path, "a", "b", "requirements.txt"))
    assert not ws.concerns(os.path.join(tmp_path, "c"))


def test_a_source_that_cannot_be_walked_leaves_its_listings_to_watch(built_project: Path) -> None:
    """A first build failing while it collects a function's files (a broken symlink, a
    name with a backslash) observed nothing for it: the watcher then watched only the
    config, and never saw the fix. The folders listed until the walk stopped are watched."""
    from lambdaforge.build import BuildOptions, BuildSession
    from lambdaforge.config import load_project
    from lambdaforge.watcher import Watcher

    (built_project / "fn" / "deep").mkdir()
    (built_project / "fn" / "deep" / "bad").symlink_to("nowhere")
    session = BuildSession(load_project(built_project / "lambdaforge.toml"), BuildOptions(jobs=1))
    outcome = session.run()
    assert "broken symlink" in outcome.results["function:api"].error
    ws = WatchSet(built_project, Watcher._session_observations(session))
    root = os.fspath(built_project)
    assert {os.path.join(root, "fn"), os.path.join(root, "fn", "deep")} <= ws.listings
    assert ws.concerns(os.path.join(root, "fn", "deep", "bad"))  # its removal is the fix
