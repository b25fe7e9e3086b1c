"""What ``forge deploy`` would change, read from the live state before anything is written.

The desired state is the project (each function's settings, and its ``[deploy]`` table) plus
the build manifest (each zip's ``code_sha256``, as Lambda reports ``CodeSha256``); the live
state is what Lambda answers to GetFunction and ListLayerVersions/GetLayerVersion. The plan
is their difference, field by field: code (old → new CodeSha256), each configuration field
that differs, layer versions to publish, functions to create. Lambda's own answer decides,
so a change made behind forge's back shows up like any other.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from msgspec import Struct, field

from lambdaforge import lambda_facts
from lambdaforge.config.specs import FunctionSpec, Project, layer_compatibility
from lambdaforge.config.validate import lambda_name_problems, name_template_problem, stage_problem
from lambdaforge.deploy.aws import Clients, DeployError, call, error_code
from lambdaforge.deploy.record import DeployRecord
from lambdaforge.errors import UsageError
from lambdaforge.manifest import ArtifactRecord
from lambdaforge.redact import shown_variables

#: What Lambda uses for a setting the config leaves out: a removed setting goes back to it.
LAMBDA_DEFAULTS: dict[str, Any] = {"MemorySize": 128, "Timeout": 3, "Description": "",
                                   "EphemeralStorage": lambda_facts.EPHEMERAL_STORAGE_MIN}
_LAYER_NAME = re.compile(r"[A-Za-z0-9_-]{1,140}")


class LayerRef(Struct, frozen=True):
    """One entry of a function's ``Layers``: a layer forge builds (by name) or an ARN."""

    name: str
    arn: str | None = None  # given in the config (``[layers.X] arn``)


class _Package(Struct):
    """A built zip to deploy: forge's name, Lambda's name, and the manifest's figures."""

    name: str
    lambda_name: str
    path: Path
    code_sha256: str
    sha256: str
    size: int


class LayerPlan(_Package):
    """A built layer: its zip against the latest published version."""

    runtimes: list[str]
    architectures: list[str]
    latest_version: int | None = None
    latest_arn: str | None = None
    live_code_sha256: str | None = None
    #: the latest version's ``CompatibleRuntimes``/``CompatibleArchitectures`` (sorted)
    live_runtimes: list[str] | None = None
    live_architectures: list[str] | None = None

    @property
    def publish(self) -> bool:
        """A new version is needed: none exists, the latest holds other code, or it was
        published for other runtimes or architectures (a version cannot be changed)."""
        return (self.live_code_sha256 != self.code_sha256
                or self.live_runtimes != self.runtimes
                or self.live_architectures != self.architectures)

    def compatibility_changes(self) -> list[FieldChange]:
        """The compatibility lists the latest version has otherwise (none for a first one)."""
        if self.latest_version is None:
            return []
        pairs = (("CompatibleRuntimes", self.live_runtimes, self.runtimes),
                 ("CompatibleArchitectures", self.live_architectures, self.architectures))
        return [FieldChange(name, old, new) for name, old, new in pairs if old != new]


class FieldChange(Struct, frozen=True):
    """One setting that differs: Lambda's name for it, the live value and the wanted one."""

    field: str
    old: Any
    new: Any


