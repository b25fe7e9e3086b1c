"""Layers referenced by ARN: validated, counted, never built or shipped; ``check-with``
stands in for their content in checks."""

from __future__ import annotations

import json
import shutil

import pytest

from lambdaforge.config import load_project
from lambdaforge.errors import ConfigError

from .conftest import LOCAL_INDEX, ProjectDir

POWERTOOLS = "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:7"
HANDLER = "def handler(event, context):\n    return 1\n"


def config(layer: str, function_layers: str = '["powertools"]') -> str:
    return (LOCAL_INDEX + f"[layers.powertools]\n{layer}\n"
            f'[functions.fn]\nsource = "fn"\nhandler = "app.handler"\nlayers = {function_layers}\n')


def manifest(project: ProjectDir) -> dict[str, dict]:
    data = json.loads((project.root / ".forge/build/manifest.json").read_text())
    return {f"{a['kind']}:{a['name']}": a for a in data["artifacts"]}


def errors(project: ProjectDir) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_project(project.root / "lambdaforge.toml")
    return [str(i).split("lambdaforge.toml:", 1)[1] for i in info.value.issues]


def test_a_referenced_layer_is_attached_not_built(deps_project: ProjectDir) -> None:
    deps_project.config(config(f'arn = "{POWERTOOLS}"'))
    deps_project.write("fn/app.py", HANDLER)
    outcome = deps_project.build()
    assert outcome.ok
    assert not any(t.startswith("layer:") for t in outcome.results)
    records = manifest(deps_project)
    assert set(records) == {"function:fn"}
    assert records["function:fn"]["layers"] == ["powertools"]
    assert records["function:fn"]["layer_arns"] == {"powertools": POWERTOOLS}


def test_check_with_stands_in_for_its_content_in_checks_and_is_never_shipped(
        deps_project: ProjectDir) -> None:
    if shutil.which("python3.12") is None:
        pytest.skip("no python3.12 interpreter")
    deps_project.config(config(f'arn = "{POWERTOOLS}"\ncheck-with = ["dep-a"]'))
    deps_project.write("fn/app.py", "import dep_a\nimport dep_b\n" + HANDLER)
    outcome = deps_project.build(smoke=True)
    assert outcome.ok, {t: r.error for t, r in outcome.results.items() if r.error}
    assert outcome.results["check:function:fn"].output.import_ms is not None
    stand_in = deps_project.root / ".forge/build/stand-ins/powertools.zip"
    assert stand_in.is_file()
    assert not (deps_project.root / ".forge/build/layers/powertools.zip").exists()
    assert set(manifest(deps_project)) == {"function:fn"}
    # Without the stand-in, the import of what only the layer provides fails the check.
    deps_project.config(config(f'arn = "{POWERTOOLS}"'))
    outcome = deps_project.build(smoke=True)
    check = outcome.results["check:function:fn"]
    assert check.status.value == "failed" and "No module named 'dep_a'" in check.error


def test_referenced_layers_count_against_the_limit(deps_project: ProjectDir) -> None:
    more = "".join(f'[layers.l{i}]\narn = "{POWERTOOLS[:-1]}{i}"\n' for i in range(5))
    deps_project.config(config(f'arn = "{POWERTOOLS}"',
                               '["powertools", "l0", "l1", "l2", "l3", "l4"]') + more)
    deps_project.write("fn/app.py", HANDLER)
    assert any("6 layers listed; Lambda allows at most 5" in e for e in errors(deps_project))


def test_what_a_referenced_layer_cannot_have(deps_project: ProjectDir) -> None:
    deps_project.write("fn/app.py", HANDLER)
    deps_project.write("src/x.py", "")
    deps_project.config(config('arn = "arn:aws:lambda:eu-west-1:123:layer:x"\nsource = "src"'))
    assert errors(deps_project) == [
        "7: layers.powertools.arn: 'arn:aws:lambda:eu-west-1:123:layer:x' is "
        "not a layer version ARN (expected arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION)",
        "8: layers.powertools.source: a layer referenced by `arn` is not built: "
        "remove `source` (checks can use `check-with`)",
    ]
    deps_project.config(config('check-with = ["dep-a"]'))
    assert errors(deps_project) == [
        "7: layers.powertools.check-with: `check-with` stands in for a layer "
        "referenced by `arn`; this layer is built (give it `dependencies` instead)",
    ]


def test_a_referenced_layer_serves_functions_of_any_runtime_and_architecture(
        deps_project: ProjectDir) -> None:
    """An extension (Lambda Insights, the Parameters and Secrets extension) is published for
    every runtime: the runtime `[defaults]` gives it is not its own. Before, a Node.js
    function using it was refused ("built for python3.12, which cannot serve function …")."""
    deps_project.write("fn/app.py", HANDLER)
    deps_project.write("web/index.js", "exports.handler = async () => 1;\n")
    insights = "arn:aws:lambda:eu-west-1:580247275435:layer:LambdaInsightsExtension:53"
    deps_project.config(LOCAL_INDEX + f'[layers.insights]\narn = "{insights}"\n'
                        '[functions.fn]\nsource = "fn"\nhandler = "app.handler"\nlayers = ["insights"]\n'
                        'architecture = "arm64"\n'
                        '[functions.web]\nsource = "web"\nhandler = "index.handler"\n'
                        'runtime = "nodejs22.x"\nlayers = ["insights"]\n')
    project = load_project(deps_project.root / "lambdaforge.toml")
    assert not [w for w in project.warnings if "insights" in str(w)], project.warnings
