"""``forge import sam``: SAM templates (YAML with short tags, or JSON) become a config that
validates and builds the functions, handlers, runtimes, architectures, layers and
environment the template declares; what cannot be translated is a comment and a note."""

from __future__ import annotations

import json
import textwrap
import tomllib
import zipfile
import shutil
from pathlib import Path

import pytest

from lambdaforge.cli import main
from lambdaforge.config import load_project
from lambdaforge.samimport import load_template, translate

POWERTOOLS = "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-arm64:7"

PYTHON_TEMPLATE = f"""
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    Architectures: [arm64]
    Timeout: 3
Resources:
  HelloWorldFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: hello_world/
      Handler: app.lambda_handler
      MemorySize: 256
      Layers:
        - !Ref SharedLayer
        - {POWERTOOLS}
      Environment:
        Variables:
          STAGE: dev
          RETRIES: 3
          TABLE_NAME: !Ref OrdersTable
  OldFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: old/
      Handler: app.lambda_handler
      Runtime: python3.8
  ImageFunction:
    Type: AWS::Serverless::Function
    Properties:
      PackageType: Image
  SharedLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: shared/
      CompatibleRuntimes: [python3.12]
      CompatibleArchitectures: [arm64]
    Metadata:
      BuildMethod: python3.12
  OrdersTable:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${{AWS::StackName}}-orders"
"""


def write_project(root: Path, template: str, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "template.yaml").write_text(textwrap.dedent(template))
    return root / "template.yaml"


@pytest.fixture
def sam_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FORGE_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "sam-app"
    write_project(root, PYTHON_TEMPLATE, {
        "hello_world/app.py": "import shared_util\ndef lambda_handler(event, context):\n    return 1\n",
        "old/app.py": "def lambda_handler(event, context):\n    return 2\n",
        "shared/shared_util.py": "X = 1\n",
    })
    return root


