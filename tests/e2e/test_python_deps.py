"""End-to-end builds of Python functions with dependencies from a local wheel folder.

Real uv installs, real zips opened and inspected, real checks: the promise is that a zip
``forge build`` accepts imports on the runtime and architecture it was built for.
"""

from __future__ import annotations

import shutil
import zipfile

import pytest

from tests.e2e.conftest import LOCAL_INDEX
from tests.support.elf import make_elf

HANDLER = "def handler(event, context):\n    return 'ok'\n"


def names(path) -> list[str]:
    with zipfile.ZipFile(path) as zf:
        return zf.namelist()


def read(path, member) -> bytes:
    with zipfile.ZipFile(path) as zf:
        return zf.read(member)


@pytest.mark.parametrize("arch, machine", [("x86_64", "x86_64"), ("arm64", "aarch64")])
def test_native_wheel_matches_the_architecture(deps_project, arch, machine):
    deps_project.config(LOCAL_INDEX + f"""
[functions.fn]
source = "fn"
handler = "app.handler"
architecture = "{arch}"
""")
    deps_project.write("fn/app.py", "import native\n" + HANDLER)
    deps_project.write("fn/requirements.txt", "native==1.0\n")
    out = deps_project.build()
    assert out.ok, [r.error for r in out.failures()]
    zp = deps_project.zip_path("function", "fn")
    assert read(zp, "native/ARCH").decode() == machine
    assert "native/_speedups.abi3.so" in names(zp)


@pytest.mark.parametrize("runtime, present", [("python3.12", False), ("python3.11", True)])
def test_environment_markers_are_evaluated_for_the_target(deps_project, runtime, present):
    deps_project.config(LOCAL_INDEX + f"""
[functions.fn]
source = "fn"
handler = "app.handler"
runtime = "{runtime}"
""")
    deps_project.write("fn/app.py", HANDLER)
    deps_project.write("fn/requirements.txt", "markered\n")
    out = deps_project.build()
    assert out.ok, [r.error for r in out.failures()]
    shipped = deps_project.zip_names("function", "fn")
    assert "markered/__init__.py" in shipped
    assert ("tomli_like/__init__.py" in shipped) is present


def test_runtime_provided_packages_are_left_out_unless_pinned(deps_project):
    deps_project.config(LOCAL_INDEX + """
[functions.plain]
source = "plain"
handler = "app.handler"

[functions.pinned]
source = "pinned"
handler = "app.handler"
""")
    for fn in ("plain", "pinned"):
        deps_project.write(f"{fn}/app.py", HANDLER)
    deps_project.write("plain/requirements.txt", "boto3\nrequests\n")
    deps_project.write("pinned/requirements.txt", "boto3==1.0\n")
    out = deps_project.build()
    assert out.ok, [r.error for r in out.failures()]
    plain = deps_project.zip_names("function", "plain")
    tops = {n.split("/")[0] for n in plain}
    assert {"boto3", "botocore", "jmespath"}.isdisjoint(tops)
    # requests needs urllib3, and the runtime's copy may not satisfy it: it stays
    assert {"requests", "urllib3"} <= tops
    assert "left out (provided by the runtime): boto3, botocore, jmespath" in out.results[
        "function:plain"].warnings
    pinned = {n.split("/")[0] for n in deps_project.zip_names("function", "pinned")}
    assert "boto3" in pinned


def test_function_does_not_bundle_what_its_layer_provides(deps_project):
    deps_project.config(LOCAL_INDEX + """
[layers.common]
dependencies = ["dep-b==1.0"]

[functions.fn]
source = "fn"
handler = "app.handler"
layers = ["common"]
""")
    deps_project.write("fn/app.py", "import dep_a, dep_b\n" + HANDLER)
    deps_project.write("fn/requirements.txt", "dep-a\n")
    out = deps_project.build()
    assert out.ok, [r.error for r in out.failures()]
    fn = deps_project.zip_names("function", "fn")
    layer = deps_project.zip_names("layer", "common")
    assert "dep_a/__init__.py" in fn and not any(n.startswith("dep_b") for n in fn)
    assert "python/dep_b/__init__.py" in layer


