"""``forge invoke`` as a library call: build what the function needs, then call it once.

The build goes through ``BuildSession`` exactly as ``forge build NAME`` does (its checks
included, so a handler the check refuses, an ``async def`` one say, fails there with the
check's message). The built zip and its layers' zips are run by the runtime's module
(``python_runtime``, ``node_runtime``) in a child process (``process.run_child``), and
what it wrote is turned into Lambda's answer: the result, or the error in the runtime's
shape, a timeout as Lambda reports one, with the duration and peak memory of the REPORT
line.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from msgspec import Struct, field

from lambdaforge import lambda_facts
from lambdaforge.builders.base import BuildContext
from lambdaforge.cache import Cache
from lambdaforge.config.specs import Project
from lambdaforge.errors import ForgeError, UsageError
from lambdaforge.invoke.launch import InvokeUnavailable, Launch
from lambdaforge.invoke.process import INIT_TIMEOUT_S, ChildRun, run_child
from lambdaforge.invoke import request
from lambdaforge.invoke.request import Invocation
from lambdaforge.runner import Runner


class InvokeBuildFailed(ForgeError):
    """Building the function (or what it needs) failed: nothing was invoked."""

    def __init__(self, outcome: object) -> None:
        super().__init__("the build failed")
        #: the ``BuildOutcome``, for its failures
        self.outcome = outcome


class InvokeOutcome(Struct):
    """What one invocation gave: ``result`` or ``error`` (Lambda's shape), its logs, and the
    REPORT line's figures."""

    invocation: Invocation
    ok: bool
    result: object = None
    error: dict | None = None
    logs: str = ""
    timed_out: bool = False
    duration_ms: float = 0.0
    init_ms: float | None = None
    max_memory_mb: int = 0
    warnings: list[str] = field(default_factory=list)
    #: the line Lambda logs when it kills a timed-out invocation (also the last of ``logs``)
    timeout_line: str | None = None

    @property
    def billed_ms(self) -> int:
        """Lambda bills the duration rounded up to the next millisecond."""
        return max(math.ceil(self.duration_ms), 1)

    def report_line(self) -> str:
        """Lambda's REPORT log line for this invocation."""
        parts = [f"REPORT RequestId: {self.invocation.request_id}",
                 f"Duration: {self.duration_ms:.2f} ms", f"Billed Duration: {self.billed_ms} ms",
                 f"Memory Size: {self.invocation.memory_mb} MB",
                 f"Max Memory Used: {self.max_memory_mb} MB"]
        if self.init_ms is not None:
            parts.append(f"Init Duration: {self.init_ms:.2f} ms")
        return "\t".join(parts)

    def to_json(self) -> dict:
        """The ``--json`` object."""
        return {"ok": self.ok, "request_id": self.invocation.request_id,
                "result": self.result, "error": self.error, "logs": self.logs,
                "timed_out": self.timed_out, "duration_ms": round(self.duration_ms, 3),
                "billed_duration_ms": self.billed_ms, "init_duration_ms":
                None if self.init_ms is None else round(self.init_ms, 3),
                "memory_size_mb": self.invocation.memory_mb,
                "max_memory_used_mb": self.max_memory_mb, "warnings": self.warnings}


def invoke(project: Project, name: str, event: object, *, timeout_s: float | None = None,
           on_log: Callable[[str], None] | None = None,
           on_start: Callable[[Invocation, list[str]], None] | None = None) -> InvokeOutcome:
    """Build function ``name`` (and what it needs) and invoke it once with ``event``.

    ``on_start`` is told the invocation and the preparation's warnings just before the
    child starts (for Lambda's START line), ``on_log`` gets the function's output as it comes. Raises ``UsageError``
    for an unknown function, ``InvokeBuildFailed``, or ``InvokeUnavailable`` when this
    machine has no interpreter for its runtime."""
    from lambdaforge.build import BuildOptions, BuildSession
    from lambdaforge.graph import TargetKind
    from lambdaforge.outputs import PackageOutput

    spec = project.functions.get(name)
    if spec is None:
        known = ", ".join(sorted(project.functions)) or "none"
        raise UsageError(f"no function named {name!r} (functions: {known})")
    family = lambda_facts.RUNTIMES[spec.runtime].family
    if family not in ("python", "nodejs"):
        raise InvokeUnavailable(f"cannot invoke {name}: forge invoke runs Python and Node.js "
                                f"functions, not {spec.runtime}")
    # As Lambda would run it: the function's own timeout and memory, the project's region
    # (the deploy settings), Lambda's defaults where none is set.
    if timeout_s is None:
        timeout_s = float(spec.deploy.timeout or request.DEFAULT_TIMEOUT_S)
    memory_mb = spec.deploy.memory or lambda_facts.DEFAULT_MEMORY_MB
    region = project.deploy.region or lambda_facts.DEFAULT_REGION
    session = BuildSession(project, BuildOptions(names=(name,)))
    outcome = session.run()
    if not outcome.ok:
        raise InvokeBuildFailed(outcome)
    fid = f"function:{name}"
    package = outcome.results[fid].output
    assert isinstance(package, PackageOutput)
    layer_zips = [project.path(outcome.results[u.id].output.path)  # type: ignore[union-attr]
                  for u in outcome.graph.upstream(fid) if u.kind is TargetKind.LAYER]
    with tempfile.TemporaryDirectory(prefix="forge-invoke-") as tmp:
        work = Path(tmp)
        ctx = BuildContext(runner=Runner(), scratch=work / "scratch",
                           tool_cache=Cache(project.cache_dir).root / "tools", project=project)
        request_file, result_file = work / "request.json", work / "result.json"
        prepare = _preparer(family)
        launch = prepare(spec, project.path(package.path), layer_zips, work / "sandbox",
                            request_file, result_file, memory_mb, region, ctx)
        invocation = Invocation.new(name, region=region, memory_mb=memory_mb,
                                    timeout_s=timeout_s,
                                    log_stream_name=launch.env["AWS_LAMBDA_LOG_STREAM_NAME"])
        request_file.write_text(json.dumps({
            "handler": spec.handler, "event": event, "timeout_ms": int(timeout_s * 1000),
            "context": invocation.context_values()}), encoding="utf-8")
        if on_start is not None:
            on_start(invocation, launch.warnings)
        child = run_child(launch.argv, env=launch.env, cwd=launch.cwd, timeout_s=timeout_s,
                          on_log=on_log)
        written = json.loads(result_file.read_text()) if result_file.is_file() else None
    return _outcome(invocation, launch, child, written)


def _preparer(family: str) -> Callable[..., Launch]:
    """The runtime module's ``prepare_*`` for a runtime family (imported when used)."""
    if family == "python":
        from lambdaforge.invoke.python_runtime import prepare_python

        return prepare_python
    from lambdaforge.invoke.node_runtime import prepare_node

    return prepare_node


def _outcome(invocation: Invocation, launch: Launch, child: ChildRun,
             written: dict | None) -> InvokeOutcome:
    """Lambda's answer from how the child ended and what it wrote."""
    rid = invocation.request_id
    peak_mb = round(child.peak_rss_kib / 1024)
    common = dict(logs=child.logs, max_memory_mb=peak_mb, warnings=launch.warnings)
    if child.timed_out or child.init_timed_out:
        limit = INIT_TIMEOUT_S if child.init_timed_out else invocation.timeout_s
        message = f"Task timed out after {limit:.2f} seconds"
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}"
        return InvokeOutcome(invocation, False, timed_out=True, duration_ms=limit * 1000,
                             error={"errorType": "Sandbox.Timedout",
                                    "errorMessage": f"RequestId: {rid} Error: {message}"},
                             timeout_line=f"{stamp}Z {rid} {message}",
                             **{**common, "logs": child.logs + f"{stamp}Z {rid} {message}\n"})
    if written is None:  # it exited without a word: sys.exit, os._exit, a crash
        why = (f"signal {-child.exit_code}" if child.exit_code < 0
               else f"exit status {child.exit_code}")
        return InvokeOutcome(invocation, False, error={
            "errorType": "Runtime.ExitError",
            "errorMessage": f"RequestId: {rid} Error: Runtime exited with error: {why}"},
            **common)
    error = written.get("error")
    if error is not None:
        error = json.loads(launch.shown(json.dumps(error)))
        if "requestId" in error and error["requestId"]:
            error["requestId"] = rid
    return InvokeOutcome(invocation, error is None, result=written.get("result"), error=error,
                         duration_ms=written.get("duration_ms", 0.0),
                         init_ms=written.get("init_ms"), **common)
