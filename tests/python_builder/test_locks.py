"""Poetry, Pipenv and PEP 751 locks read directly; stale locks and unsupported entries are
errors, and so is a PDM lock (not read)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lambdaforge.builders.python import PythonBuilder
from lambdaforge.builders.python.poetry import decide_extras
from lambdaforge.builders.python.requirements import RequirementSet
from lambdaforge.errors import ConfigError
from tests.python_builder.conftest import context, link_wheelhouse, make_project, settings
from tests.support import locks


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def lines(inputs) -> list[str]:
    return [v.split(" --hash")[0] for k, v in inputs.canonical if k == "requirement"]


def project_with(tmp_path: Path, files: dict[str, str]):
    """A project whose function ``fn`` holds ``files``."""
    project = make_project(tmp_path)
    for name, text in files.items():
        write(tmp_path / "fn" / name, text)
    return project


def poetry_files(wheelhouse: Path, **lock_args) -> dict[str, str]:
    return {"pyproject.toml": locks.POETRY_PYPROJECT,
            "poetry.lock": locks.poetry_lock(wheelhouse, **lock_args)}


def pipenv_files(wheelhouse: Path, **lock_args) -> dict[str, str]:
    return {"Pipfile": locks.PIPFILE, "Pipfile.lock": locks.pipfile_lock(wheelhouse, **lock_args)}


def test_ranges_on_runtime_provided_packages_in_pipfile_and_poetry_tables(tmp_path: Path, wheelhouse: Path) -> None:
    """A Pipfile's ``boto3 = ">=1.28.57"`` and Poetry's ``boto3 = "^1.28.57"`` (``>=1.28.57,<2``)
    reach the package, which holds them against the runtime's boto3 (see test_dists)."""
    pipfile = locks.PIPFILE.replace('purelib = "==1.0"\n', 'purelib = "==1.0"\nboto3 = ">=1.28.57"\nsix = "*"\n')
    project = project_with(tmp_path, {"Pipfile": pipfile, "Pipfile.lock": locks.pipfile_lock(wheelhouse, pipfile)})
    inputs = PythonBuilder().dependency_inputs(settings(), "fn", project)
    assert RequirementSet.of(inputs).provided_ranges == ("boto3>=1.28.57",)
    pyproject = locks.POETRY_PYPROJECT.replace('purelib = "1.0"\n', 'purelib = "1.0"\nboto3 = {version = "^1.28.57"}\n')
    digest = locks.poetry_content_hash(
        {"python": "^3.12", "dep-a": "^1.0", "purelib": "1.0", "boto3": {"version": "^1.28.57"}},
        {"dev": {"dependencies": {"markered": "*"}}})
    for name in ("Pipfile", "Pipfile.lock"):
        (tmp_path / "fn" / name).unlink()
    write(tmp_path / "fn" / "pyproject.toml", pyproject)
    write(tmp_path / "fn" / "poetry.lock", locks.poetry_lock(wheelhouse, content_hash=digest))
    inputs = PythonBuilder().dependency_inputs(settings(), "fn", project)
    assert RequirementSet.of(inputs).provided_ranges == ("boto3<2,>=1.28.57",)


def test_poetry_lock_ships_the_main_group_with_hashes(tmp_path: Path, wheelhouse: Path) -> None:
    project = project_with(tmp_path, poetry_files(wheelhouse))
    inputs = PythonBuilder().dependency_inputs(settings(), "fn", project)
    assert lines(inputs) == ["dep-a==1.0", "dep-b==1.0", "purelib==1.0"]
    assert (f"requirement", f"purelib==1.0 --hash={locks.sha256_of(wheelhouse, 'purelib')}") \
        in inputs.canonical
    # "1.0" is an exact pin in Poetry: it keeps a runtime-provided package of that name
    assert RequirementSet.of(inputs).pinned == {"purelib"}
    assert inputs.declared_by == "fn/poetry.lock"


