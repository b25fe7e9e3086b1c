"""Carry out a ``DeployPlan``: publish changed layers, then create or update functions,
``jobs`` at a time (a function starts as soon as the layers it uses are published).

Each write is followed by the waiter Lambda documents for it (``function_active_v2`` after a
create, ``function_updated_v2`` after an update), so the next write never meets "an update is
in progress"; one that does anyway (someone else's update) is retried with backoff
(``aws.call``). A failed layer stops the functions that use it; a failed function stops only
itself. Every outcome is reported as it happened: nothing half-done reads as done.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_any
from typing import Any

from msgspec import Struct, field

from lambdaforge.deploy.aws import Clients, DeployError, call, describe, error_code, wait
from lambdaforge.deploy.plan import DeployPlan, FunctionPlan, LayerPlan

#: Prefix of the S3 keys packages are uploaded under (then ``<sha256>.zip``).
S3_PREFIX = "lambdaforge/"


class Outcome(Struct):
    """What happened to one layer or function: ``status`` is ``published``, ``created``,
    ``updated`` (``did`` says what: code, configuration, tags), ``unchanged``, ``failed`` or
    ``skipped``; ``error`` the one-line reason of a failure. With ``--publish``,
    ``published`` is the version published now, ``version`` the one the function's alias
    (``alias``, when it was moved) and record point to."""

    kind: str
    name: str
    lambda_name: str
    status: str
    did: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    arn: str | None = None
    published: str | None = None
    version: str | None = None
    alias: str | None = None
    #: what Lambda holds now: a function's ``CodeSha256`` and its layers' ARNs (the record)
    code_sha256: str | None = None
    layers: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Neither failed nor skipped."""
        return self.status not in ("failed", "skipped")

    def line(self) -> str:
        """``function api (orders-api): updated code, tags; published version 3; alias
        live -> 3  0.41s``."""
        parts = []
        if self.status == "created":
            parts.append("created")
        if self.did:
            parts.append(f"updated {', '.join(self.did)}")
        if self.published:
            parts.append(f"published version {self.published}")
        if self.alias:
            parts.append(f"alias {self.alias} -> {self.version}")
        what = "; ".join(parts) or self.status
        if self.kind == "layer" and self.status == "published":
            what = f"published {', '.join(self.did)}"
        if self.error:
            what = f"{self.status}: {self.error}"
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
    outcome.version = str(answer["Version"]) if layer.publish else str(layer.latest_version)
    outcome.code_sha256 = layer.code_sha256
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
        elif name == "EphemeralStorage":
            out["EphemeralStorage"] = {"Size": fp.config[name]}
        elif name == "Layers":
            out["Layers"] = _layers_argument(fp, layer_arns)
        elif name != "Architectures":
            out[name] = fp.config[name]
    return out


def deploy_function(plan: DeployPlan, clients: Clients, fp: FunctionPlan,
                    layer_arns: dict[str, str]) -> Outcome:
    """Create ``fp`` or update what differs (code, configuration, tags), waiting after each
    write; with ``--publish``, publish a version pinned to its ``CodeSha256`` and move its
    alias there. A failure is the outcome ``failed``, its error saying what was done first."""
    start = time.perf_counter()
    outcome = Outcome("function", fp.name, fp.lambda_name, "unchanged", arn=fp.arn,
                      version=fp.current_version)
    try:
        try:
            _write_function(plan, clients, fp, layer_arns, outcome)
        except OSError as exc:  # its zip went away or cannot be read since the build
            raise DeployError(f"function '{fp.name}': cannot read {exc.filename or fp.path}: "
                              f"{exc.strerror or exc} (run forge build again)") from exc
    except DeployError as exc:
        done = (["creating it"] if outcome.status == "created" else []) + \
            [f"updating its {d}" for d in outcome.did]
        outcome.status, outcome.error = "failed", str(exc)
        if done:
            outcome.error += f" (after {' and '.join(done)})"
        outcome.did, outcome.published, outcome.alias = [], None, None
    outcome.seconds = time.perf_counter() - start
    return outcome


