"""``pylock.toml`` (PEP 751) read directly, for either installer.

uv's own reading of one (``uv pip install -r pylock.toml``) does not fit an install for
Lambda: it is a preview feature, refuses any other requirement beside the lock (inline
``dependencies``, the wheels forge builds from local package folders), and checks the
lock's ``requires-python`` against the interpreter it runs with, not ``--python-version``;
pip installs none at all. So the lock is read here, like a ``poetry.lock``, into exact pins
with their hashes (``name==version --hash=sha256:…``), which both installers take in
hash-checking mode: the lock's files, or a failed install.

Each package's ``marker`` is evaluated for the target with the chosen ``extras`` and
dependency groups (``groups``, else the lock's ``default-groups``), as PEP 751 asks of an
installer. Packages from a VCS, a directory or an archive are refused by name, as in the
other lock readers; so is a lock whose ``requires-python`` or ``environments`` exclude the
target.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from lambdaforge.builders.python.locked import LockedRequirement, LockRead, line_of

#: hash algorithms both installers check (``--hash=<alg>:<hex>``)
_HASHES = ("sha256", "sha384", "sha512")
_PYPI = ("https://pypi.org/simple", "https://pypi.org/simple/")
_NOT_INSTALLABLE = ("vcs", "directory", "archive")


def read_pylock(data: Mapping[str, Any], text: str, where: str, environment: Mapping[str, str], *,
                groups: Sequence[str] = (), extras: Sequence[str] = ()) -> LockRead:
    """The packages of a parsed ``pylock.toml`` (its ``text`` gives line numbers) that the
    target (``environment``: its marker environment) installs, with the problems found."""
    out = LockRead()
    version = str(data.get("lock-version", ""))
    if version.split(".")[0] != "1":
        out.problem(where, line_of(text, "lock-version"), f"lock-version {version or '(none)'!r} is "
                    "not supported (expected 1.x, PEP 751)")
        return out
    _check_target(data, text, where, environment, out)
    chosen_extras = _chosen(data, "extras", extras, text, where, out)
    chosen_groups = _chosen(data, "dependency-groups", groups or data.get("default-groups", ()),
                            text, where, out)
    env = {**environment, "extras": frozenset(chosen_extras),
           "dependency_groups": frozenset(chosen_groups)}
    packages = data.get("packages", [])
    for package in packages if isinstance(packages, list) else ():
        if not isinstance(package, dict) or not isinstance(package.get("name"), str):
            out.problem(where, None, "a `[[packages]]` entry has no `name`")
            continue
        name = canonicalize_name(package["name"])
        line = line_of(text, f'name = "{package["name"]}"')
        if not _applies(package.get("marker"), env, where, line, out):
            continue
        source = next((k for k in _NOT_INSTALLABLE if k in package), None)
        if source is not None:
            out.problem(where, line, f"`{name}` comes from a {source} (`{source}` in the lock), which "
                        "lambdaforge does not install from a pylock.toml: publish it to an index or a "
                        "`find-links` wheel folder")
            continue
        if not isinstance(package.get("version"), str):
            out.problem(where, line, f"`{name}` has no `version`")
            continue
        index = package.get("index")
        if isinstance(index, str) and index not in _PYPI and index not in out.extra_index_urls:
            out.extra_index_urls.append(index)
        out.requirements.append(LockedRequirement(f"{name}=={package['version']}",
                                                  tuple(sorted(_hashes(package))), line))
    return out


def _check_target(data: Mapping[str, Any], text: str, where: str, environment: Mapping[str, str],
                  out: LockRead) -> None:
    """``requires-python`` and ``environments`` must admit the target."""
    requires = data.get("requires-python")
    python = environment["python_full_version"]
    try:
        if isinstance(requires, str) and python not in SpecifierSet(requires):
            out.problem(where, line_of(text, "requires-python"), f"requires-python {requires!r} "
                        f"excludes the runtime's Python {environment['python_version']}")
    except InvalidSpecifier:
        out.problem(where, line_of(text, "requires-python"), f"requires-python {requires!r} is not a "
                    "version specifier")
    environments = data.get("environments")
    if isinstance(environments, list) and environments:
        try:
            if not any(Marker(m).evaluate(dict(environment)) for m in environments if isinstance(m, str)):
                out.problem(where, line_of(text, "environments"), "none of its `environments` is the "
                            "target's: lock it for Linux and the runtime's Python")
        except InvalidMarker as exc:
            out.problem(where, line_of(text, "environments"), f"invalid marker in `environments`: {exc}")


def _chosen(data: Mapping[str, Any], key: str, names: Sequence[str], text: str, where: str,
            out: LockRead) -> list[str]:
    """``names``, each checked against the lock's list ``key`` (``extras``,
    ``dependency-groups``); an unknown one is a problem naming the known ones."""
    known = [n for n in data.get(key, []) if isinstance(n, str)]
    by_name = {canonicalize_name(n): n for n in known}
    what = "extra" if key == "extras" else "group"
    for name in names:
        if canonicalize_name(name) not in by_name:
            out.problem(where, line_of(text, key), f"{what} `{name}` is not declared in the lock "
                        f"(known: {', '.join(known) or 'none'})")
    return [by_name.get(canonicalize_name(n), n) for n in names]


def _applies(marker: object, env: Mapping[str, object], where: str, line: int | None,
             out: LockRead) -> bool:
    """Whether a package's ``marker`` (none: always) holds for the target."""
    if not isinstance(marker, str):
        return True
    try:
        return Marker(marker).evaluate(dict(env), context="lock_file")  # type: ignore[arg-type]
    except InvalidMarker as exc:
        out.problem(where, line, f"invalid marker {marker!r}: {exc}")
        return False


def _hashes(package: Mapping[str, Any]) -> set[str]:
    """``alg:hex`` of every wheel and the sdist the package lists."""
    files = [*package.get("wheels", []), package.get("sdist")]
    found = set()
    for entry in files:
        digests = entry.get("hashes") if isinstance(entry, dict) else None
        for alg in _HASHES:
            if isinstance(digests, dict) and isinstance(digests.get(alg), str):
                found.add(f"{alg}:{digests[alg]}")
    return found
