"""Which modules of a directory a strip rule removes the shipped code imports (the strip
rules then leave them in): followed through relative imports, with the data beside them."""

from __future__ import annotations

from lambdaforge.builders.python.imports import spared_modules
from lambdaforge.packaging.strip import StripFilter


def spared(files: dict[str, bytes], rules: str = "standard") -> dict[str, list[str]]:
    strip = StripFilter.from_names([rules])
    return spared_modules(list(files), strip.removed_directory, files.__getitem__)


def test_a_spared_modules_relative_imports_and_data_beside_it_stay_and_test_suites_go():
    """helper.py's `from .util import u` names no `tests`: it was not followed (No module
    named 'mypkg.tests.util'), and data.json beside it was stripped (FileNotFoundError)."""
    files = {
        "mypkg/__init__.py": b"import mypkg.tests.helper\n",
        "mypkg/tests/__init__.py": b"",
        "mypkg/tests/helper.py": b"from .util import u\n",
        "mypkg/tests/util.py": b"u = 1\n",
        "mypkg/tests/data.json": b"{}",
        "mypkg/tests/__pycache__/helper.cpython-312.pyc": b"",
        "mypkg/tests/test_helper.py": b"import mypkg.other.tests.x\n",
        "mypkg/tests/cases/case1.json": b"{}",
        "mypkg/other/__init__.py": b"",
        "mypkg/other/tests/__init__.py": b"",
        "mypkg/other/tests/x.py": b"",
    }
    assert spared(files) == {"mypkg/tests": [
        "mypkg/tests/__init__.py", "mypkg/tests/data.json", "mypkg/tests/helper.py",
        "mypkg/tests/util.py"]}


def test_only_the_module_numpy_testing_imports_stays_of_numpys_test_suite():
    files = {
        "numpy/__init__.py": b"from . import testing\n",
        "numpy/testing/__init__.py": b"def f():\n    from numpy._core.tests._natype import pd_NA\n",
        "numpy/_core/__init__.py": b"",
        "numpy/_core/tests/__init__.py": b"",
        "numpy/_core/tests/_natype.py": b"pd_NA = 1\n",
        "numpy/_core/tests/test_deprecations.py": b"def test():\n    from numpy.lib.tests import x\n",
        "numpy/lib/__init__.py": b"",
        "numpy/lib/tests/__init__.py": b"",
        "numpy/lib/tests/x.py": b"",
    }
    assert spared(files) == {"numpy/_core/tests": ["numpy/_core/tests/__init__.py",
                                                   "numpy/_core/tests/_natype.py"]}
    assert spared({"a/__init__.py": b"import json\n", "a/tests/t.py": b""}) == {}