def test_round_trip_import_validate_build(sam_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-C", str(sam_project), "import", "sam"]) == 0
    err = capsys.readouterr().err
    assert "note: OldFunction: runtime python3.8 is retired: written as python3.12" in err
    assert "note: ImageFunction: PackageType Image is not built by lambdaforge: skipped" in err
    assert "note: HelloWorldFunction: environment TABLE_NAME is an intrinsic (!Ref OrdersTable)" in err
    config = sam_project / "lambdaforge.toml"
    text = config.read_text()
    assert "# deploy settings, not part of the build: MemorySize=256, Timeout=3" in text
    assert "# Runtime was python3.8, retired by Lambda on 2024-10-14: moved to python3.12" in text
    project = load_project(config)
    hello, old = project.functions["HelloWorldFunction"], project.functions["OldFunction"]
    assert (hello.source, hello.handler, hello.runtime, hello.architecture) == (
        "hello_world", "app.lambda_handler", "python3.12", "arm64")
    assert hello.layers == ("SharedLayer", "AWSLambdaPowertoolsPythonV3-python312-arm64")
    assert hello.environment == {"STAGE": "dev", "RETRIES": "3"}
    assert (old.runtime, old.architecture) == ("python3.12", "arm64")
    assert project.layers["SharedLayer"].source == "shared"
    assert project.layers["AWSLambdaPowertoolsPythonV3-python312-arm64"].arn == POWERTOOLS
    assert set(project.functions) == {"HelloWorldFunction", "OldFunction"}
    assert main(["-C", str(sam_project), "build"]) == 0
    assert (sam_project / ".forge/build/functions/HelloWorldFunction.zip").is_file()
    assert (sam_project / ".forge/build/layers/SharedLayer.zip").is_file()


def test_an_existing_config_is_not_replaced_without_force(sam_project: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    (sam_project / "lambdaforge.toml").write_text("# mine\n")
    assert main(["-C", str(sam_project), "import", "sam"]) == 2
    assert "lambdaforge.toml exists: pass --force to replace it" in capsys.readouterr().err
    assert (sam_project / "lambdaforge.toml").read_text() == "# mine\n"
    assert main(["-C", str(sam_project), "import", "sam", "--force"]) == 0


def test_esbuild_build_properties_and_a_makefile_build(tmp_path: Path) -> None:
    template = write_project(tmp_path, """
        Globals:
          Function:
            Runtime: nodejs22.x
        Resources:
          Api:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: api/
              Handler: app.lambdaHandler
            Metadata:
              BuildMethod: esbuild
              BuildProperties:
                Minify: true
                Target: es2022
                Sourcemap: false
                EntryPoints: [app.ts]
                External: [sharp]
                Loader: [".reference=json"]
                MainFields: module,main
                Banner: ["js=/* hi */"]
                OutExtension: [".js=.mjs"]
                Format: esm
          Native:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: native/
              Handler: bootstrap
              Runtime: provided.al2023
            Metadata:
              BuildMethod: makefile
    """, {})
    result = translate(load_template(template), tmp_path, tmp_path)
    data = tomllib.loads(result.text)
    assert data["functions"]["Api"] == {
        "source": "api", "handler": "app.lambdaHandler", "runtime": "nodejs22.x", "bundle": "esbuild",
        "minify": True, "target": "es2022", "sourcemap": False, "external": ["sharp"],
        "loader": {".reference": "json"}, "main-fields": ["module", "main"], "banner": "/* hi */",
        "out-extension": {".js": ".mjs"}, "format": "esm",
    }
    assert data["functions"]["Native"]["builder"] == "command"
    assert data["functions"]["Native"]["command"] == "make build-Native ARTIFACTS_DIR=$FORGE_OUTPUT"
    assert data["functions"]["Native"]["output"] == ".sam-artifacts"
    assert any("BuildMethod makefile" in n for n in result.notes)


def test_globals_merge_as_sam_merges_them(tmp_path: Path) -> None:
    """SAM merges a function's properties over ``Globals.Function``: environment variables
    key by key, ``Layers`` concatenated (Globals' first). A function with its own
    variables or layers lost the Globals' ones (SAM's documented example, TABLE_NAME)."""
    template = write_project(tmp_path, """
        Globals:
          Function:
            Runtime: python3.12
            CodeUri: src/
            Architectures: [arm64]
            Layers: [!Ref Common]
            Environment:
              Variables:
                TABLE_NAME: data-table
                STAGE: !Ref Stage
        Resources:
          Common:
            Type: AWS::Serverless::LayerVersion
            Properties:
              ContentUri: common/
          Extra:
            Type: AWS::Serverless::LayerVersion
            Properties:
              ContentUri: extra/
          HelloWorldFunction:
            Type: AWS::Serverless::Function
            Properties:
              Handler: app.hello
              Layers: [!Ref Extra]
              Environment:
                Variables:
                  MESSAGE: Hello From SAM
          ThumbnailFunction:
            Type: AWS::Serverless::Function
            Properties:
              Handler: app.thumb
              Architectures: [x86_64]
              Environment:
                Variables:
                  TABLE_NAME: thumbs
    """, {})
    result = translate(load_template(template), tmp_path, tmp_path)
    data = tomllib.loads(result.text)
    hello, thumb = data["functions"]["HelloWorldFunction"], data["functions"]["ThumbnailFunction"]
    assert hello["layers"] == ["Common", "Extra"]
    assert hello["environment"] == {"TABLE_NAME": "data-table", "MESSAGE": "Hello From SAM"}
    assert thumb.get("layers", data.get("defaults", {}).get("layers")) == ["Common"]
    assert thumb["environment"] == {"TABLE_NAME": "thumbs"}
    # the function's own architecture, not SAM's concatenation of both lists
    assert (hello["architecture"], thumb["architecture"]) == ("arm64", "x86_64")
    # the intrinsic from Globals is noted for both functions
    assert sum("environment STAGE is an intrinsic" in n for n in result.notes) == 2


def translate_one(tmp_path: Path, properties: str):
    """The translation of a template with one python3.12 function ``Fn`` in ``src/`` with
    ``properties`` (YAML lines) besides its code, handler and runtime."""
    template = write_project(tmp_path, """
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: src/
              Handler: app.handler
              Runtime: python3.12
    """.rstrip() + "\n" + textwrap.indent(textwrap.dedent(properties), " " * 14), {})
    return translate(load_template(template), tmp_path, tmp_path)


def test_entry_points_other_than_the_handlers_file_are_noted(tmp_path: Path) -> None:
    """SAM bundles ``EntryPoints``; forge bundles the handler's file: ``src/app.ts`` for
    handler ``app.lambdaHandler`` was dropped silently (forge then bundled ``app.ts``, or
    nothing). ``app.ts`` for that handler is the same file: nothing to say."""
    template = write_project(tmp_path, """
        Globals:
          Function:
            Runtime: nodejs22.x
            Handler: app.lambdaHandler
        Resources:
          Moved:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: a/}
            Metadata: {BuildMethod: esbuild, BuildProperties: {EntryPoints: [src/app.ts]}}
          Same:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: b/}
            Metadata: {BuildMethod: esbuild, BuildProperties: {EntryPoints: [./app.ts]}}
    """, {})
    result = translate(load_template(template), tmp_path, tmp_path)
    assert result.notes == ["Moved: EntryPoints ['src/app.ts'] is not the handler's file: check handler"]


def test_lists_and_maps_given_by_intrinsics_are_noted(tmp_path: Path) -> None:
    """``Layers: !Split [...]`` and ``Environment: !If [...]`` (legal CloudFormation) were an
    internal error (iterating an intrinsic); they are comments and notes."""
    result = translate_one(tmp_path, """
        Layers: !Split [",", !Ref LayerArns]
        Environment:
          Variables: !If [IsProd, {A: "1"}, {A: "2"}]
    """)
    fn = tomllib.loads(result.text)["functions"]["Fn"]
    assert "layers" not in fn and "environment" not in fn
    assert [n.split(" is an intrinsic")[0] for n in result.notes] == [
        'Fn: Layers !Split [",", "!Ref LayerArns"]',
        'Fn: Environment !If ["IsProd", {"A": "1"}, {"A": "2"}]',
    ]


def test_an_architecture_given_by_an_intrinsic_is_noted_not_guessed(tmp_path: Path) -> None:
    result = translate_one(tmp_path, "Architectures: [!Ref Arch]\n")
    assert "architecture" not in tomllib.loads(result.text)["functions"]["Fn"]
    assert "# Architectures: [!Ref Arch] (not translated: an intrinsic)" in result.text
    assert result.notes == ["Fn: Architectures [!Ref Arch] is an intrinsic: set architecture by hand"]


def test_a_json_template_and_paths_relative_to_another_output(tmp_path: Path) -> None:
    (tmp_path / "infra").mkdir()
    template = tmp_path / "infra" / "template.json"
    template.write_text(json.dumps({"Resources": {"Fn": {
        "Type": "AWS::Serverless::Function",
        "Properties": {"CodeUri": "../src", "Handler": "app.handler", "Runtime": "python3.13",
                       "Layers": [{"Ref": "NotHere"}],
                       "Environment": {"Variables": {"A": {"Fn::Sub": "${X}"}}}}}}}))
    result = translate(load_template(template), template.parent, tmp_path)
    data = tomllib.loads(result.text)
    assert data["functions"]["Fn"]["source"] == "src"
    assert "layers" not in data["functions"]["Fn"]
    assert ("# layer !Ref NotHere (not translated: not a SAM layer (AWS::Serverless::LayerVersion) "
            "of this template nor a literal ARN)") in result.text
    assert "# environment A = !Sub ${X} (not translated: an intrinsic)" in result.text


def test_a_broken_template_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "template.yaml").write_text("Resources: [unclosed\n")
    assert main(["-C", str(tmp_path), "import", "sam"]) == 2
    assert "not a valid YAML template" in capsys.readouterr().err
    assert main(["-C", str(tmp_path / "nowhere"), "import", "sam"]) == 2


def test_a_layer_is_built_for_its_build_architecture(tmp_path: Path) -> None:
    """``Metadata.BuildArchitecture`` is what ``sam build`` builds a layer for; the first of
    ``CompatibleArchitectures`` ([x86_64, arm64]) was taken instead: native code built for
    x86_64 in a layer meant for arm64 functions."""
    template = write_project(tmp_path, """
        Resources:
          Deps:
            Type: AWS::Serverless::LayerVersion
            Properties:
              ContentUri: deps/
              CompatibleRuntimes: [python3.12]
              CompatibleArchitectures: [x86_64, arm64]
            Metadata: {BuildMethod: python3.12, BuildArchitecture: arm64}
          Plain:
            Type: AWS::Serverless::LayerVersion
            Properties:
              ContentUri: plain/
              CompatibleArchitectures: [arm64]
            Metadata: {BuildMethod: python3.12}
    """, {})
    layers = tomllib.loads(translate(load_template(template), tmp_path, tmp_path).text)["layers"]
    assert layers["Deps"]["architecture"] == "arm64"
    assert layers["Plain"]["architecture"] == "arm64"  # no BuildArchitecture: as before


def test_inline_code_is_noted_and_skipped(tmp_path: Path) -> None:
    """A function whose code is ``InlineCode`` has nothing to build; it became ``source =
    "."`` (the whole template folder) without a word."""
    template = write_project(tmp_path, """
        Resources:
          Inline:
            Type: AWS::Serverless::Function
            Properties:
              InlineCode: "def handler(e, c): return 1"
              Handler: index.handler
              Runtime: python3.12
    """, {})
    result = translate(load_template(template), tmp_path, tmp_path)
    assert "Inline" not in tomllib.loads(result.text).get("functions", {})
    assert result.notes == ["Inline: InlineCode is code in the template, with nothing to build: skipped"]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_a_makefile_build_ships_only_what_it_writes_to_artifacts_dir(tmp_path: Path, monkeypatch) -> None:
    """SAM's ARTIFACTS_DIR is an empty folder: `cp app.py $(ARTIFACTS_DIR)` failed ('are the
    same file') with the whole scratch copy as the output, and a Makefile writing only
    `bootstrap` shipped the sources and the Makefile beside it."""
    template = write_project(tmp_path, """
        Resources:
          Py:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: py/, Handler: app.handler, Runtime: python3.12}
            Metadata: {BuildMethod: makefile}
          Sh:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: sh/, Handler: x, Runtime: provided.al2023}
            Metadata: {BuildMethod: makefile}
    """, {
        "py/app.py": "def handler(event, context):\n    return 1\n",
        "py/Makefile": "build-Py:\n\tcp *.py $(ARTIFACTS_DIR)\n",
        "sh/Makefile": "build-Sh:\n\tprintf '#!/bin/sh\\n' > $(ARTIFACTS_DIR)/bootstrap\n"
                       "\tchmod +x $(ARTIFACTS_DIR)/bootstrap\n",
        "sh/notes.txt": "not shipped\n",
    })
    monkeypatch.setenv("FORGE_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["-C", str(tmp_path), "import", "sam", str(template)]) == 0
    assert main(["-C", str(tmp_path), "build"]) == 0
    for name, expected in (("Py", ["app.py"]), ("Sh", ["bootstrap"])):
        with zipfile.ZipFile(tmp_path / ".forge/build/functions" / f"{name}.zip") as zf:
            assert zf.namelist() == expected


def test_what_sam_does_not_build_is_zipped_as_it_is(tmp_path: Path, monkeypatch) -> None:
    """A layer without Metadata.BuildMethod and a function with SkipBuild: SAM zips the folder
    as it is. Before, the layer's bin/ffmpeg went to python/bin/ffmpeg (not /opt/bin/ffmpeg)
    and its requirements.txt was installed into both."""
    template = write_project(tmp_path, """
        Resources:
          Tools:
            Type: AWS::Serverless::LayerVersion
            Properties: {ContentUri: tools/}
          Prebuilt:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: prebuilt/, Handler: app.handler, Runtime: python3.12,
                         Layers: [!Ref Tools]}
            Metadata: {SkipBuild: true}
          Zipped:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: build/fn.zip, Handler: app.handler, Runtime: python3.12}
          Gopher:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: prebuilt/, Handler: bootstrap, Runtime: provided.al2023}
            Metadata: {BuildMethod: go1.x}
          Child:
            Type: AWS::Serverless::Application
            Properties: {Location: child/template.yaml}
          Plain:
            Type: AWS::Lambda::LayerVersion
            Properties: {Content: plain/}
    """, {
        "tools/bin/ffmpeg": "#!/bin/sh\n",
        "tools/python/mylib/tests/__init__.py": "",  # imported by mylib: no strip rule here
        "tools/requirements.txt": "six\n",
        "prebuilt/app.py": "def handler(event, context):\n    return 1\n",
        "prebuilt/requirements.txt": "six\n",
        "build/fn.zip": "",
    })
    result = translate(load_template(template), tmp_path, tmp_path)
    notes = "\n".join(result.notes)
    assert "Tools: no Metadata.BuildMethod" in notes and "Prebuilt: Metadata.SkipBuild" in notes
    assert "Zipped: CodeUri build/fn.zip is an archive" in notes
    assert "# CodeUri: build/fn.zip is an archive, deployed as it is by SAM" in result.text
    assert "Child: a nested AWS::Serverless::Application (child/template.yaml)" in notes
    assert "Plain: an AWS::Lambda::LayerVersion (not a SAM layer)" in notes
    assert 'Gopher: BuildMethod go1.x has no builder here: set builder = "command"' in notes
    # The archive's function cannot be built from a zip: built without it.
    text = template.read_text()
    template.write_text(text[:text.index("  Zipped:")] + text[text.index("  Child:"):])
    assert "Gopher" not in template.read_text()
    monkeypatch.setenv("FORGE_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["-C", str(tmp_path), "import", "sam", str(template)]) == 0
    assert main(["-C", str(tmp_path), "build", "--no-check"]) == 0
    with zipfile.ZipFile(tmp_path / ".forge/build/layers/Tools.zip") as zf:
        files = [n for n in zf.namelist() if not n.endswith("/")]
    # /opt/bin/ffmpeg on Lambda; nothing installed, nothing stripped
    assert files == ["bin/ffmpeg", "python/mylib/tests/__init__.py"]
    with zipfile.ZipFile(tmp_path / ".forge/build/functions/Prebuilt.zip") as zf:
        files = [n for n in zf.namelist() if not n.endswith("/")]
    assert files == ["app.py"]  # six not installed (requirements files are never packaged)
