"""Third-party builders from the ``lambdaforge.builders`` entry-point group: loaded only
when named, type-checked, names unique; every failure a ``PluginError`` naming the entry
point. Entry points are faked by replacing ``importlib.metadata.entry_points``."""

from __future__ import annotations

import importlib.metadata
import textwrap
from pathlib import Path

import pytest

from lambdaforge.builders import BuilderRegistry
from lambdaforge.config import load_project
from lambdaforge.errors import ConfigError, PluginError
from tests.command_builder.fake_plugins import FakeBuilder

GROUP = "lambdaforge.builders"
MODULE = "tests.command_builder.fake_plugins"


def fake_entry_points(monkeypatch: pytest.MonkeyPatch, **plugins: str) -> list[str]:
    """Make ``name = "module:attr"`` the installed builder plugins; returns the list that
    records each scan of the group."""
    scans: list[str] = []

    def entry_points(*, group: str) -> list[importlib.metadata.EntryPoint]:
        scans.append(group)
        return [importlib.metadata.EntryPoint(name, value, group) for name, value in plugins.items()]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    return scans


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "fn").mkdir(exist_ok=True)
    path = tmp_path / "lambdaforge.toml"
    path.write_text(textwrap.dedent(text))
    return path


FAKE_FN = """
[functions.api]
source = "fn"
runtime = "provided.al2023"
builder = "fake"
handler = "bootstrap"
"""


def test_a_plugin_builds_when_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from lambdaforge.graph import build_graph

    fake_entry_points(monkeypatch, fake=f"{MODULE}:FakeBuilder")
    registry = BuilderRegistry()
    project = load_project(write(tmp_path, FAKE_FN + 'flavour = "spicy"\n'), env={}, builders=registry)
    spec = project.functions["api"]
    assert (spec.builder, spec.builder_options) == ("fake", {"flavour": "spicy"})
    assert isinstance(registry.for_spec(spec), FakeBuilder)
    assert registry.names() == ["python", "node", "command", "fake"]
    assert {t.id: t.builder for t in build_graph(project, registry).targets()} == {
        "function:api": "fake", "check:function:api": "fake"}


def test_a_plugins_options_are_validated_like_the_rest(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_entry_points(monkeypatch, fake=f"{MODULE}:FakeBuilder")
    with pytest.raises(ConfigError) as info:
        load_project(write(tmp_path, FAKE_FN + 'flavor = "plain"\n'), cwd=tmp_path, env={})
    assert [str(i) for i in info.value.issues] == [
        "lambdaforge.toml:7: functions.api.flavor: unknown key (did you mean 'flavour'?)",
    ]
    with pytest.raises(ConfigError) as info:
        load_project(write(tmp_path, FAKE_FN + 'flavour = "hot"\n'), cwd=tmp_path, env={})
    assert [str(i) for i in info.value.issues] == [
        "lambdaforge.toml:7: functions.api.flavour: expected 'plain' or 'spicy', got 'hot'",
    ]


def test_plugins_are_not_looked_at_for_built_in_builders(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from lambdaforge.graph import build_graph

    scans = fake_entry_points(monkeypatch, broken=f"{MODULE}:NoSuchThing")
    registry = BuilderRegistry()
    project = load_project(write(tmp_path, '[functions.api]\nsource = "fn"\nhandler = "app.handler"\n'),
                           env={}, builders=registry)
    build_graph(project, registry)
    assert scans == []


@pytest.mark.parametrize(("value", "message"), [
    (f"{MODULE}_missing:FakeBuilder", " could not be imported: ModuleNotFoundError: No module "
     "named 'tests.command_builder.fake_plugins_missing'"),
    (f"{MODULE}:NotABuilder", f" is not a builder: <class '{MODULE}.NotABuilder'> is not a "
     "subclass of lambdaforge.builders.base.Builder"),
    (f"{MODULE}:UnversionedBuilder", ": UnversionedBuilder.VERSION must be a non-empty string, not 1"),
    (f"{MODULE}:MisnamedBuilder",
     ": MisnamedBuilder.NAME is 'other'; the entry point must be named after its builder"),
    (f"{MODULE}:HalfBuilder", ": HalfBuilder does not implement dependency_inputs, "
     "dependency_prefix, install, source_prefix, tool_versions"),
])
def test_a_broken_plugin_is_a_clear_error_naming_its_entry_point(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str, message: str) -> None:
    name = "half" if "Half" in value else "fake"
    fake_entry_points(monkeypatch, **{name: value})
    with pytest.raises(PluginError) as info:
        load_project(write(tmp_path, FAKE_FN.replace('"fake"', f'"{name}"')), env={})
    assert str(info.value) == f"builder plugin '{name} = {value}' (entry point group {GROUP}){message}"
    assert info.value.exit_code == 2


def test_a_plugin_may_not_take_a_built_in_name(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, python=f"{MODULE}:FakeBuilder")
    with pytest.raises(PluginError) as info:
        BuilderRegistry().names()
    assert str(info.value) == (
        f"builder plugin 'python = {MODULE}:FakeBuilder' (entry point group {GROUP}) is named "
        "'python', like the built-in python builder; builder names must be unique (uninstall "
        "the plugin or give it another name)"
    )


def test_two_plugins_may_not_share_a_name(monkeypatch: pytest.MonkeyPatch) -> None:
    scans: list[str] = []

    def entry_points(*, group: str) -> list[importlib.metadata.EntryPoint]:
        scans.append(group)
        return [importlib.metadata.EntryPoint("fake", f"{MODULE}:FakeBuilder", group),
                importlib.metadata.EntryPoint("fake", "other_package:Builder", group)]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    with pytest.raises(PluginError) as info:
        BuilderRegistry().has("fake")
    assert str(info.value) == (
        f"two builder plugins are named 'fake': 'fake = {MODULE}:FakeBuilder' (entry point group "
        f"{GROUP}) and 'fake = other_package:Builder' (entry point group {GROUP}); builder names "
        "must be unique (uninstall one)"
    )


def test_a_plugin_option_may_not_reuse_a_core_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_entry_points(monkeypatch, clash=f"{MODULE}:ClashingBuilder")
    with pytest.raises(PluginError) as info:
        load_project(write(tmp_path, FAKE_FN.replace('"fake"', '"clash"')), env={})
    assert str(info.value) == (
        "the clash builder declares an option 'runtime', which is a lambdaforge setting: a "
        "builder option needs a name of its own"
    )


def test_for_runtime_still_answers_with_the_default_builder() -> None:
    registry = BuilderRegistry()
    assert registry.for_runtime("nodejs22.x").NAME == "node"
    with pytest.raises(ConfigError) as info:
        registry.for_runtime("provided.al2")
    assert info.value.issues[0].message == (
        "runtime 'provided.al2' has no default builder: set builder = \"command\" (or the name "
        "of a builder plugin)"
    )


def test_each_default_builder_serves_its_runtimes_and_command_serves_all() -> None:
    from lambdaforge.lambda_facts import RUNTIMES

    registry = BuilderRegistry()
    for runtime in RUNTIMES:
        default = registry.default_name(runtime)
        assert default is None or registry.builder_class(default).serves(runtime), runtime
        assert registry.builder_class("command").serves(runtime)
    assert [r for r in RUNTIMES if registry.default_name(r) is None] == ["provided.al2", "provided.al2023"]
