"""Size checks: Lambda's limits, max-size budgets, biggest contributors, full messages."""

from __future__ import annotations

from pathlib import Path

from lambdaforge.packaging.archive import BytesEntry, write_zip
from lambdaforge.packaging.checks import SizeContributor, SizeProblem, contributors_from_zip, size_report

MiB = 1024 * 1024
PARTS = [
    SizeContributor("numpy 2.1.0", 90 * MiB, 30 * MiB),
    SizeContributor("pandas 2.2.3", 60 * MiB, 25 * MiB),
    SizeContributor("app.py", 1024, 512),
]


def test_small_package_is_fine() -> None:
    report = size_report("api", zipped_size=MiB, unzipped_size=3 * MiB, layer_sizes={"shared": MiB})
    assert report.problems == () and report.total_unzipped == 4 * MiB
    assert report.errors == [] and report.warnings == []


def test_over_50mb_zipped_is_a_warning_naming_compressed_contributors() -> None:
    report = size_report("api", zipped_size=55 * MiB + MiB // 2, unzipped_size=151 * MiB, contributors=PARTS)
    assert report.warnings == [SizeProblem(
        "warning", "zipped",
        "api: 55.5 MiB zipped is over Lambda's limit for direct upload, 52,428,800 bytes "
        "(50.0 MiB); deploy it through S3; largest compressed: numpy 2.1.0 30.0 MiB, "
        "pandas 2.2.3 25.0 MiB, app.py 512 B",
    )]
    assert report.errors == []
    # AWS's "50 MB" is 50 MiB: 52,428,800 bytes still upload directly, one more does not
    assert size_report("api", zipped_size=52_428_800, unzipped_size=MiB).problems == ()
    assert [p.kind for p in size_report("api", zipped_size=52_428_801, unzipped_size=MiB).problems] == [
        "zipped"]


def test_function_plus_layers_over_250mb_is_an_error() -> None:
    report = size_report(
        "api", zipped_size=40 * MiB, unzipped_size=151 * MiB, layer_sizes={"shared": 60 * MiB, "pandas": 40 * MiB},
        contributors=PARTS, savings={"aggressive": 12 * MiB, "no-docs": 3 * MiB},
    )
    assert [str(p) for p in report.errors] == [
        "api: 251.0 MiB unzipped with its layers (function 151.0 MiB, layer pandas 40.0 MiB, layer shared "
        "60.0 MiB) is over Lambda's limit: it must be smaller than 262,144,000 bytes (250.0 MiB); largest: "
        "numpy 2.1.0 90.0 MiB, pandas 2.2.3 60.0 MiB, app.py 1.0 KiB; strip rules `aggressive` would save "
        "12.0 MiB",
    ]
    assert report.layers == (("pandas", 40 * MiB), ("shared", 60 * MiB))
    assert report.contributors[0].name == "numpy 2.1.0"


def test_limit_boundary_follows_the_api_wording() -> None:
    # "must be smaller than 262144000 bytes": exactly the limit is already too big.
    assert size_report("f", zipped_size=1, unzipped_size=262_144_000 - 1).problems == ()
    report = size_report("f", zipped_size=1, unzipped_size=262_144_000, artifact="layer")
    assert [str(p) for p in report.errors] == [
        "f: 250.0 MiB unzipped is over Lambda's limit: it must be smaller than 262,144,000 bytes "
        "(250.0 MiB)",
    ]


def test_max_size_budget() -> None:
    report = size_report(
        "api", zipped_size=10 * MiB, unzipped_size=100 * MiB, layer_sizes={"shared": 5 * MiB},
        max_size=100_000_000, contributors=PARTS[:1], top=1,
    )
    assert [(p.kind, p.message) for p in report.errors] == [(
        "budget",
        # "100MB" in the config is decimal: exactly what it says, and shown in MiB like the rest
        "api: 105.0 MiB unzipped with its layers (function 100.0 MiB, layer shared 5.0 MiB) is over its "
        "max-size of 100,000,000 bytes (95.4 MiB); largest: numpy 2.1.0 90.0 MiB",
    )]
    assert size_report("api", zipped_size=1, unzipped_size=100, max_size=100).problems == ()


def test_contributors_from_a_real_zip(tmp_path: Path) -> None:
    zip_path = tmp_path / "layer.zip"
    write_zip(zip_path, [
        BytesEntry("python/numpy/core.so", b"\0" * 5000),
        BytesEntry("python/numpy/__init__.py", b"x" * 100),
        BytesEntry("python/numpy-2.1.0.dist-info/METADATA", b"m" * 10),
        BytesEntry("python/six.py", b"s" * 300),
        BytesEntry("python/lib/python3.12/site-packages/attr/a.py", b"a" * 200),
        BytesEntry("nodejs/node_modules/@aws-sdk/client-s3/index.js", b"j" * 400),
        BytesEntry("nodejs/node_modules/left-pad/index.js", b"l" * 50),
        BytesEntry("handler.py", b"h" * 20),
    ])
    owners = {"python/numpy/core.so": "numpy 2.1.0", "python/numpy/__init__.py": "numpy 2.1.0",
              "python/numpy-2.1.0.dist-info/METADATA": "numpy 2.1.0"}
    found = contributors_from_zip(zip_path, owners)
    assert [(c.name, c.size) for c in found] == [
        ("numpy 2.1.0", 5110),
        ("nodejs/node_modules/@aws-sdk/client-s3/", 400),
        ("python/six.py", 300),
        ("python/lib/python3.12/site-packages/attr/", 200),
        ("nodejs/node_modules/left-pad/", 50),
        ("handler.py", 20),
    ]
    assert all(c.compressed_size > 0 for c in found)
    assert [c.name for c in contributors_from_zip(zip_path)][:1] == ["python/numpy/"]
