"""The effective (merged, resolved) config as data, for ``forge config``.

Keys are spelled as in ``lambdaforge.toml`` (kebab-case) so the output reads like a config
file a user could have written, and so ``--show-origin`` keys match ``Project.origins``.
Environment variables taken for secrets (``redact.secret_variable``) show as ``***``.
"""

from __future__ import annotations

import os
from typing import Any

from lambdaforge.config.locate import dotted
from lambdaforge.config.models import Project, kebab
from lambdaforge.redact import shown_variables


def _settings(spec: Any, keep_none: bool) -> dict[str, Any]:
    data = spec.model_dump(exclude={"name"})
    # A builder's options read as the keys the user wrote next to the others (they are
    # stored by TOML key already); its tables of variables as `environment` is shown.
    options = data.pop("builder_options", None) or {}
    data.update({k: shown_variables(v) if k in _env_options(spec.builder) and isinstance(v, dict) else v
                 for k, v in options.items()})
    data.update(data.pop("deploy", None) or {})  # a function's role, memory…: keys of its table
    if "environment" in data:  # a function's: a secret's value is not printed
        data["environment"] = shown_variables(data["environment"])
    return {kebab(k): v for k, v in data.items() if keep_none or v is not None}


def _env_options(builder: str) -> tuple[str, ...]:
    """The options of the builder named ``builder`` that are tables of variables
    (``Builder.ENV_OPTIONS``); none for a builder that cannot be loaded (it was reported)."""
    from lambdaforge.builders import BuilderRegistry
    from lambdaforge.errors import ConfigError, PluginError

    try:
        return BuilderRegistry().builder_class(builder).ENV_OPTIONS
    except (ConfigError, PluginError):  # unknown, or a plugin that fails to load: validation said so
        return ()


def effective_config(project: Project, keep_none: bool = False) -> dict[str, Any]:
    """Every effective value; ``keep_none`` keeps unset ones (``null`` in JSON, absent in
    TOML, which has no null)."""
    cache_dir = project.cache_dir
    shown_cache = os.path.relpath(cache_dir, project.root) if cache_dir.is_relative_to(project.root) else str(cache_dir)
    return {
        "project": {
            "name": project.name,
            "cache-dir": shown_cache.replace(os.sep, "/"),
            "cache-salt": project.cache_salt,
        },
        "strip-rules": {
            name: {"exclude": list(rules.exclude), "keep": list(rules.keep)}
            for name, rules in project.strip_rules.items()
        },
        "layers": {name: _settings(spec, keep_none) for name, spec in project.layers.items()},
        "functions": {name: _settings(spec, keep_none) for name, spec in project.functions.items()},
        "check": {
            "runtime-packages": list(project.check.runtime_packages),
            "environment": shown_variables(project.check.environment),
        },
        "deploy": {k: v for k, v in project.deploy.model_dump().items()
                   if keep_none or v is not None},
    }


def flatten(document: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, Any]]:
    """``(dotted key, value)`` for every leaf, in document order."""
    rows: list[tuple[str, Any]] = []
    for name, item in document.items():
        path = (*prefix, name)
        if isinstance(item, dict):
            rows.extend(flatten(item, path))
        else:
            rows.append((dotted(path), item))
    return rows
