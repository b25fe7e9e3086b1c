"""The one atomic writer (``lambdaforge.fsutil``) and what a full disk looks like to a user.

Every scenario checks the two promises together: the error names the file and says what is
wrong (never a bare ``OSError``), and the final path holds its old content or nothing, with
no temp file left beside it.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from lambdaforge import fsutil, state
from lambdaforge.errors import DiskWriteError, ForgeError
from lambdaforge.manifest import write_if_changed
from lambdaforge.state import BuildState
from lambdaforge.fingerprint import KeyMaterial
from tests.support.disk import fail_writes_under, tiny_filesystem


def siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


def test_write_atomic_replaces_the_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "record.json"
    fsutil.write_atomic(target, b"one")
    fsutil.write_atomic(target, b"two", durable=False, mode=0o644)
    assert target.read_bytes() == b"two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert siblings(target) == ["record.json"]


def test_state_still_exports_the_writer():
    # Code the lead is changing imports these from lambdaforge.state.
    assert state.write_atomic is fsutil.write_atomic
    assert state.fsync_dir is fsutil.fsync_dir


@pytest.mark.parametrize("code, why", [
    (errno.ENOSPC, "the disk is full (no space left on device)"),
    (errno.EDQUOT, "the disk is full for this user (disk quota exceeded)"),
])
def test_a_full_disk_names_the_file_and_keeps_the_old_content(tmp_path, monkeypatch, code, why):
    target = tmp_path / "record.json"
    target.write_bytes(b"old")
    refused = fail_writes_under(monkeypatch, tmp_path, code)
    with pytest.raises(DiskWriteError) as info:
        fsutil.write_atomic(target, b"new content")
    assert str(info.value) == f"cannot write `{target}`: {why}"
    assert refused, "the injected failure was never reached"
    assert isinstance(info.value, ForgeError) and info.value.exit_code == 1
    # still an OSError, so `except OSError` around optional writes keeps working
    assert isinstance(info.value, OSError) and info.value.errno == code
    assert info.value.filename == str(target)
    assert target.read_bytes() == b"old"
    assert siblings(target) == ["record.json"]


def test_any_other_write_failure_names_the_file_too(tmp_path, monkeypatch):
    target = tmp_path / "record.json"

    def refuse(src, dst):
        raise PermissionError(errno.EACCES, "Permission denied", src)

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(DiskWriteError) as info:
        fsutil.write_atomic(target, b"x")
    assert str(info.value) == f"cannot write `{target}`: Permission denied"
    assert siblings(target) == []


def test_a_disk_full_at_fsync_is_caught_as_well(tmp_path, monkeypatch):
    # Network file systems report a full disk late: at fsync or close, not at write.
    target = tmp_path / "entry.json"

    def fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(DiskWriteError, match="the disk is full"):
        fsutil.write_atomic(target, b"x", durable=True)
    assert siblings(target) == []


def test_atomic_file_lets_the_callers_own_errors_through(tmp_path):
    target = tmp_path / "out.zip"
    target.write_bytes(b"old")
    with pytest.raises(FileNotFoundError):  # not relabelled as a failure to write out.zip
        with fsutil.atomic_file(target) as f:
            f.write(b"half")
            open(tmp_path / "missing-input")  # noqa: SIM115
    assert target.read_bytes() == b"old"
    assert siblings(target) == ["out.zip"]


def test_atomic_file_streams_and_publishes(tmp_path):
    target = tmp_path / "out.zip"
    with fsutil.atomic_file(target, mode=0o644) as f:
        f.write(b"part one, ")
        f.write(b"part two")
        assert not target.exists()  # nothing at the final path until the block ends
    assert target.read_bytes() == b"part one, part two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_a_real_full_file_system(tmp_path):
    with tiny_filesystem(tmp_path / "small", 64 * 1024) as small:
        target = small / "state" / "record.json"
        fsutil.write_atomic(target, b"fits")
        with pytest.raises(DiskWriteError) as info:
            fsutil.write_atomic(target, os.urandom(256 * 1024))
        assert str(info.value) == f"cannot write `{target}`: the disk is full (no space left on device)"
        assert target.read_bytes() == b"fits"
        assert siblings(target) == ["record.json"]


def test_build_state_on_a_full_disk(tmp_path, monkeypatch):
    states = BuildState.load(tmp_path / "state")
    material = KeyMaterial(kind="function", builder="python", builder_version="1")
    states.set("function:api", material, {"size": 1})
    states.save()
    record = states.file_for("function:api")
    before = record.read_bytes()

    fail_writes_under(monkeypatch, tmp_path)
    states = BuildState.load(tmp_path / "state")
    states.set("function:api", material, {"size": 2})
    with pytest.raises(DiskWriteError) as info:
        states.save()
    assert str(info.value) == f"cannot write `{record}`: the disk is full (no space left on device)"
    assert record.read_bytes() == before
    assert siblings(record) == [record.name]


def test_manifest_is_world_readable_and_a_full_disk_names_it(tmp_path, monkeypatch):
    manifest = tmp_path / "build" / "manifest.json"
    assert write_if_changed(manifest, "{}\n")
    assert stat.S_IMODE(manifest.stat().st_mode) == 0o644
    assert not write_if_changed(manifest, "{}\n")
    fail_writes_under(monkeypatch, tmp_path)
    with pytest.raises(DiskWriteError) as info:
        write_if_changed(manifest, '{"artifacts": []}\n')
    assert str(info.value) == f"cannot write `{manifest}`: the disk is full (no space left on device)"
    assert manifest.read_text() == "{}\n"
    assert siblings(manifest) == ["manifest.json"]


def test_atomic_file_can_decline_to_publish(tmp_path):
    # write_zip's case: the new bytes equal the old ones, so the file (and its mtime) stays.
    target = tmp_path / "out.zip"
    target.write_bytes(b"same")
    before = target.stat()
    with fsutil.atomic_file(target, publish=lambda: False) as f:
        f.write(b"same")
    assert target.read_bytes() == b"same" and target.stat().st_mtime_ns == before.st_mtime_ns
    assert target.stat().st_ino == before.st_ino
    assert siblings(target) == ["out.zip"]


def test_place_file_links_on_one_file_system(tmp_path):
    src = tmp_path / "cache" / "artifact.zip"
    src.parent.mkdir()
    src.write_bytes(b"zip bytes")
    src.chmod(0o644)
    dest = tmp_path / "build" / "fn.zip"
    fsutil.place_file(src, dest)
    assert dest.read_bytes() == b"zip bytes"
    assert dest.stat().st_ino == src.stat().st_ino  # no copy
    assert siblings(dest) == ["fn.zip"]


def test_place_file_copies_across_file_systems_and_names_dest_when_full(tmp_path):
    src = tmp_path / "artifact.zip"
    src.write_bytes(os.urandom(256 * 1024))
    src.chmod(0o600)
    with tiny_filesystem(tmp_path / "small", 384 * 1024) as small:
        dest = small / "build" / "fn.zip"
        fsutil.place_file(src, dest)
        assert dest.read_bytes() == src.read_bytes()
        assert dest.stat().st_ino != src.stat().st_ino
        assert stat.S_IMODE(dest.stat().st_mode) == 0o644
        # a second copy does not fit beside the first
        with pytest.raises(DiskWriteError) as info:
            fsutil.place_file(src, small / "build" / "other.zip")
        assert str(info.value) == (
            f"cannot write `{small / 'build' / 'other.zip'}`: the disk is full (no space left on device)")
        assert siblings(dest) == ["fn.zip"]
