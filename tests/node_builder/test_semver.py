"""npm ranges against a release version, as node-semver reads them (``semver.allows``)."""

from __future__ import annotations

import pytest

from lambdaforge.builders.node.semver import allows


@pytest.mark.parametrize(("spec", "expected"), [
    ("^3.600.0", False), ("^3.400.0", True), ("^3", True), ("^2.9.0", False),
    ("~3.462.0", True), ("~3.461.0", False), ("~3", True), ("~>3.462", True),
    (">=3.500.0", False), (">= 3.400.0 < 3.500.0", True), (">3.461", True), (">3.462", False),
    ("<3.462.0", False), ("<=3.462", True), ("<3", False),
    ("3.462.0", True), ("=3.462.0", True), ("v3.462.0", True), ("3.461.0", False),
    ("3.x", True), ("3.462.x", True), ("3.463.x", False), ("3", True), ("*", True), ("", True),
    ("3.400.0 - 3.470", True), ("3.500.0 - 3.600", False), ("3.400 - 3.462", True),
    ("^3.600.0 || ^3.400.0", True), ("^3.600.0 || ^4", False),
])
def test_ranges(spec: str, expected: bool) -> None:
    assert allows(spec, "3.462.0") is expected


@pytest.mark.parametrize("spec", ["latest", "next", "npm:other@^3", "workspace:*", "file:../x",
                                  "https://example.invalid/x.tgz", "github:aws/sdk"])
def test_what_is_not_a_range_is_unknown(spec: str) -> None:
    assert allows(spec, "3.462.0") is None
