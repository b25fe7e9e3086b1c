"""``poetry.lock`` read directly (TOML; no Poetry install needed).

What is shipped: the locked packages of the ``main`` group, plus the groups named in the
``groups`` option (``[tool.poetry.group.X]``; dev and test groups never unless named), plus
the optional packages of the extras named in ``extras``. Each becomes
``name==version; marker --hash=sha256:…``, its marker the lock's marker for the selected
groups with ``extra == …`` terms decided by the selection.

The lock must be current: Poetry stores a ``content-hash`` of the dependency-relevant part
of ``pyproject.toml`` in ``[metadata]``; it is recomputed here the way Poetry's
``Locker._get_content_hash`` does, and a mismatch is an error saying to run ``poetry lock``.
Lock files older than format 2.1 (Poetry 1.x: 1.0, 1.1, 2.0) carry no per-package groups
and markers: ``poetry_legacy`` walks them from the pyproject for the target. Path, file,
URL and VCS packages are refused by name.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.utils import canonicalize_name

from lambdaforge.builders.python.locked import LockedRequirement, LockRead, line_of

# Poetry's Locker: the [tool.poetry] keys hashed (the legacy ones even when absent, unless
# [project] has relevant content), and the [project] keys.
_LEGACY_KEYS = ("dependencies", "source", "extras", "dev-dependencies")
_RELEVANT_KEYS = (*_LEGACY_KEYS, "group")
_PROJECT_KEYS = ("requires-python", "dependencies", "optional-dependencies")

#: lock formats carrying ``groups`` and ``markers`` per package (Poetry 2.0 writes 2.1)
_MIN_LOCK_VERSION = (2, 1)
#: the oldest format read (Poetry 1.0 wrote 1.0; 1.1–1.2 wrote 1.1; 1.3–1.8 wrote 2.0)
_OLDEST_LOCK_VERSION = (1, 0)
_EXACT = re.compile(r"^\s*(==\s*)?[0-9][A-Za-z0-9.+!-]*\s*$")

#: ``source.type`` of poetry.lock packages that come from no index: not installed from a lock
UNSUPPORTED_SOURCES = ("directory", "file", "git", "url", "hg", "svn", "bzr")


def from_an_index(package: Mapping[str, Any], where: str, line: int | None, out: LockRead) -> bool:
    """Whether a poetry.lock package is installed from an index (both lock formats): one from
    a path, a file, a URL or a VCS is a problem recorded in ``out``; one from a ``legacy``
    (private) source adds that index to ``out``'s extra index URLs."""
    source = package.get("source") or {}
    kind = source.get("type")
    if kind in UNSUPPORTED_SOURCES:
        out.problem(where, line, f"`{package['name']}` is a {kind} dependency "
                    f"(`{source.get('url', '')}`), which lambdaforge does not install from "
                    "poetry.lock: publish it to an index or a `find-links` wheel folder")
        return False
    if kind == "legacy" and source.get("url") and source["url"] not in out.extra_index_urls:
        out.extra_index_urls.append(source["url"])
    return True

def content_hashes(pyproject: dict[str, Any]) -> set[str]:
    """The ``content-hash`` values Poetry would write for this pyproject: the current
    algorithm, and the one before ``[dependency-groups]`` was hashed (both are in use)."""
    project = pyproject.get("project", {})
    poetry = pyproject.get("tool", {}).get("poetry", {})
    relevant_project = {k: project[k] for k in _PROJECT_KEYS if project.get(k) is not None}
    relevant_poetry = {}
    for key in _RELEVANT_KEYS:
        value = poetry.get(key)
        if value is None and (key not in _LEGACY_KEYS or relevant_project):
            continue
        relevant_poetry[key] = value
    if relevant_project:
        content: dict[str, Any] = {"project": relevant_project, "tool": {"poetry": relevant_poetry}}
    else:
        content = relevant_poetry  # Poetry's backwards-compatible layout: at the top level
    out = {_digest(content)}
    groups = pyproject.get("dependency-groups")
    if relevant_project and groups:
        out.add(_digest({**content, "dependency-groups": groups}))
    return out