def _write_function(plan: DeployPlan, clients: Clients, fp: FunctionPlan,
                    layer_arns: dict[str, str], outcome: Outcome) -> None:
    what = f"function '{fp.name}' ({fp.lambda_name})"
    client = clients.lambda_
    if fp.action == "create":
        code = code_argument(plan, clients, fp.path, fp.sha256, fp.size, what)
        fields = [k for k in fp.config if k != "Role"]
        tags = {"Tags": fp.tags} if fp.tags else {}
        answer = call(what, client.create_function, FunctionName=fp.lambda_name,
                      Role=fp.config["Role"], Code=code, Architectures=[fp.architecture],
                      PackageType="Zip", **_config_arguments(fp, fields, layer_arns), **tags)
        _verify(what, answer, fp)
        outcome.arn = answer.get("FunctionArn")
        wait(clients, "function_active_v2", fp.lambda_name, what)
        outcome.status = "created"
    if fp.code_changed:
        code = code_argument(plan, clients, fp.path, fp.sha256, fp.size, what)
        answer = call(what, client.update_function_code, FunctionName=fp.lambda_name,
                      Architectures=[fp.architecture], **code)
        _verify(what, answer, fp)
        wait(clients, "function_updated_v2", fp.lambda_name, what)
        outcome.did.append("code")
    if fp.exists and fp.changes:
        arguments = _config_arguments(fp, [c.field for c in fp.changes], layer_arns)
        if arguments:
            call(what, client.update_function_configuration, FunctionName=fp.lambda_name,
                 **arguments)
            wait(clients, "function_updated_v2", fp.lambda_name, what)
            outcome.did.append("configuration")
    if fp.tags_change is not None:
        _retag(client, fp, what)
        outcome.did.append("tags")
    outcome.code_sha256 = fp.code_sha256
    outcome.layers = _layers_argument(fp, layer_arns)
    if fp.publish:
        outcome.published = outcome.version = _publish(client, fp, what)
    if fp.alias is not None and (fp.publish or fp.alias_moves):
        if _move_alias(client, fp, outcome.version or "", what):
            outcome.alias = fp.alias
    if outcome.status != "created":
        outcome.status = ("updated" if outcome.did else "published" if outcome.published
                          else "updated" if outcome.alias else "unchanged")


def _retag(client: Any, fp: FunctionPlan, what: str) -> None:
    """Only the difference: TagResource for new and changed tags, UntagResource for tags
    the config no longer has (AWS's own ``aws:`` tags are never touched)."""
    old, new = fp.tags_change.old, fp.tags_change.new
    added = {k: v for k, v in new.items() if old.get(k) != v}
    removed = sorted(k for k in old if k not in new)
    if added:
        call(what, client.tag_resource, Resource=fp.arn, Tags=added)
    if removed:
        call(what, client.untag_resource, Resource=fp.arn, TagKeys=removed)


def _publish(client: Any, fp: FunctionPlan, what: str) -> str:
    """PublishVersion pinned to the code forge deployed (``CodeSha256``): Lambda refuses it
    if the function's code changed in between; a version holding other code (a server that
    does not check the pin) is refused here. Returns the version."""
    def publish() -> dict[str, Any]:
        try:
            return client.publish_version(FunctionName=fp.lambda_name,
                                          CodeSha256=fp.code_sha256)
        except Exception as exc:
            if error_code(exc) in ("InvalidParameterValueException", "PreconditionFailedException"):
                raise DeployError(
                    f"{what}: publishing refused: the function's code is no longer the "
                    f"{fp.code_sha256} forge uploaded (another deploy at the same time?): "
                    f"{describe(exc)}") from None
            raise

    answer = call(what, publish)
    version = str(answer.get("Version"))
    if answer.get("CodeSha256") != fp.code_sha256:
        raise DeployError(
            f"{what}: publishing refused: version {version} holds CodeSha256 "
            f"{answer.get('CodeSha256')}, not the {fp.code_sha256} forge uploaded (the code "
            "changed in between: another deploy at the same time?); no alias was moved")
    return version


