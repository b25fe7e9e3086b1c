"""Code-only sync for ``forge watch --deploy`` (what ``sam sync --watch --code`` does).

An edit loop wants the new code on Lambda seconds after the save, without the plan of a full
``forge deploy``: for each function whose zip changed, read its live ``CodeSha256``
(GetFunction), and only when it differs from the zip's upload the code (UpdateFunctionCode,
through S3 over the direct upload limit, exactly as ``forge deploy`` does:
``apply.code_argument``), check Lambda stored what was sent, and wait for
``function_updated_v2`` so the next save never meets "an update is in progress".
Configuration, layers and missing functions are ``forge deploy``'s: a function that does not
exist yet is reported, not created. What it ships goes into the deploy record
(``lambdaforge.deploy.record``) as ``forge deploy`` would put it, so the next plan does not
mistake the watcher's upload for a change made behind forge's back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

from lambdaforge.config.specs import Project
from lambdaforge.deploy.apply import Outcome, code_argument
from lambdaforge.deploy.aws import Clients, DeployError, call, error_code, wait
from lambdaforge.deploy.plan import DeployPlan, lambda_name, resolve_stage
from lambdaforge.deploy.record import load_record
from lambdaforge.manifest import ArtifactRecord


def sync_code(project: Project, artifacts: Mapping[str, ArtifactRecord], clients: Clients,
              names: Iterable[str], stage: str | None = None,
              on_outcome: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Update the code of each function in ``names`` whose live ``CodeSha256`` differs from
    its zip's (``artifacts``: the build manifest's records); one outcome per function,
    ``unchanged``, ``updated`` (code) or ``failed`` (one failure does not stop the others)."""
    stage = resolve_stage(project, stage)
    plan = DeployPlan(project=project.name, stage=stage, region=project.deploy.region,
                      layers=[], functions=[], bucket=project.deploy.bucket)
    outcomes = []
    for name in names:
        start = time.perf_counter()
        try:
            lname = lambda_name(project, name, stage)
        except Exception as exc:  # a UsageError: the name template needs a stage
            outcome = Outcome("function", name, name, "failed", error=str(exc))
        else:
            outcome = Outcome("function", name, lname, "unchanged")
            try:
                _sync_one(plan, project, artifacts, clients, name, outcome)
            except DeployError as exc:
                outcome.status, outcome.error = "failed", str(exc)
        outcome.seconds = time.perf_counter() - start
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    _record(project, stage, outcomes)
    return outcomes


def _record(project: Project, stage: str | None, outcomes: list[Outcome]) -> None:
    """Take the functions whose code is now on Lambda into the stage's deploy record
    (keeping the version and alias ``forge deploy`` last left there)."""
    shipped = [o for o in outcomes if o.ok and o.arn and o.code_sha256]
    if not shipped:
        return
    record = load_record(project.root, stage)
    for o in shipped:
        before = record.function(o.name, o.arn) or {}
        record.functions[o.name] = {"lambda_name": o.lambda_name, "arn": o.arn,
                                    "code_sha256": o.code_sha256,
                                    "version": before.get("version"),
                                    "alias": before.get("alias"), "layers": o.layers}
    record.save()


def _sync_one(plan: DeployPlan, project: Project, artifacts: Mapping[str, ArtifactRecord],
              clients: Clients, name: str, outcome: Outcome) -> None:
    what = f"function '{name}' ({outcome.lambda_name})"
    record = artifacts.get(f"function:{name}")
    if record is None:
        raise DeployError(f"{what}: not in the build manifest")
    try:
        live = clients.lambda_.get_function(FunctionName=outcome.lambda_name)["Configuration"]
    except Exception as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise DeployError(f"{what}: not on Lambda yet: create it with forge deploy") from None
        call(what, _raise, exc)  # the same one-line error as every other call
        raise
    outcome.arn = live.get("FunctionArn")
    outcome.layers = [layer["Arn"] for layer in live.get("Layers") or []]
    outcome.code_sha256 = live.get("CodeSha256")
    architecture = project.functions[name].architecture
    live_arch = (live.get("Architectures") or ["x86_64"])[0]
    if live.get("CodeSha256") == record.code_sha256 and live_arch == architecture:
        return
    if record.size > plan.direct_upload_limit and plan.bucket is None:
        raise DeployError(f"{what}: its zip is {record.size:,} bytes, over Lambda's direct "
                          "upload limit: set [deploy] bucket to upload it through S3")
    code = code_argument(plan, clients, project.root / record.path, record.sha256, record.size,
                         what)
    answer = call(what, clients.lambda_.update_function_code, FunctionName=outcome.lambda_name,
                  Architectures=[architecture], **code)
    if answer.get("CodeSha256") != record.code_sha256:
        raise DeployError(f"{what}: Lambda stored CodeSha256 {answer.get('CodeSha256')}, "
                          f"expected {record.code_sha256}")
    wait(clients, "function_updated_v2", outcome.lambda_name, what)
    outcome.status, outcome.did = "updated", ["code"]
    outcome.code_sha256 = record.code_sha256


def _raise(exc: BaseException) -> None:
    raise exc
