"""The plan cache: the resolved project, its target graph and every target's key, as JSON.

A full build writes it beside the replay record: ``.forge/state/plan.json`` holds the project
and the graph, ``plan-keys.json`` the keys, tied together by a random generation token (a
keys file of another generation is no plan cache). An incremental build, whose project and
graph are the cached ones, rewrites only the keys: its bookkeeping does not grow with the
size of the project's settings. When a later
build's replay finds that only some targets' inputs changed, and nothing that shapes the
project or the graph did (the replay's ``project`` group held: config files, discover
listings, tools, environment, lambdaforge itself), that build loads this instead of the
config and re-plans only the targets whose observations failed and what depends on them
(``lambdaforge.incremental``): no Pydantic, no networkx, no state file of a target it does
not touch.

JSON, not pickle: a checkout's ``.forge/`` may come from anywhere, and loading it must never
run code. A file of another version, of another shape, or for another build identity is
simply not there. It also holds the strip rules as pathspec compiled them (``strip.remember``),
valid because this cache is only used while the replay's project group, which observes
pathspec's modules, held. A project whose settings or install inputs hold a credential is never
written (credentials never land in state).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from lambdaforge import __version__
from lambdaforge.builders.base import DependencyInputs
from lambdaforge.config.specs import CheckSettings, FunctionDeploy, FunctionSpec, LayerSpec, Project, StripRules
from lambdaforge.remote.settings import RemoteSettings
from lambdaforge.errors import ConfigIssue
from lambdaforge.graph import Target, TargetGraph, TargetKind
from lambdaforge.packaging import strip

PLAN_VERSION = 4
PLAN_NAME = "plan.json"
KEYS_NAME = "plan-keys.json"


def _tuples(value: Any) -> Any:
    """JSON lists back to the tuples the specs hold (nested lists too)."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def _spec_values(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (v if k == "builder_options" else FunctionDeploy(**v) if k == "deploy"
                else _tuples(v)) for k, v in data.items()}


def _deps_to_json(deps: DependencyInputs) -> dict[str, Any]:
    return {"builder": deps.builder, "runtime": deps.runtime, "architecture": deps.architecture,
            "canonical": deps.canonical, "files": deps.files, "directories": deps.directories,
            "watched": deps.watched, "variables": deps.variables, "file_stats": deps.file_stats,
            "declared_by": deps.declared_by}


def _strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value (nested arrays and tables too)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)


def _has_secret(project: Project, graph: TargetGraph) -> bool:
    """Whether a setting (a builder option such as an index URL), an install's inputs or an
    environment variable (``redact.secret_variable``) hold a credential: such a project gets
    no plan cache."""
    from lambdaforge.redact import has_secret, secret_variable

    specs = [*project.functions.values(), *project.layers.values()]
    variables = [project.check.environment, *(f.environment for f in project.functions.values())]
    return (any(has_secret(text) for s in specs for text in _strings(s.builder_options))
            or any(t.deps is not None and t.deps.secrets for t in graph.targets())
            or any(secret_variable(n, v) for env in variables for n, v in env.items()))


def write(state_dir: Path, identity: Mapping[str, object], project: Project,
          graph: TargetGraph, keys: Mapping[str, str], *, generation: str | None = None) -> None:
    """Write the plan cache of a fully successful build (or remove a stale one when the
    project holds a credential). ``generation``: the token of the plan file this build's
    project and graph were loaded from (an incremental build): only the keys are written."""
    from lambdaforge.fsutil import write_atomic

    if generation is not None:
        _write_keys(state_dir, generation, keys)
        return
    path = state_dir / PLAN_NAME
    if _has_secret(project, graph):
        forget(state_dir)
        return
    generation = os.urandom(8).hex()
    data = {
        "version": PLAN_VERSION,
        "generation": generation,
        "lambdaforge": __version__,
        "identity": dict(identity),
        "project": {
            "config_file": project.config_file.name,
            "name": project.name,
            "cache_dir": str(project.cache_dir),
            "cache_salt": project.cache_salt,
            "functions": {n: s.model_dump(mode="json") for n, s in project.functions.items()},
            "layers": {n: s.model_dump(mode="json") for n, s in project.layers.items()},
            "strip_rules": {n: s.model_dump(mode="json") for n, s in project.strip_rules.items()},
            "config_files": [str(p) for p in project.config_files],
            "discover_globs": project.discover_globs,
            "observed": project.observed,
            "warnings": [[w.file, w.line, w.key, w.message, w.severity] for w in project.warnings],
            "check": project.check.model_dump(mode="json"),
            "remote_cache": (project.remote_cache.to_json()
                             if project.remote_cache is not None else None),
        },
        "targets": [
            {"id": t.id, "kind": t.kind.value, "name": t.name, "builder": t.builder,
             "spec": None if t.spec is None else [
                 "function" if isinstance(t.spec, FunctionSpec) else "layer", t.spec.name],
             "deps": None if t.deps is None else _deps_to_json(t.deps), "checks": t.checks,
             "shared_by": t.shared_by}
            for t in graph.targets()
        ],
        "edges": graph.edges,
        # strip rules compiled to regexes by pathspec: an incremental build then never imports it
        "patterns": strip.translations(project.strip_rules.values()),
    }
    write_atomic(path, json.dumps(data, separators=(",", ":")).encode(), durable=False)
    _write_keys(state_dir, generation, keys)


