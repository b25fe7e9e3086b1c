"""Strip accounting, --explain-strip, secrets and size budgets, end to end."""

from __future__ import annotations


from lambdaforge.cli import main
from tests.e2e.conftest import LOCAL_INDEX


def test_strip_accounting_and_explain_listing(deps_project, capsys):
    deps_project.config(LOCAL_INDEX + """
[functions.fn]
source = "fn"
handler = "app.handler"
strip = ["standard", "no-docs"]

[strip-rules.no-docs]
exclude = ["*.md"]
keep = ["KEEP.md"]
""")
    deps_project.write("fn/app.py", "def handler(event, context):\n    return 1\n")
    deps_project.write("fn/tests/test_app.py", "def test():\n    assert True\n")
    deps_project.write("fn/NOTES.md", "# notes\n")
    deps_project.write("fn/KEEP.md", "# kept\n")
    deps_project.write("fn/requirements.txt", "dep-a\n")
    out = deps_project.build()
    assert out.ok, [r.error for r in out.failures()]
    stripped = out.results["function:fn"].output.stripped
    assert stripped == {"no-docs": {"files": 1, "bytes": 8}, "standard": {"files": 1, "bytes": 28}}
    names = deps_project.zip_names("function", "fn")
    assert "KEEP.md" in names and "NOTES.md" not in names and "tests/test_app.py" not in names

    assert main(["-C", str(deps_project.root), "build", "--explain-strip"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing == [
        "function:fn:",
        "  NOTES.md  (no-docs: *.md, 8 bytes)",
        "  tests/test_app.py  (standard: tests/, 28 bytes)",
        "  no-docs: 1 files, 8 bytes",
        "  standard: 1 files, 28 bytes",
    ]


def test_secret_looking_files_are_left_out_with_a_warning(source_project):
    from tests.support.secrets import certificate, private_key

    source_project.write("functions/beta/.env", "TOKEN=x\n")
    source_project.write("functions/beta/key.pem", private_key())
    source_project.write("functions/beta/ca.pem", certificate())
    out = source_project.build()
    assert out.ok
    names = source_project.zip_names("function", "beta")
    assert ".env" not in names and "key.pem" not in names and "ca.pem" in names
    warnings = out.results["function:beta"].warnings
    assert [w.split(":")[0] for w in warnings] == [".env", "key.pem"]


def test_max_size_budget_names_the_biggest_parts_and_the_rule_that_saves_most(project):
    import os

    project.config("""
[functions.big]
source = "big"
handler = "app.handler"
max-size = "100kB"
""")
    project.write("big/app.py", "def handler(event, context):\n    return 1\n")
    (project.root / "big/data").mkdir()
    (project.root / "big/data/blob.bin").write_bytes(os.urandom(150_000))
    project.write("big/docs/guide.md", "x" * 20_000)
    out = project.build()
    check = out.results["check:function:big"]
    assert check.status.value == "failed"
    assert "over its max-size of 100,000 bytes" in check.error
    assert "data" in check.error  # the biggest contributor is listed
    assert "strip rules `aggressive` would save" in check.error


def test_a_layers_check_counts_the_layer_once(project):
    """A layer was upstream of its own check and counted as its own layer too ("78.1 KiB
    unzipped with its layers (layer 39.1 KiB, layer la 39.1 KiB)"): one over half its
    max-size (or over 125 MiB, half Lambda's limit) failed and was removed."""
    project.config('[defaults]\nruntime = "python3.12"\n\n[layers.la]\nsource = "la"\nmax-size = "50kB"\n')
    project.write("la/big.py", "#" + "x" * 40_000 + "\n")  # 40,002 bytes
    out = project.build()
    assert out.ok, [r.error for r in out.failures()]
    assert project.zip_path("layer", "la").exists()
    project.write("la/big.py", "#" + "x" * 50_000 + "\n")  # over 50 kB on its own: fails
    out = project.build()
    error = out.results["check:layer:la"].error
    assert "over its max-size of 50,000 bytes" in error and "layer la" not in error


def test_a_layer_package_shadowing_the_handlers_namespace_package_fails_the_check(project):
    """A layer that gains ``acme/__init__.py`` makes the function's ``acme/app.py`` (no
    ``__init__.py``) unimportable on Lambda: the check is decided again when the layer
    changes, and fails (it was keyed without the layers, and its static check passed)."""
    project.config('[defaults]\nruntime = "python3.12"\n\n[layers.la]\nsource = "la"\n\n'
                   '[functions.fa]\nsource = "fa"\nhandler = "acme.app.handler"\nlayers = ["la"]\n')
    project.write("fa/acme/app.py", "def handler(event, context):\n    return 1\n")
    project.write("la/python/shared.py", "X = 1\n")
    assert project.build().ok
    project.write("la/python/acme/__init__.py", "")
    out = project.build()
    assert "the function's acme/ has no __init__.py" in out.results["check:function:fa"].error
    project.write("fa/acme/__init__.py", "")
    assert project.build().ok
