"""A function or layer that is a member of an npm workspace, installed from the root lockfile.

npm keeps one ``package-lock.json`` at the workspace root; a member has none of its own.
Its declared dependencies are recorded in the lock's entry for its path
(``packages["functions/api"]``), and every member is linked into the root's node_modules
(``node_modules/api`` → ``{"resolved": "functions/api", "link": true}``).

Measured (npm 11.19): ``npm ci --workspace=<member> --omit=dev`` in a copy of the root
package.json and lockfile plus the member's package.json installs exactly the member's
production dependencies, hoisted to the root's node_modules; other members' package.jsons
need not be there (nor be in sync). Members the member depends on are symlinks even with
``--install-links`` (workspaces are always linked), so the install stages their content
and replaces each link by a copy of what ``npm pack`` packs of it (``install``,
``packlist``): a zip never holds a link out of itself.

So the install's inputs are the root package.json, the lockfile, the member's package.json
and the content of the members it reaches through links (``DependencyInputs.directories``).
"""

from __future__ import annotations

import fnmatch
import json
import posixpath
from pathlib import Path, PurePosixPath
from typing import Any

#: the fields of a member's package.json kept for the install: npm matches its link by name
MEMBER_FIELDS = ("name", "version")
_PRODUCTION = ("dependencies", "optionalDependencies", "peerDependencies")


def find_root(project_root: Path, base: str) -> tuple[str, dict[str, Any]] | None:
    """The project-relative directory above ``base`` whose package.json lists ``base``
    among its ``workspaces`` (npm's array, or Yarn's ``{"packages": [...]}``), with that
    package.json; ``None`` when ``base`` is in no workspace."""
    parts = PurePosixPath(base).parts
    for depth in range(len(parts) - 1, -1, -1):
        root = PurePosixPath(*parts[:depth]).as_posix() if depth else ""
        try:
            manifest = json.loads((project_root / root / "package.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        member = PurePosixPath(*parts[depth:]).as_posix()
        if isinstance(manifest, dict) and is_member(member, manifest.get("workspaces")):
            return root, manifest
    return None


def is_member(member: str, patterns: object) -> bool:
    """Whether the root-relative path ``member`` matches one of the ``workspaces`` globs."""
    if isinstance(patterns, dict):
        patterns = patterns.get("packages")
    if not isinstance(patterns, list):
        return False
    return any(isinstance(p, str) and fnmatch.fnmatchcase(member, p.removeprefix("./").rstrip("/"))
               for p in patterns)


def workspace_links(lock: dict[str, Any]) -> dict[str, str]:
    """Root-relative ``node_modules`` location → member path, for every link the lock
    makes to a workspace member (a ``packages`` key outside any node_modules)."""
    packages = lock.get("packages") or {}
    members = {k for k in packages if k and not k.startswith("node_modules/") and "/node_modules/" not in k}
    links: dict[str, str] = {}
    for location, entry in packages.items():
        if isinstance(entry, dict) and entry.get("link") and entry.get("resolved") in members:
            links[location] = entry["resolved"]
    return links


def linked_members(lock: dict[str, Any], member: str) -> list[str]:
    """The members ``member`` reaches through production dependencies that resolve to a
    workspace link (directly or through another such member), root-relative and sorted."""
    packages = lock.get("packages") or {}
    links = workspace_links(lock)
    seen: set[str] = set()
    todo = [member]
    while todo:
        current = todo.pop()
        entry = packages.get(current)
        if not isinstance(entry, dict):
            continue
        for field in _PRODUCTION:
            for name in entry.get(field) or {}:
                # Resolution walks up from the member: its own node_modules, then the root's.
                for location in (posixpath.join(current, "node_modules", name), f"node_modules/{name}"):
                    if location in packages:
                        target = links.get(location)
                        if target is not None and target != member and target not in seen:
                            seen.add(target)
                            todo.append(target)
                        break
    return sorted(seen)


def member_package(package: dict[str, Any], install_fields: tuple[str, ...]) -> dict[str, Any]:
    """The member's package.json reduced to what ``npm ci --workspace`` reads of it."""
    return {k: package[k] for k in (*MEMBER_FIELDS, *install_fields) if k in package}
