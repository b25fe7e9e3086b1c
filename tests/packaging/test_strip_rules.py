"""Strip rules: built-in sets, keep-wins, never-strip metadata, directory patterns,
attribution, accounting, and speed."""

from __future__ import annotations

import functools

import pathspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambdaforge.config.models import StripRules
from lambdaforge.packaging.strip import (
    BUILT_IN_RULE_SETS,
    RuleTally,
    StripFilter,
    StripHit,
    StripReport,
    StrippedFile,
    is_protected,
)

STANDARD = StripFilter.from_names(["standard"])


@pytest.mark.parametrize(
    "path",
    [
        "pkg/__pycache__/mod.cpython-312.pyc", "mod.pyc", "mod.pyo", "pkg/tests/test_a.py",
        "test/conftest.py", ".pytest_cache/v/cache", ".git/HEAD", "a/.svn/entries", ".hg/store",
        ".idea/workspace.xml", ".vscode/settings.json", "app.py.swp", "app.py~", "pkg/.DS_Store",
    ],
)
def test_standard_strips(path: str) -> None:
    assert STANDARD.match(path) == "standard"


@pytest.mark.parametrize(
    "path",
    [
        "app.py", "pkg/test_utils.py", "pkg/testing/helpers.py", "README.md", "docs/index.rst",
        "pkg/py.typed", "pkg/__init__.pyi", "pkg/_native.so", "examples/demo.py", "pkg/data.map",
        "numpy-2.1.0.dist-info/RECORD", "numpy-2.1.0.dist-info/METADATA",
    ],
)
def test_standard_keeps_what_python_packages_may_need(path: str) -> None:
    assert STANDARD.match(path) is None


def test_aggressive_and_node_standard() -> None:
    aggressive = StripFilter.from_names(["aggressive"])
    assert [aggressive.match(p) for p in ("a/b.pyi", "docs/x.rst", "examples/e.py", "README.md", "x.pyc")] == [
        "aggressive"
    ] * 5
    assert aggressive.match("foo-1.0.dist-info/RECORD") is None
    node = StripFilter.from_names(["node-standard"])
    stripped = ["lib/index.js.map", "types/index.d.ts", "src/__tests__/a.test.js", ".github/workflows/ci.yml",
                "example/a.js", "examples/b.js", "docs/api.md", "CHANGELOG.md", "test/a.js", ".git/HEAD"]
    assert {p: node.match(p) for p in stripped} == {p: "node-standard" for p in stripped}
    assert node.match("lib/index.js") is None and node.match("package.json") is None
    assert set(BUILT_IN_RULE_SETS) == {"standard", "aggressive", "node-standard"}


def test_never_strip_metadata_whatever_the_rules_say() -> None:
    hostile = StripFilter([StripRules(name="hostile", exclude=("*.dist-info/", "METADATA", "*.txt", "*.egg-info/"))])
    for path in ("foo-1.0.dist-info/METADATA", "foo-1.0.dist-info/entry_points.txt",
                 "foo-1.0.dist-info/top_level.txt", "bar.egg-info/PKG-INFO"):
        assert hostile.match(path) is None, path
        assert is_protected(path)
    assert hostile.match("foo-1.0.dist-info/RECORD") == "hostile"
    assert hostile.match("foo-1.0.dist-info/licenses.txt") == "hostile"
    assert not is_protected("pkg/METADATA")


def test_keep_wins_within_and_across_sets() -> None:
    f = StripFilter([
        BUILT_IN_RULE_SETS["standard"],
        StripRules(name="no-docs", exclude=("docs/", "*.md"), keep=("docs/keep.md", "**/tests/fixtures/")),
    ])
    assert f.match("docs/guide.md") == "no-docs"
    assert f.match("docs/keep.md") is None  # keep in the same set
    assert f.match("pkg/tests/fixtures/data.json") is None  # keep of a later set beats standard's tests/
    assert f.match("tests/fixtures/data.json") is None
    assert f.match("tests/test_a.py") == "standard"
    # Directories that contain something kept cannot be dropped whole: the walker must look inside.
    assert f.match("docs", is_dir=True) is None
    assert f.match("tests", is_dir=True) is None


