"""Dependency sources → canonical ``DependencyInputs`` (the install target's identity)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from lambdaforge.builders.python import PythonBuilder
from lambdaforge.builders.python.requirements import RequirementSet
from lambdaforge.errors import ConfigError
from lambdaforge.runner import isolated_installer_env
from tests.python_builder.conftest import link_wheelhouse, make_project, settings


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def requirement_lines(inputs) -> list[str]:
    return [v for k, v in inputs.canonical if k == "requirement"]


def test_includes_comments_hashes_and_options_are_canonicalised(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    write(tmp_path / "wheels" / ".keep", "")
    write(
        tmp_path / "fn" / "requirements.txt",
        "# top comment\n"
        "-r ../shared/base.txt\n"
        "-c ../shared/constraints.txt\n"
        "Requests [Socks] >= 2.0 ; python_version<'3.13'   # trailing comment\n"
        "attrs==23.1.0 \\\n"
        "    --hash=sha256:bbb --hash sha256:aaa\n"
        "--extra-index-url https://example.invalid/simple\n"
        "--find-links ../wheels\n"
        "\n",
    )
    write(tmp_path / "shared" / "base.txt", "six\n--index-url https://mirror.invalid/simple\n")
    write(tmp_path / "shared" / "constraints.txt", "six<2\n")

    inputs = PythonBuilder().dependency_inputs(settings(), "fn", project)

    assert inputs is not None
    assert inputs.canonical == (
        ("installer", "uv"),
        ("index-url", "https://mirror.invalid/simple"),
        ("extra-index-url", "https://example.invalid/simple"),
        ("find-links", "{project}/wheels"),
        ("requirement", "attrs==23.1.0 --hash=sha256:aaa --hash=sha256:bbb"),
        ("requirement", 'requests[socks]>=2.0; python_version < "3.13"'),
        ("requirement", "six"),
        ("constraint", "six<2"),
        ("pinned", "attrs"),
    )
    assert inputs.files == ()
    assert inputs.directories == ("wheels",)


def test_same_lines_from_two_functions_share_one_install(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    write(tmp_path / "a" / "requirements.txt", "requests>=2\nsix\n")
    write(tmp_path / "b" / "requirements.txt", "# b's deps\nsix\n\nRequests >= 2\n")
    builder = PythonBuilder()
    a = builder.dependency_inputs(settings(), "a", project)
    b = builder.dependency_inputs(settings(), "b", project)
    assert a == b
    assert a != builder.dependency_inputs(settings(architecture="arm64"), "b", project)
    assert a != builder.dependency_inputs(settings(installer="pip"), "b", project)


def test_settings_indexes_and_inline_dependencies(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    write(tmp_path / "wh" / ".keep", "")
    s = settings(
        dependencies=("purelib==1.0",),
        index_url="https://idx.invalid/simple",
        extra_index_urls=("https://extra.invalid/simple",),
        find_links=("wh", "https://links.invalid/"),
        no_index=True,
    )
    inputs = PythonBuilder().dependency_inputs(s, None, project)
    reqs = RequirementSet.of(inputs)
    assert reqs.requirements == ("purelib==1.0",)
    assert reqs.index_url == "https://idx.invalid/simple"
    assert reqs.extra_index_urls == ("https://extra.invalid/simple",)
    assert reqs.find_links == ("{project}/wh", "https://links.invalid/")
    assert reqs.no_index and reqs.pinned == {"purelib"}
    assert inputs.directories == ("wh",)


def test_no_dependencies_means_no_install(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    (tmp_path / "fn").mkdir()
    assert PythonBuilder().dependency_inputs(settings(), "fn", project) is None
    write(tmp_path / "fn" / "requirements.txt", "# nothing yet\n")
    assert PythonBuilder().dependency_inputs(settings(), "fn", project) is None


def test_local_wheel_inside_the_project_is_keyed_by_its_path(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    write(tmp_path / "vendor" / "x-1.0-py3-none-any.whl", "not really")
    write(tmp_path / "fn" / "requirements.txt", "../vendor/x-1.0-py3-none-any.whl\n")
    inputs = PythonBuilder().dependency_inputs(settings(), "fn", project)
    assert requirement_lines(inputs) == ["{project}/vendor/x-1.0-py3-none-any.whl"]
    assert inputs.files == ("vendor/x-1.0-py3-none-any.whl",)


def test_every_problem_is_reported_with_file_and_line(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj")
    write(tmp_path / "outside" / "lib.whl", "")
    write(
        tmp_path / "proj" / "fn" / "requirements.txt",
        "-e ./lib\n"
        "../../outside/lib.whl\n"
        "--trusted-host example.invalid\n"
        "ok-package\n"
        "-r missing.txt\n",
    )
    with pytest.raises(ConfigError) as err:
        PythonBuilder().dependency_inputs(settings(), "fn", project)
    assert str(err.value).splitlines() == [
        "fn/requirements.txt:1: `./lib`: no such file or directory",
        "fn/requirements.txt:2: `../../outside/lib.whl`: local path leaves the project root",
        "fn/requirements.txt:3: `--trusted-host`: option not supported in requirements files "
        "(expected one of -r, --requirement, -c, --constraint, -e, --editable, -i, --index-url, "
        "--extra-index-url, -f, --find-links, --no-index, --pre, --hash, --require-hashes: "
        "forge decides how "
        "wheels are chosen for the target platform, and installer settings go in "
        "lambdaforge.toml)",
        "fn/requirements.txt:5: `-r missing.txt`: no such file `missing.txt`",
    ]


def test_require_hashes_is_taken_from_an_included_file(tmp_path: Path) -> None:
    # pip's option for hash-checking mode was refused as unsupported, so with uv (which does
    # not turn it on for `--hash` lines, as pip does) there was no way to ask for it.
    project = make_project(tmp_path)
    write(tmp_path / "fn" / "requirements.txt", "-r base.txt\nsix==1.0\n")
    write(tmp_path / "fn" / "base.txt", "--require-hashes\n")
    inputs = PythonBuilder().dependency_inputs(settings(), "fn", project)
    assert ("require-hashes", "true") in inputs.canonical
    assert RequirementSet.of(inputs).hash_checking


def test_a_hash_anywhere_turns_hash_checking_on(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    write(tmp_path / "fn" / "requirements.txt", "six==1.0\n-r more.txt\n")
    write(tmp_path / "fn" / "more.txt", "attrs==23.1.0 --hash=sha256:aaa\n")
    inputs = PythonBuilder().dependency_inputs(settings(), "fn", project)
    assert RequirementSet.of(inputs).hash_checking
    assert not [k for k, _ in inputs.canonical if k == "require-hashes"]  # implied, as in pip
    write(tmp_path / "fn" / "more.txt", "attrs==23.1.0\n")
    assert not RequirementSet.of(PythonBuilder().dependency_inputs(settings(), "fn", project)).hash_checking


def test_a_misspelt_option_gets_the_closest_supported_one(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    write(tmp_path / "fn" / "requirements.txt", "--extra_index_url https://x/simple\nsix\n")
    with pytest.raises(ConfigError) as err:
        PythonBuilder().dependency_inputs(settings(), "fn", project)
    assert "did you mean `--extra-index-url`?" in str(err.value)


def test_pyproject_dependencies_when_there_is_no_requirements_txt(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    write(
        tmp_path / "fn" / "pyproject.toml",
        '[project]\nname = "fn"\nversion = "0"\ndependencies = ["Dep-A>=1", "purelib==1.0"]\n',
    )
    inputs = PythonBuilder().dependency_inputs(settings(), "fn", project)
    assert requirement_lines(inputs) == ["dep-a>=1", "purelib==1.0"]
    assert RequirementSet.of(inputs).pinned == {"purelib"}


def test_a_requirements_file_saved_on_windows_reads_as_pip_reads_it(tmp_path: Path) -> None:
    """A UTF-8 byte order mark and CRLF line ends (Notepad, Visual Studio): pip takes them;
    the BOM was read as part of the first requirement ("not a valid requirement")."""
    project = make_project(tmp_path)
    path = tmp_path / "fn" / "requirements.txt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\xef\xbb\xbfsix==1.17.0\r\n# comment\r\nattrs \\\r\n  ==24.2.0\r\n")
    inputs = PythonBuilder().dependency_inputs(settings(), "fn", project)
    assert requirement_lines(inputs) == ["attrs==24.2.0", "six==1.17.0"]


def test_ranges_on_runtime_provided_packages_are_kept_for_the_package(tmp_path: Path) -> None:
    """A top-level range on boto3 & co. goes into the install's identity (the package holds
    it against the runtime's version); ranges on other packages, pins and constraints do not."""
    project = make_project(tmp_path)
    write(tmp_path / "fn" / "requirements.txt",
          "-c constraints.txt\nBoto3 >= 1.28.57\nrequests>=2\nsix==1.16.0\n")
    write(tmp_path / "fn" / "constraints.txt", "botocore<2\n")
    inputs = PythonBuilder().dependency_inputs(settings(), "fn", project)
    reqs = RequirementSet.of(inputs)
    assert reqs.provided_ranges == ("boto3>=1.28.57",)
    assert reqs.pinned == {"six"}
    write(tmp_path / "py" / "pyproject.toml",
          '[project]\nname = "py"\nversion = "0"\ndependencies = ["urllib3>=2; python_version >= \'3.10\'"]\n')
    inputs = PythonBuilder().dependency_inputs(settings(), "py", project)
    assert RequirementSet.of(inputs).provided_ranges == ('urllib3>=2; python_version >= "3.10"',)
    # nothing of the kind: no new key (identities of existing installs do not change)
    write(tmp_path / "plain" / "requirements.txt", "requests>=2\nboto3\n")
    inputs = PythonBuilder().dependency_inputs(settings(), "plain", project)
    assert [k for k, _ in inputs.canonical if k == "provided-range"] == []


