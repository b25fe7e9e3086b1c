"""``forge build|plan|explain|graph|clean|cache`` as a user runs them.

Each test drives the real command line (``lambdaforge.cli.main``, in-process for speed, or
a real process where the exit status itself is the point) on a small project under
``tmp_path`` and asserts the exact output, the exit code (design §5: 0 ok, 1 a build or check
failed, 2 bad config or usage, never a traceback for a user error) and, for ``--json``, that
the report validates against ``schemas/build-report.schema.json``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from lambdaforge.cache import Cache
from lambdaforge.cli import main
from lambdaforge.report import human_size
from tests.e2e.conftest import LOCAL_INDEX

REPO = Path(__file__).resolve().parents[2]
REPORT_SCHEMA = json.loads((REPO / "schemas" / "build-report.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(REPORT_SCHEMA)
STATUSES = {"built", "cached", "up-to-date", "failed", "skipped"}
ALL_TARGETS = {"layer:shared", "check:layer:shared", "function:alpha", "check:function:alpha",
               "function:beta", "check:function:beta"}


def forge(project, *args: str) -> int:
    return main(["-C", str(project.root), *args])


def build_json(project, capsys, *args: str) -> tuple[int, dict]:
    """``forge build --json ARGS``: exit code and the report, checked against the schema."""
    code = forge(project, "build", "--json", *args)
    report = json.loads(capsys.readouterr().out)
    VALIDATOR.validate(report)
    assert {t["status"] for t in report["targets"]} <= STATUSES
    return code, report


def statuses(report: dict) -> dict[str, str]:
    return {t["id"]: t["status"] for t in report["targets"]}


def cache_of(project) -> Cache:
    # The `project` fixture points FORGE_CACHE_DIR at tmp_path/cache.
    return Cache(project.root.parent / "cache")


# --------------------------------------------------------------------------- the JSON report


def test_report_schema_is_valid_and_documents_every_field(source_project, capsys):
    jsonschema.Draft202012Validator.check_schema(REPORT_SCHEMA)
    target_schema = REPORT_SCHEMA["$defs"]["target"]
    for props in (REPORT_SCHEMA["properties"], target_schema["properties"]):
        for name, prop in props.items():
            assert prop.get("description"), f"{name} is undocumented"
    # The schema lists exactly what json_report writes, no more (additionalProperties is
    # false, so "no less" is the validation itself).
    _, report = build_json(source_project, capsys)
    assert set(REPORT_SCHEMA["required"]) == set(REPORT_SCHEMA["properties"]) == set(report)
    assert set(target_schema["required"]) == set(target_schema["properties"]) == set(
        report["targets"][0])
    # ...and the README section describes every top-level field.
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Build report (--json)", 1)[1].split("\n## ", 1)[0]
    for name in (*REPORT_SCHEMA["properties"], *target_schema["properties"]):
        assert f"`{name}`" in section, name


def test_json_report_of_a_successful_build(source_project, capsys):
    code, report = build_json(source_project, capsys)
    assert code == 0
    assert report["ok"] is True and report["dry_run"] is False and report["warnings"] == []
    assert report["project"] == "proj" and report["version"] == 1
    assert [t["id"] for t in report["targets"]] == sorted(ALL_TARGETS)
    assert set(statuses(report).values()) == {"built"}
    alpha = {t["id"]: t for t in report["targets"]}["function:alpha"]
    zip_path = source_project.zip_path("function", "alpha")
    assert alpha["kind"] == "function" and alpha["name"] == "alpha"
    assert alpha["path"] == ".forge/build/functions/alpha.zip"
    assert alpha["size"] == zip_path.stat().st_size
    assert alpha["reasons"] == ["no previous build"] and alpha["error"] is None
    manifest = json.loads((source_project.root / ".forge/build/manifest.json").read_text())
    assert {a["name"]: a["key"] for a in manifest["artifacts"]}["alpha"] == alpha["key"]
    # Same again: nothing to do, every target up to date with no reasons.
    code, report = build_json(source_project, capsys)
    assert code == 0 and set(statuses(report).values()) == {"up-to-date"}
    assert all(t["reasons"] == [] for t in report["targets"])


def test_json_report_of_a_failed_check_exits_1(source_project, capsys):
    source_project.write("functions/beta/app.py", "def other(event, context):\n    return 1\n")
    code, report = build_json(source_project, capsys)
    assert code == 1 and report["ok"] is False
    st = statuses(report)
    assert st.pop("check:function:beta") == "failed"
    assert set(st.values()) == {"built"}  # siblings are built all the same
    failed = {t["id"]: t for t in report["targets"]}["check:function:beta"]
    assert failed["error"] == "handler 'app.handler': app.py defines no `handler` at module level"


def test_json_report_of_a_failed_install_skips_what_needs_it(deps_project, capsys):
    deps_project.config(LOCAL_INDEX + """