def test_directory_patterns_remove_everything_below() -> None:
    f = StripFilter([StripRules(name="r", exclude=("build/", "/top-only/", "a/**/deep/"))])
    assert f.match("build/lib/x/y.py") == "r"
    assert f.match("src/build/x.py") == "r"
    assert f.match("build", is_dir=True) == "r"
    assert f.match("build") is None  # a file named like a directory pattern stays
    assert f.match("top-only/x") == "r" and f.match("sub/top-only/x") is None
    assert f.match("a/b/c/deep/x.py") == "r"


def test_attribution_goes_to_the_outermost_removed_directory() -> None:
    f = StripFilter([BUILT_IN_RULE_SETS["standard"], StripRules(name="no-docs", exclude=("docs/",))])
    assert f.explain("docs/__pycache__/x.pyc") == StripHit("no-docs", "docs/", "docs/")
    assert f.explain("pkg/tests/__pycache__/x.pyc") == StripHit("standard", "tests/", "pkg/tests/")
    assert f.explain("pkg/x.pyc") == StripHit("standard", "*.py[cod]", "pkg/x.pyc")
    assert f.explain("pkg/x.py") is None


def test_negated_patterns_follow_gitignore_order() -> None:
    f = StripFilter([StripRules(name="r", exclude=("*.txt", "!keep.txt"))])
    assert f.match("a.txt") == "r"
    assert f.match("keep.txt") is None and f.match("sub/keep.txt") is None


def test_report_accounting_merge_and_listing() -> None:
    report = StripReport()
    report.add("pkg/tests/a.py", StripHit("standard", "tests/", "pkg/tests/"), 100)
    report.add("x.pyc", StripHit("standard", "*.py[cod]", "x.pyc"), 50)
    deps = StripReport()
    deps.add("numpy/doc/a.md", StripHit("aggressive", "*.md", "numpy/doc/a.md"), 7)
    report.merge(deps, prefix="python/")
    assert report.by_rule == {"standard": RuleTally(2, 150), "aggressive": RuleTally(1, 7)}
    assert (report.total_files, report.total_bytes) == (3, 157)
    assert report.files[-1] == StrippedFile("python/numpy/doc/a.md", "aggressive", "*.md", 7)
    assert report.lines() == [
        "pkg/tests/a.py  (standard: tests/, 100 bytes)",
        "python/numpy/doc/a.md  (aggressive: *.md, 7 bytes)",
        "x.pyc  (standard: *.py[cod], 50 bytes)",
        "aggressive: 1 files, 7 bytes",
        "standard: 2 files, 150 bytes",
    ]


def test_unknown_rule_set_name() -> None:
    with pytest.raises(KeyError, match="unknown strip rule set 'nope'"):
        StripFilter.from_names(["standard", "nope"])


@functools.lru_cache(maxsize=None)
def spec(patterns: tuple[str, ...]) -> pathspec.GitIgnoreSpec:
    return pathspec.GitIgnoreSpec.from_lines(patterns)


def naive_match(rules: list[StripRules], path: str) -> str | None:
    """The semantics without any of the speed-ups: pathspec on the full path, per set."""
    if is_protected(path) or any(spec(r.keep).match_file(path) for r in rules):
        return None
    parts = path.split("/")
    # Outermost removed directory first, then the file itself.
    for depth in range(1, len(parts) + 1):
        candidate = "/".join(parts[:depth]) + ("/" if depth < len(parts) else "")
        for r in rules:
            if spec(r.exclude).match_file(candidate):
                return r.name
    return None


def test_twenty_thousand_paths_filter_fast_and_exact() -> None:
    paths = [
        f"pkg{p}/{sub}/mod{m}.{ext}"
        for p in range(20) for sub in ("core", "tests", "utils", "__pycache__", "io")
        for m in range(50) for ext in ("py", "pyc", "pyi", "so")
    ]
    assert len(paths) == 20_000
    rules = [
        BUILT_IN_RULE_SETS["aggressive"],
        StripRules(name="mine", exclude=("pkg1/io/", "*.so"), keep=("pkg2/**/*.so",)),
    ]
    f = StripFilter(rules)  # speed: benchmarks/ (this asserts the decisions only)
    decisions = [f.match(p) for p in paths]
    assert sum(1 for d in decisions if d) == 16_800
    sample = paths[::37] + [p for p in paths if p.startswith(("pkg1/", "pkg2/"))]
    assert [f.match(p) for p in sample] == [naive_match(rules, p) for p in sample]


