"""Build scenarios: build, change one thing, build again, assert what ran and why."""

from __future__ import annotations

import json
import os
import zipfile

from lambdaforge.build import BuildOptions, BuildSession
from lambdaforge.config import load_project


def test_first_build_builds_everything_and_writes_zips(source_project):
    out = source_project.build()
    assert out.ok, out.failures()
    st = source_project.statuses(out)
    assert st["function:alpha"] == st["function:beta"] == st["layer:shared"] == "built"
    with zipfile.ZipFile(source_project.zip_path("function", "alpha")) as zf:
        names = zf.namelist()
    # handler at the root; tests/ stripped by the standard rules
    assert "app.py" in names and "helpers.py" in names
    assert not any(n.startswith("tests/") for n in names)
    with zipfile.ZipFile(source_project.zip_path("layer", "shared")) as zf:
        assert "python/shared_util.py" in zf.namelist()


def test_noop_build_rewrites_nothing(source_project):
    source_project.build()
    zips = [source_project.zip_path("function", n) for n in ("alpha", "beta")]
    zips.append(source_project.zip_path("layer", "shared"))
    manifest = source_project.root / ".forge/build/manifest.json"
    before = {p: p.stat().st_mtime_ns for p in [*zips, manifest]}
    out = source_project.build()
    assert set(source_project.statuses(out).values()) == {"up-to-date"}
    assert {p: p.stat().st_mtime_ns for p in before} == before


def test_touch_without_change_rebuilds_nothing(source_project):
    source_project.build()
    app = source_project.root / "functions/alpha/app.py"
    os.utime(app, ns=(app.stat().st_atime_ns, app.stat().st_mtime_ns + 5_000_000_000))
    out = source_project.build()
    assert set(source_project.statuses(out).values()) == {"up-to-date"}


def test_one_edited_file_rebuilds_exactly_its_function(source_project):
    source_project.build()
    source_project.write("functions/beta/app.py", "def handler(event, context):\n    return 'B'\n")
    out = source_project.build()
    st = source_project.statuses(out)
    assert st["function:beta"] == "built"
    assert st["function:alpha"] == "up-to-date"
    assert st["layer:shared"] == "up-to-date"
    assert "file changed: app.py" in out.results["function:beta"].reasons


def test_editing_a_layers_code_rebuilds_it_and_rechecks_its_dependents(source_project):
    source_project.build()
    function_zip = source_project.zip_path("function", "alpha")
    mtime = function_zip.stat().st_mtime_ns
    source_project.write("layers/shared/shared_util.py", "def util():\n    return 43\n")
    out = source_project.build()
    st = source_project.statuses(out)
    assert st["layer:shared"] == "built"
    # The function's zip cannot change (the layer's code is not in it): early cutoff. Nor
    # can its check's verdict: the handler is in its own zip, and without the import smoke
    # test nothing else of the layer is read but its size, which is applied afresh.
    assert st["function:alpha"] == "up-to-date"
    assert function_zip.stat().st_mtime_ns == mtime
    assert st["check:function:alpha"] == "up-to-date"
    assert st["function:beta"] == st["check:function:beta"] == "up-to-date"


def test_a_layer_growing_over_a_functions_budget_fails_its_up_to_date_check(source_project):
    text = (source_project.root / "lambdaforge.toml").read_text()
    source_project.config(text.replace('layers = ["shared"]', 'layers = ["shared"]\nmax-size = "2KB"'))
    assert source_project.build().ok
    source_project.write("layers/shared/big.py", "# " + "x" * 4000 + "\n")
    out = source_project.build()
    st = source_project.statuses(out)
    assert st["layer:shared"] == "built" and st["function:alpha"] == "up-to-date"
    assert st["check:function:alpha"] == "failed"
    assert "max-size" in out.results["check:function:alpha"].error
    assert not source_project.zip_path("function", "alpha").exists()  # a blocking check
    source_project.write("layers/shared/big.py", "# small\n")
    out = source_project.build()
    assert out.ok and source_project.zip_path("function", "alpha").exists()


def test_a_handler_from_a_layer_is_checked_again_when_the_layer_changes(source_project):
    text = (source_project.root / "lambdaforge.toml").read_text()
    source_project.config(text.replace('handler = "app.handler"\nlayers', 'handler = "shared_util.util"\nlayers'))
    assert source_project.build().ok
    source_project.write("layers/shared/shared_util.py", "def other():\n    return 43\n")
    out = source_project.build()
    assert source_project.statuses(out)["check:function:alpha"] == "failed"
    assert "defines no `util`" in out.results["check:function:alpha"].error


def test_the_import_smoke_test_reads_the_layers_so_it_runs_again(source_project):
    assert source_project.build(smoke=True).ok
    source_project.write("layers/shared/shared_util.py", "def util():\n    return 44\n")
    out = source_project.build(smoke=True)
    assert source_project.statuses(out)["check:function:alpha"] == "built"
    assert any(r.startswith("upstream changed: layer:shared")
               for r in out.results["check:function:alpha"].reasons)


