"""One decider: the no-op replay and the planner always agree, and neither keeps a stale zip.

Each scenario builds, changes one thing behind forge's back, then asserts that

- the replay record's answer (``replay.replay``: "everything is up to date" or "don't know")
  agrees with the full planner's (every target UP_TO_DATE or not), and
- the next ``forge build`` leaves zips byte-identical to a clean build of the same tree in
  another directory with its own cache.

These are the drifts the two deciders of old had: each shipped a stale zip with exit 0.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from lambdaforge import observe, replay
from lambdaforge.build import BuildOptions, BuildSession
from lambdaforge.cli import main
from lambdaforge.config import load_project
from lambdaforge.executor import Status

from .conftest import LOCAL_INDEX, SOURCE_ONLY, ProjectDir


def forge(project: ProjectDir, *args: str) -> int:
    return main(["-C", str(project.root), *args])


def identity(names: tuple[str, ...] = (), smoke: bool = False) -> dict[str, object]:
    return replay.build_identity(names, smoke=smoke, checks=True, config="lambdaforge.toml")


def planner_says_up_to_date(project: ProjectDir, **options: object) -> bool:
    session = BuildSession(load_project(project.root / "lambdaforge.toml"),
                           BuildOptions(jobs=2, **options))
    return all(p.action is Status.UP_TO_DATE for p in session.plan())


def assert_decisions_agree(project: ProjectDir, *, smoke: bool = False) -> bool:
    """The replay's verdict equals the planner's; returns it."""
    replayed = replay.replay(project.root, identity(smoke=smoke)) is not None
    planned = planner_says_up_to_date(project, smoke=smoke)
    assert replayed == planned, f"replay says {replayed}, planner says {planned}"
    return planned


def zips(root: Path) -> dict[str, bytes]:
    build = root / ".forge" / "build"
    return {p.relative_to(build).as_posix(): p.read_bytes()
            for p in sorted(build.rglob("*.zip"))}


def assert_zips_match_a_clean_build(project: ProjectDir, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    clean = tmp_path / "clean"
    shutil.rmtree(clean, ignore_errors=True)
    shutil.copytree(project.root, clean, symlinks=True,
                    ignore=shutil.ignore_patterns(".forge"))
    monkeypatch.setenv("FORGE_CACHE_DIR", str(tmp_path / "clean-cache"))
    assert forge(ProjectDir(clean), "build") == 0
    monkeypatch.setenv("FORGE_CACHE_DIR", str(tmp_path / "cache"))
    assert zips(project.root) == zips(clean)


@pytest.fixture
def built(source_project: ProjectDir, capsys: pytest.CaptureFixture[str]) -> ProjectDir:
    assert forge(source_project, "build") == 0
    capsys.readouterr()
    return source_project


def rebuild_and_compare(project: ProjectDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                        *, expect_up_to_date: bool) -> None:
    assert assert_decisions_agree(project) is expect_up_to_date
    assert forge(project, "build") == 0
    assert_zips_match_a_clean_build(project, tmp_path, monkeypatch)
    # and the build's own record now answers for the tree as it is
    assert replay.replay(project.root, identity()) is not None
    assert assert_decisions_agree(project)


def test_a_fresh_build_is_answered_by_the_replay(built: ProjectDir) -> None:
    assert assert_decisions_agree(built)


def test_edit_through_a_directory_symlink_into_a_venv(project: ProjectDir, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    project.config(SOURCE_ONLY)
    project.write("layers/shared/shared_util.py", "X = 1\n")
    project.write("functions/beta/app.py", "def handler(event, context):\n    return 1\n")
    project.write("functions/alpha/app.py", "def handler(event, context):\n    return 1\n")
    project.write("functions/alpha/.venv/vendored/mod.py", "VALUE = 1\n")
    os.symlink(".venv/vendored", project.root / "functions/alpha/vendored")
    assert forge(project, "build") == 0
    assert "vendored/mod.py" in project.zip_names("function", "alpha")
    project.write("functions/alpha/.venv/vendored/mod.py", "VALUE = 2\n")  # same size
    rebuild_and_compare(project, tmp_path, monkeypatch, expect_up_to_date=False)


def test_edit_of_a_file_re_included_below_a_skipped_directory(
        project: ProjectDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project.config(SOURCE_ONLY.replace(
        '[functions.alpha]\n', '[functions.alpha]\ninclude = ["*", "venv/keep.py"]\n'))
    project.write("layers/shared/shared_util.py", "X = 1\n")
    project.write("functions/beta/app.py", "def handler(event, context):\n    return 1\n")
    project.write("functions/alpha/app.py", "def handler(event, context):\n    return 1\n")
    project.write("functions/alpha/venv/keep.py", "VALUE = 1\n")
    project.write("functions/alpha/venv/lib/site.py", "VALUE = 1\n")
    assert forge(project, "build") == 0
    names = project.zip_names("function", "alpha")
    assert "venv/keep.py" in names and "venv/lib/site.py" not in names
    project.write("functions/alpha/venv/keep.py", "VALUE = 2\n")
    rebuild_and_compare(project, tmp_path, monkeypatch, expect_up_to_date=False)


def test_discover_sees_a_file_replaced_by_a_directory(project: ProjectDir, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    project.config('[[discover]]\npath = "services/*"\nhandler = "app.handler"\n')
    project.write("services/one/app.py", "def handler(event, context):\n    return 1\n")
    project.write("services/two", "not a function yet\n")
    assert forge(project, "build") == 0
    assert not project.zip_path("function", "two").exists()
    (project.root / "services/two").unlink()
    project.write("services/two/app.py", "def handler(event, context):\n    return 2\n")
    # the listing of services/ has the same names, but "two" is a directory now
    rebuild_and_compare(project, tmp_path, monkeypatch, expect_up_to_date=False)
    assert project.zip_path("function", "two").exists()


def _restore_times(path: Path, st: os.stat_result) -> None:
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_same_size_edit_of_the_built_zip_with_its_mtime_restored(
        built: ProjectDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    artifact = built.zip_path("function", "beta")
    st = artifact.stat()
    data = bytearray(artifact.read_bytes())
    data[-30] ^= 0xFF  # inside the central directory: same size, other bytes
    with open(artifact, "r+b") as f:  # in place: same inode, and the cache entry's too
        f.write(data)
    _restore_times(artifact, st)
    rebuild_and_compare(built, tmp_path, monkeypatch, expect_up_to_date=False)


def test_cache_entry_pruned_under_a_copied_artifact(
        deps_project: ProjectDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A cache on another file system: artifacts are copies, not hard links.
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs /dev/shm on another file system than the project")
    deps_project.config(LOCAL_INDEX + '[functions.fn]\nsource = "fn"\nhandler = "app.handler"\n')
    deps_project.write("fn/app.py", "import purelib\n\ndef handler(event, context):\n    return 1\n")
    deps_project.write("fn/requirements.txt", "purelib==1.0\n")
    cache = Path(tempfile.mkdtemp(dir=shm, prefix="forge-test-cache-"))
    try:
        monkeypatch.setenv("FORGE_CACHE_DIR", str(cache))
        assert forge(deps_project, "build") == 0
        assert os.stat(deps_project.zip_path("function", "fn")).st_nlink == 1
        assert forge(deps_project, "cache", "prune", "--max-size", "0") == 0
        # The install's cache entry is gone: both deciders say so.
        assert assert_decisions_agree(deps_project) is False
        assert forge(deps_project, "build") == 0
        assert replay.replay(deps_project.root, identity()) is not None
        assert assert_decisions_agree(deps_project)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def test_cache_entry_pruned_under_a_hard_linked_artifact(
        built: ProjectDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert os.stat(built.zip_path("function", "beta")).st_nlink == 2
    assert forge(built, "cache", "prune", "--max-size", "0") == 0
    # Both deciders see the same thing (the zips are intact, their cache entries gone).
    assert_decisions_agree(built)
    assert forge(built, "build") == 0
    assert_zips_match_a_clean_build(built, tmp_path, monkeypatch)
    assert assert_decisions_agree(built)


def test_a_skipped_smoke_test_is_tried_again(project: ProjectDir,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from lambdaforge.builders.python.smoke import find_interpreter
    from lambdaforge.builders.python.target import PythonTarget
    from lambdaforge.runner import Runner

    if find_interpreter(PythonTarget.of("python3.12", "arm64"), Runner())[0] is not None:
        pytest.skip("this machine can run arm64 Python: the smoke test would not be skipped")
    project.config('[defaults]\nruntime = "python3.12"\narchitecture = "arm64"\n'
                   '[functions.api]\nsource = "api"\nhandler = "app.handler"\n')
    project.write("api/app.py", "def handler(event, context):\n    return 1\n")
    assert forge(project, "check") == 0
    assert "import smoke test skipped" in capsys.readouterr().err
    assert replay.replay(project.root, identity(smoke=True)) is None
    outcome = project.build(smoke=True)
    check = outcome.results["check:function:api"]
    assert check.status is not Status.UP_TO_DATE
    assert "skipped last time" in "; ".join(check.reasons)
    assert assert_decisions_agree(project, smoke=True) is False


@pytest.mark.timeout(60)
def test_a_fifo_in_a_source_tree_is_skipped_with_a_warning(
        source_project: ProjectDir, capsys: pytest.CaptureFixture[str]) -> None:
    os.mkfifo(source_project.root / "functions/beta/pipe")
    assert forge(source_project, "build") == 0
    err = capsys.readouterr().err
    assert "pipe: not packaged: not a regular file or directory" in err
    assert "pipe" not in source_project.zip_names("function", "beta")
    assert assert_decisions_agree(source_project)


def test_an_unreadable_file_fails_only_its_own_function(
        source_project: ProjectDir, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    secret = source_project.root / "functions/beta/secret.py"
    secret.write_text("X = 1\n")
    if os.geteuid() == 0:  # root reads anything: refuse the read the way the kernel would
        real_open = os.open

        def refuse(path, flags, *args, **kwargs):  # type: ignore[no-untyped-def]
            if os.fspath(path).endswith("functions/beta/secret.py"):
                raise PermissionError(13, "Permission denied", os.fspath(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", refuse)
    else:
        secret.chmod(0)
    code = forge(source_project, "build")
    err = capsys.readouterr().err
    assert code == 1
    assert "FAILED function:beta:\ncannot read " in err
    assert "functions/beta/secret.py: Permission denied" in err
    assert source_project.zip_path("function", "alpha").exists()
    assert "internal error" not in err


# --------------------------------------------------------------------------- the racy rule


def test_the_racy_window_is_sized_for_1_second_timestamps() -> None:
    second = 1_700_000_000_000_000_000  # a whole-second timestamp: a 1-second file system
    # Recorded 1.5 s after that second: a same-second edit could hide behind the stat.
    assert observe.racy(second, second + 1_500_000_000)
    assert not observe.racy(second, second + 3_000_000_000)
    # Nanosecond timestamps: a tenth of a second is margin enough.
    assert observe.racy(second + 1, second + 50_000_000)
    assert not observe.racy(second + 1, second + 500_000_000)


def test_a_racy_stat_is_verified_by_content(tmp_path: Path) -> None:
    path = tmp_path / "app.py"
    path.write_text("A = 1\n")
    recorded = observe.observe_path("app.py", os.fspath(tmp_path))
    st = os.stat(path)
    path.write_text("A = 2\n")  # same size
    forged = ["f", "app.py", [*observe.stat_tuple(os.stat(path))], recorded[3]]
    # The stat is identical to the recorded one, but too recent to prove anything.
    assert not observe.holds(forged, os.fspath(tmp_path), observe.newest(st))
    # Recorded long after its last change, the stat alone is trusted (by design).
    assert observe.holds(forged, os.fspath(tmp_path), observe.newest(os.stat(path)) + 10**10)


@pytest.fixture(scope="module")
def coarse_fs(tmp_path_factory: pytest.TempPathFactory):
    from tests.support.coarsefs import mount_coarse_fs

    yield from mount_coarse_fs(tmp_path_factory)


def test_same_size_edit_in_the_same_second_on_a_1_second_file_system(
        coarse_fs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = coarse_fs / f"proj-{time.time_ns()}"
    root.mkdir()
    project = ProjectDir(root)
    monkeypatch.setenv("FORGE_CACHE_DIR", str(tmp_path / "cache"))
    project.config(SOURCE_ONLY)
    project.write("layers/shared/shared_util.py", "X = 1\n")
    project.write("functions/alpha/app.py", "def handler(event, context):\n    return 1\n")
    project.write("functions/beta/app.py", "def handler(event, context):\n    return 1\n")
    app = root / "functions/beta/app.py"
    assert os.stat(app).st_mtime_ns % 1_000_000_000 == 0  # it is a 1-second file system
    assert forge(project, "build") == 0
    before = os.stat(app)
    project.write("functions/beta/app.py", "def handler(event, context):\n    return 2\n")
    os.utime(app, ns=(before.st_atime_ns, before.st_mtime_ns))
    # Same size, same mtime; the ctime may or may not have ticked: either way the build
    # must notice (by stat when it ticked, by content while the stat is racy).
    rebuild_and_compare(project, tmp_path, monkeypatch, expect_up_to_date=False)
    shutil.rmtree(root)


def test_a_handler_file_added_to_a_skipped_discover_directory_makes_it_a_function(
        project, capsys) -> None:  # type: ignore[no-untyped-def]
    """A directory ``[[discover]]`` skipped (no handler file) is watched: the no-op replay
    must not answer "up to date" once its handler appears."""
    from lambdaforge.cli import main

    project.config('[[discover]]\npath = "fns/*"\nhandler = "app.handler"\n')
    project.write("fns/one/app.py", "def handler(e, c):\n    return 1\n")
    project.write("fns/two/README.md", "not yet\n")
    assert main(["-C", str(project.root), "build"]) == 0
    assert "skipped 1 directory" in capsys.readouterr().err
    assert main(["-C", str(project.root), "build"]) == 0  # the replayed no-op
    project.write("fns/two/app.py", "def handler(e, c):\n    return 2\n")
    assert main(["-C", str(project.root), "build"]) == 0
    assert "built  function:two" in capsys.readouterr().err
    assert project.zip_path("function", "two").exists()
