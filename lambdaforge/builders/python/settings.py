"""The Python builder's options of one resolved function or layer, as plain data.

What the builder reads while planning and building (``PythonSettings.of(spec)``); the
Pydantic model users' values are validated with is ``options.PythonOptions``, whose fields
and defaults are these (a test holds them together). No Pydantic here: an incremental build
plans without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lambdaforge.builders.base import OptionValues

Installer = Literal["uv", "pip"]


@dataclass(frozen=True, kw_only=True)
class PythonSettings(OptionValues):
    """``installer``, the index settings and the smoke test's ``interpreter``.

    ``find_links`` entries are project-relative POSIX paths (the config resolves them
    relative to the file that wrote them) or URLs.
    """

    installer: Installer = "uv"
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    interpreter: str | None = None
