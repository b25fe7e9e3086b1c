"""The action bundle: a fresh checkout of a finished read-write build reads one object for
every target's action entry, each still verified as if read from ``ac/``; anything wrong
with the bundle costs only the per-target reads it would have saved."""

from __future__ import annotations

import json

import pytest

from lambdaforge.executor import Status
from tests.deploy.aws_proxy import start_proxy
from tests.remote.test_remote_cache import ZIPS, build, make_project, warm  # noqa: F401


@pytest.fixture
def proxy(moto_endpoint):
    proxy = start_proxy(moto_endpoint)
    yield proxy
    proxy.server.shutdown()


def _gets(proxy, part: str) -> int:
    return sum(1 for method, path in proxy.requests if method == "GET" and f"/team/{part}/" in path)


def _bundle(bucket) -> str:
    bundles = [k for k in bucket.keys() if k.startswith("team/ab/")]
    assert len(bundles) == 1, bucket.keys()
    return bundles[0]


def test_a_fresh_clone_reads_the_bundle_instead_of_one_entry_per_target(
        tmp_path, bucket, warm, proxy, monkeypatch):
    _bundle(bucket)
    laptop = make_project(tmp_path / "laptop", bucket.config(endpoint=proxy.url))
    outcome, session = build(laptop, tmp_path / "laptop-cache", monkeypatch)
    assert outcome.ok and all(r.remote for r in outcome.results.values())
    assert session.warnings == []
    assert _gets(proxy, "ab") == 1 and _gets(proxy, "ac") == 0
    assert _gets(proxy, "cas") >= 1  # the blobs still come down, verified
    for kind, name in ZIPS:
        assert laptop.zip_path(kind, name).read_bytes() == warm.zip_path(kind, name).read_bytes()


def test_another_set_of_keys_reads_the_entries_one_by_one(tmp_path, bucket, warm, proxy,
                                                         monkeypatch):
    laptop = make_project(tmp_path / "laptop", bucket.config(endpoint=proxy.url))
    laptop.write("functions/alpha/helpers.py", "X = 2\n")  # alpha's key moved
    outcome, _ = build(laptop, tmp_path / "laptop-cache", monkeypatch)
    assert outcome.ok
    assert outcome.results["function:alpha"].status is Status.BUILT
    assert outcome.results["function:beta"].remote
    assert _gets(proxy, "ab") == 1 and _gets(proxy, "ac") >= 4  # no such bundle: per target


@pytest.mark.parametrize("damage", ["tampered entry", "not json"])
def test_a_damaged_bundle_falls_back_to_the_entries(tmp_path, bucket, monkeypatch, proxy, damage):
    monkeypatch.setenv("FORGE_CACHE_SIGNING_KEY", "main-branch-secret")
    writer = make_project(tmp_path / "ci", bucket.config(mode="read-write"))
    assert build(writer, tmp_path / "ci-cache", monkeypatch)[0].ok
    name = _bundle(bucket)
    data = json.loads(bucket.get(name))
    if damage == "tampered entry":
        # A forged entry in the bundle: its signature fails, so it is left out and the
        # target's own entry in ac/ is read and served.
        key, text = sorted(data["entries"].items())[0]
        envelope = json.loads(text)
        assert '"meta":{' in envelope["entry"]
        envelope["entry"] = envelope["entry"].replace('"meta":{', '"meta":{"forged":1,', 1)
        data["entries"][key] = json.dumps(envelope)
        bucket.put(name, json.dumps(data).encode())
    else:
        bucket.put(name, b"{not json")
    laptop = make_project(tmp_path / "laptop", bucket.config(endpoint=proxy.url))
    outcome, session = build(laptop, tmp_path / "laptop-cache", monkeypatch)
    assert outcome.ok and all(r.remote for r in outcome.results.values())
    assert session.warnings == []
    expected = 1 if damage == "tampered entry" else len(outcome.results)
    assert _gets(proxy, "ac") == expected
    for kind, fn in ZIPS:
        assert laptop.zip_path(kind, fn).read_bytes() == writer.zip_path(kind, fn).read_bytes()


def test_read_mode_and_failed_builds_write_no_bundle(tmp_path, bucket, monkeypatch):
    laptop = make_project(tmp_path / "laptop", bucket.config(mode="read"))
    assert build(laptop, tmp_path / "c1", monkeypatch)[0].ok
    assert bucket.keys() == []
    broken = make_project(tmp_path / "broken", bucket.config(mode="read-write"))
    broken.write("functions/beta/app.py", "def handler(:\n")  # the check fails
    outcome, _ = build(broken, tmp_path / "c2", monkeypatch)
    assert not outcome.ok
    assert not [k for k in bucket.keys() if k.startswith("team/ab/")]
