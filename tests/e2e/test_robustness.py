"""Builds that go wrong around lambdaforge: killed, run twice at once, fed a corrupt cache.

Issue 3's promises, checked with real ``forge`` processes, real files and real zips:

- a build killed mid-way (SIGKILL, or Ctrl-C = SIGINT) leaves no partial artifact, no partial
  cache entry, and a project the next build completes byte-for-byte correctly;
- two ``forge build`` runs on one project at once both succeed and agree;
- a cache entry whose bytes were damaged is detected, evicted, rebuilt and warned about,
  never served.

"Correct" always means: byte-identical to a clean build of the same sources elsewhere.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import jsonschema
import pytest

from lambdaforge.cache import Cache, Verify
from lambdaforge.cli import main

REPO = Path(__file__).resolve().parents[2]
REPORT_VALIDATOR = jsonschema.Draft202012Validator(
    json.loads((REPO / "schemas" / "build-report.schema.json").read_text()))

#: Enough work that a build is still running well after its first zip lands (~1 s on the
#: team's 2-core machine at --jobs 2), with random bytes so deflate cannot shortcut it.
FUNCTIONS = 8
BLOB_BYTES = 3_000_000
JOBS = "2"
TIMEOUT = 60


def _write_big_project(root: Path) -> None:
    config = ['[defaults]\nruntime = "python3.12"\n']
    for i in range(FUNCTIONS):
        config.append(f'[functions.f{i}]\nsource = "functions/f{i}"\nhandler = "app.handler"\n')
        src = root / "functions" / f"f{i}"
        src.mkdir(parents=True)
        (src / "app.py").write_text(f"def handler(event, context):\n    return {i}\n")
        # Seeded: the reference build (module scope) and every test's copy hold equal bytes.
        (src / "blob.bin").write_bytes(random.Random(i).randbytes(BLOB_BYTES))
    (root / "lambdaforge.toml").write_text("\n".join(config))


def _env(cache: Path) -> dict[str, str]:
    return {**os.environ, "FORGE_CACHE_DIR": str(cache)}


def _start(root: Path, cache: Path, log: Path, *args: str, stdout=subprocess.DEVNULL):
    # SIGINT must reach Python as KeyboardInterrupt, as it would from a terminal's Ctrl-C. A
    # child inherits an *ignored* SIGINT (pytest started in the background by a script), and
    # Python then installs no handler, so restore the default before exec.
    return subprocess.Popen(
        [sys.executable, "-m", "lambdaforge", "-C", str(root), "build", "--jobs", JOBS, *args],
        stdout=stdout, stderr=log.open("w"), env=_env(cache),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _build(root: Path, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lambdaforge", "-C", str(root), "build", "--jobs", JOBS, *args],
        capture_output=True, text=True, env=_env(cache), timeout=TIMEOUT,
    )


def _wait_all(procs: list[subprocess.Popen]) -> list[int]:
    """Exit codes of ``procs``; none outlives the test, even when one hangs."""
    try:
        return [p.wait(timeout=TIMEOUT) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def _zips(root: Path) -> dict[str, bytes]:
    build = root / ".forge" / "build"
    return {p.relative_to(build).as_posix(): p.read_bytes() for p in sorted(build.rglob("*.zip"))}


@pytest.fixture(scope="module")
def big_reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    """The big project's sources, and the zips a clean, uninterrupted build makes of them."""
    root = tmp_path_factory.mktemp("reference") / "proj"
    _write_big_project(root)
    done = _build(root, root.parent / "cache")
    assert done.returncode == 0, done.stderr
    zips = _zips(root)
    assert len(zips) == FUNCTIONS
    shutil.rmtree(root / ".forge")
    return root, zips


@pytest.fixture
def big(project, big_reference) -> Path:
    """A fresh copy of the big project (its own cache: the `project` fixture's)."""
    shutil.copytree(big_reference[0], project.root, dirs_exist_ok=True)
    return project.root


def _cache_dir() -> Path:
    return Path(os.environ["FORGE_CACHE_DIR"])  # set per test by the `project` fixture


def _wait_for_first_zip(proc: subprocess.Popen, root: Path) -> None:
    """Block until the build has written its first zip, i.e. is well into the build."""
    functions = root / ".forge" / "build" / "functions"
    deadline = time.monotonic() + TIMEOUT
    while not (functions.is_dir() and any(functions.glob("*.zip"))):
        if proc.poll() is not None:
            pytest.fail(f"forge build exited ({proc.returncode}) before writing a zip")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("forge build wrote no zip in time")
        time.sleep(0.005)