def test_reverting_a_change_is_a_cache_hit(source_project):
    source_project.build()
    original = (source_project.root / "functions/beta/app.py").read_text()
    first = source_project.zip_path("function", "beta").read_bytes()
    source_project.write("functions/beta/app.py", "def handler(event, context):\n    return 'B'\n")
    source_project.build()
    source_project.write("functions/beta/app.py", original)
    out = source_project.build()
    assert source_project.statuses(out)["function:beta"] == "cached"
    assert source_project.zip_path("function", "beta").read_bytes() == first


def test_renaming_a_file_or_flipping_its_exec_bit_rebuilds(source_project):
    source_project.build()
    root = source_project.root / "functions/alpha"
    (root / "helpers.py").rename(root / "helpers2.py")
    out = source_project.build()
    reasons = out.results["function:alpha"].reasons
    assert "file added: helpers2.py" in reasons and "file removed: helpers.py" in reasons
    (root / "helpers2.py").chmod(0o755)
    out = source_project.build()
    assert source_project.statuses(out)["function:alpha"] == "built"
    assert "exec bit changed: helpers2.py" in out.results["function:alpha"].reasons
    with zipfile.ZipFile(source_project.zip_path("function", "alpha")) as zf:
        mode = zf.getinfo("helpers2.py").external_attr >> 16
    assert mode & 0o777 == 0o755


def test_clean_build_in_another_directory_is_byte_identical(source_project, tmp_path, monkeypatch):
    import shutil

    source_project.build()
    other = tmp_path / "elsewhere" / "checkout"
    shutil.copytree(source_project.root, other, ignore=shutil.ignore_patterns(".forge"))
    monkeypatch.setenv("FORGE_CACHE_DIR", str(tmp_path / "other-cache"))
    session = BuildSession(load_project(other / "lambdaforge.toml"), BuildOptions(jobs=2))
    assert session.run().ok
    for rel in ("functions/alpha.zip", "functions/beta.zip", "layers/shared.zip"):
        assert (other / ".forge/build" / rel).read_bytes() == (
            source_project.root / ".forge/build" / rel).read_bytes()


def test_manifest_records_code_sha256_as_lambda_reports_it(source_project):
    import base64
    import hashlib

    source_project.build()
    manifest = json.loads((source_project.root / ".forge/build/manifest.json").read_text())
    rec = {a["name"]: a for a in manifest["artifacts"]}["alpha"]
    data = source_project.zip_path("function", "alpha").read_bytes()
    assert rec["code_sha256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert rec["sha256"] == hashlib.sha256(data).hexdigest()
    assert rec["size"] == len(data)
    assert rec["handler"] == "app.handler" and rec["layers"] == ["shared"]
    assert rec["path"] == ".forge/build/functions/alpha.zip"


def test_building_one_name_builds_it_and_what_it_needs_only(source_project):
    out = source_project.build("alpha")
    assert set(out.results) == {"layer:shared", "function:alpha", "check:layer:shared",
                                "check:function:alpha"}


def test_failure_of_one_target_leaves_its_siblings_built(source_project):
    source_project.write("functions/beta/app.py", "def other(event, context):\n    return 1\n")
    out = source_project.build()
    st = source_project.statuses(out)
    assert st["check:function:beta"] == "failed"
    assert st["function:alpha"] == "built" and st["check:function:alpha"] == "built"
    assert "handler" in out.results["check:function:beta"].error


def test_the_stat_cache_forgets_deleted_files(source_project, later_clock):
    from lambdaforge.statcache import StatCache

    source_project.build()  # (later_clock: a file changed moments ago is never memoised)
    state = source_project.root / ".forge/state/statcache"
    assert "functions/alpha/helpers.py" in StatCache.load(state)
    (source_project.root / "functions/alpha/helpers.py").unlink()
    source_project.build()
    assert "functions/alpha/helpers.py" not in StatCache.load(state)


def test_a_handler_withheld_as_a_secret_keeps_its_check_keyed_on_the_layers(source_project):
    """The check's key leaves the layers out only when the handler's file is in the zip:
    one withheld for holding a private key is looked for in the layers, so a layer change
    must re-check it (here: the layer gains the module, and the verdict changes)."""
    from tests.support.secrets import private_key

    source_project.write("functions/alpha/app.py",
                         f"KEY = '''{private_key()}'''\ndef handler(event, context):\n    return 1\n")
    out = source_project.build()
    assert source_project.statuses(out)["check:function:alpha"] == "failed"
    source_project.write("layers/shared/app.py", "def handler(event, context):\n    return 2\n")
    out = source_project.build()
    assert source_project.statuses(out)["check:function:alpha"] == "built"
    source_project.write("layers/shared/app.py", "def other(event, context):\n    return 2\n")
    out = source_project.build()
    assert source_project.statuses(out)["check:function:alpha"] == "failed"
