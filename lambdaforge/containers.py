"""A container engine (docker or podman) found, probed, and the ``run`` command line it gets.

Only the command line is built here; builders decide what runs inside. An engine counts as
present when its CLI answers ``info`` within a few seconds: a ``docker`` binary whose daemon
is not running (or a podman without its machine) is *not* an engine, and the reason says so,
so a user is told "docker is on PATH but its engine is not reachable" rather than seeing a
build fail deep inside ``docker run``.

Choice: ``FORGE_CONTAINER_ENGINE`` (``docker``, ``podman`` or a path to either CLI), else
the first of ``docker``, ``podman`` on PATH that answers. The probe is memoised per
(variable, PATH) for the process: one ``info`` per build, not one per package.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from msgspec import Struct

from lambdaforge.runner import Runner

#: the variable naming the engine (``docker``, ``podman``, or a path to one of them)
ENGINE_VARIABLE = "FORGE_CONTAINER_ENGINE"
#: engines tried in this order when the variable is unset
ENGINES = ("docker", "podman")
#: seconds ``info`` may take before the engine counts as unreachable
PROBE_TIMEOUT = 15.0

#: ``--platform`` of a Lambda architecture
PLATFORMS = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}


class ContainerEngine(Struct, frozen=True):
    """A container engine whose CLI answered ``info``: ``kind`` (``docker``/``podman``,
    which decides the user-mapping flags), the CLI's path, and the version it reported."""

    kind: str
    binary: str
    version: str

    def describe(self) -> str:
        """``docker 27.1.1`` for messages and notes."""
        return f"{self.kind} {self.version}".strip()


class Mount(Struct, frozen=True):
    """A host directory or file bound into the container at ``target``."""

    source: Path
    target: str
    read_only: bool = True

    def flag(self) -> str:
        """The ``--mount`` value (CSV, so a path with a comma stays one field)."""
        fields = ["type=bind", f"source={self.source}", f"target={self.target}"]
        if self.read_only:
            fields.append("readonly")
        out = io.StringIO()
        csv.writer(out, lineterminator="").writerow(fields)
        return out.getvalue()


_lock = threading.Lock()
_probes: dict[tuple[str, str], tuple[ContainerEngine | None, str]] = {}


def find_engine(runner: Runner, environ: Mapping[str, str] = os.environ) -> tuple[ContainerEngine | None, str]:
    """``(engine, "")`` for the engine to use, or ``(None, why there is none)``.

    Memoised per (``FORGE_CONTAINER_ENGINE``, ``PATH``): the answer cannot change within a
    build, and ``info`` can take seconds when the engine is away.
    """
    key = (environ.get(ENGINE_VARIABLE, ""), environ.get("PATH", ""))
    with _lock:
        if key not in _probes:
            _probes[key] = _choose(runner, *key)
        return _probes[key]


def forget_probes() -> None:
    """Drop memoised probes (an engine started meanwhile is seen by the next build)."""
    with _lock:
        _probes.clear()


def _choose(runner: Runner, named: str, path: str) -> tuple[ContainerEngine | None, str]:
    if named:
        binary = shutil.which(named, path=path) or (named if os.path.isfile(named) else None)
        if binary is None:
            return None, f"{ENGINE_VARIABLE}={named} is not a program on PATH"
        return _probe(runner, _kind_of(binary), binary)
    reasons = []
    for kind in ENGINES:
        binary = shutil.which(kind, path=path)
        if binary is None:
            continue
        engine, why = _probe(runner, kind, binary)
        if engine is not None:
            return engine, ""
        reasons.append(why)
    if not reasons:
        return None, "neither docker nor podman is on PATH"
    return None, "; ".join(reasons)


def _kind_of(binary: str) -> str:
    """``podman`` when the CLI's name says so, else ``docker`` (docker-compatible CLIs)."""
    return "podman" if "podman" in Path(binary).name else "docker"


def _probe(runner: Runner, kind: str, binary: str) -> tuple[ContainerEngine | None, str]:
    """Ask the engine for its server version; a CLI without a reachable engine is no engine."""
    template = "{{.ServerVersion}}" if kind == "docker" else "{{.Version.Version}}"
    result = runner.run([binary, "info", "--format", template], timeout=PROBE_TIMEOUT)
    version = result.stdout.strip().splitlines()[-1].strip() if result.stdout.strip() else ""
    if result.ok and version:
        return ContainerEngine(kind, binary, version), ""
    said = [ln.strip() for ln in (result.stderr + "\n" + result.stdout).splitlines() if ln.strip()]
    detail = f" ({said[-1]})" if said else ""
    if result.returncode == 124:
        detail = f" (`{kind} info` did not answer within {PROBE_TIMEOUT:.0f}s)"
    return None, f"{kind} is on PATH ({binary}) but its engine is not reachable{detail}"


def host_user() -> tuple[int, int]:
    """This process's uid and gid: what files written by the container must belong to."""
    return os.getuid(), os.getgid()


def run_argv(
    engine: ContainerEngine, image: str, *, architecture: str, mounts: Sequence[Mount],
    command: Sequence[str], workdir: str, env: Mapping[str, str | None] = {},
    network: bool = False,
) -> list[str]:
    """The ``run`` command line: a throwaway container of ``image`` for ``architecture``
    (``--platform``), the ``mounts``, no network unless ``network``, running as this user so
    what it writes is not root's (docker: ``--user uid:gid``; rootless podman:
    ``--userns keep-id``, which maps the same way), ``HOME=/tmp`` (that uid has no home in the
    image), and only the ``env`` given: a value ``None`` passes the variable by name, so a
    credential in it is read from the engine's environment and never appears in argv or logs.
    """
    uid, gid = host_user()
    argv = [engine.binary, "run", "--rm", "--platform", PLATFORMS[architecture],
            "--network", "default" if network else "none"]
    if engine.kind == "podman" and uid != 0:
        argv += ["--userns", "keep-id"]
    else:
        argv += ["--user", f"{uid}:{gid}"]
    # SELinux hosts label bind mounts the container may not read; the mounts are scratch
    # copies and read-only folders, so labelling is switched off rather than relabelling them.
    argv += ["--security-opt", "label=disable"]
    for mount in mounts:
        argv += ["--mount", mount.flag()]
    argv += ["--env", "HOME=/tmp"]
    for name, value in sorted(env.items()):
        argv += ["--env", name if value is None else f"{name}={value}"]
    argv += ["--workdir", workdir, image, *command]
    return argv
