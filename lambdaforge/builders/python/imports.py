"""Which directories a strip rule would remove that the shipped Python code imports.

The built-in rules drop ``tests/`` and ``test/`` (``standard``), ``docs/`` and ``examples/``
(``aggressive``) as directories. Most are test suites and documentation; a few are packages
the library imports when it is imported: astropy's ``__init__`` runs ``from .tests.runner
import TestRunner``, botocore's ``waiter.py`` imports ``botocore.docs.docstring``. Stripping
those builds a zip that fails on Lambda with ``No module named 'astropy.tests'``, and only an
import smoke test would notice.

``spared_directories`` finds them statically: the import statements (top-level or inside a
function, absolute or relative, ``from X import name`` naming a submodule included) of every
``.py`` file that stays, resolved to paths in the tree; a removed directory holding Python
files that one of them reaches is spared, and its files stay (what they import is then
looked at too). Text only, no ``ast``: a line in a docstring that reads like an import only
keeps a directory that could have gone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable

#: ``import a.b, c as d`` and ``from .x import (y, z)`` at any indentation; the names of a
#: parenthesised list may span lines
_IMPORT = re.compile(
    rb"^[ \t]*(?:import[ \t]+(?P<modules>[\w. \t,]+)"
    rb"|from[ \t]+(?P<base>\.*[\w.]*)[ \t]+import[ \t]+(?P<names>\([^)]*\)|[^\n#;]*))",
    re.MULTILINE)
_IDENTIFIER = re.compile(r"^[A-Za-z_]\w*$")


def spared_directories(names: Collection[str], removed_directory: Callable[[str], str | None],
                       read: Callable[[str], bytes]) -> set[str]:
    """The directories (POSIX, relative to the tree's root, no trailing ``/``) among those
    that ``removed_directory`` says a strip rule removes which the code that stays imports.

    ``names``: every file of the tree (relative POSIX paths; the root is ``sys.path``'s entry:
    ``site-packages`` for an install); ``removed_directory(dir)``: the outermost directory
    removed as a directory at or above ``dir``, or ``None``; ``read(name)``: a file's bytes.
    """
    removed: dict[str, str | None] = {}
    candidates: dict[str, list[str]] = {}  # removed directory → its .py files
    kept_code: list[str] = []
    for name in names:
        if not name.endswith(".py"):
            continue
        parent = name.rpartition("/")[0]
        if parent not in removed:
            removed[parent] = removed_directory(parent) if parent else None
        top = removed[parent]
        if top is None:
            kept_code.append(name)
        else:
            candidates.setdefault(top, []).append(name)
    if not candidates:
        return set()
    words = {c.rpartition("/")[2].encode() for c in candidates}
    spared: set[str] = set()
    todo = kept_code
    while todo and len(spared) < len(candidates):
        reached: set[str] = set()
        for name in todo:
            data = read(name)
            if any(w in data for w in words):
                reached.update(_imported_paths(name, data))
        found = {c for c in candidates if c not in spared
                 and any(p == c or p.startswith(c + "/") for p in reached)}
        spared |= found
        todo = [n for c in sorted(found) for n in candidates[c]]
    return spared


def _imported_paths(importer: str, data: bytes) -> Iterable[str]:
    """The tree paths (``a/b/c``, no suffix) of the modules ``importer``'s import statements
    name; for ``from X import n``, both ``X`` and ``X.n`` (``n`` may be a submodule)."""
    package = importer.rpartition("/")[0].split("/") if "/" in importer else []
    for m in _IMPORT.finditer(data):
        if m.group("modules") is not None:
            for part in m.group("modules").decode("utf-8", "replace").split(","):
                module = part.split()[0] if part.split() else ""
                if all(_IDENTIFIER.match(p) for p in module.split(".")):
                    yield module.replace(".", "/")
            continue
        base = m.group("base").decode("utf-8", "replace")
        level = len(base) - len(base.lstrip("."))
        dotted = base[level:]
        if level:
            if level - 1 > len(package):
                continue
            prefix = package[:len(package) - (level - 1)]
        else:
            prefix = []
        parts = [*prefix, *(dotted.split(".") if dotted else [])]
        if not all(_IDENTIFIER.match(p) for p in parts) or not parts:
            continue
        yield "/".join(parts)
        names = m.group("names").decode("utf-8", "replace").strip("()")
        for item in names.replace("\n", " ").split(","):
            words = item.split()
            if words and _IDENTIFIER.match(words[0]):
                yield "/".join([*parts, words[0]])
