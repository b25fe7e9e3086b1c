"""Static handler check: module found where Lambda looks, function bound at module level."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from lambdaforge.builders.python.handler import CodeTree, check_python_handler, layer_roots


def tree(files: dict[str, str], roots: tuple[str, ...] = ("",)) -> CodeTree:
    return CodeTree(frozenset(files), lambda n: files[n].encode(), roots)


@pytest.mark.parametrize(
    "source",
    [
        "def handler(event, context):\n    return 1\n",
        "from lib import run as handler\n",
        "import json\nhandler = json.dumps\n",
        "try:\n    from fast import handler\nexcept ImportError:\n    def handler(e, c): pass\n",
        "class handler:\n    pass\n",
        "from somewhere import *\n",
    ],
)
def test_module_binding_the_function_passes(source: str) -> None:
    assert check_python_handler("app.handler", tree({"app.py": source})) == []


def test_package_module_and_layer_module_are_found() -> None:
    fn = tree({"pkg/__init__.py": "", "pkg/api/__init__.py": "def main(e, c): pass\n"})
    assert check_python_handler("pkg.api.main", fn) == []
    layer = tree({"python/shared/entry.py": "def handler(e, c): pass\n"}, layer_roots("3.12"))
    assert check_python_handler("shared.entry.handler", tree({}), [layer]) == []
    site = tree({"python/lib/python3.12/site-packages/x.py": "def h(e, c): pass\n"}, layer_roots("3.12"))
    assert check_python_handler("x.h", tree({}), [site]) == []


def test_missing_module_points_at_where_it_is() -> None:
    fn = tree({"src/app.py": "def handler(e, c): pass\n", "README.md": ""})
    assert check_python_handler("app.handler", fn) == [
        "handler 'app.handler': module app.py not found at the zip root "
        '(found: src/app.py — set source to the folder "…/src"?)'
    ]
    assert check_python_handler("app.handler", tree({}), [tree({}, layer_roots("3.12"))]) == [
        "handler 'app.handler': module app.py not found at the zip root or in its layers"
    ]


def test_missing_function_async_handler_and_syntax_errors() -> None:
    assert check_python_handler("app.handler", tree({"app.py": "def other(e, c): pass\n"})) == [
        "handler 'app.handler': app.py defines no `handler` at module level"
    ]
    assert check_python_handler("app.handler", tree({"app.py": "def f():\n    handler = 1\n"})) == [
        "handler 'app.handler': app.py defines no `handler` at module level"
    ]
    assert check_python_handler("app.handler", tree({"app.py": "async def handler(e, c): pass\n"})) == [
        "handler 'app.handler': `handler` in app.py is `async def`; Lambda calls Python handlers "
        "synchronously (wrap the coroutine with asyncio.run in a plain `def`)"
    ]
    assert check_python_handler("app.handler", tree({"app.py": "def handler(:\n"}), python_version="3.10") == [
        "handler 'app.handler': app.py does not parse: invalid syntax (line 1)"
    ]
    assert check_python_handler("app", tree({"app.py": ""})) == [
        "handler 'app': expected `module.function` (e.g. `app.handler`): the module a file or "
        "directory path (letters, digits, `_`, `-`), the function a Python identifier"
    ]
    # Lambda's bootstrap imports with importlib.import_module, which finds my-app.py too
    assert check_python_handler("my-app.handler", tree({"my-app.py": "def handler(e, c): pass\n"})) == []
    assert check_python_handler("src/my-dir/1app.handler",
                                tree({"src/my-dir/1app.py": "def handler(e, c): pass\n"})) == []


def test_reads_a_real_zip(tmp_path: Path) -> None:
    path = tmp_path / "fn.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("app.py", "def handler(e, c):\n    return 'ok'\n")
    with zipfile.ZipFile(path) as zf:
        assert check_python_handler("app.handler", CodeTree.of_zip(zf)) == []
        assert check_python_handler("app.nope", CodeTree.of_zip(zf)) == [
            "handler 'app.nope': app.py defines no `nope` at module level"
        ]


def test_a_package_shadows_the_module_of_the_same_name() -> None:
    """Python imports ``app/__init__.py`` when both it and ``app.py`` are there: a handler
    only in ``app.py`` is missing on Lambda (it passed the check before)."""
    fn = tree({"app.py": "def handler(e, c): pass\n", "app/__init__.py": "", "app/models.py": ""})
    assert check_python_handler("app.handler", fn) == [
        "handler 'app.handler': app/__init__.py defines no `handler` at module level (app.py "
        "beside it is never imported: Python imports the package app/ instead; rename or remove "
        "one of them)"
    ]
    fn = tree({"app.py": "", "app/__init__.py": "def handler(e, c): pass\n"})
    assert check_python_handler("app.handler", fn) == []


def test_a_module_shadows_a_folder_without_init() -> None:
    """``app.py`` beside a folder ``app/`` without ``__init__.py``: ``app`` is the module, so
    ``app.handlers.api`` cannot be imported, although ``app/handlers/api.py`` is in the zip."""
    fn = tree({"app.py": "X = 1\n", "app/handlers/api.py": "def handler(e, c): pass\n"})
    assert check_python_handler("app.handlers.api.handler", fn) == [
        "handler 'app.handlers.api.handler': `app` is the module app.py, not a package, so "
        "`app.handlers` cannot be imported; the folder app/ beside it has no __init__.py, and "
        "Python imports the module instead of it"
    ]
    # without app.py the folder is a namespace package and the handler imports
    ns = tree({"app/handlers/api.py": "def handler(e, c): pass\n"})
    assert check_python_handler("app.handlers.api.handler", ns) == []


def test_a_layers_regular_package_wins_over_the_functions_namespace_package() -> None:
    """The function's ``acme/app.py`` without ``acme/__init__.py`` is a namespace portion,
    and a layer's ``python/acme/__init__.py`` wins over it wherever it is on ``sys.path``:
    Lambda cannot import ``acme.app``. The check found the function's file and passed."""
    fn = tree({"acme/app.py": "def handler(e, c): pass\n"})
    regular = tree({"python/acme/__init__.py": "", "python/acme/util.py": ""}, layer_roots("3.12"))
    assert check_python_handler("acme.app.handler", fn, [regular]) == [
        "handler 'acme.app.handler': the function's acme/ has no __init__.py (a namespace "
        "package), and a layer has the regular package `acme` (python/acme/__init__.py), which "
        "Python imports instead: acme/app.py is not in it. Add acme/__init__.py to the "
        "function, or rename one of the packages"]
    # With its own __init__.py the function's package comes first and wins.
    fixed = tree({"acme/__init__.py": "", "acme/app.py": "def handler(e, c): pass\n"})
    assert check_python_handler("acme.app.handler", fixed, [regular]) == []
    # A layer's namespace portion merges with the function's.
    portion = tree({"python/acme/util.py": ""}, layer_roots("3.12"))
    assert check_python_handler("acme.app.handler", fn, [portion]) == []
    # The layer's package holding the module is what Lambda imports: checked instead.
    other = tree({"python/acme/__init__.py": "", "python/acme/app.py": "X = 1\n"}, layer_roots("3.12"))
    assert check_python_handler("acme.app.handler", fn, [other]) == [
        "handler 'acme.app.handler': python/acme/app.py defines no `handler` at module level"]


