"""Read ``lambdaforge.toml`` and everything it ``extends``, and merge them with provenance.

Team standards are ordinary TOML files named by ``[project] extends``: paths relative to
the file naming them, or ``pkg:NAME`` for a file an installed package publishes through
the ``lambdaforge.standards`` entry-point group. Files are merged in order — every file
after the files it extends, later entries over earlier ones — with tables merged key by key
and scalars and arrays replaced whole (as design §2 says).

The merge keeps, for every table and value, the index of the file that set it; with each
file's key→line map (``locate.key_lines``) that answers "which file and line set
``functions.api.runtime``?" for error messages and ``forge config --show-origin``.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from pathlib import Path
from typing import Any, Literal

from msgspec import Struct

from lambdaforge.config.locate import KeyPath, dotted, key_lines, nearest_line
from lambdaforge.errors import ConfigError, ConfigIssue
from lambdaforge.observe import file_obs, stat_tuple

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

#: Entry-point group through which installed packages publish team standards.
STANDARDS_GROUP = "lambdaforge.standards"
#: Prefix of an ``extends`` entry naming such an entry point.
PKG_PREFIX = "pkg:"

_TOML_POSITION = re.compile(r"at line (\d+), column \d+")


class SourceFile(Struct):
    """One config file as read: its data, where its keys are, and how to name it."""

    path: Path  # absolute, symlinks resolved
    shown: str  # in messages: relative to the working directory, as a user would type it
    origin_name: str  # in ``Project.origins``: relative to the project root when possible
    data: dict[str, Any]
    lines: dict[KeyPath, int]
    #: ``observe.file_obs`` of the bytes parsed (stat taken before reading), so a build's
    #: replay record knows this file exactly as the config was made from it
    observed: list | None = None


def relative_name(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` in POSIX form (``../standards/team.toml`` included)."""
    try:
        return Path(os.path.relpath(path, base)).as_posix()
    except ValueError:  # another drive on Windows
        return path.as_posix()


def read_toml(path: Path, shown: str) -> tuple[dict[str, Any], str]:
    """Parse one TOML file; syntax errors keep tomllib's line and column and gain the file name."""
    return parse_toml(read_config_bytes(path, shown), shown)


def read_config_bytes(path: Path, shown: str) -> bytes:
    """A config file's bytes; an unreadable file is a ``ConfigError`` naming it."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(ConfigIssue(shown, None, "", f"cannot read: {exc.strerror}")) from None


def parse_toml(raw: bytes, shown: str) -> tuple[dict[str, Any], str]:
    """Parse config bytes read from ``shown``; errors name it with tomllib's line. A UTF-8
    byte order mark (Windows editors write one) is no content, as for requirements files:
    tomllib called it an "Invalid statement" at line 1, column 1, where nothing shows."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            ConfigIssue(shown, None, "", f"not UTF-8 text (byte {exc.start})")
        ) from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        m = _TOML_POSITION.search(message)
        line = int(m.group(1)) if m else None
        raise ConfigError(ConfigIssue(shown, line, "", f"invalid TOML: {message}")) from None


class Merged(Struct):
    """The merged raw data of a config chain plus which file set each part of it."""

    data: dict[str, Any]
    files: list[SourceFile]
    #: key path → index into ``files`` of the file that last set it (tables: last touched)
    owner: dict[KeyPath, int]

    def where(self, path: KeyPath) -> tuple[SourceFile, int | None]:
        """The file that set ``path`` (or its nearest set ancestor) and the line there."""
        for depth in range(len(path), -1, -1):
            index = self.owner.get(path[:depth])
            if index is not None:
                break
        else:  # pragma: no cover - the root is always owned
            index = len(self.files) - 1
        source = self.files[index]
        return source, nearest_line(source.lines, path)

    def issue(
        self,
        path: KeyPath,
        message: str,
        severity: Literal["error", "warning"] = "error",
    ) -> ConfigIssue:
        """A ``ConfigIssue`` located at the file and line that set ``path``."""
        source, line = self.where(path)
        return ConfigIssue(source.shown, line, dotted(path), message, severity)


