"""Pydantic models of ``lambdaforge.toml`` (the file format) and of the resolved project.

Two layers, on purpose:

- ``ConfigFile`` and the ``*Table`` models describe one TOML file exactly as written: every
  setting is optional (``None`` = inherit), keys are kebab-case, unknown keys are errors.
  The JSON Schema in ``schemas/`` is generated from them.
- ``Project``, ``FunctionSpec`` and ``LayerSpec`` are what the loader produces after
  ``extends``, ``[defaults]`` and ``[[discover]]`` are applied: every value concrete, every
  path relative to the project root (POSIX form), so later stages never re-read TOML and
  cache keys never see an absolute path. They are plain records (msgspec Structs) in
  ``lambdaforge.config.specs`` (no Pydantic), re-exported here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ByteSize, ConfigDict, Field, field_validator

from lambdaforge.errors import ConfigIssue


def kebab(name: str) -> str:
    """``exclude_runtime_provided`` → ``exclude-runtime-provided`` (TOML key style)."""
    return name.replace("_", "-")


class _FileModel(BaseModel):
    # populate_by_name stays off: it would silently accept snake_case keys.
    model_config = ConfigDict(alias_generator=kebab, extra="forbid", frozen=True)


class BuilderOptions(_FileModel):
    """Base of a builder's own options model (``Builder.options_model``): keys that only
    that builder reads, written in function, layer, ``[defaults]`` and ``[[discover]]``
    tables next to the common settings. Kebab-case keys, unknown keys rejected, every field
    with a ``description`` (it is shown in editors through the JSON Schema). A field
    without a default is required of every function or layer using the builder."""

    #: option keys whose values (a string, or each string of an array) are paths relative
    #: to the file that wrote them, with what must exist there (``"file"``, ``"directory"``
    #: or ``"path"``): the config makes them project-relative POSIX paths and keeps them
    #: inside the project. A value with ``://`` is a URL, kept as written.
    PATHS: ClassVar[Mapping[str, Literal["file", "directory", "path"]]] = {}


from lambdaforge.config.specs import (  # noqa: E402 - the resolved records, re-exported
    BUILT_IN_DEFAULTS,
    Architecture,
    BuildSettings,
    CheckSettings,
    DeploySettings,
    FunctionDeploy,
    FunctionSpec,
    LayerSpec,
    Origin,
    Project,
    Severity,
    StripRules,
)


class BuildSettingsTable(_FileModel):
    """Settings any function or layer may set, and ``[defaults]`` may set for all of them."""

    runtime: str | None = Field(
        None,
        description="Lambda runtime id, e.g. `python3.12`, `nodejs22.x` or `provided.al2023`. "
        "Default: `python3.12`.",
    )
    builder: str | None = Field(
        None,
        description="What builds it: `python` (the default for `python3.x`), `node` (the "
        "default for `nodejs*`), `command` (your own command, for any runtime; required for "
        "`provided.*`) or an installed builder plugin's name.",
    )
    architecture: Architecture | None = Field(
        None, description="Instruction set: `x86_64` or `arm64`. Default: `x86_64`."
    )
    strip: tuple[str, ...] | None = Field(
        None,
        description="Strip rule sets applied in order: built-in `standard`, `aggressive`, "
        "or a `[strip-rules.NAME]` table. Default: `[\"standard\"]`.",
    )
    include: tuple[str, ...] | None = Field(
        None,
        description="gitignore-style patterns of source files to package, relative to `source`. "
        "Default: everything. A pattern without wildcards also ships a file left out by "
        "default (a lockfile, `.venv/`) or as a secret (with a warning). For a bundled "
        "function: the sources esbuild reads; its bundle always ships.",
    )
    exclude: tuple[str, ...] | None = Field(
        None,
        description="gitignore-style patterns of source files never to package, relative to "
        "`source` (for a bundled function: never bundled).",
    )
    requirements: str | None = Field(
        None,
        description="A requirements.txt or pyproject.toml with the dependencies, relative to this "
        "file. Default: `<source>/requirements.txt` (or `pyproject.toml`, `uv.lock`, "
        "`package.json`) when present.",
    )
    dependencies: tuple[str, ...] | None = Field(
        None, description="Inline requirement specifiers, e.g. `[\"requests>=2.31\"]`."
    )
    exclude_runtime_provided: bool | None = Field(
        None,
        description="Leave out packages the runtime ships (Python: boto3 & co.; Node.js: the AWS "
        "SDK v3) unless pinned to an exact version. Default: true.",
    )
    max_size: ByteSize | None = Field(
        None,
        description="Size budget of the unzipped function plus its layers, e.g. `\"40MB\"`. "
        "Default: Lambda's 250 MB limit.",
    )
    layer_conflicts: Severity | None = Field(
        None,
        description="A dependency version that differs between a function and its layer, or "
        "between two layers of a function: `warn` (default) or `error`.",
    )


class FunctionDeployTable(_FileModel):
    """What only ``forge deploy`` reads of a function (its table or ``[defaults]``): never
    part of a build key."""

    role: str | None = Field(
        None,
        description="`forge deploy`: the IAM role ARN the function runs as "
        "(`arn:aws:iam::ACCOUNT:role/NAME`); needed to create it. Default: `[deploy] role`.",
    )
    memory: int | None = Field(
        None, ge=128, le=10240,
        description="`forge deploy`: memory in MB, 128-10240. Default: Lambda's 128.",
    )
    timeout: int | None = Field(
        None, ge=1, le=900,
        description="`forge deploy`: timeout in seconds, 1-900. Default: Lambda's 3.",
    )
    description: str | None = Field(
        None, max_length=256,
        description="`forge deploy`: the function's description (at most 256 characters).",
    )
    ephemeral_storage: int | None = Field(
        None, ge=512, le=10240,
        description="`forge deploy`: the function's `/tmp` in MiB, 512-10240. Default: "
        "Lambda's 512.",
    )
    tags: dict[str, str] | None = Field(
        None,
        description="`forge deploy`: the function's tags, e.g. `{ team = \"orders\" }`, merged "
        "over `[defaults]`'s (its own keys win). Lambda's rules apply: at most 50, keys 1-128 "
        "and values 0-256 letters, digits, spaces or `+ - = . _ : / @`, no `aws:` key. "
        "Set, they are the function's tags (others are removed); unset, forge leaves the "
        "function's tags alone.",
    )
    alias: str | None = Field(
        None,
        description="`forge deploy --publish`: the alias moved to each version it publishes, "
        "e.g. `live` (1-128 letters, digits, `-` or `_`, not all digits).",
    )


class FunctionTable(BuildSettingsTable, FunctionDeployTable):
    """A ``[functions.NAME]`` table: one Lambda function."""

    source: str = Field(description="Directory with the function's code, relative to this file.")
    handler: str | None = Field(
        None,
        description="Entry point: `module.function` (Python, `app.handler` → app.py), "
        "`file.export` (Node.js, `index.handler` → index.js/.mjs/.cjs), or any name for "
        "`provided.*` (your `bootstrap` reads it from `_HANDLER`).",
    )
    layers: tuple[str, ...] | None = Field(
        None, description="Names of `[layers.NAME]` this function uses (at most 5)."
    )
    environment: dict[str, str] | None = Field(
        None,
        description="The function's environment variables, e.g. `{ TABLE_NAME = \"orders\" }`, "
        "merged over `[defaults]`'s (its own names win); the import smoke test runs with "
        "them. Lambda's limits apply: names of letters, digits and `_` starting with a "
        "letter, no reserved name (`AWS_REGION`, `_HANDLER`, …), 4 KB in all.",
    )


class LayerTable(BuildSettingsTable):
    """A ``[layers.NAME]`` table: one Lambda layer shared by functions."""

    source: str | None = Field(
        None,
        description="Directory with the layer's own code, relative to this file; placed under "
        "`python/` (or `nodejs/node_modules/`) unless it already starts there.",
    )
    arn: str | None = Field(
        None,
        description="A published layer version to reference, not build: "
        "`arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION` (Powertools, the Parameters and "
        "Secrets extension…). It counts against the 5-layer limit; without `check-with`, checks "
        "cannot see its content.",
    )
    check_with: tuple[str, ...] | None = Field(
        None,
        description="For an `arn` layer: requirements that stand in for its content in checks, "
        "e.g. `[\"aws-lambda-powertools[tracer]==3.4.0\"]`: installed like a layer's (so the "
        "import smoke test and the size budget see them), never shipped.",
    )
    compatible_runtimes: tuple[str, ...] | None = Field(
        None,
        description="Runtimes `forge deploy` publishes the layer for (Lambda's "
        "`CompatibleRuntimes`, at most 15). Default: the layer's runtime and its functions'.",
    )
    compatible_architectures: tuple[Architecture, ...] | None = Field(
        None,
        description="Architectures `forge deploy` publishes the layer for (Lambda's "
        "`CompatibleArchitectures`). Default: the layer's architecture and its functions'.",
    )


class DefaultsTable(BuildSettingsTable, FunctionDeployTable):
    """The ``[defaults]`` table: settings every function and layer inherits."""

    handler: str | None = Field(None, description="Default handler of functions.")
    layers: tuple[str, ...] | None = Field(None, description="Default layers of functions.")
    environment: dict[str, str] | None = Field(
        None,
        description="Environment variables of every function; a function's own table adds to "
        "them and wins on a shared name. Lambda's limits apply: names of letters, digits "
        "and `_` starting with a letter, no reserved name (`AWS_REGION`, `_HANDLER`, …).",
    )


class DiscoverTable(BuildSettingsTable, FunctionDeployTable):
    """A ``[[discover]]`` entry: one function per directory matching ``path``; it takes every
    setting a ``[functions.NAME]`` table takes but ``source`` (deploy settings included)."""

    path: str = Field(
        description="Glob of function directories relative to this file, e.g. `services/*/handlers/*`."
    )
    name: str = Field(
        "{dir}",
        description="Function name template: `{dir}` (directory name), `{parent}` (its parent's "
        "name), `{path}` (relative path with `/` → `-`).",
    )
    handler: str | None = Field(
        None,
        description="Handler of discovered functions. A matching directory without the "
        "handler's file (`app.py` for `app.handler`, `index.js`/`.ts`… for Node.js) is not a "
        "function: it is skipped with a warning.")
    layers: tuple[str, ...] | None = Field(None, description="Layers of discovered functions.")
    exclude: tuple[str, ...] | None = Field(
        None,
        description="gitignore-style patterns, relative to this file, of directories `path` "
        "matches that are not functions, e.g. `[\"services/statemachine\"]`. (Here `exclude` "
        "is about discovery; files to leave out of discovered functions go in `[defaults]`.)")
    environment: dict[str, str] | None = Field(
        None,
        description="Environment variables of discovered functions, merged over `[defaults]`'s "
        "(Lambda's limits apply, as for a function's `environment`).",
    )


class StripRuleTable(_FileModel):
    """A ``[strip-rules.NAME]`` table: a named set of gitignore-style patterns."""

    exclude: tuple[str, ...] = Field((), description="Patterns of files to leave out.")
    keep: tuple[str, ...] = Field((), description="Patterns always kept; keep wins over exclude.")


class ProjectTable(_FileModel):
    """The ``[project]`` table."""

    name: str | None = Field(None, description="Project name. Default: the directory name.")
    extends: tuple[str, ...] = Field(
        (),
        description="Team standard configs to inherit: paths relative to this file, or "
        "`pkg:NAME` from an installed package's `lambdaforge.standards` entry point. Later "
        "entries override earlier ones; this file overrides all.",
    )
    cache_dir: str | None = Field(
        None,
        description="Local cache directory, relative to this file. Default: `.forge/cache`; "
        "`FORGE_CACHE_DIR` overrides.",
    )
    cache_salt: str | None = Field(
        None, description="Any string; changing it disowns every cache entry (e.g. a poisoned set)."
    )


class CheckTable(_FileModel):
    """The ``[check]`` table: what the import smoke test runs with besides the artifact."""

    runtime_packages: tuple[str, ...] | None = Field(
        None,
        description="The Lambda runtime's own packages the import smoke test puts after the "
        "function and its layers, replacing lambdaforge's list for that language: Python "
        "requirements (`\"boto3==1.35.0\"`) for python3.x functions, `@aws-sdk/NAME@VERSION` "
        "(or `@aws-sdk/*@VERSION` for every client) for nodejs functions. Installed for the "
        "target like the function's dependencies, from its own index settings (Python: "
        "`index-url`, `find-links`, `no-index`; Node.js: npm's registry configuration). Their "
        "exact versions also decide which version ranges the function declares the runtime "
        "meets (`boto3>=1.36` with a configured boto3 1.34: boto3 ships in the zip).",
    )
    environment: dict[str, str] | None = Field(
        None,
        description="Environment variables for checks only (never deployed), over the "
        "functions' own `environment`, e.g. a placeholder for a value your deployment sets.",
    )


#: key names in ``[cache]`` that would hold credentials: refused with their own message
#: (credentials come from the standard AWS chain, never from a file that is committed)
CREDENTIAL_KEY = re.compile(r"(access|secret|session|token|password|credential|passwd)", re.I)


class CacheTable(_FileModel):
    """The ``[cache]`` table: the team's remote cache (S3 or an S3-compatible store)."""

    remote: str | None = Field(
        None,
        description="Remote cache URL, `s3://BUCKET/PREFIX`; `FORGE_REMOTE_CACHE` overrides. "
        "Credentials come from the standard AWS chain (environment, profile, SSO, OIDC web "
        "identity), never from this file.",
    )
    region: str | None = Field(None, description="The bucket's AWS region, e.g. `eu-west-1`.")
    profile: str | None = Field(None, description="An AWS profile name from `~/.aws/config`.")
    endpoint_url: str | None = Field(
        None, description="Endpoint of an S3-compatible store (MinIO, Cloudflare R2, …).")
    mode: Literal["read", "read-write"] | None = Field(
        None,
        description="`read` (the default: pull requests, laptops) or `read-write` (CI on "
        "protected branches); `forge build --remote-mode` overrides.",
    )

    @field_validator("remote")
    @classmethod
    def _remote_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from lambdaforge.remote.settings import url_problem

        problem = url_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and re.match(r"^[a-z]+://[^/@]*@", value):
            raise ValueError("credentials never go in the config: remove them from the URL "
                             "(the standard AWS chain provides them)")
        return value
