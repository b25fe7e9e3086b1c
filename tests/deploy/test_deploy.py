"""``forge deploy`` against moto's Lambda/S3/IAM server on loopback, through real boto3."""

from __future__ import annotations

import json

from tests.deploy.aws_proxy import Fault, Rewrite
from tests.deploy.conftest import ROLE, lambda_client


def test_first_deploy_creates_and_a_second_one_writes_nothing(aws, deploy_project) -> None:
    code, out, err = deploy_project.forge("deploy")
    assert code == 0, err
    prefix = deploy_project.prefix
    assert f"layer shared ({prefix}-shared): publish version 1" in out
    assert f"function api ({prefix}-api): create" in out
    assert "plan: 1 layer version to publish, 2 functions to create" in out
    client = lambda_client()
    api = client.get_function(FunctionName=f"{prefix}-api")["Configuration"]
    assert api["MemorySize"] == 256 and api["Timeout"] == 3 and api["Role"] == ROLE
    assert api["Environment"]["Variables"] == {"TABLE": "orders"}
    assert [layer["Arn"] for layer in api["Layers"]] == [
        f"arn:aws:lambda:eu-west-1:123456789012:layer:{prefix}-shared:1"]
    manifest = json.loads((deploy_project.root / ".forge/build/manifest.json").read_text())
    shas = {a["name"]: a["code_sha256"] for a in manifest["artifacts"]}
    assert api["CodeSha256"] == shas["api"]
    worker = client.get_function(FunctionName=f"{prefix}-worker")["Configuration"]
    assert [layer["Arn"] for layer in worker["Layers"]] == [
        "arn:aws:lambda:eu-west-1:123456789012:layer:tools:3"]
    assert "function api" in err and "created" in err

    aws.reset()
    code, out, err = deploy_project.forge("deploy")
    assert code == 0, err
    assert "plan: 0 layer versions to publish, 0 functions to create, 0 functions to update, " \
           "2 functions unchanged" in out
    assert aws.writes() == []
    assert client.get_function(FunctionName=f"{prefix}-api")["Configuration"]["LastModified"] \
        == api["LastModified"]


def deployed(aws, deploy_project):
    """Deploy once, then forget the requests that took."""
    code, _, err = deploy_project.forge("deploy")
    assert code == 0, err
    aws.reset()
    return deploy_project.prefix


def test_a_source_change_updates_only_that_functions_code(aws, deploy_project) -> None:
    prefix = deployed(aws, deploy_project)
    client = lambda_client()
    old = client.get_function(FunctionName=f"{prefix}-worker")["Configuration"]["CodeSha256"]
    deploy_project.write("functions/worker/app.py", "def handler(event, context):\n    return 3\n")
    code, out, err = deploy_project.forge("deploy")
    assert code == 0, err
    new = client.get_function(FunctionName=f"{prefix}-worker")["Configuration"]["CodeSha256"]
    assert new != old
    assert f"function worker ({prefix}-worker): update\n    code: {old} -> {new}\n" in out
    assert f"function api ({prefix}-api): unchanged" in out
    assert aws.writes() == [("PUT", f"/2015-03-31/functions/{prefix}-worker/code")]
    assert f"function worker ({prefix}-worker): updated code" in err


def test_a_setting_change_updates_only_the_configuration(aws, deploy_project) -> None:
    prefix = deployed(aws, deploy_project)
    toml = deploy_project.root / "lambdaforge.toml"
    toml.write_text(toml.read_text().replace("memory = 256", "memory = 512\ntimeout = 30"))
    code, out, err = deploy_project.forge("deploy")
    assert code == 0, err
    assert "    MemorySize: 256 -> 512\n    Timeout: 3 -> 30\n" in out
    assert "code:" not in out.split(f"function api ({prefix}-api)")[1]
    assert aws.writes() == [("PUT", f"/2015-03-31/functions/{prefix}-api/configuration")]
    live = lambda_client().get_function(FunctionName=f"{prefix}-api")["Configuration"]
    assert (live["MemorySize"], live["Timeout"]) == (512, 30)


