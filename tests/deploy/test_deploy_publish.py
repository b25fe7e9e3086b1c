"""``forge deploy``'s versions, aliases, tags, ephemeral storage, drift, deploy record and
parallel deploys, against moto's server on loopback through the recording proxy."""

from __future__ import annotations

import io
import json
import zipfile

import boto3
import pytest

from tests.deploy.aws_proxy import Fault, Gate, Hook
from tests.deploy.conftest import REGION, ROLE, lambda_client


def _edit(project, old: str, new: str) -> None:
    toml = project.root / "lambdaforge.toml"
    text = toml.read_text()
    assert old in text
    toml.write_text(text.replace(old, new, 1))


def _record(project, stage: str = "default") -> dict:
    return json.loads((project.root / f".forge/deploy/{stage}.json").read_text())


def _manifest_sha(project, name: str) -> str:
    manifest = json.loads((project.root / ".forge/build/manifest.json").read_text())
    return next(a["code_sha256"] for a in manifest["artifacts"]
                if a["kind"] == "function" and a["name"] == name)


def _other_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("app.py", "def handler(event, context):\n    return 'not forge'\n")
    return buffer.getvalue()


def test_publish_pins_the_code_moves_the_alias_and_publishes_nothing_twice(
        aws, deploy_project) -> None:
    _edit(deploy_project, "memory = 256", 'memory = 256\nalias = "live"')
    prefix = deploy_project.prefix
    code, out, err = deploy_project.forge("deploy", "--publish", "api")
    assert code == 0, err
    sha = _manifest_sha(deploy_project, "api")
    assert f"function api ({prefix}-api): create\n" in out
    assert f"    publish: a new version with CodeSha256 {sha}\n" \
           "    alias live: (none) -> the new version\n" in out
    assert "1 version to publish" in out
    assert f"function api ({prefix}-api): created; published version 1; alias live -> 1" in err
    client = lambda_client()
    assert client.get_alias(FunctionName=f"{prefix}-api", Name="live")["FunctionVersion"] == "1"
    assert client.get_function(FunctionName=f"{prefix}-api",
                               Qualifier="1")["Configuration"]["CodeSha256"] == sha
    entry = _record(deploy_project)["functions"]["api"]
    assert entry["code_sha256"] == sha and entry["version"] == "1"
    assert entry["alias"] == {"name": "live", "version": "1"}
    assert entry["layers"] == [f"arn:aws:lambda:{REGION}:123456789012:layer:{prefix}-shared:1"]

    aws.reset()
    code, out, err = deploy_project.forge("deploy", "--publish", "api")
    assert code == 0, err
    assert f"function api ({prefix}-api): unchanged\n" in out and "0 versions to publish" in out
    assert aws.writes() == []

    deploy_project.write("functions/api/app.py", "def handler(event, context):\n    return 42\n")
    code, out, err = deploy_project.forge("deploy", "--publish", "api")
    assert code == 0, err
    new_sha = _manifest_sha(deploy_project, "api")
    assert "    alias live: 1 -> the new version\n" in out
    assert aws.writes() == [("PUT", f"/2015-03-31/functions/{prefix}-api/code"),
                            ("POST", f"/2015-03-31/functions/{prefix}-api/versions"),
                            ("PUT", f"/2015-03-31/functions/{prefix}-api/aliases/live")]
    assert f"function api ({prefix}-api): updated code; published version 2; alias live -> 2" in err
    assert client.get_alias(FunctionName=f"{prefix}-api", Name="live")["FunctionVersion"] == "2"
    assert _record(deploy_project)["functions"]["api"]["code_sha256"] == new_sha


def test_publish_is_refused_when_the_code_changes_in_between(
        aws, deploy_project, moto_server) -> None:
    _edit(deploy_project, "memory = 256", 'memory = 256\nalias = "live"')
    prefix = deploy_project.prefix
    code, _, err = deploy_project.forge("deploy", "worker")
    assert code == 0, err
    host, port = moto_server
    behind = boto3.client("lambda", endpoint_url=f"http://{host}:{port}")  # not through forge

    def someone_else_deploys() -> None:
        behind.update_function_code(FunctionName=f"{prefix}-api", ZipFile=_other_zip())

    # api is created, then someone else's upload lands just before forge publishes
    aws.hooks.append(Hook("POST", f"/functions/{prefix}-api/versions", someone_else_deploys))
    code, _, err = deploy_project.forge("deploy", "--publish", "api")
    assert code == 1
    line = next(x for x in err.splitlines() if x.startswith(f"function api ({prefix}-api)"))
    assert f"failed: function 'api' ({prefix}-api): publishing refused: version 1 holds " \
           "CodeSha256 " in line
    assert f"not the {_manifest_sha(deploy_project, 'api')} forge uploaded" in line
    assert "(after creating it)" in line
    with pytest.raises(Exception, match="ResourceNotFoundException"):
        lambda_client().get_alias(FunctionName=f"{prefix}-api", Name="live")
    assert "api" not in _record(deploy_project)["functions"]

    # Lambda itself refuses a pin that does not match: the same clear failure
    aws.reset()
    aws.faults.append(Fault("POST", f"/functions/{prefix}-api/versions",
                            "InvalidParameterValueException", status=400,
                            message="CodeSha256 does not match the $LATEST one"))
    code, _, err = deploy_project.forge("deploy", "--publish", "api")
    assert code == 1
    assert f"function 'api' ({prefix}-api): publishing refused: the function's code is no " \
           "longer the " in err
    assert "InvalidParameterValueException: CodeSha256 does not match" in err


