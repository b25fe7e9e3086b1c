"""Packages over the direct upload limit go through ``[deploy] bucket``, uploaded once under
their SHA-256 (the limit is lowered here so a tiny zip stands for a 50 MB one)."""

from __future__ import annotations

import boto3
import pytest

from lambdaforge.config import load_project
from lambdaforge.deploy.apply import apply_plan
from lambdaforge.deploy.aws import DeployError, make_clients
from lambdaforge.deploy.plan import make_plan
from lambdaforge.manifest import read_manifest
from tests.deploy.conftest import lambda_client


def _build(deploy_project):
    code, _, err = deploy_project.forge("build")
    assert code == 0, err
    project = load_project(deploy_project.root / "lambdaforge.toml")
    return project, read_manifest(project.build_dir / "manifest.json")


def test_large_packages_go_through_the_bucket_once(aws, deploy_project) -> None:
    bucket = f"{deploy_project.prefix}-packages"
    boto3.client("s3").create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    toml = deploy_project.root / "lambdaforge.toml"
    toml.write_text(toml.read_text().replace("[deploy]", f'[deploy]\nbucket = "{bucket}"'))
    project, artifacts = _build(deploy_project)
    clients = make_clients(None, None)
    plan = make_plan(project, artifacts, clients, direct_upload_limit=10)
    outcomes = apply_plan(plan, clients)
    assert [o.status for o in outcomes] == ["published", "created", "created"]
    objects = boto3.client("s3").list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted(o["Key"] for o in objects) == sorted(
        f"lambdaforge/{a.sha256}.zip" for a in artifacts.values() if a.kind in ("function", "layer")
        and not (a.kind == "layer" and a.name == "tools"))
    api = lambda_client().get_function(FunctionName=f"{deploy_project.prefix}-api")
    assert api["Configuration"]["CodeSha256"] == artifacts["function:api"].code_sha256

    # The same code again (another function, a redeploy): no second upload.
    deploy_project.write("functions/api/app.py", "def handler(event, context):\n    return 7\n")
    project, artifacts = _build(deploy_project)
    aws.reset()
    plan = make_plan(project, artifacts, clients, direct_upload_limit=10)
    assert [o.status for o in apply_plan(plan, clients)] == ["unchanged", "updated", "unchanged"]
    puts = [p for m, p in aws.writes() if m == "PUT" and f"/{bucket}/" in p]
    assert puts == [f"/{bucket}/lambdaforge/{artifacts['function:api'].sha256}.zip"]


def test_a_large_package_without_a_bucket_is_refused_before_any_write(aws, deploy_project) -> None:
    project, artifacts = _build(deploy_project)
    with pytest.raises(DeployError, match=r"layer 'shared': its zip is [\d,]+ bytes, over "
                       r"Lambda's direct upload limit \(10\): set \[deploy\] bucket"):
        make_plan(project, artifacts, make_clients(None, None), direct_upload_limit=10)
    assert aws.writes() == []