@pytest.mark.parametrize("strictness", ["warn", "error"])
def test_layer_version_conflict_is_reported(deps_project, strictness):
    deps_project.config(LOCAL_INDEX + f"""
[layers.common]
dependencies = ["urllib3==1.0"]

[functions.fn]
source = "fn"
handler = "app.handler"
layers = ["common"]
layer-conflicts = "{strictness}"
dependencies = ["urllib3==2.0"]
""")
    deps_project.write("fn/app.py", HANDLER)
    out = deps_project.build()
    message = ("urllib3: function fn bundles 2.0 but layer common provides 1.0; the function's "
               "copy wins at runtime (/var/task precedes /opt on the import path)")
    result = out.results["function:fn"]
    if strictness == "warn":
        assert out.ok
        assert f"layer conflict: {message}" in result.warnings
        assert "urllib3/__init__.py" in deps_project.zip_names("function", "fn")
    else:
        assert result.status.value == "failed"
        assert result.error == f'layer conflict: {message} (layer-conflicts = "error")'


def test_nothing_from_the_never_ships_list_reaches_a_zip(deps_project):
    deps_project.config(LOCAL_INDEX + """
[functions.fn]
source = "fn"
handler = "app.handler"
""")
    deps_project.write("fn/app.py", HANDLER)
    deps_project.write("fn/__pycache__/app.cpython-312.pyc", "x")
    deps_project.write("fn/requirements.txt", "purelib\ndep-a\n")
    out = deps_project.build()
    assert out.ok, [r.error for r in out.failures()]
    shipped = deps_project.zip_names("function", "fn")
    bad = [n for n in shipped if n.endswith((".pyc", "direct_url.json", "uv_cache.json",
                                             "/INSTALLER", "/REQUESTED", ".lock"))
           or n.startswith("bin/") or "__pycache__" in n]
    assert bad == []
    assert "purelib-1.0.dist-info/METADATA" in shipped
    assert "purelib-1.0.dist-info/entry_points.txt" in shipped
    assert "purelib-1.0.dist-info/top_level.txt" in shipped


def test_binary_needing_a_newer_glibc_fails_the_check(deps_project):
    deps_project.config(LOCAL_INDEX + """
[functions.fn]
source = "fn"
handler = "app.handler"
runtime = "python3.11"
""")
    deps_project.write("fn/app.py", HANDLER)
    deps_project.write("fn/requirements.txt", "toonew\n")
    out = deps_project.build()
    check = out.results["check:function:fn"]
    assert check.status.value == "failed"
    assert "toonew/_speedups.abi3.so" in check.error
    assert "needs glibc 2.38" in check.error and "(from toonew 1.0)" in check.error
    # the package itself was built; only its check failed
    assert out.results["function:fn"].status.value == "built"


def test_own_binary_for_the_wrong_architecture_fails_the_check(deps_project):
    deps_project.config(LOCAL_INDEX + """
[functions.fn]
source = "fn"
handler = "app.handler"
architecture = "arm64"
""")
    deps_project.write("fn/app.py", HANDLER)
    (deps_project.root / "fn/libfast.so").write_bytes(make_elf("x86_64"))
    out = deps_project.build()
    check = out.results["check:function:fn"]
    assert check.status.value == "failed"
    assert "libfast.so" in check.error and "x86_64" in check.error and "arm64" in check.error


def test_import_smoke_test_passes_and_fails_with_the_real_error(deps_project):
    if shutil.which("python3.12") is None:
        pytest.skip("no python3.12 interpreter")
    deps_project.config(LOCAL_INDEX + """
[functions.good]
source = "good"
handler = "app.handler"

[functions.bad]
source = "bad"
handler = "app.handler"
""")
    deps_project.write("good/app.py", "import dep_a\n" + HANDLER)
    deps_project.write("good/requirements.txt", "dep-a\n")
    deps_project.write("bad/app.py", "import not_installed_anywhere\n" + HANDLER)
    out = deps_project.build(smoke=True)
    good = out.results["check:function:good"]
    bad = out.results["check:function:bad"]
    assert good.status.value == "built", good.error
    assert good.output.import_ms >= 0
    assert bad.status.value == "failed"
    assert "No module named 'not_installed_anywhere'" in bad.error


