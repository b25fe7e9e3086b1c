"""Import smoke test: import the handler the way Lambda would, before deploying.

Catches "Unable to import module" (a missing dependency, a wheel for the wrong Python, a
syntax error) on the build machine, and reports the import time as a cold-start signal.
It needs an interpreter of the runtime's Python version on the target's CPU, on Linux;
without one the test is skipped with the reason, never faked with another version.

The child runs ``python -I -S`` (no user site, no site-packages, no ``PYTHON*`` variables)
with ``sys.path`` set to what Lambda uses: the function zip, then each layer's
``python/lib/pythonX.Y/site-packages`` and ``python/``, then the runtime's own packages
(boto3 & co., installed for the target by ``runtime_packages``); the first three are then
site directories, as Lambda's bootstrap makes them (their ``.pth`` files are processed:
a package that needs its ``.pth`` imports on Lambda, and here), with Lambda's environment
variables and nothing of this machine's (``lambdaforge.lambda_env``). Sockets refuse to
connect, so an import that reaches for the network fails here as it would hang or fail in
a VPC. A failure reports Lambda's message, the failing line and the exception.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from enum import Enum
from pathlib import Path

from msgspec import Struct

from lambdaforge.builders.python.target import PythonTarget
from lambdaforge.lambda_env import (
    extract_artifacts,
    interpreter_prefix,
    lambda_environment,
    lambda_names,
    make_sandbox,
    python_path,
    PYTHON_SITES_SCRIPT,
    python_sites,
)
from lambdaforge.runner import Runner


#: Top-level modules of ``lambda_facts.PYTHON_RUNTIME_PROVIDED`` (python-dateutil → dateutil).
#: Left out of the zip, they exist on Lambda but not here: importing one is no failure.
RUNTIME_PROVIDED_MODULES = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3"}
)


class SmokeStatus(str, Enum):
    """Outcome of an import smoke test."""

    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


class SmokeResult(Struct, frozen=True):
    """What the smoke test found: ``import_ms`` when it passed, ``message`` otherwise
    (the Python error as Lambda would report it, or why the test was skipped)."""

    status: SmokeStatus
    import_ms: float | None = None
    message: str = ""
    interpreter: str | None = None


_PROBE = "import json, os, sys; print(json.dumps([sys.platform, list(sys.version_info[:2]), os.uname().machine]))"

# Runs inside the target interpreter. Kept free of f-strings with braces for clarity; the
# result goes to a file so the handler module's own prints cannot corrupt it.
_CHILD = r"""
import json, sys, time, traceback
out, module, func = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path[:0] = json.loads(sys.argv[4])
import runpy  # Lambda's site directories, as its bootstrap makes them (their .pth files)
runpy.run_path(sys.argv[5])["add_site_dirs"](json.loads(sys.argv[6]))
import socket
def _blocked(*args, **kwargs):
    raise OSError("network access is blocked during the lambdaforge import smoke test")
socket.socket.connect = socket.socket.connect_ex = _blocked
socket.create_connection = socket.getaddrinfo = _blocked
result = {}
start = time.perf_counter()
try:
    import importlib
    mod = importlib.import_module(module)
    result["import_ms"] = (time.perf_counter() - start) * 1000
    if not callable(getattr(mod, func, None)):
        result["error"] = "Handler '%s' missing on module '%s'" % (func, module)
except BaseException as exc:
    result["error"] = "Unable to import module '%s': %s" % (module, exc)
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        result["missing"] = exc.name
    result["frames"] = [[f.filename, f.lineno, f.name, f.line or ""]
                        for f in traceback.extract_tb(exc.__traceback__)]
    result["exception"] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
with open(out, "w") as f:
    json.dump(result, f)
