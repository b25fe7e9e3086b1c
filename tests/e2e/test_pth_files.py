"""A .pth file that ties a zip to the build machine fails the check (Lambda processes .pth files)."""

from __future__ import annotations

from tests.e2e.conftest import ProjectDir

ONE_FUNCTION_ONE_LAYER = """
[defaults]
runtime = "python3.12"

[layers.shared]
source = "layers/shared"

[functions.fn]
source = "fn"
handler = "app.handler"
layers = ["shared"]
"""


def test_a_pth_naming_this_machines_files_fails_the_check(project: ProjectDir) -> None:
    # Lambda's bootstrap calls site.addsitedir() on /var/task and the layers' directories:
    # their .pth files count there, but a directory of this machine does not exist there.
    project.config(ONE_FUNCTION_ONE_LAYER)
    project.write("fn/app.py", "def handler(e, c):\n    return 1\n")
    project.write("fn/dev.pth", "# a comment\nlib\n/opt/extra\n/home/dev/lib/src\n"
                                "import __editable___mylib_0_1_finder; __editable___mylib_0_1_finder.install()\n"
                                "import sys\n")
    project.write("fn/lib/helper.py", "")
    project.write("layers/shared/python/ok.pth", "vendored\n")
    project.write("layers/shared/python/old.pth", "/Users/dev/src/shared\n")
    out = project.build()
    assert out.results["check:function:fn"].error == (
        "dev.pth:4: adds /home/dev/lib/src to sys.path: a directory of this machine, not on "
        "Lambda (only /var/task, /opt and the runtime's are); ship what it holds in the zip "
        "instead\n"
        "dev.pth:5: an editable install's hook: it loads the package from this machine's "
        "source tree, which Lambda does not have; install the package normally (not `-e`)")
    assert out.results["check:layer:shared"].error == (
        "python/old.pth:1: adds /Users/dev/src/shared to sys.path: a directory of this machine, "
        "not on Lambda (only /var/task, /opt and the runtime's are); ship what it holds in the "
        "zip instead")

    project.write("fn/dev.pth", "lib\n/opt/extra\n")
    project.write("layers/shared/python/old.pth", "")
    out = project.build()
    assert out.ok, [r.error for r in out.failures()]


def test_a_handler_that_a_pth_puts_on_sys_path_passes_the_check(project: ProjectDir) -> None:
    """``src.pth`` with ``src`` at the zip root: Lambda's ``site.addsitedir('/var/task')``
    puts ``/var/task/src`` on ``sys.path`` and imports ``app`` from there; the static check
    said "module app.py not found at the zip root" (a false failure). A line naming a
    directory the zip does not have adds nothing."""
    project.config(ONE_FUNCTION_ONE_LAYER + """
[functions.from-layer]
source = "other"
handler = "shared_mod.handler"
layers = ["shared"]

[functions.nowhere]
source = "nowhere"
handler = "app.handler"
""")
    project.write("fn/src.pth", "# the code lives in src/\nsrc\n/var/task/lib\n")
    project.write("fn/src/app.py", "from helper import X\ndef handler(e, c):\n    return X\n")
    project.write("fn/lib/helper.py", "X = 1\n")
    project.write("other/main.py", "")
    project.write("layers/shared/python/extra.pth", "vendor\n")
    project.write("layers/shared/python/vendor/shared_mod.py", "def handler(e, c):\n    return 2\n")
    project.write("nowhere/paths.pth", "src\n../outside\n")
    project.write("nowhere/other.py", "")
    out = project.build(smoke=True)
    assert out.results["check:function:fn"].status.value == "built", out.results["check:function:fn"].error
    assert out.results["check:function:from-layer"].status.value == "built", (
        out.results["check:function:from-layer"].error)
    assert out.results["check:function:nowhere"].error == (
        "handler 'app.handler': module app.py not found at the zip root")