def test_tags_and_ephemeral_storage_are_updated_field_by_field(aws, deploy_project) -> None:
    _edit(deploy_project, "memory = 256",
          'memory = 256\nephemeral-storage = 1024\ntags = { team = "orders", cost = "a" }')
    prefix = deploy_project.prefix
    code, out, err = deploy_project.forge("deploy")
    assert code == 0, err
    assert "    EphemeralStorage: 1024\n" in out
    assert "    Tags: {'team': 'orders', 'cost': 'a'}\n" in out
    client = lambda_client()
    api = client.get_function(FunctionName=f"{prefix}-api")
    assert api["Configuration"]["EphemeralStorage"] == {"Size": 1024}
    assert api["Tags"] == {"team": "orders", "cost": "a"}
    arn = api["Configuration"]["FunctionArn"]
    worker_arn = client.get_function(FunctionName=f"{prefix}-worker")["Configuration"]["FunctionArn"]
    client.tag_resource(Resource=worker_arn, Tags={"owner": "ops"})  # worker sets no tags

    _edit(deploy_project, 'ephemeral-storage = 1024\ntags = { team = "orders", cost = "a" }',
          'ephemeral-storage = 2048\ntags = { team = "payments" }')
    aws.reset()
    code, out, err = deploy_project.forge("deploy")
    assert code == 0, err
    assert "    EphemeralStorage: 1024 -> 2048\n" in out
    assert "    Tags: {'team': 'orders', 'cost': 'a'} -> {'team': 'payments'}\n" in out
    assert f"function worker ({prefix}-worker): unchanged" in out
    writes = aws.writes()
    assert writes[0] == ("PUT", f"/2015-03-31/functions/{prefix}-api/configuration")
    assert [m for m, _ in writes[1:]] == ["POST", "DELETE"]  # TagResource, UntagResource
    assert writes[1][1].startswith("/2017-03-31/tags/") and "tagKeys=cost" in writes[2][1]
    assert f"function api ({prefix}-api): updated configuration, tags" in err
    assert client.list_tags(Resource=arn)["Tags"] == {"team": "payments"}
    assert client.list_tags(Resource=worker_arn)["Tags"] == {"owner": "ops"}  # left alone
    # what Lambda was asked (moto's UpdateFunctionConfiguration ignores EphemeralStorage)
    sent = json.loads(aws.bodies[0][2])
    assert sent == {"EphemeralStorage": {"Size": 2048}}

    # back to what moto still holds: nothing differs, nothing is written
    _edit(deploy_project, "ephemeral-storage = 2048", "ephemeral-storage = 1024")
    aws.reset()
    code, out, err = deploy_project.forge("deploy")
    assert code == 0, err
    assert aws.writes() == []


def test_drift_is_shown_in_the_plan_and_the_deploy_replaces_it(aws, deploy_project) -> None:
    prefix = deploy_project.prefix
    code, _, err = deploy_project.forge("deploy")
    assert code == 0, err
    ours = _manifest_sha(deploy_project, "api")
    assert _record(deploy_project)["functions"]["api"]["code_sha256"] == ours
    client = lambda_client()
    theirs = client.update_function_code(FunctionName=f"{prefix}-api",
                                         ZipFile=_other_zip())["CodeSha256"]
    aws.reset()
    code, out, err = deploy_project.forge("deploy", "--dry-run")
    assert code == 0, err
    assert (f"function api ({prefix}-api): update\n    code: {theirs} -> {ours}\n"
            f"    drift: Lambda has {theirs}, forge deployed {ours}: changed outside forge") in out
    assert f"function worker ({prefix}-worker): unchanged" in out
    assert out.rstrip().endswith("1 function drifted")
    code, out, _ = deploy_project.forge("deploy", "--dry-run", "--json")
    api = next(f for f in json.loads(out)["plan"]["functions"] if f["name"] == "api")
    assert api["drift"] == {"recorded": ours, "live": theirs}
    assert aws.writes() == []

    code, _, err = deploy_project.forge("deploy")
    assert code == 0, err
    assert client.get_function(FunctionName=f"{prefix}-api")["Configuration"]["CodeSha256"] == ours
    code, out, _ = deploy_project.forge("deploy", "--dry-run")
    assert "drift" not in out


