"""The messages that end a failed build of native code: what happened and the ways out.

One place for them, so an sdist from an index and a local package folder that both turn
out to hold native code for this machine are refused in the same words.
"""

from __future__ import annotations

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from lambdaforge.builders.python.target import PythonTarget
from lambdaforge.errors import InstallError

#: lines of a failed build's output shown in the error
_TAIL = 12


def native_sdist_message(target: PythonTarget, name: str, version: str, tags: list[str]) -> str:
    """Why a wheel built here from ``name``'s source cannot ship, and what to do instead."""
    return (
        f"{name} {version} has no wheel for {target.describe()}, and building its sdist here "
        f"produced native code ({', '.join(tags) or 'a platform wheel'}) for this machine, not for "
        f"Lambda. Ways out: pin a version of {name} that publishes a {target.manylinux} "
        f"{target.machine} wheel; put a wheel built for the target in a folder and name it in "
        "`find-links`; or build on a Linux machine (or container) matching the Lambda runtime "
        "and architecture."
    )


def wheel_tags(filename: str) -> tuple[str, str, list[str]]:
    """(name, version, sorted tags) of a wheel file name; ``InstallError`` when unreadable."""
    try:
        name, version, _, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        raise InstallError(f"building an sdist produced an unreadable wheel name {filename!r}") from None
    return str(name), str(version), sorted(str(t) for t in tags)


def is_pure(tags: list[str]) -> bool:
    """True when every tag of a wheel is ``*-none-any`` (no native code, any platform)."""
    return bool(tags) and all(t.endswith("-none-any") for t in tags)


def tail(output: str, count: int = _TAIL) -> str:
    """The last ``count`` non-blank lines of ``output``, indented: a build's real error."""
    lines = [ln.rstrip() for ln in output.splitlines() if ln.strip()]
    return "\n".join("  " + ln for ln in lines[-count:])


def ways_out(target: PythonTarget, name: str, version: str, why: str, output: str = "",
             *, native: bool = True, local: bool = False) -> str:
    """The error for an sdist (``local``: a local package folder) that cannot be built for
    ``target`` here (``native``: because it compiles code this machine cannot build for the
    target): why, the ways out, and the build's last output lines when there was one."""
    machine = (f"build on a Linux {target.machine} machine with Python {target.python_version}, "
               "or start docker or podman (the runtime's build image is then used; "
               "FORGE_CONTAINER_ENGINE names one)")
    if local:
        message = (
            f"the local package {name} {version} holds native code, which cannot be built for "
            f"{target.describe()} here: {why}. Ways out: {machine}; or build its wheel for the "
            "target elsewhere, put it in a `find-links` folder and require it by name."
        )
    else:
        sdist = ("its sdist builds native code, which cannot be built for the target here"
                 if native else "its sdist could not be built")
        message = (
            f"{name} {version} has no wheel for {target.describe()} and {sdist}: {why}. Ways out: "
            f"pin a version of {name} that publishes a {target.manylinux} {target.machine} wheel; "
            f"put a wheel built for the target in a folder and name it in `find-links`; or {machine}."
        )
    if output.strip():
        message += f"\nlast lines of the build's output:\n{tail(output)}"
    return message


def build_failed_message(target: PythonTarget, name: str, version: str, output: str) -> str:
    """The error for an sdist whose build crashed (a ``setup.py`` traceback, a compiler
    error): the ways out and the build's own last lines, not the installer's wrapping."""
    return ways_out(target, name, version, "its build failed", output, native=False)
