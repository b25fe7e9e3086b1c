"""What a source tree never ships by default, and how ``include`` names a file back in.

``DEFAULT_EXCLUDES`` is the one table of files and directories left out of every function's
and layer's own files (README "Default excludes" renders it): version control, virtual
environments, tool caches and reports, other deployment tools' build output, and the
dependency declarations themselves (the install target reads them; nothing reads them at
run time). They are left out silently, and a directory among them is not even listed, so a
``.git/`` or ``.tox/`` costs nothing and changes to it rebuild nothing.

Deliberately *not* in it: ``package.json`` (Node.js reads ``"type": "module"`` and
``"main"`` from it at run time) and ``pyproject.toml`` (some libraries read their settings
from it at run time, pydantic-settings for one); ``node_modules/`` is the Node.js builder's
own exclude (``Builder.source_excludes``), because a prepared Node.js tree holds the real one.
A virtual environment of any other name (``env/``) is recognised by its ``pyvenv.cfg``
while walking (``sources.VENV_MARKER``), not by a pattern here.

``IncludeNames`` answers "does ``include`` *name* this path?": only a pattern without
wildcards counts (``requirements.txt``, ``certs/dev.key``, ``.aws/``), so an allow-list such
as ``include = ["*.py"]`` never brings back a default-excluded file or a secret by accident.

``PathRules`` matches such tables fast during a walk: each path is checked on its own terms
(a walk checks a directory before it descends), mostly by its name, memoised.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase

__all__ = ["DEFAULT_EXCLUDES", "BUILD_LEFTOVERS", "IncludeNames", "PathRules", "anchored_inside"]

#: (gitignore-style pattern, what it is): left out of every source tree unless ``include``
#: names it. A trailing ``/`` means directories only; a leading ``/`` means at the top of
#: the source only (elsewhere, as in a committed layer's ``python/``, ``*.egg-info`` is
#: package metadata that ``importlib.metadata`` reads).
DEFAULT_EXCLUDES: tuple[tuple[str, str], ...] = (
    (".git", "version control"),
    (".hg/", "version control"),
    (".svn/", "version control"),
    (".venv/", "virtual environment (host-built packages)"),
    ("venv/", "virtual environment (host-built packages)"),
    (".tox/", "tox environments"),
    (".nox/", "nox environments"),
    ("__pycache__/", "bytecode of the build machine's Python"),
    ("/*.egg-info/", "metadata of a `pip install -e .` of the source"),
    (".pytest_cache/", "tool cache"),
    (".mypy_cache/", "tool cache"),
    (".ruff_cache/", "tool cache"),
    (".hypothesis/", "tool cache"),
    ("htmlcov/", "coverage report"),
    (".coverage", "coverage data"),
    (".coverage.*", "coverage data"),
    (".#*", "Emacs lock file (a dangling symlink while a buffer has unsaved changes)"),
    ("#*#", "Emacs auto-save file"),
    ("*~", "editor backup file"),
    ("*.swp", "Vim swap file"),
    ("*.swo", "Vim swap file"),
    ("4913", "Vim's write test file"),
    (".aws-sam/", "SAM build output"),
    (".serverless/", "Serverless Framework build output"),
    (".terraform/", "Terraform providers and state"),
    ("requirements*.txt", "dependency declaration"),
    ("requirements*.in", "dependency declaration"),
    ("uv.lock", "lockfile"),
    ("poetry.lock", "lockfile"),
    ("pdm.lock", "lockfile"),
    ("pylock.toml", "lockfile"),
    ("pylock.*.toml", "lockfile"),
    (".pdm-python", "PDM's path to the build machine's interpreter"),
    ("Pipfile", "dependency declaration"),
    ("Pipfile.lock", "lockfile"),
    ("package-lock.json", "lockfile"),
    ("npm-shrinkwrap.json", "lockfile"),
    ("yarn.lock", "lockfile"),
    ("pnpm-lock.yaml", "lockfile"),
)


#: What a local package folder (a path requirement, a wheelhouse) holds that is not its
#: source: what building or installing it in place leaves behind, and tool state. Neither an
#: input of its install (editing it rebuilds nothing) nor copied when it is built.
BUILD_LEFTOVERS: tuple[str, ...] = (
    ".git", ".hg/", ".svn/", ".venv/", "venv/", ".tox/", ".nox/", "__pycache__/", "*.py[cod]",
    "build/", "dist/", "*.egg-info/", ".eggs/", ".pytest_cache/", ".mypy_cache/",
    ".ruff_cache/", ".hypothesis/", "htmlcov/", ".coverage", ".coverage.*",
)


def anchored_inside(source: str, paths: Iterable[str]) -> list[str]:
    """Exclude patterns anchored at the folder ``source`` for those of the project-relative
    ``paths`` inside it (a path holding a pattern character is left alone: as a pattern it
    would match something else)."""
    prefix = "" if source in ("", ".") else source.rstrip("/") + "/"
    return [f"/{p[len(prefix):]}" for p in paths
            if p.startswith(prefix) and not any(c in p for c in "*?[]!\\#")]


class _Rule:
    """One pattern of a ``PathRules`` table, split into the parts a walk needs."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.dir_only = pattern.endswith("/")
        body = pattern.rstrip("/")
        # gitignore: a slash at the start or in the middle anchors the pattern at the root.
        self.anchored = body.startswith("/") or ("/" in body and not body.startswith("**/"))
        self.parts = body.lstrip("/").removeprefix("**/").split("/")
        # most rules name a file or folder literally: equality, no pattern to compile
        self.literal = not any(c in self.parts[-1] for c in "*?[")

    def fits_name(self, name: str, is_dir: bool, depth: int) -> bool:
        """Whether a path of ``depth`` components ending in ``name`` may match (the memoised part)."""
        if (self.dir_only and not is_dir) or depth < len(self.parts):
            return False
        if self.anchored and depth != len(self.parts):
            return False
        if self.literal:
            return name == self.parts[-1]
        return fnmatchcase(name, self.parts[-1])

    def fits_parents(self, parents: Sequence[str]) -> bool:
        """Whether the components above the name match the rest of the pattern."""
        rest = self.parts[:-1]
        return not rest or all(
            fnmatchcase(p, q) for p, q in zip(parents[len(parents) - len(rest):], rest))