def test_poetry_groups_are_opt_in_with_their_markers(tmp_path: Path, wheelhouse: Path) -> None:
    project = project_with(tmp_path, poetry_files(wheelhouse))
    inputs = PythonBuilder().dependency_inputs(settings(groups=("dev",)), "fn", project)
    assert lines(inputs) == ["dep-a==1.0", "dep-b==1.0", "markered==1.0", "purelib==1.0",
                             'tomli-like==1.0; python_version < "3.12"']


EXTRA = """
[[package]]
name = "requests"
version = "1.0"
description = ""
optional = true
python-versions = "*"
groups = ["main"]
markers = "extra == \\"web\\""
files = []

[extras]
web = ["requests"]
"""


def test_poetry_extras_select_optional_packages(tmp_path: Path, wheelhouse: Path) -> None:
    project = project_with(tmp_path, poetry_files(wheelhouse, extra_packages=EXTRA))
    without = PythonBuilder().dependency_inputs(settings(), "fn", project)
    assert "requests==1.0" not in lines(without)
    with_web = PythonBuilder().dependency_inputs(settings(extras=("web",)), "fn", project)
    assert "requests==1.0" in lines(with_web)
    with pytest.raises(ConfigError) as err:
        PythonBuilder().dependency_inputs(settings(extras=("cli",)), "fn", project)
    assert str(err.value) == "fn/poetry.lock: extra `cli` is not declared in the lock (known: web)"


def test_extra_terms_of_markers_are_decided_by_the_selection() -> None:
    from packaging.markers import Marker

    m = Marker('python_version < "3.12" and (extra == "web" or sys_platform == "linux")')
    assert decide_extras(m, {"web"}) == 'python_version < "3.12"'
    assert decide_extras(m, set()) == 'python_version < "3.12" and (sys_platform == "linux")'
    assert decide_extras(Marker('extra == "web"'), set()) is False
    assert decide_extras(Marker('extra != "web"'), set()) is True


def error_after_edit(project, name: str, old: str, new: str) -> str:
    """The ConfigError text of ``fn`` once ``old`` is replaced by ``new`` in ``fn/NAME``."""
    path = project.root / "fn" / name
    path.write_text(path.read_text().replace(old, new))
    with pytest.raises(ConfigError) as err:
        PythonBuilder().dependency_inputs(settings(), "fn", project)
    return str(err.value)


def line_with(path: Path, needle: str) -> int:
    return next(i for i, t in enumerate(path.read_text().splitlines(), 1) if needle in t)


def test_a_stale_poetry_lock_says_to_run_poetry_lock(tmp_path: Path, wheelhouse: Path) -> None:
    project = project_with(tmp_path, poetry_files(wheelhouse))
    error = error_after_edit(project, "pyproject.toml", 'purelib = "1.0"', 'purelib = "2.0"')
    line = line_with(tmp_path / "fn" / "poetry.lock", "content-hash")
    assert error == (f"fn/poetry.lock:{line}: out of date with pyproject.toml (its "
                              "content-hash differs): run `poetry lock`")


def test_the_pep621_layout_of_poetry_2_is_hashed_as_poetry_does(tmp_path: Path, wheelhouse: Path) -> None:
    import hashlib

    project = make_project(tmp_path)
    write(tmp_path / "fn" / "pyproject.toml",
          '[project]\nname = "fn"\nversion = "0"\nrequires-python = ">=3.12"\n'
          'dependencies = ["purelib==1.0"]\n\n[tool.poetry]\npackage-mode = false\n')
    content = {"project": {"requires-python": ">=3.12", "dependencies": ["purelib==1.0"]},
               "tool": {"poetry": {}}}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    write(tmp_path / "fn" / "poetry.lock", locks.poetry_lock(wheelhouse, content_hash=digest))
    inputs = PythonBuilder().dependency_inputs(settings(), "fn", project)
    assert lines(inputs) == ["dep-a==1.0", "dep-b==1.0", "purelib==1.0"]
    assert RequirementSet.of(inputs).pinned == {"purelib"}


