"""Collecting a source tree: order, include/exclude, strip accounting, symlinks.

Secrets and default excludes: ``test_source_secrets.py``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lambdaforge.config.models import StripRules
from lambdaforge.packaging.sources import SourceError, SourceFile, collect_sources
from lambdaforge.packaging.strip import RuleTally, StripFilter, StrippedFile


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "fn"
    write(root, {
        "app.py": "print(1)\n",
        "lib/util.py": "x = 1\n",
        "lib/util.pyc": "0123456789",
        "lib/tests/test_util.py": "def test(): pass\n",
        "lib/tests/data/sample.json": "{}",
        "docs/guide.md": "# guide\n",
        "B.txt": "b",
        ".forge/build/fn.zip": "old output",
    })
    os.chmod(root / "app.py", 0o755)
    return root


def test_sorted_posix_relpaths_exec_bits_and_sizes(tree: Path) -> None:
    found = collect_sources(tree)
    assert [f.relpath for f in found.files] == [
        "B.txt", "app.py", "docs/guide.md", "lib/tests/data/sample.json",
        "lib/tests/test_util.py", "lib/util.py", "lib/util.pyc",
    ]
    app = found.files[1]
    assert app == SourceFile("app.py", (tree / "app.py").absolute(), 9, True)
    assert not found.files[0].executable
    assert found.total_size == sum(f.size for f in found.files)
    assert found.warnings == [] and found.strip_report.total_files == 0


def test_strip_accounting(tree: Path) -> None:
    found = collect_sources(tree, strip=StripFilter.from_names(["standard"]))
    assert [f.relpath for f in found.files] == ["B.txt", "app.py", "docs/guide.md", "lib/util.py"]
    assert found.strip_report.by_rule == {"standard": RuleTally(files=3, bytes=10 + 17 + 2)}
    assert sorted(found.strip_report.files, key=lambda f: f.path) == [
        StrippedFile("lib/tests/data/sample.json", "standard", "tests/", 2),
        StrippedFile("lib/tests/test_util.py", "standard", "tests/", 17),
        StrippedFile("lib/util.pyc", "standard", "*.py[cod]", 10),
    ]


def test_keep_below_a_stripped_directory_and_never_strip_metadata(tmp_path: Path) -> None:
    root = tmp_path / "deps"
    write(root, {
        "pkg/tests/fixtures/keep.json": "{}",
        "pkg/tests/test_x.py": "",
        "pkg-1.0.dist-info/METADATA": "Name: pkg\n",
        "pkg-1.0.dist-info/RECORD": "",
    })
    rules = [
        StripRules(name="standard", exclude=("tests/", "*.dist-info/")),
        StripRules(name="mine", exclude=(), keep=("pkg/tests/fixtures/",)),
    ]
    found = collect_sources(root, strip=StripFilter(rules))
    assert [f.relpath for f in found.files] == ["pkg-1.0.dist-info/METADATA", "pkg/tests/fixtures/keep.json"]
    assert sorted(f.path for f in found.strip_report.files) == ["pkg-1.0.dist-info/RECORD", "pkg/tests/test_x.py"]


def test_include_then_exclude(tree: Path) -> None:
    found = collect_sources(tree, include=["*.py", "docs/"], exclude=["lib/tests/", "/app.py"])
    assert [f.relpath for f in found.files] == ["docs/guide.md", "lib/util.py"]


def test_symlinks_inside_are_followed(tmp_path: Path) -> None:
    root = tmp_path / "fn"
    write(root, {"shared/common.py": "X = 1\n", "app.py": ""})
    (root / "common.py").symlink_to("shared/common.py")
    (root / "alias").symlink_to("shared", target_is_directory=True)
    found = collect_sources(root)
    by_rel = {f.relpath: f for f in found.files}
    assert sorted(by_rel) == ["alias/common.py", "app.py", "common.py", "shared/common.py"]
    assert by_rel["common.py"].path == (root / "shared" / "common.py").resolve()
    assert by_rel["common.py"].size == 6


def test_symlink_leaving_the_root_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "fn"
    write(root, {"app.py": ""})
    (tmp_path / "secret.txt").write_text("outside")
    (root / "escape.txt").symlink_to("../secret.txt")
    with pytest.raises(SourceError) as err:
        collect_sources(root)
    assert str(err.value) == (
        f"escape.txt: symlink to ../secret.txt leads outside the source directory {root}; copy the "
        "file into the source directory or point `source` at a directory that contains both"
    )


def test_broken_symlink_and_loop_are_errors(tmp_path: Path) -> None:
    root = tmp_path / "fn"
    write(root, {"sub/a.py": ""})
    (root / "sub" / "loop").symlink_to("..", target_is_directory=True)
    with pytest.raises(SourceError) as err:
        collect_sources(root)
    assert str(err.value) == "sub/loop: symlink loop (leads back to .)"
    (root / "sub" / "loop").unlink()
    (root / "dangling.py").symlink_to("nowhere.py")
    with pytest.raises(SourceError) as err:
        collect_sources(root)
    assert str(err.value) == "dangling.py: broken symlink to nowhere.py"


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as err:
        collect_sources(tmp_path / "nope")
    assert str(err.value) == f"{tmp_path / 'nope'}: source directory does not exist"


def test_same_tree_in_two_places_gives_the_same_relpaths(tmp_path: Path) -> None:
    files = {"z.py": "1", "a/b.py": "2", "a/B.py": "3", "Z/x.py": "4"}
    write(tmp_path / "one", files)
    write(tmp_path / "deep" / "two", files)
    one = collect_sources(tmp_path / "one")
    two = collect_sources(tmp_path / "deep" / "two")
    assert [(f.relpath, f.size, f.executable) for f in one.files] == [
        (f.relpath, f.size, f.executable) for f in two.files
    ]
    assert [f.relpath for f in one.files] == ["Z/x.py", "a/B.py", "a/b.py", "z.py"]
