"""The content-addressed cache: round trips, integrity checks, atomic and concurrent puts,
LRU pruning and clean-up after killed processes."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import lambdaforge.cache as cache_module
from lambdaforge.cache import (
    ENTRY_FILE,
    ENTRY_FORMAT,
    STALE_TEMP_SECONDS,
    Cache,
    Verify,
    parse_size,
)
from lambdaforge.errors import DiskWriteError, UsageError


def key_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def artifact(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / "out" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    return Cache(tmp_path / "cache")


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Records every file the cache reads in full to check its sha256."""
    seen: list[Path] = []
    real = cache_module.sha256_file

    def spy(path):  # type: ignore[no-untyped-def]
        seen.append(Path(path))
        return real(path)

    monkeypatch.setattr(cache_module, "sha256_file", spy)
    return seen


def test_put_get_round_trip(tmp_path: Path, cache: Cache) -> None:
    key = key_of("api")
    src = artifact(tmp_path, "artifact.zip", b"PK zip bytes")
    deps = artifact(tmp_path, "deps.zip", b"deps")
    put = cache.put(key, {"artifact.zip": src, "deps.zip": deps}, {"name": "api", "n": [1, 2]})
    assert not src.exists() and not deps.exists()  # moved, not copied

    got = cache.get(key)
    assert got is not None
    assert got.key == key and got.meta == {"name": "api", "n": [1, 2]}
    assert got.path("artifact.zip").read_bytes() == b"PK zip bytes"
    assert got.path("deps.zip").read_bytes() == b"deps"
    assert got.files["artifact.zip"].sha256 == hashlib.sha256(b"PK zip bytes").hexdigest()
    assert got.size == put.size == 16
    assert cache.contains(key) and not cache.contains(key_of("other"))
    assert cache.get(key_of("other")) is None
    assert not cache.warnings
    layout = got.dir.relative_to(cache.root).parts
    assert layout == ("v1", key[:2], key)
    assert json.loads((got.dir / ENTRY_FILE).read_text())["format"] == ENTRY_FORMAT


def test_put_by_copy_keeps_the_source(tmp_path: Path, cache: Cache) -> None:
    src = artifact(tmp_path, "a.zip", b"data")
    entry = cache.put(key_of("k"), {"artifact.zip": src}, {}, move=False)
    assert src.read_bytes() == b"data" == entry.path("artifact.zip").read_bytes()


def test_verification_reads_a_file_once_then_trusts_its_stamp(
    tmp_path: Path, cache: Cache, hashes: list[Path], later_clock: None
) -> None:
    key = key_of("api")
    cache.put(key, {"artifact.zip": artifact(tmp_path, "a.zip", b"x" * 10_000)}, {})
    hashes.clear()  # put hashed the bytes it stored
    assert cache.get(key) is not None
    assert cache.get(key) is not None
    assert hashes == []
    assert cache.get(key, Verify.FULL) is not None
    assert len(hashes) == 1


def test_put_with_known_digest_is_verified_once_on_first_get(
    tmp_path: Path, cache: Cache, hashes: list[Path], later_clock: None
) -> None:
    key = key_of("api")
    data = b"y" * 1000
    cache.put(key, {"artifact.zip": artifact(tmp_path, "a.zip", data)}, {},
              sha256={"artifact.zip": hashlib.sha256(data).hexdigest()})
    assert hashes == []
    cache.get(key)
    cache.get(key)
    assert len(hashes) == 1


@pytest.mark.parametrize("verify", [Verify.ONCE, Verify.FULL])
def test_a_flipped_byte_is_detected_evicted_and_reported(
    tmp_path: Path, cache: Cache, verify: Verify
) -> None:
    key = key_of("api")
    entry = cache.put(key, {"artifact.zip": artifact(tmp_path, "a.zip", b"0123456789")},
                      {"name": "api"})
    assert cache.get(key) is not None  # verified (stamped) once
    path = entry.path("artifact.zip")
    data = bytearray(path.read_bytes())
    data[4] ^= 0xFF
    path.write_bytes(bytes(data))  # same size

    assert cache.get(key, verify) is None
    assert not entry.dir.exists()
    assert [str(w) for w in cache.warnings] == [
        f"cache entry {key[:12]} for api was corrupt; rebuilding"
    ]
    assert cache.warnings[0].detail == "artifact.zip: sha256 mismatch"
    # rebuilt and stored again
    cache.put(key, {"artifact.zip": artifact(tmp_path, "a.zip", b"0123456789")}, {"name": "api"})
    assert cache.get(key, Verify.FULL) is not None


