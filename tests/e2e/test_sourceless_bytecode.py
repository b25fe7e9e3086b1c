"""A module shipped as bytecode alone (``name.pyc``, no ``name.py``) is code Python imports.

The cleanup of installs and the ``standard`` strip rule (``*.py[cod]``) removed it with the
host's caches, so such a package (a vendor SDK distributed without source) built green and
failed on Lambda with "No module named"/"cannot import name". Bytecode of another Python
than the runtime's fails its check: Lambda would raise "Bad magic number".
"""

from __future__ import annotations

import py_compile
import subprocess
import sys
import zipfile
from pathlib import Path

from lambdaforge.packaging.strip import sourceless_bytecode
from tests.e2e.conftest import ProjectDir
from tests.support.wheels import build_wheel

HOST = f"python{sys.version_info.major}.{sys.version_info.minor}"
OTHER = "python3.13" if HOST != "python3.13" else "python3.12"


def _bytecode(tmp: Path, name: str, text: str) -> bytes:
    source = tmp / f"{name}.py"
    source.write_text(text)
    out = tmp / f"{name}.pyc"
    py_compile.compile(str(source), cfile=str(out), doraise=True,
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    return out.read_bytes()


def test_sourceless_bytecode_is_kept_and_checked_against_the_runtime(project: ProjectDir,
                                                                      tmp_path: Path) -> None:
    compiled = tmp_path / "compiled"
    compiled.mkdir()
    core = _bytecode(compiled, "core", "V = 'from bytecode'\n")
    build_wheel(project.root / "wheels", "closed", "1.0",
                files={"closed/__init__.py": b"", "closed/core.pyc": core})
    project.config(f"""
[defaults]
no-index = true
find-links = ["wheels"]

[functions.host]
source = "fn"
handler = "app.handler"
runtime = "{HOST}"

[functions.other]
source = "fn"
handler = "app.handler"
runtime = "{OTHER}"
""")
    project.write("fn/requirements.txt", "closed==1.0\n")
    project.write("fn/app.py", "from closed import core\nimport vendored\n"
                               "def handler(e, c):\n    return core.V + vendored.W\n")
    (project.root / "fn/vendored.pyc").write_bytes(_bytecode(compiled, "vendored", "W = '!'\n"))
    project.write("fn/legacy.py", "L = 1\n")
    (project.root / "fn/legacy.pyc").write_bytes(b"a cache beside its source")
    out = project.build()

    assert out.results["check:function:host"].status.value == "built"
    shipped = project.zip_names("function", "host")
    assert {"closed/core.pyc", "vendored.pyc", "legacy.py"} <= shipped
    assert "legacy.pyc" not in shipped
    # Imported as Lambda would: the unzipped function alone on sys.path, no site.
    task = tmp_path / "task"
    with zipfile.ZipFile(project.zip_path("function", "host")) as zf:
        zf.extractall(task)
    ran = subprocess.run([sys.executable, "-I", "-S", "-c",
                          "import sys; sys.path.insert(0, '.'); import app; print(app.handler(1, 2))"],
                         cwd=task, capture_output=True, text=True)
    assert ran.stdout.strip() == "from bytecode!", ran.stderr

    error = out.results["check:function:other"].error
    minor = f"{sys.version_info.major}.{sys.version_info.minor}"
    want = OTHER.removeprefix("python")
    assert error == "\n".join(
        f"{name}: bytecode for Python {minor} without its .py, which {OTHER} cannot import "
        f"(\"Bad magic number\"); ship the module's source, or bytecode compiled by Python {want}"
        for name in ("closed/core.pyc", "vendored.pyc"))


def test_sourceless_bytecode_is_told_from_a_cache() -> None:
    names = {"a.py", "a.pyc", "b.pyc", "pkg/__pycache__/c.cpython-312.pyc", "pkg/d.pyc", "e.pyo"}
    assert [n for n in sorted(names) if sourceless_bytecode(n, names.__contains__)] == ["b.pyc", "pkg/d.pyc"]


def test_python314_bytecode_is_told_by_its_magic_number(tmp_path: Path) -> None:
    """python3.14 (magic 3627) is checked like the others: its own bytecode passes, 3.13's
    fails, where before an unknown Python meant no check at all."""
    from lambdaforge.builders.python.layout import bytecode_problems

    def pyc(magic: int) -> bytes:
        return magic.to_bytes(2, "little") + b"\r\n" + bytes(12) + b"code"

    path = tmp_path / "fn.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mine.pyc", pyc(3627))
        zf.writestr("old.pyc", pyc(3571))
    with zipfile.ZipFile(path) as zf:
        assert bytecode_problems(zf, "3.14", "python3.14") == [
            "old.pyc: bytecode for Python 3.13 without its .py, which python3.14 cannot import "
            "(\"Bad magic number\"); ship the module's source, or bytecode compiled by "
            "Python 3.14"]
