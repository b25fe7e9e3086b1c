"""Large files are deflated on worker threads; the zip's bytes must not depend on it."""

from __future__ import annotations

import os
import random
import zipfile

from lambdaforge.packaging import archive
from lambdaforge.packaging.archive import FileEntry, write_zip


def _files(root, n=12):
    rng = random.Random(7)
    entries = []
    for i in range(n):
        path = root / f"f{i:02d}.bin"
        size = rng.randint(archive.PARALLEL_MIN_SIZE, 3 * archive.PARALLEL_MIN_SIZE)
        # half random (incompressible), half text-like: both deflate paths get exercised
        data = os.urandom(size // 2) + (b"lambda " * (size // 14))
        path.write_bytes(data)
        entries.append(FileEntry(f"pkg/{path.name}", path))
    entries.append(FileEntry("pkg/small.py", _small(root)))
    return entries


def _small(root):
    p = root / "small.py"
    p.write_text("x = 1\n")
    return p


def test_parallel_and_sequential_deflate_write_identical_zips(tmp_path, monkeypatch):
    entries = _files(tmp_path)
    one = write_zip(tmp_path / "one.zip", entries, workers=1)
    many = write_zip(tmp_path / "many.zip", entries, workers=4)
    # a window smaller than one file: every file still goes through, one at a time ahead
    monkeypatch.setattr(archive, "PARALLEL_WINDOW", 1)
    narrow = write_zip(tmp_path / "narrow.zip", entries, workers=2)
    data = (tmp_path / "one.zip").read_bytes()
    assert (tmp_path / "many.zip").read_bytes() == data
    assert (tmp_path / "narrow.zip").read_bytes() == data
    assert one.sha256 == many.sha256 == narrow.sha256
    with zipfile.ZipFile(tmp_path / "many.zip") as zf:
        assert zf.testzip() is None
        for e in entries:
            assert zf.read(e.arcname) == e.path.read_bytes()


def test_a_file_that_vanishes_fails_the_zip_and_leaves_nothing(tmp_path):
    entries = _files(tmp_path, n=3)
    entries[1].path.unlink()
    dest = tmp_path / "out.zip"
    try:
        write_zip(dest, entries, workers=2)
    except archive.ArchiveError as exc:
        assert "f01.bin" in str(exc)
    else:
        raise AssertionError("expected an ArchiveError")
    assert not dest.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_pieces_of_big_files_on_several_workers_write_identical_zips(tmp_path, monkeypatch):
    # Lower the piece size instead of writing 8 MiB files: every file is cut in pieces that
    # are deflated on different workers (and, with a narrow window, one at a time ahead).
    monkeypatch.setattr(archive, "_PIECE", 100_000)
    entries = _files(tmp_path)
    one = write_zip(tmp_path / "one.zip", entries, workers=1)
    many = write_zip(tmp_path / "many.zip", entries, workers=4)
    monkeypatch.setattr(archive, "PARALLEL_WINDOW", 1)
    narrow = write_zip(tmp_path / "narrow.zip", entries, workers=2)
    assert one.sha256 == many.sha256 == narrow.sha256
    with zipfile.ZipFile(tmp_path / "narrow.zip") as zf:
        assert zf.testzip() is None
        for e in entries:
            assert zf.read(e.arcname) == e.path.read_bytes()
