"""The messages that end a failed build of native code: what happened and the ways out.

One place for them, so an sdist from an index and a local package folder that both turn
out to hold native code for this machine are refused in the same words.
"""

from __future__ import annotations

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from lambdaforge.builders.python.target import PythonTarget
from lambdaforge.errors import InstallError


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
