"""``forge invoke`` of Node.js functions: callback, promise and ES module handlers, run by
the local node (of the runtime's major) from the built zip."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from lambdaforge.cli import main
from tests.e2e.conftest import ProjectDir


def _node_major() -> int | None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        return None
    out = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout
    return int(out.strip().lstrip("v").split(".")[0])


MAJOR = _node_major()
if MAJOR is None:
    pytest.skip("node is not installed", allow_module_level=True)

CONFIG = f"""
[defaults]
runtime = "nodejs{MAJOR}.x"

[functions.cb]
source = "fn"
handler = "index.handler"

[functions.nowait]
source = "fn"
handler = "index.noWait"

[functions.promise]
source = "fn"
handler = "index.promised"

[functions.legacy]
source = "fn"
handler = "index.legacy"

[functions.missing]
source = "fn"
handler = "needs.handler"

[functions.esm]
source = "fn"
handler = "mod.handler"
"""

INDEX = """
exports.handler = function (event, context, callback) {
  console.log('in', context.functionName);
  setTimeout(() => console.log('after the callback'), 20);
  callback(null, { records: (event.Records || []).length });
};
exports.noWait = function (event, context, callback) {
  context.callbackWaitsForEmptyEventLoop = false;
  setTimeout(() => console.log('never printed'), 600000);
  callback(null, 'done early');
};
exports.legacy = function (event, context) {
  context.succeed({ legacy: true });
};
exports.promised = function (event) {
  return Promise.resolve({ got: event });
};
"""

MODULE = """
export const handler = async (event, context) => {
  if (event.fail) throw new TypeError('bad input');
  if (event.hang) { setInterval(() => {}, 1000); return new Promise(() => {}); }
  const first = context.getRemainingTimeInMillis();
  return {
    name: context.functionName, version: context.functionVersion,
    id: context.awsRequestId, arn: context.invokedFunctionArn,
    memory: context.memoryLimitInMB, waits: context.callbackWaitsForEmptyEventLoop,
    remaining: [first, context.getRemainingTimeInMillis()],
    cwd: process.cwd(), root: process.env.LAMBDA_TASK_ROOT,
  };
};
"""


@pytest.fixture
def node_project(project: ProjectDir) -> ProjectDir:
    project.config(CONFIG)
    project.write("fn/index.js", INDEX)
    project.write("fn/mod.mjs", MODULE)
    project.write("fn/needs.js", "const x = require('not-installed-anywhere');\n"
                                 "exports.handler = async () => x;\n")
    return project


def invoke(project: ProjectDir, capsys, *args: str) -> tuple[int, str, str]:
    code = main(["-C", str(project.root), "invoke", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_callback_handler_waits_for_the_event_loop(node_project, capsys) -> None:
    code, out, err = invoke(node_project, capsys, "cb", "--event", "sqs")
    assert code == 0, err
    assert json.loads(out) == {"records": 1}
    rid = re.search(r"START RequestId: (\S+)", err).group(1)
    logs = err[err.index("START"):err.index("END RequestId")]
    assert re.search(rf"\d{{4}}-\d\d-\d\dT[\d:.]+Z\t{rid}\tINFO\tin cb\n", logs)
    assert f"{rid}\tINFO\tafter the callback" in logs
    assert re.search(rf"REPORT RequestId: {rid}\tDuration: [\d.]+ ms\t", err)


def test_callback_waits_for_empty_event_loop_false_returns_at_once(node_project, capsys) -> None:
    code, out, err = invoke(node_project, capsys, "nowait", "--timeout", "30")
    assert code == 0, err
    assert json.loads(out) == "done early"
    assert "never printed" not in err and "timed out" not in err


def test_a_promise_from_a_commonjs_handler(node_project, capsys) -> None:
    code, out, err = invoke(node_project, capsys, "promise", "--event", "schedule")
    assert code == 0, err
    assert json.loads(out)["got"]["detail-type"] == "Scheduled Event"


def test_an_es_module_handler_and_its_context(node_project, capsys) -> None:
    code, out, err = invoke(node_project, capsys, "esm", "--timeout", "4")
    assert code == 0, err
    seen = json.loads(out)
    assert seen["name"] == "esm" and seen["version"] == "$LATEST" and seen["memory"] == "128"
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                        seen["id"])
    assert seen["arn"] == "arn:aws:lambda:us-east-1:123456789012:function:esm"
    assert seen["waits"] is True
    first, second = seen["remaining"]
    assert 0 < second <= first <= 4000
    assert seen["cwd"] == seen["root"]


def test_an_es_module_error_is_lambdas_shape(node_project, capsys) -> None:
    node_project.write("fail.json", '{"fail": true}')
    code, out, err = invoke(node_project, capsys, "esm", "--event", "fail.json")
    assert code == 1
    error = json.loads(out)
    assert error["errorType"] == "TypeError" and error["errorMessage"] == "bad input"
    assert error["trace"][0] == "TypeError: bad input"
    assert "file:///var/task/mod.mjs:3:" in error["trace"][1]
    assert not any("bootstrap" in line for line in error["trace"])


def test_a_node_timeout_is_killed_and_reported(node_project, capsys) -> None:
    node_project.write("hang.json", '{"hang": true}')
    code, out, err = invoke(node_project, capsys, "esm", "--event", "hang.json",
                            "--timeout", "1")
    assert code == 1
    error = json.loads(out)
    assert error["errorType"] == "Sandbox.Timedout"
    assert error["errorMessage"].endswith("Error: Task timed out after 1.00 seconds")


def test_context_succeed_still_answers(node_project, capsys) -> None:
    code, out, err = invoke(node_project, capsys, "legacy")
    assert code == 0, err
    assert json.loads(out) == {"legacy": True}


def test_a_missing_module_is_lambdas_import_error(node_project, capsys) -> None:
    code, out, err = invoke(node_project, capsys, "missing")
    assert code == 1
    error = json.loads(out)
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert error["errorMessage"].startswith(
        "Error: Cannot find module 'not-installed-anywhere'\nRequire stack:\n- /var/task/needs.js")


def test_a_function_of_another_architecture_is_not_run_on_this_machines_node(
        node_project, capsys) -> None:
    """An arm64 zip's native addons cannot load in an x86_64 node: invoke says why it cannot
    run the function here, rather than failing on a native binding (as for Python)."""
    import platform

    here = "arm64" if platform.machine().lower() in ("aarch64", "arm64") else "x86_64"
    other = "x86_64" if here == "arm64" else "arm64"
    node_project.config(CONFIG.replace('[functions.cb]\n', f'[functions.cb]\narchitecture = "{other}"\n'))
    code, out, err = invoke(node_project, capsys, "cb")
    assert code == 1 and out == ""
    assert (f"forge: error: cannot invoke cb here: no Node.js {MAJOR} for {other} Linux here: "
            f"{shutil.which('node')} runs on {here}, the function on {other}") in err
