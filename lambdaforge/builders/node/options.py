"""The Node.js builder's options model: the keys of ``lambdaforge.toml`` only the Node.js
builder reads (bundling with esbuild, with SAM's option names, and npm install scripts).
Imported only while the config is validated and the schema written (it needs Pydantic);
builders read the resolved values through ``settings.NodeSettings``.

The esbuild values are checked here, so a typo is a config error with its file and line
rather than an esbuild failure at build time; the rules are esbuild's own (what its command
line accepts, ``esbuild --loader:.x=bogus`` lists the loaders) and Lambda's (which files a
Node.js handler may be).
"""

from __future__ import annotations

import json
import re

from pydantic import Field, ValidationInfo, field_validator

from lambdaforge.builders.node.handler import HANDLER_EXTENSIONS
from lambdaforge.builders.node.settings import Bundler, Format, NodeSettings, bundle_extension
from lambdaforge.config.models import BuilderOptions
from lambdaforge.config.translate import suggest

_DEFAULT = NodeSettings()

#: esbuild's loaders (``default`` included: esbuild takes it, and it means "by extension")
LOADERS: tuple[str, ...] = (
    "base64", "binary", "copy", "css", "dataurl", "default", "empty", "file", "global-css",
    "js", "json", "jsx", "local-css", "text", "ts", "tsx",
)
#: what esbuild's ``--target`` takes: ``esnext``, or an engine (or ``es``) and a version
_TARGET = re.compile(
    r"esnext|(?:chrome|deno|edge|es|firefox|hermes|ie|ios|node|opera|rhino|safari)\d+(?:\.\d+){0,2}")
_EXTENSION = re.compile(r"\.[A-Za-z0-9_.-]+")
#: a dotted name: what a ``define`` key is, and one kind of value
_DOTTED = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)*")
_MAIN_FIELD = re.compile(r"[A-Za-z0-9_@:.-]+")


