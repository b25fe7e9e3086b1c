"""Semantic checks that know Lambda, run on resolved functions and layers.

The models check shapes and types; this module checks meaning: names Lambda accepts,
handler forms per runtime family (free-form for the OS-only ``provided.*`` runtimes), known (and not deprecated) runtimes, the layer limit,
references to layers and strip rules that exist, layer/function compatibility, environment
variables Lambda accepts (names, reserved names, 4 KB), and paths that exist and stay inside
the project root even through symlinks.

Each problem is reported where its value was *written*: a bad ``[defaults] runtime`` is one
issue at the defaults line, not one per function (the caller removes duplicates).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from msgspec import Struct, field

from lambdaforge import lambda_facts
from lambdaforge.config.locate import KeyPath, dotted
from lambdaforge.config.models import kebab
from lambdaforge.config.translate import suggest
from lambdaforge.errors import ConfigIssue

#: Makes a located issue: (key path where the value was written, message, severity).
IssueAt = Callable[..., ConfigIssue]

# Python: Lambda's bootstrap splits at the last dot, turns ``/`` into package dots and hands
# the rest to ``importlib.import_module``, which finds ``my-app.py`` for ``my-app`` (a module
# no ``import`` statement could name, but Lambda's runtime can): module segments are file
# and directory names, the function an identifier.
_PYTHON_HANDLER = re.compile(r"(?:[A-Za-z0-9_][A-Za-z0-9_-]*[./])*[A-Za-z0-9_][A-Za-z0-9_-]*\.[A-Za-z_][A-Za-z0-9_]*")
# Node.js: a file path without extension, then the exported function's name.
_NODE_HANDLER = re.compile(r"[A-Za-z0-9_@][A-Za-z0-9_./@-]*\.[A-Za-z_$][A-Za-z0-9_$]*")
# OS-only runtimes: Lambda hands the handler to the function's own bootstrap as
# `_HANDLER`, whose meaning is the bootstrap's business ("bootstrap", "main", "x.y"…).
_FREE_HANDLER = re.compile(r"\S(?:.*\S)?")
#: A published layer version: arn:PARTITION:lambda:REGION:ACCOUNT:layer:NAME:VERSION
LAYER_ARN = re.compile(
    r"arn:aws[a-z-]*:lambda:[a-z]{2}(-[a-z]+)+-\d+:\d{12}:layer:[A-Za-z0-9_-]{1,140}:\d+")
#: An IAM role: arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")
# S3's bucket naming rules (general purpose buckets), without the IP-address exception
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_STAGE = re.compile(r"[A-Za-z0-9_-]{1,32}")
#: What a ``[deploy] name`` template may hold.
NAME_PLACEHOLDERS = ("project", "function", "stage")

_HANDLER_FORMS = {
    "python": (_PYTHON_HANDLER, "'module.function', e.g. 'app.handler'"),
    "nodejs": (_NODE_HANDLER, "'file.export', e.g. 'index.handler'"),
    "provided": (_FREE_HANDLER, "a non-empty name without surrounding spaces, e.g. 'bootstrap'"),
}


class Resolved(Struct):
    """A function or layer with every setting decided and where each was written."""

    kind: Literal["function", "layer"]
    name: str
    #: where the name comes from: ``("functions", name)`` or ``("discover", i, "path")``
    name_key: KeyPath
    values: dict[str, Any] = field(default_factory=dict)
    #: field name → key path it was written at (``None``: a built-in default)
    written: dict[str, KeyPath | None] = field(default_factory=dict)
    #: builder option key → key path it was written at (``None``: the model's default)
    options_written: dict[str, KeyPath | None] = field(default_factory=dict)
    #: environment variable name → key path it was written at (a function's own table or
    #: ``[defaults]``)
    environment_written: dict[str, KeyPath] = field(default_factory=dict)
    #: further effective keys (``functions.api.tags.team``) → key path they were written at
    extra_origins: dict[str, KeyPath] = field(default_factory=dict)
    _prefix: str | None = None

    def at(self, name: str) -> KeyPath:
        """Where a setting was written, falling back to where the target is declared."""
        return self.written.get(name) or self.name_key

    def effective_key(self, name: str) -> str:
        """``functions.api.runtime``: the key as ``forge config`` shows it."""
        if self._prefix is None:
            self._prefix = dotted((f"{self.kind}s", self.name))
        return f"{self._prefix}.{kebab(name)}"


class PathProblem(ValueError):
    """A configured path that cannot be used; the message says why."""


def project_path(value: str, base: Path, root: Path) -> str:
    """``value`` (relative to ``base``) as a project-relative POSIX path.

    ``root`` and ``base`` must already be resolved. Raises ``PathProblem`` when the path
    leaves the root, literally or through a symlink.
    """
    if "\x00" in value:
        raise PathProblem(f"{value!r} is not a valid path")
    joined = os.path.normpath(os.path.join(base, value))
    relative = os.path.relpath(joined, root)
    if relative == os.pardir or relative.startswith(os.pardir + os.sep) or os.path.isabs(relative):
        raise PathProblem(f"'{value}' leaves the project root{_where_it_went(value, base, root, joined)}")
    real = os.path.relpath(os.path.realpath(joined), root)
    if real == os.pardir or real.startswith(os.pardir + os.sep) or os.path.isabs(real):
        raise PathProblem(f"'{value}' leaves the project root through a symlink")
    return Path(relative).as_posix()


def _where_it_went(value: str, base: Path, root: Path, joined: str) -> str:
    """For a path written in a file outside the root's folder (an ``extends`` standard):
    where it points, since it is read relative to that file, not to the project."""
    if os.path.normpath(base) == os.path.normpath(root) or os.path.isabs(value):
        return ""
    shown = Path(os.path.relpath(joined, root)).as_posix()
    folder = Path(os.path.relpath(base, root)).as_posix()
    return (f" ({shown}: read relative to the folder of the file that sets it, {folder}, "
            "as every path in an `extends` file is; name a folder of the project from there, "
            "or set it in the project's own lambdaforge.toml)")


def require(root: Path, relative: str, value: str, kind: Literal["directory", "file", "path"]) -> None:
    """Raise ``PathProblem`` unless ``root/relative`` exists as the given kind."""
    path = root / relative
    exists = {"directory": path.is_dir, "file": path.is_file, "path": path.exists}[kind]()
    if not exists:
        raise PathProblem(f"{kind} not found: {value}")


def _check_runtime(target: Resolved, issue_at: IssueAt) -> lambda_facts.Runtime | None:
    runtime = target.values["runtime"]
    known = lambda_facts.RUNTIMES.get(runtime)
    retired = lambda_facts.RETIRED.get(runtime)
    if retired is not None:
        instead = lambda_facts.replacement(runtime)
        issue_at(target.at("runtime"),
                 f"runtime '{runtime}' was retired by Lambda (deprecated on {retired:%Y-%m-%d}: "
                 "no security patches, and Lambda blocks creating and then updating functions "
                 f"that use it); use '{instead}' or later")
    elif known is None:
        choices = ", ".join(lambda_facts.RUNTIMES)
        hint = suggest(runtime, lambda_facts.RUNTIMES)
        issue_at(target.at("runtime"), f"unknown runtime '{runtime}' (expected one of {choices}){hint}")
    elif known.deprecated():
        instead = lambda_facts.replacement(runtime)
        issue_at(
            target.at("runtime"),
            f"runtime '{runtime}' is deprecated by Lambda since {known.deprecation:%Y-%m-%d} "
            "(no security patches; Lambda will block creating, then updating, functions that "
            f"use it); move to '{instead}' or later",
            "warning",
        )
    return known


def _check_handler(target: Resolved, runtime: lambda_facts.Runtime, issue_at: IssueAt) -> None:
    handler = target.values.get("handler")
    if handler is None:
        issue_at(target.name_key, "missing required key 'handler' (set it here or in [defaults])")
        return
    pattern, form = _HANDLER_FORMS[runtime.family]
    if not pattern.fullmatch(handler):
        issue_at(target.at("handler"), f"handler '{handler}' does not fit {runtime.id}: expected {form}")


def _check_references(
    target: Resolved,
    setting: str,
    what: str,
    known: Iterable[str],
    issue_at: IssueAt,
) -> None:
    known = list(known)
    seen: set[str] = set()
    for i, name in enumerate(target.values.get(setting) or ()):
        at = (*target.at(setting), i)
        if name in seen:
            issue_at(at, f"{what} '{name}' is listed twice")
        elif name not in known:
            none = f" (no {what}s are defined)" if not known else suggest(name, known)
            issue_at(at, f"unknown {what} '{name}'{none}")
        seen.add(name)


def _check_layer_fit(
    function: Resolved,
    runtime: lambda_facts.Runtime,
    layers: dict[str, Resolved],
    issue_at: IssueAt,
) -> None:
    seen: set[str] = set()
    for i, name in enumerate(function.values["layers"]):
        layer = layers.get(name)
        if name in seen:
            continue  # a repeat is reported once, as a repeat
        seen.add(name)
        layer_runtime = lambda_facts.RUNTIMES.get(layer.values["runtime"]) if layer else None
        if layer is None or layer_runtime is None:
            continue  # reported elsewhere
        if layer.values.get("arn") is not None:
            continue  # published elsewhere: its runtime and architecture are not ours to say
        at = (*function.at("layers"), i)
        if layer_runtime.family != runtime.family:
            issue_at(
                at,
                f"layer '{name}' is built for {layer_runtime.id}, which cannot serve "
                f"function '{function.name}' on {runtime.id}",
            )
            continue
        if layer.values["architecture"] != function.values["architecture"]:
            issue_at(
                at,
                f"layer '{name}' is built for {layer.values['architecture']} but function "
                f"'{function.name}' runs on {function.values['architecture']}: native code in "
                "the layer will not load",
                "warning",
            )
        if runtime.family == "python" and layer_runtime.id != runtime.id:
            issue_at(
                at,
                f"layer '{name}' is built for {layer_runtime.id} but function "
                f"'{function.name}' runs {runtime.id}: compiled packages in the layer may not import",
                "warning",
            )


def role_arn_problem(role: str) -> str:
    """The message for a role that is not an IAM role ARN."""
    return f"'{role}' is not an IAM role ARN (expected arn:aws:iam::ACCOUNT:role/NAME)"


def name_template_problem(template: str) -> str | None:
    """Why ``template`` cannot name Lambda functions: an unknown or malformed placeholder."""
    import string

    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        return f"'{template}' is not a name template ({exc})"
    unknown = [f for f in fields if f not in NAME_PLACEHOLDERS]
    if unknown:
        return (f"unknown placeholder '{{{unknown[0]}}}' in '{template}' (use "
                + ", ".join(f"{{{p}}}" for p in NAME_PLACEHOLDERS) + ")")
    if "function" not in fields:
        return f"'{template}' has no {{function}}: every function would get the same name"
    return None


def stage_problem(stage: str) -> str | None:
    """Why ``stage`` cannot be part of a Lambda name (``[deploy] stage`` or ``--stage``)."""
    if _STAGE.fullmatch(stage):
        return None
    return f"'{stage}' is not a stage name: 1-32 letters, digits, '-' or '_'"


def lambda_name_problems(template: str, project: str, stage: str | None,
                         functions: Sequence[str], layers: Sequence[str]) -> list[tuple[str, str]]:
    """(name, problem) for each function and built layer whose Lambda name, as ``template``
    (``[deploy] name``) makes it with ``stage``, Lambda refuses: 64 characters for a
    function, 140 for a layer. A name that is invalid itself is left to its own check."""
    problems = []
    for names, pattern, limit, kind in ((functions, lambda_facts.FUNCTION_NAME_PATTERN, 64, "function"),
                                        (layers, lambda_facts.LAYER_NAME_PATTERN, 140, "layer")):
        for name in names:
            if not re.fullmatch(pattern, name):
                continue
            made = template.format(project=project, function=name, stage=stage or "")
            if not re.fullmatch(pattern, made):
                problems.append((name, (
                    f"makes {kind} '{name}' the Lambda name '{made}' ({len(made)} characters), "
                    f"not a {kind} name (expected 1-{limit} letters, digits, '-' or '_'): "
                    "shorten the template, the names or the stage")))
    return problems


def deploy_problems(table: dict[str, Any]) -> dict[str, str]:
    """The ``[deploy]`` table's bad values by TOML key, checked before any AWS call."""
    problems: dict[str, str] = {}
    if table.get("region") is not None and not _REGION.fullmatch(table["region"]):
        problems["region"] = f"'{table['region']}' is not an AWS region (e.g. 'eu-west-1')"
    if table.get("bucket") is not None and not _BUCKET.fullmatch(table["bucket"]):
        problems["bucket"] = (f"'{table['bucket']}' is not an S3 bucket name (3-63 lowercase "
                              "letters, digits, '.' or '-')")
    if table.get("role") is not None and not ROLE_ARN.fullmatch(table["role"]):
        problems["role"] = role_arn_problem(table["role"])
    if table.get("stage") is not None and (problem := stage_problem(table["stage"])):
        problems["stage"] = problem
    if (problem := name_template_problem(table.get("name") or "{function}")) is not None:
        problems["name"] = problem
    return problems