def test_zips_with_dependencies_are_byte_identical_from_two_checkouts(deps_project, tmp_path,
                                                                     monkeypatch):
    deps_project.config(LOCAL_INDEX + """
[functions.fn]
source = "fn"
handler = "app.handler"
architecture = "arm64"
""")
    deps_project.write("fn/app.py", HANDLER)
    deps_project.write("fn/requirements.txt", "native\ndep-a\npurelib\n")
    assert deps_project.build().ok
    other = tmp_path / "second" / "checkout"
    shutil.copytree(deps_project.root, other, ignore=shutil.ignore_patterns(".forge"))
    monkeypatch.setenv("FORGE_CACHE_DIR", str(tmp_path / "second-cache"))
    from tests.e2e.conftest import ProjectDir

    assert ProjectDir(other).build().ok
    assert (other / ".forge/build/functions/fn.zip").read_bytes() == deps_project.zip_path(
        "function", "fn").read_bytes()


def test_functions_with_the_same_requirements_share_one_install(deps_project):
    deps_project.config(LOCAL_INDEX + """
[[discover]]
path = "fns/*"
handler = "app.handler"
""")
    for i in range(4):
        deps_project.write(f"fns/f{i}/app.py", HANDLER)
        deps_project.write(f"fns/f{i}/requirements.txt", "dep-a\n")
    out = deps_project.build()
    assert out.ok
    installs = [t for t in out.results if t.startswith("install:")]
    assert len(installs) == 1


def test_a_failed_install_names_the_package_and_skips_only_its_dependents(deps_project):
    deps_project.config(LOCAL_INDEX + """
[functions.broken]
source = "broken"
handler = "app.handler"
dependencies = ["no-such-package==9.9"]

[functions.fine]
source = "fine"
handler = "app.handler"
""")
    deps_project.write("broken/app.py", HANDLER)
    deps_project.write("fine/app.py", HANDLER)
    out = deps_project.build()
    install = next(r for t, r in out.results.items() if t.startswith("install:"))
    assert install.status.value == "failed"
    assert "no-such-package" in install.error
    assert install.log.startswith("$ ")  # the installer's command line and output
    assert out.results["function:broken"].status.value == "skipped"
    assert out.results["function:fine"].status.value == "built"
    assert not deps_project.zip_path("function", "broken").exists()


def test_pure_sdist_is_built_into_a_wheel_and_said_so(deps_project):
    deps_project.config(LOCAL_INDEX + """
[functions.fn]
source = "fn"
handler = "app.handler"
dependencies = ["sdistonly"]
""")
    deps_project.write("fn/app.py", HANDLER)
    out = deps_project.build()
    assert out.ok, [r.error for r in out.failures()]
    install = next(r for t, r in out.results.items() if t.startswith("install:"))
    assert "built pure-Python wheel for sdistonly 1.0 from its sdist" in install.warnings


def test_different_requirement_sets_never_share_an_install(deps_project):
    # Regression: the install key once kept only the last requirement line, so these two
    # sets (same last line) shared one install and both zips got dep-a.
    deps_project.config(LOCAL_INDEX + """
[functions.one]
source = "one"
handler = "app.handler"
dependencies = ["dep-a", "purelib"]

[functions.two]
source = "two"
handler = "app.handler"
dependencies = ["markered", "purelib"]
""")
    for fn in ("one", "two"):
        deps_project.write(f"{fn}/app.py", HANDLER)
    out = deps_project.build()
    assert out.ok, [r.error for r in out.failures()]
    installs = {t: r.key for t, r in out.results.items() if t.startswith("install:")}
    assert len(set(installs.values())) == 2
    one = {n.split("/")[0] for n in deps_project.zip_names("function", "one")}
    two = {n.split("/")[0] for n in deps_project.zip_names("function", "two")}
    assert "dep_a" in one and "markered" not in one
    assert "markered" in two and "dep_a" not in two


