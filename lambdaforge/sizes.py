"""Sizes: one way to print them, one way to read them, and each unit name means one thing.

Printed in binary units named as such: ``B``, ``KiB``, ``MiB``, ``GiB`` (2**10, 2**20, 2**30
bytes), with one decimal. Binary because Lambda's limits are: the "50 MB" and "250 MB" of
AWS's quota page are 52,428,800 and 262,144,000 bytes (``lambda_facts``), i.e. 50 MiB and
250 MiB, so a package reported as "49.9 MiB" is under the direct-upload limit and one
reported as "50.1 MiB" over it, which a decimal "52.4 MB" could not say at a glance. Where a
limit matters, messages give the exact number of bytes as well.

Read (``max-size`` in the config, ``forge cache prune --max-size``): a number of bytes, or a
number with a unit, where ``kB``/``MB``/``GB`` are decimal (10**3, 10**6, 10**9 bytes) and
``KiB``/``MiB``/``GiB`` binary: Pydantic's ``ByteSize``, the config's own parser, so the same
text means the same bytes on the command line and in ``lambdaforge.toml``.
"""

from __future__ import annotations

from lambdaforge.errors import UsageError

KiB = 2**10
MiB = 2**20
GiB = 2**30

_UNITS = (("KiB", KiB), ("MiB", MiB), ("GiB", GiB))


def format_size(n: int | None) -> str:
    """``1536`` → ``1.5 KiB``, ``262144000`` → ``250.0 MiB``; bytes below 1 KiB as ``512 B``,
    ``None`` (unknown) as ``-``."""
    if n is None:
        return "-"
    if abs(n) < KiB:
        return f"{n} B"
    for unit, scale in _UNITS:
        # rounded as shown: 1,048,575 bytes is "1.0 MiB", not "1024.0 KiB"
        if round(abs(n) / scale, 1) < 1024 or unit == "GiB":
            return f"{n / scale:.1f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def format_limit(n: int) -> str:
    """A limit as messages state it, exact and readable: ``52,428,800 bytes (50.0 MiB)``."""
    return f"{n:,} bytes ({format_size(n)})"


def parse_size(text: str | int) -> int:
    """Bytes from ``5GB`` (5 * 10**9), ``500MiB`` (500 * 2**20), ``1.5 gib``, ``"1024"`` or an
    int; ``UsageError`` for anything else or a negative size."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise UsageError(f"invalid size {text!r}: must not be negative")
        return text
    from pydantic import ByteSize, TypeAdapter, ValidationError  # noqa: PLC0415 (import cost)

    try:
        return int(TypeAdapter(ByteSize).validate_python(str(text).strip()))
    except ValidationError:
        raise UsageError(
            f"invalid size {text!r}: expected a number of bytes, or a number and a unit: "
            "kB, MB, GB (10^3, 10^6, 10^9 bytes) or KiB, MiB, GiB (2^10, 2^20, 2^30 bytes)"
        ) from None