def test_functions_deploy_in_parallel_and_one_failure_stops_only_itself(
        aws, deploy_project) -> None:
    prefix = deploy_project.prefix
    toml = deploy_project.root / "lambdaforge.toml"
    toml.write_text(toml.read_text() + """
[functions.extra]
source = "functions/worker"
handler = "app.handler"
description = "a third one"

[functions.audit]
source = "functions/worker"
handler = "app.handler"
role = "arn:aws:iam::123456789012:role/not-there"
""")
    # every CreateFunction waits at the gate for a second one: a serial deploy never passes
    aws.gates.append(Gate("POST", "/2015-03-31/functions", parties=2))
    code, _, err = deploy_project.forge("deploy", "--jobs", "4")
    assert code == 1
    creates = [p for m, p in aws.writes() if (m, p) == ("POST", "/2015-03-31/functions")]
    assert len(creates) == 4
    assert (f"function audit ({prefix}-audit): failed: function 'audit' ({prefix}-audit): "
            "InvalidParameterValueException: The role defined for the function cannot be "
            "assumed by Lambda.") in err
    for name in ("api", "worker", "extra"):
        assert f"function {name} ({prefix}-{name}): created" in err
    assert "deploy: 1 layer version published, 3 created, 1 failed in " in err
    assert "forge: error: 1 of 5 failed or skipped: function audit" in err
    assert "GateTimeout" not in err
    client = lambda_client()
    assert client.get_function(FunctionName=f"{prefix}-extra")["Configuration"][
        "Description"] == "a third one"
    with pytest.raises(Exception, match="ResourceNotFoundException"):
        client.get_function(FunctionName=f"{prefix}-audit")
    assert sorted(_record(deploy_project)["functions"]) == ["api", "extra", "worker"]


def test_a_failed_layer_skips_only_its_functions(aws, deploy_project) -> None:
    prefix = deploy_project.prefix
    aws.faults.append(Fault("POST", f"/layers/{prefix}-shared/versions", "AccessDeniedException",
                            status=403, message="no layers for you"))
    code, _, err = deploy_project.forge("deploy")
    assert code == 1
    assert f"layer shared ({prefix}-shared): failed: layer 'shared' ({prefix}-shared): " \
           "AccessDeniedException: no layers for you" in err
    assert f"function api ({prefix}-api): skipped: layer shared failed" in err
    assert f"function worker ({prefix}-worker): created" in err
    assert "deploy: 1 created, 1 failed, 1 skipped in " in err
    assert lambda_client().get_function(FunctionName=f"{prefix}-worker")["Configuration"][
        "Role"] == ROLE


def test_the_record_is_per_stage(aws, deploy_project) -> None:
    _edit(deploy_project, 'name = "{project}-{function}"', 'name = "{project}-{function}-{stage}"')
    code, _, err = deploy_project.forge("deploy", "--stage", "dev", "worker")
    assert code == 0, err
    record = _record(deploy_project, "dev")
    assert record["stage"] == "dev" and list(record["functions"]) == ["worker"]
    assert record["functions"]["worker"]["lambda_name"] == f"{deploy_project.prefix}-worker-dev"
    assert not (deploy_project.root / ".forge/deploy/default.json").exists()
    before = (deploy_project.root / ".forge/deploy/dev.json").stat().st_mtime_ns
    code, _, err = deploy_project.forge("deploy", "--stage", "dev", "worker")
    assert code == 0, err
    assert (deploy_project.root / ".forge/deploy/dev.json").stat().st_mtime_ns == before
    assert list((deploy_project.root / ".forge/deploy").iterdir()) == [
        deploy_project.root / ".forge/deploy/dev.json"]  # no temp file left behind


def test_a_zip_gone_between_plan_and_upload_fails_that_function_only(aws, deploy_project) -> None:
    """Bad state on disk is a failure with a message, never a traceback: worker's zip is
    removed while forge reads the live state (after its build and plan)."""
    prefix = deploy_project.prefix
    zip_path = deploy_project.root / ".forge/build/functions/worker.zip"
    aws.hooks.append(Hook("GET", f"/functions/{prefix}-worker", lambda: zip_path.unlink()))
    code, _, err = deploy_project.forge("deploy")
    assert code == 1
    assert "Traceback" not in err
    line = next(x for x in err.splitlines() if x.startswith(f"function worker ({prefix}-worker)"))
    assert "failed: function 'worker': cannot read " in line and "worker.zip" in line
    assert "(run forge build again)" in line
    assert f"function api ({prefix}-api): created" in err
