"""``forge validate``, ``forge config``, ``forge schema`` and the CLI's global behaviour."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lambdaforge import __version__, cli

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p.name for p in (REPO / "example-projects").iterdir() if (p / "lambdaforge.toml").is_file())


def forge(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(root: Path, text: str) -> Path:
    (root / "src" / "api").mkdir(parents=True, exist_ok=True)
    (root / "src" / "api" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    (root / "lambdaforge.toml").write_text(text)
    return root


GOOD = '[functions.api]\nsource = "src/api"\nhandler = "app.handler"\n'


@pytest.mark.parametrize("name", EXAMPLES)
def test_validate_passes_in_each_example_project(capsys, name: str) -> None:
    code, out, err = forge(capsys, "-C", str(REPO / "example-projects" / name), "validate")
    assert (code, err) == (0, "")
    assert out.startswith("lambdaforge.toml: ok (")


def test_the_reference_example_validates(capsys) -> None:
    code, out, err = forge(capsys, "-C", str(REPO), "-c", "lambdaforge.toml.example", "validate")
    assert (code, out, err) == (0, "lambdaforge.toml.example: ok (4 functions, 1 layer)\n", "")


def test_the_examples_cover_what_the_issue_asks_for() -> None:
    from lambdaforge.config import load_project

    mono = load_project(cwd=REPO / "example-projects" / "monorepo", env={})
    assert len(mono.functions) >= 3 and "shared" in mono.layers
    assert {f.architecture for f in mono.functions.values()} == {"x86_64", "arm64"}
    assert set(mono.strip_rules) - {"standard", "aggressive", "node-standard"}
    quick = load_project(cwd=REPO / "example-projects" / "quickstart", env={})
    assert (REPO / "example-projects/quickstart" / quick.functions["hello"].requirements).read_text().startswith("requests")
    team = load_project(cwd=REPO / "example-projects" / "team-standards", env={})
    assert len(team.config_files) == 2


def test_config_errors_exit_2_with_every_issue_and_no_traceback(capsys, tmp_path: Path) -> None:
    write(tmp_path, GOOD + 'handlr = "x"\n[defaults]\nminify = "yes"\n')
    code, out, err = forge(capsys, "-C", str(tmp_path), "validate")
    assert code == 2 and out == ""
    assert err == (
        "lambdaforge.toml:4: functions.api.handlr: unknown key (did you mean 'handler'?)\n"
        "lambdaforge.toml:6: defaults.minify: expected true or false, got 'yes'\n"
    )


def test_warnings_go_to_stderr_and_do_not_fail(capsys, tmp_path: Path) -> None:
    write(tmp_path, '[defaults]\nruntime = "nodejs20.x"\n[functions.api]\nsource = "src/api"\nhandler = "index.handler"\n')
    (tmp_path / "src" / "api" / "index.js").write_text("exports.handler = async () => 1;\n")
    code, out, err = forge(capsys, "-C", str(tmp_path), "validate")
    assert code == 0
    assert err == (
        "lambdaforge.toml:2: defaults.runtime: warning: runtime 'nodejs20.x' is deprecated by "
        "Lambda since 2026-04-30 (no security patches; Lambda will block creating, then "
        "updating, functions that use it); move to 'nodejs22.x' or later\n"
    )


def test_no_config_is_a_usage_error(capsys, tmp_path: Path) -> None:
    code, out, err = forge(capsys, "-C", str(tmp_path), "validate")
    assert code == 2
    assert err == (
        f"forge: error: no lambdaforge.toml in {tmp_path} or any parent directory "
        "(use -C DIR or -c FILE)\n"
    )


def test_usage_errors_exit_2(capsys) -> None:
    assert forge(capsys, "frobnicate")[0] == 2
    assert forge(capsys)[0] == 2
    assert forge(capsys, "-C", "/no/such/dir", "validate") == (
        2, "", "forge: error: -C /no/such/dir: not a directory\n"
    )


def test_version(capsys) -> None:
    assert forge(capsys, "--version") == (0, f"forge {__version__}\n", "")


def test_schema_prints_the_committed_schema(capsys) -> None:
    code, out, _ = forge(capsys, "schema")
    assert code == 0
    assert out == (REPO / "schemas" / "lambdaforge.schema.json").read_text()


def test_config_prints_effective_toml(capsys, tmp_path: Path) -> None:
    from lambdaforge.config.loader import tomllib

    write(tmp_path, '[project]\nname = "demo"\n[defaults]\nruntime = "python3.13"\n' + GOOD)
    code, out, _ = forge(capsys, "-C", str(tmp_path), "config")
    assert code == 0
    data = tomllib.loads(out)
    assert data["project"] == {"name": "demo", "cache-dir": ".forge/cache", "cache-salt": ""}
    assert data["functions"]["api"]["runtime"] == "python3.13"
    assert data["functions"]["api"]["handler"] == "app.handler"


def test_config_show_origin(capsys, tmp_path: Path) -> None:
    write(tmp_path, '[project]\nname = "demo"\n[defaults]\nruntime = "python3.13"\n' + GOOD)
    code, out, _ = forge(capsys, "-C", str(tmp_path), "config", "--show-origin")
    lines = out.splitlines()
    assert code == 0
    assert "lambdaforge.toml:2\tproject.name = \"demo\"" in lines
    assert "lambdaforge.toml:4\tfunctions.api.runtime = \"python3.13\"" in lines
    assert "lambdaforge.toml:7\tfunctions.api.handler = \"app.handler\"" in lines
    assert "<built-in>\tfunctions.api.architecture = \"x86_64\"" in lines


def test_config_json_with_origins(capsys, tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    code, out, _ = forge(capsys, "-C", str(tmp_path), "config", "--json", "--show-origin")
    data = json.loads(out)
    assert code == 0
    assert data["functions"]["api"]["requirements"] is None
    assert data["origins"]["functions.api.source"] == {
        "file": "lambdaforge.toml", "line": 2, "key": "functions.api.source"
    }


def test_config_file_option_is_relative_to_dash_c_dir(capsys, tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    (tmp_path / "lambdaforge.toml").rename(tmp_path / "other.toml")
    code, out, _ = forge(capsys, "-C", str(tmp_path), "-c", "other.toml", "validate")
    assert (code, out) == (0, "other.toml: ok (1 function, 0 layers)\n")


def test_unexpected_errors_show_a_traceback_only_with_verbose(capsys, monkeypatch, tmp_path) -> None:
    def boom(args):
        raise RuntimeError("kaput")

    monkeypatch.setattr(cli.config_cmds, "cmd_schema", boom)
    code, _, err = forge(capsys, "schema")
    assert (code, err) == (1, "forge: internal error: RuntimeError: kaput (run with --verbose for a traceback)\n")
    code, _, err = forge(capsys, "--verbose", "schema")
    assert code == 1 and "Traceback" in err and err.endswith("forge: internal error: RuntimeError: kaput\n")


def test_version_and_import_stay_free_of_heavy_modules() -> None:
    code = (
        "import sys, lambdaforge.cli as c\n"
        "heavy = [m for m in ('pydantic', 'networkx', 'rich', 'lambdaforge.config.models') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "try:\n    c.main(['--version'])\nexcept SystemExit:\n    pass\n"
        "assert 'pydantic' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_validate_asks_every_builder_about_every_function_at_once(capsys, tmp_path: Path) -> None:
    """The default ``Builder.validate_inputs``: what ``dependency_inputs`` would refuse."""
    (tmp_path / "lambdaforge.toml").write_text(
        '[defaults]\nruntime = "python3.12"\n'
        '[functions.a]\nsource = "a"\nhandler = "app.handler"\n'
        '[functions.b]\nsource = "b"\nhandler = "app.handler"\n')
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "app.py").write_text("def handler(e, c):\n    return 1\n")
        (tmp_path / name / "Pipfile").write_text('[packages]\nrequests = "*"\n')
    code, out, err = forge(capsys, "-C", str(tmp_path), "validate")
    assert (code, out) == (2, "")
    assert [line.split(":", 1)[0] for line in err.splitlines()] == ["a/Pipfile", "b/Pipfile"]