PATH_PACKAGE = """
[[package]]
name = "mylib"
version = "0.1"
description = ""
optional = false
python-versions = "*"
groups = ["main"]
files = []

[package.source]
type = "directory"
url = "../mylib"
"""


def test_path_packages_and_old_lock_formats_are_refused_by_name(tmp_path: Path, wheelhouse: Path) -> None:
    project = project_with(tmp_path, poetry_files(wheelhouse, extra_packages=PATH_PACKAGE))
    with pytest.raises(ConfigError) as err:
        PythonBuilder().dependency_inputs(settings(), "fn", project)
    lock_text = (tmp_path / "fn" / "poetry.lock").read_text().splitlines()
    line = lock_text.index('name = "mylib"') + 1
    assert str(err.value) == (
        f"fn/poetry.lock:{line}: `mylib` is a directory dependency (`../mylib`), which "
        "lambdaforge does not install from poetry.lock: publish it to an index or a "
        "`find-links` wheel folder")
    lock = tmp_path / "fn" / "poetry.lock"
    lock.write_text(locks.poetry_lock(wheelhouse).replace('lock-version = "2.1"', 'lock-version = "0.9"'))
    with pytest.raises(ConfigError, match=r"lock format 0.9 is not one Poetry 1.x or 2.x writes "
                                          r"\(1.0 to 2.1\): run `poetry lock`"):
        PythonBuilder().dependency_inputs(settings(), "fn", project)


