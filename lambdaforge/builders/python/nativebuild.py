"""Native sdists built for the target on a host that matches it, and checked like auditwheel.

A package with only an sdist that compiles native code can be built here when this machine
matches the Lambda target: the same CPU architecture and an interpreter of the runtime's
Python version (on PATH or in pyenv, found as the smoke test finds one). The wheel is built
with *that* interpreter (``pip wheel --no-deps``) and accepted only when the native checks
pass on it (``packaging.native``: machine, glibc and libstdc++ symbol versions no newer than
the runtime's, the extension modules' Python), its shared-library needs are met inside the
wheel or by the runtime's base (``lambda_facts.BASE_SHARED_LIBRARIES``), and its Python/ABI
tag is the runtime's. It is then retagged for the runtime's manylinux policy (as auditwheel
repairs a wheel after the same checks), so both installers take it from a find-links folder.

Anything else ends in the ways out, with the last lines of the build's own error.
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


def build_native_wheel(job: Any, name: str, version: str, requirement: str,
                       pip_flags: list[str], host_output: str = "") -> Path:
    """Build ``requirement``'s sdist for ``job.target`` with an interpreter of its Python,
    check the wheel and retag it into ``job.built`` (a find-links folder); returns its path.

    ``pip_flags`` are the pip options (cache, indexes, find-links) the build uses;
    ``host_output`` is the output of the host build that produced native code, shown when no
    matching interpreter exists. Raises ``InstallError`` with the ways out otherwise.
    """
    from lambdaforge.builders.python.smoke import find_interpreter

    target = job.target
    if host_machine() != target.machine:
        raise InstallError(ways_out(target, name, version,
                                    f"this machine is {host_machine()}, the function {target.machine}"))
    interpreter, why = find_interpreter(target, job.runner)
    if interpreter is None:
        raise InstallError(ways_out(target, name, version, why, host_output))
    out = job.work / f"native-{name}"
    out.mkdir(parents=True, exist_ok=True)
    argv = [interpreter, "-m", "pip", "wheel", "--no-deps", "--no-binary", ":all:",
            "--wheel-dir", str(out), *pip_flags, requirement]
    result = job.runner.run(argv, env=isolated_installer_env(), timeout=_TIMEOUT)
    wheels = sorted(out.glob("*.whl"))
    if not result.ok or len(wheels) != 1:
        raise InstallError(ways_out(target, name, version,
                                    f"building it with {interpreter} failed",
                                    result.stdout + "\n" + result.stderr))
    problems = wheel_problems(wheels[0], target)
    if problems:
        raise InstallError(ways_out(target, name, version, "the wheel built with "
                                    f"{interpreter} fails the native checks: " + "; ".join(problems)))
    assert job.built is not None
    placed = retag(wheels[0], target, job.built)
    job.notes.append(f"built {name} {version} from its sdist with {interpreter} "
                     f"(native checks passed for {target.runtime} {target.machine})")
    return placed


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
