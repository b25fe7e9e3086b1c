"""The process a Lambda runtime starts for a function, rebuilt locally: its environment
variables and module search paths, in one place for the checks (and ``forge invoke``).

On Lambda the function's code is in ``/var/task``, its layers are merged under ``/opt``, the
runtime's own packages live in ``/var/runtime`` (``LAMBDA_RUNTIME_DIR``) or the runtime's
site-packages, and the language itself in ``/var/lang``. Here a ``Sandbox`` names the local
directories standing in for them, and ``lambda_environment`` returns the *whole*
environment for a process started with nothing inherited (``Runner.run(inherit_env=False)``):

- the variables Lambda sets (configuration-envvars.html): ``_HANDLER``, ``AWS_REGION`` and
  ``AWS_DEFAULT_REGION``, ``AWS_EXECUTION_ENV``, ``AWS_LAMBDA_FUNCTION_NAME``,
  ``…_MEMORY_SIZE``, ``…_VERSION`` (``$LATEST``), ``AWS_LAMBDA_INITIALIZATION_TYPE``, the log
  group and stream, ``LAMBDA_TASK_ROOT``, ``LAMBDA_RUNTIME_DIR``, ``TZ=:UTC``,
  ``LANG=en_US.UTF-8``, ``PATH`` and ``LD_LIBRARY_PATH`` in Lambda's order with the
  sandbox's directories (a layer's ``bin/`` and ``lib/`` included), Node.js's ``NODE_PATH``
  and the ``NODE_OPTIONS`` flags Lambda applies;
- the function's own variables (its ``environment`` with ``[check] environment`` over it),
  which may replace the unreserved ones Lambda sets (``LANG``, ``PATH``…), never the
  reserved ones (the config refuses those names);
- and nothing of the developer's: no ``PYTHONPATH``, ``NODE_OPTIONS``, no AWS credentials
  (Lambda's come from the execution role; here there are none, and creating a client at
  import needs none), ``HOME`` an empty directory, botocore's config and credential files
  pointed at paths that do not exist and instance metadata off, so an import-time
  ``boto3.client(…)`` neither reads ``~/.aws`` nor waits for the network.
"""

from __future__ import annotations

import os
import secrets
import time
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from msgspec import Struct

from lambdaforge import lambda_facts

if TYPE_CHECKING:  # only read: this module sits below the config
    from lambdaforge.config.specs import BuildSettings, Project

#: Lambda's ``PATH`` and ``LD_LIBRARY_PATH``, as the runtimes set them; ``/var/lang``,
#: ``/var/runtime``, ``/var/task`` and ``/opt`` are replaced by the sandbox's directories.
_LAMBDA_PATH = ("/var/lang/bin", "/usr/local/bin", "/usr/bin", "/bin", "/opt/bin")
_LAMBDA_LD_LIBRARY_PATH = ("/var/lang/lib", "/lib64", "/usr/lib64", "/var/runtime",
                           "/var/runtime/lib", "/var/task", "/var/task/lib", "/opt/lib")


class Sandbox(Struct, frozen=True):
    """Local directories standing in for a Lambda execution environment's."""

    #: ``/var/task``: the extracted function zip (the process's working directory)
    task: Path
    #: ``/opt``: the function's layers extracted over each other, in order
    opt: Path
    #: an empty directory for ``HOME`` (no ``~/.aws``, ``~/.node_modules`` of the developer)
    home: Path
    #: ``/var/runtime`` (``LAMBDA_RUNTIME_DIR``): the runtime's own packages, when installed
    runtime: Path | None = None
    #: ``/var/lang``: the prefix of the interpreter (its ``bin/`` and ``lib/``)
    lang: Path | None = None

    def stand_ins(self) -> list[tuple[str, Path | None]]:
        """(Lambda directory, the local one standing in for it, ``None`` when absent)."""
        return [("/var/task", self.task), ("/opt", self.opt),
                ("/var/runtime", self.runtime), ("/var/lang", self.lang)]

    def local(self, lambda_path: str) -> str | None:
        """The local directory standing in for a Lambda path (``/opt/lib`` → ``<opt>/lib``);
        ``None`` for a part of Lambda's with no stand-in here (``/var/runtime`` without the
        runtime's packages): left out of search paths rather than pointed at the host's."""
        for prefix, local in self.stand_ins():
            if lambda_path == prefix or lambda_path.startswith(prefix + "/"):
                return None if local is None else str(local) + lambda_path[len(prefix):]
        return lambda_path


def lambda_names(sandbox: Sandbox, runtime_packages: Sequence[Path], runtime_as: str
                 ) -> list[tuple[str, str]]:
    """(local directory, the Lambda path it stands for), longest first, for showing errors
    as Lambda's own would (``/var/task/app.py``, not the scratch directory);
    ``runtime_packages`` are named ``runtime_as`` (Python's site-packages,
    ``/var/runtime/node_modules``)."""
    names = [(str(sandbox.task), "/var/task"), (str(sandbox.opt), "/opt"),
             *((str(p), runtime_as) for p in runtime_packages)]
    if sandbox.lang is not None:
        names.append((str(sandbox.lang), "/var/lang"))
    return sorted(names, key=lambda n: -len(n[0]))


def check_variables(spec: BuildSettings, project: Project) -> dict[str, str]:
    """The variables a function's checks run with: its ``environment`` (``[defaults]``'s
    and its own) with ``[check] environment`` over it. A layer has none of its own."""
    return {**getattr(spec, "environment", {}), **project.check.environment}