def test_changing_a_layers_dependencies_repackages_its_functions(deps_project):
    deps_project.config(LOCAL_INDEX + """
[layers.common]
dependencies = ["dep-b==1.0"]

[functions.fn]
source = "fn"
handler = "app.handler"
layers = ["common"]
dependencies = ["dep-a", "purelib"]
""")
    deps_project.write("fn/app.py", HANDLER)
    assert deps_project.build().ok
    assert not any(n.startswith("purelib") for n in deps_project.zip_names("layer", "common"))
    text = (deps_project.root / "lambdaforge.toml").read_text()
    deps_project.config(text.replace('["dep-b==1.0"]', '["dep-b==1.0", "purelib"]'))
    out = deps_project.build()
    assert out.ok, [r.error for r in out.failures()]
    assert deps_project.statuses(out)["function:fn"] == "built"
    # the layer now provides purelib, so the function stops bundling it
    assert not any(n.startswith("purelib") for n in deps_project.zip_names("function", "fn"))


def test_a_changed_variable_a_requirements_file_expands_is_planned_again(deps_project):
    """``${PACKAGE}==1.0``: the no-op answer watches the variable (by a digest of its
    value: it may be a token), so another value is another install, not "up-to-date"."""
    import os
    import subprocess
    import sys

    deps_project.config(LOCAL_INDEX + '[functions.fn]\nsource = "fn"\nhandler = "app.handler"\n')
    deps_project.write("fn/app.py", HANDLER)
    deps_project.write("fn/requirements.txt", "${PACKAGE}==1.0\n")

    def build(package: str) -> str:
        proc = subprocess.run([sys.executable, "-m", "lambdaforge", "-C", str(deps_project.root), "build"],
                              capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, PACKAGE=package))
        assert proc.returncode == 0, proc.stderr
        return proc.stderr

    assert "built  install:fn/requirements.txt" in build("purelib")
    assert "purelib/__init__.py" in names(deps_project.zip_path("function", "fn"))
    assert "3 up-to-date" in build("purelib")
    out = build("dep-a")
    assert "built  install:fn/requirements.txt" in out and "up-to-date" not in out
    shipped = names(deps_project.zip_path("function", "fn"))
    assert "dep_a-1.0.dist-info/METADATA" in shipped and "purelib/__init__.py" not in shipped
    assert "3 up-to-date" in build("dep-a")


def test_wheels_the_install_reads_from_the_source_do_not_ship(deps_project):
    """A ``--find-links wheels`` folder and a wheel named by path inside the function's
    source are the install's to read, as its requirements file is: they shipped, doubling
    the zip. A wheel folder the install does not name still ships (it may be data)."""
    shutil.copytree(deps_project.root / "wheels", deps_project.root / "fn" / "wheels")
    (deps_project.root / "fn" / "vendor").mkdir()
    wheel = next((deps_project.root / "wheels").glob("purelib-1.0-*.whl"))
    shutil.copy(wheel, deps_project.root / "fn" / "vendor" / wheel.name)
    shutil.copy(wheel, deps_project.root / "fn" / "data.whl")
    deps_project.config(LOCAL_INDEX + '[functions.fn]\nsource = "fn"\nhandler = "app.handler"\n')
    deps_project.write("fn/app.py", HANDLER)
    deps_project.write("fn/requirements.txt", f"--find-links wheels\ndep-a\n./vendor/{wheel.name}\n")
    out = deps_project.build()
    assert out.ok, [r.error for r in out.failures()]
    shipped = names(deps_project.zip_path("function", "fn"))
    assert "dep_a/__init__.py" in shipped and "purelib/__init__.py" in shipped
    assert not any(n.startswith(("wheels/", "vendor/")) for n in shipped)
    assert "data.whl" in shipped
    # No longer the install's: the folder is the function's again.
    deps_project.write("fn/requirements.txt", "dep-a\n")
    assert deps_project.build().ok
    assert any(n.startswith("wheels/") for n in names(deps_project.zip_path("function", "fn")))


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_a_wheels_headers_never_ship(deps_project, installer):
    """pip puts a wheel's ``.data/headers`` in ``include/site/pythonX.Y/`` of the Python
    running forge, under an unchanged key: two machines made two zips (two CodeSha256s)
    for one function. C headers are nothing at run time: they are left out."""
    from tests.support.wheels import build_wheel

    build_wheel(deps_project.root / "wheels", "hdr", "1.0", files={
        "hdr/__init__.py": b"", "hdr-1.0.data/headers/hdr.h": b"int x;\n"})
    deps_project.config(LOCAL_INDEX + f'installer = "{installer}"\n\n'
                        '[functions.fn]\nsource = "fn"\nhandler = "app.handler"\n')
    deps_project.write("fn/app.py", "import hdr\n" + HANDLER)
    deps_project.write("fn/requirements.txt", "hdr==1.0\n")
    out = deps_project.build()
    assert out.ok, [r.error for r in out.failures()]
    shipped = names(deps_project.zip_path("function", "fn"))
    assert "hdr/__init__.py" in shipped
    assert not [n for n in shipped if n.startswith("include/") or n.endswith(".h")], shipped