def test_submodules_are_found_in_their_package_only() -> None:
    """A regular package in the function zip is the only place its submodules are looked
    for; namespace portions of the function and a layer merge."""
    fn = tree({"shared/__init__.py": ""})
    layer = tree({"python/shared/entry.py": "def handler(e, c): pass\n"}, layer_roots("3.12"))
    assert check_python_handler("shared.entry.handler", fn, [layer]) == [
        "handler 'shared.entry.handler': module shared/entry.py not found at the zip root or in its layers"
    ]
    ns_fn = tree({"shared/other.py": ""})
    assert check_python_handler("shared.entry.handler", ns_fn, [layer]) == []
    # Lambda's order in /opt: site-packages before python/
    both = tree({"python/lib/python3.12/site-packages/x.py": "def h(e, c): pass\n",
                 "python/x.py": "def other(e, c): pass\n"}, layer_roots("3.12"))
    assert check_python_handler("x.h", tree({}), [both]) == []


@pytest.mark.parametrize("handler", ["json.handler", "logging.app.handler", "re.handler"])
def test_a_module_named_like_one_the_runtime_has_imported_fails(handler: str) -> None:
    """Lambda's bootstrap imports ``json``, ``logging``… before the handler: a ``json.py``
    handler is the standard library's ``json`` there ("Handler 'handler' missing on module
    'json'"); the static check passed it."""
    rel = handler.rpartition(".")[0].replace(".", "/")
    fn = tree({f"{rel}.py": "def handler(e, c): pass\n", "logging/__init__.py": ""})
    (problem,) = check_python_handler(handler, fn)
    assert problem.startswith(f"handler '{handler}': `{handler.split('.')[0]}` is a standard "
                              "library module Lambda's Python runtime has imported before")
    # A standard library name the runtime has not imported is the zip's, as on Lambda.
    assert check_python_handler("code.handler", tree({"code.py": "def handler(e, c): pass\n"})) == []
