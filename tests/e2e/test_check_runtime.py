"""The import smoke test runs the handler as Lambda would: with the runtime's own packages
(boto3 & co., installed from the project's index settings) after the function and its
layers, with the function's environment variables and nothing of this machine's."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lambdaforge.builders.python.smoke import find_interpreter
from lambdaforge.builders.python.target import PythonTarget
from lambdaforge.lambda_facts import PYTHON_RUNTIME_PACKAGES
from lambdaforge.runner import Runner
from tests.e2e.conftest import LOCAL_INDEX, ProjectDir
from tests.support.wheels import build_runtime_wheelhouse

if find_interpreter(PythonTarget.of("python3.12", "x86_64"), Runner())[0] is None:
    pytest.skip("no python3.12 interpreter for x86_64 here", allow_module_level=True)

HANDLER = "def handler(event, context):\n    return 1\n"
#: creates a client at import, as most real handlers do
BOTO3 = "import boto3\ns3 = boto3.client('s3')\n"


@pytest.fixture(scope="session")
def runtime_wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fakes of python3.12's own packages at the versions lambda_facts lists."""
    return build_runtime_wheelhouse(tmp_path_factory.mktemp("runtime-wheels"),
                                    PYTHON_RUNTIME_PACKAGES["python3.12"])


@pytest.fixture
def runtime_project(deps_project: ProjectDir, runtime_wheelhouse: Path) -> ProjectDir:
    """A project whose wheel folder has the runtime's packages too."""
    for wheel in runtime_wheelhouse.iterdir():
        shutil.copy(wheel, deps_project.root / "wheels")
    return deps_project


def test_boto3_handlers_are_imported_and_the_real_failure_is_named(runtime_project) -> None:
    runtime_project.config(LOCAL_INDEX + """
[layers.old-urllib3]
source = "layers/old"

[functions.good]
source = "good"
handler = "app.handler"

[functions.missing]
source = "missing"
handler = "app.handler"

[functions.shadowed]
source = "shadowed"
handler = "app.handler"
layers = ["old-urllib3"]
""")
    runtime_project.write("good/app.py", BOTO3 + "import dep_a\n" + HANDLER)
    runtime_project.write("good/requirements.txt", "dep-a\n")
    # boto3 first used to hide this: the check stopped at boto3 and called it skipped
    runtime_project.write("missing/app.py", BOTO3 + "import requests\n" + HANDLER)
    runtime_project.write("shadowed/app.py", BOTO3 + HANDLER)
    # a layer's old urllib3 comes before the runtime's and breaks botocore's import
    runtime_project.write("layers/old/urllib3/__init__.py",
                          "from .packages.six.moves import http_client\n")
    out = runtime_project.build(smoke=True)
    good, missing, shadowed = (out.results[f"check:function:{n}"] for n in ("good", "missing", "shadowed"))
    assert good.status.value == "built", good.error
    assert good.warnings == [] and good.output.import_ms >= 0
    assert missing.status.value == "failed"
    assert missing.error == (
        "import smoke test failed: Unable to import module 'app': No module named 'requests'\n"
        '  File "/var/task/app.py", line 3, in <module>\n'
        "    import requests\n"
        "ModuleNotFoundError: No module named 'requests'")
    assert shadowed.status.value == "failed"
    assert shadowed.error == (
        "import smoke test failed: Unable to import module 'app': No module named "
        "'urllib3.packages'\n"
        '  File "/opt/python/urllib3/__init__.py", line 1, in <module>\n'
        "    from .packages.six.moves import http_client\n"
        "ModuleNotFoundError: No module named 'urllib3.packages'")


def test_without_the_runtimes_packages_the_check_says_why_and_is_not_green(deps_project) -> None:
    # The standard wheel folder has boto3 1.0, not the 1.38.36 python3.12 ships.
    deps_project.config(LOCAL_INDEX + """
[functions.uses-boto3]
source = "a"
handler = "app.handler"

[functions.plain]
source = "b"
handler = "app.handler"
""")
    deps_project.write("a/app.py", BOTO3 + HANDLER)
    deps_project.write("b/app.py", HANDLER)
    out = deps_project.build(smoke=True)
    uses, plain = out.results["check:function:uses-boto3"], out.results["check:function:plain"]
    why = ("installing boto3==1.38.36, botocore==1.38.36, s3transfer, jmespath, python-dateutil, "
           "six, urllib3 for python3.12 x86_64 failed (Because there is no version of "
           "boto3==1.38.36 and you require boto3==1.38.36, we can conclude that your "
           "requirements are unsatisfiable.); they are fetched with the function's index "
           "settings (`index-url`, `find-links`, `no-index`): point them at an index or wheel "
           "folder that has them, or change the list with `[check] runtime-packages`")
    assert uses.output.smoke_skipped
    assert uses.warnings == [
        "import smoke test skipped: the handler imports boto3, which the Lambda runtime "
        "provides, and the runtime's own packages could not be installed here: " + why]
    # it imported, but not with what Lambda would give it: passed, not final (tried again)
    assert plain.status.value == "built" and plain.output.import_ms is not None
    assert plain.output.smoke_skipped
    assert plain.warnings == [
        "import smoke test: the runtime's own packages could not be installed, the import "
        "ran without them (it did not need them): " + why]


