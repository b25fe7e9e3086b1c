"""Which of the Lambda runtime's own packages the import smoke test installs, per runtime.

The defaults are ``lambda_facts``' tables (boto3 & co. for Python, one AWS SDK v3 version
for Node.js); ``[check] runtime-packages`` replaces them, one list for both languages: an
entry starting with ``@`` is a Node.js spec (``@aws-sdk/client-s3@3.700.0``, or
``@aws-sdk/*@3.700.0`` for every client), anything else a Python requirement
(``boto3==1.35.0``). Any Python entry replaces the whole Python list (boto3 pins botocore,
so pinning one alone would not resolve); Node.js entries pin the packages they name over
the runtime's SDK version.

Plain data and strings only: the config validates entries with ``runtime_package_problem``
and the planner keys checks by ``python_requirements`` / ``NodeSdk.key``, without
importing a builder.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from msgspec import Struct, field

from lambdaforge import lambda_facts

#: ``@aws-sdk/client-s3@3.700.0``, ``@aws-sdk/*@^3.600.0``: a scope, a name (or ``*``), a version
_NODE_SPEC = re.compile(r"(@aws-sdk/(?:\*|[a-z0-9][a-z0-9._-]*))@(\S+)")


def is_node_entry(entry: str) -> bool:
    """Whether an entry of ``[check] runtime-packages`` is for Node.js (npm specs are
    scoped: ``@aws-sdk/…``); the others are Python requirements."""
    return entry.startswith("@")


def runtime_package_problem(entry: str) -> str | None:
    """Why an entry of ``[check] runtime-packages`` cannot be used, or ``None``."""
    if is_node_entry(entry):
        if _NODE_SPEC.fullmatch(entry) is None:
            return (f"'{entry}' is not an AWS SDK package spec: write '@aws-sdk/NAME@VERSION' "
                    "(or '@aws-sdk/*@VERSION' for every client)")
        return None
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        req = Requirement(entry)
    except InvalidRequirement as exc:
        return f"'{entry}' is not a valid Python requirement: {exc}"
    if req.url:
        return f"'{entry}': name a version, not a URL (the index settings say where from)"
    return None


def python_requirements(runtime: str, override: Sequence[str] = ()) -> tuple[str, ...]:
    """Requirement lines of a Python runtime's own packages: the override's Python entries
    when there are any, else ``lambda_facts.PYTHON_RUNTIME_PACKAGES`` (empty for a runtime
    it does not list)."""
    own = tuple(e for e in override if not is_node_entry(e))
    return own or lambda_facts.PYTHON_RUNTIME_PACKAGES.get(runtime, ())


class NodeSdk(Struct, frozen=True):
    """The AWS SDK v3 a Node.js runtime ships: one version for every ``@aws-sdk/*`` package
    (``None``: the newest 3.x), with per-package pins from the override."""

    version: str | None
    pins: dict[str, str] = field(default_factory=dict)

    def spec(self, package: str) -> str:
        """The npm spec installing ``package`` as the runtime has it: ``name@version``."""
        return f"{package}@{self.pins.get(package) or self.version or '3'}"

    @property
    def key(self) -> list[str]:
        """What a check's key takes of it: the version and every pin, sorted."""
        return [f"@aws-sdk/*@{self.version or '3'}", *(f"{n}@{v}" for n, v in sorted(self.pins.items()))]


def node_sdk(runtime: str, override: Sequence[str] = ()) -> NodeSdk:
    """The SDK of a Node.js runtime (``lambda_facts.NODE_SDK_VERSIONS``) with the override's
    Node.js entries applied (``@aws-sdk/*@V`` replaces the version)."""
    version = lambda_facts.NODE_SDK_VERSIONS.get(runtime)
    pins: dict[str, str] = {}
    for entry in override:
        match = _NODE_SPEC.fullmatch(entry) if is_node_entry(entry) else None
        if match is None:
            continue
        name, wanted = match.groups()
        if name == "@aws-sdk/*":
            version = wanted
        else:
            pins[name] = wanted
    return NodeSdk(version, pins)
