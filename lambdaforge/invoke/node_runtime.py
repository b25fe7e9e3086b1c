"""Preparing a Node.js function's invocation: the local ``node``, the sandbox, the SDK.

The same choices as the import smoke test (``builders.node.smoke``): the local ``node``
must be of the runtime's major version and the function's architecture; the function zip and its layers are extracted into
a ``lambda_env.Sandbox``; the ``@aws-sdk/*`` packages the code imports are installed at the
runtime's SDK version (``runtime_sdk.sdk_supply``) and put on ``NODE_PATH`` where Lambda
has ``/var/runtime/node_modules``; ES module imports search ``NODE_PATH`` through the
smoke test's resolve hook, as Lambda's runtime does.
"""

from __future__ import annotations

from pathlib import Path

from lambdaforge.builders.base import BuildContext
from lambdaforge.builders.node import handler as handlers
from lambdaforge.config.specs import FunctionSpec
from lambdaforge import lambda_env
from lambdaforge.invoke.launch import InvokeUnavailable, Launch
from lambdaforge.lambda_facts import RUNTIMES
from lambdaforge.runtime_packages import node_sdk

_BOOTSTRAP = Path(__file__).with_name("node_bootstrap.cjs")


def prepare_node(spec: FunctionSpec, function_zip: Path, layer_zips: list[Path], root: Path,
                 request_file: Path, result_file: Path, memory_mb: int, region: str,
                 ctx: BuildContext) -> Launch:
    """The child for a Node.js function, its sandbox made under ``root``; raises
    ``InvokeUnavailable`` without a ``node`` of the runtime's major and the function's
    architecture here (``tools.find_node``)."""
    from lambdaforge.builders.node.runtime_sdk import sdk_supply
    from lambdaforge.builders.node.tools import detect_toolchain, find_node
    from lambdaforge.errors import BuildError

    major = RUNTIMES[spec.runtime].version
    # the runtime's version on the function's architecture, as the smoke test needs: an
    # arm64 zip's native addons do not load in an x86_64 node
    node, reason = find_node(major, spec.architecture, ctx.runner)
    if node is None:
        raise InvokeUnavailable(f"cannot invoke {spec.name} here: {reason}")
    try:
        toolchain = detect_toolchain(ctx.runner)
    except BuildError as exc:
        raise InvokeUnavailable(f"cannot invoke {spec.name} here: {exc}") from None
    sandbox = lambda_env.make_sandbox(root, lang=lambda_env.interpreter_prefix(node))
    lambda_env.extract_artifacts(sandbox, function_zip, layer_zips)
    names = {p.relative_to(sandbox.task).as_posix() for p in sandbox.task.rglob("*") if p.is_file()}
    module, export = handlers.split_handler(spec.handler)
    file = handlers.handler_file(names, module, lambda n: (sandbox.task / n).read_bytes(),
                                 int(major))
    if file is None:  # the build's handler check has said so already
        raise InvokeUnavailable(handlers.missing_file_message(spec.handler, module))
    npmrc = ctx.project.path(spec.source) / ".npmrc" if spec.source else None
    supply = sdk_supply(sandbox.task, sandbox.opt,
                        node_sdk(spec.runtime, ctx.project.check.runtime_packages),
                        spec.runtime, spec.architecture, major,
                        npmrc if npmrc is not None and npmrc.is_file() else None,
                        toolchain.npm, ctx)
    warnings = [f"{why}; the function runs without it" for why in supply.unavailable.values()]
    env = lambda_env.lambda_environment(
        function_name=spec.name, runtime=spec.runtime, handler=spec.handler, sandbox=sandbox,
        variables=lambda_env.check_variables(spec, ctx.project), memory_mb=memory_mb,
        region=region, node_modules=supply.modules())
    hook = sandbox.home.parent / handlers.HOOK_NAME
    hook.write_text(handlers.NODE_PATH_HOOK, encoding="utf-8")
    target = sandbox.task / handlers.load_path(module, file)
    argv = [node, str(_BOOTSTRAP), str(target), export, str(hook),
            str(request_file), str(result_file)]
    places = lambda_env.lambda_names(sandbox, list(supply.installed.values()),
                                     "/var/runtime/node_modules")
    return Launch(argv, env, sandbox.task, places, warnings)
