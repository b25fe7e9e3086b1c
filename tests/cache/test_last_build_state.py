"""Last-build records: what `forge explain` compares against. Versioned, one file per
target, unreadable records are simply absent."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from lambdaforge.fingerprint import KeyMaterial, diff_key_material
from lambdaforge.state import STATE_VERSION, BuildState


def material(digest: str = "1" * 64, **kw: object) -> KeyMaterial:
    return KeyMaterial(
        kind="package",
        builder="python",
        builder_version="1",
        config={"functions.api.runtime": "python3.12"},
        platform={"runtime": "python3.12", "architecture": "arm64"},
        files={"functions/api/app.py": (digest, False)},
        **kw,  # type: ignore[arg-type]
    )


def test_record_survives_a_new_process(tmp_path: Path) -> None:
    state = BuildState.load(tmp_path)
    before = time.time()
    state.set("function:api", material(), {"path": ".forge/build/functions/api.zip", "size": 10})
    after = time.time()
    state.save()

    again = BuildState.load(tmp_path)
    record = again.get("function:api")
    assert record is not None
    assert record.material == material() and record.key == material().key
    assert record.outputs == {"path": ".forge/build/functions/api.zip", "size": 10}
    assert before <= record.recorded_at <= after  # when it was set, not when it was read
    assert again.targets() == ["function:api"]


def test_explain_names_the_changed_file(tmp_path: Path) -> None:
    state = BuildState.load(tmp_path)
    state.set("function:api", material("1" * 64))
    state.save()
    previous = BuildState.load(tmp_path).get("function:api")
    assert previous is not None
    assert diff_key_material(previous.material, material("2" * 64)) == [
        "file changed: functions/api/app.py"
    ]
    assert diff_key_material(BuildState.load(tmp_path).get("function:other"), material()) == [
        "no previous build"
    ]


def test_recording_the_same_build_again_writes_nothing(tmp_path: Path) -> None:
    state = BuildState.load(tmp_path)
    state.set("function:api", material(), {"size": 1, "layers": ("a",)})
    state.save()
    path = state.file_for("function:api")
    before = path.stat().st_mtime_ns

    again = BuildState.load(tmp_path)
    again.set("function:api", material(), {"size": 1, "layers": ("a",)})  # tuple == saved list
    again.save()
    assert path.stat().st_mtime_ns == before


@pytest.mark.parametrize(
    "mangle",
    [
        lambda d: b"{truncated",
        lambda d: json.dumps({**d, "version": STATE_VERSION + 1}).encode(),
        lambda d: json.dumps({**d, "version": STATE_VERSION - 1}).encode(),
        lambda d: json.dumps({**d, "target": "function:someone-else"}).encode(),
        lambda d: json.dumps({**d, "key": 7}).encode(),
        lambda d: json.dumps({**d, "material": []}).encode(),
        lambda d: json.dumps({**d, "outputs": []}).encode(),
    ],
    ids=["corrupt", "newer", "older", "other-target", "bad-key", "bad-material", "bad-outputs"],
)
def test_unreadable_records_are_no_previous_build(tmp_path: Path, mangle) -> None:  # type: ignore[no-untyped-def]
    state = BuildState.load(tmp_path)
    state.set("function:api", material())
    state.save()
    path = state.file_for("function:api")
    path.write_bytes(mangle(json.loads(path.read_bytes())))
    assert BuildState.load(tmp_path).get("function:api") is None


def test_a_record_is_compared_by_its_recorded_key_and_parsed_only_for_reasons(tmp_path: Path) -> None:
    """Reading a record does not rebuild and re-hash its material (hundreds per build): the
    recorded key is what a plan compares. The material is parsed when a rebuild wants its
    reasons, and a malformed one gives none rather than failing."""
    state = BuildState.load(tmp_path)
    state.set("function:api", material())
    state.save()
    path = state.file_for("function:api")
    data = json.loads(path.read_bytes())
    path.write_bytes(json.dumps({**data, "key": "0" * 64}).encode())
    record = BuildState.load(tmp_path).get("function:api")
    assert record is not None and record.key == "0" * 64 != material().key
    assert record.material is not None and record.material.key == material().key
    path.write_bytes(json.dumps({**data, "material": {"format": 1}}).encode())
    record = BuildState.load(tmp_path).get("function:api")
    assert record is not None and record.key == material().key and record.material is None


def test_similar_names_do_not_collide(tmp_path: Path) -> None:
    state = BuildState.load(tmp_path)
    state.set("function:a/b", material("1" * 64))
    state.set("function:a_b", material("2" * 64))
    state.set("install:python:" + "x" * 300, material("3" * 64))
    state.save()
    again = BuildState.load(tmp_path)
    assert again.get("function:a/b").material.files[0].digest == "1" * 64  # type: ignore[union-attr]
    assert again.get("function:a_b").material.files[0].digest == "2" * 64  # type: ignore[union-attr]
    assert again.get("install:python:" + "x" * 300) is not None
    assert len(again.targets()) == 3


def test_forget(tmp_path: Path) -> None:
    state = BuildState.load(tmp_path)
    state.set("function:api", material())
    state.save()
    state.forget("function:api")
    state.save()
    assert BuildState.load(tmp_path).get("function:api") is None
    assert BuildState.load(tmp_path).targets() == []


def test_two_hundred_targets_save_and_read_quickly(tmp_path: Path) -> None:
    state = BuildState.load(tmp_path)
    mats = {f"function:f{i}": material(f"{i:064x}") for i in range(200)}
    for name, m in mats.items():
        state.set(name, m, {"size": 1})
    start = time.perf_counter()
    state.save()
    save_s = time.perf_counter() - start
    again = BuildState.load(tmp_path)
    start = time.perf_counter()
    keys = {name: again.get(name).key for name in mats}  # type: ignore[union-attr]
    read_s = time.perf_counter() - start
    assert keys == {n: m.key for n, m in mats.items()}
    assert save_s < 2 and read_s < 1, (save_s, read_s)
