"""The Python builder's options of one resolved function or layer, as plain data.

What the builder reads while planning and building (``PythonSettings.of(spec)``); the
Pydantic model users' values are validated with is ``options.PythonOptions``, whose fields
and defaults are these (a test holds them together). No Pydantic here: an incremental build
plans without it.
"""

from __future__ import annotations

from typing import Literal

from msgspec import Struct

from lambdaforge.builders.base import OptionValues

Installer = Literal["uv", "pip"]


class PythonSettings(OptionValues, Struct, frozen=True, kw_only=True):
    """``installer``, the index settings, the smoke test's ``interpreter``, and which
    groups and extras of a lock are shipped (``locked``: whether a stale uv.lock is an error).

    ``find_links`` entries are project-relative POSIX paths (the config resolves them
    relative to the file that wrote them) or URLs.
    """

    installer: Installer = "uv"
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    interpreter: str | None = None
    #: dependency groups shipped besides the main one (Poetry ``[tool.poetry.group.X]``,
    #: uv ``[dependency-groups]``); dev and test groups only when named here
    groups: tuple[str, ...] = ()
    #: optional extras of the project to ship (Poetry ``[tool.poetry.extras]``, uv
    #: ``[project.optional-dependencies]``)
    extras: tuple[str, ...] = ()
    #: a uv.lock out of date with its pyproject.toml is an error (``false``: use it as it is)
    locked: bool = True
    #: native code (sdists, local packages) built in the runtime's build image with
    #: docker/podman even when this machine could build it (``containerbuild``)
    use_container: bool = False
