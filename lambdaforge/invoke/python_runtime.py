"""Preparing a Python function's invocation: the interpreter, the sandbox, the path.

The same choices as the import smoke test (``builders.python.smoke``): an interpreter of
the runtime's Python version on the function's CPU (``find_interpreter``, the settings'
``interpreter`` first), the function zip and its layers extracted into a
``lambda_env.Sandbox``, ``sys.path`` in Lambda's order with the runtime's own packages
(boto3 & co., ``runtime_install``) last, Lambda's environment, ``python -I -S`` so nothing
of this machine's Python (``PYTHONPATH``, site-packages, user site) is seen.
"""

from __future__ import annotations

import json
from pathlib import Path

from lambdaforge.builders.base import BuildContext
from lambdaforge.builders.python.settings import PythonSettings
from lambdaforge.builders.python.target import PythonTarget
from lambdaforge.config.specs import FunctionSpec
from lambdaforge import lambda_env
from lambdaforge.invoke.launch import InvokeUnavailable, Launch
from lambdaforge.toolcache import ToolCacheError

_BOOTSTRAP = Path(__file__).with_name("python_bootstrap.py")


def prepare_python(spec: FunctionSpec, function_zip: Path, layer_zips: list[Path], root: Path,
                   request_file: Path, result_file: Path, memory_mb: int, region: str,
                   ctx: BuildContext) -> Launch:
    """The child for a Python function, its sandbox made under ``root``; raises
    ``InvokeUnavailable`` when no fitting interpreter exists here."""
    from lambdaforge.builders.python.runtime_install import runtime_site_packages
    from lambdaforge.builders.python.smoke import find_interpreter

    target = PythonTarget.of(spec.runtime, spec.architecture)
    python, reason = find_interpreter(target, ctx.runner, PythonSettings.of(spec).interpreter)
    if python is None:
        raise InvokeUnavailable(f"cannot invoke {spec.name} here: {reason}")
    warnings: list[str] = []
    runtime_paths: list[Path] = []
    try:
        runtime_paths.append(runtime_site_packages(spec, ctx, python))
    except ToolCacheError as exc:
        warnings.append(f"the runtime's own packages could not be installed, the function "
                        f"runs without them: {exc}")
    sandbox = lambda_env.make_sandbox(root, lang=lambda_env.interpreter_prefix(python),
                           runtime=runtime_paths[0] if runtime_paths else None)
    lambda_env.extract_artifacts(sandbox, function_zip, layer_zips)
    env = lambda_env.lambda_environment(
        function_name=spec.name, runtime=spec.runtime, handler=spec.handler, sandbox=sandbox,
        variables=lambda_env.check_variables(spec, ctx.project), memory_mb=memory_mb,
        region=region)
    path = lambda_env.python_path(sandbox, target.python_version, runtime_paths)
    argv = [python, "-I", "-S", "-B", "-u", str(_BOOTSTRAP), str(request_file),
            str(result_file), json.dumps(path),
            str(lambda_env.PYTHON_SITES_SCRIPT),
            json.dumps(lambda_env.python_sites(sandbox, target.python_version))]
    places = lambda_env.lambda_names(sandbox, runtime_paths,
                          f"/var/lang/lib/python{target.python_version}/site-packages")
    return Launch(argv, env, sandbox.task, places, warnings)
