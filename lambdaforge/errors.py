"""The exception hierarchy: every error lambdaforge raises on purpose is a ``ForgeError``.

User errors (bad config, bad usage) exit 2; build failures exit 1; anything else is a bug
and only shows a traceback with ``--verbose``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


class ForgeError(Exception):
    """Root of every error lambdaforge raises deliberately."""

    exit_code: int = 1


class UsageError(ForgeError):
    """The command line asked for something that cannot be done (unknown target name, …)."""

    exit_code = 2


@dataclass(frozen=True)
class ConfigIssue:
    """One problem found in a config file, located by file, line and dotted key.

    Rendered as ``FILE:LINE: dotted.key: message`` so editors and CI logs can jump to it.
    """

    file: str
    line: int | None
    key: str
    message: str
    severity: Literal["error", "warning"] = "error"

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
