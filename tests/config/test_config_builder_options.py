"""The Python and Node.js builders' own keys (``installer``, ``find-links``, ``bundle``…):
written where they always were, validated by their builder's options model, reported as
``FILE:LINE: key: message``, and read back by the builders as plain data."""

from __future__ import annotations


import pytest
from tests.config.conftest import API

from lambdaforge.builders.base import OptionValues
from lambdaforge.builders.node import NodeBuilder
from lambdaforge.builders.node.settings import NodeSettings
from lambdaforge.builders.python import PythonBuilder
from lambdaforge.builders.python.settings import PythonSettings
from lambdaforge.config.builder_options import option_keys
from lambdaforge.config.models import BUILT_IN_DEFAULTS, FunctionSpec, kebab

NODE_FN = """
[functions.js]
source = "src/api"
handler = "index.handler"
runtime = "nodejs22.x"
"""


def test_a_node_option_on_a_python_function_is_an_error_where_it_is_written(errors) -> None:
    assert errors(API + 'bundle = "esbuild"\n') == [
        "lambdaforge.toml:4: functions.api.bundle: unknown key for builder = \"python\" "
        "('bundle' is an option of the node builder)",
    ]


def test_a_python_option_on_a_node_layer_is_an_error_where_it_is_written(errors) -> None:
    assert errors('[layers.base]\nruntime = "nodejs22.x"\nno-index = true\n') == [
        "lambdaforge.toml:3: layers.base.no-index: unknown key for builder = \"node\" "
        "('no-index' is an option of the python builder)",
    ]


def test_defaults_give_each_option_to_its_own_builders_targets(project) -> None:
    p = project('[defaults]\ninstaller = "pip"\nbundle = "esbuild"\n' + API + NODE_FN)
    py, js = p.functions["api"].builder_options, p.functions["js"].builder_options
    assert (py["installer"], "bundle" in py) == ("pip", False)
    assert (js["bundle"], "installer" in js) == ("esbuild", False)
    assert (p.origins["functions.js.bundle"].line, p.origins["functions.api.installer"].line) == (3, 2)
    assert "functions.api.bundle" not in p.origins


def test_a_misspelt_option_gets_a_suggestion(errors) -> None:
    assert errors(API + 'instaler = "pip"\n') == [
        "lambdaforge.toml:4: functions.api.instaler: unknown key (did you mean 'installer'?)",
    ]


def test_a_bad_option_value_is_a_type_error_reported_with_the_others(errors) -> None:
    # Type errors come first, builder options' included: the missing source is not judged yet.
    assert errors('[functions.api]\nsource = "nope"\nhandler = "app.handler"\nruntime = 3\n'
                  'installer = "poetry"\n[defaults]\nsourcemap = "yes"\n') == [
        "lambdaforge.toml:4: functions.api.runtime: expected a string, got integer 3",
        "lambdaforge.toml:5: functions.api.installer: expected 'uv' or 'pip', got 'poetry'",
        "lambdaforge.toml:7: defaults.sourcemap: expected true or false, got 'yes'",
    ]


def test_find_links_are_relative_to_the_file_that_wrote_them(project) -> None:
    p = project('[project]\nextends = ["std/team.toml"]\n' + API,
                {"std/team.toml": '[defaults]\nfind-links = ["wheels", "https://x.org/w"]\n',
                 "std/wheels/": ""})
    assert p.functions["api"].builder_options["find-links"] == ["std/wheels", "https://x.org/w"]


def test_find_links_may_not_leave_the_project(errors) -> None:
    assert errors(API + 'find-links = ["../wheels"]\n') == [
        "lambdaforge.toml:4: functions.api.find-links: '../wheels' leaves the project root",
    ]


@pytest.mark.parametrize(("builder", "record"), [(PythonBuilder, PythonSettings),
                                                  (NodeBuilder, NodeSettings)])
def test_the_record_a_builder_reads_has_its_models_keys_and_defaults(
        builder, record: type[OptionValues]) -> None:
    model = builder.options_model()
    assert option_keys(model) == [kebab(name) for name in record.__struct_fields__]
    dumped = model().model_dump(mode="json", by_alias=True)
    spec = FunctionSpec(**{**BUILT_IN_DEFAULTS, "builder_options": dumped}, name="f",
                        source="f", handler="a.b", layers=())
    assert record.of(spec) == record()
    # A spec without the options (another builder's, one made by hand) reads as the defaults.
    assert record.of(spec.model_copy(update={"builder_options": {}})) == record()