def test_poetry_without_a_lock_says_to_run_poetry_lock(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    write(tmp_path / "fn" / "pyproject.toml", locks.POETRY_PYPROJECT)
    with pytest.raises(ConfigError) as err:
        PythonBuilder().dependency_inputs(settings(), "fn", project)
    assert str(err.value) == ("fn/pyproject.toml: `tool.poetry.dependencies` declares dep-a, "
                              "purelib but there is no poetry.lock beside it: run `poetry lock`")


def test_pipfile_lock_ships_default_never_develop(tmp_path: Path, wheelhouse: Path) -> None:
    project = project_with(tmp_path, pipenv_files(wheelhouse))
    inputs = PythonBuilder().dependency_inputs(settings(), "fn", project)
    assert lines(inputs) == ["dep-a==1.0", "dep-b==1.0", 'purelib==1.0; python_version >= "3.8"']
    assert RequirementSet.of(inputs).pinned == {"purelib"}
    assert inputs.declared_by == "fn/Pipfile.lock"
    assert not any(k in ("index-url", "extra-index-url") for k, _ in inputs.canonical)


def test_a_stale_pipfile_lock_or_a_pipfile_without_lock_says_to_run_pipenv_lock(
    tmp_path: Path, wheelhouse: Path
) -> None:
    project = project_with(tmp_path, pipenv_files(wheelhouse))
    error = error_after_edit(project, "Pipfile", 'dep-a = "*"', 'dep-a = "==1.0"')
    line = line_with(tmp_path / "fn" / "Pipfile.lock", '"sha256"')
    assert error == (f"fn/Pipfile.lock:{line}: out of date with Pipfile (its "
                              "_meta.hash differs): run `pipenv lock`")
    (tmp_path / "fn" / "Pipfile.lock").unlink()
    with pytest.raises(ConfigError) as err:
        PythonBuilder().dependency_inputs(settings(), "fn", project)
    assert str(err.value) == ("fn/Pipfile: no Pipfile.lock beside it: run `pipenv lock` "
                              "(lambdaforge installs the locked versions)")


def test_pipfile_lock_vcs_entries_are_refused_by_name(tmp_path: Path, wheelhouse: Path) -> None:
    project = project_with(tmp_path, pipenv_files(wheelhouse, default_extra={
        "mylib": {"git": "https://example.invalid/mylib.git", "ref": "abc"}}))
    with pytest.raises(ConfigError) as err:
        PythonBuilder().dependency_inputs(settings(), "fn", project)
    assert str(err.value).endswith(
        ": `mylib` is a git entry (`https://example.invalid/mylib.git`), which lambdaforge "
        "does not install from Pipfile.lock: publish it to an index or a `find-links` wheel folder")
    assert str(err.value).startswith("fn/Pipfile.lock:")


def test_precedence_requirements_txt_then_locks_then_pyproject(tmp_path: Path, wheelhouse: Path) -> None:
    project = project_with(tmp_path, pipenv_files(wheelhouse))
    write(tmp_path / "fn" / "pyproject.toml",
          '[project]\nname = "fn"\nversion = "0"\ndependencies = ["markered"]\n')
    assert PythonBuilder().dependency_inputs(settings(), "fn", project).declared_by == "fn/Pipfile.lock"
    write(tmp_path / "fn" / "poetry.lock", "")  # beside a pyproject: Poetry's lock comes first
    with pytest.raises(ConfigError, match="fn/poetry.lock"):
        PythonBuilder().dependency_inputs(settings(), "fn", project)
    write(tmp_path / "fn" / "requirements.txt", "purelib\n")
    inputs = PythonBuilder().dependency_inputs(settings(), "fn", project)
    assert (inputs.declared_by, lines(inputs)) == ("fn/requirements.txt", ["purelib"])
    # a configured file wins over everything
    inputs = PythonBuilder().dependency_inputs(settings(requirements="fn/Pipfile"), "fn", project)
    assert inputs.declared_by == "fn/Pipfile.lock"


@pytest.mark.parametrize("lock_version", ["1.1", "2.0"])
def test_poetry_1_locks_ship_main_for_the_target_and_never_dev(tmp_path: Path, wheelhouse: Path,
                                                               lock_version: str) -> None:
    """Poetry 1.x formats: categories (1.1) or none (2.0 of Poetry 1.5+), hashes in
    [metadata.files] or per package; the walk from pyproject decides, for the target."""
    project = project_with(tmp_path, {"pyproject.toml": locks.POETRY1_PYPROJECT,
                                      "poetry.lock": locks.poetry1_lock(wheelhouse, lock_version=lock_version)})
    inputs = PythonBuilder().dependency_inputs(settings(), "fn", project)
    assert lines(inputs) == ["dep-a==1.0", "dep-b==1.0", "purelib==1.0"]  # tomli-like: python < 3.12
    assert ("requirement", f"dep-b==1.0 --hash={locks.sha256_of(wheelhouse, 'dep_b')}") in inputs.canonical
    assert RequirementSet.of(inputs).pinned == {"purelib"}
    older = PythonBuilder().dependency_inputs(settings(runtime="python3.11"), "fn", project)
    assert lines(older) == ["dep-a==1.0", "dep-b==1.0", "purelib==1.0", "tomli-like==1.0"]
    with_dev = PythonBuilder().dependency_inputs(settings(groups=("dev",)), "fn", project)
    assert "markered==1.0" in lines(with_dev)
    # still checked against pyproject.toml
    error = error_after_edit(project, "pyproject.toml", 'purelib = "1.0"', 'purelib = "2.0"')
    assert error.endswith("out of date with pyproject.toml (its content-hash differs): run `poetry lock`")


def test_poetry_constraints_on_python_are_read_as_poetry_means_them() -> None:
    from lambdaforge.builders.python.poetry_legacy import python_allows

    assert python_allows("^3.8", "3.12.0") and not python_allows("^3.8", "4.0.0")
    assert python_allows("~3.11", "3.11.0") and not python_allows("~3.11", "3.12.0")
    assert python_allows(">=3.7,<3.13", "3.12.0") and not python_allows(">=3.7,<3.12", "3.12.0")
    assert python_allows("<3.8 || >=3.12", "3.12.0") and not python_allows("<3.8 || >=3.13", "3.12.0")
    assert python_allows("3.12.*", "3.12.0") and python_allows("*", "3.12.0")
    assert not python_allows("^0.2", "0.3.0") and python_allows("^0.2", "0.2.5")


def test_pipenv_source_urls_expand_environment_variables_as_pipenv_does(
        tmp_path: Path, wheelhouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``url = "https://$ART_USER:${ART_TOKEN}@…"``: Pipenv expands ``$NAME`` and
    ``${NAME}`` in its sources and keeps them unexpanded in the lock. Read literally, the
    private index got ``$ART_USER:${ART_TOKEN}`` in a green build that took PyPI's."""
    pipfile = locks.PIPFILE.replace(
        'name = "pypi"\n',
        'name = "pypi"\n\n[[source]]\nurl = "https://$ART_USER:${ART_TOKEN}@art.example/${NOPE}/simple"\n'
        'verify_ssl = true\nname = "art"\n')
    project = project_with(tmp_path, {"Pipfile": pipfile, "Pipfile.lock": locks.pipfile_lock(wheelhouse, pipfile)})
    monkeypatch.setenv("ART_USER", "alice")
    monkeypatch.setenv("ART_TOKEN", "s3cret-token")
    monkeypatch.delenv("NOPE", raising=False)
    inputs = PythonBuilder().dependency_inputs(settings(), "fn", project)
    url = dict(inputs.canonical)["extra-index-url"]
    assert inputs.reveal(url) == "https://alice:s3cret-token@art.example/${NOPE}/simple"
    assert "s3cret" not in url
    assert inputs.variables == ("ART_TOKEN", "ART_USER", "NOPE")


def pylock(wheelhouse: Path, extra: str = "") -> str:
    """A PEP 751 lock of dep-a → dep-b, markered only in the group ``dev``, and tomli-like
    only below Python 3.12 (as ``uv export --format pylock.toml`` writes one), then ``extra``."""
    def package(name: str, marker: str = "") -> str:
        (wheel,) = wheelhouse.glob(f"{name.replace('-', '_')}-*.whl")
        digest = locks.sha256_of(wheelhouse, name).removeprefix("sha256:")
        marker = f"marker = {json.dumps(marker)}\n" if marker else ""
        return (f'\n[[packages]]\nname = "{name}"\nversion = "1.0"\n{marker}'
                f'index = "https://pypi.org/simple"\nwheels = [{{ name = "{wheel.name}", '
                f'url = "https://files.example/{wheel.name}", hashes = {{ sha256 = "{digest}" }} }}]\n')
    return ('lock-version = "1.0"\ncreated-by = "uv"\nrequires-python = ">=3.11"\n'
            'dependency-groups = ["dev"]\ndefault-groups = []\n'
            + package("dep-a") + package("dep-b") + package("markered", "'dev' in dependency_groups")
            + package("tomli-like", "python_version < '3.12'") + extra)


PYLOCK_PYPROJECT = '[project]\nname = "fn"\nversion = "0"\ndependencies = ["dep-a>=0.5"]\n'


def test_a_pylock_beside_pyproject_ships_the_locked_versions_with_hashes(tmp_path: Path, wheelhouse: Path) -> None:
    # it was ignored: pyproject.toml's ranges resolved afresh, other versions than locked
    project = project_with(tmp_path, {"pyproject.toml": PYLOCK_PYPROJECT, "pylock.toml": pylock(wheelhouse)})
    inputs = PythonBuilder().dependency_inputs(settings(), "fn", project)
    assert inputs.declared_by == "fn/pylock.toml"
    assert lines(inputs) == ["dep-a==1.0", "dep-b==1.0"]
    assert ("requirement", f"dep-b==1.0 --hash={locks.sha256_of(wheelhouse, 'dep-b')}") in inputs.canonical
    assert RequirementSet.of(inputs).hash_checking
    inputs = PythonBuilder().dependency_inputs(settings(groups=("dev",)), "fn", project)
    assert lines(inputs) == ["dep-a==1.0", "dep-b==1.0", "markered==1.0"]
    inputs = PythonBuilder().dependency_inputs(settings(runtime="python3.11"), "fn", project)
    assert lines(inputs) == ["dep-a==1.0", "dep-b==1.0", "tomli-like==1.0"]
    with pytest.raises(ConfigError) as err:
        PythonBuilder().dependency_inputs(settings(groups=("test",)), "fn", project)
    line = line_with(tmp_path / "fn" / "pylock.toml", "dependency-groups")
    assert str(err.value) == f"fn/pylock.toml:{line}: group `test` is not declared in the lock (known: dev)"


def test_a_pylock_named_in_the_config_is_read_as_a_lock(tmp_path: Path, wheelhouse: Path) -> None:
    # it was read as a requirements file: one "not a valid requirement" error per TOML line
    project = project_with(tmp_path, {"pylock.prod.toml": pylock(wheelhouse)})
    inputs = PythonBuilder().dependency_inputs(settings(requirements="fn/pylock.prod.toml"), "fn", project)
    assert (inputs.declared_by, lines(inputs)) == ("fn/pylock.prod.toml", ["dep-a==1.0", "dep-b==1.0"])
    assert PythonBuilder().dependency_inputs(settings(), "fn", project) is None  # only pylock.toml is found


def test_pylock_entries_forge_cannot_install_and_other_targets_are_refused(tmp_path: Path, wheelhouse: Path) -> None:
    vcs = '\n[[packages]]\nname = "mylib"\nvcs = { type = "git", url = "https://example.invalid/mylib.git" }\n'
    text = pylock(wheelhouse, vcs).replace('requires-python = ">=3.11"', 'requires-python = ">=3.13"')
    project = project_with(tmp_path, {"pylock.toml": text})
    with pytest.raises(ConfigError) as err:
        PythonBuilder().dependency_inputs(settings(), "fn", project)
    lock = tmp_path / "fn" / "pylock.toml"
    assert str(err.value).splitlines() == [
        f"fn/pylock.toml:{line_with(lock, 'requires-python')}: requires-python '>=3.13' excludes "
        "the runtime's Python 3.12",
        f"fn/pylock.toml:{line_with(lock, 'mylib')}: `mylib` comes from a vcs (`vcs` in the lock), "
        "which lambdaforge does not install from a pylock.toml: publish it to an index or a "
        "`find-links` wheel folder",
    ]


def test_a_pdm_lock_is_an_error_not_ignored(tmp_path: Path) -> None:
    # the lock was ignored and pyproject.toml's ranges resolved afresh, without a word
    project = project_with(tmp_path, {"pyproject.toml": PYLOCK_PYPROJECT, "pdm.lock": "[metadata]\n"})
    expected = ("fn/pdm.lock: lambdaforge does not read PDM's lock, and building from "
                "pyproject.toml's ranges instead would ship other versions than it pins: export it "
                '(`pdm export -o requirements.txt`) and name that file with `requirements = "…"`')
    for requirements in (None, "fn/pyproject.toml", "fn/pdm.lock"):
        with pytest.raises(ConfigError) as err:
            PythonBuilder().dependency_inputs(settings(requirements=requirements), "fn", project)
        assert str(err.value) == expected


@pytest.mark.parametrize("tool", ["uv", "pip"])
def test_a_pylock_installs_with_either_installer(tmp_path: Path, wheelhouse: Path, tool_cache: Path,
                                                 tool: str) -> None:
    project = project_with(tmp_path, {"pylock.toml": pylock(wheelhouse)})
    link_wheelhouse(tmp_path, wheelhouse)
    inputs = PythonBuilder().dependency_inputs(
        settings(find_links=("wheels",), no_index=True, installer=tool), "fn", project)
    result = PythonBuilder().install(inputs, tmp_path / "out", context(project, tool_cache, tmp_path / "scratch"))
    assert [d.name for d in result.distributions] == ["dep-a", "dep-b"]
