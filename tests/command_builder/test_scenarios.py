"""Build scenarios of ``builder = "command"``: build, change one thing, build again, and
assert which targets ran (and whether the command did), ninja ``BuildWithLogTest`` style."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest

from tests.command_builder.conftest import run_count
from tests.e2e.conftest import ProjectDir
from tests.support.elf import make_elf

INSTALL = "install"  # the command's run: the one install target of the project


def statuses(project: ProjectDir, outcome) -> dict[str, str]:
    """Target statuses with the install target's hash id shortened to ``install``."""
    return {("install" if tid.startswith("install:") else tid): status
            for tid, status in project.statuses(outcome).items()}


def tree(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` outside ``.forge``, with its content."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".forge" not in p.relative_to(root).parts}


def error_of(outcome, prefix: str) -> str:
    """The error of the one failed target whose id starts with ``prefix``."""
    (failed,) = [r for r in outcome.failures() if r.target_id.startswith(prefix)]
    return failed.error


ALL_BUILT = {INSTALL: "built", "function:hello": "built", "check:function:hello": "built"}
ALL_UP_TO_DATE = {INSTALL: "up-to-date", "function:hello": "up-to-date",
                  "check:function:hello": "up-to-date"}


def test_a_shell_script_makes_an_executable_bootstrap(script_project: ProjectDir, runs: Path) -> None:
    before = tree(script_project.root)
    outcome = script_project.build()
    assert outcome.ok, outcome.failures()
    assert statuses(script_project, outcome) == ALL_BUILT
    assert run_count(runs) == 1
    with zipfile.ZipFile(script_project.zip_path("function", "hello")) as zf:
        assert sorted(zf.namelist()) == ["bootstrap", "message.txt"]
        assert zf.read("bootstrap") == b"#!/bin/sh\necho hello\n"
        assert zf.read("message.txt") == b"A\n"
        assert stat.S_IMODE(zf.getinfo("bootstrap").external_attr >> 16) == 0o755
        assert stat.S_IMODE(zf.getinfo("message.txt").external_attr >> 16) == 0o644
    # The command ran on a copy: the user's tree is exactly as it was.
    assert tree(script_project.root) == before


def test_unchanged_inputs_are_up_to_date_and_restored_from_the_cache(
        script_project: ProjectDir, runs: Path) -> None:
    first = script_project.build()
    assert statuses(script_project, script_project.build()) == ALL_UP_TO_DATE
    script_project.zip_path("function", "hello").unlink()
    again = script_project.build()
    assert statuses(script_project, again)["function:hello"] == "cached"
    assert run_count(runs) == 1
    assert again.results["function:hello"].output.sha256 == first.results["function:hello"].output.sha256


@pytest.mark.parametrize("change", ["input", "new input", "script", "exec bit"])
def test_a_changed_input_reruns_the_command(script_project: ProjectDir, runs: Path, change: str) -> None:
    script_project.build()
    if change == "input":
        script_project.write("fn/src/a.txt", "B\n")
    elif change == "new input":
        script_project.write("fn/src/b.txt", "B\n")
    elif change == "script":
        script_project.write("fn/build.sh", "true\n" + (script_project.root / "fn/build.sh").read_text())
    else:
        (script_project.root / "fn/src/a.txt").chmod(0o755)
    outcome = script_project.build()
    assert statuses(script_project, outcome) == ALL_BUILT
    assert run_count(runs) == 2
    reasons = [r for tid, res in outcome.results.items() if tid.startswith("install:") for r in res.reasons]
    # An install target's id is its canonical inputs, file list included: another set of
    # input files is another install target, as another requirements list is.
    assert reasons == ({"input": ["file changed: fn/src/a.txt"],
                        "new input": ["file added: fn/src/b.txt"],
                        "script": ["file changed: fn/build.sh"],
                        "exec bit": ["exec bit changed: fn/src/a.txt"]}[change])


@pytest.mark.parametrize(("old", "new"), [
    ('command = "sh build.sh"', 'command = ["sh", "build.sh"]'),
    ('GREETING = "hello"', 'GREETING = "bonjour"'),
])
def test_a_changed_command_or_env_value_reruns_it(script_project: ProjectDir, runs: Path,
                                                  old: str, new: str) -> None:
    script_project.build()
    config = script_project.root / "lambdaforge.toml"
    config.write_text(config.read_text().replace(old, new))
    outcome = script_project.build()
    assert statuses(script_project, outcome) == ALL_BUILT
    assert run_count(runs) == 2


def test_a_file_outside_the_inputs_rebuilds_nothing(script_project: ProjectDir, runs: Path) -> None:
    script_project.build()
    script_project.write("fn/README.md", "edited\n")
    script_project.write("fn/notes/new.txt", "new file, not an input\n")
    assert statuses(script_project, script_project.build()) == ALL_UP_TO_DATE
    assert run_count(runs) == 1


def test_the_command_sees_a_clean_environment(project: ProjectDir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CFLAGS", "-O0")  # a machine's setting must not leak into outputs
    monkeypatch.setenv("GOPATH", "/somewhere/go")
    monkeypatch.setenv("LANG", "de_DE.UTF-8")
    project.config("""
        [functions.env]
        source = "fn"
        runtime = "provided.al2"
        architecture = "arm64"
        builder = "command"
        handler = "bootstrap"
        command = 'env | sort > "$FORGE_OUTPUT/env.txt"; printf x > bootstrap; chmod +x bootstrap'
        env = { GOOS = "linux" }
        pass-env = ["GOPATH", "NOT_SET_HERE"]
    """)
    project.write("fn/.keep", "")
    outcome = project.build()
    assert outcome.ok, outcome.failures()
    with zipfile.ZipFile(project.zip_path("function", "env")) as zf:
        env = dict(line.split("=", 1) for line in zf.read("env.txt").decode().splitlines())
        assert sorted(zf.namelist()) == [".keep", "bootstrap", "env.txt"]
    out = env.pop("FORGE_OUTPUT")
    assert not out.startswith(str(project.root)) and os.path.isabs(out)
    for shell_own in ("PWD", "SHLVL", "_", "OLDPWD"):
        env.pop(shell_own, None)
    assert env == {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], "LANG": "C.UTF-8",
                   "GOOS": "linux", "GOPATH": "/somewhere/go", "FORGE_ARCH": "arm64",
                   "FORGE_RUNTIME": "provided.al2"}


def test_a_failing_command_fails_its_target_with_the_last_lines_and_exit_code(
        script_project: ProjectDir) -> None:
    lines = "".join(f"echo line {i}\n" for i in range(30))
    script_project.write("fn/build.sh", lines + "echo 'error: boom' >&2\nexit 3\n")
    outcome = script_project.build()
    assert not outcome.ok
    assert statuses(script_project, outcome) == {
        INSTALL: "failed", "function:hello": "skipped", "check:function:hello": "skipped"}
    shown = "".join(f"  line {i}\n" for i in range(6, 30))
    assert error_of(outcome, "install:") == (
        "command failed with exit code 3: sh build.sh (in a copy of fn/)\n"
        f"(last 25 of 31 lines)\n{shown}  error: boom"
    )


def test_a_command_writing_nothing_is_an_error(script_project: ProjectDir) -> None:
    script_project.write("fn/build.sh", "echo nothing to do\n")
    outcome = script_project.build()
    assert error_of(outcome, "install:") == (
        "the command wrote nothing into `output` (out/): sh build.sh (set `output` to the "
        "directory it writes, or write to $FORGE_OUTPUT)"
    )


def test_a_missing_bootstrap_fails_the_check(script_project: ProjectDir) -> None:
    script_project.write("fn/build.sh", 'echo "#!/bin/sh" > "$FORGE_OUTPUT/start"\n')
    outcome = script_project.build()
    assert statuses(script_project, outcome) == {
        INSTALL: "built", "function:hello": "built", "check:function:hello": "failed"}
    assert error_of(outcome, "check:") == (
        "no `bootstrap` at the root of the zip: provided.al2023 starts an executable named "
        "bootstrap; the zip's top level has start"
    )


def test_a_bootstrap_without_its_execute_bit_fails_the_check(script_project: ProjectDir) -> None:
    script_project.write("fn/build.sh", 'echo "#!/bin/sh" > "$FORGE_OUTPUT/bootstrap"\n')
    outcome = script_project.build()
    assert error_of(outcome, "check:") == (
        "`bootstrap` in the zip is not executable (mode 644): Lambda cannot start it; make "
        "the command `chmod +x` it"
    )


def test_a_bootstrap_from_a_layer_will_do(project: ProjectDir) -> None:
    project.config("""
        [defaults]
        runtime = "provided.al2023"
        builder = "command"

        [layers.runtime]
        source = "runtime"
        command = "printf '#!/bin/sh' > bootstrap && chmod 755 bootstrap"
        exclude = ["*.md"]

        [functions.script]
        source = "fn"
        handler = "handler.sh"
        command = ["cp", "handler.sh.in", "handler.sh"]
        layers = ["runtime"]
    """)
    project.write("runtime/README.md", "the layer's runtime\n")
    project.write("fn/handler.sh.in", "echo hi\n")
    outcome = project.build()
    assert outcome.ok, outcome.failures()
    assert project.zip_names("layer", "runtime") == {"bootstrap"}
    assert project.zip_names("function", "script") == {"handler.sh", "handler.sh.in"}


def test_a_wrong_architecture_bootstrap_fails_the_native_check(project: ProjectDir) -> None:
    project.config("""
        [functions.native]
        source = "fn"
        runtime = "provided.al2023"
        builder = "command"
        handler = "bootstrap"
        command = "cp prebuilt/app bootstrap && chmod +x bootstrap && rm -r prebuilt"
    """)
    (project.root / "fn/prebuilt").mkdir(parents=True)
    (project.root / "fn/prebuilt/app").write_bytes(make_elf("aarch64"))
    outcome = project.build()
    assert error_of(outcome, "check:") == (
        "bootstrap: built for aarch64 but the function is x86_64; use a build for x86_64 "
        '(a wheel tagged manylinux_*_x86_64) or set architecture = "arm64"'
    )


def test_a_too_new_glibc_fails_the_native_check_on_al2(project: ProjectDir) -> None:
    project.config("""
        [functions.native]
        source = "fn"
        runtime = "provided.al2"
        builder = "command"
        handler = "bootstrap"
        command = "cp app.so lib.so"
        inputs = ["app.so"]
        output = "."
        exclude = ["app.so"]
    """)
    project.write("fn/bootstrap", "#!/bin/sh\n", mode=0o755)
    (project.root / "fn/app.so").write_bytes(make_elf("x86_64", ("GLIBC_2.17", "GLIBC_2.34")))
    outcome = project.build()
    assert "lib.so: needs glibc 2.34 but provided.al2 (Amazon Linux 2) has glibc 2.26" in error_of(outcome, "check:")
    # A zip that failed its checks is not left in .forge/build; built without checks it is
    # there, and `inputs` chose what was copied: bootstrap was not, so neither is it there.
    assert not project.zip_path("function", "native").exists()
    assert project.build(checks=False).ok
    assert project.zip_names("function", "native") == {"lib.so"}


def test_a_python_function_built_by_a_command_gets_the_python_handler_check(project: ProjectDir) -> None:
    project.config("""
        [functions.py]
        source = "fn"
        runtime = "python3.12"
        builder = "command"
        handler = "app.handler"
        command = "mkdir -p dist && sed 's/main/handler/' main.py > dist/app.py"
        output = "dist"
    """)
    project.write("fn/main.py", "def main(event, context):\n    return 1\n")
    outcome = project.build()
    assert outcome.ok, outcome.failures()
    assert project.zip_names("function", "py") == {"app.py"}
    project.write("fn/main.py", "def other(event, context):\n    return 1\n")
    outcome = project.build()
    assert error_of(outcome, "check:") == "handler 'app.handler': app.py defines no `handler` at module level"


def test_an_edited_input_after_planning_is_never_stored(script_project: ProjectDir) -> None:
    from lambdaforge.build import BuildOptions, BuildSession
    from lambdaforge.config import load_project

    session = BuildSession(load_project(script_project.root / "lambdaforge.toml"), BuildOptions(jobs=1))
    script_project.write("fn/src/a.txt", "edited after the graph was made, longer\n")
    outcome = session.run()
    assert error_of(outcome, "install:") == (
        "fn/src/a.txt changed while it was being built; nothing was stored: run forge build again"
    )
    assert script_project.build().ok


def test_an_input_removed_before_it_is_copied_is_never_stored(tmp_path: Path) -> None:
    from lambdaforge.builders.command.run import copy_inputs
    from lambdaforge.errors import BuildError

    (tmp_path / "fn").mkdir()
    (tmp_path / "fn/kept.txt").write_text("x")
    with pytest.raises(BuildError) as info:
        copy_inputs(tmp_path, "fn", ["fn/kept.txt", "fn/gone.txt"], tmp_path / "copy",
                    {"fn/gone.txt": (1, 1)})
    assert str(info.value) == (
        "fn/gone.txt changed while it was being built; nothing was stored: run forge build again"
    )
    assert (tmp_path / "copy/kept.txt").read_text() == "x"


def test_a_program_that_cannot_run_is_a_failure_not_a_crash(script_project: ProjectDir) -> None:
    config = script_project.root / "lambdaforge.toml"
    config.write_text(config.read_text().replace('command = "sh build.sh"', 'command = ["./build.sh"]'))
    outcome = script_project.build()  # build.sh has no execute bit
    assert error_of(outcome, "install:") == (
        "command failed with exit code 126: ./build.sh (in a copy of fn/)\n"
        "  cannot run ./build.sh: Permission denied"
    )
    config.write_text(config.read_text().replace('["./build.sh"]', '["no-such-tool", "build"]'))
    assert error_of(script_project.build(), "install:") == (
        "command failed with exit code 127: no-such-tool build (in a copy of fn/)\n"
        "  command not found: no-such-tool"
    )


@pytest.mark.parametrize("where", ["fn/src/deep/b.txt", "fn/src/b.txt"])
def test_a_new_input_in_a_subdirectory_is_seen_by_the_no_op_answer_too(
        script_project: ProjectDir, runs: Path, where: str) -> None:
    """The replay record watches every directory the inputs were walked in: a file added
    to ``src/deep/`` (an input by ``src/``) was a green "up-to-date" of the old output
    while ``forge plan`` said "file added"."""
    from lambdaforge.cli import main
    from tests.e2e.test_decider import assert_decisions_agree

    script_project.write("fn/src/deep/a.txt", "deep\n")
    script_project.write("fn/build.sh", BUILD_SH_DEEP)
    assert main(["-C", str(script_project.root), "build"]) == 0
    assert assert_decisions_agree(script_project)
    script_project.write(where, "B\n")
    assert not assert_decisions_agree(script_project)
    assert main(["-C", str(script_project.root), "build"]) == 0
    assert run_count(runs) == 2
    with zipfile.ZipFile(script_project.zip_path("function", "hello")) as zf:
        assert zf.read("message.txt") == b"A\n" + (b"B\n" if where == "fn/src/b.txt" else b"") + \
            b"deep\n" + (b"B\n" if where == "fn/src/deep/b.txt" else b"")


#: build.sh, reading src/deep/ too
BUILD_SH_DEEP = """\
echo run >> "$RUNS"
cat src/*.txt src/deep/*.txt > "$FORGE_OUTPUT/message.txt"
printf '#!/bin/sh\\necho %s\\n' "$GREETING" > "$FORGE_OUTPUT/bootstrap"
chmod +x "$FORGE_OUTPUT/bootstrap"
"""


def test_a_secret_in_env_reaches_the_command_only(project: ProjectDir, tmp_path: Path) -> None:
    """``env = { GITHUB_TOKEN = … }``: the command gets the value; config, plan reasons,
    state and keys see ``***`` and a digest (as for ``environment``). Before, the token
    was printed by forge config, plan, explain and --json, and written to state."""
    import io
    from contextlib import redirect_stdout

    from lambdaforge.cli import main

    seen = tmp_path / "seen.txt"
    config = CONFIG_SECRET.format(seen=seen)
    project.config(config.format(token="ghp_OLDsecretOLDsecretOLD000"))
    project.write("fn/build.sh", 'printf %s "$GITHUB_TOKEN" > "$SEEN"\n'
                  "printf '#!/bin/sh\\n' > \"$FORGE_OUTPUT/bootstrap\"; chmod +x \"$FORGE_OUTPUT/bootstrap\"\n")
    assert main(["-C", str(project.root), "build"]) == 0
    assert seen.read_text() == "ghp_OLDsecretOLDsecretOLD000"
    project.config(config.format(token="ghp_NEWsecretNEWsecretNEW000"))
    shown = io.StringIO()
    with redirect_stdout(shown):
        assert main(["-C", str(project.root), "config"]) == 0
        assert main(["-C", str(project.root), "plan"]) == 0
        assert main(["-C", str(project.root), "build", "--json"]) == 0
    assert seen.read_text() == "ghp_NEWsecretNEWsecretNEW000"
    assert 'GITHUB_TOKEN = "***"' in shown.getvalue()
    assert "GITHUB_TOKEN" in shown.getvalue() and "secret scrypt:" in shown.getvalue()
    stored = b"".join(p.read_bytes() for p in (project.root / ".forge").rglob("*") if p.is_file())
    for text in (shown.getvalue().encode(), stored):
        assert b"OLDsecret" not in text and b"NEWsecret" not in text


CONFIG_SECRET = """
[functions.hello]
source = "fn"
runtime = "provided.al2023"
builder = "command"
handler = "bootstrap"
command = "sh build.sh"
output = "out"
env = {{{{ GITHUB_TOKEN = "{{token}}", SEEN = "{seen}" }}}}
"""
