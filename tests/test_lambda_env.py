"""The environment of a Lambda process, rebuilt locally: Lambda's variables in Lambda's
order with the sandbox's directories, the function's own variables, nothing else."""

from __future__ import annotations

import re
from pathlib import Path

from lambdaforge.lambda_env import Sandbox, lambda_environment, node_path, python_path


def sandbox(tmp_path: Path, **extra: Path) -> Sandbox:
    return Sandbox(task=tmp_path / "task", opt=tmp_path / "opt", home=tmp_path / "home", **extra)


def test_python_process(tmp_path: Path) -> None:
    box = sandbox(tmp_path, runtime=tmp_path / "rt", lang=tmp_path / "py")
    env = lambda_environment(function_name="api", runtime="python3.12", handler="app.handler",
                             sandbox=box, variables={"TABLE_NAME": "orders", "LANG": "C.UTF-8"})
    stream = env.pop("AWS_LAMBDA_LOG_STREAM_NAME")
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", stream)
    t = str(tmp_path)
    assert env == {
        "PATH": f"{t}/py/bin:/usr/local/bin:/usr/bin:/bin:{t}/opt/bin",
        "LD_LIBRARY_PATH": f"{t}/py/lib:/lib64:/usr/lib64:{t}/rt:{t}/rt/lib:{t}/task:{t}/task/lib:{t}/opt/lib",
        "LANG": "C.UTF-8",  # not reserved: the function's own wins, as on Lambda
        "TZ": ":UTC",
        "HOME": f"{t}/home",
        "AWS_CONFIG_FILE": f"{t}/home/.aws/config",
        "AWS_SHARED_CREDENTIALS_FILE": f"{t}/home/.aws/credentials",
        "AWS_EC2_METADATA_DISABLED": "true",
        "TABLE_NAME": "orders",
        "_HANDLER": "app.handler",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_LAMBDA_FUNCTION_NAME": "api",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/api",
        "LAMBDA_TASK_ROOT": f"{t}/task",
        "LAMBDA_RUNTIME_DIR": f"{t}/rt",
    }
    assert python_path(box, "3.12", [tmp_path / "rt"]) == [
        f"{t}/task", f"{t}/opt/python/lib/python3.12/site-packages", f"{t}/opt/python", f"{t}/rt"]


def test_without_stand_ins_lambdas_directories_are_left_out_not_the_hosts(tmp_path: Path) -> None:
    env = lambda_environment(function_name="f", runtime="python3.13", handler="a.b",
                             sandbox=sandbox(tmp_path))
    t = str(tmp_path)
    assert env["PATH"] == f"/usr/local/bin:/usr/bin:/bin:{t}/opt/bin"
    assert env["LD_LIBRARY_PATH"] == f"/lib64:/usr/lib64:{t}/task:{t}/task/lib:{t}/opt/lib"
    assert "LAMBDA_RUNTIME_DIR" not in env


def test_node_process(tmp_path: Path) -> None:
    box = sandbox(tmp_path)
    sdk = [tmp_path / "sdk-s3" / "node_modules"]
    env = lambda_environment(function_name="f", runtime="nodejs22.x", handler="index.handler",
                             sandbox=box, node_modules=sdk)
    t = str(tmp_path)
    assert env["NODE_PATH"] == (f"{t}/opt/nodejs/node22/node_modules:{t}/opt/nodejs/node_modules:"
                                f"{t}/sdk-s3/node_modules:{t}/task")
    assert env["NODE_PATH"] == ":".join(node_path(box, "22", sdk))
    # Lambda turns experimental features off, unless the function turns one back on
    assert env["NODE_OPTIONS"] == "--no-experimental-require-module --no-experimental-detect-module"
    own = lambda_environment(function_name="f", runtime="nodejs22.x", handler="index.handler",
                             sandbox=box, variables={"NODE_OPTIONS": "--experimental-require-module --enable-source-maps"})
    assert own["NODE_OPTIONS"] == ("--no-experimental-detect-module --experimental-require-module "
                                   "--enable-source-maps")
    assert "NODE_OPTIONS" not in lambda_environment(function_name="f", runtime="nodejs24.x",
                                                    handler="index.handler", sandbox=box)