def python_path(sandbox: Sandbox, python_version: str, runtime_paths: Sequence[Path] = ()) -> list[str]:
    """``sys.path`` of a Python function, in Lambda's order: the function, the layers'
    ``python/lib/pythonX.Y/site-packages`` then ``python/``, then the runtime's packages
    (``/var/lang/lib/pythonX.Y/site-packages`` and ``/var/runtime`` there)."""
    opt = sandbox.opt / "python"
    return [str(sandbox.task), str(opt / "lib" / f"python{python_version}" / "site-packages"),
            str(opt), *(str(p) for p in runtime_paths)]


def python_sites(sandbox: Sandbox, python_version: str) -> dict[str, list]:
    """What ``invoke/python_sites.add_site_dirs`` needs in the child: ``dirs``, the
    directories Lambda's Python bootstrap hands to ``site.addsitedir`` after setting
    ``sys.path`` (``/var/runtime/bootstrap.py``: ``LAMBDA_TASK_ROOT``, then the layers'
    ``python/lib/pythonX.Y/site-packages`` and ``python/``), in that order, so their
    ``.pth`` files are processed as on Lambda; ``map``, the Lambda directories and their
    stand-ins here, so a path a ``.pth`` adds means what it means on Lambda."""
    return {"dirs": python_path(sandbox, python_version)[:3],
            "map": [[prefix, None if local is None else str(local)]
                    for prefix, local in sandbox.stand_ins()]}


#: The file both Python children load (``runpy.run_path``) to set up Lambda's site dirs.
PYTHON_SITES_SCRIPT = Path(__file__).with_name("invoke") / "python_sites.py"


def node_path(sandbox: Sandbox, major: str, runtime_modules: Sequence[Path] = ()) -> list[str]:
    """``NODE_PATH`` of a Node.js function as Lambda sets it: the layers'
    ``nodejs/nodeNN/node_modules`` then ``nodejs/node_modules``, the runtime's
    ``/var/runtime/node_modules`` (here: one directory per installed SDK package), then
    ``/var/task``."""
    opt = sandbox.opt / "nodejs"
    return [str(opt / f"node{major}" / "node_modules"), str(opt / "node_modules"),
            *(str(p) for p in runtime_modules), str(sandbox.task)]


def _search_path(sandbox: Sandbox, parts: Sequence[str]) -> str:
    found = (sandbox.local(p) for p in parts)
    return ":".join(p for p in found if p is not None)


def _node_options(major: str, own: str | None) -> str | None:
    """Lambda's flags turning experimental features off, unless the function's own
    ``NODE_OPTIONS`` turns one back on (Lambda then drops that flag), then the function's."""
    own_flags = (own or "").split()
    flags = [f for f in lambda_facts.NODE_DISABLED_EXPERIMENTS.get(major, ())
             if f.replace("--no-", "--", 1) not in own_flags]
    joined = " ".join([*flags, *own_flags])
    return joined or None


def lambda_environment(
    *,
    function_name: str,
    runtime: str,
    handler: str,
    sandbox: Sandbox,
    variables: Mapping[str, str] = {},
    memory_mb: int = lambda_facts.DEFAULT_MEMORY_MB,
    region: str = lambda_facts.DEFAULT_REGION,
    node_modules: Sequence[Path] = (),
) -> dict[str, str]:
    """The complete environment of a function's process (see the module doc); for a
    Node.js runtime ``node_modules`` are the runtime SDK directories for ``NODE_PATH``."""
    rt = lambda_facts.RUNTIMES[runtime]
    home = sandbox.home
    env = {
        "PATH": _search_path(sandbox, _LAMBDA_PATH),
        "LD_LIBRARY_PATH": _search_path(sandbox, _LAMBDA_LD_LIBRARY_PATH),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "HOME": str(home),
        # botocore reads these before ~/.aws; pointing them at nothing keeps the
        # developer's profiles and keys out, and no instance metadata call is attempted.
        "AWS_CONFIG_FILE": str(home / ".aws" / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    if rt.family == "nodejs":
        env["NODE_PATH"] = ":".join(node_path(sandbox, rt.version, node_modules))
    env.update(variables)
    if rt.family == "nodejs":
        options = _node_options(rt.version, variables.get("NODE_OPTIONS"))
        env.pop("NODE_OPTIONS", None)
        if options:
            env["NODE_OPTIONS"] = options
    started = time.gmtime()
    env.update({  # reserved: always Lambda's
        "_HANDLER": handler,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}",
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": time.strftime("%Y/%m/%d", started)
        + f"/[$LATEST]{secrets.token_hex(16)}",
        "LAMBDA_TASK_ROOT": str(sandbox.task),
    })
    if sandbox.runtime is not None:
        env["LAMBDA_RUNTIME_DIR"] = str(sandbox.runtime)
    return env


def make_sandbox(root: Path, *, lang: Path | None = None, runtime: Path | None = None) -> Sandbox:
    """A sandbox under ``root`` (``task/``, ``opt/``, ``home/`` created empty)."""
    sandbox = Sandbox(task=root / "task", opt=root / "opt", home=root / "home",
                      runtime=runtime, lang=lang)
    for directory in (sandbox.task, sandbox.opt, sandbox.home):
        directory.mkdir(parents=True, exist_ok=True)
    return sandbox


def interpreter_prefix(executable: str) -> Path:
    """The prefix an interpreter is installed under (``…/bin/python3.12`` → ``…``): what
    stands in for ``/var/lang``."""
    return Path(os.path.realpath(executable)).parent.parent


def extract_artifacts(sandbox: Sandbox, function_zip: Path, layer_zips: Sequence[Path]) -> None:
    """Unpack a function zip into the sandbox's task root and its layers over each other
    under its ``/opt``, in order: a later layer's file replaces an earlier one's, as Lambda
    merges them."""
    with zipfile.ZipFile(function_zip) as zf:
        zf.extractall(sandbox.task)
    for layer in layer_zips:
        with zipfile.ZipFile(layer) as zf:
            zf.extractall(sandbox.opt)