def test_uv_lock_is_exported_and_only_pyproject_pins_count(tmp_path: Path, wheelhouse: Path) -> None:
    from lambdaforge.builders.python.tools import uv_binary

    project = make_project(tmp_path)
    link_wheelhouse(tmp_path, wheelhouse)
    fn = tmp_path / "fn"
    write(
        fn / "pyproject.toml",
        '[project]\nname = "fn"\nversion = "0"\nrequires-python = ">=3.10"\n'
        'dependencies = ["dep-a", "markered", "purelib==1.0"]\n',
    )
    subprocess.run(
        [uv_binary(), "lock", "--no-index", "--find-links", "../wheels", "--no-progress"],
        cwd=fn, check=True, capture_output=True,
        env={k: v for k, v in {**__import__("os").environ, **isolated_installer_env()}.items() if v is not None},
    )
    s = settings(find_links=("wheels",), no_index=True)
    inputs = PythonBuilder().dependency_inputs(s, "fn", project)
    assert requirement_lines(inputs) == [
        "dep-a==1.0",
        "dep-b==1.0",
        "markered==1.0",
        "purelib==1.0",
        'tomli-like==1.0; python_full_version < "3.12"',
    ]
    assert RequirementSet.of(inputs).pinned == {"purelib"}


def test_layer_source_prefix_respects_an_existing_python_dir() -> None:
    b = PythonBuilder()
    assert b.source_prefix("function", frozenset({"app.py"})) == ""
    assert b.source_prefix("layer", frozenset({"shared"})) == "python/"
    assert b.source_prefix("layer", frozenset({"python"})) == ""
    assert (b.dependency_prefix("function"), b.dependency_prefix("layer")) == ("", "python/")


