"""Loading: extends (paths and pkg:), merge rules, provenance, paths, cache dir, TOML errors."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from lambdaforge.config.loader import tomllib
from tests.config.conftest import API, issues_of, write

from lambdaforge.config import find_config, load_project
from lambdaforge.config.models import Origin
from lambdaforge.errors import UsageError

TWO_LEVELS = {
    # company → team → project; each level overrides some of what it inherits
    "std/company.toml": """
        [defaults]
        runtime = "python3.11"
        architecture = "arm64"
        strip = ["standard"]
        dependencies = ["structlog"]

        [strip-rules.company]
        exclude = ["docs/"]
        keep = ["docs/LICENSE"]
        """,
    "std/team.toml": """
        [project]
        extends = ["company.toml"]

        [defaults]
        runtime = "python3.13"
        strip = ["standard", "company"]

        [strip-rules.company]
        exclude = ["docs/", "*.md"]
        """,
    "lambdaforge.toml": """
        [project]
        name = "orders"
        extends = ["std/team.toml"]

        [defaults]
        dependencies = ["requests"]

        [functions.api]
        source = "src/api"
        handler = "app.handler"
        architecture = "x86_64"
        """,
}


def test_merge_and_provenance_across_two_levels_of_extends(tmp_path: Path) -> None:
    write(tmp_path, TWO_LEVELS)
    p = load_project(cwd=tmp_path, env={})
    api = p.functions["api"]
    # scalars: the nearest file wins; arrays are replaced whole, never concatenated
    assert (api.runtime, api.architecture) == ("python3.13", "x86_64")
    assert api.strip == ("standard", "company")
    assert api.dependencies == ("requests",)
    # tables merge key by key: exclude from team, keep from company
    assert p.strip_rules["company"].exclude == ("docs/", "*.md")
    assert p.strip_rules["company"].keep == ("docs/LICENSE",)
    assert p.origins["functions.api.runtime"] == Origin(
        file="std/team.toml", line=5, key="defaults.runtime"
    )
    assert p.origins["functions.api.strip"] == Origin(file="std/team.toml", line=6, key="defaults.strip")
    assert p.origins["functions.api.architecture"] == Origin(
        file="lambdaforge.toml", line=11, key="functions.api.architecture"
    )
    assert p.origins["functions.api.dependencies"] == Origin(
        file="lambdaforge.toml", line=6, key="defaults.dependencies"
    )
    assert p.origins["strip-rules.company.keep"] == Origin(
        file="std/company.toml", line=9, key="strip-rules.company.keep"
    )
    assert p.origins["strip-rules.company.exclude"].file == "std/team.toml"
    assert p.origins["functions.api.installer"] == Origin(file="<built-in>", line=None)
    assert p.origins["project.name"] == Origin(file="lambdaforge.toml", line=2, key="project.name")
    assert p.config_files == (
        tmp_path / "lambdaforge.toml", tmp_path / "std/team.toml", tmp_path / "std/company.toml"
    )


def test_later_extends_entries_override_earlier_ones(project) -> None:
    p = project(
        '[project]\nextends = ["a.toml", "b.toml"]\n' + API,
        {"a.toml": '[defaults]\nruntime = "python3.11"\nno-index = true\n',
         "b.toml": '[defaults]\nruntime = "python3.13"\n'},
    )
    assert p.functions["api"].runtime == "python3.13"
    assert p.functions["api"].builder_options["no-index"] is True  # a Python builder option


def test_a_standard_reached_twice_is_applied_once_at_its_first_place(project) -> None:
    p = project(
        '[project]\nextends = ["a.toml", "b.toml"]\n' + API,
        {"base.toml": '[defaults]\nruntime = "python3.11"\n',
         "a.toml": '[project]\nextends = ["base.toml"]\n[defaults]\nruntime = "python3.12"\n',
         "b.toml": '[project]\nextends = ["base.toml"]\n'},
    )
    assert p.functions["api"].runtime == "python3.12"


def test_paths_are_relative_to_the_file_that_names_them(project) -> None:
    p = project(
        '[project]\nextends = ["std/team.toml"]\n' + API,
        {"std/team.toml": '[project]\ncache-dir = "../.cache"\n[defaults]\nrequirements = "reqs.txt"\n',
         "std/reqs.txt": "attrs\n"},
    )
    assert p.functions["api"].requirements == "std/reqs.txt"
    assert p.cache_dir == p.root / ".cache"


def test_forge_cache_dir_overrides_the_config(project, tmp_path: Path) -> None:
    p = project('[project]\ncache-dir = "c"\n' + API, env={"FORGE_CACHE_DIR": "/var/cache/forge"})
    assert p.cache_dir == Path("/var/cache/forge")
    assert p.origins["project.cache-dir"].file == "$FORGE_CACHE_DIR"


def test_missing_and_cyclic_extends_are_reported_together(tmp_path: Path) -> None:
    write(tmp_path, {
        "lambdaforge.toml": '[project]\nextends = [\n  "a.toml",\n  "nope.toml",\n]\n' + API,
        "a.toml": '[project]\nextends = ["b.toml"]\n',
        "b.toml": '[project]\nextends = ["a.toml"]\n',
    })
    assert issues_of(tmp_path) == [
        "b.toml:2: project.extends[0]: extends cycle: a.toml -> b.toml -> a.toml",
        "lambdaforge.toml:4: project.extends[1]: extends a file that does not exist: nope.toml",
    ]


def test_a_file_extending_itself_is_a_cycle(errors) -> None:
    assert errors('[project]\nextends = ["lambdaforge.toml"]\n') == [
        "lambdaforge.toml:2: project.extends[0]: extends cycle: lambdaforge.toml -> lambdaforge.toml"
    ]


def test_errors_in_an_extended_file_name_that_file_and_line(errors) -> None:
    assert errors(
        '[project]\nextends = ["../team.toml"]\n' + API,
        {"../team.toml": "[defaults]\n\nruntme = 'python3.12'\n"},
    ) == ["../team.toml:3: defaults.runtme: unknown key (did you mean 'runtime'?)"]


def test_file_names_are_relative_to_the_working_directory(tmp_path: Path) -> None:
    write(tmp_path, {"lambdaforge.toml": "[defaults]\nminify = 3\n", "sub/deeper/": ""})
    # found by walking up from a subdirectory, named as the user would type it from there
    with pytest.raises(Exception) as info:
        load_project(cwd=tmp_path / "sub" / "deeper", env={})
    assert str(info.value) == (
        "../../lambdaforge.toml:2: defaults.minify: expected true or false, got integer 3"
    )


def _tomllib_message(text: str) -> str:
    """What this Python's tomllib (or tomli) says about ``text``: its wording varies."""
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return str(exc)
    raise AssertionError("valid TOML")


