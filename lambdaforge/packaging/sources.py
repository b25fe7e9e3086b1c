"""Turn a function's or layer's source directory into the list of files to package.

One walk does everything a source tree needs, in this order per file: ``include`` (empty =
everything), ``exclude``, secret-looking files (skipped with a warning unless ``include``
names them), then strip rules (with per-rule accounting). Directories are pruned as early as
the rules allow, so a stripped ``tests/`` or an excluded ``data/`` costs a directory listing,
not a pattern match per file.

The result is deterministic: sorted by POSIX relative path, independent of the checkout's
location and of the order the OS lists directories in. Symlinks that stay inside the root
are followed (their content is packaged); one that leaves the root is an error, because the
zip would otherwise depend on files outside the project.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from lambdaforge.errors import BuildError
from lambdaforge.observe import listing_of, stat_tuple
from lambdaforge.packaging.strip import SECRET_PATTERNS, StripFilter, StripHit, StripReport, is_protected

__all__ = ["SourceError", "SourceFile", "SourceSet", "check_zip_name", "collect_sources", "SKIPPED_DIRS"]

#: Directory names never packaged from a source tree: lambdaforge's own build output and cache.
SKIPPED_DIRS = frozenset({".forge"})

_SECRETS = pathspec.GitIgnoreSpec.from_lines(SECRET_PATTERNS)


class SourceError(BuildError):
    """A source tree cannot be packaged as it is (a symlink leaving it, a loop, a missing root)."""


@dataclass(frozen=True)
class SourceFile:
    """A file to package: POSIX path relative to the source root, absolute path to read
    (a symlink already resolved), size in bytes, and whether any execute bit is set."""

    relpath: str
    path: Path
    size: int
    executable: bool


@dataclass
class SourceSet:
    """What ``collect_sources`` found: the files to package (sorted by ``relpath``), warnings
    for the user (secrets skipped, special files ignored) and what strip rules removed."""

    files: list[SourceFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    strip_report: StripReport = field(default_factory=StripReport)
    #: every directory the walk listed: (POSIX path relative to the root, ``"."`` for the
    #: root itself; its stat before listing; ``observe.listing_of`` its entries). What the
    #: walk packaged depends on these listings and nothing else of the tree's shape, so
    #: they are the observations that tell a later build whether files came or went.
    listings: list[tuple[str, list[int], str]] = field(default_factory=list)

    @property
    def total_size(self) -> int:
        """Bytes of all files to package (the unzipped size of this part)."""
        return sum(f.size for f in self.files)


def collect_sources(
    root: Path,
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    strip: StripFilter | None = None,
    skip_secrets: bool = True,
) -> SourceSet:
    """Walk ``root`` and return the files to package, applying include, exclude, secrets and strip.

    ``include``/``exclude`` are gitignore-style patterns relative to ``root``. Pass
    ``skip_secrets=False`` for trees that are not the user's own sources (installed
    dependencies legitimately ship ``*.pem`` CA bundles). Raises ``SourceError`` for a missing
    root, a symlink that leaves it, a broken symlink, or a symlink loop.
    """
    root = Path(root)
    if not root.is_dir():
        raise SourceError(f"{root}: source directory does not exist")
    walker = _Walker(root, include, exclude, strip, skip_secrets)
    real_root = os.path.realpath(root)
    walker.walk(str(root), real_root, "", None, frozenset({real_root}))
    walker.result.files.sort(key=lambda f: f.relpath)
    return walker.result


class _Walker:
    def __init__(self, root: Path, include: Sequence[str], exclude: Sequence[str],
                 strip: StripFilter | None, skip_secrets: bool):
        self.root = root
        self.real_root = os.path.realpath(root)
        self.include = pathspec.GitIgnoreSpec.from_lines(include) if include else None
        self.exclude = pathspec.GitIgnoreSpec.from_lines(exclude) if exclude else None
        # Pruning excluded directories is only exact without negations ("!keep-me"), which
        # could re-include something below an excluded directory.
        self.exclude_prunes = self.exclude is not None and all(
            p.include is not False for p in self.exclude.patterns
        )
        self.strip = strip
        self.skip_secrets = skip_secrets
        self.result = SourceSet()

    def walk(self, directory: str, real: str, prefix: str, stripped: StripHit | None,
             active: frozenset[str]) -> None:
        """Visit ``directory`` (real path ``real``, relative path ``prefix``); ``stripped`` is
        set below a pruned stripped directory; ``active`` holds the real paths being walked,
        to catch loops. Real paths are derived, not asked for: only a symlink can lead back,
        and a symlink is resolved anyway (one ``realpath`` per link, not per directory)."""
        before = os.stat(directory)  # before listing: a change after it moves this stat
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name)
        self.result.listings.append(
            (prefix.rstrip("/") or ".", stat_tuple(before), listing_of(entries)))
        for entry in entries:
            rel = prefix + entry.name
            path = entry.path
            entry_real = os.path.join(real, entry.name)
            if entry.is_symlink():
                path = entry_real = self._resolve_link(entry.path, rel)
            st = os.stat(path)
            if stat.S_ISDIR(st.st_mode):
                self._visit_dir(path, entry_real, rel, stripped, active)
            elif stat.S_ISREG(st.st_mode):
                self._visit_file(path, rel, st, stripped)
            else:
                self.result.warnings.append(f"{rel}: not packaged: not a regular file or directory")

    def _resolve_link(self, link: str, rel: str) -> str:
        target = os.path.realpath(link)
        if target != self.real_root and not target.startswith(self.real_root + os.sep):
            raise SourceError(
                f"{rel}: symlink to {os.readlink(link)} leads outside the source directory "
                f"{self.root}; copy the file into the source directory or point `source` at a "
                "directory that contains both"
            )
        if not os.path.exists(target):
            raise SourceError(f"{rel}: broken symlink to {os.readlink(link)}")
        return target

    def _visit_dir(self, path: str, real: str, rel: str, stripped: StripHit | None,
                   active: frozenset[str]) -> None:
        if os.path.basename(rel) in SKIPPED_DIRS:
            return
        if real in active:
            raise SourceError(f"{rel}: symlink loop (leads back to {os.path.relpath(real, self.real_root)})")
        if self.exclude_prunes and self.exclude is not None and self.exclude.match_file(rel + "/"):
            return
        if self.skip_secrets and _SECRETS.match_file(rel + "/") and not self._included(rel + "/"):
            self.result.warnings.append(self._secret_warning(rel + "/"))
            return
        if stripped is None and self.strip is not None and self.strip.match(rel, is_dir=True):
            stripped = self.strip.explain(rel, is_dir=True)
        self.walk(path, real, rel + "/", stripped, active | {real})

    def _visit_file(self, path: str, rel: str, st: os.stat_result, stripped: StripHit | None) -> None:
        if self.include is not None and not self.include.match_file(rel):
            return
        if self.exclude is not None and self.exclude.match_file(rel):
            return
        if self.skip_secrets and _SECRETS.match_file(rel) and not self._included(rel):
            self.result.warnings.append(self._secret_warning(rel))
            return
        hit = stripped if stripped is not None and not is_protected(rel) else None
        if stripped is None and self.strip is not None:
            hit = self.strip.explain(rel)
        if hit is not None:
            self.result.strip_report.add(rel, hit, st.st_size)
            return
        check_zip_name(rel)
        self.result.files.append(
            SourceFile(rel, Path(path).absolute(), st.st_size, bool(st.st_mode & 0o111))
        )

    def _included(self, rel: str) -> bool:
        """True when the user's ``include`` names ``rel``: an explicit opt-in for a secret."""
        return self.include is not None and self.include.match_file(rel)

    @staticmethod
    def _secret_warning(rel: str) -> str:
        pattern = next(
            (p for p in SECRET_PATTERNS if pathspec.GitIgnoreSpec.from_lines([p]).match_file(rel)), "?"
        )
        return (
            f"{rel}: not packaged: looks like a secret (matches `{pattern}`); "
            "name it in `include` to package it anyway"
        )


def check_zip_name(rel: str) -> None:
    """Raise ``SourceError`` for a file name a zip cannot carry faithfully (APPNOTE 4.4.17:
    ``/`` is the only separator; names are UTF-8 here): it would ship as another name."""
    if "\\" in rel:
        raise SourceError(
            f"{rel}: cannot be packaged: a backslash in a file name is a directory separator "
            "to many unzip tools, and zip names allow only '/'; rename it, or leave it out "
            "with `exclude`")
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        shown = rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise SourceError(
            f"{shown}: cannot be packaged: the file name is not valid UTF-8; rename it, or "
            "leave it out with `exclude`") from None
