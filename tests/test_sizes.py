"""Sizes: one unit name, one meaning, in what forge prints and in what it reads."""

from __future__ import annotations

import pytest

from lambdaforge import lambda_facts
from lambdaforge.cache import parse_size as cache_parse_size
from lambdaforge.errors import UsageError
from lambdaforge.report import human_size
from lambdaforge.sizes import GiB, KiB, MiB, format_limit, format_size, parse_size


@pytest.mark.parametrize("n, shown", [
    (None, "-"), (0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"),
    (MiB - 1, "1.0 MiB"),  # rounded as shown, never "1024.0 KiB"
    (1_204_113, "1.1 MiB"), (52_428_800, "50.0 MiB"), (262_144_000, "250.0 MiB"),
    (5 * GiB, "5.0 GiB"), (3000 * GiB, "3000.0 GiB"),
])
def test_sizes_are_printed_in_binary_units_named_as_such(n, shown):
    assert format_size(n) == shown
    assert human_size(n) == shown  # the report and the checks print the same


def test_limits_are_stated_exactly():
    assert format_limit(lambda_facts.MAX_ZIPPED_DIRECT_UPLOAD) == "52,428,800 bytes (50.0 MiB)"
    assert format_limit(lambda_facts.MAX_UNZIPPED_TOTAL) == "262,144,000 bytes (250.0 MiB)"


def test_lambdas_limits_are_the_numbers_its_api_reports():
    # GetAccountSettings: CodeSizeZipped 52428800, CodeSizeUnzipped 262144000
    assert lambda_facts.MAX_ZIPPED_DIRECT_UPLOAD == 50 * MiB == 52_428_800
    assert lambda_facts.MAX_UNZIPPED_TOTAL == 250 * MiB == 262_144_000


@pytest.mark.parametrize("text, size", [
    ("40MB", 40_000_000), ("40MiB", 40 * MiB), ("40 mib", 40 * MiB), ("100kB", 100_000),
    ("100KiB", 100 * KiB), ("5GB", 5_000_000_000), ("5GiB", 5 * GiB), ("1024", 1024), (7, 7),
])
def test_a_unit_read_means_one_thing(text, size):
    assert parse_size(text) == size
    assert cache_parse_size(text) == size  # forge cache prune --max-size reads the same


def test_a_bad_size_says_what_the_units_mean():
    with pytest.raises(UsageError) as info:
        parse_size("lots")
    assert str(info.value) == (
        "invalid size 'lots': expected a number of bytes, or a number and a unit: kB, MB, GB "
        "(10^3, 10^6, 10^9 bytes) or KiB, MiB, GiB (2^10, 2^20, 2^30 bytes)")
    with pytest.raises(UsageError, match="must not be negative"):
        parse_size(-1)
