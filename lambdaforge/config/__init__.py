"""The project configuration: find ``lambdaforge.toml``, load, merge, validate, resolve.

``load_project`` is the one entry point later stages use; it returns a ``Project`` with
every value decided, or raises ``ConfigError`` listing every problem at once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from lambdaforge.errors import ConfigError, UsageError

#: The file ``forge`` looks for, walking up from the working directory.
CONFIG_NAME = "lambdaforge.toml"

if TYPE_CHECKING:  # the models import pydantic: keep it out of this module's import
    from lambdaforge.config.builder_options import BuilderCatalog
    from lambdaforge.config.models import Project

__all__ = ["CONFIG_NAME", "find_config", "load_project"]


def find_config(start: Path) -> Path:
    """The nearest ``lambdaforge.toml`` in ``start`` or a parent directory (as git finds
    ``.git``). Raises ``UsageError`` when there is none."""
    start = Path(os.path.abspath(start))
    for directory in (start, *start.parents):
        candidate = directory / CONFIG_NAME
        if candidate.is_file():
            return candidate
        if candidate.is_dir():
            raise UsageError(f"{candidate} is a directory, not a config file (use -C DIR or -c FILE)")
    raise UsageError(
        f"no {CONFIG_NAME} in {start} or any parent directory (use -C DIR or -c FILE)"
    )


def load_project(
    config_path: Path | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    builders: "BuilderCatalog | None" = None,
) -> "Project":
    """Load, merge, validate and resolve a project's configuration.

    ``config_path`` (relative to ``cwd``) defaults to the nearest ``lambdaforge.toml`` above
    ``cwd`` (default: the working directory). ``env`` (default ``os.environ``) supplies
    ``FORGE_CACHE_DIR``. ``builders`` answers which builders exist, the runtimes they serve
    and their options (default: a ``lambdaforge.builders.BuilderRegistry``). File names in
    errors are relative to ``cwd``, as a user types them. Warnings (deprecated runtimes, …)
    are returned on ``Project.warnings``.
    """
    from pydantic import ValidationError

    from lambdaforge.config.builder_options import check_values, split_options
    from lambdaforge.config.loader import load_chain, merge
    from lambdaforge.config.models import ConfigFile
    from lambdaforge.config.resolve import resolve, unique_issues
    from lambdaforge.config.translate import translate

    if builders is None:
        # The one place the config meets the builders above it: it is handed a catalogue
        # rather than importing one, so its callers (and tests) may pass their own.
        from lambdaforge.builders import BuilderRegistry

        builders = BuilderRegistry()

    cwd = Path(os.path.realpath(cwd or Path.cwd()))
    if config_path is None:
        config_path = find_config(cwd)
    config_path = Path(os.path.realpath(cwd / config_path))
    if config_path.is_dir():
        raise UsageError(f"{config_path} is a directory, not a config file")
    if not config_path.is_file():
        raise UsageError(f"config file not found: {config_path}")
    root = config_path.parent
    merged = merge(load_chain(config_path, root, cwd))
    data, options = split_options(merged.data, builders)
    # Type and unknown-key errors first, the core settings' and the builder options' together.
    issues = [merged.issue(path, message) for path, message in check_values(options, builders)]
    try:
        config = ConfigFile.model_validate(data, strict=True)
    except ValidationError as exc:
        issues += translate(exc, merged, options.owners)
    if issues:
        raise ConfigError(unique_issues(issues))
    project, issues = resolve(config, merged, root, config_path, cwd,
                              os.environ if env is None else env, options, builders)
    if project is None:
        raise ConfigError(issues)
    return project