def test_a_layer_change_publishes_a_version_and_moves_its_functions(aws, deploy_project) -> None:
    prefix = deployed(aws, deploy_project)
    deploy_project.write("layers/shared/shared.py", "VALUE = 2\n")
    code, out, err = deploy_project.forge("deploy")
    assert code == 0, err
    assert f"layer shared ({prefix}-shared): publish version 2" in out
    assert f"Layers: ['arn:aws:lambda:eu-west-1:123456789012:layer:{prefix}-shared:1'] -> " \
           "['shared (new version)']" in out
    assert aws.writes() == [("POST", f"/2018-10-31/layers/{prefix}-shared/versions"),
                            ("PUT", f"/2015-03-31/functions/{prefix}-api/configuration")]
    live = lambda_client().get_function(FunctionName=f"{prefix}-api")["Configuration"]
    assert [layer["Arn"] for layer in live["Layers"]] == [
        f"arn:aws:lambda:eu-west-1:123456789012:layer:{prefix}-shared:2"]


def test_a_layers_change_without_a_new_version_shows_the_arns_it_attaches(aws, deploy_project) -> None:
    """api's layers become [shared, tools] with shared unchanged: the plan said
    "shared (new version)" beside "0 layer versions to publish"; it is version 1's ARN."""
    prefix = deployed(aws, deploy_project)
    toml = deploy_project.root / "lambdaforge.toml"
    toml.write_text(toml.read_text().replace('layers = ["shared"]', 'layers = ["shared", "tools"]'))
    shared = f"arn:aws:lambda:eu-west-1:123456789012:layer:{prefix}-shared:1"
    tools = "arn:aws:lambda:eu-west-1:123456789012:layer:tools:3"
    code, out, err = deploy_project.forge("deploy", "--dry-run")
    assert code == 0, err
    assert f"Layers: ['{shared}'] -> ['{shared}', '{tools}']" in out
    assert "new version" not in out
    code, out, err = deploy_project.forge("deploy", "--dry-run", "--json")
    assert code == 0, err
    (api,) = [f for f in json.loads(out)["plan"]["functions"] if f["name"] == "api"]
    assert {"field": "Layers", "old": [shared], "new": [shared, tools]} in api["changes"]


def test_layer_compatibility_is_derived_or_as_configured_and_a_change_publishes(
        aws, deploy_project) -> None:
    prefix = deployed(aws, deploy_project)
    layer = f"{prefix}-shared"
    first = lambda_client().get_layer_version(LayerName=layer, VersionNumber=1)
    # derived: the layer's runtime and architecture, and its functions'
    assert first["CompatibleRuntimes"] == ["python3.12"]
    assert first["CompatibleArchitectures"] == ["x86_64"]
    toml = deploy_project.root / "lambdaforge.toml"
    toml.write_text(toml.read_text().replace(
        'source = "layers/shared"\n',
        'source = "layers/shared"\ncompatible-runtimes = ["python3.12", "python3.13"]\n'
        'compatible-architectures = ["x86_64", "arm64"]\n', 1))
    code, out, err = deploy_project.forge("deploy")
    assert code == 0, err
    # the code is the same, yet a version cannot change: a new one is published
    assert f"layer shared ({layer}): publish version 2" in out
    assert "    CompatibleRuntimes: python3.12 -> python3.12, python3.13" in out
    assert "    CompatibleArchitectures: x86_64 -> arm64, x86_64" in out
    assert "    code:" not in out.split("function ")[0]
    second = lambda_client().get_layer_version(LayerName=layer, VersionNumber=2)
    assert sorted(second["CompatibleRuntimes"]) == ["python3.12", "python3.13"]
    assert sorted(second["CompatibleArchitectures"]) == ["arm64", "x86_64"]
    before = len(aws.writes())
    code, out, err = deploy_project.forge("deploy")
    assert code == 0, err
    assert len(aws.writes()) == before  # as configured now: nothing to publish


