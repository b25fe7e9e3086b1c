"""``forge build`` on a full disk: a user error that names the file, never an internal error.

Two ways the disk fills up: under the project's own ``.forge/state`` (fault injection on the
writes to that directory), and under the cache (a real tiny tmpfs, where the machine allows
mounting one). Either way the exit code is 1, the message says which file and that the disk
is full, no traceback is printed, and nothing half-written is left to be trusted later.
"""

from __future__ import annotations

import os
import re

from lambdaforge.cache import Cache
from lambdaforge.cli import main
from tests.support.disk import fail_writes_under, tiny_filesystem

DISK_FULL = "the disk is full (no space left on device)"


def forge(project, *args: str) -> int:
    return main(["-C", str(project.root), *args])


def leftovers(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.tmp"))


def test_a_full_disk_under_the_state_directory(source_project, capsys, monkeypatch):
    state = source_project.root / ".forge" / "state"
    refused = fail_writes_under(monkeypatch, state)
    assert forge(source_project, "build") == 1
    err = capsys.readouterr().err
    assert "internal error" not in err and "Traceback" not in err
    written = re.search(r"^forge: error: cannot write `([^`]+)`: (.+)$", err, re.M)
    assert written, err
    assert written.group(2) == DISK_FULL
    assert written.group(1).startswith(f"{state}{os.sep}")
    assert refused
    assert leftovers(source_project.root) == []

    # Room again: the next build completes and records its state.
    monkeypatch.undo()
    assert forge(source_project, "build") == 0
    assert list((state / "targets").glob("*.json"))


def test_a_full_cache_disk_fails_the_targets_with_a_message(source_project, tmp_path, capsys,
                                                             monkeypatch):
    # Random bytes deflate cannot shrink: the function's zip does not fit in 64 KiB.
    source_project.write("functions/alpha/blob.txt", os.urandom(300_000).hex())
    with tiny_filesystem(tmp_path / "small", 64 * 1024) as small:
        monkeypatch.setenv("FORGE_CACHE_DIR", str(small / "cache"))
        assert forge(source_project, "build", "alpha") == 1
        err = capsys.readouterr().err
        assert "internal error" not in err and "Traceback" not in err
        failed = re.search(r"^FAILED function:alpha:\ncannot write `([^`]+)`: (.+)$", err, re.M)
        assert failed, err
        assert failed.group(1).startswith(str(small / "cache"))
        assert failed.group(2) == (
            f"{DISK_FULL}; the cache is in `{small / 'cache'}`: free some space there, or "
            "prune the cache (`forge cache prune --max-size SIZE`)")
        # The layer fitted and was stored; of the function nothing, not even a part.
        cache = Cache(small / "cache")
        stored = {e.key: cache.get(e.key) for e in cache.entries()}
        assert all(entry is not None for entry in stored.values())  # all complete
        assert "alpha" not in {entry.meta.get("name") for entry in stored.values()}
        assert [p.name for p in (small / "cache" / "tmp").iterdir()] == []
        assert not source_project.zip_path("function", "alpha").exists()
        assert source_project.zip_path("layer", "shared").exists()
        assert leftovers(source_project.root) == []
