"""Static handler check: the handler's module is where Lambda looks and defines the function.

Lambda imports ``pkg.mod`` of handler ``pkg.mod.func`` from ``/var/task`` (the function zip
root), then from ``/opt/python/lib/pythonX.Y/site-packages`` and ``/opt/python`` (layers),
as Python's path finder does: a package ``app/__init__.py`` shadows ``app.py`` beside it,
a module ``app.py`` shadows a folder ``app/`` without ``__init__.py``, and a submodule is
looked for only in its parent package's folder (``_resolve``). The module is parsed with ``ast`` (nothing is executed) and must bind ``func`` at module
level: a ``def``, an assignment, an import or a class all count. An ``async def`` does not:
Lambda's Python runtime calls handlers synchronously and would return a coroutine. The
directories the ``.pth`` files of those site directories add are searched after each one, as
the bootstrap's ``site.addsitedir`` puts them there (``CodeTree.with_pth_paths``).
"""

from __future__ import annotations

import ast
import posixpath
import re
import sys
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path, PurePosixPath

from msgspec import Struct


#: where Lambda mounts a function's zip and its layers' zips
TASK_MOUNT, LAYER_MOUNT = "/var/task", "/opt"


class CodeTree(Struct, frozen=True):
    """The files of one artifact as the checks see them: member names and a reader.

    ``roots`` are the prefixes Lambda puts on ``sys.path`` for it: ``("",)`` for a function
    zip, ``("python/", "python/lib/pythonX.Y/site-packages/")`` for a layer.
    """

    names: frozenset[str]
    read: Callable[[str], bytes]
    roots: tuple[str, ...] = ("",)
    label: str = "the zip root"

    @classmethod
    def of_zip(cls, zf: zipfile.ZipFile, roots: tuple[str, ...] = ("",), label: str = "the zip root") -> CodeTree:
        """A view of an open zip file."""
        return cls(frozenset(zf.namelist()), zf.read, roots, label)

    @classmethod
    def of_dir(cls, root: Path, roots: tuple[str, ...] = ("",), label: str = "the zip root") -> CodeTree:
        """A view of a directory laid out as the zip would be (a staging tree)."""
        names = frozenset(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        return cls(names, lambda n: (root / n).read_bytes(), roots, label)

    def with_pth_paths(self, mount: str) -> CodeTree:
        """This tree with the directories its ``.pth`` files add to ``sys.path`` after its own
        roots, as Lambda's bootstrap has ``site.addsitedir`` process them: per root, its
        ``.pth`` files in name order, each path line joined to the site directory (or
        absolute), normalised, and kept when it is a directory of this tree where Lambda
        mounts it (``mount``: ``/var/task`` for a function, ``/opt`` for a layer). ``import``
        lines run code no static check can follow: the import smoke test runs them."""
        roots: list[str] = []
        for root in self.roots:
            roots.append(root)
            for name in sorted(n for n in self.names if n.startswith(root) and n.endswith(".pth")
                               and "/" not in n[len(root):]):
                try:
                    text = self.read(name)[:65536].decode("utf-8", "replace")
                except (OSError, KeyError):
                    continue
                for line in text.splitlines():
                    if (not line.strip() or line.startswith("#")
                            or line.startswith(("import ", "import\t"))):
                        continue
                    path = posixpath.normpath(posixpath.join(mount, root, line.rstrip()))
                    if not path.startswith(mount + "/"):
                        continue  # the mount itself is a root already; elsewhere: not this tree
                    prefix = path[len(mount) + 1:] + "/"
                    if (prefix not in self.roots and prefix not in roots
                            and any(n.startswith(prefix) for n in self.names)):
                        roots.append(prefix)
        if len(roots) == len(self.roots):
            return self
        return CodeTree(self.names, self.read, tuple(roots), self.label)


#: Top-level modules Lambda's Python bootstrap has imported before it imports the handler
#: (awslambdaric's ``importlib, json, logging, os, site, sys, time, traceback, warnings``
#: and what they import, on every CPython from 3.10 to 3.13): a handler module of such a
#: name is the standard library's, already in ``sys.modules``, whatever the zip holds.
LAMBDA_PRELOADED = frozenset({
    "_abc", "_codecs", "_collections", "_collections_abc", "_frozen_importlib",
    "_frozen_importlib_external", "_functools", "_imp", "_io", "_json", "_operator", "_signal",
    "_sitebuiltins", "_sre", "_stat", "_string", "_thread", "_warnings", "_weakref",
    "_weakrefset", "abc", "atexit", "builtins", "codecs", "collections", "copyreg", "encodings",
    "enum", "functools", "genericpath", "importlib", "io", "itertools", "json", "keyword",
    "linecache", "logging", "marshal", "operator", "os", "posix", "posixpath", "re", "reprlib",
    "site", "stat", "string", "sys", "threading", "time", "traceback", "types", "warnings",
    "weakref", "zipimport",
})


def layer_roots(python_version: str | None) -> tuple[str, ...]:
    """Prefixes of a layer zip that end up on ``sys.path`` (packaging-layers.html), in
    Lambda's order: ``/opt/python/lib/pythonX.Y/site-packages`` before ``/opt/python``."""
    roots = ["python/"]
    if python_version:
        roots.insert(0, f"python/lib/python{python_version}/site-packages/")
    return tuple(roots)


#: ``reparse(source, path)`` with the target's own Python: ``""`` when it parses there,
#: the error (``"invalid syntax (line 3)"``) when not, ``None`` when no such Python is here
Reparse = Callable[[bytes, str], "str | None"]


#: A part of a handler's module path: Lambda's bootstrap hands it to
#: ``importlib.import_module``, which finds ``my-app.py`` for ``my-app`` too (no ``import``
#: statement could name it, but nothing needs one).
_MODULE_PART = re.compile(r"[\w-]+")


def check_python_handler(
    handler: str,
    function: CodeTree,
    layers: Sequence[CodeTree] | Callable[[], Sequence[CodeTree]] = (),
    *,
    python_version: str | None = None,
    reparse: Reparse | None = None,
) -> list[str]:
    """Problems with ``handler`` in a function zip and its layers; empty when it is fine.

    Each message starts with ``handler '<handler>':`` and says what to change. ``layers``
    may be a callable: it is called only when the module is not in the function zip (which
    comes first on ``sys.path``), so the common case never reads a layer's listing.
    ``reparse`` parses with the target's Python a module this host's grammar refuses.
    """
    label = f"handler '{handler}'"
    # what the .pth files of Lambda's site directories add to sys.path is searched too
    function = function.with_pth_paths(TASK_MOUNT)
    if callable(layers):
        listed = layers
        layers = lambda: [tree.with_pth_paths(LAYER_MOUNT) for tree in listed()]  # noqa: E731
    else:
        layers = [tree.with_pth_paths(LAYER_MOUNT) for tree in layers]
    module, dot, func = handler.replace("/", ".").rpartition(".")
    if (not dot or not module or not func or not func.isidentifier()
            or not all(_MODULE_PART.fullmatch(p) for p in module.split("."))):
        return [f"{label}: expected `module.function` (e.g. `app.handler`): the module a file "
                f"or directory path (letters, digits, `_`, `-`), the function a Python identifier"]
    rel = module.replace(".", "/")
    parts = module.split(".")
    if parts[0] in LAMBDA_PRELOADED:
        return [f"{label}: `{parts[0]}` is a standard library module Lambda's Python runtime "
                f"has imported before it imports the handler, so `{module}` is never the "
                f"zip's {rel}.py: rename the handler's module (e.g. `{parts[0]}_handler`)"]

    def all_entries() -> list[tuple[CodeTree, str]]:
        nonlocal layers
        if callable(layers):
            layers = layers()
        return [(function, root) for root in function.roots] + [
            (tree, root) for tree in layers for root in tree.roots]

    # The function zip comes first on sys.path: what it resolves is what Lambda imports,
    # and its layers are read only when it does not (the common case never lists them).
    own = [(function, root) for root in function.roots]
    found = _resolve(label, parts, own)
    if found is None or (isinstance(found, _Module) and found.namespaced):
        # Not there, or found through a namespace portion (a folder without __init__.py),
        # which any later entry's regular package of that name wins over: a layer's
        # `acme/__init__.py` makes the function's `acme/app.py` unimportable.
        namespaced = found is not None
        found = _resolve(label, parts, all_entries())
        if found is None and namespaced:
            return [_shadowed_namespace(label, parts, own, all_entries()[len(own):])]
    if isinstance(found, str):
        return [found]
    if found is None:
        assert not callable(layers)  # all_entries() ran
        return [_not_found(label, rel, function, layers)]
    if found.path is None:
        return []  # an extension module: nothing to parse, the import smoke test covers it
    problems = _check_module(label, found.path, found.tree.read(found.path), func,
                             python_version, reparse)
    if problems and found.shadowed:
        problems[0] += (f" ({found.shadowed} beside it is never imported: Python imports the "
                        f"package {found.path.rsplit('/', 1)[0]}/ instead; rename or remove one of them)")
    return problems


class _Module(Struct, frozen=True):
    """Where the import system finds a handler's module: the file to parse (``None`` for an
    extension module) and a ``.py`` beside its package that the package shadows."""

    tree: CodeTree
    path: str | None
    shadowed: str | None = None
    #: reached through a namespace package (a folder without ``__init__.py``) on the way
    namespaced: bool = False


def _resolve(label: str, parts: Sequence[str], entries: Sequence[tuple[CodeTree, str]]) -> _Module | str | None:
    """Find module ``parts`` (``["app", "handlers", "api"]``) as Python's path finder would
    in ``entries`` (a tree and a ``sys.path`` prefix in it, in ``sys.path`` order).

    Per entry a regular package (``app/__init__.py``) wins over an extension module, which
    wins over ``app.py``; a folder without ``__init__.py`` is a namespace portion, used only
    when no entry has the module, its portions merged. A submodule is searched in its
    parent package's folders only. Returns the module, a problem (a parent that is a module,
    not a package), or ``None`` when it is nowhere.
    """
    search = list(entries)
    namespaced = False
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        portions: list[tuple[CodeTree, str]] = []
        for tree, base in search:
            stem = base + part
            init = f"{stem}/__init__.py"
            if init in tree.names or _extension(tree, f"{stem}/__init__"):
                if last:
                    shadowed = f"{stem}.py" if f"{stem}.py" in tree.names else None
                    return _Module(tree, init if init in tree.names else None, shadowed, namespaced)
                search = [(tree, f"{stem}/")]
                break
            module = f"{stem}.py" if f"{stem}.py" in tree.names else None
            if module is not None or _extension(tree, stem):
                if last:
                    return _Module(tree, module, namespaced=namespaced)
                dotted, child = ".".join(parts[: i + 1]), ".".join(parts[: i + 2])
                folder = (f"; the folder {stem}/ beside it has no __init__.py, and Python imports "
                          f"the module instead of it" if _has_dir(tree, stem) else "")
                return (f"{label}: `{dotted}` is the module {module or stem + '.*.so'}, not a "
                        f"package, so `{child}` cannot be imported{folder}")
            if _has_dir(tree, stem):
                portions.append((tree, f"{stem}/"))
        else:
            if not portions or last:
                return None  # nowhere, or a namespace package: it binds no handler
            search, namespaced = portions, True
    return None


def _extension(tree: CodeTree, stem: str) -> bool:
    """Whether ``stem.<suffix>.so`` (or ``.pyd``) is in the tree: an extension module."""
    return any(n.startswith(stem + ".") and n.endswith((".so", ".pyd")) and "/" not in n[len(stem):]
               for n in tree.names)


def _has_dir(tree: CodeTree, stem: str) -> bool:
    prefix = stem + "/"
    return any(n.startswith(prefix) for n in tree.names)


def _shadowed_namespace(label: str, parts: Sequence[str], own: Sequence[tuple[CodeTree, str]],
                        layers: Sequence[tuple[CodeTree, str]]) -> str:
    """The problem of a handler module the function has inside a namespace package (a
    folder without ``__init__.py``) when a layer has a regular package of that name: Python
    imports the layer's, and the module is not in it."""
    for i in range(len(parts) - 1):
        stem = "/".join(parts[: i + 1])
        if any(f"{base}{stem}/__init__.py" in tree.names for tree, base in own):
            continue
        for tree, base in layers:
            if f"{base}{stem}/__init__.py" in tree.names:
                dotted = ".".join(parts[: i + 1])
                return (f"{label}: the function's {stem}/ has no __init__.py (a namespace "
                        f"package), and a layer has the regular package `{dotted}` "
                        f"({base}{stem}/__init__.py), which Python imports instead: "
                        f"{'/'.join(parts)}.py is not in it. Add {stem}/__init__.py to the "
                        f"function, or rename one of the packages")
    return f"{label}: module {'/'.join(parts)}.py not found at the zip root or in its layers"


def _not_found(label: str, rel: str, function: CodeTree, layers: Sequence[CodeTree]) -> str:
    where = "at the zip root" if not layers else "at the zip root or in its layers"
    msg = f"{label}: module {rel}.py not found {where}"
    base = PurePosixPath(rel).name
    elsewhere = sorted(
        n for n in function.names
        if n.endswith(f"/{rel}.py") or n.endswith(f"/{rel}/__init__.py") or PurePosixPath(n).name == f"{base}.py"
    )
    if elsewhere:
        found = elsewhere[0]
        folder = found[: -len(f"{rel}.py")].rstrip("/") if found.endswith(f"{rel}.py") else ""
        hint = f'set source to the folder "…/{folder}"?' if folder else "check the handler's module path"
        msg += f" (found: {found} — {hint})"
    return msg


def _check_module(label: str, path: str, source: bytes, func: str, python_version: str | None,
                  reparse: Reparse | None = None) -> list[str]:
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as exc:
        if python_version and _newer_than_host(python_version):
            # The target's grammar may be newer than this host's (3.12's `type` statements,
            # PEP 695 generics): its own Python decides, when there is one. Without it, the
            # import smoke test (`forge check`) is what can tell.
            verdict = reparse(source, path) if reparse is not None else None
            if not verdict:
                return []
            return [f"{label}: {path} does not parse with Python {python_version}: {verdict}"]
        return [f"{label}: {path} does not parse: {exc.msg} (line {exc.lineno})"]
    kind = _binding(tree.body, func)
    if kind is None:
        return [f"{label}: {path} defines no `{func}` at module level"]
    if kind == "async":
        return [
            f"{label}: `{func}` in {path} is `async def`; Lambda calls Python handlers "
            "synchronously (wrap the coroutine with asyncio.run in a plain `def`)"
        ]
    return []


def _newer_than_host(python_version: str) -> bool:
    major, minor = (int(x) for x in python_version.split(".")[:2])
    return (major, minor) > sys.version_info[:2]


def _binding(body: Iterable[ast.stmt], name: str) -> str | None:
    """How a module body binds ``name``: "def", "async", "other", "unknown" or None.

    Statements under ``if``/``try``/``with`` at module level count (conditional definitions
    and import fallbacks are common); function and class bodies do not.
    """
    found: str | None = None
    for node in body:
        kind: str | None = None
        if isinstance(node, ast.FunctionDef) and node.name == name:
            kind = "def"
        elif isinstance(node, ast.AsyncFunctionDef) and node.name == name:
            kind = "async"
        elif isinstance(node, ast.ClassDef) and node.name == name:
            kind = "other"
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(name in _names(t) for t in targets):
                kind = "other"
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    kind = kind or "unknown"  # a star import may bind it: give the benefit of the doubt
                elif (alias.asname or alias.name.split(".")[0]) == name:
                    kind = "other"
        elif isinstance(node, (ast.If, ast.Try, ast.With)) or type(node).__name__ == "TryStar":
            blocks = [getattr(node, a, []) for a in ("body", "orelse", "finalbody")]
            blocks += [h.body for h in getattr(node, "handlers", [])]
            for block in blocks:
                kind = _binding(block, name) or kind
        elif isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
            kind = "unknown"  # PEP 562 module __getattr__ can provide anything
        if kind is not None:
            found = kind  # the last binding wins, as at import time
    return found


def _names(target: ast.expr) -> set[str]:
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, (ast.Tuple, ast.List)):
        return set().union(*(_names(e) for e in target.elts)) if target.elts else set()
    return set()


def missing_handler_module(handler: str, files: tuple[str, ...], root: Path, source: str,
                           layers: list[str]) -> str | None:
    """Why the module of ``handler`` is in neither the function's ``source`` nor one of its
    ``layers`` (project-relative; a layer's modules may sit under its ``python/``), or
    ``None`` when one of ``files`` (``Builder.handler_files``) is there."""
    places = [root / source] + [d for layer in layers for d in (root / layer, root / layer / "python")]
    if not files or any((place / f).is_file() for place in places for f in files):
        return None
    where = f"`{source}`" + (" or its layers" if layers else "")
    return f"`{handler}`: no {' or '.join(files)} in {where}"