def test_drift_shows_in_a_dry_run_which_writes_nothing(aws, deploy_project) -> None:
    prefix = deployed(aws, deploy_project)
    client = lambda_client()
    client.update_function_configuration(FunctionName=f"{prefix}-api", MemorySize=1024,
                                         Environment={"Variables": {"TABLE": "x"}})
    aws.reset()
    code, out, err = deploy_project.forge("deploy", "--dry-run")
    assert code == 0, err
    assert "    MemorySize: 1024 -> 256\n" in out
    assert "    Environment.Variables: {'TABLE': 'x'} -> {'TABLE': 'orders'}\n" in out
    assert aws.writes() == []
    code, out, _ = deploy_project.forge("deploy", "--dry-run", "--json")
    plan = json.loads(out)["plan"]
    api = next(f for f in plan["functions"] if f["name"] == "api")
    assert api["action"] == "update"
    assert {"field": "MemorySize", "old": 1024, "new": 256} in api["changes"]
    assert aws.writes() == []


def test_a_dry_run_of_a_new_project_plans_creates_and_writes_nothing(aws, deploy_project) -> None:
    code, out, err = deploy_project.forge("deploy", "--dry-run", "api")
    assert code == 0, err
    prefix = deploy_project.prefix
    assert out.splitlines()[:3] == [
        f"layer shared ({prefix}-shared): publish version 1",
        f"    code: (none) -> {out.split('-> ')[1].splitlines()[0]}",
        f"function api ({prefix}-api): create"]
    assert "worker" not in out
    assert aws.writes() == []


def test_creating_without_a_role_is_a_clear_error_before_any_write(aws, deploy_project) -> None:
    toml = deploy_project.root / "lambdaforge.toml"
    toml.write_text(toml.read_text().replace(f'role = "{ROLE}"', ""))
    code, out, err = deploy_project.forge("deploy")
    assert code == 1
    assert f"forge: error: function 'api' ({deploy_project.prefix}-api): does not exist, and " \
           "creating it needs a role: set functions.api.role or [deploy] role" in err
    assert "Traceback" not in err and out == ""
    assert aws.writes() == []


def test_an_unreachable_endpoint_is_one_line_and_exit_1(aws, deploy_project) -> None:
    aws.server.shutdown()
    aws.server.server_close()  # the endpoint is gone: connections are refused
    code, out, err = deploy_project.forge("deploy")
    assert code == 1
    errors = [line for line in err.splitlines() if line.startswith("forge: error:")]
    assert len(errors) == 1, err
    assert errors[0].startswith(f"forge: error: layer 'shared' ({deploy_project.prefix}-shared): "
                                "EndpointConnectionError: Could not connect to the endpoint URL")
    assert "Traceback" not in err and out == ""