def alias_problem(alias: str) -> str | None:
    """Why ``alias`` cannot name a Lambda alias, or ``None``."""
    if re.fullmatch(lambda_facts.ALIAS_NAME_PATTERN, alias):
        return None
    return (f"'{alias}' is not an alias name (expected 1-128 letters, digits, '-' or '_', "
            "not all digits, e.g. 'live')")


def tag_problems(tags: dict[str, str]) -> dict[str, str]:
    """What breaks Lambda's tag rules in ``tags``, by key ("" for the whole table)."""
    problems: dict[str, str] = {}
    chars = "letters, digits, spaces or '+ - = . _ : / @'"
    for key, value in tags.items():
        if key.lower().startswith(lambda_facts.RESERVED_TAG_PREFIX):
            problems[key] = (f"tag '{key}': keys starting with 'aws:' are reserved for AWS "
                             "(it sets them; nobody else can)")
        elif not 1 <= len(key) <= lambda_facts.MAX_TAG_KEY \
                or not re.fullmatch(lambda_facts.TAG_CHARACTERS, key):
            problems[key] = (f"tag key '{key}' is not valid (expected 1-"
                             f"{lambda_facts.MAX_TAG_KEY} {chars})")
        elif len(value) > lambda_facts.MAX_TAG_VALUE \
                or not re.fullmatch(lambda_facts.TAG_CHARACTERS, value):
            problems[key] = (f"tag '{key}': its value is not valid (expected 0-"
                             f"{lambda_facts.MAX_TAG_VALUE} {chars})")
    if len(tags) > lambda_facts.MAX_TAGS:
        problems[""] = (f"{len(tags)} tags; Lambda allows at most {lambda_facts.MAX_TAGS} "
                        "per function")
    return problems


