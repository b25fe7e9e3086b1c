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
        "handler 'app': expected `module.function` (e.g. `app.handler`), with Python identifiers"
    ]


def test_reads_a_real_zip(tmp_path: Path) -> None:
    path = tmp_path / "fn.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("app.py", "def handler(e, c):\n    return 'ok'\n")
    with zipfile.ZipFile(path) as zf:
        assert check_python_handler("app.handler", CodeTree.of_zip(zf)) == []
        assert check_python_handler("app.nope", CodeTree.of_zip(zf)) == [
            "handler 'app.nope': app.py defines no `nope` at module level"
        ]
