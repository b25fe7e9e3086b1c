"""Fixtures for ``forge deploy`` tests: moto's server on loopback (Lambda, S3, IAM) behind a
recording, fault-injecting proxy, real boto3 clients pointed at it through the standard AWS
chain (``AWS_ENDPOINT_URL``, dummy credentials), and a small project to deploy."""

from __future__ import annotations

import hashlib
import io
import json
import textwrap
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from tests.deploy.aws_proxy import Proxy, start_proxy

ROLE = "arn:aws:iam::123456789012:role/forge-test"
REGION = "eu-west-1"
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                 "Principal": {"Service": "lambda.amazonaws.com"}}]}


def _zip(text: str) -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("python/tools.py", text)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def moto_server():
    """moto in server mode on a free loopback port, with the IAM role functions run as."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    import boto3

    iam = boto3.client("iam", endpoint_url=f"http://{host}:{port}", region_name=REGION,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    iam.create_role(RoleName="forge-test", AssumeRolePolicyDocument=json.dumps(TRUST))
    # The "ARN layer" the project attaches as given: tools:3 must exist for Lambda to accept it.
    lam = boto3.client("lambda", endpoint_url=f"http://{host}:{port}", region_name=REGION,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    for n in range(3):
        lam.publish_layer_version(LayerName="tools", Content={"ZipFile": _zip(f"v{n}")})
    yield host, port
    server.stop()


@pytest.fixture
def aws(moto_server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Proxy:
    """The AWS chain of this test: a fresh proxy to moto as the endpoint, dummy credentials,
    no user configuration, one attempt per call (so a fault is not hidden by retries)."""
    proxy = start_proxy(moto_server)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    yield proxy
    proxy.server.shutdown()
    proxy.server.server_close()


def lambda_client():
    """A boto3 Lambda client on the test's AWS chain (to look at what was deployed)."""
    import boto3

    return boto3.client("lambda")


class DeployProject:
    """A project a test writes, deploys with ``forge deploy`` in-process, and edits."""

    def __init__(self, root: Path) -> None:
        self.root = root
        #: the project's name, so its Lambda names are the test's own
        self.prefix = ""

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    def forge(self, *argv: str) -> tuple[int, str, str]:
        """Run ``forge -C ROOT ARGV…`` in-process: exit code, stdout, stderr."""
        from lambdaforge.cli import main

        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = main(["-C", str(self.root), *argv])
        return code, out.getvalue(), err.getvalue()


@pytest.fixture
def deploy_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request) -> DeployProject:
    """Two functions (one using a built layer, one an ARN layer too) named per test, so
    tests sharing the moto server never see each other's functions."""
    monkeypatch.setenv("FORGE_CACHE_DIR", str(tmp_path / "cache"))
    p = DeployProject(tmp_path / "proj")
    prefix = p.prefix = "t" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:10]
    p.write("lambdaforge.toml", f"""
        [project]
        name = "{prefix}"

        [deploy]
        name = "{{project}}-{{function}}"
        role = "{ROLE}"

        [layers.shared]
        source = "layers/shared"

        [layers.tools]
        arn = "arn:aws:lambda:eu-west-1:123456789012:layer:tools:3"

        [functions.api]
        source = "functions/api"
        handler = "app.handler"
        layers = ["shared"]
        memory = 256
        environment = {{ TABLE = "orders" }}

        [functions.worker]
        source = "functions/worker"
        handler = "app.handler"
        layers = ["tools"]
        """)
    p.write("layers/shared/shared.py", "VALUE = 1\n")
    p.write("functions/api/app.py", "import shared\n\ndef handler(event, context):\n    return shared.VALUE\n")
    p.write("functions/worker/app.py", "def handler(event, context):\n    return 2\n")
    return p