def test_a_truncated_file_is_caught_by_size_even_without_hashing(tmp_path: Path, cache: Cache) -> None:
    key = key_of("api")
    entry = cache.put(key, {"artifact.zip": artifact(tmp_path, "a.zip", b"0123456789")}, {})
    with open(entry.path("artifact.zip"), "r+b") as f:
        f.truncate(3)
    assert cache.get(key, Verify.SIZE, what="function api") is None
    assert str(cache.warnings[0]) == f"cache entry {key[:12]} for function api was corrupt; rebuilding"
    assert "3 bytes, expected 10" in cache.warnings[0].detail


def test_a_missing_file_or_entry_json_is_corrupt(tmp_path: Path, cache: Cache) -> None:
    k1, k2 = key_of("one"), key_of("two")
    e1 = cache.put(k1, {"artifact.zip": artifact(tmp_path, "a.zip", b"1")}, {"name": "one"})
    e2 = cache.put(k2, {"artifact.zip": artifact(tmp_path, "a.zip", b"2")}, {"name": "two"})
    e1.path("artifact.zip").unlink()
    (e2.dir / ENTRY_FILE).unlink()
    assert cache.get(k1) is None and cache.get(k2) is None
    assert not e1.dir.exists() and not e2.dir.exists()
    assert len(cache.warnings) == 2


def test_a_partial_staging_dir_is_never_served(tmp_path: Path, cache: Cache) -> None:
    """A put killed before its rename leaves only a temp dir: not an entry."""
    key = key_of("api")
    staging = cache.root / "tmp" / f"put-{key[:16]}-dead"
    staging.mkdir(parents=True)
    (staging / "artifact.zip").write_bytes(b"half")
    assert cache.get(key) is None and not cache.contains(key)
    assert cache.entries() == []
    assert not cache.warnings