@pytest.mark.parametrize("strip", ["standard", "aggressive"])
def test_a_tests_or_docs_package_the_library_imports_is_not_stripped(deps_project, strip):
    """astropy's ``__init__`` runs ``from .tests.runner import TestRunner``; botocore's
    ``waiter.py`` imports ``botocore.docs.docstring``. The built-in rules remove ``tests/``
    (and, aggressive, ``docs/``) as directories: the zip built green, and failed on Lambda
    with ``No module named 'astro.tests'``. A directory the shipped code imports stays (its
    bytecode and its own test suites still go); one nothing imports still goes."""
    import subprocess
    import sys

    from tests.support.wheels import build_wheel

    build_wheel(deps_project.root / "wheels", "astro", "1.0", files={
        "astro/__init__.py": b"from .tests.runner import TestRunner\n",
        "astro/tests/__init__.py": b"",
        "astro/tests/runner.py": b"from astro.tests import helper\nclass TestRunner: pass\n",
        "astro/tests/helper.py": b"",
        "astro/tests/test_runner.py": b"import astro.io.tests.test_io\n",  # a test: nothing imports it
        "astro/tests/__pycache__/runner.cpython-312.pyc": b"bytecode",
        "astro/io/__init__.py": b"",
        "astro/io/tests/__init__.py": b"",
        "astro/io/tests/test_io.py": b"from astro.tests import helper\n",
        "astro/waiter.py": b"def doc():\n    from astro.docs.docstring import (\n        Doc,\n    )\n",
        "astro/docs/__init__.py": b"",
        "astro/docs/docstring.py": b"Doc = 1\n",
    })
    deps_project.config(LOCAL_INDEX + f'strip = ["{strip}"]\n\n'
                        '[functions.fn]\nsource = "fn"\nhandler = "app.handler"\n')
    deps_project.write("fn/app.py", "import astro, astro.waiter\nastro.waiter.doc()\n" + HANDLER)
    deps_project.write("fn/requirements.txt", "astro==1.0\n")
    out = deps_project.build()
    assert out.ok, [r.error for r in out.failures()]
    zip_path = deps_project.zip_path("function", "fn")
    shipped = set(names(zip_path))
    assert {"astro/tests/__init__.py", "astro/tests/runner.py", "astro/tests/helper.py",
            "astro/docs/docstring.py"} <= shipped
    assert "astro/tests/__pycache__/runner.cpython-312.pyc" not in shipped
    # only the modules imported go: the test suites beside them (and what they import) do not
    assert "astro/tests/test_runner.py" not in shipped
    assert not [n for n in shipped if n.startswith("astro/io/tests/")]
    assert ("astro/tests/: kept 3 files of modules the code shipped imports (__init__.py, "
            "helper.py, runner.py); a strip rule removes the rest of the directory"
            in out.results["function:fn"].notes)
    imported = subprocess.run([sys.executable, "-I", "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                               "import app; print(app.handler(None, None))", str(zip_path)],
                              capture_output=True, text=True)
    assert imported.returncode == 0 and imported.stdout.strip() == "ok", imported.stderr
