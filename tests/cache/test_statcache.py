"""The stat cache: digests are re-read only when a file's stat data changed, never trusted
when in doubt, and a damaged cache file is just an empty cache."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path

import pytest

from lambdaforge.statcache import STATCACHE_VERSION, FileDigest, StatCache, digest_files

HOUR_NS = 3600 * 1_000_000_000


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


#: The stat cache hashes and saves well after the tests wrote their files (``later_clock``).
pytestmark = pytest.mark.usefixtures("later_clock")
LATER_NS = 10_000_000_000


def write_old(path: Path, data: bytes, age_ns: int = HOUR_NS) -> os.stat_result:
    """Write a file and date it back, as a file last edited a while ago (not racy)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    t = time.time_ns() - age_ns
    os.utime(path, ns=(t, t))
    return path.stat()


def test_digest_is_memoised_until_the_file_changes(tmp_path: Path) -> None:
    write_old(tmp_path / "app.py", b"print(1)\n")
    cache = StatCache()
    assert cache.digest(tmp_path, "app.py") == sha(b"print(1)\n")
    assert cache.digest(tmp_path, "app.py") == sha(b"print(1)\n")
    assert (cache.hashed, cache.hits) == (1, 1)

    write_old(tmp_path / "app.py", b"print(22)\n", age_ns=HOUR_NS // 2)
    assert cache.digest(tmp_path, "app.py") == sha(b"print(22)\n")
    assert cache.hashed == 2


def test_same_size_and_mtime_forced_back_is_still_rehashed(tmp_path: Path) -> None:
    """An edit that keeps size and mtime (restored by a tool) must not be missed: the
    ctime, which nobody can set back, differs."""
    path = tmp_path / "app.py"
    st = write_old(path, b"value = 1\n")
    cache = StatCache(tmp_path / "statcache")
    assert cache.digest(tmp_path, "app.py") == sha(b"value = 1\n")
    cache.save()

    time.sleep(0.01)  # let the ctime clock move on
    path.write_bytes(b"value = 2\n")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns

    reloaded = StatCache.load(tmp_path / "statcache")
    assert reloaded.digest(tmp_path, "app.py") == sha(b"value = 2\n")
    assert reloaded.hashed == 1


def test_a_freshly_written_file_is_racy_and_never_memoised(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Modified within the clock granularity of hashing: a second same-tick write could
    hide behind an identical stat tuple, so the digest is not remembered."""
    monkeypatch.undo()  # no time passes here
    (tmp_path / "new.py").write_bytes(b"x = 1\n")
    cache = StatCache(tmp_path / "statcache")
    cache.digest(tmp_path, "new.py")
    cache.digest(tmp_path, "new.py")
    assert (cache.hashed, cache.hits) == (2, 0)
    assert "new.py" not in cache


def test_entries_not_older_than_the_cache_file_are_dropped_on_load(tmp_path: Path) -> None:
    """git's racy-git rule: an entry whose mtime is not before the cache file's own
    write time is re-hashed next time."""
    st = write_old(tmp_path / "app.py", b"a = 1\n")
    cache_file = tmp_path / "statcache"
    cache = StatCache(cache_file)
    cache.digest(tmp_path, "app.py")
    cache.save()
    assert "app.py" in StatCache.load(cache_file)

    # the cache file written in the same tick as the file's last modification
    os.utime(cache_file, ns=(st.st_mtime_ns, st.st_mtime_ns))
    reloaded = StatCache.load(cache_file)
    reloaded.digest(tmp_path, "app.py")
    assert (reloaded.hashed, reloaded.hits) == (1, 0)


def test_touch_without_change_rehashes_to_the_same_digest(tmp_path: Path) -> None:
    path = tmp_path / "app.py"
    write_old(path, b"same\n")
    cache = StatCache()
    before = cache.digest(tmp_path, "app.py")
    t = time.time_ns() - HOUR_NS // 4
    os.utime(path, ns=(t, t))  # touch: new mtime, same bytes
    assert cache.digest(tmp_path, "app.py") == before
    assert cache.hashed == 2


def test_saved_cache_serves_the_next_run_without_reading(tmp_path: Path) -> None:
    for i in range(5):
        write_old(tmp_path / "src" / f"m{i}.py", f"n = {i}\n".encode())
    cache = StatCache(tmp_path / "state" / "statcache")
    rels = [f"src/m{i}.py" for i in range(5)]
    first = digest_files(tmp_path, rels, cache)
    cache.save()

    again = StatCache.load(tmp_path / "state" / "statcache")
    assert digest_files(tmp_path, rels, again) == first
    assert (again.hashed, again.hits) == (0, 5)


def test_save_without_changes_does_not_rewrite(tmp_path: Path) -> None:
    write_old(tmp_path / "a.py", b"a")
    cache = StatCache(tmp_path / "statcache")
    cache.digest(tmp_path, "a.py")
    cache.save()
    mtime = (tmp_path / "statcache").stat().st_mtime_ns
    loaded = StatCache.load(tmp_path / "statcache")
    loaded.digest(tmp_path, "a.py")
    loaded.save()
    assert (tmp_path / "statcache").stat().st_mtime_ns == mtime


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b"[]",
        json.dumps({"version": STATCACHE_VERSION - 1, "entries": {}}).encode(),
        json.dumps({"version": STATCACHE_VERSION + 1, "entries": {}}).encode(),
        json.dumps({"version": STATCACHE_VERSION, "entries": []}).encode(),
        json.dumps({"version": STATCACHE_VERSION, "entries": {"a.py": ["x", "y", 1, 2, "d"]}}).encode(),
        json.dumps({"version": STATCACHE_VERSION, "entries": {"a.py": "1:2:3"}}).encode(),
        b"\x00\xff\xfe",
    ],
    ids=["empty", "truncated", "list", "older", "newer", "entries-list", "bad-types",
         "short-entry", "binary"],
)
def test_a_damaged_or_foreign_cache_file_is_an_empty_cache(tmp_path: Path, content: bytes) -> None:
    write_old(tmp_path / "a.py", b"real\n")
    (tmp_path / "statcache").write_bytes(content)
    cache = StatCache.load(tmp_path / "statcache")
    assert cache.digest(tmp_path, "a.py") == sha(b"real\n")
    assert cache.hashed == 1
    cache.save()  # and it is replaced by a good one
    assert "a.py" in StatCache.load(tmp_path / "statcache")


def test_a_stale_entry_with_a_lying_digest_is_not_served(tmp_path: Path) -> None:
    """Even a cache file claiming a wrong digest for the right stat tuple is only trusted
    while the stat tuple matches: any change re-reads the file."""
    st = write_old(tmp_path / "a.py", b"true\n")
    entry = f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}:{st.st_ctime_ns}:{'0' * 64}"
    (tmp_path / "statcache").write_text(
        json.dumps({"version": STATCACHE_VERSION, "entries": {"a.py": entry}})
    )
    later = time.time_ns() + LATER_NS  # written well after the file's last change
    os.utime(tmp_path / "statcache", ns=(later, later))
    cache = StatCache.load(tmp_path / "statcache")
    assert cache.digest(tmp_path, "a.py") == "0" * 64  # a speed-up trusts its stat tuple
    write_old(tmp_path / "a.py", b"true\n", age_ns=HOUR_NS // 2)
    assert cache.digest(tmp_path, "a.py") == sha(b"true\n")


def test_digest_files_reports_exec_bit(tmp_path: Path) -> None:
    write_old(tmp_path / "run.sh", b"#!/bin/sh\n")
    write_old(tmp_path / "app.py", b"pass\n")
    os.chmod(tmp_path / "run.sh", 0o755)
    os.chmod(tmp_path / "app.py", 0o644)
    assert digest_files(tmp_path, ["run.sh", "app.py"]) == {
        "run.sh": FileDigest(sha(b"#!/bin/sh\n"), True),
        "app.py": FileDigest(sha(b"pass\n"), False),
    }


@pytest.mark.parametrize("bad", ["/etc/passwd", "../x.py", "a/../../x", "a\\b.py", ""])
def test_paths_must_be_project_relative(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="project-relative"):
        StatCache().digest(tmp_path, bad)


def test_digest_from_many_threads(tmp_path: Path) -> None:
    rels = []
    for i in range(200):
        write_old(tmp_path / f"f{i:03}.txt", os.urandom(64 + i))
        rels.append(f"f{i:03}.txt")
    expected = {r: sha((tmp_path / r).read_bytes()) for r in rels}
    cache = StatCache(tmp_path / "statcache")
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for r in rels:
                assert cache.digest(tmp_path, r) == expected[r]
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert cache.hashed + cache.hits == 8 * 200
    cache.save()
    assert len(StatCache.load(tmp_path / "statcache")) == 200


def test_retain_forgets_deleted_files(tmp_path: Path) -> None:
    for name in ("a.py", "b.py"):
        write_old(tmp_path / name, name.encode())
    cache = StatCache(tmp_path / "statcache")
    digest_files(tmp_path, ["a.py", "b.py"], cache)
    cache.retain(["a.py"])
    cache.save()
    assert "b.py" not in StatCache.load(tmp_path / "statcache")


def test_20000_entries_round_trip_in_one_file(tmp_path: Path) -> None:
    """A repository-sized stat cache is one file written once and read back whole (its
    speed is a benchmark's business, not a test's: no clock here)."""
    cache = StatCache(tmp_path / "statcache")
    entries = {
        f"services/s{i // 100}/handlers/h{i % 100}/mod_{i}.py": (
            f"{1000 + i}:{1_700_000_000_000_000_000 + i}:{10_000 + i}:"
            f"{1_700_000_000_000_000_000 + i}:{sha(str(i).encode())}"
        )
        for i in range(20_000)
    }
    cache._fresh = dict(entries)  # noqa: SLF001 - building 20k real files would dominate the test
    cache._dirty = True  # noqa: SLF001
    cache.save()
    assert [p.name for p in tmp_path.iterdir()] == ["statcache"]
    loaded = StatCache.load(tmp_path / "statcache")
    assert len(loaded) == 20_000
    assert loaded._loaded == entries  # noqa: SLF001


def test_hashing_without_hashlib_file_digest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Python 3.10 has no ``hashlib.file_digest``: the chunked fallback gives the same digest."""
    data = os.urandom(3 * 1024 * 1024 + 17)
    (tmp_path / "big.bin").write_bytes(data)
    monkeypatch.delattr(hashlib, "file_digest", raising=False)
    assert StatCache().digest(tmp_path, "big.bin") == sha(data)
