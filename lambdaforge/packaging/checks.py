"""Size checks of a finished package: Lambda's limits and the user's budget.

They run on the zip itself, not on the staging tree, so they see exactly what ships (native
binaries are ``native``'s). Each problem's message is complete on its own: what is too big,
by how much, its biggest parts and what would help.
"""

from __future__ import annotations

import zipfile
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from msgspec import Struct

from lambdaforge import lambda_facts
from lambdaforge.sizes import format_limit, format_size

__all__ = [
    "SizeContributor",
    "SizeProblem",
    "SizeReport",
    "contributors_from_zip",
    "size_report",
]


class SizeContributor(Struct, frozen=True):
    """A part of a package and its size: a distribution (``numpy 2.1.0``), a top-level
    directory (``python/numpy/``) or a top-level file, unzipped and compressed."""

    name: str
    size: int
    compressed_size: int = 0


class SizeProblem(Struct, frozen=True):
    """A size limit a package exceeds. ``kind``: ``zipped`` (Lambda's 52,428,800 bytes = 50 MiB
    for a direct upload; a warning: the package must go through S3), ``unzipped`` (262,144,000
    bytes = 250 MiB for a function plus its layers) or ``budget`` (the configured
    ``max-size``); both are errors."""

    severity: Literal["error", "warning"]
    kind: Literal["zipped", "unzipped", "budget"]
    message: str

    def __str__(self) -> str:
        return self.message


class SizeReport(Struct, frozen=True):
    """Sizes of one artifact and the problems they cause.

    ``total_unzipped`` is this artifact plus its layers (``layers``: name → unzipped bytes),
    the number Lambda's 262,144,000-byte (250 MiB) limit applies to. ``contributors`` are the biggest parts,
    largest first.
    """

    name: str
    zipped: int
    unzipped: int
    layers: tuple[tuple[str, int], ...]
    total_unzipped: int
    contributors: tuple[SizeContributor, ...]
    problems: tuple[SizeProblem, ...]

    @property
    def errors(self) -> list[SizeProblem]:
        """Problems that fail the build."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[SizeProblem]:
        """Problems to report without failing."""
        return [p for p in self.problems if p.severity == "warning"]


def size_report(
    name: str,
    *,
    zipped_size: int,
    unzipped_size: int,
    layer_sizes: Mapping[str, int] | None = None,
    max_size: int | None = None,
    contributors: Sequence[SizeContributor] = (),
    savings: Mapping[str, int] | None = None,
    artifact: str = "function",
    top: int = 5,
) -> SizeReport:
    """Check one artifact's sizes against Lambda's limits and its ``max-size`` budget.

    - zipped over 52,428,800 bytes (``MAX_ZIPPED_DIRECT_UPLOAD``): warning, it needs an S3
      upload;
    - unzipped, with ``layer_sizes`` (layer name → unzipped bytes), not smaller than
      262,144,000 bytes (the API's wording: "must be smaller than"): error;
    - over ``max_size`` bytes (the same total): error.

    Messages list the ``top`` biggest ``contributors`` (compressed sizes for the zipped
    warning) and, when ``savings`` (strip rule set → bytes it would remove) is given, the
    rule set that would save most.
    """
    layers = tuple(sorted((layer_sizes or {}).items()))
    total = unzipped_size + sum(size for _, size in layers)
    ranked = tuple(sorted(contributors, key=lambda c: (-c.size, c.name)))
    problems: list[SizeProblem] = []

    if zipped_size > lambda_facts.MAX_ZIPPED_DIRECT_UPLOAD:
        by_compressed = sorted(contributors, key=lambda c: (-c.compressed_size, c.name))
        problems.append(SizeProblem("warning", "zipped", (
            f"{name}: {format_size(zipped_size)} zipped is over Lambda's limit for direct "
            f"upload, {format_limit(lambda_facts.MAX_ZIPPED_DIRECT_UPLOAD)}; deploy it through "
            f"S3{_largest(by_compressed, top, compressed=True)}"
        )))

    with_layers = " with its layers" if layers else ""
    breakdown = ""
    if layers:
        parts = [f"{artifact} {format_size(unzipped_size)}"]
        parts += [f"layer {n} {format_size(s)}" for n, s in layers]
        breakdown = f" ({', '.join(parts)})"
    hint = _largest(ranked, top) + _saving(savings)
    if total >= lambda_facts.MAX_UNZIPPED_TOTAL:
        problems.append(SizeProblem("error", "unzipped", (
            f"{name}: {format_size(total)} unzipped{with_layers}{breakdown} is over Lambda's "
            f"limit: it must be smaller than {format_limit(lambda_facts.MAX_UNZIPPED_TOTAL)}{hint}"
        )))
    if max_size is not None and total > max_size:
        problems.append(SizeProblem("error", "budget", (
            f"{name}: {format_size(total)} unzipped{with_layers}{breakdown} is over its "
            f"max-size of {format_limit(max_size)}{hint}"
        )))
    return SizeReport(name, zipped_size, unzipped_size, layers, total, ranked, tuple(problems))


def _largest(contributors: Sequence[SizeContributor], top: int, *, compressed: bool = False) -> str:
    if not contributors:
        return ""
    shown = [f"{c.name} {format_size(c.compressed_size if compressed else c.size)}"
             for c in contributors[:top]]
    return f"; largest{' compressed' if compressed else ''}: {', '.join(shown)}"


def _saving(savings: Mapping[str, int] | None) -> str:
    if not savings:
        return ""
    rule, saved = max(savings.items(), key=lambda item: (item[1], item[0]))
    if saved <= 0:
        return ""
    return f"; strip rules `{rule}` would save {format_size(saved)}"


def contributors_from_zip(zip_path: Path, owners: Mapping[str, str] | None = None) -> list[SizeContributor]:
    """The parts of a zip and their sizes, largest first.

    A member belongs to its owner (``owners``: member path → distribution, e.g.
    ``numpy 2.1.0``) when known, else to its top-level directory below any layer prefix
    (``python/``, ``python/lib/pythonX.Y/site-packages/``, ``nodejs/node_modules/``, with npm
    scopes kept: ``nodejs/node_modules/@aws-sdk/client-s3/``), else to itself.
    """
    owners = owners or {}
    sizes: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            key = owners.get(info.filename) or _group(info.filename)
            sizes[key][0] += info.file_size
            sizes[key][1] += info.compress_size
    found = [SizeContributor(k, s, c) for k, (s, c) in sizes.items()]
    return sorted(found, key=lambda c: (-c.size, c.name))


def _group(path: str) -> str:
    prefix = ""
    rest = path
    if rest.startswith("python/lib/") and "/site-packages/" in rest:
        head, _, rest = rest.partition("/site-packages/")
        prefix = head + "/site-packages/"
    else:
        for candidate in ("python/", "nodejs/node_modules/"):
            if rest.startswith(candidate):
                prefix, rest = candidate, rest[len(candidate):]
                break
    parts = rest.split("/")
    depth = 2 if parts[0].startswith("@") and prefix.startswith("nodejs/") else 1
    if len(parts) <= depth:
        return path
    return prefix + "/".join(parts[:depth]) + "/"
