"""The remote cache against a real S3 API (moto's server on loopback, boto3's own client):
a fresh checkout builds by downloading, read mode never writes, and nothing unverified,
unsigned or mis-signed is ever served."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lambdaforge.build import BuildOptions, BuildSession
from lambdaforge.cli import main
from lambdaforge.config import load_project
from lambdaforge.executor import Status
from tests.e2e.conftest import SOURCE_ONLY, ProjectDir
from lambdaforge.remote.layout import INLINE_MAX
from tests.remote.faults import Forwarder

ZIPS = [("function", "alpha"), ("function", "beta"), ("layer", "shared")]


def make_project(root: Path, cache_table: str) -> ProjectDir:
    """The e2e suite's source-only project (two functions, one layer), with a remote."""
    project = ProjectDir(root)
    root.mkdir(parents=True)
    project.config(SOURCE_ONLY + cache_table)
    project.write("layers/shared/shared_util.py", "def util():\n    return 42\n")
    project.write("functions/alpha/app.py", "def handler(event, context):\n    return 'alpha'\n")
    project.write("functions/alpha/helpers.py", "X = 1\n")
    project.write("functions/beta/app.py", "def handler(event, context):\n    return 'beta'\n")
    # beta's zip is larger than what an action entry carries inline: it is a blob of its own
    project.write("functions/beta/data.txt", _incompressible(3 * INLINE_MAX))
    return project


def _incompressible(size: int) -> str:
    import hashlib

    chunks, h = [], b"beta"
    while sum(map(len, chunks)) < size:
        h = hashlib.sha256(h).digest()
        chunks.append(h.hex())
    return "".join(chunks)[:size]


def build(project: ProjectDir, cache_dir: Path, monkeypatch, **options):
    """Build with its own local cache; the session too, for its warnings and figures."""
    monkeypatch.setenv("FORGE_CACHE_DIR", str(cache_dir))
    session = BuildSession(load_project(project.root / "lambdaforge.toml"),
                           BuildOptions(jobs=2, **options))
    return session.run(), session


@pytest.fixture
def warm(tmp_path, bucket, monkeypatch):
    """A CI checkout that built everything in read-write mode: the bucket is warm."""
    writer = make_project(tmp_path / "ci", bucket.config(mode="read-write"))
    outcome, session = build(writer, tmp_path / "ci-cache", monkeypatch)
    assert outcome.ok and session.remote_stats["uploaded"] == len(outcome.results)
    return writer


def fresh_clone(tmp_path: Path, bucket, name: str = "laptop", mode: str = "read") -> ProjectDir:
    return make_project(tmp_path / name, bucket.config(mode=mode))


def test_fresh_clone_builds_by_downloading_and_read_mode_writes_nothing(
        tmp_path, bucket, warm, monkeypatch, capsys):
    layout = bucket.keys()
    assert layout and all(k.startswith(("team/cas/", "team/ac/", "team/ab/")) for k in layout)
    assert any(k.endswith(".json") and k.startswith("team/ac/") for k in layout)
    laptop = fresh_clone(tmp_path, bucket)
    monkeypatch.setenv("FORGE_CACHE_DIR", str(tmp_path / "laptop-cache"))
    assert main(["-C", str(laptop.root), "build"]) == 0
    err = capsys.readouterr().err
    assert err.count("cached (remote)") == 6, err  # 3 packages, 3 checks: nothing built
    assert "remote cache s3://" in err and "6 hits" in err
    for kind, name in ZIPS:
        assert laptop.zip_path(kind, name).read_bytes() == warm.zip_path(kind, name).read_bytes()
    assert bucket.keys() == layout  # read mode: not one write


def test_read_mode_on_an_empty_bucket_builds_locally_and_uploads_nothing(
        tmp_path, bucket, monkeypatch):
    laptop = fresh_clone(tmp_path, bucket)
    outcome, session = build(laptop, tmp_path / "c", monkeypatch)
    assert outcome.ok
    assert {r.status for r in outcome.results.values()} == {Status.BUILT}
    assert session.remote_stats["misses"] == len(outcome.results)
    assert bucket.keys() == [] and session.warnings == []


def _artifact_blob(bucket, warm_project) -> str:
    import hashlib

    digest = hashlib.sha256(warm_project.zip_path("function", "beta").read_bytes()).hexdigest()
    name = f"team/cas/{digest[:2]}/{digest}"
    assert name in bucket.keys()
    return name