class DeployTable(_FileModel):
    """The ``[deploy]`` table: where and under which names ``forge deploy`` ships. Credentials
    come only from the standard AWS chain (environment, ``~/.aws``, SSO, instance roles)."""

    region: str | None = Field(
        None, description="AWS region, e.g. `eu-west-1`. Default: the AWS configuration's.")
    profile: str | None = Field(
        None, description="Profile of `~/.aws/config` to use. Default: the AWS chain's.")
    bucket: str | None = Field(
        None,
        description="S3 bucket for packages over Lambda's 50 MB direct upload: each is "
        "uploaded once, under its SHA-256.")
    name: str = Field(
        "{function}",
        description="Lambda name of each function (and layer): `{function}` (its name in this "
        "file), `{project}`, `{stage}`, e.g. `\"{project}-{function}-{stage}\"`.")
    stage: str | None = Field(
        None, description="The `{stage}` of `name` (`--stage` overrides), e.g. `dev`.")
    role: str | None = Field(
        None,
        description="IAM role ARN of functions that set none (`arn:aws:iam::ACCOUNT:role/NAME`); "
        "needed to create a function.")


class ConfigFile(_FileModel):
    """One ``lambdaforge.toml`` (or a team standards file it extends), as written."""

    project: ProjectTable = Field(
        default_factory=ProjectTable,
        title="Project",
        description="The project: name, team standards, cache.",
    )
    defaults: DefaultsTable = Field(
        default_factory=DefaultsTable,
        title="Defaults",
        description="Settings every function and layer inherits unless it sets its own.",
    )
    strip_rules: dict[str, StripRuleTable] = Field(
        default_factory=dict, description="Named strip rule sets."
    )
    layers: dict[str, LayerTable] = Field(default_factory=dict, description="Lambda layers by name.")
    functions: dict[str, FunctionTable] = Field(
        default_factory=dict, description="Lambda functions by name."
    )
    discover: tuple[DiscoverTable, ...] = Field(
        (), description="Directory globs that each yield one function per match."
    )
    check: CheckTable = Field(
        default_factory=CheckTable,
        title="Check",
        description="What `forge check` (the import smoke test) runs with: the runtime's own "
        "packages and extra environment variables.",
    )
    cache: CacheTable = Field(
        default_factory=CacheTable,
        title="Cache",
        description="The team's remote cache on S3 (or an S3-compatible store).",
    )
    deploy: DeployTable = Field(
        default_factory=DeployTable,
        title="Deploy",
        description="Where and as what `forge deploy` ships the functions and layers.",
    )


__all__ = [
    "BUILT_IN_DEFAULTS", "BuildSettings", "BuildSettingsTable", "BuilderOptions", "CacheTable",
    "CheckSettings",
    "CheckTable", "ConfigFile",
    "DefaultsTable", "DeploySettings", "FunctionDeployTable", "DeployTable", "DiscoverTable", "FunctionDeploy", "FunctionSpec", "FunctionTable", "LayerSpec", "LayerTable",
    "Origin", "Project", "ProjectTable", "StripRuleTable", "StripRules", "kebab",
]
