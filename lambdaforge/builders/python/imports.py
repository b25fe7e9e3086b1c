"""Which directories a strip rule would remove that the shipped Python code imports.

The built-in rules drop ``tests/`` and ``test/`` (``standard``), ``docs/`` and ``examples/``
(``aggressive``) as directories. Most are test suites and documentation; a few are packages
the library imports when it is imported: astropy's ``__init__`` runs ``from .tests.runner
import TestRunner``, botocore's ``waiter.py`` imports ``botocore.docs.docstring``. Stripping
those builds a zip that fails on Lambda with ``No module named 'astropy.tests'``, and only an
import smoke test would notice.

``spared_modules`` finds them statically: the import statements (top-level or inside a
function, absolute or relative, ``from X import name`` naming a submodule included) of every
``.py`` file that stays, resolved to paths in the tree; each module under a removed directory
that one of them reaches stays, with the ``__init__.py`` files its import runs and the
non-Python files of its own folder (data it reads beside itself), and what it imports,
relative imports of its siblings included, is looked at in turn. Only those modules: numpy's ``testing`` imports one helper of
``numpy/_core/tests/``, and the 103 test files beside it still go. Text only, no ``ast``: a
line in a docstring that reads like an import only keeps a module that could have gone.
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


def spared_modules(names: Collection[str], removed_directory: Callable[[str], str | None],
                   read: Callable[[str], bytes]) -> dict[str, list[str]]:
    """The files under directories that ``removed_directory`` says a strip rule removes
    which the code that stays imports, by that removed directory (POSIX, relative to the
    tree's root, no trailing ``/``): each module imported (``pkg/tests/runner.py``, or a
    package's ``__init__.py``) and the ``__init__.py`` of the packages above it, then what
    those import in turn, and the files beside each such module that are not Python source
    (its data, an extension module: what it may load from its own folder). The rest of the
    directory (its test suites, their folders) still goes.

    ``names``: every file of the tree (relative POSIX paths; the root is ``sys.path``'s entry:
    ``site-packages`` for an install); ``removed_directory(dir)``: the outermost directory
    removed as a directory at or above ``dir``, or ``None``; ``read(name)``: a file's bytes.
    """
    removed: dict[str, str | None] = {}

    def removed_at(name: str) -> str | None:
        parent = name.rpartition("/")[0]
        if parent not in removed:
            removed[parent] = removed_directory(parent) if parent else None
        return removed[parent]

    present = set(names)
    kept_code = [n for n in names if n.endswith(".py") and removed_at(n) is None]
    words = {top.rpartition("/")[2].encode() for n in names if n.endswith(".py")
             if (top := removed_at(n)) is not None}
    if not words:
        return {}
    beside: dict[str, list[str]] = {}  # directory → its files that are not Python source
    for n in names:
        if not n.endswith((".py", ".pyc")) and "/__pycache__/" not in n:
            beside.setdefault(n.rpartition("/")[0], []).append(n)
    spared: dict[str, list[str]] = {}
    done: set[str] = set()
    todo, first = kept_code, True
    while todo:
        reached: set[str] = set()
        for name in todo:
            data = read(name)
            # kept code can reach a removed directory only by its name; a spared module
            # anyhow (``from .util import u`` beside it)
            if not first or any(w in data for w in words):
                reached.update(_imported_paths(name, data))
        found = []
        for module in sorted(reached):
            for rel in _module_files(module, present):
                top = removed_at(rel)
                if top is not None and rel not in done:
                    done.add(rel)
                    spared.setdefault(top, []).append(rel)
                    found.append(rel)
                    # what it may load beside itself: data, an extension module
                    for other in beside.get(rel.rpartition("/")[0], ()):
                        if other not in done:
                            done.add(other)
                            spared[top].append(other)
        todo, first = [f for f in found if f.endswith(".py")], False
    return {top: sorted(files) for top, files in spared.items()}


def _module_files(module: str, present: set[str]) -> list[str]:
    """The files of the tree that importing ``module`` (``a/b/c``) loads from source: the
    module (``a/b/c.py``) or package (``a/b/c/__init__.py``), and the ``__init__.py`` of every
    package above it."""
    parts = module.split("/")
    files = [f"{'/'.join(parts[:i])}/__init__.py" for i in range(1, len(parts))]
    files += [f"{module}.py", f"{module}/__init__.py"]
    return [f for f in files if f in present]


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
