"""``forge export``: forge's zips described for infrastructure-as-code tools.

Teams that keep Terraform or SAM/CloudFormation for everything around their functions
(roles, triggers, API Gateway) still want forge's builds, not a second one. The build
manifest (``lambdaforge.manifest``) already says where each zip is and its ``code_sha256``
(base64 SHA-256: Terraform's ``source_code_hash`` / ``filebase64sha256()``, Lambda's
``CodeSha256``); the project says each function's handler, runtime, architecture, layers and
deploy settings. This module joins the two into:

- ``terraform_data``: JSON for ``jsondecode(file(...))``, a map per function (attribute
  names as ``aws_lambda_function`` spells them) and per built layer
  (``aws_lambda_layer_version``);
- ``sam_template``: a template whose ``AWS::Serverless::Function`` resources have ``CodeUri``
  at the zips (``sam build`` skips a zip ``CodeUri``; ``sam deploy`` uploads it as is) and
  whose built layers are ``AWS::Serverless::LayerVersion`` with ``ContentUri`` at theirs.

Zip paths are written relative to ``base`` (the output file's directory, as SAM resolves
``CodeUri`` and as Terraform's ``path.module`` joins them), or absolute without one. Output
is deterministic: names sorted, keys sorted.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lambdaforge.config.specs import FunctionSpec, Project, layer_compatibility
from lambdaforge.errors import ForgeError
from lambdaforge.manifest import ArtifactRecord

EXPORT_VERSION = 1


class ExportError(ForgeError):
    """What to export is not built (exit 1: build it, or fix the build)."""


def _zip_path(project: Project, record: ArtifactRecord, base: Path | None) -> str:
    path = project.root / record.path
    if base is None:
        return path.as_posix()
    return Path(os.path.relpath(path, base)).as_posix()


def _record(artifacts: Mapping[str, ArtifactRecord], kind: str, name: str) -> ArtifactRecord:
    record = artifacts.get(f"{kind}:{name}")
    if record is None:
        raise ExportError(f"{kind} '{name}': not in the build manifest (its build failed?)")
    return record


def selected(project: Project, functions: Iterable[str]) -> tuple[list[str], list[str]]:
    """The functions to export (sorted) and the built layers they use (sorted)."""
    names = sorted(functions)
    layers = sorted({n for f in names for n in project.functions[f].layers
                     if project.layers[n].arn is None})
    return names, layers


def _deploy_settings(spec: FunctionSpec) -> dict[str, Any]:
    """Memory, timeout and description when the config sets them (Terraform's names)."""
    out: dict[str, Any] = {}
    if spec.deploy.memory is not None:
        out["memory_size"] = spec.deploy.memory
    if spec.deploy.timeout is not None:
        out["timeout"] = spec.deploy.timeout
    if spec.deploy.description is not None:
        out["description"] = spec.deploy.description
    return out


def terraform_data(project: Project, artifacts: Mapping[str, ArtifactRecord],
                   functions: Iterable[str], base: Path | None) -> dict[str, Any]:
    """The ``forge export terraform`` document: ``functions`` and ``layers`` by name."""
    names, layer_names = selected(project, functions)
    layers: dict[str, Any] = {}
    for name in layer_names:
        record = _record(artifacts, "layer", name)
        runtimes, architectures = layer_compatibility(project, name)
        layers[name] = {"filename": _zip_path(project, record, base),
                        "source_code_hash": record.code_sha256,
                        "compatible_runtimes": runtimes,
                        "compatible_architectures": architectures}
    out: dict[str, Any] = {}
    for name in names:
        spec = project.functions[name]
        record = _record(artifacts, "function", name)
        entry: dict[str, Any] = {
            "filename": _zip_path(project, record, base),
            "source_code_hash": record.code_sha256,
            "handler": spec.handler,
            "runtime": spec.runtime,
            "architectures": [spec.architecture],
            "layers": [{"arn": project.layers[n].arn} if project.layers[n].arn is not None
                       else {"name": n, **{k: layers[n][k] for k in ("filename", "source_code_hash")}}
                       for n in spec.layers],
            **_deploy_settings(spec),
        }
        if spec.environment:
            entry["environment"] = {"variables": dict(sorted(spec.environment.items()))}
        out[name] = entry
    return {"version": EXPORT_VERSION, "project": project.name, "functions": out, "layers": layers}


def render_terraform(data: Mapping[str, Any]) -> str:
    """The Terraform document as text: sorted keys, two-space indent, final newline."""
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


# --------------------------------------------------------------------------- SAM


def logical_ids(names: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """CloudFormation logical IDs (letters and digits only) for ``(kind, name)`` pairs:
    ``orders-api`` → ``ordersApi``; a clash (a layer named like a function, two names
    differing only in punctuation) gets ``Layer``/``Function`` and then a number appended."""
    out: dict[tuple[str, str], str] = {}
    taken: set[str] = set()
    for kind, name in sorted(names, key=lambda kn: (kn[0] != "function", kn[1])):
        parts = [p for p in re.split(r"[^A-Za-z0-9]+", name) if p]
        base = (parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])) if parts else kind
        candidate = base
        if candidate in taken:
            candidate = base + kind.capitalize()
        n = 2
        while candidate in taken:
            candidate, n = f"{base}{kind.capitalize()}{n}", n + 1
        taken.add(candidate)
        out[(kind, name)] = candidate
    return out