def test_interrupted_put_leaves_nothing(
    tmp_path: Path, cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = key_of("api")

    def interrupted(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    monkeypatch.setattr(cache_module, "_write_stamps", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cache.put(key, {"artifact.zip": artifact(tmp_path, "a.zip", b"data")}, {})
    assert not cache.contains(key)
    assert os.listdir(cache.root / "tmp") == []


def test_an_entry_of_another_format_is_a_miss_not_an_error(tmp_path: Path, cache: Cache) -> None:
    key = key_of("api")
    entry = cache.put(key, {"artifact.zip": artifact(tmp_path, "a.zip", b"data")}, {})
    data = json.loads((entry.dir / ENTRY_FILE).read_text())
    (entry.dir / ENTRY_FILE).write_text(json.dumps({**data, "format": ENTRY_FORMAT + 1}))
    assert cache.get(key) is None
    assert entry.dir.exists() and not cache.warnings


def test_putting_an_existing_key_keeps_the_first(tmp_path: Path, cache: Cache) -> None:
    key = key_of("api")
    cache.put(key, {"artifact.zip": artifact(tmp_path, "a.zip", b"first")}, {"n": 1})
    again = cache.put(key, {"artifact.zip": artifact(tmp_path, "a.zip", b"second")}, {"n": 2})
    assert again.meta == {"n": 1} and again.path("artifact.zip").read_bytes() == b"first"


@pytest.mark.parametrize("name", ["entry.json", "verified.json", "../x", "a/b", ".hidden", ""])
def test_reserved_or_unsafe_file_names_are_refused(tmp_path: Path, cache: Cache, name: str) -> None:
    with pytest.raises(ValueError, match="file name"):
        cache.put(key_of("k"), {name: artifact(tmp_path, "a", b"")}, {})


def test_keys_must_look_like_keys(cache: Cache) -> None:
    with pytest.raises(ValueError, match="not a cache key"):
        cache.get("../../etc")


PUT_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from lambdaforge.cache import Cache
    root, key, n, go = Path(sys.argv[1]), sys.argv[2], sys.argv[3], Path(sys.argv[4])
    src = root.parent / f"src-{n}.zip"
    src.write_bytes(b"same artifact bytes" * 5000)
    deadline = time.monotonic() + 10
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.001)
    entry = Cache(root).put(key, {"artifact.zip": src}, {"writer": n})
    assert entry.path("artifact.zip").read_bytes() == b"same artifact bytes" * 5000
    print(entry.meta["writer"])
    """
)


def test_concurrent_puts_of_one_key_from_many_processes(tmp_path: Path) -> None:
    root = tmp_path / "shared-cache"
    key = key_of("contended")
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", PUT_SCRIPT, str(root), key, str(n), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(6)
    ]
    time.sleep(0.3)  # let them start and wait at the barrier
    go.touch()
    outputs = [p.communicate(timeout=30) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, [err for _, err in outputs]
    winners = {out.strip() for out, _ in outputs}
    assert len(winners) == 1  # every process got the one entry that won

    cache = Cache(root)
    entry = cache.get(key, Verify.FULL)
    assert entry is not None and entry.meta == {"writer": winners.pop()}
    assert [e.key for e in cache.entries()] == [key]
    assert os.listdir(root / "tmp") == []  # losers removed their staging dirs


def test_prune_removes_least_recently_used_first(tmp_path: Path, cache: Cache) -> None:
    keys = [key_of(f"k{i}") for i in range(4)]
    now = time.time()
    for i, k in enumerate(keys):
        entry = cache.put(k, {"artifact.zip": artifact(tmp_path, "a.zip", b"x" * 1000)}, {})
        os.utime(entry.dir, (now - 1000 + i, now - 1000 + i))  # k0 oldest … k3 newest
    assert cache.get(keys[0]) is not None  # a hit is a use: k0 becomes the newest
    listed = cache.entries()
    assert [e.key for e in listed] == [keys[1], keys[2], keys[3], keys[0]]
    size = {e.key: e.size for e in listed}
    assert cache.size() == sum(size.values())

    result = cache.prune(size[keys[0]] + size[keys[3]])
    assert result.removed == (keys[1], keys[2])
    assert result.freed == size[keys[1]] + size[keys[2]]
    assert result.remaining == size[keys[0]] + size[keys[3]] and result.kept == 2
    assert {e.key for e in cache.entries()} == {keys[0], keys[3]}

    assert cache.touch(keys[3]) and not cache.touch(keys[1])
    assert cache.prune("0").removed == (keys[0], keys[3])
    assert cache.size() == 0


def test_stale_temp_dirs_of_dead_processes_are_cleaned(tmp_path: Path, cache: Cache) -> None:
    tmp = cache.root / "tmp"
    old = time.time() - STALE_TEMP_SECONDS - 60
    dead = tmp / "put-0123456789abcdef-dead"
    live = tmp / "put-fedcba9876543210-live"
    trash = tmp / "trash-0123-x"
    foreign = tmp / "install-scratch"
    for d in (dead, live, trash, foreign):
        (d / "sub").mkdir(parents=True)
        (d / "sub" / "f").write_bytes(b"x")
    for d in (dead, trash, foreign):
        os.utime(d, (old, old))
    cache.put(key_of("k"), {"artifact.zip": artifact(tmp_path, "a", b"1")}, {})  # cleans once
    assert sorted(p.name for p in tmp.iterdir()) == sorted([live.name, foreign.name])


def test_clear_removes_everything_and_the_cache_still_works(tmp_path: Path, cache: Cache) -> None:
    for i in range(3):
        cache.put(key_of(str(i)), {"artifact.zip": artifact(tmp_path, "a", b"1")}, {})
    cache.clear()
    assert cache.entries() == [] and cache.size() == 0
    cache.put(key_of("again"), {"artifact.zip": artifact(tmp_path, "a", b"1")}, {})
    assert cache.get(key_of("again")) is not None


@pytest.mark.parametrize(
    ("text", "size"),
    [("5GB", 5_000_000_000), ("500MiB", 500 * 2**20), ("1.5 GiB", 3 * 2**29), ("1024", 1024),
     (2048, 2048), ("0", 0)],
)
def test_parse_size(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["lots", "5 parsecs", "-1", -1])
def test_parse_size_rejects_nonsense(text: str | int) -> None:
    with pytest.raises(UsageError, match="invalid size"):
        parse_size(text)


def test_an_entry_evicted_by_another_process_mid_check_is_a_plain_miss(
    tmp_path: Path, cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = key_of("api")
    entry = cache.put(key, {"artifact.zip": artifact(tmp_path, "a.zip", b"data")}, {"name": "api"})

    def pruned_meanwhile(path):  # type: ignore[no-untyped-def]
        Cache(cache.root).prune(0)  # another process, same cache
        return "0" * 64

    monkeypatch.setattr(cache_module, "sha256_file", pruned_meanwhile)
    assert cache.get(key, Verify.FULL) is None
    assert not entry.dir.exists() and cache.warnings == []


def test_put_replaces_an_entry_it_cannot_serve(tmp_path: Path, cache: Cache) -> None:
    """An unreadable-format entry in the way is a miss for get and no obstacle for put."""
    key = key_of("api")
    entry = cache.put(key, {"artifact.zip": artifact(tmp_path, "a.zip", b"old")}, {})
    data = json.loads((entry.dir / ENTRY_FILE).read_text())
    (entry.dir / ENTRY_FILE).write_text(json.dumps({**data, "format": ENTRY_FORMAT + 1}))
    new = cache.put(key, {"artifact.zip": artifact(tmp_path, "a.zip", b"new")}, {"v": 2})
    assert new.path("artifact.zip").read_bytes() == b"new"
    assert cache.get(key, Verify.FULL).meta == {"v": 2}  # type: ignore[union-attr]
    assert os.listdir(cache.root / "tmp") == []


# --------------------------------------------------------------------------- a full disk


def _nothing_stored(cache: Cache, key: str) -> None:
    assert not cache.contains(key)
    assert not cache.entry_dir(key).exists()
    assert [p.name for p in (cache.root / "tmp").iterdir()] == []  # staging removed


def test_a_full_disk_while_putting_names_the_file_and_stores_nothing(
    tmp_path: Path, cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.disk import fail_writes_under

    key = key_of("verdict")
    fail_writes_under(monkeypatch, cache.root)
    with pytest.raises(DiskWriteError) as info:
        cache.put(key, {}, {"passed": True}, durable=False)
    message = str(info.value)
    staged = re.fullmatch(r"cannot write `(.+)`: the disk is full \(no space left on device\); "
                          r"the cache is in `(.+)`: free some space there, or prune the cache "
                          r"\(`forge cache prune --max-size SIZE`\)", message)
    assert staged, message
    assert Path(staged.group(1)).name == ENTRY_FILE
    assert Path(staged.group(1)).parent.parent == cache.root / "tmp"
    assert staged.group(2) == str(cache.root)
    _nothing_stored(cache, key)


def test_a_cache_on_a_real_full_file_system(tmp_path: Path) -> None:
    from tests.support.disk import tiny_filesystem

    with tiny_filesystem(tmp_path / "small", 128 * 1024) as small:
        cache = Cache(small / "cache")
        key = key_of("big")
        src = artifact(tmp_path, "artifact.zip", os.urandom(512 * 1024))
        # another file system: put copies, and the copy runs out of room
        with pytest.raises(DiskWriteError) as info:
            cache.put(key, {"artifact.zip": src}, {"name": "api"})
        assert re.fullmatch(
            rf"cannot write `{re.escape(str(cache.root / 'tmp'))}/put-[^/]+/artifact\.zip`: "
            r"the disk is full \(no space left on device\); the cache is in `.+`: .+",
            str(info.value)), str(info.value)
        _nothing_stored(cache, key)
        assert src.stat().st_size == 512 * 1024  # the caller's file is left alone
        # room again (after a prune, say): the same put works
        small_src = artifact(tmp_path, "small.zip", b"small")
        assert cache.put(key, {"artifact.zip": small_src}, {"name": "api"}).size == 5
