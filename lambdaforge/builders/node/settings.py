"""The Node.js builder's options of one resolved function or layer, as plain data.

What the builder reads while planning and building (``NodeSettings.of(spec)``); the
Pydantic model users' values are validated with is ``options.NodeOptions``, whose fields
and defaults are these (a test holds them together). No Pydantic here: an incremental build
re-bundles a changed function without it. The esbuild options carry SAM's names and meaning
(``Metadata.BuildProperties`` of a ``BuildMethod: esbuild`` function, in kebab case).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from msgspec import Struct, field

from lambdaforge.builders.base import OptionValues

Bundler = Literal["none", "esbuild"]
Format = Literal["cjs", "esm"]


class NodeSettings(OptionValues, Struct, frozen=True, kw_only=True):
    """Bundling (``bundle`` and esbuild's options) and npm's script policy."""

    bundle: Bundler = "none"
    #: esbuild ``--target``; ``None``: ``node<major>`` of the runtime
    target: str | None = None
    #: ``None``: ESM for a ``.mjs``/``.mts`` handler or a ``"type": "module"`` package, else CJS
    format: Format | None = None
    minify: bool = False
    sourcemap: bool = False
    external: tuple[str, ...] = ()
    #: file extension → esbuild loader (SAM's ``Loader: [".reference=json"]``)
    loader: Mapping[str, str] = field(default_factory=dict)
    #: ``None``: ``module,main`` for ESM output, esbuild's default for CommonJS
    main_fields: tuple[str, ...] | None = None
    #: JavaScript put at the start of the bundle
    banner: str | None = None
    #: expression → replacement (esbuild ``--define``)
    define: Mapping[str, str] = field(default_factory=dict)
    #: ``.js`` (or ``.css``) → the extension esbuild writes instead
    out_extension: Mapping[str, str] = field(default_factory=dict)
    keep_names: bool = False
    allow_scripts: bool = False


def bundle_extension(esm: bool, out_extension: Mapping[str, str]) -> str:
    """The bundle's file extension (the options model checks it when ``format`` is set, the
    bundler when the handler decides): ``out-extension``'s for ``.js``, else ``.mjs`` for an ES
    module and ``.js`` for CommonJS. Raises ``ValueError`` for one Lambda would load as the
    other kind of module (it goes by the extension; a bundle ships no package.json)."""
    extension = out_extension.get(".js", ".mjs" if esm else ".js")
    if esm and extension != ".mjs":
        why = ("always" if extension == ".cjs" else
               'unless a package.json says "type": "module", and a bundle ships none')
        raise ValueError(f"an ES module bundle must end in .mjs, not {extension}: Lambda loads "
                         f"{extension} files as CommonJS {why}")
    if not esm and extension == ".mjs":
        raise ValueError("a CommonJS bundle cannot end in .mjs: Lambda loads .mjs files as ES "
                         'modules (set format = "esm")')
    return extension
