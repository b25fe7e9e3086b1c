"""Native sdists built for the target on a matching host or in its build image, and checked
like auditwheel.

A package with only an sdist that compiles native code can be built here when this machine
matches the Lambda target: the same CPU architecture and an interpreter of the runtime's
Python version (on PATH or in pyenv, found as the smoke test finds one). The wheel is built
with *that* interpreter (``pip wheel --no-deps``) and accepted only when the native checks
pass on it (``packaging.native``: machine, glibc and libstdc++ symbol versions no newer than
the runtime's, the extension modules' Python), its shared-library needs are met inside the
wheel or by the runtime's base (``lambda_facts.BASE_SHARED_LIBRARIES``), and its Python/ABI
tag is the runtime's. It is then retagged for the runtime's manylinux policy (as auditwheel
repairs a wheel after the same checks), so both installers take it from a find-links folder.

When this machine cannot (another CPU, no such interpreter, a wheel failing the checks), the
build runs in the runtime's build image with docker or podman (``containerbuild``, when an
engine answers ``info``), and its wheel goes through the same checks; ``use-container``
(or ``forge build --use-container``) goes there first. Local packages with native code take
the same road (``localbuild``). Anything else ends in the ways out, with every reason and
the last lines of the build's own error.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import platform
import zipfile
from pathlib import Path
from typing import Any

from lambdaforge.builders.python.waysout import ways_out, wheel_tags
from lambdaforge.errors import InstallError
from lambdaforge.lambda_facts import BASE_SHARED_LIBRARIES
from lambdaforge.runner import isolated_installer_env

_TIMEOUT = 1800.0


def host_machine() -> str:
    """This machine's CPU as an ELF machine name (``x86_64``, ``aarch64``)."""
    machine = platform.machine().lower()
    return {"arm64": "aarch64", "amd64": "x86_64"}.get(machine, machine)


def wants_container(job: Any) -> bool:
    """``use-container`` set for this install, or ``forge build --use-container``."""
    return bool(getattr(job.reqs, "use_container", False) or getattr(job.ctx, "use_container", False))


def build_native_wheel(job: Any, name: str, version: str, requirement: str | Path,
                       pip_flags: list[str], host_output: str = "", *, what: str = "sdist") -> Path:
    """Build ``requirement`` (a requirement line for an sdist, or the folder of a scratch
    copy of a local package) for ``job.target``, check the wheel and retag it into
    ``job.built`` (a find-links folder); returns its path.

    Tried in order, the first wheel passing the checks wins: this machine, when it matches
    the target (same CPU, an interpreter of the runtime's Python), then the runtime's build
    image with docker or podman, when one answers. ``use-container`` skips the first. Raises
    ``InstallError`` with every reason and the ways out when none works.
    ``pip_flags`` are the host's pip options (cache, indexes, find-links); ``host_output``
    the output of the build that produced host code, shown when nothing else ran; ``what``
    the source's name in notes (``sdist``, ``source folder``: a local package).
    """
    from lambdaforge.containers import find_engine

    target = job.target
    forced = wants_container(job)
    reasons: list[str] = []
    output = host_output
    if not forced:
        wheel, why, said = _host_build(job, name, version, requirement, pip_flags, what)
        if wheel is not None:
            return wheel
        reasons.append(why)
        output = said or output
    engine, why = find_engine(job.runner)
    if engine is None:
        if forced:
            source = "" if what == "sdist" else "the local package "
            raise InstallError(f"{source}{name} {version} must be built for {target.describe()} in a "
                               f"container (`use-container`), but no container engine answers: "
                               f"{why}. Start docker or podman, or name one with "
                               "FORGE_CONTAINER_ENGINE.")
        reasons.append(f"no container build: {why}")
        raise InstallError(ways_out(target, name, version, "; ".join(reasons), output,
                                    local=what != "sdist"))
    wheel, why, said = _container_build(job, engine, name, version, requirement, what)
    if wheel is not None:
        return wheel
    reasons.append(why)
    raise InstallError(ways_out(target, name, version, "; ".join(reasons), said,
                                local=what != "sdist"))


def host_interpreter(job: Any) -> str | None:
    """The target's interpreter when this machine matches the target and ``use-container``
    is off (a local package is then built with it from the start), else ``None``."""
    from lambdaforge.builders.python.smoke import find_interpreter

    if wants_container(job) or host_machine() != job.target.machine:
        return None
    return find_interpreter(job.target, job.runner)[0]


def accept_local_wheel(job: Any, name: str, version: str, wheel: Path, python: str) -> Path | None:
    """A native wheel built from a local package with the target's interpreter ``python``:
    checked and retagged into ``job.built`` as a native sdist's is; ``None`` when it fails
    the checks (then it is built again another way, ``build_native_wheel``)."""
    if wheel_problems(wheel, job.target):
        return None
    return _place(job, name, version, wheel, f"with {python}", "source folder")


def _host_build(job: Any, name: str, version: str, requirement: str | Path,
                pip_flags: list[str], what: str) -> tuple[Path | None, str, str]:
    """(placed wheel, "", "") or (None, why not, the build's output)."""
    from lambdaforge.builders.python.smoke import find_interpreter

    target = job.target
    if host_machine() != target.machine:
        return None, f"this machine is {host_machine()}, the function {target.machine}", ""
    interpreter, why = find_interpreter(target, job.runner)
    if interpreter is None:
        return None, why, ""
    out = _fresh(job, f"native-{name}-")
    argv = [interpreter, "-m", "pip", "wheel", "--no-deps", "--no-binary", name,
            "--wheel-dir", str(out), *pip_flags, str(_copy_of(job, requirement))]
    result = job.runner.run(argv, env=isolated_installer_env(), timeout=_TIMEOUT)
    return _accept(job, name, version, result, out, f"with {interpreter}", what)


