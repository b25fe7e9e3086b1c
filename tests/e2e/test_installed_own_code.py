"""The user's own code that arrives through an install, end to end: a local Python package
(a path requirement) is screened for secrets like the function's own files (left out with
the standard warning, ``include`` naming one back in, the warnings restored with a cached
zip); a registry dependency is not screened."""

from __future__ import annotations

import shutil

import pytest

from lambdaforge.packaging.secrets import AWS_KEY, overridden, withheld
from tests.e2e.conftest import LOCAL_INDEX, ProjectDir
from tests.e2e.test_credentials import forge
from tests.support.secrets import AWS_KEY_ID, AWS_SECRET
from tests.support.wheels import build_wheel, write_source_tree

#: what a checkout's ``.env`` holds: an AWS key pair
DOTENV = f"AWS_ACCESS_KEY_ID={AWS_KEY_ID}\nAWS_SECRET_ACCESS_KEY={AWS_SECRET}\n"


def members(project: ProjectDir, kind: str, name: str) -> set[str]:
    """The files of a built zip (directory entries left aside)."""
    return {n for n in project.zip_names(kind, name) if not n.endswith("/")}


# --------------------------------------------------------------------------- local Python package

PY_CONFIG = LOCAL_INDEX + """
[functions.uses]
source = "uses"
handler = "app.handler"
"""


@pytest.fixture
def local_package(deps_project: ProjectDir) -> ProjectDir:
    """A function whose requirements name a local package (``-e ../libs/common``) holding a
    ``.env`` and a module with an AWS key pair, and a registry wheel holding the same."""
    p = deps_project
    p.config(PY_CONFIG)
    p.write("uses/app.py", "import common\n\ndef handler(event, context):\n    return common.V\n")
    p.write("uses/requirements.txt", "-e ../libs/common\nvendored==1.0\n")
    write_source_tree(p.root / "libs/common", "common", "0.1", files={
        "common/__init__.py": b"V = 1\n",
        "common/.env": DOTENV.encode(),
        "common/aws.py": f"ID = '{AWS_KEY_ID}'\nSECRET = '{AWS_SECRET}'\n".encode(),
    })
    build_wheel(p.root / "wheels", "vendored", "1.0", files={
        "vendored/__init__.py": b"",
        "vendored/.env": DOTENV.encode(),
        "vendored/aws.py": f"ID = '{AWS_KEY_ID}'\nSECRET = '{AWS_SECRET}'\n".encode(),
    })
    return p


def test_a_local_packages_secrets_are_withheld_with_a_warning(local_package):
    out = local_package.build()
    assert out.ok, [r.error for r in out.failures()]
    names = members(local_package, "function", "uses")
    assert "common/__init__.py" in names
    assert not {"common/.env", "common/aws.py"} & names
    # a registry dependency is not the user's code: not screened
    assert {"vendored/.env", "vendored/aws.py"} <= names
    assert out.results["function:uses"].warnings == [
        withheld("common/.env", "matches `.env`"),
        withheld("common/aws.py", AWS_KEY),
    ]


def test_a_local_packages_secret_warning_comes_back_with_the_cached_zip(local_package, capsys):
    code, printed = forge(local_package, capsys, "build")
    assert code == 0, printed
    line = "warning: function:uses: " + withheld("common/.env", "matches `.env`")
    assert line in printed.splitlines()
    first = local_package.zip_path("function", "uses").read_bytes()
    shutil.rmtree(local_package.root / ".forge")
    code, printed = forge(local_package, capsys, "build")
    assert code == 0 and "cached" in printed, printed
    assert line in printed.splitlines()
    assert local_package.zip_path("function", "uses").read_bytes() == first
    # the function repackaged over the install it had (read back from the state): the same
    local_package.write("uses/app.py", "import common\n\ndef handler(event, context):\n    return 2\n")
    out = local_package.build()
    assert out.results["function:uses"].status.value == "built"
    assert not [t for t, r in out.results.items() if t.startswith("install:") and r.status.value == "built"]
    assert "common/.env" not in local_package.zip_names("function", "uses")
    assert withheld("common/.env", "matches `.env`") in out.results["function:uses"].warnings


def test_include_names_a_local_packages_file_back_in(local_package):
    local_package.config(PY_CONFIG + 'include = ["*", "common/aws.py"]\n')
    out = local_package.build()
    assert out.ok, [r.error for r in out.failures()]
    names = members(local_package, "function", "uses")
    assert "common/aws.py" in names and "common/.env" not in names
    assert overridden("common/aws.py", AWS_KEY) in out.results["function:uses"].warnings