class PathRules:
    """A table of gitignore-style patterns, matched against one path at a time.

    Unlike a gitignore matcher, a path is not matched through its ancestors: a walk asks
    about a directory before it descends, and a directory's rule is decided there, once.
    Patterns are the simple kind the tables use (``name``, ``*.ext``, ``dir/``, ``/top/``,
    ``**/a/b``); the first that matches is returned, for messages.
    """

    def __init__(self, patterns: Iterable[str]) -> None:
        self.rules = tuple(_Rule(p) for p in patterns)
        self._memo: dict[tuple[str, bool, int], tuple[_Rule, ...]] = {}

    def match(self, relpath: str, is_dir: bool = False) -> str | None:
        """The first pattern matching ``relpath`` (POSIX, relative to the tree's root), or ``None``."""
        parts = relpath.strip("/").split("/")
        key = (parts[-1], is_dir, len(parts))
        candidates = self._memo.get(key)
        if candidates is None:
            candidates = self._memo[key] = tuple(r for r in self.rules if r.fits_name(*key))
        for rule in candidates:
            if rule.fits_parents(parts[:-1]):
                return rule.pattern
        return None


_WILDCARDS = frozenset("*?[\\")


class IncludeNames:
    """The paths an ``include`` list names explicitly: by a pattern without wildcards that
    matches the path itself, a directory above it, or (for an unanchored pattern) its name.

    This is the opt-in for what is left out by default (``DEFAULT_EXCLUDES``, secrets):
    ``include = ["*", "certs/dev.key"]`` ships everything plus that one key file.
    """

    def __init__(self, include: Sequence[str]) -> None:
        literal = [p for p in include
                   if p.strip() and not p.startswith(("!", "#")) and not _WILDCARDS & set(p)]
        self._spec = None
        if literal:
            import pathspec  # only here: most functions name nothing back in

            self._spec = pathspec.GitIgnoreSpec.from_lines(literal)
        #: anchored ones (a slash at the start or in the middle), as root-relative paths
        self._anchored = tuple(p.strip("/") for p in literal if "/" in p.rstrip("/"))

    def __bool__(self) -> bool:
        return self._spec is not None

    def names(self, relpath: str, is_dir: bool = False) -> bool:
        """Whether a literal ``include`` pattern matches ``relpath`` (or a directory above it)."""
        if self._spec is None:
            return False
        return self._spec.match_file(relpath.rstrip("/") + ("/" if is_dir else ""))

    def names_below(self, reldir: str) -> bool:
        """Whether a literal anchored pattern names something inside directory ``reldir``:
        then a walk must enter it (to take just that), although the directory is left out."""
        prefix = reldir.strip("/") + "/"
        return any(p.startswith(prefix) for p in self._anchored)