def _write_keys(state_dir: Path, generation: str, keys: Mapping[str, str]) -> None:
    from lambdaforge.fsutil import write_atomic

    data = {"version": PLAN_VERSION, "generation": generation, "keys": dict(keys)}
    write_atomic(state_dir / KEYS_NAME, json.dumps(data, separators=(",", ":")).encode(),
                 durable=False)


def forget(state_dir: Path) -> None:
    """Drop the plan cache."""
    (state_dir / PLAN_NAME).unlink(missing_ok=True)
    (state_dir / KEYS_NAME).unlink(missing_ok=True)


def load(root: Path, identity: Mapping[str, object]
         ) -> tuple[Project, TargetGraph, dict[str, str], str] | None:
    """The cached project, the graph that build ran (its selection, with or without checks),
    every target's key and the plan's generation token, for ``root``; ``None`` when there is
    none usable (missing, another version, identity or generation, any shape problem)."""
    try:
        state_dir = root / ".forge" / "state"
        data = json.loads((state_dir / PLAN_NAME).read_bytes())
        if (data.get("version") != PLAN_VERSION or data.get("lambdaforge") != __version__
                or data.get("identity") != json.loads(json.dumps(dict(identity)))):
            return None
        stored = json.loads((state_dir / KEYS_NAME).read_bytes())
        generation = data["generation"]
        if (stored.get("version") != PLAN_VERSION or not isinstance(generation, str)
                or stored.get("generation") != generation):
            return None
        p = data["project"]
        functions = {n: FunctionSpec(**_spec_values(v)) for n, v in p["functions"].items()}
        layers = {n: LayerSpec(**_spec_values(v)) for n, v in p["layers"].items()}
        project = Project(
            root=root, config_file=root / p["config_file"], name=p["name"],
            cache_dir=Path(p["cache_dir"]), cache_salt=p["cache_salt"],
            functions=functions, layers=layers,
            strip_rules={n: StripRules(**_spec_values(v)) for n, v in p["strip_rules"].items()},
            config_files=tuple(Path(f) for f in p["config_files"]),
            discover_globs=tuple(tuple(g) for g in p["discover_globs"]),  # type: ignore[misc]
            observed=tuple(p["observed"]),
            warnings=tuple(ConfigIssue(*w) for w in p["warnings"]),
            check=CheckSettings(runtime_packages=tuple(p["check"]["runtime_packages"]),
                                environment=dict(p["check"]["environment"])),
            remote_cache=(RemoteSettings(**p["remote_cache"])
                          if p.get("remote_cache") is not None else None),
        )
        targets: dict[str, Target] = {}
        for t in data["targets"]:
            spec = None
            if t["spec"] is not None:
                kind, name = t["spec"]
                spec = functions[name] if kind == "function" else layers[name]
            deps = None
            if t["deps"] is not None:
                d = t["deps"]
                deps = DependencyInputs(
                    builder=d["builder"], runtime=d["runtime"], architecture=d["architecture"],
                    canonical=_tuples(d["canonical"]), files=_tuples(d["files"]),
                    directories=_tuples(d["directories"]), watched=_tuples(d["watched"]),
                    variables=_tuples(d["variables"]),
                    file_stats=_tuples(d["file_stats"]), declared_by=d["declared_by"])
            targets[t["id"]] = Target(t["id"], TargetKind(t["kind"]), t["name"], t["builder"],
                                      spec=spec, deps=deps, checks=t["checks"],
                                      shared_by=t["shared_by"])
        graph = TargetGraph(targets, [tuple(e) for e in data["edges"]])  # type: ignore[misc]
        keys = stored["keys"]
        if not isinstance(keys, dict) or set(keys) != set(targets):
            return None
        strip.remember(data.get("patterns"))
        return project, graph, {str(k): str(v) for k, v in keys.items()}, generation
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError):
        return None
