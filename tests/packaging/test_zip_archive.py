"""The zip writer: deterministic bytes, normalized metadata, raw member copy, atomicity."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import stat
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest

from lambdaforge.packaging import archive
from lambdaforge.packaging.archive import (
    ArchiveError,
    BytesEntry,
    FileEntry,
    MemberEntry,
    read_zip_index,
    write_zip,
    zip_date_time,
)


def make_tree(root: Path) -> list[FileEntry]:
    """A small function source tree, its entries listed in scrambled order."""
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "app.py").write_text("def handler(event, context):\n    return 1\n")
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "sub" / "data.json").write_text('{"a": 1}\n' * 500)
    (root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(root / "run.sh", 0o700)
    os.chmod(root / "app.py", 0o600)  # odd local modes must not leak into the zip
    return [
        FileEntry("run.sh", root / "run.sh", executable=True),
        FileEntry("pkg/sub/data.json", root / "pkg" / "sub" / "data.json"),
        FileEntry("app.py", root / "app.py"),
        FileEntry("pkg/__init__.py", root / "pkg" / "__init__.py"),
    ]


def test_entries_sorted_dirs_synthesized_modes_and_times_normalized(tmp_path: Path) -> None:
    stats = write_zip(tmp_path / "out.zip", make_tree(tmp_path / "src"))
    with zipfile.ZipFile(tmp_path / "out.zip") as zf:
        infos = zf.infolist()
        assert [i.filename for i in infos] == [
            "app.py", "pkg/", "pkg/__init__.py", "pkg/sub/", "pkg/sub/data.json", "run.sh",
        ]
        modes = {i.filename: stat.filemode(i.external_attr >> 16) for i in infos}
        assert modes == {
            "app.py": "-rw-r--r--", "pkg/": "drwxr-xr-x", "pkg/__init__.py": "-rw-r--r--",
            "pkg/sub/": "drwxr-xr-x", "pkg/sub/data.json": "-rw-r--r--", "run.sh": "-rwxr-xr-x",
        }
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
        assert {i.create_system for i in infos} == {3}
        assert {i.extra for i in infos} == {b""}
        assert {i.comment for i in infos} == {b""} and zf.comment == b""
        assert {i.compress_type for i in infos if not i.is_dir()} == {zipfile.ZIP_DEFLATED}
        assert zf.testzip() is None
        assert zf.read("app.py") == b"def handler(event, context):\n    return 1\n"
    data = (tmp_path / "out.zip").read_bytes()
    assert stats.size == len(data)
    assert stats.sha256 == hashlib.sha256(data).hexdigest()
    assert stats.code_sha256 == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert (stats.files, stats.entries, stats.written) == (4, 6, True)
    assert stats.unzipped_size == sum(i.size for i in read_zip_index(tmp_path / "out.zip"))


def test_same_entries_from_two_directories_are_byte_identical(tmp_path: Path) -> None:
    a = write_zip(tmp_path / "a.zip", make_tree(tmp_path / "checkout-one"))
    b = write_zip(tmp_path / "b" / "b.zip", reversed(make_tree(tmp_path / "elsewhere" / "two")))
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b" / "b.zip").read_bytes()
    assert a.sha256 == b.sha256


def test_source_date_epoch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entries = [BytesEntry("a.txt", b"a")]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # 2023-11-14 22:13:20 UTC
    write_zip(tmp_path / "one.zip", entries)
    write_zip(tmp_path / "two.zip", entries)
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "one.zip") as zf:
        assert zf.getinfo("a.txt").date_time == (2023, 11, 14, 22, 13, 20)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")  # before 1980: clamped
    assert zip_date_time() == (1980, 1, 1, 0, 0, 0)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(ArchiveError) as err:
        zip_date_time()
    assert str(err.value) == "SOURCE_DATE_EPOCH must be an integer number of seconds, not 'yesterday'"


def raw_member(path: Path, name: str) -> bytes:
    """The compressed bytes of member ``name`` of the zip at ``path``."""
    with zipfile.ZipFile(path) as zf, open(path, "rb") as f:
        info = zf.getinfo(name)
        f.seek(info.header_offset)
        name_len, extra_len = struct.unpack("<HH", f.read(30)[26:30])
        f.seek(info.header_offset + 30 + name_len + extra_len)
        return f.read(info.compress_size)


def test_raw_copy_keeps_the_source_members_bytes(tmp_path: Path) -> None:
    entries = make_tree(tmp_path / "src")
    write_zip(tmp_path / "from-files.zip", entries)
    # Our own zips (an install's deps.zip) copy into byte-identical packages.
    write_zip(tmp_path / "copy.zip", [MemberEntry(e.arcname, tmp_path / "from-files.zip", e.arcname) for e in entries])
    assert (tmp_path / "copy.zip").read_bytes() == (tmp_path / "from-files.zip").read_bytes()
    # A zip written by the standard library's zlib (as wheels usually are): its members keep
    # their deflate bytes, which are part of that input, and are not recompressed.
    with zipfile.ZipFile(tmp_path / "stdlib.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for e in entries:
            info = zipfile.ZipInfo(e.arcname, (2020, 5, 5, 12, 0, 0))
            info.external_attr = (0o100755 if e.executable else 0o100600) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, e.path.read_bytes(), compresslevel=6)
    write_zip(tmp_path / "copy-of-stdlib.zip", [MemberEntry(e.arcname, tmp_path / "stdlib.zip", e.arcname) for e in entries])
    with zipfile.ZipFile(tmp_path / "copy-of-stdlib.zip") as zf:
        assert zf.testzip() is None
        for e in entries:
            assert zf.read(e.arcname) == e.path.read_bytes()
            assert raw_member(tmp_path / "copy-of-stdlib.zip", e.arcname) == raw_member(tmp_path / "stdlib.zip", e.arcname)
    names_modes = [(m.name, m.mode, m.size, m.crc) for m in read_zip_index(tmp_path / "from-files.zip")]
    assert [(m.name, m.mode, m.size, m.crc) for m in read_zip_index(tmp_path / "copy-of-stdlib.zip")] == names_modes


def test_stored_members_and_recompress_option(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "src.zip", "w") as zf:  # ZIP_STORED
        zf.writestr("a.txt", b"x" * 5000)
    with zipfile.ZipFile(tmp_path / "l9.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("a.txt", b"x" * 5000)
    write_zip(tmp_path / "ref.zip", [BytesEntry("a.txt", b"x" * 5000)])
    write_zip(tmp_path / "stored.zip", [MemberEntry("a.txt", tmp_path / "src.zip", "a.txt")])
    write_zip(tmp_path / "re.zip", [MemberEntry("a.txt", tmp_path / "l9.zip", "a.txt", recompress=True)])
    ref = (tmp_path / "ref.zip").read_bytes()
    assert (tmp_path / "stored.zip").read_bytes() == ref
    assert (tmp_path / "re.zip").read_bytes() == ref


def test_member_mode_follows_source_unless_overridden(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "w.whl", "w", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo("bin/tool")
        info.external_attr = 0o100775 << 16
        zf.writestr(info, b"#!/bin/sh\n")
    write_zip(tmp_path / "out.zip", [
        MemberEntry("tool", tmp_path / "w.whl", "bin/tool"),
        MemberEntry("tool-plain", tmp_path / "w.whl", "bin/tool", executable=False),
    ])
    modes = {m.name: m.mode for m in read_zip_index(tmp_path / "out.zip")}
    assert modes == {"tool": 0o100755, "tool-plain": 0o100644}


def test_duplicates_and_bad_names_are_errors(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("")
    with pytest.raises(ArchiveError) as err:
        write_zip(tmp_path / "o.zip", [FileEntry("a.py", tmp_path / "a.py"), BytesEntry("a.py", b"x")])
    assert str(err.value) == f"duplicate zip entry 'a.py': from {tmp_path / 'a.py'} and from 1 generated bytes"
    with pytest.raises(ArchiveError) as err:
        write_zip(tmp_path / "o.zip", [BytesEntry("pkg", b""), BytesEntry("pkg/x.py", b"")])
    assert str(err.value) == "zip entry 'pkg' (from 0 generated bytes) is a file, but 'pkg/x.py' needs it to be a directory"
    for bad in ("/abs.py", "../up.py", "a//b.py", "dir/", "a\\b.py", "./a.py", ""):
        with pytest.raises(ArchiveError, match="invalid zip entry name"):
            write_zip(tmp_path / "o.zip", [BytesEntry(bad, b"")])
    assert not (tmp_path / "o.zip").exists()


class ExplodingFile(FileEntry):
    """A file whose reading fails after the first chunk, like a disk error or a Ctrl-C."""

    def open(self):  # type: ignore[override]
        real = super().open()

        class Reader:
            calls = 0

            def read(self, n: int) -> bytes:
                Reader.calls += 1
                if Reader.calls > 1:
                    raise KeyboardInterrupt
                return real.read(n)

            def __enter__(self):
                return self

            def __exit__(self, *exc: object) -> None:
                real.close()

        return Reader()


def test_failure_mid_write_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "_CHUNK", 1024)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(10_000))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(KeyboardInterrupt):
        write_zip(out / "f.zip", [BytesEntry("a.txt", b"a" * 5000), ExplodingFile("z.bin", big)])
    assert list(out.iterdir()) == []
    # An existing artifact survives a failed rebuild untouched.
    write_zip(out / "f.zip", [BytesEntry("a.txt", b"old")])
    before = (out / "f.zip").read_bytes()
    with pytest.raises(KeyboardInterrupt):
        write_zip(out / "f.zip", [BytesEntry("a.txt", b"new"), ExplodingFile("z.bin", big)])
    assert [p.name for p in out.iterdir()] == ["f.zip"]
    assert (out / "f.zip").read_bytes() == before


def test_missing_or_changing_source_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError) as err:
        write_zip(tmp_path / "o.zip", [FileEntry("gone.py", tmp_path / "gone.py")])
    assert str(err.value) == f"cannot read {tmp_path / 'gone.py'} for zip entry 'gone.py': No such file or directory"
    with pytest.raises(ArchiveError) as err:
        write_zip(tmp_path / "o.zip", [MemberEntry("x", tmp_path / "o.zip", "x")])
    assert str(err.value).startswith(f"cannot read zip {tmp_path / 'o.zip'}: ")
    assert list(tmp_path.iterdir()) == []


def test_identical_destination_is_not_rewritten(tmp_path: Path) -> None:
    entries = make_tree(tmp_path / "src")
    dest = tmp_path / "build" / "fn.zip"
    first = write_zip(dest, entries)
    os.utime(dest, ns=(1_000_000_000, 1_000_000_000))
    inode = dest.stat().st_ino
    again = write_zip(dest, entries)
    assert again.written is False
    assert (again.sha256, again.size, again.files) == (first.sha256, first.size, first.files)
    assert dest.stat().st_mtime_ns == 1_000_000_000 and dest.stat().st_ino == inode
    assert sorted(p.name for p in dest.parent.iterdir()) == ["fn.zip"]
    (tmp_path / "src" / "app.py").write_text("changed\n")
    assert write_zip(dest, entries).written is True
    assert dest.stat().st_mtime_ns != 1_000_000_000
    assert stat.S_IMODE(dest.stat().st_mode) == 0o644


def test_zip64_structures_are_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Lower the limits instead of writing 4 GiB: every member and the end record go Zip64.
    monkeypatch.setattr(archive, "_ZIP64_LIMIT", 1000)
    monkeypatch.setattr(archive, "_ZIP_FILECOUNT_LIMIT", 3)
    entries = [BytesEntry(f"d/f{i}.bin", os.urandom(3000)) for i in range(4)]
    write_zip(tmp_path / "src.zip", entries)
    write_zip(tmp_path / "copy.zip", [MemberEntry(e.arcname, tmp_path / "src.zip", e.arcname) for e in entries])
    for name in ("src.zip", "copy.zip"):
        with zipfile.ZipFile(tmp_path / name) as zf:
            assert zf.testzip() is None
            assert [zf.read(e.arcname) for e in entries] == [e.data for e in entries]
        if shutil.which("unzip"):
            done = subprocess.run(["unzip", "-t", str(tmp_path / name)], capture_output=True, text=True)
            assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "src.zip").read_bytes() == (tmp_path / "copy.zip").read_bytes()


@pytest.mark.skipif(shutil.which("unzip") is None, reason="unzip not installed")
def test_unzip_accepts_it(tmp_path: Path) -> None:
    write_zip(tmp_path / "o.zip", make_tree(tmp_path / "src") + [BytesEntry("ünï/cödé.txt", b"x"), BytesEntry("empty", b"")])
    done = subprocess.run(["unzip", "-t", str(tmp_path / "o.zip")], capture_output=True, text=True)
    assert done.returncode == 0 and "No errors detected" in done.stdout, done.stdout + done.stderr
    with zipfile.ZipFile(tmp_path / "o.zip") as zf:
        assert zf.read("ünï/cödé.txt") == b"x" and zf.read("empty") == b""


def test_the_zip_writer_behind_the_artifact_writer_interface(tmp_path) -> None:
    """Builders hand their entries to an ``ArtifactWriter``; the zip one is ``write_zip``."""
    import zipfile as _zipfile

    from lambdaforge.builders.python import PythonBuilder
    from lambdaforge.packaging.archive import BytesEntry, write_zip
    from lambdaforge.packaging.writers import ZIP

    writer = PythonBuilder().artifact_writer(None)  # type: ignore[arg-type]
    assert writer is ZIP and writer.NAME == "zip"
    stats = writer.write(tmp_path / "a.zip", [BytesEntry("app.py", b"x = 1\n")])
    same = write_zip(tmp_path / "b.zip", [BytesEntry("app.py", b"x = 1\n")])
    assert stats.sha256 == same.sha256
    assert _zipfile.ZipFile(tmp_path / "a.zip").namelist() == ["app.py"]