def test_unreadable_requirement_sources_are_config_errors_naming_the_file(tmp_path):
    from lambdaforge.builders.python import PythonBuilder
    from lambdaforge.errors import ConfigError
    from tests.python_builder.conftest import make_project, settings

    project = make_project(tmp_path)
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "requirements.txt").write_bytes(b"caf\xe9-lib\n")
    with pytest.raises(ConfigError, match=r"not UTF-8 text"):
        PythonBuilder().dependency_inputs(settings(requirements="fn/requirements.txt"), "fn", project)
    (tmp_path / "fn" / "pyproject.toml").write_text("project = 3\n")
    with pytest.raises(ConfigError, match=r"`project.dependencies` must be a list"):
        PythonBuilder().dependency_inputs(settings(requirements="fn/pyproject.toml"), "fn", project)


def test_credentials_stay_out_of_the_install_identity_but_reach_the_installer(tmp_path: Path) -> None:
    from lambdaforge.fingerprint import canonical_json
    from lambdaforge.graph import install_digest, install_id

    project = make_project(tmp_path)

    def inputs_with(password: str):
        write(
            tmp_path / "fn" / "requirements.txt",
            f"--index-url https://alice:{password}@idx.example/simple\n"
            "--find-links https://bob:pw-links@links.example/wheels/\n"
            "private @ https://pw-token@files.example/private-1.0-py3-none-any.whl\n"
            "six\n",
        )
        s = settings(extra_index_urls=("https://__token__:pw-extra@extra.example/simple",))
        return PythonBuilder().dependency_inputs(s, "fn", project)

    inputs = inputs_with("pw-index")
    assert inputs is not None
    shown = repr(inputs) + canonical_json(list(inputs.canonical)) + install_id(inputs)
    for secret in ("pw-index", "pw-extra", "pw-links", "pw-token"):
        assert secret not in shown
    digest = r" \(credentials scrypt:[0-9a-f]{32}\)"
    values = dict(inputs.canonical)
    assert re.fullmatch(r"https://alice:\*\*\*@idx\.example/simple" + digest, values["index-url"])
    assert re.fullmatch(r"https://__token__:\*\*\*@extra\.example/simple" + digest,
                        values["extra-index-url"])
    assert re.fullmatch(r"https://bob:\*\*\*@links\.example/wheels/" + digest, values["find-links"])
    assert re.fullmatch(r"private @ https://\*\*\*@files\.example/private-1\.0-py3-none-any\.whl"
                        + digest, requirement_lines(inputs)[0])

    # What the installer is given: the real thing.
    reqs = RequirementSet.of(inputs)
    assert reqs.index_url == "https://alice:pw-index@idx.example/simple"
    assert reqs.extra_index_urls == ("https://__token__:pw-extra@extra.example/simple",)
    assert reqs.find_links == ("https://bob:pw-links@links.example/wheels/",)
    assert reqs.requirements == (
        "private @ https://pw-token@files.example/private-1.0-py3-none-any.whl", "six")
    assert [r.name for r in reqs.root_requirements()] == ["private", "six"]

    # Another password is another install (never one cache entry for both), the same one
    # the same install.
    assert inputs_with("pw-index-2") != inputs
    assert install_digest(inputs_with("pw-index-2")) != install_digest(inputs)
    assert install_digest(inputs_with("pw-index")) == install_digest(inputs)