def test_missing_credentials_are_one_line(aws, deploy_project, monkeypatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, _, err = deploy_project.forge("deploy")
    assert code == 1
    assert f"forge: error: layer 'shared' ({deploy_project.prefix}-shared): NoCredentials: " in err
    assert "Traceback" not in err


def test_access_denied_fails_that_function_only(aws, deploy_project) -> None:
    prefix = deployed(aws, deploy_project)
    deploy_project.write("functions/api/app.py", "def handler(event, context):\n    return 9\n")
    deploy_project.write("functions/worker/app.py", "def handler(event, context):\n    return 9\n")
    aws.faults.append(Fault("PUT", f"/functions/{prefix}-api/code", "AccessDeniedException",
                            status=403, message="not allowed"))
    code, _, err = deploy_project.forge("deploy")
    assert code == 1
    assert (f"function api ({prefix}-api): failed: function 'api' ({prefix}-api): "
            "AccessDeniedException: not allowed") in err
    assert f"function worker ({prefix}-worker): updated code" in err
    assert "forge: error: 1 of 3 failed or skipped" in err
    # nothing half-done is reported as done: the next plan still has api's code to update
    aws.reset()
    code, out, _ = deploy_project.forge("deploy", "--dry-run")
    assert f"function api ({prefix}-api): update\n    code: " in out
    assert f"function worker ({prefix}-worker): unchanged" in out


def test_a_conflicting_update_in_progress_is_retried(aws, deploy_project) -> None:
    prefix = deployed(aws, deploy_project)
    deploy_project.write("functions/api/app.py", "def handler(event, context):\n    return 5\n")
    aws.faults.append(Fault("PUT", f"/functions/{prefix}-api/code", "ResourceConflictException",
                            times=2, message="An update is in progress"))
    code, _, err = deploy_project.forge("deploy")
    assert code == 0, err
    assert aws.writes().count(("PUT", f"/2015-03-31/functions/{prefix}-api/code")) == 3
    assert f"function api ({prefix}-api): updated code" in err


def test_throttling_is_retried_by_the_aws_chains_attempts(aws, deploy_project, monkeypatch) -> None:
    prefix = deployed(aws, deploy_project)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    deploy_project.write("functions/api/app.py", "def handler(event, context):\n    return 6\n")
    aws.faults.append(Fault("PUT", f"/functions/{prefix}-api/code", "TooManyRequestsException",
                            status=429, message="Rate exceeded"))
    code, _, err = deploy_project.forge("deploy")
    assert code == 0, err
    assert aws.writes().count(("PUT", f"/2015-03-31/functions/{prefix}-api/code")) == 2


def test_stage_names_the_functions_and_a_missing_one_is_a_usage_error(aws, deploy_project) -> None:
    toml = deploy_project.root / "lambdaforge.toml"
    toml.write_text(toml.read_text().replace('name = "{project}-{function}"',
                                             'name = "{project}-{function}-{stage}"'))
    code, _, err = deploy_project.forge("deploy", "--dry-run")
    assert code == 2
    assert "forge: error: [deploy] name: '{project}-{function}-{stage}' uses {stage}: give " \
           "--stage or [deploy] stage" in err
    code, _, err = deploy_project.forge("deploy", "--dry-run", "--stage", "a b")
    assert code == 2 and "--stage: 'a b' is not a stage name" in err
    # A stage that makes names too long is refused before anything is built.
    text = toml.read_text()
    toml.write_text(text.replace('"{project}-{function}-{stage}"',
                                 '"{project}-{function}-{stage}-the-orders-team-svc"'))
    long = "production-eu-west-1-blue-green"
    code, out, err = deploy_project.forge("deploy", "--dry-run", "--stage", long)
    assert code == 2 and out == ""
    assert f"forge: error: [deploy] name with --stage {long}: makes function 'api' the Lambda " \
           "name" in err and "makes function 'worker'" in err  # every name at once
    assert "built" not in err
    toml.write_text(text)
    code, out, err = deploy_project.forge("deploy", "--stage", "prod", "worker")
    assert code == 0, err
    assert f"function worker ({deploy_project.prefix}-worker-prod): create" in out
    live = lambda_client().get_function(FunctionName=f"{deploy_project.prefix}-worker-prod")
    assert live["Configuration"]["Timeout"] == 3
    assert aws.writes() == [("POST", "/2015-03-31/functions")]


def test_each_write_waits_until_lambda_is_done(aws, deploy_project) -> None:
    prefix = deployed(aws, deploy_project)
    deploy_project.write("functions/api/app.py", "def handler(event, context):\n    return 8\n")
    path = f"/2015-03-31/functions/{prefix}-api"
    aws.rewrites.append(Rewrite(path, f"{path}/code", {"LastUpdateStatus": "InProgress"}, times=2))
    code, _, err = deploy_project.forge("deploy")
    assert code == 0, err
    after = aws.requests[aws.requests.index(("PUT", f"{path}/code")) + 1:]
    # the waiter polled through both "InProgress" answers to the "Successful" one
    assert after == [("GET", path)] * 3


def test_a_failed_update_is_a_failure_not_a_success(aws, deploy_project) -> None:
    prefix = deployed(aws, deploy_project)
    deploy_project.write("functions/api/app.py", "def handler(event, context):\n    return 9\n")
    path = f"/2015-03-31/functions/{prefix}-api"
    aws.rewrites.append(Rewrite(path, f"{path}/code", {
        "LastUpdateStatus": "Failed", "LastUpdateStatusReason": "disk quota"}))
    code, _, err = deploy_project.forge("deploy")
    assert code == 1
    line = next(x for x in err.splitlines() if x.startswith(f"function api ({prefix}-api)"))
    assert line.startswith(f"function api ({prefix}-api): failed: function 'api' ({prefix}-api): "
                           "WaiterError: Waiter FunctionUpdatedV2 failed: ")
    assert "(Lambda says: disk quota)" in line and "Traceback" not in err
