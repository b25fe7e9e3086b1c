"""``forge invoke`` of Python functions: real built zips, a real python3.12 child."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from lambdaforge.builders.python.smoke import find_interpreter
from lambdaforge.builders.python.target import PythonTarget
from lambdaforge.cli import main
from lambdaforge.invoke.samples import SAMPLES, sample_event
from lambdaforge.runner import Runner
from tests.e2e.conftest import LOCAL_INDEX, ProjectDir

if find_interpreter(PythonTarget.of("python3.12", "x86_64"), Runner())[0] is None:
    pytest.skip("no python3.12 interpreter for x86_64 here", allow_module_level=True)

CONFIG = LOCAL_INDEX + """
[layers.shared]
source = "layers/shared"

[functions.api]
source = "api"
handler = "app.handler"
layers = ["shared"]
environment = { TABLE_NAME = "orders" }
"""

HANDLER = '''
import os, sys, json, subprocess, time
import shared_util
print("init: loading app")

def handler(event, context):
    action = event.get("action") if isinstance(event, dict) else None
    if action == "boom":
        raise KeyError("no such order")
    if action == "hang":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        with open(event["pids"], "w") as f:
            json.dump([os.getpid(), child.pid], f)
        while True:
            time.sleep(1)
    if action == "echo":
        return event["event"]
    print("handling", context.aws_request_id)
    print("to stderr", file=sys.stderr)
    first = context.get_remaining_time_in_millis()
    second = context.get_remaining_time_in_millis()
    return {
        "function_name": context.function_name,
        "function_version": context.function_version,
        "memory": context.memory_limit_in_mb,
        "request_id": context.aws_request_id,
        "arn": context.invoked_function_arn,
        "log_group": context.log_group_name,
        "log_stream": context.log_stream_name,
        "remaining": [first, second],
        "table": os.environ["TABLE_NAME"],
        "cwd": os.getcwd(),
        "task_root": os.environ["LAMBDA_TASK_ROOT"],
        "shared": shared_util.VALUE,
    }
'''


@pytest.fixture
def api(deps_project: ProjectDir) -> ProjectDir:
    deps_project.config(CONFIG)
    deps_project.write("api/app.py", HANDLER)
    deps_project.write("layers/shared/shared_util.py", "VALUE = 'from the layer'\n")
    return deps_project


def invoke(project: ProjectDir, capsys, *args: str) -> tuple[int, str, str]:
    code = main(["-C", str(project.root), "invoke", *args])
    out, err = capsys.readouterr()
    return code, out, err


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def test_result_on_stdout_logs_and_report_on_stderr_with_lambdas_context(api, capsys) -> None:
    code, out, err = invoke(api, capsys, "api", "--timeout", "5")
    assert code == 0, err
    result = json.loads(out)
    rid = result["request_id"]
    assert UUID.fullmatch(rid)
    assert result["function_name"] == "api" and result["function_version"] == "$LATEST"
    assert result["memory"] == "128"
    assert result["arn"] == "arn:aws:lambda:us-east-1:123456789012:function:api"
    assert result["log_group"] == "/aws/lambda/api"
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", result["log_stream"])
    first, second = result["remaining"]
    assert 0 < second <= first <= 5000
    assert result["table"] == "orders" and result["shared"] == "from the layer"
    assert result["cwd"] == result["task_root"]
    lines = err.splitlines()
    start = lines.index(f"START RequestId: {rid} Version: $LATEST")
    end = lines.index(f"END RequestId: {rid}")
    assert lines[start + 1:end] == ["init: loading app", f"handling {rid}", "to stderr"]
    report = lines[end + 1]
    assert re.fullmatch(rf"REPORT RequestId: {rid}\tDuration: \d+\.\d\d ms\tBilled Duration: "
                        r"\d+ ms\tMemory Size: 128 MB\tMax Memory Used: \d+ MB\t"
                        r"Init Duration: \d+\.\d\d ms", report), report
    assert "handling" not in out


def test_the_functions_timeout_memory_and_the_projects_region_apply(api, capsys) -> None:
    """Without ``--timeout``, the function's own settings (the ones ``forge deploy`` sets)
    decide, as on Lambda."""
    text = (api.root / "lambdaforge.toml").read_text()
    api.config(text.replace('[functions.api]\n', '[functions.api]\ntimeout = 7\nmemory = 512\n')
               + '\n[deploy]\nregion = "eu-west-1"\n')
    code, out, err = invoke(api, capsys, "api")
    assert code == 0, err
    result = json.loads(out)
    assert result["memory"] == "512"
    assert result["arn"] == "arn:aws:lambda:eu-west-1:123456789012:function:api"
    first, second = result["remaining"]
    assert 5000 < second <= first <= 7000
    assert "Memory Size: 512 MB" in err


def test_an_exception_is_lambdas_error_shape_and_exit_1(api, capsys) -> None:
    api.write("event.json", '{"action": "boom"}')
    code, out, err = invoke(api, capsys, "api", "--event", "event.json")
    assert code == 1
    error = json.loads(out)
    assert error["errorType"] == "KeyError"
    assert error["errorMessage"] == "'no such order'"
    assert UUID.fullmatch(error["requestId"])
    assert error["stackTrace"] == [
        '  File "/var/task/app.py", line 9, in handler\n    raise KeyError("no such order")\n']
    assert f"END RequestId: {error['requestId']}" in err


def test_a_timeout_kills_the_child_and_its_children(api, capsys, tmp_path) -> None:
    pids = tmp_path / "pids.json"
    api.write("event.json", json.dumps({"action": "hang", "pids": str(pids)}))
    code, out, err = invoke(api, capsys, "api", "--event", "event.json", "--timeout", "1.5")
    assert code == 1
    error = json.loads(out)
    rid = error["errorMessage"].split()[1]
    assert error == {"errorType": "Sandbox.Timedout",
                     "errorMessage": f"RequestId: {rid} Error: Task timed out after 1.50 seconds"}
    assert f"{rid} Task timed out after 1.50 seconds" in err
    assert [running(pid) for pid in json.loads(pids.read_text())] == [False, False]


def running(pid: int) -> bool:
    """Whether a process exists and is not a zombie (an orphan killed with its group waits
    for an init that may not reap it, in a container)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def test_sample_events_reach_the_handler(api, capsys) -> None:
    code, out, _ = invoke(api, capsys, "--list-events")
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == list(SAMPLES)
    for name in SAMPLES:
        api.write("event.json", json.dumps({"action": "echo", "event": sample_event(name)}))
        code, out, err = invoke(api, capsys, "api", "--event", "event.json")
        assert code == 0, err
        assert json.loads(out) == sample_event(name)
    assert sample_event("apigw-http")["version"] == "2.0"
    assert sample_event("s3-put")["Records"][0]["eventName"] == "ObjectCreated:Put"


