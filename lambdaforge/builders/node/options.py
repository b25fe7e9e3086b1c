"""The Node.js builder's options model: the keys of ``lambdaforge.toml`` only the Node.js
builder reads (bundling with esbuild, npm install scripts). Imported only while the config
is validated and the schema written (it needs Pydantic); builders read the resolved values
through ``settings.NodeSettings``."""

from __future__ import annotations

from pydantic import Field

from lambdaforge.builders.node.settings import Bundler, NodeSettings
from lambdaforge.config.models import BuilderOptions

_DEFAULT = NodeSettings()


class NodeOptions(BuilderOptions):
    """``bundle``, ``minify``, ``sourcemap``, ``external`` and ``allow-scripts`` of a function
    or layer built by the Node.js builder."""

    bundle: Bundler = Field(
        _DEFAULT.bundle,
        description="Node.js: bundle the handler with `esbuild`, or `none` (default).",
    )
    minify: bool = Field(_DEFAULT.minify, description="Node.js bundling: minify. Default: false.")
    sourcemap: bool = Field(
        _DEFAULT.sourcemap, description="Node.js bundling: emit and ship a source map. Default: false."
    )
    external: tuple[str, ...] = Field(
        _DEFAULT.external,
        description="Node.js bundling: modules left out of the bundle. `@aws-sdk/*` is always external.",
    )
    allow_scripts: bool = Field(
        _DEFAULT.allow_scripts, description="Node.js: run npm install scripts. Default: false."
    )
