"""The process ``forge invoke`` starts for a Python function: Lambda's runtime loop, once.

Runs inside the function's own interpreter (``python -I -S -B -u``, standard library only,
any Python the runtimes use), with ``sys.path`` in Lambda's order and cwd the task root.
It imports the handler (init), tells the parent on the control descriptor that the
invocation starts (the parent's timeout clock starts there), calls the handler with the
event and a context object like Lambda's, and writes the outcome as JSON to the result
file: ``{"init_ms", "duration_ms", "result"}`` or ``{"error": {errorMessage, errorType,
requestId, stackTrace}}`` in the shapes Lambda's Python runtime (awslambdaric) reports.

Usage: ``python_bootstrap.py REQUEST_JSON RESULT_JSON SYS_PATH_JSON SITES_PY SITES_JSON
CONTROL_FD``: ``SITES_PY`` (``python_sites.py``) processes the directories Lambda's bootstrap
makes site directories (``SITES_JSON``: the task root, the layers' ``python/lib/pythonX.Y/
site-packages`` and ``python/``; their ``.pth`` files count, as on Lambda).
"""

import importlib
import json
import logging
import os
import sys
import time
import traceback


class LambdaContext:
    """The handler's ``context``: what Lambda's Python runtime passes (lambda_context.py of
    awslambdaric), with the remaining time counted down from the function's timeout."""

    def __init__(self, values, deadline):
        self.function_name = values["function_name"]
        self.function_version = values["function_version"]
        self.invoked_function_arn = values["invoked_function_arn"]
        # a string, as Lambda's runtime takes it from AWS_LAMBDA_FUNCTION_MEMORY_SIZE
        self.memory_limit_in_mb = values["memory_limit_in_mb"]
        self.aws_request_id = values["aws_request_id"]
        self.log_group_name = values["log_group_name"]
        self.log_stream_name = values["log_stream_name"]
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self):
        """Milliseconds until the function's timeout, as Lambda counts them."""
        return max(int((self._deadline - time.monotonic()) * 1000), 0)

    def __repr__(self):
        return ("LambdaContext([aws_request_id=%s,log_group_name=%s,log_stream_name=%s,"
                "function_name=%s,memory_limit_in_mb=%s,function_version=%s,"
                "invoked_function_arn=%s])" % (
                    self.aws_request_id, self.log_group_name, self.log_stream_name,
                    self.function_name, self.memory_limit_in_mb, self.function_version,
                    self.invoked_function_arn))


class _RequestIdFilter(logging.Filter):
    def __init__(self, request_id):
        super().__init__()
        self.request_id = request_id

    def filter(self, record):
        record.aws_request_id = self.request_id
        return True


def _setup_logging(request_id):
    """The root logger Lambda's runtime installs: ``[LEVEL]\\tTIME\\tREQUEST_ID\\tmessage``."""
    handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(_RequestIdFilter(request_id))
    logging.getLogger().addHandler(handler)


def _frames(tb):
    """The traceback as Lambda's ``stackTrace``: one formatted entry per frame, this
    bootstrap's own frames and the import machinery's left out."""
    here = os.path.abspath(__file__)
    machinery = os.path.dirname(importlib.__file__) + os.sep
    frames = [f for f in traceback.extract_tb(tb) if os.path.abspath(f.filename) != here
              and not f.filename.startswith(("<frozen ", machinery))]
    return traceback.format_list(frames)


def _error(message, kind, request_id="", stack=()):
    return {"errorMessage": message, "errorType": kind, "requestId": request_id,
            "stackTrace": list(stack)}


def _load(handler):
    """(the handler function, None) or (None, the init error Lambda would report)."""
    module_name, _, func = handler.replace("/", ".").rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        return None, _error("Syntax error in module '%s': %s" % (module_name, exc),
                            "Runtime.UserCodeSyntaxError", stack=_frames(exc.__traceback__))
    except Exception as exc:
        return None, _error("Unable to import module '%s': %s" % (module_name, exc),
                            "Runtime.ImportModuleError", stack=_frames(exc.__traceback__))
    function = getattr(module, func, None)
    if function is None or not callable(function):
        return None, _error("Handler '%s' missing on module '%s'" % (func, module_name),
                            "Runtime.HandlerNotFound")
    return function, None


def _write(path, outcome):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(outcome, f)
    os.replace(tmp, path)


def main(argv):
    request_file, result_file, search_path, sites_script, sites, control_fd = argv
    with open(request_file) as f:
        request = json.load(f)
    sys.path[:0] = json.loads(search_path)
    import runpy  # Lambda's site directories, as its bootstrap makes them (their .pth files)
    runpy.run_path(sites_script)["add_site_dirs"](json.loads(sites))
    context_values = request["context"]
    request_id = context_values["aws_request_id"]
    _setup_logging(request_id)
    started = time.perf_counter()
    function, error = _load(request["handler"])
    init_ms = (time.perf_counter() - started) * 1000
    if error is not None:
        _write(result_file, {"init_ms": init_ms, "duration_ms": 0.0, "error": error})
        return 1
    os.write(int(control_fd), b"start\n")
    context = LambdaContext(context_values, time.monotonic() + request["timeout_ms"] / 1000)
    started = time.perf_counter()
    try:
        result = function(request["event"], context)
    except Exception as exc:
        duration_ms = (time.perf_counter() - started) * 1000
        error = _error(str(exc), type(exc).__name__, request_id, _frames(exc.__traceback__))
        _write(result_file, {"init_ms": init_ms, "duration_ms": duration_ms, "error": error})
        return 1
    duration_ms = (time.perf_counter() - started) * 1000
    try:
        json.dumps(result)
    except (TypeError, ValueError) as exc:
        error = _error("Unable to marshal response: %s" % exc, "Runtime.MarshalError", request_id)
        _write(result_file, {"init_ms": init_ms, "duration_ms": duration_ms, "error": error})
        return 1
    _write(result_file, {"init_ms": init_ms, "duration_ms": duration_ms, "result": result})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