_NAMES = st.sampled_from(["tests", "docs", "a", "b.py", "c.pyc", "x.so", "README.md", "METADATA", "m.pyi", "foo.dist-info"])
_PATTERNS = st.sampled_from([
    "tests/", "docs/", "*.pyc", "*.so", "*.md", "a/", "/a", "a/*.so", "a/**/x.so", "**/docs/b.py",
    "docs", "*.dist-info/", "METADATA", "b.py", "/docs/", "foo.dist-info/METADATA",
])


@settings(max_examples=150, deadline=None)
@given(
    paths=st.lists(st.lists(_NAMES, min_size=1, max_size=4).map("/".join), min_size=1, max_size=20),
    sets=st.lists(
        st.tuples(st.lists(_PATTERNS, max_size=4), st.lists(_PATTERNS, max_size=2)), min_size=1, max_size=3
    ),
)
def test_fast_paths_agree_with_naive_semantics(paths: list[str], sets: list[tuple[list[str], list[str]]]) -> None:
    rules = [StripRules(name=f"r{i}", exclude=tuple(ex), keep=tuple(keep)) for i, (ex, keep) in enumerate(sets)]
    f = StripFilter(rules)
    for path in paths:
        expected = naive_match(rules, path)
        assert f.match(path) == expected, path
        hit = f.explain(path)
        assert (hit.rule if hit else None) == expected, path
        # A directory reported as stripped whole must strip every non-protected file below it.
        parent = path.rpartition("/")[0]
        if parent and f.match(parent, is_dir=True) is not None:
            assert expected is not None or is_protected(path), path


# --------------------------------------------------------------- translations kept as data


def _paths() -> list[tuple[str, bool]]:
    return [(p, d) for p in ("mod.pyc", "pkg/__pycache__", "pkg/tests", "keep/tests/x.py",
                             "a/b/c.txt", "docs", "README.md", "x/y.pyi", "app.py")
            for d in (False, True)]


def test_strip_rules_compiled_from_stored_translations_need_no_pathspec(monkeypatch) -> None:
    """What the plan cache stores (``translations``, JSON) is enough to compile the rules in a
    process that never imports pathspec: an incremental build's case. Matches are the same."""
    import json
    import sys

    from lambdaforge.packaging import strip

    custom = StripRules(name="custom", exclude=("a/**/*.txt", "docs/"), keep=("keep/**",))
    names = ["standard", "aggressive", "custom"]
    fresh = StripFilter.from_names(names, {"custom": custom})
    stored = json.loads(json.dumps(strip.translations([custom])))
    monkeypatch.setattr(strip, "_TRANSLATED", {})
    monkeypatch.setitem(sys.modules, "pathspec", None)  # importing it would now fail
    strip.remember(stored)
    seeded = StripFilter.from_names(names, {"custom": custom})
    assert [seeded.match(p, d) for p, d in _paths()] == [fresh.match(p, d) for p, d in _paths()]
    assert seeded.match("a/b/c.txt") == "custom" and seeded.match("keep/tests/x.py") is None


@pytest.mark.parametrize("stored", [
    None, {}, "x", [["*.pyc"]], [[["*.pyc"], [["*.pyc", 5, 32, True]]]],
    [[["*.pyc"], [["*.pyc", "^x$", 32, "yes"]]]], [[["*.pyc"], [["*.pyc", None, 0, True]]]],
    [[[1], [[1, "^x$", 32, True]]]],
])
def test_malformed_stored_translations_are_never_trusted(monkeypatch, stored) -> None:
    from lambdaforge.packaging import strip

    monkeypatch.setattr(strip, "_TRANSLATED", {})
    strip.remember(stored)
    assert strip._TRANSLATED == {}
    # and the patterns are translated by pathspec again, as without a plan cache
    assert strip.translate(["*.pyc"])[0][1] == pathspec.GitIgnoreSpec.from_lines(
        ["*.pyc"]).patterns[0].regex.pattern