[functions.needy]
source = "needy"
handler = "app.handler"

[functions.plain]
source = "plain"
handler = "app.handler"
""")
    deps_project.write("needy/app.py", "def handler(event, context):\n    return 1\n")
    deps_project.write("needy/requirements.txt", "no-such-distribution\n")
    deps_project.write("plain/app.py", "def handler(event, context):\n    return 1\n")
    code, report = build_json(deps_project, capsys)
    assert code == 1 and report["ok"] is False
    by_id = {t["id"]: t for t in report["targets"]}
    (install,) = [t for t in report["targets"] if t["kind"] == "install"]
    assert install["status"] == "failed" and "no-such-distribution" in install["error"]
    assert by_id["function:needy"]["status"] == "skipped"
    assert by_id["function:needy"]["reasons"] == [f"{install['id']} failed"]
    assert by_id["function:needy"]["key"] is None
    assert by_id["check:function:needy"]["reasons"] == ["function:needy skipped"]
    assert by_id["function:plain"]["status"] == by_id["check:function:plain"]["status"] == "built"


# --------------------------------------------------------------------------- explain


def test_explain_names_the_changed_file_and_says_up_to_date(source_project, capsys):
    assert forge(source_project, "build") == 0
    capsys.readouterr()
    assert forge(source_project, "explain", "alpha") == 0
    assert capsys.readouterr().out == "layer:shared: up to date\nfunction:alpha: up to date\n"
    source_project.write("functions/alpha/app.py", "def handler(event, context):\n    return 2\n")
    assert forge(source_project, "explain", "alpha") == 0
    assert capsys.readouterr().out == (
        "layer:shared: up to date\nfunction:alpha:\n  file changed: app.py\n")
    source_project.write("layers/shared/shared_util.py", "def util():\n    return 7\n")
    assert forge(source_project, "explain", "alpha") == 0
    # The layer's code is not in the function's zip, so only the layer is stale for it.
    assert capsys.readouterr().out == (
        "layer:shared:\n  file changed: shared_util.py\nfunction:alpha:\n  file changed: app.py\n")
    # explain only looks: nothing was rebuilt, so it still says so after asking twice
    assert forge(source_project, "explain", "beta") == 0
    assert capsys.readouterr().out == "function:beta: up to date\n"


def test_explain_says_when_only_the_output_is_missing(source_project, capsys):
    assert forge(source_project, "build") == 0
    source_project.zip_path("function", "beta").unlink()
    capsys.readouterr()
    assert forge(source_project, "explain", "beta") == 0
    assert capsys.readouterr().out == "function:beta:\n  output missing\n"


def test_explain_unknown_name_exits_2_with_a_suggestion(source_project, capsys):
    assert forge(source_project, "explain", "alpah") == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "forge: error: no function or layer named 'alpah' (did you mean 'alpha'?)\n"


# --------------------------------------------------------------------------- plan


def test_plan_says_what_and_why_without_building(source_project, capsys):
    assert forge(source_project, "plan") == 0
    assert capsys.readouterr().out == "".join(
        f"{'build':>18}  {tid}  (no previous build)\n"
        for tid in ("function:beta", "check:function:beta", "layer:shared", "check:layer:shared",
                    "function:alpha", "check:function:alpha"))
    assert not (source_project.root / ".forge/build").exists()
    assert cache_of(source_project).entries() == []

    assert forge(source_project, "build") == 0
    source_project.write("functions/beta/app.py", "def handler(event, context):\n    return 2\n")
    source_project.zip_path("function", "alpha").unlink()
    capsys.readouterr()
    assert forge(source_project, "plan") == 0
    assert capsys.readouterr().out == (
        "             build  function:beta  (file changed: app.py)\n"
        "             build  check:function:beta  (upstream changed: function:beta)\n"
        "        up to date  layer:shared\n"
        "        up to date  check:layer:shared\n"
        "restore from cache  function:alpha  (output missing)\n"
        "        up to date  check:function:alpha\n")

    assert forge(source_project, "plan", "--json") == 0
    plan = json.loads(capsys.readouterr().out)
    assert [(p["id"], p["action"], p["reasons"]) for p in plan] == [
        ("function:beta", "built", ["file changed: app.py"]),
        ("check:function:beta", "built", ["upstream changed: function:beta"]),
        ("layer:shared", "up-to-date", []),
        ("check:layer:shared", "up-to-date", []),
        ("function:alpha", "cached", ["output missing"]),
        ("check:function:alpha", "up-to-date", []),
    ]
    assert all(re.fullmatch(r"[0-9a-f]{64}", p["key"]) for p in plan)
    # planning did not rebuild or restore anything
    assert not source_project.zip_path("function", "alpha").exists()


# --------------------------------------------------------------------------- graph

DOT = """\
digraph lambdaforge {
  rankdir=LR;
  "function:beta" [label="function:beta", shape=box];
  "check:function:beta" [label="check:function:beta", shape=note];
  "layer:shared" [label="layer:shared", shape=folder];
  "check:layer:shared" [label="check:layer:shared", shape=note];
  "function:alpha" [label="function:alpha", shape=box];
  "check:function:alpha" [label="check:function:alpha", shape=note];
  "function:alpha" -> "check:function:alpha";
  "function:beta" -> "check:function:beta";
  "layer:shared" -> "check:function:alpha";
  "layer:shared" -> "check:layer:shared";
  "layer:shared" -> "function:alpha";
}
"""

MERMAID = """\
flowchart LR
  n0["function:beta"]
  n1["check:function:beta"]
  n2["layer:shared"]
  n3["check:layer:shared"]
  n4["function:alpha"]
  n5["check:function:alpha"]
  n4 --> n5
  n0 --> n1
  n2 --> n5
  n2 --> n3
  n2 --> n4