class FunctionPlan(_Package):
    """A function: what it should be, what Lambda has, and what differs."""

    architecture: str
    #: the wanted configuration by Lambda's field names (``Layers`` as ``LayerRef``s)
    config: dict[str, Any]
    exists: bool = False
    live_code_sha256: str | None = None
    #: configuration fields that differ (``UpdateFunctionConfiguration``)
    changes: list[FieldChange] = field(default_factory=list)
    #: the live architecture differs (it changes with the code, ``UpdateFunctionCode``)
    architecture_change: FieldChange | None = None
    #: the function's ARN (unqualified), as GetFunction answered
    arn: str | None = None
    #: the wanted tags (``None``: not managed) and, when they differ, the live ones
    tags: dict[str, str] | None = None
    tags_change: FieldChange | None = None
    #: the ``CodeSha256`` the deploy record says forge deployed last (same function ARN)
    recorded_code_sha256: str | None = None
    #: ``--publish``: a version is to be published (none holds this code and configuration)
    publish: bool = False
    #: ``--publish``: the published version that already holds it, when none is needed
    current_version: str | None = None
    #: ``--publish``: the alias to move, and the version it points to now (``None``: absent)
    alias: str | None = None
    live_alias_version: str | None = None

    @property
    def code_changed(self) -> bool:
        """The code (or its architecture) must be uploaded to an existing function."""
        return self.exists and (self.live_code_sha256 != self.code_sha256
                                or self.architecture_change is not None)

    @property
    def drift(self) -> bool:
        """The live code is neither what forge deployed last (the record) nor the new zip:
        someone changed it behind forge's back."""
        return (self.exists and self.recorded_code_sha256 is not None
                and self.live_code_sha256 not in (self.recorded_code_sha256, self.code_sha256))

    @property
    def alias_moves(self) -> bool:
        """``--publish`` with an ``alias``: it must be created or moved."""
        if self.alias is None:
            return False
        return self.publish or self.live_alias_version != self.current_version

    @property
    def action(self) -> str:
        """``create``, ``update`` or ``unchanged``."""
        if not self.exists:
            return "create"
        writes = (self.code_changed or self.changes or self.tags_change is not None
                  or self.publish or self.alias_moves)
        return "update" if writes else "unchanged"


class DeployPlan(Struct):
    """Everything a deploy would do, in order: layers first, then functions."""

    project: str
    stage: str | None
    region: str | None
    layers: list[LayerPlan]
    functions: list[FunctionPlan]
    #: the S3 bucket for packages over ``direct_upload_limit`` bytes
    bucket: str | None = None
    direct_upload_limit: int = lambda_facts.MAX_ZIPPED_DIRECT_UPLOAD
    #: ``--publish``: publish a version of each changed function, move its alias to it
    publish: bool = False

    @property
    def changes(self) -> int:
        """How many writes groups the plan has (layer versions, functions to touch)."""
        return (sum(1 for layer in self.layers if layer.publish)
                + sum(1 for f in self.functions if f.action != "unchanged"))

    def to_json(self) -> dict[str, Any]:
        """The plan as JSON-ready data (``forge deploy --json``)."""
        by_name = {lp.name: lp for lp in self.layers}
        return {
            "project": self.project, "stage": self.stage, "region": self.region,
            "layers": [{"name": lp.name, "lambda_name": lp.lambda_name,
                        "action": "publish" if lp.publish else "unchanged",
                        "latest_version": lp.latest_version,
                        "code_sha256": {"old": lp.live_code_sha256, "new": lp.code_sha256},
                        "changes": [{"field": c.field, "old": c.old, "new": c.new}
                                    for c in lp.compatibility_changes()]}
                       for lp in self.layers],
            "functions": [{"name": fp.name, "lambda_name": fp.lambda_name, "action": fp.action,
                           "code_sha256": {"old": fp.live_code_sha256, "new": fp.code_sha256},
                           "drift": {"recorded": fp.recorded_code_sha256,
                                     "live": fp.live_code_sha256} if fp.drift else None,
                           "changes": [{"field": c.field, "old": _shown(c.field, c.old, by_name),
                                        "new": _shown(c.field, c.new, by_name)}
                                       for c in _all_changes(fp)],
                           "publish": fp.publish,
                           "alias": {"name": fp.alias, "old": fp.live_alias_version,
                                     "new": None if fp.publish else fp.current_version}
                           if fp.alias_moves else None}
                          for fp in self.functions],
            "publish": self.publish,
            "changes": self.changes,
        }

    def lines(self) -> list[str]:
        """The plan as text, one line per layer and function and one per differing field."""
        out: list[str] = []
        by_name = {lp.name: lp for lp in self.layers}
        for lp in self.layers:
            head = f"layer {lp.name} ({lp.lambda_name})"
            if not lp.publish:
                out.append(f"{head}: unchanged (version {lp.latest_version})")
                continue
            version = "version 1" if lp.latest_version is None else f"version {lp.latest_version + 1}"
            out.append(f"{head}: publish {version}")
            if lp.live_code_sha256 != lp.code_sha256:
                out.append(f"    code: {lp.live_code_sha256 or '(none)'} -> {lp.code_sha256}")
            for change in lp.compatibility_changes():
                out.append(f"    {change.field}: {', '.join(change.old) or '(none)'} -> "
                           f"{', '.join(change.new)}")
        for fp in self.functions:
            head = f"function {fp.name} ({fp.lambda_name})"
            if fp.action == "create":
                out.append(f"{head}: create")
                out.append(f"    code: {fp.code_sha256}")
                for key in ("Runtime", "Handler", "MemorySize", "Timeout", "EphemeralStorage",
                            "Role"):
                    if fp.config.get(key) is not None and fp.config[key] != LAMBDA_DEFAULTS.get(key):
                        out.append(f"    {key}: {fp.config[key]}")
                if fp.config["Layers"]:
                    out.append(f"    Layers: {_shown('Layers', fp.config['Layers'], by_name)}")
                if fp.tags:
                    out.append(f"    Tags: {fp.tags}")
                out.extend(_publish_lines(fp))
                continue
            out.append(f"{head}: {fp.action}")
            if fp.live_code_sha256 != fp.code_sha256:
                out.append(f"    code: {fp.live_code_sha256} -> {fp.code_sha256}")
            if fp.drift:
                out.append(f"    drift: Lambda has {fp.live_code_sha256}, forge deployed "
                           f"{fp.recorded_code_sha256}: changed outside forge (this deploy "
                           "replaces it)")
            for change in _all_changes(fp):
                out.append(f"    {change.field}: {_shown(change.field, change.old, by_name)} -> "
                           f"{_shown(change.field, change.new, by_name)}")
            out.extend(_publish_lines(fp))
        counts = [
            _count(sum(lp.publish for lp in self.layers), "layer version", "to publish"),
            _count(sum(fp.action == "create" for fp in self.functions), "function", "to create"),
            _count(sum(fp.action == "update" for fp in self.functions), "function", "to update"),
            _count(sum(fp.action == "unchanged" for fp in self.functions), "function", "unchanged"),
        ]
        if self.publish:
            counts.append(_count(sum(fp.publish for fp in self.functions), "version",
                                 "to publish"))
        drifted = sum(fp.drift for fp in self.functions)
        if drifted:
            counts.append(_count(drifted, "function", "drifted"))
        out.append("plan: " + ", ".join(counts))
        return out