def _digest(content: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def exact_pins(pyproject: dict[str, Any]) -> set[str]:
    """Names pinned to one version in ``[tool.poetry.dependencies]`` (``"1.0"`` or
    ``"==1.0"`` is exact in Poetry) or with ``==`` in ``[project] dependencies``."""
    from packaging.requirements import InvalidRequirement, Requirement

    pins: set[str] = set()
    deps = pyproject.get("tool", {}).get("poetry", {}).get("dependencies", {})
    for name, value in deps.items() if isinstance(deps, dict) else ():
        version = value.get("version") if isinstance(value, dict) else value
        if isinstance(version, str) and _EXACT.match(version) and name.lower() != "python":
            pins.add(canonicalize_name(name))
    for text in pyproject.get("project", {}).get("dependencies", []) or []:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        if any(s.operator in ("==", "===") for s in req.specifier):
            pins.add(canonicalize_name(req.name))
    return pins


def read_poetry_lock(
    pyproject: dict[str, Any], lock: dict[str, Any], lock_text: str, where: str,
    *, groups: Iterable[str] = (), extras: Iterable[str] = (),
    environment: Mapping[str, str] | None = None,
) -> LockRead:
    """The packages ``poetry.lock`` (parsed ``lock``, its text ``lock_text`` for line
    numbers, shown as ``where``) locks for the main group, ``groups`` and ``extras``.

    Formats before 2.1 (Poetry 1.x) are walked from the pyproject's dependencies for the
    target whose marker ``environment`` is given (``poetry_legacy``)."""
    out = LockRead(pinned=exact_pins(pyproject))
    metadata = lock.get("metadata", {})
    text = str(metadata.get("lock-version", ""))
    version = _version_tuple(text or "0")
    if version < _OLDEST_LOCK_VERSION or version[0] > _MIN_LOCK_VERSION[0]:
        out.problem(where, line_of(lock_text, "lock-version"),
                    f"lock format {text or 'unknown'} is not one Poetry 1.x or 2.x writes "
                    "(1.0 to 2.1): run `poetry lock`")
        return out
    if metadata.get("content-hash") not in content_hashes(pyproject):
        out.problem(where, line_of(lock_text, "content-hash"),
                    "out of date with pyproject.toml (its content-hash differs): run `poetry lock`")
        return out
    if version < _MIN_LOCK_VERSION:
        from lambdaforge.builders.python.poetry_legacy import read_legacy_lock
        from lambdaforge.builders.python.target import PythonTarget

        env = environment or PythonTarget.of("python3.12", "x86_64").marker_environment()
        return read_legacy_lock(pyproject, lock, lock_text, where, out, environment=env,
                                groups=groups, extras=extras)
    wanted_groups = {"main", *groups}
    wanted_extras = {canonicalize_name(e) for e in extras}
    declared_extras = {canonicalize_name(k): v for k, v in lock.get("extras", {}).items()}
    for extra in sorted(wanted_extras - set(declared_extras)):
        out.problem(where, None, f"extra `{extra}` is not declared in the lock (known: "
                    f"{', '.join(sorted(declared_extras)) or 'none'})")
    extra_packages = {canonicalize_name(n.split("[")[0].split(" ")[0])
                      for e in wanted_extras for n in declared_extras.get(e, ())}
    for package in lock.get("package", []):
        name = canonicalize_name(package["name"])
        line = line_of(lock_text, f'name = "{package["name"]}"')
        selected = sorted(wanted_groups & set(package.get("groups", ["main"])))
        if not selected or (package.get("optional") and name not in extra_packages):
            continue
        marker = _group_marker(package.get("markers"), selected)
        if marker is not None:
            try:
                decided = decide_extras(Marker(marker), wanted_extras)
            except InvalidMarker as exc:
                out.problem(where, line, f"`{package['name']}`: invalid marker `{marker}`: {exc}")
                continue
            if decided is False:
                continue
            marker = None if decided is True else decided
        if not from_an_index(package, where, line, out):
            continue
        text = f"{name}=={package['version']}" + (f"; {marker}" if marker else "")
        hashes = tuple(f["hash"] for f in package.get("files", []) if "hash" in f)
        out.requirements.append(LockedRequirement(text, hashes, line))
    return out


def _version_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in text.split("."))
    except ValueError:
        return (0,)


def _group_marker(markers: str | dict[str, str] | None, groups: list[str]) -> str | None:
    """The marker of a package for the selected groups (``None``: always)."""
    if markers is None:
        return None
    if isinstance(markers, str):
        return None if markers in ("", "*") else markers
    chosen = [markers.get(g, "*") for g in groups]
    if any(m in ("", "*") for m in chosen):
        return None
    unique = sorted(set(chosen))
    return unique[0] if len(unique) == 1 else " or ".join(f"({m})" for m in unique)


def decide_extras(marker: Marker, extras: set[str]) -> bool | str:
    """``marker`` with every ``extra == "x"`` term decided by whether ``x`` was selected:
    ``True`` or ``False`` when nothing else is left, else the remaining marker's text (an
    installer would evaluate ``extra`` as empty and skip the package)."""
    result = _reduce(marker._markers, extras)
    return result if isinstance(result, bool) else _format(result)


def _reduce(items: list, extras: set[str]) -> bool | list:
    # packaging's flat form: operands joined by "and"/"or", "and" binding tighter.
    groups: list[list] = [[]]
    for item in items:
        if item == "or":
            groups.append([])
        elif item != "and":
            groups[-1].append(item)
    kept_groups: list[list] = []
    for group in groups:
        kept: list = []
        for atom in group:
            value = _reduce(atom, extras) if isinstance(atom, list) else _atom(atom, extras)
            if value is False:
                kept = None  # type: ignore[assignment]
                break
            if value is not True:
                kept.append(value)
        if kept is None:
            continue
        if not kept:
            return True
        kept_groups.append(kept)
    if not kept_groups:
        return False
    out: list = []
    for i, group in enumerate(kept_groups):
        if i:
            out.append("or")
        for j, atom in enumerate(group):
            if j:
                out.append("and")
            out.append(atom)
    return out


def _atom(atom: tuple, extras: set[str]) -> bool | tuple:
    lhs, op, rhs = atom
    names = {type(lhs).__name__: lhs.value, type(rhs).__name__: rhs.value}
    if names.get("Variable") != "extra" or "Value" not in names:
        return atom
    selected = canonicalize_name(names["Value"]) in extras
    if op.value == "==":
        return selected
    if op.value == "!=":
        return not selected
    return atom


def _format(items: list) -> str:
    parts = []
    for item in items:
        if isinstance(item, list):
            parts.append(f"({_format(item)})")
        elif isinstance(item, tuple):
            parts.append(" ".join(node.serialize() for node in item))
        else:
            parts.append(item)
    return " ".join(parts)
