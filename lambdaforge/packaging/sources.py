"""Turn a function's or layer's source directory into the list of files to package.

One walk does everything a source tree needs, in this order per file: ``include`` (empty =
everything), ``exclude``, files that look like secrets by name (``secrets.SECRET_NAMES``:
left out with a warning) and the default excludes (``excludes.DEFAULT_EXCLUDES``: left out
silently), either unless ``include`` names the file (``excludes.IncludeNames``), then strip
rules (with per-rule accounting). Directories are pruned as early as the rules allow, so a
``.git/`` or an excluded ``data/`` is never listed, and a stripped ``tests/`` costs a
directory listing, not a pattern match per file. Secrets found by content are the package
action's to withhold (``secrets.screen``): the walk reads no file.

The result is deterministic: sorted by POSIX relative path, independent of the checkout's
location and of the order the OS lists directories in. Symlinks that stay inside the root
are followed (their content is packaged); one that leaves the root is an error, because the
zip would otherwise depend on files outside the project.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

from msgspec import Struct, field

from lambdaforge.errors import BuildError
from lambdaforge.observe import listing_of, stat_tuple
from lambdaforge.packaging import secrets
from lambdaforge.packaging.excludes import DEFAULT_EXCLUDES, IncludeNames, PathRules
from lambdaforge.packaging.strip import (
    StripFilter,
    StripHit,
    StripReport,
    is_protected,
    sourceless_bytecode,
)

__all__ = ["SourceError", "SourceFile", "SourceSet", "check_zip_name", "collect_sources", "SKIPPED_DIRS"]

#: Directory names never packaged from a source tree: lambdaforge's own build output and cache.
SKIPPED_DIRS = frozenset({".forge"})

_DEFAULTS = PathRules(p for p, _ in DEFAULT_EXCLUDES)

#: Why a path is left out: ``(_SECRET or _DEFAULT, the pattern it matches)``.
_LeftOut = tuple[str, str]
_SECRET, _DEFAULT = "secret", "default"


class SourceError(BuildError):
    """A source tree cannot be packaged as it is (a symlink leaving it, a loop, a missing root).

    ``listings`` holds the directories the walk had listed when it stopped (as
    ``SourceSet.listings``): what a fix changes, for a watcher to wait on."""

    listings: list[tuple[str, list[int], str]] = []


class SourceFile(Struct, frozen=True):
    """A file to package: POSIX path relative to the source root, absolute path to read
    (a symlink already resolved), size in bytes, and whether any execute bit is set."""

    relpath: str
    path: Path
    size: int
    executable: bool


class SourceSet(Struct):
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


#: The file every virtual environment has at its top (``python -m venv``, virtualenv, uv):
#: a directory holding it is left out like ``.venv/``, whatever its name (``env/``), and
#: nothing below it is listed (its own listing is: the marker appearing or going is seen)
VENV_MARKER = "pyvenv.cfg"


def collect_sources(
    root: Path,
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    strip: StripFilter | None = None,
    skip_secrets: bool = True,
    default_excludes: bool = True,
) -> SourceSet:
    """Walk ``root`` and return the files to package, applying include, exclude, secret
    names, default excludes and strip.

    ``include``/``exclude`` are gitignore-style patterns relative to ``root``. Pass
    ``skip_secrets=False`` and ``default_excludes=False`` for a tree that is read rather than
    packaged (a command build's inputs may need its ``.npmrc`` and ``requirements.txt``).
    Raises ``SourceError`` for a missing root, a symlink that leaves it, a broken symlink,
    or a symlink loop.
    """
    root = Path(root)
    if not root.is_dir():
        raise SourceError(f"{root}: source directory does not exist")
    walker = _Walker(root, include, exclude, strip, skip_secrets, default_excludes)
    real_root = os.path.realpath(root)
    try:
        walker.walk(str(root), real_root, "", None, frozenset({real_root}), None)
    except SourceError as exc:
        exc.listings = walker.result.listings
        raise
    walker.result.files.sort(key=lambda f: f.relpath)
    return walker.result


def _gitignore_spec(patterns: Sequence[str]):  # type: ignore[no-untyped-def]
    """A function's ``include``/``exclude`` list as pathspec's matcher; ``None`` for none
    (pathspec is imported only then: most functions have neither)."""
    if not patterns:
        return None
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(patterns)


class _Walker:
    def __init__(self, root: Path, include: Sequence[str], exclude: Sequence[str],
                 strip: StripFilter | None, skip_secrets: bool, default_excludes: bool):
        self.root = root
        self.real_root = os.path.realpath(root)
        self.include = _gitignore_spec(include)
        self.exclude = _gitignore_spec(exclude)
        # Pruning excluded directories is only exact without negations ("!keep-me"), which
        # could re-include something below an excluded directory.
        self.exclude_prunes = self.exclude is not None and all(
            p.include is not False for p in self.exclude.patterns
        )
        self.strip = strip
        self.skip_secrets = skip_secrets
        self.default_excludes = default_excludes
        self.names = IncludeNames(include)
        self.result = SourceSet()

    def walk(self, directory: str, real: str, prefix: str, stripped: StripHit | None,
             active: frozenset[str], region: _LeftOut | None) -> None:
        """Visit ``directory`` (real path ``real``, relative path ``prefix``); ``stripped`` is
        set below a pruned stripped directory; ``active`` holds the real paths being walked,
        to catch loops; ``region`` is set inside a left-out directory entered only for what
        ``include`` names below it. Real paths are derived, not asked for: only a symlink can
        lead back, and a symlink is resolved anyway (one ``realpath`` per link, not per
        directory)."""
        before = os.stat(directory)  # before listing: a change after it moves this stat
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name)
        self.result.listings.append(
            (prefix.rstrip("/") or ".", stat_tuple(before), listing_of(entries)))
        if prefix and self.default_excludes and any(e.name == VENV_MARKER for e in entries):
            return  # a virtual environment by any name (`env/`): host-built packages
        for entry in entries:
            rel = prefix + entry.name
            path = entry.path
            entry_real = os.path.join(real, entry.name)
            if entry.is_symlink():
                if not os.path.exists(entry.path) and self._left_out_anyway(rel):
                    continue  # a dangling link never packaged: Emacs' `.#app.py` lock
                path = entry_real = self._resolve_link(entry.path, rel)
            st = os.stat(path)
            if stat.S_ISDIR(st.st_mode):
                self._visit_dir(path, entry_real, rel, stripped, active, region)
            elif stat.S_ISREG(st.st_mode):
                self._visit_file(path, rel, st, stripped, region)
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
                   active: frozenset[str], region: _LeftOut | None) -> None:
        if os.path.basename(rel) in SKIPPED_DIRS:
            return
        if real in active:
            raise SourceError(f"{rel}: symlink loop (leads back to {os.path.relpath(real, self.real_root)})")
        if self.exclude_prunes and self.exclude is not None and self.exclude.match_file(rel + "/"):
            return
        left_out = _first_secret(self._left_out(rel, True), region)
        if left_out is not None:
            if self.names.names(rel, is_dir=True):
                self._warn_overridden(rel + "/", left_out)
                region = None  # everything below is named
            elif self.names.names_below(rel):
                region = left_out  # only what include names below it
            else:
                self._warn_withheld(rel + "/", left_out)
                return
        if stripped is None and self.strip is not None and self.strip.match(rel, is_dir=True):
            stripped = self.strip.explain(rel, is_dir=True)
        self.walk(path, real, rel + "/", stripped, active | {real}, region)

    def _visit_file(self, path: str, rel: str, st: os.stat_result, stripped: StripHit | None,
                    region: _LeftOut | None) -> None:
        if self.include is not None and not self.include.match_file(rel):
            return
        if self.exclude is not None and self.exclude.match_file(rel):
            return
        left_out = _first_secret(self._left_out(rel, False), region)
        if left_out is not None:
            if not self.names.names(rel):
                self._warn_withheld(rel, left_out)
                return
            self._warn_overridden(rel, left_out)
        hit = stripped if stripped is not None and not is_protected(rel) else None
        if stripped is None and self.strip is not None:
            hit = self.strip.explain(rel)
        if hit is not None and sourceless_bytecode(rel, lambda _: os.path.exists(path[:-1])):
            hit = None  # a module Python imports from its bytecode: code, not a cache
        if hit is not None:
            self.result.strip_report.add(rel, hit, st.st_size)
            return
        check_zip_name(rel)
        self.result.files.append(
            SourceFile(rel, Path(path).absolute(), st.st_size, bool(st.st_mode & 0o111))
        )

    def _left_out_anyway(self, rel: str) -> bool:
        """Whether the file ``rel`` is left out whatever it points to: excluded, or a
        default exclude that ``include`` does not name back."""
        if self.exclude is not None and self.exclude.match_file(rel):
            return True
        left_out = self._left_out(rel, False)
        return left_out is not None and left_out[0] == _DEFAULT and not self.names.names(rel)

    def _left_out(self, rel: str, is_dir: bool) -> _LeftOut | None:
        """Why ``rel`` itself is left out by default (a secret's name first), or ``None``."""
        if self.skip_secrets:
            pattern = secrets.name_rule(rel, is_dir)
            if pattern is not None:
                return _SECRET, pattern
        if self.default_excludes:
            pattern = _DEFAULTS.match(rel, is_dir)
            if pattern is not None:
                return _DEFAULT, pattern
        return None

    def _warn_withheld(self, rel: str, left_out: _LeftOut) -> None:
        if left_out[0] == _SECRET:
            self.result.warnings.append(secrets.withheld(rel, f"matches `{left_out[1]}`"))

    def _warn_overridden(self, rel: str, left_out: _LeftOut) -> None:
        if left_out[0] == _SECRET:
            self.result.warnings.append(secrets.overridden(rel, f"matches `{left_out[1]}`"))


def _first_secret(own: _LeftOut | None, region: _LeftOut | None) -> _LeftOut | None:
    """What leaves a path out: its own rule or its directory's, a secret before a default
    (a secret is worth a warning)."""
    if own is None or (region is not None and region[0] == _SECRET and own[0] != _SECRET):
        return region
    return own


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