class NodeOptions(BuilderOptions):
    """``bundle`` and esbuild's options (``target``, ``format``, ``minify``, ``sourcemap``,
    ``external``, ``loader``, ``main-fields``, ``banner``, ``define``, ``out-extension``,
    ``keep-names``), and ``allow-scripts``, of a function or layer built by the Node.js
    builder."""

    bundle: Bundler = Field(
        _DEFAULT.bundle,
        description="Node.js: bundle the handler with `esbuild`, or `none` (default). The "
        "bundling options below apply to bundled functions (SAM's esbuild `BuildProperties`).",
    )
    target: str | None = Field(
        _DEFAULT.target,
        description="Node.js bundling: esbuild's `target`, e.g. `\"node22\"` or "
        "`\"es2022,node20\"`. Default: `node<major>` of the runtime.",
    )
    format: Format | None = Field(
        _DEFAULT.format,
        description="Node.js bundling: output `esm` (an ES module, `.mjs`) or `cjs` (CommonJS, "
        "`.js`). Default: `esm` for a `.mjs`/`.mts` handler or a package.json with `\"type\": "
        "\"module\"`, else `cjs`.",
    )
    minify: bool = Field(_DEFAULT.minify, description="Node.js bundling: minify. Default: false.")
    sourcemap: bool = Field(
        _DEFAULT.sourcemap, description="Node.js bundling: emit and ship a source map. Default: false."
    )
    external: tuple[str, ...] = Field(
        _DEFAULT.external,
        description="Node.js bundling: modules left out of the bundle and shipped in "
        "node_modules/ instead. `@aws-sdk/*` is always external (the runtime has SDK v3).",
    )
    loader: dict[str, str] = Field(
        default_factory=dict,
        description="Node.js bundling: file extension → esbuild loader, e.g. "
        "`{ \".reference\" = \"json\" }` (SAM's `Loader: [\".reference=json\"]`).",
    )
    main_fields: tuple[str, ...] | None = Field(
        _DEFAULT.main_fields,
        description="Node.js bundling: package.json fields tried, in order, to resolve a "
        "package, e.g. `[\"module\", \"main\"]`. Default: `module, main` for ES modules, "
        "esbuild's for CommonJS.",
    )
    banner: str | None = Field(
        _DEFAULT.banner,
        description="Node.js bundling: JavaScript put at the start of the bundle (esbuild's "
        "`banner` for js), e.g. a license comment.",
    )
    define: dict[str, str] = Field(
        default_factory=dict,
        description="Node.js bundling: names replaced by code at build time, e.g. "
        "`{ \"process.env.STAGE\" = '\"prod\"' }` (a JSON value or a name).",
    )
    out_extension: dict[str, str] = Field(
        default_factory=dict,
        description="Node.js bundling: the extension esbuild writes instead of `.js`, e.g. "
        "`{ \".js\" = \".cjs\" }`: `.js`, `.mjs` or `.cjs` (the handler file Lambda loads). "
        "Default: `.mjs` for ES modules, `.js` for CommonJS.",
    )
    keep_names: bool = Field(
        _DEFAULT.keep_names,
        description="Node.js bundling: keep function and class `name`s when minifying. "
        "Default: false.",
    )
    allow_scripts: bool = Field(
        _DEFAULT.allow_scripts,
        description="Node.js: run install scripts (npm, pnpm or Yarn, whichever the lockfile "
        "belongs to). Default: false."
    )

    @field_validator("target")
    @classmethod
    def _target(cls, value: str | None) -> str | None:
        bad = [t for t in value.split(",") if not _TARGET.fullmatch(t.strip())] if value is not None else []
        if bad:
            raise ValueError(f"'{bad[0]}' is not an esbuild target: expected esnext, esYYYY or an "
                             "engine and version such as node22 (chrome, deno, edge, firefox, "
                             "hermes, ie, ios, node, opera, rhino, safari), comma-separated")
        return value

    @field_validator("loader")
    @classmethod
    def _loader(cls, value: dict[str, str]) -> dict[str, str]:
        for extension, loader in value.items():
            _check_extension(extension, ".reference")
            if loader not in LOADERS:
                raise ValueError(f"'{loader}' is not an esbuild loader (expected one of "
                                 f"{', '.join(LOADERS)}){suggest(loader, LOADERS)}")
        return value

    @field_validator("main_fields")
    @classmethod
    def _main_fields(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for name in value or ():
            if not _MAIN_FIELD.fullmatch(name):
                raise ValueError(f"'{name}' is not a package.json field name (e.g. \"module\", \"main\")")
        return value

    @field_validator("define")
    @classmethod
    def _define(cls, value: dict[str, str]) -> dict[str, str]:
        for name, code in value.items():
            if not _DOTTED.fullmatch(name):
                raise ValueError(f"'{name}' cannot be defined: expected a dotted name such as "
                                 "process.env.STAGE")
            if not _is_define_value(code):
                raise ValueError(f"the value of {name} is code, and '{code}' is neither a JSON "
                                 f"value nor a name: for a string, quote it ('\"{code}\"')")
        return value

    @field_validator("out_extension")
    @classmethod
    def _out_extension(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        for kind, extension in value.items():
            if kind not in (".js", ".css"):
                raise ValueError(f"esbuild renames only .js and .css output, not '{kind}'")
            _check_extension(extension, ".mjs")
            if kind == ".js" and extension not in HANDLER_EXTENSIONS:
                raise ValueError(f"Lambda loads a Node.js handler from "
                                 f"{', '.join(HANDLER_EXTENSIONS)} files, not '{extension}'")
        chosen = info.data.get("format")
        if chosen is not None:  # else the handler decides, and the bundler checks then
            bundle_extension(chosen == "esm", value)
        return value


def _check_extension(text: str, example: str) -> None:
    if not _EXTENSION.fullmatch(text):
        raise ValueError(f"'{text}' is not a file extension: expected a dot and a name, "
                         f"e.g. \"{example}\"")


def _is_define_value(code: str) -> bool:
    """What esbuild takes as a ``--define`` value: a JS literal (JSON, or a single-quoted
    string) or a dotted name."""
    if _DOTTED.fullmatch(code) or re.fullmatch(r"'[^'\\]*'", code):
        return True
    try:
        json.loads(code)
    except ValueError:
        return False
    return True
