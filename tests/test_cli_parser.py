"""The ``forge`` argument parser: only the command being run gets its arguments (and its
module imported); what the user sees (help, usage errors) is as if all of them had."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lambdaforge.cli import COMMANDS, _command_in, build_parser, main


@pytest.mark.parametrize(("argv", "command"), [
    (["build"], "build"),
    (["-C", "build", "plan"], "plan"),  # -C's value is a directory named "build"
    (["-Cdir", "deploy", "--dry-run"], "deploy"),
    (["--verbose", "-c", "x.toml", "validate"], "validate"),
    (["--", "graph"], "graph"),
    (["--verbose"], None),
    ([], None),
])
def test_the_command_is_found_as_argparse_reads_it(argv: list[str], command: str | None) -> None:
    assert _command_in(argv) == command


def test_a_command_gets_its_arguments_and_nothing_else_is_imported() -> None:
    code = ("import sys\n"
            "from lambdaforge.cli import build_parser\n"
            "args = build_parser(['build', '--jobs', '3']).parse_args(['build', '--jobs', '3'])\n"
            "print(args.jobs, sorted(m for m in sys.modules if m.startswith('lambdaforge.cli.')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split(" ", 1)
    assert out[0] == "3"
    assert "build_cmds" in out[1] and "deploy_cmds" not in out[1] and "watch_cmd" not in out[1]


def test_help_lists_every_command_and_a_typo_gets_argparse_s_message(capsys) -> None:
    assert main(["--help"]) == 0
    listed = capsys.readouterr().out
    assert all(f"    {name} " in listed for name in COMMANDS)
    assert main(["bild"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'bild'" in err and "'build'" in err and "'export'" in err


def test_the_full_parser_knows_every_commands_arguments() -> None:
    parser = build_parser()
    assert parser.parse_args(["deploy", "--dry-run"]).dry_run
    assert parser.parse_args(["import", "sam", "--force"]).force
    assert parser.parse_args(["cache", "prune", "--max-size", "1GB"]).max_size == "1GB"
