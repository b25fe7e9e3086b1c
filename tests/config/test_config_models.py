"""Each model field: its default when unset, and the exact error for a wrong value."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.config.conftest import API

from lambdaforge.builders.node.options import NodeOptions
from lambdaforge.builders.python.options import PythonOptions
from lambdaforge.config.builder_options import option_keys
from lambdaforge.config.models import BUILT_IN_DEFAULTS, BuildSettingsTable, kebab

SETTINGS = list(BuildSettingsTable.model_fields)
#: The built-in builders' option keys: set in the same tables as the settings.
OPTION_KEYS = option_keys(PythonOptions) + option_keys(NodeOptions)


def test_every_setting_defaults_to_its_built_in_value(project, tmp_path: Path) -> None:
    p = project(API)
    api = p.functions["api"]
    for field in SETTINGS:
        # `builder` defaults to the runtime's builder: python for the default python3.12
        expected = "python" if field == "builder" else BUILT_IN_DEFAULTS[field]
        assert getattr(api, field) == expected, field
        assert p.origins[f"functions.api.{kebab(field)}"].file == "<built-in>"
    assert api.layers == ()
    assert p.name == tmp_path.name
    assert p.cache_dir == tmp_path / ".forge" / "cache"
    assert p.cache_salt == ""
    assert set(p.strip_rules) >= {"standard", "aggressive"}


def test_builder_options_default_to_their_models_defaults(project) -> None:
    p = project(API + '[functions.js]\nsource = "src/api"\nhandler = "index.handler"\n'
                'runtime = "nodejs22.x"\n')
    py, js = p.functions["api"], p.functions["js"]
    assert py.builder_options == {"installer": "uv", "index-url": None, "extra-index-urls": [],
                                  "find-links": [], "no-index": False, "interpreter": None,
                                  "groups": [], "extras": [], "locked": True,
                                  "use-container": False}
    assert js.builder_options == NodeOptions().model_dump(mode="json", by_alias=True)
    assert js.builder_options["bundle"] == "none"
    for name, spec in p.functions.items():
        for key in spec.builder_options:
            assert p.origins[f"functions.{name}.{key}"].file == "<built-in>", key


def test_layer_settings_default_too(project) -> None:
    p = project(API + '[layers.base]\n')
    assert p.layers["base"].source is None
    assert p.layers["base"].runtime == "python3.12"
    assert p.origins["layers.base.runtime"].file == "<built-in>"


# (key, TOML value, message) for each setting every function, layer and [defaults] has,
# and for each built-in builder option (a wrong value is a type error wherever it is written).
SETTING_ERRORS = [
    ("runtime", "3", "expected a string, got integer 3"),
    ("builder", "true", "expected a string, got true"),
    ("architecture", '"amd64"', "expected 'x86_64' or 'arm64', got 'amd64' (did you mean 'x86_64'?)"),
    ("strip", '"standard"', "expected an array of strings, got 'standard'"),
    ("include", "{a = 1}", "expected an array of strings, got a table"),
    ("exclude", "true", "expected an array of strings, got true"),
    ("requirements", "[]", "expected a string, got an array"),
    ("dependencies", '"requests"', "expected an array of strings, got 'requests'"),
    ("exclude-runtime-provided", '"yes"', "expected true or false, got 'yes'"),
    ("installer", '"poetry"', "expected 'uv' or 'pip', got 'poetry'"),
    ("index-url", "1.5", "expected a string, got float 1.5"),
    ("extra-index-urls", '"https://x"', "expected an array of strings, got 'https://x'"),
    ("find-links", "1", "expected an array of strings, got integer 1"),
    ("no-index", "0", "expected true or false, got integer 0"),
    ("max-size", '"lots"', 'expected a number of bytes or a size such as "40MiB" (2^20 bytes each) '
                           'or "40MB" (10^6 bytes each), got \'lots\''),
    ("layer-conflicts", '"fail"', "expected 'warn' or 'error', got 'fail'"),
    ("interpreter", "1979-05-27", "expected a string, got a date/time (1979-05-27)"),
    ("groups", '"dev"', "expected an array of strings, got 'dev'"),
    ("extras", "1", "expected an array of strings, got integer 1"),
    ("locked", '"yes"', "expected true or false, got 'yes'"),
    ("use-container", "1", "expected true or false, got integer 1"),
    ("bundle", '"webpack"', "expected 'none' or 'esbuild', got 'webpack'"),
    ("minify", '"no"', "expected true or false, got 'no'"),
    ("sourcemap", "1", "expected true or false, got integer 1"),
    ("external", '"x"', "expected an array of strings, got 'x'"),
    ("allow-scripts", '"false"', "expected true or false, got 'false'"),
    ("target", "22", "expected a string, got integer 22"),
    ("format", '"iife"', "expected 'cjs' or 'esm', got 'iife'"),
    ("loader", '"json"', "expected a table, got 'json'"),
    ("main-fields", '"module"', "expected an array of strings, got 'module'"),
    ("banner", "1", "expected a string, got integer 1"),
    ("define", "[]", "expected a table, got an array"),
    ("out-extension", '".mjs"', "expected a table, got '.mjs'"),
    ("keep-names", '"yes"', "expected true or false, got 'yes'"),
]


def test_the_error_table_covers_every_setting() -> None:
    assert sorted(k for k, _, _ in SETTING_ERRORS) == sorted([kebab(f) for f in SETTINGS] + OPTION_KEYS)


@pytest.mark.parametrize(("key", "value", "message"), SETTING_ERRORS)
@pytest.mark.parametrize("table", ["functions.api", "layers.base", "defaults"])
def test_setting_error(errors, table: str, key: str, value: str, message: str) -> None:
    extra = 'source = "src/api"\nhandler = "app.handler"\n' if table == "functions.api" else ""
    toml = f"[{table}]\n{extra}{key} = {value}\n"
    line = 2 + extra.count("\n")
    assert errors(toml) == [f"lambdaforge.toml:{line}: {table}.{key}: {message}"]


def test_array_element_errors_name_the_element(errors) -> None:
    assert errors(API + 'include = [\n  "ok",\n  7,\n]\n') == [
        "lambdaforge.toml:6: functions.api.include[1]: expected a string, got integer 7"
    ]


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[functions.api]\nhandler = "app.handler"\n',
         "lambdaforge.toml:1: functions.api: missing required key 'source'"),
        (API + "handler = 1\n",
         "ERROR"),
        (API.replace('handler = "app.handler"', "handler = 1"),
         "lambdaforge.toml:3: functions.api.handler: expected a string, got integer 1"),
        (API + 'layers = "shared"\n',
         "lambdaforge.toml:4: functions.api.layers: expected an array of strings, got 'shared'"),
        ("functions = 3\n", "lambdaforge.toml:1: functions: expected a table, got integer 3"),
        ("[functions]\napi = 3\n", "lambdaforge.toml:2: functions.api: expected a table, got integer 3"),
        ("[project]\nname = 1\n", "lambdaforge.toml:2: project.name: expected a string, got integer 1"),
        ('[project]\nextends = "team.toml"\n',
         "lambdaforge.toml:2: project.extends: expected an array of strings, got 'team.toml'"),
        ("[project]\ncache-dir = false\n",
         "lambdaforge.toml:2: project.cache-dir: expected a string, got false"),
        ("[project]\ncache-salt = 2\n",
         "lambdaforge.toml:2: project.cache-salt: expected a string, got integer 2"),
        ("[project]\ncache_salt = '2'\n",
         "lambdaforge.toml:2: project.cache_salt: unknown key (did you mean 'cache-salt'? keys are kebab-case)"),
        ("[[discover]]\nname = '{dir}'\n", "lambdaforge.toml:1: discover[0]: missing required key 'path'"),
        ("[[discover]]\npath = 'x/*'\nname = 1\n",
         "lambdaforge.toml:3: discover[0].name: expected a string, got integer 1"),
        ("discover = 1\n", "lambdaforge.toml:1: discover: expected an array of tables, got integer 1"),
        ("[strip-rules.x]\nexclude = 'docs/'\n",
         "lambdaforge.toml:2: strip-rules.x.exclude: expected an array of strings, got 'docs/'"),
        ("[strip-rules.x]\nkeeep = []\n",
         "lambdaforge.toml:2: strip-rules.x.keeep: unknown key (did you mean 'keep'?)"),
        ("[defaults]\nsource = 'x'\n",
         "lambdaforge.toml:2: defaults.source: unknown key ('source' may be set in "
         "[functions.NAME], [layers.NAME])"),
        ("[layers.base]\nhandler = 'a.b'\n",
         "lambdaforge.toml:2: layers.base.handler: unknown key ('handler' may be set in "
         "[defaults], [functions.NAME], [[discover]])"),
        ("[funtions.api]\n", "lambdaforge.toml:1: funtions: unknown key (did you mean 'functions'?)"),
    ],
)
def test_table_and_project_errors(errors, toml: str, expected: str) -> None:
    if expected == "ERROR":  # a duplicate key is a TOML syntax error, not a model error
        assert errors(toml) == [
            "lambdaforge.toml:4: invalid TOML: Cannot overwrite a value (at line 4, column 12)"
        ]
        return
    assert errors(toml) == [expected]


def test_strip_rule_keep_defaults_to_empty(project) -> None:
    p = project(API + "[strip-rules.x]\nexclude = ['docs/']\n")
    assert p.strip_rules["x"].keep == ()
    assert p.strip_rules["x"].exclude == ("docs/",)


def test_discover_name_defaults_to_the_directory(project) -> None:
    p = project("[[discover]]\npath = 'fns/*'\nhandler = 'app.handler'\n", {"fns/one/app.py": ""})
    assert list(p.functions) == ["one"]
    assert p.functions["one"].source == "fns/one"
