"""The Python builder's options model: the keys of ``lambdaforge.toml`` only the Python
builder reads (which installer, which package indexes, which interpreter the smoke test
uses). Imported only while the config is validated and the schema written (it needs
Pydantic); builders read the resolved values through ``settings.PythonSettings``."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from lambdaforge.builders.python.settings import Installer, PythonSettings
from lambdaforge.config.models import BuilderOptions

_DEFAULT = PythonSettings()


class PythonOptions(BuilderOptions):
    """``installer``, ``index-url``, ``extra-index-urls``, ``find-links``, ``no-index``,
    ``interpreter``, ``groups``, ``extras``, ``locked`` and ``use-container`` of a function or layer built by
    the Python builder."""

    PATHS: ClassVar[dict[str, str]] = {"find-links": "path"}

    installer: Installer = Field(
        _DEFAULT.installer, description="Python dependency installer: `uv` (default) or `pip`."
    )
    index_url: str | None = Field(
        _DEFAULT.index_url, description="Package index URL replacing PyPI."
    )
    extra_index_urls: tuple[str, ...] = Field(
        _DEFAULT.extra_index_urls, description="Additional package index URLs."
    )
    find_links: tuple[str, ...] = Field(
        _DEFAULT.find_links,
        description="Local wheel folders (relative to this file) or URLs to look for packages in.",
    )
    no_index: bool = Field(
        _DEFAULT.no_index, description="Use only `find-links`, never an index. Default: false."
    )
    interpreter: str | None = Field(
        _DEFAULT.interpreter,
        description="Python interpreter for the import smoke test. Default: `pythonX.Y` of the "
        "runtime found on PATH or in pyenv.",
    )
    groups: tuple[str, ...] = Field(
        _DEFAULT.groups,
        description="Dependency groups of a poetry.lock, a uv.lock or a pyproject.toml's "
        "[dependency-groups] shipped besides the main one (not for requirements files). "
        "Default: none (dev and test groups are never shipped unless named).",
    )
    extras: tuple[str, ...] = Field(
        _DEFAULT.extras,
        description="Extras of the project (poetry.lock, uv.lock, pyproject.toml) whose "
        "optional packages are shipped (not for requirements files). Default: none.",
    )
    locked: bool = Field(
        _DEFAULT.locked,
        description="A uv.lock out of date with its pyproject.toml is an error (run `uv lock`). "
        "`false` uses the lock as it is. Default: true.",
    )
    use_container: bool = Field(
        _DEFAULT.use_container,
        description="Build native code (sdists without a matching wheel, local packages with C "
        "extensions) inside the runtime's build image (public.ecr.aws/sam/build-pythonX.Y) with "
        "docker or podman, even when this machine could build it. Default: false (this machine "
        "when it matches the target, else a container when an engine answers).",
    )
