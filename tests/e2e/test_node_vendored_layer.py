"""A Node.js layer laid out the AWS way with its own modules in nodejs/node_modules/.

Nothing installs for it (no nodejs/package.json), so those modules are its content. The
builder's exclude of the developer's node_modules/ dropped them: the layer zipped empty,
the build was green and Lambda said "Cannot find module". With a top-level node_modules/
beside nodejs/ they shipped, but out of the layer's key: an edit left it "up-to-date".
"""

from __future__ import annotations

import shutil

import pytest

from tests.e2e.conftest import ProjectDir

CONFIG = """
[defaults]
runtime = "nodejs20.x"

[layers.shared]
source = "layer"

[functions.fn]
source = "fn"
handler = "index.handler"
layers = ["shared"]
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
@pytest.mark.parametrize("host_install", [False, True])
def test_a_vendored_layer_ships_its_node_modules_and_rebuilds_when_they_change(
        project: ProjectDir, host_install: bool) -> None:
    project.config(CONFIG)
    project.write("fn/index.js", "const h = require('helper');\nexports.handler = async () => h.v;\n")
    project.write("layer/nodejs/node_modules/helper/index.js", "exports.v = 1;\n")
    project.write("layer/nodejs/node20/node_modules/only20/index.js", "exports.w = 2;\n")
    if host_install:  # not the layer's layout: left out
        project.write("layer/node_modules/host-install/index.js", "")
    out = project.build()
    assert out.ok, [r.error for r in out.failures()]
    files = {n for n in project.zip_names("layer", "shared") if not n.endswith("/")}
    assert files == {"nodejs/node_modules/helper/index.js",
                     "nodejs/node20/node_modules/only20/index.js"}

    assert set(project.statuses(project.build()).values()) == {"up-to-date"}
    project.write("layer/nodejs/node_modules/helper/index.js", "exports.v = 2;\n")
    out = project.build()
    assert project.statuses(out)["layer:shared"] == "built"
    import zipfile
    with zipfile.ZipFile(project.zip_path("layer", "shared")) as zf:
        assert zf.read("nodejs/node_modules/helper/index.js") == b"exports.v = 2;\n"