def _container_build(job: Any, engine: Any, name: str, version: str,
                     requirement: str | Path, what: str) -> tuple[Path | None, str, str]:
    from lambdaforge.builders.python.containerbuild import build_image, container_wheel

    out = _fresh(job, f"container-{name}-")
    result = container_wheel(job, engine, name, _copy_of(job, requirement), out)
    return _accept(job, name, version, result, out,
                   f"in {build_image(job.target)} with {engine.describe()}", what)


def _accept(job: Any, name: str, version: str, result: Any, out: Path,
            how: str, what: str) -> tuple[Path | None, str, str]:
    """The one wheel a build wrote into ``out``, checked and retagged into ``job.built``."""
    target = job.target
    output = result.stdout + "\n" + result.stderr
    wheels = sorted(out.glob("*.whl"))
    if not result.ok or len(wheels) != 1:
        return None, f"building it {how} failed", output
    problems = wheel_problems(wheels[0], target)
    if problems:
        return None, f"the wheel built {how} fails the native checks: " + "; ".join(problems), ""
    return _place(job, name, version, wheels[0], how, what), "", ""


def _place(job: Any, name: str, version: str, wheel: Path, how: str, what: str) -> Path:
    """Retag a checked wheel into ``job.built`` (the retry's find-links) with a note."""
    if job.built is None:
        job.built = job.work / "built-wheels"
        job.built.mkdir(exist_ok=True)
    placed = retag(wheel, job.target, job.built)
    job.notes.append(f"built {name} {version} from its {what} {how} "
                     f"(native checks passed for {job.target.runtime} {job.target.machine})")
    return placed


def _fresh(job: Any, prefix: str) -> Path:
    import tempfile

    job.work.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=job.work))


def _copy_of(job: Any, requirement: str | Path) -> str | Path:
    """A requirement as it is; a local package tree copied anew (no build leftovers of an
    earlier attempt: a build may write ``build/`` into the tree it is given)."""
    if not isinstance(requirement, Path):
        return requirement
    from lambdaforge.builders.python.local import copy_package

    dest = _fresh(job, "tree-") / requirement.name
    dest.mkdir()
    copy_package(requirement, dest)
    return dest


def wheel_problems(wheel: Path, target: Any) -> list[str]:
    """Why ``wheel`` (built here) cannot ship for ``target``: its Python/ABI tag, the native
    checks, shared libraries neither in the wheel nor in the runtime's base."""
    from lambdaforge.packaging.native import check_native_binaries, scan_binaries

    _, _, tags = wheel_tags(wheel.name)
    problems = []
    fits = [t for t in tags if t.split("-")[0] in (f"cp{target.python_version.replace('.', '')}", "py3")
            and t.split("-")[1] in (target.abi, "abi3", "none")]
    if not fits:
        problems.append(f"its tags {', '.join(tags)} are not for {target.abi}")
    architecture = "arm64" if target.machine == "aarch64" else "x86_64"
    problems += [p.message for p in check_native_binaries(wheel, architecture, target.runtime)]
    binaries = list(scan_binaries(wheel))
    inside = {os.path.basename(path) for path, _ in binaries}
    for path, info in binaries:
        missing = sorted(set(info.needed) - inside - BASE_SHARED_LIBRARIES)
        if missing:
            problems.append(f"{path} needs {', '.join(missing)}, which is neither in the wheel "
                            "nor part of the Lambda runtime")
    return problems


def retag(wheel: Path, target: Any, dest: Path) -> Path:
    """Copy ``wheel`` into ``dest`` tagged ``<python>-<abi>-<manylinux>_<machine>`` (file name,
    ``WHEEL`` tags and its ``RECORD`` line), after ``wheel_problems`` found nothing."""
    _, _, tags = wheel_tags(wheel.name)
    python, abi, _ = tags[0].split("-")
    new_tag = f"{python}-{abi}-{target.manylinux}_{target.machine}"
    stem = wheel.name.split("-", 2)
    placed = dest / f"{stem[0]}-{stem[1]}-{new_tag}.whl"
    with zipfile.ZipFile(wheel) as src:
        members = {i.filename: src.read(i) for i in src.infolist()}
    wheel_meta = next(n for n in members if n.endswith(".dist-info/WHEEL") and n.count("/") == 1)
    record = wheel_meta.rsplit("/", 1)[0] + "/RECORD"
    text = members[wheel_meta].decode()
    kept = [ln for ln in text.splitlines() if not ln.startswith("Tag:")]
    members[wheel_meta] = ("\n".join([*filter(None, kept), f"Tag: {new_tag}"]) + "\n\n").encode()
    data = members[wheel_meta]
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    lines = [ln for ln in members.get(record, b"").decode().splitlines()
             if ln and not ln.startswith(wheel_meta + ",")]
    members[record] = ("\n".join([*lines, f"{wheel_meta},sha256={digest},{len(data)}"]) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for member in sorted(members):
            out.writestr(zipfile.ZipInfo(member, (1980, 1, 1, 0, 0, 0)), members[member])
    dest.mkdir(parents=True, exist_ok=True)
    placed.write_bytes(buffer.getvalue())
    return placed