def _publish_lines(fp: FunctionPlan) -> list[str]:
    """``publish: a new version`` and ``alias live: 3 -> the new version`` lines."""
    out = []
    if fp.publish:
        out.append(f"    publish: a new version with CodeSha256 {fp.code_sha256}")
    if fp.alias_moves:
        target = "the new version" if fp.publish else f"version {fp.current_version}"
        out.append(f"    alias {fp.alias}: {fp.live_alias_version or '(none)'} -> {target}")
    return out


def _count(n: int, noun: str, what: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'} {what}"


def _all_changes(fp: FunctionPlan) -> list[FieldChange]:
    return (([fp.architecture_change] if fp.architecture_change else []) + fp.changes
            + ([fp.tags_change] if fp.tags_change else []))


def _shown(name: str, value: Any, layers: Mapping[str, LayerPlan] | None = None) -> Any:
    """A value as the plan prints it: secrets masked, layers as the ARNs they get (the
    latest version's when ``layers``, this deploy's layer plans, publish none; else 'NAME
    (new version)', which every forge layer was called, published or not)."""
    if name == "Environment.Variables" and isinstance(value, dict):
        return shown_variables(value)
    if name == "Layers" and isinstance(value, list):
        return [v if isinstance(v, str) else v.arn or _layer_arn(v.name, layers or {}) for v in value]
    return value


def _layer_arn(name: str, layers: Mapping[str, LayerPlan]) -> str:
    plan = layers.get(name)
    if plan is not None and not plan.publish and plan.latest_arn:
        return plan.latest_arn
    return f"{name} (new version)"


def lambda_name(project: Project, name: str, stage: str | None) -> str:
    """The Lambda name of function or layer ``name`` from the ``[deploy] name`` template."""
    template = project.deploy.name
    problem = name_template_problem(template)
    if problem is None and "{stage}" in template and not stage:
        problem = f"'{template}' uses {{stage}}: give --stage or [deploy] stage"
    if problem is not None:
        raise UsageError(f"[deploy] name: {problem}")
    return template.format(project=project.name, function=name, stage=stage or "")


def select(project: Project, names: Sequence[str]) -> tuple[list[str], list[str]]:
    """The functions and built layers to deploy: ``names`` (functions or layers) or every
    function, with the built layers the chosen functions use."""
    unknown = [n for n in names if n not in project.functions and n not in project.layers]
    if unknown:
        raise UsageError(f"no function or layer named {', '.join(repr(n) for n in unknown)}")
    functions = [n for n in (names or project.functions) if n in project.functions]
    layers = [n for n in names if n in project.layers]
    for name in functions:
        layers += project.functions[name].layers
    layers = [n for n in dict.fromkeys(layers) if project.layers[n].arn is None]
    return functions, layers


def resolve_stage(project: Project, stage: str | None, functions: Sequence[str] = (),
                  layers: Sequence[str] = ()) -> str | None:
    """``--stage`` or ``[deploy] stage``, checked (a bad one is a usage error), with the
    Lambda names it makes of ``functions`` and ``layers``: refused here, before a build,
    every one at once (``forge validate`` checks those of the config's own stage)."""
    stage = stage if stage is not None else project.deploy.stage
    if stage is not None and (problem := stage_problem(stage)):
        raise UsageError(f"--stage: {problem}")
    template = project.deploy.name
    if name_template_problem(template) is None and (stage or "{stage}" not in template):
        built = [n for n in layers if project.layers[n].arn is None]
        found = lambda_name_problems(template, project.name, stage, functions, built)
        if found:
            raise UsageError("[deploy] name" + (f" with --stage {stage}" if stage else "") + ": "
                             + "; ".join(problem for _, problem in found))
    return stage


def make_plan(project: Project, artifacts: dict[str, ArtifactRecord], clients: Clients,
              names: Sequence[str] = (), stage: str | None = None,
              direct_upload_limit: int = lambda_facts.MAX_ZIPPED_DIRECT_UPLOAD,
              publish: bool = False, record: DeployRecord | None = None,
              jobs: int = 4) -> DeployPlan:
    """Read the live state of the selected functions and layers and compare it with the
    project and its build (``artifacts``, the manifest's records) and, for drift, with the
    deploy ``record``. Only reads, ``jobs`` functions at a time; the first failure (in plan
    order) is raised once every read has ended."""
    stage = resolve_stage(project, stage)
    function_names, layer_names = select(project, names)
    plan = DeployPlan(project=project.name, stage=stage, region=project.deploy.region,
                      layers=[], functions=[], bucket=project.deploy.bucket,
                      direct_upload_limit=direct_upload_limit, publish=publish)
    record = record or DeployRecord(path=Path(), stage=stage)
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="forge-plan") as pool:
        plan.layers = list(pool.map(
            lambda name: _layer_plan(project, artifacts, clients, name, stage, plan),
            layer_names))
        layers = {lp.name: lp for lp in plan.layers}
        plan.functions = list(pool.map(
            lambda name: _function_plan(project, artifacts, clients, name, stage, plan, layers,
                                        record), function_names))
    return plan


