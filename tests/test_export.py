"""``forge export terraform|sam``: the built zips as Terraform JSON and a SAM template, whose
values are the manifest's and the zips' own (``source_code_hash`` = base64 SHA-256 of the
zip, Lambda's ``CodeSha256``), and which ``forge import sam`` reads back."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import textwrap
import tomllib
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import yaml

from lambdaforge.cli import main

TOOLS = "arn:aws:lambda:eu-west-1:123456789012:layer:tools:3"
CONFIG = f"""
[project]
name = "shop"

[layers.shared-lib]
source = "layers/shared"
runtime = "python3.12"
architecture = "arm64"

[layers.tools]
arn = "{TOOLS}"
architecture = "arm64"

[functions.orders-api]
source = "functions/api"
handler = "app.handler"
runtime = "python3.12"
architecture = "arm64"
layers = ["shared-lib", "tools"]
memory = 256
timeout = 10
environment = {{ TABLE = "orders", ON = "1" }}

[functions.worker]
source = "functions/worker"
handler = "jobs.run"
runtime = "python3.13"
"""


def forge(root: Path, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["-C", str(root), *argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two functions, a built layer and an ARN layer; not built yet."""
    import os

    root = tmp_path_factory.mktemp("export") / "shop"
    files = {
        "lambdaforge.toml": textwrap.dedent(CONFIG).lstrip(),
        "layers/shared/python/shared.py": "VALUE = 1\n",
        "functions/api/app.py": "def handler(event, context):\n    return 1\n",
        "functions/worker/jobs.py": "def run(event, context):\n    return 2\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    old = os.environ.get("FORGE_CACHE_DIR")
    os.environ["FORGE_CACHE_DIR"] = str(root.parent / "cache")
    yield root
    if old is None:
        os.environ.pop("FORGE_CACHE_DIR", None)
    else:
        os.environ["FORGE_CACHE_DIR"] = old


def code_sha256(path: Path) -> str:
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


def test_terraform_builds_first_and_describes_each_zip(shop: Path) -> None:
    code, out, err = forge(shop, "export", "terraform", "-o", "infra/forge.json")
    assert code == 0, err
    assert "built  function:orders-api" in err  # nothing was built before: export built it
    data = json.loads((shop / "infra/forge.json").read_text())
    manifest = {a["name"]: a for a in json.loads(
        (shop / ".forge/build/manifest.json").read_text())["artifacts"]}
    api = data["functions"]["orders-api"]
    zip_path = (shop / "infra" / api["filename"]).resolve()
    assert zip_path == (shop / manifest["orders-api"]["path"]).resolve()
    assert api["filename"] == "../.forge/build/functions/orders-api.zip"
    assert api["source_code_hash"] == manifest["orders-api"]["code_sha256"] == code_sha256(zip_path)
    assert (api["handler"], api["runtime"], api["architectures"]) == (
        "app.handler", "python3.12", ["arm64"])
    assert (api["memory_size"], api["timeout"]) == (256, 10)
    assert api["environment"] == {"variables": {"ON": "1", "TABLE": "orders"}}
    layer = data["layers"]["shared-lib"]
    assert layer["source_code_hash"] == code_sha256(shop / "infra" / layer["filename"])
    assert layer["compatible_runtimes"] == ["python3.12"]
    assert layer["compatible_architectures"] == ["arm64"]
    assert api["layers"] == [
        {"name": "shared-lib", "filename": layer["filename"],
         "source_code_hash": layer["source_code_hash"]},
        {"arn": TOOLS}]
    worker = data["functions"]["worker"]
    assert "memory_size" not in worker and "environment" not in worker and worker["layers"] == []
    assert list(data["functions"]) == sorted(data["functions"])

    # On stdout, paths are absolute; an up-to-date build prints nothing; same document.
    code, out, err = forge(shop, "export", "terraform")
    assert code == 0 and err == ""
    again = json.loads(out)
    assert again["functions"]["orders-api"]["filename"] == str(zip_path)
    assert {k: v["source_code_hash"] for k, v in again["functions"].items()} == \
        {k: v["source_code_hash"] for k, v in data["functions"].items()}
    code, out2, _ = forge(shop, "export", "terraform")
    assert out2 == out  # deterministic


def test_sam_template_parses_and_imports_back(shop: Path) -> None:
    code, _, err = forge(shop, "export", "sam", "-o", "template.yaml")
    assert code == 0, err
    template = yaml.safe_load((shop / "template.yaml").read_text())
    resources = template["Resources"]
    api = resources["ordersApi"]
    assert api["Type"] == "AWS::Serverless::Function"
    props = api["Properties"]
    assert props["CodeUri"] == ".forge/build/functions/orders-api.zip"
    assert api["Metadata"]["lambdaforge"]["code_sha256"] == code_sha256(shop / props["CodeUri"])
    assert props["Layers"] == [{"Ref": "sharedLib"}, TOOLS]
    assert props["Environment"] == {"Variables": {"ON": "1", "TABLE": "orders"}}
    assert (props["MemorySize"], props["Timeout"]) == (256, 10)
    layer = resources["sharedLib"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["ContentUri"] == ".forge/build/layers/shared-lib.zip"

    # forge import sam reads it back: the same handlers, runtimes and architectures.
    forge(shop, "import", "sam", "template.yaml", "-o", "imported/lambdaforge.toml")
    imported = tomllib.loads((shop / "imported/lambdaforge.toml").read_text())
    config = tomllib.loads((shop / "lambdaforge.toml").read_text())
    logical = {"orders-api": "ordersApi", "worker": "worker"}
    for name, spec in config["functions"].items():
        back = imported["functions"][logical[name]]
        assert back["handler"] == spec["handler"]
        assert back["runtime"] == spec["runtime"]
        assert back.get("architecture", imported.get("defaults", {}).get("architecture", "x86_64")) \
            == spec.get("architecture", "x86_64")
    assert imported["functions"]["ordersApi"]["layers"] == ["sharedLib", "tools"]
    assert imported["layers"]["tools"]["arn"] == TOOLS


def test_a_failed_build_exports_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORGE_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "fn").mkdir()
    (tmp_path / "lambdaforge.toml").write_text(
        '[project]\nname = "x"\n[functions.api]\nsource = "fn"\nhandler = "app.handler"\n'
        'runtime = "python3.12"\n')
    code, out, err = forge(tmp_path, "export", "sam", "-o", "t.yaml")
    assert code == 1 and out == "" and not (tmp_path / "t.yaml").exists()
    assert "nothing was exported" in err
    code, _, err = forge(tmp_path, "export", "terraform", "nope")
    assert code == 2 and "no function named 'nope'" in err


def test_logical_ids_are_alphanumeric_and_unique() -> None:
    from lambdaforge.export import logical_ids

    ids = logical_ids([("function", "orders-api"), ("function", "orders_api"),
                       ("layer", "orders-api"), ("function", "x")])
    assert ids[("function", "orders-api")] == "ordersApi"
    assert len(set(ids.values())) == 4
    assert all(v.isalnum() for v in ids.values())