def _temp_leftovers(root: Path, cache: Path) -> list[str]:
    """Temp files of a build: half-written zips, scratch trees, staged cache entries."""
    forge = root / ".forge"
    found = [p for p in forge.rglob("*") if p.name.endswith(".tmp")]
    scratch = forge / "tmp"
    if scratch.is_dir():
        found += list(scratch.iterdir())
    if (cache / "tmp").is_dir():
        found += list((cache / "tmp").iterdir())
    return sorted(str(p) for p in found)


def _assert_cache_entries_whole(cache: Path) -> None:
    # Complete or absent: every entry that is there passes a full sha256 check.
    c = Cache(cache)
    for e in c.entries():
        assert c.get(e.key, Verify.FULL) is not None, e.key
    assert c.warnings == []


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_interrupted_build_is_completed_correctly_by_the_next(big, big_reference, tmp_path, sig):
    cache = _cache_dir()
    proc = _start(big, cache, tmp_path / "killed.log")
    _wait_for_first_zip(proc, big)
    proc.send_signal(sig)
    (code,) = _wait_all([proc])
    log = (tmp_path / "killed.log").read_text()
    if code == 0:
        pytest.fail("the build finished before it was interrupted: the project is too small "
                    f"for this machine\n{log}")
    # Ctrl-C is a clean stop: exit 130 (128 + SIGINT), as shells report it, no traceback.
    assert code == (-signal.SIGKILL if sig == signal.SIGKILL else 130), log
    assert "Traceback" not in log

    reference = big_reference[1]
    # Whatever zip is there is whole and right: zips are renamed into place complete.
    left = _zips(big)
    assert 1 <= len(left) <= FUNCTIONS
    for rel, data in left.items():
        with zipfile.ZipFile(big / ".forge" / "build" / rel) as zf:
            assert zf.testzip() is None
        assert data == reference[rel], rel
    _assert_cache_entries_whole(cache)
    if sig == signal.SIGINT:
        # Interrupted politely, the build removes its own temp files before exiting, and
        # says so in one line.
        assert _temp_leftovers(big, cache) == []
        said = [line for line in log.splitlines() if line.startswith("forge: interrupted: ")]
        assert len(said) == 1, log
        assert re.search(r"^forge: interrupted: \d+ of \d+ targets finished and were kept "
                         r"\(complete zips and cache entries\); nothing half-written was "
                         r"left; run forge build again to finish$", said[0]), said

    resumed = _build(big, cache)
    assert resumed.returncode == 0, resumed.stderr
    assert "corrupt" not in resumed.stderr
    assert _zips(big) == reference
    manifest = json.loads((big / ".forge/build/manifest.json").read_text())
    assert sorted(a["name"] for a in manifest["artifacts"]) == [f"f{i}" for i in range(FUNCTIONS)]
    for a in manifest["artifacts"]:
        assert a["size"] == len(reference[f"functions/{a['name']}.zip"])
    # The resumed build cleaned up after the killed one (staged cache entries excepted: a
    # shared cache cannot tell a dead writer's from a live one's until they are old, see
    # cache.STALE_TEMP_SECONDS).
    assert [p for p in _temp_leftovers(big, cache) if "/put-" not in p] == []
    # ...and recorded its work: nothing left to do.
    again = _build(big, cache)
    assert again.returncode == 0 and f"{2 * FUNCTIONS} up-to-date in" in again.stderr, again.stderr


def test_two_concurrent_builds_both_succeed_and_agree(big, big_reference, tmp_path):
    cache = _cache_dir()
    procs = [_start(big, cache, tmp_path / f"{n}.log", "--json",
                    stdout=(tmp_path / f"{n}.json").open("w")) for n in ("one", "two")]
    codes = _wait_all(procs)
    logs = [(tmp_path / f"{n}.log").read_text() for n in ("one", "two")]
    assert codes == [0, 0], logs
    reports = [json.loads((tmp_path / f"{n}.json").read_text()) for n in ("one", "two")]
    for report in reports:
        REPORT_VALIDATOR.validate(report)
        assert report["ok"] and report["warnings"] == []
    # The project lock serialises them: one builds everything, the other, having waited,
    # finds it all done (it plans under the lock, with the first one's results).
    seen = sorted(sorted({t["status"] for t in r["targets"]}) for r in reports)
    assert seen == [["built"], ["up-to-date"]], reports
    waited = [log for log in logs if "waiting for another forge build" in log]
    for log in waited:
        assert f"waiting for another forge build in {big} (pid " in log
    assert _zips(big) == big_reference[1]
    for rel in _zips(big):
        with zipfile.ZipFile(big / ".forge" / "build" / rel) as zf:
            assert zf.testzip() is None
    _assert_cache_entries_whole(cache)


# --------------------------------------------------------------------------- corrupt cache


