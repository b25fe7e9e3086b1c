"""Carry out a ``DeployPlan``: publish changed layers, then create or update functions.

Each write is followed by the waiter Lambda documents for it (``function_active_v2`` after a
create, ``function_updated_v2`` after an update), so the next write never meets "an update is
in progress"; one that does anyway (someone else's update) is retried with backoff
(``aws.call``). A failed layer stops the functions that use it; a failed function stops only
itself. Every outcome is reported as it happened: nothing half-done reads as done.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lambdaforge.deploy.aws import Clients, DeployError, call, error_code, wait
from lambdaforge.deploy.plan import DeployPlan, FunctionPlan, LayerPlan

#: Prefix of the S3 keys packages are uploaded under (then ``<sha256>.zip``).
S3_PREFIX = "lambdaforge/"


@dataclass
class Outcome:
    """What happened to one layer or function: ``status`` is ``published``, ``created``,
    ``updated`` (``did`` says what: code, configuration), ``unchanged``, ``failed`` or
    ``skipped``; ``error`` the one-line reason of a failure."""

    kind: str
    name: str
    lambda_name: str
    status: str
    did: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    arn: str | None = None

    @property
    def ok(self) -> bool:
        """Neither failed nor skipped."""
        return self.status not in ("failed", "skipped")

    def line(self) -> str:
        """``function api (orders-api): updated code, configuration  0.41s``."""
        what = self.status if not self.did else f"{self.status} {', '.join(self.did)}"
        if self.error:
            what = f"{what}: {self.error}"
        return f"{self.kind} {self.name} ({self.lambda_name}): {what}  {self.seconds:.2f}s"


def code_argument(plan: DeployPlan, clients: Clients, path: Any, sha256: str, size: int,
                  what: str) -> dict[str, Any]:
    """The ``Code``/``Content`` argument of a write: the zip's bytes up to the direct upload
    limit, else an S3 object in ``plan.bucket`` under its SHA-256, uploaded only if absent."""
    if size <= plan.direct_upload_limit:
        return {"ZipFile": path.read_bytes()}
    if plan.bucket is None:  # the planner refuses this case; kept as a guard
        raise DeployError(f"{what}: too large for a direct upload and no [deploy] bucket")
    key = f"{S3_PREFIX}{sha256}.zip"
    try:
        clients.s3.head_object(Bucket=plan.bucket, Key=key)
    except Exception as exc:
        if error_code(exc) not in ("404", "NoSuchKey", "NotFound"):
            call(f"{what}: s3://{plan.bucket}/{key}", _raise, exc)
        call(f"{what}: uploading to s3://{plan.bucket}/{key}", clients.s3.upload_file,
             str(path), plan.bucket, key)
    return {"S3Bucket": plan.bucket, "S3Key": key}


def _raise(exc: BaseException) -> None:
    raise exc


def publish_layer(plan: DeployPlan, clients: Clients, layer: LayerPlan) -> Outcome:
    """Publish a new version of ``layer`` if its code changed; the outcome's ``arn`` is the
    version functions get."""
    start = time.perf_counter()
    outcome = Outcome("layer", layer.name, layer.lambda_name, "unchanged", arn=layer.latest_arn)
    if layer.publish:
        what = f"layer '{layer.name}' ({layer.lambda_name})"
        content = code_argument(plan, clients, layer.path, layer.sha256, layer.size, what)
        answer = call(what, clients.lambda_.publish_layer_version, LayerName=layer.lambda_name,
                      Content=content, CompatibleRuntimes=layer.runtimes,
                      CompatibleArchitectures=layer.architectures,
                      Description=f"lambdaforge sha256:{layer.sha256}")
        if answer.get("Content", {}).get("CodeSha256") != layer.code_sha256:
            raise DeployError(f"{what}: Lambda stored CodeSha256 "
                              f"{answer.get('Content', {}).get('CodeSha256')}, expected "
                              f"{layer.code_sha256}")
        outcome.status, outcome.arn = "published", answer["LayerVersionArn"]
        outcome.did = [f"version {answer['Version']}"]
    outcome.seconds = time.perf_counter() - start
    return outcome


def _layers_argument(fp: FunctionPlan, layer_arns: dict[str, str]) -> list[str]:
    return [ref.arn or layer_arns[ref.name] for ref in fp.config["Layers"]]


def _config_arguments(fp: FunctionPlan, fields: list[str], layer_arns: dict[str, str]
                      ) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in fields:
        if name == "Environment.Variables":
            out["Environment"] = {"Variables": fp.config[name]}
        elif name == "Layers":
            out["Layers"] = _layers_argument(fp, layer_arns)
        elif name != "Architectures":
            out[name] = fp.config[name]
    return out


def deploy_function(plan: DeployPlan, clients: Clients, fp: FunctionPlan,
                    layer_arns: dict[str, str]) -> Outcome:
    """Create ``fp`` or update what differs (code, then configuration), waiting after each
    write. A failure is the outcome ``failed``, its ``did`` saying what was done before it."""
    start = time.perf_counter()
    outcome = Outcome("function", fp.name, fp.lambda_name, "unchanged")
    try:
        _write_function(plan, clients, fp, layer_arns, outcome)
    except DeployError as exc:
        outcome.status, outcome.error = "failed", str(exc)
        if outcome.did:
            outcome.error += f" (after updating its {' and '.join(outcome.did)})"
            outcome.did = []
    outcome.seconds = time.perf_counter() - start
    return outcome


def _write_function(plan: DeployPlan, clients: Clients, fp: FunctionPlan,
                    layer_arns: dict[str, str], outcome: Outcome) -> None:
    what = f"function '{fp.name}' ({fp.lambda_name})"
    client = clients.lambda_
    if fp.action == "create":
        code = code_argument(plan, clients, fp.path, fp.sha256, fp.size, what)
        fields = [k for k in fp.config if k != "Role"]
        answer = call(what, client.create_function, FunctionName=fp.lambda_name,
                      Role=fp.config["Role"], Code=code, Architectures=[fp.architecture],
                      PackageType="Zip", **_config_arguments(fp, fields, layer_arns))
        _verify(what, answer, fp)
        wait(clients, "function_active_v2", fp.lambda_name, what)
        outcome.status = "created"
    if fp.code_changed:
        code = code_argument(plan, clients, fp.path, fp.sha256, fp.size, what)
        answer = call(what, client.update_function_code, FunctionName=fp.lambda_name,
                      Architectures=[fp.architecture], **code)
        _verify(what, answer, fp)
        wait(clients, "function_updated_v2", fp.lambda_name, what)
        outcome.status = "updated"
        outcome.did.append("code")
    if fp.exists and fp.changes:
        arguments = _config_arguments(fp, [c.field for c in fp.changes], layer_arns)
        if arguments:
            call(what, client.update_function_configuration, FunctionName=fp.lambda_name,
                 **arguments)
            wait(clients, "function_updated_v2", fp.lambda_name, what)
            outcome.status = "updated"
            outcome.did.append("configuration")


def _verify(what: str, answer: dict[str, Any], fp: FunctionPlan) -> None:
    """Lambda must report the code we sent: anything else is not a success."""
    if answer.get("CodeSha256") != fp.code_sha256:
        raise DeployError(f"{what}: Lambda stored CodeSha256 {answer.get('CodeSha256')}, "
                          f"expected {fp.code_sha256}")


def apply_plan(plan: DeployPlan, clients: Clients,
               on_outcome: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Carry out ``plan``: layers first (their version ARNs go to the functions), then
    functions. Returns every outcome in order; ``on_outcome`` sees each as it happens."""
    outcomes: list[Outcome] = []

    def record(outcome: Outcome) -> None:
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    layer_arns: dict[str, str] = {}
    failed_layers: set[str] = set()
    for layer in plan.layers:
        try:
            outcome = publish_layer(plan, clients, layer)
            layer_arns[layer.name] = outcome.arn or ""
        except DeployError as exc:
            failed_layers.add(layer.name)
            outcome = Outcome("layer", layer.name, layer.lambda_name, "failed", error=str(exc))
        record(outcome)
    for fp in plan.functions:
        blocked = [ref.name for ref in fp.config["Layers"] if ref.name in failed_layers]
        if blocked:
            record(Outcome("function", fp.name, fp.lambda_name, "skipped",
                           error=f"layer {', '.join(blocked)} failed"))
            continue
        record(deploy_function(plan, clients, fp, layer_arns))
    return outcomes
