"""The ``[cache]`` table: a remote by URL with its region, profile, endpoint and mode;
credentials refused with their own message; the environment and ``--remote-mode`` on top."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.config.conftest import API, issues_of, write

from lambdaforge.config import load_project
from lambdaforge.remote.settings import RemoteSettings, effective


def test_the_cache_table_resolves_to_remote_settings(tmp_path: Path) -> None:
    write(tmp_path, {"lambdaforge.toml": API + """
        [cache]
        remote = "s3://team-cache/lambdaforge/"
        region = "eu-west-1"
        profile = "ci"
        endpoint-url = "http://127.0.0.1:9000"
        mode = "read-write"
        """})
    project = load_project(Path("lambdaforge.toml"), cwd=tmp_path, env={})
    assert project.remote_cache == RemoteSettings(
        bucket="team-cache", prefix="lambdaforge", region="eu-west-1", profile="ci",
        endpoint_url="http://127.0.0.1:9000", mode="read-write")
    assert project.origins["cache.remote"].line == 6


@pytest.mark.parametrize("key", ["aws-secret-access-key", "access-key-id", "session-token"])
def test_credentials_in_the_cache_table_are_refused(tmp_path: Path, key: str) -> None:
    write(tmp_path, {"lambdaforge.toml": API + f"""
        [cache]
        remote = "s3://team-cache"
        {key} = "AKIAIOSFODNN7EXAMPLE"
        """})
    [issue] = issues_of(tmp_path)
    assert issue.startswith(f"lambdaforge.toml:7: cache.{key}: credentials never go in the config")
    assert "standard AWS chain" in issue


@pytest.mark.parametrize("url, words", [
    ("s3://AKIA:secret@team-cache/x", "credentials never go in the config"),
    ("https://team-cache/x", "expected s3://BUCKET/PREFIX"),
    ("s3://Bad_Bucket", "expected s3://BUCKET/PREFIX"),
])
def test_a_bad_remote_url_is_a_config_error(tmp_path: Path, url: str, words: str) -> None:
    write(tmp_path, {"lambdaforge.toml": API + f'\n[cache]\nremote = "{url}"\nmode = "read"\n'})
    [issue] = issues_of(tmp_path)
    assert "cache.remote" in issue and words in issue


def test_environment_and_command_line_override_the_table() -> None:
    configured = RemoteSettings("a", "p", region="eu-west-1")
    env = {"FORGE_REMOTE_CACHE": "s3://bkt/q"}
    assert effective(configured, env, "read-write") == RemoteSettings(
        "bkt", "q", region="eu-west-1", mode="read-write")
    assert effective(configured, {"FORGE_REMOTE_CACHE": ""}) is None
    assert effective(None, {}) is None
    with pytest.raises(ValueError, match="FORGE_REMOTE_CACHE"):
        effective(None, {"FORGE_REMOTE_CACHE": "bucket-without-scheme"})
