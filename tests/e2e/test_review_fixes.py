"""Scenarios found in review: moved checkouts, --force, edits during a build, new discover
matches, the machine's uv variables."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time

import pytest

from lambdaforge.cli import main
from lambdaforge.runner import isolated_installer_env
from tests.e2e.conftest import LOCAL_INDEX, ProjectDir

HANDLER = "def handler(event, context):\n    return 1\n"


def test_a_moved_checkout_with_its_cache_still_builds(deps_project, tmp_path, monkeypatch):
    # The cache lives inside the project here, so it moves with it.
    monkeypatch.delenv("FORGE_CACHE_DIR")
    deps_project.config(LOCAL_INDEX + """
[functions.fn]
source = "fn"
handler = "app.handler"
dependencies = ["dep-a"]
""")
    deps_project.write("fn/app.py", HANDLER)
    assert deps_project.build().ok
    moved = ProjectDir(tmp_path / "moved")
    shutil.move(deps_project.root, moved.root)
    moved.write("fn/app.py", HANDLER + "# edited\n")
    out = moved.build()
    assert out.ok, [r.error for r in out.failures()]
    assert moved.statuses(out)["function:fn"] == "built"


def test_force_replaces_the_cache_entry_and_the_manifest_tells_the_truth(source_project):
    assert source_project.build().ok
    out = source_project.build(force=True)
    assert out.ok
    manifest = json.loads((source_project.root / ".forge/build/manifest.json").read_text())
    for record in manifest["artifacts"]:
        data = (source_project.root / record["path"]).read_bytes()
        assert record["sha256"] == hashlib.sha256(data).hexdigest()


def test_a_source_edited_during_the_build_is_never_stored_under_the_old_key(
        source_project, monkeypatch):
    import lambdaforge.packaging.archive as build_module

    real = build_module.write_zip
    app = source_project.root / "functions/beta/app.py"

    def write_zip_while_saving(dest, entries, **kw):
        entries = list(entries)
        if any(getattr(e, "path", None) == app for e in entries):
            app.write_text(app.read_text().replace("'beta'", "'BETA'"))  # same size
        return real(dest, entries, **kw)

    monkeypatch.setattr(build_module, "write_zip", write_zip_while_saving)
    out = source_project.build()
    result = out.results["function:beta"]
    assert result.status.value == "failed"
    assert result.error == ("the sources of function:beta changed while it was being built; "
                            "nothing was stored: run forge build again")
    monkeypatch.setattr(build_module, "write_zip", real)
    app.write_text(app.read_text().replace("'BETA'", "'beta'"))
    out = source_project.build()
    # the old content is built afresh, not served from a poisoned entry
    assert source_project.statuses(out)["function:beta"] == "built"


def test_a_new_discover_match_is_never_hidden_by_the_fast_path(project, capsys):
    project.config("""
[[discover]]
path = "services/*/handler"
name = "{parent}"
handler = "app.handler"
""")
    project.write("services/billing/handler/app.py", HANDLER)
    time.sleep(0.15)
    assert main(["-C", str(project.root), "build"]) == 0
    project.write("services/orders/handler/app.py", HANDLER)
    capsys.readouterr()
    assert main(["-C", str(project.root), "build"]) == 0
    assert "function:orders" in capsys.readouterr().err


def test_the_machines_uv_variables_never_reach_an_install(monkeypatch):
    monkeypatch.setenv("UV_RESOLUTION", "lowest")
    monkeypatch.setenv("UV_EXCLUDE_NEWER", "2020-01-01")
    monkeypatch.setenv("UV_INDEX_PRIVATE_PASSWORD", "s3cret")
    monkeypatch.setenv("UV_NATIVE_TLS", "1")
    env = isolated_installer_env()
    assert env["UV_RESOLUTION"] is None and env["UV_EXCLUDE_NEWER"] is None
    assert "UV_INDEX_PRIVATE_PASSWORD" not in env and "UV_NATIVE_TLS" not in env


@pytest.mark.skipif(not hasattr(os, "link"), reason="needs hard links")
def test_restored_artifacts_share_the_cached_file_without_touching_it(source_project):
    assert source_project.build().ok
    zp = source_project.zip_path("function", "alpha")
    shutil.rmtree(source_project.root / ".forge/build")
    out = source_project.build()
    assert source_project.statuses(out)["function:alpha"] == "cached"
    assert zp.stat().st_mode & 0o777 == 0o644
    assert zp.stat().st_nlink == 2  # the build dir and the cache: one copy on disk


def test_a_virtualenv_next_to_the_code_is_never_packaged(source_project):
    venv = source_project.root / "functions/beta/.venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    os.symlink("/usr/bin/python3", venv / "bin/python")  # would leave the source tree
    out = source_project.build()
    assert out.ok, [r.error for r in out.failures()]
    import zipfile

    with zipfile.ZipFile(source_project.zip_path("function", "beta")) as zf:
        assert not any(n.startswith(".venv") for n in zf.namelist())
