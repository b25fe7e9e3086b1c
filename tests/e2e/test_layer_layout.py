"""A Python layer whose packages sit in a site-packages directory its runtime never searches."""

from __future__ import annotations

from tests.e2e.conftest import ProjectDir

CONFIG = """
[defaults]
runtime = "python3.12"

[layers.shared]
source = "layers/shared"

[functions.fn]
source = "functions/fn"
handler = "app.handler"
layers = ["shared"]
"""


def test_a_layer_laid_out_for_another_python_fails_its_check(project: ProjectDir) -> None:
    # Committed from an old python3.11 build: Lambda's python3.12 searches
    # python/lib/python3.12/site-packages and python/ only, so `helper` never imports.
    project.config(CONFIG)
    project.write("functions/fn/app.py", "import helper\ndef handler(e, c):\n    return helper.X\n")
    project.write("layers/shared/python/lib/python3.11/site-packages/helper/__init__.py", "X = 1\n")
    project.write("layers/shared/python/lib/python3.11/site-packages/six.py", "")
    out = project.build()
    assert not out.ok
    error = out.results["check:layer:shared"].error
    assert error == (
        "python/lib/python3.11/site-packages/: python3.12 does not search it (Lambda's Python "
        "3.12 looks in python/lib/python3.12/site-packages/ and python/), so helper, six would "
        "not import from this layer; move its contents to python/ (any Python version) or "
        "python/lib/python3.12/site-packages/, or build the layer for python3.11")
    assert not project.zip_path("layer", "shared").exists()

    # Moved to the runtime's own directory: the layer passes; another version's directory
    # beside it is a layer made for several runtimes on purpose.
    project.write("layers/shared/python/lib/python3.12/site-packages/helper/__init__.py", "X = 1\n")
    out = project.build()
    assert out.ok, [r.error for r in out.failures()]


def test_a_layer_with_nothing_left_to_ship_fails_its_check(project: ProjectDir) -> None:
    # Everything in it is left out by default (a virtual environment, a requirements file
    # with nothing in it): an empty layer deploys fine and provides nothing.
    project.config(CONFIG)
    project.write("functions/fn/app.py", "def handler(e, c):\n    return 1\n")
    project.write("layers/shared/.venv/pyvenv.cfg", "home = /usr/bin\n")
    project.write("layers/shared/__pycache__/x.cpython-312.pyc", "")
    out = project.build()
    assert out.results["check:layer:shared"].error.startswith("the layer holds no files: ")
    assert out.results["check:function:fn"].status.value == "built"
