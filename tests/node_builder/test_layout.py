"""Where Node.js sources and dependencies go in function and layer zips, and which
installed packages the runtime already provides."""

from __future__ import annotations

import json
from pathlib import Path

from lambdaforge.builders.base import Distribution
from lambdaforge.builders.node import NodeBuilder
from lambdaforge.builders.node.install import closure
from tests.node_builder import npmproject as npmp

BUILDER = NodeBuilder()


def files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_prefixes() -> None:
    assert BUILDER.dependency_prefix("function") == "node_modules/"
    assert BUILDER.dependency_prefix("layer") == "nodejs/node_modules/"
    assert BUILDER.source_prefix("function", frozenset({"index.js", "package.json"})) == ""
    assert BUILDER.source_prefix("layer", frozenset({"util.js"})) == "nodejs/node_modules/"
    assert BUILDER.source_prefix("layer", frozenset({"nodejs"})) == ""


def test_layer_package_source_goes_under_its_package_name(tmp_path: Path, make_ctx) -> None:
    src = npmp.write_package(tmp_path / "proj/layers/shared", {"name": "@acme/shared", "version": "1.0.0"},
                             {"index.js": "exports.x = 1;\n", "node_modules/dev/x.js": "", "package-lock.json": "{}"})
    layer = npmp.layer_spec("shared", "layers/shared")
    project = npmp.project(tmp_path / "proj", layers=[layer])
    out = BUILDER.prepare_sources(layer, project, make_ctx(project), tmp_path / "out")
    assert files(out) == ["nodejs/node_modules/@acme/shared/index.js", "nodejs/node_modules/@acme/shared/package.json"]
    assert BUILDER.source_prefix("layer", frozenset(p.name for p in out.iterdir())) == ""
    assert src.is_dir()


def test_layer_laid_out_the_aws_way_is_kept_without_its_host_node_modules(tmp_path: Path, make_ctx) -> None:
    root = tmp_path / "proj"
    npmp.write_package(root / "layers/aws/nodejs", {"name": "l", "version": "1.0.0", "dependencies": {"x": "1"}},
                       {"node_modules/x/index.js": "", "lib.js": ""})
    layer = npmp.layer_spec("aws", "layers/aws")
    project = npmp.project(root, layers=[layer])
    out = BUILDER.prepare_sources(layer, project, make_ctx(project), tmp_path / "out")
    assert files(out) == ["nodejs/lib.js", "nodejs/package.json"]
    # The dependencies of such a layer come from nodejs/package.json.
    assert BUILDER.package_json(layer, layer.source, project) == "layers/aws/nodejs/package.json"


def test_layer_of_loose_files_and_unbundled_function_sources(tmp_path: Path, make_ctx) -> None:
    root = tmp_path / "proj"
    (root / "layers/loose").mkdir(parents=True)
    (root / "layers/loose/util.js").write_text("")
    npmp.write_package(root / "functions/f", {"name": "f", "version": "1.0.0"},
                       {"index.js": "", "node_modules/x/i.js": "", "lib/node_modules/keep.js": ""})
    layer = npmp.layer_spec("loose", "layers/loose")
    fn = npmp.function_spec("f", "functions/f")
    project = npmp.project(root, [fn], [layer])
    ctx = make_ctx(project)
    assert BUILDER.prepare_sources(layer, project, ctx, tmp_path / "l") is None  # used as is
    out = BUILDER.prepare_sources(fn, project, ctx, tmp_path / "f")
    assert files(out) == ["index.js", "lib/node_modules/keep.js", "package.json"]
    assert BUILDER.ships_install(fn) and BUILDER.ships_install(layer)
    assert not BUILDER.ships_install(npmp.function_spec("f", "functions/f", bundle="esbuild"))


def dist(name: str, version: str = "3.0.0", requires: tuple[str, ...] = ()) -> Distribution:
    return Distribution(name, version, (f"{name}/index.js",), requires)


def test_runtime_provided_aws_sdk_unless_pinned_exactly(proj_dir: Path) -> None:
    dists = [
        dist("@aws-sdk/client-s3", requires=("@smithy/core",)),
        dist("@aws-sdk/client-s3/node_modules/@smithy/types"),
        dist("@aws-sdk/client-sqs", requires=("@smithy/core", "@smithy/sqs-only")),
        dist("@smithy/core"),
        dist("@smithy/sqs-only"),
        dist("lodash", "4.17.21"),
    ]
    fn = proj_dir / "functions/sdk"
    for pins, dropped, kept in (
        ({"@aws-sdk/client-s3": "^3.0.0", "@aws-sdk/client-sqs": "~3.0.0"},
         {"@aws-sdk/client-s3", "@aws-sdk/client-s3/node_modules/@smithy/types", "@aws-sdk/client-sqs",
          "@smithy/core", "@smithy/sqs-only"}, {}),
        # An exact version is the user's explicit pin: it ships, with what it requires, and says so.
        ({"@aws-sdk/client-s3": "^3.0.0", "@aws-sdk/client-sqs": "3.0.0"},
         {"@aws-sdk/client-s3", "@aws-sdk/client-s3/node_modules/@smithy/types"},
         {"@aws-sdk/client-sqs": "pinned to an exact version in package.json "
                                 "(with the 2 SDK packages it requires)"}),
    ):
        declared = {**pins, "lodash": "4.17.21"}
        lock = {"lockfileVersion": 3, "packages": {"": {"dependencies": declared}}}
        npmp.write_package(fn, {"name": "sdk", "version": "1.0.0", "dependencies": declared},
                           {"package-lock.json": json.dumps(lock)})
        spec = npmp.function_spec("sdk", "functions/sdk")
        inputs = BUILDER.dependency_inputs(spec, spec.source, npmp.project(proj_dir, [spec]))
        choice = BUILDER.runtime_provided(inputs, dists, spec)
        assert (choice.excluded, choice.kept) == (dropped, kept)


