"""The build manifest, ``.forge/build/manifest.json`` (design §4).

One record per artifact, enough for a deploy step to upload and verify: what it is, where it
is, how big, and its digests (``code_sha256`` as Lambda reports ``CodeSha256``: the base64 of
the zip's SHA-256).
"""

from __future__ import annotations

import json
from pathlib import Path

from msgspec import Struct, field

from lambdaforge.fsutil import write_atomic

MANIFEST_VERSION = 1


class ArtifactRecord(Struct, frozen=True):
    """One function or layer zip in the manifest."""

    name: str
    kind: str  # "function" | "layer"
    runtime: str
    architecture: str
    handler: str | None
    layers: list[str]
    path: str  # relative to the project root, POSIX
    size: int
    unzipped_size: int
    sha256: str
    code_sha256: str
    key: str
    #: of ``layers``, those referenced by ARN (deployed as given): name → layer version ARN
    layer_arns: dict[str, str] = field(default_factory=dict)


_FIELDS = ArtifactRecord.__struct_fields__


class ManifestFile(Struct, frozen=True):
    """An existing manifest as read once: its artifacts by ``kind:name``, the config file it
    was written for (``None`` when unknown) and its exact text (``None`` when there is no
    readable file), so a build compares its new text without reading the file again."""

    artifacts: dict[str, ArtifactRecord]
    config: str | None
    text: str | None


def load_manifest(path: Path) -> ManifestFile:
    """The manifest at ``path``. Unreadable, of another version or of a wrong shape, its
    artifacts read as empty (it is rewritten by the next build)."""
    try:
        text = path.read_text()
    except (OSError, ValueError):
        return ManifestFile({}, None, None)
    try:
        data = json.loads(text)
        config = data.get("config")
        config = config if isinstance(config, str) else None
    except (ValueError, AttributeError):
        return ManifestFile({}, None, text)
    try:
        if data.get("version") != MANIFEST_VERSION:
            return ManifestFile({}, config, text)
        artifacts = {f"{a['kind']}:{a['name']}": ArtifactRecord(**a) for a in data["artifacts"]}
    except (ValueError, TypeError, KeyError):
        return ManifestFile({}, config, text)
    return ManifestFile(artifacts, config, text)


def read_manifest(path: Path) -> dict[str, ArtifactRecord]:
    """Artifacts of an existing manifest by ``kind:name``; an unreadable or other-version
    manifest reads as empty (it is rewritten by the next build)."""
    return load_manifest(path).artifacts


def manifest_config(path: Path) -> str | None:
    """The config file (its name, relative to the project root) an existing manifest was
    written for; ``None`` when unknown. Several config files may share one ``.forge/``."""
    return load_manifest(path).config


def _as_json(record: ArtifactRecord) -> dict[str, object]:
    # A plain field copy (``dataclasses.asdict`` deep-copied every value: a tenth of an
    # incremental build's bookkeeping at 200 functions). The values are JSON already.
    return {name: getattr(record, name) for name in _FIELDS}


def render_manifest(project_name: str, artifacts: dict[str, ArtifactRecord],
                    config: str | None = None) -> str:
    """The manifest text: stable order and formatting, so an unchanged build rewrites nothing.
    ``config`` names the config file it was built from."""
    # One artifact per line: diffs stay per artifact, and the C encoder does the work (an
    # ``indent`` forces json's pure-Python encoder: most of an incremental build's
    # bookkeeping at 200 functions).
    head = {"version": MANIFEST_VERSION, "project": project_name,
            **({"config": config} if config is not None else {})}
    lines = [json.dumps(_as_json(artifacts[k]), sort_keys=True) for k in sorted(artifacts)]
    body = ",\n    ".join(lines)
    fields_text = "".join(f"  {json.dumps(k)}: {json.dumps(head[k])},\n" for k in sorted(head))
    artifacts_text = f"[\n    {body}\n  ]" if lines else "[]"
    return "{\n" + f'  "artifacts": {artifacts_text},\n' + fields_text.rstrip(",\n") + "\n}\n"


def write_if_changed(path: Path, text: str, current: str | None = None) -> bool:
    """Atomically write ``text`` unless the file already holds exactly it (``current``: its
    text as just read, when the caller has it); True if written."""
    if current is None:
        try:
            current = path.read_text()
        except (OSError, ValueError):
            current = None
    if current == text:
        return False
    # 0644: mkstemp's 0600 would hide it from a deploy step running as another user
    write_atomic(path, text.encode("utf-8"), durable=False, mode=0o644)
    return True
