"""``poetry.lock`` files of Poetry 1.x (lock formats 1.0, 1.1 and 2.0), read directly.

These formats do not say, per package, which groups need it or under which markers: 1.x
writes ``category = "main"|"dev"`` (dropped by Poetry 1.5 in format 2.0), hashes in
``[metadata.files]`` (1.x) or per package (2.0), and the dependency edges with their
markers and Python constraints in ``[package.dependencies]``. So the packages to ship are
found as ``poetry export`` finds them: walked from the pyproject's main dependencies (plus
the groups and extras selected) through those edges, each edge taken when its markers and
``python`` constraint hold on the target (the runtime's marker environment) and an optional
one only when an extra asks for it. What no walk reaches is a dev or test package and is
never shipped, whatever its ``category`` says. Lines are exact pins without markers: the
target is already decided.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from lambdaforge.builders.python.locked import LockedRequirement, LockRead, line_of
from lambdaforge.builders.python.poetry import from_an_index



def read_legacy_lock(
    pyproject: dict[str, Any], lock: dict[str, Any], lock_text: str, where: str, out: LockRead,
    *, environment: Mapping[str, str], groups: Iterable[str] = (), extras: Iterable[str] = (),
) -> LockRead:
    """Add to ``out`` the packages a Poetry 1.x lock holds for the main dependencies, the
    ``groups`` and the ``extras`` on the target whose marker ``environment`` is given."""
    poetry = pyproject.get("tool", {}).get("poetry", {})
    packages = {canonicalize_name(p["name"]): p for p in lock.get("package", []) if "name" in p}
    files = {canonicalize_name(k): v for k, v in lock.get("metadata", {}).get("files", {}).items()}
    wanted_extras = {canonicalize_name(e) for e in extras}
    declared_extras = {canonicalize_name(k): v for k, v in (poetry.get("extras") or {}).items()}
    for extra in sorted(wanted_extras - set(declared_extras)):
        out.problem(where, None, f"extra `{extra}` is not declared in pyproject.toml (known: "
                    f"{', '.join(sorted(declared_extras)) or 'none'})")
    extra_roots = {canonicalize_name(n) for e in wanted_extras for n in declared_extras.get(e, ())}

    # (name, extras asked) to visit
    todo: list[tuple[str, frozenset[str]]] = []
    for table in _root_tables(poetry, set(groups)):
        for name, spec in table.items():
            if name.lower() == "python":
                continue
            for entry in _entries(spec):
                if entry.get("optional") and canonicalize_name(name) not in extra_roots:
                    continue
                if _applies(entry, environment):
                    todo.append((canonicalize_name(name), _extras_of(entry)))
    reached: dict[str, set[str]] = {}
    while todo:
        name, asked = todo.pop()
        if name in reached and asked <= reached[name]:
            continue
        package = packages.get(name)
        if package is None:
            out.problem(where, None, f"`{name}` is required but not locked: run `poetry lock`")
            reached[name] = set(asked)
            continue
        reached.setdefault(name, set()).update(asked)
        active = {canonicalize_name(d.split()[0].split("[")[0])
                  for e in reached[name] for d in (package.get("extras") or {}).get(e, ())}
        for dep, spec in (package.get("dependencies") or {}).items():
            for entry in _entries(spec):
                if entry.get("optional") and canonicalize_name(dep) not in active:
                    continue
                if _applies(entry, environment):
                    todo.append((canonicalize_name(dep), _extras_of(entry)))
    for name in sorted(reached):
        package = packages.get(name)
        if package is None:
            continue
        line = line_of(lock_text, f'name = "{package["name"]}"')
        if not from_an_index(package, where, line, out):
            continue
        listed = package.get("files") or files.get(name) or []
        hashes = tuple(f["hash"] for f in listed if isinstance(f, dict) and "hash" in f)
        out.requirements.append(LockedRequirement(f"{name}=={package['version']}", hashes, line))
    return out


def _root_tables(poetry: dict[str, Any], groups: set[str]) -> list[dict[str, Any]]:
    """The pyproject's dependency tables walked from: main, then the selected groups
    (``[tool.poetry.group.X]``, and the legacy ``dev-dependencies`` as group ``dev``)."""
    tables = [poetry.get("dependencies") or {}]
    for name, group in (poetry.get("group") or {}).items():
        if (name == "main" or name in groups) and isinstance(group, dict):
            tables.append(group.get("dependencies") or {})
    if "dev" in groups:
        tables.append(poetry.get("dev-dependencies") or {})
    return [t for t in tables if isinstance(t, dict)]


def _entries(spec: Any) -> list[dict[str, Any]]:
    """A dependency's constraints as dicts: ``"^1.0"``, ``{version=…}`` or a list of them
    (a multiple-constraints dependency, one per Python range)."""
    if isinstance(spec, list):
        return [s if isinstance(s, dict) else {"version": s} for s in spec]
    return [spec if isinstance(spec, dict) else {"version": spec}]


def _extras_of(entry: dict[str, Any]) -> frozenset[str]:
    return frozenset(canonicalize_name(e) for e in entry.get("extras") or ())


def _applies(entry: dict[str, Any], environment: Mapping[str, str]) -> bool:
    """Whether an edge's ``markers`` and ``python`` constraint hold on the target; one
    that cannot be read is taken (installing one package too many beats missing one)."""
    markers = entry.get("markers")
    if isinstance(markers, str) and markers.strip():
        try:
            if not Marker(markers).evaluate({**environment, "extra": ""}):
                return False
        except InvalidMarker:
            pass
    python = entry.get("python")
    if isinstance(python, str) and python.strip():
        return python_allows(python, environment.get("python_full_version", "3.12.0"))
    return True


_CARET = re.compile(r"^\^\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?$")
_TILDE = re.compile(r"^~(?!=)\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?$")


def python_allows(constraint: str, version: str) -> bool:
    """Whether Poetry's version ``constraint`` (``^3.8``, ``~3.9``, ``>=3.7,<4``, ``3.8.*``,
    ``>=2.7 || >=3.6``, ``*``) allows the Python ``version``; ``True`` when unreadable."""
    try:
        target = Version(version)
    except InvalidVersion:
        return True
    for alternative in constraint.split("||"):
        parts = [p.strip() for p in re.split(r",|\s+(?=[<>=!~^])", alternative) if p.strip()]
        try:
            if all(target in SpecifierSet(pep440_of(p)) for p in parts):
                return True
        except InvalidSpecifier:
            return True
    return False


def pep440_of(part: str) -> str:
    """One Poetry constraint (`^1.2`, `~1.2.3`, `1.2`, `>=1`) as a PEP 440 specifier set."""
    if part == "*":
        return ""
    for pattern, upper in ((_CARET, "caret"), (_TILDE, "tilde")):
        m = pattern.match(part)
        if m:
            nums = [int(n) for n in m.groups() if n is not None]
            lower = ".".join(map(str, nums))
            if upper == "caret":
                first = next((i for i, n in enumerate(nums) if n), len(nums) - 1)
                bound = nums[: first + 1]
            else:
                bound = nums[:2] if len(nums) > 1 else nums[:1]
            bound = [*bound[:-1], bound[-1] + 1]
            return f">={lower},<{'.'.join(map(str, bound))}"
    if part[0].isdigit():
        return f"=={part}"
    return part
