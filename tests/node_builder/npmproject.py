"""Builds small npm projects for the Node builder tests, with no registry.

Local packages are directories (``file:`` dependencies) or tarballs written here with
``tarfile`` in npm's layout (``package/…``), which is faster than ``npm pack``. Lockfiles
are generated with ``npm install --package-lock-only --offline --install-links``, which
works without a registry when every dependency is local.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from lambdaforge.builders.node.bundle import ESBUILD_ENV, ESBUILD_VERSION
from lambdaforge.builders.node.settings import NodeSettings
from lambdaforge.config.models import FunctionSpec, LayerSpec, Project
from tests.support.specs import spec_values

#: Nothing listens there: an accidental registry request fails at once instead of hanging.
UNREACHABLE_REGISTRY = "http://127.0.0.1:9/"

#: Bundling tests need the pinned esbuild: offline, ``FORGE_ESBUILD`` names one.
needs_esbuild = pytest.mark.skipif(
    not os.environ.get(ESBUILD_ENV),
    reason=f"esbuild {ESBUILD_VERSION} is not available offline: set {ESBUILD_ENV} to an esbuild "
    f"{ESBUILD_VERSION} binary (e.g. `npm install --prefix DIR esbuild@{ESBUILD_VERSION} --ignore-scripts`), "
    "or run `pytest -m network`",
)


def call(bundle_file: Path, event: dict) -> object:
    """Load the bundle with node alone (no NODE_PATH, from its own directory) and call the handler."""
    script = (
        "const { pathToFileURL } = require('node:url');"
        f"import(pathToFileURL({json.dumps(str(bundle_file))}).href)"
        f".then(m => (m.handler || m.default.handler)({json.dumps(event)}))"
        ".then(r => console.log(JSON.stringify(r)))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("NODE_PATH", "NODE_OPTIONS")}
    out = subprocess.run(["node", "-e", script], cwd=bundle_file.parent, env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON, creating parent directories."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def write_package(directory: Path, manifest: dict[str, Any], files: dict[str, str]) -> Path:
    """A local package directory: package.json plus ``files`` (relative path → text)."""
    write_json(directory / "package.json", manifest)
    for rel, text in files.items():
        (directory / rel).parent.mkdir(parents=True, exist_ok=True)
        (directory / rel).write_text(text, encoding="utf-8")
    return directory


def write_tarball(path: Path, manifest: dict[str, Any], files: dict[str, str | bytes]) -> Path:
    """An npm package tarball (entries under ``package/``, fixed mtimes: byte-stable);
    ``files`` map relative paths to text or bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = {"package.json": json.dumps(manifest, indent=2), **files}
    buf = io.BytesIO()
    # gzip embeds a timestamp unless told otherwise: mtime=0 keeps the bytes identical.
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz, tarfile.open(
        fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT
    ) as tar:
        for rel, text in sorted(entries.items()):
            data = text if isinstance(text, bytes) else text.encode()
            info = tarfile.TarInfo(f"package/{rel}")
            info.size, info.mtime, info.mode = len(data), 499162500, 0o644
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buf.getvalue())
    return path


def npm_env(cache: Path) -> dict[str, str]:
    """Environment for npm calls made by tests themselves."""
    return {**os.environ, "npm_config_registry": UNREACHABLE_REGISTRY, "npm_config_cache": str(cache),
            "npm_config_update_notifier": "false", "npm_config_fetch_retries": "0"}


def lock(package_dir: Path, cache: Path) -> Path:
    """Generate ``package-lock.json`` offline (local dependencies only)."""
    subprocess.run(
        ["npm", "install", "--package-lock-only", "--offline", "--install-links",
         "--ignore-scripts", "--no-audit", "--no-fund"],
        cwd=package_dir, env=npm_env(cache), check=True, capture_output=True, text=True,
    )
    return package_dir / "package-lock.json"


def tree_digest(root: Path) -> dict[str, tuple[int, str]]:
    """Relative path → (permission bits, sha256) of every file; symlinks are recorded too."""
    out: dict[str, tuple[int, str]] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = (-1, os.readlink(path))
        elif path.is_file():
            out[rel] = (path.stat().st_mode & 0o777, hashlib.sha256(path.read_bytes()).hexdigest())
    return out


def function_spec(name: str, source: str, handler: str = "index.handler", **settings: Any) -> FunctionSpec:
    """A resolved function with the built-in defaults and a Node.js runtime."""
    values = spec_values(NodeSettings, {"runtime": "nodejs22.x", **settings})
    return FunctionSpec(name=name, source=source, handler=handler, layers=(), **values)


def layer_spec(name: str, source: str | None, **settings: Any) -> LayerSpec:
    """A resolved layer with the built-in defaults and a Node.js runtime."""
    values = spec_values(NodeSettings, {"runtime": "nodejs22.x", **settings})
    return LayerSpec(name=name, source=source, **values)


def project(root: Path, functions: list[FunctionSpec] = (), layers: list[LayerSpec] = ()) -> Project:
    """A resolved project rooted at ``root``."""
    return Project(
        root=root, config_file=root / "lambdaforge.toml", name="t", cache_dir=root / ".forge/cache",
        cache_salt="", functions={f.name: f for f in functions}, layers={la.name: la for la in layers},
        strip_rules={},
    )


def copy_project(template: Path, dest: Path) -> Path:
    """A fresh copy of a template project (tests mutate their copy freely)."""
    shutil.copytree(template, dest, symlinks=True)
    return dest
