"""Strip rules: which files of a package are left out of the zip, and by which rule set.

A rule set (``StripRules``) has gitignore-style ``exclude`` patterns and ``keep`` patterns.
``StripFilter`` compiles the sets a target uses once and answers, per path, "which set removes
this?" with these semantics:

- ``keep`` wins over ``exclude``, within a set and across sets: a file matched by any set's
  ``keep`` stays, even below an excluded directory.
- Never stripped, whatever the rules say: ``*.dist-info/METADATA``, ``entry_points.txt`` and
  ``top_level.txt`` (and their ``*.egg-info`` equivalents), because ``importlib.metadata``
  reads them at runtime (entry points, ``version()``).
- A directory pattern (``tests/``) removes everything below the directory.
- Attribution: a path is charged to the set that removes its *outermost* removed directory,
  else the first set (in the order given) that removes the file itself. Charging the
  outermost directory is what makes pruning exact: a walker may skip matching everything
  below a removed directory and still get the same report.

Speed matters (a dependency tree has tens of thousands of files): patterns without a slash
match a single path component, so they are evaluated on the file or directory name and
memoized per name; directory decisions are memoized; only patterns with a slash are matched
against the whole path. A set containing negated (``!``) patterns falls back to pathspec's
own matcher, which implements gitignore's ordering rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from fnmatch import fnmatchcase

from msgspec import Struct, field

from lambdaforge.config.specs import StripRules

__all__ = [
    "BUILT_IN_RULE_SETS",
    "NEVER_STRIP",
    "StripFilter",
    "StripHit",
    "StripReport",
    "StrippedFile",
    "RuleTally",
    "is_protected",
    "sourceless_bytecode",
]

_VCS_AND_EDITOR = (
    ".git/", ".svn/", ".hg/", ".idea/", ".vscode/",
    ".gitignore", ".gitattributes",
    "*.swp", "*.swo", "*~", ".DS_Store",
)
_PYTHON_STANDARD = (
    "__pycache__/", "*.py[cod]", "tests/", "test/",
    ".pytest_cache/", ".mypy_cache/", ".ruff_cache/",
)

#: Rule sets every project can name without defining them.
#:
#: ``standard`` must be safe for any Python package: bytecode (compiled for the build host's
#: Python, useless on Lambda), test suites, caches, VCS and editor files — never docs or
#: type stubs, which a few packages read at runtime. ``aggressive`` also drops ``*.pyi``,
#: ``docs/``, ``examples/`` and ``*.md``. ``node-standard`` is the Node.js flavour (source maps,
#: ``.d.ts``, ``__tests__/``, docs, examples, markdown): kept separate because ``*.md`` or
#: ``docs/`` are not safe defaults for Python packages.
BUILT_IN_RULE_SETS: dict[str, StripRules] = {
    "standard": StripRules(name="standard", exclude=_PYTHON_STANDARD + _VCS_AND_EDITOR),
    "aggressive": StripRules(
        name="aggressive",
        exclude=_PYTHON_STANDARD + _VCS_AND_EDITOR + ("*.pyi", "docs/", "examples/", "*.md"),
    ),
    "node-standard": StripRules(
        name="node-standard",
        exclude=_VCS_AND_EDITOR + (
            "test/", "tests/", "__tests__/", ".github/", "example/", "examples/", "docs/",
            "*.map", "*.d.ts", "*.md",
        ),
    ),
}

#: (metadata directory suffix, file names) that ``importlib.metadata`` needs at runtime.
NEVER_STRIP: tuple[tuple[str, frozenset[str]], ...] = (
    (".dist-info", frozenset({"METADATA", "entry_points.txt", "top_level.txt"})),
    (".egg-info", frozenset({"PKG-INFO", "entry_points.txt", "top_level.txt"})),
)

_PROTECTED_NAMES = frozenset().union(*(names for _, names in NEVER_STRIP))
_GROUP_NAME = re.compile(r"\(\?P<[^>]+>")


def is_protected(relpath: str) -> bool:
    """Whether ``relpath`` is a metadata file no rule may strip (see ``NEVER_STRIP``)."""
    parent, _, name = relpath.rpartition("/")
    if name not in _PROTECTED_NAMES:  # the common case, decided by one set lookup
        return False
    parent_name = parent.rpartition("/")[2]
    return any(parent_name.endswith(suffix) and name in names for suffix, names in NEVER_STRIP)


def sourceless_bytecode(relpath: str, exists: Callable[[str], bool]) -> bool:
    """Whether ``relpath`` is a module Python imports from bytecode alone: ``name.pyc``
    outside ``__pycache__/`` with no ``name.py`` beside it (``exists`` answers for a path
    relative to the same root). Python's import system loads such a file as the module
    (``SourcelessFileLoader``), so it is code, not a cache: no rule strips it. Bytecode in
    ``__pycache__/``, or beside its source, is only a cache and goes as before."""
    if not relpath.endswith(".pyc"):
        return False
    parent = relpath.rpartition("/")[0]
    if parent.rpartition("/")[2] == "__pycache__":
        return False
    return not exists(relpath[:-1])


class StripHit(Struct, frozen=True):
    """Why a path is stripped: the rule set, its pattern, and the path the pattern matched
    (the path itself or the outermost removed directory above it)."""

    rule: str
    pattern: str
    matched: str


#: One pattern as pathspec compiles it: (pattern text, regex source, regex flags, include);
#: ``include`` is ``None`` (and the regex ``None``) for a blank line or a comment, ``False``
#: for a negated (``!``) pattern.
Translation = tuple[str, "str | None", int, "bool | None"]

#: ``GitIgnoreSpec.from_lines(patterns).patterns`` as plain data, per pattern list. Translating
#: gitignore patterns into regexes is pathspec's job, and depends only on the patterns and
#: pathspec's version. An incremental build seeds this from the plan cache (``remember``) and
#: so compiles its strip rules without importing pathspec (~20 ms of a one-file rebuild). The
#: plan cache is only used while the replay's project group holds, and that group observes
#: pathspec's own modules (``recorder``): another pathspec means a full plan, which translates
#: again.
_TRANSLATED: dict[tuple[str, ...], tuple[Translation, ...]] = {}


def translate(patterns: Sequence[str]) -> tuple[Translation, ...]:
    """The patterns as pathspec's ``GitIgnoreSpec`` compiles them (remembered per list)."""
    key = tuple(patterns)
    found = _TRANSLATED.get(key)
    if found is None:
        import pathspec

        found = _TRANSLATED[key] = tuple(
            (str(p.pattern), None if p.regex is None else p.regex.pattern,
             0 if p.regex is None else p.regex.flags, p.include)
            for p in pathspec.GitIgnoreSpec.from_lines(key).patterns)
    return found