def sam_resources(project: Project, artifacts: Mapping[str, ArtifactRecord],
                  functions: Iterable[str], base: Path | None) -> dict[str, Any]:
    """The ``Resources`` of the SAM template, by logical ID (sorted)."""
    names, layer_names = selected(project, functions)
    ids = logical_ids([*(("function", n) for n in names), *(("layer", n) for n in layer_names)])
    resources: dict[str, Any] = {}
    for name in layer_names:
        record = _record(artifacts, "layer", name)
        runtimes, architectures = layer_compatibility(project, name)
        resources[ids[("layer", name)]] = {
            "Type": "AWS::Serverless::LayerVersion",
            "Properties": {"ContentUri": _zip_path(project, record, base),
                           "CompatibleRuntimes": runtimes,
                           "CompatibleArchitectures": architectures}}
    for name in names:
        spec = project.functions[name]
        record = _record(artifacts, "function", name)
        props: dict[str, Any] = {
            "CodeUri": _zip_path(project, record, base),
            "Handler": spec.handler,
            "Runtime": spec.runtime,
            "Architectures": [spec.architecture],
        }
        if spec.layers:
            props["Layers"] = [project.layers[n].arn if project.layers[n].arn is not None
                               else {"Ref": ids[("layer", n)]} for n in spec.layers]
        settings = _deploy_settings(spec)
        for key, sam_key in (("memory_size", "MemorySize"), ("timeout", "Timeout"),
                             ("description", "Description")):
            if key in settings:
                props[sam_key] = settings[key]
        if spec.environment:
            props["Environment"] = {"Variables": dict(sorted(spec.environment.items()))}
        resources[ids[("function", name)]] = {
            "Type": "AWS::Serverless::Function", "Properties": props,
            "Metadata": {"lambdaforge": {"name": name, "code_sha256": record.code_sha256}}}
    return dict(sorted(resources.items()))


def sam_template(project: Project, artifacts: Mapping[str, ArtifactRecord],
                 functions: Iterable[str], base: Path | None) -> str:
    """The ``forge export sam`` template as YAML text."""
    doc = {"AWSTemplateFormatVersion": "2010-09-09",
           "Transform": "AWS::Serverless-2016-10-31",
           "Description": f"lambdaforge project {project.name}: functions built by forge",
           "Resources": sam_resources(project, artifacts, functions, base)}
    header = (f"# Written by `forge export sam` from {project.config_file.name}: deploy it as is,\n"
              "# or merge its Resources into your template. Regenerate after each build.\n")
    return header + "".join(_yaml(doc, 0))


def _scalar(value: Any) -> str:
    """A YAML scalar: numbers and booleans bare, every string double-quoted (JSON's escapes
    are YAML's, so nothing is ever read back as another type)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return json.dumps(str(value))


#: plain keys YAML 1.1 (PyYAML) would read as booleans or null
_YAML_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"})


def _key(key: str) -> str:
    """A mapping key: plain when it is a simple word, else quoted (an environment
    variable named ``ON`` must stay a string)."""
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", key) and key.lower() not in _YAML_WORDS:
        return key
    return json.dumps(key)


def _yaml(value: Any, indent: int) -> Iterable[str]:
    """Block-style YAML lines for mappings and lists of plain data; lists of scalars in
    flow style."""
    pad = "  " * indent
    if isinstance(value, Mapping):
        for raw_key, item in value.items():
            key = _key(raw_key)
            if isinstance(item, Mapping) and item:
                yield f"{pad}{key}:\n"
                yield from _yaml(item, indent + 1)
            elif isinstance(item, list) and item and not all(
                    isinstance(v, (str, int, float, bool)) for v in item):
                yield f"{pad}{key}:\n"
                yield from _yaml(item, indent + 1)
            elif isinstance(item, list):
                yield f"{pad}{key}: [{', '.join(_scalar(v) for v in item)}]\n"
            elif isinstance(item, Mapping):
                yield f"{pad}{key}: {{}}\n"
            else:
                yield f"{pad}{key}: {_scalar(item)}\n"
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, Mapping):
                lines = list(_yaml(item, indent + 1))
                yield f"{pad}- {lines[0].lstrip()}" if lines else f"{pad}- {{}}\n"
                yield from lines[1:]
            else:
                yield f"{pad}- {_scalar(item)}\n"
