"""Installs for the target platform with real uv and pip runs, from the local wheelhouse only."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lambdaforge.builders.base import DependencyInputs, InstallResult
from lambdaforge.builders.python import PythonBuilder
from lambdaforge.errors import InstallError
from tests.python_builder.conftest import context, link_wheelhouse, make_project, settings
from tests.support.wheels import build_sdist, write_source_tree

ALL = "purelib\ndep-a\nmarkered\nnative\nsdistonly\n"


class Installer:
    """Sets up a checkout with the wheelhouse and a function's requirements, then installs."""

    def __init__(self, base: Path, wheelhouse: Path, tool_cache: Path) -> None:
        self.base, self.wheelhouse, self.tool_cache = base, wheelhouse, tool_cache

    def inputs(self, checkout: str, requirements: str, **overrides: object) -> tuple[DependencyInputs, object]:
        project = make_project(self.base / checkout)
        link_wheelhouse(project.root, self.wheelhouse)
        req = project.root / "fn" / "requirements.txt"
        req.parent.mkdir(parents=True, exist_ok=True)
        req.write_text(requirements)
        s = settings(find_links=("wheels",), no_index=True, **overrides)
        return PythonBuilder().dependency_inputs(s, "fn", project), project

    def install(self, checkout: str, requirements: str, **overrides: object) -> tuple[Path, InstallResult]:
        inputs, project = self.inputs(checkout, requirements, **overrides)
        dest = project.root / "out"
        result = PythonBuilder().install(inputs, dest, context(project, self.tool_cache, project.root / "scratch"))
        return dest, result


@pytest.fixture(scope="session")
def installer(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path, tool_cache: Path) -> Installer:
    return Installer(tmp_path_factory.mktemp("installs"), wheelhouse, tool_cache)


@pytest.fixture(scope="session")
def uv_312_x86(installer: Installer) -> tuple[Path, InstallResult]:
    return installer.install("uv-312-x86", ALL)


@pytest.fixture(scope="session")
def uv_311_arm(installer: Installer) -> tuple[Path, InstallResult]:
    return installer.install("uv-311-arm", ALL, runtime="python3.11", architecture="arm64")


@pytest.fixture(scope="session")
def pip_312_x86(installer: Installer) -> tuple[Path, InstallResult]:
    return installer.install("pip-312-x86", ALL, installer="pip")


@pytest.fixture(scope="session")
def pip_311_arm(installer: Installer) -> tuple[Path, InstallResult]:
    return installer.install("pip-311-arm", ALL, installer="pip", runtime="python3.11", architecture="arm64")


def names(result: InstallResult) -> list[str]:
    return [d.name for d in result.distributions]


