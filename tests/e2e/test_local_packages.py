"""Local packages (path requirements) are built to wheels off the user's tree, keyed by
their files, and installed like any wheel; editing one rebuilds exactly its users."""

from __future__ import annotations

import zipfile

import pytest

from tests.e2e.conftest import LOCAL_INDEX
from tests.support.wheels import write_source_tree

HANDLER = "import mylib\n\ndef handler(event, context):\n    return mylib.__version__\n"


def listing(root) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def two_functions(project, line: str, installer: str = "uv") -> None:
    project.config(LOCAL_INDEX + f"""
installer = "{installer}"

[functions.uses]
source = "uses"
handler = "app.handler"

[functions.other]
source = "other"
handler = "app.handler"
dependencies = ["dep-a"]
""")
    project.write("uses/app.py", HANDLER)
    project.write("uses/requirements.txt", line + "\n")
    project.write("other/app.py", "def handler(event, context):\n    return 1\n")
    write_source_tree(project.root / "local-package", "mylib", "1.0")


@pytest.mark.parametrize("installer", ["uv", "pip"])
@pytest.mark.parametrize("line", ["../local-package", "-e ../local-package",
                                  "mylib @ file:../local-package"])
def test_local_package_is_built_off_the_tree_and_shipped(deps_project, installer, line):
    two_functions(deps_project, line, installer)
    before = listing(deps_project.root / "local-package")
    out = deps_project.build()
    assert out.ok, [r.error for r in out.failures()]
    shipped = deps_project.zip_names("function", "uses")
    assert "mylib/__init__.py" in shipped
    assert not any(n.startswith(("build/", "mylib.egg-info", "_backend")) for n in shipped)
    assert listing(deps_project.root / "local-package") == before  # nothing written there
    install = next(r for t, r in out.results.items()
                   if t.startswith("install:") and any("local package" in w for w in r.warnings))
    assert any("built wheel for local package local-package (mylib 1.0)" in w for w in install.warnings)
    if line.startswith("-e"):
        assert any("Lambda has no editable installs" in w for w in install.warnings)
    # a second build of an unchanged project is a no-op, leftovers in the tree or not
    (deps_project.root / "local-package" / "build").mkdir()
    (deps_project.root / "local-package" / "build" / "junk.py").write_text("x = 1\n")
    again = deps_project.build()
    assert {r.status.value for r in again.results.values()} <= {"up-to-date", "cached"}


def test_editing_a_local_package_rebuilds_exactly_its_users(deps_project):
    two_functions(deps_project, "../local-package")
    assert deps_project.build().ok
    (deps_project.root / "local-package" / "mylib" / "__init__.py").write_text("__version__ = '2.0'\n")
    out = deps_project.build()
    assert out.ok, [r.error for r in out.failures()]
    built = sorted(t for t, r in out.results.items() if r.status.value == "built")
    assert "function:uses" in built and "function:other" not in built
    assert len([t for t in built if t.startswith("install:")]) == 1
    with zipfile.ZipFile(deps_project.zip_path("function", "uses")) as zf:
        assert zf.read("mylib/__init__.py") == b"__version__ = '2.0'\n"
    # a new file in the package is an input too
    (deps_project.root / "local-package" / "mylib" / "extra.py").write_text("y = 2\n")
    out = deps_project.build()
    assert "mylib/extra.py" in deps_project.zip_names("function", "uses")
    assert out.results["function:other"].status.value == "up-to-date"