@pytest.mark.parametrize("damage", ["corrupt", "delete"])
def test_a_corrupt_or_missing_blob_is_a_miss_with_one_warning(
        tmp_path, bucket, warm, monkeypatch, damage):
    blob = _artifact_blob(bucket, warm)
    if damage == "corrupt":
        original = bucket.get(blob)
        bucket.put(blob, original[:-1] + bytes([original[-1] ^ 1]))  # same size, one bit
    else:
        bucket.client.delete_object(Bucket=bucket.name, Key=blob)
    laptop = fresh_clone(tmp_path, bucket)
    outcome, session = build(laptop, tmp_path / "c", monkeypatch)
    assert outcome.ok
    assert outcome.results["function:beta"].status is Status.BUILT  # never served
    assert outcome.results["function:alpha"].remote
    remote_warnings = [w for w in session.warnings if "remote cache" in w]
    assert len(remote_warnings) == 1, session.warnings
    assert ("does not match its digest" if damage == "corrupt" else "missing") in remote_warnings[0]
    assert session.remote_stats["corrupt"] == 1
    assert laptop.zip_path("function", "beta").read_bytes() == \
        warm.zip_path("function", "beta").read_bytes()


@pytest.mark.parametrize("damage", ["corrupt", "delete"])
def test_a_read_write_build_replaces_a_corrupt_or_missing_blob_it_built_again(
        tmp_path, bucket, warm, monkeypatch, damage):
    """Blobs are named by their content: a writer that built the bytes a damaged blob
    should hold writes them over it, and the next reader is served again (before, the
    conditional write found the object, and the target stayed a miss for everyone)."""
    blob = _artifact_blob(bucket, warm)
    original = bucket.get(blob)
    if damage == "corrupt":
        bucket.put(blob, original[: len(original) // 2])  # a truncated upload
    else:
        bucket.client.delete_object(Bucket=bucket.name, Key=blob)
    ci = fresh_clone(tmp_path, bucket, "ci2", mode="read-write")
    outcome, session = build(ci, tmp_path / "ci2-cache", monkeypatch)
    assert outcome.results["function:beta"].status is Status.BUILT
    assert session.remote_stats["corrupt"] == 1
    assert session.remote_stats["uploaded"] == 1 and session.remote_stats["replaced"] == 1
    assert bucket.get(blob) == original
    outcome, session = build(fresh_clone(tmp_path, bucket), tmp_path / "c", monkeypatch)
    assert all(r.remote for r in outcome.results.values()) and session.warnings == []


def test_a_writer_with_the_signing_key_replaces_the_entries_it_refused(
        tmp_path, bucket, warm, monkeypatch):
    """A bucket filled before signing was turned on (or with a rotated key): the first
    signing writer refuses every entry, builds, and writes its signed entries (and the
    action bundle) over them, so signing readers are served from then on."""
    from lambdaforge.remote.layout import bundle_name, decode_bundle

    monkeypatch.setenv("FORGE_CACHE_SIGNING_KEY", "main-branch-secret")
    ci = fresh_clone(tmp_path, bucket, "ci2", mode="read-write")
    outcome, session = build(ci, tmp_path / "ci2-cache", monkeypatch)
    count = len(outcome.results)
    assert session.remote_stats["refused"] == count
    assert session.remote_stats["uploaded"] == session.remote_stats["replaced"] == count
    keys = [r.key for r in outcome.results.values()]
    bundle = decode_bundle(bucket.get(bundle_name("team", keys)), keys, b"main-branch-secret")
    assert sorted(bundle) == sorted(keys)  # every envelope in it is signed now
    outcome, session = build(fresh_clone(tmp_path, bucket), tmp_path / "c", monkeypatch)
    assert all(r.remote for r in outcome.results.values()) and session.warnings == []
    # A writer without the key refuses nothing, so it never writes over a signed entry.
    monkeypatch.delenv("FORGE_CACHE_SIGNING_KEY")
    before = {k: bucket.get(k) for k in bucket.keys("team/ac/")}
    outcome, session = build(fresh_clone(tmp_path, bucket, "pr", mode="read-write"),
                             tmp_path / "pr-cache", monkeypatch)
    assert session.remote_stats["uploaded"] == 0
    assert {k: bucket.get(k) for k in bucket.keys("team/ac/")} == before


def test_a_reader_without_list_permission_takes_access_denied_as_a_miss(
        tmp_path, bucket, warm, monkeypatch, moto_endpoint):
    """S3 answers a missing key with 403 AccessDenied to credentials with s3:GetObject but
    not s3:ListBucket. A pull request that changed one function is still served the rest
    (before, the first miss switched the remote off for the whole build)."""
    from tests.deploy.aws_proxy import start_proxy

    proxy = start_proxy(moto_endpoint)
    proxy.deny_missing = True
    try:
        pr = make_project(tmp_path / "pr", bucket.config(endpoint=proxy.url))
        pr.write("functions/alpha/helpers.py", "X = 2\n")
        outcome, session = build(pr, tmp_path / "c", monkeypatch)
    finally:
        proxy.server.shutdown()
    assert outcome.ok and session.remote_stats["unavailable"] is None
    assert outcome.results["function:alpha"].status is Status.BUILT
    assert outcome.results["function:beta"].remote and outcome.results["layer:shared"].remote
    assert session.remote_stats["denied"] >= 1
    assert session.warnings == []


def test_credentials_denied_everything_are_misses_and_one_warning_naming_list_bucket(
        tmp_path, bucket, warm, monkeypatch, moto_endpoint):
    from tests.deploy.aws_proxy import Fault, start_proxy

    proxy = start_proxy(moto_endpoint)
    proxy.faults.append(Fault("*", "/", "AccessDenied", status=403, times=10_000, xml=True))
    try:
        outcome, session = build(make_project(tmp_path / "p", bucket.config(endpoint=proxy.url)),
                                 tmp_path / "c", monkeypatch)
    finally:
        proxy.server.shutdown()
    assert outcome.ok and {r.status for r in outcome.results.values()} == {Status.BUILT}
    assert session.remote_stats["denied"] >= len(outcome.results)
    assert len(session.warnings) == 1, session.warnings
    assert "AccessDenied" in session.warnings[0] and "s3:ListBucket" in session.warnings[0]


def test_signed_entries_are_served_and_mis_signed_or_unsigned_ones_refused(
        tmp_path, bucket, monkeypatch):
    monkeypatch.setenv("FORGE_CACHE_SIGNING_KEY", "main-branch-secret")
    writer = make_project(tmp_path / "ci", bucket.config(mode="read-write"))
    assert build(writer, tmp_path / "ci-cache", monkeypatch)[0].ok
    # The same key: served.
    outcome, session = build(fresh_clone(tmp_path, bucket, "a"), tmp_path / "ca", monkeypatch)
    assert all(r.remote for r in outcome.results.values()) and session.warnings == []
    # Another key (a pull request's forged entries look like this): refused, built locally.
    monkeypatch.setenv("FORGE_CACHE_SIGNING_KEY", "not-the-key")
    outcome, session = build(fresh_clone(tmp_path, bucket, "b"), tmp_path / "cb", monkeypatch)
    assert outcome.ok and not any(r.remote for r in outcome.results.values())
    assert session.remote_stats["refused"] == len(outcome.results)
    assert all("FORGE_CACHE_SIGNING_KEY" in w and "refused" in w for w in session.warnings)


def test_unsigned_entries_are_refused_when_a_signing_key_is_set(tmp_path, bucket, warm,
                                                                monkeypatch):
    monkeypatch.setenv("FORGE_CACHE_SIGNING_KEY", "main-branch-secret")
    outcome, session = build(fresh_clone(tmp_path, bucket), tmp_path / "c", monkeypatch)
    assert outcome.ok and not any(r.remote for r in outcome.results.values())
    assert session.remote_stats["refused"] == len(outcome.results)
    assert "unsigned" in session.warnings[0]


def test_an_entry_moved_to_another_key_is_refused(tmp_path, bucket, monkeypatch):
    """A signature covers the key: a signed entry copied under another target's key is
    refused, so a writer cannot make one target's zip stand in for another's."""
    monkeypatch.setenv("FORGE_CACHE_SIGNING_KEY", "k")
    writer = make_project(tmp_path / "ci", bucket.config(mode="read-write"))
    outcome, _ = build(writer, tmp_path / "ci-cache", monkeypatch)
    alpha = outcome.results["function:alpha"].key
    beta = outcome.results["function:beta"].key
    bucket.put(f"team/ac/{beta[:2]}/{beta}.json", bucket.get(f"team/ac/{alpha[:2]}/{alpha}.json"))
    bucket.drop_bundles()  # the reader reads ac/ (a bundle's entries are checked the same way)
    outcome, session = build(fresh_clone(tmp_path, bucket), tmp_path / "c", monkeypatch)
    assert outcome.results["function:beta"].status is Status.BUILT
    assert outcome.results["function:alpha"].remote
    assert session.remote_stats["refused"] == 1


def test_the_remote_going_down_mid_build_leaves_a_local_build_and_one_warning(
        tmp_path, bucket, moto_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # refused connections: no backoff to wait out
    proxy = Forwarder(moto_endpoint)
    ci = make_project(tmp_path / "ci", bucket.config(endpoint=proxy.url, mode="read-write"))
    monkeypatch.setenv("FORGE_CACHE_DIR", str(tmp_path / "c"))
    session = BuildSession(load_project(ci.root / "lambdaforge.toml"), BuildOptions(jobs=2))

    def on_event(event):
        if event.kind == "finished":
            proxy.cut()  # after the lookups, before the uploads are done

    session.on_event = on_event
    outcome = session.run()
    assert outcome.ok and {r.status for r in outcome.results.values()} == {Status.BUILT}
    assert len(session.warnings) == 1 and "unavailable" in session.warnings[0]
    assert session.remote_stats["unavailable"]
    for kind, name in ZIPS:
        assert ci.zip_path(kind, name).is_file()


def test_an_unreachable_remote_costs_one_warning(tmp_path, bucket, monkeypatch):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    proxy = Forwarder(("127.0.0.1", 9))
    proxy.cut()
    laptop = make_project(tmp_path / "p", bucket.config(endpoint=proxy.url))
    outcome, session = build(laptop, tmp_path / "c", monkeypatch)
    assert outcome.ok and len(session.warnings) == 1
    assert "unavailable" in session.warnings[0]


def test_two_writers_racing_on_one_key_never_overwrite(tmp_path, bucket, warm, monkeypatch):
    """The second writer of an action entry finds it there (If-None-Match: *) and leaves
    it alone: the first entry stays, byte for byte."""
    from lambdaforge.remote.s3 import S3Store
    from lambdaforge.remote.settings import RemoteSettings

    entry = next(k for k in bucket.keys() if k.startswith("team/ac/"))
    before = bucket.get(entry)
    store = S3Store(RemoteSettings(bucket.name, "team", endpoint_url=bucket.endpoint))
    assert store.put_new(entry, b"{}") is False
    assert bucket.get(entry) == before
    assert store.put_new("team/ac/00/new.json", b"1") is True


def test_remote_mode_flag_and_environment_override_the_config(tmp_path, bucket, monkeypatch,
                                                              capsys):
    laptop = make_project(tmp_path / "p", "")
    monkeypatch.setenv("FORGE_REMOTE_CACHE", f"s3://{bucket.name}/team")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", bucket.endpoint)
    monkeypatch.setenv("FORGE_CACHE_DIR", str(tmp_path / "c"))
    assert main(["-C", str(laptop.root), "build", "--remote-mode", "read-write"]) == 0
    assert any(k.startswith("team/ac/") for k in bucket.keys())
    assert "(read-write)" in capsys.readouterr().err


def test_a_no_op_build_with_a_remote_configured_imports_no_boto3(tmp_path, bucket, monkeypatch):
    """The no-op answer needs no remote: boto3 (133 ms to import) stays unloaded."""
    import os
    import subprocess
    import sys
    import time

    laptop = fresh_clone(tmp_path, bucket)
    monkeypatch.setenv("FORGE_CACHE_DIR", str(tmp_path / "c"))
    time.sleep(0.15)  # files written within the racy window are never trusted by the replay
    assert main(["-C", str(laptop.root), "build"]) == 0
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "lambdaforge", "-C", str(laptop.root), "build"],
        capture_output=True, text=True, env=dict(os.environ), timeout=60)
    assert proc.returncode == 0, proc.stderr
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "up-to-date in" in proc.stderr
    assert {"boto3", "botocore"}.isdisjoint(imported)


def test_without_boto3_a_configured_remote_is_one_warning(tmp_path, monkeypatch):
    """``lambdaforge[aws]`` not installed: the build goes on locally and says what to install."""
    monkeypatch.setitem(sys.modules, "boto3", None)  # import boto3 now raises ImportError
    monkeypatch.setitem(sys.modules, "lambdaforge.remote.s3", None)
    laptop = make_project(tmp_path / "p", '\n[cache]\nremote = "s3://some-team-cache"\n')
    outcome, session = build(laptop, tmp_path / "c", monkeypatch)
    assert outcome.ok and len(session.warnings) == 1
    assert "pip install 'lambdaforge[aws]'" in session.warnings[0]


def test_large_blobs_go_up_in_parts_and_come_down_verified(tmp_path, bucket, monkeypatch):
    """Above the threshold a blob is a multipart upload (after a HEAD finds it absent) and a
    ranged download; what comes down is hashed before anyone uses it."""
    import hashlib
    import os

    from lambdaforge.remote import s3
    from lambdaforge.remote.settings import RemoteSettings

    monkeypatch.setattr(s3, "MULTIPART_THRESHOLD", 5 * 1024 * 1024)  # S3's smallest part
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(11 * 1024 * 1024))
    digest = hashlib.sha256(big.read_bytes()).hexdigest()
    store = s3.S3Store(RemoteSettings(bucket.name, endpoint_url=bucket.endpoint))
    assert store.upload_new(f"cas/{digest[:2]}/{digest}", big) is True
    head = bucket.client.head_object(Bucket=bucket.name, Key=f"cas/{digest[:2]}/{digest}")
    assert head["ETag"].strip('"').endswith("-3")  # three parts
    assert store.upload_new(f"cas/{digest[:2]}/{digest}", big) is False
    size = big.stat().st_size
    assert store.download(f"cas/{digest[:2]}/{digest}", tmp_path / "back", size) == (digest, size)
    assert store.download(f"cas/{digest[:2]}/{digest}", tmp_path / "one", 1) == (digest, size)
    assert store.download("cas/00/absent", tmp_path / "none", 1) is None
    assert not (tmp_path / "none").exists()


