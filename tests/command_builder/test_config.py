"""Config of builders and of the command builder's options: every problem reported at once,
as ``FILE:LINE: key: message``, with the whole message asserted."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from lambdaforge.config import load_project
from lambdaforge.errors import ConfigError

COMMAND_FN = """
[functions.api]
source = "fn"
runtime = "provided.al2023"
builder = "command"
handler = "bootstrap"
"""


def errors(tmp_path: Path, text: str) -> list[str]:
    """Every issue ``load_project`` reports for this config (``fn/`` exists)."""
    (tmp_path / "fn").mkdir(exist_ok=True)
    (tmp_path / "lambdaforge.toml").write_text(textwrap.dedent(text))
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path / "lambdaforge.toml", cwd=tmp_path, env={})
    return [str(i) for i in info.value.issues]


def load(tmp_path: Path, text: str):
    (tmp_path / "fn").mkdir(exist_ok=True)
    (tmp_path / "lambdaforge.toml").write_text(textwrap.dedent(text))
    return load_project(tmp_path / "lambdaforge.toml", cwd=tmp_path, env={})


def test_a_misspelt_option_gets_a_suggestion(tmp_path: Path) -> None:
    assert errors(tmp_path, COMMAND_FN + 'comand = "make"\n') == [
        "lambdaforge.toml:7: functions.api.comand: unknown key (did you mean 'command'?)",
    ]


def test_the_command_is_required(tmp_path: Path) -> None:
    assert errors(tmp_path, COMMAND_FN) == [
        "lambdaforge.toml:2: functions.api: missing required key 'command' (builder = \"command\" needs it)",
    ]


def test_an_option_of_another_builder_is_an_error_where_it_is_written(tmp_path: Path) -> None:
    assert errors(tmp_path, """
        [functions.api]
        source = "fn"
        handler = "app.handler"
        command = "make"
    """) == [
        "lambdaforge.toml:5: functions.api.command: unknown key for builder = \"python\" "
        "('command' is an option of the command builder)",
    ]


def test_a_builder_that_does_not_serve_the_runtime(tmp_path: Path) -> None:
    assert errors(tmp_path, """
        [functions.api]
        source = "fn"
        handler = "app.handler"
        builder = "node"
    """) == [
        "lambdaforge.toml:5: functions.api.builder: the node builder does not build runtime "
        "'python3.12' (it builds nodejs20.x, nodejs22.x, nodejs24.x)",
    ]


def test_a_provided_runtime_must_name_its_builder(tmp_path: Path) -> None:
    assert errors(tmp_path, """
        [functions.api]
        source = "fn"
        runtime = "provided.al2023"
        handler = "bootstrap"
    """) == [
        "lambdaforge.toml:4: functions.api.runtime: runtime 'provided.al2023' has no default "
        "builder: set builder = \"command\" (or a builder plugin's name) to say how its "
        "bootstrap is made",
    ]


def test_an_unknown_builder_gets_a_suggestion(tmp_path: Path) -> None:
    # Its options are not judged: which builder was meant is not known yet.
    assert errors(tmp_path, COMMAND_FN.replace('"command"', '"comand"') + 'command = "x"\n') == [
        "lambdaforge.toml:5: functions.api.builder: unknown builder 'comand' (expected one of "
        "python, node, command) (did you mean 'command'?)",
    ]


def test_bad_option_values_are_all_reported(tmp_path: Path) -> None:
    assert errors(tmp_path, COMMAND_FN + textwrap.dedent("""\
        command = []
        inputs = "src"
        output = "../out"
        env = { CGO_ENABLED = 0, "1BAD" = "x", FORGE_ARCH = "arm64" }
        pass-env = ["GOPATH", 3]
    """)) == [
        "lambdaforge.toml:7: functions.api.command: the command is empty: the array needs the program first",
        "lambdaforge.toml:8: functions.api.inputs: expected an array of strings, got 'src'",
        "lambdaforge.toml:9: functions.api.output: '../out' must be a directory relative to the "
        "scratch copy, without '..' (e.g. \"out\")",
        "lambdaforge.toml:10: functions.api.env.CGO_ENABLED: expected a string, got integer 0",
        "lambdaforge.toml:11: functions.api.pass-env[1]: expected a string, got integer 3",
    ]


def test_env_names_are_checked(tmp_path: Path) -> None:
    assert errors(tmp_path, COMMAND_FN + 'command = "x"\nenv = { "1BAD" = "x" }\n') == [
        "lambdaforge.toml:8: functions.api.env: '1BAD' is not an environment variable name "
        "(letters, digits and '_', not starting with a digit)",
    ]
    assert errors(tmp_path, COMMAND_FN + 'command = "x"\nenv = { FORGE_ARCH = "arm64" }\n') == [
        "lambdaforge.toml:8: functions.api.env: FORGE_ARCH is set by forge for every command",
    ]
    assert errors(tmp_path, COMMAND_FN + 'command = "x"\nenv = { A = "1" }\npass-env = ["A"]\n') == [
        "lambdaforge.toml:2: functions.api: A in both `env` and `pass-env`: set a value or pass "
        "it through, not both",
    ]


def test_options_in_defaults_apply_to_command_targets_only(tmp_path: Path) -> None:
    project = load(tmp_path, """
        [defaults]
        command = "make"
        env = { GOOS = "linux" }

        [functions.api]
        source = "fn"
        runtime = "provided.al2023"
        builder = "command"
        handler = "bootstrap"
        output = "out"

        [functions.py]
        source = "fn"
        handler = "app.handler"
    """)
    api, py = project.functions["api"], project.functions["py"]
    assert api.builder_options == {"command": "make", "inputs": None, "output": "out",
                                   "env": {"GOOS": "linux"}, "pass-env": []}
    assert py.builder == "python" and not {"command", "env"} & set(py.builder_options)
    origins = {k: (o.file, o.line) for k, o in project.origins.items() if k.startswith("functions.api.")}
    assert origins["functions.api.command"] == ("lambdaforge.toml", 3)
    assert origins["functions.api.env.GOOS"] == ("lambdaforge.toml", 4)
    assert origins["functions.api.output"] == ("lambdaforge.toml", 11)
    assert origins["functions.api.inputs"] == ("<built-in>", None)
    assert origins["functions.api.builder"] == ("lambdaforge.toml", 9)
    assert project.origins["functions.py.builder"].file == "<built-in>"


def test_a_bad_value_in_defaults_is_reported_once_at_defaults(tmp_path: Path) -> None:
    assert errors(tmp_path, """
        [defaults]
        output = "/abs"

        [functions.a]
        source = "fn"
        runtime = "provided.al2023"
        builder = "command"
        handler = "bootstrap"
        command = "x"

        [functions.b]
        source = "fn"
        runtime = "provided.al2"
        builder = "command"
        handler = "bootstrap"
        command = "y"
    """) == [
        "lambdaforge.toml:3: defaults.output: '/abs' must be a directory relative to the "
        "scratch copy, without '..' (e.g. \"out\")",
    ]


def test_discover_entries_take_options(tmp_path: Path) -> None:
    (tmp_path / "services/a").mkdir(parents=True)
    project = load(tmp_path, """
        [[discover]]
        path = "services/*"
        runtime = "provided.al2023"
        builder = "command"
        handler = "bootstrap"
        command = ["make"]
    """)
    assert project.functions["a"].builder_options["command"] == ["make"]


def test_a_provided_handler_is_free_form_but_not_blank(tmp_path: Path) -> None:
    assert load(tmp_path, COMMAND_FN.replace('"bootstrap"', '"my handler.v2"') + 'command = "x"\n')
    assert errors(tmp_path, COMMAND_FN.replace('"bootstrap"', '" "') + 'command = "x"\n') == [
        "lambdaforge.toml:6: functions.api.handler: handler ' ' does not fit provided.al2023: "
        "expected a non-empty name without surrounding spaces, e.g. 'bootstrap'",
    ]


def test_forge_config_shows_options_as_written(tmp_path: Path) -> None:
    from lambdaforge.config.effective import effective_config

    project = load(tmp_path, COMMAND_FN + 'command = ["go", "build"]\npass-env = ["GOPATH"]\n')
    shown = effective_config(project)["functions"]["api"]
    assert (shown["builder"], shown["command"], shown["pass-env"], shown["env"]) == (
        "command", ["go", "build"], ["GOPATH"], {})
    assert "builder-options" not in shown and "output" not in shown
