"""The exception hierarchy: every error lambdaforge raises on purpose is a ``ForgeError``.

User errors (bad config, bad usage) exit 2; build failures exit 1; anything else is a bug
and only shows a traceback with ``--verbose``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lambdaforge.redact import redact_text

if TYPE_CHECKING:
    from lambdaforge.issues import ConfigIssue


def __getattr__(name: str) -> Any:
    """``ConfigIssue`` lives in ``lambdaforge.issues`` (a msgspec record); it is still found
    here, where callers import it from, but only when asked for: writing a file
    (``fsutil``, which raises ``DiskWriteError``) must not import msgspec, and a no-op
    build that refreshes its replay record writes one."""
    if name == "ConfigIssue":
        from lambdaforge.issues import ConfigIssue

        return ConfigIssue
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


class ConfigError(ForgeError):
    """The configuration is invalid; carries every problem found, not only the first."""

    exit_code = 2

    def __init__(self, issues: list[ConfigIssue] | ConfigIssue | str):
        from lambdaforge.issues import ConfigIssue

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
