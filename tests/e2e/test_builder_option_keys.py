"""Builder options are key material: each one that can change an artifact is in its
package key under the key the user writes, and the smoke test's ``interpreter`` only in
the check's key (and only when the smoke test runs)."""

from __future__ import annotations

import shutil

import pytest

from .conftest import ProjectDir

CONFIG = """
[functions.py]
source = "py"
handler = "app.handler"
{py}

[functions.js]
source = "js"
handler = "index.handler"
runtime = "nodejs22.x"
{js}
"""


@pytest.fixture
def two(project: ProjectDir) -> ProjectDir:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed for the Node.js function")
    project.write("py/app.py", "def handler(event, context):\n    return 1\n")
    project.write("js/index.js", "exports.handler = async () => 1;\n")
    return project


def keys(project: ProjectDir, py: str = "", js: str = "", smoke: bool = False) -> dict[str, str]:
    project.config(CONFIG.format(py=py, js=js))
    outcome = project.build(dry_run=True, smoke=smoke)
    return {tid: r.key for tid, r in outcome.results.items()}


def test_each_option_changes_the_package_key_of_its_function_only(two: ProjectDir) -> None:
    base = keys(two)
    node_options = ['bundle = "esbuild"', 'target = "es2020"', 'format = "esm"', "minify = true",
                    "sourcemap = true", 'external = ["x"]', 'loader = { ".txt" = "text" }',
                    'main-fields = ["main"]', 'banner = "/* x */"', 'define = { X = "1" }',
                    'out-extension = { ".js" = ".cjs" }', "keep-names = true",
                    "allow-scripts = true"]
    for py, js, changed in [('installer = "pip"', "", "function:py"),
                            ('index-url = "https://example.org/simple"', "", "function:py"),
                            ('extra-index-urls = ["https://example.org/simple"]', "", "function:py"),
                            ('no-index = true', "", "function:py"),
                            *(("", option, "function:js") for option in node_options)]:
        now = keys(two, py, js)
        assert now[changed] != base[changed], (py, js)
        other = "function:js" if changed == "function:py" else "function:py"
        assert now[other] == base[other], (py, js)


def test_the_interpreter_is_the_checks_key_and_only_with_the_smoke_test(two: ProjectDir) -> None:
    other = 'interpreter = "/opt/python3.12/bin/python3"'
    plain, plain_other = keys(two), keys(two, other)
    assert plain_other == plain  # no smoke test: nothing reads it
    smoke, smoke_other = keys(two, smoke=True), keys(two, other, smoke=True)
    assert smoke_other["function:py"] == smoke["function:py"]  # the zip is the same
    assert smoke_other["check:function:py"] != smoke["check:function:py"]


def test_explain_names_the_option_that_changed(two: ProjectDir) -> None:
    two.config(CONFIG.format(py="", js=""))
    assert two.build().ok
    two.config(CONFIG.format(py="", js="sourcemap = true"))
    outcome = two.build(dry_run=True)
    assert outcome.results["function:js"].reasons[0] == (
        "config changed: functions.js.sourcemap: false → true")