def test_the_runtime_package_list_can_be_replaced_and_is_in_the_checks_key(deps_project) -> None:
    config = LOCAL_INDEX + """
[functions.fn]
source = "fn"
handler = "app.handler"
"""
    deps_project.config(config + '\n[check]\nruntime-packages = ["boto3==1.0"]\n')
    deps_project.write("fn/app.py", "import boto3, botocore, urllib3, jmespath\n" + HANDLER)
    out = deps_project.build(smoke=True)
    check = out.results["check:function:fn"]
    assert check.status.value == "built" and check.warnings == [], check.error
    assert deps_project.build(smoke=True).results["check:function:fn"].status.value == "up-to-date"
    deps_project.config(config + '\n[check]\nruntime-packages = ["boto3==1.0", "urllib3==1.0"]\n')
    again = deps_project.build(smoke=True)
    assert again.results["function:fn"].status.value == "up-to-date"  # the zip is the same
    assert again.results["check:function:fn"].status.value == "built"
    assert again.results["check:function:fn"].reasons == [
        "config changed: check.fn.runtime-packages: ['boto3==1.0'] → ['boto3==1.0', 'urllib3==1.0']"]


TABLE = "import os\nTABLE = os.environ['TABLE_NAME']\n" + HANDLER


TWO_FUNCTIONS = """
[functions.with-env]
source = "fn"
handler = "app.handler"
environment = { TABLE_NAME = "orders" }

[functions.without]
source = "fn"
handler = "app.handler"
"""


def test_environment_variables_reach_the_import_and_a_missing_one_is_named(project) -> None:
    project.config(TWO_FUNCTIONS)
    project.write("fn/app.py", TABLE)
    out = project.build(smoke=True)
    assert out.results["check:function:with-env"].status.value == "built"
    failed = out.results["check:function:without"]
    assert failed.error == (
        "import smoke test failed: Unable to import module 'app': 'TABLE_NAME'\n"
        '  File "/var/task/app.py", line 2, in <module>\n'
        "    TABLE = os.environ['TABLE_NAME']\n"
        "KeyError: 'TABLE_NAME'")
    # a value only the checks use, and its change re-runs only the checks
    project.config(TWO_FUNCTIONS + '\n[check]\nenvironment = { TABLE_NAME = "orders-test" }\n')
    out = project.build(smoke=True)
    assert {k: r.status.value for k, r in out.results.items() if r.status.value != "up-to-date"} == {
        "function:without": "cached",  # its failed check removed the zip: restored
        "check:function:with-env": "built", "check:function:without": "built"}
    assert out.results["check:function:with-env"].reasons == [
        "config changed: check.with-env.environment.TABLE_NAME: 'orders' → 'orders-test'"]


def test_the_import_sees_lambdas_variables_and_nothing_of_the_developers(project, monkeypatch,
                                                                       tmp_path: Path) -> None:
    leaky = tmp_path / "leaky"
    leaky.mkdir()
    (leaky / "leaky_module.py").write_text("X = 1\n")
    monkeypatch.setenv("PYTHONPATH", str(leaky))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIADEVELOPERKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "developer-secret")
    monkeypatch.setenv("AWS_PROFILE", "dev")
    monkeypatch.setenv("SOMETHING_OF_MINE", "1")
    project.config("""
[functions.probe]
source = "fn"
handler = "app.handler"
environment = { API_TOKEN = "t0ken" }
""")
    project.write("fn/app.py", """
import os, sys, sysconfig
problems = [name for name in ("PYTHONPATH", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                              "AWS_PROFILE", "SOMETHING_OF_MINE") if name in os.environ]
problems += [p for p in sys.path if p in (sysconfig.get_paths()["purelib"], "")]
try:
    import leaky_module
    problems.append("PYTHONPATH was searched")
except ImportError:
    pass
expected = {
    "AWS_LAMBDA_FUNCTION_NAME": "probe", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1", "_HANDLER": "app.handler", "TZ": ":UTC",
    "LANG": "en_US.UTF-8", "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
    "AWS_EC2_METADATA_DISABLED": "true", "API_TOKEN": "t0ken",
}
problems += [k for k, v in expected.items() if os.environ.get(k) != v]
if os.getcwd() != os.environ["LAMBDA_TASK_ROOT"] or sys.path[0] != os.getcwd():
    problems.append("cwd")
if os.path.exists(os.environ["AWS_SHARED_CREDENTIALS_FILE"]) or os.listdir(os.environ["HOME"]):
    problems.append("home")
if problems:
    raise RuntimeError("leaked or missing: %s" % problems)
""" + HANDLER)
    out = project.build(smoke=True)
    check = out.results["check:function:probe"]
    assert check.status.value == "built", check.error
    # a value taken for a secret is keyed by a digest: no state file holds it, and the
    # plan cache (which would hold the resolved config) is not written
    stored = [p for p in (project.root / ".forge").rglob("*") if p.is_file()]
    assert stored and not [p for p in stored if b"t0ken" in p.read_bytes()]
    assert not (project.root / ".forge/state/plan.json").exists()
