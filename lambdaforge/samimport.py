"""``forge import sam``: a ``lambdaforge.toml`` from an AWS SAM template.

What SAM users hand-translate today, done once: ``Globals.Function`` (merged into each
function as SAM merges it, ``sam_merge``: variables key by key, ``Layers`` concatenated), every
``AWS::Serverless::Function`` (``CodeUri``, ``Handler``, ``Runtime``, ``Architectures``,
``Layers``, ``Environment.Variables``, ``Metadata`` ``BuildMethod``/``BuildProperties``) and
every ``AWS::Serverless::LayerVersion`` (``ContentUri``, ``CompatibleRuntimes``,
``CompatibleArchitectures``, ``Metadata.BuildMethod``). A value shared by every function is
lifted into ``[defaults]``. Whatever cannot be translated (an intrinsic function such as
``!Ref`` or ``!Sub`` where a literal is needed, a retired runtime, an image function, deploy
settings such as ``MemorySize``) is written as a comment where it would have gone, and listed
as a note, so nothing is dropped silently.

Templates are YAML with CloudFormation's short tags (``!Ref``, ``!Sub``, ``!GetAtt``…), read
without failing (each becomes an ``Intrinsic``), or JSON. Reading YAML needs PyYAML
(``pip install 'lambdaforge[sam]'``); JSON needs nothing.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from msgspec import Struct, field

from lambdaforge import lambda_facts
from lambdaforge.config import tomlwrite
from lambdaforge.errors import ForgeError

#: SAM ``BuildProperties`` of an esbuild function → the Node builder's key, and how the
#: value is converted (SAM's lists of ``".ext=value"`` pairs become tables).
ESBUILD_PROPERTIES = {
    "Minify": "minify", "Sourcemap": "sourcemap", "Target": "target", "Format": "format",
    "External": "external", "Loader": "loader", "MainFields": "main-fields",
    "Banner": "banner", "OutExtension": "out-extension",
}
#: Function properties that configure the deployment, not the build: noted, not translated.
#: resources whose own template holds more functions (not imported with this one)
NESTED_STACKS = ("AWS::Serverless::Application", "AWS::CloudFormation::Stack")
DEPLOY_PROPERTIES = ("MemorySize", "Timeout", "Role", "Description", "EphemeralStorage",
                     "Tags", "AutoPublishAlias", "ReservedConcurrentExecutions", "Tracing",
                     "LoggingConfig", "VpcConfig", "DeadLetterQueue")


class SamImportError(ForgeError):
    """A template that cannot be read, or a target file that must not be overwritten
    (a usage problem: exit 2)."""

    exit_code = 2


class Intrinsic(Struct, frozen=True):
    """A CloudFormation intrinsic function (``!Ref X``, ``{"Fn::Sub": …}``): kept as written,
    shown in comments, never guessed."""

    name: str
    value: Any

    def __str__(self) -> str:
        shown = self.value if isinstance(self.value, str) else json.dumps(self.value, default=str)
        return f"!{self.name.removeprefix('Fn::')} {shown}"


class Table(Struct):
    """One TOML table being written: its values (in order) and comments."""

    values: dict[str, Any] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)


class Translation(Struct):
    """The config text and what could not be translated (one line each)."""

    text: str
    notes: list[str]


# --------------------------------------------------------------------------- reading


def load_template(path: Path) -> dict[str, Any]:
    """A SAM template as plain data, intrinsic functions as ``Intrinsic``."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise SamImportError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if path.suffix == ".json" or text.lstrip().startswith("{"):
        try:
            return _intrinsics(json.loads(text))
        except ValueError as exc:
            raise SamImportError(f"{path}: not valid JSON: {exc}") from exc
    try:
        import yaml
    except ImportError as exc:
        raise SamImportError("reading a YAML template needs PyYAML: "
                             "pip install 'lambdaforge[sam]'") from exc

    class Loader(yaml.SafeLoader):
        """Safe YAML plus CloudFormation's short tags."""

    def tagged(loader: Any, suffix: str, node: Any) -> Intrinsic:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
        return Intrinsic(name, value)

    Loader.add_multi_constructor("!", tagged)
    try:
        data = yaml.load(text, Loader=Loader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        raise SamImportError(f"{path}: not a valid YAML template: {exc}") from exc
    if not isinstance(data, dict):
        raise SamImportError(f"{path}: not a template (expected a mapping at the top)")
    return _intrinsics(data)


def _intrinsics(value: Any) -> Any:
    """JSON's long form (``{"Ref": "X"}``, ``{"Fn::Sub": …}``) as ``Intrinsic`` too."""
    if isinstance(value, dict):
        if len(value) == 1:
            (name, inner), = value.items()
            if name == "Ref" or name.startswith("Fn::"):
                return Intrinsic(name, _intrinsics(inner))
        return {k: _intrinsics(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_intrinsics(v) for v in value]
    return value


# --------------------------------------------------------------------------- translating


def translate(template: Mapping[str, Any], template_dir: Path, config_dir: Path) -> Translation:
    """The ``lambdaforge.toml`` text for ``template``: its paths (relative to
    ``template_dir``, as SAM has them) are written relative to ``config_dir``."""
    def rebase(path: str) -> str:
        joined = os.path.normpath(os.path.join(template_dir, path))
        return Path(os.path.relpath(joined, config_dir)).as_posix()

    resources = template.get("Resources")
    if not isinstance(resources, Mapping):
        raise SamImportError("the template has no Resources")
    notes: list[str] = []
    globals_ = (template.get("Globals") or {}).get("Function") or {}
    layers: dict[str, Table] = {}
    functions: dict[str, Table] = {}
    arn_layers: dict[str, str] = {}  # ARN → layer name
    for logical, resource in resources.items():
        if not isinstance(resource, Mapping):
            continue
        kind = resource.get("Type")
        if kind == "AWS::Serverless::LayerVersion":
            layers[logical] = _layer(logical, resource, notes, rebase)
    for logical, resource in resources.items():
        if isinstance(resource, Mapping) and resource.get("Type") == "AWS::Serverless::Function":
            table = _function(logical, resource, globals_, set(layers), arn_layers, notes, rebase)
            if table is not None:
                functions[logical] = table
        elif isinstance(resource, Mapping) and resource.get("Type") == "AWS::Lambda::Function":
            notes.append(f"{logical}: an AWS::Lambda::Function (not a SAM function) is not "
                         "translated: declare it in [functions.NAME] by hand")
        elif isinstance(resource, Mapping) and resource.get("Type") == "AWS::Lambda::LayerVersion":
            notes.append(f"{logical}: an AWS::Lambda::LayerVersion (not a SAM layer) is not "
                         "translated: declare it in [layers.NAME] by hand")
        elif isinstance(resource, Mapping) and resource.get("Type") in NESTED_STACKS:
            location = (resource.get("Properties") or {}).get(
                "Location" if resource["Type"] == "AWS::Serverless::Application" else "TemplateURL")
            notes.append(f"{logical}: a nested {resource['Type']} ({_shown(location)}): its "
                         "functions and layers are not imported here; run `forge import sam` "
                         "on its template, in its folder")
    for arn, name in arn_layers.items():
        layers[name] = Table({"arn": arn}, ["referenced by ARN: add check-with = [...] "
                                            "so checks can see its content"])
    defaults = _lift_defaults(functions)
    return Translation(_render(defaults, layers, functions), notes)


def _source(value: Any, what: str, logical: str, notes: list[str],
            rebase: Callable[[str], str]) -> str | None:
    """A ``CodeUri``/``ContentUri`` as a path relative to the config, or ``None`` (noted)."""
    if value is None:
        return rebase(".")
    if isinstance(value, str) and value.lower().endswith((".zip", ".jar")):
        notes.append(f"{logical}: {what} {value} is an archive, which SAM deploys as it is: "
                     "forge builds from a folder, so point `source` at the one it was made from")
    if isinstance(value, str) and not value.startswith("s3://"):
        return rebase(PurePosixPath(value.replace("\\", "/")).as_posix().rstrip("/") or ".")
    notes.append(f"{logical}: {what} {value} is not a local directory: not translated")
    return None


def _archive_comment(value: Any, what: str, table: Table) -> None:
    """For a ``CodeUri``/``ContentUri`` that is a zip: the comment above its ``source``."""
    if isinstance(value, str) and value.lower().endswith((".zip", ".jar")):
        table.comments.append(f"{what}: {value} is an archive, deployed as it is by SAM: set "
                              "source to the folder it was made from")


def _runtime(value: Any, table: Table, logical: str, notes: list[str]) -> None:
    if isinstance(value, Intrinsic) or not isinstance(value, str):
        if value is not None:
            table.comments.append(f"Runtime: {value} (not translated: an intrinsic)")
            notes.append(f"{logical}: Runtime {value} is an intrinsic: set runtime by hand")
        return
    if value in lambda_facts.RETIRED:
        instead = lambda_facts.replacement(value) or value
        table.values["runtime"] = instead
        table.comments.append(f"Runtime was {value}, retired by Lambda on "
                              f"{lambda_facts.RETIRED[value]:%Y-%m-%d}: moved to {instead}")
        notes.append(f"{logical}: runtime {value} is retired: written as {instead}")
        return
    table.values["runtime"] = value


def _architecture(value: Any, table: Table, logical: str, notes: list[str]) -> None:
    if isinstance(value, list) and value and isinstance(value[0], str):
        table.values["architecture"] = value[0]
    elif value is not None and value != []:
        # an intrinsic (`!Ref Arch`), or one inside the list: x86_64 would be a guess
        table.comments.append(f"Architectures: {_shown(value)} (not translated: an intrinsic)")
        notes.append(f"{logical}: Architectures {_shown(value)} is an intrinsic: set architecture by hand")


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def _layer(logical: str, resource: Mapping[str, Any], notes: list[str],
           rebase: Callable[[str], str]) -> Table:
    props = resource.get("Properties") or {}
    table = Table()
    source = _source(props.get("ContentUri"), "ContentUri", logical, notes, rebase)
    if source is not None:
        table.values["source"] = source
        _archive_comment(props.get("ContentUri"), "ContentUri", table)
    runtimes = props.get("CompatibleRuntimes")
    method = (resource.get("Metadata") or {}).get("BuildMethod")
    if isinstance(method, str) and method != "makefile":
        _runtime(method, table, logical, notes)
    elif isinstance(runtimes, list) and runtimes:
        _runtime(runtimes[0], table, logical, notes)
    if method == "makefile":
        _makefile(logical, table, notes)
    elif method is None and source is not None:
        _as_is(logical, table, notes, "no Metadata.BuildMethod (SAM does not build the layer)")
    built_for = (resource.get("Metadata") or {}).get("BuildArchitecture")
    # What `sam build` builds the layer for; CompatibleArchitectures only says where it
    # may be attached (the first of [x86_64, arm64] was taken for an arm64 build).
    _architecture([built_for] if built_for is not None else props.get("CompatibleArchitectures"),
                  table, logical, notes)
    return table


def _function(logical: str, resource: Mapping[str, Any], globals_: Mapping[str, Any],
              layer_names: set[str], arn_layers: dict[str, str], notes: list[str],
              rebase: Callable[[str], str]) -> Table | None:
    own = resource.get("Properties") or {}
    props = sam_merge(globals_, own)
    if isinstance(own.get("Architectures"), list):
        # SAM concatenates the two lists, which Lambda refuses (one architecture per
        # function): the function's own choice is what its author meant
        props["Architectures"] = own["Architectures"]
    if props.get("PackageType") == "Image":
        notes.append(f"{logical}: PackageType Image is not built by lambdaforge: skipped")
        return None
    if props.get("InlineCode") is not None and props.get("CodeUri") is None:
        notes.append(f"{logical}: InlineCode is code in the template, with nothing to build: skipped")
        return None
    table = Table()
    source = _source(props.get("CodeUri"), "CodeUri", logical, notes, rebase)
    if source is None:
        return None
    table.values["source"] = source
    _archive_comment(props.get("CodeUri"), "CodeUri", table)
    handler = props.get("Handler")
    if isinstance(handler, str):
        table.values["handler"] = handler
    elif handler is not None:
        table.comments.append(f"Handler: {handler} (not translated: an intrinsic)")
    _runtime(props.get("Runtime"), table, logical, notes)
    _architecture(props.get("Architectures"), table, logical, notes)
    refs = _layers(logical, _listed(props.get("Layers"), "Layers", logical, table, notes),
                   layer_names, arn_layers, table, notes)
    if refs:
        table.values["layers"] = refs
    environment = props.get("Environment") or {}
    env = environment.get("Variables") if isinstance(environment, Mapping) else environment
    if env is None:
        env = {}
    elif not isinstance(env, Mapping):
        table.comments.append(f"environment {env} (not translated: an intrinsic)")
        notes.append(f"{logical}: Environment {env} is an intrinsic: set environment by hand")
        env = {}
    literal = {}
    for name, value in env.items():
        if isinstance(value, (str, int, float, bool)) and not isinstance(value, Intrinsic):
            literal[name] = str(value).lower() if isinstance(value, bool) else str(value)
        else:
            table.comments.append(f"environment {name} = {value} (not translated: an intrinsic)")
            notes.append(f"{logical}: environment {name} is an intrinsic ({value}): set it by hand")
    if literal:
        table.values["environment"] = literal
    deploy = [f"{p}={props[p]}" for p in DEPLOY_PROPERTIES if p in props]
    if deploy:
        table.comments.append(f"deploy settings, not part of the build: {', '.join(deploy)}")
    metadata = resource.get("Metadata") or {}
    if metadata.get("SkipBuild") is True:
        _as_is(logical, table, notes, "Metadata.SkipBuild")
    else:
        _build_method(logical, metadata, table, notes)
    return table


def sam_merge(global_value: Any, local_value: Any) -> Any:
    """A function's properties over ``Globals.Function`` as SAM merges them
    (samtranslator's globals plugin): maps merge key by key (the function's value wins,
    recursively), lists concatenate (Globals' entries first: ``Layers`` from both), anything
    else, an intrinsic included, is the function's."""
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = sam_merge(merged[key], value) if key in merged else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return global_value + local_value
    return local_value


def _listed(value: Any, what: str, logical: str, table: Table, notes: list[str]) -> list[Any]:
    """A property that should be a list, as one; an intrinsic in its place (``!Split``,
    ``!If``) is a comment and a note, and no entries."""
    if value is None or isinstance(value, list):
        return value or []
    table.comments.append(f"{what}: {value} (not translated: an intrinsic)")
    notes.append(f"{logical}: {what} {value} is an intrinsic: set it by hand")
    return []


def _layers(logical: str, entries: list[Any], layer_names: set[str], arn_layers: dict[str, str],
            table: Table, notes: list[str]) -> list[str]:
    """Layer references: a template layer by ``!Ref``, a literal ARN as an ARN layer."""
    refs = []
    for entry in entries:
        if isinstance(entry, Intrinsic) and entry.name == "Ref" and entry.value in layer_names:
            refs.append(entry.value)
        elif isinstance(entry, str) and entry.startswith("arn:"):
            if entry not in arn_layers:
                base = entry.split(":")[6] if entry.count(":") >= 7 else "layer"
                name = re.sub(r"[^A-Za-z0-9_-]", "-", base)[:140]
                taken = set(arn_layers.values()) | layer_names
                unique, n = name, 2
                while unique in taken:
                    unique, n = f"{name}-{n}", n + 1
                arn_layers[entry] = unique
            refs.append(arn_layers[entry])
        else:
            table.comments.append(f"layer {entry} (not translated: not a SAM layer "
                                  "(AWS::Serverless::LayerVersion) of this template nor a "
                                  "literal ARN)")
            notes.append(f"{logical}: layer {entry} is not translated")
    return refs


def _build_method(logical: str, metadata: Mapping[str, Any], table: Table, notes: list[str]) -> None:
    method = metadata.get("BuildMethod")
    if method == "esbuild":
        table.values["bundle"] = "esbuild"
        for prop, value in (metadata.get("BuildProperties") or {}).items():
            key = ESBUILD_PROPERTIES.get(prop)
            if key is None:
                if prop != "EntryPoints":
                    table.comments.append(f"BuildProperties.{prop} = {value} (no equivalent)")
                elif _entry_differs(value, table.values.get("handler")):
                    # forge bundles the file the handler names; SAM bundled this one
                    table.comments.append(f"BuildProperties.EntryPoints = {value} (not translated: "
                                          "forge bundles the handler's file; move the handler "
                                          "there or set handler to its path)")
                    notes.append(f"{logical}: EntryPoints {value} is not the handler's file: "
                                 "check handler")
                continue
            table.values[key] = _esbuild_value(key, value)
    elif method == "makefile":
        _makefile(logical, table, notes)
    elif isinstance(method, str) and not method.startswith(("python", "nodejs")):
        # go1.x (what `sam init` writes for Go on provided.al2023), rust-cargolambda, dotnet…
        table.comments.append(f"Metadata.BuildMethod {method}: not translated; build it with "
                              'builder = "command" (e.g. command = "go build -o $FORGE_OUTPUT/'
                              'bootstrap ." with output = "out")')
        notes.append(f"{logical}: BuildMethod {method} has no builder here: set builder = "
                     "\"command\" with the command that builds it")


def _entry_differs(entries: Any, handler: Any) -> bool:
    """Whether SAM's ``EntryPoints`` name another file than the handler's module (``app.ts``
    for ``app.lambdaHandler`` is the same; ``src/app.ts`` is not)."""
    if not isinstance(entries, list) or not isinstance(handler, str) or "." not in handler:
        return False
    slash = handler.rfind("/")
    module = handler[: handler.find(".", slash + 1)]
    stems = {re.sub(r"\.(?:[cm]?[jt]s|[jt]sx)$", "", str(e)).removeprefix("./") for e in entries}
    return stems != {module}


#: the ``output`` of a translated Makefile build: SAM's ``$ARTIFACTS_DIR``, an empty folder
#: (hidden, so a Makefile's ``cp *`` does not copy it into itself) of which only what the
#: Makefile puts there ships
ARTIFACTS_DIR = ".sam-artifacts"


def _makefile(logical: str, table: Table, notes: list[str]) -> None:
    """SAM's ``BuildMethod: makefile`` (``make build-<LogicalId>`` into ``$ARTIFACTS_DIR``)
    as the ``command`` builder, whose output directory is ``$FORGE_OUTPUT``: a folder of its
    own, as SAM's is (the whole scratch copy would ship the sources and the Makefile, and
    ``cp app.py $(ARTIFACTS_DIR)`` would copy a file onto itself)."""
    table.values.update(builder="command", command=f"make build-{logical} ARTIFACTS_DIR=$FORGE_OUTPUT",
                        output=ARTIFACTS_DIR)
    table.comments.append("a Makefile build in SAM: check `inputs`; only what it writes to "
                          "$ARTIFACTS_DIR ships, as in SAM")
    notes.append(f"{logical}: BuildMethod makefile → builder = \"command\" (check it)")


#: a command builder's command that copies its folder into ``ARTIFACTS_DIR`` unchanged
AS_IS_COMMAND = (f'tar -cf - --exclude=./{ARTIFACTS_DIR} . | tar -xf - -C "$FORGE_OUTPUT"')


def _as_is(logical: str, table: Table, notes: list[str], why: str) -> None:
    """What SAM does not build (a layer without ``BuildMethod``, ``SkipBuild: true``): its
    folder zipped as it is, by the ``command`` builder copying it into its output (the
    Python builder would lay a layer out under ``python/`` and install a
    ``requirements.txt`` found there)."""
    table.values.update(builder="command", command=AS_IS_COMMAND, output=ARTIFACTS_DIR, strip=[])
    table.comments.append(f"{why}: SAM zips the folder as it is, and so does this command, with "
                          "no strip rules (forge's default excludes and secret rules still apply)")
    notes.append(f"{logical}: {why} → zipped as it is (builder = \"command\", copying the folder)")


def _esbuild_value(key: str, value: Any) -> Any:
    """SAM's spelling of an esbuild option as the Node builder's."""
    if key in ("minify", "sourcemap") and isinstance(value, str):
        return value.lower() == "true"
    if key in ("loader", "out-extension") and isinstance(value, list):
        return dict(str(v).split("=", 1) for v in value if "=" in str(v))
    if key == "main-fields" and isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if key == "banner":
        text = value[0] if isinstance(value, list) and value else value
        return str(text).removeprefix("js=")
    if key == "external" and isinstance(value, str):
        return [value]
    return value


def _lift_defaults(functions: dict[str, Table]) -> Table:
    """Values every function shares (two or more of them) move to ``[defaults]``."""
    defaults = Table()
    if len(functions) < 2:
        return defaults
    for key in ("runtime", "architecture", "handler", "layers", "bundle"):
        values = [t.values.get(key) for t in functions.values()]
        if values[0] is not None and all(v == values[0] for v in values):
            defaults.values[key] = values[0]
            for t in functions.values():
                del t.values[key]
    return defaults


def _render(defaults: Table, layers: dict[str, Table], functions: dict[str, Table]) -> str:
    lines = ["# Written by `forge import sam` from a SAM template: check the comments.", ""]

    def table(header: str, t: Table) -> None:
        if not t.values and not t.comments:
            return
        lines.append(f"[{header}]")
        lines.extend(f"# {c}" for c in t.comments)
        lines.extend(f"{tomlwrite.key(k)} = {tomlwrite.value(v)}" for k, v in t.values.items())
        lines.append("")

    table("defaults", defaults)
    for name, t in layers.items():
        table(f"layers.{tomlwrite.key(name)}", t)
    for name, t in functions.items():
        table(f"functions.{tomlwrite.key(name)}", t)
    return "\n".join(lines).rstrip() + "\n"


def import_sam(template: Path, output: Path, *, force: bool = False) -> Translation:
    """Translate ``template`` and write ``output`` (refusing to replace a file unless
    ``force``); the config is written next to the template so its paths stay as written."""
    if output.exists() and not force:
        raise SamImportError(f"{output} exists: pass --force to replace it")
    result = translate(load_template(template), template.parent, output.parent)
    from lambdaforge.fsutil import write_atomic

    write_atomic(output, result.text.encode("utf-8"), durable=False, mode=0o644)
    return result
