"""Cache keys: complete (every component changes the key), canonical (order and location
do not), and explained (each difference gives an exact human reason)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path, PurePosixPath

import pytest

from lambdaforge.fingerprint import (
    KEY_FORMAT_VERSION,
    FileInput,
    KeyMaterial,
    Platform,
    config_slice,
    diff_key_material,
)
from lambdaforge.statcache import StatCache, digest_files

D1, D2, D3 = "1" * 64, "2" * 64, "3" * 64


def material(**changes: object) -> KeyMaterial:
    base: dict[str, object] = dict(
        kind="package",
        builder="python",
        builder_version="3",
        config={
            "functions.api.runtime": "python3.11",
            "functions.api.strip": ["standard"],
            "functions.api.minify": False,
            "strip-rules.no-docs": {"exclude": ["docs/"], "keep": []},
        },
        platform={"runtime": "python3.11", "architecture": "arm64", "tools": {"uv": "0.5.1"}},
        files={"app.py": (D1, False), "run.sh": (D2, True), "lib/util.py": (D3, False)},
        upstream={"layer:shared": "a" * 64},
        cache_salt="",
        lambdaforge_version="0.1.0",
    )
    base.update(changes)
    return KeyMaterial(**base)  # type: ignore[arg-type]


def test_key_is_a_stable_sha256_of_canonical_json() -> None:
    """Golden value: if this changes, keys of every existing cache entry change; bump
    KEY_FORMAT_VERSION on purpose instead of by accident."""
    m = material()
    assert m.format_version == KEY_FORMAT_VERSION == 1
    assert m.key == "83ed1cf748261674d614ce89aa59870effb4e6572fb34e6a7a8ad27e20a9fe83"
    assert m.canonical.startswith('{"builder":{"name":"python","version":"3"},"cache-salt":""')
    assert " " not in m.canonical.replace("python3.11", "")


def test_order_of_inputs_does_not_matter() -> None:
    a = material()
    b = material(
        files={"lib/util.py": (D3, False), "run.sh": (D2, True), "app.py": (D1, False)},
        config=dict(reversed(list(material().config.items()))),
        platform=Platform("python3.11", "arm64", (("uv", "0.5.1"),)),
        upstream=[("layer:shared", "a" * 64)],
    )
    assert a == b and a.key == b.key and hash(a) == hash(b)


def test_round_trip_through_json_keeps_the_key() -> None:
    m = material()
    back = KeyMaterial.from_dict(m.to_dict())
    assert back == m and back.key == m.key


def make_project(root: Path) -> None:
    (root / "functions" / "api").mkdir(parents=True)
    (root / "functions" / "api" / "app.py").write_text("def handler(e, c):\n    return 1\n")
    (root / "functions" / "api" / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(root / "functions" / "api" / "run.sh", 0o755)


def test_same_inputs_in_two_directories_give_the_same_key(tmp_path: Path) -> None:
    keys = []
    for where in ("checkout-one", "elsewhere/checkout-two"):
        root = tmp_path / where
        make_project(root)
        files = digest_files(root, ["functions/api/app.py", "functions/api/run.sh"], StatCache())
        m = material(files=files)
        assert str(tmp_path) not in m.canonical
        keys.append(m.key)
    assert keys[0] == keys[1]


def test_touch_does_not_change_the_key_and_revert_restores_it(tmp_path: Path) -> None:
    make_project(tmp_path)
    rels = ["functions/api/app.py", "functions/api/run.sh"]
    cache = StatCache()
    original = material(files=digest_files(tmp_path, rels, cache)).key
    app = tmp_path / "functions" / "api" / "app.py"
    os.utime(app, (time.time() + 5, time.time() + 5))
    assert material(files=digest_files(tmp_path, rels, cache)).key == original
    text = app.read_text()
    app.write_text(text + "# edit\n")
    assert material(files=digest_files(tmp_path, rels, cache)).key != original
    app.write_text(text)
    assert material(files=digest_files(tmp_path, rels, cache)).key == original


def test_moving_the_project_keeps_keys(tmp_path: Path) -> None:
    make_project(tmp_path / "a")
    rels = ["functions/api/app.py", "functions/api/run.sh"]
    before = material(files=digest_files(tmp_path / "a", rels)).key
    shutil.move(tmp_path / "a", tmp_path / "b")
    assert material(files=digest_files(tmp_path / "b", rels)).key == before


CHANGES = {
    "format version": dict(format_version=KEY_FORMAT_VERSION + 1),
    "lambdaforge version": dict(lambdaforge_version="0.2.0"),
    "kind": dict(kind="install"),
    "builder name": dict(builder="node"),
    "builder VERSION": dict(builder_version="4"),
    "config value": dict(config={**material().config, "functions.api.runtime": "python3.12"}),
    "config key added": dict(config={**material().config, "functions.api.handler": "app.h"}),
    "config list order": dict(config={**material().config, "functions.api.strip": ["a", "standard"]}),
    "config bool vs int": dict(config={**material().config, "functions.api.minify": 0}),
    "runtime": dict(platform={"runtime": "python3.12", "architecture": "arm64",
                              "tools": {"uv": "0.5.1"}}),
    "architecture": dict(platform={"runtime": "python3.11", "architecture": "x86_64",
                                   "tools": {"uv": "0.5.1"}}),
    "tool version": dict(platform={"runtime": "python3.11", "architecture": "arm64",
                                   "tools": {"uv": "0.5.2"}}),
    "tool added": dict(platform={"runtime": "python3.11", "architecture": "arm64",
                                 "tools": {"uv": "0.5.1", "esbuild": "0.24"}}),
    "file content": dict(files={"app.py": (D3, False), "run.sh": (D2, True),
                                "lib/util.py": (D3, False)}),
    "file exec bit": dict(files={"app.py": (D1, True), "run.sh": (D2, True),
                                 "lib/util.py": (D3, False)}),
    "file renamed": dict(files={"main.py": (D1, False), "run.sh": (D2, True),
                                "lib/util.py": (D3, False)}),
    "file added": dict(files={"app.py": (D1, False), "run.sh": (D2, True),
                              "lib/util.py": (D3, False), "new.py": (D1, False)}),
    "file removed": dict(files={"app.py": (D1, False), "run.sh": (D2, True)}),
    "upstream key": dict(upstream={"layer:shared": "b" * 64}),
    "upstream added": dict(upstream={"layer:shared": "a" * 64, "layer:other": "c" * 64}),
    "cache salt": dict(cache_salt="poisoned-2026-11"),
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_every_component_changes_the_key(change: dict[str, object]) -> None:
    assert material(**change).key != material().key


def test_all_changes_give_distinct_keys() -> None:
    keys = {material(**c).key for c in CHANGES.values()} | {material().key}
    assert len(keys) == len(CHANGES) + 1


@pytest.mark.parametrize(
    ("change", "reasons"),
    [
        ({}, []),
        (dict(files={"app.py": (D1, False), "run.sh": (D2, True), "lib/util.py": (D3, False),
                     "app/x.py": (D1, False)}), ["file added: app/x.py"]),
        (dict(files={"app.py": (D2, False), "run.sh": (D2, True), "lib/util.py": (D3, False)}),
         ["file changed: app.py"]),
        (dict(files={"app.py": (D1, False), "run.sh": (D2, True)}), ["file removed: lib/util.py"]),
        (dict(files={"app.py": (D1, False), "run.sh": (D2, False), "lib/util.py": (D3, False)}),
         ["exec bit changed: run.sh"]),
        (dict(files={"app.py": (D1, False), "run.sh": (D3, False), "lib/util.py": (D3, False)}),
         ["file changed: run.sh", "exec bit changed: run.sh"]),
        (CHANGES["config value"],
         ["config changed: functions.api.runtime: 'python3.11' → 'python3.12'"]),
        (CHANGES["config key added"], ["config changed: functions.api.handler: (unset) → 'app.h'"]),
        (dict(config={**material().config, "functions.api.minify": True}),
         ["config changed: functions.api.minify: false → true"]),
        (CHANGES["config list order"],
         ["config changed: functions.api.strip: ['standard'] → ['a', 'standard']"]),
        (dict(config={**material().config,
                      "strip-rules.no-docs": {"exclude": ["docs/", "*.md"], "keep": []}}),
         ["config changed: strip-rules.no-docs.exclude: ['docs/'] → ['docs/', '*.md']"]),
        (CHANGES["upstream key"], ["upstream changed: layer:shared"]),
        (CHANGES["upstream added"], ["upstream added: layer:other"]),
        (dict(upstream={}), ["upstream removed: layer:shared"]),
        (CHANGES["lambdaforge version"], ["lambdaforge version changed"]),
        (CHANGES["builder VERSION"], ["builder python VERSION changed"]),
        (CHANGES["builder name"], ["builder changed: python → node"]),
        (CHANGES["tool version"], ["tool version changed: uv 0.5.1 → 0.5.2"]),
        (CHANGES["tool added"], ["tool added: esbuild 0.24"]),
        (CHANGES["runtime"], ["runtime changed: python3.11 → python3.12"]),
        (CHANGES["architecture"], ["architecture changed: arm64 → x86_64"]),
        (CHANGES["cache salt"], ["cache-salt changed"]),
        (CHANGES["kind"], ["target kind changed: package → install"]),
        (CHANGES["format version"], ["key format changed: 1 → 2"]),
    ],
)
def test_diff_gives_exact_reasons(change: dict[str, object], reasons: list[str]) -> None:
    assert diff_key_material(material(), material(**change)) == reasons


def test_no_previous_build() -> None:
    assert diff_key_material(None, material()) == ["no previous build"]


def test_several_differences_come_in_a_fixed_order() -> None:
    new = material(
        cache_salt="x",
        upstream={"layer:shared": "b" * 64},
        files={"app.py": (D2, False), "run.sh": (D2, True), "lib/util.py": (D3, False)},
        config=CHANGES["config value"]["config"],
        lambdaforge_version="9",
    )
    assert diff_key_material(material(), new) == [
        "lambdaforge version changed",
        "config changed: functions.api.runtime: 'python3.11' → 'python3.12'",
        "file changed: app.py",
        "upstream changed: layer:shared",
        "cache-salt changed",
    ]


def test_config_slice_uses_kebab_keys_and_canonical_values() -> None:
    assert config_slice("functions.api", {"exclude_runtime_provided": True, "strip": ("a",),
                                          "path": PurePosixPath("src/app")}) == {
        "functions.api.exclude-runtime-provided": True,
        "functions.api.strip": ("a",),
        "functions.api.path": "src/app",
    }


def test_absolute_paths_are_refused() -> None:
    with pytest.raises(ValueError, match="absolute path"):
        material(config={"functions.api.source": Path("/home/me/project/src")})
    with pytest.raises(ValueError, match="project-relative"):
        material(files={"/home/me/app.py": (D1, False)})


def test_material_is_immutable() -> None:
    m = material()
    with pytest.raises(AttributeError):
        m.kind = "install"  # type: ignore[misc]
    with pytest.raises(TypeError):
        m.config["functions.api.runtime"] = "python3.13"  # type: ignore[index]


def test_files_accept_file_inputs_and_reject_duplicates() -> None:
    m = material(files=[FileInput("b.py", False, D1), FileInput("a.py", True, D2)])
    assert [f.path for f in m.files] == ["a.py", "b.py"]
    with pytest.raises(ValueError, match="twice"):
        material(files=[FileInput("a.py", False, D1), FileInput("a.py", False, D2)])


@pytest.mark.parametrize("data", [{}, {"format": 1}, {"files": "x"}, []])
def test_malformed_material_is_a_value_error(data: object) -> None:
    with pytest.raises(ValueError, match="malformed"):
        KeyMaterial.from_dict(data)  # type: ignore[arg-type]


def test_long_config_values_are_abbreviated_in_reasons():
    from lambdaforge.fingerprint import KeyMaterial, diff_key_material

    lock_a, lock_b = '{"packages": "' + "a" * 500 + '"}', '{"packages": "' + "b" * 500 + '"}'
    old = KeyMaterial(kind="install", builder="node", builder_version="1",
                      config={"install.lockfile": lock_a})
    new = KeyMaterial(kind="install", builder="node", builder_version="1",
                      config={"install.lockfile": lock_b})
    [reason] = diff_key_material(old, new)
    assert reason.startswith("config changed: install.lockfile: <518 chars, sha256 ")
    assert len(reason) < 120
