"""The Node.js builder's options of one resolved function or layer, as plain data.

What the builder reads while planning and building (``NodeSettings.of(spec)``); the
Pydantic model users' values are validated with is ``options.NodeOptions``, whose fields
and defaults are these (a test holds them together). No Pydantic here: an incremental build
re-bundles a changed function without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lambdaforge.builders.base import OptionValues

Bundler = Literal["none", "esbuild"]


@dataclass(frozen=True, kw_only=True)
class NodeSettings(OptionValues):
    """Bundling (``bundle`` and esbuild's options) and npm's script policy."""

    bundle: Bundler = "none"
    minify: bool = False
    sourcemap: bool = False
    external: tuple[str, ...] = ()
    allow_scripts: bool = False