def test_toml_syntax_errors_keep_line_and_column(errors) -> None:
    text = '[project]\nname = "x\n'
    message = _tomllib_message(text)
    assert "(at line 2, column 10)" in message
    assert errors(text) == [f"lambdaforge.toml:2: invalid TOML: {message}"]


def test_syntax_errors_in_several_files_are_all_reported(errors) -> None:
    a, b = "x = 1\nx = \n", "[[y]\n"
    assert errors('[project]\nextends = ["a.toml", "b.toml"]\n', {"a.toml": a, "b.toml": b}) == [
        f"a.toml:2: invalid TOML: {_tomllib_message(a)}",
        f"b.toml:1: invalid TOML: {_tomllib_message(b)}",
    ]


def test_non_utf8_file(tmp_path: Path) -> None:
    write(tmp_path, {})
    (tmp_path / "lambdaforge.toml").write_bytes(b"name = '\xff'\n")
    assert issues_of(tmp_path) == ["lambdaforge.toml: not UTF-8 text (byte 8)"]


def test_a_byte_order_mark_is_no_content(tmp_path: Path) -> None:
    """Notepad's UTF-8 BOM was "invalid TOML: Invalid statement (at line 1, column 1)"."""
    write(tmp_path, {"src/api/app.py": "def handler(event, context):\n    return 1\n"})
    (tmp_path / "lambdaforge.toml").write_bytes(b"\xef\xbb\xbf" + API.encode())
    assert load_project(cwd=tmp_path, env={}).functions["api"].handler == "app.handler"
    (tmp_path / "lambdaforge.toml").write_bytes(b"\xef\xbb\xbf" + API.encode() + b"runtim = 1\n")
    assert [i.split(": ")[0] for i in issues_of(tmp_path)] == [f"lambdaforge.toml:{API.count(chr(10)) + 1}"]