def _entry_of(cache: Cache, name: str) -> Path:
    """The cache entry directory of the function called ``name``."""
    found = []
    for e in cache.entries():
        meta = json.loads((e.dir / "entry.json").read_text())["meta"]
        if meta.get("kind") == "function" and meta.get("name") == name:
            found.append(e.dir)
    assert len(found) == 1, found
    return found[0]


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size: only the sha256 check can catch it
    path.write_bytes(bytes(data))


CORRUPTIONS = {
    "flipped-byte": lambda d: _flip_byte(d / "artifact.zip"),
    "truncated": lambda d: (d / "artifact.zip").write_bytes((d / "artifact.zip").read_bytes()[:100]),
    "artifact-deleted": lambda d: (d / "artifact.zip").unlink(),
    "entry-json-garbage": lambda d: (d / "entry.json").write_text("{not json"),
}


@pytest.mark.parametrize("corruption", [
    "flipped-byte",
    "truncated",
    "artifact-deleted",
    "entry-json-garbage",
])
def test_corrupt_cache_entry_is_rebuilt_with_a_warning(source_project, capsys, corruption):
    root = source_project.root
    assert main(["-C", str(root), "build"]) == 0
    good = source_project.zip_path("function", "beta").read_bytes()
    shutil.rmtree(root / ".forge" / "build")
    cache = Cache(_cache_dir())
    entry = _entry_of(cache, "beta")
    key = entry.name
    CORRUPTIONS[corruption](entry)
    capsys.readouterr()

    assert main(["-C", str(root), "build", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    REPORT_VALIDATOR.validate(report)
    status = {t["id"]: t["status"] for t in report["targets"]}
    # Never served: rebuilt; the healthy entries of its siblings still are.
    assert status["function:beta"] == "built"
    assert status["function:alpha"] == status["layer:shared"] == "cached"
    assert report["warnings"] == [f"cache entry {key[:12]} for function:beta was corrupt; rebuilding"]
    assert source_project.zip_path("function", "beta").read_bytes() == good
    # The rebuilt entry replaced the bad one and is whole.
    assert Cache(cache.root).get(key, Verify.FULL) is not None


def test_corrupt_cache_warning_in_plain_output(source_project, capsys):
    root = source_project.root
    assert main(["-C", str(root), "build"]) == 0
    shutil.rmtree(root / ".forge" / "build")
    entry = _entry_of(Cache(_cache_dir()), "alpha")
    _flip_byte(entry / "artifact.zip")
    capsys.readouterr()
    assert main(["-C", str(root), "build"]) == 0
    err = capsys.readouterr().err
    assert f"warning: cache entry {entry.name[:12]} for function:alpha was corrupt; rebuilding\n" in err
    assert "     built  function:alpha  " in err
    with zipfile.ZipFile(source_project.zip_path("function", "alpha")) as zf:
        assert zf.testzip() is None and zf.read("app.py").startswith(b"def handler")


def test_concurrent_builds_of_different_functions_both_count(source_project, tmp_path):
    # Each build records only its own targets (state and manifest are merged, not
    # overwritten), so after `forge build alpha` and `forge build beta` ran at once, a full
    # build has nothing left to do.
    root = source_project.root
    cache = _cache_dir()
    procs = [_start(root, cache, tmp_path / f"{name}.log", name) for name in ("alpha", "beta")]
    codes = _wait_all(procs)
    assert codes == [0, 0], [(tmp_path / f"{n}.log").read_text() for n in ("alpha", "beta")]
    manifest = json.loads((root / ".forge/build/manifest.json").read_text())
    assert sorted(a["name"] for a in manifest["artifacts"]) == ["alpha", "beta", "shared"]
    outcome = source_project.build()
    assert set(source_project.statuses(outcome).values()) == {"up-to-date"}


@pytest.mark.parametrize("leftover", [
    ".forge/build/functions/.alpha.zip.k1ll3d.tmp",
    ".forge/build/layers/.shared.zip.k1ll3d.tmp",
    ".forge/tmp/package-k1ll3d/.artifact.zip.k1ll3d.tmp",
    ".forge/build/.manifest.json.k1ll3d.tmp",
    ".forge/state/targets/.function_alpha.json.k1ll3d.tmp",
])
def test_leftovers_of_a_killed_build_are_removed_by_the_next(source_project, leftover):
    # Where a SIGKILL at the wrong moment leaves a temp file: planted, so every place is
    # covered every time (the kill test above hits a random one).
    assert source_project.build().ok
    planted = source_project.root / leftover
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.write_bytes(b"PK\x03\x04 half a zip")
    source_project.zip_path("function", "alpha").unlink()  # something to do, not a no-op
    assert source_project.build().ok
    assert not planted.exists()
