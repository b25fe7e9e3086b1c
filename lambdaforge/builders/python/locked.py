"""What a lock file says to install, as requirement lines: the common result of the
Poetry and Pipenv readers (``poetry.py``, ``pipenv.py``).

Both formats are read directly (no Poetry or Pipenv needed) into exact pins with their
markers and hashes, the form uv and pip take (``name==1.0; marker --hash=sha256:…``); the
requirements collector then treats them like the lines of an exported requirements file.
"""

from __future__ import annotations

from msgspec import Struct, field

from lambdaforge.errors import ConfigIssue


class LockedRequirement(Struct, frozen=True):
    """One locked package: ``text`` is a PEP 508 requirement (``name==version; marker``),
    ``hashes`` its ``sha256:…`` digests, ``line`` where the lock file declares it."""

    text: str
    hashes: tuple[str, ...] = ()
    line: int | None = None


class LockRead(Struct):
    """Everything a lock reader found: the packages to install, the indexes the lock names
    besides PyPI, the names the user pinned exactly (they keep runtime-provided packages),
    and the problems (stale lock, unsupported entries), all reported together."""

    requirements: list[LockedRequirement] = field(default_factory=list)
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    pinned: set[str] = field(default_factory=set)
    issues: list[ConfigIssue] = field(default_factory=list)

    def problem(self, where: str, line: int | None, message: str) -> None:
        """Record a problem found at ``where:line``."""
        self.issues.append(ConfigIssue(file=where, line=line, key="", message=message))


def line_of(text: str, needle: str) -> int | None:
    """The 1-based number of the first line of ``text`` containing ``needle`` (lock parsers
    give no positions, so a package's line is found by its declaration's text)."""
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return number
    return None