def test_find_config_walks_up_and_says_so_when_there_is_none(tmp_path: Path) -> None:
    write(tmp_path, {"lambdaforge.toml": API, "a/b/": ""})
    assert find_config(tmp_path / "a" / "b") == tmp_path / "lambdaforge.toml"
    (tmp_path / "lambdaforge.toml").unlink()
    with pytest.raises(UsageError, match="no lambdaforge.toml in .* or any parent directory"):
        find_config(tmp_path / "a")
    # a directory of that name is said to be one ("not found" read as false)
    (tmp_path / "a" / "lambdaforge.toml").mkdir()
    with pytest.raises(UsageError, match=r"a/lambdaforge.toml is a directory, not a config file"):
        find_config(tmp_path / "a" / "b")
    with pytest.raises(UsageError, match=r"a/lambdaforge.toml is a directory, not a config file$"):
        load_project(Path("a/lambdaforge.toml"), cwd=tmp_path, env={})


# --------------------------------------------------------------------------- pkg: standards


def _install_standards(site: Path, dist: str, entry: str, module: str, toml: str) -> None:
    """A tiny installed distribution: a package holding a TOML file and a dist-info whose
    entry_points.txt publishes it in ``lambdaforge.standards`` (what pip would write)."""
    package = site / module
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "from pathlib import Path\nSTANDARD = Path(__file__).with_name('team.toml')\n"
    )
    (package / "team.toml").write_text(toml)
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[lambdaforge.standards]\n{entry} = {module}:STANDARD\n"
    )


@pytest.fixture
def site(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path_factory.mktemp("site")
    monkeypatch.syspath_prepend(str(directory))
    return directory


def test_pkg_standards_come_from_an_installed_entry_point(tmp_path: Path, site: Path) -> None:
    module = f"acme_standards_{os.getpid()}"
    _install_standards(site, "acme-standards", "acme-python", module,
                       '[defaults]\nruntime = "python3.13"\narchitecture = "arm64"\n')
    write(tmp_path, {"lambdaforge.toml": '[project]\nextends = ["pkg:acme-python"]\n' + API})
    p = load_project(cwd=tmp_path, env={})
    assert (p.functions["api"].runtime, p.functions["api"].architecture) == ("python3.13", "arm64")
    origin = p.origins["functions.api.runtime"]
    assert (origin.file, origin.line) == ((site / module / "team.toml").resolve().as_posix(), 2)
    sys.modules.pop(module, None)


def test_unknown_pkg_standard_suggests_an_installed_one(tmp_path: Path, site: Path) -> None:
    module = f"acme_standards2_{os.getpid()}"
    _install_standards(site, "acme-standards2", "acme-python2", module, "")
    write(tmp_path, {"lambdaforge.toml": '[project]\nextends = ["pkg:acme-pyton2"]\n' + API})
    assert issues_of(tmp_path) == [
        "lambdaforge.toml:2: project.extends[0]: no installed package provides 'acme-pyton2' in "
        "entry-point group 'lambdaforge.standards' (did you mean 'pkg:acme-python2'?)"
    ]


def test_a_broken_pkg_standard_is_a_config_error(tmp_path: Path, site: Path) -> None:
    info = site / "broken-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[lambdaforge.standards]\nbroken = no_such_module_x:S\n")
    write(tmp_path, {"lambdaforge.toml": '[project]\nextends = ["pkg:broken"]\n' + API})
    assert issues_of(tmp_path) == [
        "lambdaforge.toml:2: project.extends[0]: entry point 'broken = no_such_module_x:S' could "
        "not be loaded: ModuleNotFoundError: No module named 'no_such_module_x'"
    ]


def test_a_path_an_outside_standard_sets_says_where_it_points(tmp_path: Path) -> None:
    """A standard beside the project (``../standards/team.toml``) whose ``find-links =
    ["wheels"]`` means its own folder's ``wheels``: the error says so, instead of only
    "'wheels' leaves the project root", which reads as false."""
    from lambdaforge.errors import ConfigError

    write(tmp_path, {
        "proj/lambdaforge.toml": '[project]\nextends = ["../standards/team.toml"]\n' + API,
        "standards/team.toml": '[defaults]\nfind-links = ["wheels"]\n',
    })
    with pytest.raises(ConfigError) as err:
        load_project(cwd=tmp_path / "proj", env={})
    assert str(err.value).splitlines()[0] == (
        "../standards/team.toml:2: defaults.find-links: 'wheels' leaves the project root "
        "(../standards/wheels: read relative to the folder of the file that sets it, ../standards, "
        "as every path in an `extends` file is; name a folder of the project from there, or set "
        "it in the project's own lambdaforge.toml)")