def test_a_range_the_runtime_sdk_is_outside_of_keeps_the_package(proj_dir: Path) -> None:
    """nodejs20.x ships SDK 3.462.0: ``^3.600.0`` is not what the function asked for (a
    client newer than that is not in the runtime at all), so it ships with what it needs;
    ``^3.0.0`` is met; on nodejs22.x (no version known) the runtime's copy serves both."""
    dists = [
        dist("@aws-sdk/client-s3", requires=("@smithy/core",)),
        dist("@aws-sdk/client-bedrock-runtime", "3.650.0", requires=("@smithy/core",)),
        dist("@smithy/core"),
    ]
    fn = proj_dir / "functions/sdk"
    declared = {"@aws-sdk/client-s3": "^3.0.0", "@aws-sdk/client-bedrock-runtime": "^3.600.0"}
    lock = {"lockfileVersion": 3, "packages": {"": {"dependencies": declared}}}
    npmp.write_package(fn, {"name": "sdk", "version": "1.0.0", "dependencies": declared},
                       {"package-lock.json": json.dumps(lock)})
    for runtime, dropped, kept in (
        ("nodejs20.x", {"@aws-sdk/client-s3"},
         {"@aws-sdk/client-bedrock-runtime": "package.json requires ^3.600.0; the nodejs20.x "
                                             "runtime has 3.462.0 (with the 1 SDK packages it requires)"}),
        ("nodejs22.x", {"@aws-sdk/client-s3", "@aws-sdk/client-bedrock-runtime", "@smithy/core"}, {}),
    ):
        spec = npmp.function_spec("sdk", "functions/sdk", runtime=runtime)
        inputs = BUILDER.dependency_inputs(spec, spec.source, npmp.project(proj_dir, [spec]))
        choice = BUILDER.runtime_provided(inputs, dists, spec)
        assert (choice.excluded, choice.kept) == (dropped, kept)


def test_configured_runtime_packages_decide_which_sdk_ranges_the_runtime_meets(
        proj_dir: Path) -> None:
    """``[check] runtime-packages`` says which SDK the runtime has (what the smoke test
    installs): its exact version, not ``lambda_facts``', decides whether a declared range
    is met, so the zip and the check agree. A configured range says what to test with, not
    which version Lambda has: the known version decides then."""
    dists = [dist("@aws-sdk/client-bedrock-runtime", "3.650.0", requires=("@smithy/core",)),
             dist("@smithy/core")]
    fn = proj_dir / "functions/sdk"
    declared = {"@aws-sdk/client-bedrock-runtime": "^3.600.0"}
    lock = {"lockfileVersion": 3, "packages": {"": {"dependencies": declared}}}
    npmp.write_package(fn, {"name": "sdk", "version": "1.0.0", "dependencies": declared},
                       {"package-lock.json": json.dumps(lock)})
    everything = {"@aws-sdk/client-bedrock-runtime", "@smithy/core"}
    for runtime, override, dropped, kept in (
        ("nodejs20.x", ["@aws-sdk/*@3.700.0"], everything, {}),  # newer than the facts: met
        ("nodejs20.x", ["@aws-sdk/*@^3.700.0"], set(),  # a range: 3.462.0 decides
         {"@aws-sdk/client-bedrock-runtime": "package.json requires ^3.600.0; the nodejs20.x "
                                             "runtime has 3.462.0 (with the 1 SDK packages it requires)"}),
        ("nodejs22.x", ["@aws-sdk/client-bedrock-runtime@3.500.0"], set(),
         {"@aws-sdk/client-bedrock-runtime": "package.json requires ^3.600.0; the nodejs22.x "
                                             "runtime has 3.500.0 ([check] runtime-packages) "
                                             "(with the 1 SDK packages it requires)"}),
    ):
        spec = npmp.function_spec("sdk", "functions/sdk", runtime=runtime)
        inputs = BUILDER.dependency_inputs(spec, spec.source, npmp.project(proj_dir, [spec]))
        choice = BUILDER.runtime_provided(inputs, dists, spec, override)
        assert (choice.excluded, choice.kept) == (dropped, kept), (runtime, override)


def test_closure_follows_nested_copies_first() -> None:
    dists = [dist("a", requires=("b",)), dist("a/node_modules/b", "2", ("c",)), dist("b", "1"), dist("c")]
    assert [d.name for d in closure(dists, ["a"])] == ["a", "a/node_modules/b", "c"]