def _artifact(artifacts: dict[str, ArtifactRecord], project: Project, kind: str, name: str,
              plan: DeployPlan) -> tuple[ArtifactRecord, Path]:
    record = artifacts.get(f"{kind}:{name}")
    if record is None:
        raise DeployError(f"{kind} '{name}': not in the build manifest (build it first)")
    if record.size > plan.direct_upload_limit and plan.bucket is None:
        raise DeployError(
            f"{kind} '{name}': its zip is {record.size:,} bytes, over Lambda's direct upload "
            f"limit ({plan.direct_upload_limit:,}): set [deploy] bucket to upload it through S3")
    return record, project.root / record.path


def _layer_plan(project: Project, artifacts: dict[str, ArtifactRecord], clients: Clients,
                name: str, stage: str | None, plan: DeployPlan) -> LayerPlan:
    record, path = _artifact(artifacts, project, "layer", name, plan)
    lname = lambda_name(project, name, stage)
    runtimes, architectures = layer_compatibility(project, name)
    if not _LAYER_NAME.fullmatch(lname):
        raise UsageError(f"layer '{name}': '{lname}' is not a Lambda layer name")
    layer = LayerPlan(
        name=name, lambda_name=lname, path=path, code_sha256=record.code_sha256,
        sha256=record.sha256, size=record.size,
        runtimes=runtimes, architectures=architectures)
    what = f"layer '{name}' ({lname})"
    try:
        versions = clients.lambda_.list_layer_versions(LayerName=lname)["LayerVersions"]
    except Exception as exc:
        if error_code(exc) != "ResourceNotFoundException":
            call(what, _raise, exc)  # the same one-line error as every other call
        versions = []
    if versions:
        latest = max(versions, key=lambda v: v["Version"])
        detail = call(what, clients.lambda_.get_layer_version, LayerName=lname,
                      VersionNumber=latest["Version"])
        layer.latest_version = latest["Version"]
        layer.latest_arn = latest["LayerVersionArn"]
        layer.live_code_sha256 = detail.get("Content", {}).get("CodeSha256")
        layer.live_runtimes = sorted(detail.get("CompatibleRuntimes") or [])
        layer.live_architectures = sorted(detail.get("CompatibleArchitectures") or [])
    return layer