def test_a_config_error_quoting_a_credential_hides_it(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    write(tmp_path / "fn" / "requirements.txt",
          '--index-url "https://alice:pw-index@idx.example/simple\nsix\n')
    with pytest.raises(ConfigError) as info:
        PythonBuilder().dependency_inputs(settings(), "fn", project)
    assert str(info.value) == (
        'fn/requirements.txt:1: cannot parse `--index-url "https://alice:***@idx.example/simple`: '
        "No closing quotation")
    assert "pw-index" not in info.value.issues[0].message


def test_a_poetry_table_with_only_python_is_no_dependency(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    write(tmp_path / "fn" / "pyproject.toml", '[tool.poetry.dependencies]\npython = "^3.12"\n')
    assert PythonBuilder().dependency_inputs(settings(), "fn", project) is None




def _uv_lock(fn: Path) -> None:
    import os

    from lambdaforge.builders.python.tools import uv_binary

    env = {k: v for k, v in {**os.environ, **isolated_installer_env()}.items() if v is not None}
    subprocess.run([uv_binary(), "lock", "--no-index", "--find-links", "../wheels", "--no-progress"],
                   cwd=fn, check=True, capture_output=True, env=env)


def _locked_uv_project(tmp_path: Path, wheelhouse: Path):
    """A project whose function ``fn`` is a uv project requiring dep-a, locked; and ``fn``."""
    project = make_project(tmp_path)
    link_wheelhouse(tmp_path, wheelhouse)
    fn = tmp_path / "fn"
    write(fn / "pyproject.toml", '[project]\nname = "fn"\nversion = "0"\nrequires-python = ">=3.10"\n'
                                 'dependencies = ["dep-a"]\n')
    _uv_lock(fn)
    return project, fn


def test_a_stale_uv_lock_says_to_run_uv_lock_unless_locked_is_false(tmp_path: Path, wheelhouse: Path) -> None:
    project, fn = _locked_uv_project(tmp_path, wheelhouse)
    write(fn / "pyproject.toml", '[project]\nname = "fn"\nversion = "0"\nrequires-python = ">=3.10"\n'
                                 'dependencies = ["dep-a", "purelib==1.0"]\n')
    s = settings(find_links=("wheels",), no_index=True)
    with pytest.raises(ConfigError) as err:
        PythonBuilder().dependency_inputs(s, "fn", project)
    assert str(err.value) == ("fn/uv.lock: out of date with pyproject.toml: run `uv lock` (or set "
                              "`locked = false` to build from the lock as it is)")
    stale = PythonBuilder().dependency_inputs(settings(find_links=("wheels",), no_index=True,
                                                       locked=False), "fn", project)
    assert requirement_lines(stale) == ["dep-a==1.0", "dep-b==1.0"]
    _uv_lock(fn)
    assert requirement_lines(PythonBuilder().dependency_inputs(s, "fn", project)) == [
        "dep-a==1.0", "dep-b==1.0", "purelib==1.0"]


def test_a_current_uv_lock_no_interpreter_can_check_says_so(tmp_path: Path, wheelhouse: Path) -> None:
    # `uv export --locked` failed for want of a Python that requires-python admits, and the
    # current lock was reported "out of date with pyproject.toml: run `uv lock`"
    project, fn = _locked_uv_project(tmp_path, wheelhouse)
    for name in ("pyproject.toml", "uv.lock"):  # locked as if for a Python this machine lacks
        (fn / name).write_text((fn / name).read_text().replace('">=3.10"', '">=3.99"'))
    s = settings(find_links=("wheels",), no_index=True)
    with pytest.raises(ConfigError) as err:
        PythonBuilder().dependency_inputs(s, "fn", project)
    assert str(err.value) == (
        "fn/uv.lock: cannot be checked against pyproject.toml: uv found no interpreter for Python "
        ">=3.99 (`requires-python`) on this machine. Install one where uv looks for it (`uv python "
        "install`, or on PATH), or set `locked = false` to build from the lock as it is")
    unchecked = PythonBuilder().dependency_inputs(settings(find_links=("wheels",), no_index=True,
                                                           locked=False), "fn", project)
    assert requirement_lines(unchecked) == ["dep-a==1.0", "dep-b==1.0"]


def test_uv_groups_are_opt_in_even_default_ones(tmp_path: Path, wheelhouse: Path) -> None:
    project = make_project(tmp_path)
    link_wheelhouse(tmp_path, wheelhouse)
    fn = tmp_path / "fn"
    write(fn / "pyproject.toml", '[project]\nname = "fn"\nversion = "0"\nrequires-python = ">=3.10"\n'
                                 'dependencies = ["purelib"]\n\n[dependency-groups]\n'
                                 'dev = ["dep-a"]\ntest = ["dep-b"]\n\n'
                                 '[tool.uv]\ndefault-groups = ["dev", "test"]\n')
    _uv_lock(fn)
    s = dict(find_links=("wheels",), no_index=True)
    assert requirement_lines(PythonBuilder().dependency_inputs(settings(**s), "fn", project)) == [
        "purelib==1.0"]
    assert requirement_lines(PythonBuilder().dependency_inputs(
        settings(groups=("test",), **s), "fn", project)) == ["dep-b==1.0", "purelib==1.0"]


def _uv_workspace(tmp_path: Path, *, member_source: bool = True) -> Path:
    """A uv workspace at ``tmp_path``: members ``packages/common`` (needs dep-a) and
    ``functions/api`` (needs common, from the workspace when ``member_source``)."""
    write(tmp_path / "pyproject.toml", '[project]\nname = "root"\nversion = "0"\n'
          'requires-python = ">=3.10"\n\n[tool.uv.workspace]\nmembers = ["packages/*", "functions/*"]\n')
    write(tmp_path / "packages/common/pyproject.toml",
          '[project]\nname = "common"\nversion = "0.1"\nrequires-python = ">=3.10"\n'
          'dependencies = ["dep-a"]\n\n[build-system]\nrequires = ["setuptools"]\n'
          'build-backend = "setuptools.build_meta"\n')
    write(tmp_path / "functions/api/pyproject.toml",
          '[project]\nname = "api"\nversion = "0"\nrequires-python = ">=3.10"\n'
          'dependencies = ["common", "purelib==1.0"]\n'
          + ('\n[tool.uv.sources]\ncommon = { workspace = true }\n' if member_source else ""))
    return tmp_path / "functions/api"


def test_a_uv_workspace_member_is_read_with_the_workspaces_lock(tmp_path: Path, wheelhouse: Path) -> None:
    """A member's ``common`` is the workspace's ``packages/common``, not the index's
    package of that name (which plain ``[project] dependencies`` would install)."""
    project = make_project(tmp_path)
    link_wheelhouse(tmp_path, wheelhouse)
    _uv_workspace(tmp_path, member_source=False)
    s = settings(find_links=("wheels",), no_index=True)
    # Without sources and lock, uv would read the member's dependencies as they are; the
    # install watches where a workspace root or lock may appear (a no-op must not miss it).
    plain = PythonBuilder().dependency_inputs(s, "functions/api", project)
    assert requirement_lines(plain) == ["common", "purelib==1.0"]
    assert {"functions/pyproject.toml", "pyproject.toml", "uv.lock"} <= set(plain.watched)
    _uv_workspace(tmp_path)
    with pytest.raises(ConfigError) as err:  # no uv.lock yet
        PythonBuilder().dependency_inputs(s, "functions/api", project)
    assert str(err.value).startswith(
        "functions/api/pyproject.toml: `[tool.uv.sources]` says where `common` comes from, and "
        "only a uv.lock records it: run `uv lock` in `.`, the uv workspace's root")
    _uv_lock(tmp_path / "packages")  # `uv lock` from any member locks the whole workspace
    assert (tmp_path / "uv.lock").is_file()
    inputs = PythonBuilder().dependency_inputs(s, "functions/api", project)
    assert requirement_lines(inputs) == ["dep-a==1.0", "dep-b==1.0", "purelib==1.0",
                                         "{project}/packages/common"]
    assert RequirementSet.of(inputs).pinned == {"purelib"}
    assert inputs.declared_by == "functions/api/pyproject.toml"
    assert {"uv.lock", "pyproject.toml", "functions/api/pyproject.toml"} <= set(inputs.watched)
    # Named in the config, the member's pyproject.toml is read the same way.
    named = PythonBuilder().dependency_inputs(
        settings(find_links=("wheels",), no_index=True, requirements="functions/api/pyproject.toml"),
        "functions/api", project)
    assert requirement_lines(named) == requirement_lines(inputs)


def test_sources_a_member_inherits_from_the_workspace_root_need_the_lock_too(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    _uv_workspace(tmp_path, member_source=False)
    root = tmp_path / "pyproject.toml"
    root.write_text(root.read_text() + '\n[tool.uv.sources]\ncommon = { workspace = true }\n')
    with pytest.raises(ConfigError, match=r"^functions/api/pyproject.toml: `\[tool.uv.sources\]` "
                       r"\(pyproject.toml, which its members inherit\) says where `common` comes from"):
        PythonBuilder().dependency_inputs(settings(), "functions/api", project)


def test_a_folder_the_workspace_does_not_count_is_read_on_its_own(tmp_path: Path) -> None:
    """Excluded from the workspace (or matched by none of its ``members``), a project is
    its own: its ``[project] dependencies`` are read as they are, as uv reads them."""
    project = make_project(tmp_path)
    _uv_workspace(tmp_path, member_source=False)
    write(tmp_path / "uv.lock", "version = 1\n")  # the workspace's: not this project's
    root = tmp_path / "pyproject.toml"
    root.write_text(root.read_text() + 'exclude = ["functions/api"]\n')
    inputs = PythonBuilder().dependency_inputs(settings(), "functions/api", project)
    assert requirement_lines(inputs) == ["common", "purelib==1.0"]
    assert inputs.declared_by == "functions/api/pyproject.toml"
    assert "uv.lock" not in inputs.watched


def test_extras_and_groups_of_a_pyproject_without_a_lock_are_installed(tmp_path: Path) -> None:
    """``extras`` and ``groups`` select ``[project.optional-dependencies]`` and PEP 735
    ``[dependency-groups]`` (includes followed) of a lock-less pyproject.toml too; before,
    they were ignored there and the build was green without them."""
    project = make_project(tmp_path)
    write(tmp_path / "fn" / "pyproject.toml",
          '[project]\nname = "fn"\nversion = "0"\ndependencies = ["attrs"]\n\n'
          '[project.optional-dependencies]\nNet = ["idna>=3"]\nother = ["six"]\n\n'
          '[dependency-groups]\nbase = ["click"]\nprod = ["rich", {include-group = "base"}]\n'
          'dev = ["pytest"]\n')
    inputs = PythonBuilder().dependency_inputs(settings(extras=("net",), groups=("prod",)), "fn", project)
    assert requirement_lines(inputs) == ["attrs", "click", "idna>=3", "rich"]
    with pytest.raises(ConfigError) as err:
        PythonBuilder().dependency_inputs(settings(extras=("nett",), groups=("test",)), "fn", project)
    assert str(err.value).splitlines() == [
        "fn/pyproject.toml: extras: no extra `nett` here (it defines: Net, other)",
        "fn/pyproject.toml: groups: no group `test` here (it defines: base, dev, prod)",
    ]
    write(tmp_path / "fn" / "pyproject.toml",
          '[project]\nname = "fn"\nversion = "0"\n\n[dependency-groups]\n'
          'a = [{include-group = "b"}]\nb = [{include-group = "a"}, 3]\n')
    with pytest.raises(ConfigError) as err:
        PythonBuilder().dependency_inputs(settings(groups=("a",)), "fn", project)
    assert str(err.value).splitlines() == [
        "fn/pyproject.toml: group `a` includes itself (a → b → a)",
        "fn/pyproject.toml: group `b`: 3 is neither a requirement string nor an existing "
        "`{include-group = …}`",
    ]


def test_extras_or_groups_for_a_requirements_file_are_an_error(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    write(tmp_path / "fn" / "requirements.txt", "attrs\n")
    with pytest.raises(ConfigError) as err:
        PythonBuilder().dependency_inputs(settings(extras=("net",)), "fn", project)
    assert str(err.value) == (
        'fn/requirements.txt: extras: a requirements file has no extras, and `extras = ["net"]` '
        "would install nothing more: list what to install in it, or unset `extras`")


def test_environment_variables_in_a_requirements_file_are_expanded_as_pip_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``${NAME}`` is the variable's value (pip's and uv's rule: upper case, digits and
    ``_``; unset or empty stays as written); before, it reached the installer literally, and
    the private index got ``${ART_USER}:${ART_TOKEN}`` while the public one answered."""
    project = make_project(tmp_path)
    monkeypatch.setenv("ART_USER", "alice")
    monkeypatch.setenv("ART_TOKEN", "s3cret-token")
    monkeypatch.setenv("PKG_VERSION", "1.0")
    monkeypatch.delenv("UNSET_ONE", raising=False)
    monkeypatch.setenv("lower", "no")
    write(tmp_path / "fn" / "requirements.txt",
          "--extra-index-url https://${ART_USER}:${ART_TOKEN}@art.example/simple\n"
          "-r ${UNSET_ONE}extra.txt\n"
          "mylib==${PKG_VERSION}  # ${lower}\n")
    write(tmp_path / "fn" / "${UNSET_ONE}extra.txt", "six\n")
    inputs = PythonBuilder().dependency_inputs(settings(), "fn", project)
    values = dict(inputs.canonical)
    assert values["extra-index-url"].startswith("https://alice:***@art.example/simple (credentials scrypt:")
    assert inputs.reveal(values["extra-index-url"]) == "https://alice:s3cret-token@art.example/simple"
    assert requirement_lines(inputs) == ["mylib==1.0", "six"]
    assert inputs.variables == ("ART_TOKEN", "ART_USER", "PKG_VERSION", "UNSET_ONE")
    assert "s3cret-token" not in repr(inputs) + repr(inputs.canonical)
    # Another value is another install.
    monkeypatch.setenv("ART_TOKEN", "rotated")
    assert PythonBuilder().dependency_inputs(settings(), "fn", project) != inputs


def test_a_requirements_files_variables_are_observed_by_digest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lambdaforge import observe

    monkeypatch.setenv("ART_TOKEN", "s3cret-token")
    obs = observe.env_digest_obs("ART_TOKEN")
    assert obs[0] == "v" and "s3cret" not in repr(obs) and observe.is_well_formed(obs)
    assert observe.holds(obs, str(tmp_path), 0)
    monkeypatch.setenv("ART_TOKEN", "rotated")
    assert not observe.holds(obs, str(tmp_path), 0)
    monkeypatch.delenv("ART_TOKEN")
    assert not observe.holds(obs, str(tmp_path), 0)
    assert observe.holds(observe.env_digest_obs("ART_TOKEN"), str(tmp_path), 0)
    assert observe.env_digest("ART_TOKEN") == ""
    monkeypatch.setenv("ART_TOKEN", "")
    assert observe.env_digest("ART_TOKEN") != ""  # set but empty is not unset
