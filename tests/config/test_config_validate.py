"""Semantic checks that know Lambda, each with its exact message, file and line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.config.conftest import API, issues_of, write

from lambdaforge.config import load_project


def fn(name: str = "api", **settings: str) -> str:
    """A function table with raw TOML values."""
    lines = [f"[functions.{name}]", 'source = "src/api"']
    lines += [f"{k.replace('_', '-')} = {v}" for k, v in settings.items()]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("create.order", "function name 'create.order' is not valid: use 1-64 letters, digits, '-' and '_'"),
        ("x" * 65, f"function name '{'x' * 65}' is not valid: use 1-64 letters, digits, '-' and '_'"),
    ],
)
def test_function_names(errors, name: str, message: str) -> None:
    quoted = f'"{name}"'
    assert errors(fn(quoted, handler='"app.handler"')) == [
        f"lambdaforge.toml:1: functions.{quoted if '.' in name else name}: {message}"
    ]


def test_layer_names(errors) -> None:
    assert errors(API + '[layers."my layer"]\n') == [
        "lambdaforge.toml:4: layers.\"my layer\": layer name 'my layer' is not valid: "
        "use 1-140 letters, digits, '-' and '_'"
    ]


@pytest.mark.parametrize(
    ("runtime", "handler", "message"),
    [
        ('"python3.12"', '"app"', "handler 'app' does not fit python3.12: expected 'module.function', e.g. 'app.handler'"),
        ('"python3.12"', '"app.handler()"', "handler 'app.handler()' does not fit python3.12: expected 'module.function', e.g. 'app.handler'"),
        ('"python3.12"', '"app.1handler"', "handler 'app.1handler' does not fit python3.12: expected 'module.function', e.g. 'app.handler'"),
        ('"python3.12"', '"my app.handler"', "handler 'my app.handler' does not fit python3.12: expected 'module.function', e.g. 'app.handler'"),
        ('"nodejs22.x"', '"index"', "handler 'index' does not fit nodejs22.x: expected 'file.export', e.g. 'index.handler'"),
        ('"nodejs22.x"', '"index.my-handler"', "handler 'index.my-handler' does not fit nodejs22.x: expected 'file.export', e.g. 'index.handler'"),
    ],
)
def test_handler_form_per_runtime(errors, runtime: str, handler: str, message: str) -> None:
    assert errors(fn(runtime=runtime, handler=handler)) == [
        f"lambdaforge.toml:4: functions.api.handler: {message}"
    ]


@pytest.mark.parametrize(
    ("runtime", "handler"),
    [("python3.14", "app.handler"), ("python3.12", "pkg/sub.mod.handler"),
     # importlib.import_module, which Lambda's bootstrap calls, finds my-app.py and 1app.py
     ("python3.12", "my-app.handler"), ("python3.12", "src/my-dir/1app.handler"),
     ("nodejs24.x", "src/index.handler"), ("nodejs22.x", "index.$handler")],
)
def test_valid_handlers(project, runtime: str, handler: str) -> None:
    assert project(fn(runtime=f'"{runtime}"', handler=f'"{handler}"')).functions["api"].handler == handler


def test_a_function_needs_a_handler(errors) -> None:
    assert errors(fn()) == [
        "lambdaforge.toml:1: functions.api: missing required key 'handler' (set it here or in [defaults])"
    ]


def test_unknown_runtime_with_suggestion(errors) -> None:
    assert errors(fn(runtime='"python3.21"', handler='"app.handler"')) == [
        "lambdaforge.toml:3: functions.api.runtime: unknown runtime 'python3.21' (expected one of "
        "python3.10, python3.11, python3.12, python3.13, python3.14, nodejs20.x, nodejs22.x, "
        "nodejs24.x, provided.al2, provided.al2023)"
    ]


def test_deprecated_runtime_is_a_warning_on_the_project(project) -> None:
    p = project('[defaults]\nruntime = "python3.10"\n' + API)
    assert [str(w) for w in p.warnings] == [
        "lambdaforge.toml:2: defaults.runtime: warning: runtime 'python3.10' is deprecated by "
        "Lambda since 2026-06-30 (no security patches; Lambda will block creating, then "
        "updating, functions that use it); move to 'python3.12' or later"
    ]
    assert p.warnings[0].severity == "warning"


@pytest.mark.parametrize("runtime, date, instead", [
    ("python3.8", "2024-10-14", "python3.12"),
    ("nodejs18.x", "2025-09-01", "nodejs22.x"),
    ("go1.x", "2024-01-08", "provided.al2023"),
])
def test_a_retired_runtime_names_its_date_and_the_nearest_supported_one(
        errors, runtime: str, date: str, instead: str) -> None:
    handler = "bootstrap" if runtime == "go1.x" else "app.handler"
    assert errors(f'[defaults]\nruntime = "{runtime}"\n'
                  f'[functions.api]\nsource = "src"\nhandler = "{handler}"\n') == [
        f"lambdaforge.toml:2: defaults.runtime: runtime '{runtime}' was retired by Lambda "
        f"(deprecated on {date}: no security patches, and Lambda blocks creating and then "
        f"updating functions that use it); use '{instead}' or later"
    ]


def test_deprecation_is_judged_on_the_day() -> None:
    import datetime

    from lambdaforge import lambda_facts

    py312 = lambda_facts.RUNTIMES["python3.12"]
    assert not py312.deprecated(datetime.date(2028, 10, 30))
    assert py312.deprecated(datetime.date(2028, 10, 31))
    # The nearest supported runtime moves with the day too.
    assert lambda_facts.replacement("python3.8", datetime.date(2026, 1, 1)) == "python3.10"
    assert lambda_facts.replacement("python3.8", datetime.date(2028, 11, 1)) == "python3.13"


def test_a_bad_default_is_reported_once_where_it_was_written(errors) -> None:
    assert errors(
        '[defaults]\nruntime = "python2.6"\nhandler = "app.handler"\n'
        + fn("a") + fn("b") + fn("c")
    ) == [
        "lambdaforge.toml:2: defaults.runtime: unknown runtime 'python2.6' (expected one of "
        "python3.10, python3.11, python3.12, python3.13, python3.14, nodejs20.x, nodejs22.x, nodejs24.x, provided.al2, provided.al2023)"
    ]


def test_layers_limit_unknown_duplicate_and_suggestions(errors) -> None:
    layers = "".join(f"[layers.l{i}]\n" for i in range(6))
    assert errors(
        layers + API + 'layers = [\n  "l0", "l1", "l2", "l3", "l4",\n  "l5",\n  "l1",\n  "lx0",\n]\n'
    ) == [
        "lambdaforge.toml:11: functions.api.layers: 8 layers listed; Lambda allows at most 5",
        "lambdaforge.toml:14: functions.api.layers[6]: layer 'l1' is listed twice",
        "lambdaforge.toml:15: functions.api.layers[7]: unknown layer 'lx0' (did you mean 'l0'?)",
    ]


def test_unknown_layer_when_none_are_defined(errors) -> None:
    assert errors(API + 'layers = ["shared"]\n') == [
        "lambdaforge.toml:4: functions.api.layers[0]: unknown layer 'shared' (no layers are defined)"
    ]


def test_unknown_strip_rule_sets_with_suggestions(errors) -> None:
    assert errors(
        '[strip-rules.no-docs]\nexclude = ["docs/"]\n[layers.base]\nstrip = ["no-doc"]\n'
        + API + 'strip = ["standart"]\n'
    ) == [
        "lambdaforge.toml:4: layers.base.strip[0]: unknown strip rule set 'no-doc' (did you mean 'no-docs'?)",
        "lambdaforge.toml:9: functions.api.strip[0]: unknown strip rule set 'standart' (did you mean 'standard'?)",
    ]


def test_built_in_strip_rule_sets_cannot_be_redefined(errors) -> None:
    assert errors(API + "[strip-rules.standard]\nexclude = []\n") == [
        "lambdaforge.toml:4: strip-rules.standard: 'standard' is a built-in strip rule set; "
        "give yours another name"
    ]


def test_layer_and_function_runtime_families_must_match(errors) -> None:
    assert errors('[layers.web]\nruntime = "nodejs22.x"\n' + API + 'layers = ["web"]\n') == [
        "lambdaforge.toml:7: functions.api.layers[0]: layer 'web' is built for nodejs22.x, "
        "which cannot serve function 'api' on python3.12"
    ]


def test_layer_architecture_and_python_version_mismatch_warn(project) -> None:
    p = project(
        '[layers.base]\nruntime = "python3.13"\narchitecture = "arm64"\n' + API + 'layers = ["base"]\n'
    )
    assert [str(w) for w in p.warnings] == [
        "lambdaforge.toml:8: functions.api.layers[0]: warning: layer 'base' is built for arm64 but "
        "function 'api' runs on x86_64: native code in the layer will not load",
        "lambdaforge.toml:8: functions.api.layers[0]: warning: layer 'base' is built for python3.13 "
        "but function 'api' runs python3.12: compiled packages in the layer may not import",
    ]


# --------------------------------------------------------------------------- paths


def test_missing_source_and_requirements(errors) -> None:
    assert errors(
        '[functions.api]\nsource = "src/nope"\nhandler = "a.b"\nrequirements = "req.txt"\n'
        '[layers.base]\nsource = "layers/base"\nfind-links = ["wheels", "https://x.org/w"]\n'
    ) == [
        "lambdaforge.toml:2: functions.api.source: directory not found: src/nope",
        "lambdaforge.toml:4: functions.api.requirements: file not found: req.txt",
        "lambdaforge.toml:6: layers.base.source: directory not found: layers/base",
        "lambdaforge.toml:7: layers.base.find-links: path not found: wheels",
    ]


def test_paths_may_not_leave_the_project_root(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write(root, {"lambdaforge.toml": '[functions.api]\nsource = "../elsewhere"\nhandler = "a.b"\n'
                 'requirements = "/etc/hostname"\n', "../elsewhere/": ""})
    assert issues_of(root) == [
        "lambdaforge.toml:2: functions.api.source: '../elsewhere' leaves the project root",
        "lambdaforge.toml:4: functions.api.requirements: '/etc/hostname' leaves the project root",
    ]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_paths_may_not_leave_the_project_root_through_a_symlink(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write(root, {"lambdaforge.toml": '[functions.api]\nsource = "src/link"\nhandler = "a.b"\n',
                 "../outside/": ""})
    (root / "src" / "link").symlink_to(tmp_path / "outside")
    assert issues_of(root) == [
        "lambdaforge.toml:2: functions.api.source: 'src/link' leaves the project root through a symlink"
    ]


def test_a_symlink_inside_the_root_is_fine(project, tmp_path: Path) -> None:
    write(tmp_path, {"real/": ""})
    (tmp_path / "src" / "alias").symlink_to(tmp_path / "real")
    p = project('[functions.api]\nsource = "src/alias"\nhandler = "a.b"\n')
    assert p.functions["api"].source == "src/alias"


def test_requirements_default_to_the_source_requirements_txt(project) -> None:
    p = project(API + fn("other", handler='"a.b"').replace("src/api", "src/other"),
                {"src/api/requirements.txt": "requests\n", "src/other/": ""})
    assert p.functions["api"].requirements == "src/api/requirements.txt"
    assert p.functions["other"].requirements is None


def test_every_problem_of_a_run_is_reported_at_once(errors) -> None:
    assert errors(
        '[defaults]\nruntime = "python3.9"\n'
        '[functions.a]\nsource = "src/a"\nhandler = "a.b"\n'
        '[functions.b]\nsource = "src/api"\nlayers = ["x"]\nhandler = "nope"\n'
    ) == [
        "lambdaforge.toml:2: defaults.runtime: runtime 'python3.9' was retired by Lambda "
        "(deprecated on 2025-12-15: no security patches, and Lambda blocks creating and then "
        "updating functions that use it); use 'python3.12' or later",
        "lambdaforge.toml:4: functions.a.source: directory not found: src/a",
        "lambdaforge.toml:8: functions.b.layers[0]: unknown layer 'x' (no layers are defined)",
    ]


def test_a_project_outside_any_cwd_relation_still_loads(tmp_path: Path) -> None:
    write(tmp_path / "p", {"lambdaforge.toml": API})
    p = load_project(tmp_path / "p" / "lambdaforge.toml", cwd=tmp_path / "p" / "src", env={})
    assert p.root == (tmp_path / "p").resolve()


def test_a_string_over_its_length_limit_is_not_called_the_wrong_type(tmp_path) -> None:
    """A 257-character description was "expected a string, got 'xxxx…'"."""
    from lambdaforge.config import load_project
    from lambdaforge.errors import ConfigError

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    (tmp_path / "lambdaforge.toml").write_text(
        '[functions.a]\nsource = "src"\nhandler = "app.handler"\n'
        f'description = "{"x" * 257}"\n')
    with pytest.raises(ConfigError) as err:
        load_project(cwd=tmp_path, env={})
    assert str(err.value) == "lambdaforge.toml:4: functions.a.description: 257 characters, over the limit of 256"
