"""A real S3 API on loopback for the remote cache tests: one moto server per session
(in-process, ``ThreadedMotoServer``), one fresh bucket per test, boto3's real client."""

from __future__ import annotations

import itertools
import os

import pytest

pytest.importorskip("boto3")
pytest.importorskip("moto.server")

_buckets = itertools.count()


@pytest.fixture(scope="session")
def moto_endpoint():
    """``(host, port)`` of the session's moto server."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    yield server.get_host_and_port()
    server.stop()


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    """Credentials for moto (any will do) from the environment, as the AWS chain reads
    them; no machine-wide AWS configuration."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("FORGE_CACHE_SIGNING_KEY", raising=False)
    monkeypatch.delenv("FORGE_REMOTE_CACHE", raising=False)


class Bucket:
    """A fresh bucket on the moto server, and a client to look into it."""

    def __init__(self, endpoint: str, name: str) -> None:
        import boto3

        self.endpoint = endpoint
        self.name = name
        self.client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        self.client.create_bucket(Bucket=name)

    def keys(self, prefix: str = "") -> list[str]:
        """Every object name under ``prefix``."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name,
                                                                      Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", ()))

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.name, Key=key, Body=data)

    def drop_bundles(self) -> None:
        """Remove the action bundles, so readers fetch each target's ``ac/`` entry (what a
        test that tampers with those entries is about)."""
        for key in self.keys():
            if "/ab/" in f"/{key}":
                self.client.delete_object(Bucket=self.name, Key=key)

    def config(self, endpoint: str | None = None, mode: str = "read") -> str:
        """A ``[cache]`` table for this bucket."""
        return (f'\n[cache]\nremote = "s3://{self.name}/team"\nregion = "us-east-1"\n'
                f'endpoint-url = "{endpoint or self.endpoint}"\nmode = "{mode}"\n')


@pytest.fixture
def bucket(moto_endpoint, aws_env) -> Bucket:
    host, port = moto_endpoint
    return Bucket(f"http://{host}:{port}", f"forge-test-{os.getpid()}-{next(_buckets)}")