def _function_plan(project: Project, artifacts: dict[str, ArtifactRecord], clients: Clients,
                   name: str, stage: str | None, plan: DeployPlan,
                   layers: dict[str, LayerPlan], deployed: DeployRecord) -> FunctionPlan:
    record, path = _artifact(artifacts, project, "function", name, plan)
    spec = project.functions[name]
    fname = lambda_name(project, name, stage)
    if not re.fullmatch(lambda_facts.FUNCTION_NAME_PATTERN, fname):
        raise UsageError(f"function '{name}': '{fname}' is not a Lambda function name "
                         "(1-64 letters, digits, '-' or '_')")
    fp = FunctionPlan(name=name, lambda_name=fname, path=path, code_sha256=record.code_sha256,
                      sha256=record.sha256, size=record.size, architecture=spec.architecture,
                      config=desired_config(project, spec), tags=spec.deploy.tags,
                      alias=spec.deploy.alias if plan.publish else None)
    what = f"function '{name}' ({fname})"
    answer = _get(what, clients.lambda_.get_function, FunctionName=fname)
    if answer is None:
        if fp.config["Role"] is None:
            raise DeployError(f"{what}: does not exist, and creating it needs a role: set "
                              f"functions.{name}.role or [deploy] role (an IAM role ARN)")
        fp.publish = plan.publish
        return fp
    live = answer["Configuration"]
    fp.exists = True
    fp.arn = live.get("FunctionArn")
    fp.live_code_sha256 = live.get("CodeSha256")
    entry = deployed.function(name, fp.arn)
    fp.recorded_code_sha256 = entry.get("code_sha256") if entry else None
    live_arch = (live.get("Architectures") or ["x86_64"])[0]
    if live_arch != spec.architecture:
        fp.architecture_change = FieldChange("Architectures", [live_arch], [spec.architecture])
    fp.changes = config_changes(fp.config, live, layers)
    if fp.tags is not None:
        have = answer.get("Tags")
        if have is None:  # none, or no lambda:ListTags permission: ListTags tells which
            have = call(what, clients.lambda_.list_tags, Resource=fp.arn).get("Tags") or {}
        have = {k: v for k, v in have.items()
                if not k.lower().startswith(lambda_facts.RESERVED_TAG_PREFIX)}
        if have != fp.tags:
            fp.tags_change = FieldChange("Tags", have, fp.tags)
    if plan.publish:
        _publish_plan(clients, fp, entry, layers, what)
    return fp


