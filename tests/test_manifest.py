"""``manifest.json`` is read once per build: artifacts, the config it was written for, and its
text (compared with the new text so an unchanged build rewrites nothing)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lambdaforge.manifest import (
    ArtifactRecord,
    load_manifest,
    render_manifest,
    write_if_changed,
)

RECORD = ArtifactRecord(name="api", kind="function", runtime="python3.12",
                        architecture="arm64", handler="app.handler", layers=[],
                        path=".forge/build/functions/api.zip", size=10, unzipped_size=20,
                        sha256="0" * 64, code_sha256="x", key="k")


def test_a_manifest_reads_back_as_written(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    text = render_manifest("demo", {"function:api": RECORD}, "lambdaforge.toml")
    assert write_if_changed(path, text)
    found = load_manifest(path)
    assert found.artifacts == {"function:api": RECORD}
    assert found.config == "lambdaforge.toml" and found.text == text
    # unchanged: not written again, whether the caller passes what it read or not
    mtime = path.stat().st_mtime_ns
    assert not write_if_changed(path, text, found.text) and not write_if_changed(path, text)
    assert path.stat().st_mtime_ns == mtime


@pytest.mark.parametrize("content, config", [
    ("not json", None),
    (json.dumps({"version": 99, "config": "other.toml", "artifacts": []}), "other.toml"),
    (json.dumps({"version": 1, "config": "lambdaforge.toml", "artifacts": [{"name": 1}]}),
     "lambdaforge.toml"),
    (json.dumps([1, 2]), None),
])
def test_a_manifest_of_another_shape_has_no_artifacts_and_is_rewritten(
        tmp_path: Path, content: str, config: str | None) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(content)
    found = load_manifest(path)
    assert found.artifacts == {} and found.config == config and found.text == content
    text = render_manifest("demo", {}, "lambdaforge.toml")
    assert write_if_changed(path, text, found.text)
    assert load_manifest(path).text == text


def test_no_manifest_yet(tmp_path: Path) -> None:
    found = load_manifest(tmp_path / "manifest.json")
    assert (found.artifacts, found.config, found.text) == ({}, None, None)