def translations(rule_sets: Iterable[StripRules]) -> list[list]:
    """Every pattern list of ``rule_sets`` and of the built-in sets, translated, as JSON data
    for the plan cache (``remember`` reads it back)."""
    for rules in (*BUILT_IN_RULE_SETS.values(), *rule_sets):
        translate(rules.exclude)
        translate(rules.keep)
    return [[list(key), [list(t) for t in value]] for key, value in _TRANSLATED.items()]


def remember(stored: object) -> None:
    """Seed the translations from the plan cache's data; anything malformed is skipped (it is
    then translated by pathspec again, never trusted)."""
    if not isinstance(stored, list):
        return
    for entry in stored:
        try:
            key, value = entry
            patterns = tuple(key)
            found = tuple((text, regex, flags, include) for text, regex, flags, include in value)
        except (TypeError, ValueError):
            continue
        if all(type(p) is str for p in patterns) and all(
                type(t) is str and (r is None or type(r) is str) and type(f) is int
                and include in (None, True, False) and (r is None) == (include is None)
                for t, r, f, include in found):
            _TRANSLATED.setdefault(patterns, found)


class _PatternGroup:
    """The patterns of one side (exclude or keep) of one rule set, compiled for speed."""

    def __init__(self, patterns: Sequence[str]):
        self._patterns = tuple(patterns)
        self._spec: object | None = None
        compiled = [(text, re.compile(regex, flags), include)
                    for text, regex, flags, include in translate(self._patterns)
                    if include is not None and regex is not None]
        # (pattern text, regex) in file order, for attribution.
        self.entries = [(text, regex) for text, regex, include in compiled if include]
        self.slow = any(include is False for _, _, include in compiled)
        by_name = [(t, r) for t, r, include in compiled if include and _matches_one_component(t)]
        by_path = [(t, r) for t, r, include in compiled
                   if include and not _matches_one_component(t)]
        self.name_re = _combine(by_name)
        self.path_re = _combine(by_path)
        self._name_memo: dict[str, bool] = {}
        self.has_name_patterns = bool(by_name) or self.slow
        self.path_patterns = [text for text, _ in by_path]
        self.empty = not compiled

    @property
    def spec(self):  # type: ignore[no-untyped-def]
        """pathspec's own matcher, for sets with negated patterns (gitignore's ordering rules)."""
        if self._spec is None:
            import pathspec

            self._spec = pathspec.GitIgnoreSpec.from_lines(self._patterns)
        return self._spec

    def matches(self, relpath: str, is_dir: bool) -> bool:
        """Whether a pattern matches ``relpath`` itself (ancestors are the caller's business,
        except in the slow path where pathspec handles them)."""
        if self.empty:
            return False
        key = relpath + "/" if is_dir else relpath
        if self.slow:
            return self.spec.match_file(key)
        if self.name_re is not None:
            name = key[relpath.rfind("/") + 1:]
            hit = self._name_memo.get(name)
            if hit is None:
                hit = self._name_memo[name] = self.name_re.match(name) is not None
            if hit:
                return True
        return self.path_re is not None and self.path_re.match(key) is not None

    def pattern_for(self, relpath: str, is_dir: bool) -> str:
        """The pattern that decides ``relpath``: the last one matching, as in gitignore."""
        key = relpath + "/" if is_dir else relpath
        name = key[relpath.rfind("/") + 1:]
        found = ""
        for text, regex in self.entries:
            if regex.match(key) or (_matches_one_component(text) and regex.match(name)):
                found = text
        return found


