"""Import smoke test of a Node.js function: its handler loaded as Lambda loads it.

The function zip and its layers are extracted into a ``lambda_env.Sandbox``; the AWS SDK
packages the code imports are installed at the runtime's version (``runtime_sdk``) and put
on ``NODE_PATH`` where Lambda has ``/var/runtime/node_modules`` (after the layers, before
``/var/task``); the handler is imported by ``handler.import_handler_dir`` with Lambda's
environment and the function's variables, nothing of this machine's.

A package the import reports missing that the scan did not see (a computed name) is
installed and the import tried again, a few rounds at most. When an SDK package cannot be
installed (offline, no registry), a handler that needs it is skipped with the reason;
one that does not passes with a warning, and is tried again next build. A failure shows the error and the top of its
stack as Lambda would (``/var/task/index.js:3``).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from lambdaforge.builders.base import BuildContext, SmokeResult
from lambdaforge.builders.node import handler as handlers
from lambdaforge.builders.node.runtime_sdk import sdk_supply
from lambdaforge.config.specs import BuildSettings
from lambdaforge.lambda_env import (
    check_variables,
    extract_artifacts,
    interpreter_prefix,
    lambda_environment,
    lambda_names,
    make_sandbox,
)
from lambdaforge.lambda_facts import RUNTIMES
from lambdaforge.runtime_packages import node_sdk

#: imports retried after installing a package the scan missed
_MAX_ROUNDS = 3


def node_smoke_test(artifact: Path, layer_zips: list[Path], spec: BuildSettings, handler: str,
                    npmrc: Path | None, npm_version: str, ctx: BuildContext,
                    node: str) -> SmokeResult:
    """Import ``handler`` from the artifact and its layers with the runtime's SDK (see the
    module doc), with ``node``: of the runtime's major and the function's architecture
    (the caller finds it, ``tools.find_node``)."""
    major = RUNTIMES[spec.runtime].version
    ctx.scratch.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="node-smoke-", dir=ctx.scratch))
    try:
        sandbox = make_sandbox(work / "lambda", lang=interpreter_prefix(node))
        extract_artifacts(sandbox, artifact, layer_zips)
        supply = sdk_supply(sandbox.task, sandbox.opt,
                            node_sdk(spec.runtime, ctx.project.check.runtime_packages),
                            spec.runtime, spec.architecture, major, npmrc, npm_version, ctx)
        installed, unavailable = supply.installed, supply.unavailable
        variables = check_variables(spec, ctx.project)
        for _ in range(_MAX_ROUNDS):
            modules = supply.modules()
            env = lambda_environment(function_name=getattr(spec, "name", "smoke-test"),
                                     runtime=spec.runtime, handler=handler, sandbox=sandbox,
                                     variables=variables, node_modules=modules)
            outcome = handlers.import_handler_dir(sandbox.task, sandbox.opt, handler, int(major),
                                                  ctx.runner, work, env=env, node=node)
            missing = handlers.missing_runtime_package(outcome.error) if outcome.problem else None
            if missing is None or not missing.startswith("@aws-sdk/") or missing in installed \
                    or missing in unavailable:
                break
            supply.fetch({missing})
        if outcome.problem is None:
            return SmokeResult(ok=True, import_ms=outcome.import_ms, partial=bool(unavailable),
                               warnings=tuple(f"{why}; the import did not need it"
                                              for why in unavailable.values()))
        if missing is not None and missing not in installed:
            why = unavailable.get(missing) or "only @aws-sdk/* packages are installed for checks"
            return SmokeResult(ok=True, skipped=f"the handler imports {missing}, which the Lambda "
                                                f"runtime provides, and it could not be had here: {why}")
        places = lambda_names(sandbox, list(installed.values()), "/var/runtime/node_modules")
        detail = (handlers.condensed_error(outcome.error, places, work) if outcome.error
                  else outcome.problem)
        return SmokeResult(ok=False, import_ms=outcome.import_ms, error=detail)
    finally:
        shutil.rmtree(work, ignore_errors=True)