def test_a_uv_workspace_member_ships_the_workspaces_package_not_the_indexs(deps_project):
    """``common = { workspace = true }``: the zip holds the workspace's own package (read
    through the workspace's uv.lock, as uv does), not a package of that name from the index,
    which is what plain ``[project] dependencies`` would have installed, green."""
    import os
    import subprocess

    from lambdaforge.builders.python.tools import uv_binary
    from lambdaforge.runner import isolated_installer_env

    root = deps_project.root
    deps_project.config(LOCAL_INDEX + '[functions.api]\nsource = "functions/api"\nhandler = "app.handler"\n')
    deps_project.write("pyproject.toml", '[project]\nname = "root"\nversion = "0"\n'
                       '[tool.uv.workspace]\nmembers = ["packages/*", "functions/*"]\n')
    write_source_tree(root / "packages" / "mylib", "mylib", "1.0")  # the index has mylib 1.0 too
    (root / "packages/mylib/mylib/__init__.py").write_text("__version__ = 'workspace'\n")
    deps_project.write("functions/api/app.py", HANDLER)
    deps_project.write("functions/api/pyproject.toml",
                       '[project]\nname = "api"\nversion = "0"\ndependencies = ["mylib"]\n'
                       '[tool.uv.sources]\nmylib = { workspace = true }\n')
    from lambdaforge.errors import ConfigError

    with pytest.raises(ConfigError, match=r"run `uv lock` in `\.`"):
        deps_project.build()
    env = {k: v for k, v in {**os.environ, **isolated_installer_env()}.items() if v is not None}
    subprocess.run([uv_binary(), "lock", "--no-index", "--no-progress"], cwd=root, check=True,
                   capture_output=True, env=env)
    out = deps_project.build()
    assert out.ok, [r.error for r in out.failures()]
    with zipfile.ZipFile(deps_project.zip_path("function", "api")) as zf:
        assert zf.read("mylib/__init__.py") == b"__version__ = 'workspace'\n"
    # The workspace's package is an input like any local package.
    (root / "packages/mylib/mylib/__init__.py").write_text("__version__ = 'edited'\n")
    assert deps_project.build().ok
    with zipfile.ZipFile(deps_project.zip_path("function", "api")) as zf:
        assert zf.read("mylib/__init__.py") == b"__version__ = 'edited'\n"


def test_a_version_from_version_control_is_given_by_its_variable_which_keys_the_install(
        deps_project, monkeypatch):
    """A monorepo library versioned by setuptools-scm is built from a copy without ``.git``:
    the build fails, saying how to give the version. ``SETUPTOOLS_SCM_PRETEND_VERSION_FOR_
    COMMON`` does; its value keys the install (before, 2.0.0 was "up-to-date" with 1.2.3
    shipped, even with --force, as the local-wheel cache went by the files alone)."""
    from tests.support.wheels import source_tree_files

    files = source_tree_files("common", "0")
    backend = files["_backend/backend.py"].decode()
    files["_backend/backend.py"] = backend.replace(
        'get("version")', '(os.environ.get("SETUPTOOLS_SCM_PRETEND_VERSION_FOR_COMMON") or _scm())'
    ).replace("def get_requires_for_build_wheel", (
        "def _scm():\n    raise LookupError('setuptools-scm was unable to detect version for "
        "/x/common.')\n\ndef get_requires_for_build_wheel")).encode()
    for rel, data in files.items():
        deps_project.write(f"libs/common/{rel}", data.decode())
    deps_project.config(LOCAL_INDEX + '\n[functions.fn]\nsource = "fn"\nhandler = "app.handler"\n')
    deps_project.write("fn/app.py", "def handler(event, context):\n    return 1\n")
    deps_project.write("fn/requirements.txt", "../libs/common\n")
    monkeypatch.delenv("SETUPTOOLS_SCM_PRETEND_VERSION_FOR_COMMON", raising=False)
    out = deps_project.build()
    install = next(r for t, r in out.results.items() if t.startswith("install:"))
    assert install.status.value == "failed"
    assert "without the repository's .git" in install.error
    assert "SETUPTOOLS_SCM_PRETEND_VERSION_FOR_COMMON=X.Y.Z" in install.error

    def shipped_version() -> str:
        names = deps_project.zip_names("function", "fn")
        return next(n for n in names if n.endswith(".dist-info/METADATA")).split("-")[1].split(".dist")[0]

    monkeypatch.setenv("SETUPTOOLS_SCM_PRETEND_VERSION_FOR_COMMON", "1.2.3")
    assert deps_project.build().ok
    assert shipped_version() == "1.2.3"
    monkeypatch.setenv("SETUPTOOLS_SCM_PRETEND_VERSION_FOR_COMMON", "2.0.0")
    out = deps_project.build()
    assert out.ok and out.results["function:fn"].status.value == "built"
    assert shipped_version() == "2.0.0"
    monkeypatch.setenv("SETUPTOOLS_SCM_PRETEND_VERSION_FOR_COMMON", "1.2.3")
    out = deps_project.build()  # back: the earlier build, from the cache
    assert out.results["function:fn"].status.value == "cached" and shipped_version() == "1.2.3"