"""


def _node(tid: str) -> dict[str, str]:
    kind = tid.split(":")[0]
    return {"id": tid, "kind": kind, "name": tid.rsplit(":", 1)[1], "builder": "python"}


GRAPH_JSON = {
    "nodes": [_node(t) for t in ("function:beta", "check:function:beta", "layer:shared",
                                 "check:layer:shared", "function:alpha", "check:function:alpha")],
    "edges": [
        {"from": "function:alpha", "to": "check:function:alpha"},
        {"from": "function:beta", "to": "check:function:beta"},
        {"from": "layer:shared", "to": "check:function:alpha"},
        {"from": "layer:shared", "to": "check:layer:shared"},
        {"from": "layer:shared", "to": "function:alpha"},
    ],
}


@pytest.mark.parametrize("fmt", ["dot", "mermaid", "json"])
def test_graph_formats(source_project, capsys, fmt):
    assert forge(source_project, "graph", "--format", fmt) == 0
    out = capsys.readouterr().out
    if fmt == "json":
        assert json.loads(out) == GRAPH_JSON
    else:
        assert out == {"dot": DOT, "mermaid": MERMAID}[fmt]


def test_graph_of_one_name_is_what_it_needs(source_project, capsys):
    assert forge(source_project, "graph", "--format", "mermaid", "beta") == 0
    assert capsys.readouterr().out == (
        'flowchart LR\n  n0["function:beta"]\n  n1["check:function:beta"]\n  n0 --> n1\n')


# --------------------------------------------------------------------------- clean and cache


def test_clean_removes_build_output_and_keeps_the_cache(source_project, capsys):
    assert forge(source_project, "build") == 0
    cache = cache_of(source_project)
    assert len(cache.entries()) == 6  # one per zip, one per passed check
    capsys.readouterr()
    assert forge(source_project, "clean") == 0
    build_dir = source_project.root / ".forge" / "build"
    assert capsys.readouterr().out == f"removed {build_dir}\n"
    assert not build_dir.exists()
    # clean waits for a running build through the project lock, so only the lock stays
    from lambdaforge.locking import LOCK_FILE, PID_FILE

    left = {p.name for p in (source_project.root / ".forge/state").iterdir()}
    assert left <= {LOCK_FILE, PID_FILE}
    assert len(cache.entries()) == 6
    code, report = build_json(source_project, capsys)
    assert code == 0 and set(statuses(report).values()) == {"cached"}

    assert forge(source_project, "clean", "--cache") == 0
    assert capsys.readouterr().out == f"removed {build_dir}\ncleared cache {cache.root}\n"
    assert not build_dir.exists() and cache.entries() == []
    code, report = build_json(source_project, capsys)
    assert code == 0 and set(statuses(report).values()) == {"built"}


def test_cache_size_and_prune(source_project, capsys):
    assert forge(source_project, "build") == 0
    cache = cache_of(source_project)
    total = cache.size()
    capsys.readouterr()
    assert forge(source_project, "cache", "size") == 0
    assert capsys.readouterr().out == f"{human_size(total)} in 6 entries at {cache.root}\n"
    # A limit above the size removes nothing.
    assert forge(source_project, "cache", "prune", "--max-size", "1GB") == 0
    assert capsys.readouterr().out == f"removed 0 entries (0 B); {human_size(total)} remain in {cache.root}\n"
    assert forge(source_project, "cache", "prune", "--max-size", "0") == 0
    assert capsys.readouterr().out == (
        f"removed 6 entries ({human_size(total)}); 0 B remain in {cache.root}\n")
    assert cache.entries() == []
    assert forge(source_project, "cache", "size") == 0
    assert capsys.readouterr().out == f"0 B in 0 entries at {cache.root}\n"
    # With the cache empty, lost zips must be built again, not "restored" (their checks are
    # up to date: same key, and the state remembers they passed).
    shutil.rmtree(source_project.root / ".forge" / "build")
    code, report = build_json(source_project, capsys)
    assert code == 0
    assert {t["id"]: t["status"] for t in report["targets"] if t["kind"] != "check"} == {
        "function:alpha": "built", "function:beta": "built", "layer:shared": "built"}


def test_cache_prune_with_a_bad_size_is_a_usage_error(source_project, capsys):
    assert forge(source_project, "cache", "prune", "--max-size", "lots") == 2
    assert capsys.readouterr().err == (
        "forge: error: invalid size 'lots': expected a number of bytes, or a number and a unit: "
        "kB, MB, GB (10^3, 10^6, 10^9 bytes) or KiB, MiB, GiB (2^10, 2^20, 2^30 bytes)\n")


# --------------------------------------------------------------------------- build options


def test_dry_run_builds_nothing_and_says_what_it_would_build(source_project, capsys):
    assert forge(source_project, "build", "--dry-run") == 0
    captured = capsys.readouterr()
    assert captured.out == "".join(
        f"would build {tid}: no previous build\n"
        for tid in ("function:beta", "check:function:beta", "layer:shared", "check:layer:shared",
                    "function:alpha", "check:function:alpha"))
    assert captured.err == "dry run: 6 to build, 0 to restore from the cache, 0 up to date; nothing built\n"
    assert not (source_project.root / ".forge/build").exists()
    assert cache_of(source_project).entries() == []

    assert forge(source_project, "build") == 0
    source_project.zip_path("function", "beta").unlink()
    capsys.readouterr()
    assert forge(source_project, "build", "--dry-run") == 0
    captured = capsys.readouterr()
    assert captured.out == "would restore function:beta from the cache\n"
    assert captured.err == "dry run: 0 to build, 1 to restore from the cache, 5 up to date; nothing built\n"
    assert not source_project.zip_path("function", "beta").exists()

    code, report = build_json(source_project, capsys, "--dry-run")
    assert code == 0 and report["dry_run"] is True and report["ok"] is True
    assert statuses(report)["function:beta"] == "cached"
    assert not source_project.zip_path("function", "beta").exists()


def test_build_names_builds_only_what_they_need(source_project, capsys):
    code, report = build_json(source_project, capsys, "beta")
    assert code == 0
    assert set(statuses(report)) == {"function:beta", "check:function:beta"}
    assert not source_project.zip_path("function", "alpha").exists()
    assert not source_project.zip_path("layer", "shared").exists()


@pytest.mark.parametrize(("name", "hint"), [("alpah", " (did you mean 'alpha'?)"), ("zzz", "")])
def test_build_unknown_name_exits_2(source_project, capsys, name, hint):
    assert forge(source_project, "build", name) == 2
    captured = capsys.readouterr()
    assert captured.err == f"forge: error: no function or layer named {name!r}{hint}\n"
    assert not (source_project.root / ".forge/build").exists()


# --------------------------------------------------------------------------- exit codes


def _forge_process(project, *args: str) -> subprocess.CompletedProcess[str]:
    # A real process: the exit status is what a shell or CI sees, not main()'s return value.
    return subprocess.run([sys.executable, "-m", "lambdaforge", "-C", str(project.root), *args],
                          capture_output=True, text=True, timeout=60)


def test_exit_codes(source_project):
    ok = _forge_process(source_project, "build")
    assert ok.returncode == 0, ok.stderr
    assert re.search(r"\n6 built in \d+\.\d\ds\n\Z", ok.stderr), ok.stderr

    source_project.write("functions/beta/app.py", "def other(event, context):\n    return 1\n")
    failed = _forge_process(source_project, "build")
    assert failed.returncode == 1
    assert ("\nFAILED check:function:beta:\n"
            "handler 'app.handler': app.py defines no `handler` at module level\n") in failed.stderr

    break_config(source_project)
    for command in (("build",), ("build", "--json")):
        bad = _forge_process(source_project, *command)
        assert bad.returncode == 2, command
        assert bad.stdout == ""
        assert bad.stderr == CONFIG_ERROR  # the whole of it: no traceback


CONFIG_ERROR = "lambdaforge.toml:10: functions.alpha.handlr: unknown key (did you mean 'handler'?)\n"


def break_config(project) -> None:
    text = (project.root / "lambdaforge.toml").read_text()
    project.config(text.replace('handler = "app.handler"\nlayers', 'handlr = "app.handler"\nlayers'))


@pytest.mark.parametrize("command", [("plan",), ("plan", "--json"), ("explain", "alpha"),
                                     ("graph",), ("clean",), ("cache", "size"),
                                     ("build", "--dry-run")])
def test_every_command_reports_a_config_error_with_exit_2(source_project, capsys, command):
    break_config(source_project)
    assert forge(source_project, *command) == 2
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", CONFIG_ERROR)


@pytest.mark.parametrize("jobs", ["0", "-4", "two"])
def test_jobs_below_one_is_a_usage_error(source_project, capsys, jobs):
    # Before, -j 0 silently meant "CPU count" and -j -4 one job.
    assert forge(source_project, "build", "-j", jobs) == 2
    assert capsys.readouterr().err.endswith(
        f"forge build: error: argument -j/--jobs: expected a number of jobs, 1 or more, not {jobs!r}\n")
    assert not (source_project.root / ".forge/build").exists()


def test_fast_path_does_not_answer_for_another_config_file(source_project, capsys):
    # Two config files in one directory share .forge/: the no-op record of one must not
    # answer "up to date" for the other (it used to, and gamma was never built).
    source_project.write("other.toml", """
        [defaults]
        runtime = "python3.12"

        [functions.gamma]
        source = "functions/beta"
        handler = "app.handler"
        """)
    time.sleep(0.15)  # older than the fast path's racy window, so its record is written
    assert forge(source_project, "build") == 0
    assert (source_project.root / ".forge/state/replay.json").exists()
    capsys.readouterr()
    assert main(["-C", str(source_project.root), "-c", "other.toml", "build"]) == 0
    assert "up-to-date" not in capsys.readouterr().err
    assert source_project.zip_path("function", "gamma").is_file()
    # ...and the other way round.
    assert forge(source_project, "build") == 0
    assert "6 up-to-date in" in capsys.readouterr().err  # planned, its state is intact


@pytest.mark.parametrize("output", [
    ".forge/build/functions/alpha.zip",
    ".forge/build/manifest.json",
])
def test_outputs_are_readable_by_a_deploy_step(source_project, output):
    assert source_project.build().ok
    assert (source_project.root / output).stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("how", ["cache-dir", "FORGE_CACHE_DIR"])
def test_a_cache_directory_inside_the_source_is_never_packaged(project, capsys, monkeypatch, how):
    """``cache-dir = "forge-cache"`` and ``source = "."``: the cache was zipped into the
    function, so every build rebuilt it, and the zip grew each time."""
    config = '[functions.fa]\nsource = "."\nhandler = "app.handler"\nruntime = "python3.12"\n'
    if how == "cache-dir":
        config = '[project]\ncache-dir = "forge-cache"\n\n' + config
        monkeypatch.delenv("FORGE_CACHE_DIR", raising=False)
    else:
        monkeypatch.setenv("FORGE_CACHE_DIR", str(project.root / "forge-cache"))
    project.config(config)
    project.write("app.py", "def handler(event, context):\n    return 1\n")
    assert forge(project, "build") == 0
    assert (project.root / "forge-cache").is_dir()
    assert forge(project, "build") == 0
    assert "2 up-to-date" in capsys.readouterr().err
    assert project.zip_names("function", "fa") == {"app.py", "lambdaforge.toml"}


def test_a_malformed_remote_cache_variable_is_an_error_for_a_no_op_too(source_project, capsys, monkeypatch):
    """The no-op answer did not watch ``$FORGE_REMOTE_CACHE``: "6 up-to-date" with a value
    that every planned build refuses (exit 2)."""
    monkeypatch.delenv("FORGE_REMOTE_CACHE", raising=False)
    assert forge(source_project, "build") == 0
    assert forge(source_project, "build") == 0
    monkeypatch.setenv("FORGE_REMOTE_CACHE", "s3://Bad_Bucket/x")
    capsys.readouterr()
    assert forge(source_project, "build") == 2
    assert "$FORGE_REMOTE_CACHE: expected s3://BUCKET/PREFIX" in capsys.readouterr().err