def test_an_event_from_stdin_and_json_output(api, capsys, monkeypatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO('{"action": "echo", "event": [1, 2]}'))
    code, out, err = invoke(api, capsys, "api", "--event", "-", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["ok"] is True and data["result"] == [1, 2] and data["error"] is None
    assert data["logs"] == "init: loading app\n"
    assert data["memory_size_mb"] == 128 and data["max_memory_used_mb"] > 0
    assert data["duration_ms"] >= 0 and data["billed_duration_ms"] >= 1
    assert UUID.fullmatch(data["request_id"])


def test_bad_events_are_usage_errors(api, capsys) -> None:
    code, _, err = invoke(api, capsys, "api", "--event", "nosuch")
    assert code == 2 and "no such file, nor a sample event" in err
    api.write("bad.json", "{not json")
    code, _, err = invoke(api, capsys, "api", "--event", "bad.json")
    assert code == 2 and "bad.json is not JSON" in err
    (api.root / "latin1.json").write_bytes(b'{"name": "caf\xe9"}')
    code, _, err = invoke(api, capsys, "api", "--event", "latin1.json")
    assert code == 2 and "latin1.json is not JSON text in UTF-8, UTF-16 or UTF-32" in err, err


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig", "utf-32-le"])
def test_an_event_file_in_another_unicode_encoding_is_read(api, capsys, encoding) -> None:
    """Windows PowerShell 5's ``>`` writes UTF-16 with a BOM; that was an internal error."""
    event = {"action": "echo", "event": {"name": "café"}}
    (api.root / "event.json").write_bytes(json.dumps(event, ensure_ascii=False).encode(encoding))
    code, out, err = invoke(api, capsys, "api", "--event", "event.json")
    assert code == 0, err
    assert json.loads(out) == {"name": "café"}


def test_the_developers_environment_does_not_leak_in(api, capsys, monkeypatch, tmp_path) -> None:
    leaky = tmp_path / "leaky"
    leaky.mkdir()
    (leaky / "leaky_module.py").write_text("X = 1\n")
    monkeypatch.setenv("PYTHONPATH", str(leaky))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_PROFILE", "developer")
    api.write("api/app.py", textwrap.dedent('''
        import os, sys
        def handler(event, context):
            try:
                import leaky_module
                leaked = True
            except ImportError:
                leaked = False
            return {"leaked": leaked, "env": sorted(os.environ), "path": sys.path,
                    "no_site": sys.flags.no_site}
    '''))
    code, out, err = invoke(api, capsys, "api")
    assert code == 0, err
    seen = json.loads(out)
    # site.main() never ran (no host site-packages); only Lambda's own site directories
    # (the task root, the layer's) are processed, for their .pth files
    assert seen["leaked"] is False and seen["no_site"] == 1
    assert not {"PYTHONPATH", "AWS_ACCESS_KEY_ID", "AWS_PROFILE"} & set(seen["env"])
    assert {"AWS_LAMBDA_FUNCTION_NAME", "LAMBDA_TASK_ROOT", "_HANDLER"} <= set(seen["env"])
    # the function, the layer's two places, then the runtime's packages and the stdlib
    task, layer_site, layer, *rest = seen["path"]
    assert task.endswith("/task") and layer.endswith("/opt/python")
    assert layer_site == layer + "/lib/python3.12/site-packages"
    assert not [p for p in rest if "site-packages" in p and "/runtime-packages/" not in p]
    assert not any(str(leaky) in p for p in seen["path"])


def test_an_async_handler_fails_the_build_with_the_checks_message(api, capsys) -> None:
    api.write("api/app.py", "async def handler(event, context):\n    return 1\n")
    code, out, err = invoke(api, capsys, "api")
    assert code == 1 and out == ""
    assert "is `async def`; Lambda calls Python handlers synchronously" in err
    assert "api was not invoked: its build failed" in err


def test_an_import_error_is_lambdas_init_error(api, capsys) -> None:
    api.write("api/app.py", "import not_installed_anywhere\ndef handler(e, c):\n    return 1\n")
    code, out, err = invoke(api, capsys, "api")
    assert code == 1
    error = json.loads(out)
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert error["errorMessage"] == ("Unable to import module 'app': No module named "
                                     "'not_installed_anywhere'")
    assert error["stackTrace"] == [
        '  File "/var/task/app.py", line 1, in <module>\n    import not_installed_anywhere\n']


def test_without_an_interpreter_for_the_architecture_it_says_so(api, capsys) -> None:
    api.config(CONFIG.replace('no-index = true', 'no-index = true\narchitecture = "arm64"'))
    if find_interpreter(PythonTarget.of("python3.12", "arm64"), Runner())[0] is not None:
        pytest.skip("this machine has an arm64 python3.12")
    code, out, err = invoke(api, capsys, "api")
    assert code == 1 and out == ""
    assert "forge: error: cannot invoke api here: no Python 3.12 interpreter for aarch64 Linux" in err


def test_a_result_that_is_no_json_and_an_exiting_process(api, capsys) -> None:
    api.write("api/app.py", textwrap.dedent('''
        import sys
        def handler(event, context):
            if event.get("exit"):
                sys.exit(3)
            return {1, 2}
    '''))
    code, out, _ = invoke(api, capsys, "api")
    error = json.loads(out)
    assert code == 1 and error["errorType"] == "Runtime.MarshalError"
    assert error["errorMessage"] == ("Unable to marshal response: Object of type set is not "
                                     "JSON serializable")
    api.write("exit.json", '{"exit": true}')
    code, out, _ = invoke(api, capsys, "api", "--event", "exit.json")
    error = json.loads(out)
    assert code == 1 and error["errorType"] == "Runtime.ExitError"
    assert error["errorMessage"].endswith("Error: Runtime exited with error: exit status 3")


def test_pth_files_count_as_on_lambda(api, capsys) -> None:
    # Lambda's bootstrap processes the .pth files of /var/task (site.addsitedir): a path
    # line inside the zip works, one naming /opt is the layers', the machine's own is not.
    api.write("api/paths.pth", "vendor\n/opt/python/extra\n")
    api.write("api/vendor/vendored.py", "V = 'vendored'\n")
    api.write("layers/shared/extra/fromopt.py", "O = 'opt'\n")
    api.write("api/app.py", "import vendored, fromopt\ndef handler(e, c):\n    return vendored.V + fromopt.O\n")
    code, out, err = invoke(api, capsys, "api")
    assert code == 0, err
    assert json.loads(out) == "vendoredopt"