def _matches_one_component(text: str) -> bool:
    """True for patterns that gitignore applies to a single name at any depth (``*.pyc``,
    ``tests/``, ``**/foo``): they can be evaluated on the name alone."""
    body = text[1:] if text.startswith("!") else text
    body = body.rstrip("/")
    if body.startswith("**/"):
        body = body[3:]
    return "/" not in body


def _combine(patterns: Sequence[tuple[str, re.Pattern[str]]]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    # pathspec's regexes use a named group each; names must be unique in one regex.
    parts = [_GROUP_NAME.sub("(?:", regex.pattern) for _, regex in patterns]
    return re.compile("|".join(f"(?:{part})" for part in parts))


def _could_match_below(pattern: str, dir_parts: Sequence[str]) -> bool:
    """Conservatively, whether an anchored ``pattern`` can match ``dir_parts`` or anything below.

    False only when a leading component of the pattern provably fails to match the directory's
    component at the same depth; wrong "True" answers only cost speed (no pruning).
    """
    if "\\" in pattern:
        return True
    parts = pattern.strip("/").split("/")
    for dir_part, pat in zip(dir_parts, parts):
        if "**" in pat:
            return True
        if not fnmatchcase(dir_part, pat.replace("[^", "[!")):
            return False
    return True


class StripFilter:
    """The strip rule sets of one target, compiled once; answers which set strips a path.

    Paths are POSIX and relative to the package root being stripped (a function's source
    directory, an install target's ``site-packages``), without a leading ``./``.
    """

    def __init__(self, rule_sets: Sequence[StripRules]):
        self.rule_sets = tuple(rule_sets)
        self._exclude = [_PatternGroup(rs.exclude) for rs in self.rule_sets]
        self._keep = [_PatternGroup(rs.keep) for rs in self.rule_sets]
        self._keep = [k for k in self._keep if not k.empty]
        # A keep pattern that may match at any depth rules out pruning anywhere.
        self._keep_anywhere = any(k.has_name_patterns for k in self._keep)
        self._slow = any(g.slow for g in self._exclude + self._keep)
        self._dir_removed: dict[str, tuple[int, str, bool] | None] = {}
        self._dir_states: dict[str, tuple[int | None, bool, bool, bool]] = {}
        self._names: dict[str, tuple[int, bool, bool]] = {}
        self._dir_kept: dict[str, bool] = {}
        self._dir_prunable: dict[str, bool] = {}

    @classmethod
    def from_names(cls, names: Iterable[str], custom: dict[str, StripRules] | None = None) -> StripFilter:
        """A filter for rule-set names, looked up in ``custom`` then ``BUILT_IN_RULE_SETS``.

        Raises ``KeyError`` naming the unknown set (config validation reports it earlier).
        """
        sets = []
        for name in names:
            rules = (custom or {}).get(name) or BUILT_IN_RULE_SETS.get(name)
            if rules is None:
                raise KeyError(f"unknown strip rule set {name!r}")
            sets.append(rules)
        return cls(sets)

    def removed_directory(self, reldir: str) -> str | None:
        """The outermost directory at or above ``reldir`` that a directory pattern removes
        (keep patterns aside), or ``None``."""
        found = self._dir_raw_removal(reldir.strip("/"))
        return None if found is None else found[1]

    def match(self, relpath: str, is_dir: bool = False) -> str | None:
        """The name of the rule set that strips ``relpath``, or ``None`` to keep it.

        For a directory (``is_dir=True``) a name means "everything below is stripped, apart
        from ``NEVER_STRIP`` files": a walker may skip matching inside it. ``None`` for a
        directory means "look inside": some of it may stay.
        """
        if is_dir or relpath.endswith("/") or self._slow:
            hit = self._removal(relpath.strip("/"), is_dir or relpath.endswith("/"))
            return None if hit is None else self.rule_sets[hit[0]].name
        return self._match_file(relpath)

    def _match_file(self, relpath: str) -> str | None:
        # The hot path (one call per file of a dependency tree): one memo lookup for the
        # directory, one for the name; whole-path regexes only where they can apply.
        parent, _, name = relpath.rpartition("/")
        state = self._dir_states.get(parent)
        if state is None:
            state = self._dir_state(parent)
        removed, kept_dir, exclude_paths, keep_paths = state
        info = self._names.get(name)
        if info is None:
            info = self._name_info(name)
        by_name, kept_by_name, protected_name = info
        if removed is None:
            index = by_name
            if exclude_paths:
                for i in range(len(self._exclude) if index < 0 else index):
                    regex = self._exclude[i].path_re
                    if regex is not None and regex.match(relpath):
                        index = i
                        break
            if index < 0:
                return None
        else:
            index = removed
        if kept_by_name or kept_dir or (protected_name and is_protected(relpath)):
            return None
        if keep_paths:
            for k in self._keep:
                if k.path_re is not None and k.path_re.match(relpath):
                    return None
        return self.rule_sets[index].name

    def _dir_state(self, reldir: str) -> tuple[int | None, bool, bool, bool]:
        """(set removing the directory, kept by a keep pattern, exclude / keep path patterns
        that may apply below it) for files directly in ``reldir``."""
        parts = reldir.split("/") if reldir else []
        removed = self._dir_raw_removal(reldir) if reldir else None
        kept = self._kept(reldir, True) if reldir else False

        def below(groups: list[_PatternGroup]) -> bool:
            return any(_could_match_below(p, parts) for g in groups for p in g.path_patterns)

        state = (None if removed is None else removed[0], kept, below(self._exclude), below(self._keep))
        self._dir_states[reldir] = state
        return state

    def _name_info(self, name: str) -> tuple[int, bool, bool]:
        """(first set whose name patterns strip a file called ``name`` or -1, kept by a keep
        name pattern, is a protected metadata name) — the same for every directory."""
        by_name = next(
            (i for i, g in enumerate(self._exclude) if g.name_re is not None and g.name_re.match(name)), -1
        )
        kept = any(k.name_re is not None and k.name_re.match(name) for k in self._keep)
        info = (by_name, kept, name in _PROTECTED_NAMES)
        self._names[name] = info
        return info

    def explain(self, relpath: str, is_dir: bool = False) -> StripHit | None:
        """Like ``match``, with the deciding pattern and the path it matched (for ``--explain-strip``)."""
        relpath, is_dir = relpath.strip("/"), is_dir or relpath.endswith("/")
        hit = self._removal(relpath, is_dir)
        if hit is None:
            return None
        index, matched, matched_is_dir = hit
        pattern = self._exclude[index].pattern_for(matched, matched_is_dir)
        return StripHit(self.rule_sets[index].name, pattern, matched + ("/" if matched_is_dir else ""))

    def _removal(self, relpath: str, is_dir: bool) -> tuple[int, str, bool] | None:
        """(set index, matched path, matched is a dir) of what strips ``relpath``, keep applied."""
        found = self._raw_removal(relpath, is_dir)
        if found is None:
            return None
        if is_dir:
            if relpath in self._dir_prunable:
                prunable = self._dir_prunable[relpath]
            else:
                prunable = self._dir_prunable[relpath] = not self._keep_possible(relpath)
            return found if prunable else None
        if is_protected(relpath) or self._kept(relpath, False):
            return None
        return found

    def _raw_removal(self, relpath: str, is_dir: bool) -> tuple[int, str, bool] | None:
        """What excludes ``relpath`` or its outermost excluded ancestor, ignoring keep."""
        parent = relpath.rpartition("/")[0]
        if parent:
            above = self._dir_raw_removal(parent)
            if above is not None:
                return above
        for index, group in enumerate(self._exclude):
            if group.matches(relpath, is_dir):
                return index, relpath, is_dir
        return None

    def _dir_raw_removal(self, reldir: str) -> tuple[int, str, bool] | None:
        if reldir not in self._dir_removed:
            self._dir_removed[reldir] = self._raw_removal(reldir, True)
        return self._dir_removed[reldir]

    def _kept(self, relpath: str, is_dir: bool) -> bool:
        if not self._keep:
            return False
        parent = relpath.rpartition("/")[0]
        if parent:
            kept = self._dir_kept.get(parent)
            if kept is None:
                kept = self._dir_kept[parent] = self._kept(parent, True)
            if kept:
                return True
        for k in self._keep:
            if k.matches(relpath, is_dir):
                return True
        return False

    def _keep_possible(self, reldir: str) -> bool:
        """Whether anything at or below ``reldir`` may be kept (so it cannot be pruned)."""
        if not self._keep:
            return False
        if self._keep_anywhere or self._kept(reldir, True):
            return True
        parts = reldir.split("/")
        return any(_could_match_below(p, parts) for k in self._keep for p in k.path_patterns)


class RuleTally(Struct):
    """Files and bytes one rule set removed."""

    files: int = 0
    bytes: int = 0


class StrippedFile(Struct, frozen=True):
    """One stripped file: its path (relative to the package root), the set and pattern that
    removed it, and its size."""

    path: str
    rule: str
    pattern: str
    size: int


class StripReport(Struct):
    """What strip rules removed from a package: per rule set, and file by file.

    Reports of several trees (a function's sources and its dependencies) are combined with
    ``merge``; ``lines()`` renders the ``--explain-strip`` listing.
    """

    by_rule: dict[str, RuleTally] = field(default_factory=dict)
    files: list[StrippedFile] = field(default_factory=list)

    def add(self, path: str, hit: StripHit, size: int) -> None:
        """Record that ``hit`` stripped ``path`` of ``size`` bytes."""
        tally = self.by_rule.setdefault(hit.rule, RuleTally())
        tally.files += 1
        tally.bytes += size
        self.files.append(StrippedFile(path, hit.rule, hit.pattern, size))

    def merge(self, other: StripReport, prefix: str = "") -> None:
        """Add ``other``'s numbers and files, their paths prefixed with ``prefix`` (e.g. ``python/``)."""
        for rule, tally in other.by_rule.items():
            mine = self.by_rule.setdefault(rule, RuleTally())
            mine.files += tally.files
            mine.bytes += tally.bytes
        self.files.extend(
            StrippedFile(prefix + f.path, f.rule, f.pattern, f.size) for f in other.files
        )

    @property
    def total_files(self) -> int:
        """Files removed by all rule sets together."""
        return sum(t.files for t in self.by_rule.values())

    @property
    def total_bytes(self) -> int:
        """Bytes removed by all rule sets together."""
        return sum(t.bytes for t in self.by_rule.values())

    def lines(self) -> list[str]:
        """One line per stripped file (sorted by path), then one summary line per rule set."""
        out = [f"{f.path}  ({f.rule}: {f.pattern}, {f.size} bytes)" for f in sorted(self.files, key=lambda f: f.path)]
        out += [
            f"{rule}: {t.files} files, {t.bytes} bytes" for rule, t in sorted(self.by_rule.items())
        ]
        return out