def tree(dest: Path) -> dict[str, bytes]:
    return {p.relative_to(dest).as_posix(): p.read_bytes() for p in sorted(dest.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("fixture", ["uv_312_x86", "uv_311_arm", "pip_312_x86", "pip_311_arm"])
def test_right_wheel_per_architecture(fixture: str, request: pytest.FixtureRequest) -> None:
    dest, _ = request.getfixturevalue(fixture)
    expected = "x86_64" if fixture.endswith("x86") else "aarch64"
    assert (dest / "native" / "ARCH").read_text() == expected
    assert (dest / "native" / "_speedups.abi3.so").read_bytes()[18] == (62 if expected == "x86_64" else 183)


@pytest.mark.parametrize("fixture", ["uv_312_x86", "uv_311_arm", "pip_312_x86", "pip_311_arm"])
def test_markers_are_evaluated_for_the_target_not_the_host(fixture: str, request: pytest.FixtureRequest) -> None:
    # markered requires `tomli-like; python_version < "3.12"`; the host runs 3.11.
    dest, result = request.getfixturevalue(fixture)
    if "312" in fixture:
        assert "tomli-like" not in names(result)
        assert not (dest / "tomli_like").exists()
    else:
        assert "tomli-like" in names(result)
        assert (dest / "tomli_like" / "__init__.py").is_file()
    assert names(result)[:3] == ["dep-a", "dep-b", "markered"]


@pytest.mark.parametrize("fixture", ["uv_312_x86", "pip_312_x86"])
def test_pure_sdist_is_built_and_said(fixture: str, request: pytest.FixtureRequest) -> None:
    dest, result = request.getfixturevalue(fixture)
    assert "built pure-Python wheel for sdistonly 1.0 from its sdist" in result.notes
    assert (dest / "sdistonly" / "__init__.py").is_file()


@pytest.mark.parametrize("tool", ["uv", "pip"])
def test_universal_sdist_is_built_and_said(installer: Installer, tool: str) -> None:
    # A universal wheel (py2.py3-none-any, setuptools' `universal = 1`, docopt 0.6.2) has one
    # `Tag:` line per tag in its WHEEL file: uv's install failed on "an unreadable wheel name
    # 'universal-1.0-py2-none-any.py3-none-any.whl'" made of them.
    root = installer.base / f"universal-{tool}"
    link_wheelhouse(root, installer.wheelhouse)
    build_sdist(root / "wheels", "universal", "1.0", wheel_tag="py2.py3-none-any")
    dest, result = installer.install(f"universal-{tool}", "universal==1.0\n", installer=tool)
    assert "built pure-Python wheel for universal 1.0 from its sdist" in result.notes
    assert (dest / "universal" / "__init__.py").is_file()
    assert (dest / "universal-1.0.dist-info" / "WHEEL").read_text().count("Tag: ") == 2


def _sha256(path: Path) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


HASH_CHECKING = (
    "hash-checking mode (a requirement has `--hash`, or a requirements file says "
    "`--require-hashes`): every package installed, dependencies included, must be pinned with "
    "`==` and have its `--hash` (add the missing lines, e.g. with `uv pip compile --generate-hashes`)"
)


@pytest.mark.parametrize("tool", ["uv", "pip"])
def test_hashes_are_required_of_every_package_once_one_has_them(installer: Installer, tool: str) -> None:
    # pip's hash-checking mode: uv installed dep-b, which nothing hashes, without a word.
    hashed = f"dep-a==1.0 --hash={_sha256(installer.wheelhouse / 'dep_a-1.0-py3-none-any.whl')}\n"
    with pytest.raises(InstallError) as err:
        installer.install(f"hashes-{tool}", hashed, installer=tool)
    message = str(err.value)
    assert message.splitlines()[0] == (
        f"installing dependencies for python3.12 x86_64 with {tool} failed: {HASH_CHECKING}")
    assert "dep-b" in message
    complete = hashed + f"dep-b==1.0 --hash={_sha256(installer.wheelhouse / 'dep_b-1.0-py3-none-any.whl')}\n"
    _, result = installer.install(f"hashes-complete-{tool}", complete, installer=tool)
    assert names(result) == ["dep-a", "dep-b"]


@pytest.mark.parametrize("tool", ["uv", "pip"])
def test_a_local_package_installs_in_hash_checking_mode(installer: Installer, tool: str) -> None:
    # its wheel is built here, so forge hashes it: the mode does not refuse the user's own code
    root = installer.base / f"hashes-local-{tool}"
    write_source_tree(root / "mine", "mine", "1.0")
    hashed = f"dep-b==1.0 --hash={_sha256(installer.wheelhouse / 'dep_b-1.0-py3-none-any.whl')}\n"
    _, result = installer.install(f"hashes-local-{tool}", hashed + "../mine\n", installer=tool)
    assert names(result) == ["dep-b", "mine"]


@pytest.mark.parametrize("tool", ["uv", "pip"])
def test_require_hashes_in_a_requirements_file_is_obeyed(installer: Installer, tool: str) -> None:
    with pytest.raises(InstallError) as err:
        installer.install(f"require-hashes-{tool}", "--require-hashes\ndep-b==1.0\n", installer=tool)
    assert str(err.value).splitlines()[0] == (
        f"installing dependencies for python3.12 x86_64 with {tool} failed: {HASH_CHECKING}")


NEVER_SHIPS = ("bin", ".lock", "INSTALLER", "REQUESTED", "direct_url.json", "uv_cache.json", "uv_build.json")


@pytest.mark.parametrize("fixture", ["uv_312_x86", "pip_312_x86"])
def test_installed_tree_has_nothing_that_never_ships(fixture: str, request: pytest.FixtureRequest) -> None:
    dest, result = request.getfixturevalue(fixture)
    files = tree(dest)
    assert not [f for f in files if f.split("/")[0] in NEVER_SHIPS or f.split("/")[-1] in NEVER_SHIPS]
    assert not [f for f in files if f.endswith(".pyc") or "__pycache__" in f]
    assert "purelib-1.0.dist-info/entry_points.txt" in files
    assert "purelib-1.0.dist-info/top_level.txt" in files
    record = files["purelib-1.0.dist-info/RECORD"].decode()
    assert record.splitlines()[-1] == "purelib-1.0.dist-info/RECORD,,"
    assert "bin/" not in record and "INSTALLER" not in record
    purelib = next(d for d in result.distributions if d.name == "purelib")
    assert purelib.files == (
        "purelib-1.0.dist-info/METADATA",
        "purelib-1.0.dist-info/RECORD",
        "purelib-1.0.dist-info/WHEEL",
        "purelib-1.0.dist-info/entry_points.txt",
        "purelib-1.0.dist-info/top_level.txt",
        "purelib/__init__.py",
    )


def test_same_inputs_from_two_checkouts_give_identical_trees(installer: Installer, uv_312_x86) -> None:
    dest_a, _ = uv_312_x86
    inputs_a, _ = installer.inputs("uv-312-x86", ALL)
    inputs_b, _ = installer.inputs("elsewhere/other-checkout", ALL)
    assert inputs_a == inputs_b
    dest_b, _ = installer.install("elsewhere/other-checkout", ALL)
    assert tree(dest_a) == tree(dest_b)


@pytest.mark.parametrize("columns", [None, "60"])
def test_native_sdist_fails_with_the_ways_out(installer: Installer, columns: str | None,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # $COLUMNS set (CI runners, pytest-xdist) made uv wrap the lines forge reads: the raw
    # error came out instead of the ways out.
    if columns is not None:
        monkeypatch.setenv("COLUMNS", columns)
    with pytest.raises(InstallError) as err:
        installer.install("native-sdist", "nativesdist\n")
    message = str(err.value)
    assert "nativesdist" in message and "manylinux_2_34_x86_64 / cp312" in message
    assert "find-links" in message and "start docker or podman" in message


def test_native_sdist_is_refused_with_pip_too(installer: Installer) -> None:
    with pytest.raises(InstallError) as err:
        installer.install("native-sdist-pip", "nativesdist\n", installer="pip")
    message = str(err.value)
    assert message.startswith(
        "nativesdist 1.0 has no wheel for manylinux_2_34_x86_64 / cp312 and its sdist builds "
        "native code, which cannot be built for the target here: "
    )
    assert "its tags cp311-cp311-linux_x86_64 are not for cp312" in message


def test_no_wheel_for_the_architecture_is_named(installer: Installer) -> None:
    with pytest.raises(InstallError) as err:
        installer.install("toonew-arm", "toonew\n", architecture="arm64")
    first = str(err.value).splitlines()[0]
    assert first == (
        "installing dependencies for python3.12 aarch64 with uv failed: "
        "no wheel for toonew matching manylinux_2_34_aarch64 / cp312"
    )


@pytest.mark.parametrize("tool", ["uv", "pip"])
def test_local_wheels_named_by_path_install(installer: Installer, tool: str) -> None:
    requirements = "../wheels/dep_b-1.0-py3-none-any.whl\npurelib @ file:../wheels/purelib-1.0-py3-none-any.whl\n"
    inputs, _ = installer.inputs(f"local-{tool}", requirements, installer=tool)
    assert inputs.files == ("wheels/dep_b-1.0-py3-none-any.whl", "wheels/purelib-1.0-py3-none-any.whl")
    dest, result = installer.install(f"local-{tool}", requirements, installer=tool)
    assert names(result) == ["dep-b", "purelib"]
    assert not list(dest.glob("*.dist-info/direct_url.json"))
