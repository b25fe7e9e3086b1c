"""The deploy record: what ``forge deploy`` last deployed, per stage.

``.forge/deploy/<stage>.json`` (``default.json`` without a stage) maps each function to the
Lambda function (name and ARN), the ``CodeSha256`` Lambda confirmed, the last version forge
published and the alias it moved, and the layer version ARNs it attached; each built layer
to its last version. It is a memory, not the truth: the live ``CodeSha256`` still decides
what is uploaded. What it adds is the third point that tells drift from change: live code
that is neither what forge deployed nor what it is about to deploy was changed behind
forge's back. Written atomically after every deploy that was carried out, and only when its
content changed; a failed function keeps its previous entry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msgspec import Struct, field

from lambdaforge.fsutil import write_atomic

if TYPE_CHECKING:
    from lambdaforge.deploy.apply import Outcome
    from lambdaforge.deploy.plan import DeployPlan

#: Bumped when the shape changes; a record of another version is ignored (not an error).
RECORD_VERSION = 1


def record_path(root: Path, stage: str | None) -> Path:
    """Where the record of ``stage`` lives under the project ``root``."""
    return root / ".forge" / "deploy" / f"{stage or 'default'}.json"


class DeployRecord(Struct):
    """The record of one stage: entries by forge's function and layer names."""

    path: Path
    stage: str | None = None
    functions: dict[str, dict[str, Any]] = field(default_factory=dict)
    layers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def function(self, name: str, arn: str | None) -> dict[str, Any] | None:
        """The entry of function ``name`` if it is about the same Lambda function (``arn``:
        another region or account is another function, and the entry says nothing of it)."""
        entry = self.functions.get(name)
        if entry is None or arn is None or entry.get("arn") != arn:
            return None
        return entry

    def update(self, plan: DeployPlan, outcomes: list[Outcome]) -> None:
        """Take in what a deploy left on Lambda: every function and layer that did not
        fail (``unchanged`` ones too: Lambda holds what forge would deploy); a failed or
        skipped one keeps its previous entry."""
        functions = {fp.name: fp for fp in plan.functions}
        layers = {lp.name: lp for lp in plan.layers}
        for outcome in outcomes:
            if not outcome.ok or outcome.code_sha256 is None:
                continue
            if outcome.kind == "layer":
                lp = layers[outcome.name]
                self.layers[outcome.name] = {"lambda_name": lp.lambda_name, "arn": outcome.arn,
                                             "version": outcome.version,
                                             "code_sha256": outcome.code_sha256}
                continue
            fp = functions[outcome.name]
            before = self.function(fp.name, outcome.arn) or {}
            # a version forge published stays the function's last one until it publishes
            # another, and so does the alias it moved
            version = outcome.version or before.get("version")
            alias = ({"name": fp.alias, "version": version} if fp.alias and version
                     else before.get("alias"))
            self.functions[fp.name] = {"lambda_name": fp.lambda_name, "arn": outcome.arn,
                                       "code_sha256": outcome.code_sha256, "version": version,
                                       "alias": alias, "layers": outcome.layers}

    def to_json(self) -> dict[str, Any]:
        """The file's content."""
        return {"version": RECORD_VERSION, "stage": self.stage,
                "functions": dict(sorted(self.functions.items())),
                "layers": dict(sorted(self.layers.items()))}

    def save(self) -> bool:
        """Write the record atomically (readers see the old or the new one) unless the file
        already holds it; returns whether it wrote."""
        data = (json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n").encode()
        try:
            if self.path.read_bytes() == data:
                return False
        except OSError:
            pass
        write_atomic(self.path, data, durable=True)
        return True


def load_record(root: Path, stage: str | None) -> DeployRecord:
    """The record of ``stage``; an empty one when there is none or it cannot be read (a
    record is never needed to deploy: the live state decides)."""
    path = record_path(root, stage)
    record = DeployRecord(path=path, stage=stage)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return record
    if not isinstance(data, dict) or data.get("version") != RECORD_VERSION:
        return record
    functions, layers = data.get("functions"), data.get("layers")
    if isinstance(functions, dict):
        record.functions = {k: v for k, v in functions.items() if isinstance(v, dict)}
    if isinstance(layers, dict):
        record.layers = {k: v for k, v in layers.items() if isinstance(v, dict)}
    return record
