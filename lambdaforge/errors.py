"""The exception hierarchy: every error lambdaforge raises on purpose is a ``ForgeError``.

User errors (bad config, bad usage) exit 2; build failures exit 1; anything else is a bug
and only shows a traceback with ``--verbose``.
"""

from __future__ import annotations

from typing import Literal

from msgspec import Struct
from msgspec.structs import force_setattr

from lambdaforge.redact import redact_text


class ForgeError(Exception):
    """Root of every error lambdaforge raises deliberately.

    Its text is shown to users, written to reports and logs: ``str()`` hides credentials in
    URLs (``lambdaforge.redact``), whoever built the message and from what.
    """

    exit_code: int = 1

    def __str__(self) -> str:
        return redact_text(super().__str__())


class UsageError(ForgeError):
    """The command line asked for something that cannot be done (unknown target name, …)."""

    exit_code = 2


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


class ConfigError(ForgeError):
    """The configuration is invalid; carries every problem found, not only the first."""

    exit_code = 2

    def __init__(self, issues: list[ConfigIssue] | ConfigIssue | str):
        if isinstance(issues, str):
            issues = [ConfigIssue(file="", line=None, key="", message=issues)]
        elif isinstance(issues, ConfigIssue):
            issues = [issues]
        self.issues: list[ConfigIssue] = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


class BuildError(ForgeError):
    """A target failed to build; the message says which and why."""

    exit_code = 1


class InstallError(BuildError):
    """Installing dependencies for a target platform failed."""


class CheckError(BuildError):
    """A built artifact failed a check (native binary, handler, size, import)."""


class PluginError(ForgeError):
    """An installed plugin (a builder from an entry point) cannot be used: it fails to import,
    is not what its entry point promises, or clashes with another one. Nothing was built;
    the environment, not the config, needs fixing."""

    exit_code = 2


class CacheError(ForgeError):
    """The cache could not be used (unwritable directory, …)."""

    exit_code = 1


class DiskWriteError(ForgeError, OSError):
    """lambdaforge could not write one of its own files (state, cache entry, manifest,
    scratch): the message names the file and, when there is no space left, says the disk
    is full. Made by ``fsutil.write_failure``.

    Also an ``OSError`` (with the original ``errno`` and ``filename``), so code that already
    tolerates a failed optional write (``except OSError``) keeps doing so.
    """

    exit_code = 1

    def __init__(self, message: str, errno: int | None = None, filename: str | None = None):
        OSError.__init__(self, errno, message, filename)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.message, self.errno, self.filename))