def _move_alias(client: Any, fp: FunctionPlan, version: str, what: str) -> bool:
    """Create the function's alias at ``version`` or move it there; ``False`` when it is
    there already (a publish that found nothing new returns the version it had)."""
    if fp.live_alias_version == version:
        return False
    arguments = {"FunctionName": fp.lambda_name, "Name": fp.alias, "FunctionVersion": version}
    if fp.live_alias_version is not None:
        call(what, client.update_alias, **arguments)
        return True

    def create() -> None:
        try:
            client.create_alias(**arguments)
        except Exception as exc:  # created by someone since the plan: move it instead
            if error_code(exc) not in ("ResourceConflictException", "ConflictException"):
                raise
            client.update_alias(**arguments)

    call(what, create)
    return True


def _verify(what: str, answer: dict[str, Any], fp: FunctionPlan) -> None:
    """Lambda must report the code we sent: anything else is not a success."""
    if answer.get("CodeSha256") != fp.code_sha256:
        raise DeployError(f"{what}: Lambda stored CodeSha256 {answer.get('CodeSha256')}, "
                          f"expected {fp.code_sha256}")


def _layer_outcome(plan: DeployPlan, clients: Clients, layer: LayerPlan) -> Outcome:
    try:
        return publish_layer(plan, clients, layer)
    except DeployError as exc:
        return Outcome("layer", layer.name, layer.lambda_name, "failed", error=str(exc))
    except OSError as exc:  # its zip went away or cannot be read since the build
        return Outcome("layer", layer.name, layer.lambda_name, "failed",
                       error=f"layer '{layer.name}': cannot read {exc.filename or layer.path}: "
                             f"{exc.strerror or exc} (run forge build again)")


def apply_plan(plan: DeployPlan, clients: Clients,
               on_outcome: Callable[[Outcome], None] | None = None,
               jobs: int = 4) -> list[Outcome]:
    """Carry out ``plan``, ``jobs`` writes groups at a time: every layer at once, each
    function as soon as the layers it uses are published (their version ARNs go to it);
    a function whose layer failed is skipped. ``on_outcome`` sees each outcome as it
    happens (in this thread); the list returned is in plan order."""
    outcomes: dict[tuple[str, str], Outcome] = {}
    layer_arns: dict[str, str] = {}
    failed_layers: set[str] = set()
    built = {lp.name for lp in plan.layers}
    waiting = list(plan.functions)

    def record(outcome: Outcome) -> None:
        outcomes[(outcome.kind, outcome.name)] = outcome
        if on_outcome is not None:
            on_outcome(outcome)

    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="forge-deploy") as pool:
        running: dict[Future[Outcome], str] = {
            pool.submit(_layer_outcome, plan, clients, lp): "layer" for lp in plan.layers}
        while waiting or running:
            for fp in list(waiting):
                needs = [ref.name for ref in fp.config["Layers"] if ref.arn is None
                         and ref.name in built]
                blocked = [n for n in needs if n in failed_layers]
                if blocked:
                    waiting.remove(fp)
                    record(Outcome("function", fp.name, fp.lambda_name, "skipped",
                                   error=f"layer {', '.join(blocked)} failed"))
                elif all(n in layer_arns for n in needs):
                    waiting.remove(fp)
                    running[pool.submit(deploy_function, plan, clients, fp,
                                        dict(layer_arns))] = "function"
            if not running:
                break
            done, _ = wait_any(running, return_when=FIRST_COMPLETED)
            for future in done:
                kind = running.pop(future)
                outcome = future.result()
                if kind == "layer":
                    if outcome.ok:
                        layer_arns[outcome.name] = outcome.arn or ""
                    else:
                        failed_layers.add(outcome.name)
                record(outcome)
    order = [("layer", lp.name) for lp in plan.layers] + \
        [("function", fp.name) for fp in plan.functions]
    return [outcomes[key] for key in order if key in outcomes]