def _get(what: str, fn: Any, **kwargs: Any) -> Any:
    """``fn(**kwargs)``'s answer, ``None`` when AWS says there is no such resource; any other
    failure is the usual one-line ``DeployError``."""
    try:
        return fn(**kwargs)
    except Exception as exc:
        if error_code(exc) != "ResourceNotFoundException":
            call(what, _raise, exc)  # the same one-line error as every other call
        return None


def _publish_plan(clients: Clients, fp: FunctionPlan, entry: dict[str, Any] | None,
                  layers: dict[str, LayerPlan], what: str) -> None:
    """Whether ``--publish`` must publish a version of an existing function: yes when this
    deploy changes it, or when the version its alias (else the record) points to does not
    hold the wanted code and configuration; otherwise that version stays, and the alias
    moves to it if it points elsewhere."""
    if fp.alias is not None:
        alias = _get(what, clients.lambda_.get_alias, FunctionName=fp.lambda_name, Name=fp.alias)
        fp.live_alias_version = alias.get("FunctionVersion") if alias else None
    if fp.code_changed or fp.changes:
        fp.publish = True
        return
    version = fp.live_alias_version or (entry or {}).get("version")
    if version in (None, "$LATEST"):
        fp.publish = True
        return
    answer = _get(what, clients.lambda_.get_function_configuration,
                  FunctionName=fp.lambda_name, Qualifier=str(version))
    if (answer is None or answer.get("CodeSha256") != fp.code_sha256
            or config_changes(fp.config, answer, layers)):
        fp.publish = True
        return
    fp.current_version = str(version)


def _raise(exc: BaseException) -> None:
    raise exc


def desired_config(project: Project, spec: FunctionSpec) -> dict[str, Any]:
    """The configuration ``spec`` asks for, by Lambda's field names; ``Role`` is ``None``
    when neither the function nor ``[deploy]`` sets one (an existing function keeps its own)."""
    deploy = spec.deploy
    return {
        "Role": deploy.role or project.deploy.role,
        "Handler": spec.handler,
        "Runtime": spec.runtime,
        "MemorySize": deploy.memory if deploy.memory is not None else LAMBDA_DEFAULTS["MemorySize"],
        "Timeout": deploy.timeout if deploy.timeout is not None else LAMBDA_DEFAULTS["Timeout"],
        "Description": deploy.description if deploy.description is not None
        else LAMBDA_DEFAULTS["Description"],
        "EphemeralStorage": deploy.ephemeral_storage if deploy.ephemeral_storage is not None
        else LAMBDA_DEFAULTS["EphemeralStorage"],
        "Environment.Variables": dict(spec.environment),
        "Layers": [LayerRef(n, project.layers[n].arn) for n in spec.layers],
    }


def config_changes(config: dict[str, Any], live: dict[str, Any],
                   layers: dict[str, LayerPlan]) -> list[FieldChange]:
    """The fields of ``config`` that differ from ``live`` (GetFunction's ``Configuration``);
    a layer to be published always differs, its new version ARN being unknown yet."""
    changes = []
    for key, wanted in config.items():
        if key == "Role" and wanted is None:
            continue  # nothing configured: the function keeps its role
        if key == "Environment.Variables":
            have: Any = (live.get("Environment") or {}).get("Variables") or {}
        elif key == "EphemeralStorage":
            have = (live.get("EphemeralStorage") or {}).get("Size",
                                                           LAMBDA_DEFAULTS["EphemeralStorage"])
        elif key == "Layers":
            have = [layer["Arn"] for layer in live.get("Layers") or []]
            resolved = [ref.arn or (None if layers[ref.name].publish else layers[ref.name].latest_arn)
                        for ref in wanted]
            if resolved != have:
                changes.append(FieldChange(key, have, wanted))
            continue
        else:
            have = live.get(key)
        if have != wanted:
            changes.append(FieldChange(key, have, wanted))
    return changes