def _frozen(value: Any) -> Any:
    """A deep copy with arrays as tuples: the models are frozen and validated strictly."""
    if isinstance(value, dict):
        return {k: _frozen(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


def _merge_into(
    dst: dict[str, Any], src: dict[str, Any], path: KeyPath, index: int, owner: dict[KeyPath, int]
) -> None:
    owner[path] = index
    for key, value in src.items():
        sub = (*path, key)
        if isinstance(value, dict):
            if not isinstance(dst.get(key), dict):
                dst[key] = {}
            _merge_into(dst[key], value, sub, index, owner)
        else:
            dst[key] = _frozen(value)
            owner[sub] = index


def merge(files: list[SourceFile]) -> Merged:
    """Merge files lowest priority first: tables key by key, scalars and arrays replaced."""
    data: dict[str, Any] = {}
    owner: dict[KeyPath, int] = {}
    for index, source in enumerate(files):
        _merge_into(data, source.data, (), index, owner)
    return Merged(data, files, owner)


def _standards_file(name: str) -> Path:
    """The TOML file an installed package publishes as ``pkg:NAME``.

    The entry point may name a path (``str``/``PathLike``), a callable returning one, or a
    module, meaning the ``lambdaforge.toml`` inside that package.
    """
    import difflib
    from importlib.metadata import entry_points
    from types import ModuleType

    available = {ep.name: ep for ep in entry_points(group=STANDARDS_GROUP)}
    ep = available.get(name)
    if ep is None:
        close = difflib.get_close_matches(name, list(available), n=1)
        hint = f"did you mean 'pkg:{close[0]}'?" if close else (
            f"installed: {', '.join(sorted(available))}" if available else "none are installed"
        )
        raise LookupError(
            f"no installed package provides '{name}' in entry-point group "
            f"'{STANDARDS_GROUP}' ({hint})"
        )
    try:
        target = ep.load()
        if isinstance(target, ModuleType):
            target = Path(target.__file__ or "").parent / "lambdaforge.toml"
        elif callable(target):
            target = target()
        return Path(os.fspath(target))
    except Exception as exc:  # a broken third-party package must not crash the loader
        raise LookupError(
            f"entry point '{ep.name} = {ep.value}' could not be loaded: "
            f"{type(exc).__name__}: {exc}"
        ) from None


class _ChainLoader:
    """Loads a file and, depth first, the files it extends; collects every problem."""

    def __init__(self, root: Path, cwd: Path):
        self.root = root
        self.cwd = cwd
        self.files: list[SourceFile] = []
        self.loaded: set[Path] = set()
        self.issues: list[ConfigIssue] = []

    def load(self, path: Path, stack: tuple[SourceFile, ...], pkg: bool = False) -> None:
        shown = path.as_posix() if pkg else relative_name(path, self.cwd)
        origin_name = path.as_posix() if pkg else relative_name(path, self.root)
        try:
            before = os.stat(path)  # before reading: an edit after it moves this stat
            raw = read_config_bytes(path, shown)
            data, text = parse_toml(raw, shown)
        except OSError as exc:
            self.issues.append(ConfigIssue(shown, None, "", f"cannot read: {exc.strerror}"))
            return
        except ConfigError as exc:
            self.issues.extend(exc.issues)
            return
        where = origin_name if not origin_name.startswith("../") and not pkg else path.as_posix()
        observed = file_obs(where, stat_tuple(before), hashlib.sha256(raw).hexdigest())
        source = SourceFile(path, shown, origin_name, data, key_lines(text), observed)
        self.loaded.add(path)
        project = data.get("project")
        extends = project.get("extends") if isinstance(project, dict) else None
        if isinstance(extends, list):  # anything else is the models' error to report
            for i, entry in enumerate(extends):
                if isinstance(entry, str):
                    self.extend(source, i, entry, (*stack, source))
        self.files.append(source)

    def extend(self, source: SourceFile, i: int, entry: str, stack: tuple[SourceFile, ...]) -> None:
        key = ("project", "extends", i)

        def fail(message: str) -> None:
            self.issues.append(
                ConfigIssue(source.shown, nearest_line(source.lines, key), dotted(key), message)
            )

        pkg = entry.startswith(PKG_PREFIX)
        try:
            target = _standards_file(entry[len(PKG_PREFIX):]) if pkg else source.path.parent / entry
            target = target.resolve()
            found = target.is_file()
        except LookupError as exc:
            return fail(str(exc))
        except (OSError, ValueError, RuntimeError):  # NUL bytes, symlink loops, …
            found = False
        if not found:
            shown = entry if pkg else relative_name(source.path.parent / entry, self.cwd)
            return fail(f"extends a file that does not exist: {shown}")
        cycle = [s.path for s in stack]
        if target in cycle:
            names = [s.shown for s in stack[cycle.index(target):]] + [stack[cycle.index(target)].shown]
            return fail(f"extends cycle: {' -> '.join(names)}")
        if target not in self.loaded:  # a diamond: the first load wins, as its position does
            self.load(target, stack, pkg=pkg)


def load_chain(config_path: Path, root: Path, cwd: Path) -> list[SourceFile]:
    """``config_path`` and every file it extends, lowest priority first.

    Raises ``ConfigError`` listing every unreadable, missing or cyclic file at once.
    """
    loader = _ChainLoader(root, cwd)
    loader.load(config_path, ())
    if loader.issues:
        raise ConfigError(loader.issues)
    return loader.files
