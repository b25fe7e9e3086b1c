"""The target graph built from a real project: shared installs, selection, exports."""

from __future__ import annotations

import textwrap

import pytest

from lambdaforge.config import load_project
from lambdaforge.errors import UsageError
from lambdaforge.graph import Target, TargetGraph, TargetKind, build_graph


@pytest.fixture
def graph(tmp_path):
    (tmp_path / "lambdaforge.toml").write_text(textwrap.dedent("""
        [layers.shared]
        source = "shared"
        dependencies = ["attrs==24.2.0"]

        [functions.a]
        source = "a"
        handler = "app.handler"
        layers = ["shared"]
        dependencies = ["requests==2.32.3"]

        [functions.b]
        source = "b"
        handler = "app.handler"
        dependencies = ["requests==2.32.3"]

        [functions.c]
        source = "c"
        handler = "app.handler"
    """))
    for d in ("shared", "a", "b", "c"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "app.py").write_text("def handler(e, c):\n    return 1\n")
    return build_graph(load_project(tmp_path / "lambdaforge.toml"))


def test_functions_with_the_same_requirements_share_one_install(graph):
    installs = [t for t in graph.targets() if t.kind is TargetKind.INSTALL]
    assert len(installs) == 2  # the layer's, and one for a and b together
    shared = [i for i in installs if "function:a" in graph.graph.successors(i.id)]
    assert set(graph.graph.successors(shared[0].id)) == {"function:a", "function:b"}


def test_a_function_waits_for_its_layers_and_its_check_counts_them(graph):
    assert graph.graph.has_edge("layer:shared", "function:a")
    assert graph.graph.has_edge("layer:shared", "check:function:a")
    assert not graph.graph.has_edge("layer:shared", "function:b")


def test_selection_builds_the_named_target_and_what_it_needs(graph):
    sub = graph.select(["a"])
    kinds = sorted(t.id.split(":")[0] for t in sub.targets())
    assert kinds == ["check", "check", "function", "install", "install", "layer"]
    assert {t.id for t in sub.targets() if not t.id.startswith("install")} == {
        "function:a", "layer:shared", "check:function:a", "check:layer:shared"}
    assert {t.id for t in graph.select(["c"], with_checks=False).targets()} == {"function:c"}


def test_an_unknown_name_suggests_the_closest(graph):
    with pytest.raises(UsageError, match=r"no function or layer named 'shraed' \(did you mean 'shared'\?\)"):
        graph.select(["shraed"])


def test_topological_order_is_deterministic(graph):
    order = [t.id for t in graph.targets()]
    assert order == [t.id for t in graph.targets()]
    assert order.index("layer:shared") < order.index("function:a") < order.index("check:function:a")


def test_install_ids_name_the_declaring_file_and_platform(tmp_path):
    (tmp_path / "lambdaforge.toml").write_text(textwrap.dedent("""
        [defaults]
        runtime = "python3.12"
        architecture = "arm64"

        [functions.api]
        source = "functions/api"
        handler = "app.handler"

        [functions.api2]
        source = "functions/api2"
        handler = "app.handler"

        [functions.api-x86]
        source = "functions/api"
        handler = "app.handler"
        architecture = "x86_64"

        [functions.api-pip]
        source = "functions/api"
        handler = "app.handler"
        installer = "pip"

        [functions.inline]
        source = "functions/inline"
        handler = "app.handler"
        dependencies = ["six"]
    """))
    for d in ("api", "api2", "inline"):
        (tmp_path / "functions" / d).mkdir(parents=True)
        (tmp_path / "functions" / d / "app.py").write_text("def handler(e, c):\n    return 1\n")
    for d in ("api", "api2"):  # the same lines in two files: one install
        (tmp_path / "functions" / d / "requirements.txt").write_text("six==1.16.0\n")
    graph = build_graph(load_project(tmp_path / "lambdaforge.toml"))
    installs = {t.id: sorted(graph.graph.successors(t.id))
                for t in graph.targets() if t.kind is TargetKind.INSTALL}
    ids = sorted(installs)
    # api and api-pip differ only in installer settings: both readable ids get their digest
    assert [i.split("~")[0] for i in ids] == [
        "install:function:inline@python3.12-arm64",
        "install:functions/api/requirements.txt@python3.12-arm64",
        "install:functions/api/requirements.txt@python3.12-arm64",
        "install:functions/api/requirements.txt@python3.12-x86_64",
    ]
    assert "~" not in ids[0] and "~" not in ids[3]
    assert all(len(i.split("~")[1]) == 8 for i in ids[1:3]) and ids[1] != ids[2]
    shared = next(i for i, users in installs.items() if "function:api" in users)
    assert installs[shared] == ["function:api", "function:api2"]
    assert graph.target(shared).shared_by == 2
    # the same inputs give the same ids
    again = build_graph(load_project(tmp_path / "lambdaforge.toml"))
    assert sorted(t.id for t in again.targets() if t.kind is TargetKind.INSTALL) == ids


def _plain(edges: list[tuple[str, str]]) -> TargetGraph:
    ids = {t for edge in edges for t in edge}
    return TargetGraph({t: Target(t, TargetKind.FUNCTION, t, "python") for t in ids}, edges)


def test_a_dag_has_no_cycle_and_orders_every_target():
    g = _plain([("a", "b"), ("b", "c"), ("a", "c"), ("x", "c")])
    assert g.cycle() is None
    assert [t.id for t in g.targets()] == ["a", "b", "x", "c"]  # smallest ready id first


def test_a_cycle_is_named_edge_by_edge_whatever_hangs_off_it():
    # d -> a -> b -> c -> a, and c -> e: only a, b, c form the loop
    g = _plain([("d", "a"), ("a", "b"), ("b", "c"), ("c", "a"), ("c", "e")])
    cycle = g.cycle()
    assert cycle is not None and cycle[0] == cycle[-1]
    assert sorted(cycle[:-1]) == ["a", "b", "c"]
    assert all(g.has_edge(x, y) for x, y in zip(cycle, cycle[1:]))
    assert _plain([("s", "s")]).cycle() == ["s", "s"]


def test_dot_and_mermaid_escape_ids_a_source_path_makes_unusual():
    """A source folder named `fn "v2"` made `"install:fn "v2"/requirements.txt@…"`: invalid
    DOT and Mermaid, printed with exit 0."""
    from lambdaforge.graph import _dot_id, _mermaid_text

    assert _dot_id('install:fn "v2"/r.txt') == '"install:fn \\"v2\\"/r.txt"'
    assert _dot_id("a\\b\nc") == '"a\\\\b\\nc"'
    assert _mermaid_text('fn "v2"/#1 <x>') == "fn #34;v2#34;/#35;1 #60;x#62;"
