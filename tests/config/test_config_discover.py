"""``[[discover]]``: glob expansion, name templates, settings, and name clashes."""

from __future__ import annotations

from tests.config.conftest import API

from lambdaforge.config.models import Origin

#: a handler file for each handler the tests use (``app.handler``, ``a.b``)
_CODE = {"app.py": "def handler(e, c): pass\n", "a.py": "def b(e, c): pass\n"}
TREE = {
    **{f"{d}/{f}": text for d in ("services/billing/handlers/invoice",
                                  "services/billing/handlers/refund",
                                  "services/shipping/handlers/label",
                                  "services/billing", "services/shipping")
       for f, text in _CODE.items()},
    "services/shipping/handlers/__pycache__/": "",
    "services/shipping/handlers/README.md": "not a directory",
}


def test_one_function_per_matching_directory(project) -> None:
    p = project(
        '[defaults]\nhandler = "app.handler"\n[layers.shared]\n'
        '[[discover]]\npath = "services/*/handlers/*"\nlayers = ["shared"]\narchitecture = "arm64"\n',
        TREE,
    )
    assert sorted(p.functions) == ["invoice", "label", "refund"]
    invoice = p.functions["invoice"]
    assert invoice.source == "services/billing/handlers/invoice"
    assert (invoice.layers, invoice.architecture, invoice.handler) == (("shared",), "arm64", "app.handler")
    assert p.origins["functions.invoice.source"] == Origin(file="lambdaforge.toml", line=5, key="discover[0].path")
    assert p.origins["functions.invoice.architecture"] == Origin(
        file="lambdaforge.toml", line=7, key="discover[0].architecture"
    )
    assert p.origins["functions.invoice.handler"] == Origin(file="lambdaforge.toml", line=2, key="defaults.handler")


def test_name_templates(project) -> None:
    p = project(
        '[[discover]]\npath = "services/*/handlers/*"\nhandler = "a.b"\nname = "{path}"\n'
        '[[discover]]\npath = "services/*"\nhandler = "a.b"\nname = "svc-{dir}-in-{parent}"\n',
        TREE,
    )
    assert sorted(p.functions) == [
        "services-billing-handlers-invoice",
        "services-billing-handlers-refund",
        "services-shipping-handlers-label",
        "svc-billing-in-services",
        "svc-shipping-in-services",
    ]


def test_requirements_txt_in_a_discovered_directory_is_used(project) -> None:
    p = project(
        '[[discover]]\npath = "fns/*"\nhandler = "a.b"\n',
        {"fns/one/requirements.txt": "attrs\n", "fns/one/a.py": "", "fns/two/a.py": ""},
    )
    assert p.functions["one"].requirements == "fns/one/requirements.txt"
    assert p.functions["two"].requirements is None


def test_a_name_taken_by_a_function_table_is_a_clash(errors) -> None:
    assert errors(
        "[functions.invoice]\nsource = 'src/api'\nhandler = 'a.b'\n"
        '[[discover]]\npath = "services/*/handlers/*"\nhandler = "a.b"\n',
        TREE,
    ) == [
        "lambdaforge.toml:5: discover[0].path: function 'invoice' from "
        "services/billing/handlers/invoice clashes with [functions.invoice] (lambdaforge.toml:1)"
    ]


def test_two_discovered_directories_with_one_name_clash(errors) -> None:
    assert errors(
        '[[discover]]\npath = "services/billing/handlers/*"\nhandler = "a.b"\nname = "fn-{parent}"\n'
        '[[discover]]\npath = "services/shipping/handlers/*"\nhandler = "a.b"\nname = "fn-{parent}"\n',
        TREE,
    ) == [
        "lambdaforge.toml:2: discover[0].path: function 'fn-handlers' from "
        "services/billing/handlers/refund clashes with the one from "
        "services/billing/handlers/invoice (discover[0])",
        "lambdaforge.toml:6: discover[1].path: function 'fn-handlers' from "
        "services/shipping/handlers/label clashes with the one from "
        "services/billing/handlers/invoice (discover[0])",
    ]


