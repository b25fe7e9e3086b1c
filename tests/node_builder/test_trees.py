"""The persistent extracted install trees bundles resolve against (``trees``): extracted once
per install key, read-only, verified by stat, re-extracted with a warning when changed,
safe under concurrent builds, swept when unused."""

from __future__ import annotations

import os
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lambdaforge.builders.node import trees
from lambdaforge.errors import BuildError

KEY = "ab" * 32
OTHER_KEY = "cd" * 32
FILES = {
    "greet/package.json": '{"name": "greet", "version": "1.0.0", "main": "index.js"}\n',
    "greet/index.js": "exports.greet = (n) => 'hi ' + n;\n",
    "@scope/x/package.json": '{"name": "@scope/x", "version": "2.0.0"}\n',
    "@scope/x/lib/tsconfig.json": "{}\n",
    "@scope/x/lib/x.js": "module.exports = 1;\n",
}


def deps_zip(path: Path, files: dict[str, str] = FILES) -> Path:
    """A deps.zip as the install action stores it: files only, sorted."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in sorted(files.items()):
            zf.writestr(name, text)
    return path


class Reader:
    """A job that reads the given files and records what it saw, and how often it ran."""

    def __init__(self, *paths: str) -> None:
        self.paths = paths
        self.runs: list[tuple[Path, dict[str, str]]] = []

    def __call__(self, node_modules: Path) -> tuple[dict[str, str], list[str]]:
        seen = {p: (node_modules / p).read_text() for p in self.paths}
        self.runs.append((node_modules, seen))
        return seen, list(self.paths)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "tools" / trees.STORE


@pytest.fixture
def zip_path(tmp_path: Path) -> Path:
    return deps_zip(tmp_path / "deps.zip")


def run(store: Path, zip_path: Path, job, key: str = KEY) -> tuple[object, list[str]]:
    warnings: list[str] = []
    return trees.run_with_tree(store, zip_path, key, job, warnings.append), warnings


def writable(path: Path, text: str) -> None:
    """Edit a file of the tree as a person would (it is read-only)."""
    path.chmod(0o644)
    path.write_text(text)


def test_a_tree_is_extracted_once_read_only_and_reused(store: Path, zip_path: Path) -> None:
    job = Reader("greet/index.js")
    assert run(store, zip_path, job) == ({"greet/index.js": FILES["greet/index.js"]}, [])
    root = store / KEY
    inode, seal = root.stat().st_ino, (root / trees.TREE_FILE).stat()
    assert run(store, zip_path, job) == ({"greet/index.js": FILES["greet/index.js"]}, [])
    assert [nm for nm, _ in job.runs] == [root / "node_modules"] * 2
    assert root.stat().st_ino == inode
    assert (root / trees.TREE_FILE).stat().st_mtime_ns == seal.st_mtime_ns  # not extracted again
    files = sorted(p.relative_to(root / "node_modules").as_posix()
                   for p in (root / "node_modules").rglob("*") if p.is_file())
    assert files == sorted(FILES)
    assert {(p.stat().st_mode & 0o777) for p in (root / "node_modules").rglob("*") if p.is_file()} == {0o444}
    assert sorted(p.name for p in store.iterdir()) == [KEY, f"{KEY}.lock"]  # no temp leftovers


def test_a_file_the_job_read_that_changed_is_caught_after_it_and_the_job_runs_again(
        store: Path, zip_path: Path) -> None:
    job = Reader("greet/index.js")
    run(store, zip_path, job)
    writable(store / KEY / "node_modules/greet/index.js", "exports.greet = () => 'patched';\n")
    value, warnings = run(store, zip_path, job)
    assert warnings == [f"the extracted dependencies of install {KEY[:12]} changed "
                        "(node_modules/greet/index.js was modified); extracting them again"]
    assert [seen for _, seen in job.runs[1:]] == [
        {"greet/index.js": "exports.greet = () => 'patched';\n"},  # the run that was thrown away
        {"greet/index.js": FILES["greet/index.js"]}]
    assert value == {"greet/index.js": FILES["greet/index.js"]}


@pytest.mark.parametrize(("damage", "problem"), [
    (lambda nm: (nm / "greet/extra.js").write_text("x\n"), "node_modules/greet was modified"),
    (lambda nm: (nm / "@scope/x/lib/x.js").unlink(), "node_modules/@scope/x/lib was modified"),
    (lambda nm: writable(nm / "greet/package.json", '{"main": "other.js"}'),
     "node_modules/greet/package.json was modified"),
    (lambda nm: writable(nm / "@scope/x/lib/tsconfig.json", '{"compilerOptions": {}}'),
     "node_modules/@scope/x/lib/tsconfig.json was modified"),
    (lambda nm: (nm.parent / trees.TREE_FILE).unlink(), "its tree.json is missing or unreadable"),
    (lambda nm: (nm.parent / trees.TREE_FILE).write_text("{"), "its tree.json is missing or unreadable"),
])
def test_a_changed_or_partial_tree_is_a_miss_with_a_warning_before_the_job(
        store: Path, zip_path: Path, damage, problem: str) -> None:
    run(store, zip_path, Reader())
    damage(store / KEY / "node_modules")
    job = Reader("greet/index.js", "@scope/x/lib/x.js")
    value, warnings = run(store, zip_path, job)
    assert warnings == [f"the extracted dependencies of install {KEY[:12]} changed ({problem}); "
                        "extracting them again"]
    assert len(job.runs) == 1  # caught before the job: it ran once, on the fresh tree
    assert value == {"greet/index.js": FILES["greet/index.js"], "@scope/x/lib/x.js": FILES["@scope/x/lib/x.js"]}
    assert not (store / KEY / "node_modules/greet/extra.js").exists()
    assert sorted(p.name for p in store.iterdir()) == [KEY, f"{KEY}.lock"]


def test_functions_with_one_install_share_its_tree_and_another_install_gets_its_own(
        store: Path, zip_path: Path, tmp_path: Path) -> None:
    other_zip = deps_zip(tmp_path / "other.zip", {"ms/index.js": "module.exports = 1;\n"})
    first, second, third = Reader("greet/index.js"), Reader("greet/index.js"), Reader("ms/index.js")
    run(store, zip_path, first)
    run(store, zip_path, second)
    run(store, other_zip, third, key=OTHER_KEY)
    assert first.runs[0][0] == second.runs[0][0] == store / KEY / "node_modules"
    assert third.runs[0][0] == store / OTHER_KEY / "node_modules"


def test_concurrent_builds_extract_a_missing_tree_once(store: Path, zip_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    extracted: list[Path] = []
    real_extract = trees._extract

    def counting(deps: Path, dest: Path, key: str) -> None:
        extracted.append(dest)
        real_extract(deps, dest, key)

    monkeypatch.setattr(trees, "_extract", counting)
    start = threading.Barrier(4)

    def build(_: int) -> tuple[object, list[str]]:
        start.wait()  # all four look for the missing tree at once
        return run(store, zip_path, Reader("greet/index.js"))

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(build, range(4)))
    assert results == [({"greet/index.js": FILES["greet/index.js"]}, [])] * 4
    assert len(extracted) == 1
    assert sorted(p.name for p in store.iterdir()) == [KEY, f"{KEY}.lock"]


def test_sweep_removes_trees_unused_for_long_unless_in_use(store: Path, zip_path: Path) -> None:
    run(store, zip_path, Reader())
    run(store, zip_path, Reader(), key=OTHER_KEY)
    later = time.time() + trees.MAX_AGE_SECONDS + 60
    assert trees.sweep(store, keep=OTHER_KEY, now=later) == [KEY]
    assert sorted(p.name for p in store.iterdir()) == [OTHER_KEY, f"{OTHER_KEY}.lock"]

    def sweeping_job(node_modules: Path) -> tuple[list[str], list[str]]:
        return trees.sweep(store, now=later), []

    # A tree a build is using is never removed under it, however old.
    assert run(store, zip_path, sweeping_job, key=OTHER_KEY) == ([], [])
    assert (store / OTHER_KEY / "node_modules/greet/index.js").is_file()


def test_sweep_removes_what_dead_processes_left_behind(store: Path, zip_path: Path) -> None:
    run(store, zip_path, Reader())
    leftover = store / f".tmp-{KEY[:16]}-dead"
    (leftover / "node_modules").mkdir(parents=True)
    old = time.time() - trees.STALE_TEMP_SECONDS - 60
    os.utime(leftover, (old, old))
    assert trees.sweep(store) == []
    assert not leftover.exists()
    assert (store / KEY).is_dir()


def test_a_member_outside_the_tree_is_refused(store: Path, tmp_path: Path) -> None:
    bad = deps_zip(tmp_path / "bad.zip", {"../escape.js": "x\n"})
    with pytest.raises(BuildError, match="holds a file outside its tree: '../escape.js'"):
        run(store, bad, Reader())
    assert not (store / KEY).exists()
    assert not (tmp_path / "tools" / "escape.js").exists()
