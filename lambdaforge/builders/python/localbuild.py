"""An install's local package folders, built to wheels and named by them instead.

Runs before the installer: each requirement line that names a folder in the project
(``{project}/pkg`` or ``name @ {project}/pkg``, ``-e`` ones included) is built by
``local.local_wheel`` in scratch space with the same installer, and the line handed to the
installer names the wheel. A wheel with native code was built for this machine, not for
Lambda: the package is built again for the target as a native sdist is
(``nativebuild.build_native_wheel``: the runtime's interpreter on a matching host, else its
build image with docker/podman), checked, and that wheel is the one cached and installed.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from lambdaforge.builders.python.local import local_wheel, version_variables
from lambdaforge.builders.python.requirements import PROJECT_PLACEHOLDER
from lambdaforge.builders.python.trust import uv_trust
from lambdaforge.builders.python.waysout import is_pure, wheel_tags
from lambdaforge.errors import InstallError
from lambdaforge.runner import isolated_installer_env

_TIMEOUT = 1800.0
#: lines of a failed build's output shown in the error
_TAIL = 15


def local_folder(line: str, root: Path) -> tuple[str | None, str, Path] | None:
    """``(name or None, project-relative path, folder)`` when ``line`` names a local
    package folder, else ``None`` (a wheel, an sdist, anything from an index)."""
    spec = line.split(" --hash", 1)[0].strip()
    name, sep, rest = spec.partition(" @ ")
    if not sep:
        name, rest = None, spec
    if not rest.startswith(PROJECT_PLACEHOLDER + "/"):
        return None
    rel = rest[len(PROJECT_PLACEHOLDER) + 1:].split(";", 1)[0].strip()
    folder = root / rel
    return (name, rel, folder) if folder.is_dir() else None


def build_local_packages(job: Any, wheel_argv: Callable[[Path, Path, str | None], list[str]],
                         native_flags: list[str]) -> None:
    """Build every local package folder among ``job``'s requirement lines to a wheel and
    record the rewritten lines in ``job.local_wheels`` and the distributions' names in
    ``job.local_names`` (the user's own code, screened for secrets when packaged; notes say
    what was built).

    ``wheel_argv(tree, out_dir, python)`` is the installer's command building ``tree`` into
    ``out_dir`` with ``python``: the target's interpreter when this machine matches the
    target (so a native package is built once, for the target, and only checked), else
    ``None`` (lambdaforge's own; a native result is then built again for the target).
    ``native_flags`` are the pip options of a build for the target. Raises
    ``InstallError`` with the build's last output lines when it fails.
    """
    from lambdaforge.builders.python.nativebuild import (
        accept_local_wheel, build_native_wheel, host_interpreter, wants_container,
    )

    root = job.ctx.project.root
    python = None
    if any(local_folder(line, root) for line in (*job.reqs.requirements, *job.reqs.constraints)):
        python = host_interpreter(job)
    salt = (f"{job.reqs.installer}\0{job.target.runtime}\0{job.target.machine}\0"
            f"{sys.version_info[:2] if python is None else job.target.python_version}\0{wants_container(job)}")
    for line in (*job.reqs.requirements, *job.reqs.constraints):
        found = local_folder(line, root)
        if found is None:
            continue
        name, rel, folder = found

        def build(tree: Path, out: Path, rel: str = rel) -> Path:
            env = {**isolated_installer_env(), **uv_trust()[1]}  # the CA bundle (pip: --cert)
            result = job.runner.run(wheel_argv(tree, out, python), env=env, timeout=_TIMEOUT)
            wheels = sorted(out.glob("*.whl"))
            if not result.ok or len(wheels) != 1:
                output = "\n".join(s for s in (result.stdout.strip(), result.stderr.strip()) if s)
                tail = "\n".join("  " + ln.rstrip() for ln in output.splitlines()[-_TAIL:] if ln.strip())
                raise InstallError(f"building the local package `{rel}` into a wheel failed"
                                   f"{_version_hint(output, folder)}\n{tail}")
            dist, version, tags = wheel_tags(wheels[0].name)
            if is_pure(tags):
                return wheels[0]
            output = result.stdout + "\n" + result.stderr
            if python is not None:
                accepted = accept_local_wheel(job, canonicalize_name(dist), version, wheels[0], python)
                if accepted is not None:
                    return accepted
            return build_native_wheel(job, canonicalize_name(dist), version, tree, native_flags,
                                      output, what="source folder")

        versions = "\0".join(f"{n}={os.environ[n]}" for n in version_variables(folder)
                              if n in os.environ)
        wheel = local_wheel(folder, job.ctx.tool_cache / "local-wheels", job.work / "local",
                            f"{salt}\0{versions}", build)
        dist, version, tags = wheel_tags(wheel.path.name)
        job.local_names.add(canonicalize_name(dist))
        if wheel.built_now and is_pure(tags):
            job.notes.append(f"built wheel for local package {rel} ({dist} {version})")
        job.local_wheels[line] = (f"{name} @ {wheel.path.as_uri()}" if name else str(wheel.path))
        if job.reqs.hash_checking:  # every requirement needs a hash then: this wheel's own
            job.local_wheels[line] += f" --hash=sha256:{hashlib.sha256(wheel.path.read_bytes()).hexdigest()}"
        if line in job.reqs.editable:
            job.notes.append(f"`-e {rel}` installed as a regular package: Lambda has no editable installs")


def _version_hint(output: str, folder: Path) -> str:
    """The way out when a backend found no version in version control: the package is built
    from a copy of its files, without the repository's ``.git``."""
    lowered = output.lower()
    if "unable to detect version" not in lowered and not (
            "lookuperror" in lowered and ("setuptools-scm" in lowered or "setuptools_scm" in lowered)):
        return ""
    named = version_variables(folder)
    variable = named[3] if len(named) > 3 else named[0]
    return (f": its version comes from version control, and forge builds local packages from a "
            f"copy of their files, without the repository's .git; give the version with "
            f"{variable}=X.Y.Z (forge keys the install by it) or set a static `version` in its "
            "pyproject.toml")
