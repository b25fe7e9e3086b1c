"""``ConfigIssue``: one located problem in a config or declaration file.

Kept apart from ``lambdaforge.errors`` (which re-exports it) so that the exceptions can be
imported without the record's msgspec import: ``fsutil`` raises ``DiskWriteError`` from
every atomic write, including the one a no-op build makes when it refreshes its replay
record.
"""

from __future__ import annotations

from typing import Literal

from msgspec import Struct
from msgspec.structs import force_setattr

from lambdaforge.redact import redact_text

__all__ = ["ConfigIssue"]


class ConfigIssue(Struct, frozen=True):
    """One problem found in a config file, located by file, line and dotted key.

    Rendered as ``FILE:LINE: dotted.key: message`` so editors and CI logs can jump to it.
    """

    file: str
    line: int | None
    key: str
    message: str
    severity: Literal["error", "warning"] = "error"

    def __post_init__(self) -> None:
        # Messages quote the offending line, which may hold an index URL with a password.
        force_setattr(self, "message", redact_text(self.message))

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        key = f" {self.key}:" if self.key else ""
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{where}:{key} {prefix}{self.message}"