"""


_probed: dict[str, tuple[str, list[int], str] | None] = {}


def _probe(python: str, runner: Runner) -> tuple[str, list[int], str] | None:
    """(sys.platform, [major, minor], machine) of an interpreter, once per process."""
    if python not in _probed:
        result = runner.run([python, "-I", "-S", "-c", _PROBE], timeout=30)
        _probed[python] = tuple(json.loads(result.stdout.strip().splitlines()[-1])) if result.ok else None
    return _probed[python]


def find_interpreter(
    target: PythonTarget, runner: Runner, override: str | None = None
) -> tuple[str | None, str]:
    """An interpreter for the smoke test: (path, "") or (None, why none fits).

    Tried in order: ``override`` (settings ``interpreter``), ``pythonX.Y`` on PATH, then
    ``$PYENV_ROOT/versions/X.Y.*/bin/pythonX.Y`` (pyenv shims fail for versions that are
    installed but not selected, so the installs themselves are searched).
    """
    name = f"python{target.python_version}"
    candidates: list[str] = []
    if override:
        candidates.append(shutil.which(override) or override)
    else:
        on_path = shutil.which(name)
        if on_path:
            candidates.append(on_path)
        pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
        candidates += [str(p) for p in sorted(pyenv.glob(f"{target.python_version}.*/bin/{name}"), reverse=True)]
    reasons: list[str] = []
    for cand in candidates:
        probed = _probe(cand, runner)
        if probed is None:
            reasons.append(f"{cand} does not run")
            continue
        platform, version, machine = probed
        machine = "aarch64" if machine == "arm64" else machine
        if platform != "linux":
            reasons.append(f"{cand} is not a Linux interpreter ({platform})")
        elif ".".join(map(str, version)) != target.python_version:
            reasons.append(f"{cand} is Python {'.'.join(map(str, version))}")
        elif machine != target.machine:
            reasons.append(f"{cand} runs on {machine}, the function on {target.machine}")
        else:
            return cand, ""
    if not candidates:
        reasons.append(f"no {name} on PATH or in pyenv")
    return None, f"no Python {target.python_version} interpreter for {target.machine} Linux: " + "; ".join(reasons)


def smoke_test(
    handler: str,
    function_zip: Path,
    layer_zips: Sequence[Path],
    target: PythonTarget,
    runner: Runner,
    *,
    interpreter: str | None = None,
    runtime_paths: Sequence[Path] = (),
    runtime_unavailable: str | None = None,
    function_name: str = "smoke-test",
    variables: Mapping[str, str] | None = None,
    scratch: Path | None = None,
    timeout: float = 60.0,
) -> SmokeResult:
    """Import ``handler``'s module from the function zip and its layers, in a subprocess
    started as Lambda starts one (``lambda_env``: its variables, ``variables`` being the
    function's own, nothing of this machine's environment; cwd the extracted function).

    ``interpreter`` is the settings' override; ``runtime_paths`` hold the runtime's own
    packages (boto3 & co., installed for the target), searched last as on Lambda. Without
    them an import that fails only for a runtime-provided module is reported as skipped,
    with ``runtime_unavailable`` saying why they could not be installed.
    """
    python, reason = find_interpreter(target, runner, interpreter)
    if python is None:
        return SmokeResult(SmokeStatus.SKIPPED, message=reason)
    module, _, func = handler.replace("/", ".").rpartition(".")
    with tempfile.TemporaryDirectory(prefix="forge-smoke-", dir=scratch) as tmp:
        runtime_dir = runtime_paths[0] if runtime_paths else None
        sandbox = make_sandbox(Path(tmp), lang=interpreter_prefix(python), runtime=runtime_dir)
        extract_artifacts(sandbox, function_zip, layer_zips)
        path = python_path(sandbox, target.python_version, runtime_paths)
        out = Path(tmp) / "result.json"
        env = lambda_environment(function_name=function_name, runtime=target.runtime,
                                 handler=handler, sandbox=sandbox, variables=variables or {})
        proc = runner.run(
            [python, "-I", "-S", "-B", "-c", _CHILD, str(out), module, func, json.dumps(path),
             str(PYTHON_SITES_SCRIPT), json.dumps(python_sites(sandbox, target.python_version))],
            cwd=sandbox.task, env=env, timeout=timeout, inherit_env=False,
        )
        if not out.is_file():
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
            return SmokeResult(SmokeStatus.FAILED, message=f"the interpreter crashed importing '{module}':\n{tail}", interpreter=python)
        data = json.loads(out.read_text())
        places = lambda_names(sandbox, runtime_paths,
                              f"/var/lang/lib/python{target.python_version}/site-packages")
    missing = (data.get("missing") or "").split(".")[0]
    if missing in RUNTIME_PROVIDED_MODULES and not runtime_paths:
        why = f": {runtime_unavailable}" if runtime_unavailable else ""
        return SmokeResult(
            SmokeStatus.SKIPPED,
            message=f"the handler imports {missing}, which the Lambda runtime provides, and "
                    f"the runtime's own packages could not be installed here{why}",
            interpreter=python,
        )
    if "error" in data:
        return SmokeResult(SmokeStatus.FAILED, data.get("import_ms"), _failure(data, places), python)
    return SmokeResult(SmokeStatus.OK, round(data["import_ms"], 1), "", python)


def _failure(data: dict, places: list[tuple[str, str]]) -> str:
    """Lambda's one-line error, then the traceback's last frame outside the import machinery
    (the line that failed: the handler's ``import``, or deeper in a broken dependency) and
    the exception as Python prints it."""
    lines = [data["error"]]
    frames = [f for f in data.get("frames", []) if not f[0].startswith("<frozen ")]
    if frames:
        filename, lineno, name, code = frames[-1]
        for local, shown in places:
            if filename == local or filename.startswith(local + os.sep):
                filename = shown + filename[len(local):]
                break
        lines.append(f'  File "{filename}", line {lineno}, in {name}')
        if code:
            lines.append(f"    {code}")
    if data.get("exception"):
        lines.append(data["exception"].splitlines()[-1])
    return "\n".join(lines)