def test_cache_stats_reports_the_last_build_in_text_and_json(tmp_path, bucket, warm, monkeypatch,
                                                              capsys):
    import json

    laptop = fresh_clone(tmp_path, bucket)
    monkeypatch.setenv("FORGE_CACHE_DIR", str(tmp_path / "laptop-cache"))
    assert main(["-C", str(laptop.root), "cache", "stats"]) == 0
    assert "no build recorded" in capsys.readouterr().out
    assert main(["-C", str(laptop.root), "build", "--json"]) == 0
    in_report = json.loads(capsys.readouterr().out)["cache_stats"]
    assert main(["-C", str(laptop.root), "cache", "stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats == in_report
    assert (stats["remote_hits"], stats["local_hits"], stats["misses"]) == (6, 0, 0)
    assert stats["bytes_down"] == stats["remote"]["bytes_down"] > 0 and stats["bytes_up"] == 0
    assert stats["time_saved"] > 0  # the build times the warm writer's entries recorded
    # A second build after a clean: the local cache serves everything now.
    assert main(["-C", str(laptop.root), "clean"]) == 0
    assert main(["-C", str(laptop.root), "build"]) == 0
    capsys.readouterr()
    assert main(["-C", str(laptop.root), "cache", "stats"]) == 0
    text = capsys.readouterr().out
    assert "local hits:   6" in text and "remote hits:  0" in text and "misses:       0" in text
    assert "0 B down" in text and "remote cache: s3://" in text


def test_small_files_travel_inside_the_entry_and_are_verified_there(tmp_path, bucket, warm,
                                                                    monkeypatch):
    """alpha's zip and every strip listing fit inline: a fresh clone downloads only beta's
    and the layer's blobs; an inline file edited in the bucket is not served."""
    import base64
    import json

    alpha_key = None
    for name in bucket.keys("team/ac/"):
        body = json.loads(json.loads(bucket.get(name))["entry"])
        if body["meta"].get("name") == "alpha" and body["meta"].get("kind") == "function":
            alpha_key, alpha_entry = name, json.loads(bucket.get(name))
    assert alpha_key is not None
    body = json.loads(alpha_entry["entry"])
    assert all("inline" in info for info in body["files"].values())
    laptop = fresh_clone(tmp_path, bucket)
    outcome, session = build(laptop, tmp_path / "c", monkeypatch)
    assert all(r.remote for r in outcome.results.values()) and session.warnings == []
    assert laptop.zip_path("function", "alpha").read_bytes() == \
        warm.zip_path("function", "alpha").read_bytes()
    # Tamper with the inline zip (same size): refused by its digest, alpha built locally.
    info = body["files"]["artifact.zip"]
    data = bytearray(base64.b64decode(info["inline"]))
    data[-1] ^= 1
    info["inline"] = base64.b64encode(bytes(data)).decode()
    alpha_entry["entry"] = json.dumps(body, sort_keys=True, separators=(",", ":"))
    bucket.put(alpha_key, json.dumps(alpha_entry).encode())
    bucket.drop_bundles()  # the reader reads ac/ (a bundle's entries are checked the same way)
    outcome, session = build(fresh_clone(tmp_path, bucket, "other"), tmp_path / "c2", monkeypatch)
    assert outcome.results["function:alpha"].status is Status.BUILT
    assert [w for w in session.warnings if "does not match its digest" in w]
    assert session.remote_stats["corrupt"] == 1
