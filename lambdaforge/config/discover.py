"""Expand ``[[discover]]`` entries into functions: one per directory a glob matches.

Repositories with many functions declare them once: ``path = "services/*/handlers/*"``
with a name template (``{dir}``, ``{parent}``, ``{path}``). Two functions with the same
name would overwrite each other's artifact, so every clash is an error naming both origins.
"""

from __future__ import annotations

import glob
import string
from pathlib import Path, PurePosixPath

from msgspec import Struct

from lambdaforge.config.loader import Merged
from lambdaforge.config.locate import dotted
from lambdaforge.config.models import ConfigFile
from lambdaforge.config.validate import PathProblem, project_path
from lambdaforge.errors import ConfigIssue

#: Directory names that are never functions, whatever the glob says.
SKIPPED_DIRS = frozenset({"__pycache__", "node_modules"})
#: Placeholders a name template may use.
PLACEHOLDERS = ("dir", "parent", "path")


class Discovered(Struct, frozen=True):
    """One function found by a ``[[discover]]`` entry."""

    name: str
    index: int  # which [[discover]] entry
    source: str  # project-relative POSIX directory


def _template_problem(template: str) -> str | None:
    """Why ``template`` cannot be used, or ``None``: checked once per entry, not per match."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        return f"invalid name template '{template}': {exc}"
    for f in fields:
        if f not in PLACEHOLDERS:
            return (
                f"unknown placeholder '{{{f}}}' in name template "
                "(expected {dir}, {parent} or {path})"
            )
    return None


def _pattern_problem(pattern: str) -> str | None:
    parts = PurePosixPath(pattern.replace("\\", "/")).parts
    if pattern.startswith(("/", "\\")) or (parts and ":" in parts[0]) or ".." in parts:
        return f"'{pattern}' must be a glob relative to this file, inside the project"
    if "\x00" in pattern:
        return f"{pattern!r} is not a valid glob"
    return None


def expand(config: ConfigFile, merged: Merged, root: Path) -> tuple[list[Discovered], list[ConfigIssue]]:
    """Every function the ``[[discover]]`` entries yield, and the problems found doing so."""
    found: list[Discovered] = []
    issues: list[ConfigIssue] = []
    # name → (where it was declared, for a clash message)
    taken: dict[str, str] = {}
    for name in config.functions:
        source, line = merged.where(("functions", name))
        taken[name] = f"[functions.{name}] ({source.shown}:{line})"
    for index, entry in enumerate(config.discover):
        key = ("discover", index)
        problem = _pattern_problem(entry.path)
        if problem:
            issues.append(merged.issue((*key, "path"), problem))
            continue
        problem = _template_problem(entry.name)
        if problem:
            issues.append(merged.issue((*key, "name"), problem))
            continue
        base = merged.where((*key, "path"))[0].path.parent
        matches = sorted(glob.glob(entry.path, root_dir=base, recursive=True))
        excluded = _excluder(entry.exclude or ())
        count = 0
        excluded_hits: set[str] = set()
        for match in matches:
            rel = PurePosixPath(Path(match).as_posix())
            if rel.name in SKIPPED_DIRS or not (base / match).is_dir():
                continue
            if excluded is not None:
                hit = excluded.check_file(f"{rel}/")
                if hit.include:
                    excluded_hits.add(entry.exclude[hit.index] if hit.index is not None else "")  # type: ignore[index]
                    continue
            count += 1
            try:
                source = project_path(match, base, root)
            except PathProblem as exc:
                issues.append(merged.issue((*key, "path"), str(exc)))
                continue
            parent = rel.parent.name or base.name
            name = entry.name.format(dir=rel.name, parent=parent, path=str(rel).replace("/", "-"))
            if name in taken:
                issues.append(
                    merged.issue(
                        (*key, "path"),
                        f"function '{name}' from {source} clashes with {taken[name]}",
                    )
                )
                continue
            taken[name] = f"the one from {source} ({dotted(key)})"
            found.append(Discovered(name, index, source))
        for pattern in entry.exclude or ():
            if pattern not in excluded_hits and not pattern.startswith("!"):
                issues.append(merged.issue(
                    (*key, "exclude"), f"'{pattern}' excludes none of the directories "
                    f"'{entry.path}' matches (in [[discover]], `exclude` skips directories; "
                    "files to leave out of the functions go in [defaults])", "warning"))
        if count == 0:
            issues.append(
                merged.issue((*key, "path"), f"'{entry.path}' matches no directory", "warning")
            )
    return found, issues


def _excluder(patterns: tuple[str, ...]):  # type: ignore[no-untyped-def]
    """A gitignore-style matcher of directory paths relative to the entry's file (``None``
    for no patterns: then pathspec is not even imported)."""
    if not patterns:
        return None
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(patterns)