def test_bad_templates_and_patterns(errors) -> None:
    assert errors(
        '[[discover]]\npath = "fns/*"\nname = "{name}"\n'
        '[[discover]]\npath = "fns/*"\nname = "{dir"\n'
        '[[discover]]\npath = "../*"\n'
        '[[discover]]\npath = "/etc/*"\n',
        {"fns/a/": ""},
    ) == [
        "lambdaforge.toml:3: discover[0].name: unknown placeholder '{name}' in name template "
        "(expected {dir}, {parent} or {path})",
        "lambdaforge.toml:6: discover[1].name: invalid name template '{dir': expected '}' before end of string",
        "lambdaforge.toml:8: discover[2].path: '../*' must be a glob relative to this file, inside the project",
        "lambdaforge.toml:10: discover[3].path: '/etc/*' must be a glob relative to this file, inside the project",
    ]


def test_a_pattern_matching_nothing_is_a_warning(project) -> None:
    p = project(API + '[[discover]]\npath = "nothing/*"\nhandler = "a.b"\n')
    assert [str(w) for w in p.warnings] == [
        "lambdaforge.toml:5: discover[0].path: warning: 'nothing/*' matches no directory"
    ]


def test_discovered_functions_are_validated_like_tables(errors) -> None:
    assert errors('[[discover]]\npath = "fns/*"\nhandler = "a.b"\nlayers = ["nope"]\n', {"fns/a b/a.py": ""}) == [
        "lambdaforge.toml:2: discover[0].path: function name 'a b' is not valid: use 1-64 "
        "letters, digits, '-' and '_'",
        "lambdaforge.toml:4: discover[0].layers[0]: unknown layer 'nope' (no layers are defined)",
    ]


def test_discover_in_a_standards_file_globs_relative_to_that_file(project) -> None:
    p = project(
        '[project]\nextends = ["team/std.toml"]\n',
        {"team/std.toml": '[[discover]]\npath = "fns/*"\nhandler = "a.b"\n', "team/fns/x/a.py": ""},
    )
    assert p.functions["x"].source == "team/fns/x"
    assert p.origins["functions.x.source"] == Origin(file="team/std.toml", line=2, key="discover[0].path")


def test_exclude_skips_directories_and_a_directory_without_its_handler_is_no_function(project) -> None:
    p = project(
        '[[discover]]\npath = "services/*"\nhandler = "app.handler"\n'
        'exclude = ["services/legacy", "statemachine", "nothing-like-this"]\n',
        {"services/api/app.py": "", "services/legacy/app.py": "", "services/statemachine/app.py": "",
         "services/shared/util.py": "", "services/pkg/app/__init__.py": ""},
    )
    assert sorted(p.functions) == ["api", "pkg"]
    assert [str(w) for w in p.warnings] == [
        "lambdaforge.toml:2: discover[0].path: warning: skipped 1 directory without the file "
        "of handler 'app.handler': services/shared (add it, or list them in this entry's "
        "`exclude`)",
        "lambdaforge.toml:4: discover[0].exclude: warning: 'nothing-like-this' excludes none of "
        "the directories 'services/*' matches (in [[discover]], `exclude` skips directories; "
        "files to leave out of the functions go in [defaults])",
    ]
    # [[discover]]'s exclude is not a packaging exclude of the functions it finds.
    assert p.functions["api"].exclude == ()


def test_a_node_directory_counts_with_a_typescript_entry(project) -> None:
    p = project('[[discover]]\npath = "fns/*"\nruntime = "nodejs22.x"\nhandler = "index.handler"\n',
                {"fns/ts/index.ts": "", "fns/js/index.mjs": "", "fns/none/lib.js": "",
                 "fns/folder/index/index.js": "",  # a folder the runtime requires (≤ 22)
                 "fns/main/index/package.json": '{"main": "lib/main.js"}',  # its main, named
                 "fns/main/index/lib/main.js": ""})
    assert sorted(p.functions) == ["folder", "js", "main", "ts"]
