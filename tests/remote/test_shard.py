"""``forge build --shard I/N`` against a real S3 API (moto on loopback): three CI runners,
each a fresh clone with its own local cache, build a third each into one bucket; a fourth
fresh clone then assembles every zip and the manifest from the bucket without building."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lambdaforge.cli import main
from lambdaforge.shard import SLACK, Shard, parse_shard, partition, unit_weights
from tests.e2e.conftest import LOCAL_INDEX, ProjectDir, session_wheelhouse  # noqa: F401
from tests.remote.conftest import Bucket

FUNCTIONS = ("alpha", "beta", "gamma", "delta")
PACKAGES = [("function", n) for n in FUNCTIONS] + [("layer", "shared")]


def make_project(root: Path, wheelhouse: Path, cache_table: str) -> ProjectDir:
    """Four functions and a layer; alpha and gamma share one install (same requirements),
    beta has its own, delta uses the layer and ships no dependencies."""
    project = ProjectDir(root)
    root.mkdir(parents=True)
    shutil.copytree(wheelhouse, root / "wheels")
    config = LOCAL_INDEX + '\n[layers.shared]\nsource = "layers/shared"\n'
    for name in FUNCTIONS:
        config += f'\n[functions.{name}]\nsource = "functions/{name}"\nhandler = "app.handler"\n'
        if name == "delta":
            config += 'layers = ["shared"]\n'
        project.write(f"functions/{name}/app.py",
                      f"def handler(event, context):\n    return {name!r}\n")
    project.write("functions/alpha/requirements.txt", "dep-a\n")
    project.write("functions/gamma/requirements.txt", "dep-a\n")
    project.write("functions/beta/requirements.txt", "purelib\n")
    project.write("layers/shared/shared_util.py", "def util():\n    return 42\n")
    project.config(config + cache_table)
    return project


def forge_json(project: ProjectDir, cache_dir: Path, monkeypatch, capsys, *args: str) -> dict:
    monkeypatch.setenv("FORGE_CACHE_DIR", str(cache_dir))
    capsys.readouterr()
    code = main(["-C", str(project.root), "build", "--json", *args])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report
    return report


@pytest.fixture(scope="module")
def single_build(tmp_path_factory, session_wheelhouse):
    """The reference: one full build, no remote, of the same project."""
    root = tmp_path_factory.mktemp("single")
    project = make_project(root / "proj", session_wheelhouse, "")
    mp = pytest.MonkeyPatch()
    mp.setenv("FORGE_CACHE_DIR", str(root / "cache"))
    try:
        assert main(["-C", str(project.root), "build"]) == 0
    finally:
        mp.undo()
    return project


def test_three_shards_then_assembly_match_a_single_build_and_assembly_builds_nothing(
        tmp_path, bucket: Bucket, single_build, session_wheelhouse, monkeypatch, capsys):
    given: dict[str, int] = {}
    for i in (1, 2, 3):
        runner = make_project(tmp_path / f"runner{i}", session_wheelhouse,
                              bucket.config(mode="read-write"))
        report = forge_json(runner, tmp_path / f"cache{i}", monkeypatch, capsys,
                            "--shard", f"{i}/3")
        shard = report["shard"]
        assert shard["index"] == i and shard["balanced_by"] == "target count"
        for unit in shard["units"]:
            assert unit not in given, f"{unit} given to shards {given[unit]} and {i}"
            given[unit] = i
        built = {t["id"] for t in report["targets"] if t["kind"] in ("function", "layer")}
        assert set(shard["units"]) <= built  # its own, plus the layers they need
        assert report["cache_stats"]["bytes_up"] > 0
    assert sorted(given) == sorted(f"{k}:{n}" for k, n in PACKAGES)  # each exactly once
    counts = sorted(list(given.values()).count(i) for i in (1, 2, 3))
    assert counts == [1, 2, 2]  # balanced: 5 units over 3 shards

    assembler = make_project(tmp_path / "assembly", session_wheelhouse, bucket.config())
    report = forge_json(assembler, tmp_path / "assembly-cache", monkeypatch, capsys)
    statuses = {t["id"]: (t["status"], t["remote"]) for t in report["targets"]}
    assert all(s == ("cached", True) for s in statuses.values()), statuses  # nothing built
    stats = report["cache_stats"]
    assert stats["misses"] == 0 and stats["local_hits"] == 0
    assert stats["remote_hits"] == len(statuses) and stats["time_saved"] > 0
    for kind, name in PACKAGES:
        assert (assembler.zip_path(kind, name).read_bytes()
                == single_build.zip_path(kind, name).read_bytes()), name
    manifest = json.loads((assembler.root / ".forge/build/manifest.json").read_text())
    reference = json.loads((single_build.root / ".forge/build/manifest.json").read_text())
    assert _artifacts(manifest) == _artifacts(reference)
    # An install whose consumers were all remote hits is not downloaded: no deps.zip.
    assert not list((tmp_path / "assembly-cache").rglob("deps.zip"))


def _artifacts(manifest: dict) -> dict:
    """What the manifest says of each zip (sha256, sizes, key), without timestamps."""
    return {a["name"] + a["kind"]: (a["sha256"], a["size"], a["key"])
            for a in manifest["artifacts"]}


@pytest.mark.parametrize("value", ["0/3", "4/3", "3", "a/b", "1/0", "-1/2", "1/3/4", ""])
def test_a_bad_shard_value_is_a_usage_error(tmp_path, value, capsys):
    root = tmp_path / "p"
    root.mkdir()
    (root / "lambdaforge.toml").write_text('[functions.f]\nsource = "f"\nhandler = "a.h"\n')
    assert main(["-C", str(root), "build", "--shard", value]) == 2
    err = capsys.readouterr().err
    assert "--shard" in err and "I/N" in err and "Traceback" not in err


def test_parse_shard():
    assert parse_shard("2/4") == Shard(2, 4) and str(Shard(2, 4)) == "2/4"
    with pytest.raises(ValueError, match="numbered from 1"):
        parse_shard("0/4")
    # A huge N was a MemoryError (internal error) or a hang ranking every shard per unit.
    assert parse_shard("256/256") == Shard(256, 256)
    with pytest.raises(ValueError, match=r"at most 256 shards .* not 99999999999 in '5/99999999999'"):
        parse_shard("5/99999999999")


def test_the_partition_is_balanced_and_adding_a_function_moves_few_others():
    names = [f"function:f{i:03d}" for i in range(200)]
    parts = partition({n: 1.0 for n in names}, 4)
    assert parts == partition({n: 1.0 for n in reversed(names)}, 4)  # order-free
    sizes = sorted(list(parts.values()).count(s) for s in (1, 2, 3, 4))
    assert sizes[-1] <= (1 + SLACK) * 200 / 4 + 1 and sum(sizes) == 200
    grown = partition({n: 1.0 for n in [*names, "function:new"]}, 4)
    moved = [n for n in names if grown[n] != parts[n]]
    assert len(moved) <= 10, moved  # a sorted split would move ~150


def test_weights_come_from_recorded_times_when_there_are_any():
    units = {"function:a": [("function:a", 1.0), ("install:x", 0.5)],
             "function:b": [("function:b", 1.0), ("install:x", 0.5)],
             "function:c": [("function:c", 1.0)]}
    weights, by_times = unit_weights(units, {})
    assert not by_times and set(weights.values()) == {1.0}
    weights, by_times = unit_weights(units, {"function:a": 8.0, "install:x": 4.0,
                                             "function:b": 2.0})
    assert by_times and weights["function:a"] == 10.0 and weights["function:b"] == 4.0
    assert weights["function:c"] == pytest.approx(14.0 / 3)  # the mean of those known
    heavy = {"big": 10.0, **{f"s{i}": 1.0 for i in range(10)}}
    parts = partition(heavy, 2)
    loads = [sum(w for u, w in heavy.items() if parts[u] == s) for s in (1, 2)]
    assert max(loads) <= 11  # LPT-like: the small ones fill the other shard


def test_an_install_is_downloaded_when_a_consumer_has_to_be_built(
        tmp_path, bucket: Bucket, session_wheelhouse, monkeypatch, capsys):
    writer = make_project(tmp_path / "ci", session_wheelhouse, bucket.config(mode="read-write"))
    forge_json(writer, tmp_path / "ci-cache", monkeypatch, capsys)
    laptop = make_project(tmp_path / "laptop", session_wheelhouse, bucket.config())
    laptop.write("functions/alpha/app.py", "def handler(event, context):\n    return 'edited'\n")
    report = forge_json(laptop, tmp_path / "laptop-cache", monkeypatch, capsys)
    status = {t["id"]: (t["status"], t["remote"]) for t in report["targets"]}
    assert status["function:alpha"] == ("built", False)
    assert status["function:gamma"] == ("cached", True)
    installs = {tid: s for tid, s in status.items() if tid.startswith("install:")}
    assert set(installs.values()) == {("cached", True)}  # none installed again
    # alpha's install came down (its deps ship in alpha's new zip); beta's did not.
    assert len(list((tmp_path / "laptop-cache").rglob("deps.zip"))) == 1
    assert any(n.startswith("dep_a") for n in laptop.zip_names("function", "alpha"))


def test_an_install_served_from_its_entry_alone_stays_up_to_date_without_the_remote(
        tmp_path, bucket: Bucket, session_wheelhouse, monkeypatch, capsys):
    """A fresh checkout built from the remote never downloads beta's install (its consumer
    is a hit). The next fully planned build (a config edit) found it "output missing" and
    asked the remote again, and, with the remote unreachable, ran the installer again although
    nothing changed. It is up to date; a consumer built later still gets its deps."""
    writer = make_project(tmp_path / "ci", session_wheelhouse, bucket.config(mode="read-write"))
    forge_json(writer, tmp_path / "ci-cache", monkeypatch, capsys)
    laptop = make_project(tmp_path / "laptop", session_wheelhouse, bucket.config())
    first = forge_json(laptop, tmp_path / "laptop-cache", monkeypatch, capsys)
    assert all(t["status"] == "cached" and t["remote"] for t in first["targets"])
    assert not list((tmp_path / "laptop-cache").rglob("deps.zip"))
    # The remote goes away, and a config edit makes the next build plan every target.
    config = (laptop.root / "lambdaforge.toml").read_text()
    laptop.config(config.replace(bucket.endpoint, "http://127.0.0.1:9") + "# edited\n")
    second = forge_json(laptop, tmp_path / "laptop-cache", monkeypatch, capsys)
    assert {t["status"] for t in second["targets"]} == {"up-to-date"}, second["targets"]
    assert second["remote_cache"]["hits"] == 0 and second["remote_cache"]["unavailable"] is None
    # beta's handler edited: its install's deps.zip is needed now, and installed here.
    laptop.write("functions/beta/app.py", "def handler(event, context):\n    return 'b2'\n")
    third = forge_json(laptop, tmp_path / "laptop-cache", monkeypatch, capsys)
    status = {t["id"]: t["status"] for t in third["targets"]}
    assert status["function:beta"] == "built"
    assert any(n.startswith("purelib") for n in laptop.zip_names("function", "beta"))


def test_a_read_write_build_that_did_not_download_an_install_still_writes_its_bundle(
        tmp_path, bucket: Bucket, session_wheelhouse, monkeypatch, capsys):
    """beta's install is served from its action entry alone (its consumer is a hit): the
    bundle carries that entry as read, and writing the bundle downloads nothing more."""
    writer = make_project(tmp_path / "ci", session_wheelhouse, bucket.config(mode="read-write"))
    forge_json(writer, tmp_path / "ci-cache", monkeypatch, capsys)
    runner = make_project(tmp_path / "main", session_wheelhouse, bucket.config(mode="read-write"))
    runner.write("functions/alpha/app.py", "def handler(event, context):\n    return 'next'\n")
    forge_json(runner, tmp_path / "main-cache", monkeypatch, capsys)
    assert len(list((tmp_path / "main-cache").rglob("deps.zip"))) == 1  # alpha's only
    assert len([k for k in bucket.keys() if k.startswith("team/ab/")]) == 2
    # A fresh checkout of that commit reads the new bundle and no action entry.
    from tests.deploy.aws_proxy import start_proxy
    host, port = bucket.endpoint.removeprefix("http://").split(":")
    proxy = start_proxy((host, int(port)))
    try:
        laptop = make_project(tmp_path / "laptop", session_wheelhouse,
                              bucket.config(endpoint=proxy.url))
        laptop.write("functions/alpha/app.py", "def handler(event, context):\n    return 'next'\n")
        report = forge_json(laptop, tmp_path / "laptop-cache", monkeypatch, capsys)
    finally:
        proxy.server.shutdown()
    assert all(t["status"] == "cached" and t["remote"] for t in report["targets"]), report
    assert not [p for m, p in proxy.requests if m == "GET" and "/team/ac/" in p]
