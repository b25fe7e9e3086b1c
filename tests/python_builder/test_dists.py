"""Reading dist-info, cleaning an install tree, runtime-provided and layer exclusion rules."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

from lambdaforge.builders.base import Distribution, LayerConflict
from lambdaforge.builders.python.dists import (
    finalize_tree,
    read_distributions,
    read_distributions_from_zip,
    runtime_provided_choice,
)
from lambdaforge.builders.python.target import PythonTarget

ENV = PythonTarget.of("python3.12", "x86_64").marker_environment()


def put(root: Path, rel: str, data: str = "x") -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data)


def dist_info(root: Path, name: str, version: str, requires: list[str] = (), extras: list[str] = ()) -> None:
    di = f"{name.replace('-', '_')}-{version}.dist-info"
    meta = [f"Name: {name}", f"Version: {version}"]
    meta += [f"Provides-Extra: {e}" for e in extras] + [f"Requires-Dist: {r}" for r in requires]
    put(root, f"{di}/METADATA", "\n".join(meta) + "\n\n")
    put(root, f"{name}/__init__.py")
    put(root, f"{di}/RECORD", f"{name}/__init__.py,sha256=abc,1\n{di}/METADATA,,\n{di}/RECORD,,\n")


def test_finalize_tree_removes_every_never_ship_item_and_keeps_metadata(tmp_path: Path) -> None:
    root = tmp_path
    di = "pkg-1.0.dist-info"
    for rel in (
        "pkg/__init__.py", "pkg/__pycache__/__init__.cpython-312.pyc", "pkg/legacy.py",
        "pkg/legacy.pyc", "bin/pkg-cli", ".lock",
        f"{di}/METADATA", f"{di}/WHEEL", f"{di}/entry_points.txt", f"{di}/top_level.txt",
        f"{di}/licenses/LICENSE", f"{di}/INSTALLER", f"{di}/REQUESTED", f"{di}/direct_url.json",
        f"{di}/uv_cache.json",
    ):
        put(root, rel)
    put(
        root, f"{di}/RECORD",
        f"{di}/WHEEL,sha256=w,1\npkg/__init__.py,sha256=a,1\n../../../bin/pkg-cli,sha256=b,1\n"
        f"pkg/__pycache__/__init__.cpython-312.pyc,,\n{di}/INSTALLER,sha256=i,1\n{di}/RECORD,,\n"
        f"{di}/METADATA,sha256=m,1\n{di}/entry_points.txt,sha256=e,1\n",
    )
    # The installer hardlinked RECORD from its cache: the cache copy must stay untouched.
    os.link(root / di / "RECORD", tmp_path.parent / f"{tmp_path.name}-cache-RECORD")
    cache_copy = (tmp_path.parent / f"{tmp_path.name}-cache-RECORD").read_text()

    removed = finalize_tree(root)

    assert removed == [
        ".lock", "bin/pkg-cli", f"{di}/INSTALLER", f"{di}/REQUESTED", f"{di}/direct_url.json",
        f"{di}/uv_cache.json", "pkg/__pycache__/__init__.cpython-312.pyc", "pkg/legacy.pyc",
    ]
    left = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert left == [
        f"{di}/METADATA", f"{di}/RECORD", f"{di}/WHEEL", f"{di}/entry_points.txt",
        f"{di}/licenses/LICENSE", f"{di}/top_level.txt", "pkg/__init__.py", "pkg/legacy.py",
    ]
    assert (root / di / "RECORD").read_text() == (
        f"{di}/METADATA,sha256=m,1\n{di}/WHEEL,sha256=w,1\n{di}/entry_points.txt,sha256=e,1\n"
        f"pkg/__init__.py,sha256=a,1\n{di}/RECORD,,\n"
    )
    assert (tmp_path.parent / f"{tmp_path.name}-cache-RECORD").read_text() == cache_copy


def test_requires_follow_target_markers_and_requested_extras(tmp_path: Path) -> None:
    dist_info(tmp_path, "app", "1", ['tomli; python_version < "3.12"', "req[socks]", "bare"])
    dist_info(tmp_path, "req", "2", ['pysocks; extra == "socks"', 'chardet; extra == "charset"'], ["socks", "charset"])
    dist_info(tmp_path, "pysocks", "1")
    dist_info(tmp_path, "bare", "1")
    dists = {d.name: d for d in read_distributions(tmp_path, ENV, [Requirement("app")])}
    assert dists["app"].requires == ("bare", "req")
    assert dists["req"].requires == ("pysocks",)
    assert dists["app"].files == ("app-1.dist-info/METADATA", "app-1.dist-info/RECORD", "app/__init__.py")


def test_reading_back_from_a_layer_zip(tmp_path: Path) -> None:
    dist_info(tmp_path, "req", "2", ['pysocks; extra == "socks"', 'chardet; extra == "charset"'], ["socks", "charset"])
    dist_info(tmp_path, "pysocks", "1")
    layer = tmp_path / "layer.zip"
    with zipfile.ZipFile(layer, "w") as zf:
        for p in sorted(tmp_path.rglob("*")):
            if p.is_file() and p != layer:
                zf.write(p, "python/" + p.relative_to(tmp_path).as_posix())
    with zipfile.ZipFile(layer) as zf:
        dists = read_distributions_from_zip(zf.namelist(), zf.read, ENV, prefix="python/")
    assert [(d.name, d.version, d.requires) for d in dists] == [("pysocks", "1", ()), ("req", "2", ("pysocks",))]
    assert dists[1].files[-1] == "req/__init__.py"


def dist(name: str, version: str = "1.0", requires: tuple[str, ...] = ()) -> Distribution:
    return Distribution(name, version, (f"{name}/__init__.py",), requires)


BOTO = [
    dist("boto3", requires=("botocore", "s3transfer", "jmespath")),
    dist("botocore", requires=("urllib3", "jmespath", "python-dateutil")),
    dist("s3transfer", requires=("botocore",)),
    dist("jmespath"),
    dist("python-dateutil", requires=("six",)),
    dist("six"),
    dist("urllib3"),
]


def test_runtime_provided_are_excluded() -> None:
    choice = runtime_provided_choice([*BOTO, dist("app-lib")], (), "python3.12")
    assert choice.excluded == {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"}
    assert choice.kept == {}


def test_an_explicit_pin_keeps_boto3_and_what_it_needs_and_says_why() -> None:
    choice = runtime_provided_choice(BOTO, {"boto3"}, "python3.12")
    assert choice.excluded == set()
    assert choice.kept == {
        "boto3": "pinned with == in its requirements",
        "botocore": "required by boto3 1.0, s3transfer 1.0",
        "jmespath": "required by boto3 1.0, botocore 1.0",
        "python-dateutil": "required by botocore 1.0",
        "s3transfer": "required by boto3 1.0",
        "six": "required by python-dateutil 1.0",
        "urllib3": "required by botocore 1.0",
    }
    # Pinning six keeps six only: what needs it (python-dateutil) still comes from the runtime.
    six = runtime_provided_choice(BOTO, {"six"}, "python3.12")
    assert six.excluded == {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "urllib3"}
    assert six.kept == {"six": "pinned with == in its requirements"}


def test_a_runtime_provided_dist_required_by_a_kept_dist_stays() -> None:
    # requests needs urllib3: the runtime's urllib3 may not satisfy the range it was resolved with.
    choice = runtime_provided_choice([*BOTO, dist("requests", "2.32.3", requires=("urllib3",))],
                                     (), "python3.12")
    assert choice.excluded == {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six"}
    # the reason names only what stays: botocore, which also requires urllib3, is left out
    assert choice.kept == {"urllib3": "required by requests 2.32.3"}


def test_a_range_the_runtime_does_not_satisfy_keeps_the_package() -> None:
    """``boto3>=1.28.57`` (bedrock-runtime) on python3.11, whose runtime ships boto3 1.27.1:
    the runtime's copy is not what the user asked for, so boto3 ships (it was left out, and
    the function failed on Lambda with UnknownServiceError)."""
    env311 = PythonTarget.of("python3.11", "x86_64").marker_environment()
    choice = runtime_provided_choice(BOTO, (), "python3.11", ["boto3>=1.28.57"], env311)
    assert choice.excluded == set()
    assert choice.kept["boto3"] == "requires boto3>=1.28.57; the python3.11 runtime has 1.27.1"
    assert choice.kept["botocore"] == "required by boto3 1.0, s3transfer 1.0"
    # python3.12's runtime has 1.38.36: the range is met, the runtime's copy serves it
    met = runtime_provided_choice(BOTO, (), "python3.12", ["boto3>=1.28.57"], ENV)
    assert "boto3" in met.excluded and met.kept == {}
    # a marker false on the target, or a package whose runtime version nobody published
    # (s3transfer), decides nothing
    off = runtime_provided_choice(BOTO, (), "python3.11",
                                  ['boto3>=1.28.57; python_version < "3.11"', "s3transfer>=99"], env311)
    assert off.excluded == {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"}


def test_configured_runtime_packages_are_the_versions_ranges_are_judged_by() -> None:
    """``[check] runtime-packages`` (its Python entries) replaces ``lambda_facts``' list for
    the range rule as for the smoke test; Node.js entries leave it as it was."""
    choice = runtime_provided_choice(BOTO, (), "python3.12", ["boto3>=1.36"], ENV,
                                     ["boto3==1.34.0", "botocore==1.34.0", "@aws-sdk/*@3.700.0"])
    assert choice.kept["boto3"] == ("requires boto3>=1.36; the python3.12 runtime has 1.34.0 "
                                    "([check] runtime-packages)")
    node_only = runtime_provided_choice(BOTO, (), "python3.12", ["boto3>=1.36"], ENV,
                                        ["@aws-sdk/*@3.700.0"])
    assert "boto3" in node_only.excluded and node_only.kept == {}
    # a configured range or wildcard says what to test with: the known 1.38.36 decides
    for loose in (["boto3>=1.30"], ["boto3==1.34.*"], ["Boto3 [crt] == 1.34.0 ; python_version > '3'"]):
        choice = runtime_provided_choice(BOTO, (), "python3.12", ["boto3>=1.36"], ENV, loose)
        if loose[0].startswith("Boto3"):  # an exact pin, however written
            assert choice.kept["boto3"].endswith("has 1.34.0 ([check] runtime-packages)")
        else:
            assert "boto3" in choice.excluded and choice.kept == {}


def test_node_runtimes_exclude_nothing_here() -> None:
    assert runtime_provided_choice(BOTO, (), "nodejs22.x").excluded == set()


def test_layer_dedupe_drops_same_version_and_reports_conflicts() -> None:
    from lambdaforge.builders.base import DependencyInputs, select_dependencies
    from lambdaforge.builders.python import PythonBuilder
    from tests.python_builder.conftest import settings

    function = [dist("requests", "2.31.0"), dist("attrs", "23.1.0"), dist("own", "1")]
    # name → (version, layer), the first layer in the function's order wins
    layers = {"requests": ("2.31.0", "shared"), "attrs": ("22.2.0", "shared"), "x": ("1", "other")}
    inputs = DependencyInputs("python", "python3.12", "x86_64", ())
    selection = select_dependencies(PythonBuilder(), inputs, function,
                                    settings(exclude_runtime_provided=False), layers)
    assert selection.from_layers == {"requests"}
    assert selection.conflicts == [LayerConflict("attrs", "23.1.0", "shared", "22.2.0")]
    assert selection.conflicts[0].message("api") == (
        "attrs: function api bundles 23.1.0 but layer shared provides 22.2.0; the function's copy "
        "wins at runtime (/var/task precedes /opt on the import path)"
    )
