"""Layout checks of a Python zip: is what it ships where, and in a form, its runtime imports?

**Layers' site-packages.**
Lambda's Python bootstrap searches a layer's ``python/lib/pythonX.Y/site-packages`` for the
runtime's own X.Y only, then ``python/``. A layer source committed with the layout of an
older build (``python/lib/python3.11/site-packages/…`` in a ``python3.12`` layer) zips and
deploys fine, and nothing in that directory ever imports: "No module named …" on Lambda.
A layer that also has its runtime's own directory holds several versions on purpose (one
layer published for several runtimes) and is left alone.

**.pth files.** Lambda's bootstrap processes the ``.pth`` files of ``/var/task`` and of the
layers' two directories (``site.addsitedir``). One naming a directory of the build machine
(``/home/dev/lib/src``: a ``setup.py develop`` or an editable install's hook, copied into the
source) imports here and fails there.

**Sourceless bytecode.** A ``name.pyc`` with no ``name.py`` beside it (outside
``__pycache__/``) is a module Python imports from bytecode alone, and only the Python whose
magic number heads it can: another one raises "Bad magic number" at import.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable

from lambdaforge.packaging.strip import sourceless_bytecode

_SITE = re.compile(r"^python/lib/python(\d+\.\d+)/site-packages/([^/]+)")


def layer_layout_problems(names: Iterable[str], python_version: str, runtime: str) -> list[str]:
    """One problem per ``python/lib/pythonX.Y/site-packages/`` of a layer zip (``names``,
    its member names) for another Python than ``python_version``, naming what it holds
    that the runtime will not import; none when the runtime's own directory is there too."""
    tops: dict[str, set[str]] = {}
    for name in names:
        match = _SITE.match(name)
        if match:
            tops.setdefault(match.group(1), set()).add(match.group(2))
    if python_version in tops:
        return []
    problems = []
    own = f"python/lib/python{python_version}/site-packages/"
    for version in sorted(tops):
        shown = sorted(_top_name(t) for t in tops[version] if not t.endswith((".dist-info", ".pth")))
        what = ", ".join(shown[:5]) + (f" and {len(shown) - 5} more" if len(shown) > 5 else "")
        problems.append(
            f"python/lib/python{version}/site-packages/: {runtime} does not search it (Lambda's "
            f"Python {python_version} looks in {own} and python/), so "
            f"{what or 'nothing in it'} would not import from this layer; move its contents "
            f"to python/ (any Python version) or {own}, or build the layer for "
            f"python{version}")
    return problems


def _top_name(entry: str) -> str:
    """A module's name from a top-level entry (``six.py`` → ``six``, ``pkg`` → ``pkg``)."""
    return entry.split(".", 1)[0] if entry.endswith((".py", ".so")) else entry


#: ``importlib.util.MAGIC_NUMBER`` (its first two bytes, little-endian) of each final
#: CPython release the runtimes use, read from those interpreters (3.14's, 3627, set in
#: 3.14.0rc3 and kept by the release, from CPython's ``_bootstrap_external``).
BYTECODE_MAGIC = {"3.10": 3439, "3.11": 3495, "3.12": 3531, "3.13": 3571, "3.14": 3627}
_MAGIC_VERSION = {magic: version for version, magic in BYTECODE_MAGIC.items()}


def bytecode_problems(zf: zipfile.ZipFile, python_version: str, runtime: str) -> list[str]:
    """One problem per sourceless ``.pyc`` module in ``zf`` compiled for another Python
    than ``python_version`` (by its magic number); none for a Python whose magic number
    is not in ``BYTECODE_MAGIC``."""
    expected = BYTECODE_MAGIC.get(python_version)
    names = zf.NameToInfo
    if expected is None:
        return []
    problems = []
    for name in sorted(n for n in names if n.endswith(".pyc")):
        if not sourceless_bytecode(name, names.__contains__):
            continue
        with zf.open(name) as f:
            head = f.read(4)
        magic = int.from_bytes(head[:2], "little") if head[2:4] == b"\r\n" else None
        if magic == expected:
            continue
        built = (f"Python {_MAGIC_VERSION[magic]}" if magic in _MAGIC_VERSION
                 else "another Python" if magic is None else f"another Python (magic number {magic})")
        problems.append(
            f"{name}: bytecode for {built} without its .py, which {runtime} cannot import "
            f"(\"Bad magic number\"); ship the module's source, or bytecode compiled by "
            f"Python {python_version}")
    return problems


#: Absolute directories a ``.pth`` may name: Lambda's own (the function, the layers, the runtime).
_LAMBDA_DIRS = ("/var/task", "/opt", "/var/runtime", "/var/lang")


def pth_problems(zf: zipfile.ZipFile, site_dirs: Iterable[str]) -> list[str]:
    """One problem per line of a ``.pth`` file in one of ``site_dirs`` (zip prefixes, ``""``
    for the root) that ties the zip to this machine: an absolute directory outside Lambda's
    own, or an editable install's ``__editable__`` hook (it maps modules to this machine's
    source tree)."""
    dirs = set(site_dirs)
    problems = []
    for name in sorted(n for n in zf.NameToInfo if n.endswith(".pth")):
        parent = name.rpartition("/")[0]
        if (parent + "/" if parent else "") not in dirs:
            continue
        text = zf.read(name)[:65536].decode("utf-8", "replace")
        for lineno, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith(("import ", "import\t")):
                if "__editable__" in line:
                    problems.append(
                        f"{name}:{lineno}: an editable install's hook: it loads the package "
                        f"from this machine's source tree, which Lambda does not have; "
                        f"install the package normally (not `-e`)")
            elif line.startswith("/") and not any(
                    line == d or line.startswith(d + "/") for d in _LAMBDA_DIRS):
                problems.append(
                    f"{name}:{lineno}: adds {line} to sys.path: a directory of this machine, "
                    f"not on Lambda (only /var/task, /opt and the runtime's are); ship what "
                    f"it holds in the zip instead")
    return problems