def environment_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a Lambda environment variable (never mentioning its value,
    which may be a secret), or ``None``."""
    if name in lambda_facts.RESERVED_ENVIRONMENT_VARIABLES:
        return f"'{name}' is reserved: the Lambda runtime sets it, a function cannot"
    if not re.fullmatch(lambda_facts.ENVIRONMENT_NAME_PATTERN, name):
        return (f"'{name}' is not a valid environment variable name: a letter, then at least "
                "one more letter, digit or '_'")
    return None


def _check_environment(function: Resolved, issue_at: IssueAt) -> None:
    """Names Lambda accepts, and the 4 KB Lambda allows all of them together."""
    variables = function.values.get("environment") or {}
    for name in variables:
        problem = environment_name_problem(name)
        if problem is not None:
            issue_at(function.environment_written[name], problem)
    size = lambda_facts.environment_size(variables)
    if size > lambda_facts.MAX_ENVIRONMENT_BYTES:
        issue_at(
            function.at("environment"),
            f"the environment variables of function '{function.name}' take {size:,} bytes; "
            f"Lambda allows {lambda_facts.MAX_ENVIRONMENT_BYTES:,} (4 KB) in total, counted "
            "as names and values in one JSON object",
        )


def check(
    functions: list[Resolved],
    layers: dict[str, Resolved],
    strip_rule_names: Iterable[str],
    issue_at: IssueAt,
) -> None:
    """Run every semantic check, reporting through ``issue_at(path, message, severity)``."""
    strip_rule_names = list(strip_rule_names)
    for layer in layers.values():
        if not re.fullmatch(lambda_facts.LAYER_NAME_PATTERN, layer.name):
            issue_at(
                layer.name_key,
                f"layer name '{layer.name}' is not valid: use 1-140 letters, digits, '-' and '_'",
            )
        _check_runtime(layer, issue_at)
        _check_references(layer, "strip", "strip rule set", strip_rule_names, issue_at)
    for function in functions:
        if not re.fullmatch(lambda_facts.FUNCTION_NAME_PATTERN, function.name):
            issue_at(
                function.name_key,
                f"function name '{function.name}' is not valid: use 1-64 letters, digits, '-' and '_'",
            )
        runtime = _check_runtime(function, issue_at)
        if runtime is not None:
            _check_handler(function, runtime, issue_at)
        elif function.values.get("handler") is None:
            issue_at(function.name_key, "missing required key 'handler' (set it here or in [defaults])")
        count = len(function.values["layers"])
        if count > lambda_facts.MAX_LAYERS:
            issue_at(
                function.at("layers"),
                f"{count} layers listed; Lambda allows at most {lambda_facts.MAX_LAYERS}",
            )
        _check_references(function, "layers", "layer", layers, issue_at)
        _check_references(function, "strip", "strip rule set", strip_rule_names, issue_at)
        if runtime is not None:
            _check_layer_fit(function, runtime, layers, issue_at)
        _check_environment(function, issue_at)
