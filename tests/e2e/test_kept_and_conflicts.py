"""What a build says it ships on purpose, end to end: notes naming why a runtime-provided
package stays in a zip (text output and ``--json``), and version conflicts between layers.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import jsonschema
import pytest

from lambdaforge.cli import main
from tests.e2e.conftest import LOCAL_INDEX

REPO = Path(__file__).resolve().parents[2]
VALIDATOR = jsonschema.Draft202012Validator(
    json.loads((REPO / "schemas" / "build-report.schema.json").read_text()))
HANDLER = "def handler(event, context):\n    return 'ok'\n"


def functions_with(project, **dependencies: str) -> None:
    """Configure one function per keyword (its name) with that inline dependency, on the
    local index, each with an ``app.handler``."""
    project.config(LOCAL_INDEX + "".join(
        f'\n[functions.{name}]\nsource = "{name}"\nhandler = "app.handler"\n'
        f'dependencies = ["{dep}"]\n' for name, dep in dependencies.items()))
    for name in dependencies:
        project.write(f"{name}/app.py", HANDLER)


def test_kept_runtime_packages_are_noted_in_text_and_json(deps_project, capsys):
    functions_with(deps_project, pinned="boto3==1.0", needs="requests")
    assert main(["-C", str(deps_project.root), "build"]) == 0
    err = capsys.readouterr().err
    assert "note: function:needs: urllib3 2.0 kept: required by requests 1.0\n" in err
    for line in ("boto3 1.0 kept: pinned with == in its requirements",
                 "botocore 1.0 kept: required by boto3 1.0",
                 "jmespath 1.0 kept: required by botocore 1.0",
                 "urllib3 2.0 kept: required by botocore 1.0"):
        assert f"note: function:pinned: {line}\n" in err

    # --json, after a clean: restored from the cache, the notes come along
    assert main(["-C", str(deps_project.root), "clean"]) == 0
    capsys.readouterr()
    assert main(["-C", str(deps_project.root), "build", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    VALIDATOR.validate(report)
    targets = {t["id"]: t for t in report["targets"]}
    assert targets["function:needs"]["status"] == "cached"
    assert targets["function:needs"]["notes"] == ["urllib3 2.0 kept: required by requests 1.0"]
    assert targets["function:pinned"]["notes"] == [
        "boto3 1.0 kept: pinned with == in its requirements",
        "botocore 1.0 kept: required by boto3 1.0",
        "jmespath 1.0 kept: required by botocore 1.0",
        "urllib3 2.0 kept: required by botocore 1.0",
    ]
    assert targets["check:function:needs"]["notes"] == []


def test_a_range_the_runtime_does_not_meet_ships_boto3(deps_project, capsys):
    """``boto3<1.30`` on python3.12 (the runtime ships 1.38.36): boto3 and what it needs
    ship; ``boto3>=1.0`` is met by the runtime's copy, which serves it."""
    functions_with(deps_project, ranged="boto3<1.30", met="boto3>=1.0")
    assert main(["-C", str(deps_project.root), "build"]) == 0
    err = capsys.readouterr().err
    assert ("note: function:ranged: boto3 1.0 kept: requires boto3<1.30; the python3.12 "
            "runtime has 1.38.36\n") in err
    build = deps_project.root / ".forge" / "build" / "functions"
    with zipfile.ZipFile(build / "ranged.zip") as zf:
        tops = {n.split("/")[0] for n in zf.namelist()}
    assert {"boto3", "botocore", "app.py"} <= tops
    with zipfile.ZipFile(build / "met.zip") as zf:
        assert zf.namelist() == ["app.py"]


def test_configured_runtime_packages_decide_which_ranges_the_runtime_meets(deps_project, capsys):
    """``[check] runtime-packages`` names the boto3 the runtime has (what the smoke test
    installs): ``boto3>=1.0`` is met by the runtime's 1.38.36 and left to it, but not by a
    configured 0.9, so boto3 ships then, and says why. The setting is in the package's
    key: changing it repackages, changing it back is a cache hit."""
    build = deps_project.root / ".forge" / "build" / "functions"

    def configure(runtime_packages: str) -> None:
        deps_project.config(LOCAL_INDEX + runtime_packages + (
            '\n[functions.met]\nsource = "met"\nhandler = "app.handler"\n'
            'dependencies = ["boto3>=1.0"]\n'))
        deps_project.write("met/app.py", HANDLER)

    def tops() -> set[str]:
        with zipfile.ZipFile(build / "met.zip") as zf:
            return {n.split("/")[0] for n in zf.namelist()}

    configure("")
    assert main(["-C", str(deps_project.root), "build"]) == 0
    assert tops() == {"app.py"}
    configure('\n[check]\nruntime-packages = ["boto3==0.9", "botocore==0.9"]\n')
    capsys.readouterr()
    assert main(["-C", str(deps_project.root), "build"]) == 0
    err = capsys.readouterr().err
    assert ("note: function:met: boto3 1.0 kept: requires boto3>=1.0; the python3.12 runtime "
            "has 0.9 ([check] runtime-packages)\n") in err, err
    assert {"boto3", "botocore", "app.py"} <= tops()
    configure("")
    assert main(["-C", str(deps_project.root), "build"]) == 0
    assert "cached  function:met" in capsys.readouterr().err
    assert tops() == {"app.py"}


TWO_LAYERS = LOCAL_INDEX + """
[layers.old]
dependencies = ["urllib3==1.0"]

[layers.new]
dependencies = ["urllib3==2.0"]

[functions.fn]
source = "fn"
handler = "app.handler"
layers = ["old", "new"]
{extra}
"""


@pytest.mark.parametrize("strictness", ["warn", "error"])
def test_two_layers_with_different_versions(deps_project, strictness):
    deps_project.config(TWO_LAYERS.format(extra=f'layer-conflicts = "{strictness}"'))
    deps_project.write("fn/app.py", HANDLER)
    out = deps_project.build()
    message = ("urllib3: layer old provides 1.0 but layer new provides 2.0; function fn uses "
               "both, and Lambda merges its layers into /opt in the order they are listed, so it "
               "may import a mix of the two versions: give both layers the same version")
    result = out.results["function:fn"]
    if strictness == "warn":
        assert out.ok, [r.error for r in out.failures()]
        assert result.warnings == [f"layer conflict: {message}"]
    else:
        assert result.status.value == "failed"
        assert result.error == f'layer conflict: {message} (layer-conflicts = "error")'


def test_a_functions_own_copy_settles_its_layers_conflict(deps_project):
    # dependencies of its own, but no urllib3: it imports the layers' mix
    deps_project.config(TWO_LAYERS.format(extra='dependencies = ["dep-a"]'))
    deps_project.write("fn/app.py", HANDLER)
    out = deps_project.build()
    assert out.ok, [r.error for r in out.failures()]
    assert [w.split(";")[0] for w in out.results["function:fn"].warnings] == [
        "layer conflict: urllib3: layer old provides 1.0 but layer new provides 2.0",
    ]
    # its own urllib3 wins over both layers' (/var/task comes first): only that is reported
    deps_project.config(TWO_LAYERS.format(extra='dependencies = ["urllib3==2.0"]'))
    out = deps_project.build()
    assert out.ok, [r.error for r in out.failures()]
    assert out.results["function:fn"].warnings == [
        "layer conflict: urllib3: function fn bundles 2.0 but layer old provides 1.0; the "
        "function's copy wins at runtime (/var/task precedes /opt on the import path)",
    ]
