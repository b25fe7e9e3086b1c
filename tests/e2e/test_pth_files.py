"""A .pth file that ties a zip to the build machine fails the check (Lambda processes .pth files)."""

from __future__ import annotations

from tests.e2e.conftest import ProjectDir


def test_a_pth_naming_this_machines_files_fails_the_check(project: ProjectDir) -> None:
    # Lambda's bootstrap calls site.addsitedir() on /var/task and the layers' directories:
    # their .pth files count there, but a directory of this machine does not exist there.
    project.config("""
[defaults]
runtime = "python3.12"

[layers.shared]
source = "layers/shared"

[functions.fn]
source = "fn"
handler = "app.handler"
layers = ["shared"]
""")
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
