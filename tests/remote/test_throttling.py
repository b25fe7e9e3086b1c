"""S3 throttling (``SlowDown``, 503) between the build and a real S3 API: an HTTP proxy in
front of moto (tests/deploy/aws_proxy.py) answers chosen requests itself, as S3 does.

A brief burst is retried with botocore's backoff (standard mode, ``MAX_ATTEMPTS``) and the
build is served from the remote as if nothing happened; a remote that throttles every
request is switched off with one warning and the build finishes locally, or, with
``--remote-required``, fails."""

from __future__ import annotations

import pytest

from lambdaforge.cli import main
from lambdaforge.executor import Status
from lambdaforge.remote.s3 import MAX_ATTEMPTS, _retries
from tests.deploy.aws_proxy import Fault, start_proxy
from tests.remote.test_remote_cache import ZIPS, build, make_project, warm  # noqa: F401


@pytest.fixture
def proxy(moto_endpoint):
    proxy = start_proxy(moto_endpoint)
    yield proxy
    proxy.server.shutdown()


def slow_down(times: int) -> Fault:
    return Fault("*", "/", "SlowDown", status=503, times=times, xml=True,
                 message="Please reduce your request rate.")


def test_the_client_retries_with_backoff_in_standard_mode(monkeypatch):
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    monkeypatch.delenv("AWS_RETRY_MODE", raising=False)
    assert _retries() == {"total_max_attempts": MAX_ATTEMPTS, "mode": "standard"}
    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "5")
    assert _retries() == {"total_max_attempts": 5, "mode": "adaptive"}


@pytest.mark.parametrize("setting", [None, "1"])
def test_attempts_are_counted_in_all_as_the_sdks_count_them(proxy, bucket, monkeypatch, setting):
    """``AWS_MAX_ATTEMPTS`` (and the default of 3) counts the first request too, as in
    every AWS SDK (botocore's ``max_attempts`` key would add one)."""
    from lambdaforge.remote.s3 import S3Store
    from lambdaforge.remote.settings import RemoteSettings
    from lambdaforge.remote.tiered import RemoteUnavailable

    if setting is None:
        monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    else:
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", setting)
    fault = slow_down(10_000)
    proxy.faults.append(fault)
    store = S3Store(RemoteSettings(bucket.name, "team", endpoint_url=proxy.url))
    with pytest.raises(RemoteUnavailable, match="SlowDown"):
        store.get_bytes("team/ac/00/x.json")
    assert fault.answered == (MAX_ATTEMPTS if setting is None else int(setting))


def test_a_burst_of_slow_down_answers_is_retried_and_the_build_downloads_everything(
        tmp_path, bucket, warm, proxy, monkeypatch):
    # Fewer throttled answers than attempts: whichever requests they hit, each succeeds
    # on a retry.
    fault = slow_down(MAX_ATTEMPTS - 1)
    proxy.faults.append(fault)
    laptop = make_project(tmp_path / "laptop", bucket.config(endpoint=proxy.url))
    outcome, session = build(laptop, tmp_path / "c", monkeypatch)
    assert fault.answered == MAX_ATTEMPTS - 1
    assert outcome.ok and session.warnings == []
    assert all(r.status is Status.CACHED and r.remote for r in outcome.results.values())
    assert session.remote_stats["unavailable"] is None
    for kind, name in ZIPS:
        assert laptop.zip_path(kind, name).read_bytes() == warm.zip_path(kind, name).read_bytes()


def test_a_permanently_throttling_remote_is_one_warning_and_a_local_build(
        tmp_path, bucket, warm, proxy, monkeypatch):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")  # one backoff to wait out, not two
    proxy.faults.append(slow_down(10_000))
    laptop = make_project(tmp_path / "laptop", bucket.config(endpoint=proxy.url))
    outcome, session = build(laptop, tmp_path / "c", monkeypatch)
    assert outcome.ok
    assert {r.status for r in outcome.results.values()} == {Status.BUILT}
    assert len(session.warnings) == 1, session.warnings
    assert "unavailable" in session.warnings[0] and "SlowDown" in session.warnings[0]
    assert session.cache_stats["misses"] == len(outcome.results)
    assert session.cache_stats["remote"]["unavailable"]


def test_remote_required_fails_when_the_remote_throttles_every_request(
        tmp_path, bucket, warm, proxy, monkeypatch, capsys):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    proxy.faults.append(slow_down(10_000))
    laptop = make_project(tmp_path / "laptop", bucket.config(endpoint=proxy.url))
    monkeypatch.setenv("FORGE_CACHE_DIR", str(tmp_path / "c"))
    assert main(["-C", str(laptop.root), "build", "--remote-required"]) == 1
    err = capsys.readouterr().err
    assert "--remote-required" in err and "SlowDown" in err and "Traceback" not in err
    for kind, name in ZIPS:  # it failed before any local work
        assert not laptop.zip_path(kind, name).exists()


def test_remote_required_without_a_remote_is_a_usage_error(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("FORGE_REMOTE_CACHE", raising=False)
    laptop = make_project(tmp_path / "laptop", "")
    monkeypatch.setenv("FORGE_CACHE_DIR", str(tmp_path / "c"))
    assert main(["-C", str(laptop.root), "build", "--remote-required"]) == 2
    assert "no remote cache is configured" in capsys.readouterr().err