# --------------------------------------------------------------------------- esbuild options


def node(option: str) -> str:
    return NODE_FN + 'bundle = "esbuild"\n' + option + "\n"


@pytest.mark.parametrize(("option", "message"), [
    ('target = "node"', "'node' is not an esbuild target: expected esnext, esYYYY or an engine "
     "and version such as node22 (chrome, deno, edge, firefox, hermes, ie, ios, node, opera, "
     "rhino, safari), comma-separated"),
    ('target = "node22,bogus1"', "'bogus1' is not an esbuild target: expected esnext, esYYYY or "
     "an engine and version such as node22 (chrome, deno, edge, firefox, hermes, ie, ios, node, "
     "opera, rhino, safari), comma-separated"),
    ('format = "iife"', "expected 'cjs' or 'esm', got 'iife'"),
    ('loader = { ".reference" = "jsno" }', "'jsno' is not an esbuild loader (expected one of "
     "base64, binary, copy, css, dataurl, default, empty, file, global-css, js, json, jsx, "
     "local-css, text, ts, tsx) (did you mean 'json'?)"),
    ('loader = { "reference" = "json" }', "'reference' is not a file extension: expected a dot "
     "and a name, e.g. \".reference\""),
    ('main-fields = ["module", "main,browser"]', "'main,browser' is not a package.json field name "
     "(e.g. \"module\", \"main\")"),
    ('define = { "process.env-STAGE" = "1" }', "'process.env-STAGE' cannot be defined: expected a "
     "dotted name such as process.env.STAGE"),
    ('define = { "process.env.STAGE" = "my-stage" }', "the value of process.env.STAGE is code, "
     "and 'my-stage' is neither a JSON value nor a name: for a string, quote it ('\"my-stage\"')"),
    ('out-extension = { ".ts" = ".mts" }', "esbuild renames only .js and .css output, not '.ts'"),
    ('out-extension = { ".js" = "mjs" }', "'mjs' is not a file extension: expected a dot and a "
     "name, e.g. \".mjs\""),
    ('out-extension = { ".js" = ".jsx" }', "Lambda loads a Node.js handler from .js, .mjs, .cjs "
     "files, not '.jsx'"),
])
def test_wrong_esbuild_values_are_config_errors(errors, option: str, message: str) -> None:
    key = option.split(" ", 1)[0]
    assert errors(node(option)) == [f"lambdaforge.toml:6: functions.js.{key}: {message}"]


@pytest.mark.parametrize(("options", "message"), [
    ('format = "esm"\nout-extension = { ".js" = ".cjs" }',
     "an ES module bundle must end in .mjs, not .cjs: Lambda loads .cjs files as CommonJS always"),
    ('format = "esm"\nout-extension = { ".js" = ".js" }',
     "an ES module bundle must end in .mjs, not .js: Lambda loads .js files as CommonJS unless a "
     'package.json says "type": "module", and a bundle ships none'),
    ('format = "cjs"\nout-extension = { ".js" = ".mjs" }',
     'a CommonJS bundle cannot end in .mjs: Lambda loads .mjs files as ES modules (set format = "esm")'),
])
def test_a_format_and_an_extension_lambda_would_load_as_the_other_kind(errors, options, message) -> None:
    assert errors(node(options)) == [f"lambdaforge.toml:7: functions.js.out-extension: {message}"]


def test_esbuild_options_as_sam_writes_them(project) -> None:
    p = project(node('target = "es2022,node22"\nformat = "esm"\nloader = { ".reference" = "json" }\n'
                     'main-fields = ["module", "main"]\nbanner = "/* (c) us */"\n'
                     'define = { "process.env.STAGE" = \'"prod"\', DEBUG = "false" }\n'
                     'out-extension = { ".js" = ".mjs" }\nkeep-names = true\nminify = true'))
    options = NodeSettings.of(p.functions["js"])
    assert options == NodeSettings(
        bundle="esbuild", target="es2022,node22", format="esm", loader={".reference": "json"},
        main_fields=("module", "main"), banner="/* (c) us */",
        define={"process.env.STAGE": '"prod"', "DEBUG": "false"}, out_extension={".js": ".mjs"},
        keep_names=True, minify=True)
    assert p.origins["functions.js.define.DEBUG"].line == 11
